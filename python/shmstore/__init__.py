"""shmstore: named, immutable Python values in shared memory, for all processes of one machine.

    import numpy as np, shmstore

    with shmstore.serve(memory="2G") as store:    # a private daemon, stopped at the end
        with store.connect() as client:            # shmstore.connect() finds it too
            client.put("x", np.arange(10**8))      # one copy into shared memory
            x = client.get("x")                    # read-only array over the store: no copy
            client.put("cfg", {"w": np.ones(4), "n": 3})    # any picklable object
            cfg = client.get("cfg", timeout=5.0)   # wait up to 5 s for a producer to put it
            with client.create("raw", 1024) as buf:  # fill in place; sealed on exit,
                buf[:5] = b"hello"                 # aborted if the block raises
            with client.namespace("job7", cleanup=True) as ns:
                ns.put("part", b"...")             # "job7/part", deleted when the block ends

Without serve(), connect() reaches a daemon already running (the system service, or
`python -m shmstore serve` in another terminal) through $SHMSTORE_SOCKET or the default socket.

A got value pins its object in the store until the value (and every view of it) is garbage
collected; the pin outlives close() of its client. Values are read-only: writing raises
ValueError (numpy) or TypeError (memoryview). Every error is a shmstore.Error, and also the
built-in exception Python code expects (NotFound is a KeyError, Timeout a TimeoutError, ...).
Like pickle.loads, get() of a pickled object runs code the object's writer chose: share a store
only with programs you trust (a private store from serve() is reachable by your user only).

Value kinds and the metadata format
-----------------------------------
The payload holds the value's bytes; the object's metadata blob says how to read them. It is
`MAGIC = b"SHMPY1\\n"` followed by one UTF-8 JSON object (version 1 of the envelope; a reader
must ignore keys it does not know, and may return the raw payload for a kind it does not know).
Its key "kind" is one of:

- `{"kind": "ndarray", "dtype": "<f8", "shape": [2, 3], "order": "C"}`: the payload is the
  array's elements in `order` ("C" row-major or "F" column-major), exactly
  `prod(shape) * itemsize` bytes; `dtype` is numpy's `dtype.str` (byte order, kind, item size:
  `"<i4"`, `"|b1"`, `"<c16"`, `"<M8[ns]"`, ...).
- `{"kind": "bytes"}`: the payload is the bytes themselves.
- `{"kind": "pickle2", "pickle": [offset, length], "table": [offset, count]}`: a pickle
  protocol 5 stream at `payload[offset:offset+length]`. Its out-of-band buffers (the
  PickleBuffers of numpy arrays inside the object) are listed by the table at
  `payload[offset:offset+16*count]`: `count` entries of two little-endian uint64, the buffer's
  payload offset (a multiple of 64, so arrays are aligned) and its length, in the order the
  stream asks for them. The table lives in the payload, so an object may hold any number of
  arrays. Buffers under 1 KiB travel in-band, inside the stream: below that size copying is
  cheaper than a table entry and a view (measured: 100,000 arrays of 16 to 128 bytes put about
  30% faster and got about 25% faster in-band; from 2 KiB on, out-of-band wins), so they come
  back as private, writable copies.
- `{"kind": "pickle", "pickle": [offset, length], "buffers": [[offset, length], ...]}`:
  written by earlier versions and still read; as "pickle2", with the buffer table in the
  metadata itself, which limited an object to a few thousand arrays.

Objects whose metadata does not start with MAGIC (put by C programs or storectl) are returned as
read-only memoryviews of the payload.

Names and patterns
------------------
A name is 1 to 255 bytes of UTF-8 without control characters; "/" builds hierarchies
("job7/input/x"). list() and delete() take glob patterns (fnmatch: `*`, `?`, `[...]`, where `*`
also matches "/"); delete() treats a name holding `*`, `?` or `[` as a pattern. A backslash
makes the next character literal; escape_pattern() escapes a whole name.

Constants
---------
- `WAIT_FOREVER`: the library's "no time limit" (get takes `timeout=None` for it).
- `NAME_MAX`: the longest name, in bytes (255).
- `META_MAX`: the largest metadata blob, in bytes (65536).
- `MAGIC`: the bytes that open the metadata of every object this package writes.
- `library_version`: the version of libshmstore inside the extension.
"""

from ._client import Client, Event, Namespace, connect, escape_pattern
from ._codec import MAGIC
from ._serve import StartFailed, Store, find_shmstored, serve
from ._shmstore import META_MAX, NAME_MAX, WAIT_FOREVER, library_version
from .errors import (ConnectionLost, Error, Exists, InvalidArgument, NotFound, NotRunning,
                     PermissionDenied, StoreFull, Timeout)

__all__ = [
    # starting and reaching a store
    "serve", "Store", "connect", "find_shmstored",
    # using it
    "Client", "Event", "Namespace", "escape_pattern",
    # errors
    "Error", "NotFound", "Exists", "StoreFull", "Timeout", "PermissionDenied",
    "ConnectionLost", "NotRunning", "InvalidArgument", "StartFailed",
    # constants
    "WAIT_FOREVER", "NAME_MAX", "META_MAX", "MAGIC", "library_version",
]

# Shown as shmstore.X in reprs and tracebacks, where users find them; pickle finds them there
# too.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name


def __dir__():
    # The API, not the modules it is built from.
    return sorted(__all__)
