"""Hostile peers: bad keys, garbage, oversized and malformed frames, slow and
silent handshakes. After every test a fresh client must still be able to
ping (tearDown)."""

import hmac
import os
import random
import re
import socket
import struct
import time
import unittest

from qmgrtest import (
    DaemonTest, Client, AuthFailed, ConnectionClosed, Raw, packb, pack_request, decode_response,
    CHALLENGE, WELCOME, FAILURE, SHA256_PREFIX, CLOSE_TIMEOUT, SCALE, EBADREQ, EEMPTY,
)

OBJECTS = """
[queue q]
maxsize = 0

[buf b]
"""

# handshake_timeout is long here so that a close "at once" cannot be the
# handshake timer firing; the tests of the timer use their own daemon.
OPTIONS = dict(log_level="info", handshake_timeout="60s", max_message="1M", max_item="1M")
MAX_MESSAGE = 1024 * 1024

FAILURE_FRAME = struct.pack(">i", len(FAILURE)) + FAILURE

# Log lines about refused peers (handshake failures).
FAILURE_LINE = re.compile(r"(?i)auth|handshake|fail|reject|denied|digest|challenge|key")


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


class Base(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = OPTIONS

    def tearDown(self):
        try:
            for d in self.daemons:
                if d.alive():
                    self.assertPings(d)
        finally:
            super().tearDown()

    def authed(self):
        return self.client()

    def assert_closes(self, c, payload=None, raw=None, what=""):
        """Sends a frame (or raw bytes) and asserts the daemon closes the
        connection at once; returns what it sent before closing."""
        if raw is None:
            raw = frame(payload)
        c.raw_send(raw, tolerate_close=True)
        try:
            return c.expect_closed(CLOSE_TIMEOUT)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (what or repr(raw[:40]), e))

    def assert_fault_closes(self, payload, what="", log=True):
        """A fresh authenticated connection sends payload as one frame: it is
        closed (and, when log, a log line is written)."""
        c = self.authed()
        mark = self.d.mark()
        self.assert_closes(c, payload, what=what)
        if log:
            self.d.wait_log(r".", since=mark, what="a log line about the protocol fault (%s)" % what)


