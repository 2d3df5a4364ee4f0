#!/usr/bin/python3
"""logstats-py worker: a multiprocessing.Pool of 8 counting batches.

Each Pool process connects, then loops: get a batch from line_queue, count
it, add the counts into flow_buf (buf.incr_many: atomic, all or nothing) and
task_done the batch; a None batch (the producer's sentinel) ends the loop.
The counts, per batch (the same statistics as the BaseManager pipeline of
../../../shared/peers/bm_bench.py w2, plus `lines` and `malformed`):

    lines               lines in the batch
    status:<code>       requests per HTTP status
    path:<path>         requests per path (the target without its query string)
    malformed           lines that do not parse (not in status:/path:)

The update and the task_done go out in one write (m.pipeline()), so a
worker killed at any point either sent both or neither: with line_queue's
`redeliver = on` a batch whose task_done never arrived goes back to the
queue when the connection closes, and is counted exactly once.

SIGTERM or SIGINT to this (the parent) process ends every worker at once;
a batch in hand goes back to the queue.

--stall-after N --stall-file F is a test hook: the first Pool process that
has counted N batches and gets another one writes its pid to F and holds
that batch without counting it, until killed.
"""
import argparse
import os
import signal
import sys
from collections import Counter
from multiprocessing import Pool

from qmgr import QueueManager

QueueManager.register('get_line_queue')
QueueManager.register('get_buf')


def count_batch(lines):
    """What a user writes: split on the quotes."""
    c = Counter()
    for line in lines:
        parts = line.split('"')
        try:
            method, url, proto = parts[1].split(" ")
            status = parts[2].split()[0]
        except (IndexError, ValueError):
            c["malformed"] += 1
            continue
        c["status:" + status] += 1
        c["path:" + url.partition("?")[0]] += 1
    c["lines"] = len(lines)
    return c


def stall(stall_file):
    """The test hook: only the first process to get here holds its batch."""
    try:
        fd = os.open(stall_file + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    tmp = "%s.%d" % (stall_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(tmp, stall_file)
    print("worker %d: stalling, holding a batch" % os.getpid(), file=sys.stderr, flush=True)
    while True:
        signal.pause()


def init_child():
    # A Pool process ends at its parent's SIGTERM (pool.terminate()); ^C goes to the parent.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def work(args):
    address, keyfile, stall_after, stall_file = args
    if keyfile is not None:  # found as every qmgr client finds a key file
        os.environ["QMGR_AUTHKEY_FILE"] = keyfile
    m = QueueManager(address=address, authkey=None)
    m.connect()
    q = m.get_line_queue()
    buf = m.get_buf()
    batches = lines = 0
    while True:
        batch = q.get()
        if batch is None:
            q.task_done()
            break
        if stall_file and batches == stall_after:
            stall(stall_file)
        counts = count_batch(batch)
        with m.pipeline() as p:           # one write: the update and its task_done
            p.buf(buf.name).incr_many(counts)
            p.queue(q.name).task_done()
        batches += 1
        lines += len(batch)
    m.shutdown()
    return batches, lines


def on_stop(signum, frame):
    raise SystemExit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-a", "--address", help="the daemon: host:port, [v6]:port, unix:/path")
    ap.add_argument("-k", "--keyfile", help="the file holding the authkey")
    ap.add_argument("-j", "--jobs", type=int, default=8, help="Pool processes (default 8)")
    ap.add_argument("--stall-after", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stall-file", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.jobs < 1:
        ap.error("--jobs must be at least 1")
    with Pool(a.jobs, initializer=init_child) as pool:
        signal.signal(signal.SIGTERM, on_stop)  # leaving the with-block terminates the Pool
        signal.signal(signal.SIGINT, on_stop)
        job = (a.address, a.keyfile, a.stall_after, a.stall_file)
        results = pool.map(work, [job] * a.jobs, chunksize=1)
    print("worker: processes=%d batches=%d lines=%d" % (
        a.jobs, sum(r[0] for r in results), sum(r[1] for r in results)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
