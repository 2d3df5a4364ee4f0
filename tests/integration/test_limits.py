"""Limits a hostile or careless peer must not get around.

- TestParkedGettersOverMaxOutput: a connection with more than max_output
  reply bytes unsent gets no more deliveries; its parked gets leave the line
  and rejoin once it reads; the items stay queued for others; puts then fail
  with ENOMEM at max_memory and RSS stays bounded.
- TestReplyAmplification: a reply is bounded by max_message (queue.peek,
  buf.items, buf.drain -> ETOOBIG; queue.get_many returns fewer items), and
  unsent reply bytes count towards memory_bytes (ENOMEM past max_memory).
- TestBookkeepingCounted, TestMaxWaiters, TestJournalPendingCounted: leases,
  parked waiters, the journal's pending records and the buf.update undo log
  count towards memory_bytes; max_waiters bounds the parked requests of one
  connection.
- TestTaskDoneTime: task_done does not scan every lease the connection holds.
- TestHandshakePool: connections still in the handshake have a pool of their
  own (max_handshakes), so silent sockets cannot lock out real clients.
- TestPeerLogRateLimit: log lines a peer can provoke are rate-limited.
- TestHugeTimeouts: any non-negative number is a timeout (uint64, 1e300).
- TestHostileSoak: all of it at once while a well-behaved pair moves items.

RSS bounds are skipped under ASan (its quarantine of freed memory is in RSS;
see dur_lib.sanitized); the memory_bytes assertions still hold there.
Measured figures are printed for the record (ctest -V).
"""

import collections
import os
import socket
import struct
import threading
import time
import unittest

from dur_lib import sanitized
from qmgrtest import (
    CALL_TIMEOUT, CHALLENGE, CLOSE_TIMEOUT, SHA256_PREFIX, WELCOME, POLL_TIMEOUT, SCALE, EEMPTY, ENOMEM, ETOOBIG,
    AuthFailed, Client, ConnectionClosed, DaemonTest, Raw, RPCError, array_header,
    client_row, pack_request, packb, wait_stat, wait_until,
)

MIB = 1024 * 1024
KIB = 1024

OBJECTS = """
[queue q]
maxsize = 0

[queue q2]
maxsize = 0

[queue rq]
maxsize = 0
redeliver = on

[queue rq2]
maxsize = 0
redeliver = on

[buf b]

[buf b2]
"""


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def frames(payloads):
    return b"".join(frame(p) for p in payloads)


def small_rcvbuf_client(d, rcvbuf=64 * KIB, timeout=CALL_TIMEOUT, handshake=True):
    """An authenticated Client whose socket got a small SO_RCVBUF before
    connect(), so the kernel absorbs little of what the daemon sends it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", d.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Client.__new__(Client)
    c.timeout = timeout
    c.sock = s
    c.buf = bytearray()
    c.next_msgid = 1
    c.stash = collections.OrderedDict()
    c.key = d.key
    c.closed = False
    if handshake:
        c.handshake(d.key)
    return c


def raw_put_many(queue, item_bytes, count, timeout=0):
    """params of queue.put_many with count copies of one item's msgpack bytes."""
    return Raw(array_header(3) + packb(queue) + array_header(count) + item_bytes * count
               + packb(timeout))


def finish_handshake(c, key, challenge):
    """Steps 2-6 of the handshake on a raw Client whose step-1 challenge
    (its payload, as read_challenge returns it) was already read."""
    c.send_frame(Client.answer(key, challenge))
    if c.recv_frame() != WELCOME:
        raise AuthFailed("step 3")
    rc = os.urandom(40)
    c.send_frame(CHALLENGE + SHA256_PREFIX + rc)
    if c.recv_frame() != Client.answer(key, SHA256_PREFIX + rc):
        raise AssertionError("step 5 did not verify")
    c.send_frame(WELCOME)


def expect_code(c, code, method, params, what=None):
    """Like Client.expect_error, but never prints params (they may be huge)."""
    r = c.wait_response(c.send_request(None, method, params))
    if r.error is None:
        raise AssertionError("%s (%s) succeeded with %.200r, expected error %d"
                             % (method, what or "", r.result, code))
    if r.error[0] != code:
        raise AssertionError("%s (%s): expected error %d, got %r" % (method, what or "", code, r.error))
    return r.error[1]


def memory_bytes(c):
    return c.call("stats", [])["memory_bytes"]


def socket_closed_by_peer(s):
    """True when the peer closed s (EOF or reset); data waiting is read away."""
    s.setblocking(False)
    try:
        while True:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                return False
            except (ConnectionResetError, OSError):
                return True
            if not chunk:
                return True
    finally:
        try:
            s.setblocking(True)
        except OSError:
            pass


class Base(DaemonTest):
    OBJECTS = OBJECTS
    OPTIONS = dict(log_level="info")

    def rss_bound_applies(self):
        if sanitized():
            print("note: ASan build: RSS bounds not checked (quarantine)")
            return False
        return True

    def sock_client(self, rcvbuf=64 * KIB, d=None, **kw):
        c = small_rcvbuf_client(d or self.d, rcvbuf, **kw)
        self.clients.append(c)
        return c


# ---------------------------------------------------------------------------
# 1. Deliveries to parked getters obey max_output

