"""One big numpy array, read by every worker of a multiprocessing.Pool without copying it.

The everyday case: a large read-only input (a matrix, an image stack, a table of samples) that
many worker processes need. Passing it as a Pool argument pickles and copies it into every
task; with shmstore the parent puts it once and each worker gets it by name as a read-only
array over the shared memory, so no worker copies it, whatever the start method.

Here the parent fills an array of --size float64 samples in place in the store, workers sum
slices of it, and the parent checks the sum of the partial sums against numpy's direct sum.

The example starts its own private store with shmstore.serve() (sized for the array), which
the workers find by themselves, and stops it at the end; with --connect it uses the daemon
already running instead ($SHMSTORE_SOCKET or the default socket), under a namespace of its own
that it deletes when done. Run it with the package installed (pip install .) or importable
(from a build tree: PYTHONPATH=build/python):

    python3 pool_shared_array.py --size 50_000_000 --workers 4
"""

import argparse
import contextlib
import math
import multiprocessing
import os

import numpy as np

import shmstore

store = None  # one connection per worker process, opened by init_worker


def init_worker():
    global store
    store = shmstore.connect()  # finds the parent's store: serve() exported its socket


def partial_sum(task):
    name, start, stop = task
    data = store.get(name)  # read-only view of the shared array: no copy
    # data is collected when we return, which releases this worker's pin on the object.
    return float(data[start:stop].sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="float64 elements")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--slices", type=int, default=16)
    parser.add_argument("--connect", action="store_true",
                        help="use the running shmstored instead of starting a private one")
    args = parser.parse_args()

    # A private store with room for the array, or nothing to start with --connect.
    private_store = (contextlib.nullcontext() if args.connect
             else shmstore.serve(memory=args.size * 8 + (16 << 20)))
    with private_store, shmstore.connect() as client, \
            client.namespace("examples/pool_shared_array/%d" % os.getpid(),
                             cleanup=True) as ns:
        name = ns.full_name("data")  # the workers get it by its full name
        # Fill the array in place in the store (no temporary copy); sealed when the block ends.
        with client.create(name, shape=(args.size,), dtype=np.float64) as a:
            np.random.default_rng(0).random(out=a)
        bounds = np.linspace(0, args.size, args.slices + 1, dtype=np.int64)
        tasks = [(name, int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        # "spawn" shares nothing with the parent: the workers really get the data by name.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.workers, initializer=init_worker) as pool:
            total = sum(pool.map(partial_sum, tasks))
            pool.close()
            pool.join()

        data = client.get(name)
        direct = float(data.sum())
        del data  # release our pin now rather than when collected

    ok = math.isclose(total, direct, rel_tol=1e-9)
    print("sum of %d float64 over %d slices by %d workers: %.6f (direct %.6f) %s"
          % (args.size, args.slices, args.workers, total, direct, "OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
