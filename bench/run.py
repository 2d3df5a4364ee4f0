#!/usr/bin/python3
"""One comparison run: qmgrd (driven by qmgr-bench) against the peers of
../shared/peers (Redis, beanstalkd, BaseManager, the C loopback floor), on
this machine, in one go. Called by bench/run.sh, which builds first.

Every measurement waits (bounded) for the box to be quiet, records how busy
it was before (busy_before) and during (foreign_cores: CPU used by anything
but the client and server measured), and goes to OUT/*.jsonl. The targets'
comparisons are interleaved: each round runs ours, then the peers, on the
same placement, so a ratio compares figures taken a minute apart.

Placements (as in peers/peerlib.py): same = client and server both on CPU 0
(taskset -c 0), none = left to the scheduler.

Parts (--parts, comma-separated; default all):
  core     the targets: putget c1 P1 / c1 P64 / c50 P1, batch 64, ours and
           Redis (its peer script, plus INFO cpu around redis-benchmark
           LPUSH+LPOP) and the loopback floor, pinned and unpinned, --runs rounds
  more     our other workloads (put, get, fanout, incr, update, connect)
  peers    BaseManager w1-w4, beanstalkd w1/w3, Redis HINCRBY and the
           Python-client rows (w3 fanout, w2 pipeline), one run each
  pipeline the log-statistics pipeline of examples/logstats (producer, 8 C
           workers, dumper) on a generated 4,000,000-line log in 1,000-line
           batches, lines/s with the totals checked exact; the peers' w2 rows
           (BaseManager locked, Redis + redis-py) are in part peers
  mem      daemon RSS growth holding 1,000,000 queued 64-byte items, ours vs Redis
  profile  syscalls per request (strace -c), perf and callgrind of qmgrd
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_SRC = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
DPY = "/usr/bin/python3"  # Debian's: it has python3-redis and python3-msgpack
PARTS = ["core", "more", "peers", "pipeline", "mem", "profile"]
PLACEMENTS = {"same": "0", "none": None}  # CPU list for taskset, or unpinned

# Ports away from the defaults (50002 is qmgrd's and BaseManager's), so a
# daemon someone else runs on this box is never hit, and below the ephemeral
# range (32768 and up), where any outgoing connection may hold them.
PORT = {"redis": 16490, "redis_cpu": 16491, "beanstalk": 11490, "bm": 29512, "pingpong": 17190}

QMGRD_CONF = """[qmgrd]
listen = 127.0.0.1:0
state_dir = {state}
max_memory = 4G
log_level = notice

[queue bench_q]
maxsize = 0

