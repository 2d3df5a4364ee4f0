"""The Python client package (client/python/src/qmgr, the issue-11 client API)
against a real qmgrd: every QueueProxy and BufProxy method and exception, the
BaseManager-style QueueManager, addresses and authkeys, hostile fake servers,
values, fork and thread safety, reconnect across a daemon restart, pipelines
and `cmake --install` of the package.

ctest runs one entry per class (pyclient.cmake) with PYTHONPATH set to the
source tree (client/python/src); TestInstall installs the package from
$QMGR_BUILD_DIR with $QMGR_CMAKE into a temporary prefix and imports it from
there with a clean PYTHONPATH.

Not repeated here: Python 3.11's own multiprocessing.connection.Client
against a daemon with auth_legacy_md5 = on (works) and off / unset (refused)
is covered by test_python_client.py (TestLegacyOn, TestLegacyOff,
TestLegacyDefault).

As everywhere in these suites nothing synchronises with a sleep: a test that
must know the daemon reached a state (a request parked, a connection gone)
polls `clients`, `stats` or `queue.stat` in a deadline loop; a call that
would hang if the client were wrong runs in a thread joined with a generous
deadline, and the test fails if it is still running then.
"""

import builtins
import collections
import collections.abc
import faulthandler
import glob
import math
import multiprocessing
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
from qmgr.proxies import BufProxy, QueueProxy

from dur_lib import DurDaemon
from fakeserver import CHALLENGE, FAILURE, SHA, FakeServer, after_handshake
from qmgrtest import (
    CALL_TIMEOUT, CLOSE_TIMEOUT, SCALE, STARTUP_TIMEOUT, Daemon, DaemonTest, HoldingProxy,
    QUEUE_STAT_FIELDS, daemon_env, qmgrd_path, wait_connections, wait_until, wait_waiting_on,
)

OBJECTS = """
[queue q]
redeliver = off

[queue small]
maxsize = 2
redeliver = off

[queue other]
redeliver = off

[queue line_queue]
maxsize = 200
redeliver = off

[buf b]

[buf flow_buf]
accessor = get_buf
"""

OBJECT_NAMES = {"q", "small", "other", "line_queue", "b", "flow_buf"}

CODES = dict(ENOENT=1, ETYPE=2, EFULL=3, EEMPTY=4, ETIMEOUT=5, EBADREQ=6, ENOMETHOD=7,
             ETOOBIG=8, ENOMEM=9, EVALUE=10, ENOKEY=11, ENOTNUM=12, ERANGE=13, ESHUTDOWN=14)

# How long a call that the client must end by itself (an error, its own
# timeout) may take before the test calls it a hang. Generous: only a broken
# client gets near it.
HANG_GUARD = CLOSE_TIMEOUT
# The client timeout of the tests that expect the client to give up.
SHORT = 1.0

# A test still running after this long is hung (a blocking call that should
# not have blocked, in the test's own thread): dump every thread's traceback
# and exit, so the ctest entry fails with the place instead of timing out.
WATCHDOG = 120.0 * SCALE

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63


def run_bounded(fn, guard=HANG_GUARD):
    """Runs fn() in a thread: (finished, result, exception)."""
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: B902 - reported to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(guard)
    return not t.is_alive(), box.get("result"), box.get("error")


class Background:
    """fn() running in a thread; result() joins it (failing on a hang) and
    returns its value or raises its exception."""

    def __init__(self, fn):
        self.box = {}
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.box["result"] = fn()
        except BaseException as e:  # noqa: B902
            self.box["error"] = e

    def done(self):
        return not self.thread.is_alive()

    def join(self, guard=HANG_GUARD):
        self.thread.join(guard)
        if self.thread.is_alive():
            raise AssertionError("a call in a background thread did not return within %.0fs" % guard)
        return self.box.get("result"), self.box.get("error")

    def result(self, guard=HANG_GUARD):
        r, e = self.join(guard)
        if e is not None:
            raise e
        return r


