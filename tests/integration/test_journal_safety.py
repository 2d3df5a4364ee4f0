"""journal = on: what the journal holds is never dropped without a word.

- TestMiddleDamage: a bad record with intact records after it (one bit
  flipped in the middle of 1,000 puts, or in the first record) is not a torn
  tail: the daemon refuses to start, saying where and how much follows,
  and leaves the file as it is; --repair-journal keeps the whole file aside
  (qmgrd.journal.damaged-TIME) and starts from the records before the
  damage. A bad last record, or one followed only by a torn one, is still a
  torn tail: cut, and logged with its size.
- TestUnconfiguredObjects: data of objects the configuration no longer
  declares (a section renamed) stops the start, naming them and their
  sizes, unless --drop-unconfigured; objects whose records add up to
  nothing go silently. SIGHUP keeps a non-empty object it no longer lists,
  also through a reload of the state from the journal after a failed write.
- TestCompactionTrigger: an idle daemon holding many small items compacts
  at most once (the trigger is the size of the last snapshot, not of the
  payload); journal_compact_min sets the minimum, and the next compaction
  comes when the file has grown to twice the last snapshot.
- TestFullDiskAtStart (RLIMIT_FSIZE, as test_faults.TestFullDisk): a
  journal whose start-up snapshot does not fit still starts; the previous
  run's leases are recorded as returned, so the next replay agrees; with
  not even room to append, it starts refusing changes and recovers by
  itself when less room than a second copy comes back.
- TestOwnerIds: connection ids of a new run are above every lease owner
  the journal names.
- TestCompactionChild: the forked compaction child holds no socket, so a
  client the daemon closes sees EOF while the child works.
"""

import glob
import os
import re
import resource
import signal
import socket
import tempfile
import threading
import unittest

from dur_lib import (
    SCALE, STARTUP_TIMEOUT, ConnectionClosed, DurTest, JR_BUF_SET, JR_PUT, LISTEN_RE, RPCError,
    Raw, packb, read_journal, wait_until,
)
from qmgrtest import ENOENT, ENOMEM, FAILURE, SHA256_PREFIX, array_header, client_row

UNLIMITED = resource.RLIM_INFINITY


def set_fsize(pid, soft):
    """Sets the daemon's RLIMIT_FSIZE soft limit (hard left unlimited)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, UNLIMITED))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def flip_bit(path, offset, mask=0x10):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ mask]))


class SafetyTest(DurTest):
    OBJECTS = """
[queue q]
maxsize = 0
redeliver = off

[queue rq]
maxsize = 0
redeliver = on

