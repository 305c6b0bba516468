"""Every error of the Python API: its class, the built-in exception it also is, its text (which
says what to do), and its code and errname (the names `storectl info --json` prints).

A private store (shmstore.serve(), shmstored from $SHMSTORED) serves the module; $STORECTL, when
set (the meson test sets it), is run to compare error names with its JSON.
"""

import json
import os
import pickle
import re
import signal
import subprocess
import tempfile
import unittest

import numpy as np

import shmstore
from daemon_fixture import EmptyStoreCase, ModuleStore
from shmstore import _shmstore, errors

STORE = ModuleStore(memory="16M")
setUpModule = STORE.start
tearDownModule = STORE.stop


class Base(EmptyStoreCase):
    module_store = STORE

    def assert_error(self, exc, cls, builtin, errname):
        self.assertIs(type(exc), cls)
        self.assertIsInstance(exc, shmstore.Error)
        if builtin is not None:
            self.assertIsInstance(exc, builtin)
        self.assertEqual(exc.errname, errname)
        codes = {name: code for code, name in _shmstore.errnames.items()}
        self.assertEqual(exc.code, codes[errname])


class TestStoreErrors(Base):
    def test_not_found_is_a_key_error(self):
        with self.assertRaises(KeyError) as cm:
            self.c.get("model")
        e = cm.exception
        self.assert_error(e, shmstore.NotFound, KeyError, "ENOTFOUND")
        self.assertEqual(str(e), "model: not found")  # the message, not KeyError's repr
        self.assertEqual(e.name, "model")
        for call in (lambda: self.c.stat("model"), lambda: self.c.delete("model")):
            with self.assertRaises(shmstore.NotFound) as cm:
                call()
            self.assertEqual(cm.exception.name, "model")

    def test_exists(self):
        self.c.put("x", b"1")
        with self.assertRaises(shmstore.Exists) as cm:
            self.c.put("x", b"2")
        self.assert_error(cm.exception, shmstore.Exists, None, "EEXIST")
        self.assertIn("x", str(cm.exception))

    def test_timeout_names_object_and_wait(self):
        with self.assertRaises(TimeoutError) as cm:
            self.c.get("model", timeout=0.25)
        e = cm.exception
        self.assert_error(e, shmstore.Timeout, TimeoutError, "ETIMEDOUT")
        self.assertEqual(str(e), "'model' was not put within 0.25 s")
        self.assertEqual((e.name, e.timeout), ("model", 0.25))
        # Whole seconds read as such (formatted without waiting them out).
        e = errors._from_code(-5, "ETIMEDOUT", "timed out", "model", 5000)
        self.assertEqual(str(e), "'model' was not put within 5 s")

    def test_store_full_gives_bytes_and_the_way_out(self):
        with self.assertRaises(shmstore.StoreFull) as cm:
            self.c.put("huge", np.zeros(20 << 20, dtype=np.uint8))
        e = cm.exception
        self.assert_error(e, shmstore.StoreFull, None, "ENOSPC")
        text = str(e)
        asked = int(re.search(r"asked (\d+) bytes", text).group(1))  # exact bytes
        self.assertGreaterEqual(asked, 20 << 20)  # the array, and its metadata beside it
        self.assertIn("memory=", text)             # serve(memory=...)
        self.assertIn("shmstore serve --memory", text)
        self.assertRegex(text, r"-m|--memory")     # shmstored's option

    def test_invalid_argument_is_a_value_error(self):
        with self.assertRaises(ValueError) as cm:
            self.c.put("", b"x")
        self.assert_error(cm.exception, shmstore.InvalidArgument, ValueError, "EINVAL")
        self.assertEqual(str(cm.exception), "invalid name: empty")
        with self.assertRaises(ValueError) as cm:
            self.c._c.put("m", b"", b"x" * (shmstore.META_MAX + 1))
        self.assertIn("limit", str(cm.exception))
        with self.assertRaises(ValueError):
            self.c.put("bad\x01name", b"")

    def test_python_argument_errors(self):
        with self.assertRaises(ValueError):
            self.c.get("x", timeout=-1)
        with self.assertRaises(ValueError):
            self.c.get("x", timeout=float("nan"))
        with self.assertRaises(TypeError):
            self.c.put(42, b"x")
        with self.assertRaises(TypeError):
            with self.c.create("x"):
                pass
        with self.assertRaises(TypeError):
            with self.c.create("x", 4, shape=(1,), dtype="u4"):
                pass
        with self.assertRaises(ValueError):
            with self.c.create("x", shape=(1,), dtype="u4", order="K"):
                pass
        self.assertNotIn("x", self.c)

    def test_closed_client(self):
        self.c.close()
        with self.assertRaises(shmstore.ConnectionLost) as cm:
            self.c.ping()
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertIn("closed", str(cm.exception))
        self.c = STORE.connect()