class PyClientTest(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")

    def setUp(self):
        self.qclients = []
        faulthandler.dump_traceback_later(WATCHDOG, exit=True)
        self.addCleanup(faulthandler.cancel_dump_traceback_later)
        super().setUp()

    def tearDown(self):
        for c in self.qclients:
            try:
                c.close()
            except Exception:
                pass
        super().tearDown()

    def addr(self, d=None):
        return ("127.0.0.1", (d or self.d).port)

    def connect(self, d=None, **kw):
        """qmgr.connect to the daemon d (self.d) with its key; closed at the end."""
        d = d or self.d
        kw.setdefault("address", self.addr(d))
        kw.setdefault("authkey", d.key)
        kw.setdefault("timeout", CALL_TIMEOUT)
        c = qmgr.connect(**kw)
        self.qclients.append(c)
        return c

    def keep(self, c):
        self.qclients.append(c)
        return c

    def obs(self, d=None):
        """An observer: the harness's own plain-socket client."""
        return self.client(d)

    def assertCode(self, exc, name):
        self.assertIsInstance(exc, getattr(qmgr, name))
        self.assertIsInstance(exc, qmgr.Error)
        self.assertEqual(exc.code, CODES[name])
        self.assertIsInstance(exc.message, str)
        self.assertTrue(exc.message, "an empty message for %s" % name)


# ---------------------------------------------------------------------------
# Errors

class TestErrors(PyClientTest):
    OPTIONS = dict(log_level="info", max_item="1K")

    def test_class_hierarchy(self):
        self.assertTrue(issubclass(qmgr.Error, Exception))
        classes = set()
        for name in CODES:
            cls = getattr(qmgr, name)
            self.assertTrue(issubclass(cls, qmgr.Error), name)
            self.assertIs(getattr(qmgr.errors, name), cls, name)
            classes.add(cls)
        self.assertEqual(len(classes), len(CODES))
        self.assertTrue(issubclass(qmgr.EFULL, queue.Full))
        self.assertTrue(issubclass(qmgr.EEMPTY, queue.Empty))
        self.assertTrue(issubclass(qmgr.ETIMEOUT, builtins.TimeoutError))
        self.assertTrue(issubclass(qmgr.ENOKEY, KeyError))
        self.assertTrue(issubclass(qmgr.EVALUE, ValueError))
        self.assertTrue(issubclass(qmgr.ConnectionError, qmgr.Error))
        self.assertTrue(issubclass(qmgr.ConnectionError, builtins.ConnectionError))
        self.assertTrue(issubclass(qmgr.AuthenticationError, qmgr.Error))
        self.assertTrue(issubclass(qmgr.ProtocolError, qmgr.Error))
        for name in ("ConnectionError", "AuthenticationError", "ProtocolError", "Error"):
            self.assertIs(getattr(qmgr.errors, name), getattr(qmgr, name), name)
        # the error classes that are not the queue/key/value ones stay out of
        # the other hierarchies
        self.assertFalse(issubclass(qmgr.ENOENT, (queue.Full, queue.Empty, KeyError)))
        self.assertFalse(issubclass(qmgr.EFULL, queue.Empty))
        self.assertFalse(issubclass(qmgr.EEMPTY, queue.Full))

    def raises(self, name, fn, *args, **kw):
        with self.assertRaises(getattr(qmgr, name)) as cm:
            fn(*args, **kw)
        self.assertCode(cm.exception, name)
        return cm.exception

    def test_every_daemon_code_from_real_calls(self):
        c = self.connect()
        q, small, b = c.queue("q"), c.queue("small"), c.buf("b")
        self.raises("ENOENT", c.lookup, "nosuch")
        self.raises("ENOENT", lambda: c.queue("nosuch").qsize())
        self.raises("ETYPE", lambda: c.queue("b").qsize())
        self.raises("ETYPE", lambda: len(c.buf("q")))
        small.put(1)
        small.put(2)
        self.raises("EFULL", small.put, 3, block=False)
        self.raises("EEMPTY", q.get, block=False)
        q.put("unfinished")
        self.raises("ETIMEOUT", q.join, timeout=0.05)
        self.raises("EBADREQ", c.call, "ping", [1])
        self.raises("ENOMETHOD", c.call, "no.such.method", [])
        self.raises("ETOOBIG", q.put, b"x" * 2000)
        self.raises("EVALUE", small.task_done, 3)
        self.raises("ENOKEY", b.__getitem__, "missing")
        b["s"] = "text"
        self.raises("ENOTNUM", b.incr, "s")
        b.incr("big", INT64_MAX)
        self.raises("ERANGE", b.incr, "big", 1)
        self.assertEqual(c.ping(), "pong")

    def test_ENOMEM(self):
        d = self.start_daemon(max_memory="1M", max_item="200K")
        q = self.connect(d).queue("q")
        with self.assertRaises(qmgr.ENOMEM) as cm:
            for _ in range(100):
                q.put(b"m" * (150 * 1024))
        self.assertCode(cm.exception, "ENOMEM")
        self.assertGreater(q.qsize(), 0)

    def test_ESHUTDOWN_for_a_get_parked_at_stop(self):
        c = self.connect()
        obs = self.obs()
        bg = Background(lambda: c.queue("q").get())
        wait_waiting_on(obs, "q", 1)
        obs.close()
        self.stop_daemon(self.d)
        _, err = bg.join()
        self.assertIsNotNone(err, "the parked get returned at stop")
        self.assertCode(err, "ESHUTDOWN")


# ---------------------------------------------------------------------------
# QueueProxy

class TestQueueProxy(PyClientTest):
    def setUp(self):
        super().setUp()
        self.c = self.connect()
        self.o = self.obs()

    def test_proxy_type_and_name(self):
        q = self.c.queue("q")
        self.assertIsInstance(q, QueueProxy)
        self.assertEqual(q.name, "q")
        self.assertEqual(self.c.queue("small").name, "small")

    def test_put_get_fifo(self):
        q = self.c.queue("q")
        for i in range(5):
            self.assertIsNone(q.put(i))
        self.assertEqual(self.o.call("queue.qsize", ["q"]), 5)
        self.assertEqual([q.get() for _ in range(5)], [0, 1, 2, 3, 4])
        st = self.o.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["puts"], st["gets"], st["unfinished"]), (0, 5, 5, 5))

    def test_put_nowait_get_nowait(self):
        q = self.c.queue("small")
        self.assertIsNone(q.put_nowait("a"))
        self.assertIsNone(q.put_nowait("b"))
        with self.assertRaises(queue.Full) as cm:
            q.put_nowait("c")
        self.assertCode(cm.exception, "EFULL")
        self.assertEqual(q.get_nowait(), "a")
        self.assertEqual(q.get_nowait(), "b")
        with self.assertRaises(queue.Empty) as cm:
            q.get_nowait()
        self.assertCode(cm.exception, "EEMPTY")

    def test_get_on_empty_raises_queue_Empty(self):
        q = self.c.queue("q")
        with self.assertRaises(queue.Empty) as cm:
            q.get(block=False)
        self.assertCode(cm.exception, "EEMPTY")
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.05)
        with self.assertRaises(queue.Empty):
            q.get(True, 0.01)
        self.assertEqual(self.o.call("queue.stat", ["q"])["getters"], 0)

    def test_get_block_false_ignores_timeout(self):
        # Python: with block=False the timeout is ignored. Were it sent, this
        # get would park for an hour (nobody puts): the guard catches that.
        q = self.c.queue("q")
        done, _, err = run_bounded(lambda: q.get(False, 3600))
        self.assertTrue(done, "get(block=False, timeout=3600) waited")
        self.assertIsInstance(err, queue.Empty)

    def test_put_on_full_raises_queue_Full(self):
        q = self.c.queue("small")
        q.put(1)
        q.put(2)
        self.assertTrue(q.full())
        with self.assertRaises(queue.Full) as cm:
            q.put(3, block=False)
        self.assertCode(cm.exception, "EFULL")
        with self.assertRaises(queue.Full):
            q.put(3, timeout=0.05)
        with self.assertRaises(queue.Full):
            q.put(3, True, 0.01)
        done, _, err = run_bounded(lambda: q.put(3, False, 3600))
        self.assertTrue(done, "put(block=False, timeout=3600) waited")
        self.assertIsInstance(err, queue.Full)
        self.assertEqual(q.qsize(), 2)
        self.assertEqual(q.peek(5), [1, 2])

    def test_get_blocks_until_an_item_arrives(self):
        q = self.c.queue("q")
        bg = Background(q.get)
        wait_waiting_on(self.o, "q", 1)
        self.assertFalse(bg.done())
        self.o.call("queue.put", ["q", "late", 0])
        self.assertEqual(bg.result(), "late")

    def test_get_with_timeout_is_served_by_a_later_put(self):
        q = self.c.queue("q")
        bg = Background(lambda: q.get(timeout=3600))
        wait_waiting_on(self.o, "q", 1)
        self.o.call("queue.put", ["q", {"k": 1}, 0])
        self.assertEqual(bg.result(), {"k": 1})

    def test_put_blocks_until_room(self):
        q = self.c.queue("small")
        q.put(1)
        q.put(2)
        bg = Background(lambda: q.put(3))
        wait_waiting_on(self.o, "small", 1)
        self.assertEqual(self.o.call("queue.get", ["small", 0]), 1)
        self.assertIsNone(bg.result())
        self.assertEqual(self.o.call("queue.peek", ["small", 5]), [2, 3])

    def test_qsize_empty_full(self):
        q = self.c.queue("small")
        self.assertEqual(q.qsize(), 0)
        self.assertIs(q.empty(), True)
        self.assertIs(q.full(), False)
        q.put("x")
        self.assertEqual(q.qsize(), 1)
        self.assertIs(q.empty(), False)
        self.assertIs(q.full(), False)
        q.put("y")
        self.assertEqual(q.qsize(), 2)
        self.assertIs(q.full(), True)
        # unbounded: never full
        u = self.c.queue("q")
        u.put_many(list(range(50)))
        self.assertIs(u.full(), False)
        self.assertEqual(u.qsize(), 50)

    def test_task_done_and_EVALUE(self):
        q = self.c.queue("q")
        q.put("a")
        q.put("b")
        q.get()
        q.get()
        self.assertIsNone(q.task_done())
        self.assertEqual(self.o.call("queue.stat", ["q"])["unfinished"], 1)
        self.assertIsNone(q.task_done())
        with self.assertRaises(ValueError) as cm:
            q.task_done()
        self.assertCode(cm.exception, "EVALUE")
        self.assertEqual(self.o.call("queue.stat", ["q"])["unfinished"], 0)

    def test_task_done_n(self):
        q = self.c.queue("q")
        q.put_many([1, 2, 3])
        q.get_many(3)
        with self.assertRaises(qmgr.EVALUE):
            q.task_done(4)
        self.assertEqual(self.o.call("queue.stat", ["q"])["unfinished"], 3)
        self.assertIsNone(q.task_done(2))
        self.assertEqual(self.o.call("queue.stat", ["q"])["unfinished"], 1)
        self.assertIsNone(q.task_done(n=1))
        self.assertEqual(self.o.call("queue.stat", ["q"])["unfinished"], 0)

    def test_join_timeout_raises_ETIMEOUT(self):
        q = self.c.queue("q")
        self.assertIsNone(q.join())          # nothing unfinished: at once
        self.assertIsNone(q.join(timeout=0.05))
        q.put("work")
        with self.assertRaises(TimeoutError) as cm:
            q.join(timeout=0.05)
        self.assertCode(cm.exception, "ETIMEOUT")
        with self.assertRaises(qmgr.ETIMEOUT):
            q.join(timeout=0)
        q.get()
        q.task_done()
        self.assertIsNone(q.join(timeout=0.05))

    def test_join_blocks_until_task_done(self):
        q = self.c.queue("q")
        q.put("work")
        self.assertEqual(q.get(), "work")
        joiner = self.connect()
        bg = Background(lambda: joiner.queue("q").join())
        wait_waiting_on(self.o, "q", 1)
        self.assertFalse(bg.done())
        q.task_done()
        self.assertIsNone(bg.result())

    def test_put_many_get_many(self):
        q = self.c.queue("q")
        self.assertEqual(q.put_many([1, 2, 3]), 3)
        self.assertEqual(q.put_many(["a"]), 1)
        self.assertEqual(q.get_many(2), [1, 2])
        self.assertEqual(q.get_many(10), [3, "a"])
        with self.assertRaises(queue.Empty) as cm:
            q.get_many(5, block=False)
        self.assertCode(cm.exception, "EEMPTY")
        with self.assertRaises(queue.Empty):
            q.get_many(5, timeout=0.05)
        self.assertEqual(q.put_many([]), 0)

    def test_put_many_on_bounded_queue(self):
        s = self.c.queue("small")
        self.assertEqual(s.put_many(["x", "y", "z"], timeout=0), 2)
        self.assertEqual(s.peek(5), ["x", "y"])
        with self.assertRaises(queue.Full) as cm:
            s.put_many(["w"], timeout=0)
        self.assertCode(cm.exception, "EFULL")
        with self.assertRaises(queue.Full):
            s.put_many(["w"], timeout=0.05)

    def test_get_many_waits_for_the_first_item(self):
        q = self.c.queue("q")
        bg = Background(lambda: q.get_many(10))
        wait_waiting_on(self.o, "q", 1)
        self.o.call("queue.put_many", ["q", ["i0", "i1", "i2"], 0])
        got = bg.result()
        self.assertGreaterEqual(len(got), 1)
        self.assertEqual(got, ["i0", "i1", "i2"][:len(got)])
        rest = q.get_many(10, block=False) if len(got) < 3 else []
        self.assertEqual(got + rest, ["i0", "i1", "i2"])

    def test_peek(self):
        q = self.c.queue("q")
        self.assertEqual(q.peek(), [])
        q.put_many(["a", "b", "c"])
        self.assertEqual(q.peek(), ["a"])
        self.assertEqual(q.peek(2), ["a", "b"])
        self.assertEqual(q.peek(n=10), ["a", "b", "c"])
        self.assertEqual(q.qsize(), 3)
        self.assertEqual(q.get(), "a")

    def test_purge(self):
        q = self.c.queue("q")
        q.put_many(list(range(7)))
        self.assertEqual(q.purge(), 7)
        self.assertEqual(q.qsize(), 0)
        self.assertEqual(q.purge(), 0)

    def test_stat(self):
        q = self.c.queue("small")
        q.put("x")
        st = q.stat()
        self.assertIsInstance(st, dict)
        self.assertTrue(QUEUE_STAT_FIELDS <= set(st), set(st))
        self.assertEqual((st["size"], st["maxsize"], st["puts"], st["unfinished"]), (1, 2, 1, 1))
        self.assertEqual(st, self.o.call("queue.stat", ["small"]))

    def test_unknown_and_wrong_type(self):
        with self.assertRaises(qmgr.ENOENT):
            self.c.queue("nosuch").put(1)
        with self.assertRaises(qmgr.ETYPE):
            self.c.queue("b").get(block=False)
        self.assertEqual(self.c.ping(), "pong")

    def test_negative_timeout_is_ValueError(self):
        # queue.Queue: "'timeout' must be a non-negative number" (ValueError)
        q = self.c.queue("q")
        with self.assertRaises(ValueError):
            q.get(timeout=-1)
        with self.assertRaises(ValueError):
            q.put(1, timeout=-1)
        self.assertEqual(q.qsize(), 0)

    def test_same_exceptions_as_queue_Queue(self):
        """Each call raises what queue.Queue(maxsize=2) raises in the same state."""
        proxy = self.c.queue("small")
        local = queue.Queue(maxsize=2)
        calls = [
            ("get", (False,)), ("get", (True, 0.01)), ("get_nowait", ()),
            ("task_done", ()),
        ]
        for name, args in calls:
            with self.subTest(call=name, args=args, state="empty"):
                with self.assertRaises(Exception) as want:
                    getattr(local, name)(*args)
                with self.assertRaises(type(want.exception)):
                    getattr(proxy, name)(*args)
        for item in ("x", "y"):
            local.put(item)
            proxy.put(item)
        for name, args in [("put", ("z", False)), ("put", ("z", True, 0.01)), ("put_nowait", ("z",))]:
            with self.subTest(call=name, args=args, state="full"):
                with self.assertRaises(Exception) as want:
                    getattr(local, name)(*args)
                with self.assertRaises(type(want.exception)):
                    getattr(proxy, name)(*args)
        self.assertEqual((proxy.qsize(), proxy.full(), proxy.empty()),
                         (local.qsize(), local.full(), local.empty()))