class TestHandshakeFaults(Base):
    def test_wrong_key_gets_FAILURE_then_close(self):
        c = self.raw()
        port = c.local_port
        mark = self.d.mark()
        msg = c.read_challenge()
        c.send_frame(Client.answer(b"not the key", msg))
        got = c.expect_closed()
        self.assertEqual(got, FAILURE_FRAME)
        self.d.wait_log(r"\b%d\b" % port, since=mark, what="failure line naming the peer port")
        with self.assertRaises(AuthFailed):
            Client(self.d.port, b"wrong")

    def test_legacy_md5_answer_refused_when_off(self):
        c = self.raw()
        msg = c.read_challenge()
        c.send_frame(hmac.new(self.d.key, msg, "md5").digest())
        self.assertEqual(c.expect_closed(), FAILURE_FRAME)

    def test_malformed_answers_refused(self):
        good = None
        for answer in (b"", b"{sha256}", b"{sha256}" + b"\x00" * 31, b"{sha256}" + b"\x00" * 33,
                       b"{sha512}" + b"\x00" * 64, b"{sha256" + b"\x00" * 33, WELCOME, FAILURE,
                       CHALLENGE + b"{sha256}" + b"\x00" * 40):
            with self.subTest(answer=answer[:16]):
                c = self.raw()
                msg = c.read_challenge()
                good = Client.answer(self.d.key, msg)
                self.assertNotEqual(answer, good)
                got = self.assert_closes(c, answer)
                self.assertIn(got, (b"", FAILURE_FRAME))

    def test_answer_for_another_challenge_refused(self):
        c1 = self.raw()
        m1 = c1.read_challenge()
        c2 = self.raw()
        c2.read_challenge()
        # replaying the MAC of c1's challenge on c2
        c2.send_frame(Client.answer(self.d.key, m1))
        self.assertEqual(c2.expect_closed(), FAILURE_FRAME)
        c1.send_frame(Client.answer(self.d.key, m1))
        self.assertEqual(c1.recv_frame(), WELCOME)

    def test_random_bytes_before_auth(self):
        rng = random.Random(1234)
        for i in range(20):
            with self.subTest(i=i):
                c = self.raw()
                if i % 2:
                    c.read_challenge()
                data = bytes(rng.getrandbits(8) for _ in range(1000))
                self.assert_closes(c, raw=data)

    def test_request_instead_of_handshake_is_not_served(self):
        c = self.raw()
        c.read_challenge()
        got = self.assert_closes(c, pack_request(1, "queue.put", ["q", "sneaky", 0]))
        self.assertIn(got, (b"", FAILURE_FRAME))
        c = self.raw()
        msg = c.read_challenge()
        c.send_frame(Client.answer(self.d.key, msg))
        self.assertEqual(c.recv_frame(), WELCOME)
        # a request in place of the step-4 challenge
        self.assert_closes(c, pack_request(2, "queue.put", ["q", "sneaky", 0]))
        with self.client() as ok:
            self.assertEqual(ok.call("queue.qsize", ["q"]), 0)

    def test_preauth_frame_over_256_closed_at_once(self):
        c = self.raw()
        c.read_challenge()
        t0 = time.monotonic()
        self.assert_closes(c, raw=struct.pack(">i", 257))
        self.assertLess(time.monotonic() - t0, CLOSE_TIMEOUT)
        c = self.raw()
        self.assert_closes(c, raw=struct.pack(">i", 100000) + b"x" * 100)
        c = self.raw()
        c.read_challenge()
        self.assert_closes(c, raw=struct.pack(">i", 257) + b"\x00" * 257)

    def test_preauth_negative_frame_length(self):
        for hdr in (b"\xff\xff\xff\xff", b"\x80\x00\x00\x00"):
            with self.subTest(header=hdr):
                c = self.raw()
                c.read_challenge()
                self.assert_closes(c, raw=hdr)

    def test_step6_not_welcome_closes(self):
        for last in (FAILURE, b"#WELCOME", b"", b"#WELCOME#x", pack_request(1, "ping", [])):
            with self.subTest(step6=last):
                c = self.raw()
                msg = c.read_challenge()
                c.send_frame(Client.answer(self.d.key, msg))
                self.assertEqual(c.recv_frame(), WELCOME)
                rc = os.urandom(40)
                c.send_frame(CHALLENGE + SHA256_PREFIX + rc)
                self.assertEqual(c.recv_frame(), Client.answer(self.d.key, SHA256_PREFIX + rc))
                c.send_frame(last)
                # nothing may be served on this connection
                c.send_frame(pack_request(7, "ping", []), tolerate_close=True)
                got = c.expect_closed()
                self.assertNotIn(b"pong", got)

    def test_digest_other_than_sha256_in_client_challenge_closes(self):
        for digest in (b"{sha512}", b"{md5}", b"{sha1}", b"{SHA256}", b"{sha256", b"{}"):
            with self.subTest(digest=digest):
                c = self.raw()
                msg = c.read_challenge()
                c.send_frame(Client.answer(self.d.key, msg))
                self.assertEqual(c.recv_frame(), WELCOME)
                mark = self.d.mark()
                got = self.assert_closes(c, CHALLENGE + digest + os.urandom(40))
                # no step-5 answer of any digest
                self.assertNotIn(b"{sha", got)
                self.assertNotIn(b"{md5", got)
                if digest == b"{sha512}":
                    self.d.wait_log(r".", since=mark, what="a log line for the refused digest")

    def test_client_challenge_with_wrong_nonce_size(self):
        for n in (0, 39, 41, 200):
            with self.subTest(nonce=n):
                c = self.raw()
                msg = c.read_challenge()
                c.send_frame(Client.answer(self.d.key, msg))
                self.assertEqual(c.recv_frame(), WELCOME)
                rc = os.urandom(n)
                c.send_frame(CHALLENGE + SHA256_PREFIX + rc, tolerate_close=True)
                # either refused, or answered correctly; never anything else
                try:
                    resp = c.recv_frame(CLOSE_TIMEOUT)
                except ConnectionClosed:
                    continue
                except socket.timeout:
                    raise AssertionError("a %d-byte client nonce was neither answered nor refused"
                                         " (connection left open)" % n)
                self.assertEqual(resp, Client.answer(self.d.key, SHA256_PREFIX + rc))

    def test_200_failed_authentications(self):
        mark = self.d.mark()
        for i in range(200):
            c = self.raw()
            msg = c.read_challenge()
            c.send_frame(Client.answer(b"bad key %d" % i, msg))
            self.assertEqual(c.expect_closed(), FAILURE_FRAME)
        self.assertPings()
        lines = self.d.log_since(mark)
        failures = [l for l in lines if FAILURE_LINE.search(l)]
        self.assertGreaterEqual(len(failures), 1, "no failure was logged at all")
        self.assertLess(len(failures), 100, "%d failure lines for 200 failures: not rate-limited;"
                        " first lines:\n%s" % (len(failures), "\n".join(failures[:5])))
        self.assertLess(len(lines), 200, "%d log lines for 200 failed authentications" % len(lines))


