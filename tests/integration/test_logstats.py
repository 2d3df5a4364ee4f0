"""The log-statistics pipeline end to end (examples/logstats): a real qmgrd,
the producer, workers and dumper as separate processes, and the totals in the
dumper's SQLite database checked EXACTLY against a recount of the same log
done here, independently, in Python from the rules of logparse.h and
statkeys.h.

- TestExactTotals: a synthetic log (200,000 lines, 1,000-line batches).
- TestWorkerKilled: one worker is SIGKILLed while it holds a batch
  (--stall-after); the batch is redelivered and the totals are still exact.
- TestEdgeLines: hand-written odd lines (CRLF, '-' sizes, query strings,
  truncations, empty lines, IPv6 clients...) read from stdin.

Nothing waits with a fixed sleep: every wait polls an observable (a process
exit, a line on a worker's stderr, queue.stat) under a deadline.
"""

import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import unittest

from qmgrtest import SCALE, Daemon, test_pki, wait_stat, wait_until

PRODUCER = os.environ.get("LOGSTATS_PRODUCER")
WORKER = os.environ.get("LOGSTATS_WORKER")
DUMPER = os.environ.get("LOGSTATS_DUMPER")

RUN_TIMEOUT = 120.0 * SCALE
LINES = 200000
BATCH = 1000
TOP_CLIENTS = 20
SEED = 7
MALFORMED_PPM = 500

# ---------------------------------------------------------------------------
# The independent recount: logparse.h's rules as one regular expression.

LINE_RE = re.compile(
    rb'([^ ]+) [^\[]*\['
    rb'([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):[0-9]{2} [+-][0-9]{4}'
    rb'\] "([^" ]+) ([^" ]+)(?: [^"]*)?" '
    rb'([0-9]{3}) (-|[0-9]{1,18})(?: .*)?', re.DOTALL)
