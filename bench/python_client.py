#!/usr/bin/python3
"""The Python client (client/python, `import qmgr`) against what Python users
would otherwise pick, in one run:

  sync      one client, synchronous put(64-byte bytes) then get(), N pairs:
            ops/s and the client's CPU per op (time.process_time), plus the
            server's CPU per op (/proc/PID/stat). qmgr's QueueProxy on a
            qmgrd queue, BaseManager's proxy of a queue.Queue registered the
            classic way (../shared/peers/bm_server.py, as bm_bench.py w1),
            redis-py LPUSH + LPOP on Redis (persistence off). Placements as
            bench/run.py: same = client and server on CPU 0 (taskset -c 0 for
            the server, sched_setaffinity for this process), none = unpinned.
  pipeline  the peers' w2 pipeline: this process puts ITEMS batches of 1,000
            generated nginx lines (../shared/peers/loglines.py) on a queue
            bounded at 200, 8 worker processes count status and path per line
            with the same loglines.count_batch and add the counts into a
            shared map; lines/s from the first put until every worker has
            exited, and the run counts only if the map equals the generator's
            ground truth exactly. Per backend:
              qmgr         a batch is a list of str (as BaseManager's); worker:
                           q.get(), count, then buf.incr_many(counts) and
                           q.task_done() in one write (a pipeline); line_queue
                           has redeliver = on
              qmgr-blob    (not a target row) the same with each batch one
                           bytes blob, lines joined by '\\n', as Redis's
              basemanager  bm_bench.py w2 --mode locked: under a manager Lock,
                           cur = buf.copy(); buf.update(merged) (the only mode
                           that keeps exact counts)
              redis        redis_bench.py w2: LPUSH of the blob (the bound
                           emulated by polling LLEN), BRPOP, HINCRBY per key in
                           one redis-py pipeline
            Unpinned, as bench/run.py's pipeline.

Every server is started here on a free 127.0.0.1 port (qmgrd from --qmgrd,
redis-server, bm_server.py) and stopped by its PID. Prints a table; --json
FILE also writes every record as JSON lines.

  /usr/bin/python3 bench/python_client.py --qmgrd build-lp/server/qmgrd --json /tmp/pyclient.jsonl

Run with Debian's /usr/bin/python3 (python3-msgpack, python3-redis); the qmgr
package is taken from client/python/src of this tree unless already importable.
"""
import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
sys.path.insert(0, os.path.join(ROOT, "client", "python", "src"))

import qmgr  # noqa: E402

AUTH = b"ass"  # bm_server.py's key
PLACEMENTS = {"same": {0}, "none": None}

QMGRD_CONF = """[qmgrd]
listen = 127.0.0.1:0
state_dir = {state}
authkey_file = {state}/authkey
max_memory = 4G
log_level = notice

[queue sync_q]
maxsize = 0

[queue line_queue]
maxsize = 200
redeliver = on

[buf flow_buf]
accessor = get_buf
"""


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pin_prefix(placement):
    cpus = PLACEMENTS[placement]
    return ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []


def stop_pid(proc, timeout=30):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


