"""The Prometheus endpoint (metrics_listen, docs/metrics.md) of a real qmgrd.

The daemon binds metrics_listen = 127.0.0.1:0 and logs the port it got, as
it does for listen. The exposition is parsed with prometheus_client's own
parser and compared with what the daemon's `stats` and `objects` say after
real work done through the Python client package; a real Prometheus
(Debian's /usr/bin/prometheus) scrapes it and its query API is asked for
the figures. Every wait is a deadline loop on something observable.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import msgpack
from prometheus_client.parser import text_string_to_metric_families

import qmgr
from qmgrtest import (CALL_TIMEOUT, CLOSE_TIMEOUT, ENOMETHOD, SCALE,
                      STARTUP_TIMEOUT, STOP_TIMEOUT, Daemon, DaemonTest, cluster_options,
                      daemon_env, free_port, qmgrd_path, unique_stream, wait_until)

METRICS_RE = re.compile(r"metrics: serving http://127\.0\.0\.1:(\d+)/metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS_TIMEOUT = 60.0 * SCALE

OBJECTS = """
[queue line_queue]
maxsize = 200
redeliver = on

[queue jobs]

[buf flow_buf]
accessor = get_buf
"""

# stats key -> the metric that shows the same figure
STATS_FIGURES = {
    "connections": "qmgr_connections_open",
    "connections_total": "qmgr_connections_total",
    "connections_rejected": "qmgr_connections_rejected_total",
    "handshakes_evicted": "qmgr_handshakes_evicted_total",
    "auth_failures": "qmgr_auth_failures_total",
    "protocol_errors": "qmgr_protocol_errors_total",
    "ops": "qmgr_requests_total",
    "memory_bytes": "qmgr_memory_bytes",
    "max_memory": "qmgr_memory_limit_bytes",
    "objects": "qmgr_objects",
    "journal_bytes": "qmgr_journal_bytes",
    "journal_rewrites": "qmgr_journal_rewrites_total",
    "journal_fsyncs": "qmgr_journal_fsyncs_total",
}

# a queue's row in objects -> its metric
QUEUE_FIGURES = {
    "size": "qmgr_queue_size",
    "maxsize": "qmgr_queue_maxsize",
    "unfinished": "qmgr_queue_unfinished",
    "bytes": "qmgr_queue_bytes",
    "getters": "qmgr_queue_getters",
    "putters": "qmgr_queue_putters",
    "puts": "qmgr_queue_puts_total",
    "gets": "qmgr_queue_gets_total",
    "redelivered": "qmgr_queue_redelivered_total",
}


# ---------------------------------------------------------------------------
# helpers

def http_request(port, method="GET", path="/metrics", body=None):
    """(status, content type, headers, body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CALL_TIMEOUT)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.getheaders(), r.read()
    finally:
        conn.close()


def samples(text):
    """{(sample name, sorted labels): value} of an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(figures, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    if key not in figures:
        raise AssertionError("no sample %s%r in the exposition" % (name, labels))
    return figures[key]


def label_values(figures, name, label):
    return {dict(labels)[label] for (n, labels) in figures if n == name}


def listening_ports(pid):
    """The TCP ports the process listens on, from /proc/net/tcp{,6} and its fds."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def read_until_closed(sock):
    """Everything the peer sends until it closes (or resets) the connection."""
    data = b""
    sock.settimeout(CLOSE_TIMEOUT)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


