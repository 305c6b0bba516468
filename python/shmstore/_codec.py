"""How Python values are laid out in an object's payload and described by its metadata.

encode(value) plans an object: its payload size, its metadata, and a function that fills a
writable payload buffer; decode(view, meta) turns a got payload back into a value, zero-copy
where the value allows it. The format itself is described in the package docstring
(shmstore/__init__.py), which is what users and other languages read; this module follows it.
"""

import array
import json
import pickle
import sys

try:
    import numpy as np
except ImportError:  # arrays then go through pickle like any object
    np = None

MAGIC = b"SHMPY1\n"
ALIGN = 64  # payload offsets of out-of-band buffers; the store aligns payloads to 64 already

# Buffers of a pickled object smaller than this travel inside the pickle stream rather than as
# separate ranges of the payload: below it, the table entry, the alignment padding and the view
# made at get cost more than copying the bytes (the figures are in the package docstring).
# They come back as private, writable copies.
IN_BAND_MAX = 1024

# Byte order of the buffer table: little-endian uint64 whatever the machine.
_TABLE_ITEM = "Q"
_HOST_IS_LITTLE = sys.byteorder == "little"


def encode_meta(info):
    return MAGIC + json.dumps(info, separators=(",", ":")).encode()


def decode_meta(meta):
    """The metadata's JSON object, or None for an object not written by this package."""
    if not meta.startswith(MAGIC):
        return None
    try:
        info = json.loads(meta[len(MAGIC):])
    except ValueError:  # someone else's metadata that happens to start like ours
        return None
    return info if isinstance(info, dict) else None


def align(n, to=ALIGN):
    return (n + to - 1) // to * to


def plain_array(value):
    """True for a numpy array stored raw: exactly ndarray (subclasses carry more state) and a
    dtype without Python objects or fields (those do not survive as raw bytes + dtype.str)."""
    return (np is not None and type(value) is np.ndarray and not value.dtype.hasobject
            and value.dtype.fields is None and value.dtype.subdtype is None)


def array_meta(dtype, shape, order):
    return encode_meta({"kind": "ndarray", "dtype": dtype.str, "shape": list(shape),
                        "order": order})


def array_bytes(arr):
    """(contiguous array, order, 1-d uint8 view of its memory); copies only non-contiguous
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


def bytes_view(value):
    """A 1-d unsigned-byte C-contiguous memoryview of a bytes-like value (copied only when
    the value is not contiguous)."""
    view = memoryview(value)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view


BYTES_META = encode_meta({"kind": "bytes"})


class PickledValue:
    """A value pickled (protocol 5) for the "pickle2" kind: the stream, the out-of-band buffers
    and where each goes in the payload. Call release() when done, filled or not."""

    def __init__(self, value):
        self.raws = []
        self.stream = pickle.dumps(value, protocol=5, buffer_callback=self._keep_out_of_band)
        # Layout: stream at 0, table next (8-aligned), then each buffer 64-aligned.
        self.table_offset = align(len(self.stream), 8)
        offset = self.table_offset + 16 * len(self.raws)
        self.offsets = []
        table = array.array(_TABLE_ITEM)
        for raw in self.raws:
            offset = align(offset)
            self.offsets.append(offset)
            table.append(offset)
            table.append(raw.nbytes)
            offset += raw.nbytes
        if not _HOST_IS_LITTLE:
            table.byteswap()
        self.table = table
        self.nbytes = offset
        self.meta = encode_meta({"kind": "pickle2", "pickle": [0, len(self.stream)],
                                 "table": [self.table_offset, len(self.raws)]})

    def _keep_out_of_band(self, buffer):
        # Pickle only hands over contiguous buffers, so raw() (a 1-d byte view) works.
        raw = buffer.raw()
        if raw.nbytes < IN_BAND_MAX:
            raw.release()
            return True  # in-band: copied into the stream
        self.raws.append(raw)
        return False

    def fill(self, out):
        out[:len(self.stream)] = self.stream
        table = memoryview(self.table).cast("B")
        out[self.table_offset:self.table_offset + len(table)] = table
        for start, raw in zip(self.offsets, self.raws):
            out[start:start + raw.nbytes] = raw

    def release(self):
        for raw in self.raws:
            raw.release()
        self.raws = []


def _read_table(view, offset, count):
    """[(offset, length), ...] from the payload's little-endian uint64 table."""
    raw = view[offset:offset + 16 * count]
    if _HOST_IS_LITTLE:
        flat = raw.cast(_TABLE_ITEM).tolist()
    else:
        table = array.array(_TABLE_ITEM, bytes(raw))
        table.byteswap()
        flat = table.tolist()
    raw.release()
    return flat


def decode(view, meta):
    """The value of a got object: view is its read-only payload memoryview, meta its metadata
    bytes. Values of kinds this version does not know come back as the memoryview."""
    info = decode_meta(meta)
    kind = info.get("kind") if info is not None else None
    if kind == "ndarray" and np is not None:
        arr = np.frombuffer(view, dtype=np.dtype(info["dtype"]))  # read-only: the view is
        return arr.reshape(tuple(info["shape"]), order=info["order"])
    if kind == "pickle2":
        start, length = info["pickle"]
        flat = _read_table(view, *info["table"])
        buffers = [view[flat[i]:flat[i] + flat[i + 1]] for i in range(0, len(flat), 2)]
        return pickle.loads(view[start:start + length], buffers=buffers)
    if kind == "pickle":  # version 1: the buffer table is in the metadata
        start, length = info["pickle"]
        buffers = [view[o:o + n] for o, n in info["buffers"]]
        return pickle.loads(view[start:start + length], buffers=buffers)
    return view  # "bytes", foreign objects, and kinds of later versions