[buf b]
"""

    def journal_daemon(self, objects=None, **options):
        opts = dict(journal="on", fsync="always", log_level="info")
        opts.update(options)
        self.d = self.start_daemon(objects, **opts)
        return self.d

    def kill(self, d=None):
        """kill -9, then closes the test's clients (before, the daemon could
        see them go and return their leases)."""
        d = d or self.d
        d.crash()
        for c in self.clients:
            c.close()
        self.clients = []

    def start_outcome(self, d=None, flags=()):
        """Starts the daemon (with extra flags); None once it listens, or its
        exit status if it exits first."""
        d = d or self.d
        d.args = ["-c", d.conf] + list(flags) if flags else None
        d._spawn()
        d.args = None

        def settled():
            if any(LISTEN_RE.search(line) for line in d.log_since(0)):
                return "listening"
            return "exited" if d.proc.poll() is not None else None
        if wait_until(settled, STARTUP_TIMEOUT, "qmgrd to listen or exit") == "listening":
            d.port = int(LISTEN_RE.search(next(l for l in d.log_since(0) if LISTEN_RE.search(l))).group(1))
            return None
        d.reader.join(10)
        d.returncode = d.proc.returncode
        return d.returncode

    def start_with(self, *flags):
        rc = self.start_outcome(flags=flags)
        self.assertIsNone(rc, "qmgrd %s did not start (rc=%r); log:\n%s" % (" ".join(flags), rc,
                                                                            self.d.log_tail()))

    def assertRefusesToStart(self, what):
        rc = self.start_outcome()
        self.assertIsNotNone(rc, "qmgrd started on %s; log:\n%s" % (what, self.d.log_tail()))
        self.assertNotEqual(rc, 0)
        self.assertFalse([l for l in self.d.log_since(0) if "listening on" in l])
        return self.d.log_since(0)

    def lines_matching(self, rx, d=None):
        return [l for l in (d or self.d).log_since(0) if re.search(rx, l)]

    def damaged_copies(self):
        return sorted(glob.glob(self.d.journal + ".damaged-*"))


class TestMiddleDamage(SafetyTest):
    N = 1000

    def puts_then_kill(self, n):
        c = self.client()
        for i in range(n):
            self.assertIsNone(c.call("queue.put", ["q", i, 0]))
        self.kill()
        recs, end, why = read_journal(self.d.journal)
        self.assertIsNone(why, "the journal does not read clean after kill -9")
        puts = [r for r in recs if r.value[:2] == [JR_PUT, "q"]]
        self.assertEqual(len(puts), n)
        return recs, puts

    def test_bit_flip_in_the_middle_refuses_then_repair_keeps_the_file(self):
        self.journal_daemon()
        recs, puts = self.puts_then_kill(self.N)
        bad = puts[self.N // 2]
        after = [r for r in recs if r.offset > bad.offset]
        flip_bit(self.d.journal, bad.end - 1)
        damaged = read_bytes(self.d.journal)
        lines = self.assertRefusesToStart("a journal damaged in record %d of %d" % (self.N // 2 + 1, self.N))
        why = [l for l in lines if "intact records" in l]
        self.assertEqual(len(why), 1, "\n".join(lines))
        self.assertIn("checksum mismatch at offset %d" % bad.offset, why[0])
        self.assertIn("the %d bytes from there hold %d intact records (the first at offset %d)"
                      % (len(damaged) - bad.offset, len(after), after[0].offset), why[0])
        self.assertIn("--repair-journal", why[0])
        self.assertEqual(read_bytes(self.d.journal), damaged, "a refused start changed the journal")
        self.assertEqual(self.damaged_copies(), [])
        self.assertFalse(os.path.exists(self.d.journal + ".rewrite"))

        self.start_with("--repair-journal")
        kept = self.lines_matching(r"kept the whole damaged file as ")
        self.assertEqual(len(kept), 1, self.d.log_tail())
        self.assertIn("went on from the %d bytes before the damage" % bad.offset, kept[0])
        self.assertEqual(self.damaged_copies(), [re.search(r" as (\S+) and", kept[0]).group(1)])
        self.assertRegex(os.path.basename(self.damaged_copies()[0]),
                         r"^qmgrd\.journal\.damaged-\d{8}T\d{6}Z$")
        self.assertEqual(read_bytes(self.damaged_copies()[0]), damaged, "the kept copy is not the damaged file")
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), list(range(self.N // 2)))
        c.call("queue.put", ["q", "after", 0])
        self.kill()
        self.start_with()
        self.assertEqual(self.lines_matching(r"cutting|intact records"), [])
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), list(range(self.N // 2)) + ["after"])
        self.assertEqual(read_bytes(self.damaged_copies()[0]), damaged)

    def test_damaged_first_record_refuses(self):
        self.journal_daemon()
        recs, puts = self.puts_then_kill(20)
        first = recs[0]
        self.assertEqual(first.offset, 8)
        flip_bit(self.d.journal, first.offset + 8)
        damaged = read_bytes(self.d.journal)
        lines = self.assertRefusesToStart("a journal whose first record is damaged")
        why = [l for l in lines if "intact records" in l]
        self.assertEqual(len(why), 1, "\n".join(lines))
        self.assertIn("at offset 8, but the %d bytes from there hold %d intact records"
                      % (len(damaged) - 8, len(recs) - 1), why[0])
        self.assertEqual(read_bytes(self.d.journal), damaged)

    def test_bad_last_record_is_a_torn_tail(self):
        self.journal_daemon()
        recs, puts = self.puts_then_kill(50)
        last = recs[-1]
        self.assertIs(last, puts[-1])
        flip_bit(self.d.journal, last.end - 1)
        self.start_with()
        cut = self.lines_matching(r"cutting \d+ bytes")
        self.assertEqual(len(cut), 1, self.d.log_tail())
        self.assertIn("checksum mismatch at offset %d; cutting %d bytes" % (last.offset, last.end - last.offset),
                      cut[0])
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), list(range(49)))

    def test_bad_record_followed_only_by_a_torn_one_is_a_torn_tail(self):
        self.journal_daemon()
        recs, puts = self.puts_then_kill(50)
        flip_bit(self.d.journal, puts[-2].end - 1)
        os.truncate(self.d.journal, puts[-1].end - 3)
        self.start_with()
        cut = self.lines_matching(r"cutting \d+ bytes")
        self.assertEqual(len(cut), 1, self.d.log_tail())
        self.assertIn("at offset %d; cutting %d bytes" % (puts[-2].offset, puts[-1].end - 3 - puts[-2].offset),
                      cut[0])
        c = self.client()
        self.assertEqual(self.queue_contents(c, "q", raw=False), list(range(48)))


JOBS = """
[queue jobs]
maxsize = 0
redeliver = on

