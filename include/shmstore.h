/*
 * shmstore.h — client library of shmstore, a shared-memory object store for one machine.
 *
 * A daemon, shmstored, owns one shared-memory arena of named, immutable objects. This library
 * connects to it over a Unix socket, receives the arena's file descriptor once, maps it, and
 * from then on hands out pointers into that mapping: a get costs one small request, never a copy
 * of the payload.
 *
 * Handles.   A shmstore_client is one connection. It may be shared by threads (calls are
 *            serialized on it). After fork() the child's first call reconnects by itself; the
 *            child never speaks on the parent's connection, never releases the parent's pins,
 *            and does not keep the parent's connection open (the library closes the child's copy
 *            of every socket at fork, so the parent's close or death still frees its pins).
 * Errors.    Every int-returning call returns 0 on success or a negative SHMSTORE_E* code.
 *            shmstore_strerror() gives the code's static text; shmstore_errmsg() the detail of
 *            the handle's last failure (often the daemon's own words).
 * Ownership. Pointers returned by shmstore_get() point into a read-only mapping and stay valid
 *            until the matching shmstore_release() or shmstore_close(), whichever comes first.
 *            Pointers returned by shmstore_create() are writable until the object is sealed or
 *            aborted. The library copies every name and metadata blob passed to it.
 */
#ifndef SHMSTORE_H
#define SHMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "shmstore_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMSTORE_BUILDING_LIBRARY) && defined(__GNUC__)
#define SHMSTORE_API __attribute__((visibility("default")))
#else
#define SHMSTORE_API
#endif


/* Error table: name, value, message. One list generates the enum, shmstore_strerror() and
 * shmstore_errname(), so they cannot drift apart. */
#define SHMSTORE_ERRNO_MAP(XX)                                                                  \
    XX(EINVAL, -1, "invalid argument")                                                          \
    XX(ENOTFOUND, -2, "not found")                                                              \
    XX(EEXIST, -3, "name already taken")                                                        \
    XX(ENOSPC, -4, "store full")                                                                \
    XX(ETIMEDOUT, -5, "timed out")                                                              \
    XX(ESTATE, -6, "object in the wrong state")                                                 \
    XX(EPERM, -7, "permission denied")                                                          \
    XX(ECONN, -8, "cannot reach the daemon or connection lost")                                 \
    XX(EPROTO, -9, "protocol error or version mismatch")                                        \
    XX(ENOMEM, -10, "out of memory")                                                            \
    XX(EIO, -11, "I/O error")

typedef enum shmstore_errno {
#define SHMSTORE_ERRNO_ENUM_(name, value, text) SHMSTORE_##name = (value),
    SHMSTORE_ERRNO_MAP(SHMSTORE_ERRNO_ENUM_)
#undef SHMSTORE_ERRNO_ENUM_
    SHMSTORE_ERRNO_END_ = -12
} shmstore_errno;

/* Flag of shmstore_put and shmstore_create: rebind the name if it is taken. */
#define SHMSTORE_REPLACE 1u
/* timeout_ms of shmstore_get: wait without limit. 0 means do not wait. */
#define SHMSTORE_WAIT_FOREVER (-1)
/* Longest name, in bytes. Names are UTF-8 without NUL or control characters; '/' is allowed. */
#define SHMSTORE_NAME_MAX 255
/* Largest metadata blob, in bytes. */
#define SHMSTORE_META_MAX (64 * 1024)

typedef struct shmstore_client shmstore_client; /* opaque; one connection */

/* A pinned, sealed object; filled by shmstore_get, emptied by shmstore_release. */
typedef struct shmstore_object {
    const void *data;
    size_t size;
    const void *meta;
    size_t meta_size;
    uint64_t id;
} shmstore_object;

/* What shmstore_stat and shmstore_list tell about a sealed object. */
typedef struct shmstore_object_stat {
    char name[SHMSTORE_NAME_MAX + 1]; /* NUL-terminated */
    uint64_t id;                      /* never reused by the daemon */
    uint64_t size;                    /* payload bytes */
    uint64_t meta_size;               /* metadata bytes */
    uint64_t pins;                    /* gets not yet released, all clients together */
    int64_t created_ns;               /* seal time, nanoseconds since the Unix epoch */
} shmstore_object_stat;

