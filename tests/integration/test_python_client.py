"""Python's own multiprocessing.connection.Client talks to qmgrd, exactly as
in docs/protocol.md's snippet. Debian's python is 3.11, whose Client speaks the
legacy HMAC-MD5 handshake: the daemon must be configured with
auth_legacy_md5 = on."""

import multiprocessing.connection as mpc
import sys
import unittest

import msgpack

from qmgrtest import DaemonTest, CLOSE_TIMEOUT

OBJECTS = """
[queue line_queue]
maxsize = 200

[buf flow_buf]
accessor = get_buf
"""


def rpc(conn, msgid, method, params):
    conn.send_bytes(msgpack.packb([0, msgid, method, params]))
    if not conn.poll(30):
        raise AssertionError("no reply to %s within 30 s" % method)
    return msgpack.unpackb(conn.recv_bytes())


class TestLegacyOn(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", auth_legacy_md5="on")

    def connect(self):
        c = mpc.Client(("127.0.0.1", self.d.port), authkey=self.d.key)
        self.addCleanup(c.close)
        return c

    def test_python_version_uses_legacy_handshake(self):
        # documents why auth_legacy_md5 is needed here
        self.assertLess(sys.version_info[:2], (3, 12))

    def test_snippet_queue_put_get(self):
        c = self.connect()
        self.assertEqual(rpc(c, 1, "queue.put", ["line_queue", b"batch", None]), [1, 1, None, None])
        self.assertEqual(rpc(c, 2, "queue.get", ["line_queue", 0]), [1, 2, None, b"batch"])
        self.assertEqual(rpc(c, 3, "ping", []), [1, 3, None, "pong"])

    def test_buf_update_and_drain(self):
        c = self.connect()
        self.assertEqual(rpc(c, 1, "buf.update", ["flow_buf", {"a": 1, "b": 2.5}]), [1, 1, None, None])
        self.assertEqual(rpc(c, 2, "buf.update", ["flow_buf", {"a": 2}]), [1, 2, None, None])
        self.assertEqual(rpc(c, 3, "buf.drain", ["flow_buf"]), [1, 3, None, {"a": 3, "b": 2.5}])
        self.assertEqual(rpc(c, 4, "buf.len", ["flow_buf"]), [1, 4, None, 0])
        self.assertEqual(rpc(c, 5, "get_buf", [])[3]["name"], "flow_buf")

    def test_python_and_sha256_clients_share_a_queue(self):
        c = self.connect()
        for i in range(10):
            self.assertEqual(rpc(c, i + 1, "queue.put", ["line_queue", {"n": i}, None])[2], None)
        with self.d.client() as ours:
            self.assertEqual(ours.call("queue.get_many", ["line_queue", 20, 0]), [{"n": i} for i in range(10)])

    def test_python_client_error_response(self):
        c = self.connect()
        r = rpc(c, 9, "queue.get", ["line_queue", 0])
        self.assertEqual(r[:2], [1, 9])
        self.assertEqual(r[2][0], 4)
        self.assertIsNone(r[3])

    def test_python_client_wrong_key_fails(self):
        with self.assertRaises((mpc.AuthenticationError, EOFError, ConnectionError)):
            mpc.Client(("127.0.0.1", self.d.port), authkey=b"wrong key").close()
        self.assertPings()


class TestLegacyOff(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info", auth_legacy_md5="off")

    def test_python_311_client_refused_when_legacy_off(self):
        with self.assertRaises((mpc.AuthenticationError, EOFError, ConnectionError)):
            c = mpc.Client(("127.0.0.1", self.d.port), authkey=self.d.key)
            # if Client() returned, the connection must at least be unusable
            try:
                c.send_bytes(msgpack.packb([0, 1, "ping", []]))
                if c.poll(CLOSE_TIMEOUT):
                    c.recv_bytes()
                raise AssertionError("a legacy client was served with auth_legacy_md5 = off")
            finally:
                c.close()
        with self.d.client() as ours:
            self.assertEqual(ours.call("queue.qsize", ["line_queue"]), 0)
        self.assertPings()


class TestLegacyDefault(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")  # auth_legacy_md5 not set: off by default

    def test_legacy_off_by_default(self):
        with self.assertRaises((mpc.AuthenticationError, EOFError, ConnectionError)):
            mpc.Client(("127.0.0.1", self.d.port), authkey=self.d.key).close()
        self.assertPings()


if __name__ == "__main__":
    unittest.main()
