"""journal = on: what the daemon acknowledged survives kill -9.

- TestKill9Always/Everysec/No: puts (order, bytes), buf changes, purge and
  unfinished counts survive a SIGKILL and a restart on the same state dir.
  Under everysec and no the daemon still write()s every loop turn before
  replying, and kill -9 does not lose the page cache: nothing acknowledged
  may be missing there either.
- TestRedeliveryAcrossRestart: items got (redeliver = on) and not settled go
  back to the head after a restart, in order, and count in `redelivered`.
- TestJournalFile: a torn or corrupted tail is cut with a log line and all
  before it replayed; a file that is not a journal stops the daemon at start.
- TestCompaction: the journal is compacted (forked) while clients work, and
  a kill -9 after (or during) it loses nothing; leases survive it; a
  compaction child that outlives its daemon does not write into the next
  daemon's journal.
- TestGroupCommit (strace): under fsync = always no reply is written before
  the fdatasync of its turn's journal write, and one fdatasync serves many.
- TestCrashLoop: a producer and 8 workers (separate processes) run while the
  daemon is killed -9 at random moments; at the end nothing is lost and no
  settled item was delivered again (seeded; dur_producer.py, dur_worker.py).
  QMGR_CRASH_SEEDS="4-30" runs more seeds; QMGR_CRASH_JOURNAL=off shows the
  checks catching a daemon that forgets (they must fail then).
"""

import collections
import os
import re
import shutil
import signal
import struct
import tempfile
import time
import unittest

from dur_lib import (
    SCALE, DurTest, JR_PUT, Raw, free_port, make_record, packb, read_journal,
    asan_env, read_line_log, rng, spawn, wait_procs, wait_until,
)
from qmgrtest import ETIMEOUT, EVALUE, array_header

OBJECTS = """
[queue q]
maxsize = 0
redeliver = off

[queue q2]
maxsize = 1000
redeliver = off

[queue rq]
maxsize = 0
redeliver = on

[buf b]

[buf b2]
"""

# A variety of item encodings, byte for byte (raw msgpack).
RAW_ITEMS = [
    b"\x00", b"\xcd\x01\x00", b"\xd3" + struct.pack(">q", -2 ** 63), b"\xcb" + struct.pack(">d", 0.1),
    b"\xa0", b"\xd9\x03abc", b"\xc4\x00", b"\xc6\x00\x00\x00\x03xyz", b"\xc0", b"\xc3",
    b"\x92\x01\xa1x", b"\x81\xa1k\x93\x01\x02\x03", b"\xd6\xff\x00\x00\x00\x01",
    packb(b"\x00\xff" * 50000),  # 100 KB bin
    packb({"nested": [1, 2.5, None, {"a": b"b"}]}),
]

STAT_KEYS = ("size", "maxsize", "unfinished", "bytes", "puts", "gets", "redelivered")


def stat_of(c, queue):
    st = c.call("queue.stat", [queue])
    return {k: st[k] for k in STAT_KEYS}


class Base(DurTest):
    OBJECTS = OBJECTS
    FSYNC = "always"

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(journal="on", fsync=self.FSYNC, log_level="info")

    def assertNoCut(self, d=None):
        cut = [l for l in (d or self.d).log_since(0) if "cutting" in l]
        self.assertEqual(cut, [], "a clean journal had its tail cut")


