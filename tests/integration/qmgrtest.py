"""Integration test harness for qmgrd.

Starts a real daemon (``$QMGRD``) on an ephemeral port with a config written to
a fresh temporary directory, and talks to it over plain sockets with a minimal
client implementing docs/protocol.md: frames (§1), the 3.12-form mutual HMAC-SHA256
handshake (§2) and msgpack-RPC (§3).

Only the standard library and msgpack are used. Nothing here synchronises with
fixed sleeps: whenever a test must know that the daemon reached some state
(a request parked, a connection gone) it polls an observable (``queue.stat``,
``clients``, ``stats``) in a deadline loop (``wait_until``).

Deadlines are generous because the daemon may run under ASan or valgrind;
scale them all with ``QMGRTEST_TIMEOUT_SCALE`` (a float, default 1).
"""

import collections
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import msgpack

# ---------------------------------------------------------------------------
# Deadlines

SCALE = float(os.environ.get("QMGRTEST_TIMEOUT_SCALE", "1") or "1")
STARTUP_TIMEOUT = 30.0 * SCALE   # until "listening on" appears
CALL_TIMEOUT = 30.0 * SCALE      # one request/response round trip
CLOSE_TIMEOUT = 15.0 * SCALE     # a peer close that should happen "at once"
STOP_TIMEOUT = 60.0 * SCALE      # SIGTERM until exit
POLL_TIMEOUT = 30.0 * SCALE      # wait_until default

# ---------------------------------------------------------------------------
# Protocol constants (docs/protocol.md)

CHALLENGE = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"
SHA256_PREFIX = b"{sha256}"
NONCE_SIZE = 40

ENOENT = 1
ETYPE = 2
EFULL = 3
EEMPTY = 4
ETIMEOUT = 5
EBADREQ = 6
ENOMETHOD = 7
ETOOBIG = 8
ENOMEM = 9
EVALUE = 10
ENOKEY = 11
ENOTNUM = 12
ERANGE = 13
ESHUTDOWN = 14

ERROR_NAMES = {
    1: "ENOENT", 2: "ETYPE", 3: "EFULL", 4: "EEMPTY", 5: "ETIMEOUT",
    6: "EBADREQ", 7: "ENOMETHOD", 8: "ETOOBIG", 9: "ENOMEM", 10: "EVALUE",
    11: "ENOKEY", 12: "ENOTNUM", 13: "ERANGE", 14: "ESHUTDOWN",
}

QUEUE_STAT_FIELDS = {"size", "maxsize", "unfinished", "bytes", "getters",
                     "putters", "puts", "gets", "redelivered"}


def binary_from_env(var, name):
    """The path of a built program, which ctest passes in the environment."""
    path = os.environ.get(var)
    if not path:
        raise RuntimeError("%s is not set: point it at the %s binary" % (var, name))
    return path


def qmgrd_path():
    return binary_from_env("QMGRD", "qmgrd")


# ---------------------------------------------------------------------------
# msgpack helpers

class Raw(bytes):
    """Bytes that are already msgpack: spliced into a request unchanged."""


def packb(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpackb(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def array_header(n):
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def pack_value(v):
    return bytes(v) if isinstance(v, Raw) else packb(v)


def pack_array(values):
    """An array whose elements may be Raw msgpack or Python values."""
    return array_header(len(values)) + b"".join(pack_value(v) for v in values)


def pack_request(msgid, method, params):
    """[0, msgid, method, params]; params is a list (elements may be Raw) or Raw."""
    p = bytes(params) if isinstance(params, Raw) else pack_array(params)
    return b"\x94\x00" + packb(msgid) + packb(method) + p


def split_array(raw):
    """Raw msgpack bytes of an array -> list of the raw bytes of its elements."""
    u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(raw), 1 << 20))
    u.feed(raw)
    n = u.read_array_header()
    out = []
    pos = u.tell()
    for _ in range(n):
        u.skip()
        end = u.tell()
        out.append(raw[pos:end])
        pos = end
    if pos != len(raw):
        raise ValueError("trailing bytes after array")
    return out


# ---------------------------------------------------------------------------
# Errors

class ConnectionClosed(Exception):
    """The peer closed the connection (EOF or reset)."""


class AuthFailed(Exception):
    """The server answered #FAILURE# (or closed) during the handshake."""


