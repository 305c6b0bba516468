"""Client and Namespace: the Python face of one connection to shmstored.

Client wraps the extension's handle (shmstore._shmstore.Client) and adds the value encoding of
_codec.py: put() chooses how a value is laid out, get() rebuilds it over the got payload, and
create() hands out a writable buffer or array to fill in place. Namespace is a view of a client
that prefixes every name with "PREFIX/", and can delete all of them when its block ends.
"""

import collections
import contextlib
import math

from . import _codec, _shmstore
from .errors import Error, NotFound

_GLOB_CHARS = frozenset("*?[")

# A pickled value this small is assembled in memory and sent with one put (the library sends
# small payloads inside the request); a bigger one is created in place and filled, sparing a
# copy.
_ASSEMBLE_MAX = 64 * 1024


def is_pattern(name):
    """True if name holds a glob metacharacter (`*`, `?`, `[`): a pattern, not a name."""
    return not _GLOB_CHARS.isdisjoint(name)


def escape_pattern(name):
    """name with its glob metacharacters (`*`, `?`, `[` and the backslash) escaped by a
    backslash, so that as a pattern (list, delete) it matches exactly the object called name:
    `escape_pattern("runs/[2024]*") == r"runs/\\[2024]\\*"`."""
    return "".join("\\" + ch if ch in _GLOB_CHARS or ch == "\\" else ch for ch in name)


def _timeout_ms(timeout):
    """Seconds (float, None = forever, 0 = do not wait) to the library's milliseconds."""
    if timeout is None:
        return _shmstore.WAIT_FOREVER
    timeout = float(timeout)
    if not timeout >= 0:  # also rejects NaN
        raise ValueError("timeout must be >= 0 seconds or None, not %r" % timeout)
    if timeout == 0:
        return 0
    # Round up, so a tiny positive timeout still waits rather than meaning "do not wait".
    return min(max(1, math.ceil(timeout * 1000)), 2**31 - 1)


def _ttl_ms(ttl):
    """put's and create's ttl (seconds, None for none) in whole milliseconds, at least 1."""
    if ttl is None:
        return 0
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 \
            or math.isinf(ttl):
        raise ValueError("ttl must be a positive number of seconds, or None, not %r" % (ttl,))
    return max(1, math.ceil(ttl * 1000))
class Event(collections.namedtuple("Event", "kind name id size time_ns count")):
    """One change seen by Client.watch(). kind is one of "sealed" (an object was bound to a
    name that had none), "replaced" (bound in place of another object), "deleted", "evicted"
    (deleted by a daemon in cache mode to make room), "expired" (its time to live ran out),
    "spilled" (it left memory: on disk only), "restored" (read back into memory); with
    snapshot=True also "snapshot" (it was there when the watch started) and one "snapshot_end"
    after them; and "lost" when the watcher read more slowly than changes came: count events
    were dropped there (list() again if an exact picture matters). name, id and size (payload
    bytes) are the object's ("" and 0 for the markers); time_ns is when it happened,
    nanoseconds since the epoch (a snapshot entry: its seal time); count is the number of
    snapshot entries for "snapshot_end", of lost events for "lost", else 0. A kind a newer
    daemon tells and this package does not know is its number."""

    __slots__ = ()


# The library's SHMSTORE_EVENT_* values (include/shmstore.h), in order from 1.
_EVENT_KINDS = (None, "sealed", "replaced", "deleted", "evicted", "expired", "spilled",
                "restored", "snapshot", "snapshot_end", "lost")


class _Watch:
    """The iterator Client.watch() returns, on a connection of its own. Unlike a generator it
    survives an exception raised while it waits (KeyboardInterrupt): the next next() goes on
    with the same stream. close() (or the end of a `with` block, or garbage collection) ends
    the watch in the daemon."""

    def __init__(self, socket, pattern, snapshot):
        self._handle = _shmstore.Client(socket)
        self._pattern = pattern
        self._snapshot = bool(snapshot)

    def __iter__(self):
        return self

    def __next__(self):
        if self._handle is None:
            raise StopIteration
        kind, name, id_, size, time_ns, count = self._handle._watch_next(self._pattern,
                                                                          self._snapshot)
        if 0 < kind < len(_EVENT_KINDS):
            kind = _EVENT_KINDS[kind]
        return Event(kind, name, id_, size, time_ns, count)

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _try_release(view):
    # A view with exports (e.g. a numpy array made over it) cannot be released; it then stays
    # usable until collected, which is the caller's business.
    try:
        view.release()
    except BufferError:
        pass


