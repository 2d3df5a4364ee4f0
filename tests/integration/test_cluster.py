"""Cluster mode (store = jetstream, docs/cluster.md): several real qmgrd
front ends over a real three-node NATS JetStream cluster on loopback.
Semantics across front ends, then faults, each checked with exact totals."""

import os
import re
import socket
import subprocess
import threading
import time
import unittest

from natscluster import NatsCluster
from qmgrtest import (
    binary_from_env, daemon_env, Daemon, HoldingProxy, RPCError, ConnectionClosed, cluster_options, unique_stream, wait_until,
    wait_stat, EEMPTY, ESHUTDOWN,
)

OBJECTS = """
[queue q]
maxsize = 0

[queue small]
maxsize = 3

[queue rq]
maxsize = 0
redeliver = on

[buf b]
"""

FRONTEND_TIMEOUT = 2.0
SCALE = float(os.environ.get("QMGRTEST_TIMEOUT_SCALE", "1") or "1")
# A leader election on nats-server 2.9.10 takes seconds (SCALE.md: 4 to 9).
ELECTION_TIMEOUT = 90.0 * SCALE


def setUpModule():
    global NATS
    NATS = NatsCluster().start()


def tearDownModule():
    NATS.cleanup()


class ClusterTest(unittest.TestCase):
    """Each test: its own stream, and FRONTENDS front ends on it."""
    FRONTENDS = 3
    FRONTEND_TIMEOUT_S = FRONTEND_TIMEOUT

    def setUp(self):
        self.stream = unique_stream()
        self.tmp_clients = []
        self.fe = [self.start_frontend() for _ in range(self.FRONTENDS)]

    def start_frontend(self, **options):
        opts = cluster_options(NATS, self.stream, "%gs" % self.FRONTEND_TIMEOUT_S)
        opts.update(log_level="info")
        opts.update(options)
        d = Daemon(OBJECTS, start=False, **opts)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def client(self, d, **kw):
        c = d.client(timeout=ELECTION_TIMEOUT, **kw)
        self.tmp_clients.append(c)
        self.addCleanup(c.close)
        return c

    def stats(self, d):
        return self.client(d).call("stats")