class MetricsTest(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", metrics_listen="127.0.0.1:0")

    def metrics_port(self, d=None):
        d = d or self.d
        return int(d.wait_log(METRICS_RE, STARTUP_TIMEOUT, what="the metrics line").group(1))

    def scrape(self, d=None):
        status, ctype, _, body = http_request(self.metrics_port(d))
        self.assertEqual(status, 200)
        self.assertEqual(ctype, CONTENT_TYPE)
        return body.decode("utf-8")

    def py_client(self, d=None):
        d = d or self.d
        c = qmgr.connect(("127.0.0.1", d.port), d.key)
        self.addCleanup(c.close)
        return c


# ---------------------------------------------------------------------------
# the exposition

class TestExposition(MetricsTest):
    # fsync = always: no fsync of its own (everysec's) between stats and a scrape
    OPTIONS = dict(MetricsTest.OPTIONS, journal="on", fsync="always")

    def work(self):
        """Real work through the Python client: 5 puts and 2 gets on
        line_queue, 1 task_done, a put on jobs, 2 keys incremented."""
        c = self.py_client()
        q = c.queue("line_queue")
        for i in range(5):
            q.put("line %d" % i)
        self.assertEqual(q.get(timeout=CALL_TIMEOUT), "line 0")
        self.assertEqual(q.get(timeout=CALL_TIMEOUT), "line 1")
        q.task_done()
        c.queue("jobs").put(b"job")
        buf = c.buf("flow_buf")
        buf.incr("status:200", 5)
        buf.incr("status:404")
        return c

    def test_figures_match_stats_and_objects(self):
        self.work()
        observer = self.client()
        objects = observer.call("objects")
        stats = observer.call("stats")
        figures = samples(self.scrape())

        self.assertEqual(value(figures, "qmgr_queue_size", queue="line_queue"), 3)
        self.assertEqual(value(figures, "qmgr_queue_unfinished", queue="line_queue"), 4)
        self.assertEqual(value(figures, "qmgr_buf_length", buf="flow_buf"), 2)
        self.assertEqual(value(figures, "qmgr_connections_open"), 2)
        for key, metric in STATS_FIGURES.items():
            self.assertEqual(value(figures, metric), stats[key], "%s against stats %s" % (metric, key))
        self.assertEqual(label_values(figures, "qmgr_queue_size", "queue"), {"line_queue", "jobs"})
        for row in objects:
            if row["type"] == "queue":
                for stat, metric in QUEUE_FIGURES.items():
                    self.assertEqual(value(figures, metric, queue=row["name"]), row[stat],
                                     "%s of %s" % (metric, row["name"]))
            else:
                self.assertEqual(value(figures, "qmgr_buf_length", buf=row["name"]), row["len"])
        self.assertEqual(value(figures, "qmgr_up"), 1)
        self.assertEqual(value(figures, "qmgr_build_info", version=stats["version"]), 1)
        self.assertGreaterEqual(value(figures, "qmgr_uptime_seconds"), stats["uptime_s"] - 0.001)
        self.assertLessEqual(value(figures, "qmgr_start_time_seconds"), time.time())

    def test_fsyncs_are_counted_one_per_commit(self):
        c = self.client()
        before = c.call("stats")["journal_fsyncs"]
        for i in range(5):
            c.call("queue.put", ["line_queue", i])
        c.call("queue.qsize", ["line_queue"])  # a read: nothing to commit
        c.call("queue.get", ["line_queue"])
        self.assertEqual(c.call("stats")["journal_fsyncs"], before + 6)
        self.assertEqual(value(samples(self.scrape()), "qmgr_journal_fsyncs_total"), before + 6)

    def test_requests_are_counted_by_method(self):
        c = self.client()
        for i in range(5):
            c.call("queue.put", ["line_queue", i])
        for _ in range(2):
            c.call("queue.get", ["line_queue"])
        c.call("queue.task_done", ["line_queue"])
        for _ in range(3):
            c.call("buf.incr", ["flow_buf", "k", 1])
        c.call("get_line_queue")
        c.expect_error(ENOMETHOD, "no.such.method")
        figures = samples(self.scrape())

        called = {"queue.put": 5, "queue.get": 2, "queue.task_done": 1, "buf.incr": 3}
        methods = label_values(figures, "qmgr_method_requests_total", "method")
        self.assertTrue(set(called) | {"ping", "stats", "objects", "buf.drain"} <= methods, methods)
        for method in methods:
            self.assertEqual(value(figures, "qmgr_method_requests_total", method=method),
                             called.get(method, 0), method)
        self.assertEqual(value(figures, "qmgr_accessor_requests_total"), 1)
        self.assertEqual(value(figures, "qmgr_unknown_method_requests_total"), 1)
        self.assertEqual(value(figures, "qmgr_requests_total"), 13)
        self.assertEqual(c.call("stats")["ops"], 14)

    def test_every_family_has_help_and_type_then_its_samples(self):
        self.work()
        text = self.scrape()
        self.assertTrue(text.endswith("\n"))
        helps, types, counts = {}, {}, {}
        current = None
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name, help_text = line[len("# HELP "):].split(" ", 1)
                self.assertNotIn(name, helps, "two families named %s" % name)
                self.assertTrue(help_text.strip(), name)
                helps[name] = help_text
                current = name
            elif line.startswith("# TYPE "):
                name, kind = line[len("# TYPE "):].split(" ")
                self.assertEqual(name, current, "TYPE right after its HELP")
                self.assertIn(kind, ("counter", "gauge"))
                types[name] = kind
            else:
                self.assertFalse(line.startswith("#"), line)
                name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
                self.assertEqual(name, current, "a sample of %s after %s's HELP" % (name, current))
                self.assertIn(name, types, "a sample before its TYPE")
                counts[name] = counts.get(name, 0) + 1
        self.assertEqual(set(helps), set(types))
        self.assertEqual(set(helps), set(counts), "every family has samples")
        for name, kind in types.items():
            self.assertTrue(name.startswith("qmgr_"), name)
            self.assertEqual(name.endswith("_total"), kind == "counter", name)
        for metric in list(STATS_FIGURES.values()) + list(QUEUE_FIGURES.values()):
            self.assertIn(metric, types)
        parsed = list(text_string_to_metric_families(text))
        self.assertEqual(len(parsed), len(types))
        self.assertFalse([f.name for f in parsed if f.type not in ("counter", "gauge")])


class TestLabelEscaping(MetricsTest):
    # config.c takes any name without blanks or control characters: quotes,
    # backslashes and bytes that are not UTF-8 too (newlines cannot occur).
    OBJECTS = '[queue a"b\\c]\n[buf back\\slash"]\n'
    START = False

    def setUp(self):
        super().setUp()
        d = Daemon(self.OBJECTS, start=False, **self.OPTIONS)
        self.daemons.append(d)
        self.addCleanup(d.cleanup)
        with open(d.conf, "ab") as f:
            f.write(b"[queue bad\xffname]\n")
        self.d = d.start()

    def test_quotes_and_backslashes_are_escaped_and_bad_bytes_replaced(self):
        self.client().call("queue.put", ['a"b\\c', 1])
        text = self.scrape()
        self.assertIn('qmgr_queue_size{queue="a\\"b\\\\c"} 1\n', text)
        self.assertIn('qmgr_buf_length{buf="back\\\\slash\\""} 0\n', text)
        self.assertIn('qmgr_queue_size{queue="bad\ufffdname"} 0\n', text)
        # The names as objects has them (its bad byte decoded as U+FFFD too)
        # are the label values the parser reads.
        objects = msgpack.unpackb(self.client().call("objects", raw=True), raw=False,
                                  unicode_errors="replace")
        figures = samples(text)
        self.assertEqual(label_values(figures, "qmgr_queue_size", "queue"),
                         {o["name"] for o in objects if o["type"] == "queue"})
        self.assertEqual(label_values(figures, "qmgr_buf_length", "buf"),
                         {o["name"] for o in objects if o["type"] == "buf"})
        self.assertEqual(value(figures, "qmgr_queue_size", queue='a"b\\c'), 1)


# ---------------------------------------------------------------------------
# HTTP

class TestHttp(MetricsTest):
    def test_healthz(self):
        status, ctype, _, body = http_request(self.metrics_port(), path="/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertTrue(ctype.startswith("text/plain"))

    def test_other_paths_are_not_found(self):
        for path in ("/", "/metrics/", "/metricsx", "/healthz/x", "/%00"):
            self.assertEqual(http_request(self.metrics_port(), path=path)[0], 404, path)

    def test_a_query_string_is_ignored(self):
        status, _, _, body = http_request(self.metrics_port(), path="/metrics?name[]=qmgr_up")
        self.assertEqual(status, 200)
        self.assertIn(b"\nqmgr_up 1\n", body)

    def test_other_methods_are_not_allowed(self):
        port = self.metrics_port()
        for method, path in (("POST", "/metrics"), ("PUT", "/metrics"), ("DELETE", "/healthz"),
                             ("HEAD", "/metrics"), ("OPTIONS", "/metrics"), ("PATCH", "/healthz")):
            status, _, headers, _ = http_request(port, method, path, body=b"x=1")
            self.assertEqual(status, 405, "%s %s" % (method, path))
            self.assertIn(("Allow", "GET"), headers)

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port(), timeout=CALL_TIMEOUT)
        self.addCleanup(conn.close)
        for path in ("/metrics", "/healthz", "/metrics"):
            conn.request("GET", path)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()

    def assertStillServes(self):
        self.assertPings()
        self.assertEqual(http_request(self.metrics_port(), path="/healthz")[0], 200)

    def send_raw(self, data):
        """Sends data on a fresh connection; what comes back until the close."""
        s = socket.create_connection(("127.0.0.1", self.metrics_port()), timeout=CALL_TIMEOUT)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed before it had all: what a limit does
            return read_until_closed(s)
        finally:
            s.close()

    def test_garbage_is_refused_and_hurts_nothing(self):
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n",
                        b"GET\r\n\r\n",
                        b"GET /metrics HTTP/9.9\r\n\r\n",
                        b"\x00" * 100 + b"\r\n\r\n",
                        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
                        b"POST /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                        b"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            reply = self.send_raw(garbage)
            self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), (garbage, reply[:80]))
            self.assertStillServes()

    def test_huge_requests_are_cut_off(self):
        for huge in (b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n",
                     b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * (1 << 20) + b"\r\n\r\n",
                     b"GET /metrics HTTP/1.1\r\n" + b"X-Many: c\r\n" * 20000 + b"\r\n",
                     b"POST /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n" + b"d" * (1 << 20)):
            reply = self.send_raw(huge)
            self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:80])
            self.assertStillServes()