class SurvivesKill9:
    """Mixed into one class per fsync policy."""

    def test_acknowledged_puts_survive_in_order_byte_for_byte(self):
        c = self.client()
        for r in RAW_ITEMS:
            self.assertIsNone(c.call("queue.put", ["q", Raw(r), 0]))
        batch = [packb(i) for i in range(500)]
        self.assertEqual(c.call("queue.put_many", ["q2", Raw(array_header(len(batch)) + b"".join(batch)), 0]),
                         len(batch))
        self.assertEqual(c.call("queue.put_many", ["q", Raw(array_header(3) + b"".join(RAW_ITEMS[:3])), 0]), 3)
        before = {q: stat_of(c, q) for q in ("q", "q2")}
        self.crash_restart()
        self.assertNoCut()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q"), RAW_ITEMS + RAW_ITEMS[:3])
        self.assertEqual(self.queue_contents(c, "q2"), batch)
        for q in ("q", "q2"):
            self.assertEqual(stat_of(c, q), before[q], "queue.stat %s changed across kill -9" % q)
        # FIFO goes on where it was
        self.assertEqual(c.call("queue.get", ["q", 0], raw=True), RAW_ITEMS[0])

    def test_buf_changes_survive(self):
        c = self.client()
        c.call("buf.incr", ["b", "i", 5])
        c.call("buf.incr", ["b", "i", -2])
        c.call("buf.incr", ["b", "f", 0.25])
        c.call("buf.incr", ["b", "f", 1])
        c.call("buf.incr", ["b", "big", 2 ** 63 - 1])
        c.call("buf.update", ["b", {"u1": 1, "u2": 2.5, "i": 10}])
        c.call("buf.update", ["b", {"u1": 1, "u3": -7}])
        c.call("buf.set", ["b", "raw", Raw(b"\x82\xa1a\xc4\x02\x00\x01\xa1b\x92\xc0\xc2")])
        c.call("buf.set", ["b", "gone", "soon"])
        c.call("buf.del", ["b", "gone"])
        c.call("buf.set", ["b", "s", "text"])
        c.call("buf.set", ["b", "s", 42])          # overwritten
        c.call("buf.update", ["b2", {"x": 1, "y": 2}])
        c.call("buf.clear", ["b2"])
        c.call("buf.incr", ["b2", "after_clear", 3])
        want_b = c.call("buf.items", ["b"])
        self.assertEqual(want_b, {"i": 13, "f": 1.25, "big": 2 ** 63 - 1, "u1": 2, "u2": 2.5, "u3": -7,
                                  "raw": {"a": b"\x00\x01", "b": [None, False]}, "s": 42})
        raw_before = {k: c.call("buf.get", ["b", k], raw=True) for k in want_b}
        self.crash_restart()
        self.assertNoCut()
        c = self.client()
        self.assertEqual(c.call("buf.items", ["b"]), want_b)
        self.assertEqual({k: c.call("buf.get", ["b", k], raw=True) for k in want_b}, raw_before)
        self.assertEqual(c.call("buf.items", ["b2"]), {"after_clear": 3})
        # ints stay ints after replay, and overflow is still checked
        self.assertEqual(c.call("buf.incr", ["b", "i", 1]), 14)
        self.assertEqual(c.call_error("buf.incr", ["b", "big", 1])[0], 13)  # ERANGE

    def test_drain_survives(self):
        c = self.client()
        c.call("buf.update", ["b", {"x": 1, "y": 2}])
        self.assertEqual(c.call("buf.drain", ["b"]), {"x": 1, "y": 2})
        c.call("buf.incr", ["b", "z", 1])
        self.crash_restart()
        c = self.client()
        self.assertEqual(c.call("buf.items", ["b"]), {"z": 1})

    def test_purge_survives(self):
        c = self.client()
        c.call("queue.put_many", ["q", list(range(5)), 0])
        self.assertEqual(c.call("queue.purge", ["q"]), 5)
        c.call("queue.put_many", ["q", ["a", "b"], 0])
        before = stat_of(c, "q")
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), ["a", "b"])
        self.assertEqual(stat_of(c, "q"), before)
        self.assertEqual(before["unfinished"], 2)

    def test_unfinished_counts_survive(self):
        c = self.client()
        c.call("queue.put_many", ["q", list(range(5)), 0])
        self.assertEqual(c.call("queue.get_many", ["q", 5, 0]), list(range(5)))
        c.call("queue.task_done", ["q", 2])
        self.crash_restart()
        c = self.client()
        st = c.call("queue.stat", ["q"])
        self.assertEqual((st["size"], st["unfinished"], st["puts"], st["gets"]), (0, 3, 5, 5))
        c.expect_error(ETIMEOUT, "queue.join", ["q", 0])
        c.call("queue.task_done", ["q", 3])
        self.assertIsNone(c.call("queue.join", ["q", 0]))
        c.expect_error(EVALUE, "queue.task_done", ["q", 1])

    def test_several_crashes_accumulate(self):
        c = self.client()
        want = []
        for round_ in range(4):
            items = ["r%d-%d" % (round_, i) for i in range(50)]
            c.call("queue.put_many", ["q", items, 0])
            want += items
            got = c.call("queue.get_many", ["q", 10, 0])
            self.assertEqual(got, want[:10])
            del want[:10]
            c.call("buf.incr", ["b", "n", 1])
            self.crash_restart()
            c = self.client()
            self.assertEqual(self.queue_contents(c, "q", raw=False), want)
            self.assertEqual(c.call("buf.get", ["b", "n"]), round_ + 1)
            self.assertEqual(c.call("queue.stat", ["q"])["unfinished"], 50 * (round_ + 1))
        self.assertNoCut()

    def test_pipelined_puts_survive(self):
        # pipelined: all 300 puts acknowledged before the kill, many share a turn
        c = self.client()
        ids = [c.send_request(None, "queue.put", ["q", i, 0]) for i in range(300)]
        for m in ids:
            r = c.wait_response(m)
            self.assertIsNone(r.error)
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), list(range(300)))


class TestKill9Always(SurvivesKill9, Base):
    FSYNC = "always"


class TestKill9Everysec(SurvivesKill9, Base):
    FSYNC = "everysec"


class TestKill9No(SurvivesKill9, Base):
    FSYNC = "no"


