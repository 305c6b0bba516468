"""shmstore — Python client of shmstore, a shared-memory object store for one machine.

    import shmstore, numpy as np
    with shmstore.connect() as store:          # default socket, as shmstored's
        store.put("x", np.arange(10**8))
        x = store.get("x")                     # read-only array over the store: no copy
        store.put("cfg", {"w": np.ones(4), "n": 3})
        cfg = store.get("cfg", timeout=5.0)    # wait up to 5 s for a producer to put it
        with store.create("raw", 1024) as buf: # fill in place; sealed on exit,
            buf[:5] = b"hello"                 # aborted if the block raises

A got value pins its object in the store until the value (and every view of it) is garbage
collected; the pin outlives close() of its client. Values are read-only: writing raises
ValueError (numpy) or TypeError (memoryview).

Value kinds and the metadata format
-----------------------------------
The payload holds the value's bytes; the object's metadata blob says how to read them. It is
MAGIC = b"SHMPY1\\n" followed by one UTF-8 JSON object (version 1 of the format; a reader must
ignore keys it does not know). The key "kind" is one of:

  "ndarray"  {"kind": "ndarray", "dtype": "<f8", "shape": [2, 3], "order": "C"}
             The payload is the array's elements in `order` ("C" row-major or "F" column-major),
             exactly prod(shape) * itemsize bytes; dtype is numpy's dtype.str (endianness,
             kind, itemsize, e.g. "<i4", "|b1", "<c16", "<M8[ns]").
  "bytes"    {"kind": "bytes"} — the payload is the bytes themselves.
  "pickle"   {"kind": "pickle", "pickle": [offset, length], "buffers": [[offset, length], ...]}
             A pickle protocol 5 stream at payload[offset:offset+length], whose out-of-band
             buffers (PickleBuffer, e.g. numpy arrays inside the object) are the listed payload
             ranges, in order. Offsets are multiples of 64 so arrays are aligned.

Objects whose metadata does not start with MAGIC (put by C programs or storectl) are returned as
read-only memoryviews of the payload.
"""

import contextlib
import json
import math
import pickle

from ._shmstore import (  # noqa: F401  (re-exported)
    META_MAX,
    NAME_MAX,
    WAIT_FOREVER,
    ConnectionLost,
    Error,
    Exists,
    NotFound,
    PermissionDenied,
    StoreFull,
    Timeout,
    library_version,
)
from . import _shmstore

try:
    import numpy as np
except ImportError:  # arrays then go through pickle like any object
    np = None

__all__ = [
    "connect", "Client", "Error", "NotFound", "Exists", "StoreFull", "Timeout",
    "PermissionDenied", "ConnectionLost", "WAIT_FOREVER", "MAGIC",
]

MAGIC = b"SHMPY1\n"
_ALIGN = 64  # payload offsets of pickle buffers; the store aligns payloads to 64 already


def _encode_meta(info):
    return MAGIC + json.dumps(info, separators=(",", ":")).encode()


def _decode_meta(meta):
    if not meta.startswith(MAGIC):
        return None
    try:
        return json.loads(meta[len(MAGIC):])
    except ValueError:  # someone else's metadata that happens to start like ours
        return None


