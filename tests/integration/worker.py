"""A worker process for the redelivery tests: connects, takes items, reports
them on stdout (hex of the raw msgpack, one line per item), then waits to be
killed.

usage: worker.py PORT KEYFILE QUEUE METHOD [N]
  METHOD is "get" (one item) or "get_many" (up to N items)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmgrtest import Client, split_array  # noqa: E402


def main():
    port, keyfile, queue, method = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    with open(keyfile, "rb") as f:
        key = f.read()
    if key.endswith(b"\n"):
        key = key[:-1]
    c = Client(port, key)
    print("READY", flush=True)
    if method == "get":
        items = [c.call("queue.get", [queue, 60], raw=True)]
    else:
        items = split_array(c.call("queue.get_many", [queue, n, 60], raw=True))
    for raw in items:
        print("ITEM", raw.hex(), flush=True)
    print("WORKING", flush=True)
    sys.stdin.read()  # "processing" until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
