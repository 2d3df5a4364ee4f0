"""A producer killed in the middle of sending a put_many frame
(test_faults.TestProducerKilledMidPutMany).

usage: dur_halfput.py PORT KEYFILE QUEUE NITEMS ITEMSIZE MODE

Authenticates, builds one queue.put_many request of NITEMS bins of ITEMSIZE
bytes, then, by MODE:
  half   sends the frame header and half the frame, prints SENT, waits
  last   sends all but the last byte, prints SENT, waits
  slow   sends the whole frame in paced 64 KiB pieces (prints SENDING
         first, SENT at the end); the test kills it at a random moment
The test kills it with SIGKILL; it never reads a reply.
"""

import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dur_lib import Client, read_key  # noqa: E402
from qmgrtest import pack_request  # noqa: E402


def main():
    port, keyfile, queue = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    nitems, itemsize, mode = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    c = Client(port, read_key(keyfile))
    items = [bytes([i % 251]) * itemsize for i in range(nitems)]
    frame = pack_request(1, "queue.put_many", [queue, items, 0])
    data = struct.pack(">i", len(frame)) + frame
    if mode == "half":
        c.raw_send(data[:4 + len(frame) // 2])
        print("SENT", flush=True)
    elif mode == "last":
        c.raw_send(data[:-1])
        print("SENT", flush=True)
    else:
        print("SENDING", len(data), flush=True)
        for off in range(0, len(data), 65536):
            c.raw_send(data[off:off + 65536])
            time.sleep(0.001)  # paces the sending: the kill lands somewhere in it
        print("SENT", flush=True)
    while True:
        signal.pause()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
