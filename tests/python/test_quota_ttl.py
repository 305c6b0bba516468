"""Time to live, no_evict, owners and quotas from Python.

Each test serves its own store through shmstore.serve() (shmstored from $SHMSTORED): put and
create with ttl= are gone once it runs out and info() counts them; stat() and list() name the
owner (this process's uid) and the expiry; no_evict=True survives a full store in cache mode
(evict = lru) that deletes its neighbours; a put over the user's quota raises StoreFull with the
daemon's words, and users() shows what the user holds.
"""

import os
import tempfile
import time
import unittest

import numpy as np

import shmstore


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def write_config(test, text):
    fd, path = tempfile.mkstemp(prefix="shmstore-quota-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    test.addCleanup(os.unlink, path)
    return path


class TtlTest(unittest.TestCase):
    def setUp(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")
        self.store = shmstore.serve(memory="16M")
        self.addCleanup(self.store.stop)
        self.client = self.store.connect()
        self.addCleanup(self.client.close)

    def test_put_with_ttl_expires(self):
        c = self.client
        before = time.time_ns()
        c.put("short", b"x" * 100, ttl=0.3)
        c.put("array", np.arange(10), ttl=0.3)
        c.put("long", {"a": 1}, ttl=3600)
        c.put("forever", b"y")
        st = c.stat("short")
        self.assertEqual(st["owner"], os.getuid())
        self.assertGreaterEqual(st["expires_ns"], before + 300_000_000)
        self.assertLess(st["expires_ns"], time.time_ns() + 400_000_000)
        self.assertIsNone(c.stat("forever")["expires_ns"])
        self.assertTrue(wait_until(lambda: "short" not in c and "array" not in c))
        self.assertIn("long", c)
        self.assertIn("forever", c)
        self.assertEqual(c.info()["expirations"], 2)
        names = {e["name"]: e for e in c.list()}
        self.assertEqual(set(names), {"long", "forever"})
        self.assertEqual(names["long"]["owner"], os.getuid())
        self.assertIsNotNone(names["long"]["expires_ns"])

    def test_create_ttl_starts_at_seal(self):
        c = self.client
        with c.create("filled", shape=(4,), dtype="i4", ttl=0.5) as a:
            a[:] = [1, 2, 3, 4]
            time.sleep(0.7)   # longer than the ttl: it has not started yet
        self.assertIn("filled", c)
        self.assertEqual(list(c.get("filled")), [1, 2, 3, 4])
        self.assertTrue(wait_until(lambda: "filled" not in c))

    def test_held_value_survives_expiry(self):
        c = self.client
        c.put("held", np.arange(1000, dtype="u8"), ttl=0.2)
        value = c.get("held")
        self.assertTrue(wait_until(lambda: "held" not in c))
        self.assertEqual(int(value.sum()), 999 * 1000 // 2)   # still readable: pinned
        self.assertEqual(c.info()["deleted_pinned"], 1)
        del value
        self.assertTrue(wait_until(lambda: c.info()["deleted_pinned"] == 0))

    def test_bad_ttl(self):
        for ttl in (0, -1, float("nan"), float("inf"), "10m", True):
            with self.assertRaises(ValueError):
                self.client.put("bad", b"x", ttl=ttl)
        self.assertNotIn("bad", self.client)


class CacheModeTest(unittest.TestCase):
    def test_no_evict_survives(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")
        store = shmstore.serve(memory="4M", config=write_config(self, "evict = lru\n"))
        self.addCleanup(store.stop)
        with store.connect() as c:
            c.put("keep", b"k" * (1 << 20), no_evict=True)
            with c.create("keep2", 1 << 20, no_evict=True) as out:
                out[:] = b"j" * (1 << 20)
            for i in range(8):
                c.put("churn%d" % i, b"c" * (1 << 20))
            self.assertIn("keep", c)
            self.assertIn("keep2", c)
            self.assertGreater(c.info()["evicted_deletions"], 0)
            self.assertEqual(bytes(c.get("keep")[:4]), b"kkkk")


class QuotaTest(unittest.TestCase):
    def test_quota_refuses_and_users_show_it(self):
        if not os.environ.get("SHMSTORED"):
            raise unittest.SkipTest("SHMSTORED is not set")
        config = write_config(self, "quota_bytes = 64K\nquota_objects.%d = 3\n" % os.getuid())
        store = shmstore.serve(memory="16M", config=config)
        self.addCleanup(store.stop)
        with store.connect() as c:
            c.put("a", b"a" * 40_000)
            with self.assertRaises(shmstore.StoreFull) as cm:
                c.put("b", b"b" * 40_000)
            self.assertIn("quota of uid %d" % os.getuid(), str(cm.exception))
            self.assertIn("64.0 KiB", str(cm.exception))
            c.put("b", b"b" * 100)
            c.put("c", b"c")
            with self.assertRaises(shmstore.StoreFull) as cm:
                c.put("d", b"d")
            self.assertIn("object quota", str(cm.exception))
            users = c.users()
            self.assertEqual(len(users), 1)
            me = users[0]
            self.assertEqual(me["uid"], os.getuid())
            self.assertEqual(me["objects"], 3)
            self.assertGreaterEqual(me["bytes"], 40_101)
            self.assertEqual(me["quota_bytes"], 64 * 1024)
            self.assertEqual(me["quota_objects"], 3)
            c.delete("*")
            self.assertEqual(c.users(), [])


if __name__ == "__main__":
    unittest.main()