MONTHS = {m: i + 1 for i, m in enumerate(
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
     b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"])}
PATH_MAX = 256


def parse(line):
    """(client, minute, method, path, status, bytes) or None if malformed."""
    if line.endswith(b"\r"):
        line = line[:-1]
    m = LINE_RE.fullmatch(line)
    if not m:
        return None
    client, day, mon, year, hour, minute, method, target, status, size = m.groups()
    if mon not in MONTHS:
        return None
    path = target.split(b"?", 1)[0][:PATH_MAX]
    if b"\0" in client or b"\0" in method or b"\0" in path:
        return None
    iso = b"%s-%02d-%sT%s:%s" % (year, MONTHS[mon], day, hour, minute)
    return client, iso, method, path, status, 0 if size == b"-" else int(size)


def log_lines(data):
    """The lines the producer sends: every non-empty one."""
    return [line for line in data.split(b"\n") if line]


def recount(lines, batch, top):
    """The buf keys and totals the pipeline must produce (statkeys.h)."""
    c = collections.Counter()
    for start in range(0, len(lines), batch):
        clients = collections.Counter()
        for line in lines[start:start + batch]:
            c[b"lines"] += 1
            r = parse(line)
            if r is None:
                c[b"malformed"] += 1
                continue
            client, minute, method, path, status, size = r
            for dim, name in ((b"status", status), (b"method", method), (b"path", path),
                              (b"minute", minute)):
                c[b"%s:%s:req" % (dim, name)] += 1
                c[b"%s:%s:bytes" % (dim, name)] += size
            clients[client] += 1
        taken = 0
        for client, n in sorted(clients.items(), key=lambda kv: (-kv[1], kv[0])):
            if taken < top and client != b"(other)":
                c[b"client:%s:req" % client] += n
                taken += 1
            else:
                c[b"client:(other):req"] += n
    return {k.decode(): v for k, v in c.items() if v}


# ---------------------------------------------------------------------------
# Processes


class Proc:
    """A child process whose stderr is collected line by line."""

    def __init__(self, argv, env, stdin=subprocess.DEVNULL):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.err = []
        self.out = []
        self.cv = threading.Condition()
        self.readers = [threading.Thread(target=self._drain, args=(s, buf), daemon=True)
                        for s, buf in ((self.proc.stderr, self.err), (self.proc.stdout, self.out))]
        for t in self.readers:
            t.start()

    def _drain(self, stream, buf):
        for line in iter(stream.readline, b""):
            with self.cv:
                buf.append(line.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()

    def wait_stderr(self, pattern, timeout):
        rx = re.compile(pattern)
        return wait_until(lambda: any(rx.search(l) for l in list(self.err)) or (
            self.proc.poll() is not None and self.fail_exited(pattern)),
            timeout, "%r on the stderr of %s" % (pattern, os.path.basename(self.argv[0])))

    def fail_exited(self, pattern):
        raise AssertionError("%s exited (%r) before printing %r:\n%s" % (
            self.argv, self.proc.poll(), pattern, self.output()))

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.0fs:\n%s" % (
                self.argv, timeout, self.output()))
        for t in self.readers:
            t.join(10)
        return rc

    def stop(self, timeout):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        with self.cv:
            return "\n".join(self.out + self.err)


class PipelineTest(unittest.TestCase):
    DAEMON_OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        if not (PRODUCER and WORKER and DUMPER):
            raise unittest.SkipTest("LOGSTATS_PRODUCER/WORKER/DUMPER are not set")
        cls.tmp = tempfile.mkdtemp(prefix="logstats-test-")
        cls.log = os.path.join(cls.tmp, "access.log")
        subprocess.run([PRODUCER, "--generate", str(LINES), "--seed", str(SEED),
                        "--malformed-ppm", str(MALFORMED_PPM), "--output", cls.log],
                       check=True, timeout=RUN_TIMEOUT)
        with open(cls.log, "rb") as f:
            cls.lines = log_lines(f.read())
        cls.expected = recount(cls.lines, BATCH, TOP_CLIENTS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.d = Daemon(log_level="info", **self.DAEMON_OPTIONS)
        self.addCleanup(self.d.cleanup)
        self.db = os.path.join(self.d.tmp, "stats.db")
        self.procs = []
        self.addCleanup(self.kill_all)
        self.env = dict(os.environ, QMGR_ADDR=self.addr(), QMGR_AUTHKEY_FILE=self.d.keyfile)
        self.obs = self.d.client()
        self.addCleanup(self.obs.close)

    def addr(self):
        """Where the programs connect."""
        return "127.0.0.1:%d" % self.d.port

    def kill_all(self):
        for p in self.procs:
            p.kill()

    def start(self, argv, stdin=subprocess.DEVNULL):
        p = Proc(argv, self.env, stdin)
        self.procs.append(p)
        return p

    def start_dumper(self):
        # The dumper finds the daemon through -c: a client config of its own.
        conf = os.path.join(self.d.tmp, "client.conf")
        with open(conf, "w") as f:
            f.write("[qmgrd]\nlisten = %s\nauthkey_file = %s\n" % (self.addr(), self.d.keyfile))
            for k in ("tls_cert", "tls_key"):   # a config with tls:// names them
                if k in self.DAEMON_OPTIONS:
                    f.write("%s = %s\n" % (k, self.DAEMON_OPTIONS[k]))
        return self.start([DUMPER, "-c", conf, "--db", self.db, "--interval", "0.2"])

    def start_workers(self, *extra):
        return self.start([WORKER, "-a", self.addr(), "-k", self.d.keyfile,
                           "--top-clients", str(TOP_CLIENTS)] + list(extra))

    def run_producer(self, producer):
        self.assertEqual(producer.wait(RUN_TIMEOUT), 0, producer.output())
        m = re.search(r"lines=(\d+) batches=(\d+)", producer.output())
        self.assertIsNotNone(m, producer.output())
        return int(m.group(1)), int(m.group(2))

    def stop_all(self):
        """SIGTERM every process still running: each must exit 0."""
        for p in self.procs:
            if p.proc.poll() is None:
                self.assertEqual(p.stop(RUN_TIMEOUT), 0, p.output())

    def db_counters(self):
        with sqlite3.connect(self.db) as db:
            return dict(db.execute("SELECT key, value FROM counters"))

    def assert_exact(self, expected):
        got = self.db_counters()
        diff = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        self.assertEqual(diff, [], "keys that differ (db, expected): %s" % [
            (k, got.get(k), expected.get(k)) for k in diff[:20]])
        self.assertGreater(expected["lines"], 0)


class TestExactTotals(PipelineTest):
    def test_synthetic_log_exact_totals(self):
        self.start_dumper()
        self.start_workers("-j", "3")
        lines, batches = self.run_producer(self.start(
            [PRODUCER, "--generate", str(LINES), "--seed", str(SEED),
             "--malformed-ppm", str(MALFORMED_PPM), "--batch", str(BATCH)]))
        self.assertEqual((lines, batches), (LINES, LINES // BATCH))
        st = self.obs.call("queue.stat", ["line_queue"])
        self.assertEqual((st["size"], st["unfinished"], st["puts"]), (0, 0, batches))
        self.stop_all()

        self.assertEqual(len(self.lines), LINES)
        self.assertGreater(self.expected["malformed"], 0)   # the recount saw malformed lines
        self.assert_exact(self.expected)
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT sum(lines) FROM drains").fetchone()[0], LINES)
        get = subprocess.run([DUMPER, "--db", self.db, "--get", "lines"], capture_output=True,
                             timeout=RUN_TIMEOUT)
        self.assertEqual((get.returncode, get.stdout), (0, b"%d\n" % LINES))
        missing = subprocess.run([DUMPER, "--db", self.db, "--get", "no-such-key"],
                                 capture_output=True, timeout=RUN_TIMEOUT)
        self.assertEqual(missing.returncode, 1)
        report = subprocess.run([DUMPER, "--db", self.db, "--report", "--top", "3"],
                                capture_output=True, timeout=RUN_TIMEOUT, text=True)
        self.assertEqual(report.returncode, 0, report.stderr)
        self.assertIn("lines      %d" % LINES, report.stdout)
        top_path = max((k for k in self.expected if k.startswith("path:") and k.endswith(":req")),
                       key=lambda k: self.expected[k])
        self.assertIn(top_path[len("path:"):-len(":req")], report.stdout)


class TestExactTotalsOverTLS(PipelineTest):
    """The pipeline through a tls:// listener: the producer and the workers
    are given the CA with --tls-ca, the dumper through $QMGR_TLS_CA."""

    DAEMON_OPTIONS = dict(listen="tls://127.0.0.1:0", tls_cert=test_pki()["server.pem"],
                          tls_key=test_pki()["server.key"])

    def addr(self):
        return "tls://127.0.0.1:%d" % self.d.port

    def test_exact_totals_over_tls(self):
        ca = test_pki()["ca.pem"]
        self.env["QMGR_TLS_CA"] = ca
        self.start_dumper()
        del self.env["QMGR_TLS_CA"]
        self.start_workers("-j", "2", "--tls-ca", ca)
        lines, batches = self.run_producer(self.start(
            [PRODUCER, "--generate", str(LINES), "--seed", str(SEED), "--tls-ca", ca,
             "--malformed-ppm", str(MALFORMED_PPM), "--batch", str(BATCH)]))
        self.assertEqual((lines, batches), (LINES, LINES // BATCH))
        self.stop_all()
        self.assert_exact(self.expected)


class TestWorkerKilled(PipelineTest):
    def test_sigkill_mid_batch_loses_nothing(self):
        self.start_dumper()
        staller = self.start_workers("-j", "1", "--stall-after", "3")
        self.start_workers("-j", "2")
        producer = self.start([PRODUCER, "--batch", str(BATCH), self.log])

        staller.wait_stderr(r"stalling, holding a batch", RUN_TIMEOUT)
        # It holds a batch the producer's join is waiting for.
        wait_until(lambda: self.obs.call("queue.stat", ["line_queue"])["unfinished"] >= 1,
                   RUN_TIMEOUT, "the held batch counted as unfinished")
        self.assertIsNone(producer.proc.poll(), "the producer finished while a batch was held")
        self.assertIsNone(staller.proc.poll())
        staller.proc.send_signal(signal.SIGKILL)
        self.assertEqual(staller.wait(RUN_TIMEOUT), -signal.SIGKILL)

        lines, batches = self.run_producer(producer)
        self.assertEqual((lines, batches), (LINES, LINES // BATCH))
        st = wait_stat(self.obs, "line_queue", RUN_TIMEOUT, size=0, unfinished=0)
        self.assertGreaterEqual(st["redelivered"], 1)
        self.stop_all()
        self.assert_exact(self.expected)


EDGE_LINES = [
    # well-formed, with a query string, CRLF, '-' size, common format (no referer/agent)
    b'10.0.0.1 - - [01/Jan/2027:00:00:59 +0100] "GET /a?x=1 HTTP/1.1" 200 10 "-" "ua"',
    b'10.0.0.1 - frank [01/Jan/2027:00:01:00 -0500] "POST /a HTTP/2.0" 201 - "-" "ua"\r',
    b'10.0.0.2 - - [01/Jan/2027:00:01:01 +0000] "HEAD /b" 304 0',
    b'2001:db8::1 - - [01/Jan/2027:00:01:02 +0000] "GET /b extra words HTTP/1.1" 404 7 x',
    b'',
    b'(other) - - [01/Jan/2027:00:01:03 +0000] "GET /c HTTP/1.1" 500 3',
    b'10.0.0.3 - - [01/Jan/2027:00:01:04 +0000] "GET /' + b'p' * 300 + b' HTTP/1.1" 200 1',
    b'10.0.0.3 - - [01/Jan/2027:00:01:04 +0000] "GET /' + b'q' * 300 + b'\0 HTTP/1.1" 200 1',
    b'10.0.0.3 - - [01/Jan/2027:00:01:04 +0000] "OPTIONS ?only=query HTTP/1.1" 200 1',
    b'10.0.0.3 - - [01/Jan/2027:00:01:04 +0000] "GET /q?a\0b HTTP/1.1" 200 1',
    # malformed: truncated, bad month, bad status, bad size, empty method, no request
    b'10.0.0.4 - - [01/Jan/2027:00:01',
    b'10.0.0.4 - - [01/Foo/2027:00:01:05 +0000] "GET / HTTP/1.1" 200 1',
    b'10.0.0.4 - - [01/Jan/2027:00:01:05 +0000] "GET / HTTP/1.1" 20x 1',
    b'10.0.0.4 - - [01/Jan/2027:00:01:05 +0000] "GET / HTTP/1.1" 200 1k',
    b'10.0.0.4 - - [01/Jan/2027:00:01:05 +0000] " / HTTP/1.1" 200 1',
    b'10.0.0.4 - - [01/Jan/2027:00:01:05 +0000] "-" 400 0',
    b'10.0.0.4 - - [01/Jan/2027:00:01:05 +0000] "GET /\0nul HTTP/1.1" 200 1',
    b'\r',
    b'garbage',
]


class TestEdgeLines(PipelineTest):
    def test_odd_lines_from_stdin(self):
        self.start_dumper()
        self.start_workers("-j", "2")
        data = b"\n".join(EDGE_LINES * 3)
        lines = log_lines(data)
        expected = recount(lines, 4, TOP_CLIENTS)
        self.assertEqual(expected["malformed"], 9 * 3)  # the recount agrees with the list above
        self.assertIn("client:(other):req", expected)
        self.assertEqual(expected["path::req"], 3)            # a target that is all query
        self.assertIn("path:/" + "p" * (PATH_MAX - 1) + ":req", expected)
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            producer = self.start([PRODUCER, "--batch", "4", "-"], stdin=f)
            self.assertEqual(self.run_producer(producer), (len(lines), -(-len(lines) // 4)))
        self.stop_all()
        self.assert_exact(expected)


if __name__ == "__main__":
    unittest.main()
