"""serve(): a private shmstored started from Python, for as long as its owner lives.

serve() finds the shmstored program, starts it on a fresh socket in a new owner-only directory
(or on the socket asked for), waits until the socket accepts connections, and publishes the
socket in $SHMSTORE_SOCKET, so connect() without arguments, in this process and in the workers
of a multiprocessing Pool (fork or spawn), reaches it. Store.stop(), the end of a `with` block,
or the interpreter's exit stops it with SIGTERM (SIGKILL after a grace period), removes the
directory and restores $SHMSTORE_SOCKET.

Even a SIGKILLed owner leaves no daemon behind: shmstored gets the read end of a pipe
(--lifeline FD) and shuts down when the pipe reaches end of file, i.e. when the last write end
closes. Only the owner holds the write end: it is not inherited across exec, and a fork hook
closes it in forked children, so a Pool worker that outlives its parent does not keep the
store alive. The daemon runs in its own session, so a Ctrl-C meant for the Python program (the
terminal signals its whole process group) does not stop the store under it.
"""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
import weakref

from ._client import connect
from .errors import Error, NotRunning

__all__ = ["serve", "Store", "StartFailed", "find_shmstored"]

# Write ends of the lifelines of the stores this process started; a forked child closes its
# copies at once (see the module docstring).
_lifelines = set()

# Stores running, so that one started without a `with` and without a reference kept (a bare
# `shmstore.serve()` at the top of a script) runs until stop() or the interpreter's exit rather
# than until the garbage collector finds it.
_running = set()


def _close_lifelines_in_child():
    for fd in _lifelines:
        try:
            os.close(fd)
        except OSError:
            pass
    _lifelines.clear()


os.register_at_fork(after_in_child=_close_lifelines_in_child)


class StartFailed(Error):
    """serve() could not start shmstored: the program was not found, or it exited (or did not
    answer) while starting. The message holds what it printed."""


def find_shmstored():
    """The shmstored program serve() runs: $SHMSTORED if set; else the one installed with this
    package (the running interpreter's scripts directory, where pip puts a wheel's programs,
    or the user scripts directory of `pip install --user`); else the first on $PATH. Raises
    StartFailed when there is none."""
    explicit = os.environ.get("SHMSTORED")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise StartFailed("$SHMSTORED is %s, which is not an executable program" % explicit)
        return explicit
    for scheme in (None, "%s_user" % os.name):
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else \
                sysconfig.get_path("scripts")
        except KeyError:  # no such scheme on this platform
            continue
        candidate = os.path.join(scripts, "shmstored")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("shmstored")
    if found:
        return found
    raise StartFailed(
        "cannot find the shmstored program: not in $SHMSTORED, not beside this Python (%s), "
        "not on $PATH; install shmstore with pip (the wheel carries it) or set SHMSTORED to "
        "its path" % sysconfig.get_path("scripts"))


