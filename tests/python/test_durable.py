"""Durable objects from Python: put(..., persist=True) and create(..., persist=True).

Each test runs its own daemons through shmstore.serve(data_dir=...) (shmstored from $SHMSTORED,
as the meson test sets it) on a temporary data directory: it stores durable values, SIGKILLs
the daemon (no clean shutdown, as a crash would), serves the same data directory again and
checks that the values come back equal. A store without a data directory must refuse
persist=True with an InvalidArgument that says how to get one.
"""

import os
import shutil
import signal
import tempfile
import unittest

import numpy as np

import shmstore


def kill_hard(store):
    """SIGKILL the daemon of store and wait for it, then let the Store tidy up after it."""
    os.kill(store.pid, signal.SIGKILL)
    store._proc.wait()
    store.stop()


class DurableTest(unittest.TestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="shmstore-durable-")
        self.addCleanup(shutil.rmtree, self.data_dir, ignore_errors=True)
        # A SIGKILL right after the puts: only durability = sync promises they are on disk
        # (the default, async, promises it after a sync or within flush_interval).
        self.config = os.path.join(self.data_dir, "sync.conf")
        with open(self.config, "w") as f:
            f.write("durability = sync\n")

    def test_values_survive_sigkill_and_restart(self):
        array = np.arange(250_000, dtype=np.float64).reshape(500, 500)
        table = {"name": "run 7", "weights": np.linspace(0, 1, 4096), "tags": ["a", "b"]}
        store = shmstore.serve(memory="16M", data_dir=self.data_dir, config=self.config)
        try:
            with store.connect() as client:
                client.put("array", array, persist=True)
                client.put("table", table, persist=True)
                with client.create("filled", shape=(64, 3), dtype="i4", persist=True) as out:
                    out[:] = np.arange(192, dtype="i4").reshape(64, 3)
                with client.namespace("ns") as ns:
                    ns.put("blob", b"namespaced bytes", persist=True)
                client.put("transient", b"gone after the restart")
        finally:
            kill_hard(store)

        with shmstore.serve(memory="16M", data_dir=self.data_dir, config=self.config) as store:
            with store.connect() as client:
                # Listed at once, read back on the first get.
                self.assertEqual(client.stat("array")["location"], "disk")
                self.assertTrue(client.stat("array")["durable"])
                self.assertEqual(client.info()["restores"], 0)
                got = client.get("array")
                self.assertEqual(client.stat("array")["location"], "both")
                self.assertEqual(client.info()["restores"], 1)
                self.assertEqual({e["name"]: e["durable"] for e in client.list()},
                                 {"array": True, "table": True, "filled": True,
                                  "ns/blob": True})
                self.assertEqual(got.dtype, array.dtype)
                np.testing.assert_array_equal(got, array)
                got_table = client.get("table")
                self.assertEqual(got_table["name"], "run 7")
                self.assertEqual(got_table["tags"], ["a", "b"])
                np.testing.assert_array_equal(got_table["weights"], table["weights"])
                np.testing.assert_array_equal(client.get("filled"),
                                              np.arange(192, dtype="i4").reshape(64, 3))
                self.assertEqual(bytes(client.namespace("ns").get("blob")), b"namespaced bytes")
                self.assertNotIn("transient", client)

    def test_sync_under_async_durability(self):
        # The daemon's default, durability = async: a put answers before its write; sync()
        # returns once it is on disk, so it survives a SIGKILL right after.
        store = shmstore.serve(memory="16M", data_dir=self.data_dir)
        try:
            with store.connect() as client:
                client.put("weights", np.arange(10_000, dtype=np.float32), persist=True)
                client.put("gone", b"deleted before the sync", persist=True)
                client.delete("gone")
                client.sync()
        finally:
            kill_hard(store)
        with shmstore.serve(memory="16M", data_dir=self.data_dir) as store:
            with store.connect() as client:
                np.testing.assert_array_equal(client.get("weights"),
                                              np.arange(10_000, dtype=np.float32))
                self.assertNotIn("gone", client)
        # Without a data directory there is nothing to wait for.
        with shmstore.serve(memory="16M") as store:
            with store.connect() as client:
                client.sync()

    def test_persist_without_data_dir_says_how_to_fix_it(self):
        with shmstore.serve(memory="16M") as store:
            with store.connect() as client:
                for attempt in (lambda: client.put("x", b"abc", persist=True),
                                lambda: client.put("x", {"a": 1}, persist=True),
                                lambda: client.create("x", 16, persist=True).__enter__()):
                    with self.assertRaises(shmstore.InvalidArgument) as caught:
                        attempt()
                    self.assertIsInstance(caught.exception, ValueError)
                    self.assertIn("data directory", str(caught.exception))
                    self.assertIn("-d DIR", str(caught.exception))
                    self.assertNotIn("x", client)
                client.put("x", b"abc")  # the name was left free, and transient puts still work


if __name__ == "__main__":
    unittest.main()
