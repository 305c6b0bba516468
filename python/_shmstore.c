/*
 * _shmstore.c — shmstore._shmstore, the CPython extension under the Python binding.
 *
 * A thin, faithful wrapper of libshmstore (include/shmstore.h); the value encoding (numpy,
 * pickle) lives in shmstore/_codec.py, and the exceptions, with the texts that say what to do,
 * in shmstore/errors.py (every failure goes through its _from_code). Three types:
 *   Client       one shmstore_client handle.
 *   Pin          the buffer exporter behind every memoryview that get() returns: it owns one
 *                pinned shmstore_object and a strong reference to its Client, and releases the
 *                pin exactly once, in its dealloc — i.e. when the last memoryview or numpy array
 *                over it is garbage-collected.
 *   Reservation  the exporter behind create()'s writable memoryview; keeps the handle (and so
 *                the writable mapping) alive while the memoryview lives.
 * Lifetime rule: pointers from the C library die with shmstore_close(), so Client.close() only
 * marks the client closed (new calls fail with ConnectionLost) and the C handle is closed when
 * the last Pin/Reservation is gone and no call is in flight. Every call that can block (all of
 * them talk to the daemon) runs with the GIL released; the library serializes calls per handle.
 * Fork: the library reconnects in a child by itself; a Pin inherited by a child must never
 * release the parent's pin, so each Pin records getpid() and only its creator process releases.
 * Signals: every handle has an interrupt check (shmstore_set_interrupt) that runs Python's
 * signal handlers while a get waits in the main thread, so Ctrl-C ends the wait with
 * KeyboardInterrupt (see run_signal_handlers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmstore.h"

PyMODINIT_FUNC PyInit__shmstore(void);

/* ---- exceptions ----------------------------------------------------------------------------- */

/* shmstore.errors._from_code, which turns a failed call into the exception to raise (the
 * classes and their texts are Python, in shmstore/errors.py), and ConnectionLost, raised here
 * for a closed client. Looked up once, when the module is imported. */
static PyObject *error_factory, *ConnectionLost;

/* What a call knows that makes its error say more: the name it was about, the wait it was
 * given, the socket it tried. Zero-initialised fields are left out. */
struct call_context {
    const char *name;
    int timeout_ms;
    int has_timeout;
    const char *socket;
    int connecting;
};

/* "ENOSPC" for SHMSTORE_ENOSPC: the name storectl's JSON and the exceptions' errname use. */
static const char *short_errname(int code)
{
    const char *name = shmstore_errname(code);
    static const char prefix[] = "SHMSTORE_";
    return strncmp(name, prefix, sizeof prefix - 1) == 0 ? name + sizeof prefix - 1 : name;
}

/* A C string as a Python str, or None for NULL. Undecodable bytes (a socket path from the
 * environment, say) are replaced rather than failing: the error being raised matters more. */
static PyObject *text_or_none(const char *text)
{
    if (!text)
        return Py_NewRef(Py_None);
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

/* Raise the exception of a SHMSTORE_E* code. `detail` is the library's text for the failure
 * and must be read right after the failing call. Always returns NULL. */
static PyObject *raise_code_in(int code, const char *detail, const struct call_context *ctx)
{
    PyObject *pydetail = text_or_none(detail ? detail : "");
    PyObject *name = text_or_none(ctx ? ctx->name : NULL);
    PyObject *socket = text_or_none(ctx ? ctx->socket : NULL);
    PyObject *timeout = ctx && ctx->has_timeout ? PyLong_FromLong(ctx->timeout_ms)
                                                : Py_NewRef(Py_None);
    PyObject *exc = NULL;
    if (pydetail && name && socket && timeout)
        exc = PyObject_CallFunction(error_factory, "isOOOOi", code, short_errname(code),
                                    pydetail, name, timeout, socket, ctx ? ctx->connecting : 0);
    Py_XDECREF(pydetail);
    Py_XDECREF(name);
    Py_XDECREF(socket);
    Py_XDECREF(timeout);
    if (!exc)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *raise_code(int code, const char *detail)
{
    return raise_code_in(code, detail, NULL);
}

/* ---- Client ----------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    shmstore_client *c; /* NULL once really closed */
    Py_ssize_t holds;   /* live Pins and Reservations: pointers into this handle's mappings */
    Py_ssize_t busy;    /* calls running with the GIL released */
    int closed;         /* close() was called: refuse new calls */
    /* While the interrupt check runs signal handlers, that thread (the main one, else 0) holds
     * the handle's lock inside a get: a handler's call on this client would deadlock there, and
     * a pin it lets go is released only when the get returns (deferred). */
    unsigned long checking_thread;
    shmstore_object *deferred;
    Py_ssize_t n_deferred, deferred_cap;
} ClientObject;

static PyTypeObject ClientType, PinType, ReservationType;

/* Close the C handle once nothing can still use it. Called with the GIL held, whenever closed,
 * holds or busy may have changed. */
static void client_maybe_free(ClientObject *self)
{
    if (self->closed && self->c && self->holds == 0 && self->busy == 0) {
        shmstore_client *c = self->c;
        self->c = NULL;
        Py_BEGIN_ALLOW_THREADS
        shmstore_close(c);
        Py_END_ALLOW_THREADS
    }
}

static int in_own_check(const ClientObject *self)
{
    return self->checking_thread && self->checking_thread == PyThread_get_thread_ident();
}

/* Start a call: refuse a closed client, and keep the handle alive while the GIL is released. */
static int client_enter(ClientObject *self)
{
    if (self->closed || !self->c) {
        PyErr_SetString(ConnectionLost, "client is closed");
        return -1;
    }
    if (in_own_check(self)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a signal handler cannot use the client whose get it interrupted; use "
                        "another client, or raise and clean up after the get");
        return -1;
    }
    self->busy++;
    return 0;
}

