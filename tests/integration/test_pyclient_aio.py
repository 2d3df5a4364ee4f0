"""The asyncio client (client/python/src/qmgr/aio.py) against a real qmgrd:
every queue and buf proxy method and exception, the client's calls, many
coroutines sharing one connection (each call gets its own reply, a parked get
holds back nothing), blocking calls released from another connection,
cancellation (the late reply is dropped; what becomes of an item handed to a
cancelled get), values, addresses and keys, TLS, the BaseManager-style
QueueManager, hostile fake servers and `cmake --install`.

ctest runs one entry per class (pyclient.cmake), like test_pyclient.py, whose
objects, values and fake server this module reuses. Each test runs in its own
event loop (IsolatedAsyncioTestCase, in asyncio's debug mode). Nothing
synchronises with a sleep: a test that must know the daemon reached a state
(a get parked, a connection gone) polls `queue.stat`, `clients` or `stats` in
a deadline loop (`until`), and a call that would hang if the client were
wrong is bounded by HANG_GUARD.
"""

import asyncio
import builtins
import faulthandler
import glob
import os
import pickle
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import msgpack

import qmgr
import qmgr.aio

from qmgrtest import (CALL_TIMEOUT, POLL_TIMEOUT, QUEUE_STAT_FIELDS, SCALE, DaemonTest, daemon_env,
                      free_port, test_pki)
from test_pyclient import (CODES, HANG_GUARD, INT64_MAX, OBJECT_NAMES, OBJECTS, ROUND_TRIP, SHORT,
                           WATCHDOG, Custom, ListenDaemon, Point, Tattletale,
                           isolate_key_env, same_value, write_key)
from fakeserver import FakeServer, after_handshake

AIO_OBJECTS = OBJECTS + """
[queue rq]
redeliver = on
"""


async def guarded(aw, guard=HANG_GUARD):
    """Awaits aw; a hang (a client that should have returned) fails the test."""
    try:
        return await asyncio.wait_for(aw, guard)
    except asyncio.TimeoutError as e:
        if isinstance(e, qmgr.Error):
            raise  # qmgr.ETIMEOUT: a TimeoutError, which asyncio's is since 3.11
        raise AssertionError("a call did not return within %.0fs" % guard) from None


