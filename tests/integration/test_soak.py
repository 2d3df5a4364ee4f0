"""A bounded soak: 200 connections (4 processes x 50 threads, dur_soak.py) of
mixed queue and buf operations against one daemon (journal on, everysec).

- redeliver = off: every item whose put was acknowledged is got exactly once;
  nothing refused or never put shows up.
- redeliver = on, plus victim processes killed with SIGKILL at random
  moments: every acknowledged item is got at least once and settled exactly
  once; an item is delivered again only after a delivery to a killed
  process that was not settled; `redelivered` counts exactly those.
- Both: buf totals exact (ints, exactly representable floats, and
  concurrent atomic drains adding up), unfinished back to 0, connections back
  to the baseline, and the daemon's RSS back near its start (+20 MiB).

QMGR_SOAK_SECONDS (default 40) is the length of each of the two soaks.
"""

import collections
import json
import os
import signal
import time
import unittest

from dur_lib import (
    SCALE, DurTest, read_line_log, rng, sanitized, spawn, wait_connections, wait_procs,
)

SECONDS = float(os.environ.get("QMGR_SOAK_SECONDS", "40"))
PROCS = 4
CONNS = 50
RSS_SLACK_KIB = 20 * 1024


def objects(redeliver):
    return """
[queue soak]
maxsize = 2000
redeliver = %s

[buf tot]

[buf dr]
""" % redeliver


class SoakBase(DurTest):
    MODE = "off"
    VICTIMS = 0

    def run_soak(self, seed):
        d = self.d = self.start_daemon(objects(self.MODE), journal="on", fsync="everysec",
                                       log_level="notice", max_connections=1000)
        obs = self.client()
        base_conns = obs.call("stats", [])["connections"]
        rss0 = d.rss_kib()
        mem0 = obs.call("stats", [])["memory_bytes"]
        outs = [os.path.join(d.tmp, "soak%d.json" % i) for i in range(PROCS)]
        procs = [spawn(self, "dur_soak.py", d.port, d.keyfile, self.MODE, "main", "p%d" % i, CONNS,
                       SECONDS, seed * 10 + i, outs[i]) for i in range(PROCS)]
        for p in procs:
            line = p.stdout.readline()
            self.assertEqual(line.strip(), b"READY", "a soak process did not start: %r" % line)
        t0 = time.monotonic()
        peak = rss0
        victim_logs = []
        r = rng(seed)
        if self.VICTIMS:
            # victims, each killed at a random moment of the soak
            kill_at = sorted(r.uniform(0.1, 0.8) * SECONDS for _ in range(self.VICTIMS))
            for k, at in enumerate(kill_at):
                log = os.path.join(d.tmp, "victim%d.log" % k)
                victim_logs.append(log)
                v = spawn(self, "dur_soak.py", d.port, d.keyfile, self.MODE, "victim", "v%d" % k, 10,
                          SECONDS, seed * 100 + k, log)
                self.assertEqual(v.stdout.readline().strip(), b"READY")
                while time.monotonic() - t0 < at:      # the kill moment is an input
                    peak = max(peak, d.rss_kib())
                    time.sleep(0.05)
                os.kill(v.pid, signal.SIGKILL)
                v.wait(30)
        while any(p.poll() is None for p in procs) and time.monotonic() - t0 < SECONDS + 120 * SCALE:
            peak = max(peak, d.rss_kib())
            time.sleep(0.2)                            # sampling RSS, not synchronising
        wait_procs(procs, 120 * SCALE, "a soak process")
        books = []
        for o in outs:
            with open(o) as f:
                books.append(json.load(f))
        errors = [e for b in books for e in b["errors"]]
        self.assertEqual(errors, [], "soak clients hit errors")
        wait_connections(obs, base_conns, timeout=60 * SCALE)
        # drain what is left
        rest = []
        while True:
            n = obs.call("queue.qsize", ["soak"])
            if n == 0:
                break
            got = obs.call("queue.get_many", ["soak", 500, 0])
            rest += got
            obs.call("queue.task_done", ["soak", len(got)])
        st = obs.call("queue.stat", ["soak"])
        self.assertEqual(st["unfinished"], 0, st)
        self.assertIsNone(obs.call("queue.join", ["soak", 0]))
        ops = collections.Counter()
        for b in books:
            ops.update(b["ops"])
        self.check_items(books, victim_logs, rest, st)
        self.check_bufs(obs, books, victim_logs)
        # memory back near the start: RSS (not under ASan, whose quarantine
        # holds freed memory; its LeakSanitizer checks the exit instead)
        rss1 = d.rss_kib()
        if not sanitized():
            self.assertLess(rss1 - rss0, RSS_SLACK_KIB, "RSS %d KiB at start, %d at the end (peak %d)"
                            % (rss0, rss1, peak))
        # everything durable too: the bufs after a kill -9
        tot = obs.call("buf.items", ["tot"])
        mem_end = obs.call("stats", [])["memory_bytes"]
        self.crash_restart()
        obs = self.client()
        self.assertEqual(obs.call("buf.items", ["tot"]), tot)
        # the daemon's own count of memory after the soak is that of the same
        # state freshly replayed (no drift), and, emptied, that of the start
        self.assertEqual(obs.call("stats", [])["memory_bytes"], mem_end, "memory_bytes drifted in the soak")
        obs.call("buf.clear", ["tot"])
        obs.call("buf.clear", ["dr"])
        self.assertEqual(obs.call("stats", [])["memory_bytes"], mem0)
        print("\nsoak redeliver=%s: %ds, %d ops, %d puts, RSS %d -> peak %d -> %d KiB, redelivered %d"
              % (self.MODE, SECONDS, sum(ops.values()), sum(len(b["puts"]) for b in books), rss0, peak,
                 rss1, st["redelivered"]))

    def check_bufs(self, obs, books, victim_logs):
        want = collections.Counter()
        fwant = collections.defaultdict(float)
        drained = collections.Counter()
        for b in books:
            want.update(b["deltas"])
            for k, v in b["fdeltas"].items():
                fwant[k] += v
            for m in b["drained"]:
                drained.update(m)
        lo, hi = collections.Counter(), collections.Counter()
        for log in victim_logs:
            for tag, _, f in read_line_log(log):
                if tag == "IA":
                    lo[f[1]] += int(f[2])
                elif tag == "IS":
                    hi[f[1]] += int(f[2])
        tot = obs.call("buf.items", ["tot"])
        for k in [k for k in want if not k.startswith("dr:")]:
            self.assertEqual(tot.get(k, 0), want[k], "buf tot key %s" % k)
        for k, v in fwant.items():
            self.assertEqual(tot.get(k, 0.0), v, "float key %s" % k)
        for k in hi:
            self.assertTrue(lo[k] <= tot.get(k, 0) <= hi[k], "victim key %s = %r, acknowledged %d, sent %d"
                            % (k, tot.get(k), lo[k], hi[k]))
        expected_keys = {k for k in want if not k.startswith("dr:")} | set(fwant) | set(hi)
        self.assertEqual(set(tot) - expected_keys, set(), "unexpected keys in tot")
        # drains are atomic: what was drained plus what is left is every increment
        left = obs.call("buf.items", ["dr"])
        for k in ["d%d" % i for i in range(5)] + ["all"]:
            self.assertEqual(drained[k] + left.get(k, 0), want["dr:" + k],
                             "drained %d + left %d for %s" % (drained[k], left.get(k, 0), k))


