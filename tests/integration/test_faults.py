"""Faults around a live daemon (journal = on where it matters).

- TestFullDisk: the daemon runs under a small RLIMIT_FSIZE, so journal
  writes fail: a change is refused (ENOMEM naming the journal) or its
  connection closed, never acknowledged; reads go on; what was acknowledged
  before survives a restart; raising the limit lets it recover. A change that
  fails to journal must not destroy data nobody received (get on a
  redeliver = off queue, buf.drain).
- TestSlowConsumer: a worker that pipelines gets of large items on a
  journaled redeliver queue and never reads: RSS bounded by max_output,
  others served; when it goes, every item comes back. (peeks without a
  journal: test_lifecycle.TestBackpressure.)
- TestProducerKilledMidPutMany: a process killed while sending a big
  put_many frame: the frame is applied whole or not at all.
- TestVanishingWithJournal: a parked client that vanishes swallows nothing,
  across a restart too. (without a journal: test_blocking.TestVanishing.)
- TestConnectionChurn: 10,000 connections opened and dropped in batches.

A worker killed mid-item is test_redelivery.TestWorkerProcess; kill -9 of
the daemon is test_durability.
"""

import os
import re
import resource
import signal
import socket
import struct
import time
import unittest

from dur_lib import (
    CALL_TIMEOUT, POLL_TIMEOUT, SCALE, Client, ConnectionClosed, DurTest, RPCError,
    packb, rng, sanitized, spawn, split_array, unpackb, wait_connections, wait_stat, wait_until,
)
from qmgrtest import (
    CHALLENGE, ENOMEM, SHA256_PREFIX, WELCOME, client_row, pack_request,
)

OBJECTS = """
[queue q]
maxsize = 0
redeliver = off

[queue rq]
maxsize = 0
redeliver = on

[queue side]
maxsize = 0

[buf b]
"""

UNLIMITED = resource.RLIM_INFINITY


