"""Lifecycle and limits: SIGTERM, SIGHUP, --check-config, --version,
max_connections, max_output backpressure, many connections, no config."""

import os
import re
import resource
import signal
import socket
import stat
import string
import struct
import subprocess
import tempfile
import shutil
import time
import unittest

from qmgrtest import (
    DaemonTest, Daemon, Client, AuthFailed, ConnectionClosed, packb, pack_request, qmgrd_path,
    daemon_env, wait_stat, wait_waiting_on, wait_until, wait_connections, client_row,
    CHALLENGE, SHA256_PREFIX, WELCOME, CALL_TIMEOUT, CLOSE_TIMEOUT, STOP_TIMEOUT,
    ESHUTDOWN, ETOOBIG, ENOENT, ENOMETHOD,
)

OBJECTS = """
[queue q]
maxsize = 0

[queue one]
maxsize = 1

[buf b]
"""


def run_qmgrd(args, timeout=CALL_TIMEOUT):
    return subprocess.run([qmgrd_path()] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          env=daemon_env(), timeout=timeout)


class TestShutdown(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")

    def test_graceful_shutdown_parked_requests_get_ESHUTDOWN_exit_0(self):
        obs = self.client()
        obs.call("queue.put", ["one", "full", 0])
        getter, getter_many, putter, joiner = (self.client() for _ in range(4))
        getter.send_request(11, "queue.get", ["q", None])
        getter_many.send_request(12, "queue.get_many", ["q", 5])
        putter.send_request(13, "queue.put", ["one", "blocked", None])
        joiner.send_request(14, "queue.join", ["one", None])
        wait_stat(obs, "q", getters=2)
        wait_stat(obs, "one", putters=1)
        wait_waiting_on(obs, "one", 2)
        # the same connection may hold several parked requests
        getter.send_request(15, "queue.get", ["q", 1000])
        wait_stat(obs, "q", getters=3)
        self.d.signal(signal.SIGTERM)
        for c, msgids in ((getter, (11, 15)), (getter_many, (12,)), (putter, (13,)), (joiner, (14,))):
            for m in msgids:
                r = c.wait_response(m)
                self.assertIsNotNone(r.error, "msgid %d answered %r on shutdown" % (m, r.result))
                self.assertEqual(r.error[0], ESHUTDOWN, r.error)
        rc = self.d.wait_exit()
        self.assertEqual(rc, 0, "exit status %r; log:\n%s" % (rc, self.d.log_tail()))
        for c in (obs, getter, putter):
            c.expect_closed()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.d.port), timeout=5).close()

    def test_sigterm_with_idle_and_half_handshaken_connections_exits_0(self):
        idle = [self.client() for _ in range(5)]
        half = self.raw()
        half.read_challenge()
        silent = self.raw()
        self.assertEqual(idle[0].ping(), "pong")
        self.d.signal(signal.SIGTERM)
        self.assertEqual(self.d.wait_exit(), 0, self.d.log_tail())
        for c in idle + [half, silent]:
            c.expect_closed()

    def test_sigterm_flushes_answered_responses(self):
        c = self.client()
        c.call("queue.put", ["q", b"x" * 100000, 0])
        for i in range(50):
            c.send_request(100 + i, "queue.peek", ["q", 1])
        c.send_request(1, "queue.get", ["q", None])  # served at once
        c.send_request(2, "queue.get", ["q", None])  # parked
        wait_stat(self.client(), "q", getters=1)
        self.d.signal(signal.SIGTERM)
        got = {}
        for _ in range(52):
            r = c.recv_response()
            got[r.msgid] = r
        self.assertEqual(got[1].result, b"x" * 100000)
        self.assertEqual(got[2].error[0], ESHUTDOWN)
        for i in range(50):
            self.assertEqual(got[100 + i].result, [b"x" * 100000])
        self.assertEqual(self.d.wait_exit(), 0)


