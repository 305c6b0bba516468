"""Runs the example programs in python/examples against a real shmstored.

setUpModule starts the daemon named by $SHMSTORED on a temporary socket with 512 MiB and sets
$SHMSTORE_SOCKET, which the examples (shmstore.connect()) pick up; tearDownModule stops it with
SIGTERM and checks it exits 0. Each test runs one example as a subprocess with a small --size
(PYTHONPATH is passed through, so the built package must be on it), checks its exit status and
result line, and then that the store holds no objects and no pins: the example cleaned up.

    SHMSTORED=$PWD/build/daemon/shmstored PYTHONPATH=$PWD/build/python \\
        python3 tests/python/test_examples.py -v
"""

import os
import subprocess
import sys
import time
import unittest

import shmstore
from daemon_fixture import Daemon

EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "python", "examples"))
SOCK = None
DAEMON = None
OLD_SOCKET_ENV = None


def setUpModule():
    global SOCK, DAEMON, OLD_SOCKET_ENV
    DAEMON = Daemon("512M", prefix="shmstore-examples-")
    SOCK = DAEMON.socket
    OLD_SOCKET_ENV = os.environ.get("SHMSTORE_SOCKET")
    os.environ["SHMSTORE_SOCKET"] = SOCK  # inherited by the example subprocesses


def tearDownModule():
    if DAEMON is None:
        return
    if OLD_SOCKET_ENV is None:
        os.environ.pop("SHMSTORE_SOCKET", None)
    else:
        os.environ["SHMSTORE_SOCKET"] = OLD_SOCKET_ENV
    rc = DAEMON.stop()
    assert rc == 0, "shmstored exited with %r" % rc


class TestExamples(unittest.TestCase):
    def setUp(self):
        self.c = shmstore.connect(SOCK)
        self.assertEqual(self.c.list(), [], "store not empty before the example")

    def tearDown(self):
        self.c.close()

    def run_example(self, script, *args, expect):
        path = os.path.join(EXAMPLES, script)
        env = dict(os.environ, SHMSTORE_SOCKET=SOCK)  # PYTHONPATH passes through
        proc = subprocess.run([sys.executable, path, *args], env=env, capture_output=True,
                              text=True, timeout=120)
        msg = "stdout:\n%s\nstderr:\n%s" % (proc.stdout, proc.stderr)
        self.assertEqual(proc.returncode, 0, msg)
        self.assertRegex(proc.stdout, expect, msg)
        self.assert_store_clean()
        return proc.stdout

    def assert_store_clean(self):
        self.assertEqual(self.c.list(), [], "the example left objects behind")
        # Pins of exited processes are released asynchronously: poll for up to 1 s.
        deadline = time.monotonic() + 1.0
        while True:
            info = self.c.info()
            if (info["objects"], info["pins"], info["deleted_pinned"]) == (0, 0, 0) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(info["objects"], 0)
        self.assertEqual(info["pins"], 0)
        self.assertEqual(info["deleted_pinned"], 0)
        self.assertEqual(info["unsealed_objects"], 0)

    def test_pool_shared_array(self):
        self.run_example("pool_shared_array.py", "--size", "100000", "--workers", "2",
                         expect=r"sum of 100000 float64 over 16 slices by 2 workers: .* OK\n")

    def test_pool_object_with_arrays(self):
        self.run_example("pool_object_with_arrays.py", "--size", "64", "--workers", "2",
                         expect=r"predictions match, arrays zero-copy: yes OK\n")

    def test_pipeline_wait_by_name(self):
        self.run_example("pipeline_wait_by_name.py", "--size", "10000", "--jobs", "6",
                         "--workers", "2", "--delay", "0.02",
                         expect=r"6 jobs of 10000 float64 through 2 waiting workers .*: OK\n")


if __name__ == "__main__":
    unittest.main()