[buf bench_buf]
"""


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ------------------------------------------------------------------ setting up
def copy_peers(out):
    """The peer scripts write results next to themselves, and their home is
    read-only: run a copy."""
    dst = os.path.join(out, "peers")
    if not os.path.isdir(dst):
        shutil.copytree(PEERS_SRC, dst, ignore=shutil.ignore_patterns("results", "RESULTS*", "pingpong"))
    sys.path.insert(0, dst)
    return dst


def machine_info(out, build):
    def cmd(*args):
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "not found"
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "?")
    info = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_before": open("/proc/loadavg").read().strip(),
        "qmgr_commit": cmd("git", "-C", ROOT, "describe", "--always", "--dirty"),
        "qmgrd": os.path.join(build, "server", "qmgrd"),
        "redis": cmd("redis-server", "--version"), "beanstalkd": cmd("beanstalkd", "-v"),
        "python": cmd(DPY, "--version"), "gcc": cmd("gcc", "--version").split("\n")[0],
    }
    with open(os.path.join(out, "machine.json"), "w") as f:
        json.dump(info, f, indent=1)
    log("machine: %s" % json.dumps(info))


def record(out, fname, rec):
    rec.setdefault("ts", time.strftime("%Y-%m-%dT%H:%M:%S"))
    with open(os.path.join(out, fname), "a") as f:
        f.write(json.dumps(rec) + "\n")
    log("%s %s" % (fname, json.dumps(rec)))


def pin_prefix(placement):
    cpus = PLACEMENTS[placement]
    return ["taskset", "-c", cpus] if cpus else []


# ------------------------------------------------------------------ our daemon
class Qmgrd:
    """A qmgrd of our own, on a free port, with the bench objects."""

    def __init__(self, build, placement, wrapper=(), conf_text=QMGRD_CONF):
        self.dir = tempfile.mkdtemp(prefix="qmgr-bench-")
        conf = os.path.join(self.dir, "qmgrd.conf")
        with open(conf, "w") as f:
            f.write(conf_text.format(state=self.dir))
        self.log_path = os.path.join(self.dir, "qmgrd.log")
        argv = pin_prefix(placement) + list(wrapper) + [os.path.join(build, "server", "qmgrd"), "-c", conf]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        self.addr = self._wait_listening()
        self.keyfile = os.path.join(self.dir, "authkey")
        # taskset and valgrind run the daemon in the process they start.
        self.pid = self.proc.pid

    def _wait_listening(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in open(self.log_path):
                if "listening on " in line:
                    return line.split("listening on ", 1)[1].split()[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        why = open(self.log_path).read()
        self.stop()
        sys.exit("qmgrd did not start: " + why)

    def target(self):
        return ["-a", self.addr, "-k", self.keyfile]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def qmgr_bench(ctx, daemon, placement, args, label, fname="ours.jsonl", extra=None):
    """One qmgr-bench run, recorded with the load around it."""
    import peerlib
    busy = ctx.quiet()
    argv = pin_prefix(placement) + [ctx.bench] + daemon.target() + list(args) + ["--json"]
    with peerlib.Meter([daemon.pid]) as mt:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        mt.stop()
    if res.returncode != 0 or not res.stdout.strip():
        record(ctx.out, fname, {"label": label, "pin": placement, "failed": res.stderr.strip()[-500:],
                                "cmd": " ".join(argv)})
        return None
    rec = json.loads(res.stdout)
    rec.update(label=label, pin=placement, busy_before=busy, foreign_cores=mt.as_dict()["foreign_cores"],
               client_cpu_s_per_mop=round(mt.ours / max(rec["ops"], 1) * 1e6, 4), cmd=" ".join(argv),
               **(extra or {}))
    record(ctx.out, fname, rec)
    return rec


# ------------------------------------------------------------------ peers
def peer_script(ctx, script, *args):
    """Runs one of the peer scripts (our copy), logging its output."""
    argv = [DPY, os.path.join(ctx.peers, script)] + [str(a) for a in args]
    log("peer: " + " ".join(argv[1:]))
    with open(os.path.join(ctx.out, "peers.log"), "a") as f:
        f.write("$ " + " ".join(argv) + "\n")
        f.flush()
        res = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ctx.peers,
                             env={**os.environ, "PEERS_QUIET_MAX": str(ctx.quiet_max)}, timeout=900)
    if res.returncode != 0:
        log("peer script failed (%d): %s" % (res.returncode, " ".join(argv)))


class Redis:
    """A Redis of our own for the INFO cpu measurements: the peers' flags
    (persistence off), pinned like the daemon it is compared with."""

    def __init__(self, placement, port):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="qmgr-bench-redis-")
        argv = pin_prefix(placement) + ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no", "--dir", self.dir,
                                        "--daemonize", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline:
                self.stop()
                sys.exit("redis-server did not start")
            time.sleep(0.05)
        self.pid = int(self.info("server")["process_id"])

    def cli(self, *args):
        res = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args), capture_output=True, text=True)
        return res.stdout.strip()

    def info(self, section):
        pairs = (line.split(":", 1) for line in self.cli("INFO", section).splitlines() if ":" in line)
        return {k: v.strip() for k, v in pairs}

    def cpu_s(self):
        i = self.info("cpu")
        return float(i["used_cpu_user"]) + float(i["used_cpu_sys"])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_lpush_lpop(ctx, redis, placement, conns, pipe, n, label):
    """redis-benchmark LPUSH then LPOP (n each: every LPOP pops a real item,
    as our putget gets one), with Redis's own CPU from INFO cpu around it."""
    import peerlib
    busy = ctx.quiet()
    argv = pin_prefix(placement) + ["redis-benchmark", "-p", str(redis.port), "-d", "64", "-c", str(conns),
                                    "-P", str(pipe), "-n", str(n), "--csv", "-t", "lpush,lpop"]
    cpu0 = redis.cpu_s()
    with peerlib.Meter([redis.pid]) as mt:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        mt.stop()
    cpu = redis.cpu_s() - cpu0
    rps = {}
    for line in res.stdout.splitlines()[1:]:
        cols = [c.strip('"') for c in line.split(",")]
        rps[cols[0]] = float(cols[1])
    if set(rps) != {"LPUSH", "LPOP"}:
        record(ctx.out, "redis_cpu.jsonl", {"label": label, "pin": placement, "failed": res.stderr[-500:]})
        return
    # Both tests of n requests back to back: the rate of the pair.
    ops_per_s = 2 * n / (n / rps["LPUSH"] + n / rps["LPOP"])
    record(ctx.out, "redis_cpu.jsonl", {
        "label": label, "pin": placement, "conns": conns, "depth": pipe, "ops": 2 * n,
        "lpush_per_s": rps["LPUSH"], "lpop_per_s": rps["LPOP"], "ops_per_s": round(ops_per_s),
        "server_cpu_s": round(cpu, 4), "server_cpu_s_per_mop": round(cpu / (2 * n) * 1e6, 4),
        "client_cpu_s_per_mop": round(mt.ours / (2 * n) * 1e6, 4),
        "busy_before": busy, "foreign_cores": mt.as_dict()["foreign_cores"], "cmd": " ".join(argv)})