# ---------------------------------------------------------------------------
# BufProxy

class TestBufProxy(PyClientTest):
    def setUp(self):
        super().setUp()
        self.c = self.connect()
        self.o = self.obs()
        self.b = self.c.buf("b")

    def test_is_a_MutableMapping(self):
        self.assertIsInstance(self.b, BufProxy)
        self.assertIsInstance(self.b, collections.abc.MutableMapping)
        self.assertEqual(self.b.name, "b")

    def test_set_get_del_len(self):
        b = self.b
        self.assertEqual(len(b), 0)
        b["a"] = 1
        b["s"] = "str"
        b["l"] = [1, {"x": b"y"}]
        self.assertEqual(len(b), 3)
        self.assertEqual(self.o.call("buf.len", ["b"]), 3)
        self.assertEqual(b["a"], 1)
        self.assertEqual(b["l"], [1, {"x": b"y"}])
        self.assertEqual(self.o.call("buf.get", ["b", "s"]), "str")
        b["a"] = 2
        self.assertEqual(b["a"], 2)
        del b["a"]
        self.assertEqual(len(b), 2)
        self.assertNotIn("a", b)
        self.assertIn("s", b)

    def test_missing_key_is_KeyError(self):
        b = self.b
        with self.assertRaises(KeyError) as cm:
            b["missing"]
        self.assertCode(cm.exception, "ENOKEY")
        with self.assertRaises(KeyError) as cm:
            del b["missing"]
        self.assertCode(cm.exception, "ENOKEY")
        self.assertIsNone(b.get("missing"))
        self.assertEqual(b.get("missing", 42), 42)
        b["k"] = 0
        self.assertEqual(b.get("k", 42), 0)
        self.assertNotIn("missing", b)

    def test_iteration_keys_values_items(self):
        b = self.b
        want = {"a": 1, "b": 2.5, "c": "three", "d": None}
        for k, v in want.items():
            b[k] = v
        self.assertEqual(sorted(b), sorted(want))
        self.assertEqual(sorted(b.keys()), sorted(want))
        self.assertEqual(sorted(map(repr, b.values())), sorted(map(repr, want.values())))
        self.assertEqual(dict(b.items()), want)
        self.assertEqual(dict(b), want)
        self.assertEqual(self.o.call("buf.items", ["b"]), want)

    def test_incr(self):
        b = self.b
        self.assertEqual(b.incr("n"), 1)           # a missing key starts from 0
        self.assertEqual(b.incr("n", 5), 6)
        self.assertEqual(b.incr("n", -10), -4)
        r = b.incr("n", 0.5)
        self.assertIsInstance(r, float)
        self.assertEqual(r, -3.5)
        self.assertEqual(b.incr("f", 0.25), 0.25)
        i = b.incr("i", 3)
        self.assertIs(type(i), int)
        self.assertEqual(b["n"], -3.5)
        self.assertEqual(self.o.call("buf.get", ["b", "i"]), 3)

    def test_incr_many_all_or_nothing(self):
        b = self.b
        self.assertIsNone(b.incr_many({"a": 1, "b": 2.5}))
        self.assertIsNone(b.incr_many({"a": 2}))
        self.assertEqual(dict(b.items()), {"a": 3, "b": 2.5})
        b["text"] = "not a number"
        with self.assertRaises(qmgr.ENOTNUM):
            b.incr_many({"a": 100, "new": 1, "text": 1})
        self.assertEqual(dict(b.items()), {"a": 3, "b": 2.5, "text": "not a number"})

    def test_drain_and_clear(self):
        b = self.b
        b.incr_many({"x": 1, "y": 2})
        self.assertEqual(b.drain(), {"x": 1, "y": 2})
        self.assertEqual(len(b), 0)
        self.assertEqual(b.drain(), {})
        b["z"] = 1
        b["w"] = 2
        self.assertIsNone(b.clear())
        self.assertEqual(len(b), 0)
        self.assertEqual(self.o.call("buf.items", ["b"]), {})

    def test_augmented_assignment_and_mixins(self):
        b = self.b
        b["n"] = 1
        b["n"] += 4          # read then write (not atomic; incr is)
        self.assertEqual(b["n"], 5)
        b.update({"u": 1, "v": 2})
        self.assertEqual(b["v"], 2)
        self.assertEqual(b.pop("u"), 1)
        self.assertNotIn("u", b)
        self.assertEqual(b.setdefault("sd", 7), 7)
        self.assertEqual(b.setdefault("sd", 8), 7)
        self.assertEqual(b.pop("nope", "dflt"), "dflt")

    def test_accessor_named_buf(self):
        b = self.c.buf("flow_buf")
        b.incr("lines", 2)
        self.assertEqual(self.o.call("buf.get", ["flow_buf", "lines"]), 2)

    def test_unknown_and_wrong_type(self):
        with self.assertRaises(qmgr.ENOENT):
            self.c.buf("nosuch")["k"] = 1
        with self.assertRaises(qmgr.ETYPE):
            self.c.buf("q").incr("k")
        self.assertEqual(self.c.ping(), "pong")


# ---------------------------------------------------------------------------
# Client

class TestClient(PyClientTest):
    def test_ping_stats_objects_clients_lookup(self):
        c = self.connect()
        o = self.obs()
        self.assertEqual(c.ping(), "pong")
        st = c.stats()
        self.assertIsInstance(st, dict)
        self.assertTrue({"version", "uptime_s", "connections", "memory_bytes", "ops"} <= set(st), st)
        self.assertEqual(st["connections"], 2)
        objs = c.objects()
        self.assertIsInstance(objs, list)
        self.assertEqual({x["name"] for x in objs}, OBJECT_NAMES)
        rows = c.clients()
        self.assertIsInstance(rows, list)
        self.assertEqual(len(rows), 2)
        for r in rows:
            self.assertTrue({"id", "peer", "since_s", "ops", "waiting_on"} <= set(r), r)
        d = c.lookup("q")
        self.assertEqual(d, o.call("lookup", ["q"]))
        self.assertEqual((d["name"], d["type"]), ("q", "queue"))
        self.assertEqual(c.lookup("flow_buf")["type"], "buf")
        with self.assertRaises(qmgr.ENOENT):
            c.lookup("nosuch")

    def test_raw_call(self):
        c = self.connect()
        self.assertIsNone(c.call("queue.put", ["q", [1, "two"], 0]))
        self.assertEqual(c.call("queue.get", ["q", 0]), [1, "two"])
        self.assertEqual(c.call("get_buf", []), c.lookup("flow_buf"))
        with self.assertRaises(qmgr.ENOMETHOD):
            c.call("nosuch", [])
        self.assertEqual(c.call("ping", []), "pong")

    def test_close_drops_the_connection(self):
        o = self.obs()
        c = qmgr.connect(self.addr(), authkey=self.d.key)
        c.ping()
        wait_connections(o, 2)
        c.close()
        wait_connections(o, 1)

    def test_context_manager_closes(self):
        o = self.obs()
        with qmgr.connect(self.addr(), authkey=self.d.key) as c:
            self.assertIsInstance(c, qmgr.Client)
            c.queue("q").put("in with")
            wait_connections(o, 2)
        wait_connections(o, 1)
        self.assertEqual(o.call("queue.get", ["q", 0]), "in with")

    def test_context_manager_closes_on_exception(self):
        o = self.obs()
        with self.assertRaises(queue.Empty):
            with qmgr.connect(self.addr(), authkey=self.d.key) as c:
                wait_connections(o, 2)
                c.queue("q").get(block=False)
        wait_connections(o, 1)

    def test_rpc_timeout_adds_to_client_timeout(self):
        # A get whose timeout is longer than the client's own timeout waits for
        # the daemon's answer (EEMPTY), not for the client timeout.
        c = self.connect(timeout=0.2)
        with self.assertRaises(queue.Empty) as cm:
            c.queue("q").get(timeout=0.6)
        self.assertCode(cm.exception, "EEMPTY")
        self.assertEqual(c.ping(), "pong")

    def test_blocking_get_outlives_client_timeout(self):
        c = self.connect(timeout=0.2)
        o = self.obs()
        bg = Background(lambda: c.queue("q").get())
        wait_waiting_on(o, "q", 1)
        # the client must still be waiting well past its own timeout
        bg.thread.join(1.0)
        self.assertFalse(bg.done(), "a get(timeout=None) gave up: %r" % (bg.box,))
        o.call("queue.put", ["q", "eventually", 0])
        self.assertEqual(bg.result(), "eventually")

    def test_items_interoperate_with_other_clients(self):
        c = self.connect()
        o = self.obs()
        c.queue("q").put({"a": b"x", "n": [1, 2]})
        self.assertEqual(o.call("queue.get", ["q", 0]), {"a": b"x", "n": [1, 2]})
        o.call("queue.put", ["q", ["from", "harness", None], 0])
        self.assertEqual(c.queue("q").get(), ["from", "harness", None])