class ServerKeyMismatch(Exception):
    """The server's step-5 answer did not verify: it does not hold the key."""


class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__("%s (%r): %r" % (ERROR_NAMES.get(code, "?"), code, message))
        self.code = code
        self.message = message


class Undecodable(bytes):
    """A result msgpack-python refuses to decode; its raw bytes."""


Response = collections.namedtuple("Response", "msgid error result raw_result raw")


def decode_response(frame):
    """A response frame -> Response, keeping the result's raw bytes."""
    u = msgpack.Unpacker(raw=False, strict_map_key=False,
                         max_buffer_size=max(len(frame), 1 << 20))
    u.feed(frame)
    n = u.read_array_header()
    if n != 4:
        raise AssertionError("response is not a 4-array: %r" % frame[:64])
    kind = u.unpack()
    if kind != 1:
        raise AssertionError("message kind %r is not a response: %r" % (kind, frame[:64]))
    msgid = u.unpack()
    error = u.unpack()
    start = u.tell()
    u.skip()
    end = u.tell()
    if end != len(frame):
        raise AssertionError("trailing bytes after a response: %r" % frame[:64])
    raw_result = frame[start:end]
    try:
        result = unpackb(raw_result)
    except ValueError:
        # valid msgpack that Python will not turn into a value (e.g. an ext
        # type -1 that is not a valid timestamp): tests compare raw_result
        result = Undecodable(raw_result)
    if error is not None:
        if not (isinstance(error, list) and len(error) == 2 and isinstance(error[0], int)
                and isinstance(error[1], str)):
            raise AssertionError("error is not [code, message]: %r" % (error,))
        if result is not None:
            raise AssertionError("error response with a non-nil result: %r" % (result,))
    return Response(msgid, error, result, raw_result, frame)


# ---------------------------------------------------------------------------
# Client

def _deadline(timeout):
    return time.monotonic() + timeout


