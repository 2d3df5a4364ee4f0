"""The key file's permissions, as qmgrd and qmgrctl judge them at start: any
group or other bit gets a warning naming the fix (as OpenSSH does for a
private key), a file others can write is refused (qmgrd exits 1, qmgrctl
fails to authenticate). $QMGRD is the daemon, $QMGRCTL the client."""

import os
import re
import subprocess
import unittest

import qmgrtest
from qmgrtest import Daemon

EXIT_CONNECT = 3
KEY_LOG = re.compile(r" (WARNING|ERROR) authkey: ")


class KeyFileTest(unittest.TestCase):
    def daemon(self, mode):
        """A daemon whose key file has mode, not yet started."""
        d = Daemon(start=False)
        self.addCleanup(d.cleanup)
        os.chmod(d.keyfile, mode)
        return d

    def key_lines(self, d):
        return [line for line in d.log_since() if KEY_LOG.search(line)]

    def assertServes(self, d):
        with d.client() as c:
            self.assertEqual(c.ping(), "pong")

    def assertWarnsAndServes(self, mode):
        d = self.daemon(mode).start()
        path = re.escape(d.keyfile)
        d.wait_log(r" WARNING authkey: %s: permissions %04o are too open: .*"
                   r"\(fix: chmod 600 %s\)$" % (path, mode, path))
        self.assertServes(d)
        self.assertEqual(d.stop(), 0)

    def assertRefused(self, mode):
        d = self.daemon(mode)
        with self.assertRaises(AssertionError):  # no "listening on" line
            d.start()
        self.assertEqual(d.wait_exit(), 1, d.log_tail())
        path = re.escape(d.keyfile)
        d.wait_log(r" ERROR authkey: %s: permissions %04o let others write the authkey, .*"
                   r"refused \(fix: chmod 600 %s\)$" % (path, mode, path))
        self.assertFalse(any(qmgrtest.LISTEN_RE.search(line) for line in d.log_since()))

    def test_private_key_starts_quietly(self):
        for mode in (0o600, 0o400):
            with self.subTest(mode="%04o" % mode):
                d = self.daemon(mode).start()
                self.assertServes(d)
                self.assertEqual(d.stop(), 0)
                self.assertEqual(self.key_lines(d), [])

    def test_group_readable_warns_and_serves(self):
        self.assertWarnsAndServes(0o640)

    def test_world_readable_warns_and_serves(self):
        self.assertWarnsAndServes(0o644)

    def test_group_writable_warns_but_is_not_refused(self):
        self.assertWarnsAndServes(0o660)

    def test_others_writable_refused(self):
        for mode in (0o666, 0o602, 0o646):
            with self.subTest(mode="%04o" % mode):
                self.assertRefused(mode)

    def test_created_key_starts_quietly(self):
        d = self.daemon(0o600)
        os.unlink(d.keyfile)
        d.start()
        d.wait_log(r"created a new random authkey in %s" % re.escape(d.keyfile))
        self.assertEqual(os.stat(d.keyfile).st_mode & 0o7777, 0o600)
        with open(d.keyfile, "rb") as f:
            d.key = f.read().rstrip(b"\n")
        self.assertServes(d)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.key_lines(d), [])

    @unittest.skipUnless(os.geteuid() == 0, "only root can give the key file away")
    def test_foreign_owner_warns(self):
        d = self.daemon(0o600)
        os.chown(d.keyfile, 65534, -1)
        d.start()
        d.wait_log(r" WARNING authkey: %s: the authkey is owned by uid 65534, neither this "
                   r"process's uid 0 nor root" % re.escape(d.keyfile))
        self.assertServes(d)
        self.assertEqual(d.stop(), 0)


class ClientKeyFileTest(unittest.TestCase):
    """qmgrctl reads the key through the client library: the same refusal, no warning."""

    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)

    def ctl(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QMGR_")}
        argv = [qmgrtest.binary_from_env("QMGRCTL", "qmgrctl"),
                "-a", "127.0.0.1:%d" % self.d.port, "-k", self.d.keyfile] + list(args)
        return subprocess.run(argv, capture_output=True, env=env, timeout=60 * qmgrtest.SCALE)

    def test_open_key_used_quietly(self):
        os.chmod(self.d.keyfile, 0o640)
        r = self.ctl("status")
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn(b"permissions", r.stderr)

    def test_others_writable_key_refused(self):
        os.chmod(self.d.keyfile, 0o666)
        r = self.ctl("status")
        self.assertEqual(r.returncode, EXIT_CONNECT, r)
        err = r.stderr.decode()
        self.assertIn("EAUTH", err)
        self.assertIn("%s: permissions 0666 let others write the authkey" % self.d.keyfile, err)
        self.assertIn("chmod 600 %s" % self.d.keyfile, err)
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