/* End a call; if it failed, raise its error. The detail is this OS thread's own (shmstore.h,
 * "Error detail"), so other Python threads' calls on the handle while the GIL was released
 * cannot have changed it. Returns 0 on success, -1 with an exception set. */
static int client_leave_in(ClientObject *self, int rc, const struct call_context *ctx)
{
    if (rc != 0)
        raise_code_in(rc, shmstore_errmsg(self->c), ctx);
    self->busy--;
    client_maybe_free(self);
    return rc ? -1 : 0;
}

static int client_leave(ClientObject *self, int rc)
{
    return client_leave_in(self, rc, NULL);
}

/* ---- signals: the interrupt check of every handle --------------------------------------------- */

/* The thread Python runs signal handlers in, known without the GIL; a fork child's is the
 * thread that forked, as for Python itself. */
static unsigned long main_thread_ident;

static void main_thread_after_fork(void)
{
    main_thread_ident = PyThread_get_thread_ident();
}

static int load_main_thread_ident(void)
{
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *main = threading ? PyObject_CallMethod(threading, "main_thread", NULL) : NULL;
    PyObject *ident = main ? PyObject_GetAttrString(main, "ident") : NULL;
    if (ident)
        main_thread_ident = PyLong_AsUnsignedLong(ident);
    Py_XDECREF(threading);
    Py_XDECREF(main);
    Py_XDECREF(ident);
    if (!ident || PyErr_Occurred())
        return -1;
    if (pthread_atfork(NULL, NULL, main_thread_after_fork) != 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Every handle's interrupt check: the library calls it, without the GIL, while a get waits,
 * after each slice of at most 50 ms and after each signal (shmstore_set_interrupt). Python runs
 * signal handlers only in the main thread, so elsewhere there is nothing to ask. In the main
 * thread it takes the GIL and runs them: when one raises (KeyboardInterrupt on Ctrl-C, or any
 * handler's exception) the exception stays set, the library withdraws the get, and Client_get
 * raises that exception. A client closed meanwhile ends the wait too (ConnectionLost). */
static int run_signal_handlers(void *arg)
{
    ClientObject *self = arg;
    if (PyThread_get_thread_ident() != main_thread_ident)
        return 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    self->checking_thread = main_thread_ident;
    int stop = PyErr_CheckSignals() < 0;
    self->checking_thread = 0;
    if (!stop && self->closed) {
        PyErr_SetString(ConnectionLost, "client closed while get waited");
        stop = 1;
    }
    PyGILState_Release(gil);
    return stop;
}

static PyObject *Client_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"socket", NULL};
    const char *path = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|z:Client", kwlist, &path))
        return NULL;
    shmstore_client *c = NULL;
    int rc;
    char detail[512];
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_connect(path, &c);
    if (rc)
        snprintf(detail, sizeof detail, "%s", shmstore_errmsg(NULL));
    Py_END_ALLOW_THREADS
    if (rc) {
        /* Name the socket tried, so "no daemon" says where none was found. */
        char default_path[256]; /* a Unix socket path is at most 108 bytes */
        if (!path && shmstore_default_socket(default_path, sizeof default_path) == 0)
            path = default_path;
        struct call_context ctx = {.socket = path, .connecting = 1};
        return raise_code_in(rc, detail, &ctx);
    }
    ClientObject *self = (ClientObject *)type->tp_alloc(type, 0);
    if (!self) {
        shmstore_close(c);
        return NULL;
    }
    self->c = c;
    /* Cannot fail on a handle; self outlives the handle (closed before it is freed). */
    shmstore_set_interrupt(c, run_signal_handlers, self);
    return (PyObject *)self;
}

static void Client_dealloc(ClientObject *self)
{
    /* Pins and Reservations hold strong references, so none is left here. */
    if (self->c)
        shmstore_close(self->c);
    PyMem_Free(self->deferred);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Client_close(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    self->closed = 1;
    client_maybe_free(self);
    Py_RETURN_NONE;
}

static PyObject *Client_get_closed(ClientObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->closed);
}

static unsigned put_flags(int replace, int persist, int no_evict)
{
    return (replace ? SHMSTORE_REPLACE : 0u) | (persist ? SHMSTORE_PERSIST : 0u) |
           (no_evict ? SHMSTORE_NO_EVICT : 0u);
}

/* ttl_ms of put and create: 0 (none) or more. */
static int ttl_ok(long long ttl_ms)
{
    if (ttl_ms >= 0)
        return 1;
    PyErr_SetString(PyExc_ValueError, "ttl_ms must be >= 0");
    return 0;
}

static PyObject *Client_put(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "buffer", "meta", "replace", "persist", "no_evict", "ttl_ms",
                             NULL};
    const char *name;
    Py_buffer data = {0}, meta = {0};
    int replace = 0, persist = 0, no_evict = 0;
    long long ttl_ms = 0;
    /* y* insists on a C-contiguous buffer and holds it (so e.g. a bytearray cannot be resized
     * under us while the GIL is released). */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sy*|y*pppL:put", kwlist, &name, &data, &meta,
                                     &replace, &persist, &no_evict, &ttl_ms))
        return NULL;
    PyObject *result = NULL;
    if (ttl_ok(ttl_ms) && client_enter(self) == 0) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = shmstore_put_ttl(self->c, name, data.buf, (size_t)data.len, meta.buf,
                              (size_t)meta.len, put_flags(replace, persist, no_evict),
                              (uint64_t)ttl_ms);
        Py_END_ALLOW_THREADS
        if (client_leave(self, rc) == 0)
            result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&data);
    if (meta.obj)
        PyBuffer_Release(&meta);
    return result;
}