class Client:
    """One connection to the daemon over a plain socket.

    ``handshake=True`` runs docs/protocol.md §2 (3.12 form, sha256) at once.
    """

    def __init__(self, port, key=None, host="127.0.0.1", handshake=True, timeout=CALL_TIMEOUT,
                 tls=None):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is None and TLS_MODE:
            tls = tls_client_context()
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buf = bytearray()
        self.next_msgid = 1
        self.stash = collections.OrderedDict()  # msgid -> Response read while waiting for another
        self.key = key
        self.closed = False
        if handshake:
            self.handshake(key)

    # -- sockets and frames -------------------------------------------------

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def raw_send(self, data, tolerate_close=False):
        """Sends bytes as they are. With tolerate_close, a connection the peer
        already closed is reported by returning False instead of raising."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            if tolerate_close:
                return False
            raise

    def send_frame(self, payload, tolerate_close=False):
        return self.raw_send(struct.pack(">i", len(payload)) + bytes(payload), tolerate_close)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" % (n, len(self.buf)))
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except ConnectionResetError:
                raise ConnectionClosed("connection reset by peer")
            except socket.timeout:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" % (n, len(self.buf)))
            if not chunk:
                raise ConnectionClosed("EOF after %d buffered bytes" % len(self.buf))
            self.buf += chunk

    def recv_frame(self, timeout=None):
        deadline = _deadline(self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (n,) = struct.unpack(">i", self.buf[:4])
        if n < 0:
            raise AssertionError("server sent a negative frame length %d" % n)
        self._fill(4 + n, deadline)
        payload = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return payload

    def expect_closed(self, timeout=CLOSE_TIMEOUT):
        """Asserts the peer closes within timeout; returns whatever bytes it
        sent before closing (including ones already buffered)."""
        deadline = _deadline(timeout)
        got = bytes(self.buf)
        self.buf.clear()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("peer did not close within %.1fs (received %d bytes: %r)"
                                     % (timeout, len(got), got[:80]))
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
        self.close()
        return got

    def is_open(self, timeout=0.0):
        """True when nothing shows the peer closed (no EOF/reset within timeout).
        Data that arrives is kept in the buffer."""
        self.sock.settimeout(timeout if timeout > 0 else 0.000001)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return True
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buf += chunk
        return True

    # -- handshake (docs/protocol.md §2) ----------------------------------------

    def read_challenge(self):
        """Step 1: returns the payload after #CHALLENGE# ("{sha256}" . Rs)."""
        msg = self.recv_frame()
        if not msg.startswith(CHALLENGE + SHA256_PREFIX):
            raise AssertionError("step 1 is not #CHALLENGE#{sha256}...: %r" % msg)
        if len(msg) != len(CHALLENGE) + len(SHA256_PREFIX) + NONCE_SIZE:
            raise AssertionError("step 1 challenge has length %d" % len(msg))
        return msg[len(CHALLENGE):]

    @staticmethod
    def answer(key, message):
        """The 3.12-form answer to a challenge payload ("{sha256}" . R)."""
        return SHA256_PREFIX + hmac.new(key, message, "sha256").digest()

    def handshake(self, key):
        if isinstance(key, str):
            key = key.encode()
        message = self.read_challenge()
        self.send_frame(self.answer(key, message))
        try:
            r = self.recv_frame()
        except ConnectionClosed:
            raise AuthFailed("closed after step 2")
        if r != WELCOME:
            raise AuthFailed("step 3: %r" % r)
        rc = os.urandom(NONCE_SIZE)
        self.send_frame(CHALLENGE + SHA256_PREFIX + rc)
        resp = self.recv_frame()
        expected = self.answer(key, SHA256_PREFIX + rc)
        if not hmac.compare_digest(resp, expected):
            self.send_frame(FAILURE, tolerate_close=True)
            raise ServerKeyMismatch("step 5 did not verify: %r" % resp)
        self.send_frame(WELCOME)

    # -- msgpack-RPC --------------------------------------------------------

    def alloc_msgid(self):
        m = self.next_msgid
        self.next_msgid = (self.next_msgid + 1) & 0xFFFFFFFF
        return m

    def send_request(self, msgid, method, params):
        """Sends [0, msgid, method, params] (msgid None: the next free one).
        params elements may be Raw msgpack. Returns the msgid."""
        if msgid is None:
            msgid = self.alloc_msgid()
        self.send_frame(pack_request(msgid, method, params))
        return msgid

    def send_notification(self, method, params):
        self.send_frame(b"\x93\x02" + packb(method) + pack_array(params))

    def recv_response(self, timeout=None):
        """The next response: a stashed one first, else the next off the wire."""
        if self.stash:
            _, r = self.stash.popitem(last=False)
            return r
        return decode_response(self.recv_frame(timeout))

    def wait_response(self, msgid, timeout=None):
        """The response to msgid; others read meanwhile are stashed in order."""
        if msgid in self.stash:
            return self.stash.pop(msgid)
        deadline = _deadline(self.timeout if timeout is None else timeout)
        while True:
            r = decode_response(self.recv_frame(max(0.0, deadline - time.monotonic())))
            if r.msgid == msgid:
                return r
            if r.msgid in self.stash:
                raise AssertionError("two responses for msgid %r" % r.msgid)
            self.stash[r.msgid] = r

    @staticmethod
    def result_of(r, raw=False):
        if r.error is not None:
            raise RPCError(r.error[0], r.error[1])
        return r.raw_result if raw else r.result

    def call(self, method, params=(), timeout=None, raw=False):
        """One request, waiting for its response; returns the result (its raw
        msgpack bytes with raw=True) or raises RPCError."""
        msgid = self.send_request(None, method, list(params) if not isinstance(params, Raw) else params)
        return self.result_of(self.wait_response(msgid, timeout), raw)

    def call_error(self, method, params=(), timeout=None):
        """Calls and returns (code, message), failing if the call succeeded."""
        try:
            result = self.call(method, params, timeout)
        except RPCError as e:
            return e.code, e.message
        raise AssertionError("%s %r succeeded with %r, expected an error" % (method, params, result))

    def expect_error(self, code, method, params=(), timeout=None):
        """Asserts the call fails with error code `code`; returns the message."""
        got, message = self.call_error(method, params, timeout)
        if got != code:
            raise AssertionError("%s %r: expected error %s (%d), got %s (%d) %r" % (
                method, params, ERROR_NAMES.get(code), code, ERROR_NAMES.get(got, "?"), got, message))
        if not isinstance(message, str):
            raise AssertionError("error message is not a str: %r" % (message,))
        return message

    def ping(self):
        return self.call("ping", [])


