"""A fake server for the clients' tests: a Python socket server on
127.0.0.1 that runs a script of its own on each connection, to play a
broken or unusual peer a real qmgrd cannot be. The handshake is
docs/protocol.md section 2."""

import hmac
import os
import socket
import struct
import threading

import msgpack

from qmgrtest import CALL_TIMEOUT

CHALLENGE = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"
SHA = b"{sha256}"


class FakeConn:
    def __init__(self, sock):
        self.sock = sock
        sock.settimeout(CALL_TIMEOUT)

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.send(struct.pack(">i", len(payload)) + payload)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("client closed")
            out += chunk
        return out

    def recv_frame(self):
        (n,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def challenge(self):
        """Step 1: the nonce sent."""
        rs = os.urandom(40)
        self.send_frame(CHALLENGE + SHA + rs)
        return rs

    def check_answer(self, key, rs, answer):
        """Step 2, checked: #FAILURE# and AssertionError if it is wrong."""
        if answer != SHA + hmac.new(key, SHA + rs, "sha256").digest():
            self.send_frame(FAILURE)
            raise AssertionError("the client's step 2 did not verify: %r" % answer)

    @staticmethod
    def proof(key, ch):
        """Step 5's payload for the client's challenge ch (step 4)."""
        if not ch.startswith(CHALLENGE + SHA):
            raise AssertionError("the client's challenge is not sha256: %r" % ch)
        return SHA + hmac.new(key, ch[len(CHALLENGE):], "sha256").digest()

    def handshake(self, key, step5_key=None):
        """The server side of docs/protocol.md section 2. step5_key: answer the
        client's challenge with another key (a server that lacks the key)."""
        rs = self.challenge()
        self.check_answer(key, rs, self.recv_frame())
        self.send_frame(WELCOME)
        self.send_frame(self.proof(step5_key or key, self.recv_frame()))
        return self.recv_frame()

    def handshake_reading_ahead(self, key):
        """The handshake by a server that reads the client's step 4 before
        it sends step 3, then sends steps 3 and 5 in one write: only a client
        that sends its challenge right behind its answer gets through (one
        that waits for step 3 first never gets it)."""
        rs = self.challenge()
        answer, ch = self.recv_frame(), self.recv_frame()
        self.check_answer(key, rs, answer)
        proof = self.proof(key, ch)
        self.send(struct.pack(">i", len(WELCOME)) + WELCOME + struct.pack(">i", len(proof)) + proof)
        return self.recv_frame()

    def request(self):
        """The next request: (msgid, method, params)."""
        msg = msgpack.unpackb(self.recv_frame(), raw=False)
        assert msg[0] == 0, msg
        return msg[1], msg[2], msg[3]

    def linger(self):
        """Keeps the connection open until the client closes it."""
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass


class FakeServer:
    """A Python socket server on 127.0.0.1 running script(FakeConn, key) on
    each connection."""

    def __init__(self, script, key=b"fake-server-key"):
        self.script = script
        self.key = key
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.socks.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            self.script(FakeConn(s), self.key)
        except (EOFError, OSError):
            pass
        except Exception as e:  # noqa: B902 - reported by the test
            self.errors.append(e)

    def close(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def after_handshake(send, reading_ahead=False):
    """A script: a correct handshake (reading_ahead: handshake_reading_ahead),
    one request read, then send(conn, msgid), then the connection is held
    open (the client must not wait for more)."""
    def script(conn, key):
        if reading_ahead:
            conn.handshake_reading_ahead(key)
        else:
            conn.handshake(key)
        msgid, _, _ = conn.request()
        send(conn, msgid)
        conn.linger()
    return script
