#!/usr/bin/python3
"""Cluster mode against the single daemon, same run (BENCHMARKS.md "Cluster
mode"): qmgr-bench workloads and the log-statistics pipeline on

  single         store = memory, journal off
  single fsync   store = memory, journal on, fsync = always
  cluster x1     three front ends over a three-node JetStream cluster (R3),
                 every client on the first front end
  cluster x3     the same, clients spread over the three front ends (one
                 qmgr-bench per front end at once, their ops/s summed)

    bench/cluster.py BUILD [--lines 200000]

BUILD is a Release build folder (qmgr-bench, qmgrd, the logstats programs).
Everything runs on this machine: the NATS nodes, the front ends and the
clients share its cores, as SCALE.md's loopback cluster does."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import run as bench_run  # noqa: E402
from natscluster import NatsCluster  # noqa: E402

# One queue per qmgr-bench run at once: each purges its queue at its start
# and end, which would take the items of another run on the same queue.
OBJECTS = """
[queue bench_q]
maxsize = 0

[queue bench_q2]
maxsize = 0

[queue bench_q3]
maxsize = 0

[buf bench_buf]

[queue line_queue]
maxsize = 200
redeliver = on

[buf flow_buf]
accessor = get_buf
"""

WORKLOADS = {
    "put+get, 1 conn, sync": ["-w", "putget", "-c", "1", "-P", "1", "-n", "400000", "-t", "4"],
    "put+get, 1 conn, 64 in flight": ["-w", "putget", "-c", "1", "-P", "64", "-n", "4000000",
                                      "-t", "4"],
    "batch 64, 4 calls in flight": ["-w", "batch", "-c", "1", "-P", "64", "-W", "4",
                                    "-n", "20000000", "-t", "4"],
}


def conf_text(keyfile, extra):
    return "[qmgrd]\nlisten = 127.0.0.1:0\nstate_dir = {state}\nauthkey_file = %s\n" \
           "max_memory = 4G\nlog_level = notice\n%s\n%s" % (keyfile, extra, OBJECTS)


def wait_joined(d, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "cluster: joined" in open(d.log_path).read():
            return
        time.sleep(0.05)
    sys.exit("front end did not join: " + open(d.log_path).read())


def start(build, keyfile, extra, n=1):
    ds = [bench_run.Qmgrd(build, "same", conf_text=conf_text(keyfile, extra)) for _ in range(n)]
    if "jetstream" in extra:
        for d in ds:
            wait_joined(d)
    return ds


def bench(build, keyfile, addrs, args):
    """One qmgr-bench per address, at once; their ops/s summed."""
    queues = ["bench_q", "bench_q2", "bench_q3"]
    procs = [subprocess.Popen([os.path.join(build, "bench", "qmgr-bench"), "-a", a, "-k", keyfile,
                               "-q", queues[i]] + args + ["--json"], stdout=subprocess.PIPE,
                              text=True)
             for i, a in enumerate(addrs)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    return sum(r["ops_per_s"] for r in results), max(r.get("p50_us", 0) for r in results)


def pipeline(build, keyfile, producer_addr, worker_addrs, lines):
    """lines/s of the producer, with the totals checked in the dumped database."""
    logstats = os.path.join(build, "examples", "logstats")
    tmp = tempfile.mkdtemp(prefix="qmgr-bench-pipe-")
    db = os.path.join(tmp, "l.db")
    env = dict(os.environ, QMGR_AUTHKEY_FILE=keyfile)
    dumper = subprocess.Popen([os.path.join(logstats, "qmgr-logstats-dumper"), "--db", db],
                              env=dict(env, QMGR_ADDR=worker_addrs[0]), stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([os.path.join(logstats, "qmgr-logstats-worker"), "-j",
                                 str(8 // len(worker_addrs))], env=dict(env, QMGR_ADDR=a),
                                stderr=subprocess.DEVNULL) for a in worker_addrs]
    out = subprocess.run([os.path.join(logstats, "qmgr-logstats-producer"), "--generate",
                          str(lines), "--batch", "1000"], env=dict(env, QMGR_ADDR=producer_addr),
                         capture_output=True, text=True, check=True)
    for p in workers + [dumper]:
        p.terminate()
        p.wait(120)
    counted = subprocess.run([os.path.join(logstats, "qmgr-logstats-dumper"), "--db", db, "--get",
                              "lines"], capture_output=True, text=True).stdout.strip()
    if counted != str(lines):
        sys.exit("pipeline: counted %r of %d lines" % (counted, lines))
    return float(re.search(r"lines_per_s=(\d+)", out.stdout + out.stderr).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--lines", type=int, default=200000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="qmgr-bench-cluster-")
    keyfile = os.path.join(tmp, "authkey")
    with open(keyfile, "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    os.chmod(keyfile, 0o600)
    nats = NatsCluster().start()
    setups = [
        ("single", "journal = off", 1, 1),
        ("single fsync", "journal = on\nfsync = always", 1, 1),
        ("cluster x1", None, 3, 1),
        ("cluster x3", None, 3, 3),
    ]
    rows = {}
    try:
        for name, extra, n, spread in setups:
            if extra is None:
                extra = ("store = jetstream\njetstream_servers = %s\njetstream_stream = B%s\n"
                         % (nats.urls, os.urandom(4).hex()))
            ds = start(a.build, keyfile, extra, n)
            addrs = [d.addr for d in ds][:spread]
            for w, args in WORKLOADS.items():
                rows[(name, w)] = bench(a.build, keyfile, addrs, args)
                print("%-14s %-32s %10.0f ops/s  p50 %6.0f us" % ((name, w) + rows[(name, w)]),
                      flush=True)
            workers = [d.addr for d in ds][1:] if spread > 1 else [ds[0].addr]
            rows[(name, "pipeline")] = (pipeline(a.build, keyfile, ds[0].addr, workers, a.lines), 0)
            print("%-14s %-32s %10.0f lines/s" % (name, "pipeline", rows[(name, "pipeline")][0]),
                  flush=True)
            for d in ds:
                d.stop()
    finally:
        nats.cleanup()
    print("\nratios to single:")
    for w in list(WORKLOADS) + ["pipeline"]:
        base = rows[("single", w)][0]
        print("  %-32s %s" % (w, "  ".join("%s %.3f" % (s, rows[(s, w)][0] / base)
                                          for s, _, _, _ in setups[1:])))


if __name__ == "__main__":
    main()
