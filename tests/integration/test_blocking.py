"""Blocking across connections, out-of-order responses, pipelining, clients
that vanish while parked."""

import struct
import time
import unittest

from qmgrtest import (
    DaemonTest, pack_request, wait_stat, wait_waiting_on, wait_until, wait_connections, client_row,
    EEMPTY, EFULL, ETIMEOUT,
)

OBJECTS = """
[queue q]
maxsize = 0

[queue one]
maxsize = 1

[queue two]
maxsize = 2

[queue rq]
maxsize = 0
redeliver = on

[buf b]
"""


class Base(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")

    def setUp(self):
        super().setUp()
        self.obs = self.client()  # observer / producer


class TestParked(Base):
    def test_getter_parked_on_A_served_by_put_on_B(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=1)
        self.assertTrue(a.is_open(0.05))
        self.assertEqual(len(a.buf), 0, "the parked get was answered before any put")
        b = self.client()
        self.assertIsNone(b.call("queue.put", ["q", "hello", 0]))
        r = a.wait_response(1)
        self.assertEqual((r.msgid, r.error, r.result), (1, None, "hello"))
        st = self.obs.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["getters"], st["puts"], st["gets"]), (0, 0, 1, 1))

    def test_parked_get_timeout_omitted_is_forever(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q"])
        wait_stat(self.obs, "q", getters=1)
        self.obs.call("queue.put", ["q", 42, 0])
        self.assertEqual(a.wait_response(1).result, 42)

    def test_parked_getters_fifo(self):
        getters = []
        for i in range(5):
            g = self.client()
            g.send_request(10 + i, "queue.get", ["q", None])
            wait_stat(self.obs, "q", getters=i + 1)
            getters.append(g)
        for i in range(5):
            self.obs.call("queue.put", ["q", "item%d" % i, 0])
        for i, g in enumerate(getters):
            r = g.wait_response(10 + i)
            self.assertEqual((r.error, r.result), (None, "item%d" % i))
        self.assertEqual(self.obs.call("queue.stat", ["q"])["getters"], 0)

    def test_parked_getters_fifo_with_put_many(self):
        getters = []
        for i in range(4):
            g = self.client()
            g.send_request(1, "queue.get", ["q", None])
            wait_stat(self.obs, "q", getters=i + 1)
            getters.append(g)
        self.assertEqual(self.obs.call("queue.put_many", ["q", ["a", "b", "c", "d", "e"], 0]), 5)
        self.assertEqual([g.wait_response(1).result for g in getters], ["a", "b", "c", "d"])
        self.assertEqual(self.obs.call("queue.peek", ["q", 5]), ["e"])

    def test_parked_putters_served_in_order(self):
        self.obs.call("queue.put", ["one", "x0", 0])
        putters = []
        for i in range(1, 4):
            p = self.client()
            p.send_request(i, "queue.put", ["one", "x%d" % i, None])
            wait_stat(self.obs, "one", putters=i)
            putters.append(p)
        for i in range(4):
            self.assertEqual(self.obs.call("queue.get", ["one", 30]), "x%d" % i)
            if i < 3:
                r = putters[i].wait_response(i + 1)
                self.assertEqual((r.error, r.result), (None, None))
        for p in putters:
            self.assertEqual(len(p.stash), 0)
        st = self.obs.call("queue.stat", ["one"])
        self.assertEqual((st["size"], st["putters"], st["puts"], st["gets"]), (0, 0, 4, 4))

    def test_parked_put_many_completes_as_space_frees(self):
        p = self.client()
        p.send_request(9, "queue.put_many", ["two", ["a", "b", "c", "d", "e"], None])
        wait_stat(self.obs, "two", size=2, putters=1)
        got = []
        for _ in range(5):
            got.append(self.obs.call("queue.get", ["two", 30]))
        r = p.wait_response(9)
        self.assertEqual((r.error, r.result), (None, 5))
        self.assertEqual(got, ["a", "b", "c", "d", "e"])

    def test_put_hands_straight_to_parked_getter(self):
        g1, g2 = self.client(), self.client()
        g1.send_request(1, "queue.get", ["one", None])
        wait_stat(self.obs, "one", getters=1)
        g2.send_request(1, "queue.get", ["one", None])
        wait_stat(self.obs, "one", getters=2)
        # maxsize 1, but with getters waiting neither put has to wait for space
        self.assertIsNone(self.obs.call("queue.put", ["one", "first", 0]))
        self.assertIsNone(self.obs.call("queue.put", ["one", "second", 0]))
        self.assertEqual(g1.wait_response(1).result, "first")
        self.assertEqual(g2.wait_response(1).result, "second")
        st = self.obs.call("queue.stat", ["one"])
        self.assertEqual((st["size"], st["getters"], st["puts"], st["gets"], st["unfinished"]),
                         (0, 0, 2, 2, 2))

    def test_get_many_waits_only_for_first(self):
        g = self.client()
        g.send_request(1, "queue.get_many", ["q", 10, None])
        wait_stat(self.obs, "q", getters=1)
        self.obs.call("queue.put", ["q", "only", 0])
        r = g.wait_response(1)
        self.assertEqual((r.error, r.result), (None, ["only"]))

    def test_get_timeout_0_2s(self):
        a = self.client()
        t0 = time.monotonic()
        a.expect_error(EEMPTY, "queue.get", ["q", 0.2])
        self.assertElapsed(t0, 0.2, 20)
        self.assertEqual(self.obs.call("queue.stat", ["q"])["getters"], 0)
        # a later put is not swallowed by the expired getter
        self.obs.call("queue.put", ["q", "later", 0])
        self.assertEqual(self.obs.call("queue.qsize", ["q"]), 1)

    def test_put_timeout_0_2s(self):
        self.obs.call("queue.put", ["one", "x", 0])
        a = self.client()
        t0 = time.monotonic()
        a.expect_error(EFULL, "queue.put", ["one", "y", 0.2])
        self.assertElapsed(t0, 0.2, 20)
        self.assertEqual(self.obs.call("queue.stat", ["one"])["putters"], 0)
        # the expired putter's item never enters the queue
        self.assertEqual(self.obs.call("queue.get", ["one", 0]), "x")
        self.obs.expect_error(EEMPTY, "queue.get", ["one", 0])

    def test_join_timeout_0_2s(self):
        self.obs.call("queue.put", ["q", "x", 0])
        a = self.client()
        t0 = time.monotonic()
        a.expect_error(ETIMEOUT, "queue.join", ["q", 0.2])
        self.assertElapsed(t0, 0.2, 20)

    def test_timeouts_of_several_parked_requests_are_independent(self):
        a = self.client()
        t0 = time.monotonic()
        a.send_request(1, "queue.get", ["q", 0.6])
        a.send_request(2, "queue.get", ["q", 0.2])
        r = a.recv_response()
        self.assertEqual((r.msgid, r.error[0]), (2, EEMPTY))
        self.assertElapsed(t0, 0.2)
        r = a.recv_response()
        self.assertEqual((r.msgid, r.error[0]), (1, EEMPTY))
        self.assertElapsed(t0, 0.6)

    def test_join_released_by_task_done_from_another_connection(self):
        self.obs.call("queue.put_many", ["q", [1, 2], 0])
        worker = self.client()
        self.assertEqual(worker.call("queue.get_many", ["q", 2, 0]), [1, 2])
        j1, j2 = self.client(), self.client()
        j1.send_request(1, "queue.join", ["q", None])
        j2.send_request(1, "queue.join", ["q"])
        wait_waiting_on(self.obs, "q", 2)
        worker.call("queue.task_done", ["q", 1])
        # one task left: both still parked
        wait_waiting_on(self.obs, "q", 2)
        self.assertTrue(j1.is_open(0.05))
        self.assertEqual(len(j1.buf), 0, "join returned with a task unfinished")
        worker.call("queue.task_done", ["q"])
        for j in (j1, j2):
            r = j.wait_response(1)
            self.assertEqual((r.error, r.result), (None, None))
        wait_waiting_on(self.obs, "q", 0)


class TestOrdering(Base):
    def test_parked_get_answered_after_later_ping(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        a.send_request(2, "ping", [])
        r = a.recv_response()
        self.assertEqual((r.msgid, r.result), (2, "pong"))
        a.send_request(3, "queue.qsize", ["q"])
        r = a.recv_response()
        self.assertEqual((r.msgid, r.result), (3, 0))
        self.obs.call("queue.put", ["q", "late", 0])
        r = a.recv_response()
        self.assertEqual((r.msgid, r.error, r.result), (1, None, "late"))

    def test_two_parked_gets_on_one_connection_fifo(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        a.send_request(2, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=2)
        self.obs.call("queue.put_many", ["q", ["first", "second"], 0])
        got = {}
        for _ in range(2):
            r = a.recv_response()
            got[r.msgid] = r.result
        self.assertEqual(got, {1: "first", 2: "second"})

    def test_msgid_echoed_exactly(self):
        a = self.client()
        for msgid in (0, 1, 127, 128, 65535, 65536, 2 ** 31, 2 ** 32 - 1):
            with self.subTest(msgid=msgid):
                a.send_request(msgid, "ping", [])
                r = a.recv_response()
                self.assertEqual((r.msgid, r.result), (msgid, "pong"))

    def test_pipelining_100_requests(self):
        a = self.client()
        frames = []
        for i in range(50):
            frames.append(pack_request(1000 + i, "queue.put", ["q", {"i": i}, 0]))
        for i in range(50):
            frames.append(pack_request(2000 + i, "queue.get", ["q", 0]))
        a.raw_send(b"".join(struct.pack(">i", len(f)) + f for f in frames))
        responses = {}
        order = []
        for _ in range(100):
            r = a.recv_response()
            self.assertNotIn(r.msgid, responses)
            responses[r.msgid] = r
            order.append(r.msgid)
        for i in range(50):
            self.assertEqual(responses[1000 + i].error, None)
            self.assertEqual(responses[2000 + i].error, None, responses[2000 + i].error)
            self.assertEqual(responses[2000 + i].result, {"i": i})
        self.assertEqual(sorted(order), sorted(responses))
        self.assertEqual(a.ping(), "pong")

    def test_pipelining_interleaved_with_a_parked_get(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        for i in range(100):
            a.send_request(100 + i, "buf.incr", ["b", "n", 1])
        seen = set()
        for _ in range(100):
            r = a.recv_response()
            self.assertNotEqual(r.msgid, 1, "parked get answered with nothing put")
            self.assertIsNone(r.error)
            seen.add(r.msgid)
        self.assertEqual(seen, set(range(100, 200)))
        self.assertEqual(self.obs.call("buf.get", ["b", "n"]), 100)
        self.obs.call("queue.put", ["q", "x", 0])
        self.assertEqual(a.wait_response(1).result, "x")


class TestVanishing(Base):
    def test_client_vanishing_while_parked_does_not_swallow_item(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=1)
        a.close()
        wait_stat(self.obs, "q", getters=0)
        self.obs.call("queue.put", ["q", "precious", 0])
        b = self.client()
        self.assertEqual(b.call("queue.get", ["q", 30]), "precious")

    def test_vanished_getter_skipped_for_next_parked_getter(self):
        a = self.client()
        a.send_request(1, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=1)
        b = self.client()
        b.send_request(1, "queue.get", ["q", None])
        wait_stat(self.obs, "q", getters=2)
        a.close()
        wait_stat(self.obs, "q", getters=1)
        self.obs.call("queue.put", ["q", "for-b", 0])
        self.assertEqual(b.wait_response(1).result, "for-b")
        self.assertEqual(self.obs.call("queue.qsize", ["q"]), 0)

    def test_vanished_getter_on_redeliver_queue_loses_nothing(self):
        # no waiting for the daemon to notice the close: either the item is
        # queued, or handed to the dead connection and redelivered.
        a = self.client()
        a.send_request(1, "queue.get", ["rq", None])
        wait_stat(self.obs, "rq", getters=1)
        a.close()
        self.obs.call("queue.put", ["rq", "precious", 0])
        b = self.client()
        self.assertEqual(b.call("queue.get", ["rq", 30]), "precious")

    def test_client_vanishing_with_parked_putter_and_joiner(self):
        self.obs.call("queue.put", ["one", "x", 0])
        p = self.client()
        p.send_request(1, "queue.put", ["one", "ghost", None])
        j = self.client()
        j.send_request(1, "queue.join", ["one", None])
        wait_stat(self.obs, "one", putters=1)
        wait_waiting_on(self.obs, "one", 2)
        p.close()
        j.close()
        wait_stat(self.obs, "one", putters=0)
        wait_waiting_on(self.obs, "one", 0)
        wait_connections(self.obs, 1)
        self.assertEqual(self.obs.call("queue.get", ["one", 0]), "x")
        self.obs.expect_error(EEMPTY, "queue.get", ["one", 0])
        self.obs.call("queue.task_done", ["one"])
        self.assertIsNone(self.obs.call("queue.join", ["one", 0]))

    def test_vanishing_with_unread_responses(self):
        a = self.client()
        for i in range(200):
            a.send_request(i + 1, "queue.put", ["q", b"z" * 1000, 0])
        wait_stat(self.obs, "q", size=200)
        a.close()
        wait_connections(self.obs, 1)
        self.assertEqual(self.obs.call("queue.purge", ["q"]), 200)


if __name__ == "__main__":
    unittest.main()
