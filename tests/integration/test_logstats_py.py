"""The Python log-statistics pipeline (examples/logstats-py) end to end: a real
qmgrd, producer.py, worker.py (a multiprocessing.Pool of 8) and dumper.py as
separate processes using the qmgr package, and the totals in the dumper's
SQLite database checked EXACTLY against a recount of the same log done here,
independently (a regular expression, not the worker's split on quotes).

- TestExactTotals: a generated log (200,000 lines, some malformed) in
  1,000-line batches; lines counted == lines generated, every key exact.
- TestWorkerKilled: one Pool process is SIGKILLed while it holds a batch
  (the worker's --stall-after hook); line_queue has redeliver = on, so the
  batch goes back to the queue and the totals are still exact.

Nothing waits with a fixed sleep: every wait polls an observable (a file the
hook writes, queue.stat, a process exit) under a deadline.
"""

import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import unittest

from qmgrtest import SCALE, Daemon, wait_stat, wait_until
from test_logstats import Proc

EXAMPLE = os.environ.get("LOGSTATS_PY_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "logstats-py"))
PY = sys.executable
RUN_TIMEOUT = 120.0 * SCALE
LINES = 200000
BATCH = 1000
SEED = 7
MALFORMED_PPM = 500
WORKERS = 8

# The generator's format (producer.py --generate): anything else is malformed.
LINE_RE = re.compile(r'\S+ - - \[[^\]]*\] "([A-Z]+) ([^ ?"]*)(?:\?[^ "]*)? HTTP/1\.1" ([0-9]{3}) [0-9]+ "-" "[^"]*"')


def recount(lines):
    c = collections.Counter()
    for line in lines:
        c["lines"] += 1
        m = LINE_RE.fullmatch(line)
        if m is None:
            c["malformed"] += 1
            continue
        c["status:" + m.group(3)] += 1
        c["path:" + m.group(2)] += 1
    return dict(c)


def script(name):
    return [PY, os.path.join(EXAMPLE, name)]


class PipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="logstats-py-test-")
        cls.log = os.path.join(cls.tmp, "access.log")
        subprocess.run(script("producer.py") + [
            "--generate", str(LINES), "--seed", str(SEED), "--malformed-ppm", str(MALFORMED_PPM),
            "--output", cls.log], check=True, timeout=RUN_TIMEOUT)
        with open(cls.log, encoding="utf-8") as f:
            cls.lines = [line.rstrip("\n") for line in f if line.strip("\n")]
        cls.expected = recount(cls.lines)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.d = Daemon(log_level="info")  # the default objects: line_queue (maxsize 200, redeliver on), flow_buf
        self.addCleanup(self.d.cleanup)
        self.db = os.path.join(self.d.tmp, "stats.db")
        self.procs = []
        self.addCleanup(self.kill_all)
        self.env = dict(os.environ, QMGR_ADDR="127.0.0.1:%d" % self.d.port,
                        QMGR_AUTHKEY_FILE=self.d.keyfile)
        self.obs = self.d.client()
        self.addCleanup(self.obs.close)

    def kill_all(self):
        for p in self.procs:
            p.kill()
            for t in p.readers:
                t.join(10)
            p.proc.stdout.close()
            p.proc.stderr.close()

    def start(self, argv):
        p = Proc(argv, self.env)
        self.procs.append(p)
        return p

    def start_dumper(self):
        # found through the environment ($QMGR_ADDR, $QMGR_AUTHKEY_FILE)
        return self.start(script("dumper.py") + ["--db", self.db, "--interval", "0.2"])

    def start_workers(self, *extra):
        # found through -a / -k
        return self.start(script("worker.py") + ["-a", "127.0.0.1:%d" % self.d.port,
                                                 "-k", self.d.keyfile, "-j", str(WORKERS)] + list(extra))

    def start_producer(self):
        return self.start(script("producer.py") + ["--batch", str(BATCH), "--sentinels", str(WORKERS),
                                                   self.log])

    def producer_result(self, producer):
        self.assertEqual(producer.wait(RUN_TIMEOUT), 0, producer.output())
        m = re.search(r"lines=(\d+) batches=(\d+)", producer.output())
        self.assertIsNotNone(m, producer.output())
        return int(m.group(1)), int(m.group(2))

    def db_counters(self):
        with sqlite3.connect(self.db) as db:
            return dict(db.execute("SELECT key, value FROM counters"))

    def assert_exact(self):
        got = self.db_counters()
        self.assertEqual(got.get("lines"), LINES, "lines counted != lines generated")
        diff = sorted(k for k in set(got) | set(self.expected) if got.get(k) != self.expected.get(k))
        self.assertEqual(diff, [], "keys that differ (db, expected): %s" % [
            (k, got.get(k), self.expected.get(k)) for k in diff[:20]])
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT sum(lines) FROM drains").fetchone()[0], LINES)


