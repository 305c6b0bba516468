"""A Python object holding many arrays (a small "model"), shared once with Pool workers.

The everyday case: an object with several large numpy arrays inside — model weights, lookup or
interpolation tables — that every worker needs. shmstore stores any picklable object with
pickle protocol 5: the arrays inside travel out-of-band, so a worker's get() rebuilds the
object around read-only arrays that point into the shared memory instead of copies.

Here a small multilayer perceptron with --layers weight matrices of --size x --size float32 is
put once; Pool workers get it by name and run batches through it; the parent checks their
predictions against its own copy of the model.

Run with shmstored running ($SHMSTORE_SOCKET or the default socket is used) and the
package importable (from a build tree: PYTHONPATH=build/python):

    python3 pool_object_with_arrays.py --size 4096 --layers 4 --workers 4
"""

import argparse
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


def batch(i, width, rows=32):
    return np.random.default_rng(1000 + i).standard_normal((rows, width)).astype(np.float32)


store = None  # one connection per worker process, opened by init_worker


def init_worker():
    global store
    store = shmstore.connect()


def run_batch(task):
    name, i = task
    model = store.get(name)  # unpickled around arrays in the store, not copies of them
    shared = all(not a.flags.writeable and not a.flags.owndata for a in model.arrays())
    return i, model.predict(batch(i, model.labels["width"])), shared


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="layer width")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    model = Model.random(args.size, args.layers)
    name = "examples/pool_object_with_arrays/%d/model" % os.getpid()
    with shmstore.connect() as client:
        client.put(name, model)
        try:
            nbytes = client.stat(name)["size"]
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(args.workers, initializer=init_worker) as pool:
                results = pool.map(run_batch, [(name, i) for i in range(args.batches)])
                pool.close()
                pool.join()
        finally:
            client.delete(name)

    match = all(np.allclose(out, model.predict(batch(i, args.size)), rtol=1e-4, atol=1e-4)
                for i, out, _ in results)
    shared = all(s for _, _, s in results)
    ok = match and shared
    print("model of %d arrays (%.1f MiB) put once; %d batches by %d workers: "
          "predictions %s, arrays zero-copy: %s %s"
          % (len(model.arrays()), nbytes / 2**20, args.batches, args.workers,
             "match" if match else "DIFFER", "yes" if shared else "NO", "OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