/* ---- Pin: exporter of a pinned, read-only object ---------------------------------------------- */

typedef struct {
    PyObject_HEAD
    ClientObject *client; /* strong */
    shmstore_object obj;
    pid_t pid; /* the process that holds the pin */
} PinObject;

static char empty_payload; /* a valid address for zero-byte objects */

static int Pin_getbuffer(PinObject *self, Py_buffer *view, int flags)
{
    void *buf = self->obj.data ? (void *)self->obj.data : &empty_payload;
    /* readonly=1: FillInfo refuses PyBUF_WRITABLE requests with BufferError, and numpy marks
     * arrays over it read-only. */
    return PyBuffer_FillInfo(view, (PyObject *)self, buf, (Py_ssize_t)self->obj.size, 1, flags);
}

static PyBufferProcs Pin_as_buffer = {.bf_getbuffer = (getbufferproc)Pin_getbuffer};

/* A pin collected while its client's get runs signal handlers (only the main thread does, so
 * this is that thread, holding the handle's lock): its release waits for the get to return. If
 * even that cannot be recorded, the pin goes when the client is closed. */
static void defer_release(ClientObject *client, const shmstore_object *obj)
{
    if (client->n_deferred == client->deferred_cap) {
        Py_ssize_t cap = client->deferred_cap ? 2 * client->deferred_cap : 8;
        shmstore_object *grown = PyMem_Realloc(client->deferred, (size_t)cap * sizeof *grown);
        if (!grown)
            return;
        client->deferred = grown;
        client->deferred_cap = cap;
    }
    client->deferred[client->n_deferred++] = *obj;
}

/* After a get: the releases defer_release kept. Called with the GIL held and busy counted. */
static void release_deferred(ClientObject *self)
{
    for (Py_ssize_t i = 0; i < self->n_deferred; i++) {
        Py_BEGIN_ALLOW_THREADS
        shmstore_release(self->c, &self->deferred[i]);
        Py_END_ALLOW_THREADS
    }
    self->n_deferred = 0;
}