[buf stats]

[queue other]
"""
RENAMED = JOBS.replace("[queue jobs]", "[queue jobz]").replace("[buf stats]\n", "")


class TestUnconfiguredObjects(SafetyTest):
    OBJECTS = JOBS

    def fill_then_kill(self):
        self.journal_daemon()
        c = self.client()
        c.call("queue.put_many", ["jobs", [1, 2, 3], 0])
        c.call("buf.update", ["stats", {"a": 1, "b": 2}])
        w = self.client()
        self.assertEqual(w.call("queue.get", ["jobs", 0]), 1)   # a lease, open at the kill
        self.kill()

    def test_renamed_section_refuses_to_start_naming_what_it_holds(self):
        self.fill_then_kill()
        before = read_bytes(self.d.journal)
        self.d.write_config(RENAMED)
        lines = self.assertRefusesToStart("a journal holding a queue the configuration renamed")
        self.assertTrue([l for l in lines if "queue jobs (3 items) is in the journal but not in the configuration" in l],
                        "\n".join(lines))
        self.assertTrue([l for l in lines if "buf stats (2 keys) is in the journal" in l], "\n".join(lines))
        self.assertTrue([l for l in lines if "--drop-unconfigured" in l and "queue jobs (3 items)" in l],
                        "\n".join(lines))
        self.assertEqual(read_bytes(self.d.journal), before, "a refused start changed the journal")
        # the name back: nothing was lost
        self.d.write_config(JOBS)
        self.start_with()
        c = self.client()
        self.assertEqual(self.queue_contents(c, "jobs", raw=False), [1, 2, 3])
        self.assertEqual(c.call("buf.items", ["stats"]), {"a": 1, "b": 2})

    def test_drop_unconfigured_drops_them_with_a_log_line(self):
        self.fill_then_kill()
        self.d.write_config(RENAMED)
        self.start_with("--drop-unconfigured")
        self.assertEqual(len(self.lines_matching(
            r"dropping queue jobs \(3 items\): not in the configuration \(--drop-unconfigured\)")), 1,
            self.d.log_tail())
        self.assertEqual(len(self.lines_matching(r"dropping buf stats \(2 keys\)")), 1)
        self.kill()
        self.start_with()                    # the drop is recorded: no refusal now
        self.d.write_config(JOBS)
        self.clean_restart()
        c = self.client()
        self.assertEqual(c.call("queue.qsize", ["jobs"]), 0)
        self.assertEqual(c.call("buf.items", ["stats"]), {})

    def test_objects_whose_records_add_up_to_nothing_go_silently(self):
        self.journal_daemon()
        c = self.client()
        c.call("queue.put_many", ["jobs", [1, 2], 0])
        self.assertEqual(c.call("queue.get_many", ["jobs", 2, 0]), [1, 2])
        c.call("queue.task_done", ["jobs", 2])
        c.call("buf.update", ["stats", {"a": 1}])
        c.call("buf.clear", ["stats"])
        self.kill()
        self.d.write_config(RENAMED)
        self.start_with()
        self.assertEqual(self.lines_matching(r"not in the configuration"), [])

    def test_sighup_keeps_a_non_empty_unlisted_object_also_through_a_journal_reload(self):
        self.journal_daemon()
        c = self.client()
        c.call("queue.put_many", ["jobs", [1, 2, 3], 0])
        mark = self.d.mark()
        self.d.reload(JOBS.replace("[queue jobs]\nmaxsize = 0\nredeliver = on\n", "")
                      .replace("[queue other]\n", ""))
        self.d.wait_log(r"jobs is no longer configured but is not empty; kept", since=mark)
        self.d.wait_log(r"removed other", since=mark)
        self.assertEqual(c.call("queue.qsize", ["jobs"]), 3)
        c.expect_error(ENOENT, "queue.qsize", ["other"])
        # a journal write fails: the daemon rebuilds its state from the journal
        mark = self.d.mark()
        set_fsize(self.d.pid, os.path.getsize(self.d.journal) + 3)
        try:
            c.call("buf.incr", ["stats", "n", 1])
            self.fail("a change was acknowledged though its journal write failed")
        except (ConnectionClosed, RPCError):
            pass
        self.d.wait_log(r"reloading the last recorded state", since=mark)
        c = self.client()
        self.assertEqual(c.call("queue.qsize", ["jobs"]), 3, "the reload from the journal dropped jobs")
        set_fsize(self.d.pid, UNLIMITED)
        self.d.wait_log(r"recovered", since=mark, timeout=30 * SCALE)
        c.call("queue.put", ["jobs", 4, 0])
        self.assertEqual(self.queue_contents(c, "jobs", raw=False), [1, 2, 3, 4])


class NotifyCounter:
    """The test's NOTIFY_SOCKET: counts STATUS= datagrams (one per tick of
    the daemon), read by a thread so the daemon's sendto never blocks."""

    def __init__(self, test):
        tmp = tempfile.mkdtemp(prefix="qmgr-notify-")
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.cv = threading.Condition()
        self.ticks = 0
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()
        test.addCleanup(self.close, tmp)

    def _read(self):
        while True:
            try:
                msg = self.sock.recv(4096)
            except OSError:
                return
            with self.cv:
                self.ticks += msg.startswith(b"STATUS=")
                self.cv.notify_all()

    def wait_ticks(self, n, timeout):
        with self.cv:
            target = self.ticks + n
            if not self.cv.wait_for(lambda: self.ticks >= target, timeout):
                raise AssertionError("fewer than %d ticks of the daemon in %.0fs" % (n, timeout))

    def close(self, tmp):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(tmp)