def set_fsize(pid, soft):
    """Sets the daemon's RLIMIT_FSIZE soft limit (hard left unlimited)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, UNLIMITED))


class FullDiskBase(DurTest):
    OBJECTS = OBJECTS
    ITEM = 16 * 1024
    LIMIT = 1 << 20

    def item(self, i):
        return bytes([i % 251]) * self.ITEM

    def fill_until_refused(self, c, queue="q", max_items=1000):
        """Puts items until one is not acknowledged; returns (acked, refused,
        client) -- the client is a fresh one if the daemon closed it."""
        acked = []
        for i in range(max_items):
            try:
                c.call("queue.put", [queue, self.item(i), 0])
            except RPCError as e:
                self.assertEqual(e.code, ENOMEM, "a put refused with %r" % e)
                self.assertIn("journal", e.message)
                return acked, [i], c
            except ConnectionClosed:
                return acked, [i], self.client()
            acked.append(i)
        self.fail("%d puts of %d bytes all acknowledged under RLIMIT_FSIZE %d"
                  % (max_items, self.ITEM, self.LIMIT))

    def journal_failed_line(self):
        return self.d.wait_log(r"journal .*(write|fsync) failed", timeout=POLL_TIMEOUT,
                               what="a log line about the failed journal write")

    def contents(self, c, queue="q"):
        return [unpackb(r) for r in self.queue_contents(c, queue)]


class TestFullDisk(FullDiskBase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(fsize=self.LIMIT, journal="on", fsync="always", log_level="info",
                                   max_item="1M")

    def test_put_refused_reads_go_on_acknowledged_survive(self):
        c = self.client()
        c.call("buf.update", ["b", {"before": 1}])
        acked, refused, c = self.fill_until_refused(c)
        self.assertGreater(len(acked), 10)
        self.journal_failed_line()
        # further changes: refused with an error, the connection stays
        msg = c.expect_error(ENOMEM, "queue.put", ["q", b"more", 0])
        self.assertIn("journal", msg)
        c.expect_error(ENOMEM, "queue.put_many", ["q", [b"x", b"y"], 0])
        c.expect_error(ENOMEM, "buf.incr", ["b", "before", 1])
        c.expect_error(ENOMEM, "buf.update", ["b", {"n": 1}])
        # reads go on
        self.assertEqual(c.ping(), "pong")
        n = c.call("queue.qsize", ["q"])
        self.assertIn(n, (len(acked), len(acked) + len(refused)))
        self.assertEqual(c.call("queue.peek", ["q", 3]), [self.item(i) for i in acked[:3]])
        st = c.call("queue.stat", ["q"])
        self.assertEqual(st["size"], n)
        self.assertEqual(c.call("buf.get", ["b", "before"]), 1)
        self.assertEqual(c.call("buf.items", ["b"]), {"before": 1})
        self.assertEqual(c.call("lookup", ["q"])["name"], "q")
        self.assertGreaterEqual(c.call("stats", [])["connections"], 1)
        self.assertEqual(len(c.call("objects", [])), 4)
        other = self.client()
        self.assertEqual(other.ping(), "pong")
        self.assertTrue(self.d.alive())
        # no flood of log lines while refusing
        for _ in range(200):
            c.expect_error(ENOMEM, "queue.put", ["q", b"more", 0])
        self.assertLess(len(self.d.log_since(0)), 100, "one log line per refused change?")
        # a clean stop, and a restart without the limit: what was acknowledged is there
        self.clean_restart_unlimited()
        c = self.client()
        got = self.contents(c)
        self.assertEqual(got[:len(acked)], [self.item(i) for i in acked], "acknowledged items lost")
        self.assertLessEqual(len(got) - len(acked), len(refused))
        if len(got) > len(acked):
            print("\nnote: the put that failed to journal is there after the restart")
        self.assertEqual(c.call("buf.items", ["b"]), {"before": 1})
        c.call("queue.put", ["q", b"fine again", 0])

    def clean_restart_unlimited(self):
        for cl in self.clients:
            cl.close()
        self.clients = []
        self.assertEqual(self.d.stop(), 0, "qmgrd did not exit 0 with a failed journal:\n%s"
                         % self.d.log_tail())
        self.d.fsize = None
        self.d.restart()

    def test_refusal_is_sticky_until_space_returns_then_recovers(self):
        c = self.client()
        acked, refused, c = self.fill_until_refused(c)
        self.journal_failed_line()
        c.expect_error(ENOMEM, "queue.put", ["q", b"more", 0])
        mark = self.d.mark()
        set_fsize(self.d.pid, UNLIMITED)
        self.d.wait_log(r"recovered", since=mark, timeout=30 * SCALE,
                        what="the journal recovering once writes work again")
        after = [b"after-%d" % i for i in range(5)]
        for a in after:
            c.call("queue.put", ["q", a, 0])
        self.d.fsize = None
        self.crash_restart()
        c = self.client()
        got = self.contents(c)
        self.assertEqual(got[:len(acked)], [self.item(i) for i in acked])
        self.assertEqual(got[-len(after):], after)
        self.assertLessEqual(len(got) - len(acked) - len(after), len(refused))

    def test_kill9_after_refusal_keeps_acknowledged(self):
        c = self.client()
        acked, refused, c = self.fill_until_refused(c)
        self.journal_failed_line()
        self.d.fsize = None
        self.crash_restart()
        c = self.client()
        got = self.contents(c)
        self.assertEqual(got[:len(acked)], [self.item(i) for i in acked])
        self.assertLessEqual(len(got) - len(acked), len(refused))
        self.assertEqual([l for l in self.d.log_since(0) if "cutting" in l], [],
                         "the failed write left a tail to cut (it should have been cut at once)")


    def test_restart_while_disk_full(self):
        """After a kill -9 with the disk still full, the daemon either starts
        and serves what was acknowledged, or exits non-zero with a log line
        naming the problem -- leaving the journal as it was, so a start with
        room has everything."""
        c = self.client()
        acked, refused, c = self.fill_until_refused(c)
        self.journal_failed_line()
        self.d.crash()
        for cl in self.clients:
            cl.close()
        self.clients = []
        with open(self.d.journal, "rb") as fh:
            before = fh.read()
        rc = None
        try:
            self.d.restart()
        except AssertionError:
            rc = self.d.wait_exit()
        if rc is None:
            c = self.client()
            got = self.contents(c)
            self.assertEqual(got[:len(acked)], [self.item(i) for i in acked])
            c.close()
            self.d.crash()
        else:
            self.assertNotEqual(rc, 0)
            lines = self.d.log_since(0)
            self.assertTrue([l for l in lines if re.search(r"journal.*(File too large|No space)", l)],
                            "no log line saying why it cannot start:\n%s" % "\n".join(lines))
            print("\nnote: with the disk still full the daemon does not start: %s" % lines[-1])
            with open(self.d.journal, "rb") as fh:
                self.assertEqual(fh.read(), before, "a failed start changed the journal")
            self.assertFalse(os.path.exists(self.d.journal + ".rewrite"), "a failed rewrite left its file")
        self.d.fsize = None
        self.d.restart()
        c = self.client()
        got = self.contents(c)
        self.assertEqual(got[:len(acked)], [self.item(i) for i in acked])
        self.assertLessEqual(len(got) - len(acked), len(refused))


class TestFailedJournalLosesNothingUndelivered(FullDiskBase):
    """A change whose journal write fails is not acknowledged; when it is one
    that hands data out (get on a redeliver = off queue, buf.drain), the
    data must not vanish with the unsent reply."""

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync="always", log_level="info")

    def fail_next_write(self):
        """The journal file is at its size limit: its next record fails."""
        size = os.path.getsize(self.d.journal)
        set_fsize(self.d.pid, size + 3)

    def recover(self):
        mark = self.d.mark()
        set_fsize(self.d.pid, UNLIMITED)
        self.d.wait_log(r"recovered", since=mark, timeout=30 * SCALE, what="the journal recovering")

    def call_unacknowledged(self, c, method, params):
        try:
            r = c.call(method, params)
        except ConnectionClosed:
            return "closed"
        except RPCError as e:
            self.assertEqual(e.code, ENOMEM)
            return "refused"
        self.fail("%s %r was acknowledged (%r) though its journal write failed" % (method, params, r))

    def test_get_on_redeliver_off_queue(self):
        c = self.client()
        c.call("queue.put_many", ["q", ["a", "b", "c"], 0])
        self.fail_next_write()
        how = self.call_unacknowledged(c, "queue.get", ["q", 0])
        self.journal_failed_line()
        c = self.client()
        now = self.contents(c)
        self.recover()
        self.crash_restart()
        c = self.client()
        after = self.contents(c)
        self.assertEqual((now, after), (["a", "b", "c"], ["a", "b", "c"]),
                         "a get whose journal write failed (%s, no item delivered) removed the item: "
                         "queue while failed %r, after recovery and a restart %r" % (how, now, after))

    def test_get_on_redeliver_on_queue(self):
        c = self.client()
        c.call("queue.put_many", ["rq", ["a", "b", "c"], 0])
        self.fail_next_write()
        self.call_unacknowledged(c, "queue.get_many", ["rq", 2, 0])
        self.journal_failed_line()
        c = self.client()
        wait_until(lambda: c.call("queue.qsize", ["rq"]) == 3, what="the leases back")
        self.recover()
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.contents(c, "rq"), ["a", "b", "c"])

    def test_buf_drain(self):
        c = self.client()
        c.call("buf.update", ["b", {"x": 1, "y": 2}])
        self.fail_next_write()
        how = self.call_unacknowledged(c, "buf.drain", ["b"])
        self.journal_failed_line()
        c = self.client()
        now = c.call("buf.items", ["b"])
        self.recover()
        self.crash_restart()
        c = self.client()
        after = c.call("buf.items", ["b"])
        self.assertEqual((now, after), ({"x": 1, "y": 2}, {"x": 1, "y": 2}),
                         "a drain whose journal write failed (%s, nothing delivered) emptied the buf: "
                         "while failed %r, after recovery and a restart %r" % (how, now, after))

    def test_put_refused_then_recovered_is_consistent(self):
        # the in-memory state and the journal agree after a recovery
        c = self.client()
        c.call("queue.put", ["q", "a", 0])
        self.fail_next_write()
        self.call_unacknowledged(c, "queue.put", ["q", "b", 0])
        self.journal_failed_line()
        c = self.client()
        now = self.contents(c)
        self.recover()
        c.call("queue.put", ["q", "c", 0])
        now = self.contents(c)
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.contents(c), now)
        self.assertIn(now, (["a", "c"], ["a", "b", "c"]))


class TestSlowConsumer(DurTest):
    OBJECTS = OBJECTS
    PAYLOAD = bytes(range(256)) * 1024      # 256 KiB
    N = 200                                 # 50 MiB queued

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync="everysec", log_level="info", max_output="1M",
                                   max_item="1M")

    def test_worker_that_stops_reading(self):
        obs = self.client()
        items = [self.PAYLOAD[:-4] + struct.pack(">I", i) for i in range(self.N)]
        for i in range(0, self.N, 20):
            obs.call("queue.put_many", ["rq", items[i:i + 20], 0])
        rss0 = self.d.rss_kib()
        a = self.client()
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        a.raw_send(b"".join(struct.pack(">i", len(f)) + f for f in
                            (pack_request(i + 1, "queue.get", ["rq", 0]) for i in range(self.N))))
        wait_until(lambda: (client_row(obs, a) or {}).get("ops", 0) >= 1, what="the gets being served")
        b = self.client()
        peak = 0
        for i in range(50):
            self.assertEqual(b.ping(), "pong")
            b.call("queue.put", ["side", i, 0])
            self.assertEqual(b.call("queue.get", ["side", 0]), i)
            self.assertEqual(b.call("buf.incr", ["b", "n", 1]), i + 1)
            self.assertEqual(b.call("queue.qsize", ["rq"]), obs.call("queue.qsize", ["rq"]))
            peak = max(peak, self.d.rss_kib() - rss0)
        served = self.N - obs.call("queue.qsize", ["rq"])
        self.assertLess(served, self.N // 2, "the daemon kept serving a client that does not read")
        self.assertLess(peak, 48 * 1024, "RSS grew by %d KiB while a client did not read (max_output 1M)" % peak)
        # the worker goes away: everything it was handed comes back, in order
        a.close()
        st = wait_stat(obs, "rq", size=self.N)
        self.assertEqual(st["redelivered"], served)
        self.assertEqual(st["unfinished"], self.N)
        self.crash_restart()
        c = self.client()
        got = []
        while len(got) < self.N:
            got += split_array(c.call("queue.get_many", ["rq", 16, 0], raw=True))
        self.assertEqual([unpackb(g) for g in got] == items, True, "items changed or out of order")
        c.call("queue.task_done", ["rq", self.N])
        self.assertIsNone(c.call("queue.join", ["rq", 0]))


class TestProducerKilledMidPutMany(DurTest):
    OBJECTS = OBJECTS
    NITEMS = 2000
    ITEMSIZE = 1024

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync="always", log_level="info")
        self.obs = self.client()

    def run_producer(self, mode, delay=None):
        p = spawn(self, "dur_halfput.py", self.d.port, self.d.keyfile, "q", self.NITEMS, self.ITEMSIZE, mode)
        line = p.stdout.readline()
        self.assertTrue(line.startswith(b"SENT") or line.startswith(b"SENDING"),
                        "producer said %r; stderr %r" % (line, p.stderr.read() if p.poll() is not None else ""))
        wait_connections(self.obs, 2)
        if delay is not None:
            time.sleep(delay)  # a random moment of the sending: an input
        os.kill(p.pid, signal.SIGKILL)
        p.wait(CALL_TIMEOUT)
        wait_connections(self.obs, 1)
        return p

    def check_nothing_put(self, mem0):
        st = self.obs.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["puts"], st["unfinished"]), (0, 0, 0))
        self.assertEqual(self.obs.call("stats", [])["memory_bytes"], mem0)

    def test_killed_after_half_a_frame(self):
        mem0 = self.obs.call("stats", [])["memory_bytes"]
        self.run_producer("half")
        self.check_nothing_put(mem0)
        self.crash_restart()
        self.obs = self.client()
        self.check_nothing_put(self.obs.call("stats", [])["memory_bytes"])

    def test_killed_one_byte_short(self):
        mem0 = self.obs.call("stats", [])["memory_bytes"]
        self.run_producer("last")
        self.check_nothing_put(mem0)
        self.assertEqual(self.obs.call("queue.put", ["q", "next", 0]), None)
        self.assertEqual(self.obs.call("queue.get", ["q", 0]), "next")

    def test_killed_at_random_moments_whole_or_nothing(self):
        r = rng(11)
        outcomes = []
        for _ in range(6):
            before = self.obs.call("queue.qsize", ["q"])
            self.run_producer("slow", delay=r.uniform(0, 0.06))
            n = self.obs.call("queue.qsize", ["q"]) - before
            self.assertIn(n, (0, self.NITEMS), "a killed producer's put_many was applied in part")
            outcomes.append(n)
        total = sum(outcomes)
        self.crash_restart()
        self.obs = self.client()
        self.assertEqual(self.obs.call("queue.qsize", ["q"]), total)
        items = split_array(self.obs.call("queue.peek", ["q", total], raw=True)) if total else []
        want = [packb(bytes([i % 251]) * self.ITEMSIZE) for i in range(self.NITEMS)] * (total // self.NITEMS)
        self.assertEqual(items == want, True, "items of the whole frames differ")


class TestVanishingWithJournal(DurTest):
    OBJECTS = OBJECTS

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync="always", log_level="info")
        self.obs = self.client()

    def test_parked_getter_vanishes_item_survives_restart(self):
        a = self.client()
        a.send_request(1, "queue.get", ["rq", None])
        wait_stat(self.obs, "rq", getters=1)
        a.close()
        self.obs.call("queue.put", ["rq", "precious", 0])   # may reach the dead getter first
        self.crash_restart()
        c = self.client()
        self.assertEqual(c.call("queue.get", ["rq", 0]), "precious")

    def test_parked_getter_vanishes_redeliver_off(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=1)
        a.close()
        wait_stat(self.obs, "q", getters=0)
        self.obs.call("queue.put", ["q", "precious", 0])
        self.crash_restart()
        c = self.client()
        self.assertEqual(c.call("queue.get", ["q", 0]), "precious")

    def test_parked_putter_vanishes(self):
        self.obs.call("queue.put", ["side", "x", 0])
        d = self.d
        d.reload(objects=OBJECTS.replace("[queue side]\nmaxsize = 0", "[queue side]\nmaxsize = 1"))
        wait_until(lambda: self.obs.call("queue.stat", ["side"])["maxsize"] == 1, what="reload")
        p = self.client()
        p.send_request(1, "queue.put", ["side", "ghost", None])
        wait_stat(self.obs, "side", putters=1)
        p.close()
        wait_stat(self.obs, "side", putters=0)
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "side", raw=False), ["x"])
        self.assertEqual(c.call("queue.stat", ["side"])["unfinished"], 1)


class TestConnectionChurn(DurTest):
    OBJECTS = OBJECTS
    TOTAL = 10000
    BATCH = 500

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 2 * self.BATCH + 256
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync="everysec", log_level="notice")

    def batch(self, n, kind):
        """n connections side by side. kind: full (handshake, a put and a
        ping), half (read the challenge only), none (connect only)."""
        key = self.d.key
        conns = [Client(self.d.port, handshake=False) for _ in range(n)]
        try:
            if kind == "none":
                return 0
            msgs = [c.read_challenge() for c in conns]
            if kind == "half":
                return 0
            for c, m in zip(conns, msgs):
                c.send_frame(Client.answer(key, m))
            for c in conns:
                self.assertEqual(c.recv_frame(), WELCOME)
            nonces = [os.urandom(40) for _ in conns]
            for c, rc in zip(conns, nonces):
                c.send_frame(CHALLENGE + SHA256_PREFIX + rc)
            for c, rc in zip(conns, nonces):
                self.assertEqual(c.recv_frame(), Client.answer(key, SHA256_PREFIX + rc))
            for i, c in enumerate(conns):
                c.send_frame(WELCOME)
                c.send_request(1, "buf.incr", ["b", "n", 1])
                c.send_request(2, "ping", [])
            for c in conns:
                self.assertEqual(c.wait_response(2).result, "pong")
                self.assertIsNone(c.wait_response(1).error)
            return n
        finally:
            for c in conns:
                c.close()

    def test_10000_connections_opened_and_dropped(self):
        obs = self.client()
        base = obs.call("stats", [])
        self.batch(self.BATCH, "full")         # warm up allocator and buffers
        wait_connections(obs, 1, timeout=60 * SCALE)
        rss0 = self.d.rss_kib()
        total0 = obs.call("stats", [])["connections_total"]
        kinds = ["full", "full", "half", "full", "none", "full"]
        done = full = 0
        i = 0
        t0 = time.monotonic()
        while done < self.TOTAL:
            kind = kinds[i % len(kinds)]
            full += self.batch(self.BATCH, kind)
            done += self.BATCH
            i += 1
            wait_connections(obs, 1, timeout=60 * SCALE)
        elapsed = time.monotonic() - t0
        st = obs.call("stats", [])
        self.assertEqual(st["connections"], base["connections"])
        self.assertGreaterEqual(st["connections_total"] - total0, self.TOTAL)
        self.assertEqual(obs.call("buf.get", ["b", "n"]), full + self.BATCH)
        self.assertEqual(len(obs.call("clients", [])), 1)
        grew = self.d.rss_kib() - rss0
        if not sanitized():  # ASan's quarantine holds freed memory; LeakSanitizer checks the exit
            self.assertLess(grew, 16 * 1024, "RSS grew by %d KiB over %d connections" % (grew, self.TOTAL))
        # and it serves, also across a restart
        obs.call("queue.put", ["q", "still here", 0])
        self.crash_restart()
        c = self.client()
        self.assertEqual(c.call("queue.get", ["q", 0]), "still here")
        self.assertEqual(c.call("buf.get", ["b", "n"]), full + self.BATCH)
        print("\n%d connections in %.1fs, RSS %+d KiB" % (self.TOTAL, elapsed, grew))


if __name__ == "__main__":
    unittest.main()