# ---------------------------------------------------------------------------
# Values

class Tattletale:
    """Records being pickled: no item may ever be."""
    pickled = 0

    def __reduce__(self):
        Tattletale.pickled += 1
        return (Tattletale, ())


Point = collections.namedtuple("Point", "x y")


class Custom:
    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return isinstance(other, Custom) and other.v == self.v


ROUND_TRIP = [
    None, True, False, 0, 1, -1, 127, 128, 255, 256, -32, -33, 65535, 65536, 2 ** 31, 2 ** 32,
    INT64_MAX, INT64_MIN, 2 ** 64 - 1, -(2 ** 40),
    0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, float("inf"), float("-inf"),
    "", "str", "ünïcødé ✓ 漢字", "x" * 70000,
    b"", b"\x00\xff", bytes(range(256)) * 400,
    [], {}, [1, [2, [3, [None]]]],
    {"a": {"b": [1, 2.5, b"x", None, True]}, "": 0, "list": [{"k": []}]},
    {1: "int key", -5: "negative key"},
]


def same_value(a, b):
    """Equality that also tells bool from int, -0.0 from 0.0, and types apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return set(a) == set(b) and all(same_value(a[k], b[k]) for k in a)
    return a == b


class TestValues(PyClientTest):
    def setUp(self):
        super().setUp()
        self.c = self.connect()
        self.o = self.obs()

    def test_queue_round_trip(self):
        q = self.c.queue("q")
        for v in ROUND_TRIP + [float("nan")]:
            q.put(v)
        for v in ROUND_TRIP + [float("nan")]:
            got = q.get(block=False)
            self.assertTrue(same_value(got, v), "%r came back as %r" % (str(v)[:60], str(got)[:60]))

    def test_many_round_trip(self):
        q = self.c.queue("q")
        self.assertEqual(q.put_many(ROUND_TRIP), len(ROUND_TRIP))
        peeked = q.peek(len(ROUND_TRIP))
        got = q.get_many(len(ROUND_TRIP))
        got += q.get_many(len(ROUND_TRIP), block=False) if len(got) < len(ROUND_TRIP) else []
        for v, p, g in zip(ROUND_TRIP, peeked, got):
            self.assertTrue(same_value(p, v), str(v)[:60])
            self.assertTrue(same_value(g, v), str(v)[:60])
        self.assertEqual(len(got), len(ROUND_TRIP))

    def test_buf_round_trip(self):
        b = self.c.buf("b")
        for i, v in enumerate(ROUND_TRIP):
            b["k%d" % i] = v
        for i, v in enumerate(ROUND_TRIP):
            self.assertTrue(same_value(b["k%d" % i], v), str(v)[:60])
        snap = dict(b.items())
        self.assertEqual(len(snap), len(ROUND_TRIP))
        for i, v in enumerate(ROUND_TRIP):
            self.assertTrue(same_value(snap["k%d" % i], v), str(v)[:60])

    def test_tuples_come_back_as_lists(self):
        q = self.c.queue("q")
        b = self.c.buf("b")
        v = (1, (2, 3), {"t": (4,)}, Point(5, 6))
        q.put(v)
        b["t"] = v
        want = [1, [2, 3], {"t": [4]}, [5, 6]]
        self.assertTrue(same_value(q.get(), want))
        self.assertTrue(same_value(b["t"], want))

    def test_unsupported_values_raise_TypeError_at_the_call(self):
        q = self.c.queue("q")
        b = self.c.buf("b")
        Tattletale.pickled = 0
        bad_values = [object(), {1, 2}, frozenset([3]), 1 + 2j, Custom(1), Tattletale(),
                      [1, object()], {"k": {1}}, (1, {2}), {"deep": [[Tattletale()]]}]
        for bad in bad_values:
            with self.subTest(value=type(bad).__name__):
                with self.assertRaises(TypeError):
                    q.put(bad)
                with self.assertRaises(TypeError):
                    q.put_nowait(bad)
                with self.assertRaises(TypeError):
                    q.put_many(["fine", bad])
                with self.assertRaises(TypeError):
                    b["k"] = bad
        self.assertEqual(Tattletale.pickled, 0, "an item was pickled")
        # nothing reached the daemon, and the connection is intact
        st = self.o.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["puts"]), (0, 0))
        self.assertEqual(self.o.call("buf.len", ["b"]), 0)
        q.put("after")
        self.assertEqual(q.get(), "after")
        b["k"] = "ok"
        self.assertEqual(b["k"], "ok")

    def test_int_out_of_msgpack_range_fails_at_the_call(self):
        # Not a TypeError case by the spec's letter (it is an int), but it must
        # fail before anything is sent and leave the connection usable.
        q = self.c.queue("q")
        for bad in (2 ** 64, -2 ** 63 - 1, [2 ** 70]):
            with self.subTest(value=bad):
                with self.assertRaises((TypeError, OverflowError, ValueError)):
                    q.put(bad)
        self.assertEqual(self.o.call("queue.stat", ["q"])["puts"], 0)
        q.put(2 ** 64 - 1)
        self.assertEqual(q.get(), 2 ** 64 - 1)

    def test_serializer_pickle_for_queue_items(self):
        c = self.connect(serializer=(pickle.dumps, pickle.loads))
        q = c.queue("q")
        items = [{1, 2}, Custom([1, 2]), Point(1, 2), (1, 2), frozenset("ab"), 1 + 2j, b"raw", None]
        for it in items:
            q.put(it)
        for it in items:
            got = q.get()
            self.assertEqual(got, it)
            self.assertIs(type(got), type(it))
        self.assertEqual(q.put_many(items[:3]), 3)
        self.assertEqual(q.peek(3), items[:3])
        self.assertEqual(q.get_many(3), items[:3])
        # bufs stay msgpack
        b = c.buf("b")
        with self.assertRaises(TypeError):
            b["k"] = {1, 2}
        b["t"] = (1, 2)
        self.assertEqual(b["t"], [1, 2])
        self.assertEqual(b.incr("n", 2), 2)
        self.assertEqual(self.o.call("buf.get", ["b", "t"]), [1, 2])


# ---------------------------------------------------------------------------
# QueueManager

class TestManager(PyClientTest):
    def test_basemanager_snippet(self):
        port, key = self.d.port, self.d.key
        # --- the snippet, as a BaseManager client writes it ---
        class QueueManager(qmgr.QueueManager):
            pass

        QueueManager.register('get_line_queue')
        QueueManager.register('get_buf')
        m = QueueManager(address=('127.0.0.1', port), authkey=key)
        m.connect()
        q = m.get_line_queue()
        q.put(b'batch')
        item = q.get()
        q.task_done()
        q.join()
        buf = m.get_buf()
        buf.incr('lines', 3)
        # --- end of the snippet ---
        self.addCleanup(m.shutdown)
        self.assertEqual(item, b'batch')
        self.assertIsInstance(q, QueueProxy)
        self.assertEqual(q.name, "line_queue")
        self.assertIsInstance(buf, BufProxy)
        self.assertEqual(buf.name, "flow_buf")
        o = self.obs()
        st = o.call("queue.stat", ["line_queue"])
        self.assertEqual((st["puts"], st["gets"], st["unfinished"], st["size"]), (1, 1, 0, 0))
        self.assertEqual(o.call("buf.get", ["flow_buf", "lines"]), 3)

    def test_registration_is_per_class(self):
        class A(qmgr.QueueManager):
            pass

        class B(qmgr.QueueManager):
            pass

        A.register("get_line_queue")

        class C(A):
            pass

        C.register("get_buf")
        self.assertTrue(hasattr(A, "get_line_queue"))
        self.assertTrue(hasattr(C, "get_line_queue"))    # inherited, as BaseManager
        self.assertTrue(hasattr(C, "get_buf"))
        self.assertFalse(hasattr(A, "get_buf"), "C.register leaked into A")
        self.assertFalse(hasattr(B, "get_line_queue"), "A.register leaked into a sibling")
        self.assertFalse(hasattr(qmgr.QueueManager, "get_line_queue"), "leaked into QueueManager")
        self.assertFalse(hasattr(qmgr.QueueManager, "get_buf"))
        b = self.keep(B(address=self.addr(), authkey=self.d.key))
        b.connect()
        with self.assertRaises(AttributeError):
            b.get_line_queue()
        c = self.keep(C(address=self.addr(), authkey=self.d.key))
        c.connect()
        self.assertEqual(c.get_line_queue().name, "line_queue")
        self.assertEqual(c.get_buf().name, "flow_buf")

    def test_register_accepts_basemanager_arguments(self):
        class M(qmgr.QueueManager):
            pass

        local_queue = queue.Queue()
        M.register("get_line_queue", callable=lambda: local_queue, proxytype=object,
                   exposed=("put", "get"), method_to_typeid={"get": "x"}, create_method=True)
        M.register("get_buf", lambda: {}, None, None, None, True)
        M.register("get_q", callable=None)
        M.register("get_b")
        m = self.keep(M(('127.0.0.1', self.d.port), self.d.key))
        m.connect()
        q = m.get_line_queue()
        self.assertIsInstance(q, QueueProxy)      # the daemon's object, not the callable's
        q.put("x")
        self.assertEqual(local_queue.qsize(), 0)
        self.assertEqual(self.obs().call("queue.qsize", ["line_queue"]), 1)
        self.assertIsInstance(m.get_buf(), BufProxy)
        # the descriptor's type decides the proxy
        self.assertIsInstance(m.get_q(), QueueProxy)
        self.assertEqual(m.get_q().name, "q")
        self.assertIsInstance(m.get_b(), BufProxy)
        self.assertEqual(m.get_b().name, "b")

    def test_typeid_without_accessor_is_ENOMETHOD(self):
        class M(qmgr.QueueManager):
            pass

        M.register("get_nosuch")
        m = self.keep(M(address=self.addr(), authkey=self.d.key))
        m.connect()
        with self.assertRaises(qmgr.ENOMETHOD):
            m.get_nosuch()

    def test_start_and_get_server_name_qmgrd(self):
        class M(qmgr.QueueManager):
            pass

        m = M(address=self.addr(), authkey=self.d.key)
        for fn in (m.start, m.get_server):
            with self.subTest(fn=fn.__name__):
                with self.assertRaises(NotImplementedError) as cm:
                    fn()
                self.assertIn("qmgrd", str(cm.exception))
                self.assertIn("connect()", str(cm.exception))

    def test_with_connects_and_closes(self):
        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        o = self.obs()
        with M(address="127.0.0.1:%d" % self.d.port, authkey=self.d.key.decode()) as m:
            m.get_line_queue().put("from with")
            wait_connections(o, 2)
        wait_connections(o, 1)
        self.assertEqual(o.call("queue.get", ["line_queue", 0]), "from with")

    def test_shutdown_closes(self):
        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        o = self.obs()
        m = M(address=self.addr(), authkey=self.d.key)
        m.connect()
        self.assertEqual(m.get_line_queue().qsize(), 0)
        wait_connections(o, 2)
        m.shutdown()
        wait_connections(o, 1)

    def test_serializer_and_pipeline(self):
        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        m = self.keep(M(address=self.addr(), authkey=self.d.key,
                        serializer=(pickle.dumps, pickle.loads)))
        m.connect()
        q = m.get_line_queue()
        q.put({"a", "set"})
        self.assertEqual(q.get(), {"a", "set"})
        with m.pipeline() as p:
            p.queue("q").put(1)
            p.buf("b").incr("n", 2)
            res = p.execute()
        self.assertEqual(res, [None, 2])
        self.assertEqual(self.obs().call("queue.qsize", ["q"]), 1)


# ---------------------------------------------------------------------------
# Addresses and keys

class ListenDaemon(Daemon):
    """A qmgrtest.Daemon listening on `listen` (unix:/path, [::1]:0), given by
    -l, which overrides the config file's 127.0.0.1:0."""

    def __init__(self, objects, listen, **kw):
        super().__init__(objects, start=False, **kw)
        self.args = ["-c", self.conf, "-l", listen]
        self.listen_addr = None

    def start(self):
        self.lines = []
        self.proc = subprocess.Popen([qmgrd_path()] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=daemon_env(), cwd=self.tmp)
        self.reader = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self.reader.start()
        m = self.wait_log(r"listening on (\S+)", STARTUP_TIMEOUT, what="the 'listening on' line")
        self.listen_addr = m.group(1)
        if not self.listen_addr.startswith("unix:"):
            self.port = int(self.listen_addr.rsplit(":", 1)[1])
        return self