static void Pin_dealloc(PinObject *self)
{
    ClientObject *client = self->client;
    if (client->c && self->pid == getpid() && in_own_check(client)) {
        defer_release(client, &self->obj);
    } else if (client->c && self->pid == getpid()) {
        /* Release takes the handle's lock, which a waiting get in another thread may hold for
         * long: never wait for it while holding the GIL. Errors (ESTATE after a lost
         * connection: the daemon dropped the pin already) leave nothing to undo. */
        shmstore_client *c = client->c;
        Py_BEGIN_ALLOW_THREADS
        shmstore_release(c, &self->obj);
        Py_END_ALLOW_THREADS
    }
    client->holds--;
    client_maybe_free(client);
    Py_DECREF(client);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Pin_get_id(PinObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->obj.id);
}

static PyGetSetDef Pin_getset[] = {
    {"id", (getter)Pin_get_id, NULL, "id of the pinned object", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PinType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstore._shmstore.Pin",
    .tp_basicsize = sizeof(PinObject),
    .tp_dealloc = (destructor)Pin_dealloc,
    .tp_as_buffer = &Pin_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One pinned object of the store; the pin is released when this is collected.",
    .tp_getset = Pin_getset,
};

/* _get(name, timeout_ms) -> (memoryview, meta: bytes, id) */
static PyObject *Client_get(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "timeout_ms", NULL};
    const char *name;
    int timeout_ms = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|i:_get", kwlist, &name, &timeout_ms))
        return NULL;
    if (timeout_ms < 0 && timeout_ms != SHMSTORE_WAIT_FOREVER) {
        PyErr_SetString(PyExc_ValueError, "timeout_ms must be >= 0 or -1 (wait forever)");
        return NULL;
    }
    /* Allocate the Pin first: once the object is pinned, nothing may fail before the Pin owns
     * it, or the pin would leak. */
    PinObject *pin = PyObject_New(PinObject, &PinType);
    if (!pin)
        return NULL;
    pin->client = NULL;
    if (client_enter(self) < 0) {
        PyObject_Free(pin);
        return NULL;
    }
    shmstore_object obj = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_get(self->c, name, timeout_ms, &obj);
    Py_END_ALLOW_THREADS
    release_deferred(self);
    if (rc) {
        if (PyErr_Occurred()) {
            /* A signal handler raised and the get ended (EINTR, or the connection was lost
             * as it was withdrawn): the handler's exception is the answer. */
            self->busy--;
            client_maybe_free(self);
        } else {
            struct call_context ctx = {.name = name, .timeout_ms = timeout_ms, .has_timeout = 1};
            client_leave_in(self, rc, &ctx);
        }
        PyObject_Free(pin);
        return NULL;
    }
    /* From here on the Pin owns the pin; its dealloc releases it on every path below. */
    pin->client = (ClientObject *)Py_NewRef(self);
    pin->obj = obj;
    pin->pid = getpid();
    self->holds++;
    client_leave(self, 0);

    PyObject *view = PyMemoryView_FromObject((PyObject *)pin);
    Py_DECREF(pin); /* the memoryview holds it now, or it is released at once on failure */
    if (!view)
        return NULL;
    PyObject *meta = PyBytes_FromStringAndSize(obj.meta, (Py_ssize_t)obj.meta_size);
    if (!meta) {
        Py_DECREF(view);
        return NULL;
    }
    return Py_BuildValue("(NNK)", view, meta, (unsigned long long)obj.id);
}

/* ---- Reservation: exporter of an unsealed object being filled --------------------------------- */

typedef struct {
    PyObject_HEAD
    ClientObject *client; /* strong */
    void *data;
    Py_ssize_t size;
    unsigned long long id;
} ReservationObject;

static int Reservation_getbuffer(ReservationObject *self, Py_buffer *view, int flags)
{
    void *buf = self->data ? self->data : &empty_payload;
    return PyBuffer_FillInfo(view, (PyObject *)self, buf, self->size, 0, flags);
}

static PyBufferProcs Reservation_as_buffer = {
    .bf_getbuffer = (getbufferproc)Reservation_getbuffer};

static void Reservation_dealloc(ReservationObject *self)
{
    ClientObject *client = self->client;
    client->holds--;
    client_maybe_free(client);
    Py_DECREF(client);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ReservationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstore._shmstore.Reservation",
    .tp_basicsize = sizeof(ReservationObject),
    .tp_dealloc = (destructor)Reservation_dealloc,
    .tp_as_buffer = &Reservation_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writable memory of an unsealed object (valid until its seal or abort).",
};

