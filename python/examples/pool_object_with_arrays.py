"""A Python object holding many arrays (a small "model"), shared once with Pool workers.

The everyday case: an object with several large numpy arrays inside — model weights, lookup or
interpolation tables — that every worker needs. shmstore stores any picklable object with
pickle protocol 5: the arrays inside travel out-of-band, so a worker's get() rebuilds the
object around read-only arrays that point into the shared memory instead of copies.

Here a small multilayer perceptron with --layers weight matrices of --size x --size float32 is
put once; Pool workers get it by name and run batches through it; the parent checks their
predictions against its own copy of the model. (Arrays under 1 KiB inside an object, like the
biases of a small model, travel inside the pickle and come back as private copies.)

The example starts its own private store with shmstore.serve() (sized for the model), which
the workers find by themselves, and stops it at the end; with --connect it uses the daemon
already running instead ($SHMSTORE_SOCKET or the default socket), under a namespace of its own
that it deletes when done. Run it with the package installed (pip install .) or importable
(from a build tree: PYTHONPATH=build/python):

    python3 pool_object_with_arrays.py --size 4096 --layers 4 --workers 4
"""

import argparse
import contextlib
import dataclasses
import multiprocessing
import os

import numpy as np

import shmstore


@dataclasses.dataclass
class Model:
    """A toy MLP: relu layers, then a linear output layer. Module level, so workers unpickle
    it by reference (this module is imported in "spawn" children as __mp_main__)."""
    weights: list
    biases: list
    labels: dict

    @classmethod
    def random(cls, width, layers, seed=0):
        rng = np.random.default_rng(seed)
        weights = [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
                   for _ in range(layers)]
        biases = [rng.standard_normal(width).astype(np.float32) for _ in range(layers)]
        return cls(weights, biases, labels={"name": "toy-mlp", "width": width})

    def predict(self, x):
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0)
        return x

    def arrays(self):
        return self.weights + self.biases

    def nbytes(self):
        return sum(a.nbytes for a in self.arrays())


def batch(i, width, rows=32):
    return np.random.default_rng(1000 + i).standard_normal((rows, width)).astype(np.float32)


store = None  # one connection per worker process, opened by init_worker


def init_worker():
    global store
    store = shmstore.connect()  # finds the parent's store: serve() exported its socket


def run_batch(task):
    name, i = task
    model = store.get(name)  # unpickled around arrays in the store, not copies of them
    shared = all(not w.flags.writeable and not w.flags.owndata for w in model.weights)
    return i, model.predict(batch(i, model.labels["width"])), shared


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="layer width")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connect", action="store_true",
                        help="use the running shmstored instead of starting a private one")
    args = parser.parse_args()

    model = Model.random(args.size, args.layers)
    # A private store with room for the model, or nothing to start with --connect.
    private_store = (contextlib.nullcontext() if args.connect
                     else shmstore.serve(memory=model.nbytes() + (16 << 20)))
    with private_store, shmstore.connect() as client, \
            client.namespace("examples/pool_object_with_arrays/%d" % os.getpid(),
                             cleanup=True) as ns:
        name = ns.full_name("model")  # the workers get it by its full name
        client.put(name, model)
        nbytes = client.stat(name)["size"]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.workers, initializer=init_worker) as pool:
            results = pool.map(run_batch, [(name, i) for i in range(args.batches)])
            pool.close()
            pool.join()

    match = all(np.allclose(out, model.predict(batch(i, args.size)), rtol=1e-4, atol=1e-4)
                for i, out, _ in results)
    shared = all(s for _, _, s in results)
    ok = match and shared
    print("model of %d arrays (%.1f MiB) put once; %d batches by %d workers: "
          "predictions %s, weights zero-copy: %s %s"
          % (len(model.arrays()), nbytes / 2**20, args.batches, args.workers,
             "match" if match else "DIFFER", "yes" if shared else "NO", "OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