# ------------------------------------------------------------------ parts
# (label, qmgr-bench args, placements): the targets' configurations.
CORE_OURS = [
    ("putget_c1_p1", ["-w", "putget", "-c", "1", "-P", "1", "-n", "300000", "-t", "4"], ["same", "none"]),
    ("putget_c1_p64", ["-w", "putget", "-c", "1", "-P", "64", "-n", "4000000", "-t", "4"], ["same", "none"]),
    ("putget_c50_p1", ["-w", "putget", "-c", "50", "-P", "1", "-n", "500000", "-t", "4"], ["none", "same"]),
    ("putget_c50_p1_t1", ["-w", "putget", "-c", "50", "-T", "1", "-P", "1", "-n", "500000", "-t", "4"],
     ["none", "same"]),
    ("batch_c1_64", ["-w", "batch", "-c", "1", "-P", "64", "-n", "12000000", "-t", "4"], ["same", "none"]),
    ("batch_c4_64", ["-w", "batch", "-c", "4", "-P", "64", "-n", "12000000", "-t", "4"], ["same", "none"]),
    ("batch_c1_64_w16", ["-w", "batch", "-c", "1", "-P", "64", "-W", "16", "-n", "60000000", "-t", "4"],
     ["same", "none"]),
]
# (label, conns, pipeline, n per test, placements) for INFO cpu around redis-benchmark.
CORE_REDIS = [
    ("lpush_lpop_c1_p1", 1, 1, 100000, ["same", "none"]),
    ("lpush_lpop_c1_p64", 1, 64, 2000000, ["same", "none"]),
    ("lpush_lpop_c50_p1", 50, 1, 300000, ["none", "same"]),
]


