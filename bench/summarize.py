#!/usr/bin/python3
"""Turns one bench/run.py results directory into OUT/summary.md: the
targets' table (medians over rounds, ratios taken round by round, then their
median), the other workloads beside their peers, the profile lines and the
load the box carried. Usage: summarize.py OUT
"""
import json
import os
import statistics
import sys


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Results:
    def __init__(self, out):
        peers = os.path.join(out, "peers", "results")
        self.ours = [r for r in load(os.path.join(out, "ours.jsonl")) if "failed" not in r]
        self.redis_cpu = [r for r in load(os.path.join(out, "redis_cpu.jsonl")) if "failed" not in r]
        self.mem = load(os.path.join(out, "mem.jsonl"))
        self.pipeline = load(os.path.join(out, "pipeline.jsonl"))
        self.profile = load(os.path.join(out, "profile.jsonl"))
        self.loopback = load(os.path.join(peers, "loopback.jsonl"))
        self.redis = load(os.path.join(peers, "redis.jsonl"))
        self.bm = load(os.path.join(peers, "basemanager.jsonl"))
        self.beanstalk = load(os.path.join(peers, "beanstalk.jsonl"))
        self.machine = json.load(open(os.path.join(out, "machine.json")))
        self.failed = [r for r in load(os.path.join(out, "ours.jsonl")) if "failed" in r]

    def our(self, label, pin):
        return [r for r in self.ours if r["label"] == label and r["pin"] == pin]

    def redis_rb(self, workload, test, conns, pipe, pin):
        return [r for r in self.redis if r.get("workload") == workload and r.get("test") == test
                and r["conns"] == conns and r["pipeline"] == pipe and r["pin"] == pin
                and r.get("persist") == "off"]

    def redis_pair(self, conns, pipe, pin):
        """LPUSH and LPOP of the same redis-benchmark run, as one rate of
        put-and-get pairs (our putget alternates them the same way)."""
        push = self.redis_rb("rb_list", "LPUSH", conns, pipe, pin)
        pop = self.redis_rb("rb_list", "LPOP", conns, pipe, pin)
        return [dict(a, ops_per_s=2 / (1 / a["ops_per_s"] + 1 / b["ops_per_s"]), lpush=a["ops_per_s"],
                     lpop=b["ops_per_s"]) for a, b in zip(push, pop)]

    def floor(self, conns, depth, pin):
        return [r for r in self.loopback if r["conns"] == conns and r["depth"] == depth
                and r["pin"] == pin and r.get("nodelay") == 0 and r.get("epoll", 0) == 0]


