"""TLS listeners (docs/tls.md): certificates checked both ways, plain and TLS
side by side, a reload of the certificate on SIGHUP, hostile TLS peers, and
every client of the project (the C library through qmgrctl and qmgr-bench,
the Python package, Python's own handshake code) over TLS.

The method suites run over TLS as well: the tls.* ctest entries replay them
with QMGRTEST_TLS=1 (qmgrtest.py).
"""

import json
import multiprocessing.connection as mpc
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

from qmgrtest import (CALL_TIMEOUT, Client, ConnectionClosed, DaemonTest, binary_from_env,
                      test_pki, tls_client_context, wait_connections, wait_until)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client",
                                "python", "src"))
import qmgr  # noqa: E402  (the package from the source tree)

BOTH = "127.0.0.1:0, tls://127.0.0.1:0"


def tls_options(cert="server", ca=None):
    pki = test_pki()
    opts = dict(listen=BOTH, tls_cert=pki[cert + ".pem"], tls_key=pki[cert + ".key"])
    if ca:
        opts["tls_ca"] = pki[ca]
    return opts


class TLSTest(DaemonTest):
    OBJECTS = "[queue q]\n[queue big]\n[buf b]\n"
    OPTIONS = tls_options()

    def tls_client(self, host="127.0.0.1", **kw):
        c = Client(self.d.tls_port, self.d.key, host=host, tls=kw.pop("tls", tls_client_context()), **kw)
        self.clients.append(c)
        return c

    def tls_addr(self, host="127.0.0.1"):
        return "tls://%s:%d" % (host, self.d.tls_port)

    def assertTLSRefused(self, context, host="127.0.0.1"):
        """The TLS handshake fails: the daemon is not trusted, or refuses us."""
        with self.assertRaises((ssl.SSLError, ConnectionError, ConnectionClosed)):
            c = Client(self.d.tls_port, self.d.key, host=host, tls=context)
            self.clients.append(c)
            c.ping()  # TLS 1.3: a refused client certificate shows at the first read


class TestListeners(TLSTest):
    def test_plain_and_tls_side_by_side(self):
        plain = self.client()
        tls = self.tls_client()
        self.assertIsInstance(tls.sock, ssl.SSLSocket)
        self.assertNotIsInstance(plain.sock, ssl.SSLSocket)
        self.assertIn(tls.sock.version(), ("TLSv1.2", "TLSv1.3"))
        plain.call("queue.put", ["q", b"from plain"])
        self.assertEqual(tls.call("queue.get", ["q", 1]), b"from plain")
        tls.call("queue.put", ["q", b"from tls"])
        self.assertEqual(plain.call("queue.get", ["q", 1]), b"from tls")

    def test_plain_client_on_the_tls_port_is_closed(self):
        raw = Client(self.d.tls_port, handshake=False)
        self.clients.append(raw)
        raw.raw_send(struct.pack(">i", 100) + b"x" * 100)
        with self.assertRaises(ConnectionClosed):
            raw.recv_frame()
        self.d.wait_log(r"closing: TLS handshake")
        self.assertEqual(self.client().ping(), "pong")

    def test_tls_client_on_the_plain_port_fails(self):
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            Client(self.d.port, self.d.key, tls=tls_client_context())
        self.assertEqual(self.tls_client().ping(), "pong")

    def test_tls_1_1_is_refused(self):
        ctx = tls_client_context()
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            Client(self.d.tls_port, self.d.key, tls=ctx)

    def test_tls_1_2_is_served(self):
        ctx = tls_client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        c = self.tls_client(tls=ctx)
        self.assertEqual(c.sock.version(), "TLSv1.2")
        self.assertEqual(c.ping(), "pong")

    def test_wrong_authkey_inside_tls_is_refused(self):
        """TLS protects the wire; the authkey still decides who may call."""
        from qmgrtest import AuthFailed
        with self.assertRaises(AuthFailed):
            Client(self.d.tls_port, b"not the key", tls=tls_client_context())
        self.assertEqual(self.tls_client().ping(), "pong")

    def test_big_items_both_ways(self):
        c = self.tls_client()
        items = [os.urandom(n) for n in (1, 16383, 16384, 16385, 300000, 2 << 20)]
        c.call("queue.put_many", ["big", items])
        self.assertEqual(c.call("queue.get_many", ["big", len(items), 1]), items)

    def test_big_items_put_one_by_one_across_transports(self):
        """A put over 64 KiB is queued by reference to its frame; a plain
        getter is sent it from there, a TLS one gets a copy."""
        plain, tls = self.client(), self.tls_client()
        items = [os.urandom(n) for n in (70000, 300000, 2 << 20)]
        for it in items:
            plain.call("queue.put", ["big", it])
        self.assertEqual(tls.call("queue.get_many", ["big", len(items), 1]), items)
        for it in items:
            tls.call("queue.put", ["big", it])
        self.assertEqual(plain.call("queue.get_many", ["big", len(items), 1]), items)