def raw_client(port, timeout=CALL_TIMEOUT):
    """A connected socket wrapper with no handshake done."""
    return Client(port, handshake=False, timeout=timeout)


# ---------------------------------------------------------------------------
# Daemon

_STRIP_ENV = ("JOURNAL_STREAM", "NOTIFY_SOCKET", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY",
              "QMGR_ADDR", "QMGR_AUTHKEY_FILE", "LISTEN_FDS", "LISTEN_PID")

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
TLS_LISTEN_RE = re.compile(r"listening on tls://127\.0\.0\.1:(\d+)")

# QMGRTEST_TLS=1 runs a suite's daemons with one tls:// listener, and every
# Client of this module speaks TLS to it (test_tls.py has the rest).
TLS_MODE = os.environ.get("QMGRTEST_TLS") == "1"
_pki = None


def test_pki():
    """The throwaway certificates of this process (tlscerts.py), made once."""
    global _pki
    if _pki is None:
        import atexit
        import tlscerts
        directory = tempfile.mkdtemp(prefix="qmgrtest-pki-")
        atexit.register(shutil.rmtree, directory, True)
        _pki = tlscerts.make_pki(directory)
    return _pki


def tls_client_context(ca=None, cert=None, key=None):
    """What a client trusts: the test CA unless told otherwise."""
    ctx = ssl.create_default_context(cafile=ca or test_pki()["ca.pem"])
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx
JOINED_RE = re.compile(r"cluster: joined as front end (\d+)")

# QMGRTEST_STORE=jetstream runs a suite's daemons as front ends of a
# cluster (store = jetstream), each on a stream of its own in one NATS
# JetStream cluster of the process (natscluster.py).
CLUSTER_STORE = os.environ.get("QMGRTEST_STORE", "memory") == "jetstream"


def cluster_options(cluster, stream, frontend_timeout="2s"):
    """The [qmgrd] settings of a front end of stream in cluster."""
    return dict(store="jetstream", jetstream_servers=cluster.urls, jetstream_stream=stream,
                frontend_timeout=frontend_timeout)


def unique_stream():
    return "QMGRTEST_%s" % os.urandom(6).hex()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (the daemon binds
    it with SO_REUSEADDR, so it can be reused across kill -9)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def daemon_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in _STRIP_ENV}
    if extra:
        env.update(extra)
    return env