class TestParkedGettersOverMaxOutput(Base):
    OPTIONS = dict(log_level="info", max_memory="64M", max_output="8M", max_item="2M")
    MAX_MEMORY = 64 * MIB
    MAX_OUTPUT = 8 * MIB
    MAX_ITEM = 2 * MIB
    N = 300
    ITEM = 1000 * 1000

    def item(self, i):
        return struct.pack(">I", i) + bytes([i % 251]) * (self.ITEM - 4)

    def test_parked_getters_over_max_output_get_no_deliveries(self):
        obs = self.client()
        rss0 = self.d.rss_kib()
        stalled = self.sock_client()
        stalled.raw_send(frames(pack_request(i + 1, "queue.get", ["q", None]) for i in range(self.N)))
        wait_stat(obs, "q", getters=self.N)

        producer = self.client()
        ok, enomem, other = [], 0, []
        peak_rss = rss0
        for i in range(self.N):
            try:
                producer.call("queue.put", ["q", self.item(i), 0])
                ok.append(i)
            except RPCError as e:
                if e.code == ENOMEM:
                    enomem += 1
                else:
                    other.append(e)
            peak_rss = max(peak_rss, self.d.rss_kib())
        st = obs.call("stats", [])
        qst = obs.call("queue.stat", ["q"])
        peak_rss = max(peak_rss, self.d.rss_kib())
        print("\nmax_output: puts ok %d, ENOMEM %d; memory_bytes %d; queue size %d bytes %d getters %d; "
              "RSS start %d KiB peak %d KiB (+%d KiB)"
              % (len(ok), enomem, st["memory_bytes"], qst["size"], qst["bytes"], qst["getters"],
                 rss0, peak_rss, peak_rss - rss0))
        self.assertEqual(other, [], "puts refused with other errors")
        self.assertGreater(enomem, 0, "every put succeeded: deliveries to a connection that does not read "
                           "are not bounded by max_output (memory_bytes %d)" % st["memory_bytes"])
        self.assertGreater(st["memory_bytes"], 0)
        self.assertLessEqual(st["memory_bytes"], self.MAX_MEMORY + self.MAX_OUTPUT + self.MAX_ITEM + MIB)
        self.assertEqual(qst["getters"], 0, "the stalled connection's gets are still in the line")
        self.assertGreater(qst["size"], 0, "no items stayed queued")
        if self.rss_bound_applies():
            bound = (self.MAX_MEMORY + self.MAX_OUTPUT + self.MAX_ITEM) // KIB + rss0 + 32 * KIB
            self.assertLess(peak_rss, bound, "RSS %d KiB over the bound %d KiB" % (peak_rss, bound))

        # a well-behaved getter is served while the first is stalled
        other_getter = self.client()
        got = other_getter.call("queue.get", ["q", 0])
        self.assertIsInstance(got, bytes)
        self.assertEqual(len(got), self.ITEM)
        b_index = struct.unpack(">I", got[:4])[0]

        # the stalled connection reads: it gets its replies, then the rest of the queue
        received = []
        expected = len(ok) - 1
        deadline = time.monotonic() + POLL_TIMEOUT
        while len(received) < expected:
            r = stalled.recv_response(timeout=max(0.1, deadline - time.monotonic()))
            self.assertIsNone(r.error, "a parked get answered %r" % (r.error,))
            self.assertTrue(1 <= r.msgid <= self.N)
            self.assertEqual(len(r.result), self.ITEM)
            received.append(struct.unpack(">I", r.result[:4])[0])
        print("stalled connection drained %d items after reading; the other getter got item %d"
              % (len(received), b_index))
        self.assertGreaterEqual(len(received), 1)
        self.assertEqual(sorted(received + [b_index]), ok, "items lost or duplicated")
        wait_stat(obs, "q", size=0, getters=self.N - len(received))


# ---------------------------------------------------------------------------
# 2. Reply amplification