class TestHandshakeTimeout(Base):
    OPTIONS = dict(OPTIONS, handshake_timeout="1s")

    def test_handshake_timeout_silent_client(self):
        c = self.raw()
        t0 = time.monotonic()
        c.read_challenge()
        c.expect_closed(1 + CLOSE_TIMEOUT)
        self.assertElapsed(t0, 0.9)

    def test_handshake_timeout_without_reading_challenge(self):
        c = self.raw()
        t0 = time.monotonic()
        got = c.expect_closed(1 + CLOSE_TIMEOUT)
        self.assertElapsed(t0, 0.9)
        self.assertTrue(got.startswith(struct.pack(">i", 59) + CHALLENGE), got[:30])

    def test_handshake_timeout_after_welcome(self):
        c = self.raw()
        t0 = time.monotonic()
        msg = c.read_challenge()
        c.send_frame(Client.answer(self.d.key, msg))
        self.assertEqual(c.recv_frame(), WELCOME)
        # never send step 4
        c.expect_closed(1 + CLOSE_TIMEOUT)
        self.assertElapsed(t0, 0.9)

    def test_authenticated_connection_is_not_timed_out(self):
        c = self.authed()
        t0 = time.monotonic()
        # parked for longer than handshake_timeout
        c.expect_error(EEMPTY, "queue.get", ["q", 1.5])
        self.assertElapsed(t0, 1.5)
        self.assertEqual(c.ping(), "pong")

    def test_slow_loris_handshake(self):
        c = self.raw()
        t0 = time.monotonic()
        msg = c.read_challenge()
        data = frame(Client.answer(self.d.key, msg))  # 44 bytes: 13 s at 0.3 s a byte
        closed = False
        for i in range(len(data)):
            if not c.raw_send(data[i:i + 1], tolerate_close=True):
                closed = True
                break
            # the pause between bytes is the test's input; recv with a timeout
            # also notices the close as soon as it happens
            if not c.is_open(0.3):
                closed = True
                break
        self.assertTrue(closed, "a 1-byte-per-0.3s handshake was never closed by handshake_timeout=1s")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, min(1 + 5 * SCALE, 12), "closed only after %.1fs" % elapsed)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertNotIn(WELCOME, bytes(c.buf))

    def test_many_silent_connections_all_timed_out(self):
        cs = [self.raw() for _ in range(50)]
        for c in cs:
            c.expect_closed(1 + CLOSE_TIMEOUT)
        with self.client() as ok:
            self.assertEqual(ok.call("stats", [])["connections"], 1)


