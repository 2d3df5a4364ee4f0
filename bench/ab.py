#!/usr/bin/python3
"""Two qmgrd builds against each other, same run: one qmgr-bench client (the
first build's), pinned to CPU 0, rounds alternating which build goes first.
With --own-clients each build is driven by its own qmgr-bench, so the ratio
covers the client library's changes too (what the target table measures).
With --pipeline the workload is bench/run.py's pipeline round instead (the
logstats programs of NEW_BUILD against each daemon), and the figure is the
daemon's own CPU (its cpu_user_s + cpu_sys_s) per MB of log.

    bench/ab.py OLD_BUILD NEW_BUILD [--rounds 4] [--own-clients | --pipeline]

Prints each workload's figures per round and the median ratio new/old."""
import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench_run  # noqa: E402

WORKLOADS = {
    "putget c1 P1": ["-w", "putget", "-c", "1", "-P", "1", "-n", "400000", "-t", "3"],
    "putget c1 P64": ["-w", "putget", "-c", "1", "-P", "64", "-n", "6000000", "-t", "3"],
    "putget c50 P1, one client thread": ["-w", "putget", "-c", "50", "-T", "1", "-P", "1",
                                         "-n", "400000", "-t", "3"],
    "batch 64, 16 in flight": ["-w", "batch", "-c", "1", "-P", "64", "-W", "16", "-n", "30000000",
                               "-t", "3"],
}


def client_of(build):
    for rel in ("bench/qmgr-bench", "qmgr-bench"):
        path = os.path.join(build, rel)
        if os.path.exists(path):
            return path
    sys.exit("no qmgr-bench in %s" % build)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--own-clients", action="store_true")
    ap.add_argument("--pipeline", action="store_true")
    a = ap.parse_args()
    builds = [("old", a.old), ("new", a.new)]
    if a.pipeline:
        pipeline_ab(builds, a.rounds)
        return
    figures = {(b, w): [] for b, _ in builds for w in WORKLOADS}
    for rnd in range(a.rounds):
        for name, build in builds if rnd % 2 == 0 else builds[::-1]:
            daemon = bench_run.Qmgrd(build, "same")
            client = client_of(build if a.own_clients else a.old)
            for w, args in WORKLOADS.items():
                out = subprocess.run(["taskset", "-c", "0", client, "-a", daemon.addr, "-k",
                                      daemon.keyfile] + args + ["--json"],
                                     capture_output=True, text=True, check=True)
                figures[(name, w)].append(json.loads(out.stdout)["ops_per_s"])
            daemon.stop()
    for w in WORKLOADS:
        old, new = figures[("old", w)], figures[("new", w)]
        print("%-24s old %s  new %s  new/old %.3f" % (
            w, [round(x) for x in old], [round(x) for x in new],
            statistics.median(new) / statistics.median(old)))


def pipeline_ab(builds, rounds):
    work = tempfile.mkdtemp(prefix="qmgr-ab-pipeline-")
    try:
        ctx = types.SimpleNamespace(out=work, quiet=lambda: 0.0)
        bench_run.copy_peers(work)
        import peerlib
        bindir = os.path.join(builds[1][1], "examples", "logstats")
        prog = {n: os.path.join(bindir, "qmgr-logstats-" + n) for n in ("producer", "worker", "dumper")}
        log_path = os.path.join(work, "access.log")
        subprocess.run([prog["producer"], "--generate", str(bench_run.PIPELINE_LINES), "--output", log_path],
                       check=True)
        figures = {b: [] for b, _ in builds}
        runs = 0
        for rnd in range(rounds):
            for name, build in builds if rnd % 2 == 0 else builds[::-1]:
                ctx.build = build
                runs += 1  # each run its own database: the dumper's totals are per run
                bench_run.pipeline_round(ctx, prog, work, log_path, runs, peerlib)
                with open(os.path.join(work, "pipeline.jsonl")) as f:
                    rec = json.loads(f.readlines()[-1])
                if not rec["exact"]:
                    sys.exit("%s: the pipeline's totals are not exact: %r" % (name, rec))
                figures[name].append(rec["daemon_cpu_ms_per_mb"])
        old, new = figures["old"], figures["new"]
        print("pipeline daemon CPU ms/MB  old %s  new %s  new/old %.3f" % (
            old, new, statistics.median(new) / statistics.median(old)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