/* create(name, nbytes, meta=b"", replace=False, persist=False, no_evict=False, ttl_ms=0)
 * -> (writable memoryview, id) */
static PyObject *Client_create(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "nbytes", "meta", "replace", "persist", "no_evict", "ttl_ms",
                             NULL};
    const char *name;
    Py_ssize_t nbytes;
    Py_buffer meta = {0};
    int replace = 0, persist = 0, no_evict = 0;
    long long ttl_ms = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sn|y*pppL:create", kwlist, &name, &nbytes,
                                     &meta, &replace, &persist, &no_evict, &ttl_ms))
        return NULL;
    PyObject *result = NULL;
    ReservationObject *res = NULL;
    if (nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be >= 0");
        goto out;
    }
    if (!ttl_ok(ttl_ms))
        goto out;
    res = PyObject_New(ReservationObject, &ReservationType);
    if (!res)
        goto out;
    res->client = NULL;
    if (client_enter(self) < 0)
        goto out;
    void *data = NULL;
    uint64_t id = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_create_ttl(self->c, name, (size_t)nbytes, meta.buf, (size_t)meta.len,
                             put_flags(replace, persist, no_evict), (uint64_t)ttl_ms, &data, &id);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        goto out;
    res->client = (ClientObject *)Py_NewRef(self);
    res->data = data;
    res->size = nbytes;
    res->id = (unsigned long long)id;
    self->holds++;
    PyObject *view = PyMemoryView_FromObject((PyObject *)res);
    if (!view) {
        /* Nobody can fill it: free the name at once rather than at close. */
        Py_BEGIN_ALLOW_THREADS
        shmstore_abort(self->c, id);
        Py_END_ALLOW_THREADS
        goto out;
    }
    result = Py_BuildValue("(NK)", view, (unsigned long long)id);
out:
    if (res && !res->client)
        PyObject_Free(res); /* never initialized: its dealloc must not run */
    else
        Py_XDECREF(res);
    if (meta.obj)
        PyBuffer_Release(&meta);
    return result;
}

