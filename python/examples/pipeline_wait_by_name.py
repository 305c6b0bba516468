"""A pipeline whose stages meet by name: workers wait for inputs that a producer is still making.

The everyday case: one process produces data items over time (reads files, receives frames,
simulates steps) and other processes should start on each item as soon as it exists, without
a queue between them. With shmstore the producer simply puts "job/<i>/input"; a worker calls
get(name, timeout=...), which blocks until that name appears (or the timeout expires), then
puts its result as "job/<i>/output", which the main process waits for in the same way.

Here the workers are started first and wait; the producer then puts --jobs inputs of --size
float64 values each, one every --delay seconds; every worker computes a cumulative sum; the
main process waits for all outputs and checks them.

The example starts its own private store with shmstore.serve() (sized for all inputs and
outputs), which the producer and the workers find by themselves, and stops it at the end; with
--connect it uses the daemon already running instead ($SHMSTORE_SOCKET or the default socket),
under a namespace of its own that it deletes when done. Run it with the package installed
(pip install .) or importable (from a build tree: PYTHONPATH=build/python):

    python3 pipeline_wait_by_name.py --jobs 16 --size 5_000_000 --workers 4
"""

import argparse
import contextlib
import multiprocessing
import os
import time

import numpy as np

import shmstore


def input_name(prefix, i):
    return "%s/job/%d/input" % (prefix, i)


def output_name(prefix, i):
    return "%s/job/%d/output" % (prefix, i)


def make_input(i, size):
    return np.random.default_rng(i).random(size)


def produce(prefix, jobs, size, delay):
    """Producer process: puts the inputs one after the other, as if they arrived over time."""
    with shmstore.connect() as store:
        for i in range(jobs):
            time.sleep(delay)
            store.put(input_name(prefix, i), make_input(i, size))


store = None  # one connection per worker process, opened by init_worker


def init_worker():
    global store
    store = shmstore.connect()  # finds the parent's store: serve() exported its socket


def stage(task):
    """Worker: wait for input i by name, compute, publish output i."""
    prefix, i, timeout = task
    x = store.get(input_name(prefix, i), timeout=timeout)  # blocks until the producer puts it
    store.put(output_name(prefix, i), np.cumsum(x))
    return i


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="float64 values per input")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between inputs")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per name")
    parser.add_argument("--connect", action="store_true",
                        help="use the running shmstored instead of starting a private one")
    args = parser.parse_args()

    # A private store with room for every input and output, or nothing to start with --connect.
    private_store = (contextlib.nullcontext() if args.connect
                     else shmstore.serve(memory=2 * args.jobs * args.size * 8 + (16 << 20)))
    ctx = multiprocessing.get_context("spawn")
    with private_store, shmstore.connect() as client, \
            client.namespace("examples/pipeline_wait_by_name/%d" % os.getpid(),
                             cleanup=True) as ns:
        prefix = ns.prefix  # the producer and the workers build full names from it
        with ctx.Pool(args.workers, initializer=init_worker) as pool:
            # Workers first: they wait for inputs that do not exist yet.
            pending = pool.map_async(stage, [(prefix, i, args.timeout)
                                             for i in range(args.jobs)])
            producer = ctx.Process(target=produce,
                                   args=(prefix, args.jobs, args.size, args.delay))
            start = time.monotonic()
            producer.start()

            # The main process waits for each output by name, in order.
            ok = True
            for i in range(args.jobs):
                out = client.get(output_name(prefix, i), timeout=args.timeout)
                ok = ok and np.allclose(out, np.cumsum(make_input(i, args.size)))
                del out  # release the pin now rather than at the end
            elapsed = time.monotonic() - start

            pending.get(timeout=args.timeout)  # re-raises a worker's error, if any
            producer.join()
            pool.close()
            pool.join()
        ok = ok and producer.exitcode == 0

    print("%d jobs of %d float64 through %d waiting workers in %.2f s: %s"
          % (args.jobs, args.size, args.workers, elapsed, "OK" if ok else "WRONG OUTPUT"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
