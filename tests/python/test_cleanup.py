"""Cleanup that scales with mistakes: delete() by glob pattern, and Client.namespace(), a view
whose objects all go when its block ends, even when the block raises.

One private store for the module, started with shmstore.serve() (shmstored from $SHMSTORED);
each test works under its own prefix and checks exactly which names are left.
"""

import unittest

import numpy as np

import shmstore
from daemon_fixture import EmptyStoreCase, ModuleStore

STORE = ModuleStore(memory="64M")
setUpModule = STORE.start
tearDownModule = STORE.stop


class Base(EmptyStoreCase):
    module_store = STORE

    def names(self, pattern=None):
        return [e["name"] for e in self.c.list(pattern)]


class TestDeletePattern(Base):
    def test_pattern_deletes_in_one_call_and_counts(self):
        for name in ("job7/a", "job7/b/c", "job70/x", "job8/a", "top"):
            self.c.put(name, b"x")
        self.assertEqual(self.c.delete("job7/*"), 2)
        self.assertEqual(self.names(), ["job70/x", "job8/a", "top"])
        self.assertEqual(self.c.delete("job?0/*"), 1)
        self.assertEqual(self.c.delete("job[0-9]/a"), 1)
        self.assertEqual(self.c.delete("job7/*"), 0)  # nothing matches: not an error
        self.assertEqual(self.names(), ["top"])

    def test_plain_name(self):
        self.c.put("plain", b"x")
        self.assertEqual(self.c.delete("plain"), 1)
        with self.assertRaises(shmstore.NotFound):
            self.c.delete("plain")

    def test_escaped_metacharacters(self):
        odd = "runs/[2024]*?"
        self.c.put(odd, b"odd")
        self.c.put("runs/2", b"two")
        self.c.put("runs/[2024]*?x", b"longer")
        escaped = shmstore.escape_pattern(odd)
        self.assertEqual(escaped, "runs/\\[2024]\\*\\?")
        self.assertEqual(self.names(escaped), [odd])
        self.assertEqual(self.c.delete(escaped), 1)
        self.assertEqual(self.names(), ["runs/2", "runs/[2024]*?x"])
        self.assertEqual(shmstore.escape_pattern("a\\b"), "a\\\\b")

    def test_pinned_objects_stay_readable(self):
        self.c.put("p/a", np.arange(10))
        a = self.c.get("p/a")
        self.assertEqual(self.c.delete("p/*"), 1)
        self.assertNotIn("p/a", self.c)
        self.assertEqual(int(a.sum()), 45)


class TestNamespace(Base):
    def test_view(self):
        ns = self.c.namespace("job7")
        ns.put("input", np.arange(5))
        with ns.create("raw", 3) as buf:
            buf[:] = b"abc"
        self.assertEqual(self.names(), ["job7/input", "job7/raw"])
        np.testing.assert_array_equal(ns.get("input"), np.arange(5))
        self.assertIn("raw", ns)
        self.assertNotIn("input", self.c)
        self.assertEqual(ns.stat("raw")["name"], "raw")
        self.assertEqual(ns.stat("raw")["size"], 3)
        self.assertEqual([e["name"] for e in ns.list()], ["input", "raw"])
        self.assertEqual([e["name"] for e in ns.list("r*")], ["raw"])
        self.assertEqual(ns.delete("input"), 1)
        self.assertEqual(ns.full_name("x"), "job7/x")
        sub = ns.namespace("sub")
        sub.put("deep", b"d")
        self.assertIn("job7/sub/deep", self.c)
        self.assertEqual(ns.clear(), 2)
        self.assertEqual(self.names(), [])

    def test_cleanup_when_block_ends(self):
        self.c.put("job70/other", b"keep")  # shares the prefix's first characters only
        self.c.put("job7", b"keep too")     # the prefix itself is not under it
        with self.c.namespace("job7", cleanup=True) as ns:
            for i in range(50):
                ns.put("part/%d" % i, np.full(10, i))
            self.assertEqual(len(ns.list()), 50)
        self.assertEqual(self.names(), ["job7", "job70/other"])

    def test_cleanup_on_exception(self):
        with self.assertRaises(KeyError):
            with self.c.namespace("failing", cleanup=True) as ns:
                ns.put("a", b"1")
                ns.put("b", {"w": np.ones(1000)})
                ns.get("missing")  # NotFound is a KeyError
        self.assertEqual(self.names(), [])

    def test_cleanup_escapes_the_prefix(self):
        self.c.put("a*/x", b"1")
        self.c.put("ab/x", b"2")  # "a*/" as a pattern would match this too
        with self.c.namespace("a*", cleanup=True) as ns:
            self.assertEqual([e["name"] for e in ns.list()], ["x"])
        self.assertEqual(self.names(), ["ab/x"])

    def test_pattern_stays_inside(self):
        self.c.put("outside", b"o")
        ns = self.c.namespace("in")
        ns.put("x1", b"1")
        self.assertEqual(ns.delete("*"), 1)
        self.assertEqual(self.names(), ["outside"])

    def test_without_cleanup_keeps_objects(self):
        with self.c.namespace("kept") as ns:
            ns.put("a", b"1")
        self.assertEqual(self.names(), ["kept/a"])

    def test_bad_prefix(self):
        with self.assertRaises(ValueError):
            self.c.namespace("/")


if __name__ == "__main__":
    unittest.main(verbosity=2)