class TestConnectionErrors(unittest.TestCase):
    def test_not_running_names_socket_and_how_to_start(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "nobody.sock")
            with self.assertRaises(ConnectionError) as cm:
                shmstore.connect(path)
        e = cm.exception
        self.assertIs(type(e), shmstore.NotRunning)
        self.assertIsInstance(e, shmstore.ConnectionLost)  # what earlier versions raised
        self.assertEqual((e.errname, e.socket), ("ECONN", path))
        text = str(e)
        for hint in (path, "python -m shmstore serve", "shmstore.serve()",
                     "shmstored -s " + path, "SHMSTORE_SOCKET"):
            self.assertIn(hint, text)

    def test_not_running_at_the_default_socket(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "default.sock")
            old = os.environ.get("SHMSTORE_SOCKET")
            os.environ["SHMSTORE_SOCKET"] = path
            try:
                self.assertEqual(_shmstore.default_socket(), path)
                with self.assertRaises(shmstore.NotRunning) as cm:
                    shmstore.connect()
            finally:
                if old is None:
                    del os.environ["SHMSTORE_SOCKET"]
                else:
                    os.environ["SHMSTORE_SOCKET"] = old
        self.assertEqual(cm.exception.socket, path)
        self.assertIn(path, str(cm.exception))

    def test_connection_lost_is_not_not_running(self):
        with shmstore.serve(memory="8M") as store:
            client = store.connect()
            client.ping()
            os.kill(store.pid, signal.SIGKILL)
            store._proc.wait()
            with self.assertRaises(shmstore.ConnectionLost) as cm:
                client.ping()
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertEqual(cm.exception.errname, "ECONN")
        client.close()

    def test_permission_denied_is_a_permission_error(self):
        e = errors._from_code(-7, "EPERM", "permission denied: the socket is rw-rw---- "
                                            "root:shmstore", socket="/run/x.sock",
                              connecting=True)
        self.assertIs(type(e), shmstore.PermissionDenied)
        self.assertIsInstance(e, PermissionError)
        self.assertIn("rw-rw----", str(e))  # the library's hint passes through


class TestErrorNames(Base):
    def test_every_code_has_its_class(self):
        self.assertEqual(sorted(_shmstore.errnames.values()),
                         sorted(["EINVAL", "ENOTFOUND", "EEXIST", "ENOSPC", "ETIMEDOUT",
                                 "ESTATE", "EPERM", "ECONN", "EPROTO", "ENOMEM", "EIO",
                                 "EINTR"]))
        for code, name in _shmstore.errnames.items():
            e = errors._from_code(code, name, "detail")
            self.assertEqual((e.code, e.errname), (code, name))
            self.assertIs(type(e), errors._CLASS_OF_ERRNAME.get(name, shmstore.Error))

    def test_names_match_storectl_json(self):
        with self.assertRaises(shmstore.NotFound):
            self.c.get("counted")
        names = self.c.info()["errors"]
        self.assertEqual(set(names), set(_shmstore.errnames.values()))
        self.assertGreaterEqual(names["ENOTFOUND"], 1)
        storectl = os.environ.get("STORECTL")
        if not storectl:
            self.skipTest("STORECTL is not set")
        out = subprocess.run([storectl, "-s", STORE.socket, "info", "--json"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        self.assertEqual(set(json.loads(out)["errors"]), set(names))

    def test_errors_survive_pickling(self):
        """A Pool worker's error reaches the parent as the same class, text and code."""
        try:
            self.c.get("gone", timeout=0.01)
        except shmstore.Timeout as e:
            back = pickle.loads(pickle.dumps(e))
        self.assertIs(type(back), shmstore.Timeout)
        self.assertEqual(str(back), "'gone' was not put within 0.01 s")
        self.assertEqual((back.errname, back.name, back.timeout), ("ETIMEDOUT", "gone", 0.01))


class TestModuleSurface(unittest.TestCase):
    def test_dir_shows_the_api(self):
        names = dir(shmstore)
        for imported in ("json", "math", "pickle", "np", "os", "contextlib", "_shmstore",
                         "_client", "_codec", "errors"):
            self.assertNotIn(imported, names)
        for api in ("connect", "serve", "Client", "Namespace", "Store", "NotFound", "Timeout",
                    "NotRunning", "escape_pattern"):
            self.assertIn(api, names)
        self.assertEqual(sorted(names), sorted(shmstore.__all__))
        for name in shmstore.__all__:
            self.assertTrue(hasattr(shmstore, name), name)

    def test_classes_show_as_shmstore(self):
        self.assertEqual(repr(shmstore.NotFound), "<class 'shmstore.NotFound'>")
        self.assertEqual(shmstore.Client.__module__, "shmstore")


if __name__ == "__main__":
    unittest.main(verbosity=2)
