#!/usr/bin/python3
"""many_arrays.py — put and get of one object holding many small numpy arrays (a list of
100,000 arrays of 16 float64, then of 256 float64, by default), against pickle.dumps /
pickle.loads of the same object (protocol 5, in-band) measured in the same run. The Python
package keeps arrays under 1 KiB inside the pickle stream and larger ones out of band, listed in
a table in the payload: 16 float64 (128 B) take the first path, 256 (2 KiB) the second.

  put          client.put(name, obj, replace=True)
  get+touch    client.get(name), then read the first element of every array
  baselines    pickle.dumps(obj, protocol=5); pickle.loads(those bytes) + the same reads

The daemon (a private one, see benchstore.py) is pinned to CPU 0 and this process, per
placement, to CPU 0 (same core) or CPU 1 (other core): put and get are socket round trips. In
each of ROUNDS rounds the figure and its baseline are timed back to back, in alternating order
(figure first in even rounds, baseline first in odd ones), three times each with the garbage
collector off, taking the fastest of the three; the ratio is the median over rounds of each
round's figure / baseline, so a busy spell of the machine weighs on both sides of a ratio. The
got values are checked (the sum of the first elements).

An object that the store cannot take (before the pickle format kept its buffer table in the
payload, 5,000 arrays overflowed the 64 KiB metadata) is reported as FAILED with the store's
error, next to the baselines, rather than crashing the run.

Run through tests/bench/run_python.sh many_arrays, or: PYTHONPATH=build/python
SHMSTORED=build/daemon/shmstored /usr/bin/python3 tests/bench/many_arrays.py [--count N]
[--lengths L1,L2] [--rounds R]. Exit 0 whatever the figures (it is a report).
"""

import argparse
import gc
import os
import pickle
import statistics
import sys
import time

import numpy as np

import shmstore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchstore  # noqa: E402

NAME = "bench/many-arrays"
DAEMON_CPU = 0


def touch(arrays):
    """Read every array (its first element); the sum checks that the values are right."""
    return sum(float(a[0]) for a in arrays)


def best_of_three(fn):
    times = []
    for _ in range(3):
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def paired(figure, baseline, rounds):
    """(median figure, median baseline, median of per-round ratios) in seconds."""
    f, b, r = [], [], []
    for i in range(rounds):
        if i % 2 == 0:
            tf, tb = best_of_three(figure), best_of_three(baseline)
        else:
            tb, tf = best_of_three(baseline), best_of_three(figure)
        f.append(tf)
        b.append(tb)
        r.append(tf / tb)
    return statistics.median(f), statistics.median(b), statistics.median(r)


def measure(client, obj, expected, rounds):
    """Rows (what, figure, baseline, ratio) for one placement; FAILED rows when the store
    refuses the object."""
    in_band = pickle.dumps(obj, protocol=5)
    dumps = lambda: pickle.dumps(obj, protocol=5)  # noqa: E731
    loads_touch = lambda: touch(pickle.loads(in_band))  # noqa: E731
    try:
        client.put(NAME, obj, replace=True)
    except (shmstore.Error, ValueError, TypeError, OverflowError) as e:
        failed = "FAILED: %s: %s" % (type(e).__name__, e)
        return [("put", failed, benchstore.fmt_seconds(best_of_three(dumps)), "-"),
                ("get+touch", "-", benchstore.fmt_seconds(best_of_three(loads_touch)), "-")]

    def get_touch():
        got = touch(client.get(NAME))
        if got != expected:
            raise SystemExit("many_arrays: got a sum of %r, expected %r" % (got, expected))

    rows = []
    for what, fig, base in (("put", lambda: client.put(NAME, obj, replace=True), dumps),
                            ("get+touch", get_touch, loads_touch)):
        tf, tb, ratio = paired(fig, base, rounds)
        rows.append((what, benchstore.fmt_seconds(tf), benchstore.fmt_seconds(tb),
                     "%.2f" % ratio))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000, help="arrays (default 100000)")
    ap.add_argument("--lengths", default="16,256",
                    help="float64 per array, one object per length (default 16,256)")
    ap.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    ap.add_argument("--socket", help="use this shmstored instead of a private one")
    a = ap.parse_args()
    lengths = [int(x) for x in a.lengths.split(",") if x]

    cpus = sorted(os.sched_getaffinity(0))
    placements = [("same core", DAEMON_CPU)]
    if len(cpus) > 1:
        placements.append(("other core", next(c for c in cpus if c != DAEMON_CPU)))
    print("many_arrays: one list of %d float64 arrays per length %s; python %s, numpy %s"
          % (a.count, ", ".join(map(str, lengths)), sys.version.split()[0], np.__version__))

    largest = a.count * (max(lengths) * 8 + 256)  # elements plus pickle framing, generously
    memory = "%dM" % (3 * largest // 2**20 + 64)
    table = []
    with benchstore.store(a.socket, memory) as (sock, daemon_pid):
        if daemon_pid:
            benchstore.pin(daemon_pid, {DAEMON_CPU})
        print("daemon pinned to CPU %d; this process pinned per placement: %s; %d rounds, "
              "best of 3 per batch" % (DAEMON_CPU, ", ".join("%s = CPU %d" % p
                                                            for p in placements), a.rounds))
        with shmstore.connect(sock) as client:
            for length in lengths:
                obj = [np.full(length, float(i)) for i in range(a.count)]
                expected = float(sum(range(a.count)))
                label = "%d x %d B" % (a.count, length * 8)
                for placement, cpu in placements:
                    os.sched_setaffinity(0, {cpu})
                    for what, fig, base, ratio in measure(client, obj, expected, a.rounds):
                        baseline = "pickle.dumps" if what == "put" else "pickle.loads+touch"
                        table.append((label, what, placement, fig, baseline, base, ratio))
                os.sched_setaffinity(0, set(cpus))
                try:
                    stat = client.stat(NAME)
                    print("%s: in-band pickle %s; stored object %s payload, %d bytes of "
                          "metadata" % (label, benchstore.fmt_mib(len(pickle.dumps(obj, 5))),
                                        benchstore.fmt_mib(stat["size"]), stat["meta_size"]))
                    client.delete(NAME)
                except shmstore.NotFound:
                    pass
                del obj
    print()
    benchstore.print_table(("object", "measurement", "placement", "value", "baseline",
                            "baseline value", "ratio"), table)
    print()
    print("value and baseline value: medians over rounds of the best of 3; ratio: median over "
          "rounds of value / baseline (lower is better; 1.00 = as fast as pickle in memory).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