class Client:
    """One connection to shmstored. Make one with connect() (or Store.connect() of a store
    started by serve()); use it as a context manager, or call close().

    A client may be shared by threads (calls take turns) and survives fork(): a child's first
    call reconnects by itself. A got value stays valid after close()."""

    def __init__(self, socket=None):
        """Connect to the daemon at socket (None: $SHMSTORE_SOCKET or the default path).
        Raises NotRunning when no daemon answers there, PermissionDenied when it refuses this
        user."""
        self._c = _shmstore.Client(socket)
        self._socket = socket

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Refuse further calls. Values already got stay valid (and pinned) until collected;
        the connection closes when the last of them is."""
        self._c.close()

    @property
    def closed(self):
        """True after close()."""
        return self._c.closed

    # -- put --

    def put(self, name, value, replace=False, persist=False, *, no_evict=False, ttl=None):
        """Store value under name, as one immutable object.

        value: a numpy array (stored raw, got back as a read-only array), a bytes-like object
        (got back as a read-only memoryview), or any other picklable object (pickle protocol
        5: numpy arrays of 1 KiB or more inside it are stored beside the pickle and got back
        zero-copy). replace=True rebinds a taken name (readers of the old object keep it);
        otherwise a taken name raises Exists. A full store raises StoreFull.
        persist=True makes the object durable: the daemon also writes it to its data directory,
        so it survives a restart of the daemon (InvalidArgument if the daemon has none).
        no_evict=True: a daemon in cache mode (evict = lru) never deletes it to make room.
        ttl: seconds (a float) the object lives; the daemon deletes it then, as delete() would
        (readers holding it keep it). stat() shows when ("expires_ns"). Not with persist.
        Over the user's quota (the daemon's quota_bytes, quota_objects) raises StoreFull."""
        opts = (replace, persist, no_evict, _ttl_ms(ttl))
        if _codec.plain_array(value):
            arr, order, flat = _codec.array_bytes(value)
            self._c.put(name, flat, _codec.array_meta(arr.dtype, arr.shape, order), *opts)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            self._c.put(name, _codec.bytes_view(value), _codec.BYTES_META, *opts)
        else:
            self._put_pickled(name, value, opts)

    def _put_pickled(self, name, value, opts):
        pickled = _codec.PickledValue(value)
        try:
            if pickled.nbytes <= _ASSEMBLE_MAX:
                payload = bytearray(pickled.nbytes)
                pickled.fill(memoryview(payload))
                self._c.put(name, payload, pickled.meta, *opts)
            else:
                with self._create_raw(name, pickled.nbytes, pickled.meta, opts) as out:
                    pickled.fill(out)
        finally:
            pickled.release()

    # -- get --

    def get(self, name, timeout=0):
        """The value bound to name, zero-copy and read-only (see put for what comes back).

        timeout: seconds to wait for the name to appear: 0 does not wait (NotFound at once),
        None waits without limit; on expiry Timeout. A wait in the main thread ends at once
        with KeyboardInterrupt on Ctrl-C (or with the exception of any signal handler that
        raises), leaving the client usable and nothing waiting in the store; a handler that
        runs meanwhile may use other clients, but not this one (RuntimeError). The value pins
        its object until it (and every view of it) is garbage collected."""
        view, meta, _ = self._c._get(name, _timeout_ms(timeout))
        return _codec.decode(view, meta)

    # -- create --

    @contextlib.contextmanager
    def _create_raw(self, name, nbytes, meta, opts):
        """opts: (replace, persist, no_evict, ttl_ms)."""
        view, oid = self._c.create(name, nbytes, meta, *opts)
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
    def create(self, name, nbytes=None, *, shape=None, dtype=None, order="C", replace=False,
               persist=False, no_evict=False, ttl=None):
        """Reserve an object to fill in place, as a context manager.

        With nbytes it yields a writable memoryview of that many bytes (got back as a
        memoryview); with shape and dtype a writable numpy array (got back as an array).
        Sealed (made visible) when the block ends, aborted (name freed) if it raises. Do not
        write through the buffer after the block. replace, persist, no_evict and ttl as for
        put (the time to live starts when the block ends).

            with client.create("frame", shape=(480, 640), dtype="u1") as a:
                camera.read_into(a)"""
        if dtype is not None or shape is not None:
            if _codec.np is None:
                raise TypeError("shape and dtype need numpy")
            if nbytes is not None:
                raise TypeError("give either nbytes or shape and dtype, not both")
            np = _codec.np
            dt = np.dtype(dtype if dtype is not None else float)
            if dt.hasobject or dt.fields is not None or dt.subdtype is not None:
                raise TypeError("dtype %s cannot be stored raw" % dt)
            if order not in ("C", "F"):
                raise ValueError("order must be 'C' or 'F', not %r" % (order,))
            opts = (replace, persist, no_evict, _ttl_ms(ttl))
            shp = (shape,) if isinstance(shape, int) else tuple(shape or ())
            nbytes = math.prod(shp) * dt.itemsize
            with self._create_raw(name, nbytes, _codec.array_meta(dt, shp, order),
                                  opts) as view:
                yield np.frombuffer(view, dtype=dt).reshape(shp, order=order)
            return
        if nbytes is None:
            raise TypeError("create() needs nbytes, or shape and dtype")
        with self._create_raw(name, nbytes, _codec.BYTES_META,
                              (replace, persist, no_evict, _ttl_ms(ttl))) as view:
            yield view

    # -- delete, look around --

    def delete(self, name):
        """Unbind name, or every name matching it if it is a pattern; returns how many objects
        were deleted.

        A name holding a glob metacharacter (`*`, `?`, `[`) is a pattern, matched as list()
        matches: `delete("job7/*")` deletes everything under "job7/" in one request, and
        returns 0 when nothing matches. A plain name that does not exist raises NotFound. To
        delete an object whose name holds a metacharacter, escape it with a backslash
        (escape_pattern does). The memory of an object is reclaimed when its last reader lets
        go."""
        if is_pattern(name):
            return self._c.delete_matching(name)
        self._c.delete(name)
        return 1

    def stat(self, name):
        """dict(name, id, size, meta_size, pins, created_ns, location, durable, owner,
        expires_ns) of the object, without pinning it; NotFound if there is none. location:
        "memory", "disk" (out of memory: its next get reads it back) or "both"; durable: it
        survives a restart; owner: the uid whose program created it (None from an older
        daemon); expires_ns: when its time to live runs out (ns since the epoch), or None."""
        return self._c.stat(name)

    def list(self, pattern=None):
        """stat dicts of the objects whose names match the glob pattern (fnmatch: `*`, `?`,
        `[...]`, where `*` also matches "/"; None: all), in name order."""
        return self._c.list(pattern)

    def info(self):
        """dict of store-wide figures: capacity_bytes, used_bytes, free_bytes, objects, pins,
        clients, waiters, ..., the disk figures (disk_objects, disk_bytes, disk_only_objects,
        pending_writes, failed_writes, spills, spill_bytes, restores, restore_bytes,
        evictions), evicted_deletions (objects evict = lru deleted), expirations (objects
        deleted when their time to live ran out), and errors, the error replies sent since the
        daemon started, by name ("ENOTFOUND": 3, ...: the names `storectl info --json` uses)."""
        return self._c.info()

    def users(self):
        """list of dicts, one per user holding objects, in uid order: uid, objects, bytes (what
        that user's objects take) and quota_bytes, quota_objects (its limits; 0: none)."""
        return self._c.users()

    def ping(self):
        """One round trip to the daemon; raises ConnectionLost if it is gone."""
        self._c.ping()

    def sync(self):
        """Wait until every durable object (persist=True) stored, replaced or deleted before this
        call, by any client, is on the daemon's disk. Under the daemon's default durability
        (async) a durable put answers before its write; after sync() it survives a crash.
        Returns at once on a daemon without a data directory."""
        self._c.sync()

    def watch(self, pattern=None, snapshot=False):
        """An iterator of Event for every change to an object whose name matches the glob
        pattern (None: every name), as it happens, in the order the daemon made them:

            for event in client.watch("job7/*"):
                if event.kind == "sealed" and event.name == "job7/result":
                    break

        With snapshot=True the objects that match now come first (kind "snapshot"), then one
        "snapshot_end", then the changes, with no gap and no duplicate. The watch runs on a
        connection of its own, so this client stays free for other calls; it ends when the
        iterator is closed (close(), or use it in a `with` block) or collected. Ctrl-C raises
        KeyboardInterrupt from the loop; the iterator may then go on where it stopped. A
        watcher that reads slowly gets its waiting changes coalesced (the latest per name) and,
        past a bound, a "lost" event; the daemon never drops it. Raises ConnectionLost if the
        daemon goes away."""
        return _Watch(self._socket, pattern, snapshot)

    def __contains__(self, name):
        """True if an object is bound to name now (a stat, without pinning)."""
        try:
            self._c.stat(name)
        except NotFound:
            return False
        return True

    def namespace(self, prefix, cleanup=False):
        """A Namespace: a view of this client in which every name means "prefix/name".

        With cleanup=True, use it as a context manager: when the block ends, even by an
        exception, every object under "prefix/" is deleted.

            with client.namespace("job7", cleanup=True) as ns:
                ns.put("input", data)          # stored as "job7/input"
                run(ns.get("input"))
            # nothing of job7/ is left"""
        return Namespace(self, prefix, cleanup)

    def __repr__(self):
        return "<shmstore.Client%s>" % (" closed" if self.closed else "")


class Namespace:
    """The objects of one client whose names start with "PREFIX/", addressed without the
    prefix. Made by Client.namespace(). Names given to and returned by its methods are relative
    to the prefix; patterns (list, delete) are too, and never reach outside it."""

    def __init__(self, client, prefix, cleanup=False):
        prefix = prefix.strip("/")
        if not prefix:
            raise ValueError("a namespace needs a non-empty prefix")
        self.client = client
        self.prefix = prefix
        self.cleanup = cleanup
        self._pattern_prefix = escape_pattern(prefix) + "/"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.cleanup:
            return
        try:
            self.clear()
        except Error:
            if exc is None:
                raise
            # The block's own exception says more than a failed cleanup after it.

    def full_name(self, name):
        """The full name of name in this namespace ("prefix/name")."""
        return "%s/%s" % (self.prefix, name)

    def put(self, name, value, replace=False, persist=False, *, no_evict=False, ttl=None):
        """Client.put of prefix/name."""
        self.client.put(self.full_name(name), value, replace, persist, no_evict=no_evict,
                        ttl=ttl)

    def get(self, name, timeout=0):
        """Client.get of prefix/name."""
        return self.client.get(self.full_name(name), timeout)

    def create(self, name, nbytes=None, *, shape=None, dtype=None, order="C", replace=False,
               persist=False, no_evict=False, ttl=None):
        """Client.create of prefix/name."""
        return self.client.create(self.full_name(name), nbytes, shape=shape, dtype=dtype,
                                  order=order, replace=replace, persist=persist,
                                  no_evict=no_evict, ttl=ttl)

    def delete(self, name):
        """Client.delete of prefix/name; a pattern matches names under the prefix only."""
        if is_pattern(name):
            return self.client.delete(self._pattern_prefix + name)
        return self.client.delete(self.full_name(name))

    def clear(self):
        """Delete every object under the prefix; returns how many."""
        return self.client.delete(self._pattern_prefix + "*")

    def _relative(self, entry):
        entry = dict(entry)
        entry["name"] = entry["name"][len(self.prefix) + 1:]
        return entry

    def stat(self, name):
        """Client.stat of prefix/name, with the name relative to the prefix."""
        return self._relative(self.client.stat(self.full_name(name)))

    def list(self, pattern=None):
        """Client.list of the objects under the prefix matching pattern (None: all), with names
        relative to the prefix."""
        return [self._relative(e)
                for e in self.client.list(self._pattern_prefix + (pattern or "*"))]

    def namespace(self, prefix, cleanup=False):
        """A namespace nested in this one: "self.prefix/prefix"."""
        return Namespace(self.client, self.full_name(prefix.strip("/")), cleanup)

    def __contains__(self, name):
        """True if an object is bound to prefix/name now."""
        return self.full_name(name) in self.client

    def __repr__(self):
        return "<shmstore.Namespace %r%s>" % (self.prefix, " cleanup" if self.cleanup else "")


def connect(socket=None):
    """Connect to shmstored at socket (None: $SHMSTORE_SOCKET, which serve() sets while its
    store runs, or the default path). Raises NotRunning, with the socket tried and how to start
    a daemon, when none answers there."""
    return Client(socket)