def _runtime_dir():
    """Where the private socket directory goes: $XDG_RUNTIME_DIR (per-user, in memory) when it
    is usable, else the temporary directory."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK | os.X_OK):
        return xdg
    return None


def _shut_down(proc, lifeline_fd, private_dir, owner_pid, grace):
    """Stop the daemon and free what serve() took. Runs once (weakref.finalize), in the owner
    only: a forked child that ends its copy of the `with` block must not stop the store."""
    if os.getpid() != owner_pid:
        return
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        if lifeline_fd in _lifelines:
            _lifelines.discard(lifeline_fd)
            os.close(lifeline_fd)
        if private_dir:
            shutil.rmtree(private_dir, ignore_errors=True)


class Store:
    """A shmstored started by serve(), running until stop() or the end of its `with` block.

    Attributes: `socket` (its path), `pid` (the daemon's process id), `program` (the shmstored
    run)."""

    def __init__(self, memory=None, socket=None, *, reserve=True, config=None,
                 log_level="warn", data_dir=None, extra_args=(), grace=5.0, start_timeout=30.0):
        memory_arg = None if memory is None else _size_arg(memory)
        self.program = find_shmstored()
        self._owner_pid = os.getpid()
        self._finalizer = None
        self._old_env = None
        self._env_set = False
        if socket is None:
            self._private_dir = tempfile.mkdtemp(prefix="shmstore-", dir=_runtime_dir())
            self.socket = os.path.join(self._private_dir, "shmstore.sock")
        else:
            self._private_dir = None
            self.socket = os.path.abspath(socket)
            _refuse_live_socket(self.socket)
        args = [self.program, "--socket", self.socket,
                # A private store does not follow the system daemon's configuration.
                "--config", config if config is not None else os.devnull,
                "--log-level", log_level]
        if memory_arg is not None:
            args += ["--memory", memory_arg]
        if not reserve:
            args.append("--no-reserve")
        if data_dir is not None:
            args += ["--data-dir", os.path.abspath(data_dir)]
        args += list(extra_args)
        # The log goes to an unlinked file: read back if the start fails, gone with the daemon.
        self._log = tempfile.TemporaryFile()
        read_end, write_end = os.pipe()
        try:
            args += ["--lifeline", str(read_end)]
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, pass_fds=(read_end,),
                                          start_new_session=True)
        except BaseException:
            os.close(write_end)
            self._log.close()
            if self._private_dir:
                shutil.rmtree(self._private_dir, ignore_errors=True)
            raise
        finally:
            os.close(read_end)
        _lifelines.add(write_end)
        self.pid = self._proc.pid
        self._finalizer = weakref.finalize(self, _shut_down, self._proc, write_end,
                                           self._private_dir, self._owner_pid, grace)
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self._finalizer()
            self._log.close()
            raise
        self._old_env = os.environ.get("SHMSTORE_SOCKET")
        os.environ["SHMSTORE_SOCKET"] = self.socket
        self._env_set = True
        _running.add(self)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise StartFailed("shmstored exited with status %d while starting: %s"
                                  % (self._proc.returncode, self.log() or "(no output)"))
            try:
                connect(self.socket).close()
                return
            except NotRunning:
                pass
            if time.monotonic() > deadline:
                raise StartFailed("shmstored did not accept connections at %s within %g s: %s"
                                  % (self.socket, timeout, self.log() or "(no output)"))
            time.sleep(0.01)

    def log(self):
        """What the daemon has printed so far (its log, warnings and errors only by default)."""
        if self._log.closed:
            return ""
        with open(self._log.fileno(), "rb", closefd=False) as f:
            f.seek(0)
            return f.read().decode(errors="replace").strip()

    def connect(self):
        """A new Client of this store."""
        return connect(self.socket)

    @property
    def running(self):
        """True while the daemon runs."""
        return self._proc.poll() is None

    def stop(self):
        """Stop the daemon (SIGTERM, then SIGKILL after the grace period), remove its private
        directory and restore $SHMSTORE_SOCKET. Calling it again does nothing. Values got from
        the store stay readable after it stops."""
        if os.getpid() != self._owner_pid:
            return  # a forked child's copy: the store belongs to the parent
        _running.discard(self)
        if self._env_set:
            self._env_set = False
            if os.environ.get("SHMSTORE_SOCKET") == self.socket:
                if self._old_env is None:
                    os.environ.pop("SHMSTORE_SOCKET", None)
                else:
                    os.environ["SHMSTORE_SOCKET"] = self._old_env
        if self._finalizer is not None and self._finalizer.alive:
            self._finalizer()
            status = self._proc.returncode
            if status not in (0, -signal.SIGKILL):
                warnings.warn("shmstored at %s exited with status %s: %s"
                              % (self.socket, status, self.log()), RuntimeWarning, stacklevel=2)
        if not self._log.closed:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "<shmstore.Store %s pid %d %s>" % (self.socket, self.pid,
                                                  "running" if self.running else "stopped")


def _size_arg(memory):
    if isinstance(memory, bool) or not isinstance(memory, (int, str)):
        raise TypeError("memory must be a size like \"4G\", \"512M\" or a number of bytes, "
                        "not %r" % (memory,))
    if isinstance(memory, int) and memory <= 0:
        raise ValueError("memory must be positive, not %d" % memory)
    return str(memory)


def _refuse_live_socket(path):
    """A daemon that finds another live one on its socket exits; but until it has, the other
    one would answer serve()'s readiness check. So look first."""
    try:
        connect(path).close()
    except NotRunning:
        return
    except Error:
        pass  # something answers there, even if not to us
    raise StartFailed("a shmstored already serves %s; connect to it with connect(%r), or "
                      "choose another socket" % (path, path))


def serve(memory=None, socket=None, *, reserve=True, config=None, log_level="warn",
          data_dir=None, extra_args=(), grace=5.0, start_timeout=30.0):
    """Start a private shmstored and return its Store; use it as a context manager.

        with shmstore.serve(memory="4G") as store:
            with store.connect() as client:      # or shmstore.connect(): the same store
                client.put("x", big_array)
            with multiprocessing.Pool(4) as pool:  # workers' connect() find it too
                pool.map(work, tasks)
        # the daemon is stopped and its memory freed

    memory: the store's capacity, a size with a K/M/G suffix ("512M", "4G") or a number of
    bytes (None: shmstored's default, 1G); reserved up front unless reserve=False. socket: the
    path to serve on (None: a fresh one in a new owner-only directory). config: a shmstored
    configuration file (None: none, not even the system daemon's). log_level: what the daemon
    logs (error, warn, info, debug), kept for Store.log(). data_dir: a directory where the
    daemon keeps durable objects (put(..., persist=True)); a later serve() with the same
    data_dir finds them again (None: no durable objects). extra_args: more shmstored options.
    grace: seconds between SIGTERM and SIGKILL when stopping. start_timeout: seconds to wait for
    the daemon to accept connections.

    While the store runs, $SHMSTORE_SOCKET names its socket (inherited by fork and spawn Pool
    workers; a forkserver started before serve() keeps its old environment). The daemon stops
    at the end of the block, at stop(), at the interpreter's exit, or, through a lifeline pipe,
    when this process dies in any way (even SIGKILL). Raises StartFailed when shmstored cannot
    be found or does not start (with what it printed)."""
    return Store(memory, socket, reserve=reserve, config=config, log_level=log_level,
                 data_dir=data_dir, extra_args=extra_args, grace=grace,
                 start_timeout=start_timeout)


def main_serve(memory, socket, log_level):
    """`python -m shmstore serve`: run a store in the foreground until Ctrl-C or SIGTERM."""
    # SIGTERM ends the program like Ctrl-C does: through the `with`, which stops the daemon.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with serve(memory=memory, socket=socket, log_level=log_level) as store:
        with store.connect() as client:
            capacity = client.info()["capacity_bytes"]
        print("shmstored (pid %d) serves %s at %s; Ctrl-C stops it. In another shell:"
              % (store.pid, _human(capacity), store.socket))
        print("export SHMSTORE_SOCKET=%s" % store.socket, flush=True)
        try:
            status = store._proc.wait()
        except KeyboardInterrupt:
            print("stopping shmstored", file=sys.stderr)
            return 0
        print("shmstored exited with status %d: %s" % (status, store.log()), file=sys.stderr)
        return 1


def _human(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (nbytes, unit)
        nbytes /= 1024
