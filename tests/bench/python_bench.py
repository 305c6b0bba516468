#!/usr/bin/python3
"""python_bench.py — how a multiprocessing worker reaches a big numpy array through shmstore,
compared with the two usual ways, in one run (the machine is shared and noisy: only ratios
against baselines measured in the same run mean anything).

1. Reach time of a 10-million-element int64 array (80 MB) from a Pool(1) worker (fork):
   - shmstore:      worker-global client (connected in the pool initializer): client.get()
   - task argument: pool.apply(f, (arr,)) end to end, minus pool.apply of a trivial task
   - shm attach:    SharedMemory(name=...) + np.ndarray(buffer=shm.buf) in the worker
   shmstore and shm attach are timed the same way: time.perf_counter() around the acquisition
   inside the worker (and, second row, around acquisition + release), in alternating order.
2. Memory: 4 worker processes each hold and sum a 1 GiB int64 array (--quick: 256 MiB) and
   report their PSS (/proc/self/smaps_rollup) while all 4 hold it (barrier). Case A: through
   shmstore. Case B: as a task argument — pickled through a multiprocessing Queue, so each worker
   unpickles its own copy (fork-inherited copy-on-write pages would not be what a task argument
   is; the workers are forked before the parent allocates the array).

Run through tests/bench/run_python.sh, or: PYTHONPATH=build/python /usr/bin/python3
tests/bench/python_bench.py --socket SOCK [--daemon-pid PID] [--quick]. Exit 0 whatever the
figures (it is a report).
"""

import argparse
import gc
import multiprocessing as mp
import os
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

import shmstore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstore import rollup  # noqa: E402

NAME = "bench/arr"
MEM_NAME = "bench/mem"
REACH_N = 10_000_000

# ---------------------------------------------------------------------------------------------
# helpers


def put_in_helper(sock, name, n):
    """Put arange(n) int64 under name from a short-lived forked process, so the parent never
    connects to the store (its workers fork from it) nor holds the array."""
    def run():
        with shmstore.connect(sock) as c:
            try:
                c.delete(name)
            except shmstore.NotFound:
                pass
            with c.create(name, shape=(n,), dtype=np.int64) as a:
                a[:] = np.arange(n, dtype=np.int64)
    p = mp.get_context("fork").Process(target=run)
    p.start()
    p.join()
    if p.exitcode != 0:
        sys.exit("python_bench: putting %s failed (exit %s)" % (name, p.exitcode))


def delete_in_helper(sock, name):
    def run():
        with shmstore.connect(sock) as c:
            try:
                c.delete(name)
            except shmstore.NotFound:
                pass
    p = mp.get_context("fork").Process(target=run)
    p.start()
    p.join()


def fmt_t(s):
    if s >= 1:
        return "%.3f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f us" % (s * 1e6)


def fmt_b(b):
    return "%.1f MiB" % (b / 2**20)


ROWS = []


def row(measurement, value, baseline, ratio, target, ok):
    ROWS.append((measurement, value, baseline, ratio, target,
                 "-" if ok is None else ("PASS" if ok else "MISS")))