/* What shmstore_info tells about the store. */
typedef struct shmstore_store_info {
    uint64_t capacity_bytes;     /* size of the arena */
    uint64_t used_bytes;         /* bytes allocated to objects, sealed or not */
    uint64_t free_bytes;         /* capacity_bytes - used_bytes */
    uint64_t largest_free_bytes; /* largest single object that fits now */
    uint64_t objects;            /* sealed objects bound to a name */
    uint64_t unsealed_objects;   /* created, not yet sealed or aborted */
    uint64_t unsealed_bytes;
    uint64_t deleted_pinned;     /* deleted objects still pinned by a reader */
    uint64_t pins;               /* pins held by all clients */
    uint64_t clients;            /* connected clients */
    uint64_t waiters;            /* gets waiting for a name */
    uint64_t uptime_s;
    uint64_t requests;           /* requests served since start */
    uint64_t errors[16];         /* error replies sent since start, indexed by -code:
                                    errors[-SHMSTORE_ENOTFOUND] counts not-found answers */
    char version[32];            /* the daemon's version */
} shmstore_store_info;

/* Connect to the daemon at socket_path, or, when it is NULL, at the default socket:
 * $SHMSTORE_SOCKET if set; else /run/shmstore/shmstore.sock for root or when that socket exists;
 * else $XDG_RUNTIME_DIR/shmstore.sock, or /tmp/shmstore-UID.sock without XDG_RUNTIME_DIR.
 * On success *out is a new handle, to be freed with shmstore_close.
 * Errors: SHMSTORE_EINVAL (out is NULL, path too long), SHMSTORE_ECONN (no daemon there),
 * SHMSTORE_EPERM (the daemon's access lists refuse this user, or its max_clients is reached),
 * SHMSTORE_EPROTO (the daemon speaks another protocol version), SHMSTORE_ENOMEM.
 * On failure *out is set to NULL; the detail of a failed connect is available from
 * shmstore_errmsg(NULL) in the calling thread. */
SHMSTORE_API int shmstore_connect(const char *socket_path, shmstore_client **out);

/* Close the connection: the daemon drops the handle's pins and frees its unsealed objects.
 * Pointers from the handle's gets and creates become invalid. NULL is a no-op. */
SHMSTORE_API void shmstore_close(shmstore_client *c);

/* Store a copy of data[0..size) with optional metadata under name and seal it, as one call.
 * Small payloads travel inside the request (one round trip); large ones are created in place
 * and copied by this process. flags: 0 or SHMSTORE_REPLACE.
 * Errors: SHMSTORE_EINVAL (bad name, meta too large, NULL data with size > 0), SHMSTORE_EEXIST,
 * SHMSTORE_ENOSPC (store full, or the daemon's max_unsealed_bytes_per_client), SHMSTORE_EPERM
 * (a read-only client), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_put(shmstore_client *c, const char *name, const void *data, size_t size,
                              const void *meta, size_t meta_size, unsigned flags);

/* Reserve size bytes under name, to be filled in place and then sealed (or aborted). The name is
 * taken from now on (unless flags has SHMSTORE_REPLACE, in which case it moves to the new object
 * only at seal). *data_out receives a writable pointer valid until seal or abort; *id_out the
 * object's id. The metadata is copied at once. Unsealed objects are freed if the handle is
 * closed or its process dies.
 * Errors: as shmstore_put. */
SHMSTORE_API int shmstore_create(shmstore_client *c, const char *name, size_t size,
                                 const void *meta, size_t meta_size, unsigned flags,
                                 void **data_out, uint64_t *id_out);