def write_key(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


KEY_ENV = ("QMGR_ADDR", "QMGR_AUTHKEY_FILE", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY",
           "XDG_STATE_HOME", "QMGR_TLS_CA", "QMGR_TLS_CERT", "QMGR_TLS_KEY")


def isolate_key_env(test, prefix):
    """A clean environment for address and key discovery for the rest of
    test, and a temporary directory of its own (returned)."""
    saved = {k: os.environ.pop(k) for k in KEY_ENV if k in os.environ}
    test.addCleanup(os.environ.update, saved)
    for k in KEY_ENV:
        test.addCleanup(os.environ.pop, k, None)
    tmp = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, tmp, True)
    return tmp


class TestAddress(PyClientTest):
    def setUp(self):
        super().setUp()
        self.tmp = isolate_key_env(self, "qmgr-pyclient-")

    def listen_daemon(self, listen, **options):
        opts = dict(self.OPTIONS)
        opts.update(options)
        d = ListenDaemon(self.OBJECTS, listen, **opts)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        return d.start()

    def check(self, c, tag):
        """A few calls on a connection: it is to the test's daemon."""
        self.assertEqual(c.ping(), "pong")
        c.queue("q").put(tag)
        self.assertEqual(c.queue("q").get(), tag)

    def test_address_list_first_that_answers_then_the_next(self):
        other = self.start_daemon(key=self.d.key)
        dead = "127.0.0.1:%d" % self.dead_port()
        here, there = "127.0.0.1:%d" % self.d.port, "127.0.0.1:%d" % other.port
        c = self.connect(address="%s,%s,%s" % (dead, there, here), reconnect=True)
        self.assertEqual(str(c.address), there)
        c.queue("q").put("on other")
        self.assertEqual(self.connect(d=other).queue("q").qsize(), 1)
        self.stop_daemon(other)
        # A read goes again, to the address after the one that went away.
        self.assertEqual(c.queue("q").qsize(), 0)
        self.assertEqual(str(c.address), here)
        os.environ["QMGR_ADDR"] = "%s,%s" % (dead, here)
        self.assertEqual(str(self.connect(address=None).address), here)

    def test_address_list_all_dead_and_bad(self):
        dead = ["127.0.0.1:%d" % self.dead_port() for _ in range(2)]
        with self.assertRaises(qmgr.ConnectionError) as cm:
            self.connect(address=",".join(dead))
        self.assertIn("none of the 2 addresses answered", cm.exception.message)
        for bad in ("127.0.0.1:1,", ",127.0.0.1:1", "127.0.0.1:1,nonsense"):
            with self.subTest(address=bad), self.assertRaises(ValueError):
                self.connect(address=bad)

    def dead_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def test_tuple_and_host_port_string(self):
        self.check(self.keep(qmgr.connect(("127.0.0.1", self.d.port), self.d.key)), "tuple")
        self.check(self.keep(qmgr.connect("127.0.0.1:%d" % self.d.port, self.d.key)), "str")
        self.check(self.keep(qmgr.connect("localhost:%d" % self.d.port, self.d.key)), "name")

    def test_QMGR_ADDR(self):
        os.environ["QMGR_ADDR"] = "127.0.0.1:%d" % self.d.port
        self.check(self.keep(qmgr.connect(authkey=self.d.key)), "env")
        self.check(self.keep(qmgr.connect(None, self.d.key)), "env None")

    def test_explicit_address_beats_QMGR_ADDR(self):
        os.environ["QMGR_ADDR"] = "127.0.0.1:%d" % self.dead_port()
        self.check(self.keep(qmgr.connect(self.addr(), self.d.key)), "explicit")

    def test_unreachable_address_is_ConnectionError(self):
        done, _, err = run_bounded(lambda: qmgr.connect(("127.0.0.1", self.dead_port()),
                                                        self.d.key, timeout=SHORT))
        self.assertTrue(done)
        self.assertIsInstance(err, qmgr.ConnectionError)
        self.assertIsInstance(err, builtins.ConnectionError)

    def test_unix_socket(self):
        path = os.path.join(self.tmp, "qmgrd.sock")
        d = self.listen_daemon("unix:" + path)
        self.assertEqual(d.listen_addr, "unix:" + path)
        c = self.keep(qmgr.connect("unix:" + path, d.key))
        self.check(c, "unix")
        self.assertEqual(c.stats()["connections"], 1)
        os.environ["QMGR_ADDR"] = "unix:" + path
        self.check(self.keep(qmgr.connect(authkey=d.key)), "unix env")

        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        with M(address="unix:" + path, authkey=d.key) as m:
            m.get_line_queue().put("via manager")
            self.assertEqual(m.get_line_queue().get(), "via manager")

    def test_ipv6(self):
        d = self.listen_daemon("[::1]:0")
        self.check(self.keep(qmgr.connect("[::1]:%d" % d.port, d.key)), "v6 str")
        self.check(self.keep(qmgr.connect(("::1", d.port), d.key)), "v6 tuple")

    def test_authkey_str_and_bytes(self):
        key = "clé-ünïcode-" + os.urandom(4).hex()
        d = self.start_daemon(key=key.encode("utf-8"))
        self.check(self.keep(qmgr.connect(self.addr(d), key)), "str key")
        self.check(self.keep(qmgr.connect(self.addr(d), key.encode("utf-8"))), "bytes key")
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr(d), key.encode("latin-1"))

    def test_wrong_authkey_is_AuthenticationError(self):
        o = self.obs()
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr(), b"wrong key")
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr(), "x")
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr(), self.d.key + b"\n")
        self.assertEqual(o.call("stats", [])["auth_failures"], 3)
        self.assertPings()

    def test_wrong_authkey_in_manager(self):
        class M(qmgr.QueueManager):
            pass

        with self.assertRaises(qmgr.AuthenticationError):
            M(address=self.addr(), authkey=b"nope").connect()

    def test_QMGR_AUTHKEY_FILE(self):
        # the harness's key file ends in "\n": one trailing newline is stripped
        os.environ["QMGR_AUTHKEY_FILE"] = self.d.keyfile
        self.check(self.keep(qmgr.connect(self.addr())), "keyfile")
        os.environ["QMGR_ADDR"] = "127.0.0.1:%d" % self.d.port
        self.check(self.keep(qmgr.connect()), "all from env")

        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        with M() as m:
            self.assertEqual(m.get_line_queue().qsize(), 0)

    def test_key_file_strips_exactly_one_newline(self):
        os.environ["QMGR_AUTHKEY_FILE"] = write_key(os.path.join(self.tmp, "k0"), self.d.key)
        self.check(self.keep(qmgr.connect(self.addr())), "no newline")
        os.environ["QMGR_AUTHKEY_FILE"] = write_key(os.path.join(self.tmp, "k2"), self.d.key + b"\n\n")
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr())

    def test_explicit_authkey_beats_QMGR_AUTHKEY_FILE(self):
        os.environ["QMGR_AUTHKEY_FILE"] = self.d.keyfile
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr(), b"explicitly wrong")

    def test_default_key_STATE_DIRECTORY_first_entry(self):
        good = os.path.join(self.tmp, "sd1")
        bad = os.path.join(self.tmp, "sd2")
        write_key(os.path.join(good, "authkey"), self.d.key + b"\n")
        write_key(os.path.join(bad, "authkey"), b"wrong\n")
        os.environ["STATE_DIRECTORY"] = good + ":" + bad
        self.check(self.keep(qmgr.connect(self.addr())), "STATE_DIRECTORY")
        os.environ["STATE_DIRECTORY"] = bad + ":" + good
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr())

    def test_QMGR_AUTHKEY_FILE_beats_default(self):
        bad = os.path.join(self.tmp, "sd")
        write_key(os.path.join(bad, "authkey"), b"wrong\n")
        os.environ["STATE_DIRECTORY"] = bad
        os.environ["QMGR_AUTHKEY_FILE"] = self.d.keyfile
        self.check(self.keep(qmgr.connect(self.addr())), "env file first")

    def test_default_key_CREDENTIALS_DIRECTORY_first(self):
        # common/paths.c paths_authkey_in: $CREDENTIALS_DIRECTORY/authkey wins
        creds = os.path.join(self.tmp, "creds")
        state = os.path.join(self.tmp, "state")
        write_key(os.path.join(creds, "authkey"), self.d.key + b"\n")
        write_key(os.path.join(state, "authkey"), b"wrong\n")
        os.environ["STATE_DIRECTORY"] = state
        os.environ["CREDENTIALS_DIRECTORY"] = creds
        self.check(self.keep(qmgr.connect(self.addr())), "CREDENTIALS_DIRECTORY")
        write_key(os.path.join(creds, "authkey"), b"wrong\n")
        write_key(os.path.join(state, "authkey"), self.d.key + b"\n")
        with self.assertRaises(qmgr.AuthenticationError):
            qmgr.connect(self.addr())

    def test_default_key_XDG_STATE_HOME(self):
        xdg = os.path.join(self.tmp, "xdg")
        write_key(os.path.join(xdg, "qmgr", "authkey"), self.d.key + b"\n")
        os.environ["XDG_STATE_HOME"] = xdg
        if os.geteuid() == 0:
            # root: /var/lib/qmgr/authkey, XDG_STATE_HOME is not looked at
            # (common/paths.c); that file is not the test daemon's key
            with self.assertRaises(Exception) as cm:
                self.keep(qmgr.connect(self.addr(), timeout=SHORT))
            self.assertNotIsInstance(cm.exception, AssertionError)
        else:
            self.check(self.keep(qmgr.connect(self.addr())), "XDG_STATE_HOME")