class AioTest(DaemonTest, unittest.IsolatedAsyncioTestCase):
    OBJECTS = AIO_OBJECTS
    OPTIONS = dict(log_level="info")

    def setUp(self):
        faulthandler.dump_traceback_later(WATCHDOG, exit=True)
        self.addCleanup(faulthandler.cancel_dump_traceback_later)
        self.aclients = []
        super().setUp()

    async def asyncSetUp(self):
        # The harness's blocking calls (starting a daemon, its own client) run
        # between awaits; debug mode would log each as a slow callback.
        asyncio.get_running_loop().slow_callback_duration = 60.0

    async def asyncTearDown(self):
        for c in self.aclients:
            await guarded(c.close())

    def addr(self, d=None):
        return ("127.0.0.1", (d or self.d).port)

    async def connect(self, d=None, **kw):
        """qmgr.aio.connect to d (self.d) with its key; closed at the end."""
        d = d or self.d
        args = dict(address=self.addr(d), authkey=d.key, timeout=CALL_TIMEOUT)
        args.update(kw)
        c = await guarded(qmgr.aio.connect(**args))
        self.aclients.append(c)
        return c

    def keep(self, c):
        self.aclients.append(c)
        return c

    async def until(self, predicate, what, timeout=POLL_TIMEOUT):
        """Polls the coroutine function predicate until it returns something
        true (returned): a deadline loop on an observable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = 0.01
        while True:
            last = await predicate()
            if last:
                return last
            if loop.time() > deadline:
                raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                     % (timeout, what, last))
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.1)

    async def stat_is(self, obs, name, **want):
        """Waits until queue.stat of name has the given fields."""
        async def check():
            st = await obs.queue(name).stat()
            return st if all(st[k] == v for k, v in want.items()) else False
        return await self.until(check, "queue.stat %s %r" % (name, want))

    async def waiting_on(self, obs, name, count):
        """Waits until exactly count connections are parked on name."""
        async def check():
            rows = await obs.clients()
            return sum(1 for r in rows if r["waiting_on"] == name) == count
        await self.until(check, "%d clients waiting_on %r" % (count, name))

    async def connections(self, obs, count):
        async def check():
            return (await obs.stats())["connections"] == count
        await self.until(check, "stats.connections == %d" % count)

    def assertCode(self, exc, name):
        self.assertIsInstance(exc, getattr(qmgr, name))
        self.assertIsInstance(exc, qmgr.Error)
        self.assertEqual(exc.code, CODES[name])
        self.assertTrue(exc.message, "an empty message for %s" % name)

    async def raises(self, name, aw):
        """Awaits aw, which must raise qmgr.<name>; returns the exception."""
        with self.assertRaises(getattr(qmgr, name)) as cm:
            await guarded(aw)
        self.assertCode(cm.exception, name)
        return cm.exception


# ---------------------------------------------------------------------------
# Queue proxy

class TestQueueProxy(AioTest):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.c = await self.connect()
        self.o = await self.connect()

    async def test_proxy_type_and_name(self):
        q = self.c.queue("q")
        self.assertIsInstance(q, qmgr.aio.QueueProxy)
        self.assertEqual(q.name, "q")
        self.assertEqual(repr(q), "<qmgr.aio.QueueProxy 'q'>")

    async def test_put_get_fifo(self):
        q = self.c.queue("q")
        for i in range(5):
            self.assertIsNone(await q.put(i))
        self.assertEqual(await self.o.queue("q").qsize(), 5)
        self.assertEqual([await q.get() for _ in range(5)], [0, 1, 2, 3, 4])
        st = await q.stat()
        self.assertEqual((st["size"], st["puts"], st["gets"], st["unfinished"]), (0, 5, 5, 5))

    async def test_put_nowait_get_nowait(self):
        q = self.c.queue("small")
        self.assertIsNone(await q.put_nowait("a"))
        self.assertIsNone(await q.put_nowait("b"))
        with self.assertRaises(queue.Full) as cm:
            await q.put_nowait("c")
        self.assertCode(cm.exception, "EFULL")
        self.assertEqual(await q.get_nowait(), "a")
        self.assertEqual(await q.get_nowait(), "b")
        with self.assertRaises(queue.Empty) as cm:
            await q.get_nowait()
        self.assertCode(cm.exception, "EEMPTY")

    async def test_get_on_empty_raises_queue_Empty(self):
        q = self.c.queue("q")
        await self.raises("EEMPTY", q.get(block=False))
        with self.assertRaises(queue.Empty):
            await guarded(q.get(timeout=0.05))
        with self.assertRaises(queue.Empty):
            await guarded(q.get(True, 0.01))
        # block=False ignores the timeout, as queue.Queue does: were it sent,
        # this get would park for an hour
        with self.assertRaises(queue.Empty):
            await guarded(q.get(False, 3600))
        self.assertEqual((await q.stat())["getters"], 0)

    async def test_put_on_full_raises_queue_Full(self):
        q = self.c.queue("small")
        await q.put(1)
        await q.put(2)
        self.assertIs(await q.full(), True)
        await self.raises("EFULL", q.put(3, block=False))
        with self.assertRaises(queue.Full):
            await guarded(q.put(3, timeout=0.05))
        with self.assertRaises(queue.Full):
            await guarded(q.put(3, False, 3600))
        self.assertEqual(await q.peek(5), [1, 2])

    async def test_get_parked_on_one_connection_is_served_by_a_put_on_another(self):
        getter = asyncio.ensure_future(self.c.queue("q").get())
        await self.stat_is(self.o, "q", getters=1)
        self.assertFalse(getter.done())
        await self.o.queue("q").put({"k": b"late"})
        self.assertEqual(await guarded(getter), {"k": b"late"})

    async def test_get_with_timeout_is_served_by_a_later_put(self):
        getter = asyncio.ensure_future(self.c.queue("q").get(timeout=3600))
        await self.stat_is(self.o, "q", getters=1)
        await self.o.queue("q").put("in time")
        self.assertEqual(await guarded(getter), "in time")

    async def test_put_blocks_until_room(self):
        q = self.c.queue("small")
        await q.put_many([1, 2])
        putter = asyncio.ensure_future(q.put(3))
        await self.stat_is(self.o, "small", putters=1)
        self.assertFalse(putter.done())
        self.assertEqual(await self.o.queue("small").get_nowait(), 1)
        self.assertIsNone(await guarded(putter))
        self.assertEqual(await q.peek(5), [2, 3])

    async def test_qsize_empty_full(self):
        q = self.c.queue("small")
        self.assertEqual((await q.qsize(), await q.empty(), await q.full()), (0, True, False))
        await q.put("x")
        self.assertEqual((await q.qsize(), await q.empty(), await q.full()), (1, False, False))
        await q.put("y")
        self.assertEqual((await q.qsize(), await q.empty(), await q.full()), (2, False, True))
        u = self.c.queue("q")
        await u.put_many(list(range(50)))
        self.assertEqual((await u.qsize(), await u.full()), (50, False))

    async def test_task_done_and_EVALUE(self):
        q = self.c.queue("q")
        await q.put_many(["a", "b", "c"])
        await q.get_many(3)
        self.assertIsNone(await q.task_done())
        self.assertEqual((await q.stat())["unfinished"], 2)
        with self.assertRaises(ValueError) as cm:
            await q.task_done(3)
        self.assertCode(cm.exception, "EVALUE")
        self.assertIsNone(await q.task_done(n=2))
        self.assertEqual((await q.stat())["unfinished"], 0)
        await self.raises("EVALUE", q.task_done())

    async def test_join_timeout_raises_ETIMEOUT(self):
        q = self.c.queue("q")
        self.assertIsNone(await q.join())          # nothing unfinished: at once
        await q.put("work")
        with self.assertRaises(TimeoutError) as cm:
            await guarded(q.join(timeout=0.05))
        self.assertCode(cm.exception, "ETIMEOUT")
        await self.raises("ETIMEOUT", q.join(timeout=0))
        await q.get()
        await q.task_done()
        self.assertIsNone(await q.join(timeout=0.05))

    async def test_join_parked_on_the_connection_that_calls_task_done(self):
        # One connection: a parked join does not hold back the task_done
        # that releases it.
        q = self.c.queue("q")
        await q.put("work")
        self.assertEqual(await q.get(), "work")
        joiner = asyncio.ensure_future(q.join())
        await self.waiting_on(self.o, "q", 1)
        self.assertFalse(joiner.done())
        await q.task_done()
        self.assertIsNone(await guarded(joiner))

    async def test_put_many_get_many(self):
        q = self.c.queue("q")
        self.assertEqual(await q.put_many([1, 2, 3]), 3)
        self.assertEqual(await q.put_many(iter(["a"])), 1)
        self.assertEqual(await q.get_many(2), [1, 2])
        self.assertEqual(await q.get_many(10), [3, "a"])
        await self.raises("EEMPTY", q.get_many(5, block=False))
        with self.assertRaises(queue.Empty):
            await guarded(q.get_many(5, timeout=0.05))
        self.assertEqual(await q.put_many([]), 0)

    async def test_put_many_on_bounded_queue(self):
        s = self.c.queue("small")
        self.assertEqual(await s.put_many(["x", "y", "z"], timeout=0), 2)
        self.assertEqual(await s.peek(5), ["x", "y"])
        await self.raises("EFULL", s.put_many(["w"], timeout=0))
        with self.assertRaises(queue.Full):
            await guarded(s.put_many(["w"], timeout=0.05))

    async def test_get_many_waits_for_the_first_item(self):
        q = self.c.queue("q")
        getter = asyncio.ensure_future(q.get_many(10))
        await self.stat_is(self.o, "q", getters=1)
        await self.o.queue("q").put_many(["i0", "i1", "i2"])
        got = await guarded(getter)
        self.assertGreaterEqual(len(got), 1)
        rest = await q.get_many(10, block=False) if len(got) < 3 else []
        self.assertEqual(got + rest, ["i0", "i1", "i2"])

    async def test_peek(self):
        q = self.c.queue("q")
        self.assertEqual(await q.peek(), [])
        await q.put_many(["a", "b", "c"])
        self.assertEqual(await q.peek(), ["a"])
        self.assertEqual(await q.peek(2), ["a", "b"])
        self.assertEqual(await q.peek(n=10), ["a", "b", "c"])
        self.assertEqual(await q.qsize(), 3)

    async def test_purge(self):
        q = self.c.queue("q")
        await q.put_many(list(range(7)))
        self.assertEqual(await q.purge(), 7)
        self.assertEqual(await q.qsize(), 0)
        self.assertEqual(await q.purge(), 0)

    async def test_stat(self):
        q = self.c.queue("small")
        await q.put("x")
        st = await q.stat()
        self.assertTrue(QUEUE_STAT_FIELDS <= set(st), set(st))
        self.assertEqual((st["size"], st["maxsize"], st["puts"], st["unfinished"]), (1, 2, 1, 1))
        self.assertEqual(st, self.client().call("queue.stat", ["small"]))

    async def test_unknown_and_wrong_type(self):
        await self.raises("ENOENT", self.c.queue("nosuch").put(1))
        await self.raises("ENOENT", self.c.queue("nosuch").qsize())
        await self.raises("ETYPE", self.c.queue("b").get(block=False))
        await self.raises("ETYPE", self.c.queue("flow_buf").stat())
        self.assertEqual(await self.c.ping(), "pong")

    async def test_negative_timeout_is_ValueError(self):
        q = self.c.queue("q")
        for call in (q.get(timeout=-1), q.put(1, timeout=-1), q.get_many(2, timeout=-1),
                     q.put_many([1], timeout=-1), q.join(timeout=-1)):
            with self.assertRaises(ValueError):
                await call
        self.assertEqual(await q.qsize(), 0)

    async def test_same_exceptions_as_queue_Queue(self):
        """Each call raises what queue.Queue(maxsize=2) raises in the same state."""
        proxy = self.c.queue("small")
        local = queue.Queue(maxsize=2)
        for name, args in [("get", (False,)), ("get", (True, 0.01)), ("get_nowait", ()),
                           ("task_done", ())]:
            with self.subTest(call=name, args=args, state="empty"):
                with self.assertRaises(Exception) as want:
                    getattr(local, name)(*args)
                with self.assertRaises(type(want.exception)):
                    await getattr(proxy, name)(*args)
        for item in ("x", "y"):
            local.put(item)
            await proxy.put(item)
        for name, args in [("put", ("z", False)), ("put", ("z", True, 0.01)), ("put_nowait", ("z",))]:
            with self.subTest(call=name, args=args, state="full"):
                with self.assertRaises(Exception) as want:
                    getattr(local, name)(*args)
                with self.assertRaises(type(want.exception)):
                    await getattr(proxy, name)(*args)
        self.assertEqual((await proxy.qsize(), await proxy.full(), await proxy.empty()),
                         (local.qsize(), local.full(), local.empty()))


# ---------------------------------------------------------------------------
# Buf proxy

class TestBufProxy(AioTest):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.c = await self.connect()
        self.b = self.c.buf("b")
        self.o = self.client()

    async def test_proxy_type_and_name(self):
        self.assertIsInstance(self.b, qmgr.aio.BufProxy)
        self.assertEqual(self.b.name, "b")
        self.assertEqual(repr(self.b), "<qmgr.aio.BufProxy 'b'>")

    async def test_set_get_delete_len(self):
        b = self.b
        self.assertEqual(await b.len(), 0)
        self.assertIsNone(await b.set("a", 1))
        await b.set("s", "str")
        await b.set("l", [1, {"x": b"y"}])
        self.assertEqual(await b.len(), 3)
        self.assertEqual(self.o.call("buf.len", ["b"]), 3)
        self.assertEqual(await b.get("a"), 1)
        self.assertEqual(await b.get("l"), [1, {"x": b"y"}])
        self.assertEqual(self.o.call("buf.get", ["b", "s"]), "str")
        await b.set("a", 2)
        self.assertEqual(await b.get("a"), 2)
        self.assertIsNone(await b.delete("a"))
        self.assertEqual(await b.len(), 2)
        self.assertEqual(sorted(await b.keys()), ["l", "s"])

    async def test_missing_key(self):
        b = self.b
        self.assertIsNone(await b.get("missing"))
        self.assertEqual(await b.get("missing", 42), 42)
        await b.set("k", None)
        self.assertIsNone(await b.get("k", 42))      # a stored None is not missing
        with self.assertRaises(KeyError) as cm:
            await b.delete("missing")
        self.assertCode(cm.exception, "ENOKEY")
        with self.assertRaises(KeyError):
            await b.pop("missing")

    async def test_snapshot_keys_values_items_and_async_for(self):
        b = self.b
        want = {"a": 1, "b": 2.5, "c": "three", "d": None}
        for k, v in want.items():
            await b.set(k, v)
        self.assertEqual(await b.copy(), want)
        self.assertEqual(dict(await b.items()), want)
        self.assertEqual(sorted(await b.keys()), sorted(want))
        self.assertEqual(sorted(map(repr, await b.values())), sorted(map(repr, want.values())))
        self.assertEqual(sorted([k async for k in b]), sorted(want))
        self.assertEqual(self.o.call("buf.items", ["b"]), want)

    async def test_incr(self):
        b = self.b
        self.assertEqual(await b.incr("n"), 1)           # a missing key starts from 0
        self.assertEqual(await b.incr("n", 5), 6)
        self.assertEqual(await b.incr("n", -10), -4)
        r = await b.incr("n", 0.5)
        self.assertIs(type(r), float)
        self.assertEqual(r, -3.5)
        self.assertIs(type(await b.incr("i", 3)), int)
        await b.set("s", "text")
        await self.raises("ENOTNUM", b.incr("s"))
        await b.incr("big", INT64_MAX)
        await self.raises("ERANGE", b.incr("big", 1))
        self.assertEqual(await b.get("big"), INT64_MAX)

    async def test_incr_many_all_or_nothing(self):
        b = self.b
        self.assertIsNone(await b.incr_many({"a": 1, "b": 2.5}))
        self.assertIsNone(await b.incr_many({"a": 2}))
        self.assertEqual(await b.copy(), {"a": 3, "b": 2.5})
        await b.set("text", "not a number")
        await self.raises("ENOTNUM", b.incr_many({"a": 100, "new": 1, "text": 1}))
        self.assertEqual(await b.copy(), {"a": 3, "b": 2.5, "text": "not a number"})

    async def test_drain_and_clear(self):
        b = self.b
        await b.incr_many({"x": 1, "y": 2})
        self.assertEqual(await b.drain(), {"x": 1, "y": 2})
        self.assertEqual(await b.len(), 0)
        self.assertEqual(await b.drain(), {})
        await b.update({"z": 1}, w=2)
        self.assertIsNone(await b.clear())
        self.assertEqual(self.o.call("buf.items", ["b"]), {})

    async def test_pop_popitem_setdefault_update(self):
        b = self.b
        await b.update({"u": 1, "v": 2})
        await b.update([("w", 3)], x=4)
        self.assertEqual(await b.copy(), {"u": 1, "v": 2, "w": 3, "x": 4})
        self.assertEqual(await b.pop("u"), 1)
        self.assertEqual(await b.pop("u", "dflt"), "dflt")
        self.assertEqual(await b.setdefault("sd", 7), 7)
        self.assertEqual(await b.setdefault("sd", 8), 7)
        left = {"v": 2, "w": 3, "x": 4, "sd": 7}
        while left:
            k, v = await b.popitem()
            self.assertEqual(left.pop(k), v)
        with self.assertRaises(KeyError):
            await b.popitem()
        self.assertEqual(await b.len(), 0)

    async def test_accessor_named_buf(self):
        await self.c.buf("flow_buf").incr("lines", 2)
        self.assertEqual(self.o.call("buf.get", ["flow_buf", "lines"]), 2)

    async def test_unknown_and_wrong_type(self):
        await self.raises("ENOENT", self.c.buf("nosuch").set("k", 1))
        await self.raises("ENOENT", self.c.buf("nosuch").get("k"))
        await self.raises("ETYPE", self.c.buf("q").incr("k"))
        await self.raises("ETYPE", self.c.buf("q").len())
        self.assertEqual(await self.c.ping(), "pong")


# ---------------------------------------------------------------------------
# Client

class TestClient(AioTest):
    async def test_ping_stats_objects_clients_lookup(self):
        c = await self.connect()
        o = self.client()
        self.assertEqual(await c.ping(), "pong")
        st = await c.stats()
        self.assertTrue({"version", "uptime_s", "connections", "memory_bytes", "ops"} <= set(st), st)
        self.assertEqual(st["connections"], 2)
        self.assertEqual({x["name"] for x in await c.objects()}, OBJECT_NAMES | {"rq"})
        rows = await c.clients()
        self.assertEqual(len(rows), 2)
        for r in rows:
            self.assertTrue({"id", "peer", "since_s", "ops", "waiting_on"} <= set(r), r)
        d = await c.lookup("q")
        self.assertEqual(d, o.call("lookup", ["q"]))
        self.assertEqual((d["name"], d["type"]), ("q", "queue"))
        await self.raises("ENOENT", c.lookup("nosuch"))

    async def test_raw_call_accessor_and_proxy(self):
        c = await self.connect()
        self.assertIsNone(await c.call("queue.put", ["q", [1, "two"], 0]))
        self.assertEqual(await c.call("queue.get", ["q", 0]), [1, "two"])
        self.assertEqual(await c.call("get_buf", []), await c.lookup("flow_buf"))
        await self.raises("ENOMETHOD", c.call("nosuch", []))
        b = await c.accessor("get_buf")
        self.assertIsInstance(b, qmgr.aio.BufProxy)
        self.assertEqual(b.name, "flow_buf")
        q = c.proxy(await c.lookup("line_queue"))
        self.assertIsInstance(q, qmgr.aio.QueueProxy)
        self.assertEqual(q.name, "line_queue")
        with self.assertRaises(qmgr.ProtocolError):
            c.proxy({"name": "x", "type": "stream"})

    async def test_connect_forms(self):
        obs = await self.connect()
        args = dict(address=self.addr(), authkey=self.d.key)
        c = await qmgr.aio.connect(**args)                    # await
        self.assertIsInstance(c, qmgr.aio.Client)
        self.assertEqual(await c.ping(), "pong")
        await c.close()
        await self.connections(obs, 1)
        async with qmgr.aio.connect(**args) as c:             # async with, no await
            await c.queue("q").put("in with")
            await self.connections(obs, 2)
        self.assertIn("closed", repr(c))
        await self.connections(obs, 1)
        async with await qmgr.aio.connect(**args) as c:       # async with await
            self.assertEqual(await c.queue("q").get(), "in with")
        with self.assertRaises(qmgr.ConnectionError):
            await c.ping()
        await self.connections(obs, 1)

    async def test_close_drops_the_connection(self):
        o = await self.connect()
        c = await qmgr.aio.connect(authkey=self.d.key, address=self.addr())
        await self.connections(o, 2)
        await c.aclose()
        await self.connections(o, 1)
        await c.close()                                       # a second close does nothing
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await c.ping()
        self.assertIn("closed", cm.exception.message)
        with self.assertRaises(RuntimeError):
            await qmgr.aio.Connecting(c)                      # a Client connects once

    async def test_close_ends_calls_still_waiting(self):
        c = await qmgr.aio.connect(authkey=self.d.key, address=self.addr())
        o = await self.connect()
        getters = [asyncio.ensure_future(c.queue("q").get()) for _ in range(3)]
        await self.stat_is(o, "q", getters=3)
        await c.close()
        for g in getters:
            with self.assertRaises(qmgr.ConnectionError):
                await guarded(g)
        await self.stat_is(o, "q", getters=0)

    async def test_context_manager_closes_on_exception(self):
        o = await self.connect()
        with self.assertRaises(queue.Empty):
            async with qmgr.aio.connect(authkey=self.d.key, address=self.addr()) as c:
                await self.connections(o, 2)
                await c.queue("q").get(block=False)
        await self.connections(o, 1)

    async def test_rpc_timeout_adds_to_client_timeout(self):
        c = await self.connect(timeout=0.2)
        await self.raises("EEMPTY", c.queue("q").get(timeout=0.6))
        self.assertEqual(await c.ping(), "pong")

    async def test_blocking_get_outlives_client_timeout(self):
        c = await self.connect(timeout=0.2)
        o = await self.connect()
        getter = asyncio.ensure_future(c.queue("q").get())
        await self.stat_is(o, "q", getters=1)
        # still waiting well past the client's own timeout
        done, _ = await asyncio.wait({getter}, timeout=1.0)
        self.assertFalse(done, "a get(timeout=None) gave up: %r" % (done,))
        self.assertEqual(await c.ping(), "pong")
        await o.queue("q").put("eventually")
        self.assertEqual(await guarded(getter), "eventually")

    async def test_a_client_not_connected(self):
        c = qmgr.aio.Client(self.addr(), self.d.key)
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await c.ping()
        self.assertIn("not connected", cm.exception.message)
        self.assertIs(await qmgr.aio.Connecting(c), c)
        self.keep(c)
        self.assertEqual(await c.ping(), "pong")

    async def test_bad_arguments_raise_at_connect(self):
        for kw, exc in [(dict(timeout=0), ValueError), (dict(timeout=-1), ValueError),
                        (dict(address="127.0.0.1:0"), ValueError),
                        (dict(address="nonsense"), ValueError),
                        (dict(serializer=pickle.dumps), TypeError)]:
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                args = dict(address=("127.0.0.1", self.d.port), authkey=self.d.key)
                args.update(kw)
                with self.assertRaises(exc):
                    qmgr.aio.connect(**args)
        with self.assertRaises(ValueError):
            qmgr.aio.connect(("127.0.0.1", self.d.port), authkey=b"")

    async def test_items_interoperate_with_the_sync_client(self):
        c = await self.connect()
        with qmgr.connect(self.addr(), self.d.key) as s:
            await c.queue("q").put({"a": b"x", "n": [1, 2]})
            self.assertEqual(s.queue("q").get(), {"a": b"x", "n": [1, 2]})
            s.queue("q").put(["from", "sync", None])
            self.assertEqual(await c.queue("q").get(), ["from", "sync", None])


# ---------------------------------------------------------------------------
# Many coroutines on one connection

class TestConcurrency(AioTest):
    async def test_200_concurrent_incrs_each_get_their_own_reply(self):
        c = await self.connect()
        b = c.buf("b")
        results = await guarded(asyncio.gather(*(b.incr("n") for _ in range(200))))
        self.assertEqual(sorted(results), list(range(1, 201)))
        self.assertEqual(await b.get("n"), 200)
        self.assertEqual(len(await c.clients()), 1, "the coroutines used one connection")

    async def test_interleaved_calls_of_every_kind(self):
        c = await self.connect()
        b, q = c.buf("b"), c.queue("q")
        n = 100
        await asyncio.gather(*(b.set("k%d" % i, ["v", i, b"%d" % i]) for i in range(n)))
        calls = []
        for i in range(n):
            calls += [b.get("k%d" % i), c.ping(), b.incr("c%d" % (i % 7), i), q.put(i),
                      c.lookup("small"), b.get("missing%d" % i, i)]
        results = await guarded(asyncio.gather(*calls))
        sums = {}
        for i in range(n):
            got, pong, _, put, small, dflt = results[6 * i:6 * i + 6]
            self.assertEqual(got, ["v", i, b"%d" % i])
            self.assertEqual(pong, "pong")
            self.assertIsNone(put)
            self.assertEqual(small["name"], "small")
            self.assertEqual(dflt, i)
            sums[i % 7] = sums.get(i % 7, 0) + i
        for k, total in sums.items():
            self.assertEqual(await b.get("c%d" % k), total)
        self.assertEqual(sorted(await q.get_many(n)), list(range(n)))

    async def test_producers_and_parked_consumers_on_one_connection(self):
        c = await self.connect()
        o = await self.connect()
        q = c.queue("q")
        consumers, producers, per = 8, 4, 100

        async def consume():
            got = []
            while True:
                item = await q.get()
                if item is None:
                    return got
                got.append(tuple(item))

        tasks = [asyncio.ensure_future(consume()) for _ in range(consumers)]
        await self.stat_is(o, "q", getters=consumers)    # every consumer parked at once

        async def produce(p):
            for k in range(per):
                await q.put([p, k])

        await guarded(asyncio.gather(*(produce(p) for p in range(producers))))
        await q.put_many([None] * consumers)
        got = [x for t in await guarded(asyncio.gather(*tasks)) for x in t]
        self.assertEqual(sorted(got), [(p, k) for p in range(producers) for k in range(per)])
        st = await q.stat()
        self.assertEqual((st["size"], st["gets"], st["getters"]),
                         (0, producers * per + consumers, 0))

    async def test_large_items_written_by_many_coroutines_at_once(self):
        # Frames larger than the stream's buffer: the writers wait for it to
        # drain, several at once, and no frame is cut into another.
        c = await self.connect()
        q = c.queue("q")
        items = [bytes([i]) * (512 * 1024 + i) for i in range(24)]
        self.assertEqual(await guarded(asyncio.gather(*(q.put(it) for it in items))), [None] * 24)
        got = await guarded(asyncio.gather(*(q.get() for _ in items)))
        self.assertEqual(sorted(got), sorted(items))
        self.assertEqual(await c.ping(), "pong")

    async def test_a_parked_get_holds_back_nothing_on_its_connection(self):
        c = await self.connect()
        other = await self.connect()
        getter = asyncio.ensure_future(c.queue("q").get())
        await self.stat_is(other, "q", getters=1)
        pongs = await guarded(asyncio.gather(*(c.ping() for _ in range(50))))
        self.assertEqual(pongs, ["pong"] * 50)
        self.assertEqual(await c.buf("b").incr("n"), 1)
        self.assertFalse(getter.done())
        await other.queue("q").put("release")
        self.assertEqual(await guarded(getter), "release")

    async def test_gets_parked_at_stop_each_get_ESHUTDOWN(self):
        c = await self.connect()
        o = await self.connect()
        getters = [asyncio.ensure_future(c.queue(name).get()) for name in ("q", "q", "line_queue")]
        await self.stat_is(o, "q", getters=2)
        await self.stat_is(o, "line_queue", getters=1)
        self.stop_daemon(self.d)
        for g in getters:
            with self.assertRaises(qmgr.ESHUTDOWN):
                await guarded(g)
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(c.ping())
        self.assertIn("lost", cm.exception.message)

    async def test_daemon_killed_fails_every_waiting_call(self):
        c = await self.connect()
        o = await self.connect()
        await o.queue("small").put_many([1, 2])
        waiting = [asyncio.ensure_future(c.queue("q").get()) for _ in range(3)]
        waiting.append(asyncio.ensure_future(c.queue("small").put(3)))
        await self.stat_is(o, "q", getters=3)
        await self.stat_is(o, "small", putters=1)
        await o.queue("q").put("served")
        await self.stat_is(o, "q", getters=2)
        self.d.kill()
        self.d.returncode = self.d.proc.returncode
        results = await guarded(asyncio.gather(*waiting, return_exceptions=True))
        self.assertEqual(results.count("served"), 1, results)
        errors = [r for r in results if r != "served"]
        self.assertEqual(len(errors), 3)
        for e in errors:
            self.assertIsInstance(e, qmgr.ConnectionError)
            self.assertIsInstance(e, builtins.ConnectionError)
        with self.assertRaises(qmgr.ConnectionError):
            await c.ping()


# ---------------------------------------------------------------------------
# Cancellation

class TestCancellation(AioTest):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.c = await self.connect()
        self.o = await self.connect()

    async def test_wait_for_on_a_parked_get_leaves_the_connection_consistent(self):
        q = self.c.queue("q")
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(q.get(), 0.1)
        # the request stays parked in the daemon: the protocol cannot withdraw it
        await self.stat_is(self.o, "q", getters=1)
        self.assertEqual(await self.c.ping(), "pong")
        self.assertEqual(await self.c.buf("b").incr("n", 3), 3)
        self.assertEqual(await q.qsize(), 0)
        # an item put now goes to the cancelled get, and its reply is dropped:
        # on a redeliver = off queue that item is lost
        await self.o.queue("q").put("to the cancelled get")
        await self.stat_is(self.o, "q", getters=0, gets=1, size=0)
        await self.raises("EEMPTY", q.get_nowait())
        await self.o.queue("q").put("next")
        self.assertEqual(await q.get(), "next")
        self.assertEqual(await self.c.ping(), "pong")

    async def test_cancelled_get_on_a_redeliver_queue_gives_the_item_back_at_close(self):
        q = self.c.queue("rq")
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(q.get(), 0.1)
        await self.stat_is(self.o, "rq", getters=1)
        await self.o.queue("rq").put("leased to the connection")
        await self.stat_is(self.o, "rq", getters=0, size=0)
        self.assertEqual(await self.c.ping(), "pong")
        await self.c.close()
        st = await self.stat_is(self.o, "rq", size=1)
        self.assertEqual(st["redelivered"], 1)
        self.assertEqual(await self.o.queue("rq").get_nowait(), "leased to the connection")

    async def test_reply_to_a_cancelled_call_is_not_handed_to_the_next(self):
        q = self.c.queue("q")
        await q.put_many(["A", "B"])
        getting = asyncio.ensure_future(q.get_nowait())
        await asyncio.sleep(0)           # the request is written; its reply is due
        getting.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await getting
        # "A" went to the cancelled call, and stays with nobody
        self.assertEqual(await q.get_nowait(), "B")
        await self.raises("EEMPTY", q.get_nowait())
        self.assertEqual((await q.stat())["gets"], 2)

    async def test_cancelled_get_with_timeout_ends_in_the_daemon(self):
        q = self.c.queue("q")
        getter = asyncio.ensure_future(q.get(timeout=1.0 * SCALE))  # long enough to see it parked
        await self.stat_is(self.o, "q", getters=1)
        getter.cancel()
        await self.stat_is(self.o, "q", getters=0)     # the daemon's EEMPTY, dropped
        await self.o.queue("q").put("kept")
        self.assertEqual(await q.get(), "kept")

    async def test_many_cancelled_calls_then_correct_replies(self):
        b = self.c.buf("b")
        q = self.c.queue("q")
        tasks = [asyncio.ensure_future(q.get()) for _ in range(20)]
        tasks += [asyncio.ensure_future(b.incr("n")) for _ in range(50)]
        await asyncio.sleep(0)           # every request written
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.stat_is(self.o, "q", getters=20)
        self.assertEqual(await b.incr("n", 1000), 1050)    # the 50 cancelled incrs were done
        results = await guarded(asyncio.gather(*(b.incr("m", i) for i in range(1, 101))))
        self.assertEqual(sorted(results)[-1], sum(range(1, 101)))
        self.assertEqual(len(set(results)), 100)
        self.assertEqual(await self.c.ping(), "pong")

    async def test_timed_out_reply_is_dropped_and_the_connection_goes_on(self):
        # A daemon that answers late: the fake server holds the first reply
        # back until the second request is answered.
        def script(conn, key):
            conn.handshake(key)
            first, _, _ = conn.request()
            second, _, _ = conn.request()
            conn.send_frame(msgpack.packb([1, second, None, "second"]))
            third, _, _ = conn.request()
            conn.send_frame(msgpack.packb([1, first, None, "LATE: for the first"]))
            conn.send_frame(msgpack.packb([1, third, None, "third"]))
            conn.linger()
        fs = FakeServer(script)
        self.addCleanup(fs.close)
        c = self.keep(await guarded(qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT)))
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(c.ping())
        self.assertIn("no reply within the timeout", cm.exception.message)
        self.assertEqual(await guarded(c.ping()), "second")
        self.assertEqual(await guarded(c.ping()), "third")
        self.assertEqual(fs.errors, [])


# ---------------------------------------------------------------------------
# Values

class TestValues(AioTest):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        self.c = await self.connect()
        self.o = self.client()

    async def test_queue_round_trip(self):
        q = self.c.queue("q")
        values = ROUND_TRIP + [float("nan")]
        await asyncio.gather(*(q.put(v) for v in values))     # written in call order
        for v in values:
            got = await q.get(block=False)
            self.assertTrue(same_value(got, v), "%r came back as %r" % (str(v)[:60], str(got)[:60]))

    async def test_many_round_trip(self):
        q = self.c.queue("q")
        self.assertEqual(await q.put_many(ROUND_TRIP), len(ROUND_TRIP))
        peeked = await q.peek(len(ROUND_TRIP))
        got = await q.get_many(len(ROUND_TRIP))
        got += await q.get_many(len(ROUND_TRIP), block=False) if len(got) < len(ROUND_TRIP) else []
        self.assertEqual(len(got), len(ROUND_TRIP))
        for v, p, g in zip(ROUND_TRIP, peeked, got):
            self.assertTrue(same_value(p, v), str(v)[:60])
            self.assertTrue(same_value(g, v), str(v)[:60])

    async def test_buf_round_trip(self):
        b = self.c.buf("b")
        await asyncio.gather(*(b.set("k%d" % i, v) for i, v in enumerate(ROUND_TRIP)))
        got = await asyncio.gather(*(b.get("k%d" % i) for i in range(len(ROUND_TRIP))))
        snap = await b.copy()
        for i, v in enumerate(ROUND_TRIP):
            self.assertTrue(same_value(got[i], v), str(v)[:60])
            self.assertTrue(same_value(snap["k%d" % i], v), str(v)[:60])

    async def test_bytes_stay_bytes_and_str_stay_str(self):
        q = self.c.queue("q")
        await q.put_many([b"raw", "text", [b"\xff", "\xff"]])
        got = await q.get_many(3)
        self.assertEqual([type(x) for x in got], [bytes, str, list])
        self.assertEqual([type(x) for x in got[2]], [bytes, str])
        self.assertEqual(self.o.call("queue.put", ["q", b"from harness", 0]), None)
        self.assertIs(type(await q.get()), bytes)

    async def test_tuples_come_back_as_lists(self):
        v = (1, (2, 3), {"t": (4,)}, Point(5, 6))
        await self.c.queue("q").put(v)
        await self.c.buf("b").set("t", v)
        want = [1, [2, 3], {"t": [4]}, [5, 6]]
        self.assertTrue(same_value(await self.c.queue("q").get(), want))
        self.assertTrue(same_value(await self.c.buf("b").get("t"), want))

    async def test_unsupported_values_raise_TypeError_at_the_call(self):
        q = self.c.queue("q")
        b = self.c.buf("b")
        Tattletale.pickled = 0
        bad_values = [object(), {1, 2}, frozenset([3]), 1 + 2j, Custom(1), Tattletale(),
                      [1, object()], {"k": {1}}, (1, {2}), {"deep": [[Tattletale()]]}]
        for bad in bad_values:
            with self.subTest(value=type(bad).__name__):
                for call in (q.put(bad), q.put_nowait(bad), q.put_many(["fine", bad]),
                             b.set("k", bad), b.update(k=bad)):
                    with self.assertRaises(TypeError):
                        await call
        self.assertEqual(Tattletale.pickled, 0, "an item was pickled")
        st = self.o.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["puts"]), (0, 0))
        self.assertEqual(self.o.call("buf.len", ["b"]), 0)
        await q.put("after")
        self.assertEqual(await q.get(), "after")
        await b.set("k", "ok")
        self.assertEqual(await b.get("k"), "ok")

    async def test_int_out_of_msgpack_range_fails_at_the_call(self):
        q = self.c.queue("q")
        for bad in (2 ** 64, -2 ** 63 - 1, [2 ** 70]):
            with self.subTest(value=bad):
                with self.assertRaises((TypeError, OverflowError, ValueError)):
                    await q.put(bad)
        self.assertEqual(self.o.call("queue.stat", ["q"])["puts"], 0)
        await q.put(2 ** 64 - 1)
        self.assertEqual(await q.get(), 2 ** 64 - 1)

    async def test_serializer_pickle_for_queue_items(self):
        c = await self.connect(serializer=(pickle.dumps, pickle.loads))
        q = c.queue("q")
        items = [{1, 2}, Custom([1, 2]), Point(1, 2), (1, 2), frozenset("ab"), 1 + 2j, b"raw", None]
        for it in items:
            await q.put(it)
        for it in items:
            got = await q.get()
            self.assertEqual(got, it)
            self.assertIs(type(got), type(it))
        self.assertEqual(await q.put_many(items[:3]), 3)
        self.assertEqual(await q.peek(3), items[:3])
        self.assertEqual(await q.get_many(3), items[:3])
        b = c.buf("b")                     # bufs stay msgpack
        with self.assertRaises(TypeError):
            await b.set("k", {1, 2})
        await b.set("t", (1, 2))
        self.assertEqual(await b.get("t"), [1, 2])


# ---------------------------------------------------------------------------
# Addresses, keys, connecting

class TestAddress(AioTest):
    def setUp(self):
        super().setUp()
        self.tmp = isolate_key_env(self, "qmgr-pyclient-aio-")

    async def check(self, c, tag):
        self.assertEqual(await c.ping(), "pong")
        await c.queue("q").put(tag)
        self.assertEqual(await c.queue("q").get(), tag)

    async def test_wrong_authkey_is_AuthenticationError(self):
        o = self.client()
        for key in (b"wrong key", "x", self.d.key + b"\n"):
            with self.subTest(key=key):
                with self.assertRaises(qmgr.AuthenticationError):
                    await guarded(qmgr.aio.connect(authkey=key, address=self.addr()))
        self.assertEqual(o.call("stats", [])["auth_failures"], 3)

    async def test_authkey_str_and_bytes(self):
        key = "clé-ünïcode-" + os.urandom(4).hex()
        d = self.start_daemon(key=key.encode("utf-8"))
        await self.check(await self.connect(d, authkey=key), "str key")
        await self.check(await self.connect(d, authkey=key.encode("utf-8")), "bytes key")

    async def test_daemon_not_there_is_ConnectionError(self):
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(qmgr.aio.connect(("127.0.0.1", free_port()), self.d.key, timeout=SHORT))
        self.assertIsInstance(cm.exception, builtins.ConnectionError)
        self.assertIn("cannot connect", cm.exception.message)
        with self.assertRaises(qmgr.ConnectionError):
            await guarded(qmgr.aio.connect("unix:" + os.path.join(self.tmp, "none.sock"), self.d.key))

    async def test_address_list_first_that_answers(self):
        dead = "127.0.0.1:%d" % free_port()
        here = "127.0.0.1:%d" % self.d.port
        c = await self.connect(address="%s,%s" % (dead, here))
        self.assertEqual(str(c.address), here)
        await self.check(c, "list")
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(qmgr.aio.connect("%s,%s" % (dead, dead), self.d.key))
        self.assertIn("none of the 2 addresses answered", cm.exception.message)

    async def test_QMGR_ADDR_and_QMGR_AUTHKEY_FILE(self):
        os.environ["QMGR_ADDR"] = "127.0.0.1:%d" % self.d.port
        os.environ["QMGR_AUTHKEY_FILE"] = self.d.keyfile    # its "\n" is not part of the key
        c = self.keep(await guarded(qmgr.aio.connect()))
        await self.check(c, "all from env")
        os.environ["QMGR_AUTHKEY_FILE"] = write_key(os.path.join(self.tmp, "k2"), self.d.key + b"\n\n")
        with self.assertRaises(qmgr.AuthenticationError):
            await guarded(qmgr.aio.connect())

    async def test_unix_socket(self):
        path = os.path.join(self.tmp, "qmgrd.sock")
        d = ListenDaemon(self.OBJECTS, "unix:" + path, **self.OPTIONS)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        d.start()
        c = self.keep(await guarded(qmgr.aio.connect("unix:" + path, d.key)))
        await self.check(c, "unix")
        self.assertEqual((await c.stats())["connections"], 1)

    async def test_silent_server_ends_with_the_client_timeout(self):
        fs = FakeServer(lambda conn, key: conn.linger())
        self.addCleanup(fs.close)
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT))
        self.assertIn("no reply within the timeout", cm.exception.message)


# ---------------------------------------------------------------------------
# Hostile servers (test_pyclient's fake server)

class TestFakeServer(AioTest):
    START = False

    async def against(self, script, parked=3):
        """connect, then `parked` pings at once, against a fake server: each
        call's exception (a broken peer must fail every waiting call)."""
        fs = FakeServer(script)
        self.addCleanup(fs.close)

        async def go():
            c = self.keep(await qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT))
            return await asyncio.gather(*(c.ping() for _ in range(parked)), return_exceptions=True)
        try:
            results = await guarded(go())
        except qmgr.Error as e:
            results = [e]
        self.assertEqual(fs.errors, [])
        for r in results:
            self.assertIsInstance(r, qmgr.Error, "the client accepted it: %r" % (r,))
        return results

    async def test_sanity_fake_server_answers_ping(self):
        def script(conn, key):
            conn.handshake(key)
            while True:
                msgid, _, _ = conn.request()
                conn.send_frame(msgpack.packb([1, msgid, None, "pong"]))
        fs = FakeServer(script)
        self.addCleanup(fs.close)
        c = self.keep(await qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT))
        self.assertEqual(await guarded(asyncio.gather(c.ping(), c.ping())), ["pong", "pong"])

    async def test_challenge_goes_with_the_answer(self):
        # step 4 right behind step 2: a server that reads both before it
        # answers either still serves the client
        fs = FakeServer(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid, None, "pong"])),
            reading_ahead=True))
        self.addCleanup(fs.close)
        c = self.keep(await qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT))
        self.assertEqual(await guarded(c.ping()), "pong")
        self.assertEqual(fs.errors, [])

    async def test_garbage_frame_is_ProtocolError_for_every_waiting_call(self):
        results = await self.against(after_handshake(lambda conn, msgid: conn.send_frame(b"\xc1 junk")))
        self.assertEqual([type(r) for r in results], [qmgr.ProtocolError] * 3)

    async def test_not_a_response_is_ProtocolError(self):
        for frame in (msgpack.packb("hello"), msgpack.packb([1, 1]), msgpack.packb([0, 1, "ping", []]),
                      msgpack.packb([1, 1, None, "pong"]) + b"\x00"):
            with self.subTest(frame=frame):
                results = await self.against(after_handshake(lambda conn, msgid: conn.send_frame(frame)))
                self.assertIsInstance(results[0], qmgr.ProtocolError)

    async def test_reply_to_no_request_is_ProtocolError(self):
        results = await self.against(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid + 1000, None, "pong"]))))
        self.assertIn("a reply to no request", results[0].message)

    async def test_negative_frame_length_is_ProtocolError(self):
        results = await self.against(after_handshake(lambda conn, msgid: conn.send(b"\xff\xff\xff\xfe")))
        self.assertIsInstance(results[0], qmgr.ProtocolError)

    async def test_close_before_reply_is_ConnectionError(self):
        def script(conn, key):
            conn.handshake(key)
            conn.request()
            conn.sock.shutdown(socket.SHUT_RDWR)
        results = await self.against(script)
        self.assertEqual([type(r) for r in results], [qmgr.ConnectionError] * 3)

    async def test_no_reply_ends_with_the_client_timeout(self):
        results = await self.against(after_handshake(lambda conn, msgid: None))
        for r in results:
            self.assertIsInstance(r, qmgr.ConnectionError)
            self.assertIn("no reply within the timeout", r.message)

    async def deaf(self):
        """A client of a fake server that reads nothing after the handshake."""
        release = threading.Event()
        self.addCleanup(release.set)

        def script(conn, key):
            conn.handshake(key)
            release.wait(HANG_GUARD)
        fs = FakeServer(script)
        self.addCleanup(fs.close)
        return self.keep(await qmgr.aio.connect(("127.0.0.1", fs.port), fs.key, timeout=SHORT))

    async def test_a_peer_that_reads_nothing_ends_with_send_timed_out(self):
        c = await self.deaf()
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await guarded(c.queue("q").put(b"x" * (64 << 20)))   # more than the kernel buffers
        self.assertIn("send timed out", cm.exception.message)
        with self.assertRaises(qmgr.ConnectionError) as cm:
            await c.ping()
        self.assertIn("lost", cm.exception.message)

    async def test_close_waits_no_longer_than_the_timeout_for_a_peer_that_reads_nothing(self):
        c = await self.deaf()
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(c.queue("q").put(b"x" * (64 << 20)), 0.1)
        await guarded(c.close())

    async def test_garbage_challenge_is_ProtocolError(self):
        def script(conn, key):
            conn.send_frame(b"HELLO, this is not a challenge")
            conn.linger()
        self.assertIsInstance((await self.against(script))[0], qmgr.ProtocolError)

    async def test_server_refuses_key_is_AuthenticationError(self):
        def script(conn, key):
            conn.send_frame(b"#CHALLENGE#{sha256}" + os.urandom(40))
            conn.recv_frame()
            conn.send_frame(b"#FAILURE#")
            conn.sock.shutdown(socket.SHUT_RDWR)
        results = await self.against(script)
        self.assertIsInstance(results[0], qmgr.AuthenticationError)
        self.assertIn("refused", results[0].message)

    async def test_server_without_the_key_is_AuthenticationError(self):
        answers = []

        def script(conn, key):
            answers.append(conn.handshake(key, step5_key=b"not the key"))
            conn.linger()
        results = await self.against(script)
        self.assertIsInstance(results[0], qmgr.AuthenticationError)
        self.assertIn("does not hold the authkey", results[0].message)

        async def step6():
            return answers
        self.assertEqual(await self.until(step6, "the client's step 6"), [b"#FAILURE#"])


