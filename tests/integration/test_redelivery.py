"""redeliver = on: items got and not task_done'd by a connection that closes
go back to the head of the queue, in order. redeliver = off: they are gone."""

import os
import signal
import subprocess
import sys
import unittest

from qmgrtest import (
    DaemonTest, Raw, packb, array_header, wait_stat, wait_connections, CALL_TIMEOUT, EEMPTY,
)

OBJECTS = """
[queue rq]
maxsize = 0
redeliver = on

[queue plain]
maxsize = 0
redeliver = off

[queue rsmall]
maxsize = 2
redeliver = on
"""

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable or "/usr/bin/python3"


class Base(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")

    def setUp(self):
        super().setUp()
        self.obs = self.client()

    def put_items(self, queue, items):
        self.assertEqual(self.obs.call("queue.put_many", [queue, items, 0]), len(items))


class TestRedeliverOn(Base):
    def test_unacked_items_return_to_head_in_order(self):
        self.put_items("rq", ["i1", "i2", "i3", "i4", "i5"])
        a = self.client()
        self.assertEqual([a.call("queue.get", ["rq", 0]) for _ in range(3)], ["i1", "i2", "i3"])
        self.obs.call("queue.put", ["rq", "i6", 0])
        a.close()
        st = wait_stat(self.obs, "rq", size=6)
        self.assertEqual(st["redelivered"], 3)
        self.assertEqual(st["unfinished"], 6)
        self.assertEqual(self.obs.call("queue.peek", ["rq", 10]), ["i1", "i2", "i3", "i4", "i5", "i6"])

    def test_get_many_items_redelivered_in_order(self):
        self.put_items("rq", list(range(10)))
        a = self.client()
        self.assertEqual(a.call("queue.get_many", ["rq", 4, 0]), [0, 1, 2, 3])
        self.assertEqual(a.call("queue.get", ["rq", 0]), 4)
        a.close()
        st = wait_stat(self.obs, "rq", size=10)
        self.assertEqual(st["redelivered"], 5)
        self.assertEqual(self.obs.call("queue.get_many", ["rq", 20, 0]), list(range(10)))

    def test_task_done_settles_oldest_first(self):
        self.put_items("rq", ["i1", "i2", "i3", "i4"])
        a = self.client()
        self.assertEqual(a.call("queue.get_many", ["rq", 3, 0]), ["i1", "i2", "i3"])
        self.assertIsNone(a.call("queue.task_done", ["rq", 2]))
        a.close()
        st = wait_stat(self.obs, "rq", size=2)
        self.assertEqual(st["redelivered"], 1)
        self.assertEqual(st["unfinished"], 2)
        self.assertEqual(self.obs.call("queue.peek", ["rq", 10]), ["i3", "i4"])

    def test_all_task_done_nothing_redelivered(self):
        self.put_items("rq", ["i1", "i2"])
        a = self.client()
        a.call("queue.get", ["rq", 0])
        a.call("queue.get", ["rq", 0])
        a.call("queue.task_done", ["rq"])
        a.call("queue.task_done", ["rq"])
        a.close()
        wait_connections(self.obs, 1)
        st = self.obs.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["redelivered"], st["unfinished"]), (0, 0, 0))

    def test_interleaved_get_and_task_done(self):
        self.put_items("rq", ["a", "b", "c"])
        w = self.client()
        self.assertEqual(w.call("queue.get", ["rq", 0]), "a")
        w.call("queue.task_done", ["rq"])              # settles a
        self.assertEqual(w.call("queue.get", ["rq", 0]), "b")
        self.assertEqual(w.call("queue.get", ["rq", 0]), "c")
        w.call("queue.task_done", ["rq"])              # settles b
        w.close()
        st = wait_stat(self.obs, "rq", size=1)
        self.assertEqual(st["redelivered"], 1)
        self.assertEqual(self.obs.call("queue.get", ["rq", 0]), "c")

    def test_redelivered_items_are_byte_for_byte(self):
        raws = [b"\xcd\x00\x01", b"\xd9\x03abc", b"\xc7\x03\x05xyz",
                b"\x82\xa1a\x91\xcc\x01\xa1b\xc0"]
        for r in raws:
            self.obs.call("queue.put", ["rq", Raw(r), 0])
        a = self.client()
        for r in raws:
            self.assertEqual(a.call("queue.get", ["rq", 0], raw=True), r)
        a.close()
        wait_stat(self.obs, "rq", size=len(raws))
        for r in raws:
            self.assertEqual(self.obs.call("queue.get", ["rq", 0], raw=True), r)

    def test_redelivered_item_goes_to_parked_getter(self):
        self.put_items("rq", ["only"])
        a = self.client()
        self.assertEqual(a.call("queue.get", ["rq", 0]), "only")
        b = self.client()
        b.send_request(1, "queue.get", ["rq", None])
        wait_stat(self.obs, "rq", getters=1)
        a.close()
        r = b.wait_response(1)
        self.assertEqual((r.error, r.result), (None, "only"))
        st = self.obs.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["redelivered"], st["getters"]), (0, 1, 0))

    def test_redelivered_twice(self):
        self.put_items("rq", ["x"])
        for i in range(3):
            a = self.client()
            self.assertEqual(a.call("queue.get", ["rq", 30]), "x")
            a.close()
            wait_stat(self.obs, "rq", size=1, redelivered=i + 1)
        self.assertEqual(self.obs.call("queue.get", ["rq", 0]), "x")
        self.obs.call("queue.task_done", ["rq"])
        self.assertIsNone(self.obs.call("queue.join", ["rq", 0]))

    def test_join_waits_for_redelivered_items(self):
        self.put_items("rq", ["x"])
        a = self.client()
        a.call("queue.get", ["rq", 0])
        j = self.client()
        j.send_request(1, "queue.join", ["rq", None])
        a.close()
        wait_stat(self.obs, "rq", size=1, redelivered=1)
        self.assertTrue(j.is_open(0.05))
        self.assertEqual(len(j.buf), 0, "join returned though the item was never task_done")
        w = self.client()
        self.assertEqual(w.call("queue.get", ["rq", 0]), "x")
        w.call("queue.task_done", ["rq"])
        r = j.wait_response(1)
        self.assertEqual((r.error, r.result), (None, None))


