"""qmgr-bench against a real qmgrd: every workload runs to its op count with
no errors, its --json report carries the fields scripts rely on, and what it
did is what the daemon saw. $QMGR_BENCH is the binary, $QMGRD the daemon.
Nothing here times anything: the figures are for BENCHMARKS.md."""

import json
import os
import subprocess
import unittest

import qmgrtest
from qmgrtest import DaemonTest

OBJECTS = """
[queue bench_q]
maxsize = 0
redeliver = off

[buf bench_buf]
"""

FIELDS = ["workload", "conns", "depth", "ops", "seconds", "ops_per_s", "p50_us", "p99_us",
          "max_us", "server_cpu_s_per_mop"]


def bench_path():
    return qmgrtest.binary_from_env("QMGR_BENCH", "qmgr-bench")


class BenchTest(DaemonTest):
    OBJECTS = OBJECTS

    def bench(self, *args, expect_rc=0):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QMGR_")}
        proc = subprocess.run([bench_path(), "-a", "127.0.0.1:%d" % self.d.port, "-k", self.d.keyfile,
                               "--json"] + list(args), capture_output=True, env=env,
                              timeout=120 * qmgrtest.SCALE)
        self.assertEqual(proc.returncode, expect_rc, proc.stderr)
        return json.loads(proc.stdout) if expect_rc == 0 else proc

    def assert_report(self, r, workload, ops, conns=1):
        for field in FIELDS:
            self.assertIn(field, r)
        self.assertEqual(r["workload"], workload)
        self.assertEqual(r["conns"], conns)
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["ops"], ops)
        self.assertGreater(r["ops_per_s"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])
        self.assertLessEqual(r["p99_us"], r["max_us"] + 1)

    def queue_stat(self):
        with self.client() as c:
            return c.call("queue.stat", ["bench_q"])

    def test_putget_puts_and_gets_every_item_and_leaves_the_queue_empty(self):
        r = self.bench("-w", "putget", "-n", "2000", "-P", "4")
        self.assert_report(r, "putget", 2000)
        st = self.queue_stat()
        self.assertEqual(st["puts"], 1000)
        self.assertEqual(st["gets"], 1000)
        self.assertEqual(st["size"], 0)

    def test_each_workload_runs_to_its_count(self):
        for workload, args, ops in [("put", ["-n", "500"], 500), ("get", ["-n", "500"], 500),
                                    ("incr", ["-n", "512", "-P", "8"], 512),
                                    ("update", ["-n", "200", "-K", "4"], 200),
                                    ("connect", ["-n", "20"], 20)]:
            with self.subTest(workload=workload):
                self.assert_report(self.bench("-w", workload, *args), workload, ops)

    def test_incr_and_update_totals_are_checked_exact(self):
        r = self.bench("-w", "incr", "-c", "4", "-n", "2000")
        self.assertTrue(r["exact"])
        with self.client() as c:
            self.assertEqual(c.call("buf.get", ["bench_buf", "bench_counter"]), 2000)
        self.assertTrue(self.bench("-w", "update", "-c", "2", "-n", "300", "-K", "3")["exact"])

    def test_batch_with_calls_in_flight_counts_each_item_twice(self):
        r = self.bench("-w", "batch", "-P", "16", "-W", "4", "-n", "6400")
        self.assert_report(r, "batch", 6400)
        self.assertEqual(r["calls"], 4)
        self.assertAlmostEqual(r["items_per_s"] * 2, r["ops_per_s"], delta=0.5)
        st = self.queue_stat()
        self.assertEqual(st["puts"], 3200)
        self.assertEqual(st["gets"], 3200)

    def test_fanout_delivers_every_item_once(self):
        r = self.bench("-w", "fanout", "-c", "3", "-n", "900")
        self.assertEqual(r["errors"], 0)
        self.assertEqual(r["ops"], 900)
        st = self.queue_stat()
        self.assertEqual(st["puts"], 900)
        self.assertEqual(st["gets"], 900)

    def test_fewer_threads_than_connections_share_one_poll_loop(self):
        with self.client() as watcher:
            before = watcher.call("stats")["connections_total"]
            r = self.bench("-w", "incr", "-c", "12", "-T", "2", "-n", "3000", "-P", "2")
            after = watcher.call("stats")["connections_total"]
        self.assert_report(r, "incr", 3000, conns=12)
        self.assertEqual(r["threads"], 2)
        self.assertTrue(r["exact"])
        self.assertEqual(after - before, 12 + 1)  # the connections, and the one that reads stats

    def test_usage_errors_exit_2(self):
        for args in [["-w", "nosuch"], ["-w", "putget", "-W", "2"], ["-w", "fanout", "-T", "1"],
                     ["-w", "connect", "-P", "2"], ["-n", "10"]]:
            with self.subTest(args=args):
                self.bench(*args, expect_rc=2)


if __name__ == "__main__":
    unittest.main()