def part_core(ctx):
    for rnd in range(1, ctx.runs + 1):
        log("core round %d/%d" % (rnd, ctx.runs))
        for placement in ("same", "none"):
            daemon = Qmgrd(ctx.build, placement)
            try:
                for label, args, pins in CORE_OURS:
                    if placement in pins:
                        qmgr_bench(ctx, daemon, placement, args, label, extra={"round": rnd})
            finally:
                daemon.stop()
            redis = Redis(placement, PORT["redis_cpu"])
            try:
                for label, conns, pipe, n, pins in CORE_REDIS:
                    if placement in pins:
                        redis_lpush_lpop(ctx, redis, placement, conns, pipe, n, label)
            finally:
                redis.stop()
        peer_script(ctx, "loopback_bench.py", "--runs", 1, "--pins", "same,none", "--nodelay", 0,
                    "--port", PORT["pingpong"])
        for placement in ("same", "none"):
            peer_script(ctx, "redis_bench.py", "--persist", "off", "--parts", "rb", "--runs", 1,
                        "--pin", placement, "--port", PORT["redis"])


MORE_OURS = [
    ("put_c1_p1", ["-w", "put", "-n", "200000", "-t", "5"], ["same", "none"]),
    ("get_c1_p1", ["-w", "get", "-n", "200000", "-t", "5"], ["same", "none"]),
    ("incr_c1_p1", ["-w", "incr", "-n", "200000", "-t", "5"], ["same", "none"]),
    ("incr_c1_p64", ["-w", "incr", "-P", "64", "-n", "4000000", "-t", "5"], ["same", "none"]),
    ("incr_c50_p1", ["-w", "incr", "-c", "50", "-n", "600000", "-t", "5"], ["none"]),
    ("update16_c1_p1", ["-w", "update", "-K", "16", "-n", "200000", "-t", "5"], ["same", "none"]),
    ("fanout_c8_p1", ["-w", "fanout", "-c", "8", "-n", "200000", "-t", "8"], ["none"]),
    ("fanout_c8_p64", ["-w", "fanout", "-c", "8", "-P", "64", "-n", "2000000", "-t", "8"], ["none"]),
    ("connect_c1", ["-w", "connect", "-n", "5000", "-t", "5"], ["same", "none"]),
]


def part_more(ctx):
    for placement in ("same", "none"):
        daemon = Qmgrd(ctx.build, placement)
        try:
            for label, args, pins in MORE_OURS:
                if placement in pins:
                    qmgr_bench(ctx, daemon, placement, args, label)
        finally:
            daemon.stop()


def part_peers(ctx):
    bm = ["--port", PORT["bm"], "--runs", 1]
    peer_script(ctx, "bm_bench.py", "w1", "--n", 50000, "--max-s", 10, "--pin", "same", *bm)
    peer_script(ctx, "bm_bench.py", "w1", "--n", 50000, "--max-s", 10, "--pin", "none", *bm)
    peer_script(ctx, "bm_bench.py", "w2", "--mode", "locked", "--items", 4000, *bm)
    peer_script(ctx, "bm_bench.py", "w3", "--n", 100000, "--max-s", 20, *bm)
    peer_script(ctx, "bm_bench.py", "w4", "--w4kind", "auth", "--n", 5000, "--max-s", 5, *bm)
    bs = ["--port", PORT["beanstalk"], "--runs", 1, "--binlog", "off"]
    peer_script(ctx, "beanstalk_bench.py", "--parts", "w1", "--n", 30000, "--pin", "same", *bs)
    peer_script(ctx, "beanstalk_bench.py", "--parts", "w1", "--n", 30000, "--pin", "none", *bs)
    peer_script(ctx, "beanstalk_bench.py", "--parts", "w3", "--w3n", 100000, *bs)
    rd = ["--port", PORT["redis"], "--runs", 1, "--persist", "off"]
    peer_script(ctx, "redis_bench.py", "--parts", "hincr", "--pin", "same", *rd)
    peer_script(ctx, "redis_bench.py", "--parts", "hincr", "--pin", "none", *rd)
    peer_script(ctx, "redis_bench.py", "--parts", "w3,w2", "--w3n", 100000, "--items", 4000, *rd)


# The daemon's defaults (line_queue maxsize 200 with redeliver, flow_buf).
PIPELINE_CONF = """[qmgrd]
listen = 127.0.0.1:0
state_dir = {state}
log_level = notice
"""
PIPELINE_LINES = 4000000
PIPELINE_BATCH = 1000  # lines per batch, as the peers' w2 rows


