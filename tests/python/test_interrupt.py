"""A waiting get answers signals: Ctrl-C (a real SIGINT) ends it with KeyboardInterrupt, and so
does any signal whose Python handler raises; the client stays usable and the daemon keeps no
waiter behind.

setUpModule starts the daemon named by $SHMSTORED on a temporary socket (daemon_fixture).
Child processes run small scripts (with this environment, so the built package is importable)
that block in get() and print "waiting" first; the test then signals them with os.kill and
checks how and how fast they end. The in-process tests send the signal from a timer thread.
Latencies are printed; the bound asserted (1 s) is generous on purpose: the design answers
within about 50 ms. The daemon's counters show what a wait cost it: one GET and its cancel,
one EINTR, and never a timeout however long the wait was cut into slices (they are the
library's own).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import shmstore
from daemon_fixture import Daemon

SOCK = None
DAEMON = None

WAIT_IN_CHILD = r"""
import sys, time, shmstore
client = shmstore.connect(sys.argv[1])
timeout = None if sys.argv[2] == "None" else float(sys.argv[2])
print("waiting", flush=True)
start = time.monotonic()
try:
    client.get("never/put", timeout=timeout)
except KeyboardInterrupt:
    waited = time.monotonic() - start
    # The same client still works after the interrupt.
    client.put("child/after-interrupt", b"ok", replace=True)
    print("KeyboardInterrupt after %.3f s; waiters %d"
          % (waited, client.info()["waiters"]), flush=True)
    raise