def print_table():
    head = ("measurement", "value", "baseline", "ratio", "target", "result")
    w = [max(len(str(r[i])) for r in ROWS + [head]) for i in range(6)]
    line = " | ".join(h.ljust(w[i]) for i, h in enumerate(head))
    print(line)
    print("-+-".join("-" * x for x in w))
    for r in ROWS:
        print(" | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))


# ---------------------------------------------------------------------------------------------
# 1. reach time (Pool worker functions must be module-level)

_client = None


def _init_worker(sock):
    global _client
    _client = shmstore.connect(sock)


def w_store():
    t0 = time.perf_counter()
    a = _client.get(NAME)
    t1 = time.perf_counter()
    n = a.shape[0]
    del a
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0, n


def w_shm(shm_name, n):
    t0 = time.perf_counter()
    shm = shared_memory.SharedMemory(name=shm_name)
    a = np.ndarray((n,), dtype=np.int64, buffer=shm.buf)
    t1 = time.perf_counter()
    n = a.shape[0]
    del a
    shm.close()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0, n


def w_arg(arr):
    return arr.shape[0]


def w_trivial():
    return 0


def bench_reach(args):
    reps = 50 if args.quick else 200
    arg_reps = 5 if args.quick else 11
    n = REACH_N
    nbytes = n * 8
    # The resource tracker must exist before the fork, so the worker's SharedMemory attaches
    # register with the parent's tracker (not a tracker of its own that would unlink at exit).
    resource_tracker.ensure_running()
    ctx = mp.get_context("fork")
    pool = ctx.Pool(1, initializer=_init_worker, initargs=(args.socket,))
    try:
        put_in_helper(args.socket, NAME, n)
        arr = np.arange(n, dtype=np.int64)
        shm = shared_memory.SharedMemory(create=True, size=nbytes)
        try:
            np.ndarray((n,), dtype=np.int64, buffer=shm.buf)[:] = arr
            # warm-up
            for _ in range(10):
                assert pool.apply(w_store)[2] == n
                assert pool.apply(w_shm, (shm.name, n))[2] == n
                pool.apply(w_trivial)
            assert pool.apply(w_arg, (arr,)) == n
            # alternating batches of 10 (store, shm; then shm, store; ...)
            st, sh = [], []
            for b in range(reps // 10):
                order = (0, 1) if b % 2 == 0 else (1, 0)
                for which in order:
                    for _ in range(10):
                        if which == 0:
                            st.append(pool.apply(w_store))
                        else:
                            sh.append(pool.apply(w_shm, (shm.name, n)))
            # task argument, interleaved with trivial applies (the pool's own overhead)
            arg_t, triv_t = [], []
            for i in range(arg_reps):
                for _ in range(5):
                    t0 = time.perf_counter()
                    pool.apply(w_trivial)
                    triv_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                pool.apply(w_arg, (arr,))
                arg_t.append(time.perf_counter() - t0)
        finally:
            shm.close()
            shm.unlink()
    finally:
        pool.close()
        pool.join()
    delete_in_helper(args.socket, NAME)
    del arr
    gc.collect()

    med = statistics.median
    st_get, st_all = med(x[0] for x in st), med(x[1] for x in st)
    sh_get, sh_all = med(x[0] for x in sh), med(x[1] for x in sh)
    arg, triv = med(arg_t), med(triv_t)
    arg_net = arg - triv
    tag = "%d-elem int64 (%d MB)" % (n, nbytes // 10**6)
    print("1. reach time, %s, Pool(1) fork worker; %d reps shmstore/shm (alternating batches), "
          "%d task-argument reps, medians" % (tag, len(st), len(arg_t)))
    print("   shmstore get            : %s   (get + release: %s)" % (fmt_t(st_get), fmt_t(st_all)))
    print("   shm attach              : %s   (attach + close: %s)" % (fmt_t(sh_get), fmt_t(sh_all)))
    print("   task argument apply     : %s   (trivial apply: %s, net: %s)"
          % (fmt_t(arg), fmt_t(triv), fmt_t(arg_net)))
    r1 = arg_net / st_get
    row("reach: task arg (net of trivial apply) / shmstore get", fmt_t(st_get),
        "arg " + fmt_t(arg_net), "%.0fx" % r1, ">= 1000x", r1 >= 1000)
    r1b = arg / st_get
    row("reach: task arg (whole apply) / shmstore get", fmt_t(st_get),
        "arg " + fmt_t(arg), "%.0fx" % r1b, "(info)", None)
    r2 = st_get / sh_get
    row("reach: shmstore get / shm attach", fmt_t(st_get), "shm " + fmt_t(sh_get),
        "%.2fx" % r2, "<= 1.5x", r2 <= 1.5)
    r3 = st_all / sh_all
    row("reach+release: shmstore get+del / shm attach+close", fmt_t(st_all),
        "shm " + fmt_t(sh_all), "%.2fx" % r3, "<= 1.5x", r3 <= 1.5)


# ---------------------------------------------------------------------------------------------
# 2. memory


def mem_worker(mode, sock, q_in, q_out, b1, b2):
    idle = rollup()
    if mode == "store":
        c = shmstore.connect(sock)
        a = c.get(MEM_NAME, timeout=30)
    else:
        a = q_in.get()
        c = None
    s = int(a.sum())
    gc.collect()
    b1.wait()                     # all 4 hold the array (and have read all of it)
    r = rollup()
    q_out.put((os.getpid(), s, idle, r))
    b2.wait()                     # the parent has read the daemon's and its own figures
    del a
    if c is not None:
        c.close()


def mem_case(mode, args, n):
    ctx = mp.get_context("fork")
    b1, b2 = ctx.Barrier(5), ctx.Barrier(5)
    q_out = ctx.Queue()
    q_ins = [ctx.Queue() for _ in range(4)]
    # Fork the workers before the parent holds any array: nothing of it is inherited.
    procs = [ctx.Process(target=mem_worker, args=(mode, args.socket, q_ins[i], q_out, b1, b2))
             for i in range(4)]
    for p in procs:
        p.start()
    arr = None
    t0 = time.perf_counter()
    if mode == "arg":
        arr = np.arange(n, dtype=np.int64)
        for q in q_ins:
            q.put(arr)             # pickled by the queue's feeder thread, unpickled per worker
    b1.wait()
    t_hold = time.perf_counter() - t0
    res = [q_out.get() for _ in range(4)]
    daemon = rollup(args.daemon_pid) if args.daemon_pid else {}
    parent = rollup()
    b2.wait()
    for p in procs:
        p.join()
    for q in q_ins:
        q.close()
    del arr
    gc.collect()
    expect = n * (n - 1) // 2
    if any(s != expect for _, s, _, _ in res):
        print("   WARNING: a worker's sum was wrong", file=sys.stderr)
    return res, daemon, parent, t_hold


def bench_memory(args):
    n = (256 if args.quick else 1024) * 2**20 // 8
    nbytes = n * 8
    put_in_helper(args.socket, MEM_NAME, n)
    try:
        a_res, a_d, a_p, a_t = mem_case("store", args, n)
    finally:
        delete_in_helper(args.socket, MEM_NAME)
    b_res, b_d, b_p, b_t = mem_case("arg", args, n)

    def tot(res, key="Pss"):
        return sum(r[3].get(key, 0) for r in res) * 1024

    def idle(res):
        return sum(r[2].get("Pss", 0) for r in res) * 1024

    print()
    print("2. memory, %s int64 array, 4 worker processes (fork) each holding and summing it, "
          "PSS read while all 4 hold it" % fmt_b(nbytes))
    for label, res, d, p, t in (("A shmstore     ", a_res, a_d, a_p, a_t),
                                ("B task argument", b_res, b_d, b_p, b_t)):
        per = ", ".join(fmt_b(r[3].get("Pss", 0) * 1024) for r in res)
        print("   %s: workers' PSS total %s (Pss_Shmem %s; idle before acquiring %s) "
              "[per worker: %s]; time to all-holding %.2f s"
              % (label, fmt_b(tot(res)), fmt_b(tot(res, "Pss_Shmem")), fmt_b(idle(res)), per, t))
        print("   %s  daemon PSS %s (Pss_Shmem %s), parent PSS %s"
              % (" " * len(label), fmt_b(d.get("Pss", 0) * 1024) if d else "n/a",
                 fmt_b(d.get("Pss_Shmem", 0) * 1024) if d else "n/a",
                 fmt_b(p.get("Pss", 0) * 1024)))
    ra, rb = tot(a_res) / nbytes, tot(b_res) / nbytes
    row("memory: 4 workers' PSS / array, shmstore", fmt_b(tot(a_res)), fmt_b(nbytes),
        "%.2fx" % ra, "<= 1.3x (1 copy)", ra <= 1.3)
    row("memory: 4 workers' PSS / array, task argument", fmt_b(tot(b_res)), fmt_b(nbytes),
        "%.2fx" % rb, "~4x (4 copies)", None)
    row("memory: task argument / shmstore (workers' PSS)", fmt_b(tot(b_res)),
        fmt_b(tot(a_res)), "%.2fx" % (tot(b_res) / tot(a_res)), "(info, ~4x)", None)
    if a_d:
        da = (tot(a_res) + a_d.get("Pss", 0) * 1024) / nbytes
        row("memory: workers' + daemon PSS / array, shmstore",
            fmt_b(tot(a_res) + a_d.get("Pss", 0) * 1024), fmt_b(nbytes), "%.2fx" % da,
            "<= 1.3x", da <= 1.3)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True, help="shmstored's socket")
    ap.add_argument("--daemon-pid", type=int, help="to read the daemon's PSS")
    ap.add_argument("--quick", action="store_true", help="fewer reps, 256 MiB memory case")
    ap.add_argument("--only", choices=("reach", "memory"), help="run one part")
    args = ap.parse_args()

    aff = sorted(os.sched_getaffinity(0))
    print("python_bench: python %s, numpy %s, %d CPUs allowed %s; processes NOT pinned "
          "(daemon, parent and workers float over the allowed CPUs)%s"
          % (sys.version.split()[0], np.__version__, len(aff), aff,
             "; --quick" if args.quick else ""))
    print()
    if args.only in (None, "reach"):
        bench_reach(args)
    if args.only in (None, "memory"):
        bench_memory(args)
    print()
    print_table()
    print()
    print("Notes: times are medians inside the worker (perf_counter around the acquisition) "
          "except the task argument, timed end to end in the parent; 'net' subtracts the "
          "median apply() of a trivial task. shm attach on Python < 3.13 includes the "
          "resource-tracker registration. PSS of the arena's shared pages is split among all "
          "processes that mapped them at the time of reading (the 4 workers, plus the daemon "
          "for pages it touched).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
