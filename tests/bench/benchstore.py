"""benchstore.py — what the Python benchmarks of tests/bench share: a private shmstored for one
run, the daemon's pid, memory figures from /proc, CPU pinning and a plain-text table.

The store is a private one from shmstore.serve() (the build's shmstored when $SHMSTORED names
it, as tests/bench/run_python.sh does), or the daemon at a given socket; either way the caller
gets the socket's path and the daemon's pid (the latter through SO_PEERCRED for a given socket),
so that the daemon can be pinned and measured.
"""

import contextlib
import os
import socket
import struct

import shmstore


def rollup(pid="self"):
    """{'Pss': kB, 'Pss_Shmem': kB, ...} from /proc/PID/smaps_rollup; empty if the process is
    gone or unreadable."""
    out = {}
    try:
        with open("/proc/%s/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def peer_pid(socket_path):
    """The pid of the process listening on a Unix socket (the daemon), or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(socket_path)
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", cred)[0]
    except OSError:
        return None
    finally:
        s.close()


def pin(pid, cpus):
    """Pin every thread of pid (0: this process) to the set cpus."""
    tids = [pid]
    if pid:
        with contextlib.suppress(OSError):
            tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    for tid in tids:
        os.sched_setaffinity(tid, set(cpus))


@contextlib.contextmanager
def private_store(memory):
    """(socket path, daemon pid) of a private store (shmstore.serve()) with an arena of
    `memory` (e.g. "2G"), stopped when the block ends. Pool workers forked or spawned inside the
    block find it without arguments; the socket is returned for explicit connects."""
    with shmstore.serve(memory=memory) as served:
        yield served.socket, served.pid


def arena_paths(daemon_pid):
    """/proc paths of the daemon's arena (a memfd; one path per distinct file): its pages are
    the store's memory, mapped by a client or not."""
    paths, seen = [], set()
    fd_dir = "/proc/%d/fd" % daemon_pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return paths
    for fd in fds:
        path = os.path.join(fd_dir, fd)
        try:
            if not os.readlink(path).startswith("/memfd:shmstore-arena"):
                continue
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            paths.append(path)
    return paths


def fmt_mib(nbytes):
    if nbytes < 2**20:
        return "%.0f KiB" % (nbytes / 2**10)
    return "%.0f MiB" % (nbytes / 2**20)


def fmt_seconds(s):
    if s >= 10:
        return "%.1f s" % s
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.1f ms" % (s * 1e3)
    return "%.1f us" % (s * 1e6)


def print_table(head, rows):
    """Rows of strings under head, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip())
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


@contextlib.contextmanager
def store(socket_path, memory):
    """(socket path, daemon pid): of the daemon at socket_path if given, else private_store()."""
    if socket_path:
        yield socket_path, peer_pid(socket_path)
        return
    with private_store(memory) as found:
        yield found