/* Calls of the shape f(handle, uint64 id): seal and abort. */
static PyObject *call_with_id(ClientObject *self, PyObject *arg,
                              int (*fn)(shmstore_client *, uint64_t))
{
    unsigned long long id = PyLong_AsUnsignedLongLong(arg);
    if (id == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(self->c, (uint64_t)id);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Client_seal(ClientObject *self, PyObject *arg)
{
    return call_with_id(self, arg, shmstore_seal);
}

static PyObject *Client_abort(ClientObject *self, PyObject *arg)
{
    return call_with_id(self, arg, shmstore_abort);
}

static PyObject *Client_delete(ClientObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:delete", &name))
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_delete(self->c, name);
    Py_END_ALLOW_THREADS
    struct call_context ctx = {.name = name};
    if (client_leave_in(self, rc, &ctx) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Client_delete_matching(ClientObject *self, PyObject *args)
{
    const char *pattern;
    if (!PyArg_ParseTuple(args, "s:delete_matching", &pattern))
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    uint64_t deleted = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_delete_matching(self->c, pattern, &deleted);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong((unsigned long long)deleted);
}

/* location: "memory", "disk" or "both"; None from a daemon too old to say. */
static const char *location_name(uint32_t location)
{
    switch (location & (SHMSTORE_IN_MEMORY | SHMSTORE_ON_DISK)) {
    case SHMSTORE_IN_MEMORY: return "memory";
    case SHMSTORE_ON_DISK: return "disk";
    case SHMSTORE_IN_MEMORY | SHMSTORE_ON_DISK: return "both";
    default: return NULL;
    }
}

static PyObject *stat_to_dict(const shmstore_object_status *status)
{
    const shmstore_object_stat *st = &status->stat;
    /* owner: the creator's uid, None from a daemon too old to say; expires_ns: None for none */
    PyObject *owner = status->owner_uid == SHMSTORE_OWNER_UNKNOWN
                          ? Py_NewRef(Py_None)
                          : PyLong_FromUnsignedLong(status->owner_uid);
    PyObject *expires = status->expires_ns ? PyLong_FromLongLong((long long)status->expires_ns)
                                           : Py_NewRef(Py_None);
    if (!owner || !expires) {
        Py_XDECREF(owner);
        Py_XDECREF(expires);
        return NULL;
    }
    return Py_BuildValue("{s:s,s:K,s:K,s:K,s:K,s:L,s:z,s:O,s:N,s:N}", "name", st->name, "id",
                         (unsigned long long)st->id, "size", (unsigned long long)st->size,
                         "meta_size", (unsigned long long)st->meta_size, "pins",
                         (unsigned long long)st->pins, "created_ns", (long long)st->created_ns,
                         "location", location_name(status->location), "durable",
                         status->durable ? Py_True : Py_False, "owner", owner, "expires_ns",
                         expires);
}

static PyObject *Client_stat(ClientObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s:stat", &name))
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    shmstore_object_status st;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_status(self->c, name, &st);
    Py_END_ALLOW_THREADS
    struct call_context ctx = {.name = name};
    if (client_leave_in(self, rc, &ctx) < 0)
        return NULL;
    return stat_to_dict(&st);
}

/* list() collects entries in C (the callback runs without the GIL) and converts afterwards. */
struct stat_vec {
    shmstore_object_status *v;
    size_t n, cap;
    int oom;
};

static int collect_stat(const shmstore_object_status *entry, void *arg)
{
    struct stat_vec *sv = arg;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        shmstore_object_status *v = realloc(sv->v, cap * sizeof *v);
        if (!v) {
            sv->oom = 1;
            return SHMSTORE_ENOMEM;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = *entry;
    return 0;
}

static PyObject *Client_list(ClientObject *self, PyObject *args)
{
    const char *pattern = NULL;
    if (!PyArg_ParseTuple(args, "|z:list", &pattern))
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    struct stat_vec sv = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_list_status(self->c, pattern, collect_stat, &sv);
    Py_END_ALLOW_THREADS
    if (sv.oom) {
        /* our callback stopped the list */
        self->busy--;
        client_maybe_free(self);
        free(sv.v);
        return PyErr_NoMemory();
    }
    if (client_leave(self, rc) < 0) {
        free(sv.v);
        return NULL;
    }
    PyObject *list = PyList_New((Py_ssize_t)sv.n);
    for (size_t i = 0; list && i < sv.n; i++) {
        PyObject *d = stat_to_dict(&sv.v[i]);
        if (!d)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    free(sv.v);
    return list;
}

static PyObject *Client_info(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (client_enter(self) < 0)
        return NULL;
    shmstore_store_info in;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_info(self->c, &in);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        return NULL;
    /* errors: {"ENOTFOUND": count, ...}, only the codes the library knows, named as
     * `storectl info --json` names them. */
    PyObject *errors = PyDict_New();
    if (!errors)
        return NULL;
    for (int i = 1; i < (int)(sizeof in.errors / sizeof in.errors[0]) && -i > SHMSTORE_ERRNO_END_;
         i++) {
        PyObject *n = PyLong_FromUnsignedLongLong(in.errors[i]);
        if (!n || PyDict_SetItemString(errors, short_errname(-i), n) < 0) {
            Py_XDECREF(n);
            Py_DECREF(errors);
            return NULL;
        }
        Py_DECREF(n);
    }
    in.version[sizeof in.version - 1] = '\0';
#define U(field) #field, (unsigned long long)in.field
    PyObject *figures = Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:N,s:s}", U(capacity_bytes),
        U(used_bytes), U(free_bytes), U(largest_free_bytes), U(objects), U(unsealed_objects),
        U(unsealed_bytes), U(deleted_pinned), U(pins), U(clients), U(waiters), U(uptime_s),
        U(requests), "errors", errors, "version", in.version);
    PyObject *disk = figures ? Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", U(disk_objects),
        U(disk_bytes), U(disk_only_objects), U(pending_writes), U(failed_writes), U(spills),
        U(spill_bytes), U(restores), U(restore_bytes), U(evictions), U(taken_bytes), U(segments),
        U(evicted_deletions), U(expirations)) : NULL;
    if (!disk || PyDict_Update(figures, disk) < 0)
        Py_CLEAR(figures);
    Py_XDECREF(disk);
    return figures;
#undef U
}

/* users() collects in C, as list() does, and converts afterwards. */
struct user_vec {
    shmstore_user_usage *v;
    size_t n, cap;
    int oom;
};

static int collect_user(const shmstore_user_usage *user, void *arg)
{
    struct user_vec *uv = arg;
    if (uv->n == uv->cap) {
        size_t cap = uv->cap ? uv->cap * 2 : 16;
        shmstore_user_usage *v = realloc(uv->v, cap * sizeof *v);
        if (!v) {
            uv->oom = 1;
            return SHMSTORE_ENOMEM;
        }
        uv->v = v;
        uv->cap = cap;
    }
    uv->v[uv->n++] = *user;
    return 0;
}

static PyObject *Client_users(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (client_enter(self) < 0)
        return NULL;
    struct user_vec uv = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_users(self->c, collect_user, &uv);
    Py_END_ALLOW_THREADS
    if (uv.oom) {
        self->busy--;
        client_maybe_free(self);
        free(uv.v);
        return PyErr_NoMemory();
    }
    if (client_leave(self, rc) < 0) {
        free(uv.v);
        return NULL;
    }
    PyObject *list = PyList_New((Py_ssize_t)uv.n);
    for (size_t i = 0; list && i < uv.n; i++) {
        const shmstore_user_usage *u = &uv.v[i];
        PyObject *d = Py_BuildValue("{s:k,s:K,s:K,s:K,s:K}", "uid", (unsigned long)u->uid,
                                    "objects", (unsigned long long)u->objects, "bytes",
                                    (unsigned long long)u->bytes, "quota_bytes",
                                    (unsigned long long)u->quota_bytes, "quota_objects",
                                    (unsigned long long)u->quota_objects);
        if (!d)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    free(uv.v);
    return list;
}

static PyObject *Client_sync(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (client_enter(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_sync(self->c);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Client_ping(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (client_enter(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_ping(self->c);
    Py_END_ALLOW_THREADS
    if (client_leave(self, rc) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The callback of _watch_next: keep the event, and stop at it. */
static int take_one_event(const shmstore_event *event, void *arg)
{
    *(shmstore_event *)arg = *event;
    return 1;
}

/* One event of the handle's watch (shmstore_watch_flags): the first call subscribes, each next
 * one with the same pattern and snapshot goes on with the same stream. The interrupt check runs
 * Python's signal handlers while it waits, so Ctrl-C raises KeyboardInterrupt here; the
 * subscription stays, and a later call goes on with it. */
static PyObject *Client_watch_next(ClientObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pattern", "snapshot", NULL};
    const char *pattern = NULL;
    int snapshot = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|zp:_watch_next", kwlist, &pattern, &snapshot))
        return NULL;
    if (client_enter(self) < 0)
        return NULL;
    shmstore_event event;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmstore_watch_flags(self->c, pattern, snapshot ? SHMSTORE_WATCH_SNAPSHOT : 0,
                              take_one_event, &event);
    Py_END_ALLOW_THREADS
    if (rc != 1) {
        if (PyErr_Occurred()) {   /* a signal handler raised: its exception is the answer */
            self->busy--;
            client_maybe_free(self);
        } else {
            client_leave(self, rc);
        }
        return NULL;
    }
    client_leave(self, 0);
    return Py_BuildValue("(IsKKLK)", (unsigned)event.kind, event.name,
                         (unsigned long long)event.id, (unsigned long long)event.size,
                         (long long)event.time_ns, (unsigned long long)event.count);
}

/* The double cast silences -Wcast-function-type for METH_KEYWORDS functions. */
#define KW(fn) (PyCFunction)(void (*)(void))(fn)

static PyMethodDef Client_methods[] = {
    {"put", KW(Client_put), METH_VARARGS | METH_KEYWORDS,
     "put(name, buffer, meta=b'', replace=False, persist=False, no_evict=False, ttl_ms=0): store "
     "a copy of a C-contiguous buffer; persist also writes it to the daemon's data directory; "
     "no_evict keeps evict = lru from deleting it; ttl_ms > 0 deletes it that long after."},
    {"_get", KW(Client_get), METH_VARARGS | METH_KEYWORDS,
     "_get(name, timeout_ms=0) -> (read-only memoryview, meta bytes, id). timeout_ms -1 waits "
     "forever. The pin is released when the memoryview (and all views of it) are collected."},
    {"create", KW(Client_create), METH_VARARGS | METH_KEYWORDS,
     "create(name, nbytes, meta=b'', replace=False, persist=False, no_evict=False, ttl_ms=0) -> "
     "(writable memoryview, id); then seal(id) "
     "or abort(id). Do not write through the memoryview after either."},
    {"seal", (PyCFunction)Client_seal, METH_O, "seal(id): make a created object visible."},
    {"abort", (PyCFunction)Client_abort, METH_O, "abort(id): free a created, unsealed object."},
    {"delete", (PyCFunction)Client_delete, METH_VARARGS, "delete(name): unbind a name."},
    {"delete_matching", (PyCFunction)Client_delete_matching, METH_VARARGS,
     "delete_matching(pattern) -> count: unbind every sealed object whose name matches."},
    {"stat", (PyCFunction)Client_stat, METH_VARARGS, "stat(name) -> dict, without pinning."},
    {"list", (PyCFunction)Client_list, METH_VARARGS,
     "list(pattern=None) -> list of stat dicts of names matching the glob pattern."},
    {"info", (PyCFunction)Client_info, METH_NOARGS, "info() -> dict of store-wide figures."},
    {"users", (PyCFunction)Client_users, METH_NOARGS,
     "users() -> list of dicts (uid, objects, bytes, quota_bytes, quota_objects), one per user "
     "holding objects, in uid order."},
    {"ping", (PyCFunction)Client_ping, METH_NOARGS, "ping(): one round trip to the daemon."},
    {"sync", (PyCFunction)Client_sync, METH_NOARGS,
     "sync(): wait until every durable object stored or deleted before is on disk."},
    {"_watch_next", KW(Client_watch_next), METH_VARARGS | METH_KEYWORDS,
     "_watch_next(pattern=None, snapshot=False) -> (kind, name, id, size, time_ns, count): the "
     "next event of this handle's watch; the handle does nothing else while it watches."},
    {"close", (PyCFunction)Client_close, METH_NOARGS,
     "close(): refuse further calls; the connection closes once no got or created buffer is "
     "alive."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Client_getset[] = {
    {"closed", (getter)Client_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shmstore._shmstore.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Client(socket=None): one connection to shmstored (None: the default socket).",
    .tp_methods = Client_methods,
    .tp_getset = Client_getset,
    .tp_new = Client_new,
};

/* ---- module ----------------------------------------------------------------------------------- */

/* shmstore.errors is pure Python and imports nothing of this module, so importing it here while
 * the package is still initialising is safe. */
static int load_errors(void)
{
    PyObject *errors = PyImport_ImportModule("shmstore.errors");
    if (!errors)
        return -1;
    error_factory = PyObject_GetAttrString(errors, "_from_code");
    ConnectionLost = PyObject_GetAttrString(errors, "ConnectionLost");
    Py_DECREF(errors);
    return error_factory && ConnectionLost ? 0 : -1;
}

/* errnames: {code: "ENOTFOUND", ...}, every code of the library's error table. */
static PyObject *errnames_dict(void)
{
    PyObject *d = PyDict_New();
    for (int code = -1; d && code > SHMSTORE_ERRNO_END_; code--) {
        PyObject *key = PyLong_FromLong(code);
        PyObject *value = PyUnicode_FromString(short_errname(code));
        if (!key || !value || PyDict_SetItem(d, key, value) < 0)
            Py_CLEAR(d);
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return d;
}

static PyObject *default_socket(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    char path[256];
    if (shmstore_default_socket(path, sizeof path) != 0)
        return raise_code(SHMSTORE_EINVAL, "the default socket path is too long");
    return PyUnicode_DecodeFSDefault(path);
}

static PyMethodDef module_methods[] = {
    {"default_socket", default_socket, METH_NOARGS,
     "default_socket() -> the socket path connect() uses when given none."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shmstore._shmstore",
    .m_doc = "Low-level binding of libshmstore; use the shmstore package instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

/* PyModule_AddObjectRef for a new reference (or NULL with an exception set): the reference is
 * gone afterwards, whatever happened. */
static int add_owned(PyObject *m, const char *name, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyModule_AddObjectRef(m, name, value);
    Py_DECREF(value);
    return rc;
}

PyMODINIT_FUNC PyInit__shmstore(void)
{
    if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&PinType) < 0 ||
        PyType_Ready(&ReservationType) < 0 || (!error_factory && load_errors() < 0) ||
        (!main_thread_ident && load_main_thread_ident() < 0))
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddObjectRef(m, "Pin", (PyObject *)&PinType) < 0 ||
        PyModule_AddObjectRef(m, "Reservation", (PyObject *)&ReservationType) < 0 ||
        add_owned(m, "errnames", errnames_dict()) < 0 ||
        PyModule_AddIntConstant(m, "WAIT_FOREVER", SHMSTORE_WAIT_FOREVER) < 0 ||
        PyModule_AddIntConstant(m, "NAME_MAX", SHMSTORE_NAME_MAX) < 0 ||
        PyModule_AddIntConstant(m, "META_MAX", SHMSTORE_META_MAX) < 0 ||
        PyModule_AddStringConstant(m, "library_version", shmstore_version()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
