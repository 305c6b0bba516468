"""Tests of the Python binding (package shmstore) against a real shmstored.

setUpModule starts the daemon named by $SHMSTORED on a temporary socket with 256 MiB, and
tearDownModule stops it with SIGTERM and checks it exits 0. Run as a script with the built
package on PYTHONPATH (meson test --suite python does this). Worker functions for the
multiprocessing tests live at module level so spawn/forkserver children can import them.
"""

import gc
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import numpy as np

import shmstore
from daemon_fixture import Daemon

SOCK = None
DAEMON = None


def setUpModule():
    global SOCK, DAEMON
    DAEMON = Daemon("256M")
    SOCK = DAEMON.socket


def tearDownModule():
    if DAEMON is None:
        return
    gc.collect()
    rc = DAEMON.stop()
    assert rc == 0, "shmstored exited with %r" % rc


def wait_pins(client, name, want, seconds=1.0):
    """Pins as the daemon sees them; releases are applied within ~20 ms, so poll."""
    deadline = time.monotonic() + seconds
    while True:
        pins = client.stat(name)["pins"]
        if pins == want or time.monotonic() > deadline:
            return pins
        time.sleep(0.01)


def root_base(a):
    """The object at the end of an array's base chain: whose memory the array really is."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


# ---- multiprocessing workers (module level: picklable by reference) ----

def checksum_worker(args):
    sock, name = args
    with shmstore.connect(sock) as c:
        a = c.get(name)
        return zlib.crc32(a.tobytes()), a.shape, a.flags.writeable


def waiting_consumer(args):
    sock, name, timeout = args
    with shmstore.connect(sock) as c:
        v = c.get(name, timeout=timeout)
        return int(v.sum())


class Base(unittest.TestCase):
    def setUp(self):
        self.c = shmstore.connect(SOCK)
        self.prefix = "%s/%s/" % (type(self).__name__, self._testMethodName)

    def tearDown(self):
        for e in self.c.list(self.prefix + "*"):
            try:
                self.c.delete(e["name"])
            except shmstore.NotFound:
                pass
        self.c.close()

    def n(self, name):
        return self.prefix + name

    def roundtrip(self, value, name="v"):
        self.c.put(self.n(name), value)
        return self.c.get(self.n(name))


class TestArrays(Base):
    DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
              np.float32, np.float64, np.complex64, np.complex128, np.bool_, ">i4",
              "datetime64[ns]"]

    def check(self, a, got):
        self.assertIsInstance(got, np.ndarray)
        self.assertEqual(got.dtype, a.dtype)
        self.assertEqual(got.shape, a.shape)
        np.testing.assert_array_equal(got, a)
        self.assertFalse(got.flags.writeable)

    def test_dtypes(self):
        for i, dt in enumerate(self.DTYPES):
            with self.subTest(dtype=dt):
                a = (np.arange(24) % 7).astype(dt)
                self.check(a, self.roundtrip(a, "a%d" % i))

    def test_shapes(self):
        for i, shape in enumerate([(), (0,), (3, 0, 2), (5,), (2, 3, 4)]):
            with self.subTest(shape=shape):
                a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
                self.check(a, self.roundtrip(a, "s%d" % i))

    def test_zero_d(self):
        got = self.roundtrip(np.array(3.5))
        self.assertEqual(got.shape, ())
        self.assertEqual(float(got), 3.5)

    def test_fortran_order(self):
        a = np.asfortranarray(np.arange(60, dtype=np.int32).reshape(3, 4, 5))
        got = self.roundtrip(a)
        self.check(a, got)
        self.assertTrue(got.flags.f_contiguous)
        self.assertIsInstance(root_base(got).obj, shmstore._shmstore.Pin)

    def test_non_contiguous(self):
        base = np.arange(100, dtype=np.int64).reshape(10, 10)
        for i, a in enumerate([base[::2], base[:, ::3], base.T[1:]]):
            with self.subTest(i=i):
                self.check(a, self.roundtrip(a, "nc%d" % i))

    def test_read_only(self):
        got = self.roundtrip(np.zeros(10))
        with self.assertRaises(ValueError):
            got[0] = 1
        with self.assertRaises(ValueError):
            got.setflags(write=True)

    def test_zero_copy(self):
        a = np.arange(1 << 20, dtype=np.uint8)
        self.c.put(self.n("big"), a)
        x = self.c.get(self.n("big"))
        y = self.c.get(self.n("big"))
        # Two gets of one object see the same bytes of the one arena mapping.
        self.assertEqual(x.__array_interface__["data"][0], y.__array_interface__["data"][0])
        self.assertEqual(x.__array_interface__["data"][0] % 64, 0)

    def test_object_and_structured_dtypes_go_through_pickle(self):
        a = np.array([1, "x", None], dtype=object)
        got = self.roundtrip(a, "obj")
        self.assertEqual(list(got), [1, "x", None])
        s = np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")])
        s["x"] = [1, 2, 3]
        got = self.roundtrip(s, "struct")
        self.assertEqual(got.dtype, s.dtype)
        np.testing.assert_array_equal(got, s)


class TestBytesAndObjects(Base):
    def test_bytes_like(self):
        for i, v in enumerate([b"hello", bytearray(b"world"), memoryview(b"abc"), b"",
                               memoryview(np.arange(4, dtype=np.int32)),
                               memoryview(b"abcdef")[::2]]):
            with self.subTest(i=i):
                got = self.roundtrip(v, "b%d" % i)
                self.assertIsInstance(got, memoryview)
                self.assertTrue(got.readonly)
                self.assertEqual(got.tobytes(), memoryview(v).tobytes())
        with self.assertRaises(TypeError):
            got[0] = 1

    def test_nested_objects(self):
        value = {"w": np.arange(100000, dtype=np.float32), "b": np.ones((30, 30)),
                 "f": np.asfortranarray(np.arange(600).reshape(20, 30)),
                 "meta": ["x", 1, None, (2.5,)], "raw": b"bytes"}
        got = self.roundtrip(value)
        self.assertEqual(set(got), set(value))
        self.assertEqual(got["meta"], value["meta"])
        self.assertEqual(got["raw"], value["raw"])
        for k in ("w", "b", "f"):
            np.testing.assert_array_equal(got[k], value[k])
            self.assertFalse(got[k].flags.writeable)
            with self.assertRaises(ValueError):
                got[k][...] = 0
            # out-of-band: the array's memory is a view of the store object, not a copy
            root = root_base(got[k])
            self.assertIsInstance(root, memoryview)
            self.assertIsInstance(root.obj, shmstore._shmstore.Pin)
        self.assertTrue(got["f"].flags.f_contiguous)

    def test_small_arrays_travel_in_band(self):
        """Arrays under 1 KiB inside an object are copied with the pickle stream: equal
        values, private (writable) memory, and no buffer table entry."""
        small, large = np.arange(100, dtype=np.int16), np.arange(1000, dtype=np.int16)
        got = self.roundtrip({"small": small, "large": large})
        np.testing.assert_array_equal(got["small"], small)
        np.testing.assert_array_equal(got["large"], large)
        self.assertNotIsInstance(getattr(root_base(got["small"]), "obj", None),
                                 shmstore._shmstore.Pin)
        self.assertTrue(got["small"].flags.writeable)  # a private copy
        self.assertIsInstance(root_base(got["large"]).obj, shmstore._shmstore.Pin)
        _, meta, _ = self.c._c._get(self.n("v"), 0)
        import json
        info = json.loads(meta[len(shmstore.MAGIC):])
        self.assertEqual(info["kind"], "pickle2")
        self.assertEqual(info["table"][1], 1)  # only the large array is out-of-band

    def test_100000_small_arrays(self):
        """An object of 100,000 arrays (over the 64 KiB metadata limit as a table in the
        metadata) round-trips; half are in-band, half out-of-band."""
        arrays = [np.full(16 if i % 2 else 160, i, dtype=np.float64) for i in range(100000)]
        t0 = time.perf_counter()
        self.c.put(self.n("many"), arrays)
        t1 = time.perf_counter()
        got = self.c.get(self.n("many"))
        t2 = time.perf_counter()
        print("\n100,000 arrays (16 and 160 float64): put %.0f ms, get %.0f ms, payload %.1f MiB"
              % ((t1 - t0) * 1e3, (t2 - t1) * 1e3, self.c.stat(self.n("many"))["size"] / 2**20),
              file=sys.stderr)
        self.assertEqual(len(got), len(arrays))
        for i in (0, 1, 2, 77777, 99998, 99999):
            np.testing.assert_array_equal(got[i], arrays[i])
        self.assertTrue(all(a[0] == i for i, a in enumerate(got)))
        self.assertLess(self.c.stat(self.n("many"))["meta_size"], 200)

    def test_reads_version_1_pickles(self):
        """Objects written by earlier versions, with the buffer table in the metadata."""
        import json
        arr = np.arange(300, dtype=np.float64)
        buffers = []
        stream = pickle.dumps({"a": arr, "n": 5}, protocol=5, buffer_callback=buffers.append)
        self.assertEqual(len(buffers), 1)
        raw = buffers[0].raw()
        offset = (len(stream) + 63) // 64 * 64
        payload = bytearray(offset + raw.nbytes)
        payload[:len(stream)] = stream
        payload[offset:] = raw
        meta = shmstore.MAGIC + json.dumps({"kind": "pickle", "pickle": [0, len(stream)],
                                            "buffers": [[offset, raw.nbytes]]}).encode()
        self.c._c.put(self.n("v1"), payload, meta)
        got = self.c.get(self.n("v1"))
        self.assertEqual(got["n"], 5)
        np.testing.assert_array_equal(got["a"], arr)
        self.assertFalse(got["a"].flags.writeable)

    def test_plain_objects(self):
        for i, v in enumerate([None, 42, "text", [1, 2, {"a": (3,)}], {1, 2}]):
            with self.subTest(v=v):
                self.assertEqual(self.roundtrip(v, "o%d" % i), v)

    def test_foreign_object_comes_back_raw(self):
        self.c._c.put(self.n("c"), b"payload", b"dtype=f8")  # as a C program would
        got = self.c.get(self.n("c"))
        self.assertIsInstance(got, memoryview)
        self.assertEqual(bytes(got), b"payload")

    def test_metadata_format(self):
        self.c.put(self.n("a"), np.zeros((2, 3), dtype="<i2"))
        _, meta, _ = self.c._c._get(self.n("a"), 0)
        self.assertTrue(meta.startswith(shmstore.MAGIC))
        import json
        self.assertEqual(json.loads(meta[len(shmstore.MAGIC):]),
                         {"kind": "ndarray", "dtype": "<i2", "shape": [2, 3], "order": "C"})

    def test_unpicklable(self):
        with self.assertRaises((pickle.PicklingError, TypeError, AttributeError)):
            self.c.put(self.n("lambda"), lambda: 1)
        self.assertNotIn(self.n("lambda"), self.c)


class TestLifecycle(Base):
    def test_pin_lifetime(self):
        name = self.n("pinned")
        self.c.put(name, np.arange(1000))
        other = shmstore.connect(SOCK)
        try:
            a = self.c.get(name)
            v = a[10:20]  # a view keeps the pin too
            self.assertEqual(wait_pins(other, name, 1), 1)
            self.c.close()
            self.assertTrue(self.c.closed)
            with self.assertRaises(shmstore.ConnectionLost):
                self.c.get(name)
            self.assertEqual(wait_pins(other, name, 1), 1)
            self.assertEqual(int(a.sum()), 999 * 1000 // 2)  # still readable after close
            del a
            gc.collect()
            self.assertEqual(wait_pins(other, name, 1), 1)
            self.assertEqual(int(v[0]), 10)
            del v
            gc.collect()
            self.assertEqual(wait_pins(other, name, 0), 0)
        finally:
            self.c = other  # tearDown cleans up with a live client

    def test_pin_per_get(self):
        name = self.n("twice")
        self.c.put(name, b"x" * 100)
        a, b = self.c.get(name), self.c.get(name)
        self.assertEqual(wait_pins(self.c, name, 2), 2)
        del a
        self.assertEqual(wait_pins(self.c, name, 1), 1)
        del b
        self.assertEqual(wait_pins(self.c, name, 0), 0)

    def test_replace_and_delete(self):
        name = self.n("r")
        self.c.put(name, b"one")
        old = self.c.get(name)
        self.c.put(name, b"two", replace=True)
        self.assertEqual(bytes(self.c.get(name)), b"two")
        self.assertEqual(bytes(old), b"one")  # readers keep the old object
        self.c.delete(name)
        self.assertNotIn(name, self.c)
        self.assertEqual(bytes(old), b"one")

    def test_create_seals(self):
        name = self.n("made")
        with self.c.create(name, 5) as buf:
            self.assertFalse(buf.readonly)
            buf[:] = b"hello"
        self.assertEqual(bytes(self.c.get(name)), b"hello")
        with self.c.create(self.n("arr"), shape=(2, 3), dtype=np.int16, order="F") as arr:
            arr[...] = np.arange(6).reshape(2, 3)
        got = self.c.get(self.n("arr"))
        np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3))
        self.assertEqual(got.dtype, np.int16)

    def test_create_aborts_on_exception(self):
        name = self.n("aborted")
        with self.assertRaises(ZeroDivisionError):
            with self.c.create(name, 100) as buf:
                buf[:1] = b"x"
                1 / 0
        self.assertNotIn(name, self.c)
        self.assertEqual(self.c.info()["unsealed_objects"], 0)
        self.c.put(name, b"free again")  # the name is free

    def test_stat_list_info(self):
        self.c.put(self.n("a/1"), b"12345")
        self.c.put(self.n("a/2"), np.zeros(4))
        self.c.put(self.n("b"), b"")
        st = self.c.stat(self.n("a/1"))
        self.assertEqual(set(st), {"name", "id", "size", "meta_size", "pins", "created_ns",
                                   "location", "durable", "owner", "expires_ns"})
        self.assertEqual((st["name"], st["size"], st["pins"]), (self.n("a/1"), 5, 0))
        self.assertEqual((st["location"], st["durable"]), ("memory", False))
        self.assertEqual((st["owner"], st["expires_ns"]), (os.getuid(), None))
        self.assertGreater(st["created_ns"], 0)
        self.assertEqual([e["name"] for e in self.c.list(self.n("a/*"))],
                         [self.n("a/1"), self.n("a/2")])
        self.assertEqual(len(self.c.list(self.prefix + "*")), 3)
        info = self.c.info()
        self.assertEqual(info["capacity_bytes"], 256 << 20)
        self.assertGreaterEqual(info["objects"], 3)
        self.assertIn("ENOTFOUND", info["errors"])
        self.assertIsInstance(info["version"], str)


class TestErrors(Base):
    def test_not_found(self):
        with self.assertRaises(shmstore.NotFound) as cm:
            self.c.get(self.n("missing"))
        self.assertIsInstance(cm.exception, shmstore.Error)
        self.assertEqual(cm.exception.errname, "ENOTFOUND")
        with self.assertRaises(shmstore.NotFound):
            self.c.delete(self.n("missing"))
        with self.assertRaises(shmstore.NotFound):
            self.c.stat(self.n("missing"))

    def test_exists(self):
        self.c.put(self.n("x"), b"1")
        with self.assertRaises(shmstore.Exists):
            self.c.put(self.n("x"), b"2")
        with self.assertRaises(shmstore.Exists):
            with self.c.create(self.n("x"), 1):
                pass

    def test_timeout(self):
        t0 = time.monotonic()
        with self.assertRaises(shmstore.Timeout):
            self.c.get(self.n("never"), timeout=0.1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)

    def test_store_full(self):
        with self.assertRaises(shmstore.StoreFull) as cm:
            self.c.put(self.n("huge"), np.zeros(300 << 20, dtype=np.uint8))
        self.assertTrue(str(cm.exception))  # carries the daemon's detail
        with self.assertRaises(shmstore.StoreFull):
            with self.c.create(self.n("huge"), 300 << 20):
                pass

    def test_connection_lost(self):
        with self.assertRaises(shmstore.ConnectionLost):
            shmstore.connect(os.path.join(DAEMON.tmpdir.name, "nobody.sock"))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            self.c.get(self.n("x"), timeout=-1)
        with self.assertRaises(TypeError):
            self.c._c.put(self.n("x"), "not a buffer")
        with self.assertRaises(ValueError):
            self.c.put("bad\0name", b"")
        with self.assertRaises(shmstore.Error):
            self.c.put("", b"x")  # EINVAL from the library
        with self.assertRaises(ValueError):
            self.c._c.create(self.n("x"), -1)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root and setpriv to run a client as another user")
    def test_permission_denied(self):
        """A read-only user's put and a refused user's connect raise PermissionDenied."""
        with tempfile.TemporaryDirectory(prefix="shmstore-py-perm-") as tmp:
            os.chmod(tmp, 0o755)
            # Other users must be able to load the package and library wherever the build is.
            pkg = os.path.join(tmp, "pkg")
            shutil.copytree(os.path.dirname(shmstore.__file__), os.path.join(pkg, "shmstore"))
            lib = os.path.join(tmp, "lib")
            os.mkdir(lib)
            with open("/proc/self/maps") as maps:
                loaded = {line.split()[-1] for line in maps if "libshmstore.so" in line}
            for path in loaded:   # the mapped file, under its soname as the loader asks
                shutil.copy(path, os.path.join(lib, "libshmstore.so.0"))
            for root, dirs, files in os.walk(tmp):
                for entry in dirs + files:
                    os.chmod(os.path.join(root, entry), 0o755)
            sock = os.path.join(tmp, "s.sock")
            conf = os.path.join(tmp, "shmstored.conf")
            with open(conf, "w") as f:
                f.write("socket_mode = 0666\nreadonly_users = 4102\n")
            daemon = subprocess.Popen([os.environ["SHMSTORED"], "-c", conf, "-s", sock, "-m", "16M",
                                       "--log-level", "warn"])
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        root_client = shmstore.connect(sock)
                        break
                    except shmstore.ConnectionLost:
                        self.assertLess(time.monotonic(), deadline, "daemon did not start")
                        time.sleep(0.02)
                root_client.put("shared", b"for everyone")
                probe = ("import shmstore, sys\n"
                         "try:\n"
                         "    c = shmstore.connect(sys.argv[1])\n"
                         "    print('got', bytes(c.get('shared')))\n"
                         "    c.put('mine', b'x')\n"
                         "    print('put worked')\n"
                         "except shmstore.PermissionDenied as e:\n"
                         "    print('PermissionDenied:', e)\n"
                         "    print('PermissionError:', isinstance(e, PermissionError),"
                         " e.errname)\n")
                env = dict(os.environ, PYTHONPATH=pkg, LD_LIBRARY_PATH=lib)

                def run_as(uid):
                    done = subprocess.run(
                        ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
                         sys.executable, "-c", probe, sock],
                        env=env, capture_output=True, text=True, timeout=60)
                    return done.stdout + done.stderr

                out = run_as(4102)
                self.assertIn("got b'for everyone'", out)
                self.assertIn("PermissionDenied:", out)
                self.assertIn("read-only", out)
                self.assertNotIn("put worked", out)
                self.assertIn("PermissionError: True EPERM", out)
                out = run_as(4103)
                self.assertIn("PermissionDenied:", out)
                self.assertIn("PermissionError: True EPERM", out)
                self.assertIn("uid 4103 is not allowed", out)
                self.assertNotIn("mine", [e["name"] for e in root_client.list()])
                # A socket this user may not open: PermissionDenied naming its mode and group.
                os.chmod(sock, 0o600)
                out = run_as(4102)
                self.assertIn("PermissionDenied: permission denied connecting", out)
                self.assertIn("mode 0600", out)
                self.assertIn("PermissionError: True EPERM", out)
                root_client.close()
            finally:
                daemon.send_signal(signal.SIGTERM)
                self.assertEqual(daemon.wait(timeout=10), 0)


class TestMultiprocessing(Base):
    def test_pool_start_methods(self):
        a = np.random.default_rng(1).integers(0, 1000, size=(256, 1024), dtype=np.int32)
        name = self.n("shared")
        self.c.put(name, a)
        want = (zlib.crc32(a.tobytes()), a.shape, False)
        for method in ("fork", "spawn", "forkserver"):
            with self.subTest(method=method):
                ctx = multiprocessing.get_context(method)
                with ctx.Pool(3) as pool:
                    results = pool.map(checksum_worker, [(SOCK, name)] * 6)
                self.assertEqual(results, [want] * 6)
        self.assertEqual(wait_pins(self.c, name, 0), 0)

    def test_fork_child_does_not_release_parent_pins(self):
        name = self.n("inherited")
        self.c.put(name, np.arange(10))
        a = self.c.get(name)
        self.assertEqual(wait_pins(self.c, name, 1), 1)
        pid = os.fork()
        if pid == 0:  # child: drop the inherited array, then use the inherited client
            code = 1
            try:
                del a  # the child's Pin dealloc must not release the parent's pin
                gc.collect()
                code = 0 if int(self.c.get(name).sum()) == 45 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        time.sleep(0.05)
        self.assertEqual(self.c.stat(name)["pins"], 1)  # still the parent's pin
        self.assertEqual(int(a.sum()), 45)

    def test_consumer_waits_for_producer(self):
        name = self.n("later")
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            pending = pool.apply_async(waiting_consumer, ((SOCK, name, 30.0),))
            time.sleep(0.3)
            self.assertFalse(pending.ready())
            self.c.put(name, np.arange(100))
            self.assertEqual(pending.get(timeout=30), 4950)


if __name__ == "__main__":
    unittest.main(verbosity=2)