def one_byte_items(n):
    return Raw(array_header(n) + b"\x00" * n)


class TestCompactionTrigger(SafetyTest):
    OBJECTS = "[queue q]\nmaxsize = 0\n"

    def compacting(self):
        return self.lines_matching(r"compacting \d+ bytes")

    def test_idle_daemon_with_small_items_compacts_at_most_once(self):
        """6 M one-byte items: past the default 64 MiB minimum, and a
        snapshot of them is as big as the journal, 13 times the payload."""
        ticks = NotifyCounter(self)
        self.journal_daemon(fsync="no", env={"NOTIFY_SOCKET": ticks.path})
        c = self.client()
        for _ in range(30):
            self.assertEqual(c.call("queue.put_many", ["q", one_byte_items(200000), 0]), 200000)
        self.assertGreater(os.path.getsize(self.d.journal), 64 << 20)
        ticks.wait_ticks(8, 60 * SCALE)     # the daemon idle for 8 ticks
        self.assertLessEqual(len(self.compacting()), 1,
                             "an idle daemon kept compacting:\n%s" % "\n".join(self.compacting()))
        self.assertEqual(c.call("queue.qsize", ["q"]), 6000000)

    def test_next_compaction_when_grown_to_twice_the_last_snapshot(self):
        ticks = NotifyCounter(self)
        self.journal_daemon(fsync="no", journal_compact_min="256K", env={"NOTIFY_SOCKET": ticks.path})
        c = self.client()
        c.call("queue.put_many", ["q", one_byte_items(40000), 0])      # about 520 KB
        m = self.d.wait_log(r"compacted to (\d+) bytes", timeout=30 * SCALE)
        snapshot = int(m.group(1))
        self.assertEqual(len(self.compacting()), 1)
        ticks.wait_ticks(3, 30 * SCALE)
        self.assertEqual(len(self.compacting()), 1, "compacted again with no growth")
        batch = 5000
        while os.path.getsize(self.d.journal) <= 2 * snapshot:
            self.assertEqual(len(self.compacting()), 1, "compacted again before twice the snapshot")
            c.call("queue.put_many", ["q", one_byte_items(batch), 0])
        m = self.d.wait_log(r"compacting (\d+) bytes", since=self.d.mark() - 1, timeout=30 * SCALE)
        started = [int(re.search(r"compacting (\d+)", l).group(1)) for l in self.compacting()]
        self.assertEqual(len(started), 2)
        self.assertGreater(started[1], 2 * snapshot)
        self.assertLessEqual(started[1], 2 * snapshot + 13 * batch + 64)


