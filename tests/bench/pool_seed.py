#!/usr/bin/python3
"""pool_seed.py — issue 8's seed case: a multiprocessing Pool of 2 workers whose tasks all need
the same 1 GiB float64 array and a dict of 20 arrays of 4 MiB, handed over four ways in one run.

Each task i sums its eighth (1/TASKS) of the big array and every array of the dict, and returns
that float; the driver checks every result against the same sum computed beforehand. Methods:

  shmstore   put both once (the dict as one pickle-5 object), workers get them by name
  inplace    as shmstore, but the driver makes the big array in the store (client.create with
             shape and dtype, filled where it lies), so no private copy of it ever exists
  argument   both passed as the task's arguments: pickled for every task (the baseline)
  shm        multiprocessing.shared_memory: one segment for the array, one packed segment for
             the dict, workers attach by name and build numpy views
  joblib     joblib.Parallel(n_jobs=2) with the default memmapping of arrays over max_nbytes
             (1M): dumped once to a folder in /dev/shm, workers get read-only np.memmap views

Each method runs in its own driver process (forked from a lean main, so nothing of one method's
memory outlives it into the next), which forks its Pool before making the data (workers inherit
none of it), makes the data, and then times from before the data is handed over (put, segment
copy, Parallel call, map) to after all results are back. Meanwhile a thread of the driver
samples PSS (/proc/PID/smaps_rollup) of the driver, all its descendants (workers, trackers) and,
for shmstore, the daemon, every 50 ms; the table shows the highest total seen. Shared pages count
once across processes in PSS, but only where some process has them mapped: joblib writes its
memmap files without mapping them and workers touch only what they read, so the rest of those
files is in no one's PSS; the "unmapped shm" column adds it back (file bytes minus the sampled
Pss_Shmem) so that the totals compare.

Run through tests/bench/run_python.sh pool_seed (pins the run to CPUs 0,1 with taskset), or:
PYTHONPATH=build/python SHMSTORED=build/daemon/shmstored /usr/bin/python3
tests/bench/pool_seed.py [--tasks N] [--size-mib M] [--methods ...]. The argument baseline moves
TASKS × 1.1 GiB through pipes: at 8 tasks it took 50-80 s here, the whole run under 2 minutes.
Exit 0 whatever the figures (it is a report), 1 if a result was wrong.
"""

import argparse
import contextlib
import glob
import math
import multiprocessing as mp
import os
import sys
import threading
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

import shmstore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchstore  # noqa: E402

METHODS = ("shmstore", "inplace", "argument", "shm", "joblib")
STORE_METHODS = ("shmstore", "inplace")
BIG_NAME, TABLES_NAME = "seed/big", "seed/tables"


def compute(big, tables, i, ntasks):
    """What a task does: the sum of its share of the big array plus the sums of every table."""
    lo, hi = i * len(big) // ntasks, (i + 1) * len(big) // ntasks
    return float(big[lo:hi].sum()) + sum(float(t.sum()) for t in tables.values())


