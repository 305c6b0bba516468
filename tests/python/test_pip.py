"""shmstore installs like any Python package: `pip install .` into a fresh venv and into a user
base, and `pip wheel .`, each from a clean copy of the source tree, with no package index.

The copy holds the files git knows or would add (tracked, and untracked but not ignored) from
the working tree, so it tests what is checked out without any build directory. The interpreter
is the one running this test (meson passes the build's `python` option). From a directory
outside the tree it checks that the installed package is the one imported, that pip put
shmstored and storectl in the environment's scripts directory and they run, and that a daemon
started from there serves a put and get through the installed package and the installed
storectl. The wheel must hold the extension, with libshmstore linked in (no DT_NEEDED on it),
and both programs, and nothing for C developers or system services; its programs must run
unpacked. And `meson install` of this build (into a scratch DESTDIR) must put the package in a
directory the interpreter searches. Exits 77 (skip) when pip, venv or meson-python is missing.
Removes all it made.
"""

import glob
import importlib.util
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import unittest
import zipfile

PYTHON = sys.executable
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", "")
PIP_OFFLINE = ["--no-build-isolation", "--no-index", "--no-cache-dir",
               "--disable-pip-version-check"]
PROGRAMS = ("shmstored", "storectl")


def missing_tools():
    """Why this test cannot run here, or None."""
    for module, package in (("pip", "python3-pip"), ("venv", "python3-venv"),
                            ("ensurepip", "python3-venv"), ("mesonpy", "python3-mesonpy")):
        if importlib.util.find_spec(module) is None:
            return f"{PYTHON} has no module {module} (Debian: apt-get install {package})"
    if not SOURCE_ROOT:
        return "SOURCE_ROOT is not set (run through meson test)"
    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", SOURCE_ROOT, "rev-parse"], capture_output=True).returncode != 0:
        return f"{SOURCE_ROOT} is not a git checkout: the files to copy come from git ls-files"
    return None