class TestFullDiskAtStart(SafetyTest):
    """The journal holds a buf set with buf.update: one record per update, so
    a snapshot (one record per key) is much bigger than the journal."""

    KEYS = 40000

    def fill_then_kill(self):
        self.journal_daemon()
        c = self.client()
        for n in range(0, self.KEYS, 4000):
            c.call("buf.update", ["b", {"key%05d" % i: 1 for i in range(n, n + 4000)}])
        c.call("queue.put_many", ["rq", list(range(10)), 0])
        self.w = self.client()
        self.assertEqual(self.w.call("queue.get_many", ["rq", 2, 0]), [0, 1])   # open at the kill
        self.w_id = client_row(c, self.w)["id"]
        self.kill()
        journal = os.path.getsize(self.d.journal)
        snapshot_at_least = sum(8 + len(packb([JR_BUF_SET, "b", "key%05d" % i, 1])) for i in range(self.KEYS))
        self.assertGreater(snapshot_at_least, journal + (256 << 10), "the test's journal is not small enough")
        return journal

    def restart_limited(self, limit):
        self.d.fsize = limit
        self.start_with()
        self.d.fsize = None
        self.assertEqual(len(self.lines_matching(r"starting on the journal as it is")), 1, self.d.log_tail())

    def check_after_unlimited_restart(self, want_rq):
        self.kill()
        self.start_with()
        self.assertEqual(self.lines_matching(r"cutting|intact records|not in the configuration"), [])
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), want_rq)
        self.assertEqual(c.call("buf.len", ["b"]), self.KEYS)

    def test_starts_when_the_snapshot_does_not_fit_and_records_the_returned_leases(self):
        journal = self.fill_then_kill()
        self.restart_limited(journal + (64 << 10))
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), list(range(10)))
        self.assertEqual(c.call("queue.stat", ["rq"])["redelivered"], 2)
        w2 = self.client()
        self.assertGreater(client_row(c, w2)["id"], self.w_id, "a connection id of this run names an owner of the last")
        self.assertEqual(w2.call("queue.get", ["rq", 0]), 0)
        w2.call("queue.task_done", ["rq", 1])                   # settles 0
        w3 = self.client()
        self.assertEqual(w3.call("queue.get_many", ["rq", 2, 0]), [1, 2])   # open at the next kill
        c.call("queue.put", ["rq", "new", 0])
        self.check_after_unlimited_restart(list(range(1, 10)) + ["new"])

    def test_no_room_even_to_append_refuses_changes_then_recovers_with_less_than_a_copy(self):
        journal = self.fill_then_kill()
        self.restart_limited(journal)
        self.d.wait_log(r"journal .*write failed")
        c = self.client()
        self.assertEqual(self.queue_contents(c, "rq", raw=False), list(range(10)))
        self.assertIn("journal", c.expect_error(ENOMEM, "queue.put", ["rq", "refused", 0]))
        mark = self.d.mark()
        set_fsize(self.d.pid, journal + (256 << 10))            # room, but not for a second copy
        self.d.wait_log(r"recovered; accepting changes again", since=mark, timeout=30 * SCALE)
        self.assertEqual(self.lines_matching(r"rewrote "), [])
        c.call("queue.put", ["rq", "new", 0])
        w = self.client()
        self.assertEqual(w.call("queue.get", ["rq", 0]), 0)      # open at the next kill
        self.check_after_unlimited_restart(list(range(10)) + ["new"])


