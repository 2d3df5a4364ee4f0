"""Every row of docs/protocol.md's method table and every error code, against a
real qmgrd over a real socket."""

import math
import struct
import threading
import time
import unittest

from qmgrtest import (
    DaemonTest, Raw, packb, unpackb, split_array, wait_stat, wait_until, client_row,
    QUEUE_STAT_FIELDS, RPCError,
    ENOENT, ETYPE, EFULL, EEMPTY, ETIMEOUT, EBADREQ, ENOMETHOD, ETOOBIG, ENOMEM,
    EVALUE, ENOKEY, ENOTNUM, ERANGE, ESHUTDOWN,
)

OBJECTS = """
[queue q]
maxsize = 0
redeliver = off

[queue small]
maxsize = 3

[queue jobs]
maxsize = 5
redeliver = on
accessor = fetch_jobs

[buf b]

[buf counters]
accessor = get_counters_buf
"""

OPTIONS = dict(max_item="64K", log_level="info")

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63

# Items with deliberately non-canonical or unusual encodings: the daemon must
# hand back exactly these bytes.
ODD_ITEMS = [
    b"\xcd\x00\x01",                                    # 1 as uint16
    b"\xd0\x05",                                        # 5 as int8
    b"\xd3" + struct.pack(">q", -1),                    # -1 as int64
    b"\xcf" + struct.pack(">Q", 7),                     # 7 as uint64
    b"\xd9\x03abc",                                     # str8 of length 3
    b"\xda\x00\x02hi",                                  # str16 of length 2
    b"\xc4\x00",                                        # empty bin8
    b"\xc6\x00\x00\x00\x02\x00\xff",                    # bin32 of length 2
    b"\xca\x3f\x80\x00\x00",                            # 1.0 as float32
    b"\xcb" + struct.pack(">d", -0.0),                  # -0.0
    b"\xdc\x00\x01\xc3",                                # [true] as array16
    b"\xde\x00\x01\xa1k\xc2",                           # {"k": false} as map16
    b"\xd4\x01\x02",                                    # fixext1
    b"\xc7\x03\x05xyz",                                 # ext8 type 5
    b"\xc9\x00\x00\x00\x01\xff\x00",                    # ext32 type -1, 1 byte
    b"\xd6\xff\x00\x00\x00\x01",                        # timestamp32
    # {"a": {"b": [1, uint8 2, nil]}, "c": ext8, 1: "dup-ish"}: nested, odd keys
    b"\x83\xa1a\x81\xa1b\x93\x01\xcc\x02\xc0\xa1c\xc7\x03\x05xyz\x01\xa7dup-ish",
    b"\x82\xa1k\x01\xa1k\x02",                          # a map with a duplicate key
    b"\xc0",                                            # nil
    b"\x90",                                            # []
    b"\x80",                                            # {}
    packb({"nested": [[[[[[[[["deep"]]]]]]]]], "bin": b"\x00" * 300}),
    b"\xc5" + struct.pack(">H", 40000) + bytes(range(256)) * 156 + bytes(64),  # bin16, 40000
]


