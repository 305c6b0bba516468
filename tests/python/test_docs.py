"""docs/python.md, the Python API reference, is what python/gen_docs.py renders from the
package's docstrings now: a docstring changed without regenerating the file fails here, with
the command that regenerates it. Also checks the reference covers the API and names no path of
the machine it was generated on.
"""

import os
import subprocess
import sys
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GENERATOR = os.path.join(ROOT, "python", "gen_docs.py")
REFERENCE = os.path.join(ROOT, "docs", "python.md")


class TestReference(unittest.TestCase):
    def test_up_to_date(self):
        proc = subprocess.run([sys.executable, GENERATOR, "--check", REFERENCE],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_check_fails_on_a_stale_file(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".md") as stale:
            stale.write("# an old reference\n")
            stale.flush()
            proc = subprocess.run([sys.executable, GENERATOR, "--check", stale.name],
                                  capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("gen_docs.py --output docs/python.md", proc.stderr)

    def test_covers_the_api(self):
        import shmstore
        with open(REFERENCE, encoding="utf-8") as f:
            text = f.read()
        for name in shmstore.__all__:
            self.assertIn(name, text)
        for method in ("Client.put", "Client.get", "Client.delete", "Client.namespace",
                       "Namespace.clear", "Store.stop"):
            self.assertIn("#### %s(" % method, text)
        # No path of the machine that generated it: neither its temp dir nor the source tree.
        self.assertNotIn("/tmp/", text)
        self.assertNotIn(ROOT + "/", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
