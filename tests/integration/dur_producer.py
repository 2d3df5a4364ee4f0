"""The producer of the crash loop (test_durability.TestCrashLoop).

usage: dur_producer.py PORT KEYFILE QUEUE N CHUNK LOGFILE

Puts ids 0..N-1 with queue.put_many in chunks of CHUNK (timeout nil: waits
for room in the bounded queue). Each item is the int id*100 + attempt, so
every copy put is told apart: when the connection breaks (the daemon was
killed) before a chunk is acknowledged, the producer reconnects and resends
the whole chunk as the next attempt; part of the previous attempt may be in
the queue too. Log lines (dur_lib.LineLog): S chunk attempt (sending),
A chunk attempt (acknowledged), L chunk attempt (connection lost), END.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dur_lib import BROKEN, LineLog, ReconnectingClient, read_key  # noqa: E402


def main():
    port, keyfile, queue = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    n, chunk, logfile = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    log = LineLog(logfile)
    rc = ReconnectingClient(port, read_key(keyfile))
    for ci, start in enumerate(range(0, n, chunk)):
        ids = range(start, min(n, start + chunk))
        attempt = 0
        while True:
            if attempt >= 100:
                raise SystemExit("chunk %d: 100 attempts" % ci)
            items = [i * 100 + attempt for i in ids]
            log.write("S", ci, attempt)
            try:
                put = rc.call("queue.put_many", [queue, items, None])
            except BROKEN as e:
                log.write("L", ci, attempt, type(e).__name__)
                rc.reconnect()
                attempt += 1
                continue
            if put != len(items):
                raise SystemExit("chunk %d: put_many answered %r for %d items" % (ci, put, len(items)))
            log.write("A", ci, attempt)
            break
    log.write("END", rc.reconnects)
    log.close()
    rc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