# ---------------------------------------------------------------------------
# listening

class TestListening(MetricsTest):
    START = False

    def test_off_by_default(self):
        d = self.start_daemon(metrics_listen=None)
        self.assertEqual(listening_ports(d.pid), {d.port})
        self.assertFalse([line for line in d.log_since() if "metrics" in line])

    def test_on_it_listens_on_one_more_port(self):
        d = self.start_daemon()
        metrics_port = self.metrics_port(d)  # its log line comes after the listener's
        self.assertEqual(listening_ports(d.pid), {d.port, metrics_port})

    def test_a_fixed_port(self):
        port = free_port()
        d = self.start_daemon(metrics_listen="127.0.0.1:%d" % port)
        self.assertEqual(self.metrics_port(d), port)
        self.assertEqual(http_request(port, path="/healthz")[0], 200)

    def test_a_reload_keeps_the_address(self):
        d = self.start_daemon()
        port = self.metrics_port(d)
        mark = d.mark()
        d.reload(metrics_listen="127.0.0.1:%d" % free_port())
        d.wait_log(r"reload: metrics_listen changed; it takes effect at the next start", since=mark)
        d.wait_log(r"reloaded ", since=mark)
        self.assertEqual(http_request(port, path="/healthz")[0], 200)

    def test_a_port_in_use_stops_the_start(self):
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        d = Daemon(OBJECTS, start=False, metrics_listen="127.0.0.1:%d" % port)
        self.addCleanup(d.cleanup)
        out = subprocess.run([qmgrd_path(), "-c", d.conf], env=daemon_env(), cwd=d.tmp,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=STARTUP_TIMEOUT)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("metrics_listen: bind 127.0.0.1:%d: Address already in use" % port, out.stderr)
        self.assertNotIn("ready:", out.stderr)


