#!/usr/bin/python3
"""The pauses of cluster mode (BENCHMARKS.md "Cluster mode"): two front ends
over a three-node JetStream cluster on loopback (frontend_timeout 5s), then
  - SIGKILL of the stream leader: seconds from the kill to the first
    answered put;
  - SIGKILL of a front end holding a lease: seconds until a client of the
    other front end gets the item.

    bench/cluster_pause.py BUILD [--rounds 3]"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from natscluster import NatsCluster  # noqa: E402
from qmgrtest import Daemon, cluster_options, unique_stream  # noqa: E402

OBJECTS = "[queue q]\nmaxsize = 0\n[queue rq]\nredeliver = on\n"


def one_round():
    nats = NatsCluster().start()
    stream = unique_stream()
    fes = []
    try:
        for _ in range(2):
            d = Daemon(OBJECTS, start=False, log_level="notice",
                       **cluster_options(nats, stream, "5s"))
            fes.append(d)
            d.start()
        c = fes[0].client(timeout=120)
        leader = nats.stream_leader(stream)
        t0 = time.monotonic()
        leader.kill()
        c.call("queue.put", ["q", "x", 0])
        leader_pause = time.monotonic() - t0
        leader.start()
        nats.wait_healthy()
        w = fes[1].client(timeout=120)
        w.call("queue.put", ["rq", "job", 0])
        w.call("queue.get", ["rq", 0])
        t0 = time.monotonic()
        fes[1].kill()
        c.call("queue.get", ["rq", 120])
        return leader_pause, time.monotonic() - t0
    finally:
        for d in fes:
            d.cleanup()
        nats.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.environ["QMGRD"] = os.path.join(os.path.abspath(a.build), "server", "qmgrd")
    for _ in range(a.rounds):
        leader, frontend = one_round()
        print("leader kill -> first answered put %.2f s; front end kill -> lease redelivered %.2f s"
              % (leader, frontend), flush=True)


if __name__ == "__main__":
    main()