# ---------------------------------------------------------------------------
# TLS

class TestTLS(AioTest):
    def setUp(self):
        pki = test_pki()
        self.OPTIONS = dict(log_level="info", listen="127.0.0.1:0, tls://127.0.0.1:0",
                            tls_cert=pki["server.pem"], tls_key=pki["server.key"])
        super().setUp()

    def tls_addr(self, d=None):
        return "tls://127.0.0.1:%d" % (d or self.d).tls_port

    async def test_every_call_shape_over_tls(self):
        async with qmgr.aio.connect(self.tls_addr(), self.d.key, tls_ca=test_pki()["ca.pem"]) as c:
            self.assertEqual(str(c.address), self.tls_addr())
            q = c.queue("q")
            await q.put({"batch": ["a", "b"]})
            self.assertEqual(await q.get(timeout=1), {"batch": ["a", "b"]})
            await q.task_done()
            self.assertEqual(await q.put_many([b"x" * 200000, b"y"]), 2)
            self.assertEqual(await q.get_many(5, timeout=1), [b"x" * 200000, b"y"])
            await self.raises("EEMPTY", q.get(timeout=0.05))
            b = c.buf("b")
            self.assertEqual(await b.incr("k", 5), 5)
            self.assertEqual(await b.drain(), {"k": 5})

    async def test_concurrent_calls_and_a_parked_get_over_tls(self):
        ca = test_pki()["ca.pem"]
        c = await self.connect(address=self.tls_addr(), tls_ca=ca)
        other = await self.connect(address=self.tls_addr(), tls_ca=ca)
        getter = asyncio.ensure_future(c.queue("q").get())
        await self.stat_is(other, "q", getters=1)
        results = await guarded(asyncio.gather(*(c.buf("b").incr("n") for _ in range(200))))
        self.assertEqual(sorted(results), list(range(1, 201)))
        await other.queue("q").put(b"big" * 100000)
        self.assertEqual(await guarded(getter), b"big" * 100000)
        await c.close()
        await self.connections(other, 1)

    async def test_ca_from_the_environment(self):
        os.environ["QMGR_TLS_CA"] = test_pki()["ca.pem"]
        self.addCleanup(os.environ.pop, "QMGR_TLS_CA", None)
        c = self.keep(await guarded(qmgr.aio.connect(self.tls_addr(), self.d.key)))
        self.assertEqual(await c.ping(), "pong")

    async def test_untrusted_certificate_is_an_authentication_error(self):
        with self.assertRaises(qmgr.AuthenticationError) as cm:
            await guarded(qmgr.aio.connect(self.tls_addr(), self.d.key,
                                           tls_ca=test_pki()["rogue-ca.pem"]))
        self.assertIn("not trusted", cm.exception.message)

    async def test_host_name_is_checked(self):
        pki = test_pki()
        d = self.start_daemon(listen="tls://127.0.0.1:0", tls_cert=pki["other.pem"],
                              tls_key=pki["other.key"])          # for qmgr.invalid only
        with self.assertRaises(qmgr.AuthenticationError) as cm:
            await guarded(qmgr.aio.connect(self.tls_addr(d), d.key, tls_ca=pki["ca.pem"]))
        self.assertIn("mismatch", cm.exception.message)


