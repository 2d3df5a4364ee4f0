"""Shared pieces of the durability, fault and soak suites (test_durability.py,
test_faults.py, test_soak.py) and of their helper processes (dur_*.py).

Built on qmgrtest.py, which stays untouched: DurDaemon is a qmgrtest.Daemon
that can listen on a fixed port (so processes of the test can reconnect to a
daemon restarted after kill -9), run under an RLIMIT_FSIZE (a "full disk"),
be killed with SIGKILL and restarted on the same state directory, and start
expecting to fail. Also: a journal file reader (framing of
server/journal.h, CRC32C), a reconnecting client for the helper processes,
and small process helpers. Every wait is a deadline scaled by
QMGRTEST_TIMEOUT_SCALE, as in qmgrtest.
"""

import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import qmgrtest as qt
from qmgrtest import (  # noqa: F401  (re-exported for the suites)
    SCALE, CALL_TIMEOUT, CLOSE_TIMEOUT, POLL_TIMEOUT, STARTUP_TIMEOUT, STOP_TIMEOUT,
    Client, ConnectionClosed, Daemon, DaemonTest, LISTEN_RE, RPCError, Raw, daemon_env,
    packb, unpackb, qmgrd_path, split_array, wait_until, wait_stat, wait_connections, free_port,
)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

JOURNAL_FILE = "qmgrd.journal"
JOURNAL_MAGIC = b"QMGRJNL1"

# record types (server/journal.h)
JR_PUT, JR_TAKE, JR_TASK_DONE, JR_RETURN, JR_PURGE = 1, 2, 3, 4, 5
JR_BUF_SET, JR_BUF_DEL, JR_BUF_CLEAR, JR_QUEUE_META, JR_BUF_SET_MANY = 6, 7, 8, 9, 10


_SANITIZED = []


def sanitized():
    """True when $QMGRD is an ASan build (its RSS then holds ASan's
    quarantine of freed memory, so RSS bounds say nothing about leaks;
    LeakSanitizer at exit checks those instead)."""
    if not _SANITIZED:
        flag = os.environ.get("QMGRTEST_SANITIZED")
        if flag is not None:
            _SANITIZED.append(flag not in ("", "0"))
        else:
            try:
                with open(qmgrd_path(), "rb") as f:
                    _SANITIZED.append(b"__asan_init" in f.read())
            except OSError:
                _SANITIZED.append(False)
    return _SANITIZED[0]


def asan_env(**opts):
    """ASAN_OPTIONS with these settings added (e.g. detect_leaks=0 for a
    daemon run under strace, where LeakSanitizer cannot work)."""
    cur = os.environ.get("ASAN_OPTIONS", "")
    extra = ":".join("%s=%s" % kv for kv in opts.items())
    return {"ASAN_OPTIONS": (cur + ":" + extra) if cur else extra}


def read_key(keyfile):
    with open(keyfile, "rb") as f:
        key = f.read()
    return key[:-1] if key.endswith(b"\n") else key


# ---------------------------------------------------------------------------
# CRC32C (Castagnoli, reflected 0x82F63B78), as common/crc32c.c

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def make_record(payload_obj=None, payload=None):
    """One journal record: [u32 BE len][u32 BE crc32c][msgpack payload]."""
    if payload is None:
        payload = packb(payload_obj)
    return struct.pack(">II", len(payload), crc32c(payload)) + payload


class JournalRecord:
    def __init__(self, offset, length, crc, payload):
        self.offset = offset          # of the header
        self.length = length
        self.crc = crc
        self.payload = payload

    @property
    def end(self):
        return self.offset + 8 + self.length

    @property
    def value(self):
        return unpackb(self.payload)