class TestRedeliveryAcrossRestart(Base):
    def test_unsettled_items_return_to_head_in_order(self):
        c = self.client()
        c.call("queue.put_many", ["rq", list(range(10)), 0])
        w = self.client()
        self.assertEqual(w.call("queue.get_many", ["rq", 3, 0]), [0, 1, 2])
        self.assertEqual(w.call("queue.get", ["rq", 0]), 3)
        w.call("queue.task_done", ["rq", 1])         # settles 0
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["redelivered"]), (6, 9, 0))
        self.crash_restart()                         # w never closed its connection
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), [1, 2, 3, 4, 5, 6, 7, 8, 9])
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["redelivered"]), (9, 9, 3))
        self.assertEqual(st["puts"], 10)

    def test_two_owners_each_in_order_settled_never_back(self):
        c = self.client()
        c.call("queue.put_many", ["rq", list(range(12)), 0])
        a, b, s = self.client(), self.client(), self.client()
        self.assertEqual(a.call("queue.get_many", ["rq", 3, 0]), [0, 1, 2])
        self.assertEqual(b.call("queue.get_many", ["rq", 2, 0]), [3, 4])
        self.assertEqual(s.call("queue.get_many", ["rq", 2, 0]), [5, 6])
        s.call("queue.task_done", ["rq", 2])          # 5, 6 settled
        self.assertEqual(a.call("queue.get", ["rq", 0]), 7)
        self.crash_restart()
        c = self.client()
        items = self.queue_contents(c, "rq", raw=False)
        head, tail = items[:6], items[6:]
        self.assertEqual(tail, [8, 9, 10, 11], "the never-taken items must follow the returned ones")
        self.assertEqual(sorted(head), [0, 1, 2, 3, 4, 7])
        self.assertEqual([i for i in head if i in (0, 1, 2, 7)], [0, 1, 2, 7], "a's leases out of order")
        self.assertEqual([i for i in head if i in (3, 4)], [3, 4], "b's leases out of order")
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["redelivered"]), (10, 10, 6))
        # The live daemon returns a closed connection's leases in queue order
        # for one owner; after a restart the original order across owners
        # ([0, 1, 2, 3, 4, 7]) is the least surprising. Reported, not required.
        if head != [0, 1, 2, 3, 4, 7]:
            print("\nnote: after restart, leases of two owners came back as %r" % head)

    def test_all_settled_nothing_comes_back(self):
        c = self.client()
        c.call("queue.put_many", ["rq", list(range(5)), 0])
        w = self.client()
        self.assertEqual(w.call("queue.get_many", ["rq", 5, 0]), list(range(5)))
        w.call("queue.task_done", ["rq", 5])
        self.crash_restart()
        c = self.client()
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["size"], st["unfinished"], st["redelivered"]), (0, 0, 0))
        self.assertIsNone(c.call("queue.join", ["rq", 0]))

    def test_redelivered_again_after_second_crash(self):
        c = self.client()
        c.call("queue.put_many", ["rq", ["x", "y"], 0])
        w = self.client()
        self.assertEqual(w.call("queue.get", ["rq", 0]), "x")
        self.crash_restart()
        w = self.client()
        self.assertEqual(w.call("queue.get", ["rq", 0]), "x")
        self.assertEqual(w.call("queue.get", ["rq", 0]), "y")
        w.call("queue.task_done", ["rq", 1])          # settles x (oldest)
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), ["y"])
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["unfinished"], st["redelivered"]), (1, 2))

    def test_lease_returned_by_close_before_crash(self):
        c = self.client()
        c.call("queue.put_many", ["rq", [1, 2, 3], 0])
        w = self.client()
        self.assertEqual(w.call("queue.get_many", ["rq", 2, 0]), [1, 2])
        w.close()
        wait_until(lambda: c.call("queue.stat", ["rq"])["size"] == 3, what="leases returned")
        w2 = self.client()
        self.assertEqual(w2.call("queue.get", ["rq", 0]), 1)
        w2.call("queue.task_done", ["rq"])
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), [2, 3])
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["unfinished"], st["redelivered"]), (2, 2))

    def test_redeliver_off_got_items_stay_gone(self):
        c = self.client()
        c.call("queue.put_many", ["q", [1, 2, 3], 0])
        w = self.client()
        self.assertEqual(w.call("queue.get_many", ["q", 2, 0]), [1, 2])
        self.crash_restart()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), [3])
        self.assertEqual(c.call("queue.stat", ["q"])["unfinished"], 3)