class TestServerCertificate(TLSTest):
    def test_wrong_ca_is_refused(self):
        self.assertTLSRefused(ssl.create_default_context(cafile=test_pki()["rogue-ca.pem"]))

    def test_name_and_address_in_the_certificate_are_accepted(self):
        self.assertEqual(self.tls_client(host="127.0.0.1").ping(), "pong")
        self.assertEqual(self.tls_client(host="localhost").ping(), "pong")


class TestWrongHostName(TLSTest):
    OPTIONS = tls_options(cert="other")   # for qmgr.invalid only

    def test_wrong_host_name_is_refused(self):
        self.assertTLSRefused(tls_client_context(), host="127.0.0.1")
        self.assertTLSRefused(tls_client_context(), host="localhost")
        ctx = tls_client_context()
        ctx.check_hostname = False
        c = self.tls_client(tls=ctx)  # the chain itself is good
        self.assertEqual(c.ping(), "pong")

    def test_python_package_checks_the_host_name(self):
        with self.assertRaises(qmgr.AuthenticationError) as cm:
            qmgr.connect(self.tls_addr(), self.d.key, tls_ca=test_pki()["ca.pem"])
        self.assertIn("mismatch", str(cm.exception))

    def test_c_library_checks_the_host_name(self):
        for host in ("127.0.0.1", "localhost"):
            out = subprocess.run([binary_from_env("QMGRCTL", "qmgrctl"), "-a", self.tls_addr(host),
                                  "-k", self.d.keyfile, "--tls-ca", test_pki()["ca.pem"], "ls"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 3, out.stderr)
            self.assertIn("not trusted", out.stderr)
            self.assertIn("mismatch", out.stderr)


class TestClientCertificates(TLSTest):
    OPTIONS = tls_options(ca="ca.pem")

    def test_client_without_certificate_is_refused(self):
        self.assertTLSRefused(tls_client_context())
        self.d.wait_log(r"closing: TLS (handshake|read)")

    def test_certificate_of_another_ca_is_refused(self):
        pki = test_pki()
        self.assertTLSRefused(tls_client_context(cert=pki["rogue.pem"], key=pki["rogue.key"]))

    def test_certificate_of_the_ca_is_accepted(self):
        pki = test_pki()
        c = self.tls_client(tls=tls_client_context(cert=pki["client.pem"], key=pki["client.key"]))
        self.assertEqual(c.ping(), "pong")

    def test_plain_listener_needs_no_certificate(self):
        self.assertEqual(self.client().ping(), "pong")

    def test_stats_count_the_failed_handshakes(self):
        self.assertTLSRefused(tls_client_context())
        wait_until(lambda: self.client().call("stats", [])["tls_handshake_failures"] >= 1,
                   what="tls_handshake_failures >= 1")


class TestReload(TLSTest):
    def setUp(self):
        # The daemon reads its certificate from files this test replaces.
        pki = test_pki()
        self.certdir = os.path.join(os.path.dirname(pki["ca.pem"]), "reload-%d" % os.getpid())
        os.makedirs(self.certdir, exist_ok=True)
        self.addCleanup(shutil.rmtree, self.certdir, True)
        self.install("server")
        self.OPTIONS = dict(listen=BOTH, tls_cert=self.cert, tls_key=self.key)
        super().setUp()

    def install(self, name):
        pki = test_pki()
        self.cert = os.path.join(self.certdir, "cert.pem")
        self.key = os.path.join(self.certdir, "key.pem")
        shutil.copyfile(pki[name + ".pem"], self.cert)
        shutil.copyfile(pki[name + ".key"], self.key)

    def peer_common_name(self):
        ctx = tls_client_context()
        ctx.check_hostname = False
        with Client(self.d.tls_port, self.d.key, tls=ctx) as c:
            subject = dict(pair[0] for pair in c.sock.getpeercert()["subject"])
            return subject["commonName"]

    def test_sighup_serves_the_new_certificate_and_keeps_connections(self):
        before = self.tls_client()
        before.call("queue.put", ["q", b"1"])
        self.assertEqual(self.peer_common_name(), "localhost")
        self.install("other")
        mark = self.d.mark()
        self.d.signal(signal.SIGHUP)
        self.d.wait_log(r"reload: TLS certificate .* loaded", since=mark)
        self.assertEqual(self.peer_common_name(), "qmgr.invalid")
        self.assertTLSRefused(tls_client_context())   # the new one names another host
        # The connection made before the reload goes on.
        self.assertEqual(before.call("queue.get", ["q", 1]), b"1")
        self.assertEqual(before.ping(), "pong")

    def test_a_broken_certificate_keeps_the_running_one(self):
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        mark = self.d.mark()
        self.d.signal(signal.SIGHUP)
        self.d.wait_log(r"reload: keeping the running certificate: tls_cert", since=mark)
        self.assertEqual(self.peer_common_name(), "localhost")
        self.assertEqual(self.tls_client().ping(), "pong")


class TestHostilePeers(TLSTest):
    OPTIONS = dict(tls_options(), handshake_timeout="500ms", max_handshakes=4)

    def test_tls_handshake_that_never_finishes_times_out(self):
        s = socket.create_connection(("127.0.0.1", self.d.tls_port), timeout=CALL_TIMEOUT)
        self.addCleanup(s.close)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
        mark = self.d.mark()
        self.d.wait_log(r"handshake timed out", since=mark)
        self.assertEqual(s.recv(4096), b"")
        self.assertEqual(self.tls_client().ping(), "pong")

    def test_silent_tls_sockets_are_evicted_from_the_handshake_pool(self):
        silent = [socket.create_connection(("127.0.0.1", self.d.tls_port)) for _ in range(12)]
        for s in silent:
            self.addCleanup(s.close)
        self.assertEqual(self.tls_client().ping(), "pong")
        self.assertGreaterEqual(self.client().call("stats", [])["handshakes_evicted"], 8)

    def test_garbage_records_after_the_handshake_close_only_that_connection(self):
        other = self.tls_client()
        ctx = tls_client_context()
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.d.tls_port)),
                            server_hostname="127.0.0.1")
        self.addCleanup(s.close)
        raw = socket.socket(fileno=os.dup(s.fileno()))   # under TLS: bytes no record holds
        self.addCleanup(raw.close)
        raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
        self.d.wait_log(r"closing: TLS (read|handshake)")
        self.assertEqual(other.ping(), "pong")

    def test_client_gone_mid_record(self):
        s = socket.create_connection(("127.0.0.1", self.d.tls_port))
        s.sendall(b"\x16\x03\x01\x00\x50" + os.urandom(10))
        s.close()
        wait_connections(self.client(), 1)