# ---------------------------------------------------------------------------
# Hostile servers

class TestFakeServer(PyClientTest):
    START = False

    def fake(self, script, key=b"fake-server-key"):
        fs = FakeServer(script, key)
        self.addCleanup(fs.close)
        return fs

    def attempt(self, fs, timeout=SHORT):
        """connect + ping against a fake server: the exception it ends with."""
        def go():
            c = qmgr.connect(("127.0.0.1", fs.port), authkey=fs.key, timeout=timeout)
            self.qclients.append(c)
            return c.ping()
        done, result, err = run_bounded(go)
        self.assertTrue(done, "the client hung against a broken server")
        self.assertIsNotNone(err, "the client accepted it: ping returned %r" % (result,))
        self.assertEqual(fs.errors, [])
        return err

    def expect(self, script, classes):
        err = self.attempt(self.fake(script))
        self.assertIsInstance(err, classes, "%s: %r" % (type(err).__name__, err))
        return err

    def test_sanity_fake_server_answers_ping(self):
        # the fake server itself is right: a proper reply is accepted
        fs = self.fake(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid, None, "pong"]))))
        c = self.keep(qmgr.connect(("127.0.0.1", fs.port), authkey=fs.key, timeout=SHORT))
        done, result, err = run_bounded(c.ping)
        self.assertTrue(done)
        self.assertIsNone(err)
        self.assertEqual(result, "pong")

    def test_challenge_goes_with_the_answer(self):
        # step 4 right behind step 2 (docs/protocol.md section 2): a server
        # that reads both before it answers either still serves the client
        fs = self.fake(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid, None, "pong"])),
            reading_ahead=True))
        c = self.keep(qmgr.connect(("127.0.0.1", fs.port), authkey=fs.key, timeout=SHORT))
        done, result, err = run_bounded(c.ping)
        self.assertTrue(done)
        self.assertIsNone(err)
        self.assertEqual(result, "pong")
        self.assertEqual(fs.errors, [])

    def test_garbage_frame_is_ProtocolError(self):
        self.expect(after_handshake(lambda conn, msgid: conn.send_frame(b"\xc1\xc1 garbage")),
                    qmgr.ProtocolError)

    def test_not_a_response_is_ProtocolError(self):
        self.expect(after_handshake(lambda conn, msgid: conn.send_frame(msgpack.packb("hello"))),
                    qmgr.ProtocolError)

    def test_short_response_array_is_ProtocolError(self):
        self.expect(after_handshake(lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid]))),
                    qmgr.ProtocolError)

    def test_request_instead_of_response_is_ProtocolError(self):
        self.expect(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([0, msgid, "ping", []]))),
            qmgr.ProtocolError)

    def test_malformed_error_field_is_ProtocolError(self):
        self.expect(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid, "oops", None]))),
            qmgr.ProtocolError)

    def test_trailing_bytes_in_frame_is_ProtocolError(self):
        self.expect(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid, None, "pong"]) + b"\x00")),
            qmgr.ProtocolError)

    def test_negative_frame_length_is_ProtocolError(self):
        self.expect(after_handshake(lambda conn, msgid: conn.send(b"\xff\xff\xff\xfe" + b"x" * 16)),
                    qmgr.ProtocolError)

    def test_unframed_garbage(self):
        self.expect(after_handshake(
            lambda conn, msgid: conn.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")),
            (qmgr.ProtocolError, qmgr.ConnectionError))

    def test_garbage_length_does_not_commit_memory(self):
        # "HTTP" read as a frame length claims 1.2 GB; the client must fail
        # (ProtocolError, or ConnectionError at its timeout) without first
        # allocating and zeroing a buffer of that size: under a parallel
        # ctest run that took past HANG_GUARD. Measured in a child process
        # (its own peak RSS), limit 256 MiB.
        fs = self.fake(after_handshake(
            lambda conn, msgid: conn.send(b"HTTP/1.1 400 Bad Request\r\n\r\n")))
        script = (
            "import resource, sys, qmgr\n"
            "try:\n"
            "    qmgr.connect(('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode(),"
            " timeout=%r).ping()\n"
            "    print('accepted')\n"
            "except (qmgr.ProtocolError, qmgr.ConnectionError) as e:\n"
            "    print(type(e).__name__)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n" % SHORT)
        r = subprocess.run([sys.executable, "-c", script, str(fs.port), fs.key.decode()],
                           capture_output=True, text=True, timeout=HANG_GUARD * 4)
        self.assertEqual(r.returncode, 0, r.stderr)
        kind, maxrss_kib = r.stdout.split()
        self.assertIn(kind, ("ProtocolError", "ConnectionError"))
        self.assertLess(int(maxrss_kib), 256 * 1024,
                        "a 4-byte garbage header made the client take %d MiB" % (int(maxrss_kib) // 1024))

    def test_close_mid_frame(self):
        def script(conn, key):
            conn.handshake(key)
            conn.request()
            conn.send(b"\x00\x00\x00\x10abc")
            conn.sock.shutdown(socket.SHUT_RDWR)
        self.expect(script, (qmgr.ConnectionError, qmgr.ProtocolError))

    def test_close_before_reply_is_ConnectionError(self):
        def script(conn, key):
            conn.handshake(key)
            conn.request()
            conn.sock.shutdown(socket.SHUT_RDWR)
        self.expect(script, qmgr.ConnectionError)

    def test_no_reply_ends_with_the_client_timeout(self):
        self.expect(after_handshake(lambda conn, msgid: None),
                    (qmgr.Error, builtins.TimeoutError))

    def test_reply_with_unknown_msgid_does_not_hang(self):
        self.expect(after_handshake(
            lambda conn, msgid: conn.send_frame(msgpack.packb([1, msgid + 1000, None, "pong"]))),
            (qmgr.Error, builtins.TimeoutError))

    def test_garbage_challenge_is_ProtocolError(self):
        def script(conn, key):
            conn.send_frame(b"HELLO, this is not a challenge")
            conn.linger()
        self.expect(script, qmgr.ProtocolError)

    def test_server_refuses_key_is_AuthenticationError(self):
        def script(conn, key):
            conn.send_frame(CHALLENGE + SHA + os.urandom(40))
            conn.recv_frame()
            conn.send_frame(FAILURE)
            conn.sock.shutdown(socket.SHUT_RDWR)
        self.expect(script, qmgr.AuthenticationError)

    def test_server_without_the_key_is_AuthenticationError(self):
        # step 5 answered with another key: the server does not hold ours
        def script(conn, key):
            conn.handshake(key, step5_key=b"not the key")
            conn.linger()
        self.expect(script, qmgr.AuthenticationError)

    def test_silent_server_ends_with_the_client_timeout(self):
        self.expect(lambda conn, key: conn.linger(), (qmgr.Error, builtins.TimeoutError))


# ---------------------------------------------------------------------------
# Fork safety

_FORK_CLIENT = None


def _pool_init():
    _FORK_CLIENT.ping()


def _pool_task(i):
    try:
        _FORK_CLIENT.queue("q").put(i)
        return os.getpid(), _FORK_CLIENT.buf("b").incr("n", i + 1)
    except BaseException as e:  # noqa: B902 - qmgr errors may not pickle
        return os.getpid(), "error: %r" % (e,)


def _child_put(c, name, item):
    c.queue(name).put(item)


def _child_proxy_put(q, item):
    q.put(item)


class TestForkSafety(PyClientTest):
    WORKERS = 4
    TASKS = 200

    def setUp(self):
        super().setUp()
        self.addCleanup(globals().__setitem__, "_FORK_CLIENT", None)

    def test_pool_children_get_their_own_connections(self):
        global _FORK_CLIENT
        c = self.connect()     # reconnect=False: a broken parent connection would raise
        o = self.obs()
        self.assertEqual(c.ping(), "pong")
        wait_connections(o, 2)
        ids_before = {r["id"] for r in o.call("clients", [])}
        _FORK_CLIENT = c
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(self.WORKERS, initializer=_pool_init) as pool:
            # each worker pinged in its initializer, on a connection of its own
            wait_connections(o, 2 + self.WORKERS)
            results = pool.map(_pool_task, range(self.TASKS), chunksize=5)
            self.assertEqual([r for r in results if isinstance(r[1], str)], [])
            rows = o.call("clients", [])
            self.assertEqual(len(rows), 2 + self.WORKERS)
            workers = [r for r in rows if r["id"] not in ids_before]
            self.assertEqual(len(workers), self.WORKERS)
            self.assertEqual(sum(r["ops"] for r in workers), self.WORKERS + 2 * self.TASKS,
                             "every child call went over the child's own connection")
            pids = {pid for pid, _ in results}
            self.assertNotIn(os.getpid(), pids)
            pool.close()
            pool.join()
        wait_connections(o, 2)
        self.assertEqual({r["id"] for r in o.call("clients", [])}, ids_before,
                         "the parent's connection was replaced")
        # the parent's proxy still works, on its own connection, and totals are exact
        q = c.queue("q")
        self.assertEqual(q.qsize(), self.TASKS)
        got = q.get_many(self.TASKS * 2)
        self.assertEqual(sorted(got), list(range(self.TASKS)))
        total = sum(range(1, self.TASKS + 1))
        self.assertEqual(c.buf("b")["n"], total)
        incrs = sorted(v for _, v in results)
        self.assertEqual(len(set(incrs)), self.TASKS, "two incr calls saw the same value")
        self.assertEqual(incrs[-1], total)

    def test_manager_proxy_in_pool_children(self):
        global _FORK_CLIENT

        class M(qmgr.QueueManager):
            pass

        M.register("get_line_queue")
        m = self.keep(M(address=self.addr(), authkey=self.d.key))
        m.connect()
        q = m.get_line_queue()
        q.put("parent first")
        ctx = multiprocessing.get_context("fork")
        # the proxy made in the parent, used in the child
        p = ctx.Process(target=_child_proxy_put, args=(q, "child"))
        p.start()
        p.join(HANG_GUARD)
        if p.is_alive():
            p.kill()
            self.fail("the forked child hung")
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(q.get_many(10), ["parent first", "child"])

    def test_fork_while_another_thread_holds_the_connection(self):
        c = self.connect()
        o = self.obs()
        parked = Background(lambda: c.queue("q").get())    # holds the connection meanwhile
        wait_waiting_on(o, "q", 1)
        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=_child_put, args=(c, "other", "from child"))
        p.start()
        p.join(HANG_GUARD)
        if p.is_alive():
            p.kill()
            p.join()
            self.fail("the forked child deadlocked on the inherited connection lock")
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(o.call("queue.get", ["other", 0]), "from child")
        # the child did not cut the parent's connection: the parked get is intact
        o.call("queue.put", ["q", "for the parent", 0])
        self.assertEqual(parked.result(), "for the parent")
        self.assertEqual(c.ping(), "pong")


# ---------------------------------------------------------------------------
# Thread safety

class TestThreadSafety(PyClientTest):
    THREADS = 8
    N = 250

    def test_eight_threads_one_client(self):
        c = self.connect()
        o = self.obs()
        q, b = c.queue("q"), c.buf("b")
        barrier = threading.Barrier(self.THREADS)
        got = [[] for _ in range(self.THREADS)]
        incrs = [[] for _ in range(self.THREADS)]
        errors = []

        def work(t):
            try:
                barrier.wait(CALL_TIMEOUT)
                for k in range(self.N):
                    q.put([t, k])
                    # every thread has put one more than it got: the queue is
                    # never empty here, so this get never waits
                    got[t].append(q.get(timeout=CALL_TIMEOUT))
                    incrs[t].append(b.incr("n"))
                    b.incr("f", 0.5)
            except BaseException as e:  # noqa: B902
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CALL_TIMEOUT * 2)
            self.assertFalse(t.is_alive(), "a thread hung")
        self.assertEqual(errors, [])
        total = self.THREADS * self.N
        all_got = sorted(tuple(x) for g in got for x in g)
        self.assertEqual(all_got, sorted((t, k) for t in range(self.THREADS) for k in range(self.N)))
        self.assertEqual(sorted(v for l in incrs for v in l), list(range(1, total + 1)))
        self.assertEqual(b["n"], total)
        self.assertEqual(b["f"], total * 0.5)
        st = o.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["puts"], st["gets"]), (0, total, total))
        self.assertEqual(len(o.call("clients", [])), 2, "the threads used one connection")