class TestFrames(Base):
    def test_negative_frame_length_after_auth(self):
        for hdr in (b"\xff\xff\xff\xff", b"\x80\x00\x00\x00", b"\xfe\x00\x00\x01"):
            with self.subTest(header=hdr):
                c = self.authed()
                self.assert_closes(c, raw=hdr)

    def test_frame_over_max_message_closed_at_once(self):
        for n in (MAX_MESSAGE + 1, 64 * 1024 * 1024, 0x7FFFFFFF):
            with self.subTest(length=n):
                c = self.authed()
                mark = self.d.mark()
                t0 = time.monotonic()
                # the header alone: the body is never sent, so only a check of
                # the declared length can close this connection
                self.assert_closes(c, raw=struct.pack(">i", n))
                self.assertLess(time.monotonic() - t0, CLOSE_TIMEOUT)
                if n == MAX_MESSAGE + 1:
                    self.d.wait_log(r".", since=mark, what="log line for the oversized frame")

    def test_frame_of_exactly_max_message_is_accepted(self):
        c = self.authed()
        head = b"\x94\x00\x01\xa9queue.put\x93\xa1q"
        tail = b"\x00"
        body = MAX_MESSAGE - len(head) - len(tail) - 5
        item = b"\xc6" + struct.pack(">I", body) + b"\xab" * body
        payload = head + item + tail
        self.assertEqual(len(payload), MAX_MESSAGE)
        c.raw_send(frame(payload))
        r = c.recv_response()
        self.assertEqual((r.msgid, r.error, r.result), (1, None, None))
        self.assertEqual(c.call("queue.get", ["q", 0], raw=True), item)

    def test_zero_length_frame_after_auth_closes(self):
        self.assert_fault_closes(b"", "empty frame")

    def test_huge_declared_lengths_in_small_frame(self):
        warm = self.authed()
        warm.call("queue.put", ["q", "warm", 0])
        warm.call("queue.get", ["q", 0])
        head = b"\x94\x00\x01\xa9queue.put\x93\xa1q"
        cases = [
            head + b"\xdb\xff\xff\xff\xff" + b"abc",          # str32
            head + b"\xc6\xff\xff\xff\xff" + b"abc",          # bin32
            head + b"\xdd\xff\xff\xff\xff" + b"\xc0" * 3,     # array32
            head + b"\xdf\xff\xff\xff\xff" + b"\xc0" * 4,     # map32
            head + b"\xc9\xff\xff\xff\xff\x01" + b"abc",      # ext32
            head + b"\xdd\xff\xff\xff\xff" * 30,              # nested array32 headers
            head + b"\xdf\xff\xff\xff\xff" * 30,              # nested map32 headers
            head + b"\xdc\xff\xff\xc0",                       # array16
            b"\xdd\xff\xff\xff\xff\x00\x01\xa4ping\x90",      # top-level array32
            b"\xdf\xff\xff\xff\xff\x00",                      # top-level map32
            b"\x94\x00\x01\xa4ping\xdd\xff\xff\xff\xff",      # params array32
            b"\x94\x00\x01\xdb\xff\xff\xff\xff" + b"ping",    # method str32
            b"\x94\x00\x01\xa4ping\x91\xdb\xff\xff\xff\xff",
        ]
        rss0 = self.d.rss_kib()
        for i, payload in enumerate(cases):
            with self.subTest(case=i):
                self.assertLess(len(payload), 256)
                c = self.authed()
                self.assert_closes(c, payload)
        self.assertPings()
        grown = self.d.rss_kib() - rss0
        self.assertLess(grown, 8 * 1024, "VmRSS grew by %d KiB" % grown)
        with self.client() as ok:
            self.assertEqual(ok.call("queue.qsize", ["q"]), 0)

    def _send_maybe_rejected(self, payload):
        """Deeply nested but well-formed: the daemon may refuse it (close) or
        accept it (then the item comes back byte for byte). It must not crash."""
        c = self.authed()
        c.raw_send(frame(payload), tolerate_close=True)
        try:
            r = decode_response(c.recv_frame(CLOSE_TIMEOUT * 2))
        except ConnectionClosed:
            return None
        return r

    def test_nesting_10000_deep(self):
        head = b"\x94\x00\x01\xa9queue.put\x93\xa1q"
        for name, item in (("array", b"\x91" * 10000 + b"\xc0"),
                           ("map", b"\x81\xa1k" * 10000 + b"\xc0"),
                           ("array-100000", b"\x91" * 100000 + b"\xc0")):
            with self.subTest(kind=name):
                r = self._send_maybe_rejected(head + item + b"\x00")
                if r is not None:
                    self.assertEqual(r.msgid, 1)
                    if r.error is None:
                        with self.client() as g:
                            self.assertEqual(g.call("queue.get", ["q", 0], raw=True), item)
                self.assertPings()

    def test_nesting_10000_deep_as_method_or_params(self):
        for payload in (b"\x94\x00\x01" + b"\x91" * 10000 + b"\xa4ping" + b"\x90",
                        b"\x94\x00\x01\xa4ping" + b"\x91" * 10000 + b"\x90",
                        b"\x91" * 10000 + b"\xc0"):
            with self.subTest(payload=payload[:8]):
                c = self.authed()
                self.assert_closes(c, payload)

    def test_trailing_bytes_after_request_close(self):
        req = pack_request(1, "ping", [])
        self.assert_fault_closes(req + b"\xc0", "trailing nil")
        self.assert_fault_closes(req + req, "two requests in one frame", log=False)
        self.assert_fault_closes(req + b"\x00\x00", "trailing zeros", log=False)

    def test_truncated_request_closes(self):
        req = pack_request(1, "queue.put", ["q", "item", 0])
        self.assert_fault_closes(req[:-1], "truncated by one byte")

    def test_every_truncation_of_a_valid_request_closes(self):
        req = pack_request(7, "queue.put", ["q", {"a": [1, 2.5, b"x", "yz"], "n": None}, 1.5])
        for i in range(len(req)):
            with self.subTest(length=i):
                self.assert_fault_closes(req[:i], "truncated to %d of %d bytes" % (i, len(req)),
                                         log=(i == 0))
        with self.client() as ok:
            self.assertEqual(ok.call("queue.qsize", ["q"]), 0)
        # and the complete request works
        with self.client() as ok:
            ok.raw_send(frame(req))
            r = ok.recv_response()
            self.assertEqual((r.msgid, r.error), (7, None))
            self.assertEqual(ok.call("queue.qsize", ["q"]), 1)

    def test_reserved_byte_0xc1_closes(self):
        head = b"\x94\x00\x01\xa9queue.put\x93\xa1q"
        self.assert_fault_closes(head + b"\xc1\x00", "0xc1 item")
        self.assert_fault_closes(b"\xc1", "0xc1 alone", log=False)

    def test_invalid_utf8_method_does_not_crash(self):
        c = self.authed()
        c.raw_send(frame(b"\x94\x00\x01\xa4\xff\xfe\xfd\xfc\x90"), tolerate_close=True)
        try:
            r = decode_response(c.recv_frame(CLOSE_TIMEOUT))
            self.assertEqual(r.error[0], 7)
        except ConnectionClosed:
            pass


