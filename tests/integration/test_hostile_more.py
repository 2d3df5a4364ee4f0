"""The rest of issue 5's hostile list: random bytes after authentication,
maps with duplicate and non-string keys, ext types where params belong, msgid
reuse, wrong param counts and types for every method, and 1,000 failed
authentications in a row. After each, a fresh client is served and the
daemon's RSS has not grown without bound."""

import os
import random
import struct
import unittest

from qmgrtest import (Client, DaemonTest, Raw, CLOSE_TIMEOUT, ConnectionClosed, EBADREQ,
                      ENOENT, ETYPE, FAILURE, packb)

OBJECTS = "[queue q]\n[buf b]\n"

# Every method with a set of params of the right shape (the daemon must
# answer them) and of wrong counts/types (EBADREQ, never a close).
METHODS = {
    "ping": [],
    "lookup": ["q"],
    "objects": [],
    "stats": [],
    "clients": [],
    "queue.put": ["q", 1, 0],
    "queue.put_many": ["q", [1], 0],
    "queue.get": ["q", 0],
    "queue.get_many": ["q", 1, 0],
    "queue.task_done": ["q", 1],
    "queue.join": ["q", 0],
    "queue.qsize": ["q"],
    "queue.stat": ["q"],
    "queue.peek": ["q", 1],
    "queue.purge": ["q"],
    "buf.incr": ["b", "k", 1],
    "buf.update": ["b", {"k": 1}],
    "buf.set": ["b", "k", 1],
    "buf.get": ["b", "k"],
    "buf.del": ["b", "k"],
    "buf.len": ["b"],
    "buf.items": ["b"],
    "buf.drain": ["b"],
    "buf.clear": ["b"],
}

WRONG_TYPES = [None, True, -1, 1.5, "s", b"bin", [1], {"k": 1}, Raw(b"\xd4\x01\x02")]

# The timeout slots: nil there is right (wait forever), so not sent.
TIMEOUT_SLOTS = {("queue.put", 2), ("queue.put_many", 2), ("queue.get", 1),
                 ("queue.get_many", 2), ("queue.join", 1)}


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


class Hostile(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", handshake_timeout="60s")

    def assert_rss_bounded(self, rss0, what):
        grown = self.d.rss_kib() - rss0
        self.assertLess(grown, 16 * 1024, "%s: VmRSS grew by %d KiB" % (what, grown))

    def test_random_bytes_after_authentication(self):
        rng = random.Random(5)
        rss0 = self.d.rss_kib()
        for i in range(200):
            c = self.client()
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
            c.raw_send(junk, tolerate_close=True)
            # Whatever the bytes say, the daemon either waits for more (a
            # frame not complete yet) or closes; it must keep serving others.
            c.close()
        self.assertPings()
        self.assert_rss_bounded(rss0, "200 connections of random bytes")

    def test_every_method_refuses_wrong_param_counts_and_types(self):
        c = self.client()
        for method, good in METHODS.items():
            for params in (good + ["extra", "more", "params"], ):
                with self.subTest(method=method, params="too many"):
                    self.assertEqual(c.call_error(method, params)[0], EBADREQ)
            for i in range(len(good)):
                for wrong in WRONG_TYPES:
                    if wrong is None and (method, i) in TIMEOUT_SLOTS:
                        continue
                    params = list(good)
                    params[i] = wrong
                    # Some "wrong" values are right for that slot (any item,
                    # any buf value, nil timeout, a count given as an int).
                    r = c.wait_response(c.send_request(c.alloc_msgid(), method, params))
                    if r.error is not None:
                        with self.subTest(method=method, slot=i, value=repr(wrong)[:20]):
                            self.assertIn(r.error[0], (EBADREQ, ENOENT, ETYPE, 4, 5, 11, 12))
        self.assertEqual(c.call("ping"), "pong")

    def test_map_with_duplicate_and_non_string_keys(self):
        c = self.client()
        # {"k": 1, "k": 2} as an update: both apply, in order.
        dup = Raw(b"\x82\xa1k\x01\xa1k\x02")
        self.assertIsNone(c.call("buf.update", ["b", dup]))
        self.assertEqual(c.call("buf.get", ["b", "k"]), 3)
        # A non-string key: EBADREQ, and nothing of that update applied.
        for key in (b"\x01", b"\xc0", b"\xc4\x01k", b"\x91\x01", b"\xd4\x01\x02"):
            with self.subTest(key=key):
                bad = Raw(b"\x82\xa1z\x05" + key + b"\x01")
                self.assertEqual(c.call_error("buf.update", ["b", bad])[0], EBADREQ)
                self.assertEqual(c.call_error("buf.get", ["b", "z"])[0], 11)
        self.assertEqual(c.call_error("buf.incr", ["b", Raw(b"\x01"), 1])[0], EBADREQ)

    def test_ext_types_where_params_belong(self):
        c = self.client()
        ext = Raw(b"\xd6\x05\x00\x00\x00\x01")
        for method, params in (("queue.get", [ext, 0]), ("queue.get", ["q", ext]),
                               ("queue.peek", ["q", ext]), ("buf.incr", ["b", "k", ext]),
                               ("lookup", [ext])):
            with self.subTest(method=method):
                self.assertEqual(c.call_error(method, params)[0], EBADREQ)
        # As an item, an ext is just a value, stored and returned byte for byte.
        self.assertIsNone(c.call("queue.put", ["q", ext, 0]))
        self.assertEqual(c.call("queue.get", ["q", 0], raw=True), bytes(ext))

    def test_msgid_reuse_answers_each_request(self):
        c = self.client()
        # Two requests with the same msgid: a parked get and a ping. Both are
        # answered, each under that msgid; the ping first (out of order).
        c.send_request(7, "queue.get", ["q", None])
        c.send_request(7, "ping", [])
        first = c.recv_response()
        self.assertEqual(first.msgid, 7)
        self.assertEqual(first.result, "pong")
        with self.client() as p:
            p.call("queue.put", ["q", "x", 0])
        second = c.recv_response()
        self.assertEqual(second.msgid, 7)
        self.assertEqual(second.result, "x")

    def test_1000_failed_authentications(self):
        rss0 = self.d.rss_kib()
        mark = self.d.mark()
        for i in range(1000):
            c = self.raw()
            msg = c.read_challenge()
            c.send_frame(Client.answer(b"wrong key %d" % i, msg))
            self.assertEqual(c.expect_closed(), struct.pack(">i", len(FAILURE)) + FAILURE)
        self.assertPings()
        lines = self.d.log_since(mark)
        self.assertLess(len(lines), 100, "%d log lines for 1,000 failed authentications: the "
                        "log is not rate-limited" % len(lines))
        stats = self.client().call("stats")
        self.assertGreaterEqual(stats["auth_failures"], 1000)
        self.assertEqual(stats["connections"], 1)
        self.assert_rss_bounded(rss0, "1,000 failed authentications")


if __name__ == "__main__":
    unittest.main()