# ---------------------------------------------------------------------------
# Reconnect

class TestReconnect(PyClientTest):
    START = False
    OPTIONS = dict(log_level="info", journal="on", fsync="always")

    def setUp(self):
        super().setUp()
        d = DurDaemon(self.OBJECTS, start=False, **self.OPTIONS)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        d.start()
        d.fixed_port = d.port   # later starts listen on the same port
        d.write_config()
        self.d = d

    def restart(self):
        """SIGTERM (exit 0), then a new qmgrd on the same port and state dir."""
        for c in self.clients:
            c.close()
        self.clients = []
        self.stop_daemon(self.d)
        self.d.start()
        self.assertEqual(self.d.port, self.d.fixed_port)

    def test_read_only_calls_are_retried_after_restart(self):
        c = self.connect(reconnect=True)
        q, b = c.queue("q"), c.buf("b")
        q.put("kept")
        b["k"] = 7
        calls = [
            ("ping", c.ping, "pong"),
            ("qsize", q.qsize, 1),
            ("stat", lambda: q.stat()["size"], 1),
            ("peek", q.peek, ["kept"]),
            ("lookup", lambda: c.lookup("q")["type"], "queue"),
            ("stats", lambda: c.stats()["connections"], 1),
            ("objects", lambda: {x["name"] for x in c.objects()}, OBJECT_NAMES),
            ("clients", lambda: len(c.clients()), 1),
            ("buf.get", lambda: b["k"], 7),
            ("buf.len", lambda: len(b), 1),
            ("buf.items", lambda: dict(b.items()), {"k": 7}),
        ]
        for name, fn, want in calls:
            with self.subTest(call=name):
                self.restart()
                self.assertEqual(fn(), want)
                # the new connection serves further calls
                self.assertEqual(c.ping(), "pong")

    def test_without_reconnect_a_call_after_restart_is_ConnectionError(self):
        c = self.connect()
        c.queue("q").put("x")
        self.restart()
        with self.assertRaises(qmgr.ConnectionError):
            c.queue("q").qsize()

    def test_put_in_flight_across_restart_is_not_repeated(self):
        proxy = HoldingProxy(self.d.port)
        self.addCleanup(proxy.close)
        c = self.connect(address=("127.0.0.1", proxy.port), reconnect=True)
        q = c.queue("q")
        q.put("before")
        self.assertEqual(q.qsize(), 1)
        proxy.hold.set()
        inflight = Background(lambda: q.put("in flight"))
        wait_until(lambda: proxy.held > 0, what="the put to reach the proxy")
        self.restart()
        # the client's connection goes; a new one through the proxy would
        # reach the restarted daemon, so a repeated put would show
        proxy.hold.clear()
        proxy.cut()
        _, err = inflight.join()
        self.assertIsInstance(err, qmgr.ConnectionError)
        o = self.obs()
        self.assertEqual(o.call("queue.peek", ["q", 10]), ["before"], "the put was repeated")
        self.assertEqual(o.call("queue.stat", ["q"])["size"], 1)
        # the next call reconnects
        self.assertEqual(q.qsize(), 1)
        q.put("after")
        self.assertEqual(o.call("queue.peek", ["q", 10]), ["before", "after"])

    def in_flight(self, reconnect, call):
        """call(client) sent through a HoldingProxy that keeps it from the
        daemon, across a restart, then the client's connection is cut:
        (the call's result, its exception, the proxy)."""
        proxy = HoldingProxy(self.d.port)
        self.addCleanup(proxy.close)
        c = self.connect(address=("127.0.0.1", proxy.port), reconnect=reconnect)
        c.queue("q").put("kept")
        self.assertEqual(c.ping(), "pong")
        proxy.hold.set()
        bg = Background(lambda: call(c))
        wait_until(lambda: proxy.held > 0, what="the call to reach the proxy")
        self.restart()
        proxy.hold.clear()
        proxy.cut()
        result, err = bg.join()
        return result, err, proxy

    def test_read_only_call_in_flight_is_retried_once(self):
        for name, call, want in [("qsize", lambda c: c.queue("q").qsize(), 1),
                                 ("ping", lambda c: c.ping(), "pong"),
                                 ("peek", lambda c: c.queue("q").peek(3), ["kept"]),
                                 ("buf.len", lambda c: len(c.buf("b")), 0)]:
            with self.subTest(call=name):
                self.obs().call("queue.purge", ["q"])
                result, err, proxy = self.in_flight(True, call)
                self.assertIsNone(err)
                self.assertEqual(result, want)
                self.assertEqual(proxy.accepted, 2, "not exactly one new connection")

    def test_read_only_call_in_flight_without_reconnect_is_ConnectionError(self):
        _, err, proxy = self.in_flight(False, lambda c: c.queue("q").qsize())
        self.assertIsInstance(err, qmgr.ConnectionError)
        self.assertEqual(proxy.accepted, 1)

    def test_put_after_restart_is_never_doubled(self):
        # the first put on the stale connection either fails with
        # ConnectionError (sent on the dead socket) or goes out on a new
        # connection, never both: the count is exact either way
        c = self.connect(reconnect=True)
        q = c.queue("q")
        q.put(1)
        self.restart()
        try:
            q.put(2)
            landed = 1
        except qmgr.ConnectionError:
            landed = 0
        q.put(3)
        self.assertEqual(self.obs().call("queue.peek", ["q", 10]), [1, 2, 3] if landed else [1, 3])

    def test_put_parked_at_kill_raises_ConnectionError(self):
        c = self.connect(reconnect=True)
        s = c.queue("small")
        s.put(1)
        s.put(2)
        o = self.obs()
        parked = Background(lambda: s.put("parked"))
        wait_waiting_on(o, "small", 1)
        o.close()
        self.d.crash()
        _, err = parked.join()
        self.assertIsInstance(err, qmgr.ConnectionError)
        self.d.start()
        self.assertEqual(s.qsize(), 2)
        self.assertEqual(self.obs().call("queue.peek", ["small", 10]), [1, 2])

    def test_get_parked_at_stop_is_not_repeated(self):
        c = self.connect(reconnect=True)
        q = c.queue("q")
        o = self.obs()
        parked = Background(q.get)
        wait_waiting_on(o, "q", 1)
        self.restart()
        _, err = parked.join()
        self.assertIsInstance(err, (qmgr.ESHUTDOWN, qmgr.ConnectionError))
        o = self.obs()
        o.call("queue.put", ["q", "later", 0])
        self.assertEqual(q.qsize(), 1, "the get was repeated on the new daemon")