class TestSoakRedeliverOff(SoakBase):
    MODE = "off"

    def check_items(self, books, victim_logs, rest, st):
        puts = collections.Counter(i for b in books for i in b["puts"])
        refused = {i for b in books for i in b["refused"]}
        got = collections.Counter(i for b in books for i in b["got"])
        got.update(rest)
        self.assertEqual(max(puts.values(), default=1), 1, "an item put twice: the books are wrong")
        missing = [i for i in puts if got[i] == 0]
        twice = [i for i, n in got.items() if n > 1]
        phantom = [i for i in got if i not in puts]
        self.assertEqual((missing[:10], twice[:10], phantom[:10]), ([], [], []),
                         "%d acknowledged items never got, %d got twice, %d got but not acknowledged as put "
                         "(%d of those refused)" % (len(missing), len(twice), len(phantom),
                                                     len([i for i in phantom if i in refused])))
        self.assertEqual(st["puts"], sum(puts.values()))
        self.assertEqual(st["gets"], sum(got.values()))
        self.assertEqual(st["redelivered"], 0)

    def test_soak(self):
        self.run_soak(1)


class TestSoakRedeliverOnWithKills(SoakBase):
    MODE = "on"
    VICTIMS = 3

    def check_items(self, books, victim_logs, rest, st):
        puts = collections.Counter(i for b in books for i in b["puts"])
        # deliveries in order of time: main processes have no timestamps,
        # but they are never killed, so their deliveries are all settled
        deliveries = collections.defaultdict(list)   # item -> ["main"|"victim-settled"|"victim-open"]
        settled = collections.Counter(i for b in books for i in b["settled"])
        settled.update(rest)
        for b in books:
            for i in b["got"]:
                deliveries[i].append("main")
        for i in rest:
            deliveries[i].append("main")
        victim_unsettled = collections.Counter()
        for log in victim_logs:
            open_batches = {}
            for tag, _, f in read_line_log(log):
                if tag == "G":
                    items = f[1].split(",")
                    open_batches[f[0]] = items
                    for i in items:
                        deliveries[i].append("victim")
                elif tag == "TA":
                    for i in f[1].split(","):
                        settled[i] += 1
                    open_batches.pop(f[0], None)
            for items in open_batches.values():
                victim_unsettled.update(items)
        problems = []
        for i in puts:
            if not deliveries.get(i):
                problems.append("%s acknowledged as put, never delivered" % i)
        for i, ds in deliveries.items():
            if i not in puts:
                problems.append("%s delivered, never acknowledged as put" % i)
            if settled[i] > 1:
                problems.append("%s settled %d times" % (i, settled[i]))
            if settled[i] == 0 and victim_unsettled[i] == 0:
                problems.append("%s delivered %d times, never settled" % (i, len(ds)))
            if len(ds) > 1 and victim_unsettled[i] < len(ds) - 1:
                problems.append("%s delivered %d times, but only %d deliveries went to killed clients"
                                " unsettled" % (i, len(ds), victim_unsettled[i]))
        # redelivered counts every item a killed client held; a victim can
        # die with a reply received by its kernel but not yet logged (at
        # most one batch of 10 per connection of 10 per victim)
        extra = sum(len(ds) - 1 for ds in deliveries.values())
        if not extra <= st["redelivered"] <= extra + self.VICTIMS * 10 * 10:
            problems.append("queue.stat redelivered = %d, but %d logged deliveries were repeats"
                            % (st["redelivered"], extra))
        if st["puts"] != len(puts):
            problems.append("queue.stat puts = %d, %d acknowledged" % (st["puts"], len(puts)))
        self.assertEqual(problems[:20], [], "%d problems" % len(problems))

    def test_soak(self):
        self.run_soak(2)


if __name__ == "__main__":
    unittest.main()