class TestOwnerIds(SafetyTest):
    def test_new_connections_have_ids_above_the_owners_in_the_journal(self):
        self.journal_daemon()
        c = self.client()
        c.call("queue.put_many", ["rq", [1, 2, 3], 0])
        others = [self.client() for _ in range(5)]
        self.assertEqual(others[-1].call("queue.get", ["rq", 0]), 1)   # owner: its connection
        owner = client_row(c, others[-1])["id"]
        self.kill()
        self.start_with()
        c = self.client()
        self.assertGreater(client_row(c, c)["id"], owner)


class TestCompactionChild(SafetyTest):
    """A compaction of 50 MiB of live data, its child stopped with SIGSTOP
    as soon as it is logged: it stands for a child slow to write."""

    ITEM_SIZE = 256 * 1024

    def item(self, n):
        return packb(n.to_bytes(4, "big") * (self.ITEM_SIZE // 4))

    def test_child_holds_no_socket_so_a_closed_client_sees_eof(self):
        self.journal_daemon(fsync="no", max_item="1M", max_message="8M", handshake_timeout="120s")
        c = self.client()
        for i in range(200):
            c.call("queue.put", ["q", Raw(self.item(i)), 0])
        victim = self.raw()
        challenge = victim.read_challenge()                     # connected before the fork
        mark = self.d.mark()
        n = 200
        child = None
        for _ in range(2000):
            m = [re.search(r"compacting \d+ bytes in process (\d+)", l) for l in self.d.log_since(mark)]
            m = [x for x in m if x]
            if m:
                child = int(m[0].group(1))
                break
            c.call("queue.put", ["q", Raw(self.item(n)), 0])
            c.call("queue.get", ["q", 0], raw=True)
            n += 1
        self.assertIsNotNone(child, "no compaction started")
        try:
            os.kill(child, signal.SIGSTOP)
        except ProcessLookupError:
            self.skipTest("the compaction child ended before it could be stopped")
        self.addCleanup(lambda: os.path.exists("/proc/%d" % child) and os.kill(child, signal.SIGCONT))
        fds = {}
        for fd in os.listdir("/proc/%d/fd" % child):
            try:
                fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (child, fd))
            except OSError:
                pass
        if not fds:
            self.skipTest("the compaction child ended before it could be stopped")
        sockets = {fd: t for fd, t in fds.items() if t.startswith("socket:")}
        self.assertEqual(sockets, {}, "the compaction child holds sockets: %r" % fds)
        # a wrong answer: the daemon sends #FAILURE# and closes
        victim.send_frame(SHA256_PREFIX + b"\x00" * 32)
        got = victim.expect_closed(timeout=5 * SCALE)
        self.assertIn(FAILURE, got)
        self.assertTrue(challenge)
        os.kill(child, signal.SIGCONT)
        self.d.wait_log(r"compacted to \d+ bytes|compaction failed", since=mark, timeout=60 * SCALE)


if __name__ == "__main__":
    unittest.main()