def _align(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _timeout_ms(timeout):
    """Seconds (float, None = forever, 0 = do not wait) to the library's milliseconds."""
    if timeout is None:
        return WAIT_FOREVER
    timeout = float(timeout)
    if not timeout >= 0:  # also rejects NaN
        raise ValueError("timeout must be >= 0 seconds or None")
    if timeout == 0:
        return 0
    # Round up, so a tiny positive timeout still waits rather than meaning "do not wait".
    return min(max(1, math.ceil(timeout * 1000)), 2**31 - 1)


def _plain_array(value):
    """True for a numpy array stored raw: exactly ndarray (subclasses carry more state) and a
    dtype without Python objects or fields (those do not survive as raw bytes + dtype.str)."""
    return (np is not None and type(value) is np.ndarray and not value.dtype.hasobject
            and value.dtype.fields is None and value.dtype.subdtype is None)


def _array_bytes(arr):
    """(contiguous array, order, 1-d uint8 view of its memory) — copies only non-contiguous
    input."""
    if arr.flags.c_contiguous:
        order = "C"
    elif arr.flags.f_contiguous:
        order = "F"
    else:
        arr = np.ascontiguousarray(arr)
        order = "C"
    # reshape in memory order is a view for a contiguous array; the uint8 view gives the
    # extension a plain C-contiguous byte buffer whatever the dtype (datetime64 and friends do
    # not export the buffer protocol themselves).
    flat = arr.reshape(-1, order=order).view(np.uint8)
    return arr, order, flat


def _array_from(view, info):
    dtype = np.dtype(info["dtype"])
    shape = tuple(info["shape"])
    arr = np.frombuffer(view, dtype=dtype)  # read-only: the view is
    arr = arr.reshape(shape, order=info["order"])
    return arr


class Client:
    """One connection to shmstored; see the module docstring. Use connect() to make one."""

    def __init__(self, socket=None):
        self._c = _shmstore.Client(socket)

    # -- context manager / lifetime --

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Refuse further calls. Values already got stay valid (and pinned) until collected."""
        self._c.close()

    @property
    def closed(self):
        return self._c.closed

    # -- put --

    def put(self, name, value, replace=False):
        """Store value under name: a numpy array, a bytes-like object, or any picklable object.
        replace=True rebinds a taken name (readers of the old object keep it)."""
        if _plain_array(value):
            arr, order, flat = _array_bytes(value)
            meta = _encode_meta({"kind": "ndarray", "dtype": arr.dtype.str,
                                 "shape": list(arr.shape), "order": order})
            self._c.put(name, flat, meta, replace)
            return
        if isinstance(value, (bytes, bytearray, memoryview)):
            view = memoryview(value)
            if not view.c_contiguous:
                view = memoryview(view.tobytes())
            self._c.put(name, view.cast("B") if view.ndim != 1 or view.format != "B" else view,
                        _encode_meta({"kind": "bytes"}), replace)
            return
        self._put_pickle(name, value, replace)

    def _put_pickle(self, name, value, replace):
        buffers = []
        data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
        # raw() is a 1-d byte view of a C- or F-contiguous buffer (pickle only sends those
        # out-of-band); no copy.
        raws = [b.raw() for b in buffers]
        try:
            ranges = []
            offset = _align(len(data))
            for raw in raws:
                ranges.append([offset, raw.nbytes])
                offset = _align(offset + raw.nbytes)
            meta = _encode_meta({"kind": "pickle", "pickle": [0, len(data)],
                                 "buffers": ranges})
            with self._create_raw(name, offset, meta, replace) as out:
                out[:len(data)] = data
                for (start, length), raw in zip(ranges, raws):
                    out[start:start + length] = raw
        finally:
            for raw in raws:
                raw.release()
            for b in buffers:
                b.release()

    # -- get --

    def get(self, name, timeout=0):
        """The value bound to name, zero-copy and read-only. timeout: seconds to wait for the
        name to appear (0: do not wait, raise NotFound; None: wait forever); on expiry Timeout.
        """
        view, meta, _ = self._c._get(name, _timeout_ms(timeout))
        info = _decode_meta(meta)
        kind = info.get("kind") if isinstance(info, dict) else None
        if kind == "ndarray" and np is not None:
            return _array_from(view, info)
        if kind == "pickle":
            start, length = info["pickle"]
            buffers = [view[o:o + n] for o, n in info["buffers"]]
            return pickle.loads(view[start:start + length], buffers=buffers)
        return view  # "bytes", foreign objects, and kinds of later versions

    # -- create --

    @contextlib.contextmanager
    def _create_raw(self, name, nbytes, meta, replace):
        view, oid = self._c.create(name, nbytes, meta, replace)
        try:
            yield view
        except BaseException:
            _try_release(view)
            try:
                self._c.abort(oid)
            except Error:
                pass  # e.g. connection lost: the daemon freed it already; keep the real error
            raise
        _try_release(view)
        self._c.seal(oid)

    @contextlib.contextmanager
    def create(self, name, nbytes=None, *, shape=None, dtype=None, order="C", replace=False):
        """Reserve an object to fill in place, as a context manager. With nbytes it yields a
        writable memoryview of that many bytes (got back as bytes); with shape and dtype a
        writable numpy array (got back as an array). Sealed when the block ends, aborted (name
        freed) if it raises. Do not keep writing through the buffer after the block."""
        if dtype is not None or shape is not None:
            if np is None:
                raise TypeError("shape/dtype need numpy")
            if nbytes is not None:
                raise TypeError("give either nbytes or shape and dtype")
            dt = np.dtype(dtype if dtype is not None else float)
            if dt.hasobject or dt.fields is not None or dt.subdtype is not None:
                raise TypeError("dtype %s cannot be stored raw" % dt)
            if order not in ("C", "F"):
                raise ValueError("order must be 'C' or 'F'")
            shp = (shape,) if isinstance(shape, int) else tuple(shape or ())
            nbytes = math.prod(shp) * dt.itemsize
            meta = _encode_meta({"kind": "ndarray", "dtype": dt.str, "shape": list(shp),
                                 "order": order})
            with self._create_raw(name, nbytes, meta, replace) as view:
                yield np.frombuffer(view, dtype=dt).reshape(shp, order=order)
            return
        if nbytes is None:
            raise TypeError("create() needs nbytes, or shape and dtype")
        with self._create_raw(name, nbytes, _encode_meta({"kind": "bytes"}), replace) as view:
            yield view

    # -- the rest --

    def delete(self, name):
        """Unbind name; memory is reclaimed when the last reader lets go."""
        self._c.delete(name)

    def stat(self, name):
        """dict(name, id, size, meta_size, pins, created_ns) of the object, without pinning."""
        return self._c.stat(name)

    def list(self, pattern=None):
        """stat dicts of the objects whose names match the glob pattern, in name order."""
        return self._c.list(pattern)

    def info(self):
        """dict of store-wide figures (capacity_bytes, used_bytes, objects, clients, ...)."""
        return self._c.info()

    def ping(self):
        self._c.ping()

    def __contains__(self, name):
        try:
            self._c.stat(name)
        except NotFound:
            return False
        return True

    def __repr__(self):
        return "<shmstore.Client%s>" % (" closed" if self.closed else "")


def _try_release(view):
    # A view with exports (e.g. a numpy array made over it) cannot be released; it then stays
    # usable until collected, which is the caller's business.
    try:
        view.release()
    except BufferError:
        pass


def connect(socket=None):
    """Connect to shmstored at socket (None: $SHMSTORE_SOCKET or the default path).
    Raises ConnectionLost when no daemon answers there."""
    return Client(socket)