class TestExactTotals(PipelineTest):
    def test_recount_sees_the_log(self):
        self.assertEqual(len(self.lines), LINES)
        self.assertEqual(self.expected["lines"], LINES)
        self.assertGreater(self.expected.get("malformed", 0), 0)
        self.assertGreater(sum(v for k, v in self.expected.items() if k.startswith("status:")),
                           LINES * 0.99)

    def test_exact_totals(self):
        dumper = self.start_dumper()
        workers = self.start_workers()
        lines, batches = self.producer_result(self.start_producer())
        self.assertEqual((lines, batches), (LINES, LINES // BATCH))
        # The producer returns after queue.join(), then puts one None per worker:
        # the Pool's 8 loops each take one and the worker exits by itself.
        self.assertEqual(workers.wait(RUN_TIMEOUT), 0, workers.output())
        self.assertIn("processes=%d batches=%d lines=%d" % (WORKERS, batches, LINES), workers.output())
        st = self.obs.call("queue.stat", ["line_queue"])
        self.assertEqual((st["size"], st["unfinished"], st["puts"], st["gets"], st["redelivered"]),
                         (0, 0, batches + WORKERS, batches + WORKERS, 0))
        self.assertEqual(dumper.stop(RUN_TIMEOUT), 0, dumper.output())  # its last drain
        self.assertEqual(self.obs.call("buf.len", ["flow_buf"]), 0)
        self.assert_exact()
        get = subprocess.run(script("dumper.py") + ["--db", self.db, "--get", "lines"],
                             capture_output=True, timeout=RUN_TIMEOUT)
        self.assertEqual((get.returncode, get.stdout), (0, b"%d\n" % LINES))
        report = subprocess.run(script("dumper.py") + ["--db", self.db, "--report", "--top", "3"],
                                capture_output=True, timeout=RUN_TIMEOUT, text=True)
        self.assertEqual(report.returncode, 0, report.stderr)
        self.assertIn("lines      %d" % LINES, report.stdout)


class TestWorkerKilled(PipelineTest):
    def test_sigkill_pool_worker_mid_batch_loses_nothing(self):
        stall_file = os.path.join(self.d.tmp, "staller.pid")
        dumper = self.start_dumper()
        workers = self.start_workers("--stall-after", "3", "--stall-file", stall_file)
        producer = self.start_producer()

        def staller_pid():
            try:
                with open(stall_file) as f:
                    return int(f.read())
            except (FileNotFoundError, ValueError):
                if workers.proc.poll() is not None:
                    raise AssertionError("worker.py exited:\n" + workers.output())
                return None
        pid = wait_until(staller_pid, RUN_TIMEOUT, "a Pool process holding a batch")
        # It is one of worker.py's Pool processes, and holds a batch the producer's join waits for.
        with open("/proc/%d/stat" % pid) as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[1]), workers.proc.pid)
        wait_until(lambda: self.obs.call("queue.stat", ["line_queue"])["unfinished"] >= 1,
                   RUN_TIMEOUT, "the held batch counted as unfinished")
        self.assertIsNone(producer.proc.poll(), "the producer finished while a batch was held")
        before = self.obs.call("queue.stat", ["line_queue"])["redelivered"]
        os.kill(pid, signal.SIGKILL)

        lines, batches = self.producer_result(producer)
        self.assertEqual((lines, batches), (LINES, LINES // BATCH))
        st = self.obs.call("queue.stat", ["line_queue"])
        self.assertGreaterEqual(st["redelivered"], before + 1)
        # The killed process's loop is gone with it (a Pool does not rerun a
        # lost task): 7 loops take 7 of the 8 sentinels, and worker.py waits
        # for the eighth result until told to stop.
        wait_stat(self.obs, "line_queue", RUN_TIMEOUT, size=1, unfinished=1)
        self.assertIsNone(workers.proc.poll())
        self.assertEqual(workers.stop(RUN_TIMEOUT), 0, workers.output())
        self.assertEqual(dumper.stop(RUN_TIMEOUT), 0, dumper.output())
        self.assert_exact()


if __name__ == "__main__":
    unittest.main()