class TestMessages(Base):
    def test_not_an_array_closes(self):
        for i, obj in enumerate(("hello", {"a": 1}, 5, None, b"bin", 1.5, True)):
            with self.subTest(obj=obj):
                self.assert_fault_closes(packb(obj), "not an array: %r" % (obj,), log=(i == 0))

    def test_wrong_kind_closes(self):
        cases = [
            [3, 1, "ping", []],
            [1, 1, None, None],          # a response sent to the server
            [-1, 1, "ping", []],
            ["0", 1, "ping", []],
            [None, 1, "ping", []],
            [0, 1, "ping"],              # 3 elements
            [0, 1, "ping", [], 5],       # 5 elements
            [],
            [0],
        ]
        for i, obj in enumerate(cases):
            with self.subTest(obj=obj):
                self.assert_fault_closes(packb(obj), "wrong kind/shape %r" % (obj,), log=(i == 0))

    def test_msgid_not_uint32_closes(self):
        for i, msgid in enumerate((-1, 2 ** 32, 2 ** 64 - 1, "1", 1.0, None, [1], b"\x01")):
            with self.subTest(msgid=msgid):
                self.assert_fault_closes(b"\x94\x00" + packb(msgid) + packb("ping") + b"\x90",
                                         "msgid %r" % (msgid,), log=(i == 0))

    def test_method_not_str_closes(self):
        for i, method in enumerate((5, b"ping", None, ["ping"], {"ping": 1}, 1.5)):
            with self.subTest(method=method):
                self.assert_fault_closes(b"\x94\x00\x01" + packb(method) + b"\x90",
                                         "method %r" % (method,), log=(i == 0))

    def test_bad_params_get_error_response_connection_stays(self):
        c = self.authed()
        c.expect_error(EBADREQ, "queue.get", ["q", "x"])
        c.expect_error(EBADREQ, "queue.put", [])
        c.expect_error(EBADREQ, "buf.incr", ["b", 1, 1])
        c.expect_error(EBADREQ, "queue.get", [{"q": 1}, [0]])
        self.assertEqual(c.ping(), "pong")

    def test_notification_ignored_connection_stays(self):
        c = self.authed()
        c.send_notification("x", [])
        c.send_notification("x.y.z", [1, 2, {"a": None}])
        c.send_request(5, "ping", [])
        r = c.recv_response()
        self.assertEqual((r.msgid, r.result), (5, "pong"))
        self.assertTrue(c.is_open(0.1))
        self.assertEqual(len(c.buf), 0, "unexpected bytes after ignoring a notification")
        self.assertEqual(c.ping(), "pong")

    def test_nan_inf_and_huge_timeouts_do_not_crash(self):
        producer = self.authed()
        for t in (float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 2 ** 64 - 1, 2 ** 63):
            with self.subTest(timeout=t):
                a = self.authed()
                a.send_request(1, "queue.get", ["q", t])
                # either refused at once, or parked (then served by this put)
                producer.call("queue.put", ["q", "unpark", 0])
                r = a.wait_response(1)
                if r.error is not None:
                    allowed = (EBADREQ, EEMPTY) if t != t else (EBADREQ,)
                    self.assertIn(r.error[0], allowed, r.error)
                    self.assertEqual(producer.call("queue.get", ["q", 0]), "unpark")
                else:
                    self.assertEqual(r.result, "unpark")
                self.assertEqual(producer.call("queue.qsize", ["q"]), 0)
                a.close()

    def test_garbage_after_valid_requests_closes_only_that_connection(self):
        bystander = self.authed()
        bystander.send_request(1, "queue.get", ["q", None])
        c = self.authed()
        self.assertEqual(c.ping(), "pong")
        self.assert_closes(c, b"\xc1\xc1\xc1")
        self.assertEqual(bystander.call("ping", []), "pong")
        with self.client() as p:
            p.call("queue.put", ["q", "still here", 0])
        self.assertEqual(bystander.wait_response(1).result, "still here")


if __name__ == "__main__":
    unittest.main()
