"""One authenticated connection: frames, the handshake, msgpack-RPC messages.

Frames are those of ``multiprocessing.connection`` (docs/protocol.md §1): a 4-byte
big-endian signed length, then the payload. The handshake is the 3.12-form
mutual HMAC-SHA256 challenge-response (§2, client side). After it, each frame
holds one msgpack-RPC message (§3).

What needs no I/O (``Codec``: msgids, request frames, checking and decoding
responses; the handshake's steps; frame lengths) is shared with ``qmgr.aio``;
``Connection`` adds a blocking socket. Nothing here locks: ``client.Client``
serialises the use of a connection. Timeouts are the kernel's
(SO_RCVTIMEO/SO_SNDTIMEO on a blocking socket), so a request costs one send and
one recv system call, not a poll before each.
"""

from __future__ import annotations

import hmac
import os
import socket
import ssl
import struct
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import msgpack

from ._address import Address, open_socket
from .errors import AuthenticationError, ConnectionError, ProtocolError

__all__ = ["Codec", "Connection", "Reply", "HANDSHAKE_MAX", "MAX_FRAME", "RECV_CHUNK",
           "WELCOME_FRAME", "FAILURE_FRAME", "make_frame", "frame_length", "answer_challenge",
           "refused", "check_welcome", "new_challenge", "verify_proof"]

_HEADER = struct.Struct(">i")
_TIMEVAL = struct.Struct("@ll")
_REQUEST_PREFIX = b"\x94\x00"  # fixarray(4), then 0: a request
_CHALLENGE = b"#CHALLENGE#"
_WELCOME = b"#WELCOME#"
_FAILURE = b"#FAILURE#"
_SHA256 = b"{sha256}"
_NONCE_SIZE = 40
HANDSHAKE_MAX = 256      # the server's pre-authentication frame limit
_MSGID_MASK = 0xFFFFFFFF
RECV_CHUNK = 256 * 1024
MAX_FRAME = 0x7FFFFFFF   # the largest length the signed header can state
_GROW_STEP = 1 << 20  # the most the receive buffer grows ahead of the bytes that came
_TIMEOUT_SLACK = 0.05    # how far past a deadline a reused kernel timeout may reach

# A response: (error, result), error None or the wire's [code, message].
Reply = Tuple[Any, Any]
Buffer = Union[bytes, bytearray, memoryview]


class Codec:
    """msgpack-RPC messages without I/O (docs/protocol.md §3): request frames
    with fresh msgids, and responses checked and decoded."""

    def __init__(self, where: str) -> None:
        self._where = where  # for messages
        self._packer = msgpack.Packer(use_bin_type=True)
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                          max_buffer_size=MAX_FRAME)
        self._next_msgid = 1

    def _msgid(self) -> int:
        msgid = self._next_msgid
        self._next_msgid = (msgid + 1) & _MSGID_MASK or 1
        return msgid

    def encode(self, method: str, params: Sequence[Any]) -> Tuple[int, bytes]:
        """A request frame and its msgid. Raises TypeError for a value msgpack
        cannot carry (nothing is sent then)."""
        msgid = self._msgid()
        body = self._packer.pack([0, msgid, method, params])
        return msgid, _HEADER.pack(len(body)) + body

    def encode_packed(self, method: str, packed_params: bytes) -> Tuple[int, bytes]:
        """A request frame around params already packed as a msgpack array
        (pipelines pack at queue time, so a bad value fails at its call)."""
        msgid = self._msgid()
        pack = self._packer.pack
        body = b"".join((_REQUEST_PREFIX, pack(msgid), pack(method), packed_params))
        return msgid, _HEADER.pack(len(body)) + body

    def decode(self, frame: Buffer) -> Tuple[int, Reply]:
        """A response frame's msgid and (error, result); ProtocolError if it
        is not exactly one msgpack-RPC response."""
        unpacker = self._unpacker
        before = unpacker.tell()
        unpacker.feed(frame)
        try:
            message = unpacker.unpack()
        except Exception as e:  # OutOfData, FormatError, StackError, ValueError...
            raise ProtocolError("%s: undecodable response (%r)" % (self._where, e)) from e
        if unpacker.tell() - before != len(frame):
            raise ProtocolError("%s: trailing bytes after a response" % self._where)
        if (type(message) is not list or len(message) != 4 or message[0] != 1
                or type(message[1]) is not int):
            raise ProtocolError("%s: not a msgpack-RPC response: %.80r" % (self._where, message))
        return message[1], (message[2], message[3])