class TestTaskDoneOwnership(Base):
    def test_task_done_of_another_connections_item_is_EVALUE(self):
        # A holds the only item; B's task_done would let join return while
        # A's item can still come back, so it is refused.
        self.put_items("rq", ["x"])
        a = self.client()
        self.assertEqual(a.call("queue.get", ["rq", 0]), "x")
        b = self.client()
        b.expect_error(10, "queue.task_done", ["rq", 1])
        a.close()
        st = wait_stat(self.obs, "rq", size=1)
        self.assertEqual(st["unfinished"], 1)
        self.assertEqual(self.obs.call_error("queue.join", ["rq", 0])[0], 5)

    def test_task_done_may_count_queued_items_done(self):
        # Items still queued are nobody's: any connection may mark them done,
        # as with Python's JoinableQueue.
        self.put_items("rq", ["x", "y"])
        a = self.client()
        a.call("queue.get", ["rq", 0])
        self.assertIsNone(self.obs.call("queue.task_done", ["rq", 1]))
        self.obs.expect_error(10, "queue.task_done", ["rq", 1])
        self.assertIsNone(a.call("queue.task_done", ["rq", 1]))
        self.assertEqual(self.obs.call("queue.stat", ["rq"])["unfinished"], 0)


class TestRedeliverOff(Base):
    def test_unacked_items_are_gone(self):
        self.put_items("plain", ["i1", "i2", "i3"])
        a = self.client()
        self.assertEqual(a.call("queue.get_many", ["plain", 2, 0]), ["i1", "i2"])
        a.close()
        wait_connections(self.obs, 1)
        st = self.obs.call("queue.stat", ["plain"])
        self.assertEqual((st["size"], st["redelivered"]), (1, 0))
        self.assertEqual(self.obs.call("queue.get", ["plain", 0]), "i3")
        self.obs.expect_error(EEMPTY, "queue.get", ["plain", 0])


class TestWorkerProcess(Base):
    def spawn_worker(self, queue, method="get", n=1):
        p = subprocess.Popen([PYTHON, os.path.join(HERE, "worker.py"), str(self.d.port), self.d.keyfile,
                              queue, method, str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=HERE)
        self.addCleanup(self._reap, p)
        self.assertEqual(p.stdout.readline().strip(), b"READY")
        return p

    @staticmethod
    def _reap(p):
        if p.poll() is None:
            p.kill()
        p.wait(30)
        for f in (p.stdin, p.stdout):
            f.close()

    def read_items(self, p):
        items = []
        while True:
            line = p.stdout.readline()
            self.assertTrue(line, "worker exited early (rc=%r)" % p.poll())
            line = line.strip()
            if line == b"WORKING":
                return items
            tag, hx = line.split()
            self.assertEqual(tag, b"ITEM")
            items.append(bytes.fromhex(hx.decode()))

    def test_worker_killed_mid_item_item_goes_to_another_client(self):
        p = self.spawn_worker("rq")
        item = packb({"job": 1, "payload": b"\x00" * 100})
        self.obs.call("queue.put", ["rq", Raw(item), 0])
        self.assertEqual(self.read_items(p), [item])
        st = self.obs.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["gets"]), (0, 1))
        os.kill(p.pid, signal.SIGKILL)
        self.assertEqual(p.wait(CALL_TIMEOUT), -signal.SIGKILL)
        other = self.client()
        self.assertEqual(other.call("queue.get", ["rq", 30], raw=True), item)
        st = self.obs.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["redelivered"]), (0, 1))
        other.call("queue.task_done", ["rq"])
        self.assertIsNone(self.obs.call("queue.join", ["rq", 0]))

    def test_worker_killed_holding_a_batch(self):
        p = self.spawn_worker("rq", "get_many", 3)
        items = [packb(i) for i in range(5)]
        self.obs.call("queue.put_many", ["rq", Raw(array_header(len(items)) + b"".join(items)), 0])
        self.assertEqual(self.read_items(p), items[:3])
        os.kill(p.pid, signal.SIGKILL)
        p.wait(CALL_TIMEOUT)
        wait_stat(self.obs, "rq", size=5, redelivered=3)
        other = self.client()
        got = [other.call("queue.get", ["rq", 0], raw=True) for _ in range(5)]
        self.assertEqual(got, items)

    def test_worker_killed_on_redeliver_off_loses_item(self):
        p = self.spawn_worker("plain")
        self.obs.call("queue.put", ["plain", "gone", 0])
        self.assertEqual(self.read_items(p), [packb("gone")])
        os.kill(p.pid, signal.SIGKILL)
        p.wait(CALL_TIMEOUT)
        wait_connections(self.obs, 1)
        self.obs.expect_error(EEMPTY, "queue.get", ["plain", 0.2])
        self.assertEqual(self.obs.call("queue.stat", ["plain"])["redelivered"], 0)


if __name__ == "__main__":
    unittest.main()
