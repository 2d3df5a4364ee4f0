"""qmgrctl against a real qmgrd: each command's output and exit code, with
--json parsed back. $QMGRCTL is the binary, $QMGRD the daemon."""

import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

import msgpack

import qmgrtest
from fakeserver import FakeServer, after_handshake
from qmgrtest import DaemonTest

OBJECTS = """
[queue line_queue]
maxsize = 200
redeliver = on

[queue tiny]
maxsize = 1
redeliver = off

[buf flow_buf]
accessor = get_buf
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT = 0, 1, 2, 3
COMMANDS = ["status", "ls", "stat", "put", "get", "peek", "drain", "purge", "clients", "watch"]


def qmgrctl_path():
    return qmgrtest.binary_from_env("QMGRCTL", "qmgrctl")


class Run:
    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr.decode("utf-8", "replace")
        self.seconds = seconds

    @property
    def text(self):
        return self.out.decode("utf-8")

    def json(self):
        return json.loads(self.text)

    def __repr__(self):
        return "rc=%r out=%r err=%r" % (self.rc, self.out, self.err)


def run(args, env=None, stdin=b""):
    """qmgrctl with args and nothing but env (no QMGR_* from the caller)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QMGR_")}
    full_env.update(env or {})
    t0 = time.monotonic()
    proc = subprocess.run([qmgrctl_path()] + args, input=stdin, capture_output=True,
                          env=full_env, timeout=60 * qmgrtest.SCALE)
    return Run(proc, time.monotonic() - t0)


class QmgrctlTest(DaemonTest):
    OBJECTS = OBJECTS

    def ctl(self, *args, stdin=b""):
        return run(["-a", "127.0.0.1:%d" % self.d.port, "-k", self.d.keyfile] + list(args),
                   stdin=stdin)

    def ok(self, *args, stdin=b""):
        r = self.ctl(*args, stdin=stdin)
        self.assertEqual(r.rc, EXIT_OK, r)
        return r

    def failed(self, rc, *args):
        r = self.ctl(*args)
        self.assertEqual(r.rc, rc, r)
        return r

    def py(self):
        return self.client()


class TestStatus(QmgrctlTest):
    def test_status_table_has_header_and_a_row_per_object(self):
        r = self.ok("status")
        self.assertIn("qmgrd %s" % self.py().call("stats")["version"], r.text)
        rows = [line.split() for line in r.text.splitlines()]
        names = [row[0] for row in rows if row and row[0] in ("line_queue", "tiny", "flow_buf")]
        self.assertEqual(names, ["line_queue", "tiny", "flow_buf"])
        header = next(row for row in rows if row and row[0] == "NAME")
        self.assertEqual(header[:4], ["NAME", "TYPE", "SIZE", "MAXSIZE"])

    def test_status_columns_are_aligned(self):
        lines = self.ok("status").text.splitlines()
        table = lines[lines.index(next(l for l in lines if l.startswith("NAME"))):]
        ends = {len(l.rstrip()) for l in table}
        self.assertEqual(len(ends), 1, table)  # right-aligned last column

    def test_status_json(self):
        c = self.py()
        c.call("queue.put", ["line_queue", b"x", None])
        doc = self.ok("status", "--json").json()
        self.assertEqual(doc["stats"]["version"], c.call("stats")["version"])
        self.assertIn("uptime_s", doc["stats"])
        self.assertIn("connections", doc["stats"])
        self.assertIn("memory_bytes", doc["stats"])
        by_name = {o["name"]: o for o in doc["objects"]}
        self.assertEqual(by_name["line_queue"]["size"], 1)
        self.assertEqual(by_name["line_queue"]["maxsize"], 200)
        self.assertEqual(by_name["flow_buf"]["type"], "buf")

    def test_ls(self):
        r = self.ok("ls")
        self.assertEqual(r.text.splitlines()[0].split(), ["NAME", "TYPE", "ACCESSOR"])
        self.assertIn("get_buf", r.text)
        doc = self.ok("--json", "ls").json()
        self.assertEqual(doc, [
            {"name": "line_queue", "type": "queue", "accessor": "get_line_queue"},
            {"name": "tiny", "type": "queue", "accessor": "get_tiny"},
            {"name": "flow_buf", "type": "buf", "accessor": "get_buf"},
        ])

    def test_stat_queue_and_buf(self):
        c = self.py()
        c.call("queue.put", ["line_queue", b"x", None])
        c.call("buf.incr", ["flow_buf", "k", 1])
        doc = self.ok("stat", "line_queue", "--json").json()
        self.assertEqual(doc["name"], "line_queue")
        self.assertEqual(doc["type"], "queue")
        for field in qmgrtest.QUEUE_STAT_FIELDS:
            self.assertIn(field, doc)
        self.assertEqual(doc["size"], 1)
        self.assertEqual(self.ok("stat", "flow_buf", "--json").json()["len"], 1)
        text = self.ok("stat", "line_queue").text
        self.assertRegex(text, r"(?m)^size\s+1$")

    def test_stat_unknown_is_1(self):
        r = self.failed(EXIT_FAILED, "stat", "nothing")
        self.assertIn("ENOENT", r.err)