def read_journal(path, check_crc=True):
    """(records, good_end, why): the records of a journal file up to the first
    bad one, the offset where a replay would cut, and why (None if clean)."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(JOURNAL_MAGIC):
        return [], 0, "not a journal"
    off = len(JOURNAL_MAGIC)
    recs = []
    while off < len(data):
        if len(data) - off < 8:
            return recs, off, "torn record header"
        length, crc = struct.unpack(">II", data[off:off + 8])
        if length > len(data) - off - 8:
            return recs, off, "torn record"
        payload = data[off + 8:off + 8 + length]
        if check_crc and crc32c(payload) != crc:
            return recs, off, "record checksum mismatch"
        recs.append(JournalRecord(off, length, crc, payload))
        off += 8 + length
    return recs, off, None


# ---------------------------------------------------------------------------
# The daemon

class DurDaemon(Daemon):
    """qmgrtest.Daemon plus: a fixed listen port (port=), RLIMIT_FSIZE
    (fsize= bytes), kill -9 and restart on the same state directory, and a
    start that is expected to fail.

    The log of earlier runs of the same DurDaemon is kept in `history`.
    """

    def __init__(self, objects="", port=None, fsize=None, wrapper=None, env=None, **kw):
        self.fixed_port = port
        self.fsize = fsize
        self.wrapper = wrapper
        self.extra_env = env or {}
        self.history = []
        self.runs = 0
        super().__init__(objects, **kw)

    @property
    def journal(self):
        return os.path.join(self.tmp, JOURNAL_FILE)

    def config_text(self, objects=None, **options):
        text = super().config_text(objects, **options)
        if self.fixed_port:
            text = text.replace("listen = 127.0.0.1:0\n",
                                "listen = 127.0.0.1:%d\n" % self.fixed_port, 1)
        return text

    def _argv(self):
        argv = [qmgrd_path()] + (self.args if self.args is not None else ["-c", self.conf])
        if self.fsize is not None:
            # prlimit execs the daemon: the pid stays the daemon's
            argv = ["prlimit", "--fsize=%d:unlimited" % self.fsize, "--"] + argv
        if self.wrapper:
            # e.g. strace: then self.proc is the wrapper, daemon_pid the daemon
            argv = list(self.wrapper) + argv
        return argv

    @property
    def daemon_pid(self):
        """The daemon's own pid, from its log lines (qmgrd[PID])."""
        for line in self.log_since(0):
            m = re.search(r"qmgrd\[(\d+)\]", line)
            if m:
                return int(m.group(1))
        return self.pid

    def _spawn(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                raise AssertionError("a qmgrd of this DurDaemon is still running")
            if self.reader is not None:
                self.reader.join(2)
            # a child of the old daemon (a compaction) may still hold the
            # pipe: then its reader thread is still in readline, and closing
            # the file under it would block; it ends at the child's exit
            if self.proc.stderr is not None and (self.reader is None or not self.reader.is_alive()):
                self.proc.stderr.close()
            self.history.append("---- run %d (rc=%r) ----" % (self.runs, self.proc.returncode))
            self.history.extend(self.lines)
        self.runs += 1
        self.lines = []
        self.returncode = None
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=daemon_env(self.extra_env), cwd=self.tmp)
        self.reader = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self.reader.start()

    def start(self):
        self._spawn()
        m = self.wait_log(LISTEN_RE, STARTUP_TIMEOUT, what="the 'listening on' line")
        self.port = int(m.group(1))
        if self.fixed_port and self.port != self.fixed_port:
            raise AssertionError("qmgrd listens on %d, not %d" % (self.port, self.fixed_port))
        return self

    def start_expect_failure(self, timeout=STARTUP_TIMEOUT):
        """Starts it expecting an exit before 'listening on'; returns (rc, log lines)."""
        self._spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("qmgrd did not exit within %.0fs; log:\n%s" % (timeout, self.log_tail()))
        self.reader.join(10)
        self.returncode = rc
        return rc, self.log_since(0)

    def crash(self):
        """kill -9 and reap it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        if self.reader is not None:
            self.reader.join(2)   # longer only if a child of it holds stderr
        self.returncode = self.proc.returncode
        return self.returncode

    def restart(self):
        return self.start()

    def full_log(self):
        return "\n".join(self.history + ["---- run %d ----" % self.runs] + self.log_since(0))

    def vm_kib(self, field="VmRSS"):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s in /proc/%d/status" % (field, self.pid))


class DurTest(DaemonTest):
    """DaemonTest whose daemons are DurDaemons. START = False by default:
    each test starts what it needs with start_daemon()."""

    START = False

    def start_daemon(self, objects=None, port=None, fsize=None, wrapper=None, env=None, **options):
        opts = dict(self.OPTIONS)
        opts.update(options)
        d = DurDaemon(self.OBJECTS if objects is None else objects, port=port, fsize=fsize,
                      wrapper=wrapper, env=env, start=False, **opts)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        d.start()
        return d

    def crash_restart(self, d=None):
        """kill -9, then start again on the same state dir; closes the test's clients."""
        d = d or self.d
        for c in self.clients:
            c.close()
        self.clients = []
        d.crash()
        return d.restart()

    def clean_restart(self, d=None):
        d = d or self.d
        for c in self.clients:
            c.close()
        self.clients = []
        rc = d.stop()
        self.assertEqual(rc, 0, "qmgrd did not exit 0 on SIGTERM; log:\n%s" % d.log_tail())
        return d.restart()

    def queue_contents(self, c, queue, raw=True):
        """Every item in the queue, head first, by peek (raw msgpack bytes)."""
        n = c.call("queue.qsize", [queue])
        if n == 0:
            return []
        got = c.call("queue.peek", [queue, n], raw=True)
        items = split_array(got)
        self.assertEqual(len(items), n)
        return items if raw else [unpackb(i) for i in items]