class TestReplyAmplification(Base):
    OPTIONS = dict(log_level="info", max_message="8M", max_item="1M", max_memory="100M")
    MAX_MESSAGE = 8 * MIB
    MAX_MEMORY = 100 * MIB
    MAX_OUTPUT = 8 * MIB
    MAX_ITEM = 1 * MIB
    ITEM = 512 * KIB
    N = 80

    def item(self, i):
        return struct.pack(">I", i) + bytes([i % 251]) * (self.ITEM - 4)

    def fill(self, c):
        items = [self.item(i) for i in range(self.N)]
        for i in range(0, self.N, 8):
            self.assertEqual(c.call("queue.put_many", ["q", items[i:i + 8], 0]), 8)
        return items

    def test_peek_over_max_message_refused_ETOOBIG(self):
        c = self.client()
        self.fill(c)
        before = c.call("queue.stat", ["q"])
        msg = expect_code(c, ETOOBIG, "queue.peek", ["q", 1000], "n=1000")
        print("\npeek n=1000 of %d x %d bytes: ETOOBIG %r" % (self.N, self.ITEM, msg))
        after = c.call("queue.stat", ["q"])
        self.assertEqual(before, after, "a refused peek changed the queue")
        # a peek that fits is answered
        got = c.call("queue.peek", ["q", 14])
        self.assertEqual(got, [self.item(i) for i in range(14)])

    def test_get_many_returns_fewer_items_so_its_reply_fits(self):
        c = self.client()
        items = self.fill(c)
        got = c.call("queue.get_many", ["q", 1000, 0])
        k = len(got)
        print("\nget_many max 1000 of %d x %d bytes: %d items (%d bytes)" % (self.N, self.ITEM, k, k * self.ITEM))
        self.assertGreaterEqual(k, 1)
        self.assertLess(k * self.ITEM, self.MAX_MESSAGE, "get_many's reply is over max_message")
        self.assertEqual(got, items[:k])
        self.assertEqual(c.call("queue.qsize", ["q"]), self.N - k)
        self.assertEqual(c.call("queue.get", ["q", 0]), items[k])

    def test_unread_replies_count_towards_memory_bytes(self):
        obs = self.client()
        self.fill(obs)
        rss0 = self.d.rss_kib()
        peers = [self.sock_client() for _ in range(8)]
        peeks = 4
        for p in peers:
            p.raw_send(frames(pack_request(i + 1, "queue.peek", ["q", 14]) for i in range(peeks)))
        for p in peers:
            wait_until(lambda p=p: (client_row(obs, p) or {}).get("ops", 0) >= 2,
                       what="two peeks of each connection served")
        st = obs.call("stats", [])
        qbytes = obs.call("queue.stat", ["q"])["bytes"]
        peak_rss = self.d.rss_kib()
        extra = st["memory_bytes"] - qbytes
        # read the answers now
        answers = collections.Counter()
        for p in peers:
            for _ in range(peeks):
                r = p.recv_response()
                if r.error is None:
                    self.assertEqual(len(r.result), 14)
                    answers["ok"] += 1
                else:
                    answers[r.error[0]] += 1
        print("\n8 non-reading peekers: memory_bytes %d, queue bytes %d, unread reply bytes counted %d; "
              "answers %r; RSS start %d KiB, while unread %d KiB"
              % (st["memory_bytes"], qbytes, extra, dict(answers), rss0, peak_rss))
        self.assertEqual(set(answers) - {"ok", ENOMEM}, set(), "unexpected errors %r" % dict(answers))
        self.assertTrue(answers[ENOMEM] >= 1 or extra >= 7 * MIB,
                        "unread replies are not counted: memory_bytes - queue bytes = %d, no ENOMEM" % extra)
        self.assertGreaterEqual(extra, 7 * MIB, "memory_bytes does not count the unsent replies "
                                "(memory_bytes - queue bytes = %d)" % extra)
        if self.rss_bound_applies():
            bound = (self.MAX_MEMORY + 8 * (self.MAX_OUTPUT + self.MAX_ITEM)) // KIB + rss0 + 32 * KIB
            self.assertLess(peak_rss, bound)
        # once read, the reply bytes are released
        wait_until(lambda: memory_bytes(obs) - qbytes < 1 * MIB, what="reply bytes released after reading")

    def test_buf_items_and_drain_over_max_message_refused(self):
        self.restart(max_message="4M", max_item="1M")
        c = self.client()
        n, batch = 100000, 5000
        value = "v" * 40
        for start in range(0, n, batch):
            c.raw_send(frames(pack_request(i + 1, "buf.set", ["b", "k%06d" % i, value])
                              for i in range(start, start + batch)))
            for _ in range(batch):
                r = c.recv_response()
                self.assertIsNone(r.error)
        self.assertEqual(c.call("buf.len", ["b"]), n)
        m1 = expect_code(c, ETOOBIG, "buf.items", ["b"])
        m2 = expect_code(c, ETOOBIG, "buf.drain", ["b"])
        print("\nbuf of %d keys x 40-byte values, max_message 4M: buf.items %r, buf.drain %r" % (n, m1, m2))
        self.assertEqual(c.call("buf.len", ["b"]), n, "a refused drain removed keys")
        self.assertEqual(c.call("buf.get", ["b", "k000042"]), value)
        self.assertEqual(c.call("buf.get", ["b", "k%06d" % (n - 1)]), value)
        # a small buf is still served
        c.call("buf.set", ["b2", "x", 1])
        self.assertEqual(c.call("buf.items", ["b2"]), {"x": 1})
        self.assertEqual(c.call("buf.drain", ["b2"]), {"x": 1})


# ---------------------------------------------------------------------------
# 3. Bookkeeping is counted