class TestItems(QmgrctlTest):
    def test_put_sends_a_str_by_default(self):
        self.ok("put", "line_queue", "hello world")
        raw = self.py().call("queue.get", ["line_queue", 0], raw=True)
        self.assertEqual(raw, qmgrtest.packb("hello world"))

    def test_put_types(self):
        self.ok("put", "--bin", "line_queue", "bytes")
        self.ok("put", "--int", "line_queue", "--", "-42")
        self.ok("put", "-T", "float", "line_queue", "2.5")
        self.ok("put", "--hex", "line_queue", "00ff")
        self.ok("put", "-T", "json", "line_queue", '{"a": [1, "x", null, true]}')
        c = self.py()
        got = [c.call("queue.get", ["line_queue", 0]) for _ in range(5)]
        self.assertEqual(got, [b"bytes", -42, 2.5, b"\x00\xff", {"a": [1, "x", None, True]}])

    def test_put_from_stdin(self):
        self.ok("put", "--bin", "line_queue", "-", stdin=b"\x00line\n")
        self.assertEqual(self.py().call("queue.get", ["line_queue", 0]), b"\x00line\n")

    def test_put_bad_values_are_usage_errors(self):
        self.failed(EXIT_USAGE, "put", "--int", "line_queue", "12x")
        self.failed(EXIT_USAGE, "put", "--hex", "line_queue", "abc")
        self.failed(EXIT_USAGE, "put", "-T", "json", "line_queue", "{bad")
        self.failed(EXIT_USAGE, "put", "-T", "nope", "line_queue", "x")
        self.failed(EXIT_USAGE, "put", "line_queue")

    def test_put_full_queue_is_1(self):
        self.ok("put", "tiny", "one")
        r = self.failed(EXIT_FAILED, "put", "tiny", "two")
        self.assertIn("EFULL", r.err)
        r = self.failed(EXIT_FAILED, "put", "-t", "0.3", "tiny", "two")
        self.assertGreaterEqual(r.seconds, 0.3)

    def test_put_unknown_queue_is_1(self):
        self.assertIn("ENOENT", self.failed(EXIT_FAILED, "put", "nothing", "x").err)
        self.assertIn("ETYPE", self.failed(EXIT_FAILED, "put", "flow_buf", "x").err)

    def test_get_prints_json_like_text(self):
        c = self.py()
        for item in ["text", b"printable bin", b"\x00\x01\xfe", {"k": [1, 2.5]}]:
            c.call("queue.put", ["line_queue", item, None])
        self.assertEqual(self.ok("get", "line_queue").text, '"text"\n')
        self.assertEqual(self.ok("get", "line_queue").text, 'b"printable bin"\n')
        self.assertEqual(self.ok("get", "line_queue").text, "0x0001fe\n")
        self.assertEqual(self.ok("get", "line_queue").text, '{"k": [1, 2.5]}\n')

    def test_get_json_and_raw(self):
        c = self.py()
        for item in ["caf\u00e9", b"\x00\x01", b"raw\nbytes", {"n": None}]:
            c.call("queue.put", ["line_queue", item, None])
        self.assertEqual(self.ok("get", "line_queue", "--json").json(), "caf\u00e9")
        self.assertEqual(self.ok("get", "--json", "line_queue").json(), {"hex": "0001"})
        self.assertEqual(self.ok("get", "--raw", "line_queue").out, b"raw\nbytes")
        self.assertEqual(self.ok("--json", "get", "line_queue").json(), {"n": None})

    def test_get_marks_the_item_done(self):
        self.py().call("queue.put", ["line_queue", b"job", None])
        self.ok("get", "line_queue")
        stat = self.py().call("queue.stat", ["line_queue"])
        self.assertEqual((stat["size"], stat["unfinished"], stat["redelivered"]), (0, 0, 0))

    def test_get_empty_is_1(self):
        r = self.failed(EXIT_FAILED, "get", "line_queue")
        self.assertIn("EEMPTY", r.err)
        r = self.failed(EXIT_FAILED, "get", "line_queue", "-t", "0.3")
        self.assertGreaterEqual(r.seconds, 0.3)
        self.failed(EXIT_USAGE, "get", "line_queue", "-t", "soon")

    def test_get_waits_for_an_item(self):
        proc = subprocess.Popen([qmgrctl_path(), "-a", "127.0.0.1:%d" % self.d.port, "-k",
                                 self.d.keyfile, "get", "-t", "forever", "--json", "line_queue"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            c = self.py()
            qmgrtest.wait_until(lambda: c.call("queue.stat", ["line_queue"])["getters"] == 1)
            c.call("queue.put", ["line_queue", "late", None])
            out, err = proc.communicate(timeout=30 * qmgrtest.SCALE)
        finally:
            proc.kill()
            proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out), "late")

    def test_peek_does_not_remove(self):
        c = self.py()
        for i in range(4):
            c.call("queue.put", ["line_queue", "item %d" % i, None])
        self.assertEqual(self.ok("peek", "line_queue", "2", "--json").json(), ["item 0", "item 1"])
        self.assertEqual(len(self.ok("--json", "peek", "line_queue").json()), 4)
        lines = self.ok("peek", "line_queue").text.splitlines()
        self.assertEqual(lines[0].split(), ["#", "ITEM"])
        self.assertEqual(lines[1].split(None, 1), ["0", '"item 0"'])
        self.assertEqual(c.call("queue.qsize", ["line_queue"]), 4)
        self.failed(EXIT_USAGE, "peek", "line_queue", "many")
        self.failed(EXIT_FAILED, "peek", "nothing")

    def test_purge(self):
        c = self.py()
        for i in range(3):
            c.call("queue.put", ["line_queue", i, None])
        self.assertEqual(self.ok("purge", "line_queue", "--json").json(), {"removed": 3})
        self.assertEqual(self.ok("purge", "line_queue").text, "purged 0 items from line_queue\n")
        self.assertEqual(c.call("queue.qsize", ["line_queue"]), 0)

    def test_drain(self):
        c = self.py()
        c.call("buf.update", ["flow_buf", {"a": 2, "b": 0.5}])
        c.call("buf.set", ["flow_buf", "c", b"\x01"])
        self.assertEqual(self.ok("drain", "flow_buf", "--json").json(),
                         {"a": 2, "b": 0.5, "c": {"hex": "01"}})
        self.assertEqual(c.call("buf.len", ["flow_buf"]), 0)
        c.call("buf.incr", ["flow_buf", "hits", 7])
        lines = self.ok("drain", "flow_buf").text.splitlines()
        self.assertEqual([l.split() for l in lines], [["KEY", "VALUE"], ["hits", "7"]])
        self.assertIn("ETYPE", self.failed(EXIT_FAILED, "drain", "line_queue").err)


