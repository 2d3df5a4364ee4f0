#!/usr/bin/python3
"""logstats-py producer: cuts an access log into batches on line_queue.

Written as a multiprocessing.managers.BaseManager user writes it; only the
import differs (see README.md). Each batch is a list of up to --batch lines
(str, without their newline), put on line_queue (maxsize 200 in qmgrd's
default configuration, so a put waits while 200 batches are queued). When
every line is queued it waits for queue.join() (every batch counted by a
worker and task_done), prints

    lines=N batches=N put_s=S total_s=S lines_per_s=N

and then puts one None per worker (--sentinels) so the workers exit.

Input: files, stdin (no file, or '-'), or --generate N synthetic lines in
nginx's combined format, the same N lines for the same --seed
(--malformed-ppm of them cut short, so they do not parse). --output FILE
writes the log instead of queueing it (no daemon needed).

    producer.py -a 127.0.0.1:50002 -k ~/.local/state/qmgr/authkey access.log
    producer.py --generate 200000 --seed 7 --output access.log

Without -a / -k the daemon is found as every qmgr client finds it:
$QMGR_ADDR and $QMGR_AUTHKEY_FILE, else qmgrd's defaults.
"""
import argparse
import os
import random
import sys
import time

from qmgr import QueueManager

QueueManager.register('get_line_queue')

PATHS = [
    "/", "/index.html", "/favicon.ico", "/robots.txt", "/login", "/logout",
    "/api/v1/items", "/api/v1/items/search", "/api/v1/users", "/api/v1/orders",
    "/api/v1/cart", "/api/v2/feed", "/api/v2/notify", "/static/app.js",
    "/static/app.css", "/static/logo.png", "/img/banner.jpg", "/health",
    "/metrics", "/search", "/product/view", "/product/list", "/checkout",
    "/account", "/account/settings", "/blog", "/blog/post", "/about", "/help",
    "/contact", "/wp-login.php", "/.env", "/admin", "/download", "/upload",
    "/ws", "/sitemap.xml", "/rss", "/cdn/font.woff2", "/api/v1/stats",
]
PATH_W = [1.0 / (i + 1) ** 0.9 for i in range(len(PATHS))]  # a few hot paths, a long tail
STATUS = ["200", "304", "404", "301", "302", "201", "204", "403", "500", "502"]
STATUS_W = [78, 6, 5, 2, 2, 2, 1, 1.5, 1.5, 1]
METHODS = ["GET", "POST", "HEAD", "PUT"]
METHOD_W = [85, 10, 3, 2]
AGENTS = ["curl/7.88.1", "Mozilla/5.0", "Go-http-client/1.1", "python-requests/2.28"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def generate(n, seed, malformed_ppm):
    """n log lines, the same ones for the same (seed, malformed_ppm). A
    malformed line is a good one cut before its request's opening quote."""
    rng = random.Random(seed)
    t = 1795000000 + rng.randrange(86400 * 365)  # seconds, moving forward
    done = 0
    while done < n:
        k = min(1000, n - done)
        paths = rng.choices(PATHS, PATH_W, k=k)
        stats = rng.choices(STATUS, STATUS_W, k=k)
        meths = rng.choices(METHODS, METHOD_W, k=k)
        for i in range(k):
            t += rng.randrange(3)
            tm = time.gmtime(t)
            q = ("?id=%d" % rng.randrange(10000)) if rng.random() < 0.3 else ""
            line = '10.%d.%d.%d - - [%02d/%s/%d:%02d:%02d:%02d +0000] "%s %s%s HTTP/1.1" %s %d "-" "%s"' % (
                rng.randrange(256), rng.randrange(256), rng.randrange(256),
                tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour, tm.tm_min, tm.tm_sec,
                meths[i], paths[i], q, stats[i], rng.randrange(100, 60000), rng.choice(AGENTS))
            if malformed_ppm and rng.randrange(1000000) < malformed_ppm:
                line = line[:rng.randrange(1, line.index('"'))]
            yield line
        done += k


def read_lines(files):
    """The non-empty lines of the files (or stdin), without their newline."""
    for name in files or ["-"]:
        f = sys.stdin if name == "-" else open(name, encoding="utf-8", errors="replace", newline="\n")
        try:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    yield line
        finally:
            if f is not sys.stdin:
                f.close()


def batches(lines, size):
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="access logs (default: stdin)")
    ap.add_argument("-a", "--address", help="the daemon: host:port, [v6]:port, unix:/path")
    ap.add_argument("-k", "--keyfile", help="the file holding the authkey")
    ap.add_argument("--batch", type=int, default=1000, help="lines per batch (default 1000)")
    ap.add_argument("--sentinels", type=int, default=8,
                    help="None items put after the join, one per worker (default 8)")
    ap.add_argument("--generate", type=int, metavar="N", help="N synthetic lines instead of files")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--malformed-ppm", type=int, default=0)
    ap.add_argument("--output", help="with --generate: write the log to this file and stop")
    a = ap.parse_args()
    if a.batch < 1:
        ap.error("--batch must be at least 1")
    lines = (generate(a.generate, a.seed, a.malformed_ppm) if a.generate is not None
             else read_lines(a.files))
    if a.output:
        with open(a.output, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line + "\n")
        return 0

    if a.keyfile is not None:  # found as every qmgr client finds a key file
        os.environ["QMGR_AUTHKEY_FILE"] = a.keyfile
    m = QueueManager(address=a.address, authkey=None)
    m.connect()
    q = m.get_line_queue()
    t0 = time.perf_counter()
    nlines = nbatches = 0
    for batch in batches(lines, a.batch):
        q.put(batch)
        nlines += len(batch)
        nbatches += 1
    t1 = time.perf_counter()
    q.join()
    t2 = time.perf_counter()
    print("lines=%d batches=%d put_s=%.3f total_s=%.3f lines_per_s=%d" % (
        nlines, nbatches, t1 - t0, t2 - t0, nlines / max(t2 - t0, 1e-9)), flush=True)
    for _ in range(a.sentinels):
        q.put(None)
    m.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
