"""The `profile` part of bench/run.py: where qmgrd's time goes under the
target workloads, in three views that do not depend on a PMU (this VM has
none: `perf stat -e cycles` says "not supported").

  strace -c   system calls per request, daemon and client (putget, P1 and P64)
  perf        cpu-clock samples of the pinned daemon: kernel vs user, top symbols
  callgrind   user-space instructions per request in the daemon, and in the
              client (libqmgr-client under qmgr-bench's worker threads), top
              functions (counts, not seconds: repeatable whatever the box is doing)

Reports go to OUT/profile/, one summary line per view to OUT/profile.jsonl.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import run as bench_run

# (label, qmgr-bench args, requests they make): strace slows every call, so
# its runs are short; perf needs a few seconds of samples.
STRACE_WORKLOADS = [
    ("putget_c1_p1", ["-w", "putget", "-n", "20000"], 20000),
    ("putget_c1_p64", ["-w", "putget", "-P", "64", "-n", "640000"], 640000),
]
PERF_WORKLOADS = [
    ("putget_c1_p1", ["-w", "putget", "-n", "400000"], 400000),
    ("putget_c1_p64", ["-w", "putget", "-P", "64", "-n", "6400000"], 6400000),
]
CALLGRIND_WORKLOADS = [
    ("putget_c1_p1", ["-w", "putget", "-n", "10000"], 10000),
    ("putget_c1_p64", ["-w", "putget", "-P", "64", "-n", "128000"], 128000),
    ("batch_c1_64", ["-w", "batch", "-P", "64", "-n", "1280000"], 20000),
]


def bench(ctx, daemon, args, placement="none", wrapper=()):
    argv = list(wrapper) + bench_run.pin_prefix(placement) + [ctx.bench] + daemon.target() + args
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def strace_calls(path):
    """Total calls in an `strace -c` table, and the rows by syscall."""
    rows = {}
    for line in open(path):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)$", line)
        if m and m.group(3) != "total":
            rows[m.group(3)] = int(m.group(1))
    return sum(rows.values()), rows


def profile_strace(ctx, pdir):
    for label, args, requests in STRACE_WORKLOADS:
        daemon = bench_run.Qmgrd(ctx.build, "none")
        dfile = os.path.join(pdir, "strace_daemon_%s.txt" % label)
        cfile = os.path.join(pdir, "strace_client_%s.txt" % label)
        tracer = subprocess.Popen(["strace", "-c", "-p", str(daemon.pid), "-o", dfile],
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            bench(ctx, daemon, args, wrapper=["strace", "-f", "-c", "-o", cfile])
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(10)
            daemon.stop()
        dtotal, drows = strace_calls(dfile)
        ctotal, crows = strace_calls(cfile)
        bench_run.record(ctx.out, "profile.jsonl", {
            "view": "strace", "label": label, "requests": requests,
            "daemon_syscalls_per_request": round(dtotal / requests, 2),
            "client_syscalls_per_request": round(ctotal / requests, 2),
            "daemon_calls": drows, "client_calls": crows})


def perf_report(data, out, sort):
    with open(out, "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort, "--stdio",
                        "--percent-limit", "0.5", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL)


def kernel_share(report):
    """Percent of samples in the kernel, from a --sort dso report."""
    share = 0.0
    for line in open(report):
        m = re.match(r"\s*([\d.]+)%\s+\[kernel", line)
        if m:
            share += float(m.group(1))
    return round(share, 1)


def profile_perf(ctx, pdir):
    if not shutil.which("perf"):
        bench_run.log("perf not found: skipped (apt-get install linux-perf)")
        return
    for label, args, _ in PERF_WORKLOADS:
        daemon = bench_run.Qmgrd(ctx.build, "same")
        data = os.path.join(pdir, "perf_%s.data" % label)
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "4000", "-g", "-p",
                                str(daemon.pid), "-o", data], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            bench(ctx, daemon, args, placement="same")
        finally:
            rec.send_signal(signal.SIGINT)
            rec.wait(30)
            daemon.stop()
        dso = os.path.join(pdir, "perf_%s_dso.txt" % label)
        sym = os.path.join(pdir, "perf_%s_symbols.txt" % label)
        perf_report(data, dso, "dso")
        perf_report(data, sym, "dso,symbol")
        os.unlink(data)
        bench_run.record(ctx.out, "profile.jsonl", {"view": "perf", "label": label, "pin": "same",
                                                    "kernel_percent": kernel_share(dso),
                                                    "report": os.path.relpath(sym, ctx.out)})


def callgrind_total(annotated):
    for line in open(annotated):
        m = re.match(r"\s*([\d,]+)\s+(\(100.0%\)\s+)?PROGRAM TOTALS", line)
        if m:
            return int(m.group(1).replace(",", ""))
    return 0


def annotate(out, annotated):
    with open(annotated, "w") as f:
        subprocess.run(["callgrind_annotate", "--inclusive=no", out], stdout=f, stderr=subprocess.DEVNULL)
    os.unlink(out)
    return callgrind_total(annotated)


def callgrind_daemon(ctx, pdir, label, args, requests):
    out = os.path.join(pdir, "callgrind_daemon_%s.out" % label)
    # Counting starts with the run (--instr-atstart=no, then -i on), so
    # start-up is not in the per-request figure.
    daemon = bench_run.Qmgrd(ctx.build, "none", wrapper=[
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out])
    try:
        subprocess.run(["callgrind_control", "-i", "on", str(daemon.pid)], capture_output=True)
        bench(ctx, daemon, args)
        subprocess.run(["callgrind_control", "-i", "off", str(daemon.pid)], capture_output=True)
    finally:
        daemon.stop()
    annotated = os.path.join(pdir, "callgrind_daemon_%s.txt" % label)
    total = annotate(out, annotated)
    bench_run.record(ctx.out, "profile.jsonl", {
        "view": "callgrind", "side": "daemon", "label": label, "requests": requests, "instructions": total,
        "instructions_per_request": round(total / requests), "report": os.path.relpath(annotated, ctx.out)})


def callgrind_client(ctx, pdir, label, args, requests):
    """qmgr-bench itself under callgrind, counting only inside worker_run:
    the library's cost per request, without connecting and set-up."""
    out = os.path.join(pdir, "callgrind_client_%s.out" % label)
    daemon = bench_run.Qmgrd(ctx.build, "none")
    try:
        bench(ctx, daemon, args, wrapper=["valgrind", "--tool=callgrind", "--toggle-collect=worker_run",
                                          "--callgrind-out-file=" + out])
    finally:
        daemon.stop()
    annotated = os.path.join(pdir, "callgrind_client_%s.txt" % label)
    total = annotate(out, annotated)
    bench_run.record(ctx.out, "profile.jsonl", {
        "view": "callgrind", "side": "client", "label": label, "requests": requests, "instructions": total,
        "instructions_per_request": round(total / requests), "report": os.path.relpath(annotated, ctx.out)})


def profile_callgrind(ctx, pdir):
    if not shutil.which("valgrind"):
        bench_run.log("valgrind not found: skipped")
        return
    for label, args, requests in CALLGRIND_WORKLOADS:
        callgrind_daemon(ctx, pdir, label, args, requests)
        callgrind_client(ctx, pdir, label, args, requests)


def run(ctx):
    pdir = os.path.join(ctx.out, "profile")
    os.makedirs(pdir, exist_ok=True)
    profile_strace(ctx, pdir)
    profile_perf(ctx, pdir)
    profile_callgrind(ctx, pdir)