class TestBookkeepingCounted(Base):
    def test_leases_count_towards_memory_bytes(self):
        c = self.client()
        n, batch = 200000, 10000
        item = packb(b"\x00" * 8)   # 10 bytes of msgpack
        for _ in range(0, n, batch):
            self.assertEqual(c.call("queue.put_many", raw_put_many("rq", item, batch)), batch)
        queued = memory_bytes(c)
        got = 0
        while got < n:
            got += len(c.call("queue.get_many", ["rq", batch, 0]))
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"]), (0, n))
        leased = memory_bytes(c)
        print("\n%d leases of %d-byte items: memory_bytes queued %d, leased %d (%.1f bytes/lease)"
              % (n, len(item), queued, leased, leased / n))
        self.assertGreaterEqual(leased, n * (len(item) + 32), "lease bookkeeping is not counted")

    def test_parked_waiters_count_towards_memory_bytes(self):
        obs = self.client()
        obs.call("queue.put", ["q2", "pending", 0])    # unfinished 1: joins park
        conns = [self.client() for _ in range(10)]
        m0 = memory_bytes(obs)
        for c in conns:
            c.raw_send(frames([pack_request(i + 1, "queue.get", ["q", None]) for i in range(100)]
                              + [pack_request(1000, "ping", [])]))
        for c in conns:
            r = c.recv_response()
            self.assertEqual((r.msgid, r.result), (1000, "pong"), "a get answered %r" % (r,))
        wait_stat(obs, "q", getters=1000)
        m1 = memory_bytes(obs)
        for c in conns:
            c.raw_send(frames([pack_request(2000 + i, "queue.join", ["q2", None]) for i in range(100)]
                              + [pack_request(3000, "ping", [])]))
        for c in conns:
            r = c.recv_response()
            self.assertEqual((r.msgid, r.result), (3000, "pong"), "a join answered %r" % (r,))
        m2 = memory_bytes(obs)
        print("\n1000 parked gets: memory_bytes %d -> %d (%.1f bytes each); 1000 parked joins: -> %d (%.1f each)"
              % (m0, m1, (m1 - m0) / 1000, m2, (m2 - m1) / 1000))
        self.assertGreaterEqual(m1 - m0, 1000 * 100, "parked gets are not counted")
        self.assertGreaterEqual(m2 - m1, 1000 * 100, "parked joins are not counted")

    def test_buf_update_undo_log_counts_towards_memory(self):
        c = self.client()
        n, batch = 300000, 10000
        keys = ["k%06d" % i for i in range(n)]
        for start in range(0, n, batch):
            c.call("buf.update", ["b", {k: 1 for k in keys[start:start + batch]}])
        self.assertEqual(c.call("buf.len", ["b"]), n)
        m = memory_bytes(c)
        limit_kib = (m + 4 * MIB) // KIB + 1
        self.d.reload(max_memory="%dK" % limit_kib)
        wait_until(lambda: c.call("stats", [])["max_memory"] == limit_kib * KIB, what="max_memory reloaded")
        msg = expect_code(c, ENOMEM, "buf.update", ["b", {k: 1 for k in keys}], "all %d keys + 1" % n)
        print("\n%d keys: memory_bytes %d; max_memory set to %d; update of all keys: ENOMEM %r"
              % (n, m, limit_kib * KIB, msg))
        for i in (0, 1, 12345, n // 2, n - 1):
            self.assertEqual(c.call("buf.get", ["b", keys[i]]), 1, "a refused update changed %s" % keys[i])
        # a small update still fits
        c.call("buf.update", ["b", {k: 1 for k in keys[:1000]}])
        self.assertEqual(c.call("buf.get", ["b", keys[999]]), 2)
        self.assertEqual(c.call("buf.get", ["b", keys[1000]]), 1)


class TestMaxWaiters(Base):
    OPTIONS = dict(log_level="info", max_waiters="50")

    def test_request_over_max_waiters_refused_ENOMEM(self):
        obs = self.client()
        a = self.client()
        a.raw_send(frames([pack_request(i + 1, "queue.get", ["q", None]) for i in range(51)]
                          + [pack_request(100, "ping", [])]))
        r = a.recv_response()
        self.assertEqual(r.msgid, 51, "first answer %r" % (r,))
        self.assertIsNotNone(r.error, "the 51st parked get was not refused: %r" % (r,))
        self.assertEqual(r.error[0], ENOMEM, "the 51st parked get: %r" % (r.error,))
        self.assertEqual(a.recv_response().result, "pong")
        wait_stat(obs, "q", getters=50)
        # a request that does not park is not refused
        a.expect_error(EEMPTY, "queue.get", ["q", 0])
        # another connection can still park
        b = self.client()
        mb = b.send_request(None, "queue.get", ["q", None])
        wait_stat(obs, "q", getters=51)
        # gets and joins count together
        obs.call("queue.put", ["q2", "pending", 0])
        c = self.client()
        c.raw_send(frames([pack_request(i + 1, "queue.get", ["rq", None]) for i in range(25)]
                          + [pack_request(100 + i, "queue.join", ["q2", None]) for i in range(25)]
                          + [pack_request(200, "queue.join", ["q2", None]), pack_request(201, "ping", [])]))
        r = c.recv_response()
        self.assertEqual(r.msgid, 200, "first answer %r" % (r,))
        self.assertEqual((r.error or [None])[0], ENOMEM)
        self.assertEqual(c.recv_response().result, "pong")
        wait_stat(obs, "rq", getters=25)
        # the 50 parked gets of a are served
        for i in range(51):
            obs.call("queue.put", ["q", i, 0])
        got = sorted(a.recv_response().result for _ in range(50))
        rb = b.wait_response(mb)
        self.assertEqual(sorted(got + [rb.result]), list(range(51)))
        print("\nmax_waiters 50: 51st get and 51st mixed get/join refused with ENOMEM; the 50 stayed parked")


class TestJournalPendingCounted(Base):
    OPTIONS = dict(log_level="info", journal="on", fsync="everysec", max_memory="16M")

    def test_put_many_whose_journal_records_do_not_fit_refused_ENOMEM(self):
        c = self.client()
        n = 2000000
        r = c.wait_response(c.send_request(None, "queue.put_many", raw_put_many("q", b"\xc0", n)))
        st = c.call("queue.stat", ["q"])
        print("\njournal on, max_memory 16M: put_many of %d nil items: error %r result %r; memory_bytes %d; "
              "queue size %d bytes %d" % (n, r.error, r.result, memory_bytes(c), st["size"], st["bytes"]))
        self.assertIsNotNone(r.error, "a put_many whose journal records (~28 MB) are over max_memory was "
                             "accepted")
        self.assertEqual(r.error[0], ENOMEM)
        self.assertEqual((st["size"], st["unfinished"]), (0, 0))
        self.assertEqual(c.call("queue.put_many", raw_put_many("q", b"\xc0", 100000)), 100000)
        self.assertEqual(c.call("queue.qsize", ["q"]), 100000)


# ---------------------------------------------------------------------------
# 4. task_done does not scan all leases

class TestTaskDoneTime(Base):
    BURST = 2000
    ROUNDS = 3

    def burst(self, c, queue):
        base = 10 ** 6
        data = frames(pack_request(base + i, "queue.task_done", [queue, 1]) for i in range(self.BURST))
        t0 = time.monotonic()
        c.raw_send(data)
        for _ in range(self.BURST):
            r = c.recv_response(timeout=POLL_TIMEOUT * 4)
            self.assertIsNone(r.error, "task_done answered %r" % (r.error,))
        return time.monotonic() - t0

    def lease(self, c, queue, n, batch=10000):
        for start in range(0, n, batch):
            k = min(batch, n - start)
            self.assertEqual(c.call("queue.put_many", raw_put_many(queue, b"\x01", k)), k)
        got = 0
        while got < n:
            got += len(c.call("queue.get_many", [queue, batch, 0]))

    def test_task_done_does_not_scan_all_leases(self):
        n = 1000000 if SCALE <= 1 else 300000
        hoarder = self.client()
        t0 = time.monotonic()
        self.lease(hoarder, "rq", n)
        setup = time.monotonic() - t0
        few = self.client()
        pinger = self.client(timeout=CALL_TIMEOUT * 4)
        idle = []
        for _ in range(50):
            t = time.monotonic()
            pinger.ping()
            idle.append(time.monotonic() - t)
        idle_ping = sorted(idle)[len(idle) // 2]

        def timed_with_pings(c, queue):
            """The burst's time, and the slowest ping another client saw during it."""
            done = threading.Event()
            lat = []

            def ping_loop():
                while not done.is_set():
                    t = time.monotonic()
                    try:
                        pinger.ping()
                    except (OSError, ConnectionClosed):
                        lat.append(float("inf"))
                        return
                    lat.append(time.monotonic() - t)
            th = threading.Thread(target=ping_loop, daemon=True)
            th.start()
            try:
                el = self.burst(c, queue)
            finally:
                done.set()
                th.join(POLL_TIMEOUT * 4)
            return el, max(lat) if lat else 0.0

        t_many, t_few, ping_many, ping_few = [], [], [], []
        for _ in range(self.ROUNDS):
            self.lease(few, "rq2", self.BURST)
            el, p = timed_with_pings(few, "rq2")
            t_few.append(el)
            ping_few.append(p)
            el, p = timed_with_pings(hoarder, "rq")
            t_many.append(el)
            ping_many.append(p)
            if el > 100 * t_few[-1]:
                break       # far over the bound already: more rounds would only take long
        st = hoarder.call("queue.stat", ["rq"])
        self.assertEqual(st["unfinished"], n - len(t_many) * self.BURST)
        many, fewest = min(t_many), min(t_few)
        ratio = many / fewest
        idle_ratio = min(ping_many) / idle_ping
        ping_ratio = min(ping_many) / max(min(ping_few), idle_ping)
        print("\n%d leases (setup %.2fs): %d pipelined task_done in %s s; with %d leases: %s s; ratio %.1f"
              % (n, setup, self.BURST, ["%.4f" % t for t in t_many], self.BURST,
                 ["%.4f" % t for t in t_few], ratio))
        print("ping: idle median %.6fs; slowest during each burst with %d leases %s, with %d leases %s; "
              "ratio to idle %.1f, to the few-leases burst %.1f"
              % (idle_ping, n, ["%.6f" % t for t in ping_many], self.BURST, ["%.6f" % t for t in ping_few],
                 idle_ratio, ping_ratio))
        self.assertLess(ratio, 20, "task_done with %d leases is %.1f times slower than with %d"
                        % (n, ratio, self.BURST))
        # The ratio to the idle ping (the burst's length over one round trip)
        # is printed only: 46 to 228 in runs on the new code, as the idle
        # round trip itself varies 25-117 us. The ping during a burst with
        # few leases is the stable reference.
        self.assertLess(ping_ratio, 20, "a ping during the burst with %d leases waited %.1f times one "
                        "during the burst with %d" % (n, ping_ratio, self.BURST))


# ---------------------------------------------------------------------------
# 5. Connections still in the handshake have a pool of their own

class TestHandshakePool(Base):
    # max_handshakes left at its default: a quarter of max_connections (10)
    OPTIONS = dict(log_level="info", max_connections="40", handshake_timeout="60s")
    MAX_CONNECTIONS = 40
    POOL = 10

    def legit_connect(self, attempts=3):
        errors = []
        for _ in range(attempts):
            try:
                c = Client(self.d.port, self.d.key, timeout=5 * SCALE)
            except (AuthFailed, ConnectionClosed, socket.timeout, OSError) as e:
                errors.append(repr(e))
                continue
            self.clients.append(c)
            try:
                return c, c.ping(), errors
            except (ConnectionClosed, socket.timeout, OSError) as e:
                errors.append(repr(e))
        return None, None, errors

    def test_silent_handshakes_cannot_lock_out_clients(self):
        authed = [self.client() for _ in range(20)]
        stop = threading.Event()
        opened, failed = [], []

        def attacker():
            for _ in range(200):
                if stop.is_set():
                    break
                try:
                    s = socket.create_connection(("127.0.0.1", self.d.port), timeout=2 * SCALE)
                    opened.append(s)
                except OSError as e:
                    failed.append(repr(e))
                time.sleep(0.015)   # pacing the attack, not synchronisation
        th = threading.Thread(target=attacker, daemon=True)
        th.start()
        try:
            wait_until(lambda: len(opened) + len(failed) >= 40, what="the attacker under way")
            conns_seen = [authed[0].call("stats", [])["connections"]]
            legit, pong, errors = self.legit_connect()
            conns_seen.append(authed[0].call("stats", [])["connections"])
            attack_running = th.is_alive()
        finally:
            th.join(120 * SCALE)
            stop.set()
        try:
            pings = []
            for c in authed:
                try:
                    pings.append(c.ping())
                except (ConnectionClosed, socket.timeout, OSError) as e:
                    pings.append(repr(e))
            conns_seen.append(authed[0].call("stats", [])["connections"])
            closed = sum(1 for s in opened if socket_closed_by_peer(s))
            print("\nhandshake pool: attacker opened %d (failed %d), %d closed by the daemon; legit client %s "
                  "(errors %r, attack still running: %s); stats.connections %r"
                  % (len(opened), len(failed), closed, "ok" if pong == "pong" else "REFUSED", errors,
                     attack_running, conns_seen))
            self.assertEqual(pong, "pong", "the legitimate client was locked out: %r" % errors)
            self.assertEqual(pings, ["pong"] * 20, "authenticated clients evicted")
            self.assertLessEqual(max(conns_seen), self.MAX_CONNECTIONS)
            self.assertGreater(closed, 0, "no silent socket was closed by the daemon")
            wait_until(lambda: sum(1 for s in opened if not socket_closed_by_peer(s)) <= self.POOL,
                       timeout=CLOSE_TIMEOUT, what="at most max_handshakes silent sockets left open")
        finally:
            for s in opened:
                s.close()

    def test_full_daemon_evicts_oldest_handshake_never_authenticated(self):
        self.restart(max_connections="8")       # pool: a quarter, 2
        authed = [self.client() for _ in range(6)]
        s1, s2 = self.raw(), self.raw()
        s1.read_challenge()
        m2 = s2.read_challenge()
        s3 = self.raw()                          # max_connections reached: s1 goes
        m3 = s3.read_challenge()
        s1.expect_closed()
        self.assertTrue(s2.is_open(), "the younger handshake was evicted")
        # s2 and s3 authenticate: now every slot is an authenticated connection
        finish_handshake(s2, self.d.key, m2)
        self.assertEqual(s2.ping(), "pong")
        finish_handshake(s3, self.d.key, m3)
        self.assertEqual(s3.ping(), "pong")
        # full of authenticated connections: a new one is refused, nobody evicted
        refused = False
        try:
            extra = Client(self.d.port, self.d.key, timeout=3 * SCALE)
            self.clients.append(extra)
            extra.ping()
        except (AuthFailed, ConnectionClosed, socket.timeout, OSError):
            refused = True
        self.assertTrue(refused, "a 9th connection was served with max_connections = 8")
        for c in authed + [s2, s3]:
            self.assertEqual(c.ping(), "pong")
        print("\nmax_connections 8: the oldest handshake evicted, then a 9th refused; 8 authenticated kept")

    def test_max_handshakes_pool_evicts_oldest(self):
        self.restart(max_connections="40", max_handshakes="3")
        ok = self.client()
        socks = []
        for _ in range(3):
            s = self.raw()
            s.read_challenge()
            socks.append(s)
        s4 = self.raw()
        s4.read_challenge()
        socks[0].expect_closed()
        self.assertTrue(all(s.is_open() for s in socks[1:] + [s4]), "not the oldest handshake evicted")
        s5 = self.raw()
        s5.read_challenge()
        socks[1].expect_closed()
        self.assertTrue(all(s.is_open() for s in (socks[2], s4, s5)))
        self.assertEqual(ok.ping(), "pong")
        with self.d.client() as c:
            self.assertEqual(c.ping(), "pong")
        print("\nmax_handshakes 3: the 4th and 5th handshakes evicted the oldest ones")


# ---------------------------------------------------------------------------
# 6. Logs a peer can provoke are rate-limited

class TestPeerLogRateLimit(Base):
    OPTIONS = dict(log_level=None, handshake_timeout="60s")   # the default level (info)

    def test_connection_resets_do_not_flood_the_log(self):
        obs = self.client()
        total0 = obs.call("stats", [])["connections_total"]
        mark = self.d.mark()
        n = 2000
        linger = struct.pack("ii", 1, 0)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=CALL_TIMEOUT)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()
        wait_until(lambda: (lambda st: st["connections_total"] >= total0 + n and st["connections"] == 1)(
            obs.call("stats", [])), what="every reset connection accepted and gone")
        self.assertEqual(obs.ping(), "pong")
        lines = self.d.log_since(mark)
        print("\n%d connect-and-reset: %d log lines; first: %r" % (n, len(lines), lines[:3]))
        self.assertLessEqual(len(lines), 100, "log flooded: %d lines, e.g. %r" % (len(lines), lines[-3:]))


# ---------------------------------------------------------------------------
# 7. Any non-negative number is a timeout

class TestHugeTimeouts(Base):
    def test_get_with_huge_timeouts_parks(self):
        obs = self.client()
        for timeout in (2 ** 64 - 1, 2 ** 63, 1e300):
            with self.subTest(timeout=timeout):
                a = self.client()
                m = a.send_request(None, "queue.get", ["q", timeout])
                a.send_request(999, "ping", [])
                r = a.recv_response()
                self.assertEqual((r.msgid, r.result), (999, "pong"), "the get answered %r" % (r.error,))
                wait_stat(obs, "q", getters=1)
                obs.call("queue.put", ["q", "item-%r" % timeout, 0])
                self.assertEqual(a.result_of(a.wait_response(m)), "item-%r" % timeout)
                a.close()

    def test_join_with_huge_timeouts_parks(self):
        obs = self.client()
        for timeout in (2 ** 63, 2 ** 64 - 1, 1e300):
            with self.subTest(timeout=timeout):
                obs.call("queue.put", ["q2", 1, 0])
                a = self.client()
                m = a.send_request(None, "queue.join", ["q2", timeout])
                a.send_request(999, "ping", [])
                r = a.recv_response()
                self.assertEqual((r.msgid, r.result), (999, "pong"), "the join answered %r" % (r.error,))
                self.assertEqual(obs.call("queue.get", ["q2", 0]), 1)
                obs.call("queue.task_done", ["q2", 1])
                r = a.wait_response(m)
                self.assertIsNone(r.error)
                self.assertIsNone(r.result)
                a.close()


# ---------------------------------------------------------------------------
# 8. Soak with a hostile mix

class TestHostileSoak(Base):
    OPTIONS = dict(log_level="info", max_memory="64M", max_output="1M", max_item="256K",
                   max_message="4M", max_waiters="100")
    OBJECTS = OBJECTS + """
[queue hq]
maxsize = 0

[queue pq]
maxsize = 0

[queue lq]
maxsize = 0
redeliver = on

[queue jq]
maxsize = 0

[queue eq]
maxsize = 0

[queue wq]
maxsize = 0

[buf hb]
"""
    MAX_MEMORY = 64 * MIB
    MAX_OUTPUT = 1 * MIB
    MAX_ITEM = 256 * KIB
    MAX_WAITERS = 100
    SECONDS = float(os.environ.get("QMGR_SOAK_SECONDS", "20"))

    def test_hostile_mix_bounded_and_well_behaved_pair_served(self):
        obs = self.client()
        setup = self.client()
        big = b"h" * (200 * KIB)
        # pq: 17 x 200 KiB, a peek of everything is about 3.4 MB (under max_message)
        setup.call("queue.put_many", ["pq", [big] * 17, 0])
        # lq: leases to hoard, 4000 x 1 KiB
        for _ in range(4):
            setup.call("queue.put_many", ["lq", [b"l" * 1024] * 1000, 0])
        # hb: 20000 keys
        for start in range(0, 20000, 5000):
            setup.raw_send(frames(pack_request(i + 1, "buf.set", ["hb", "key%06d" % i, "v" * 40])
                                  for i in range(start, start + 5000)))
            for _ in range(5000):
                setup.recv_response()
        setup.call("queue.put", ["jq", "never done", 0])
        rss0 = self.d.rss_kib()
        mem0 = memory_bytes(obs)

        stop = threading.Event()
        errors = []
        counts = collections.Counter()
        lock = threading.Lock()

        def guard(fn):
            def run():
                try:
                    fn()
                except Exception as e:   # noqa: BLE001 -- reported by the test
                    if not stop.is_set():
                        errors.append("%s: %r" % (fn.__name__, e))
            t = threading.Thread(target=run, daemon=True, name=fn.__name__)
            return t

        # 4 non-reading clients with max_waiters parked gets on hq, fed big items
        stalled = [self.sock_client() for _ in range(4)]
        for s in stalled:
            s.raw_send(frames(pack_request(i + 1, "queue.get", ["hq", None]) for i in range(self.MAX_WAITERS)))
        wait_stat(obs, "hq", getters=4 * self.MAX_WAITERS)
        for _ in range(40):
            try:
                setup.call("queue.put", ["hq", big, 0])
            except RPCError as e:
                counts["hq put %d" % e.code] += 1

        # 4 clients that pipeline huge peeks and buf.items and never read
        spammers = [self.sock_client() for _ in range(4)]

        def amplifier(c):
            def amplify():
                c.sock.settimeout(0.5)
                msgid = 1
                while not stop.is_set():
                    method = ["queue.peek", ["pq", 100000]] if msgid % 2 else ["buf.items", ["hb"]]
                    try:
                        c.sock.sendall(frame(pack_request(msgid, *method)))
                    except socket.timeout:
                        break       # the daemon stopped reading us: as intended
                    msgid += 1
                with lock:
                    counts["amplifier requests"] += msgid - 1
            amplify.__name__ = "amplifier"
            return amplify

        # a lease hoarder
        hoarder = self.client()

        def hoard():
            while not stop.is_set():
                try:
                    got = hoarder.call("queue.get_many", ["lq", 100, 0])
                    with lock:
                        counts["hoarded"] += len(got)
                except RPCError as e:
                    if e.code != EEMPTY:
                        raise
                    break

        # parked-request spammer: connections parked up to max_waiters, churned
        def park_spam():
            live = collections.deque()
            while not stop.is_set():
                c = Client(self.d.port, self.d.key)
                reqs = [pack_request(i + 1, "queue.join", ["jq", None]) for i in range(self.MAX_WAITERS // 2)]
                reqs += [pack_request(1000 + i, "queue.get", ["eq", None]) for i in range(self.MAX_WAITERS // 2)]
                reqs += [pack_request(5000 + i, "queue.get", ["eq", None]) for i in range(5)]
                reqs.append(pack_request(9999, "ping", []))
                c.raw_send(frames(reqs))
                refused = 0
                while True:
                    r = c.recv_response()
                    if r.msgid == 9999:
                        break
                    if r.error and r.error[0] == ENOMEM:
                        refused += 1
                with lock:
                    counts["spam ENOMEM"] += refused
                    counts["spam conns"] += 1
                live.append(c)
                if len(live) > 10:
                    live.popleft().close()
            for c in live:
                c.close()

        # the well-behaved pair
        producer, consumer = self.client(), self.client()
        produced = [0]
        consumed = [0]
        producing_done = threading.Event()

        def produce():
            item = b"w" * (4 * KIB)
            while not stop.is_set():
                try:
                    producer.call("queue.put", ["wq", item, 5])
                    produced[0] += 1
                except RPCError as e:
                    with lock:
                        counts["producer error %d" % e.code] += 1
            producing_done.set()

        def consume():
            while True:
                try:
                    consumer.call("queue.get", ["wq", 1])
                except RPCError as e:
                    if e.code != EEMPTY:
                        raise
                    if producing_done.is_set() and consumed[0] >= produced[0]:
                        break
                    continue
                consumer.call("queue.task_done", ["wq", 1])
                consumed[0] += 1

        threads = [guard(amplifier(c)) for c in spammers]
        threads += [guard(hoard), guard(park_spam), guard(produce)]
        consumer_thread = guard(consume)
        samples = []   # (t, rss KiB, memory_bytes, connections, produced, consumed)
        t0 = time.monotonic()
        for t in threads + [consumer_thread]:
            t.start()
        try:
            while time.monotonic() - t0 < self.SECONDS:
                st = obs.call("stats", [])
                samples.append((time.monotonic() - t0, self.d.rss_kib(), st["memory_bytes"],
                                st["connections"], produced[0], consumed[0]))
                time.sleep(0.5)     # sampling interval, not synchronisation
        finally:
            stop.set()
            for s in stalled + spammers:
                s.close()       # unblocks nothing of ours; frees the daemon's buffers
            for t in threads:
                t.join(POLL_TIMEOUT)
            consumer_thread.join(POLL_TIMEOUT * 2)
        self.assertFalse(consumer_thread.is_alive(), "the consumer did not finish")
        peak_rss = max(s[1] for s in samples)
        peak_mem = max(s[2] for s in samples)
        peak_conns = max(s[3] for s in samples)
        print("\nsoak %.0fs: RSS start %d KiB peak %d KiB; memory_bytes start %d peak %d (max_memory %d); "
              "peak connections %d; produced %d consumed %d; %r"
              % (self.SECONDS, rss0, peak_rss, mem0, peak_mem, self.MAX_MEMORY, peak_conns,
                 produced[0], consumed[0], dict(counts)))
        self.assertEqual(errors, [])
        self.assertEqual(consumed[0], produced[0])
        self.assertLessEqual(peak_mem, self.MAX_MEMORY + self.MAX_OUTPUT + self.MAX_ITEM + MIB)
        # the pair moved items in every 5-second window
        windows = []
        w = 0.0
        while w + 5.0 <= samples[-1][0] + 0.6:   # the last window may end with the last sample
            inside = [s for s in samples if w <= s[0] <= w + 5.0]
            windows.append(inside[-1][5] - inside[0][5] if len(inside) >= 2 else 0)
            w += 5.0
        print("consumed per 5 s window: %r; memory_bytes (MiB) every 2 s: %r"
              % (windows, [round(x[2] / MIB, 1) for x in samples[::4]]))
        self.assertTrue(windows and all(n > 0 for n in windows), "the pair stalled: %r" % windows)
        if self.rss_bound_applies():
            bound = (self.MAX_MEMORY + peak_conns * (self.MAX_OUTPUT + self.MAX_ITEM + 64 * KIB)) // KIB \
                + rss0 + 16 * KIB
            self.assertLessEqual(peak_rss, bound, "peak RSS %d KiB over %d KiB" % (peak_rss, bound))
        self.assertEqual(obs.ping(), "pong")
        self.assertTrue(self.d.alive())
        # with the hostile connections gone, what they held is released:
        # left are the objects of the start and what went into hq (8 MB)
        hoarder.close()
        bound = mem0 + 40 * len(big) + 2 * MIB
        try:
            wait_until(lambda: memory_bytes(obs) <= bound, what="memory_bytes back near the start")
        finally:
            print("memory_bytes once the hostile connections closed: %d (start %d, bound %d)"
                  % (memory_bytes(obs), mem0, bound))
        bad = [l for l in self.d.log_since(0)
               if "ERROR" in l and ("crash" in l.lower() or "abort" in l.lower())
               or "AddressSanitizer" in l]
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