def clean_env(**extra):
    """The environment of a user's shell: nothing that points Python or pip elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "SHMSTORE_")) and k != "VIRTUAL_ENV"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run(args, cwd, env=None, timeout=600):
    return subprocess.run(args, cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def copy_checkout(source, dest):
    listed = subprocess.run(
        ["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = os.path.join(source, rel)
        if not os.path.lexists(src):      # deleted in the working tree, not yet in git
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)


def needed_libraries(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True)
    return [line.split("[", 1)[1].rstrip("]") for line in out.stdout.splitlines()
            if "(NEEDED)" in line]


def wait_for_socket(path, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
                return True
            except OSError:
                time.sleep(0.05)
    return False


class PipInstall(unittest.TestCase):
    """The three pip runs happen once, in setUpClass; each test checks one thing about them."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="shmstore-pip-")
        cls.src = os.path.join(cls.tmp, "src")
        cls.outside = os.path.join(cls.tmp, "elsewhere")    # cwd of every check
        os.makedirs(cls.outside)
        copy_checkout(SOURCE_ROOT, cls.src)

        cls.venv = os.path.join(cls.tmp, "venv")
        cls.venv_python = os.path.join(cls.venv, "bin", "python")
        made = run([PYTHON, "-m", "venv", "--system-site-packages", cls.venv], cls.outside)
        cls.must(made, "python -m venv --system-site-packages")
        cls.must(run([cls.venv_python, "-m", "pip", "install", *PIP_OFFLINE, cls.src],
                     cls.outside), "pip install . into the venv")

        cls.wheel_dir = os.path.join(cls.tmp, "wheels")
        cls.must(run([PYTHON, "-m", "pip", "wheel", "--no-deps", *PIP_OFFLINE,
                      "-w", cls.wheel_dir, cls.src], cls.outside), "pip wheel .")

        # Debian's python3 refuses --user installs (PEP 668) unless told this is meant.
        cls.user_base = os.path.join(cls.tmp, "userbase")
        cls.user_env = clean_env(PYTHONUSERBASE=cls.user_base)
        managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
        cls.must(run([PYTHON, "-m", "pip", "install", "--user", *PIP_OFFLINE,
                      *(["--break-system-packages"] if managed else []), cls.src],
                     cls.outside, cls.user_env), "pip install --user .")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def must(cls, result, what):
        if result.returncode != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError(f"{what} failed ({result.returncode}):\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")

    def python_says(self, python, code, env=None):
        result = run([python, "-c", code], self.outside, env)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip().splitlines()

    def version(self):
        return self.python_says(self.venv_python,
                                "import importlib.metadata as m; print(m.version('shmstore'))")[0]

    def test_venv_imports_the_installed_package(self):
        package, extension, site = self.python_says(self.venv_python, (
            "import shmstore, shmstore._shmstore as ext, sysconfig\n"
            "print(shmstore.__file__); print(ext.__file__); print(sysconfig.get_path('platlib'))"))
        site = os.path.realpath(site)
        self.assertTrue(site.startswith(os.path.realpath(self.venv)), site)
        self.assertEqual(os.path.realpath(package), os.path.join(site, "shmstore", "__init__.py"))
        self.assertEqual(os.path.dirname(os.path.realpath(extension)),
                         os.path.join(site, "shmstore"))
        self.assertNotIn("libshmstore", " ".join(needed_libraries(extension)))

    def test_venv_programs_are_in_its_scripts_dir_and_run(self):
        scripts = self.python_says(self.venv_python,
                                   "import sysconfig; print(sysconfig.get_path('scripts'))")[0]
        self.assertEqual(os.path.realpath(scripts), os.path.realpath(os.path.join(self.venv, "bin")))
        version = self.version()
        for program in PROGRAMS:
            result = run([os.path.join(scripts, program), "--version"], self.outside)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(result.stdout.startswith(f"{program} {version}"), result.stdout)
        self.assertNotIn("libshmstore", " ".join(needed_libraries(os.path.join(scripts, "storectl"))))

    def test_venv_daemon_serves_the_installed_package_and_storectl(self):
        bindir = os.path.join(self.venv, "bin")
        sock = os.path.join(self.tmp, "venv.sock")
        daemon = subprocess.Popen([os.path.join(bindir, "shmstored"), "-s", sock, "-m", "64M",
                                   "--log-level", "warn"], env=clean_env(), cwd=self.outside)
        try:
            self.assertTrue(wait_for_socket(sock, daemon), "shmstored did not start")
            env = clean_env(SHMSTORE_SOCKET=sock)
            got = self.python_says(self.venv_python, (
                "import shmstore\n"
                "with shmstore.connect() as store:\n"
                "    store.put('pip-check', b'installed by pip')\n"
                "    print(bytes(store.get('pip-check')).decode())\n"), env)
            self.assertEqual(got, ["installed by pip"])
            result = run([os.path.join(bindir, "storectl"), "get", "pip-check"], self.outside, env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, "installed by pip")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                status = daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
                raise
        self.assertEqual(status, 0)
        self.assertFalse(os.path.exists(sock))

    def test_wheel_is_self_contained_and_its_programs_run(self):
        wheels = glob.glob(os.path.join(self.wheel_dir, "shmstore-*.whl"))
        self.assertEqual(len(wheels), 1, wheels)
        unpacked = os.path.join(self.tmp, "unpacked")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = wheel.namelist()
            wheel.extractall(unpacked)
            for info in wheel.infolist():       # zipfile does not restore permissions
                mode = info.external_attr >> 16
                if mode & stat.S_IXUSR:
                    os.chmod(os.path.join(unpacked, info.filename), mode & 0o777)
        version = self.version()
        data = f"shmstore-{version}.data/"
        extensions = [n for n in names if n.startswith("shmstore/_shmstore") and n.endswith(".so")]
        self.assertEqual(len(extensions), 1, names)
        self.assertIn("shmstore/__init__.py", names)
        for program in PROGRAMS:
            self.assertIn(f"{data}scripts/{program}", names)
        # Nothing else: no libshmstore.so, header, pkg-config file, man page or systemd unit.
        others = [n for n in names if not n.startswith(("shmstore/", f"shmstore-{version}.dist-info/",
                                                         f"{data}scripts/"))]
        self.assertEqual(others, [])
        self.assertEqual(sorted(n for n in names if n.startswith(data)),
                         sorted(f"{data}scripts/{p}" for p in PROGRAMS))
        self.assertNotIn("libshmstore", " ".join(needed_libraries(
            os.path.join(unpacked, extensions[0]))))
        for program in PROGRAMS:
            path = os.path.join(unpacked, data, "scripts", program)
            self.assertNotIn("libshmstore", " ".join(needed_libraries(path)))
            result = run([path, "--version"], self.outside)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertTrue(result.stdout.startswith(f"{program} {version}"), result.stdout)

    def test_user_install_imports_from_the_user_base(self):
        package, user_site = self.python_says(PYTHON, (
            "import shmstore, site\n"
            "print(shmstore.__file__); print(site.getusersitepackages())"), self.user_env)
        self.assertTrue(os.path.realpath(user_site).startswith(os.path.realpath(self.user_base)))
        self.assertEqual(os.path.realpath(package),
                         os.path.join(os.path.realpath(user_site), "shmstore", "__init__.py"))
        for program in PROGRAMS:
            result = run([os.path.join(self.user_base, "bin", program), "--version"], self.outside)
            self.assertEqual(result.returncode, 0, result.stderr)


class MesonInstall(unittest.TestCase):
    def test_package_lands_where_the_interpreter_imports_it(self):
        build = os.environ.get("BUILD_ROOT")
        if not build:
            self.skipTest("BUILD_ROOT is not set (run through meson test)")
        options = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                            capture_output=True, text=True, check=True).stdout)
        prefix = next(o["value"] for o in options if o["name"] == "prefix")
        probe = ("import sys, os\n"
                 "print('\\n'.join(os.path.normpath(p) for p in sys.path if p))")
        searched = run([PYTHON, "-E", "-c", probe], "/").stdout.split()
        if not any(p.startswith(prefix.rstrip("/") + "/") for p in searched):
            self.skipTest(f"{PYTHON} has no site directory under the prefix {prefix}")
        with tempfile.TemporaryDirectory(prefix="shmstore-meson-install-") as dest:
            result = run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild",
                          "--quiet"], dest)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            packages = glob.glob(os.path.join(dest, "**", "shmstore", "__init__.py"),
                                 recursive=True)
            self.assertEqual(len(packages), 1, packages)
            package_dir = os.path.dirname(packages[0])
            site = "/" + os.path.relpath(os.path.dirname(package_dir), dest)
            self.assertIn(site, searched)
            extension = glob.glob(os.path.join(package_dir, "_shmstore*.so"))
            self.assertEqual(len(extension), 1)
            self.assertNotIn("libshmstore", " ".join(needed_libraries(extension[0])))


if __name__ == "__main__":
    reason = missing_tools()
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(77)
    unittest.main(verbosity=2)