/* Make the object created as id visible and immutable, and bind its name to it.
 * Errors: SHMSTORE_ENOTFOUND (no such id), SHMSTORE_ESTATE (already sealed, or created by another
 * handle), SHMSTORE_EEXIST (a REPLACE create sealed the name first), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_seal(shmstore_client *c, uint64_t id);

/* Free an unsealed object of this handle and free its name.
 * Errors: SHMSTORE_ENOTFOUND, SHMSTORE_ESTATE (sealed, or another handle's), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_abort(shmstore_client *c, uint64_t id);

/* Pin the sealed object bound to name and fill *out with read-only pointers to it.
 * timeout_ms: 0 fails at once with SHMSTORE_ENOTFOUND when there is no such object; a positive
 * value waits up to that many milliseconds for the name to be sealed, then fails with
 * SHMSTORE_ETIMEDOUT; SHMSTORE_WAIT_FOREVER waits without limit.
 * Every successful get is balanced by one shmstore_release. A get that waits occupies its handle:
 * other threads' calls on the same handle wait behind it, so give each waiting thread its own
 * handle.
 * Errors: SHMSTORE_EINVAL, SHMSTORE_ENOTFOUND, SHMSTORE_ETIMEDOUT, SHMSTORE_EPERM (the handle
 * holds the daemon's max_pins_per_client pins already), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_get(shmstore_client *c, const char *name, int timeout_ms,
                              shmstore_object *out);

/* Unpin an object got through this handle and clear *obj. Needs no round trip, and usually no
 * system call: the release is queued in shared memory, applied by the daemon before this
 * handle's next request and, if the handle goes quiet, within about 20 ms (so another process's
 * stat may show the pin for that long).
 * Errors: SHMSTORE_EINVAL (NULL), SHMSTORE_ESTATE (not pinned by this handle — including an
 * object got before the connection was lost: the daemon dropped that pin with the connection). */
SHMSTORE_API int shmstore_release(shmstore_client *c, shmstore_object *obj);

/* Unbind name at once (a new object may take it); the memory is reclaimed when the last pin is
 * released. Errors: SHMSTORE_EINVAL, SHMSTORE_ENOTFOUND, SHMSTORE_EPERM, SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_delete(shmstore_client *c, const char *name);

/* Describe the sealed object bound to name, without pinning it.
 * Errors: SHMSTORE_EINVAL, SHMSTORE_ENOTFOUND, SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_stat(shmstore_client *c, const char *name, shmstore_object_stat *out);

/* Called once per object by shmstore_list; return 0 to go on, anything else to stop (that value
 * is then returned by shmstore_list). The handle is busy while the list runs: fn must not call
 * shmstore functions on the same handle (it would deadlock); use a second handle, or collect the
 * names and act after the list returns. */
typedef int (*shmstore_list_fn)(const shmstore_object_stat *entry, void *arg);

/* Call fn for every sealed object whose name matches the glob pattern (fnmatch(3) without
 * flags: '*' also matches '/'; NULL or "" matches everything), in byte order of names. The
 * daemon sends the list in pages, so a store of millions of objects streams in bounded memory.
 * Errors: SHMSTORE_EINVAL (pattern too long), SHMSTORE_ECONN, or fn's nonzero value. */
SHMSTORE_API int shmstore_list(shmstore_client *c, const char *pattern, shmstore_list_fn fn,
                               void *arg);

/* Fill *out with store-wide figures. Errors: SHMSTORE_EINVAL, SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_info(shmstore_client *c, shmstore_store_info *out);

/* One round trip to the daemon. Errors: SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_ping(shmstore_client *c);

/* Static text for an error code ("store full"); "unknown error" for anything else. */
SHMSTORE_API const char *shmstore_strerror(int code);
/* The code's name ("SHMSTORE_ENOSPC"); "SHMSTORE_UNKNOWN" for anything else. */
SHMSTORE_API const char *shmstore_errname(int code);
/* Detail of the handle's last failure ("store full: asked 300.0 MiB, 212.0 MiB free"), valid
 * until the handle's next call. With NULL: the detail of the calling thread's last failed
 * shmstore_connect. Never NULL; "" when there is nothing to tell. */
SHMSTORE_API const char *shmstore_errmsg(shmstore_client *c);
/* The library's version, SHMSTORE_VERSION_STRING. */
SHMSTORE_API const char *shmstore_version(void);
/* The socket path that shmstore_connect(NULL, ...) would use, written to buf (NUL-terminated).
 * Errors: SHMSTORE_EINVAL (buf too small). */
SHMSTORE_API int shmstore_default_socket(char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