# ---------------------------------------------------------------------------
# QueueManager

class TestManager(AioTest):
    async def test_basemanager_snippet(self):
        class QueueManager(qmgr.aio.QueueManager):
            pass

        QueueManager.register("get_line_queue")
        QueueManager.register("get_buf")
        m = QueueManager(address=self.addr(), authkey=self.d.key)
        await m.connect()
        self.addAsyncCleanup(m.shutdown)
        q = await m.get_line_queue()
        await q.put(b"batch")
        self.assertEqual(await q.get(), b"batch")
        await q.task_done()
        await q.join()
        buf = await m.get_buf()
        await buf.incr("lines", 3)
        self.assertIsInstance(q, qmgr.aio.QueueProxy)
        self.assertEqual(q.name, "line_queue")
        self.assertIsInstance(buf, qmgr.aio.BufProxy)
        self.assertEqual(buf.name, "flow_buf")
        o = self.client()
        st = o.call("queue.stat", ["line_queue"])
        self.assertEqual((st["puts"], st["gets"], st["unfinished"]), (1, 1, 0))
        self.assertEqual(o.call("buf.get", ["flow_buf", "lines"]), 3)
        self.assertIsInstance(m.client, qmgr.aio.Client)

    async def test_registration_is_per_class_and_apart_from_the_sync_manager(self):
        class A(qmgr.aio.QueueManager):
            pass

        class B(qmgr.aio.QueueManager):
            pass

        A.register("get_line_queue")
        self.assertTrue(hasattr(A, "get_line_queue"))
        self.assertFalse(hasattr(B, "get_line_queue"))
        self.assertFalse(hasattr(qmgr.aio.QueueManager, "get_line_queue"))
        self.assertFalse(hasattr(qmgr.QueueManager, "get_line_queue"))
        self.assertEqual(A.get_line_queue.__name__, "get_line_queue")
        A.register("get_q", callable=lambda: None, proxytype=object, exposed=("put",),
                   method_to_typeid={}, create_method=True)
        A.register("get_nothing", create_method=False)
        self.assertFalse(hasattr(A, "get_nothing"))
        async with A(address=self.addr(), authkey=self.d.key) as a:
            self.assertEqual((await a.get_q()).name, "q")
            with self.assertRaises(TypeError):
                await a.get_line_queue("an argument")

    async def test_typeid_without_accessor_is_ENOMETHOD(self):
        class M(qmgr.aio.QueueManager):
            pass

        M.register("get_nosuch")
        async with M(address=self.addr(), authkey=self.d.key) as m:
            await self.raises("ENOMETHOD", m.get_nosuch())

    async def test_connect_shutdown_and_no_server(self):
        class M(qmgr.aio.QueueManager):
            pass

        M.register("get_line_queue")
        o = await self.connect()
        m = M(address=self.addr(), authkey=self.d.key.decode(),
              serializer=(pickle.dumps, pickle.loads))
        with self.assertRaises(qmgr.ConnectionError):
            m.client
        for fn in (m.start, m.get_server, m.serve_forever):
            with self.assertRaises(NotImplementedError):
                fn()
        await m.connect()
        await m.connect()                  # once
        await self.connections(o, 2)
        q = await m.get_line_queue()
        await q.put({"a", "set"})
        self.assertEqual(await q.get(), {"a", "set"})
        await m.shutdown()
        await self.connections(o, 1)
        with self.assertRaises(qmgr.AuthenticationError):
            await M(address=self.addr(), authkey=b"nope").connect()