# ---------------------------------------------------------------------------
# Pipelines

class TestPipeline(PyClientTest):
    def setUp(self):
        super().setUp()
        self.c = self.connect()
        self.o = self.obs()

    def test_results_in_call_order(self):
        with self.c.pipeline() as p:
            pq, pb = p.queue("q"), p.buf("b")
            pq.put(1)
            pq.put(2)
            pq.qsize()
            pb.incr("n", 5)
            pb.incr("n", 2)
            pq.get()
            pq.peek(5)
            pq.stat()
            # nothing is sent before execute
            self.assertEqual(self.o.call("queue.qsize", ["q"]), 0)
            res = p.execute()
        self.assertEqual(res[:7], [None, None, 2, 5, 7, 1, [2]])
        self.assertEqual(res[7]["size"], 1)
        self.assertEqual(len(res), 8)
        self.assertEqual(self.o.call("queue.peek", ["q", 5]), [2])

    def test_end_of_with_executes(self):
        with self.c.pipeline() as p:
            p.queue("q").put("a")
            p.buf("b").incr("n")
            self.assertEqual(self.o.call("queue.qsize", ["q"]), 0)
        self.assertEqual(self.o.call("queue.peek", ["q", 5]), ["a"])
        self.assertEqual(self.o.call("buf.get", ["b", "n"]), 1)

    def test_execute_then_end_of_with_does_not_repeat(self):
        with self.c.pipeline() as p:
            p.queue("q").put("once")
            self.assertEqual(p.execute(), [None])
        self.assertEqual(self.o.call("queue.peek", ["q", 5]), ["once"])

    def test_empty_pipeline(self):
        with self.c.pipeline() as p:
            self.assertEqual(p.execute(), [])

    def test_error_in_the_middle_returned(self):
        self.o.call("buf.set", ["b", "text", "not a number"])
        with self.c.pipeline() as p:
            p.queue("q").put(1)
            p.buf("b").incr("text")
            p.queue("q").put(2)
            res = p.execute(raise_on_error=False)
        self.assertEqual(len(res), 3)
        self.assertIsNone(res[0])
        self.assertIsInstance(res[1], qmgr.ENOTNUM)
        self.assertCode(res[1], "ENOTNUM")
        self.assertIsNone(res[2])
        self.assertEqual(self.o.call("queue.peek", ["q", 5]), [1, 2])

    def test_error_in_the_middle_raised_by_default(self):
        self.o.call("buf.set", ["b", "text", "not a number"])
        p = self.c.pipeline()
        p.queue("q").put(1)
        p.queue("q").get(block=False)
        p.queue("q").get(block=False)      # EEMPTY: the first error
        p.buf("b").incr("text")            # ENOTNUM: a later one
        p.queue("q").put(2)
        with self.assertRaises(qmgr.EEMPTY):
            p.execute()
        # every call was sent: the ones after the error ran too
        self.assertEqual(self.o.call("queue.peek", ["q", 5]), [2])

    def test_many_calls(self):
        n = 2000
        with self.c.pipeline() as p:
            pq = p.queue("q")
            for i in range(n):
                pq.put(i)
            pb = p.buf("b")
            for i in range(n):
                pb.incr("n", i)
            res = p.execute()
        self.assertEqual(res[:n], [None] * n)
        self.assertEqual(res[n:], [sum(range(i + 1)) for i in range(n)])
        self.assertEqual(self.c.queue("q").get_many(n), list(range(n)))

    def test_out_of_order_replies_come_back_in_call_order(self):
        # the get parks until the third call's put: its reply comes last on
        # the wire, but its result is first
        with self.c.pipeline() as p:
            p.queue("q").get()
            p.queue("other").put("x")
            p.queue("q").put(7)
            res = p.execute()
        self.assertEqual(res, [7, None, None])
        self.assertEqual(self.o.call("queue.peek", ["other", 5]), ["x"])

    def test_pipeline_then_plain_calls(self):
        with self.c.pipeline() as p:
            p.queue("q").put("p")
            p.execute()
        self.assertEqual(self.c.queue("q").get(), "p")
        self.assertEqual(self.c.ping(), "pong")


# ---------------------------------------------------------------------------
# Install

PY_COMPONENT = "python"


class TestInstall(PyClientTest):
    def test_cmake_install_component(self):
        build = os.environ.get("QMGR_BUILD_DIR")
        if not build:
            raise RuntimeError("QMGR_BUILD_DIR is not set: point it at the cmake build tree")
        cmake = os.environ.get("QMGR_CMAKE") or "cmake"
        prefix = tempfile.mkdtemp(prefix="qmgr-pyinstall-")
        self.addCleanup(shutil.rmtree, prefix, True)
        r = subprocess.run([cmake, "--install", build, "--prefix", prefix, "--component", PY_COMPONENT],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        inits = glob.glob(os.path.join(prefix, "**", "qmgr", "__init__.py"), recursive=True)
        self.assertEqual(len(inits), 1, "installed: %r" % inits)
        pkg = os.path.dirname(inits[0])
        site = os.path.dirname(pkg)
        src = os.path.join(os.path.dirname(os.path.abspath(qmgr.__file__)))
        want = sorted(f for f in os.listdir(src) if f.endswith(".py") or f == "py.typed")
        got = sorted(f for f in os.listdir(pkg) if f.endswith(".py") or f == "py.typed")
        self.assertEqual(got, want)
        self.assertIn("py.typed", got)
        script = (
            "import sys, qmgr\n"
            "assert qmgr.__file__.startswith(sys.argv[1]), qmgr.__file__\n"
            "c = qmgr.connect(('127.0.0.1', int(sys.argv[2])), authkey=sys.argv[3].encode())\n"
            "q = c.queue('q')\n"
            "q.put(['installed', 1])\n"
            "print(q.get(), c.buf('b').incr('runs'))\n"
            "c.close()\n")
        env = {k: v for k, v in daemon_env().items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = site
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        r = subprocess.run(["/usr/bin/python3", "-c", script, site, str(self.d.port), self.d.key.decode()],
                           capture_output=True, text=True, env=env, cwd=prefix, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "['installed', 1] 1")


if __name__ == "__main__":
    unittest.main()
