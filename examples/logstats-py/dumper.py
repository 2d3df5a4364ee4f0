#!/usr/bin/python3
"""logstats-py dumper: drains flow_buf into SQLite.

Every --interval seconds (default 2), once more at SIGTERM/SIGINT, or once
with --once, it takes everything in flow_buf (buf.drain(): every key removed
in one atomic step, so no count is taken twice or missed) and adds it to the
database in one transaction:

    counters(key TEXT PRIMARY KEY, value)  -- summed: value = value + excluded.value
    drains(id, at, keys, lines)            -- one row per drain

(the schema of the C dumper, examples/logstats, so either can fill one
database). WAL mode, synchronous = FULL: a committed drain survives a power
cut. A commit that fails puts the drain back into the buf (incr_many).

    dumper.py --db stats.db &          # until SIGTERM
    dumper.py --db stats.db --report   # the top tables, no daemon needed
    dumper.py --db stats.db --get lines
"""
import argparse
import os
import signal
import sqlite3
import sys
import time

import qmgr
from qmgr import QueueManager

QueueManager.register('get_buf')

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drains (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  keys INTEGER NOT NULL,
  lines INTEGER NOT NULL);
"""
UPSERT = ("INSERT INTO counters (key, value) VALUES (?, ?) "
          "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value")


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)  # transactions by hand
    db.executescript(SCHEMA)
    return db


def store(db, counts):
    """One drain in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(UPSERT, counts.items())
        db.execute("INSERT INTO drains (keys, lines) VALUES (?, ?)",
                   (len(counts), counts.get("lines", 0)))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def drain_once(db, buf):
    """Returns the number of lines the drain held (0 for an empty one)."""
    got = buf.drain()
    counts = {k: v for k, v in got.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if len(counts) != len(got):
        print("dumper: %d values were not numbers and were dropped" % (len(got) - len(counts)),
              file=sys.stderr, flush=True)
    if not counts:
        return 0
    try:
        store(db, counts)
    except sqlite3.Error as e:
        print("dumper: database: %s; the drain goes back into the buf" % e, file=sys.stderr, flush=True)
        buf.incr_many(counts)
        return 0
    return counts.get("lines", 0)


def report(db, top):
    rows = dict(db.execute("SELECT key, value FROM counters WHERE key IN ('lines', 'malformed')"))
    print("lines      %d" % rows.get("lines", 0))
    print("malformed  %d" % rows.get("malformed", 0))
    for dim in ("status", "path"):
        print("\ntop %s" % dim)
        for key, value in db.execute(
                "SELECT key, value FROM counters WHERE key LIKE ? ORDER BY value DESC, key LIMIT ?",
                (dim + ":%", top)):
            print("%12d  %s" % (value, key[len(dim) + 1:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-a", "--address", help="the daemon: host:port, [v6]:port, unix:/path")
    ap.add_argument("-k", "--keyfile", help="the file holding the authkey")
    ap.add_argument("--db", default="logstats.db")
    ap.add_argument("-i", "--interval", type=float, default=2.0, help="seconds between drains")
    ap.add_argument("--once", action="store_true", help="drain once and exit")
    ap.add_argument("--report", action="store_true", help="print the top tables and exit")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--get", metavar="KEY", help="print one counter and exit (1 if missing)")
    a = ap.parse_args()
    db = open_db(a.db)
    if a.report:
        report(db, a.top)
        return 0
    if a.get is not None:
        row = db.execute("SELECT value FROM counters WHERE key = ?", (a.get,)).fetchone()
        if row is None:
            return 1
        print(row[0])
        return 0

    # The stop signals stay blocked except while waiting for them: none is missed.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    if a.keyfile is not None:  # found as every qmgr client finds a key file
        os.environ["QMGR_AUTHKEY_FILE"] = a.keyfile
    m = QueueManager(address=a.address, authkey=None, reconnect=True)
    m.connect()
    buf = m.get_buf()
    drains = lines = 0
    while True:
        try:
            n = drain_once(db, buf)
        except qmgr.ConnectionError as e:  # the next drain reconnects
            print("dumper: %s" % e, file=sys.stderr, flush=True)
            n = None
        if n:
            drains += 1
            lines += n
        if a.once:
            break
        deadline = time.monotonic() + a.interval
        stopped = False
        while not stopped and (left := deadline - time.monotonic()) > 0:
            stopped = signal.sigtimedwait(stop_signals, left) is not None
        if stopped:
            n = drain_once(db, buf)  # the last drain
            drains += bool(n)
            lines += n
            break
    print("dumper: drains=%d lines=%d" % (drains, lines), flush=True)
    m.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
