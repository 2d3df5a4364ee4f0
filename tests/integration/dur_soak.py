"""A soak client process (test_soak.py): NCONNS connections, one thread
each, doing a random mix of every queue and buf method until SECONDS have
passed, keeping exact books of what the daemon acknowledged.

usage: dur_soak.py PORT KEYFILE MODE ROLE PROC NCONNS SECONDS SEED OUTFILE

MODE: off (queue "soak" has redeliver = off) or on (redeliver = on; items
got are settled with task_done, oldest first, by the same connection).
ROLE:
  main    never killed. Writes OUTFILE (JSON) at the end: the items whose
          put was acknowledged, refused or got, the items it settled, the
          buf deltas acknowledged, the maps it drained, op counts, errors.
  victim  killed by the test at a random moment: only gets, task_dones and
          incrs of its own keys, each logged to OUTFILE (dur_lib.LineLog)
          as it happens, so the log survives the kill:
            G conn item,item..   got        TS conn n / TA conn item,item..
            IS conn key delta / IA conn key delta   incr sent / acknowledged
Prints READY once every connection is up.
"""

import collections
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dur_lib import Client, LineLog, RPCError, read_key  # noqa: E402

EFULL, EEMPTY, ENOKEY = 3, 4, 11
QUEUE = "soak"
SHARED_KEYS = ["k%d" % i for i in range(20)]


class Books:
    def __init__(self):
        self.puts = []
        self.refused = []
        self.got = []
        self.settled = []
        self.deltas = collections.Counter()
        self.fdeltas = collections.defaultdict(float)
        self.drained = []
        self.ops = collections.Counter()
        self.errors = []


def main_thread(port, key, mode, name, end, seed, books, ready, go):
    r = random.Random(seed)
    try:
        c = Client(port, key, timeout=120)
    except Exception as e:  # noqa: BLE001
        books.errors.append("%s: connect: %r" % (name, e))
        ready.release()
        return
    ready.release()
    go.wait()
    seconds_end = end[0]
    seq = 0
    outstanding = collections.deque()

    def settle(n):
        c.call("queue.task_done", [QUEUE, n])
        for _ in range(n):
            books.settled.append(outstanding.popleft())

    def got(items):
        books.got.extend(items)
        if mode == "on":
            outstanding.extend(items)
        else:
            c.call("queue.task_done", [QUEUE, len(items)])

    ops = ["put", "put_many", "get", "get_many", "incr", "update", "fincr", "dincr", "drain",
           "read", "settle"]
    weights = [20, 8, 18, 8, 10, 5, 3, 4, 1, 12, 6]
    try:
        while time.monotonic() < seconds_end:
            op = r.choices(ops, weights)[0]
            books.ops[op] += 1
            if op == "put":
                seq += 1
                item = "%s.%d" % (name, seq)
                try:
                    c.call("queue.put", [QUEUE, item, r.choice([0, 0, 0.01])])
                    books.puts.append(item)
                except RPCError as e:
                    if e.code != EFULL:
                        raise
                    books.refused.append(item)
            elif op == "put_many":
                items = []
                for _ in range(r.randint(1, 20)):
                    seq += 1
                    items.append("%s.%d" % (name, seq))
                try:
                    n = c.call("queue.put_many", [QUEUE, items, r.choice([0, 0.01])])
                except RPCError as e:
                    if e.code != EFULL:
                        raise
                    n = 0
                books.puts.extend(items[:n])
                books.refused.extend(items[n:])
            elif op in ("get", "get_many"):
                try:
                    if op == "get":
                        items = [c.call("queue.get", [QUEUE, r.choice([0, 0, 0.01])])]
                    else:
                        items = c.call("queue.get_many", [QUEUE, r.randint(1, 20), r.choice([0, 0.01])])
                except RPCError as e:
                    if e.code != EEMPTY:
                        raise
                    items = []
                if items:
                    got(items)
            elif op == "settle":
                if outstanding:
                    settle(r.randint(1, len(outstanding)))
            elif op == "incr":
                k, d = r.choice(SHARED_KEYS), r.randint(-5, 10)
                c.call("buf.incr", ["tot", k, d])
                books.deltas[k] += d
            elif op == "update":
                upd = {k: r.randint(-3, 7) for k in r.sample(SHARED_KEYS, r.randint(1, 8))}
                c.call("buf.update", ["tot", upd])
                books.deltas.update(upd)
            elif op == "fincr":
                d = r.choice([0.25, 0.5, 1.0, -0.25])
                c.call("buf.incr", ["tot", "f", d])
                books.fdeltas["f"] += d
            elif op == "dincr":
                k = "d%d" % r.randint(0, 4)
                c.call("buf.update", ["dr", {k: 1, "all": 1}])
                books.deltas["dr:" + k] += 1
                books.deltas["dr:all"] += 1
            elif op == "drain":
                books.drained.append(c.call("buf.drain", ["dr"]))
            else:
                what = r.randint(0, 7)
                if what == 0:
                    assert c.call("ping", []) == "pong"
                elif what == 1:
                    assert isinstance(c.call("queue.qsize", [QUEUE]), int)
                elif what == 2:
                    st = c.call("queue.stat", [QUEUE])
                    assert st["size"] <= st["maxsize"] + 10000
                elif what == 3:
                    c.call("queue.peek", [QUEUE, r.randint(1, 10)])
                elif what == 4:
                    try:
                        c.call("buf.get", ["tot", r.choice(SHARED_KEYS)])
                    except RPCError as e:
                        if e.code != ENOKEY:
                            raise
                elif what == 5:
                    c.call("buf.items", ["tot"])
                elif what == 6:
                    c.call("stats", [])
                else:
                    c.call("buf.len", ["tot"])
        if outstanding:
            settle(len(outstanding))
    except Exception as e:  # noqa: BLE001
        books.errors.append("%s: %r" % (name, e))
    finally:
        c.close()