class TestJournalFile(Base):
    """The file itself: torn tails, corruption, not a journal."""

    def fill(self):
        c = self.client()
        c.call("queue.put_many", ["q", ["a", "b", "c"], 0])
        c.call("buf.update", ["b", {"k": 7}])
        c.call("queue.put", ["q", "last", 0])
        want = (["a", "b", "c", "last"], {"k": 7})
        return c, want

    def stop(self):
        for c in self.clients:
            c.close()
        self.clients = []
        self.assertEqual(self.d.stop(), 0, self.d.log_tail())

    def state(self):
        c = self.client()
        return self.queue_contents(c, "q", raw=False), c.call("buf.items", ["b"])

    def restart_expect_cut(self, good_end, why_rx):
        d = self.d
        d.restart()
        lines = [l for l in d.log_since(0) if re.search(r"cutting \d+ bytes", l)]
        self.assertEqual(len(lines), 1, "expected one log line about cutting the tail; log:\n%s"
                         % d.log_tail())
        self.assertRegex(lines[0], why_rx)
        self.assertIn("offset %d" % good_end, lines[0])
        return lines[0]

    def last_record(self):
        recs, end, why = read_journal(self.d.journal)
        self.assertIsNone(why, "the daemon left a journal that does not read clean")
        self.assertEqual(end, os.path.getsize(self.d.journal))
        return recs[-1], end

    def test_clean_stop_and_restart_cut_nothing(self):
        _, want = self.fill()
        self.stop()
        self.d.restart()
        self.assertNoCut()
        self.assertEqual(self.state(), want)

    def test_half_a_record_appended(self):
        _, want = self.fill()
        self.stop()
        _, end = self.last_record()
        rec = make_record([JR_PUT, "q", "ghost"])
        with open(self.d.journal, "ab") as f:
            f.write(rec[:len(rec) // 2])
        self.restart_expect_cut(end, "torn record")
        self.assertEqual(self.state(), want)
        self.assertEqual(read_journal(self.d.journal)[2], None, "the journal after the restart is not clean")
        # and it goes on: a change after the cut, another crash, all there
        c = self.client()
        c.call("queue.put", ["q", "after", 0])
        self.crash_restart()
        self.assertEqual(self.state(), (want[0] + ["after"], want[1]))
        self.assertNoCut()

    def test_torn_header_appended(self):
        _, want = self.fill()
        self.stop()
        _, end = self.last_record()
        with open(self.d.journal, "ab") as f:
            f.write(b"\x00\x00\x00")
        self.restart_expect_cut(end, "torn record header")
        self.assertEqual(self.state(), want)

    def test_garbage_appended(self):
        _, want = self.fill()
        self.stop()
        _, end = self.last_record()
        with open(self.d.journal, "ab") as f:
            f.write(bytes(rng(7).getrandbits(8) for _ in range(1000)))
        self.restart_expect_cut(end, "torn record|checksum|not one msgpack")
        self.assertEqual(self.state(), want)

    def test_valid_crc_of_non_record_appended(self):
        _, want = self.fill()
        self.stop()
        _, end = self.last_record()
        with open(self.d.journal, "ab") as f:
            f.write(make_record(payload=b"\x93\x01\xa1q"))      # truncated msgpack, good crc
            f.write(make_record([99, "q"]))                      # unknown record type
        self.restart_expect_cut(end, "not one msgpack|does not apply")
        self.assertEqual(self.state(), want)

    def test_bit_flip_in_last_record(self):
        _, want = self.fill()
        self.stop()
        last, end = self.last_record()
        self.assertEqual(last.value, [JR_PUT, "q", "last"], "the last record is not the last put")
        with open(self.d.journal, "r+b") as f:
            f.seek(last.offset + 8 + last.length - 1)
            b = f.read(1)
            f.seek(last.offset + 8 + last.length - 1)
            f.write(bytes([b[0] ^ 0x10]))
        self.restart_expect_cut(last.offset, "checksum")
        q, bufitems = self.state()
        self.assertEqual((q, bufitems), (want[0][:-1], want[1]), "only the damaged last record may be lost")
        self.assertEqual(os.path.getsize(self.d.journal), read_journal(self.d.journal)[1])

    def test_length_field_damaged_in_last_record(self):
        _, want = self.fill()
        self.stop()
        last, end = self.last_record()
        with open(self.d.journal, "r+b") as f:
            f.seek(last.offset)
            f.write(struct.pack(">I", 0xFFFFFFF0))
        self.restart_expect_cut(last.offset, "torn record")
        self.assertEqual(self.state(), (want[0][:-1], want[1]))

    def test_torn_tail_after_kill9(self):
        # the same after a crash instead of a clean stop
        c, want = self.fill()
        self.d.crash()
        for cl in self.clients:
            cl.close()
        self.clients = []
        _, end, why = read_journal(self.d.journal)
        self.assertIsNone(why)
        rec = make_record([JR_PUT, "q", "ghost" * 100])
        with open(self.d.journal, "ab") as f:
            f.write(rec[:-5])
        self.restart_expect_cut(end, "torn record")
        self.assertEqual(self.state(), want)

    def _refuses(self, content, why_rx):
        self.stop()
        with open(self.d.journal, "wb") as f:
            f.write(content)
        rc, lines = self.d.start_expect_failure()
        self.assertNotEqual(rc, 0, "qmgrd started on a file that is not a journal")
        self.assertTrue([l for l in lines if re.search(why_rx, l)],
                        "no log line saying why; log:\n%s" % "\n".join(lines))
        self.assertFalse([l for l in lines if "listening on" in l])
        with open(self.d.journal, "rb") as f:
            self.assertEqual(f.read(), content, "the daemon changed a file it refused")

    def test_not_a_journal_refused_at_start(self):
        self._refuses(b"this is not a qmgrd journal at all\n" * 10, r"not a qmgrd journal")

    def test_wrong_magic_refused_at_start(self):
        self._refuses(b"QMGRJNL2" + make_record([JR_PUT, "q", 1]), r"not a qmgrd journal")

    def test_short_file_refused_at_start(self):
        self._refuses(b"QMG", r"not a qmgrd journal")


class TestCompaction(Base):
    """Large items get the journal over its 64 MiB minimum quickly."""

    ITEM_SIZE = 256 * 1024

    def item(self, n):
        return packb(n.to_bytes(4, "big") * (self.ITEM_SIZE // 4))

    def setUp(self):
        DurTest.setUp(self)
        # max_message holds a peek of the whole queue (check_state).
        self.d = self.start_daemon(journal="on", fsync="always", log_level="info", max_item="1M",
                                   max_message="64M")

    def cycle(self, c, model):
        """One put + get of a big item (the journal grows, the live data does not)."""
        n = self.next_n
        self.next_n += 1
        c.call("queue.put", ["q", Raw(self.item(n)), None])
        model.append(n)
        got = c.call("queue.get", ["q", 0], raw=True)
        self.assertEqual(got, self.item(model.pop(0)))
        c.call("buf.incr", ["b", "cycles", 1])

    def cycle_until(self, c, model, done, what, limit=2000):
        deadline = time.monotonic() + 120 * SCALE
        for _ in range(limit):
            if done():
                return
            self.assertLess(time.monotonic(), deadline, "no %s; log:\n%s" % (what, self.d.log_tail()))
            self.cycle(c, model)
        self.fail("no %s after %d cycles; journal %d bytes; log:\n%s"
                  % (what, limit, os.path.getsize(self.d.journal), self.d.log_tail()))

    def fill_live(self, c, n_live):
        model = list(range(n_live))
        for i in model:
            c.call("queue.put", ["q", Raw(self.item(i)), None])
        self.next_n = n_live
        return model

    def snapshot(self, c, model):
        return dict(model=list(model), cycles=c.call("buf.get", ["b", "cycles"]),
                    unfinished=c.call("queue.stat", ["q"])["unfinished"])

    def check_state(self, c, want):
        model = want["model"]
        contents = self.queue_contents(c, "q")
        self.assertEqual(len(contents), len(model))
        bad = [i for i, (raw, n) in enumerate(zip(contents, model)) if raw != self.item(n)]
        self.assertEqual(bad, [], "items differ at positions %r" % bad[:10])
        self.assertEqual(c.call("buf.get", ["b", "cycles"]), want["cycles"])
        self.assertEqual(c.call("queue.stat", ["q"])["unfinished"], want["unfinished"])

    def log_match(self, mark, rx):
        for line in self.d.log_since(mark):
            m = re.search(rx, line)
            if m:
                return m
        return None

    def test_compaction_while_clients_work_then_kill9(self):
        c = self.client()
        model = self.fill_live(c, 80)          # 20 MiB of live data
        mark = self.d.mark()
        # past 64 MiB and 2x live: the next tick forks a compaction
        self.cycle_until(c, model, lambda: self.log_match(mark, r"compacting \d+ bytes"),
                         "compaction started")
        size_at_start = int(self.log_match(mark, r"compacting (\d+) bytes").group(1))
        self.assertGreater(size_at_start, 64 << 20)
        # keep working while the child writes, until the switch is logged:
        # small items now, so what is appended meanwhile stays small
        small = []
        n_small = [0]

        def switched():
            c.call("queue.put", ["q2", "s%d" % n_small[0], 0])
            small.append("s%d" % n_small[0])
            n_small[0] += 1
            if len(small) > 10:
                self.assertEqual(c.call("queue.get", ["q2", 0]), small.pop(0))
            c.call("buf.incr", ["b", "cycles", 1])
            return self.log_match(mark, r"compacted to \d+ bytes|compaction failed|cannot install")
        deadline = time.monotonic() + 60 * SCALE
        while not switched():
            self.assertLess(time.monotonic(), deadline, "the compaction did not end; log:\n%s"
                            % self.d.log_tail())
        self.assertIsNone(self.log_match(mark, r"compaction failed|cannot install"), self.d.log_tail())
        self.assertGreater(n_small[0], 0)
        new_size = int(self.log_match(mark, r"compacted to (\d+) bytes").group(1))
        self.assertLess(new_size, size_at_start // 2)
        self.assertLess(os.path.getsize(self.d.journal), size_at_start // 2, "the file did not shrink")
        self.assertLess(new_size, 80 * self.ITEM_SIZE + (4 << 20), "more than the live data and a small tail")
        # more work after the switch: appended to the new file
        for i in range(5):
            self.cycle(c, model)
            c.call("queue.put", ["q", Raw(self.item(10 ** 6 + i)), None])
            model.append(10 ** 6 + i)
        want = self.snapshot(c, model)
        self.crash_restart()
        self.assertNoCut()
        c = self.client()
        self.check_state(c, want)
        self.assertEqual(self.queue_contents(c, "q2", raw=False), small)

    def test_leases_across_compaction(self):
        """Leases open at the fork are in the snapshot; a settle and a
        return made while the child works are in the tail; after a kill -9
        the open lease comes back, the settled one does not."""
        c = self.client()
        model = self.fill_live(c, 80)
        c.call("queue.put_many", ["rq", list(range(10)), 0])
        w1, w2 = self.client(), self.client()
        self.assertEqual(w1.call("queue.get_many", ["rq", 2, 0]), [0, 1])
        self.assertEqual(w2.call("queue.get", ["rq", 0]), 2)
        mark = self.d.mark()
        self.cycle_until(c, model, lambda: self.log_match(mark, r"compacting \d+ bytes"), "compaction started")
        w1.call("queue.task_done", ["rq", 1])          # settles 0
        w2.close()                                      # 2 goes back to the head
        wait_until(lambda: c.call("queue.qsize", ["rq"]) == 8, what="w2's lease returned")
        in_tail = not self.log_match(mark, r"compacted to|compaction failed")
        self.cycle_until(c, model, lambda: self.log_match(mark, r"compacted to \d+ bytes|compaction failed"),
                         "end of the compaction")
        self.assertIsNone(self.log_match(mark, r"compaction failed"), self.d.log_tail())
        want = self.snapshot(c, model)
        self.crash_restart()                            # w1 still holds 1
        c = self.client()
        self.check_state(c, want)
        self.assertEqual(self.queue_contents(c, "rq", raw=False), [1, 2, 3, 4, 5, 6, 7, 8, 9])
        st = c.call("queue.stat", ["rq"])
        self.assertEqual((st["unfinished"], st["redelivered"]), (9, 2))
        if not in_tail:
            print("\nnote: the settle and the return landed after the compaction ended")

    def test_kill9_during_compaction(self):
        c = self.client()
        model = self.fill_live(c, 200)         # 50 MiB of live data: the child takes a while
        mark = self.d.mark()
        self.cycle_until(c, model, lambda: self.log_match(mark, r"compacting \d+ bytes in process \d+"),
                         "compaction started")
        child = int(self.log_match(mark, r"compacting \d+ bytes in process (\d+)").group(1))
        self.addCleanup(_kill_quietly, child)
        want = self.snapshot(c, model)
        child_alive = os.path.exists("/proc/%d" % child)
        self.crash_restart()
        c = self.client()
        if child_alive:
            print("\nnote: the compaction child %d was running at the kill" % child)
        self.check_state(c, want)
        # and it stays right: the next start replays what this one wrote
        self.clean_restart()
        self.assertNoCut()
        c = self.client()
        self.check_state(c, want)


    def test_orphaned_compaction_child_does_not_touch_the_next_journal(self):
        """kill -9 of the daemon alone (the OOM killer, a supervisor without
        cgroups) leaves its compaction child running. Stopped with SIGSTOP
        it stands for a child that is slow to write; the restarted daemon
        writes its own snapshot and switches to it; then the old child goes
        on. The new journal must not take its bytes."""
        c = self.client()
        model = self.fill_live(c, 200)          # 50 MiB: the child writes for a while
        mark = self.d.mark()
        self.cycle_until(c, model, lambda: self.log_match(mark, r"compacting \d+ bytes in process \d+"),
                         "compaction started")
        child = int(self.log_match(mark, r"compacting \d+ bytes in process (\d+)").group(1))
        self.addCleanup(_kill_quietly, child)
        try:
            os.kill(child, signal.SIGSTOP)
        except ProcessLookupError:
            self.skipTest("the compaction child ended before it could be stopped")
        self.addCleanup(_cont_quietly, child)
        if _proc_state(child) in (None, "Z"):
            self.skipTest("the compaction child ended before it could be stopped")
        for _ in range(3):                       # the state moves on after the fork
            self.assertEqual(c.call("queue.get", ["q", 0], raw=True), self.item(model.pop(0)))
        want = self.snapshot(c, model)
        self.crash_restart()
        os.kill(child, signal.SIGCONT)
        wait_until(lambda: _proc_state(child) in (None, "Z"), timeout=60 * SCALE,
                   what="the old compaction child to end")
        c = self.client()
        self.check_state(c, want)
        self.clean_restart()
        c = self.client()
        cut = [l for l in self.d.log_since(0) if "cutting" in l]
        got = self.queue_contents(c, "q")
        self.assertEqual((len(got), cut), (len(want["model"]), []),
                         "after the old compaction child ran on, the next start replays %d items (want %d)"
                         " and logs %r" % (len(got), len(want["model"]), cut))
        self.check_state(c, want)


def _proc_state(pid):
    """The state letter of /proc/PID/stat (None if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _cont_quietly(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except OSError:
        pass


STRACE = shutil.which("strace")
SYSCALL_RE = re.compile(r"^(?:\d+ +)?(\w+)\((.*)\) += (-?\d+)")


def syscall_order(trace_path):
    """From an strace of the daemon: (journal writes, journal fdatasyncs,
    socket writes, socket writes made while a journal write was not yet
    fdatasynced)."""
    journal_fds, sockets = set(), set()
    dirty = False
    jw = js = sw = early = 0
    with open(trace_path, errors="replace") as f:
        for line in f:
            m = SYSCALL_RE.match(line)
            if not m:
                continue
            name, args, ret = m.group(1), m.group(2), int(m.group(3))
            fd = args.split(",", 1)[0]
            if name == "openat" and ret >= 0:
                path = re.search(r'"([^"]*)"', args).group(1)
                if path.endswith("/qmgrd.journal"):
                    journal_fds.add(ret)
                else:
                    journal_fds.discard(ret)
                    sockets.discard(ret)
            elif name in ("accept", "accept4") and ret >= 0:
                sockets.add(ret)
                journal_fds.discard(ret)
            elif name == "close":
                journal_fds.discard(int(fd))
                sockets.discard(int(fd))
            elif name in ("write", "writev") and fd.isdigit() and int(fd) in journal_fds and ret > 0:
                jw += 1
                dirty = True
            elif name in ("fdatasync", "fsync") and int(fd) in journal_fds:
                js += 1
                dirty = False
            elif name in ("write", "writev", "sendmsg", "sendto") and fd.isdigit() and int(fd) in sockets:
                sw += 1
                if dirty:
                    early += 1
    return jw, js, sw, early


@unittest.skipUnless(STRACE, "needs strace")
class TestGroupCommit(DurTest):
    """Under fsync = always no reply leaves before the journal write of its
    turn is fdatasynced, and one fdatasync serves many changes (group
    commit). Seen through strace of the daemon's system calls."""

    OBJECTS = OBJECTS

    def run_traced(self, fsync):
        trace = os.path.join(self.tmpdir(), "trace")
        d = self.start_daemon(journal="on", fsync=fsync, log_level="info", env=asan_env(detect_leaks=0),
                              wrapper=[STRACE, "-qq", "-o", trace, "-e",
                                       "trace=openat,accept,accept4,close,write,writev,sendmsg,sendto,"
                                       "fdatasync,fsync"])
        conns = [d.client() for _ in range(20)]
        for c in conns:
            for i in range(50):
                c.send_request(None, "queue.put", ["q", i, 0])
            c.send_request(None, "buf.incr", ["b", "n", 1])
        for c in conns:
            for m in range(1, 52):
                self.assertIsNone(c.wait_response(m).error)
        for c in conns:
            c.close()
        os.kill(d.daemon_pid, signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0, d.log_tail())
        return syscall_order(trace)

    def tmpdir(self):
        t = tempfile.mkdtemp(prefix="qmgrtest-strace-")
        self.addCleanup(shutil.rmtree, t, True)
        return t

    def test_fsync_always_replies_after_fdatasync_one_per_turn(self):
        jw, js, sw, early = self.run_traced("always")
        self.assertGreater(jw, 0)
        self.assertGreater(sw, 0)
        self.assertEqual(early, 0, "%d replies were written while a journal write was not yet fdatasynced" % early)
        changes = 20 * 51
        self.assertLess(js, changes // 4, "%d fdatasyncs for %d changes: no group commit" % (js, changes))
        print("\nfsync=always: %d changes, %d journal writes, %d fdatasyncs, %d socket writes"
              % (changes, jw, js, sw))

    def test_checker_sees_early_replies_under_fsync_no(self):
        jw, js, sw, early = self.run_traced("no")
        self.assertGreater(jw, 0)
        self.assertGreater(early, 0, "the strace checker saw no reply after an unsynced write under fsync=no")


CRASH_OBJECTS = """
[queue work]
maxsize = 200
redeliver = on

[buf counts]
"""


class TestCrashLoop(DurTest):
    """kill -9 at random moments of a busy pipeline (fsync = always): a
    producer process, 8 worker processes, each reconnecting to the daemon
    restarted on the same port and state dir. Then, from the processes'
    logs, the daemon's buf and its queue.stat: nothing acknowledged is
    lost, no copy is delivered after its task_done was acknowledged, each is
    settled once, and the buf counts each id once per processing, the
    extra ones only for batches in flight at a crash."""

    OBJECTS = CRASH_OBJECTS
    N = int(os.environ.get("QMGR_CRASH_ITEMS", "20000"))
    CHUNK = 50
    WORKERS = 8
    BATCH = 10
    KILLS = 3

    def run_seed(self, seed):
        r = rng(seed)
        port = free_port()
        d = self.d = self.start_daemon(port=port, journal=os.environ.get("QMGR_CRASH_JOURNAL", "on"),
                                       fsync="always", log_level="info")
        tmp = d.tmp
        stopfile = os.path.join(tmp, "stop")
        plog = os.path.join(tmp, "producer.log")
        wlogs = [os.path.join(tmp, "worker%d.log" % i) for i in range(self.WORKERS)]
        workers = [spawn(self, "dur_worker.py", port, d.keyfile, "work", "counts", i, self.BATCH,
                         wlogs[i], stopfile) for i in range(self.WORKERS)]
        producer = spawn(self, "dur_producer.py", port, d.keyfile, "work", self.N, self.CHUNK, plog)
        nchunks = (self.N + self.CHUNK - 1) // self.CHUNK
        # kill points: random fractions of the producer's progress, each
        # followed by a random delay of up to 50 ms (inputs, not waits)
        points = sorted(r.uniform(0.05, 0.9) for _ in range(self.KILLS))
        crashes = []
        t_start = time.monotonic()
        for frac in points:
            target = int(frac * nchunks)
            acked = lambda: sum(1 for tag, _, _ in read_line_log(plog) if tag == "A")  # noqa: E731
            deadline = time.monotonic() + 120 * SCALE
            while acked() < target and producer.poll() is None:   # a tight poll: the run is fast
                self.assertLess(time.monotonic(), deadline, "no producer progress to chunk %d" % target)
                time.sleep(0.002)
            if producer.poll() is not None:
                break
            time.sleep(r.uniform(0, 0.05))
            t_kill = time.monotonic()
            d.crash()
            d.restart()
            crashes.append((t_kill, time.monotonic()))
        wait_procs([producer], 180 * SCALE, "the producer")
        obs = self.client()
        wait_until(lambda: (lambda st: st["size"] == 0 and st["unfinished"] == 0)(
            obs.call("queue.stat", ["work"])), timeout=120 * SCALE, what="all items settled")
        self.assertIsNone(obs.call("queue.join", ["work", 0]))
        with open(stopfile, "w"):
            pass
        wait_procs(workers, 60 * SCALE, "a worker")
        elapsed = time.monotonic() - t_start
        st = obs.call("queue.stat", ["work"])
        counts = obs.call("buf.items", ["counts"])
        self.assertGreaterEqual(len(crashes), 1, "the pipeline ended before the first kill")
        cut = [l for l in d.full_log().splitlines() if "cutting" in l]
        summary = self.check(plog, wlogs, st, counts, crashes)
        summary.update(seed=seed, crashes=len(crashes), seconds=round(elapsed, 1), tail_cuts=len(cut))
        print("\ncrash loop %r" % summary)
        for c in self.clients:
            c.close()
        self.clients = []
        self.stop_daemon(d)
        # under fsync = always a commit is whole or absent; a torn tail is
        # still allowed (a write cut by the kill), and must be logged as cut

    def check(self, plog, wlogs, st, counts, crashes):
        chunk_of = lambda item: (item // 100) // self.CHUNK  # noqa: E731
        # -- the producer
        sent, acked = set(), set()
        for tag, t, f in read_line_log(plog):
            if tag == "S":
                sent.add((int(f[0]), int(f[1])))
            elif tag == "A":
                acked.add((int(f[0]), int(f[1])))
        nchunks = (self.N + self.CHUNK - 1) // self.CHUNK
        self.assertEqual({c for c, _ in acked}, set(range(nchunks)), "the producer did not finish")
        # -- the workers' batches
        batches = {}          # id -> dict(items, t_got, stages: tag -> t, lost)
        for path in wlogs:
            ended = False
            for tag, t, f in read_line_log(path):
                if tag == "END":
                    ended = True
                    continue
                if tag == "L":
                    if f[0] != "-":
                        batches[f[0]]["lost"] = (f[1], t)
                    continue
                if tag == "G":
                    batches[f[0]] = dict(items=[int(x) for x in f[1].split(",")], t_got=t, stages={}, lost=None)
                else:
                    batches[f[0]]["stages"][tag] = t
            self.assertTrue(ended, "%s has no END line" % path)
        copies = collections.defaultdict(list)   # item -> [batch ids in order of t_got]
        for bid, b in sorted(batches.items(), key=lambda kv: kv[1]["t_got"]):
            for item in b["items"]:
                copies[item].append(bid)
        problems = []
        # nothing that was not sent; everything acknowledged arrives
        for item in copies:
            if (chunk_of(item), item % 100) not in sent:
                problems.append("item %d was never sent" % item)
        for (ci, att) in acked:
            for i in range(ci * self.CHUNK, min(self.N, (ci + 1) * self.CHUNK)):
                if i * 100 + att not in copies:
                    problems.append("id %d (chunk %d attempt %d) acknowledged as put, never delivered"
                                    % (i, ci, att))
        ids = {item // 100 for item in copies}
        missing = set(range(self.N)) - ids
        if missing:
            problems.append("%d ids never delivered, e.g. %r" % (len(missing), sorted(missing)[:10]))
        # settled once; never delivered after its task_done was acknowledged
        unacked_settles = 0
        for item, bids in copies.items():
            ta = [bid for bid in bids if "TA" in batches[bid]["stages"]]
            if len(ta) > 1:
                problems.append("item %d settled (task_done acknowledged) %d times: %r" % (item, len(ta), ta))
            if ta:
                t_ta = batches[ta[0]]["stages"]["TA"]
                later = [bid for bid in bids if batches[bid]["t_got"] > t_ta]
                if later:
                    problems.append("item %d delivered again (%r) after its task_done was acknowledged in %s"
                                    % (item, later, ta[0]))
            last = batches[bids[-1]]
            if "TA" not in last["stages"]:
                if last["lost"] and last["lost"][0] == "T":
                    unacked_settles += 1   # task_done sent, answer lost in the crash: settled, not redelivered
                else:
                    problems.append("item %d: its last delivery (%s) was neither settled nor lost at"
                                    " task_done: %r" % (item, bids[-1], last))
        # the daemon's count of copies put
        if st["puts"] != len(copies):
            problems.append("queue.stat puts = %d, but %d distinct copies were delivered"
                            % (st["puts"], len(copies)))
        # buf counts: exact up to batches whose update was in flight at a crash
        lo, maybe = collections.Counter(), collections.Counter()
        inflight = collections.Counter()
        for b in batches.values():
            c = collections.Counter(i // 100 for i in b["items"])
            if "UA" in b["stages"]:
                lo.update(c)
            elif "US" in b["stages"]:
                maybe.update(c)
            if b["lost"] and b["lost"][0] in ("U", "T"):
                inflight.update(c)
        keys = set(counts)
        extra = keys - {"id:%d" % i for i in range(self.N)}
        if extra:
            problems.append("unexpected buf keys %r" % sorted(extra)[:10])
        dup_ids = 0
        ncopies_of = collections.Counter(item // 100 for item in copies)
        for i in range(self.N):
            v = counts.get("id:%d" % i, 0)
            if not lo[i] <= v <= lo[i] + maybe[i]:
                problems.append("id %d: buf count %d, expected %d..%d" % (i, v, lo[i], lo[i] + maybe[i]))
            ncopies = ncopies_of[i]
            if v > ncopies:
                dup_ids += 1
                if v - ncopies > inflight[i]:
                    problems.append("id %d counted %d times for %d copies, with only %d batches in flight"
                                    " at a crash" % (i, v, ncopies, inflight[i]))
            if v < 1:
                problems.append("id %d never counted" % i)
        # connection losses only at crashes
        for path in wlogs:
            lost = sum(1 for tag, _, _ in read_line_log(path) if tag == "L")
            if lost > len(crashes):
                problems.append("%s lost its connection %d times for %d crashes" % (path, lost, len(crashes)))
        if problems:
            self.fail("%d problems after %d crashes, e.g.:\n  %s\n\ndaemon log (all runs), last lines:\n%s"
                      % (len(problems), len(crashes), "\n  ".join(problems[:30]),
                         "\n".join(self.d.full_log().splitlines()[-60:])))
        return dict(copies=len(copies), resent_chunks=len(sent) - nchunks, batches=len(batches),
                    lost_batches=sum(1 for b in batches.values() if b["lost"]),
                    settled_by_unacked_task_done=unacked_settles, ids_counted_twice=dup_ids,
                    redelivered=st["redelivered"])

    def test_crash_seeds(self):
        """Seeds 1-3 by default; QMGR_CRASH_SEEDS="4-20" (or "5,9") runs others,
        one daemon each."""
        seeds = []
        for part in os.environ.get("QMGR_CRASH_SEEDS", "1-3").split(","):
            lo, _, hi = part.partition("-")
            seeds += range(int(lo), int(hi or lo) + 1)
        for seed in seeds:
            with self.subTest(seed=seed):
                self.run_seed(seed)


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    unittest.main()