"""


def setUpModule():
    global SOCK, DAEMON
    DAEMON = Daemon("32M", prefix="shmstore-py-intr-")
    SOCK = DAEMON.socket


def tearDownModule():
    if DAEMON is not None:
        assert DAEMON.stop() == 0


def wait_for_waiters(client, want, seconds=2.0):
    deadline = time.monotonic() + seconds
    while True:
        waiters = client.info()["waiters"]
        if waiters == want or time.monotonic() > deadline:
            return waiters
        time.sleep(0.005)


class Alarm(Exception):
    pass


class TestInterruptChild(unittest.TestCase):
    """A child process blocked in get() gets a real SIGINT, as from Ctrl-C in a terminal."""

    def interrupt(self, timeout):
        with shmstore.connect(SOCK) as client:
            proc = subprocess.Popen([sys.executable, "-c", WAIT_IN_CHILD, SOCK, timeout],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                self.assertEqual(proc.stdout.readline(), "waiting\n")
                self.assertEqual(wait_for_waiters(client, 1), 1, "the child is not waiting")
                time.sleep(0.2)  # well inside the wait, between or within slices
                sent = time.monotonic()
                os.kill(proc.pid, signal.SIGINT)
                out, err = proc.communicate(timeout=10)
                exited = time.monotonic() - sent
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            print("\nget(timeout=%s): exit %.3f s after SIGINT; child says: %s"
                  % (timeout, exited, out.strip()), file=sys.stderr)
            self.assertIn("KeyboardInterrupt", err)
            self.assertRegex(out, r"KeyboardInterrupt after [0-9.]+ s; waiters 0")
            self.assertNotEqual(proc.returncode, 0)
            self.assertLess(exited, 1.0)
            self.assertEqual(wait_for_waiters(client, 0), 0)
            self.assertEqual(bytes(client.get("child/after-interrupt")), b"ok")
            client.delete("child/after-interrupt")

    def test_wait_forever(self):
        self.interrupt("None")

    def test_wait_with_timeout(self):
        self.interrupt("30")


class TestInterruptInProcess(unittest.TestCase):
    def setUp(self):
        self.c = shmstore.connect(SOCK)

    def tearDown(self):
        self.c.delete("inproc/*")
        self.c.close()

    def signal_soon(self, signum, delay=0.2):
        timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
        timer.start()
        self.addCleanup(timer.cancel)

    def test_sigint_then_client_usable(self):
        for timeout in (None, 30):
            with self.subTest(timeout=timeout):
                self.signal_soon(signal.SIGINT)
                start = time.monotonic()
                with self.assertRaises(KeyboardInterrupt):
                    self.c.get("inproc/never", timeout=timeout)
                waited = time.monotonic() - start
                print("\nin-process get(timeout=%s) interrupted after %.3f s (signal at 0.2 s)"
                      % (timeout, waited), file=sys.stderr)
                self.assertLess(waited, 1.2)
                self.assertEqual(self.c.info()["waiters"], 0)
                self.c.put("inproc/fine", b"fine", replace=True)
                self.assertEqual(bytes(self.c.get("inproc/fine")), b"fine")

    def raising_handler(self, signum):
        def handler(sig, frame):
            raise Alarm(sig)
        old = signal.signal(signum, handler)
        self.addCleanup(signal.signal, signum, old)

    def test_handlers_that_raise(self):
        for signum in (signal.SIGALRM, signal.SIGUSR1):
            with self.subTest(signal=signal.Signals(signum).name):
                self.raising_handler(signum)
                self.signal_soon(signum)
                start = time.monotonic()
                with self.assertRaises(Alarm) as cm:
                    self.c.get("inproc/never", timeout=None)
                self.assertEqual(cm.exception.args, (signum,))
                self.assertLess(time.monotonic() - start, 1.2)
                self.assertEqual(self.c.info()["waiters"], 0)

    def test_long_wait_costs_the_daemon_two_requests(self):
        """A wait of 2 s interrupted at its end is one GET and one GET_CANCEL for the
        daemon: no ETIMEDOUT and no request per slice."""
        before = self.c.info()
        self.signal_soon(signal.SIGINT, 2.0)
        with self.assertRaises(KeyboardInterrupt):
            self.c.get("inproc/never", timeout=None)
        after = self.c.info()
        grew = after["requests"] - before["requests"]
        print("\n2 s interrupted wait: requests +%d, errors %s -> %s"
              % (grew, before["errors"], after["errors"]), file=sys.stderr)
        self.assertEqual(after["errors"]["ETIMEDOUT"], before["errors"]["ETIMEDOUT"])
        self.assertEqual(after["errors"]["EINTR"], before["errors"]["EINTR"] + 1)
        self.assertLessEqual(grew, 4)  # GET, GET_CANCEL, this INFO; 40 slices went by
        self.assertEqual(after["waiters"], 0)

    def test_handler_using_the_same_client(self):
        """A handler that runs while this client's get waits cannot call the client (its
        get holds it): a clear RuntimeError, not a deadlock. A pin it lets go is released
        when the get returns."""
        self.c.put("inproc/held", b"h", replace=True)
        held = [self.c.get("inproc/held")]
        self.assertEqual(self.c.stat("inproc/held")["pins"], 1)
        calls = []

        def handler(sig, frame):
            held.clear()  # collects the pin while the get still holds the handle
            try:
                self.c.info()
            except RuntimeError as e:
                calls.append(str(e))
            raise Alarm(sig)
        old = signal.signal(signal.SIGUSR1, handler)
        self.addCleanup(signal.signal, signal.SIGUSR1, old)
        self.signal_soon(signal.SIGUSR1)
        with self.assertRaises(Alarm):
            self.c.get("inproc/never", timeout=None)
        self.assertEqual(len(calls), 1)
        self.assertIn("signal handler cannot use the client", calls[0])
        self.assertEqual(self.c.stat("inproc/held")["pins"], 0)
        self.assertEqual(self.c.info()["waiters"], 0)

    def test_fork_in_a_handler(self):
        """A handler that forks: the parent's get ends as its handler raises; the child goes
        on with a get that was the parent's, on the parent's connection, so it must end with
        ConnectionLost instead of waiting forever for a reply only the parent can read."""
        parent = os.getpid()
        children = []

        def handler(sig, frame):
            pid = os.fork()
            if pid == 0:
                return  # the child goes on waiting, as the handler did not raise
            children.append(pid)
            raise Alarm(sig)
        old = signal.signal(signal.SIGUSR1, handler)
        self.addCleanup(signal.signal, signal.SIGUSR1, old)
        self.signal_soon(signal.SIGUSR1)
        try:
            self.c.get("inproc/never", timeout=None)
            outcome = "returned"
        except BaseException as e:  # the child reports whatever ended its get
            outcome = type(e).__name__
        if os.getpid() != parent:
            os._exit(0 if outcome == "ConnectionLost" else 3)
        self.assertEqual(outcome, "Alarm")
        self.assertEqual(len(children), 1)
        status = None
        deadline = time.monotonic() + 10
        while status is None and time.monotonic() < deadline:
            pid, raw = os.waitpid(children[0], os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(raw)
            else:
                time.sleep(0.01)
        if status is None:
            os.kill(children[0], signal.SIGKILL)
            os.waitpid(children[0], 0)
            self.fail("the child's inherited get went on waiting")
        self.assertEqual(status, 0, "the child's get did not end with ConnectionLost")
        self.assertEqual(self.c.info()["waiters"], 0)

    def test_handler_that_returns_keeps_waiting(self):
        """A signal whose handler does not raise does not end the wait: the get still
        returns the object when it comes (or times out as asked)."""
        seen = []
        old = signal.signal(signal.SIGUSR1, lambda sig, frame: seen.append(sig))
        self.addCleanup(signal.signal, signal.SIGUSR1, old)
        self.signal_soon(signal.SIGUSR1, 0.1)
        producer = threading.Timer(0.4, lambda: shmstore.connect(SOCK).put("inproc/late", b"x"))
        producer.start()
        self.addCleanup(producer.cancel)
        self.assertEqual(bytes(self.c.get("inproc/late", timeout=30)), b"x")
        self.assertEqual(seen, [signal.SIGUSR1])
        with self.assertRaises(shmstore.Timeout):
            self.signal_soon(signal.SIGUSR1, 0.05)
            self.c.get("inproc/never", timeout=0.3)

    def test_other_threads_wait_whole(self):
        """A get in a thread other than the main one is not cut short by the main thread's
        signals, and still returns its object."""
        result = []
        waiter = threading.Thread(
            target=lambda: result.append(bytes(self.c.get("inproc/for-thread", timeout=30))))
        with shmstore.connect(SOCK) as mine:
            waiter.start()
            self.assertEqual(wait_for_waiters(mine, 1), 1)
            self.signal_soon(signal.SIGINT, 0.05)
            with self.assertRaises(KeyboardInterrupt):
                time.sleep(5)
            mine.put("inproc/for-thread", b"t")
            waiter.join(10)
        self.assertEqual(result, [b"t"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