class Base(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = OPTIONS

    def setUp(self):
        super().setUp()
        self.c = self.client()


class TestDiscovery(Base):
    def test_ping_returns_pong(self):
        self.assertEqual(self.c.call("ping", []), "pong")

    def test_ping_with_params_is_EBADREQ(self):
        self.c.expect_error(EBADREQ, "ping", [1])
        self.assertEqual(self.c.ping(), "pong")

    def test_unknown_method_is_ENOMETHOD(self):
        msg = self.c.expect_error(ENOMETHOD, "no.such.method", [])
        self.assertTrue(msg)
        self.c.expect_error(ENOMETHOD, "PING", [])
        self.c.expect_error(ENOMETHOD, "queue.nosuch", ["q"])
        self.c.expect_error(ENOMETHOD, "", [])
        self.assertEqual(self.c.ping(), "pong")

    def test_lookup_queue_descriptor(self):
        d = self.c.call("lookup", ["q"])
        self.assertIsInstance(d, dict)
        self.assertEqual(d["name"], "q")
        self.assertEqual(d["type"], "queue")
        self.assertEqual(d["maxsize"], 0)
        self.assertIs(d["redeliver"], False)
        self.assertEqual(d["accessor"], "get_q")
        j = self.c.call("lookup", ["jobs"])
        self.assertEqual((j["name"], j["type"], j["maxsize"], j["redeliver"], j["accessor"]),
                         ("jobs", "queue", 5, True, "fetch_jobs"))
        s = self.c.call("lookup", ["small"])
        self.assertEqual(s["maxsize"], 3)

    def test_lookup_buf_descriptor(self):
        d = self.c.call("lookup", ["b"])
        self.assertEqual((d["name"], d["type"]), ("b", "buf"))
        d = self.c.call("lookup", ["counters"])
        self.assertEqual((d["name"], d["type"]), ("counters", "buf"))

    def test_lookup_unknown_is_ENOENT(self):
        self.c.expect_error(ENOENT, "lookup", ["nosuch"])
        self.c.expect_error(ENOENT, "lookup", [""])

    def test_lookup_bad_params_is_EBADREQ(self):
        for params in ([], [1], [None], ["q", 1]):
            with self.subTest(params=params):
                self.c.expect_error(EBADREQ, "lookup", params)
        self.assertEqual(self.c.ping(), "pong")

    def test_accessor_default_get_name_equals_lookup(self):
        self.assertEqual(self.c.call("get_q", []), self.c.call("lookup", ["q"]))
        self.assertEqual(self.c.call("get_small", []), self.c.call("lookup", ["small"]))
        self.assertEqual(self.c.call("get_b", []), self.c.call("lookup", ["b"]))

    def test_accessor_configured_name(self):
        self.assertEqual(self.c.call("fetch_jobs", []), self.c.call("lookup", ["jobs"]))
        self.assertEqual(self.c.call("get_counters_buf", []), self.c.call("lookup", ["counters"]))
        # the default name is not registered when another is configured
        self.c.expect_error(ENOMETHOD, "get_jobs", [])
        self.c.expect_error(ENOMETHOD, "get_counters", [])

    def test_accessor_with_params_is_EBADREQ(self):
        self.c.expect_error(EBADREQ, "get_q", [1])
        self.c.expect_error(EBADREQ, "fetch_jobs", ["jobs"])

    def test_accessor_of_unknown_object_is_ENOMETHOD(self):
        self.c.expect_error(ENOMETHOD, "get_nosuch", [])

    def test_objects_shape(self):
        self.c.call("queue.put", ["q", 1, 0])
        self.c.call("queue.put", ["q", 2, 0])
        objs = self.c.call("objects", [])
        self.assertIsInstance(objs, list)
        by_name = {o["name"]: o for o in objs}
        self.assertEqual(set(by_name), {"q", "small", "jobs", "b", "counters"})
        self.assertEqual(len(objs), 5)
        for name in ("q", "small", "jobs"):
            o = by_name[name]
            self.assertEqual(o["type"], "queue")
            for k in ("maxsize", "redeliver", "accessor"):
                self.assertIn(k, o)
        self.assertEqual((by_name["q"]["maxsize"], by_name["q"]["redeliver"], by_name["q"]["accessor"]),
                         (0, False, "get_q"))
        self.assertEqual((by_name["jobs"]["maxsize"], by_name["jobs"]["redeliver"],
                          by_name["jobs"]["accessor"]), (5, True, "fetch_jobs"))
        self.assertEqual(by_name["small"]["maxsize"], 3)
        self.assertEqual(by_name["b"]["type"], "buf")
        self.assertEqual(by_name["counters"]["type"], "buf")
        # "with stats": the queue's current size is reported
        q = by_name["q"]
        stats = q.get("stats", q)
        self.assertEqual(stats.get("size"), 2, "objects row for q: %r" % (q,))

    def test_stats_shape(self):
        s = self.c.call("stats", [])
        self.assertIsInstance(s, dict)
        for k in ("version", "uptime_s", "connections", "memory_bytes", "ops", "cpu_user_s", "cpu_sys_s"):
            self.assertIn(k, s)
        self.assertIsInstance(s["version"], str)
        self.assertTrue(s["version"])
        for k in ("uptime_s", "cpu_user_s", "cpu_sys_s"):
            self.assertIsInstance(s[k], (int, float), k)
            self.assertGreaterEqual(s[k], 0, k)
        for k in ("connections", "memory_bytes", "ops"):
            self.assertIsInstance(s[k], int, k)
        self.assertGreater(s["memory_bytes"], 0)  # this connection is counted
        self.assertEqual(s["connections"], 1)
        c2 = self.client()
        self.assertEqual(c2.ping(), "pong")
        s2 = self.c.call("stats", [])
        self.assertEqual(s2["connections"], 2)
        self.assertEqual(s2["ops"], s["ops"] + 2)  # c2's ping and this stats
        self.assertGreater(s2["memory_bytes"], s["memory_bytes"])  # and c2
        self.assertGreaterEqual(s2["uptime_s"], s["uptime_s"])

    def test_stats_memory_bytes_counts_items(self):
        before = self.c.call("stats", [])["memory_bytes"]
        self.c.call("queue.put", ["q", b"m" * 50000, 0])
        after = self.c.call("stats", [])["memory_bytes"]
        self.assertGreaterEqual(after - before, 50000)
        self.c.call("queue.get", ["q", 0])
        final = self.c.call("stats", [])["memory_bytes"]
        self.assertLess(final, after - 40000)

    def test_clients_shape(self):
        c2 = self.client()
        c2.ping()
        rows = self.c.call("clients", [])
        self.assertIsInstance(rows, list)
        self.assertEqual(len(rows), 2)
        for r in rows:
            for k in ("id", "peer", "since_s", "ops", "waiting_on"):
                self.assertIn(k, r)
            self.assertIsInstance(r["ops"], int)
            self.assertIsInstance(r["since_s"], (int, float))
            self.assertGreaterEqual(r["since_s"], 0)
            self.assertIsNone(r["waiting_on"])
            self.assertIsInstance(r["peer"], str)
        self.assertEqual(len({r["id"] for r in rows}), 2)
        mine = client_row(self.c, self.c)
        other = client_row(self.c, c2)
        self.assertIsNotNone(mine, "no clients row whose peer ends in our port %d: %r"
                             % (self.c.local_port, rows))
        self.assertIsNotNone(other)
        self.assertIn("127.0.0.1", mine["peer"])
        for _ in range(5):
            c2.ping()
        self.assertGreaterEqual(client_row(self.c, c2)["ops"], other["ops"] + 5)

    def test_clients_waiting_on_names_the_object(self):
        c2 = self.client()
        c2.send_request(7, "queue.get", ["q", None])
        wait_until(lambda: (client_row(self.c, c2) or {}).get("waiting_on") == "q",
                   what="waiting_on == 'q'")
        self.assertIsNone(client_row(self.c, self.c)["waiting_on"])
        self.c.call("queue.put", ["q", "x", 0])
        r = c2.wait_response(7)
        self.assertEqual((r.error, r.result), (None, "x"))
        self.assertIsNone(client_row(self.c, c2)["waiting_on"])

    def test_objects_stats_clients_with_params_is_EBADREQ(self):
        for m in ("objects", "stats", "clients"):
            with self.subTest(method=m):
                self.c.expect_error(EBADREQ, m, [1])
        self.assertEqual(self.c.ping(), "pong")


class TestHandshakeKeys(DaemonTest):
    OBJECTS = "[queue q]\n"
    START = False

    def _with_key(self, key):
        from qmgrtest import Daemon
        d = Daemon(self.OBJECTS, key=key, start=False, log_level="info")
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        d.start()
        self.d = d
        c = self.client()
        self.assertEqual(c.ping(), "pong")
        return d

    def test_key_longer_than_hmac_block(self):
        self._with_key(b"L" * 200 + b"tail")

    def test_binary_key(self):
        self._with_key(bytes(b for b in range(1, 256) if b != 10) + b"\x00z")

    def test_one_trailing_newline_stripped_only(self):
        # the file holds b"abc\n\n": K is b"abc\n"
        d = self._with_key(b"abc\n")
        from qmgrtest import Client, AuthFailed
        with self.assertRaises(AuthFailed):
            Client(d.port, b"abc")

    def test_challenge_nonce_is_fresh(self):
        self._with_key(b"k1")
        seen = set()
        for _ in range(5):
            c = self.raw()
            seen.add(c.read_challenge())
            c.close()
        self.assertEqual(len(seen), 5)


class TestQueueMethods(Base):
    def test_queue_put_returns_nil_and_get_is_fifo(self):
        for i in range(10):
            self.assertIsNone(self.c.call("queue.put", ["q", i, 0]))
        self.assertEqual([self.c.call("queue.get", ["q", 0]) for _ in range(10)], list(range(10)))

    def test_queue_put_timeout_omitted_is_accepted(self):
        self.assertIsNone(self.c.call("queue.put", ["q", "x"]))
        self.assertEqual(self.c.call("queue.get", ["q"]), "x")

    def test_queue_put_timeout_omitted_blocks_until_space(self):
        for i in range(3):
            self.c.call("queue.put", ["small", i, 0])
        p = self.client()
        p.send_request(1, "queue.put", ["small", 3])
        wait_stat(self.c, "small", putters=1)
        self.assertEqual(self.c.call("queue.get", ["small", 0]), 0)
        r = p.wait_response(1)
        self.assertEqual((r.error, r.result), (None, None))
        self.assertEqual(self.c.call("queue.qsize", ["small"]), 3)

    def test_queue_put_full_timeout_zero_is_EFULL(self):
        for i in range(3):
            self.c.call("queue.put", ["small", i, 0])
        t0 = time.monotonic()
        self.c.expect_error(EFULL, "queue.put", ["small", 9, 0])
        self.c.expect_error(EFULL, "queue.put", ["small", 9, 0.0])
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.c.call("queue.qsize", ["small"]), 3)

    def test_queue_put_full_timeout_is_EFULL_after_timeout(self):
        for i in range(3):
            self.c.call("queue.put", ["small", i, 0])
        t0 = time.monotonic()
        self.c.expect_error(EFULL, "queue.put", ["small", 9, 0.2])
        self.assertElapsed(t0, 0.2)
        self.assertEqual(self.c.call("queue.stat", ["small"])["putters"], 0)

    def test_put_item_over_max_item_is_ETOOBIG(self):
        self.c.expect_error(ETOOBIG, "queue.put", ["q", b"x" * (70 * 1024), 0])
        self.c.expect_error(ETOOBIG, "queue.put", ["q", b"x" * (1024 * 1024), None])
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)
        self.assertIsNone(self.c.call("queue.put", ["q", b"x" * (60 * 1024), 0]))
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 1)

    def test_put_many_item_over_max_item_is_ETOOBIG(self):
        self.c.expect_error(ETOOBIG, "queue.put_many", ["q", [b"x" * (70 * 1024)], 0])
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)

    def test_put_over_max_memory_is_ENOMEM(self):
        self.restart(max_memory="1M", max_item="128K")
        c = self.client()
        item = b"m" * (100 * 1024)
        n = 0
        err = None
        for n in range(1, 200):
            try:
                c.call("queue.put", ["q", item, 0])
            except RPCError as e:
                err = e
                break
        self.assertIsNotNone(err, "200 puts of 100 KiB never failed under max_memory = 1M")
        self.assertEqual(err.code, ENOMEM, str(err))
        self.assertLessEqual(n, 12, "ENOMEM only at put %d of 100 KiB under max_memory = 1M" % n)
        stored = c.call("queue.qsize", ["q"])
        self.assertEqual(stored, n - 1)
        c.expect_error(ENOMEM, "queue.put_many", ["q", [item], 0])
        # the daemon keeps serving; memory freed by a get is usable again
        self.assertEqual(c.ping(), "pong")
        self.assertEqual(c.call("queue.get", ["q", 0]), item)
        self.assertIsNone(c.call("queue.put", ["q", item, 0]))
        self.assertEqual(c.call("queue.qsize", ["q"]), stored)

    def test_queue_put_many_returns_count_in_order(self):
        self.assertEqual(self.c.call("queue.put_many", ["q", ["a", "b", "c"], 0]), 3)
        self.assertEqual(self.c.call("queue.put_many", ["q", ["d"]]), 1)
        self.assertEqual(self.c.call("queue.get_many", ["q", 10, 0]), ["a", "b", "c", "d"])
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 4)

    def test_queue_put_many_partial_with_timeout(self):
        self.c.call("queue.put", ["small", "first", 0])
        t0 = time.monotonic()
        n = self.c.call("queue.put_many", ["small", ["a", "b", "c", "d"], 0.2])
        self.assertEqual(n, 2)
        self.assertElapsed(t0, 0.2)
        self.assertEqual(self.c.call("queue.peek", ["small", 5]), ["first", "a", "b"])
        self.assertEqual(self.c.call("queue.stat", ["small"])["putters"], 0)

    def test_queue_put_many_partial_timeout_zero(self):
        self.c.call("queue.put", ["small", "first", 0])
        self.assertEqual(self.c.call("queue.put_many", ["small", ["a", "b", "c", "d"], 0]), 2)
        self.assertEqual(self.c.call("queue.peek", ["small", 5]), ["first", "a", "b"])

    def test_queue_put_many_full_is_EFULL(self):
        self.c.call("queue.put_many", ["small", [1, 2, 3], 0])
        self.c.expect_error(EFULL, "queue.put_many", ["small", [4, 5], 0])
        t0 = time.monotonic()
        self.c.expect_error(EFULL, "queue.put_many", ["small", [4, 5], 0.2])
        self.assertElapsed(t0, 0.2)
        self.assertEqual(self.c.call("queue.peek", ["small", 5]), [1, 2, 3])

    def test_queue_get_empty_timeout_zero_is_EEMPTY(self):
        t0 = time.monotonic()
        msg = self.c.expect_error(EEMPTY, "queue.get", ["q", 0])
        self.assertTrue(msg)
        self.c.expect_error(EEMPTY, "queue.get", ["q", 0.0])
        self.assertLess(time.monotonic() - t0, 10)

    def test_queue_get_empty_timeout_is_EEMPTY_after_timeout(self):
        t0 = time.monotonic()
        self.c.expect_error(EEMPTY, "queue.get", ["q", 0.2])
        self.assertElapsed(t0, 0.2)
        self.assertEqual(self.c.call("queue.stat", ["q"])["getters"], 0)

    def test_queue_get_timeout_int_seconds(self):
        t0 = time.monotonic()
        self.c.expect_error(EEMPTY, "queue.get", ["q", 1])
        self.assertElapsed(t0, 1.0)

    def test_queue_get_timeout_float32(self):
        t0 = time.monotonic()
        self.c.expect_error(EEMPTY, "queue.get", ["q", Raw(b"\xca" + struct.pack(">f", 0.25))])
        self.assertElapsed(t0, 0.25)

    def test_queue_get_timeout_noncanonical_int(self):
        # 0 encoded as uint32 still means "never block"
        self.c.expect_error(EEMPTY, "queue.get", ["q", Raw(b"\xce\x00\x00\x00\x00")])

    def test_negative_timeout_is_EBADREQ(self):
        cases = [
            ("queue.put", ["q", 1, -1]),
            ("queue.put", ["q", 1, -0.5]),
            ("queue.put_many", ["q", [1], -1]),
            ("queue.get", ["q", -1]),
            ("queue.get", ["q", -0.001]),
            ("queue.get_many", ["q", 2, -1]),
            ("queue.join", ["q", -1]),
            ("queue.join", ["q", -2.5]),
        ]
        for m, p in cases:
            with self.subTest(method=m, params=p):
                self.c.expect_error(EBADREQ, m, p)
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)

    def test_queue_get_many_1_to_max(self):
        self.c.call("queue.put_many", ["q", list(range(5)), 0])
        self.assertEqual(self.c.call("queue.get_many", ["q", 1, 0]), [0])
        self.assertEqual(self.c.call("queue.get_many", ["q", 2, 0]), [1, 2])
        self.assertEqual(self.c.call("queue.get_many", ["q", 10, None]), [3, 4])
        self.c.expect_error(EEMPTY, "queue.get_many", ["q", 10, 0])
        t0 = time.monotonic()
        self.c.expect_error(EEMPTY, "queue.get_many", ["q", 10, 0.2])
        self.assertElapsed(t0, 0.2)
        self.assertEqual(self.c.call("queue.stat", ["q"])["gets"], 5)

    def test_queue_get_many_timeout_omitted(self):
        self.c.call("queue.put_many", ["q", [1, 2], 0])
        self.assertEqual(self.c.call("queue.get_many", ["q", 5]), [1, 2])

    def test_queue_task_done_default_count_is_one(self):
        self.c.call("queue.put_many", ["q", [1, 2, 3], 0])
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 3)
        self.assertIsNone(self.c.call("queue.task_done", ["q"]))
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 2)
        self.assertIsNone(self.c.call("queue.task_done", ["q", 2]))
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 0)

    def test_task_done_too_many_is_EVALUE(self):
        self.c.call("queue.put_many", ["q", [1, 2], 0])
        self.c.expect_error(EVALUE, "queue.task_done", ["q", 3])
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 2)
        self.c.call("queue.task_done", ["q", 2])
        self.c.expect_error(EVALUE, "queue.task_done", ["q"])
        self.c.expect_error(EVALUE, "queue.task_done", ["q", 1])
        self.assertEqual(self.c.call("queue.stat", ["q"])["unfinished"], 0)

    def test_join_with_nothing_unfinished_returns_nil(self):
        self.assertIsNone(self.c.call("queue.join", ["q"]))
        self.assertIsNone(self.c.call("queue.join", ["q", 0]))
        self.assertIsNone(self.c.call("queue.join", ["q", None]))

    def test_join_timeout_is_ETIMEOUT(self):
        self.c.call("queue.put", ["q", 1, 0])
        self.c.expect_error(ETIMEOUT, "queue.join", ["q", 0])
        t0 = time.monotonic()
        self.c.expect_error(ETIMEOUT, "queue.join", ["q", 0.2])
        self.assertElapsed(t0, 0.2)
        self.c.call("queue.get", ["q", 0])
        self.c.expect_error(ETIMEOUT, "queue.join", ["q", 0])  # got but not task_done
        self.c.call("queue.task_done", ["q"])
        self.assertIsNone(self.c.call("queue.join", ["q", 0]))

    def test_queue_qsize(self):
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)
        self.c.call("queue.put_many", ["q", [1, 2, 3], 0])
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 3)
        self.c.call("queue.get", ["q", 0])
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 2)

    def test_queue_stat_fields(self):
        st = self.c.call("queue.stat", ["small"])
        self.assertEqual(set(st), QUEUE_STAT_FIELDS)
        self.assertEqual(st, dict(size=0, maxsize=3, unfinished=0, bytes=0, getters=0, putters=0,
                                  puts=0, gets=0, redelivered=0))
        self.c.call("queue.put", ["small", b"abc", 0])
        self.c.call("queue.put", ["small", b"defg", 0])
        self.c.call("queue.get", ["small", 0])
        st = self.c.call("queue.stat", ["small"])
        self.assertEqual(set(st), QUEUE_STAT_FIELDS)
        self.assertEqual((st["size"], st["maxsize"], st["unfinished"], st["getters"], st["putters"],
                          st["puts"], st["gets"], st["redelivered"]), (1, 3, 2, 0, 0, 2, 1, 0))
        self.assertGreaterEqual(st["bytes"], len(packb(b"defg")))
        self.c.call("queue.get", ["small", 0])
        self.assertEqual(self.c.call("queue.stat", ["small"])["bytes"], 0)

    def test_queue_peek_does_not_remove(self):
        self.c.call("queue.put_many", ["q", ["a", "b", "c"], 0])
        self.assertEqual(self.c.call("queue.peek", ["q", 2]), ["a", "b"])
        self.assertEqual(self.c.call("queue.peek", ["q", 2]), ["a", "b"])
        self.assertEqual(self.c.call("queue.peek", ["q", 10]), ["a", "b", "c"])
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 3)
        st = self.c.call("queue.stat", ["q"])
        self.assertEqual((st["gets"], st["unfinished"]), (0, 3))
        self.assertEqual(self.c.call("queue.get", ["q", 0]), "a")

    def test_queue_peek_default_n_is_one(self):
        self.c.call("queue.put_many", ["q", ["a", "b"], 0])
        self.assertEqual(self.c.call("queue.peek", ["q"]), ["a"])

    def test_queue_peek_empty_is_empty_array(self):
        self.assertEqual(self.c.call("queue.peek", ["q", 3]), [])

    def test_queue_purge_count(self):
        self.assertEqual(self.c.call("queue.purge", ["q"]), 0)
        self.c.call("queue.put_many", ["q", list(range(7)), 0])
        self.assertEqual(self.c.call("queue.purge", ["q"]), 7)
        self.assertEqual(self.c.call("queue.qsize", ["q"]), 0)
        self.assertEqual(self.c.call("queue.stat", ["q"])["bytes"], 0)
        self.c.expect_error(EEMPTY, "queue.get", ["q", 0])
        self.assertEqual(self.c.call("queue.purge", ["q"]), 0)

    def test_purge_frees_space_for_parked_putter(self):
        self.c.call("queue.put_many", ["small", [1, 2, 3], 0])
        p = self.client()
        p.send_request(5, "queue.put", ["small", 4, None])
        wait_stat(self.c, "small", putters=1)
        self.assertEqual(self.c.call("queue.purge", ["small"]), 3)
        r = p.wait_response(5)
        self.assertIsNone(r.error)
        self.assertEqual(self.c.call("queue.peek", ["small", 5]), [4])

    def test_items_byte_for_byte_put_get(self):
        for raw in ODD_ITEMS:
            with self.subTest(item=raw[:20]):
                self.assertIsNone(self.c.call("queue.put", ["q", Raw(raw), 0]))
                self.assertEqual(self.c.call("queue.peek", ["q", 1], raw=True), b"\x91" + raw)
                self.assertEqual(self.c.call("queue.get", ["q", 0], raw=True), raw)

    def test_items_byte_for_byte_put_many_get_many_peek(self):
        n = self.c.call("queue.put_many", ["q", Raw(b"\xdc" + struct.pack(">H", len(ODD_ITEMS))
                                                  + b"".join(ODD_ITEMS)), 0])
        self.assertEqual(n, len(ODD_ITEMS))
        self.assertEqual(split_array(self.c.call("queue.peek", ["q", 100], raw=True)), ODD_ITEMS)
        got = split_array(self.c.call("queue.get_many", ["q", 5, 0], raw=True))
        got += split_array(self.c.call("queue.get_many", ["q", 100, 0], raw=True))
        self.assertEqual(got, ODD_ITEMS)

    def test_items_byte_for_byte_to_parked_getter(self):
        g = self.client()
        for i, raw in enumerate(ODD_ITEMS):
            with self.subTest(item=raw[:20]):
                g.send_request(100 + i, "queue.get", ["q", None])
                wait_stat(self.c, "q", getters=1)
                self.c.call("queue.put", ["q", Raw(raw), 0])
                r = g.wait_response(100 + i)
                self.assertIsNone(r.error)
                self.assertEqual(r.raw_result, raw)

    def test_queue_bad_params_are_EBADREQ(self):
        cases = {
            "queue.put": [[], ["q"], [1, "x", 0], [None, "x", 0], ["q", "x", "soon"],
                          ["q", "x", True], ["q", "x", [1]], ["q", "x", 0, 0]],
            "queue.put_many": [[], ["q"], ["q", "notalist", 0], ["q", {"a": 1}, 0], ["q", [1], "x"],
                               ["q", [1], 0, 0], [1, [1], 0]],
            "queue.get": [[], [1], ["q", "x"], ["q", True], ["q", [0]], ["q", 0, 0]],
            "queue.get_many": [[], ["q", "x", 0], ["q", 0, 0], ["q", -1, 0], ["q", 1.5, 0],
                               ["q", 1, "x"], ["q", 1, 0, 0], [1, 1, 0]],
            "queue.task_done": [[], [1], ["q", "x"], ["q", 0], ["q", -1], ["q", 1.5], ["q", 1, 1]],
            "queue.join": [[], [1], ["q", "x"], ["q", 0, 0]],
            "queue.qsize": [[], [1], ["q", 1]],
            "queue.stat": [[], [1], ["q", 1]],
            "queue.peek": [[], [1], ["q", "x"], ["q", -1], ["q", 1, 1]],
            "queue.purge": [[], [1], ["q", 1]],
        }
        self.c.call("queue.put", ["q", "keep", 0])
        for method, plist in cases.items():
            for params in plist:
                with self.subTest(method=method, params=params):
                    self.c.expect_error(EBADREQ, method, params)
        # nothing was changed by the refused requests, and the connection stays
        st = self.c.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["unfinished"], st["puts"], st["gets"]), (1, 1, 1, 0))
        self.assertEqual(self.c.ping(), "pong")

    QUEUE_CALLS = [
        ("queue.put", [1, 0]), ("queue.put", [1]), ("queue.put_many", [[1], 0]),
        ("queue.get", [0]), ("queue.get", [None]), ("queue.get", []), ("queue.get_many", [1, 0]),
        ("queue.task_done", [1]), ("queue.join", [0]), ("queue.join", []), ("queue.qsize", []),
        ("queue.stat", []), ("queue.peek", [1]), ("queue.purge", []),
    ]

    def test_queue_methods_unknown_name_is_ENOENT(self):
        for method, rest in self.QUEUE_CALLS:
            with self.subTest(method=method, params=rest):
                self.c.expect_error(ENOENT, method, ["nosuch"] + rest)

    def test_queue_put_on_buf_is_ETYPE(self):
        self.c.expect_error(ETYPE, "queue.put", ["b", 1, 0])

    def test_queue_methods_on_buf_are_ETYPE(self):
        for method, rest in self.QUEUE_CALLS:
            with self.subTest(method=method, params=rest):
                self.c.expect_error(ETYPE, method, ["b"] + rest)
        self.assertEqual(self.c.call("buf.len", ["b"]), 0)

    def test_parked_get_on_shutdown_is_ESHUTDOWN(self):
        self.c.send_request(3, "queue.get", ["q", None])
        wait_stat(self.client(), "q", getters=1)
        self.d.signal(15)
        r = self.c.wait_response(3)
        self.assertIsNotNone(r.error, "parked get answered %r on shutdown" % (r.result,))
        self.assertEqual(r.error[0], ESHUTDOWN)
        self.assertEqual(self.d.wait_exit(), 0)


