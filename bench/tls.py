#!/usr/bin/python3
"""TLS against plain, same daemon, same run (BENCHMARKS.md "TLS"): the
qmgr-bench workloads and the log-statistics pipeline through a tls://
listener and through a plain one of one qmgrd, alternating, several rounds.

    bench/tls.py BUILD [--rounds 3] [--lines 400000] [--only TEXT] [--no-pipeline]

BUILD is a Release build folder. The certificate is a throwaway P-256 one
(tests/integration/tlscerts.py); TLS 1.3 with AES-GCM or ChaCha20, as
OpenSSL negotiates on this machine."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import cluster as cluster_bench  # noqa: E402  (its pipeline())
import run as bench_run  # noqa: E402
import tlscerts  # noqa: E402

# The rows of bench/run.py, plus bigger items.
WORKLOADS = {
    "put+get, 1 conn, sync": ["-w", "putget", "-c", "1", "-P", "1", "-n", "200000", "-t", "3"],
    "put+get, 1 conn, 64 in flight": ["-w", "putget", "-c", "1", "-P", "64", "-n", "4000000",
                                      "-t", "3"],
    "batch 64, 1 conn": ["-w", "batch", "-c", "1", "-P", "64", "-n", "12000000", "-t", "3"],
    "batch 64, 4 conns": ["-w", "batch", "-c", "4", "-P", "64", "-n", "12000000", "-t", "3"],
    "batch 64, 1 conn, 16 calls in flight": ["-w", "batch", "-c", "1", "-P", "64", "-W", "16",
                                             "-n", "60000000", "-t", "3"],
    "batch 64 of 1 KiB items, 1 conn": ["-w", "batch", "-c", "1", "-P", "64", "-d", "1024",
                                        "-n", "12000000", "-t", "3"],
}


def conf_text(pki):
    return ("[qmgrd]\nlisten = 127.0.0.1:0, tls://127.0.0.1:0\nstate_dir = {state}\n"
            "tls_cert = %s\ntls_key = %s\nmax_memory = 4G\nlog_level = notice\n%s"
            % (pki["server.pem"], pki["server.key"], cluster_bench.OBJECTS))


def tls_address(d):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"listening on (tls://\S+)", open(d.log_path).read())
        if m:
            return m.group(1)
        time.sleep(0.05)
    sys.exit("no tls:// listener: " + open(d.log_path).read())


def bench(build, keyfile, addr, args):
    out = subprocess.run([os.path.join(build, "bench", "qmgr-bench"), "-a", addr, "-k", keyfile]
                         + args + ["--json"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["ops_per_s"], r.get("p50_us", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lines", type=int, default=400000)
    ap.add_argument("--only", default="", help="run only the workloads whose name holds TEXT")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the pipeline rows")
    a = ap.parse_args()
    workloads = {w: args for w, args in WORKLOADS.items() if a.only in w}
    pki = tlscerts.make_pki(tempfile.mkdtemp(prefix="qmgr-bench-pki-"))
    os.environ["QMGR_TLS_CA"] = pki["ca.pem"]
    d = bench_run.Qmgrd(a.build, "none", conf_text=conf_text(pki))
    addrs = {"plain": d.addr, "tls": tls_address(d)}
    rows = {}
    try:
        for r in range(a.rounds):
            for w, args in workloads.items():
                for kind in ("plain", "tls") if r % 2 == 0 else ("tls", "plain"):
                    ops, p50 = bench(a.build, d.keyfile, addrs[kind], args)
                    rows.setdefault((w, kind), []).append((ops, p50))
                    print("round %d  %-5s %-32s %10.0f ops/s  p50 %5.0f us"
                          % (r + 1, kind, w, ops, p50), flush=True)
            for kind in () if a.no_pipeline else ("plain", "tls") if r % 2 == 0 else ("tls", "plain"):
                lps = cluster_bench.pipeline(a.build, d.keyfile, addrs[kind], [addrs[kind]], a.lines)
                rows.setdefault(("pipeline", kind), []).append((lps, 0))
                print("round %d  %-5s %-32s %10.0f lines/s (exact)" % (r + 1, kind, "pipeline", lps),
                      flush=True)
    finally:
        d.stop()
    print("\nmedians, tls / plain:")
    for w in list(workloads) + ([] if a.no_pipeline else ["pipeline"]):
        plain = statistics.median(x[0] for x in rows[(w, "plain")])
        tls = statistics.median(x[0] for x in rows[(w, "tls")])
        print("  %-32s plain %10.0f  tls %10.0f  ratio %.3f  (per round: %s)" % (
            w, plain, tls, tls / plain, " ".join(
                "%.2f" % (t[0] / p[0]) for t, p in zip(rows[(w, "tls")], rows[(w, "plain")]))))


if __name__ == "__main__":
    main()
