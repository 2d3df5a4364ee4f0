"""A worker of the crash loop (test_durability.TestCrashLoop).

usage: dur_worker.py PORT KEYFILE QUEUE BUF WID MAXBATCH LOGFILE STOPFILE

Loop: queue.get_many (up to MAXBATCH, 0.5 s), buf.update adding 1 to
"id:<id>" for each item (id = item // 100), queue.task_done for the batch.
When the connection breaks (the daemon was killed) the batch is dropped:
its lease returns to the queue, and no task_done for it is ever sent on a
new connection. Exits when STOPFILE exists and the queue answers EEMPTY.

Log lines (dur_lib.LineLog), batch = "WID.n":
  G batch item,item,...   got (reply received)
  US batch / UA batch     buf.update sent / acknowledged
  TS batch / TA batch     task_done sent / acknowledged
  L batch STAGE           connection lost while at STAGE (G, U or T)
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dur_lib import BROKEN, LineLog, ReconnectingClient, RPCError, read_key  # noqa: E402

EEMPTY = 4


def main():
    port, keyfile, queue, buf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    wid, maxbatch, logfile, stopfile = sys.argv[5], int(sys.argv[6]), sys.argv[7], sys.argv[8]
    log = LineLog(logfile)
    rc = ReconnectingClient(port, read_key(keyfile))
    n = 0
    while True:
        try:
            items = rc.call("queue.get_many", [queue, maxbatch, 0.5])
        except RPCError as e:
            if e.code != EEMPTY:
                raise
            if os.path.exists(stopfile):
                break
            continue
        except BROKEN:
            log.write("L", "-", "G")
            rc.reconnect()
            continue
        n += 1
        batch = "%s.%d" % (wid, n)
        log.write("G", batch, ",".join(str(i) for i in items))
        counts = collections.Counter(i // 100 for i in items)
        log.write("US", batch)
        try:
            rc.call("buf.update", [buf, {"id:%d" % k: v for k, v in counts.items()}])
        except BROKEN:
            log.write("L", batch, "U")
            rc.reconnect()
            continue
        log.write("UA", batch)
        log.write("TS", batch)
        try:
            rc.call("queue.task_done", [queue, len(items)])
        except BROKEN:
            log.write("L", batch, "T")
            rc.reconnect()
            continue
        log.write("TA", batch)
    log.write("END", rc.reconnects)
    log.close()
    rc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