class TestBufMethods(Base):
    def test_buf_incr_missing_key_starts_from_zero(self):
        self.assertEqual(self.c.call("buf.incr", ["b", "k", 5]), 5)
        self.assertEqual(self.c.call("buf.get", ["b", "k"]), 5)
        self.assertEqual(self.c.call("buf.incr", ["b", "neg", -3]), -3)

    def test_buf_incr_int_stays_int(self):
        self.c.call("buf.incr", ["b", "k", 2])
        v = self.c.call("buf.incr", ["b", "k", 3])
        self.assertEqual(v, 5)
        self.assertIsInstance(v, int)
        self.assertEqual(self.c.call("buf.get", ["b", "k"], raw=True), packb(5))

    def test_buf_incr_int_float_is_float(self):
        self.c.call("buf.incr", ["b", "k", 1])
        v = self.c.call("buf.incr", ["b", "k", 0.5])
        self.assertIsInstance(v, float)
        self.assertEqual(v, 1.5)
        v = self.c.call("buf.incr", ["b", "k", 2])
        self.assertIsInstance(v, float)
        self.assertEqual(v, 3.5)
        v = self.c.call("buf.incr", ["b", "f", 2.0])
        self.assertIsInstance(v, float)
        self.assertIsInstance(self.c.call("buf.get", ["b", "f"]), float)

    def test_buf_incr_int_overflow_is_ERANGE(self):
        self.c.call("buf.set", ["b", "k", INT64_MAX])
        self.c.expect_error(ERANGE, "buf.incr", ["b", "k", 1])
        self.assertEqual(self.c.call("buf.get", ["b", "k"]), INT64_MAX)
        self.c.call("buf.set", ["b", "m", INT64_MIN])
        self.c.expect_error(ERANGE, "buf.incr", ["b", "m", -1])
        self.assertEqual(self.c.call("buf.get", ["b", "m"]), INT64_MIN)
        self.assertEqual(self.c.call("buf.incr", ["b", "k", -1]), INT64_MAX - 1)
        self.c.call("buf.incr", ["b", "big", INT64_MAX])
        self.c.expect_error(ERANGE, "buf.incr", ["b", "big", INT64_MAX])

    def test_buf_incr_non_number_is_ENOTNUM(self):
        self.c.call("buf.set", ["b", "s", "text"])
        self.c.expect_error(ENOTNUM, "buf.incr", ["b", "s", 1])
        self.c.call("buf.set", ["b", "n", None])
        self.c.expect_error(ENOTNUM, "buf.incr", ["b", "n", 1.0])
        self.assertEqual(self.c.call("buf.get", ["b", "s"]), "text")

    def test_buf_update_applies_all(self):
        self.c.call("buf.set", ["b", "x", 10])
        self.assertIsNone(self.c.call("buf.update", ["b", {"x": 1, "y": 2, "z": 0.5}]))
        self.assertEqual(self.c.call("buf.items", ["b"]), {"x": 11, "y": 2, "z": 0.5})
        self.assertIsNone(self.c.call("buf.update", ["b", {}]))
        self.assertEqual(self.c.call("buf.len", ["b"]), 3)

    def test_buf_update_all_or_nothing_ENOTNUM(self):
        self.c.call("buf.update", ["b", {"a": 1, "b": 2}])
        self.c.call("buf.set", ["b", "s", "not a number"])
        before = self.c.call("buf.items", ["b"])
        self.c.expect_error(ENOTNUM, "buf.update", ["b", {"a": 5, "s": 1, "new": 7, "b": 3}])
        self.assertEqual(self.c.call("buf.items", ["b"]), before)
        self.c.expect_error(ENOTNUM, "buf.update", ["b", {"new": 7, "s": 1}])
        self.assertEqual(self.c.call("buf.items", ["b"]), before)
        self.c.expect_error(ENOKEY, "buf.get", ["b", "new"])

    def test_buf_update_overflow_is_ERANGE_nothing_changed(self):
        self.c.call("buf.set", ["b", "max", INT64_MAX])
        self.c.call("buf.set", ["b", "a", 1])
        before = self.c.call("buf.items", ["b"])
        self.c.expect_error(ERANGE, "buf.update", ["b", {"a": 1, "max": 1, "new": 1}])
        self.assertEqual(self.c.call("buf.items", ["b"]), before)

    def test_buf_set_get(self):
        for v in (1, -1, 2.5, "str", b"bin", [1, [2]], {"m": {"n": None}}, None, True, INT64_MAX):
            with self.subTest(value=v):
                self.assertIsNone(self.c.call("buf.set", ["b", "k", v]))
                self.assertEqual(self.c.call("buf.get", ["b", "k"]), v)
        self.assertEqual(self.c.call("buf.len", ["b"]), 1)

    def test_buf_get_missing_is_ENOKEY(self):
        self.c.expect_error(ENOKEY, "buf.get", ["b", "missing"])

    def test_buf_del(self):
        self.c.call("buf.set", ["b", "k", 1])
        self.c.call("buf.set", ["b", "j", 2])
        self.assertIsNone(self.c.call("buf.del", ["b", "k"]))
        self.c.expect_error(ENOKEY, "buf.get", ["b", "k"])
        self.c.expect_error(ENOKEY, "buf.del", ["b", "k"])
        self.assertEqual(self.c.call("buf.items", ["b"]), {"j": 2})

    def test_buf_len(self):
        self.assertEqual(self.c.call("buf.len", ["b"]), 0)
        self.c.call("buf.update", ["b", {"a": 1, "b": 1, "c": 1}])
        self.assertEqual(self.c.call("buf.len", ["b"]), 3)
        self.c.call("buf.incr", ["b", "a", 1])
        self.assertEqual(self.c.call("buf.len", ["b"]), 3)

    def test_buf_items_snapshot(self):
        self.c.call("buf.update", ["b", {"a": 1, "b": 2}])
        self.c.call("buf.set", ["b", "s", "v"])
        items = self.c.call("buf.items", ["b"])
        self.assertEqual(items, {"a": 1, "b": 2, "s": "v"})
        # not removed
        self.assertEqual(self.c.call("buf.len", ["b"]), 3)
        self.assertEqual(self.c.call("buf.items", ["b"]), items)
        self.assertEqual(self.c.call("buf.items", ["counters"]), {})

    def test_buf_items_keys_with_odd_bytes(self):
        keys = ["", "k" * 300, "\u00e9\u4e2d", "with\x00nul"]
        for i, k in enumerate(keys):
            self.c.call("buf.set", ["b", k, i])
        self.assertEqual(self.c.call("buf.items", ["b"]), {k: i for i, k in enumerate(keys)})
        for i, k in enumerate(keys):
            self.assertEqual(self.c.call("buf.get", ["b", k]), i)

    def test_buf_drain_atomic(self):
        self.c.call("buf.update", ["b", {"a": 1, "b": 2.5}])
        self.assertEqual(self.c.call("buf.drain", ["b"]), {"a": 1, "b": 2.5})
        self.assertEqual(self.c.call("buf.len", ["b"]), 0)
        self.assertEqual(self.c.call("buf.drain", ["b"]), {})
        # concurrent increments from another connection are never lost or double counted
        w = self.client()
        n = 300
        for i in range(n):
            w.send_request(i + 1, "buf.incr", ["b", "k%d" % (i % 7), 1])
        total = 0
        deadline = time.monotonic() + 60
        while total < n and time.monotonic() < deadline:
            total += sum(self.c.call("buf.drain", ["b"]).values())
        for i in range(n):
            r = w.wait_response(i + 1)
            self.assertIsNone(r.error)
        total += sum(self.c.call("buf.drain", ["b"]).values())
        self.assertEqual(total, n)

    def test_buf_clear(self):
        self.c.call("buf.update", ["b", {"a": 1, "b": 2}])
        self.assertIsNone(self.c.call("buf.clear", ["b"]))
        self.assertEqual(self.c.call("buf.len", ["b"]), 0)
        self.assertEqual(self.c.call("buf.items", ["b"]), {})

    def test_buf_bad_params_are_EBADREQ(self):
        cases = {
            "buf.incr": [[], ["b"], ["b", "k"], [1, "k", 1], ["b", 1, 1], ["b", b"k", 1], ["b", "k", "x"],
                         ["b", "k", None], ["b", "k", True], ["b", "k", 1, 1]],
            "buf.update": [[], ["b"], [1, {}], ["b", [1]], ["b", 1], ["b", {1: 1}], ["b", {"k": "x"}],
                           ["b", {}, 1]],
            "buf.set": [[], ["b"], ["b", "k"], [1, "k", 1], ["b", 1, 1], ["b", "k", 1, 1]],
            "buf.get": [[], ["b"], [1, "k"], ["b", 1], ["b", "k", 1]],
            "buf.del": [[], ["b"], [1, "k"], ["b", 1], ["b", "k", 1]],
            "buf.len": [[], [1], ["b", 1]],
            "buf.items": [[], [1], ["b", 1]],
            "buf.drain": [[], [1], ["b", 1]],
            "buf.clear": [[], [1], ["b", 1]],
        }
        self.c.call("buf.set", ["b", "keep", 1])
        for method, plist in cases.items():
            for params in plist:
                with self.subTest(method=method, params=params):
                    self.c.expect_error(EBADREQ, method, params)
        self.assertEqual(self.c.call("buf.items", ["b"]), {"keep": 1})
        self.assertEqual(self.c.ping(), "pong")

    BUF_CALLS = [
        ("buf.incr", ["k", 1]), ("buf.update", [{"k": 1}]), ("buf.set", ["k", 1]), ("buf.get", ["k"]),
        ("buf.del", ["k"]), ("buf.len", []), ("buf.items", []), ("buf.drain", []), ("buf.clear", []),
    ]

    def test_buf_methods_unknown_name_is_ENOENT(self):
        for method, rest in self.BUF_CALLS:
            with self.subTest(method=method):
                self.c.expect_error(ENOENT, method, ["nosuch"] + rest)

    def test_buf_methods_on_queue_are_ETYPE(self):
        self.c.call("queue.put", ["q", "item", 0])
        for method, rest in self.BUF_CALLS:
            with self.subTest(method=method):
                self.c.expect_error(ETYPE, method, ["q"] + rest)
        self.assertEqual(self.c.call("queue.peek", ["q", 5]), ["item"])


if __name__ == "__main__":
    unittest.main()
