"""Large items: a put frame over the read chunk (64 KiB) is kept in its own
block, and its item is queued, leased and sent from there by reference
(docs/design.md "Large items"). Every path an item can take must give back
the same bytes as the copied path does for small ones:

- TestLargeItems: get, get_many (several by reference in one reply), peek,
  redelivery after a close, redeliver = off, a parked put (copied), a reader
  too slow for its replies (partial writes across references), purge (the
  daemon's memory goes back to where it was), and the item mixed with small
  ones in one queue.
- TestLargeItemsJournal: the journal writes them as any other item, so they
  survive a restart and a kill -9.
"""

import hashlib
import unittest

from dur_lib import DurTest
from qmgrtest import DaemonTest, wait_stat

OBJECTS = """
[queue rq]
maxsize = 0
redeliver = on

[queue q]
maxsize = 0
redeliver = off

[queue one]
maxsize = 1
redeliver = on
"""


def item(size, seed):
    """A bin item of size bytes, different for every seed."""
    block = hashlib.sha256(b"%d" % seed).digest()
    return (block * (size // len(block) + 1))[:size]


SIZES = (70000, 200000, 1500000)


class TestLargeItems(DaemonTest):
    OBJECTS = OBJECTS

    def setUp(self):
        super().setUp()
        self.c = self.client()

    def put_each(self, queue, items, c=None):
        for it in items:
            self.assertIsNone((c or self.c).call("queue.put", [queue, it, 0]))

    def test_get_many_and_peek_give_the_bytes_put(self):
        items = [item(n, i) for i, n in enumerate(SIZES)] + [b"small", item(SIZES[1], 9)]
        self.put_each("rq", items)
        self.assertEqual(self.c.call("queue.peek", ["rq", 10]), items)
        self.assertEqual(self.c.call("queue.get_many", ["rq", 10, 0]), items)
        self.assertIsNone(self.c.call("queue.task_done", ["rq", len(items)]))

    def test_get_one_at_a_time(self):
        items = [item(n, i) for i, n in enumerate(SIZES)]
        self.put_each("q", items)
        self.assertEqual([self.c.call("queue.get", ["q", 0]) for _ in items], items)
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)

    def test_redelivered_after_close_byte_for_byte(self):
        items = [item(n, 10 + i) for i, n in enumerate(SIZES)]
        self.put_each("rq", items)
        a = self.client()
        self.assertEqual(a.call("queue.get_many", ["rq", 2, 0]), items[:2])
        a.close()
        st = wait_stat(self.c, "rq", size=3)
        self.assertEqual(st["redelivered"], 2)
        b = self.client()
        self.assertEqual(b.call("queue.get_many", ["rq", 3, 0]), items)
        self.assertIsNone(b.call("queue.task_done", ["rq", 3]))
        self.assertEqual(self.c.call("queue.stat", ["rq"])["unfinished"], 0)

    def test_parked_put_goes_in_when_there_is_room(self):
        first, second = item(SIZES[1], 20), item(SIZES[2], 21)
        self.put_each("one", [first])
        p = self.client()
        msgid = p.send_request(None, "queue.put", ["one", second, 30])
        wait_stat(self.c, "one", putters=1)
        self.assertEqual(self.c.call("queue.get", ["one", 0]), first)
        self.assertIsNone(p.result_of(p.wait_response(msgid)))
        self.assertEqual(self.c.call("queue.get", ["one", 0]), second)

    def test_slow_reader_gets_every_byte(self):
        items = [item(1000000, 30 + i) for i in range(12)]
        self.put_each("rq", items)
        r = self.client()
        # Every request before any reply is read: 12 MB of replies fill the
        # socket buffers, so the daemon's writes stop part-way through items.
        ids = [r.send_request(None, "queue.get", ["rq", 0]) for _ in items]
        got = [r.result_of(r.wait_response(msgid)) for msgid in ids]
        self.assertEqual([hashlib.sha256(g).hexdigest() for g in got],
                         [hashlib.sha256(i).hexdigest() for i in items])

    def test_purge_and_settle_give_the_memory_back(self):
        before = self.c.call("stats", [])["memory_bytes"]
        self.put_each("rq", [item(n, 40 + i) for i, n in enumerate(SIZES)])
        self.put_each("q", [item(n, 50 + i) for i, n in enumerate(SIZES)])
        held = self.c.call("stats", [])["memory_bytes"]
        self.assertGreater(held - before, 2 * sum(SIZES))
        self.assertEqual(len(self.c.call("queue.get_many", ["rq", 2, 0])), 2)
        self.assertEqual(self.c.call("queue.purge", ["q"]), 3)
        self.assertIsNone(self.c.call("queue.task_done", ["rq", 2]))
        self.assertEqual(self.c.call("queue.purge", ["rq"]), 1)
        after = self.c.call("stats", [])["memory_bytes"]
        self.assertLess(after - before, 4096, "memory_bytes %d -> %d -> %d" % (before, held, after))

    def test_mixed_with_small_items_in_order(self):
        items = [item(SIZES[i % 3], 60 + i) if i % 4 == 0 else i for i in range(30)]
        self.put_each("q", items)
        self.assertEqual(self.c.call("queue.get_many", ["q", 30, 0]), items)


class TestLargeItemsJournal(DurTest):
    OBJECTS = OBJECTS

    def test_survive_restart_and_kill_9(self):
        self.d = self.start_daemon(journal="on", fsync="always")
        c = self.client()
        items = [item(n, 70 + i) for i, n in enumerate(SIZES)]
        for it in items:
            self.assertIsNone(c.call("queue.put", ["rq", it, 0]))
        self.assertEqual(c.call("queue.get", ["rq", 0]), items[0])
        self.clean_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), items)
        self.crash_restart()
        c = self.client()
        self.assertEqual(c.call("queue.get_many", ["rq", 5, 0]), items)


if __name__ == "__main__":
    unittest.main()