class SSLFramedConnection:
    """multiprocessing.connection's send_bytes/recv_bytes over an SSL socket,
    so that Python's own answer_challenge/deliver_challenge run through TLS."""

    def __init__(self, sock):
        self.sock = sock

    def send_bytes(self, data):
        self.sock.sendall(struct.pack(">i", len(data)) + bytes(data))

    def _exactly(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def recv_bytes(self, maxlength=None):
        (n,) = struct.unpack(">i", self._exactly(4))
        if maxlength is not None and n > maxlength:
            raise OSError("bad message length")
        return self._exactly(n)


class TestPythonStandardLibrary(TLSTest):
    # Python 3.11's multiprocessing answers with HMAC-MD5 (docs/protocol.md §2).
    OPTIONS = dict(tls_options(), auth_legacy_md5="on")

    def test_multiprocessing_handshake_through_ssl(self):
        ctx = tls_client_context()
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.d.tls_port), timeout=10),
                               server_hostname="127.0.0.1")
        self.addCleanup(sock.close)
        conn = SSLFramedConnection(sock)
        mpc.answer_challenge(conn, self.d.key)
        mpc.deliver_challenge(conn, self.d.key)
        import msgpack
        conn.send_bytes(msgpack.packb([0, 7, "ping", []]))
        self.assertEqual(msgpack.unpackb(conn.recv_bytes()), [1, 7, None, "pong"])