def victim_thread(port, key, name, end, seed, log, lock, ready, go):
    r = random.Random(seed)
    c = Client(port, key, timeout=120)
    ready.release()
    go.wait()
    seconds_end = end[0]

    def w(*a):
        with lock:
            log.write(*a)
    while time.monotonic() < seconds_end:
        if r.random() < 0.2:
            k, d = "v%d" % r.randint(0, 3), r.randint(1, 5)
            w("IS", name, k, d)
            c.call("buf.incr", ["tot", k, d])
            w("IA", name, k, d)
            continue
        try:
            items = c.call("queue.get_many", [QUEUE, r.randint(1, 10), 0.02])
        except RPCError as e:
            if e.code != EEMPTY:
                raise
            continue
        w("G", name, ",".join(items))
        w("TS", name, len(items))
        c.call("queue.task_done", [QUEUE, len(items)])
        w("TA", name, ",".join(items))


def main():
    port, keyfile, mode, role = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    proc, nconns, seconds = sys.argv[5], int(sys.argv[6]), float(sys.argv[7])
    seed, outfile = int(sys.argv[8]), sys.argv[9]
    key = read_key(keyfile)
    ready = threading.Semaphore(0)
    go = threading.Event()
    end = [0.0]             # fixed once every connection is up
    threads = []
    books = []
    if role == "victim":
        log = LineLog(outfile)
        lock = threading.Lock()
    for i in range(nconns):
        name = "%s.%d" % (proc, i)
        if role == "main":
            b = Books()
            books.append(b)
            t = threading.Thread(target=main_thread, args=(port, key, mode, name, end, seed * 1000 + i,
                                                           b, ready, go))
        else:
            t = threading.Thread(target=victim_thread, args=(port, key, name, end, seed * 1000 + i,
                                                             log, lock, ready, go))
        t.daemon = True
        threads.append(t)
        t.start()
    for _ in threads:
        ready.acquire()
    print("READY", flush=True)
    end[0] = time.monotonic() + seconds
    go.set()
    for t in threads:
        t.join()
    if role == "main":
        out = dict(puts=[], refused=[], got=[], settled=[], deltas=collections.Counter(),
                   fdeltas=collections.defaultdict(float), drained=[], ops=collections.Counter(), errors=[])
        for b in books:
            out["puts"] += b.puts
            out["refused"] += b.refused
            out["got"] += b.got
            out["settled"] += b.settled
            out["deltas"].update(b.deltas)
            for k, v in b.fdeltas.items():
                out["fdeltas"][k] += v
            out["drained"] += b.drained
            out["ops"].update(b.ops)
            out["errors"] += b.errors
        with open(outfile + ".tmp", "w") as f:
            json.dump(out, f)
        os.rename(outfile + ".tmp", outfile)
    return 0



if __name__ == "__main__":
    sys.exit(main())