class TestClientsAndWatch(QmgrctlTest):
    def test_clients(self):
        c = self.py()
        peer = "127.0.0.1:%d" % c.local_port
        doc = self.ok("clients", "--json").json()
        self.assertEqual(len(doc), 2)  # the Python client and qmgrctl itself
        self.assertIn(peer, [entry["peer"] for entry in doc])
        for entry in doc:
            self.assertEqual(set(entry) >= {"id", "peer", "since_s", "ops", "waiting_on"}, True)
        lines = self.ok("clients").text.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "PEER", "SINCE", "OPS", "WAITING_ON"])
        self.assertEqual(len(lines), 3)

    def test_watch_prints_one_block_per_iteration(self):
        r = self.ok("watch", "-n", "3", "--interval", "0.1")
        blocks = r.text.strip("\n").split("\n\nqmgrd")
        self.assertEqual(len(blocks), 3, r.text)
        self.assertNotIn("\033[", r.text)  # not a terminal: no screen clearing
        self.assertIn("PUTS/S", r.text)
        self.assertGreaterEqual(r.seconds, 0.2)

    def test_watch_json_lines_with_rates(self):
        c = self.py()
        r = self.ctl("watch", "-n", "2", "-i", "0.3", "--json")
        self.assertEqual(r.rc, EXIT_OK, r)
        frames = [json.loads(line) for line in r.text.splitlines()]
        self.assertEqual(len(frames), 2)
        self.assertIsNone(frames[0]["rates"])
        rates = frames[1]["rates"]
        self.assertGreater(rates["ops_per_s"], 0)
        self.assertEqual(set(rates["objects"]), {"line_queue", "tiny", "flow_buf"})
        self.assertEqual(frames[1]["objects"][0]["name"], "line_queue")
        self.assertIn("version", frames[0]["stats"])
        del c

    def test_watch_usage(self):
        self.failed(EXIT_USAGE, "watch", "-n", "0")
        self.failed(EXIT_USAGE, "watch", "-i", "x")
        self.failed(EXIT_USAGE, "watch", "extra")