# ---------------------------------------------------------------------------
# Install

class TestInstall(AioTest):
    async def test_installed_package_has_qmgr_aio(self):
        build = os.environ.get("QMGR_BUILD_DIR")
        if not build:
            raise RuntimeError("QMGR_BUILD_DIR is not set: point it at the cmake build tree")
        prefix = tempfile.mkdtemp(prefix="qmgr-pyinstall-aio-")
        self.addCleanup(shutil.rmtree, prefix, True)
        r = subprocess.run([os.environ.get("QMGR_CMAKE") or "cmake", "--install", build,
                            "--prefix", prefix, "--component", "python"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        found = glob.glob(os.path.join(prefix, "**", "qmgr", "aio.py"), recursive=True)
        self.assertEqual(len(found), 1, "installed: %r" % found)
        site = os.path.dirname(os.path.dirname(found[0]))
        script = (
            "import asyncio, sys, qmgr.aio\n"
            "assert qmgr.aio.__file__.startswith(sys.argv[1]), qmgr.aio.__file__\n"
            "async def main():\n"
            "    async with qmgr.aio.connect(('127.0.0.1', int(sys.argv[2])), sys.argv[3]) as c:\n"
            "        await c.queue('q').put(['installed', 1])\n"
            "        print(await c.queue('q').get(), await c.buf('b').incr('runs'))\n"
            "asyncio.run(main())\n")
        env = {k: v for k, v in daemon_env().items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
        r = subprocess.run([sys.executable, "-c", script, site, str(self.d.port), self.d.key.decode()],
                           capture_output=True, text=True, env=env, cwd=prefix, timeout=60 * SCALE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "['installed', 1] 1")


if __name__ == "__main__":
    unittest.main()