def part_pipeline(ctx):
    """Producer, 8 workers and the dumper of examples/logstats against one
    qmgrd, unpinned like the peers' w2 rows. The log is generated once,
    before the clock, as the peers generate theirs."""
    import peerlib
    bindir = os.path.join(ctx.build, "examples", "logstats")
    prog = {n: os.path.join(bindir, "qmgr-logstats-" + n) for n in ("producer", "worker", "dumper")}
    work = tempfile.mkdtemp(prefix="qmgr-bench-pipeline-")
    log_path = os.path.join(work, "access.log")
    subprocess.run([prog["producer"], "--generate", str(PIPELINE_LINES), "--output", log_path], check=True)
    try:
        for rnd in range(1, ctx.runs + 1):
            pipeline_round(ctx, prog, work, log_path, rnd, peerlib)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def daemon_cpu_s(daemon):
    """The daemon's own user and system CPU seconds (its stats reply)."""
    sys.path.insert(0, os.path.join(ROOT, "client", "python", "src"))
    import qmgr
    with open(daemon.keyfile, "rb") as f:
        key = f.read().rstrip(b"\n")
    c = qmgr.connect(daemon.addr, key, timeout=60)
    try:
        st = c.stats()
    finally:
        c.close()
    return st["cpu_user_s"], st["cpu_sys_s"]


def pipeline_round(ctx, prog, work, log_path, rnd, peerlib):
    daemon = Qmgrd(ctx.build, "none", conf_text=PIPELINE_CONF)
    db = os.path.join(work, "logstats-%d.db" % rnd)
    env = {**os.environ, "QMGR_ADDR": daemon.addr, "QMGR_AUTHKEY_FILE": daemon.keyfile}
    quiet = subprocess.DEVNULL
    try:
        workers = subprocess.Popen([prog["worker"], "-j", "8"], env=env, stderr=quiet)
        dumper = subprocess.Popen([prog["dumper"], "--db", db], env=env, stderr=quiet)
        busy = ctx.quiet()
        argv = [prog["producer"], "--batch", str(PIPELINE_BATCH), log_path]
        cpu0 = daemon_cpu_s(daemon)
        with peerlib.Meter([daemon.pid]) as mt:
            t0 = time.monotonic()
            res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
            wall = time.monotonic() - t0
            mt.stop()
        cpu1 = daemon_cpu_s(daemon)
        for p in (workers, dumper):  # every batch is done: the dumper's last drain takes the rest
            p.terminate()
            p.wait(60)
        counted = subprocess.run([prog["dumper"], "--db", db, "--get", "lines"], capture_output=True,
                                 text=True).stdout.strip()
    finally:
        daemon.stop()
    record(ctx.out, "pipeline.jsonl", {
        "label": "pipeline_c_workers", "pin": "none", "round": rnd, "lines": PIPELINE_LINES,
        "lines_per_batch": PIPELINE_BATCH, "workers": 8, "seconds": round(wall, 3),
        "lines_per_s": round(PIPELINE_LINES / wall), "counted": counted,
        "exact": res.returncode == 0 and counted == str(PIPELINE_LINES),
        "server_cpu_s": round(mt.server, 3), "busy_before": busy,
        # The daemon's own figures: every byte of the log goes in once and out once.
        "daemon_user_s": round(cpu1[0] - cpu0[0], 3), "daemon_sys_s": round(cpu1[1] - cpu0[1], 3),
        "log_mb": round(os.path.getsize(log_path) / 1e6, 1),
        "daemon_cpu_ms_per_mb": round(1000 * (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) /
                                      (os.path.getsize(log_path) / 1e6), 3),
        "foreign_cores": mt.as_dict()["foreign_cores"], "cmd": " ".join(argv)})


LEASE_CONF = QMGRD_CONF + """
[queue lease_q]
maxsize = 0
redeliver = on
"""