class TestHandshake(unittest.TestCase):
    def test_challenge_goes_with_the_answer(self):
        # The library sends step 4 right behind step 2 (docs/protocol.md
        # section 2): a server that reads both before it answers either gets
        # qmgrctl's request; its error reply is what qmgrctl reports.
        fs = FakeServer(after_handshake(lambda conn, msgid: conn.send_frame(
            msgpack.packb([1, msgid, [qmgrtest.ENOENT, "fake server got the request"], None])),
            reading_ahead=True))
        self.addCleanup(fs.close)
        with tempfile.NamedTemporaryFile() as key:
            key.write(fs.key)
            key.flush()
            r = run(["-a", "127.0.0.1:%d" % fs.port, "-k", key.name, "status"])
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("fake server got the request", r.err)
        self.assertEqual(fs.errors, [])


class TestCommandLine(QmgrctlTest):
    def test_help(self):
        r = run(["--help"])
        self.assertEqual(r.rc, EXIT_OK)
        for name in COMMANDS:
            self.assertIn(name, r.text)
        for name in COMMANDS:
            r = run([name, "--help"])
            self.assertEqual(r.rc, EXIT_OK, r)
            self.assertTrue(r.text.startswith("usage: qmgrctl [OPTIONS] %s" % name), r.text)
            self.assertIn("Exit status", r.text)

    def test_usage_errors_are_2(self):
        for args in ([], ["bogus"], ["--bogus", "ls"], ["ls", "extra"], ["stat"],
                     ["get"], ["get", "a", "b"], ["--io-timeout", "x", "ls"]):
            r = self.ctl(*args)
            self.assertEqual(r.rc, EXIT_USAGE, (args, r))
            self.assertIn("qmgrctl", r.err)

    def test_cannot_connect_is_3(self):
        self.stop_daemon(self.d)
        r = run(["-a", "127.0.0.1:%d" % self.d.port, "-k", self.d.keyfile, "status"])
        self.assertEqual(r.rc, EXIT_CONNECT, r)
        self.assertIn("ECONN", r.err)
        self.d = self.start_daemon()

    def test_wrong_key_is_3(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"wrong key\n")
            f.flush()
            r = run(["-a", "127.0.0.1:%d" % self.d.port, "-k", f.name, "ls"])
        self.assertEqual(r.rc, EXIT_CONNECT, r)
        self.assertIn("EAUTH", r.err)
        r = run(["-a", "127.0.0.1:%d" % self.d.port, "-k", "/nonexistent/key", "ls"])
        self.assertEqual(r.rc, EXIT_CONNECT, r)

    def test_address_list_takes_the_first_that_answers(self):
        with socket.socket() as s:  # a port bound and let go: nothing listens
            s.bind(("127.0.0.1", 0))
            dead = "127.0.0.1:%d" % s.getsockname()[1]
        live = "127.0.0.1:%d" % self.d.port
        r = run(["-a", dead + "," + live, "-k", self.d.keyfile, "ls", "--json"])
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(len(r.json()), 3)
        r = run(["ls", "--json"], env={"QMGR_ADDR": dead + "," + live,
                                       "QMGR_AUTHKEY_FILE": self.d.keyfile})
        self.assertEqual(r.rc, EXIT_OK, r)
        r = run(["-a", dead + "," + dead, "-k", self.d.keyfile, "ls"])
        self.assertEqual(r.rc, EXIT_CONNECT, r)
        self.assertIn("none of the 2 addresses answered", r.err)
        r = run(["-a", live + ",", "-k", self.d.keyfile, "ls"])
        self.assertEqual(r.rc, EXIT_USAGE, r)

    def test_environment(self):
        r = run(["ls", "--json"], env={"QMGR_ADDR": "127.0.0.1:%d" % self.d.port,
                                       "QMGR_AUTHKEY_FILE": self.d.keyfile})
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(len(r.json()), 3)

    def test_daemon_config(self):
        conf = os.path.join(self.d.tmp, "client.conf")
        with open(conf, "w") as f:
            f.write("[qmgrd]\nlisten = 127.0.0.1:%d\nauthkey_file = %s\n" % (self.d.port, self.d.keyfile))
        r = run(["-c", conf, "ls", "--json"])
        self.assertEqual(r.rc, EXIT_OK, r)
        # Flags override the config.
        r = run(["-c", conf, "-a", "127.0.0.1:1", "ls"])
        self.assertEqual(r.rc, EXIT_CONNECT, r)
        r = run(["-c", os.path.join(self.d.tmp, "missing.conf"), "ls"])
        self.assertEqual(r.rc, EXIT_USAGE, r)

    def test_unix_socket(self):
        sock = os.path.join(self.d.tmp, "qmgrd.sock")
        conf = os.path.join(self.d.tmp, "unix.conf")
        with open(conf, "w") as f:
            f.write("[qmgrd]\nlisten = unix:%s\nstate_dir = %s\nauthkey_file = %s\n%s"
                    % (sock, self.d.tmp, self.d.keyfile, OBJECTS))
        proc = subprocess.Popen([qmgrtest.qmgrd_path(), "-c", conf], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            qmgrtest.wait_until(lambda: os.path.exists(sock))
            r = run(["-s", sock, "-k", self.d.keyfile, "ls", "--json"])
            self.assertEqual(r.rc, EXIT_OK, r)
            self.assertEqual(len(r.json()), 3)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main()