class Connection(Codec):
    """A socket to the daemon that has completed the handshake."""

    def __init__(self, address: Address, authkey: bytes, timeout: Optional[float],
                 tls: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(str(address))
        self.address = address
        self._timeout = timeout
        self._sock = open_socket(address, timeout, tls)
        self._buf = bytearray(RECV_CHUNK)
        self._view = memoryview(self._buf)
        self._start = 0          # unread bytes are _buf[_start:_end]
        self._end = 0
        self._stash: Dict[int, Reply] = {}  # replies read while waiting for another
        self._rcvtimeo: Optional[float] = -1.0  # what the kernel has; -1: unknown
        try:
            self._sock.settimeout(None)  # blocking: the kernel enforces timeouts
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(timeout))
            self._handshake(authkey, _deadline(timeout))
        except BaseException:
            self._sock.close()
            raise

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Closes our descriptor (never shutdown(): after a fork the parent
        shares the socket, and shutdown would cut its connection too)."""
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def peer_closed(self) -> bool:
        """True if the daemon has closed its end (EOF waiting, or an error):
        a request sent now would be lost, so the caller may reconnect first."""
        if self._end > self._start:
            return False
        try:
            # An SSLSocket takes no flags: peek at the bytes under TLS (an
            # end of file looks the same).
            data = socket.socket.recv(self._sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return not data

    # -- frames -----------------------------------------------------------

    def _fail(self, exc: Exception) -> Exception:
        """Closes the connection (its state is unknown now) and returns exc to raise."""
        self.close()
        return exc

    def send(self, data: bytes) -> None:
        """Sends whole frames in one system call (usually)."""
        try:
            self._sock.sendall(data)
        except (BlockingIOError, TimeoutError, ssl.SSLWantWriteError) as e:
            raise self._fail(ConnectionError("%s: send timed out" % self._where)) from e
        except OSError as e:
            raise self._fail(ConnectionError("%s: connection lost: %s" % (self._where, e.strerror or e))) from e

    def _set_rcvtimeo(self, seconds: Optional[float]) -> None:
        if seconds != self._rcvtimeo:
            if isinstance(self._sock, ssl.SSLSocket):
                # Under TLS a kernel timeout would make ssl retry the read for
                # ever: Python's own timeout polls before reading instead.
                self._sock.settimeout(seconds)
            else:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
            self._rcvtimeo = seconds

    def _make_room(self, need: int) -> None:
        """Ensures _buf can hold `need` bytes from _start: compacts, or grows
        for a frame larger than the buffer."""
        if self._start + need <= len(self._buf):
            return
        pending = bytes(self._view[self._start:self._end])  # a copy: the ranges may overlap
        if need > len(self._buf):
            self._buf = bytearray(need)
            self._view = memoryview(self._buf)
        self._buf[:len(pending)] = pending
        self._start, self._end = 0, len(pending)

    def _fill(self, need: int, deadline: Optional[float]) -> None:
        """Reads until `need` bytes are buffered, within the deadline. Room
        grows with what has arrived, not with what a header claims: a peer
        that sends a large length and nothing else costs no memory."""
        first = True
        while self._end - self._start < need:
            have = self._end - self._start
            self._make_room(min(need, max(have + _GROW_STEP, 2 * have)))
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._fail(ConnectionError("%s: no reply within the timeout" % self._where))
            self._set_rcvtimeo(self._keep_rcvtimeo(remaining) if first else remaining)
            first = False
            try:
                n = self._sock.recv_into(self._view[self._end:], len(self._buf) - self._end)
            except (BlockingIOError, TimeoutError):
                continue  # the kernel's timeout: the loop re-checks the deadline
            except OSError as e:
                raise self._fail(ConnectionError("%s: connection lost: %s"
                                                 % (self._where, e.strerror or e))) from e
            if n == 0:
                raise self._fail(ConnectionError("%s: the daemon closed the connection" % self._where))
            self._end += n

    def _keep_rcvtimeo(self, remaining: Optional[float]) -> Optional[float]:
        """The kernel timeout for a call's first wait: the one already set when
        it ends near enough the deadline (no system call per request); a shorter
        one just makes the loop wait again with the exact remainder."""
        cached = self._rcvtimeo
        if remaining is None or cached is None or cached < 0:
            return remaining
        return cached if cached <= remaining + _TIMEOUT_SLACK else remaining

    def _recv_frame(self, deadline: Optional[float], limit: int = MAX_FRAME) -> memoryview:
        """The next frame's payload, valid until the next read."""
        self._fill(4, deadline)
        try:
            n = frame_length(self._buf, self._where, limit, self._start)
        except ProtocolError:
            self.close()
            raise
        self._fill(4 + n, deadline)
        begin = self._start + 4
        self._start = begin + n
        if self._start == self._end:
            self._start = self._end = 0  # the view stays valid: it is not overwritten yet
        return self._view[begin:begin + n]

    # -- handshake (docs/protocol.md §2) -----------------------------------------

    def _handshake(self, key: bytes, deadline: Optional[float]) -> None:
        # Our challenge (step 4) goes with our answer (step 2): a round trip less.
        answer = answer_challenge(key, bytes(self._recv_frame(deadline, HANDSHAKE_MAX)), self._where)
        nonce, challenge = new_challenge()
        self.send(answer + challenge)
        try:
            verdict = bytes(self._recv_frame(deadline, HANDSHAKE_MAX))
        except ConnectionError as e:
            raise refused(self._where) from e
        check_welcome(verdict, self._where)
        try:
            verify_proof(key, nonce, bytes(self._recv_frame(deadline, HANDSHAKE_MAX)), self._where)
        except AuthenticationError:
            try:
                self.send(FAILURE_FRAME)
            finally:
                self.close()
            raise
        self.send(WELCOME_FRAME)

    # -- msgpack-RPC (docs/protocol.md §3) ------------------------------------------

    def _decode(self, frame: memoryview) -> Tuple[int, Reply]:
        try:
            return self.decode(frame)
        except ProtocolError:
            self.close()  # the stream's state is unknown now
            raise

    def wait(self, msgid: int, deadline: Optional[float]) -> Reply:
        """The reply to msgid; replies to other requests (pipelined calls
        answered out of order) are kept until asked for."""
        reply = self._stash.pop(msgid, None)
        if reply is not None:
            return reply
        while True:
            got, reply = self._decode(self._recv_frame(deadline))
            if got == msgid:
                return reply
            self._stash[got] = reply

    def wait_all(self, msgids: List[int], deadline: Optional[float]) -> List[Reply]:
        """The replies to msgids, in their order."""
        return [self.wait(m, deadline) for m in msgids]