class Daemon:
    """A running qmgrd.

    objects: the text of the [queue ...]/[buf ...] sections.
    options: extra `[qmgrd]` settings (name -> value), e.g. max_item="1K".
    args: a full argument list replacing `-c CONF` (for no-config tests).
    """

    def __init__(self, objects="", key=None, args=None, tmpdir=None, start=True, **options):
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="qmgrtest-")
        self.own_tmp = tmpdir is None
        self.key = key if key is not None else b"qmgr-test-key-" + os.urandom(8).hex().encode()
        self.keyfile = os.path.join(self.tmp, "key")
        self.conf = os.path.join(self.tmp, "qmgrd.conf")
        self.objects = objects
        self.options = dict(log_level="debug")
        if CLUSTER_STORE and args is None and "store" not in options:
            from natscluster import shared_cluster
            self.options.update(cluster_options(shared_cluster(), unique_stream()))
        if TLS_MODE and args is None and "listen" not in options:
            pki = test_pki()
            self.options.update(listen="tls://127.0.0.1:0", tls_cert=pki["server.pem"],
                                tls_key=pki["server.key"])
        self.options.update(options)
        self.args = args
        self.proc = None
        self.port = None
        self.port_is_tls = False
        self.tls_port = None
        self.lines = []
        self.lines_cv = threading.Condition()
        self.reader = None
        self.returncode = None
        if args is None:
            with open(self.keyfile, "wb") as f:
                f.write(self.key + b"\n")
            os.chmod(self.keyfile, 0o600)
            self.write_config()
        if start:
            self.start()

    # -- config -------------------------------------------------------------

    def config_text(self, objects=None, **options):
        opts = dict(self.options)
        opts.update(options)
        lines = ["[qmgrd]",
                 "listen = %s" % opts.pop("listen", "127.0.0.1:0"),
                 "state_dir = %s" % self.tmp,
                 "authkey_file = %s" % self.keyfile]
        for k, v in opts.items():
            if v is not None:
                lines.append("%s = %s" % (k, v))
        lines.append("")
        lines.append(self.objects if objects is None else objects)
        return "\n".join(lines) + "\n"

    def write_config(self, objects=None, **options):
        if objects is not None:
            self.objects = objects
        self.options.update(options)
        with open(self.conf, "w") as f:
            f.write(self.config_text())

    # -- process ------------------------------------------------------------

    def start(self):
        argv = [qmgrd_path()] + (self.args if self.args is not None else ["-c", self.conf])
        self.lines = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=daemon_env(), cwd=self.tmp)
        self.reader = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self.reader.start()
        plain = not str(self.options.get("listen", "")).startswith("tls://")
        m = self.wait_log(LISTEN_RE if plain else TLS_LISTEN_RE, STARTUP_TIMEOUT,
                          what="the 'listening on' line")
        self.port = int(m.group(1))
        self.port_is_tls = not plain
        self.tls_port = None
        if "tls://" in str(self.options.get("listen", "")):
            self.tls_port = int(self.wait_log(TLS_LISTEN_RE, STARTUP_TIMEOUT).group(1))
        self.frontend = None
        if self.options.get("store") == "jetstream":
            m = self.wait_log(JOINED_RE, STARTUP_TIMEOUT, what="the cluster's join")
            self.frontend = int(m.group(1))
        return self

    def _drain(self, proc):
        for line in iter(proc.stderr.readline, b""):
            with self.lines_cv:
                self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))
                self.lines_cv.notify_all()
        with self.lines_cv:
            self.lines_cv.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def mark(self):
        """A position in the log; pass to wait_log/log_since."""
        with self.lines_cv:
            return len(self.lines)

    def log_since(self, mark=0):
        with self.lines_cv:
            return list(self.lines[mark:])

    def log_tail(self, n=40):
        return "\n".join(self.log_since(max(0, self.mark() - n)))

    def wait_log(self, pattern, timeout=POLL_TIMEOUT, since=0, what=None):
        """Waits until a log line (from position since) matches; returns the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = _deadline(timeout)
        i = since
        with self.lines_cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if self.proc.poll() is not None and not self.reader.is_alive():
                    break
                self.lines_cv.wait(min(remaining, 0.2))
        raise AssertionError("no log line matching %r (%s) within %.1fs; daemon %s; log tail:\n%s" % (
            rx.pattern, what or "", timeout,
            "running" if self.alive() else "exited with %r" % self.proc.poll(), self.log_tail()))

    def client(self, key=None, **kw):
        if self.port_is_tls and "tls" not in kw:
            kw["tls"] = tls_client_context()
        return Client(self.port, self.key if key is None else key, **kw)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, objects=None, **options):
        """Rewrites the config file and sends SIGHUP."""
        self.write_config(objects, **options)
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.reader is not None:
            self.reader.join(10)
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit status (None if it did not exit
        in time, after which it is killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        if self.reader is not None:
            self.reader.join(10)

    def cleanup(self):
        self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/%d/status" % self.pid)


# ---------------------------------------------------------------------------
# A relay that can hold traffic back

class HoldingProxy:
    """A TCP forwarder 127.0.0.1:port -> 127.0.0.1:upstream. While `hold` is
    set, bytes from the client (and from upstream too, with both=True) are
    kept back (counted in `held`, never forwarded) and an upstream close is
    not passed on; cut() closes every connection, dropping what was held."""

    def __init__(self, upstream, both=False):
        self.upstream = upstream
        self.both = both
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.hold = threading.Event()
        self.held = 0
        self.accepted = 0
        self.lock = threading.Lock()
        self.pairs = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.lsock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=CALL_TIMEOUT)
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            with self.lock:
                self.accepted += 1
                self.pairs.append((down, up))
            threading.Thread(target=self._pump, args=(down, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, False), daemon=True).start()

    @staticmethod
    def _kill(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _pump(self, src, dst, from_client):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                if from_client or not self.hold.is_set():
                    self._kill(dst)
                    self._kill(src)
                return
            if (from_client or self.both) and self.hold.is_set():
                with self.lock:
                    self.held += len(data)
                continue
            try:
                dst.sendall(data)
            except OSError:
                return

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for down, up in pairs:
            self._kill(down)
            self._kill(up)
            down.close()
            up.close()

    def close(self):
        self._kill(self.lsock)
        self.lsock.close()
        self.cut()


# ---------------------------------------------------------------------------
# Polling

def wait_until(predicate, timeout=POLL_TIMEOUT, what="condition", interval=0.01):
    """Polls predicate() until it returns a truthy value (returned) or the
    deadline passes (AssertionError). This is a deadline loop on an
    observable, not a sleep standing in for synchronisation."""
    deadline = _deadline(timeout)
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def wait_stat(client, queue, timeout=POLL_TIMEOUT, **want):
    """Polls queue.stat until every given field has the given value."""
    def check():
        st = client.call("queue.stat", [queue])
        return st if all(st.get(k) == v for k, v in want.items()) else False
    try:
        return wait_until(check, timeout, "queue.stat %s %r" % (queue, want))
    except AssertionError:
        raise AssertionError("queue.stat %s never matched %r; last %r" % (
            queue, want, client.call("queue.stat", [queue])))


def wait_waiting_on(observer, name, count, timeout=POLL_TIMEOUT):
    """Polls `clients` until exactly count connections are parked on name."""
    def check():
        rows = observer.call("clients", [])
        n = sum(1 for r in rows if r.get("waiting_on") == name)
        return rows if n == count else False
    return wait_until(check, timeout, "%d clients waiting_on %r" % (count, name))


def wait_connections(observer, count, timeout=POLL_TIMEOUT):
    """Polls `stats` until the daemon counts exactly count connections."""
    return wait_until(lambda: observer.call("stats", [])["connections"] == count, timeout,
                      "stats.connections == %d" % count)


def client_row(observer, client):
    """The `clients` row of a connection, found by its local port in `peer`."""
    port = str(client.local_port)
    rows = [r for r in observer.call("clients", [])
            if re.search(r"(^|\D)%s$" % port, str(r.get("peer", "")))]
    return rows[0] if len(rows) == 1 else None


# ---------------------------------------------------------------------------
# unittest base

class DaemonTest(unittest.TestCase):
    """Each test gets its own daemon, started from OBJECTS and OPTIONS, and
    must leave it able to exit 0 on SIGTERM."""

    OBJECTS = ""
    OPTIONS = {}
    START = True

    def setUp(self):
        self.clients = []
        self.daemons = []
        self.d = self.start_daemon() if self.START else None

    def start_daemon(self, objects=None, **options):
        opts = dict(self.OPTIONS)
        opts.update(options)
        d = Daemon(self.OBJECTS if objects is None else objects, start=False, **opts)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def restart(self, objects=None, **options):
        """Replaces self.d with a daemon of another config (the old one must exit 0)."""
        self.stop_daemon(self.d)
        self.d = self.start_daemon(objects, **options)
        return self.d

    def client(self, d=None, **kw):
        c = (d or self.d).client(**kw)
        self.clients.append(c)
        return c

    def raw(self, d=None):
        c = raw_client((d or self.d).port)
        self.clients.append(c)
        return c

    def stop_daemon(self, d):
        rc = d.stop()
        self.assertEqual(rc, 0, "qmgrd did not exit 0 on SIGTERM (rc=%r); log tail:\n%s" % (rc, d.log_tail()))

    def tearDown(self):
        for c in self.clients:
            c.close()
        for d in self.daemons:
            if d.proc is not None and d.returncode is None:
                self.assertTrue(d.alive(), "qmgrd died during the test (rc=%r); log tail:\n%s"
                                % (d.proc.poll(), d.log_tail()))
                self.stop_daemon(d)

    # -- assertions ------------------------------------------------------------

    def assertElapsed(self, t0, low, high=None):
        el = time.monotonic() - t0
        self.assertGreaterEqual(el, low - 0.02, "returned after %.3fs, before %.3fs" % (el, low))
        if high is not None:
            self.assertLessEqual(el, high, "returned after %.3fs, later than %.3fs" % (el, high))
        return el

    def assertPings(self, d=None):
        """A fresh client completes the handshake and gets "pong"."""
        with (d or self.d).client() as c:
            self.assertEqual(c.ping(), "pong")