# ------------------------------------------------------------------ servers
class Qmgrd:
    name = "qmgr"

    def __init__(self, binary, placement):
        self.dir = tempfile.mkdtemp(prefix="pyclient-bench-qmgrd-")
        conf = os.path.join(self.dir, "qmgrd.conf")
        with open(conf, "w") as f:
            f.write(QMGRD_CONF.format(state=self.dir))
        self.log_path = os.path.join(self.dir, "qmgrd.log")
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen(pin_prefix(placement) + [binary, "-c", conf],
                                         stdout=subprocess.DEVNULL, stderr=logf)
        self.pid = self.proc.pid  # taskset execs the daemon in the process it starts
        deadline = time.monotonic() + 30
        self.addr = None
        while self.addr is None:
            with open(self.log_path) as f:
                for line in f:
                    if "listening on " in line:
                        self.addr = line.split("listening on ", 1)[1].split()[0]
            if self.addr is None:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    sys.exit("qmgrd did not start: " + open(self.log_path).read())
                time.sleep(0.05)
        with open(os.path.join(self.dir, "authkey"), "rb") as f:
            self.key = f.read().rstrip(b"\n")

    def stop(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    name = "redis"

    def __init__(self, placement):
        import redis
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pyclient-bench-redis-")
        self.proc = subprocess.Popen(
            pin_prefix(placement) + ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", self.dir,
                                     "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=self.port).ping()
                break
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    sys.exit("redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        stop_pid(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class BaseManagerServer:
    name = "basemanager"

    def __init__(self, peers, placement):
        self.port = free_port()
        self.proc = subprocess.Popen(
            pin_prefix(placement) + [sys.executable, os.path.join(peers, "bm_server.py"), str(self.port), "--lock"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 15
        while True:
            try:
                bm_connect(self.port)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    sys.exit("bm_server.py did not start")
                time.sleep(0.05)

    def stop(self):
        stop_pid(self.proc)


def bm_manager_class():
    from multiprocessing.managers import AcquirerProxy, BaseManager

    class QueueManager(BaseManager):
        pass
    QueueManager.register('get_line_queue')
    QueueManager.register('get_buf')
    QueueManager.register('get_lock', proxytype=AcquirerProxy)
    return QueueManager


def bm_connect(port):
    m = bm_manager_class()(address=('127.0.0.1', port), authkey=AUTH)
    m.connect()
    return m


def qmgr_manager(srv):
    class QueueManager(qmgr.QueueManager):
        pass
    QueueManager.register('get_line_queue')
    QueueManager.register('get_buf')
    m = QueueManager(address=srv.addr, authkey=srv.key)
    m.connect()
    return m


# ------------------------------------------------------------------ sync put+get
def sync_ops(name, srv):
    """(put, get) bound methods of one connection to the backend."""
    if name == "qmgr":
        q = qmgr.connect(srv.addr, authkey=srv.key).queue("sync_q")
        return q.put, q.get
    if name == "basemanager":
        q = bm_connect(srv.port).get_line_queue()
        return q.put, q.get
    import redis
    r = redis.Redis(host="127.0.0.1", port=srv.port)
    return (lambda item: r.lpush("sync_q", item)), (lambda: r.lpop("sync_q"))


def run_sync(a, name, placement):
    srv = start_server(a, name, placement)
    try:
        if PLACEMENTS[placement]:
            os.sched_setaffinity(0, PLACEMENTS[placement])
        put, get = sync_ops(name, srv)
        item = b"x" * 64
        for _ in range(500):  # warm-up: connections opened, code paths hot
            put(item)
            if get() != item:
                raise SystemExit("%s: get returned something else" % name)
        n = a.n
        busy = quiet(a)
        s0 = proc_cpu(srv.pid)
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            put(item)
            get()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        scpu = proc_cpu(srv.pid) - s0
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        srv.stop()
    ops = 2 * n
    return {"part": "sync", "backend": name, "placement": placement, "ops": ops,
            "ops_per_s": round(ops / wall), "client_cpu_us_per_op": round(cpu / ops * 1e6, 2),
            "server_cpu_us_per_op": round(scpu / ops * 1e6, 2), "wall_s": round(wall, 3),
            "busy_before": busy}


# ------------------------------------------------------------------ pipeline
def pipeline_worker(name, conn, barrier, resq, timeout):
    import loglines
    count_batch = loglines.count_batch
    items = lines = 0
    if name in ("qmgr", "qmgr-blob"):
        m = qmgr_manager(conn)
        q = m.get_line_queue()
        buf = m.get_buf()
        q.qsize()
        barrier.wait(timeout=60)
        blob = name == "qmgr-blob"
        while True:
            item = q.get(timeout=timeout)
            if item is None:
                q.task_done()
                break
            batch = item.decode().split("\n") if blob else item
            items += 1
            lines += len(batch)
            c = count_batch(batch)
            with m.pipeline() as p:  # the update and its task_done in one write
                p.buf(buf.name).incr_many(c)
                p.queue(q.name).task_done()
    elif name == "basemanager":
        m = bm_connect(conn.port)
        q = m.get_line_queue()
        buf = m.get_buf()
        lock = m.get_lock()
        q.qsize()
        buf.get("warmup")
        lock.acquire()
        lock.release()
        barrier.wait(timeout=60)
        while True:
            item = q.get(timeout=timeout)
            if item is None:
                break
            items += 1
            lines += len(item)
            c = count_batch(item)
            with lock:
                cur = buf.copy()
                buf.update({k: cur.get(k, 0) + v for k, v in c.items()})
    else:
        import redis
        r = redis.Redis(host="127.0.0.1", port=conn.port)
        r.ping()
        barrier.wait(timeout=60)
        while True:
            v = r.brpop("lineq", timeout=timeout)
            if v is None or v[1] == b"STOP":
                break
            batch = v[1].decode().split("\n")
            items += 1
            lines += len(batch)
            c = count_batch(batch)
            pl = r.pipeline(transaction=False)
            for k, n in c.items():
                pl.hincrby("flowbuf", k, n)
            pl.execute()
    resq.put((items, lines))


def run_pipeline(a, name):
    import loglines
    import peerlib
    pool = loglines.gen_pool(a.pool, a.lines)
    expected = {}
    for i in range(a.items):
        for k, v in pool[i % a.pool][1].items():
            expected[k] = expected.get(k, 0) + v
    blobs = ["\n".join(b[0]).encode() for b in pool]
    srv = start_server(a, name, "none")
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(a.workers + 1)
    resq = ctx.SimpleQueue()
    procs = [ctx.Process(target=pipeline_worker, args=(name, srv, barrier, resq, a.max_s + 30))
             for _ in range(a.workers)]
    try:
        for p in procs:
            p.start()
        if name.startswith("qmgr"):
            m = qmgr_manager(srv)
            q = m.get_line_queue()
            payload = blobs if name == "qmgr-blob" else [b[0] for b in pool]
            put, stop_item = q.put, None
        elif name == "basemanager":
            m = bm_connect(srv.port)
            q = m.get_line_queue()
            payload = [b[0] for b in pool]
            put, stop_item = q.put, None
        else:
            import redis
            r = redis.Redis(host="127.0.0.1", port=srv.port)
            payload = blobs

            def put(item, i=[0]):
                if i[0] % 20 == 0:  # emulate maxsize=200 by polling LLEN, as redis_bench.py w2
                    while r.llen("lineq") > 200:
                        time.sleep(0.001)
                i[0] += 1
                r.lpush("lineq", item)
            stop_item = b"STOP"
        busy = quiet(a)
        barrier.wait(timeout=60)
        with peerlib.Meter([srv.pid]) as mt:
            for i in range(a.items):
                put(payload[i % a.pool])
            for _ in range(a.workers):
                put(stop_item)
            for p in procs:
                p.join(a.max_s + 60)
            mt.stop()
        results = [resq.get() for _ in range(a.workers) if not resq.empty()]
        if name.startswith("qmgr"):
            got = m.get_buf().copy()
        elif name == "basemanager":
            got = m.get_buf().copy()
        else:
            got = {k.decode(): int(v) for k, v in r.hgetall("flowbuf").items()}
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
        srv.stop()
    nlines = a.items * a.lines
    exact = got == expected and sum(r[1] for r in results) == nlines
    return {"part": "pipeline", "backend": name, "placement": "none", "workers": a.workers,
            "items": a.items, "lines_per_item": a.lines, "lines": nlines,
            "lines_per_s": round(nlines / mt.wall), "wall_s": round(mt.wall, 3),
            "exact": exact, "expected_total": sum(expected.values()), "got_total": sum(got.values()),
            "items_per_worker": sorted(r[0] for r in results),
            "server_cpu_s": round(mt.server, 3), "client_cpu_s": round(mt.ours, 3),
            "foreign_cores": mt.as_dict()["foreign_cores"], "busy_before": busy}


# ------------------------------------------------------------------ helpers
def start_server(a, name, placement):
    if name.startswith("qmgr"):
        return Qmgrd(a.qmgrd, placement)
    if name == "basemanager":
        return BaseManagerServer(a.peers, placement)
    return Redis(placement)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet(a):
    import peerlib
    return peerlib.wait_quiet(max_wait=a.quiet_max) if a.quiet_max > 0 else None


def fmt(v):
    if isinstance(v, float):
        return "%.2f" % v
    if isinstance(v, int) and not isinstance(v, bool):
        return "{:,}".format(v)
    return str(v)


def ratio(x, y):
    return round(x / y, 2) if y else None


def verdict(r, target):
    return "met" if r is not None and r >= target else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qmgrd", required=True, help="the qmgrd binary to start")
    ap.add_argument("--peers", default=DEFAULT_PEERS, help="../shared/peers (bm_server.py, loglines.py, peerlib.py)")
    ap.add_argument("--parts", default="sync,pipeline")
    ap.add_argument("--placements", default="same,none", help="for sync")
    ap.add_argument("--n", type=int, default=20000, help="sync: put+get pairs per backend")
    ap.add_argument("--items", type=int, default=4000, help="pipeline: batches")
    ap.add_argument("--lines", type=int, default=1000, help="pipeline: lines per batch")
    ap.add_argument("--pool", type=int, default=16, help="pipeline: distinct generated batches")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--no-blob", action="store_true", help="skip the qmgr-blob pipeline row")
    ap.add_argument("--max-s", type=float, default=120.0)
    ap.add_argument("--quiet-max", type=float, default=30.0,
                    help="wait up to this long for the box to be idle before each measurement")
    ap.add_argument("--json", help="append every record to this file as JSON lines")
    a = ap.parse_args()
    a.qmgrd = os.path.abspath(a.qmgrd)
    sys.path.insert(0, a.peers)
    parts = a.parts.split(",")
    recs = []
    info = {"part": "machine", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "nproc": os.cpu_count(), "kernel": platform.release(),
            "python": sys.version.split()[0], "loadavg_before": open("/proc/loadavg").read().strip(),
            "qmgr_commit": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                          capture_output=True, text=True).stdout.strip(),
            "qmgr_package": os.path.dirname(qmgr.__file__),
            "redis": subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip(),
            "cmd": " ".join([sys.executable] + sys.argv)}
    recs.append(info)
    log("machine %s" % json.dumps(info))

    def add(rec):
        recs.append(rec)
        log(json.dumps(rec))
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(rec) + "\n")

    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(info) + "\n")
    sync = {}
    if "sync" in parts:
        for placement in a.placements.split(","):
            for name in ("qmgr", "basemanager", "redis"):
                rec = run_sync(a, name, placement)
                sync[placement, name] = rec
                add(rec)
    pipe = {}
    if "pipeline" in parts:
        names = ["qmgr", "basemanager", "redis"] + ([] if a.no_blob else ["qmgr-blob"])
        for name in names:
            rec = run_pipeline(a, name)
            pipe[name] = rec
            add(rec)

    print()
    if sync:
        print("sync put+get, 1 connection, 64-byte bytes, %s pairs" % fmt(a.n))
        print("| placement | backend | ops/s | client CPU µs/op | server CPU µs/op | qmgr ÷ backend (ops/s) | qmgr ÷ backend (client CPU/op) |")
        print("|---|---|---|---|---|---|---|")
        for (placement, name), r in sync.items():
            ours = sync[placement, "qmgr"]
            print("| %s | %s | %s | %s | %s | %s | %s |" % (
                placement, name, fmt(r["ops_per_s"]), fmt(r["client_cpu_us_per_op"]),
                fmt(r["server_cpu_us_per_op"]),
                "" if name == "qmgr" else "%.2f×" % ratio(ours["ops_per_s"], r["ops_per_s"]),
                "" if name == "qmgr" else "%.2f×" % ratio(ours["client_cpu_us_per_op"], r["client_cpu_us_per_op"])))
        for placement in a.placements.split(","):
            o = sync[placement, "qmgr"]
            rb = ratio(o["ops_per_s"], sync[placement, "basemanager"]["ops_per_s"])
            rr = ratio(o["ops_per_s"], sync[placement, "redis"]["ops_per_s"])
            print("verdict %s: vs BaseManager %.2f× (target ≥ 3×: %s); vs redis-py %.2f× (target ≥ 1×: %s)" % (
                placement, rb, verdict(rb, 3), rr, verdict(rr, 1)))
        print()
    if pipe:
        print("pipeline, %d workers, %s batches of %s lines, unpinned" % (a.workers, fmt(a.items), fmt(a.lines)))
        print("| backend | lines/s | exact | wall s | server CPU s | client CPU s | qmgr ÷ backend |")
        print("|---|---|---|---|---|---|---|")
        for name, r in pipe.items():
            print("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, fmt(r["lines_per_s"]), "yes" if r["exact"] else "NO", fmt(r["wall_s"]),
                fmt(r["server_cpu_s"]), fmt(r["client_cpu_s"]),
                "" if name == "qmgr" else "%.2f×" % ratio(pipe["qmgr"]["lines_per_s"], r["lines_per_s"])))
        # Each peer against qmgr carrying the same items: BaseManager pickles
        # the list of str that the qmgr row sends as msgpack; Redis carries
        # one bytes blob per batch, as the qmgr-blob row does. The cross
        # ratio (qmgr list vs Redis blob) is printed too.
        pairs = (("qmgr", "basemanager", 3), ("qmgr", "redis", 1.2), ("qmgr-blob", "redis", 1.2))
        for ours, name, target in pairs:
            if ours in pipe and name in pipe:
                r = ratio(pipe[ours]["lines_per_s"], pipe[name]["lines_per_s"])
                ok = pipe[ours]["exact"] and pipe[name]["exact"]
                print("verdict: %s vs %s %.2f× (target ≥ %g×: %s)%s" % (
                    ours, name, r, target, verdict(r, target), "" if ok else " (a run was NOT exact)"))
    return 0 if all(r.get("exact", True) for r in recs) else 1


if __name__ == "__main__":
    sys.exit(main())
