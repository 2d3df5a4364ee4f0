"""The system service: sd_notify from a real qmgrd, and the unit file's lint.

READY=1 must arrive only once the port accepts connections; RELOADING=1 and
READY=1 frame a SIGHUP reload; STOPPING=1 comes on SIGTERM, and the daemon
exits 0. The notify socket is the test's own AF_UNIX datagram socket.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from qmgrtest import (CALL_TIMEOUT, LISTEN_RE, STOP_TIMEOUT, Client, daemon_env,
                      qmgrd_path)


class NotifyListener:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path

    def next_message(self, timeout=CALL_TIMEOUT):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def wait_for(self, field, timeout=CALL_TIMEOUT):
        """Reads datagrams until one has the line `field`; returns all lines seen."""
        seen = []
        while True:
            lines = self.next_message(timeout).splitlines()
            seen.extend(lines)
            if field in lines:
                return seen

    def close(self):
        self.sock.close()


class TestNotify(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qmgr-notify-")
        self.key = b"notify-test-key"
        keyfile = os.path.join(self.tmp, "key")
        with open(keyfile, "wb") as f:
            f.write(self.key)
        self.conf = os.path.join(self.tmp, "qmgrd.conf")
        with open(self.conf, "w") as f:
            f.write("[qmgrd]\nlisten = 127.0.0.1:0\nstate_dir = %s\nauthkey_file = %s\n"
                    "[queue q]\n" % (self.tmp, keyfile))
        self.notify = NotifyListener(os.path.join(self.tmp, "notify.sock"))
        env = daemon_env({"NOTIFY_SOCKET": self.notify.path})
        self.proc = subprocess.Popen([qmgrd_path(), "-c", self.conf], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        self.notify.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_port(self):
        for line in self.proc.stderr:
            m = LISTEN_RE.search(line)
            if m:
                return int(m.group(1))
        self.fail("qmgrd exited before listening")

    def test_ready_only_once_listening_then_reloading_and_stopping(self):
        self.notify.wait_for("READY=1")
        # READY=1 has arrived: the port must take a connection right now.
        port = self.read_port()
        with Client(port, key=self.key) as c:
            self.assertEqual(c.call("ping"), "pong")

            with open(self.conf, "a") as f:
                f.write("[buf added]\n")
            self.proc.send_signal(signal.SIGHUP)
            seen = self.notify.wait_for("READY=1")
            self.assertIn("RELOADING=1", seen)
            self.assertLess(seen.index("RELOADING=1"), seen.index("READY=1"))
            self.assertEqual(c.call("lookup", ["added"])["type"], "buf")

        self.proc.send_signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING=1")
        self.assertEqual(self.proc.wait(STOP_TIMEOUT), 0)

    def test_status_reports_connections(self):
        self.notify.wait_for("READY=1")
        seen = []
        while not any(l.startswith("STATUS=") for l in seen):
            seen.extend(self.notify.next_message().splitlines())
        status = next(l for l in seen if l.startswith("STATUS="))
        self.assertRegex(status, r"^STATUS=\d+ connections")


class TestUnitFile(unittest.TestCase):
    def test_systemd_analyze_verify_is_silent(self):
        analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(analyze, "systemd-analyze is needed (Debian package systemd)")
        tmp = tempfile.mkdtemp(prefix="qmgr-unit-")
        try:
            unit = os.path.join(tmp, "qmgrd.service")
            with open(os.environ["QMGR_UNIT_FILE"]) as f:
                text = f.read()
            # ExecStart must name a file that exists: the binary under test.
            lines = []
            for line in text.splitlines():
                if line.startswith("ExecStart="):
                    args = line.split(" ", 1)[1:]
                    line = " ".join(["ExecStart=" + qmgrd_path()] + args)
                lines.append(line)
            with open(unit, "w") as f:
                f.write("\n".join(lines) + "\n")
            out = subprocess.run([analyze, "verify", "--man=no", unit], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(out.stdout + out.stderr, "", "systemd-analyze verify complained")
            self.assertEqual(out.returncode, 0)
            for needed in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                           "Restart=on-failure", "DynamicUser=yes", "StateDirectory=qmgr",
                           "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                           "PrivateTmp=yes", "MemoryDenyWriteExecute=yes",
                           "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                           "LimitNOFILE="):
                self.assertIn(needed, text)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
