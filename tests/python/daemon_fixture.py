"""A real shmstored for a Python test module.

Daemon: started by hand on a private temporary socket from $SHMSTORED, ready when the socket
accepts a connection, stopped with SIGTERM (exit status 0 required, so a crash or a leak the
daemon reports fails the tests). ModuleStore: the same through shmstore.serve(), for modules
whose tests each start from an empty store with a client of their own (EmptyStoreCase)."""

import os
import signal
import subprocess
import tempfile
import time
import unittest

import shmstore


class Daemon:
    def __init__(self, memory, prefix="shmstore-py-", args=()):
        binary = os.environ.get("SHMSTORED")
        if not binary:
            raise unittest.SkipTest("SHMSTORED is not set")
        self.tmpdir = tempfile.TemporaryDirectory(prefix=prefix)
        self.socket = os.path.join(self.tmpdir.name, "s.sock")
        self.proc = subprocess.Popen([binary, "-s", self.socket, "-m", memory,
                                      "--log-level", "warn", *args])
        deadline = time.monotonic() + 10
        while True:
            try:
                shmstore.connect(self.socket).close()
                return
            except shmstore.ConnectionLost:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError("shmstored did not start")
                time.sleep(0.02)

    def stop(self):
        """SIGTERM, wait, remove the directory; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        self.tmpdir.cleanup()
        return rc


class ModuleStore:
    """One shmstore.serve() store for a test module: start() in setUpModule (skips the module
    without $SHMSTORED, the program serve() runs), stop() in tearDownModule."""

    def __init__(self, memory):
        self.memory = memory
        self.store = None

    def start(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")
        self.store = shmstore.serve(memory=self.memory)

    def stop(self):
        if self.store is not None:
            self.store.stop()

    @property
    def socket(self):
        return self.store.socket

    def connect(self):
        return self.store.connect()


class EmptyStoreCase(unittest.TestCase):
    """Each test gets self.c, a client of the subclass's `module_store`, on an emptied store."""

    module_store = None

    def setUp(self):
        self.c = self.module_store.connect()
        self.c.delete("*")

    def tearDown(self):
        self.c.close()