# ---------------------------------------------------------------------------
# cluster mode

class TestCluster(MetricsTest):
    """store = jetstream: a front end on a NATS JetStream cluster of its own."""
    START = False

    @classmethod
    def setUpClass(cls):
        from natscluster import NatsCluster
        cls.nats = NatsCluster()
        cls.addClassCleanup(cls.nats.cleanup)
        cls.nats.start()

    def test_the_log_position_and_the_front_ends_own_requests(self):
        d = self.start_daemon(**cluster_options(self.nats, unique_stream()))
        c = self.client(d)
        for i in range(3):
            c.call("queue.put", ["line_queue", i])
        before = c.call("stats")
        figures = samples(self.scrape(d))
        after = c.call("stats")

        applied = value(figures, "qmgr_cluster_log_applied")
        self.assertLessEqual(before["log_applied"], applied)
        self.assertLessEqual(applied, after["log_applied"])
        self.assertEqual(value(figures, "qmgr_cluster_frontend_id"), before["frontend"])
        self.assertEqual(value(figures, "qmgr_queue_size", queue="line_queue"), 3)
        self.assertEqual(value(figures, "qmgr_method_requests_total", method="queue.put"), 3)
        self.assertEqual(value(figures, "qmgr_method_requests_total", method="stats"), 1)
        self.assertEqual(value(figures, "qmgr_requests_total"), before["ops"])