def make_big(size_mib, out=None):
    """The big array, the same numbers every run; out: fill this array (of the right length,
    e.g. one in the store) instead of a new one."""
    rng = np.random.default_rng(8)
    return rng.random(size_mib * 2**20 // 8) if out is None else rng.random(out=out)


def make_tables(ntables, table_mib):
    rng = np.random.default_rng(9)
    rows = table_mib * 2**20 // 8 // 1024
    return {"table%02d" % k: rng.random((rows, 1024)) for k in range(ntables)}


# ---- worker side (module level: Pool and joblib pickle functions by name) --------------------

_store = None


def _connect_worker(socket_path):
    global _store
    _store = shmstore.connect(socket_path)


def task_shmstore(i, ntasks):
    return compute(_store.get(BIG_NAME), _store.get(TABLES_NAME), i, ntasks)


def task_argument(big, tables, i, ntasks):
    return compute(big, tables, i, ntasks)


def task_shm(layout, i, ntasks):
    (big_seg, big_len), (tab_seg, tab_layout) = layout
    segs = [shared_memory.SharedMemory(name=big_seg), shared_memory.SharedMemory(name=tab_seg)]
    try:
        big = np.ndarray((big_len,), np.float64, buffer=segs[0].buf)
        tables = {k: np.ndarray(shape, np.float64, buffer=segs[1].buf, offset=off)
                  for k, (off, shape) in tab_layout.items()}
        result = compute(big, tables, i, ntasks)
        del big, tables  # views must go before close() can unmap
        return result
    finally:
        for s in segs:
            s.close()


# ---- memory sampling ------------------------------------------------------------------------


def descendants(pid):
    out = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def tree_bytes(patterns):
    """Bytes allocated to the files at the paths that the glob patterns match (directories
    walked)."""
    total = 0
    for path in (p for pattern in patterns for p in glob.glob(pattern)):
        if os.path.isdir(path):
            for d, _, files in os.walk(path):
                for f in files:
                    try:
                        total += os.stat(os.path.join(d, f)).st_blocks * 512
                    except OSError:
                        pass
        else:
            try:
                total += os.stat(path).st_blocks * 512
            except OSError:
                pass
    return total


class PeakSampler:
    """Samples PSS of this process, its descendants and an optional daemon until stopped; keeps
    the sample with the highest total (PSS plus shm file bytes that no sampled process maps)."""

    def __init__(self, daemon_pid=None, shm_paths=(), interval=0.05):
        self.daemon_pid = daemon_pid
        self.shm_paths = list(shm_paths)
        self.interval = interval
        self.peak = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        me = os.getpid()
        kids = descendants(me)
        parts = {"parent": benchstore.rollup(me), "workers": {}, "daemon": {}}
        shmem = parts["parent"].get("Pss_Shmem", 0)
        for k in kids:
            r = benchstore.rollup(k)
            parts["workers"][k] = r.get("Pss", 0)
            shmem += r.get("Pss_Shmem", 0)
        daemon = benchstore.rollup(self.daemon_pid) if self.daemon_pid else {}
        shmem += daemon.get("Pss_Shmem", 0)
        s = {
            "parent": parts["parent"].get("Pss", 0) * 1024,
            "workers": sum(parts["workers"].values()) * 1024,
            "nworkers": len(kids),
            "daemon": daemon.get("Pss", 0) * 1024,
        }
        s["pss"] = s["parent"] + s["workers"] + s["daemon"]
        s["unmapped"] = max(0, tree_bytes(self.shm_paths) - shmem * 1024)
        s["total"] = s["pss"] + s["unmapped"]
        if self.peak is None or s["total"] > self.peak["total"]:
            self.peak = s

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()  # at least one sample, and the state with all results back


# ---- the methods (each runs in the driver, with its data already made) -----------------------


def run_store(a, big, tables, tasks, pool, put_big=True):
    """shmstore and inplace: put what is not in the store yet, map the tasks, delete both."""
    with shmstore.connect(a.socket) as client:
        arena = benchstore.arena_paths(a.daemon_pid) if a.daemon_pid else []
        with PeakSampler(daemon_pid=a.daemon_pid, shm_paths=arena) as sampler:
            t0 = time.perf_counter()
            if put_big:
                client.put(BIG_NAME, big)
            client.put(TABLES_NAME, tables)
            results = pool.starmap(task_shmstore, tasks, chunksize=1)
            wall = time.perf_counter() - t0
        client.delete(BIG_NAME)
        client.delete(TABLES_NAME)
    return wall, results, sampler.peak


def run_shmstore(a, big, tables, tasks, pool):
    return run_store(a, big, tables, tasks, pool)


def run_inplace(a, big, tables, tasks, pool):
    # The big array is in the store already (drive made it there); only the dict is put.
    return run_store(a, big, tables, tasks, pool, put_big=False)


def run_argument(a, big, tables, tasks, pool):
    with PeakSampler() as sampler:
        t0 = time.perf_counter()
        results = pool.starmap(task_argument, [(big, tables, i, n) for i, n in tasks],
                               chunksize=1)
        wall = time.perf_counter() - t0
    return wall, results, sampler.peak


def run_shm(a, big, tables, tasks, pool):
    offsets, packed = {}, 0
    for k, t in tables.items():
        offsets[k] = (packed, t.shape)
        packed += -(-t.nbytes // 64) * 64  # keep every table 64-byte aligned
    sampler = PeakSampler()
    segs = []
    try:
        with sampler:
            t0 = time.perf_counter()
            segs.append(shared_memory.SharedMemory(create=True, size=big.nbytes))
            np.ndarray(big.shape, big.dtype, buffer=segs[0].buf)[:] = big
            segs.append(shared_memory.SharedMemory(create=True, size=packed))
            for k, t in tables.items():
                np.ndarray(t.shape, t.dtype, buffer=segs[1].buf, offset=offsets[k][0])[:] = t
            sampler.shm_paths = ["/dev/shm/" + s.name for s in segs]
            layout = ((segs[0].name, len(big)), (segs[1].name, offsets))
            results = pool.starmap(task_shm, [(layout, i, n) for i, n in tasks], chunksize=1)
            wall = time.perf_counter() - t0
    finally:
        for s in segs:
            s.close()
            s.unlink()
    return wall, results, sampler.peak


def run_joblib(a, big, tables, tasks, pool):
    import joblib
    from joblib.externals.loky import get_reusable_executor

    # joblib makes a memmap folder per call in temp_folder, named after this process, and
    # its resource tracker removes it.
    folders = "/dev/shm/joblib_memmapping_folder_%d_*" % os.getpid()
    try:
        # The same settings for both calls: the workers, started here before the clock as the
        # Pools of the other methods are, keep the memmap folder of the call that made them.
        def parallel():
            return joblib.Parallel(n_jobs=2, max_nbytes="1M", mmap_mode="r",
                                   temp_folder="/dev/shm")
        parallel()(joblib.delayed(os.getpid)() for _ in range(4))
        with PeakSampler(shm_paths=[folders]) as sampler:
            t0 = time.perf_counter()
            results = parallel()(joblib.delayed(task_argument)(big, tables, i, n)
                                 for i, n in tasks)
            wall = time.perf_counter() - t0
    finally:
        get_reusable_executor().shutdown(wait=True)
    return wall, results, sampler.peak


RUNNERS = {"shmstore": run_shmstore, "inplace": run_inplace, "argument": run_argument,
           "shm": run_shm, "joblib": run_joblib}


def drive(method, a, out):
    """One method in this (driver) process; puts (method, wall, ok, peak) on out."""
    if method == "shm":
        resource_tracker.ensure_running()  # forked workers then share the driver's tracker
    ctx = mp.get_context("fork")
    pool = None
    if method in STORE_METHODS + ("argument", "shm"):
        init = (_connect_worker, (a.socket,)) if method in STORE_METHODS else (None, ())
        pool = ctx.Pool(2, initializer=init[0], initargs=init[1])
        pool.map(abs, range(4))  # workers up before the data exists
    client = None
    try:
        if method == "inplace":
            client = shmstore.connect(a.socket)
            with client.create(BIG_NAME, shape=(a.size_mib * 2**20 // 8,), dtype="f8") as room:
                make_big(a.size_mib, out=room)
            big = client.get(BIG_NAME)
        else:
            big = make_big(a.size_mib)
        tables = make_tables(a.tables, a.table_mib)
        tasks = [(i, a.tasks) for i in range(a.tasks)]
        expected = [compute(big, tables, i, n) for i, n in tasks]
        wall, results, peak = RUNNERS[method](a, big, tables, tasks, pool)
        ok = len(results) == len(expected) and all(
            math.isclose(r, e, rel_tol=1e-9) for r, e in zip(results, expected))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if client is not None:
            client.close()
    out.put((method, wall, ok, peak))


@contextlib.contextmanager
def _store_for(a, methods, memory):
    """Sets a.socket and a.daemon_pid: the store at --socket, or a private one when the
    shmstore methods run."""
    if not set(STORE_METHODS) & set(methods):
        a.daemon_pid = None
        yield
        return
    with benchstore.store(a.socket, memory) as (a.socket, a.daemon_pid):
        yield


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", help="use this shmstored instead of a private one")
    ap.add_argument("--tasks", type=int, default=8, help="tasks of the Pool (default 8)")
    ap.add_argument("--size-mib", type=int, default=1024, help="the big array (default 1024)")
    ap.add_argument("--tables", type=int, default=20, help="arrays in the dict (default 20)")
    ap.add_argument("--table-mib", type=int, default=4, help="size of each (default 4)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated subset of " + ",".join(METHODS))
    a = ap.parse_args()
    a.socket_given = a.socket is not None
    methods = [m for m in a.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            ap.error("unknown method %r" % m)
    try:
        import joblib
        joblib_note = "joblib %s" % joblib.__version__
    except ImportError:
        joblib_note = "joblib not installed (apt-get install python3-joblib): skipped"
        methods = [m for m in methods if m != "joblib"]

    data_bytes = a.size_mib * 2**20 + a.tables * a.table_mib * 2**20
    cpus = sorted(os.sched_getaffinity(0))
    print("pool_seed: Pool(2, fork) x %d tasks over a %d MiB float64 array + a dict of %d x %d "
          "MiB arrays (%s in all)" % (a.tasks, a.size_mib, a.tables, a.table_mib,
                                      benchstore.fmt_mib(data_bytes)))
    print("python %s, numpy %s, %s; CPUs allowed: %s (every process of the run, daemon "
          "included, floats over these)" % (sys.version.split()[0], np.__version__,
                                             joblib_note, ",".join(map(str, cpus))))
    sys.stdout.flush()

    memory = "%dM" % (data_bytes // 2**20 + 64)  # the data and the allocator's slack
    rows = {}
    started = time.perf_counter()
    with _store_for(a, methods, memory):
        if set(STORE_METHODS) & set(methods) and not a.socket_given:
            # shmstored reserves its whole arena at start (pages allocated and zeroed), so
            # the shmstore method's copy finds its pages ready: that cost is here, not in
            # its wall time.
            print("private store of %s started in %s (arena reserved)"
                  % (memory, benchstore.fmt_seconds(time.perf_counter() - started)))
        for m in methods:
            out = mp.get_context("fork").Queue()
            p = mp.get_context("fork").Process(target=drive, args=(m, a, out))
            p.start()
            rows[m] = out.get()
            p.join()
            print("  %-9s %s" % (m, benchstore.fmt_seconds(rows[m][1])), flush=True)

    base = rows.get("argument")
    head = ("method", "wall", "vs argument", "peak memory", "vs argument", "parent",
            "workers", "daemon", "unmapped shm", "result")
    table = []
    for m in methods:
        _, wall, ok, peak = rows[m]
        table.append((
            m, benchstore.fmt_seconds(wall),
            "%.3fx" % (wall / base[1]) if base else "-",
            benchstore.fmt_mib(peak["total"]),
            "%.2fx" % (peak["total"] / base[3]["total"]) if base else "-",
            benchstore.fmt_mib(peak["parent"]),
            "%s (%d)" % (benchstore.fmt_mib(peak["workers"]), peak["nworkers"]),
            benchstore.fmt_mib(peak["daemon"]) if m in STORE_METHODS else "-",
            benchstore.fmt_mib(peak["unmapped"]),
            "ok" if ok else "WRONG"))
    print()
    benchstore.print_table(head, table)
    print()
    print("wall: from before the data is handed over to after all results are back (the data "
          "is made before, the Pool started before). peak memory: the highest sum, sampled "
          "every 50 ms, of PSS of the driver (parent), its descendants (workers, and trackers: "
          "their count in brackets) and the daemon, plus shm file bytes mapped by none of them "
          "(unmapped shm). ratios: against 'argument' of this run.")
    return 0 if all(rows[m][2] for m in methods) else 1


if __name__ == "__main__":
    sys.exit(main())
