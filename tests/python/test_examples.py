"""Runs the example programs in python/examples, each twice in a row in each of its two ways.

By default an example starts its own store with shmstore.serve() (shmstored from $SHMSTORED,
passed through); it runs with no $SHMSTORE_SOCKET, so its workers can only have found the store
through serve(). With --connect it uses a running daemon: setUpModule starts the daemon named by
$SHMSTORED on a temporary socket with 512 MiB and points $SHMSTORE_SOCKET at it; tearDownModule
stops it with SIGTERM and checks it exits 0. Each run is a subprocess with a small --size
(PYTHONPATH is passed through, so the built package must be on it); the test checks its exit
status and result line, and after a --connect run that the store holds no objects and no pins:
the example cleaned up, so a second run cannot meet the first one's names.

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
        """Runs script twice with its own store and twice with --connect."""
        path = os.path.join(EXAMPLES, script)
        own_store = {k: v for k, v in os.environ.items() if k != "SHMSTORE_SOCKET"}
        running = dict(os.environ, SHMSTORE_SOCKET=SOCK)  # PYTHONPATH passes through
        for env, extra in ((own_store, ()), (own_store, ()), (running, ("--connect",)),
                           (running, ("--connect",))):
            with self.subTest(connect=bool(extra)):
                proc = subprocess.run([sys.executable, path, *args, *extra], env=env,
                                      capture_output=True, text=True, timeout=120)
                msg = "stdout:\n%s\nstderr:\n%s" % (proc.stdout, proc.stderr)
                self.assertEqual(proc.returncode, 0, msg)
                self.assertRegex(proc.stdout, expect, msg)
                self.assert_store_clean()

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
                         expect=r"predictions match, weights zero-copy: yes OK\n")

    def test_pipeline_wait_by_name(self):
        self.run_example("pipeline_wait_by_name.py", "--size", "10000", "--jobs", "6",
                         "--workers", "2", "--delay", "0.02",
                         expect=r"6 jobs of 10000 float64 through 2 waiting workers .*: OK\n")


if __name__ == "__main__":
    unittest.main()