# ---------------------------------------------------------------------------
# a real Prometheus

def prometheus_path():
    path = os.environ.get("PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(path):
        raise RuntimeError("prometheus not found (apt-get install prometheus)")
    return path


class Prometheus:
    """prometheus scraping one target every second, on a loopback port of its own."""

    def __init__(self, target_port):
        self.tmp = tempfile.mkdtemp(prefix="qmgrtest-prometheus-")
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: qmgr\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.log = os.path.join(self.tmp, "prometheus.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [prometheus_path(), "--config.file=" + self.conf,
                 "--storage.tsdb.path=" + os.path.join(self.tmp, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)

    def query(self, expr):
        """The instant query's result list, or None while prometheus cannot answer."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=CALL_TIMEOUT) as r:
                reply = json.load(r)
        except OSError:
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited (%r):\n%s" % (self.proc.poll(), self.log_tail()))
            return None
        if reply.get("status") != "success":
            raise AssertionError("query %r: %r" % (expr, reply))
        return reply["data"]["result"]

    def wait_value(self, expr, labels, want):
        """Polls until the series of expr with those labels has the value want."""
        def check():
            for series in self.query(expr) or []:
                if all(series["metric"].get(k) == v for k, v in labels.items()):
                    return float(series["value"][1]) == want
            return False
        try:
            wait_until(check, PROMETHEUS_TIMEOUT, "%s%r == %r in prometheus" % (expr, labels, want),
                       interval=0.2)
        except AssertionError as e:
            raise AssertionError("%s; last result %r; prometheus log:\n%s" % (
                e, self.query(expr), self.log_tail()))

    def log_tail(self, n=20):
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def cleanup(self):
        stop_process(self.proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


class TestPrometheus(MetricsTest):
    OBJECTS = OBJECTS + '[queue odd"name\\]\n'

    def test_prometheus_scrapes_the_queue_size(self):
        c = self.py_client()
        q = c.queue("line_queue")
        for i in range(5):
            q.put(i)
        q.get(timeout=CALL_TIMEOUT)
        q.get(timeout=CALL_TIMEOUT)
        c.queue('odd"name\\').put("x")
        self.assertEqual(c.call("queue.qsize", ["line_queue"]), 3)

        prom = Prometheus(self.metrics_port())
        self.addCleanup(prom.cleanup)
        prom.wait_value("qmgr_queue_size", {"queue": "line_queue", "job": "qmgr"}, 3)
        prom.wait_value('up{job="qmgr"}', {}, 1)
        prom.wait_value("qmgr_queue_size", {"queue": 'odd"name\\'}, 1)
        prom.wait_value("qmgr_method_requests_total", {"method": "queue.put"}, 6)

        q.put(99)
        prom.wait_value("qmgr_queue_size", {"queue": "line_queue"}, 4)


if __name__ == "__main__":
    unittest.main()