class TestPythonPackage(TLSTest):
    def test_every_call_shape_over_tls(self):
        ca = test_pki()["ca.pem"]
        with qmgr.connect(self.tls_addr(), self.d.key, tls_ca=ca) as c:
            self.assertEqual(str(c.address), self.tls_addr())
            q = c.queue("q")
            q.put({"batch": ["a", "b"]})
            self.assertEqual(q.get(timeout=1), {"batch": ["a", "b"]})
            q.task_done()
            self.assertEqual(q.put_many([b"x" * 200000, b"y"]), 2)
            self.assertEqual(q.get_many(5, timeout=1), [b"x" * 200000, b"y"])
            t0 = time.monotonic()
            with self.assertRaises(queue.Empty):
                q.get(timeout=0.2)
            self.assertGreaterEqual(time.monotonic() - t0, 0.19)
            b = c.buf("b")
            self.assertEqual(b.incr("k", 5), 5)
            self.assertEqual(b.drain(), {"k": 5})

    def test_ca_from_the_environment(self):
        env = dict(os.environ, QMGR_TLS_CA=test_pki()["ca.pem"])
        out = subprocess.run([sys.executable, "-c", "import qmgr,sys; print(qmgr.connect(sys.argv[1], "
                              "sys.argv[2]).ping())", self.tls_addr(), self.d.key.decode()],
                             env=dict(env, PYTHONPATH=os.path.dirname(qmgr.__file__) + "/.."),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "pong"), out.stderr)

    def test_untrusted_certificate_is_an_authentication_error(self):
        with self.assertRaises(qmgr.AuthenticationError) as cm:
            qmgr.connect(self.tls_addr(), self.d.key, tls_ca=test_pki()["rogue-ca.pem"])
        self.assertIn("not trusted", str(cm.exception))



class TestPythonPackageClientCertificate(TLSTest):
    OPTIONS = tls_options(ca="ca.pem")

    def test_client_certificate(self):
        pki = test_pki()
        with qmgr.connect(self.tls_addr(), self.d.key, tls_ca=pki["ca.pem"],
                          tls_cert=pki["client.pem"], tls_key=pki["client.key"]) as c:
            self.assertEqual(c.ping(), "pong")
        with self.assertRaises((qmgr.ConnectionError, ssl.SSLError)):
            with qmgr.connect(self.tls_addr(), self.d.key, tls_ca=pki["ca.pem"]) as c:
                c.ping()


class CTools(TLSTest):
    def run_tool(self, argv, env=None, timeout=60):
        e = {k: v for k, v in os.environ.items() if not k.startswith("QMGR_")}
        e.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout)


class TestQmgrctl(CTools):
    OPTIONS = tls_options(ca="ca.pem")

    def ctl(self, *args, env=None):
        return self.run_tool([binary_from_env("QMGRCTL", "qmgrctl"), "-a", self.tls_addr(), "-k",
                              self.d.keyfile] + list(args), env)

    def test_flags(self):
        pki = test_pki()
        tls = ["--tls-ca", pki["ca.pem"], "--tls-cert", pki["client.pem"], "--tls-key", pki["client.key"]]
        put = self.ctl(*(tls + ["put", "q", "hello"]))
        self.assertEqual(put.returncode, 0, put.stderr)
        get = self.ctl(*(tls + ["--json", "get", "q"]))
        self.assertEqual((get.returncode, json.loads(get.stdout)), (0, "hello"), get.stderr)

    def test_environment(self):
        pki = test_pki()
        env = dict(QMGR_TLS_CA=pki["ca.pem"], QMGR_TLS_CERT=pki["client.pem"],
                   QMGR_TLS_KEY=pki["client.key"])
        ls = self.ctl("ls", env=env)
        self.assertEqual(ls.returncode, 0, ls.stderr)
        self.assertIn("big", ls.stdout)

    def test_untrusted_daemon(self):
        pki = test_pki()
        out = self.ctl("--tls-ca", pki["rogue-ca.pem"], "ls")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertIn("not trusted", out.stderr)
        self.assertIn("EAUTH", out.stderr)


    def test_missing_client_certificate(self):
        out = self.ctl("--tls-ca", test_pki()["ca.pem"], "ls")
        self.assertEqual(out.returncode, 3, out.stderr)


class TestBench(CTools):
    OBJECTS = "[queue bench_q]\n[buf bench_buf]\n"

    def test_batch_over_tls(self):
        out = self.run_tool([binary_from_env("QMGR_BENCH", "qmgr-bench"), "-a", self.tls_addr(),
                             "-k", self.d.keyfile, "--tls-ca", test_pki()["ca.pem"], "-w", "batch",
                             "-n", "20000", "-W", "4", "--json"], timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertGreaterEqual(report["ops"], 20000)
        self.assertEqual(self.client().call("queue.qsize", ["bench_q"]), 0)


if __name__ == "__main__":
    unittest.main()