def make_frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


WELCOME_FRAME = make_frame(_WELCOME)
FAILURE_FRAME = make_frame(_FAILURE)


def frame_length(header: Buffer, where: str, limit: int = MAX_FRAME, offset: int = 0) -> int:
    """The payload length a frame header states; ProtocolError if it is
    negative or over the limit."""
    n: int = _HEADER.unpack_from(header, offset)[0]
    if n < 0 or n > limit:
        raise ProtocolError("%s: bad frame length %d" % (where, n))
    return n


def _answer(key: bytes, message: bytes) -> bytes:
    """The 3.12-form answer: the digest name, then the HMAC over the whole
    challenge including that name (so the digest cannot be downgraded)."""
    return _SHA256 + hmac.new(key, message, "sha256").digest()


def answer_challenge(key: bytes, challenge: bytes, where: str) -> bytes:
    """Steps 1-2: the frame answering the server's challenge."""
    if not challenge.startswith(_CHALLENGE + _SHA256):
        raise ProtocolError("%s: not a sha256 challenge: %r" % (where, challenge[:40]))
    return make_frame(_answer(key, challenge[len(_CHALLENGE):]))


def refused(where: str) -> AuthenticationError:
    return AuthenticationError("%s: the server refused the authkey" % where)


def check_welcome(verdict: bytes, where: str) -> None:
    """Step 3: AuthenticationError unless the server accepted our answer."""
    if verdict != _WELCOME:
        raise refused(where)


def new_challenge() -> Tuple[bytes, bytes]:
    """Step 4: a fresh nonce (with its digest name) and the frame carrying it."""
    nonce = _SHA256 + os.urandom(_NONCE_SIZE)
    return nonce, make_frame(_CHALLENGE + nonce)


def verify_proof(key: bytes, nonce: bytes, proof: bytes, where: str) -> None:
    """Step 5: AuthenticationError unless the server's answer shows it holds
    the key (then send FAILURE_FRAME and close; else WELCOME_FRAME, step 6)."""
    if not hmac.compare_digest(proof, _answer(key, nonce)):
        raise AuthenticationError("%s: the server does not hold the authkey" % where)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def _timeval(seconds: Optional[float]) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO; zero means wait forever,
    so a positive timeout never rounds down to it."""
    if seconds is None:
        return _TIMEVAL.pack(0, 0)
    micros = max(1, int(seconds * 1e6))
    return _TIMEVAL.pack(micros // 1000000, micros % 1000000)