def med(recs, key):
    vals = [r[key] for r in recs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(num, den, key_num, key_den=None):
    """Median of the round-by-round ratios (the k-th run of each side are
    neighbours in time), and the number of pairs."""
    pairs = [(a[key_num], b[key_den or key_num]) for a, b in zip(num, den)
             if a.get(key_num) and b.get(key_den or key_num)]
    if not pairs:
        return None
    return statistics.median(x / y for x, y in pairs)


def fmt(v, unit=""):
    if v is None:
        return "–"
    if unit == "us":
        return "%.2f µs" % v
    if unit == "x":
        return "%.2f×" % v
    if unit == "B":
        return "%.1f B" % v
    if unit == "ms":
        return "%.2f ms" % v
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "{:,.0f}".format(v)
    return "%.1f" % v


def spread(recs, key):
    vals = [r[key] for r in recs if r.get(key) is not None]
    if len(vals) < 2:
        return ""
    return " (%s–%s)" % (fmt(min(vals)), fmt(max(vals)))


def verdict(r, target, at_least=True):
    if r is None:
        return "not measured"
    ok = r >= target if at_least else r <= target
    return "**met**" if ok else "**not met**"


def load_note(*groups):
    recs = [r for g in groups for r in g]
    busy = [r.get("busy_before") for r in recs if r.get("busy_before") is not None]
    foreign = [r.get("foreign_cores") for r in recs if r.get("foreign_cores") is not None]
    if not busy and not foreign:
        return ""
    return "%.2f / %.2f" % (max(busy) if busy else 0, max(foreign) if foreign else 0)


def us_per_op(recs):
    """server_cpu_s_per_mop is seconds per million ops, i.e. µs per op."""
    return med(recs, "server_cpu_s_per_mop")


def target_rows(R):
    rows = []

    def throughput(name, label, pin, peer, peer_name, target, conns, depth):
        ours = R.our(label, pin)
        fl = R.floor(conns, depth, pin)
        rp = ratio(ours, peer, "ops_per_s")
        rf = ratio(ours, fl, "ops_per_s", "msgs_per_s")
        rows.append([name, pin, fmt(med(ours, "ops_per_s")) + spread(ours, "ops_per_s"),
                     "%s %s" % (peer_name, fmt(med(peer, "ops_per_s"))), fmt(rp, "x"),
                     "≥ %.2f× → %s" % (target, verdict(rp, target)),
                     "floor %s = %s" % (fmt(med(fl, "msgs_per_s")), fmt(rf, "x")),
                     load_note(ours, peer, fl)])
        return rf

    rf = throughput("putget, 1 conn, P1 (ops/s)", "putget_c1_p1", "same", R.redis_pair(1, 1, "same"),
                    "Redis LPUSH+LPOP", 1.15, 1, 1)
    rows[-1][6] += " (target ≥ 0.85× → %s)" % verdict(rf, 0.85)
    throughput("putget, 1 conn, P64 (ops/s)", "putget_c1_p64", "same", R.redis_pair(1, 64, "same"),
               "Redis LPUSH+LPOP", 2.0, 1, 64)
    throughput("putget, 50 conns, P1, one client thread (ops/s)", "putget_c50_p1_t1", "none",
               R.redis_pair(50, 1, "none"), "Redis LPUSH+LPOP", 1.5, 50, 1)
    throughput("putget, 50 conns, P1, a thread per conn (ops/s)", "putget_c50_p1", "none",
               R.redis_pair(50, 1, "none"), "Redis LPUSH+LPOP", 1.5, 50, 1)
    for label, rlabel, pin, name in [
            ("putget_c1_p1", "lpush_lpop_c1_p1", "same", "daemon CPU per op, 1 conn P1"),
            ("putget_c1_p64", "lpush_lpop_c1_p64", "same", "daemon CPU per op, 1 conn P64"),
            ("putget_c50_p1_t1", "lpush_lpop_c50_p1", "none",
             "daemon CPU per op, 50 conns P1, one client thread"),
            ("putget_c1_p1", "lpush_lpop_c1_p1", "none", "daemon CPU per op, 1 conn P1")]:
        ours = R.our(label, pin)
        peer = [r for r in R.redis_cpu if r["label"] == rlabel and r["pin"] == pin]
        rc = ratio(ours, peer, "server_cpu_s_per_mop")
        rows.append([name, pin, fmt(us_per_op(ours), "us"),
                     "Redis (INFO cpu) %s" % fmt(us_per_op(peer), "us"), fmt(rc, "x"),
                     "≤ 0.50× → %s" % verdict(rc, 0.5, at_least=False), "", load_note(ours, peer)])
    batch_names = {"batch_c1_64": "1 conn, 1 call at a time", "batch_c4_64": "4 conns, 1 call at a time",
                   "batch_c1_64_w16": "1 conn, 16 calls in flight"}
    for pin in ("same", "none"):
        for label, what in batch_names.items():
            ours = R.our(label, pin)
            if not ours:
                continue
            items = med(ours, "items_per_s")
            rows.append(["batch 64 (%s): items/s through the queue" % what, pin,
                         fmt(items) + spread(ours, "items_per_s"),
                         "item-ops/s (put + get) %s" % fmt(med(ours, "ops_per_s")), "",
                         "≥ 5M → %s" % verdict(items, 5e6), "", load_note(ours)])
    bm = [r for r in R.bm if r.get("workload") == "w2_pipeline" and r.get("mode") == "locked"]
    rw2 = [r for r in R.redis if r.get("workload") == "w2_py_pipeline_hincrby"]
    ours = [r for r in R.pipeline if r.get("exact")]
    inexact = len(R.pipeline) - len(ours)
    for peer, name, target in [(bm, "BaseManager locked, Python workers", 5.0),
                               (rw2, "Redis + redis-py HINCRBY, Python workers", 2.0)]:
        rp = ratio(ours, peer, "lines_per_s")
        rows.append(["pipeline, 8 C workers, lines/s (exact totals%s)" %
                     (", %d run(s) NOT exact" % inexact if inexact else ""), "none",
                     fmt(med(ours, "lines_per_s")) + spread(ours, "lines_per_s"),
                     "%s %s" % (name, fmt(med(peer, "lines_per_s"))), fmt(rp, "x"),
                     "≥ %.0f× → %s" % (target, verdict(rp, target)), "", load_note(peer)])
    cpu_mb = [r for r in ours if "daemon_cpu_ms_per_mb" in r]
    if cpu_mb:
        rows.append(["pipeline: daemon CPU (its own cpu_user_s + cpu_sys_s) per MB of log", "none",
                     fmt(med(cpu_mb, "daemon_cpu_ms_per_mb"), "ms") + spread(cpu_mb, "daemon_cpu_ms_per_mb"),
                     "user %s s, sys %s s for %s MB" % (fmt(med(cpu_mb, "daemon_user_s")),
                                                       fmt(med(cpu_mb, "daemon_sys_s")),
                                                       fmt(med(cpu_mb, "log_mb"))),
                     "", "halved against the run before → compare runs", "", ""])
    mem_ours = [dict(r, per_item=r["server_rss_delta_bytes"] / r["ops"]) for r in R.mem
                if r.get("label") == "mem_1M_64B" and r.get("ops")]
    mem_redis = [dict(r, per_item=r["rss_bytes_per_item"]) for r in R.redis
                 if r.get("workload") == "mem_1M_64B_items"]
    rm = ratio(mem_ours, mem_redis, "per_item")
    rows.append(["RSS growth per queued 64-byte item (1M items)", "none",
                 fmt(med(mem_ours, "per_item"), "B") + spread(mem_ours, "per_item"),
                 "Redis %s%s" % (fmt(med(mem_redis, "per_item"), "B"), spread(mem_redis, "per_item")),
                 fmt(rm, "x"), "≤ 1× → %s" % verdict(rm, 1.0, at_least=False), "", ""])
    leased = [r for r in R.mem if r.get("label") == "mem_lease_1M_64B"]
    rl = ratio(leased, leased, "leased_per_item", "queued_per_item")
    rows.append(["RSS growth per leased 64-byte item (1M, redeliver = on)", "none",
                 fmt(med(leased, "leased_per_item"), "B") + spread(leased, "leased_per_item"),
                 "the same items queued %s" % fmt(med(leased, "queued_per_item"), "B"),
                 fmt(rl, "x"), "≤ 1.5× → %s" % verdict(rl, 1.5, at_least=False), "", ""])
    return rows


def other_rows(R):
    rows = []

    def ours(label, pin, key="ops_per_s"):
        recs = R.our(label, pin)
        return "%s (p50 %s)" % (fmt(med(recs, key)), fmt(med(recs, "p50_us"), "us")) if recs else "–"

    def peer(recs, key="ops_per_s"):
        return fmt(med(recs, key)) if recs else "–"

    bm_w1 = lambda pin: [r for r in R.bm if r.get("workload") == "w1_sync_putget" and r["pin"] == pin]
    bs_w1 = lambda pin: [r for r in R.beanstalk if r.get("workload") == "w1_sync_put_reserve_delete"
                         and r["pin"] == pin]
    for pin in ("same", "none"):
        rows.append(["sync put+get, 1 conn (ops/s)", pin, ours("putget_c1_p1", pin),
                     "BaseManager %s · beanstalkd put/reserve/delete %s · Redis LPUSH+LPOP %s · floor %s"
                     % (peer(bm_w1(pin)), peer(bs_w1(pin)), peer(R.redis_pair(1, 1, pin)),
                        peer(R.floor(1, 1, pin), "msgs_per_s"))])
    rows.append(["put+get, 1 conn, P64 (ops/s)", "none", ours("putget_c1_p64", "none"),
                 "Redis LPUSH+LPOP P64 %s · floor d64 %s" % (peer(R.redis_pair(1, 64, "none")),
                                                            peer(R.floor(1, 64, "none"), "msgs_per_s"))])
    rows.append(["put+get, 50 conns, P1 (ops/s)", "same", ours("putget_c50_p1", "same"),
                 "Redis LPUSH+LPOP %s · floor %s" % (peer(R.redis_pair(50, 1, "same")),
                                                      peer(R.floor(50, 1, "same"), "msgs_per_s"))])
    for pin in ("same", "none"):
        rows.append(["put only / get only, 1 conn (ops/s)", pin,
                     "%s / %s" % (ours("put_c1_p1", pin), ours("get_c1_p1", pin)),
                     "Redis LPUSH %s / LPOP %s" % (
                         peer(R.redis_rb("rb_list", "LPUSH", 1, 1, pin)),
                         peer(R.redis_rb("rb_list", "LPOP", 1, 1, pin)))])
        rows.append(["incr, 1 conn P1 (ops/s)", pin, ours("incr_c1_p1", pin),
                     "Redis HINCRBY %s" % peer(R.redis_rb("rb_hincrby", "HINCRBY buf field 1", 1, 1, pin))])
        rows.append(["incr, 1 conn P64 (ops/s)", pin, ours("incr_c1_p64", pin),
                     "Redis HINCRBY P64 %s" % peer(R.redis_rb("rb_hincrby", "HINCRBY buf field 1", 1, 64, pin))])
        rows.append(["update of 16 counters, 1 conn (updates/s)", pin, ours("update16_c1_p1", pin), ""])
        rows.append(["connect + handshake (per s)", pin, ours("connect_c1", pin),
                     "BaseManager Client() auth %s" % peer(
                         [r for r in R.bm if r.get("workload") == "w4_auth" and r["pin"] == pin], "per_s")
                     if pin == "none" else ""])
    rows.append(["incr, 50 conns (ops/s)", "none", ours("incr_c50_p1", "none"),
                 "Redis HINCRBY c50 %s" % peer(R.redis_rb("rb_hincrby", "HINCRBY buf field 1", 50, 1, "none"))])
    rows.append(["fan-out, 1 producer → 8 consumers, P64 (items/s)", "none", ours("fanout_c8_p64", "none"), ""])
    rows.append(["fan-out, 1 producer → 8 consumers (items/s)", "none", ours("fanout_c8_p1", "none"),
                 "BaseManager %s · Redis BRPOP (redis-py) %s · beanstalkd %s" % (
                     peer([r for r in R.bm if r.get("workload") == "w3_fanout_small"], "items_per_s"),
                     peer([r for r in R.redis if r.get("workload") == "w3_py_brpop_fanout"], "items_per_s"),
                     peer([r for r in R.beanstalk if r.get("workload") == "w3_fanout_small"], "jobs_per_s"))])
    return rows


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def profile_lines(R):
    out = []
    for p in R.profile:
        if p["view"] == "strace":
            out.append("- strace, %s: daemon %.2f syscalls per request %s; client %.2f %s" % (
                p["label"], p["daemon_syscalls_per_request"], top_calls(p["daemon_calls"], p["requests"]),
                p["client_syscalls_per_request"], top_calls(p["client_calls"], p["requests"])))
        elif p["view"] == "perf":
            out.append("- perf (cpu-clock, pinned), %s: %.1f%% of the daemon's samples in the kernel; "
                       "symbols in `%s`" % (p["label"], p["kernel_percent"], p["report"]))
        elif p["view"] == "callgrind":
            out.append("- callgrind, %s: %d user-space instructions per request in the %s; top "
                       "functions in `%s`" % (p["label"], p["instructions_per_request"], p.get("side", "daemon"),
                                              p["report"]))
    return "\n".join(out)


def top_calls(calls, requests):
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
    return "(" + ", ".join("%s %.2f" % (k, v / requests) for k, v in top) + ")"


def main():
    out = sys.argv[1]
    R = Results(out)
    m = R.machine
    doc = ["# qmgr-bench run %s" % m["date_utc"], "",
           "Machine: nproc %s, %s, kernel %s, %s GiB; load average before %s, after %s; %s min; "
           "parts %s, %s rounds." % (m["nproc"], m["cpu_model"], m["kernel"], m["mem_gib"],
                                     m["loadavg_before"], m.get("loadavg_after", "?"), m.get("minutes", "?"),
                                     ",".join(m.get("parts", [])), m.get("runs", "?")),
           "qmgr %s; %s; %s; %s." % (m["qmgr_commit"], m["redis"].split(" sha")[0], m["beanstalkd"], m["python"]),
           "", "## Targets", "",
           table(["workload", "placement", "qmgrd", "peer", "ratio", "target", "loopback floor",
                  "box load (busy before / foreign during, cores)"], target_rows(R)),
           "", "## Other workloads", "",
           table(["workload", "placement", "qmgrd", "peers"], other_rows(R)),
           "", "## Profile", "", profile_lines(R)]
    if R.failed:
        doc += ["", "## Failed runs", ""] + ["- %s %s: %s" % (r["label"], r["pin"], r["failed"]) for r in R.failed]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(doc) + "\n")
    print("\n".join(doc))


if __name__ == "__main__":
    main()
