"""Client.watch(): every change to matching objects as it happens, as Event namedtuples, with a
snapshot first when asked; the watch has a connection of its own (the client stays usable) that
closes when the loop breaks; Ctrl-C (a real SIGINT to a child, and a signal in-process) ends a
watch that waits with KeyboardInterrupt.

setUpModule starts the daemon named by $SHMSTORED on a temporary socket (daemon_fixture).
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


def setUpModule():
    global SOCK, DAEMON
    DAEMON = Daemon("32M", prefix="shmstore-py-watch-")
    SOCK = DAEMON.socket


def tearDownModule():
    if DAEMON is not None:
        assert DAEMON.stop() == 0


def clients(client):
    return client.info()["clients"]


class TestWatch(unittest.TestCase):
    def setUp(self):
        self.c = shmstore.connect(SOCK)

    def tearDown(self):
        self.c.delete("*")
        self.c.close()

    def test_changes_in_order(self):
        watch = self.c.watch("job7/*", snapshot=True)
        first = next(watch)   # subscribed: the (empty) snapshot is whole
        self.assertEqual(first.kind, "snapshot_end")
        self.assertEqual(first.count, 0)
        start = time.time_ns()
        self.c.put("job7/a", b"12345")
        self.c.put("other/a", b"x")          # not watched
        self.c.put("job7/a", b"123", replace=True)
        self.c.delete("job7/a")
        self.c.put("job7/end", b"")
        events = []
        for event in watch:
            events.append(event)
            if event.name == "job7/end":
                break
        self.assertEqual([(e.kind, e.name) for e in events],
                         [("sealed", "job7/a"), ("replaced", "job7/a"), ("deleted", "job7/a"),
                          ("sealed", "job7/end")])
        self.assertIsInstance(events[0], shmstore.Event)
        self.assertEqual(events[0].size, 5)
        self.assertEqual(events[1].size, 3)
        self.assertEqual(events[2].id, events[1].id)
        self.assertNotEqual(events[0].id, events[1].id)
        for e in events:
            self.assertGreaterEqual(e.time_ns, start)
            self.assertLessEqual(e.time_ns, time.time_ns())
            self.assertEqual(e.count, 0)
        watch.close()

    def test_snapshot_first(self):
        for i in range(5):
            self.c.put("snap/%d" % i, b"x" * i)
        events = []
        for event in self.c.watch("snap/*", snapshot=True):
            events.append(event)
            if event.kind == "snapshot_end":
                break
        self.assertEqual([e.name for e in events[:-1]], ["snap/%d" % i for i in range(5)])
        self.assertEqual({e.kind for e in events[:-1]}, {"snapshot"})
        self.assertEqual([e.size for e in events[:-1]], list(range(5)))
        self.assertEqual(events[-1].count, 5)

    def test_own_connection_closed_when_the_loop_ends(self):
        before = clients(self.c)
        watch = self.c.watch(None, snapshot=True)
        self.assertEqual(next(watch).kind, "snapshot_end")
        self.assertEqual(clients(self.c), before + 1)
        self.c.put("busy", b"the client is free while its watch runs")
        self.assertEqual(next(watch).name, "busy")
        watch.close()
        deadline = time.monotonic() + 5
        while clients(self.c) != before and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(clients(self.c), before)

    def test_connection_lost(self):
        daemon = Daemon("16M", prefix="shmstore-py-watch-lost-")
        try:
            watch = shmstore.connect(daemon.socket).watch("*", snapshot=True)
            self.assertEqual(next(watch).kind, "snapshot_end")
        finally:
            self.assertEqual(daemon.stop(), 0)
        with self.assertRaises(shmstore.ConnectionLost):
            next(watch)


WATCH_IN_CHILD = r"""
import sys, shmstore
client = shmstore.connect(sys.argv[1])
watch = client.watch("never/*", snapshot=True)
assert next(watch).kind == "snapshot_end"
print("watching", flush=True)
try:
    for event in watch:
        pass
except KeyboardInterrupt:
    client.put("child/after-interrupt", b"ok", replace=True)
    print("KeyboardInterrupt", flush=True)
    raise
"""


class TestCtrlC(unittest.TestCase):
    def test_sigint_to_a_child(self):
        with shmstore.connect(SOCK) as client:
            proc = subprocess.Popen([sys.executable, "-c", WATCH_IN_CHILD, SOCK],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                self.assertEqual(proc.stdout.readline(), "watching\n")
                time.sleep(0.2)
                sent = time.monotonic()
                os.kill(proc.pid, signal.SIGINT)
                out, err = proc.communicate(timeout=10)
                exited = time.monotonic() - sent
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            print("\nwatch: exit %.3f s after SIGINT" % exited, file=sys.stderr)
            self.assertIn("KeyboardInterrupt", err)
            self.assertIn("KeyboardInterrupt", out)
            self.assertNotEqual(proc.returncode, 0)
            self.assertLess(exited, 1.0)
            self.assertEqual(bytes(client.get("child/after-interrupt")), b"ok")
            client.delete("child/after-interrupt")

    def test_signal_in_process(self):
        with shmstore.connect(SOCK) as client:
            watch = client.watch("never/*")
            timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            self.addCleanup(timer.cancel)
            start = time.monotonic()
            with self.assertRaises(KeyboardInterrupt):
                next(watch)
            self.assertLess(time.monotonic() - start, 1.2)
            # The interrupted iterator goes on with the same stream.
            client.put("never/x", b"")
            self.assertEqual(next(watch)[:2], ("sealed", "never/x"))
            watch.close()
            client.delete("never/x")


if __name__ == "__main__":
    unittest.main()
