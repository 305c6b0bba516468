"""The exceptions of shmstore, and how a failed library call becomes one of them.

Every error of the store is a shmstore.Error; each kind is also the built-in exception Python
code already catches for that situation (NotFound is a KeyError, Timeout a TimeoutError, ...),
so `except KeyError` around a get works as it does around a dict lookup. The extension module
(_shmstore.c) calls _from_code() with the library's error code, its detail text and what it
knows of the call (name, wait, socket), and raises what that returns; the texts that tell the
user what to do next are written here, in one place.
"""

__all__ = [
    "Error", "NotFound", "Exists", "StoreFull", "Timeout", "PermissionDenied",
    "ConnectionLost", "NotRunning", "InvalidArgument",
]


class Error(Exception):
    """Base of every shmstore error.

    Attributes: `code`, the library's negative SHMSTORE_E* number (None for errors raised by
    the Python layer itself), and `errname`, its name as `storectl info --json` prints it
    ("ENOTFOUND", "ENOSPC", ...)."""

    code = None
    errname = None

    # KeyError and OSError format their message their own way (KeyError shows the repr); the
    # message of every shmstore error is the plain text it was made with.
    def __str__(self):
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class NotFound(Error, KeyError):
    """No object of that name (or id). Also a KeyError. Attribute `name`: the name asked for."""

    name = None


class Exists(Error):
    """The name is already taken; put(..., replace=True) rebinds it."""


class StoreFull(Error):
    """The store has no room for the object. The message gives the exact bytes asked and free,
    and how to start a bigger store."""


class Timeout(Error, TimeoutError):
    """A waiting get ran out of time. Also a TimeoutError. Attributes `name` and `timeout`
    (seconds)."""

    name = None
    timeout = None


class PermissionDenied(Error, PermissionError):
    """The daemon refuses this user or this call (a read-only client's put, a socket the user
    may not open). Also a PermissionError."""


class ConnectionLost(Error, ConnectionError):
    """The connection to the daemon was lost (it stopped or dropped this client), or the
    client is closed. Also a ConnectionError. The next call reconnects."""


class NotRunning(ConnectionLost):
    """connect() found no daemon at the socket. Also a ConnectionError (and a ConnectionLost,
    which code written for earlier versions catches). Attribute `socket`: the path tried; the
    message says how to start a daemon."""

    socket = None


class InvalidArgument(Error, ValueError):
    """The library refused an argument (a bad name, metadata over 64 KiB, ...). Also a
    ValueError."""


# The class of each error name; codes not listed are plain Error (ESTATE, EPROTO, ENOMEM,
# EIO, and EINTR, which never reaches Python code: an interrupted get raises the exception of
# the signal handler that interrupted it). The tests check these names against the
# extension's table, errnames.
_CLASS_OF_ERRNAME = {
    "EINVAL": InvalidArgument,
    "ENOTFOUND": NotFound,
    "EEXIST": Exists,
    "ENOSPC": StoreFull,
    "ETIMEDOUT": Timeout,
    "EPERM": PermissionDenied,
    "ECONN": ConnectionLost,
}

_START_A_DAEMON = (
    "start one: `python -m shmstore serve` in a terminal (it prints the SHMSTORE_SOCKET to "
    "export), `with shmstore.serve() as store:` in Python, or `shmstored -s %s`")

_BIGGER_STORE_FROM_PYTHON = (
    "from Python, shmstore.serve(memory=\"8G\") or `python -m shmstore serve --memory 8G` "
    "starts a store of 8 GiB")


def _seconds_text(ms):
    return "%d s" % (ms // 1000) if ms % 1000 == 0 else "%g s" % (ms / 1000)


def _from_code(code, errname, detail, name=None, timeout_ms=None, socket=None, connecting=False):
    """The exception for a failed call: code and errname from the library (errname with or
    without the SHMSTORE_ prefix), detail its text (may be empty); name, timeout_ms and socket
    what the caller knows of the call; connecting: the call was connect()."""
    if errname.startswith("SHMSTORE_"):
        errname = errname[len("SHMSTORE_"):]
    cls = _CLASS_OF_ERRNAME.get(errname, Error)
    text = detail or errname
    extra = {}
    if cls is ConnectionLost and connecting:
        cls = NotRunning
        # The library's own advice names shmstored only; the one below says more.
        text = text.split("; start one", 1)[0].replace(" (is shmstored running?)", "")
        if socket and socket not in text:
            text = "%s (socket %s)" % (text, socket)
        text = "%s; %s" % (text, _START_A_DAEMON % (socket or "PATH"))
        extra["socket"] = socket
    elif cls is Timeout:
        if name is not None and timeout_ms is not None:
            text = "%r was not put within %s" % (name, _seconds_text(timeout_ms))
        extra["name"] = name
        extra["timeout"] = None if timeout_ms is None else timeout_ms / 1000
    elif cls is StoreFull and "store full" in text:
        # Not for a per-client limit, which a bigger store does not lift.
        if "--memory" not in text and "-m " not in text:
            text += "; a bigger store: `shmstored -m 8G`"
        text = "%s; %s" % (text, _BIGGER_STORE_FROM_PYTHON)
    elif cls is NotFound:
        extra["name"] = name
    exc = cls(text)
    exc.code = code
    exc.errname = errname
    for key, value in extra.items():
        setattr(exc, key, value)
    return exc