def leased_rss(ctx, rnd, n=1000000, batch=1000):
    """RSS growth of a fresh daemon holding n queued 64-byte items on a
    redeliver = on queue, then holding them leased (got, not task_done, the
    queue empty), over one connection of the Python package."""
    sys.path.insert(0, os.path.join(ROOT, "client", "python", "src"))
    import qmgr
    daemon = Qmgrd(ctx.build, "none", conf_text=LEASE_CONF)
    try:
        with open(daemon.keyfile, "rb") as f:
            key = f.read()
        c = qmgr.connect(daemon.addr, key[:-1] if key.endswith(b"\n") else key, timeout=60)
        q = c.queue("lease_q")
        rss = [c.stats()["rss_bytes"]]
        item = b"x" * 64
        for _ in range(n // batch):
            q.put_many([item] * batch)
        rss.append(c.stats()["rss_bytes"])
        got = 0
        while got < n:
            got += len(q.get_many(batch, block=False))
        st = q.stat()
        rss.append(c.stats()["rss_bytes"])
        c.close()
    finally:
        daemon.stop()
    record(ctx.out, "mem.jsonl", {"label": "mem_lease_1M_64B", "round": rnd, "ops": n,
                                  "unfinished": st["unfinished"], "size_after": st["size"],
                                  "queued_per_item": (rss[1] - rss[0]) / n,
                                  "leased_per_item": (rss[2] - rss[0]) / n,
                                  "rss_bytes": rss})


def part_mem(ctx):
    for rnd in range(1, ctx.runs + 1):
        daemon = Qmgrd(ctx.build, "none")  # fresh: no heap left over from other runs
        try:
            qmgr_bench(ctx, daemon, "none", ["-w", "put", "-n", "1000000", "-d", "64", "-P", "64"],
                       "mem_1M_64B", fname="mem.jsonl", extra={"round": rnd})
        finally:
            daemon.stop()
        leased_rss(ctx, rnd)
        peer_script(ctx, "redis_bench.py", "--parts", "mem", "--runs", 1, "--port", PORT["redis"])


def part_profile(ctx):
    import profile_daemon
    profile_daemon.run(ctx)


# ------------------------------------------------------------------ main
class Context:
    def __init__(self, a):
        self.out = a.out
        self.build = a.build
        self.bench = os.path.join(a.build, "bench", "qmgr-bench")
        self.runs = a.runs
        self.quiet_max = a.quiet_max
        self.peers = copy_peers(a.out)

    def quiet(self):
        """Waits (bounded) until the box uses < 0.3 cores; returns that figure."""
        import peerlib
        return peerlib.wait_quiet(threshold=0.3, max_wait=self.quiet_max)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--out", default=None, help="results directory (default bench/results/<UTC time>)")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--runs", type=int, default=3, help="rounds of core and mem (default 3)")
    ap.add_argument("--quiet-max", type=float, default=60.0,
                    help="longest wait for a quiet box before each measurement, seconds")
    a = ap.parse_args()
    parts = a.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error("unknown parts: " + ",".join(sorted(unknown)))
    if a.out is None:
        a.out = os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(a.out, exist_ok=True)
    ctx = Context(a)
    t0 = time.monotonic()
    machine_info(a.out, a.build)
    for part in PARTS:
        if part in parts:
            log("== part %s" % part)
            globals()["part_" + part](ctx)
    with open(os.path.join(a.out, "machine.json")) as f:
        info = json.load(f)
    info.update(loadavg_after=open("/proc/loadavg").read().strip(), parts=parts, runs=a.runs,
                minutes=round((time.monotonic() - t0) / 60, 1))
    with open(os.path.join(a.out, "machine.json"), "w") as f:
        json.dump(info, f, indent=1)
    subprocess.run([DPY, os.path.join(HERE, "summarize.py"), a.out], check=False)
    log("done in %.1f min: %s" % ((time.monotonic() - t0) / 60, a.out))


if __name__ == "__main__":
    main()