class TestAcrossFrontends(ClusterTest):
    def test_stats_name_the_frontend_and_the_members(self):
        for d in self.fe:
            s = self.stats(d)
            self.assertEqual(s["store"], "jetstream")
            self.assertEqual(s["frontend"], d.frontend)
            self.assertGreater(s["log_applied"], 0)
            self.assertEqual(s["members_alive"], 3)
            self.assertEqual(sorted(m["id"] for m in s["members"]),
                             sorted(x.frontend for x in self.fe))
            self.assertEqual([m["id"] for m in s["members"] if m["self"]], [d.frontend])

    def test_qmgrctl_status_shows_the_members_and_which_are_alive(self):
        self.fe[2].stop()
        wait_until(lambda: self.stats(self.fe[0])["members_alive"] == 2, what="the leave applied")
        d = self.fe[1]
        out = subprocess.run(
            [binary_from_env("QMGRCTL", "qmgrctl"), "-a", "127.0.0.1:%d" % d.port, "-k", d.keyfile,
             "status"], env=daemon_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("cluster: front end %d," % d.frontend, out.stdout)
        self.assertIn("2 of 3 members alive", out.stdout)
        rows = {int(line.split()[0]): line.split()[2:] for line in out.stdout.splitlines()
                if line.split() and line.split()[0].isdigit()}
        self.assertEqual(rows[self.fe[0].frontend], ["yes"])
        self.assertEqual(rows[d.frontend], ["yes", "(this", "one)"])
        self.assertEqual(rows[self.fe[2].frontend], ["no"])

    def test_a_front_end_with_other_objects_or_limits_refuses_to_join(self):
        # Replicas of one log must build one state: a front end configured
        # with another maxsize, or another max_item, leaves at its own join
        # and exits with an error; the members keep serving.
        for objects, options in ((OBJECTS.replace("maxsize = 0", "maxsize = 7", 1), {}),
                                 (OBJECTS, {"max_item": "1k"})):
            self.assertNotEqual(objects + str(options), OBJECTS + "{}")
            opts = cluster_options(NATS, self.stream, "%gs" % self.FRONTEND_TIMEOUT_S)
            opts.update(options)
            d = Daemon(objects, start=False, **opts)
            self.addCleanup(d.cleanup)
            with self.assertRaises(AssertionError):
                d.start()  # it never logs "joined as front end"
            self.assertEqual(d.wait_exit(), 1, d.log_tail())
            self.assertRegex("\n".join(d.lines), "serves other objects or limits than this one's")
        s = self.stats(self.fe[0])
        self.assertEqual(s["members_alive"], 3)
        c = self.client(self.fe[1])
        c.call("queue.put", ["rq", "after", None])
        self.assertEqual(self.client(self.fe[2]).call("queue.get", ["rq", 0]), "after")

    def test_log_messages_are_compressed_unless_jetstream_compress_is_off(self):
        item = b"10.0.0.7 - - [23/Nov/2026] \"GET /api/v1/items HTTP/1.1\" 200 512\n" * 3000

        def bytes_stored(stream):
            return NATS.stream_info(stream)["state"]["bytes"]
        before = bytes_stored(self.stream)
        self.client(self.fe[0]).call("queue.put", ["q", item, 0])
        self.assertEqual(self.client(self.fe[1]).call("queue.get", ["q", 0]), item)
        self.assertLess(bytes_stored(self.stream) - before, len(item) // 4)
        plain = unique_stream()
        d = self.start_frontend(jetstream_stream=plain, jetstream_compress="off")
        before = bytes_stored(plain)
        c = self.client(d)
        c.call("queue.put", ["q", item, 0])
        self.assertEqual(c.call("queue.get", ["q", 0]), item)
        self.assertGreater(bytes_stored(plain) - before, len(item))

    def test_get_parked_on_one_is_served_by_a_put_on_another(self):
        a, b = self.client(self.fe[0]), self.client(self.fe[1])
        a.send_request(1, "queue.get", ["q", None])
        wait_stat(self.client(self.fe[2]), "q", getters=1)
        self.assertIsNone(b.call("queue.put", ["q", "hello", 0]))
        r = a.wait_response(1)
        self.assertEqual((r.error, r.result), (None, "hello"))

    def test_fifo_among_getters_parked_on_different_frontends(self):
        obs = self.client(self.fe[1])
        getters = []
        for i, d in enumerate([self.fe[0], self.fe[1], self.fe[2], self.fe[0]]):
            g = self.client(d)
            g.send_request(1, "queue.get", ["q", None])
            wait_stat(obs, "q", getters=i + 1)
            getters.append(g)
        p = self.client(self.fe[2])
        for i in range(4):
            p.call("queue.put", ["q", i, 0])
        self.assertEqual([g.wait_response(1).result for g in getters], [0, 1, 2, 3])

    def test_maxsize_holds_across_frontends(self):
        a, b, c = (self.client(d) for d in self.fe)
        for i in range(3):
            a.call("queue.put", ["small", i, 0])
        with self.assertRaises(RPCError):
            b.call("queue.put", ["small", 99, 0])  # EFULL, the queue is full everywhere
        b.send_request(7, "queue.put", ["small", 3, None])
        wait_stat(c, "small", putters=1)
        self.assertEqual(c.call("queue.get", ["small", 0]), 0)
        self.assertIsNone(b.wait_response(7).error)
        self.assertEqual(c.call("queue.peek", ["small", 3]), [1, 2, 3])

    def test_join_released_by_task_done_on_another_frontend(self):
        a, b, c = (self.client(d) for d in self.fe)
        a.call("queue.put", ["rq", "job", 0])
        self.assertEqual(b.call("queue.get", ["rq", 0]), "job")
        c.send_request(3, "queue.join", ["rq", None])
        # A connection's requests are applied in order: once the ping is
        # answered the join has been applied, and is still parked.
        self.assertEqual(c.call("ping"), "pong")
        self.assertNotIn(3, c.stash)
        b.call("queue.task_done", ["rq"])
        self.assertIsNone(c.wait_response(3).error)

    def test_redelivery_of_a_dead_workers_items_to_another_frontend(self):
        a = self.client(self.fe[0])
        for i in range(5):
            a.call("queue.put", ["rq", i, 0])
        w = self.client(self.fe[1])
        got = [w.call("queue.get", ["rq", 0]) for _ in range(3)]
        w.close()  # the worker dies holding three leases
        w2 = self.client(self.fe[2])
        rest = [w2.call("queue.get", ["rq", 10]) for _ in range(5)]
        self.assertEqual(sorted(rest), [0, 1, 2, 3, 4])
        self.assertEqual(got, [0, 1, 2])
        st = self.client(self.fe[0]).call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["redelivered"]), (0, 3))

    def test_buf_updates_from_every_frontend_sum_exactly(self):
        per_thread, results, errors = 150, [], []

        def worker(d):
            try:
                c = d.client(timeout=ELECTION_TIMEOUT)
                mine = [c.call("buf.incr", ["b", "k", 1]) for _ in range(per_thread)]
                c.call("buf.update", ["b", {"u": 2, "v": -1}])
                c.close()
                results.append(mine)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(d,)) for d in self.fe for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        values = sorted(v for r in results for v in r)
        self.assertEqual(values, list(range(1, 6 * per_thread + 1)))  # each incr saw its own value
        items = self.client(self.fe[2]).call("buf.items", ["b"])
        self.assertEqual(items, {"k": 6 * per_thread, "u": 12, "v": -6})

    def test_drain_is_atomic_under_updates_from_other_frontends(self):
        total, stop, drained, errors = 400, threading.Event(), [], []

        def updater(d, n):
            try:
                c = d.client(timeout=ELECTION_TIMEOUT)
                for _ in range(n):
                    c.call("buf.update", ["b", {"x": 1, "y": 1}])
                c.close()
            except Exception as e:
                errors.append(e)

        def drainer():
            c = self.fe[2].client(timeout=ELECTION_TIMEOUT)
            while not stop.is_set():
                drained.append(c.call("buf.drain", ["b"]))
            drained.append(c.call("buf.drain", ["b"]))
            c.close()

        ups = [threading.Thread(target=updater, args=(self.fe[i], total // 2)) for i in (0, 1)]
        dr = threading.Thread(target=drainer)
        dr.start()
        for t in ups:
            t.start()
        for t in ups:
            t.join()
        stop.set()
        dr.join()
        self.assertEqual(errors, [])
        for d in drained:
            self.assertEqual(d.get("x", 0), d.get("y", 0), "a drain split an update: %r" % d)
        self.assertEqual(sum(d.get("x", 0) for d in drained), total)


class TestFaults(ClusterTest):
    def test_killed_frontend_leases_come_back_after_frontend_timeout(self):
        a = self.client(self.fe[0])
        for i in range(4):
            a.call("queue.put", ["rq", i, 0])
        w = self.client(self.fe[1])
        self.assertEqual([w.call("queue.get", ["rq", 0]) for _ in range(2)], [0, 1])
        self.fe[1].kill()
        w2 = self.client(self.fe[2])
        got = [w2.call("queue.get", ["rq", 0]) for _ in range(2)]
        self.assertEqual(got, [2, 3])
        t0 = time.monotonic()
        back = [w2.call("queue.get", ["rq", 60 * SCALE]) for _ in range(2)]
        self.assertEqual(sorted(back), [0, 1])
        self.assertGreater(time.monotonic() - t0, FRONTEND_TIMEOUT * 0.5)
        s = self.stats(self.fe[0])
        self.assertEqual(s["members_alive"], 2)
        st = self.client(self.fe[0]).call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["redelivered"]), (0, 4, 2))

    def test_frontend_restarted_catches_up_from_the_log(self):
        a = self.client(self.fe[0])
        for i in range(10):
            a.call("queue.put", ["q", i, 0])
        self.fe[1].stop()
        for i in range(10, 15):
            a.call("queue.put", ["q", i, 0])
        a.call("buf.set", ["b", "k", "v"])
        self.fe[1].start()
        c = self.client(self.fe[1])
        self.assertEqual(c.call("queue.qsize", ["q"]), 15)
        self.assertEqual(c.call("buf.get", ["b", "k"]), "v")
        self.assertEqual(c.call("queue.get", ["q", 0]), 0)
        self.assertEqual(a.call("queue.qsize", ["q"]), 14)

    def test_all_frontends_restarted_state_intact(self):
        a = self.client(self.fe[0])
        for i in range(20):
            a.call("queue.put", ["q", i, 0])
        a.call("buf.incr", ["b", "n", 7])
        for d in self.fe:
            self.assertEqual(d.stop(), 0, d.log_tail())
        for d in self.fe:
            d.start()
        for d in self.fe:
            c = self.client(d)
            self.assertEqual(c.call("queue.qsize", ["q"]), 20)
            self.assertEqual(c.call("buf.get", ["b", "n"]), 7)
        self.assertEqual(self.client(self.fe[1]).call("queue.peek", ["q", 3]), [0, 1, 2])

    def test_only_the_latest_dead_members_are_kept(self):
        # Every restart leaves a dead member behind; a year of restarts must
        # not grow the membership (and every snapshot) without bound.
        kept = 16  # DEAD_MEMBERS_KEPT in cluster.c
        a = self.client(self.fe[0])
        a.call("buf.incr", ["b", "n", 1])
        gone = []
        d = self.fe[2]
        for _ in range(kept + 3):
            gone.append(d.frontend)
            self.assertEqual(d.stop(), 0, d.log_tail())
            d.start()
            a.call("buf.incr", ["b", "n", 1])
        for fe in self.fe:
            s = self.stats(fe)
            dead = sorted(m["id"] for m in s["members"] if not m["alive"])
            alive = sorted(m["id"] for m in s["members"] if m["alive"])
            self.assertEqual(dead, sorted(gone)[-kept:])
            self.assertEqual(alive, sorted(x.frontend for x in self.fe))
            self.assertEqual(self.client(fe).call("buf.get", ["b", "n"]), kept + 4)

    def test_changed_front_end_joins_once_the_killed_members_are_gone(self):
        # Every front end killed at once: no one is left to declare them
        # dead, and the log still has them alive. One started with another
        # configuration (an upgrade, a changed maxsize) refuses to join while
        # they may still live (an input of theirs within frontend_timeout),
        # and joins once that is past, as a supervisor's restarts find.
        self.client(self.fe[0]).call("buf.incr", ["b", "n", 1])
        for d in self.fe:
            d.kill()
        killed = time.monotonic()
        changed = OBJECTS.replace("maxsize = 3", "maxsize = 5", 1)
        timeout = self.FRONTEND_TIMEOUT_S * SCALE  # its own: longer than its start takes
        opts = cluster_options(NATS, self.stream, "%gs" % timeout)
        opts.update(log_level="info")
        refused = 0
        deadline = killed + 60 * SCALE
        while True:
            d = Daemon(changed, start=False, **opts)
            self.addCleanup(d.cleanup)
            try:
                d.start()
                break
            except AssertionError:
                self.assertEqual(d.wait_exit(), 1, d.log_tail())
                self.assertRegex("\n".join(d.lines), "serves other objects or limits")
                refused += 1
                self.assertLess(time.monotonic(), deadline, "it never joined")
        self.assertGreaterEqual(refused, 1)
        self.assertGreaterEqual(time.monotonic() - killed, timeout)
        c = self.client(d)
        self.assertEqual(c.call("buf.get", ["b", "n"]), 1)
        self.assertEqual(c.call("queue.stat", ["small"])["maxsize"], 5)
        # It declares the killed ones dead in its turn.
        wait_until(lambda: self.stats(d)["members_alive"] == 1, timeout=30 * SCALE,
                   what="the killed members declared dead")

    def test_frontend_stopped_gets_eshutdown_for_parked_and_others_go_on(self):
        g = self.client(self.fe[1])
        g.send_request(1, "queue.get", ["q", None])
        wait_stat(self.client(self.fe[0]), "q", getters=1)
        self.fe[1].signal(15)
        r = g.wait_response(1)
        self.assertEqual(r.error[0], ESHUTDOWN)
        self.assertEqual(self.fe[1].wait_exit(), 0)
        a = self.client(self.fe[0])
        a.call("queue.put", ["q", 1, 0])
        self.assertEqual(self.client(self.fe[2]).call("queue.get", ["q", 0]), 1)
        wait_until(lambda: self.stats(self.fe[0])["members_alive"] == 2, what="the leave applied")



class TestLeaderKill(ClusterTest):
    """The stream leader killed mid-run, under the default frontend_timeout:
    a front end connected to the killed node reconnects and reads the log
    again after the election, and no front end is declared dead for it."""
    FRONTEND_TIMEOUT_S = 5.0

    def test_pipeline_survives_kill_of_the_stream_leader(self):
        n = 600
        got, errors = [], []
        lock = threading.Lock()

        def producer():
            try:
                c = self.fe[0].client(timeout=ELECTION_TIMEOUT)
                for i in range(n):
                    c.call("queue.put", ["rq", i, None])
                c.close()
            except Exception as e:
                errors.append(("producer", e))

        def worker(d):
            try:
                c = d.client(timeout=ELECTION_TIMEOUT)
                while True:
                    try:
                        item = c.call("queue.get", ["rq", 20 * SCALE])
                    except RPCError as e:
                        if e.code == EEMPTY:
                            break
                        raise
                    c.call("queue.task_done", ["rq"])
                    c.call("buf.incr", ["b", "sum", item])
                    with lock:
                        got.append(item)
                c.close()
            except Exception as e:
                errors.append(("worker", e))

        threads = [threading.Thread(target=producer)] + [
            threading.Thread(target=worker, args=(d,)) for d in (self.fe[1], self.fe[2])]
        for t in threads:
            t.start()
        wait_until(lambda: len(got) >= n // 4, timeout=ELECTION_TIMEOUT, what="a quarter through")
        leader = NATS.stream_leader(self.stream)
        self.assertIsNotNone(leader)
        leader.kill()
        for t in threads:
            t.join()
        leader.start()
        NATS.wait_healthy()
        self.assertEqual(errors, [], "\n".join(d.log_tail() for d in self.fe))
        self.assertEqual(sorted(got), list(range(n)))
        c = self.client(self.fe[1])
        self.assertEqual(c.call("buf.get", ["b", "sum"]), n * (n - 1) // 2)
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["puts"]), (0, 0, n))
        members = self.stats(self.fe[1])["members"]
        self.assertEqual(sorted(m["id"] for m in members), sorted(d.frontend for d in self.fe))
        self.assertTrue(all(m["alive"] for m in members), members)


class SnapshotTest(ClusterTest):
    """Two front ends that snapshot every EVERY messages of the log."""
    FRONTENDS = 2
    EVERY = 25

    def start_frontend(self, **options):
        options.setdefault("snapshot_every", self.EVERY)
        return super().start_frontend(**options)


class TestSnapshots(SnapshotTest):

    def test_log_trimmed_and_a_new_frontend_starts_from_the_snapshot(self):
        a, b = self.client(self.fe[0]), self.client(self.fe[1])
        g1, g2 = self.client(self.fe[0]), self.client(self.fe[1])
        g1.send_request(1, "queue.get", ["q", None])
        wait_stat(a, "q", getters=1)
        g2.send_request(1, "queue.get", ["q", None])
        wait_stat(a, "q", getters=2)
        for i in range(10):
            a.call("queue.put", ["rq", i, 0])
        w = self.client(self.fe[1])
        self.assertEqual(w.call("queue.get", ["rq", 0]), 0)  # a lease, held across snapshots
        big = "GET /api/v1/items HTTP/1.1 200 512\n" * 4000  # stored compressed
        a.call("buf.set", ["b", "big", big])
        for i in range(3 * self.EVERY):
            b.call("buf.incr", ["b", "n", 1])
        # The log keeps no more than what came since the last snapshot.
        def trimmed():
            info = NATS.stream_info(self.stream)
            st = info and info["state"]
            return st and st["first_seq"] > 1 and st["messages"] <= 2 * self.EVERY and st
        wait_until(trimmed, timeout=60 * SCALE, what="the log trimmed after a snapshot")
        c = self.start_frontend()
        m = c.wait_log(r"cluster: loaded the snapshot at log position (\d+)", timeout=5)
        self.assertGreater(int(m.group(1)), 0)
        cc = self.client(c)
        self.assertEqual(cc.call("buf.get", ["b", "n"]), 3 * self.EVERY)
        self.assertEqual(cc.call("buf.get", ["b", "big"]), big)
        self.assertLess(NATS.stream_info(self.stream + "_SNAP")["state"]["bytes"], len(big) // 4)
        st = cc.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"]), (9, 10))
        self.assertEqual(cc.call("queue.stat", ["q"])["getters"], 2)
        # Parked getters of the others, in their order, are in the new replica.
        cc.call("queue.put", ["q", "first", 0])
        cc.call("queue.put", ["q", "second", 0])
        self.assertEqual(g1.wait_response(1).result, "first")
        self.assertEqual(g2.wait_response(1).result, "second")
        # The lease came with the snapshot: it goes back when its worker goes.
        w.close()
        got = sorted(cc.call("queue.get", ["rq", 30 * SCALE]) for _ in range(10))
        self.assertEqual(got, list(range(10)))
        self.assertEqual(self.client(self.fe[0]).call("queue.stat", ["rq"])["size"], 0)


class TestCutOffPastASnapshot(SnapshotTest):
    """A front end cut off while the others write snapshots and purge the
    log past what it applied cannot catch up from the log: it starts again
    from the newest snapshot in its own process, and joins again."""

    def test_front_end_behind_a_purge_reloads_the_snapshot_and_joins_again(self):
        relay = HoldingProxy(NATS.nodes[0].client_port, both=True)
        self.addCleanup(relay.close)
        d = self.start_frontend(jetstream_servers="nats://127.0.0.1:%d" % relay.port)
        a = self.client(self.fe[0])
        a.call("buf.incr", ["b", "n", 1])
        a.call("queue.put", ["rq", "leased on the cut-off", 0])
        w = self.client(d)
        self.assertEqual(w.call("queue.get", ["rq", 0]), "leased on the cut-off")
        applied = w.call("stats")["log_applied"]
        old_id, pid, mark = d.frontend, d.pid, d.mark()
        relay.hold.set()  # nothing between d and NATS any more, either way
        for _ in range(3 * self.EVERY):
            a.call("buf.incr", ["b", "n", 1])

        def purged_past_d():
            info = NATS.stream_info(self.stream)
            return info and info["state"]["first_seq"] > applied + 1
        wait_until(purged_past_d, timeout=60 * SCALE, what="the log purged past front end d")
        relay.hold.clear()
        relay.cut()  # d reconnects, and its consumer finds the gap
        d.wait_log(r"are gone \(purged after a newer snapshot\); every client is disconnected",
                   timeout=ELECTION_TIMEOUT, since=mark)
        m = d.wait_log(r"cluster: joined as front end (\d+)", timeout=ELECTION_TIMEOUT, since=mark)
        self.assertNotEqual(int(m.group(1)), old_id)
        self.assertTrue(d.alive())
        self.assertEqual(d.pid, pid)
        with self.assertRaises(ConnectionClosed):
            w.call("ping")
        fresh = self.client(d)
        self.assertEqual(fresh.call("buf.get", ["b", "n"]), 1 + 3 * self.EVERY)
        # Its lease came back (d's old id is dead), once, and d serves again.
        self.assertEqual(fresh.call("queue.get", ["rq", 30 * SCALE]), "leased on the cut-off")
        fresh.call("queue.put", ["q", "after", 0])
        self.assertEqual(a.call("queue.get", ["q", 0]), "after")
        self.assertEqual(a.call("queue.stat", ["rq"])["size"], 0)


class TestCutOff(ClusterTest):
    FRONTENDS = 2

    def test_cut_off_frontend_is_declared_dead_and_rejoins_without_stale_state(self):
        relay = HoldingProxy(NATS.nodes[0].client_port)
        self.addCleanup(relay.close)
        d = self.start_frontend(jetstream_servers="nats://127.0.0.1:%d" % relay.port)
        a = self.client(self.fe[0])
        for i in range(3):
            a.call("queue.put", ["rq", i, 0])
        w = self.client(d)
        self.assertEqual(w.call("queue.get", ["rq", 0]), 0)  # a lease held on d
        old_id = d.frontend
        mark = d.mark()
        relay.hold.set()  # nothing from d reaches NATS any more
        w.send_request(9, "queue.put", ["q", "from-the-cut-off", 0])
        # The others declare d dead and its lease comes back to them.
        b = self.client(self.fe[1])
        got = sorted(b.call("queue.get", ["rq", 60 * SCALE]) for _ in range(3))
        self.assertEqual(got, [0, 1, 2])
        relay.hold.clear()
        relay.cut()  # d reconnects
        m = d.wait_log(r"cluster: joined as front end (\d+)", timeout=ELECTION_TIMEOUT, since=mark)
        self.assertNotEqual(int(m.group(1)), old_id)
        with self.assertRaises(ConnectionClosed):
            w.wait_response(9)
        fresh = self.client(d)
        self.assertEqual(fresh.call("queue.stat", ["rq"])["size"], 0)
        self.assertEqual(fresh.call("queue.qsize", ["q"]), 0, "the cut-off put was applied")
        self.assertEqual(a.call("queue.qsize", ["q"]), 0)
        fresh.call("queue.put", ["q", "after", 0])
        self.assertEqual(a.call("queue.get", ["q", 0]), "after")



def port_accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class TestStartBeforeJetStreamIsReady(unittest.TestCase):
    """A front end started before its NATS cluster can serve JetStream (no
    node listening yet, or one node of three up: no leader) waits, and joins
    once the nodes are up, instead of exiting; one whose servers never come
    refuses to start with the reason."""

    NOT_READY = re.compile(r"JetStream is not ready, trying again")
    NOT_UP = re.compile(r"NATS is not up yet, trying again")

    def wait_line(self, d, rx, timeout):
        """Until the daemon's log (read by its own thread) has a line rx matches."""
        deadline = time.monotonic() + timeout
        with d.lines_cv:
            while not any(rx.search(line) for line in d.lines):
                remaining = deadline - time.monotonic()
                exited = d.proc is not None and d.proc.poll() is not None
                if remaining <= 0 or exited:
                    self.fail("no log line matching %r (daemon %s):\n%s" % (
                        rx.pattern, "exited" if exited else "running", "\n".join(d.lines[-20:])))
                d.lines_cv.wait(min(remaining, 0.5))

    def frontend(self, nats, jetstream_timeout):
        opts = cluster_options(nats, unique_stream(), "%gs" % FRONTEND_TIMEOUT)
        # Three tries' worth of this is how long it waits (jetstream.c).
        opts.update(log_level="info", jetstream_timeout="%gs" % jetstream_timeout)
        d = Daemon(OBJECTS, start=False, **opts)
        self.addCleanup(d.cleanup)
        return d

    def start_waiting(self, d, rx, nodes):
        """Starts d, waits until it logs rx, starts nodes, and checks that d
        joins and serves."""
        failure = []

        def start():
            try:
                d.start()
            except BaseException as e:  # reported by the test's thread below
                failure.append(e)
        starter = threading.Thread(target=start, daemon=True)
        starter.start()
        self.wait_line(d, rx, 60 * SCALE)
        for node in nodes:
            node.start()
        starter.join(ELECTION_TIMEOUT)
        self.assertFalse(starter.is_alive(), "the front end never joined")
        self.assertEqual(failure, [])
        self.assertIsNotNone(d.frontend)
        c = d.client(timeout=ELECTION_TIMEOUT)
        self.addCleanup(c.close)
        c.call("queue.put", ["q", "after the wait"])
        self.assertEqual(c.call("queue.get", ["q", 0]), "after the wait")

    def test_front_end_waits_for_jetstream(self):
        nats = NatsCluster()
        self.addCleanup(nats.cleanup)
        first = nats.nodes[0]
        first.start()
        wait_until(lambda: port_accepts(first.client_port), 30 * SCALE, "nats-server's client port")
        self.start_waiting(self.frontend(nats, 8 * SCALE), self.NOT_READY, nats.nodes[1:])

    def test_front_end_waits_for_nats_servers_to_listen(self):
        nats = NatsCluster()
        self.addCleanup(nats.cleanup)
        self.start_waiting(self.frontend(nats, 20 * SCALE), self.NOT_UP, nats.nodes)

    def test_front_end_whose_servers_never_listen_refuses_to_start(self):
        nats = NatsCluster()  # its ports are free and nothing listens on them
        self.addCleanup(nats.cleanup)
        d = self.frontend(nats, 1)
        began = time.monotonic()
        with self.assertRaises(AssertionError):
            d.start()
        self.assertEqual(d.wait_exit(), 1, d.log_tail())
        waited = time.monotonic() - began
        log = "\n".join(d.lines)
        self.assertRegex(log, r"cannot reach the NATS servers .* within \d")
        self.assertTrue(self.NOT_UP.search(log), log)
        self.assertGreaterEqual(waited, 2.5, "it gave up before three times jetstream_timeout")


if __name__ == "__main__":
    unittest.main()