# ---------------------------------------------------------------------------
# Helper processes

class ReconnectingClient:
    """For the helper processes: a Client that reconnects (with a deadline)
    when the daemon is restarted. `call` raises ConnectionClosed/OSError on a
    broken connection; the caller decides what to drop, then calls
    reconnect()."""

    def __init__(self, port, key, deadline_s=120.0 * SCALE):
        self.port = port
        self.key = key
        self.deadline_s = deadline_s
        self.c = None
        self.reconnects = 0
        self.reconnect(first=True)

    def reconnect(self, first=False):
        if self.c is not None:
            self.c.close()
            self.c = None
        deadline = time.monotonic() + self.deadline_s
        delay = 0.01
        while True:
            try:
                self.c = Client(self.port, self.key, timeout=60.0 * SCALE)
                if not first:
                    self.reconnects += 1
                return
            except (OSError, ConnectionClosed, qt.AuthFailed, socket.timeout):
                if time.monotonic() > deadline:
                    raise
                # backoff while the daemon restarts (not synchronisation)
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def call(self, method, params, timeout=None, raw=False):
        return self.c.call(method, params, timeout=timeout, raw=raw)

    def close(self):
        if self.c is not None:
            self.c.close()


BROKEN = (ConnectionClosed, OSError, socket.timeout)


class LineLog:
    """An append-only log file written one flushed line at a time, with a
    CLOCK_MONOTONIC timestamp (comparable across processes)."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def write(self, tag, *fields):
        self.f.write("%s %.6f %s\n" % (tag, time.monotonic(), " ".join(str(x) for x in fields)))

    def close(self):
        self.f.close()


def read_line_log(path):
    """[(tag, t, [fields...])] of a LineLog file (a torn last line is dropped)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            parts = line.split()
            out.append((parts[0], float(parts[1]), parts[2:]))
    return out


def spawn(test, script, *args, env=None):
    """Starts tests/integration/<script> with /usr/bin/python3; killed and reaped at cleanup."""
    e = dict(os.environ)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        e.update(env)
    p = subprocess.Popen([PYTHON, os.path.join(HERE, script)] + [str(a) for a in args],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=HERE, env=e)
    test.addCleanup(reap, p)
    return p


def reap(p, timeout=30):
    if p.poll() is None:
        p.kill()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for f in (p.stdin, p.stdout, p.stderr):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def wait_procs(procs, timeout, what="helper processes"):
    """Waits for every process to exit 0 within timeout (AssertionError
    naming the first that failed, with its stderr)."""
    deadline = time.monotonic() + timeout
    for p in procs:
        remaining = deadline - time.monotonic()
        try:
            rc = p.wait(max(0.1, remaining))
        except subprocess.TimeoutExpired:
            raise AssertionError("%s (pid %d) still running after %.0fs" % (what, p.pid, timeout))
        if rc != 0:
            err = p.stderr.read().decode("utf-8", "replace") if p.stderr else ""
            raise AssertionError("%s (pid %d) exited %r:\n%s" % (what, p.pid, rc, err[-4000:]))


def rng(seed):
    return random.Random(seed)


def log_lines_matching(lines, pattern):
    rx = re.compile(pattern)
    return [l for l in lines if rx.search(l)]
