"""The installed libqmgr-client: `cmake --install` the client component into a
temporary prefix, build a tiny producer/worker against it through pkg-config
and through find_package(qmgr), and run it against a real qmgrd.

$QMGR_BUILD_DIR is the build tree, $QMGR_CMAKE the cmake binary, $CC the
compiler, $QMGRD the daemon; $QMGR_SANITIZE_FLAGS, when the library was built
with sanitizers, the flags a program linking it needs too."""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from qmgrtest import DaemonTest

TINY_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <qmgr.h>

/* Puts one item, gets it back, counts it in the buf: the README's example. */
int main(void)
{
    qmgr_conn *c;
    qmgr_queue *q;
    qmgr_buf *b;
    qmgr_items got;
    int rc = qmgr_connect_env(&c);
    if (rc != QMGR_OK) {
        fprintf(stderr, "connect: %s\n", qmgr_strerror(rc));
        return 1;
    }
    if (qmgr_queue_open_accessor(c, "get_line_queue", &q) || qmgr_buf_open(c, "flow_buf", &b))
        return 2;
    if (qmgr_queue_put(q, "installed", 9, QMGR_FOREVER) || qmgr_queue_get(q, 1.0, &got))
        return 3;
    int same = got.count == 1 && got.item[0].len == 9 && memcmp(got.item[0].data, "installed", 9) == 0;
    qmgr_items_free(&got);
    qmgr_number n;
    if (!same || qmgr_queue_task_done(q, 1) || qmgr_buf_incr(b, "runs", 1, &n))
        return 4;
    printf("ok %lld\n", (long long)n.i);
    qmgr_queue_close(q);
    qmgr_buf_close(b);
    qmgr_close(c);
    return 0;
}
"""

TINY_CMAKE = """
cmake_minimum_required(VERSION 3.16)
project(tiny C)
find_package(qmgr 0.1 REQUIRED)
add_executable(tiny_shared tiny.c)
target_link_libraries(tiny_shared PRIVATE qmgr::client)
add_executable(tiny_static tiny.c)
target_link_libraries(tiny_static PRIVATE qmgr::client_static)
"""

OBJECTS = """
[queue line_queue]
maxsize = 200

[buf flow_buf]
"""


SANITIZE_FLAGS = os.environ.get("QMGR_SANITIZE_FLAGS", "").split()


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("%s is not set" % name)
    return value


class TestInstalledClient(DaemonTest):
    OBJECTS = OBJECTS

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qmgr-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.cmake = env_path("QMGR_CMAKE")
        subprocess.run([cls.cmake, "--install", env_path("QMGR_BUILD_DIR"), "--prefix", cls.prefix,
                        "--component", "client"], check=True, capture_output=True)
        with open(os.path.join(cls.tmp, "tiny.c"), "w") as f:
            f.write(TINY_PROGRAM)
        with open(os.path.join(cls.tmp, "CMakeLists.txt"), "w") as f:
            f.write(TINY_CMAKE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def installed(self, pattern):
        found = glob.glob(os.path.join(self.prefix, pattern))
        self.assertTrue(found, "nothing installed matches %s" % pattern)
        return found[0]

    def run_tiny(self, program, extra_env=None):
        env = dict(os.environ, QMGR_ADDR="127.0.0.1:%d" % self.d.port,
                   QMGR_AUTHKEY_FILE=self.d.keyfile)
        env.update(extra_env or {})
        r = subprocess.run([program], capture_output=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout.decode(), r"^ok \d+\n$")

    def test_files_are_installed(self):
        self.installed("include/qmgr.h")
        self.installed("lib*/libqmgr-client.so.0")
        self.installed("lib*/libqmgr-client.a")
        self.installed("lib*/pkgconfig/qmgr-client.pc")
        self.installed("lib*/cmake/qmgr/qmgrConfig.cmake")
        self.installed("lib*/cmake/qmgr/qmgrConfigVersion.cmake")
        self.installed("bin/qmgrctl")

    def test_header_stands_alone(self):
        with open(self.installed("include/qmgr.h")) as f:
            includes = [l for l in f if l.startswith("#include")]
        self.assertEqual(sorted(includes), ["#include <stddef.h>\n", "#include <stdint.h>\n"])

    def test_only_qmgr_symbols_are_exported(self):
        lib = self.installed("lib*/libqmgr-client.so.0")
        out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True,
                             check=True).stdout.decode()
        names = [line.split()[-1] for line in out.splitlines() if line.split()]
        exported = [n for n in names if not n.startswith("QMGR_")]  # the version node
        self.assertTrue(exported)
        self.assertEqual([n for n in exported if not n.startswith("qmgr_")], [])

    def test_static_library_defines_only_qmgr_names(self):
        """A static link must not collide with a user's names (log_*, bytes_*, mp_*)."""
        lib = self.installed("lib*/libqmgr-client.a")
        out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True,
                             check=True).stdout.decode()
        names = [line.split()[-1] for line in out.splitlines() if len(line.split()) == 3]
        self.assertIn("qmgr_open", names)
        self.assertEqual([n for n in names if not n.startswith("qmgr_")], [])

    def test_pkg_config(self):
        libdir = os.path.dirname(self.installed("lib*/libqmgr-client.so.0"))
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "qmgr-client"], env=env,
                               capture_output=True, check=True).stdout.decode().split()
        self.assertIn("-lqmgr-client", flags)
        program = os.path.join(self.tmp, "tiny_pkgconfig")
        cc = os.environ.get("CC") or "cc"
        subprocess.run([cc] + SANITIZE_FLAGS + [os.path.join(self.tmp, "tiny.c"), "-o", program]
                       + flags, check=True, capture_output=True)
        self.run_tiny(program, {"LD_LIBRARY_PATH": libdir})

    def test_find_package(self):
        build = os.path.join(self.tmp, "build")
        subprocess.run([self.cmake, "-S", self.tmp, "-B", build,
                        "-DCMAKE_PREFIX_PATH=%s" % self.prefix,
                        "-DCMAKE_C_FLAGS=%s" % " ".join(SANITIZE_FLAGS)], check=True, capture_output=True)
        subprocess.run([self.cmake, "--build", build], check=True, capture_output=True)
        self.run_tiny(os.path.join(build, "tiny_shared"))
        self.run_tiny(os.path.join(build, "tiny_static"))


if __name__ == "__main__":
    unittest.main()
