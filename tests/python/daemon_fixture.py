"""A real shmstored for a Python test module: started on a private temporary socket from
$SHMSTORED, ready when the socket accepts a connection, stopped with SIGTERM (exit status 0
required, so a crash or a leak the daemon reports fails the tests)."""

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
