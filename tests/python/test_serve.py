"""shmstore.serve() and `python -m shmstore serve`: a private shmstored started from Python.

Every test starts its own daemons through serve() (shmstored from $SHMSTORED, as the meson test
sets it) and checks what is left afterwards: the daemon's process, its socket, its directory,
$SHMSTORE_SOCKET. The orphan tests run a parent in a subprocess, SIGKILL it, and wait (up to
10 s, polling) for its daemon to exit through the lifeline pipe. Worker functions live at
module level so spawn children can import them.
"""

import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import numpy as np

import shmstore

SERVE_THEN_HANG = r"""
import os, sys, time, shmstore
store = shmstore.serve(memory="16M")
if sys.argv[1] == "fork-a-worker":
    # A forked child that outlives its parent, as a Pool worker may: it must not keep the
    # store alive. It lingers 5 s after its parent's death, then goes.
    parent = os.getpid()
    if os.fork() == 0:
        while os.getppid() == parent:
            time.sleep(0.05)
        time.sleep(5)
        os._exit(0)
print(store.pid, store.socket, flush=True)
time.sleep(600)
"""


def process_gone(pid):
    """True once pid has exited (a zombie not yet reaped by its new parent counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pid, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def checksum_no_arguments(_):
    """Pool worker: connect() with no arguments must find the store serve() started."""
    with shmstore.connect() as client:
        a = client.get("shared")
        return zlib.crc32(a.tobytes()), os.environ.get("SHMSTORE_SOCKET")


class TestServe(unittest.TestCase):
    def setUp(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")
        self.old_env = os.environ.get("SHMSTORE_SOCKET")

    def tearDown(self):
        self.assertEqual(os.environ.get("SHMSTORE_SOCKET"), self.old_env,
                         "SHMSTORE_SOCKET not restored")

    def assert_all_gone(self, pid, socket):
        self.assertTrue(wait_gone(pid), "daemon %d still running" % pid)
        self.assertFalse(os.path.exists(socket), "socket left behind")

    def test_block_starts_and_frees_everything(self):
        with shmstore.serve(memory="32M") as store:
            pid, socket = store.pid, store.socket
            self.assertTrue(store.running)
            self.assertFalse(process_gone(pid))
            directory = os.path.dirname(socket)
            self.assertEqual(stat.S_IMODE(os.stat(directory).st_mode), 0o700)
            self.assertEqual(os.stat(directory).st_uid, os.getuid())
            self.assertEqual(os.environ["SHMSTORE_SOCKET"], socket)
            with store.connect() as client:
                self.assertEqual(client.info()["capacity_bytes"], 32 << 20)
                self.assertEqual(client.info()["objects"], 0)  # fresh
                client.put("x", b"hello")
            with shmstore.connect() as client:  # no argument: the served store
                self.assertEqual(bytes(client.get("x")), b"hello")
                kept = client.get("x")
        self.assertFalse(store.running)
        self.assert_all_gone(pid, socket)
        self.assertFalse(os.path.exists(directory), "private directory left behind")
        self.assertEqual(bytes(kept), b"hello")  # a got value outlives the store
        store.stop()  # again: nothing to do

    def test_stop_on_exception(self):
        with self.assertRaises(ZeroDivisionError):
            with shmstore.serve(memory="16M") as store:
                pid, socket = store.pid, store.socket
                1 / 0
        self.assert_all_gone(pid, socket)

    def test_pools_find_it_without_arguments(self):
        a = np.random.default_rng(3).integers(0, 1 << 30, size=(512, 512), dtype=np.int64)
        with shmstore.serve(memory="64M") as store:
            with store.connect() as client:
                client.put("shared", a)
            for method in ("fork", "spawn"):
                with self.subTest(method=method):
                    with multiprocessing.get_context(method).Pool(2) as pool:
                        results = pool.map(checksum_no_arguments, range(4))
                    self.assertEqual(results, [(zlib.crc32(a.tobytes()), store.socket)] * 4)
            pid, socket = store.pid, store.socket
        self.assert_all_gone(pid, socket)

    def test_sigkill_after_the_grace_period(self):
        """A daemon that does not stop on SIGTERM (here: stopped with SIGSTOP) is killed once
        the grace period is over."""
        store = shmstore.serve(memory="16M", grace=0.5)
        os.kill(store.pid, signal.SIGSTOP)
        start = time.monotonic()
        store.stop()
        print("\nstop() of a daemon deaf to SIGTERM took %.2f s (grace 0.5 s)"
              % (time.monotonic() - start), file=sys.stderr)
        self.assertEqual(store._proc.returncode, -signal.SIGKILL)
        self.assertTrue(wait_gone(store.pid))
        self.assertFalse(os.path.exists(os.path.dirname(store.socket)))

    def test_nested_stores_restore_the_environment(self):
        with shmstore.serve(memory="16M") as outer:
            with shmstore.serve(memory="16M") as inner:
                self.assertNotEqual(inner.socket, outer.socket)
                self.assertEqual(os.environ["SHMSTORE_SOCKET"], inner.socket)
            self.assertEqual(os.environ["SHMSTORE_SOCKET"], outer.socket)
            self.assertTrue(outer.running)

    def test_given_socket(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "mine.sock")
            with shmstore.serve(memory="16M", socket=path) as store:
                self.assertEqual(store.socket, path)
                shmstore.connect(path).close()
                with self.assertRaises(shmstore.StartFailed) as cm:
                    shmstore.serve(memory="16M", socket=path)  # taken: refused, not hijacked
                self.assertIn("already serves", str(cm.exception))
                self.assertTrue(store.running)
            self.assertFalse(os.path.exists(path))
            self.assertTrue(os.path.isdir(tmp))  # not serve()'s to remove

    def test_forked_child_does_not_stop_the_store(self):
        with shmstore.serve(memory="16M") as store:
            pid = os.fork()
            if pid == 0:
                try:
                    store.stop()  # the child's copy, e.g. its copy of the `with` ending
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            self.assertTrue(store.running)
            shmstore.connect().close()

    def test_daemon_that_fails_to_start(self):
        with self.assertRaises(shmstore.StartFailed) as cm:
            shmstore.serve(memory="lots")
        text = str(cm.exception)
        self.assertIn("exited with status", text)
        self.assertIn("lots", text)  # the daemon's own complaint about the option
        with self.assertRaises(TypeError):
            shmstore.serve(memory=1.5)

    def test_find_shmstored(self):
        self.assertEqual(shmstore.find_shmstored(), os.environ["SHMSTORED"])
        env = dict(os.environ, SHMSTORED="/nonexistent/shmstored")
        code = ("import shmstore\n"
                "try:\n"
                "    shmstore.serve()\n"
                "except shmstore.StartFailed as e:\n"
                "    print(e)\n")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60).stdout
        self.assertIn("/nonexistent/shmstored", out)
        # Without $SHMSTORED: beside the interpreter, else on $PATH.
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(os.environ["SHMSTORED"], os.path.join(tmp, "shmstored"))
            env = {k: v for k, v in os.environ.items() if k != "SHMSTORED"}
            env["PATH"] = tmp
            out = subprocess.run([sys.executable, "-c",
                                  "import shmstore; print(shmstore.find_shmstored())"],
                                 env=env, capture_output=True, text=True, timeout=60)
            import sysconfig
            beside = os.path.join(sysconfig.get_path("scripts"), "shmstored")
            want = beside if os.access(beside, os.X_OK) else os.path.join(tmp, "shmstored")
            self.assertEqual(out.stdout.strip(), want, out.stderr)
            env["PATH"] = os.path.join(tmp, "empty")
            if not os.access(beside, os.X_OK):
                out = subprocess.run([sys.executable, "-c", code], env=env,
                                     capture_output=True, text=True, timeout=60).stdout
                self.assertIn("cannot find the shmstored program", out)


    def test_store_without_with_runs_until_exit(self):
        """A bare serve() whose Store is not kept runs until the interpreter exits (not until
        the garbage collector finds it), and stops then."""
        code = ("import gc, os, shmstore\n"
                "shmstore.serve(memory='16M')\n"
                "gc.collect()\n"
                "with shmstore.connect() as c:\n"
                "    c.put('x', b'still here')\n"
                "    print(c.info()['capacity_bytes'], bytes(c.get('x')).decode())\n"
                "(store,) = shmstore._serve._running  # the test's way to learn the daemon\n"
                "print(store.pid, os.environ['SHMSTORE_SOCKET'])\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "%d still here" % (16 << 20))
        pid, socket = lines[1].split()
        self.assertTrue(wait_gone(int(pid)), "daemon %s left running" % pid)
        self.assertFalse(os.path.exists(socket))


class TestNoOrphan(unittest.TestCase):
    """The daemon never outlives the process that started it, however that process ends."""

    def setUp(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")

    def kill_parent(self, mode):
        parent = subprocess.Popen([sys.executable, "-c", SERVE_THEN_HANG, mode],
                                  stdout=subprocess.PIPE, text=True)
        try:
            line = parent.stdout.readline().split()
            self.assertEqual(len(line), 2, "the parent did not start a store")
            pid, socket = int(line[0]), line[1]
            shmstore.connect(socket).close()
            killed = time.monotonic()
            parent.kill()
            parent.wait()
            self.assertTrue(wait_gone(pid), "the daemon outlived its SIGKILLed parent")
            print("\ndaemon exited %.3f s after its parent's SIGKILL (%s)"
                  % (time.monotonic() - killed, mode), file=sys.stderr)
            self.assertFalse(os.path.exists(socket))
            # The one thing a SIGKILLed parent cannot remove: its empty private directory.
            os.rmdir(os.path.dirname(socket))
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()
            parent.stdout.close()

    def test_parent_sigkilled(self):
        self.kill_parent("alone")

    def test_parent_sigkilled_with_a_forked_child_alive(self):
        self.kill_parent("fork-a-worker")


class TestServeCommand(unittest.TestCase):
    """`python -m shmstore serve` in the foreground, stopped with Ctrl-C (SIGINT)."""

    def setUp(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")

    def run_command(self, *args):
        proc = subprocess.Popen([sys.executable, "-m", "shmstore", "serve", "--memory", "16M",
                                 *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            banner = proc.stdout.readline()
            export = proc.stdout.readline()
            self.assertRegex(banner, r"shmstored \(pid \d+\) serves 16\.0 MiB at \S+; Ctrl-C")
            self.assertTrue(export.startswith("export SHMSTORE_SOCKET="), export)
            socket = export.strip().split("=", 1)[1]
            pid = int(banner.split("pid ")[1].split(")")[0])
            with shmstore.connect(socket) as client:
                client.put("via-cli", b"yes")
                self.assertEqual(bytes(client.get("via-cli")), b"yes")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, err)
            self.assertTrue(wait_gone(pid))
            self.assertFalse(os.path.exists(socket))
            return socket
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_private_socket(self):
        self.run_command()

    def test_daemon_that_fails_to_start(self):
        proc = subprocess.run([sys.executable, "-m", "shmstore", "serve", "--memory", "lots"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("python -m shmstore serve: shmstored exited with status", proc.stderr)
        self.assertIn("lots", proc.stderr)

    def test_given_socket(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cli.sock")
            self.assertEqual(self.run_command("--socket", path), path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
