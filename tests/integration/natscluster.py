"""A real NATS JetStream cluster on loopback for the cluster-mode tests:
three nats-server nodes (Debian's nats-server), each with its own client,
cluster and monitoring port and its own store under a temporary folder."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

SCALE = float(os.environ.get("QMGRTEST_TIMEOUT_SCALE", "1") or "1")
READY_TIMEOUT = 60.0 * SCALE


def nats_server_path():
    path = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.path.exists(path):
        raise RuntimeError("nats-server not found (apt-get install nats-server)")
    return path


def free_ports(n):
    """n distinct free loopback ports (held open together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node:
    def __init__(self, cluster, index, client_port, route_port, http_port):
        self.cluster = cluster
        self.index = index
        self.name = "n%d" % (index + 1)
        self.client_port = client_port
        self.route_port = route_port
        self.http_port = http_port
        self.dir = os.path.join(cluster.tmp, self.name)
        self.conf = os.path.join(cluster.tmp, self.name + ".conf")
        self.log = os.path.join(cluster.tmp, self.name + ".log")
        self.proc = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.client_port

    def write_config(self, routes):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write("server_name: %s\n" % self.name)
            f.write("listen: 127.0.0.1:%d\n" % self.client_port)
            f.write("http: 127.0.0.1:%d\n" % self.http_port)
            f.write("max_payload: 8MB\n")
            f.write("jetstream { store_dir: \"%s\" }\n" % self.dir)
            # no_advertise: a client knows only the servers it is given, so
            # a test can cut one front end off by cutting its one server.
            f.write("cluster {\n  name: qmgrtest\n  listen: 127.0.0.1:%d\n" % self.route_port)
            f.write("  no_advertise: true\n")
            f.write("  routes: [%s]\n}\n" % ", ".join(routes))

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([nats_server_path(), "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: the node's process ends at once, as in a crash."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def monitor(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=5) as r:
            return r.status, r.read()

    def healthy(self):
        try:
            status, body = self.monitor("/healthz")
            return status == 200 and json.loads(body).get("status") == "ok"
        except (OSError, ValueError):
            return False


class NatsCluster:
    def __init__(self, size=3):
        self.tmp = tempfile.mkdtemp(prefix="qmgrtest-nats-")
        ports = free_ports(3 * size)
        self.nodes = [Node(self, i, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2])
                      for i in range(size)]
        routes = ["nats-route://127.0.0.1:%d" % n.route_port for n in self.nodes]
        for n in self.nodes:
            n.write_config(routes)

    @property
    def urls(self):
        return ",".join(n.url for n in self.nodes)

    def start(self):
        for n in self.nodes:
            n.start()
        self.wait_healthy()
        return self

    def wait_healthy(self, nodes=None):
        """Until every live node (or those given) says JetStream is ready:
        a deadline loop on the nodes' own health endpoint."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            waiting = [n for n in (nodes or self.nodes) if n.alive() and not n.healthy()]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError("NATS nodes %s not healthy within %.0fs; logs in %s" % (
                    [n.name for n in waiting], READY_TIMEOUT, self.tmp))
            time.sleep(0.1)

    def stream_info(self, stream):
        """The stream's details as a live node's monitoring port has them, or None."""
        for n in self.nodes:
            if not n.alive():
                continue
            try:
                _, body = n.monitor("/jsz?accounts=true&streams=true")
            except OSError:
                continue
            for acc in json.loads(body).get("account_details", []):
                for s in acc.get("stream_detail", []) or []:
                    if s.get("name") == stream:
                        return s
        return None

    def stream_leader(self, stream):
        """The node that leads the stream now, or None during an election."""
        info = self.stream_info(stream)
        name = info and info.get("cluster", {}).get("leader")
        return next((n for n in self.nodes if n.name == name and n.alive()), None)

    def stream_messages(self, stream):
        info = self.stream_info(stream)
        return info["state"]["messages"] if info else None

    def cleanup(self):
        for n in self.nodes:
            n.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


_shared = None


def shared_cluster():
    """One cluster for a whole test process, stopped at its exit (each
    daemon of the process gets a stream of its own)."""
    global _shared
    if _shared is None:
        import atexit
        _shared = NatsCluster().start()
        atexit.register(_shared.cleanup)
    return _shared