class TestReload(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", max_item="1K")

    def test_sighup_reload_adds_object(self):
        c = self.client()
        c.call("queue.put", ["q", "survives", 0])
        c.call("buf.set", ["b", "k", 1])
        c.expect_error(ENOENT, "lookup", ["added"])
        c.expect_error(ENOMETHOD, "get_added", [])
        self.d.reload(OBJECTS + "\n[queue added]\nmaxsize = 7\n\n[buf addbuf]\naccessor = fetch_addbuf\n")

        def added():
            try:
                return c.call("lookup", ["added"])
            except Exception:
                return None
        desc = wait_until(added, what="queue 'added' after SIGHUP")
        self.assertEqual((desc["type"], desc["maxsize"]), ("queue", 7))
        self.assertEqual(c.call("get_added", []), desc)
        self.assertEqual(c.call("fetch_addbuf", [])["type"], "buf")
        c.call("queue.put", ["added", "new", 0])
        self.assertEqual(c.call("queue.get", ["added", 0]), "new")
        # existing objects keep their contents; the connection survived
        self.assertEqual(c.call("queue.get", ["q", 0]), "survives")
        self.assertEqual(c.call("buf.get", ["b", "k"]), 1)
        self.assertEqual({o["name"] for o in c.call("objects", [])}, {"q", "one", "b", "added", "addbuf"})

    def test_sighup_reload_changes_limits(self):
        c = self.client()
        c.expect_error(ETOOBIG, "queue.put", ["q", b"x" * 2048, 0])
        self.d.reload(max_item="4K")

        def accepted():
            try:
                c.call("queue.put", ["q", b"x" * 2048, 0])
                return True
            except Exception:
                return False
        wait_until(accepted, what="a 2 KiB put accepted after raising max_item to 4K")
        c.expect_error(ETOOBIG, "queue.put", ["q", b"x" * 5000, 0])

    def test_sighup_reload_changes_queue_maxsize(self):
        c = self.client()
        c.call("queue.put", ["one", 1, 0])
        self.d.reload(OBJECTS.replace("[queue one]\nmaxsize = 1", "[queue one]\nmaxsize = 3"))

        def maxsize3():
            return c.call("queue.stat", ["one"])["maxsize"] == 3
        wait_until(maxsize3, what="maxsize 3 after SIGHUP")
        c.call("queue.put", ["one", 2, 0])
        c.call("queue.put", ["one", 3, 0])
        self.assertEqual(c.call("queue.peek", ["one", 5]), [1, 2, 3])


class TestCommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qmgrtest-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.key = os.path.join(self.tmp, "key")
        with open(self.key, "w") as f:
            f.write("secret\n")

    def write(self, text):
        path = os.path.join(self.tmp, "qmgrd.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def header(self):
        return ("[qmgrd]\nlisten = 127.0.0.1:0\nstate_dir = %s\nauthkey_file = %s\n"
                % (self.tmp, self.key))  # lines 1-4

    def test_check_config_good(self):
        path = self.write(self.header() + "max_connections = 100\nmax_message = 64M\nmax_item = 1K\n"
                          "max_memory = 1G\nmax_output = 4M\nhandshake_timeout = 250ms\n"
                          "auth_legacy_md5 = on\nlog_level = debug\n\n"
                          "[queue a]\nmaxsize = 200\nredeliver = on\naccessor = fetch_a\n\n"
                          "[buf b]\naccessor = get_b_buf\n")
        r = run_qmgrd(["--check-config", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    BAD = [
        ("unknown option", "bogus_option = 1\n", 5),
        ("bad size", "max_message = banana\n", 5),
        ("bad duration", "handshake_timeout = soon\n", 5),
        ("bad bool", "auth_legacy_md5 = maybe\n", 5),
        ("bad log level", "log_level = loud\n", 5),
        ("unknown section type", "\n[widget w]\nsize = 1\n", (6, 7)),
        ("bad maxsize", "\n[queue a]\nmaxsize = lots\n", 7),
        ("bad redeliver", "\n[queue a]\nmaxsize = 1\nredeliver = perhaps\n", 8),
        ("unknown queue option", "\n[queue a]\ncolour = blue\n", 7),
        ("not ini", "this is not ini\n", 5),
    ]

    def test_check_config_bad_reports_file_line(self):
        for what, tail, line in self.BAD:
            with self.subTest(case=what):
                path = self.write(self.header() + tail)
                r = run_qmgrd(["--check-config", "-c", path])
                err = r.stderr.decode(errors="replace")
                self.assertNotEqual(r.returncode, 0, "%s accepted" % what)
                lines = line if isinstance(line, tuple) else (line,)
                self.assertTrue(any("%s:%d:" % (path, n) in err for n in lines),
                                "%s: expected %s:%s: in stderr, got %r" % (what, path, lines, err))

    def test_check_config_missing_file_fails(self):
        r = run_qmgrd(["--check-config", "-c", os.path.join(self.tmp, "nonexistent.conf")])
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip())

    def test_version(self):
        r = run_qmgrd(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertRegex(out, r"\d+\.\d+\.\d+")
        # the same version as the daemon reports in stats
        d = Daemon("[queue q]\n", log_level="info", start=False)
        self.addCleanup(d.cleanup)
        d.start()
        with d.client() as c:
            v = c.call("stats", [])["version"]
        self.assertIn(v, out)
        self.assertEqual(d.stop(), 0)


class TestLimits(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", max_connections="5")

    def test_max_connections(self):
        clients = [self.client() for _ in range(5)]
        for c in clients:
            self.assertEqual(c.ping(), "pong")
        mark = self.d.mark()
        extra = self.raw()
        got = extra.expect_closed()
        self.assertEqual(got, b"", "the connection over max_connections received %r" % got[:40])
        self.d.wait_log(r"(?i)max_connections|too many|limit|refus|reject", since=mark,
                        what="log line for the refused connection")
        # the existing connections are unaffected
        for c in clients:
            self.assertEqual(c.ping(), "pong")
        clients[0].close()

        def new_one_works():
            try:
                c = self.client()
            except (AuthFailed, ConnectionClosed, AssertionError, OSError):
                return None
            return c
        c = wait_until(new_one_works, what="a new connection after one closed")
        self.assertEqual(c.ping(), "pong")
        self.assertEqual(c.call("stats", [])["connections"], 5)

    def test_max_connections_rejections_are_rate_limited(self):
        clients = [self.client() for _ in range(5)]
        mark = self.d.mark()
        for _ in range(100):
            self.assertEqual(self.raw().expect_closed(), b"")
        self.assertEqual(clients[0].ping(), "pong")
        n = len(self.d.log_since(mark))
        self.assertGreaterEqual(n, 1)
        self.assertLess(n, 50, "%d log lines for 100 refused connections" % n)


class TestBackpressure(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", max_output="1M", max_item="1M")

    PAYLOAD = bytes(range(256)) * 1024      # 256 KiB
    ITEM = packb(PAYLOAD)
    N = 400                                 # 100 MiB of replies if nothing held back

    def _stall(self):
        obs = self.client()
        obs.call("queue.put", ["q", self.PAYLOAD, 0])
        self.assertEqual(obs.call("queue.peek", ["q", 1], raw=True), b"\x91" + self.ITEM)
        rss0 = self.d.rss_kib()
        a = self.client()
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        a.raw_send(b"".join(struct.pack(">i", len(f)) + f for f in
                            (pack_request(i + 1, "queue.peek", ["q", 1]) for i in range(self.N))))
        wait_until(lambda: (client_row(obs, a) or {}).get("ops", 0) >= 1,
                   what="the daemon working on the pipelined peeks")
        b = self.client()
        peak = 0
        for i in range(20):
            self.assertEqual(b.ping(), "pong")
            b.call("queue.put", ["one", i, 0])
            self.assertEqual(b.call("queue.get", ["one", 0]), i)
            self.assertEqual(b.call("buf.incr", ["b", "n", 1]), i + 1)
            peak = max(peak, self.d.rss_kib() - rss0)
        return obs, a, b, peak

    def _drain(self, a):
        seen = set()
        for _ in range(self.N):
            r = a.recv_response(CALL_TIMEOUT)
            self.assertIsNone(r.error)
            self.assertEqual(r.raw_result, b"\x91" + self.ITEM)
            self.assertNotIn(r.msgid, seen)
            seen.add(r.msgid)
        self.assertEqual(seen, set(range(1, self.N + 1)))
        self.assertEqual(a.ping(), "pong")

    def test_max_output_backpressure_serves_others_then_delivers_all(self):
        obs, a, b, _ = self._stall()
        self._drain(a)
        self.assertEqual(b.ping(), "pong")

    def test_max_output_bounds_daemon_memory(self):
        obs, a, b, peak = self._stall()
        row = client_row(obs, a)
        self.assertLess(peak, 48 * 1024,
                        "daemon VmRSS grew by %d KiB while a client did not read %d MiB of replies"
                        " (max_output = 1M); its ops: %r" % (peak, self.N * len(self.ITEM) >> 20,
                                                              row and row.get("ops")))
        self._drain(a)


class TestManyConnections(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", handshake_timeout="120s")
    START = False
    N = 1000

    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4 * self.N + 256
        if soft < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                self.fail("RLIMIT_NOFILE hard limit %d is below %d" % (hard, want))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        super().setUp()
        self.d = self.start_daemon()  # inherits the raised limit

    def test_1000_concurrent_connections(self):
        obs = self.client()
        key = self.d.key
        conns = [Client(self.d.port, handshake=False) for _ in range(self.N)]
        self.clients.extend(conns)
        # the handshakes proceed side by side, step by step
        msgs = [c.read_challenge() for c in conns]
        for c, m in zip(conns, msgs):
            c.send_frame(Client.answer(key, m))
        for c in conns:
            self.assertEqual(c.recv_frame(), WELCOME)
        nonces = [os.urandom(40) for _ in conns]
        for c, rc in zip(conns, nonces):
            c.send_frame(CHALLENGE + SHA256_PREFIX + rc)
        for c, rc in zip(conns, nonces):
            self.assertEqual(c.recv_frame(), Client.answer(key, SHA256_PREFIX + rc))
        for c in conns:
            c.send_frame(WELCOME)
        self.assertEqual(obs.call("stats", [])["connections"], self.N + 1)
        for i, c in enumerate(conns):
            c.send_request(i, "ping", [])
        for i, c in enumerate(conns):
            r = c.recv_response()
            self.assertEqual((r.msgid, r.result), (i, "pong"))
        self.assertEqual(len(obs.call("clients", [])), self.N + 1)
        for c in conns:
            c.close()
        wait_connections(obs, 1, timeout=60)
        self.assertEqual(obs.ping(), "pong")


class TestNoConfig(unittest.TestCase):
    def test_no_config_file(self):
        tmp = tempfile.mkdtemp(prefix="qmgrtest-noconf-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state")
        os.mkdir(state, 0o700)
        d = Daemon(args=["-l", "127.0.0.1:0", "-d", state], tmpdir=tmp, start=False)
        self.addCleanup(d.cleanup)
        d.start()
        keyfile = os.path.join(state, "authkey")
        self.assertTrue(os.path.exists(keyfile), "no %s; log:\n%s" % (keyfile, d.log_tail()))
        st = os.stat(keyfile)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(keyfile, "rb") as f:
            content = f.read()
        key = content[:-1] if content.endswith(b"\n") else content
        self.assertGreaterEqual(len(key), 16)
        self.assertTrue(all(chr(b) in string.printable and chr(b) not in "\r\n\t\x0b\x0c" for b in key),
                        "key file is not printable: %r" % content)
        d.key = key
        with d.client() as c:
            q = c.call("lookup", ["line_queue"])
            self.assertEqual((q["name"], q["type"], q["maxsize"]), ("line_queue", "queue", 200))
            self.assertEqual(c.call("get_line_queue", []), q)
            fb = c.call("get_buf", [])
            self.assertEqual((fb["name"], fb["type"]), ("flow_buf", "buf"))
            self.assertEqual(c.call("lookup", ["flow_buf"]), fb)
            self.assertEqual({o["name"] for o in c.call("objects", [])}, {"line_queue", "flow_buf"})
            c.call("queue.put", ["line_queue", b"batch", None])
            self.assertEqual(c.call("queue.get", ["line_queue", 0]), b"batch")
            c.call("buf.update", ["flow_buf", {"x": 1}])
            self.assertEqual(c.call("buf.drain", ["flow_buf"]), {"x": 1})
        self.assertEqual(d.stop(), 0, d.log_tail())
        # a second start keeps the existing key
        d2 = Daemon(args=["-l", "127.0.0.1:0", "-d", state], tmpdir=tmp, start=False)
        self.addCleanup(d2.cleanup)
        d2.start()
        with open(keyfile, "rb") as f:
            self.assertEqual(f.read(), content)
        d2.key = key
        with d2.client() as c:
            self.assertEqual(c.ping(), "pong")
        self.assertEqual(d2.stop(), 0, d2.log_tail())


if __name__ == "__main__":
    unittest.main()
