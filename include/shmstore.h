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
 * Errors.    Every int-returning call returns 0 on success or a negative SHMSTORE_E* code;
 *            besides those listed with each function, any call that talks to the daemon may
 *            fail with SHMSTORE_ECONN (the next call reconnects) or SHMSTORE_EPROTO.
 *            shmstore_strerror() gives the code's static text, shmstore_errname() its name.
 * Error detail. A failed call also leaves a detail text (often the daemon's own words), read
 *            with shmstore_errmsg(). The detail belongs to the calling thread, not to the handle,
 *            so threads sharing a handle never see, clear or overwrite each other's details:
 *            - every call that takes a handle (shmstore_close too), and shmstore_connect, first
 *              clears the calling thread's detail and, if it fails, leaves its own;
 *            - shmstore_errmsg(c) returns that detail if the thread's last such call was made
 *              on c, and "" otherwise; shmstore_errmsg(NULL) returns it whatever the handle,
 *              which is how a failed shmstore_connect (no handle) or a call given a NULL handle
 *              is explained;
 *            - shmstore_errmsg, shmstore_strerror, shmstore_errname, shmstore_version and
 *              shmstore_default_socket leave it alone, so they can share one printf;
 *            - the text is in the thread's own storage, valid until that thread's next call
 *              that clears it, or until the thread exits.
 * Ownership. Pointers returned by shmstore_get() point into a read-only mapping and stay valid
 *            until the matching shmstore_release() or shmstore_close(), whichever comes first.
 *            Pointers returned by shmstore_create() are writable until the object is sealed or
 *            aborted. The library copies every name and metadata blob passed to it.
 * Growing structs. shmstore_store_info gains fields over releases, and a program may run with a
 *            library older or newer than the header it was compiled with. Fields are only ever
 *            appended at its end: never reordered, resized or removed, and its arrays (errors[16],
 *            version[32]) keep their lengths. shmstore_info() passes the program's
 *            sizeof(shmstore_store_info) to shmstore_info_sized(), and the library writes
 *            exactly that many bytes: a newer library fills only the fields an older program
 *            knows, and an older library zero-fills the fields of a newer program it does not
 *            know, so a figure the running library does not keep reads 0 (compare
 *            shmstore_version() when 0 is a meaningful value). A size below the first version's
 *            (264 bytes, through version) is SHMSTORE_EINVAL.
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
    XX(EIO, -11, "I/O error")                                                                   \
    XX(EINTR, -12, "interrupted")

typedef enum shmstore_errno {
#define SHMSTORE_ERRNO_ENUM_(name, value, text) SHMSTORE_##name = (value),
    SHMSTORE_ERRNO_MAP(SHMSTORE_ERRNO_ENUM_)
#undef SHMSTORE_ERRNO_ENUM_
    SHMSTORE_ERRNO_END_ = -13
} shmstore_errno;

/* Flag of shmstore_put and shmstore_create: rebind the name if it is taken. */
#define SHMSTORE_REPLACE 1u
/* Flag of shmstore_put and shmstore_create: the object is durable: kept in the daemon's data
 * directory and back, with its id, after the daemon restarts. Under the daemon's durability =
 * sync its seal (or the put) answers only once payload, metadata and catalogue entry are on
 * disk; under async (the default) at once, and it is on disk within flush_interval or when a
 * later shmstore_sync() returns. Needs a daemon started with a data directory (shmstored -d
 * DIR): without one the call fails with SHMSTORE_EINVAL, never silently making a transient
 * object. */
#define SHMSTORE_PERSIST 2u
/* Flag of shmstore_put and shmstore_create: a daemon in cache mode (evict = lru) never deletes
 * this object to make room. Durable objects never are either. Without evict = lru it changes
 * nothing. */
#define SHMSTORE_NO_EVICT 4u
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

/* What shmstore_info tells about the store. New fields go at the end only: see "Growing
 * structs" at the top of this file. */
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
    /* Added with durable objects (all 0 without a data directory, or from an older daemon): */
    uint64_t disk_objects;       /* sealed objects with a whole copy on disk */
    uint64_t disk_bytes;         /* their payload and metadata bytes */
    uint64_t disk_only_objects;  /* of those, the ones not in memory now */
    uint64_t pending_writes;     /* durable writes queued or being written */
    uint64_t failed_writes;      /* durable writes that failed after their seal had answered
                                    (durability = async); each one is in the daemon's log */
    uint64_t spills;             /* transient objects written to the spill area, since start */
    uint64_t spill_bytes;
    uint64_t restores;           /* objects read back into memory from disk, since start */
    uint64_t restore_bytes;
    uint64_t evictions;          /* objects that left memory to make room, since start */
    /* Added with the growing arena, eviction and time to live: */
    uint64_t taken_bytes;        /* memory the daemon has taken from the system, in segments
                                    (capacity_bytes is the most it may take) */
    uint64_t segments;           /* segments it holds now */
    uint64_t evicted_deletions;  /* objects evict = lru deleted, since start */
    uint64_t expirations;        /* objects deleted when their time to live ran out */
} shmstore_store_info;

/* Where a sealed object's bytes are: bits of shmstore_object_status.location. */
#define SHMSTORE_IN_MEMORY 1u   /* in the arena: a get maps it at once */
#define SHMSTORE_ON_DISK   2u   /* a whole copy on disk (its durable file, or a spill copy): a get
                                 * of an object only on disk waits while it is read back */

/* What shmstore_status and shmstore_list_status tell about a sealed object: what shmstore_stat
 * tells, and where the object is. shmstore_object_stat itself cannot grow (shmstore_stat writes
 * it whole without being told its size), so this struct carries the later fields; it grows like
 * shmstore_store_info (see "Growing structs" at the top of this file). */
typedef struct shmstore_object_status {
    shmstore_object_stat stat;   /* what shmstore_stat fills */
    uint32_t location;           /* SHMSTORE_IN_MEMORY and/or SHMSTORE_ON_DISK; 0 when the daemon
                                    is older than this field and does not say */
    uint32_t durable;            /* 1: made with SHMSTORE_PERSIST (or the daemon's persist = all):
                                    it survives a restart */
    /* Added with quotas and time to live: */
    uint32_t owner_uid;          /* the uid of the process that created it; SHMSTORE_OWNER_UNKNOWN
                                    when the daemon is older than this field */
    int64_t expires_ns;          /* when its time to live runs out, nanoseconds since the Unix
                                    epoch; 0: it has none */
} shmstore_object_status;

#define SHMSTORE_OWNER_UNKNOWN 0xffffffffu

/** Connect to a daemon.
 *
 * @param[in] socket_path  the daemon's socket, or NULL for the default one:
 *                         $SHMSTORE_SOCKET if set; else /run/shmstore/shmstore.sock for root, or
 *                         when that socket exists and this user may connect to it (write
 *                         permission); else $XDG_RUNTIME_DIR/shmstore.sock, or
 *                         /tmp/shmstore-UID.sock without XDG_RUNTIME_DIR. Copied.
 * @param[out] out         receives the new handle, or NULL on failure.
 * @return 0, or
 *   - SHMSTORE_EINVAL  out is NULL, or the path is too long for a Unix socket;
 *   - SHMSTORE_ECONN   no daemon answers at that path (the detail names it and how to start
 *                      one there);
 *   - SHMSTORE_EPERM   the socket's permissions refuse this user (the detail names the socket's
 *                      mode and group and the ways out), the daemon's access lists refuse this
 *                      user, or its max_clients is reached;
 *   - SHMSTORE_EPROTO  the daemon speaks another protocol or arena layout version;
 *   - SHMSTORE_ENOMEM.
 * The detail of a failure has no handle to belong to: read it with shmstore_errmsg(NULL).
 * Ownership: the caller owns *out and frees it with shmstore_close(). */
SHMSTORE_API int shmstore_connect(const char *socket_path, shmstore_client **out);

/** Close a handle.
 *
 * The daemon drops the handle's pins and frees its unsealed objects.
 * @param[in] c  a handle from shmstore_connect(), or NULL (a no-op).
 * Ownership: c, every pointer from its gets and creates, and its objects' shmstore_object
 * records are invalid afterwards. No other thread may be using c. */
SHMSTORE_API void shmstore_close(shmstore_client *c);

/** Store a copy of a payload under a name and seal it, as one call.
 *
 * Small payloads travel inside the request (one round trip); large ones are created in place and
 * copied by this process.
 * @param[in] c          the handle.
 * @param[in] name       the object's name (see SHMSTORE_NAME_MAX). Copied.
 * @param[in] data       size bytes of payload; may be NULL when size is 0. Copied.
 * @param[in] size       payload bytes; 0 is allowed.
 * @param[in] meta       meta_size bytes of metadata, or NULL when meta_size is 0. Copied.
 * @param[in] meta_size  at most SHMSTORE_META_MAX.
 * @param[in] flags      0, or SHMSTORE_REPLACE to rebind a name that is taken, and/or
 *                       SHMSTORE_PERSIST to make the object durable.
 * @return 0, or
 *   - SHMSTORE_EINVAL  NULL handle, bad name, meta too large, NULL data or meta with a size,
 *                      SHMSTORE_PERSIST on a daemon without a data directory;
 *   - SHMSTORE_EEXIST  the name is taken and flags lacks SHMSTORE_REPLACE;
 *   - SHMSTORE_EIO     SHMSTORE_PERSIST and the object could not be written to disk (disk
 *                      full, read-only, I/O error; the detail says which and how much was
 *                      needed): nothing is bound, the name is as it was;
 *   - SHMSTORE_ENOSPC  store full, the daemon's max_unsealed_bytes_per_client, or the quota
 *                      of this process's user (quota_bytes, quota_objects: the detail names the
 *                      quota, what the user holds and what was asked, e.g. "quota of uid 1001
 *                      (alice): 10.0 GiB, 9.80 GiB used, asked 512.0 MiB");
 *   - SHMSTORE_EPERM   the handle is a read-only client;
 *   - SHMSTORE_ECONN, SHMSTORE_ENOMEM. */
SHMSTORE_API int shmstore_put(shmstore_client *c, const char *name, const void *data, size_t size,
                              const void *meta, size_t meta_size, unsigned flags);

/** shmstore_put() of an object with a time to live: the daemon deletes it ttl_ms milliseconds
 * after its seal, as shmstore_delete() would (a reader that has it pinned keeps reading it until
 * its release), unless it was deleted or replaced before. shmstore_status() shows when
 * (expires_ns).
 *
 * @param[in] c, name, data, size, meta, meta_size, flags  as shmstore_put().
 * @param[in] ttl_ms  the time to live in milliseconds; 0: none (then this is shmstore_put()).
 * @return 0, or the errors of shmstore_put(); SHMSTORE_EINVAL also for a ttl_ms with
 *         SHMSTORE_PERSIST, or on a daemon whose persist = all makes every object durable (a
 *         durable object is kept until it is deleted); SHMSTORE_EPROTO from a daemon older
 *         than time to live. */
SHMSTORE_API int shmstore_put_ttl(shmstore_client *c, const char *name, const void *data,
                                  size_t size, const void *meta, size_t meta_size,
                                  unsigned flags, uint64_t ttl_ms);

/** Reserve an object to be filled in place, then sealed with shmstore_seal() or dropped with
 * shmstore_abort().
 *
 * The name is taken from now on, unless flags has SHMSTORE_REPLACE: then it moves to the new
 * object only at seal.
 * @param[in] c, name, size, meta, meta_size, flags  as shmstore_put().
 * @param[out] data_out  receives a writable pointer to the object's size bytes.
 * @param[out] id_out    receives the object's id, for seal or abort.
 * @return 0, or the errors of shmstore_put(); SHMSTORE_EINVAL also for NULL data_out or id_out.
 * Ownership: *data_out is the caller's to write until the object is sealed or aborted, or c is
 * closed; unsealed objects are freed when c is closed or its process dies. */
SHMSTORE_API int shmstore_create(shmstore_client *c, const char *name, size_t size,
                                 const void *meta, size_t meta_size, unsigned flags,
                                 void **data_out, uint64_t *id_out);

/** shmstore_create() of an object with a time to live, which starts at its seal (see
 * shmstore_put_ttl()).
 *
 * @param[in] c, name, size, meta, meta_size, flags, data_out, id_out  as shmstore_create().
 * @param[in] ttl_ms  the time to live in milliseconds from the seal; 0: none.
 * @return 0, or the errors of shmstore_create() and shmstore_put_ttl(). */
SHMSTORE_API int shmstore_create_ttl(shmstore_client *c, const char *name, size_t size,
                                     const void *meta, size_t meta_size, unsigned flags,
                                     uint64_t ttl_ms, void **data_out, uint64_t *id_out);

/** Make an object created through this handle visible and immutable, and bind its name to it.
 *
 * @param[in] c   the handle that created the object.
 * @param[in] id  the id from shmstore_create().
 * @return 0, or
 *   - SHMSTORE_ENOTFOUND  no object has that id;
 *   - SHMSTORE_ESTATE     already sealed, or created by another handle;
 *   - SHMSTORE_EEXIST     a SHMSTORE_REPLACE create sealed the name first;
 *   - SHMSTORE_EIO        a durable object (SHMSTORE_PERSIST) could not be written to disk:
 *                         it stays unsealed, the name as it was;
 *   - SHMSTORE_EINVAL     NULL handle; SHMSTORE_ECONN.
 * A durable object's seal answers once it is on disk (the daemon's durability = sync).
 * Ownership: the pointer from shmstore_create() must not be written any more. */
SHMSTORE_API int shmstore_seal(shmstore_client *c, uint64_t id);

/** Free an unsealed object created through this handle, and free its name.
 *
 * @param[in] c, id  as shmstore_seal().
 * @return 0, or SHMSTORE_ENOTFOUND, SHMSTORE_ESTATE (sealed, or another handle's),
 *         SHMSTORE_EINVAL (NULL handle), SHMSTORE_ECONN.
 * Ownership: the pointer from shmstore_create() is invalid afterwards. */
SHMSTORE_API int shmstore_abort(shmstore_client *c, uint64_t id);

/** Pin the sealed object bound to a name and give read-only pointers to it.
 *
 * A get that waits occupies its handle: other threads' calls on the same handle wait behind it,
 * so give each waiting thread its own handle.
 * @param[in] c           the handle.
 * @param[in] name        the name to look up. Copied.
 * @param[in] timeout_ms  0: fail at once when there is no such object; > 0: wait up to that many
 *                        milliseconds for the name to be sealed; SHMSTORE_WAIT_FOREVER: no limit.
 * @param[out] out        filled with the object's pointers, sizes and id.
 * @return 0, or
 *   - SHMSTORE_EINVAL     NULL handle or out, bad name, negative timeout_ms other than
 *                         SHMSTORE_WAIT_FOREVER;
 *   - SHMSTORE_ENOTFOUND  no object of that name, and timeout_ms is 0;
 *   - SHMSTORE_ETIMEDOUT  none was sealed within timeout_ms (the detail names the object and
 *                         the wait);
 *   - SHMSTORE_EPERM      the handle holds the daemon's max_pins_per_client pins already;
 *   - SHMSTORE_EINTR      the handle's interrupt check (shmstore_set_interrupt()) asked to stop
 *                         the wait; nothing is pinned;
 *   - SHMSTORE_ECONN, SHMSTORE_ENOMEM.
 * Ownership: out->data and out->meta point into a read-only mapping and stay valid until the
 * matching shmstore_release() or shmstore_close(c), whichever comes first. Every successful get
 * is balanced by one shmstore_release(). */
SHMSTORE_API int shmstore_get(shmstore_client *c, const char *name, int timeout_ms,
                              shmstore_object *out);

/** Asked by a waiting shmstore_get() whether to stop waiting.
 *
 * @param[in] arg  shmstore_set_interrupt()'s arg.
 * @return 0 to go on waiting; anything else ends the get with SHMSTORE_EINTR.
 * Runs in the thread that called shmstore_get(), with the handle busy: it must not call
 * shmstore functions on the same handle (that would deadlock); other handles are fine. */
typedef int (*shmstore_interrupt_fn)(void *arg);

/** Make the waits of a handle's gets interruptible: a program's Ctrl-C, a deadline of its own,
 * a shutdown flag.
 *
 * While a shmstore_get() with a nonzero timeout_ms waits for its reply, the library polls the
 * socket in slices of at most 50 ms and calls check(arg) after each slice, and at once when a
 * signal handler interrupts the poll (EINTR). The slices are the library's own: they cost no
 * request and no error in the daemon's counters. When check returns nonzero, the library
 * withdraws the wait from the daemon (one more round trip) and the get returns SHMSTORE_EINTR
 * having pinned nothing: if the object was sealed just as the check fired and its reply crossed
 * the withdrawal, the library releases that pin itself, so an interrupted get never leaves a pin,
 * a waiter or a half-read reply behind and the handle goes on working. Gets with timeout_ms 0,
 * and every other call, never call check.
 * @param[in] c      the handle.
 * @param[in] check  the function to call, or NULL to wait without checks (the default: a
 *                   get then sleeps in one piece until its reply).
 * @param[in] arg    passed to check untouched.
 * @return 0, or SHMSTORE_EINVAL (NULL handle).
 * The setting belongs to the handle, holds for the calls that start after it, and is kept
 * across reconnects and in a fork child. Like every call, it waits behind a get that another
 * thread has in progress on the handle. Ownership: arg must stay valid while the setting
 * holds. */
SHMSTORE_API int shmstore_set_interrupt(shmstore_client *c, shmstore_interrupt_fn check,
                                        void *arg);

/** Unpin an object got through this handle, and clear *obj.
 *
 * Needs no round trip, and usually no system call: the release is queued in shared memory,
 * applied by the daemon before this handle's next request and, if the handle goes quiet, within
 * about 20 ms (so another process's stat may show the pin for that long).
 * @param[in] c         the handle the object was got through.
 * @param[in,out] obj   the record filled by shmstore_get(); zeroed on success.
 * @return 0, or
 *   - SHMSTORE_EINVAL  NULL handle or obj;
 *   - SHMSTORE_ESTATE  not pinned by this handle, including an object got before the connection
 *                      was lost (the daemon dropped that pin with the connection).
 * Ownership: the pointers obj held are invalid afterwards. */
SHMSTORE_API int shmstore_release(shmstore_client *c, shmstore_object *obj);

/** Unbind a name at once (a new object may take it); the memory is reclaimed when the last pin
 * is released.
 *
 * @param[in] c     the handle.
 * @param[in] name  the name. Copied.
 * @return 0, or SHMSTORE_EINVAL (NULL handle, bad name), SHMSTORE_ENOTFOUND, SHMSTORE_EPERM
 *         (a read-only client), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_delete(shmstore_client *c, const char *name);

/** Unbind every sealed object whose name matches a glob pattern, in one request: a job's
 * cleanup (every name under "job7/", say) without listing first.
 *
 * Each object goes as with shmstore_delete(): the name is free at once, and a reader that has
 * the object pinned keeps reading it until its release. Unsealed objects (still being written)
 * are left alone, whatever their names.
 * @param[in] c            the handle.
 * @param[in] pattern      fnmatch(3) pattern without flags, matched as shmstore_list() matches
 *                         ('*' also matches '/'; "*" deletes every sealed object); at most 1024
 *                         bytes. Copied.
 * @param[out] deleted_out receives how many objects were deleted, 0 when none matched (not an
 *                         error); may be NULL. Untouched on failure.
 * @return 0, or
 *   - SHMSTORE_EINVAL  NULL handle, NULL or empty pattern, pattern longer than 1024 bytes;
 *   - SHMSTORE_EPERM   the handle is a read-only client;
 *   - SHMSTORE_ECONN, SHMSTORE_EPROTO (also a daemon older than this call). */
SHMSTORE_API int shmstore_delete_matching(shmstore_client *c, const char *pattern,
                                          uint64_t *deleted_out);

/** Describe the sealed object bound to a name, without pinning it.
 *
 * @param[in] c     the handle.
 * @param[in] name  the name. Copied.
 * @param[out] out  filled on success; untouched on failure.
 * @return 0, or SHMSTORE_EINVAL (NULL handle or out, bad name), SHMSTORE_ENOTFOUND,
 *         SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_stat(shmstore_client *c, const char *name, shmstore_object_stat *out);

/** Called once per object by shmstore_list().
 *
 * @param[in] entry  the object; valid only during the call, so copy what is kept.
 * @param[in] arg    shmstore_list()'s arg.
 * @return 0 to go on; anything else stops the list, and shmstore_list() returns that value.
 * The handle is busy while the list runs: fn must not call shmstore functions on the same handle
 * (it would deadlock); use a second handle, or collect the names and act after the list. */
typedef int (*shmstore_list_fn)(const shmstore_object_stat *entry, void *arg);

/** Call fn for every sealed object whose name matches a glob pattern, in byte order of names.
 *
 * The daemon sends the list in pages, so a store of millions of objects streams in bounded
 * memory; objects sealed or deleted while the list runs may or may not be seen.
 * @param[in] c        the handle.
 * @param[in] pattern  fnmatch(3) pattern without flags ('*' also matches '/'); NULL or "" matches
 *                     everything.
 * @param[in] fn       the callback.
 * @param[in] arg      passed to fn untouched.
 * @return 0 after the last object, fn's nonzero value if it stopped the list (the detail is then
 *         ""), or SHMSTORE_EINVAL (NULL handle or fn, pattern too long), SHMSTORE_ECONN,
 *         SHMSTORE_ENOMEM, SHMSTORE_EPROTO. */
SHMSTORE_API int shmstore_list(shmstore_client *c, const char *pattern, shmstore_list_fn fn,
                               void *arg);

/** shmstore_stat() and where the object is: in memory, on disk or both, and whether it is
 * durable.
 *
 * Call it through the shmstore_status() macro, which passes the size of the struct the program
 * was compiled with (see "Growing structs" at the top of this file).
 * @param[in] c         the handle.
 * @param[in] name      the name. Copied.
 * @param[out] out      out_size bytes, filled on success; untouched on failure. From a daemon
 *                      older than these fields, location and durable read 0.
 * @param[in] out_size  sizeof(shmstore_object_status) as the caller's header defines it.
 * @return 0, or the errors of shmstore_stat(); SHMSTORE_EINVAL also for an out_size below the
 *         first version's. */
SHMSTORE_API int shmstore_status_sized(shmstore_client *c, const char *name,
                                       shmstore_object_status *out, size_t out_size);
/** shmstore_status(shmstore_client *c, const char *name, shmstore_object_status *out). */
#define shmstore_status(c, name, out)                                                           \
    shmstore_status_sized((c), (name), (out), sizeof(shmstore_object_status))

/** Called once per object by shmstore_list_status(), as shmstore_list_fn is by shmstore_list();
 * entry is the caller's sizeof(shmstore_object_status) bytes (or more). */
typedef int (*shmstore_list_status_fn)(const shmstore_object_status *entry, void *arg);

/** shmstore_list() whose entries also say where each object is and whether it is durable.
 *
 * Call it through the shmstore_list_status() macro. Parameters, paging and return values are
 * those of shmstore_list(); entry_size is sizeof(shmstore_object_status) as the caller's header
 * defines it (SHMSTORE_EINVAL below the first version's). */
SHMSTORE_API int shmstore_list_status_sized(shmstore_client *c, const char *pattern,
                                            shmstore_list_status_fn fn, void *arg,
                                            size_t entry_size);
/** shmstore_list_status(c, pattern, fn, arg): shmstore_list_status_sized() with this header's
 * sizeof(shmstore_object_status). */
#define shmstore_list_status(c, pattern, fn, arg)                                               \
    shmstore_list_status_sized((c), (pattern), (fn), (arg), sizeof(shmstore_object_status))

/** Fill a shmstore_store_info of out_size bytes with store-wide figures.
 *
 * Call it through the shmstore_info() macro, which passes the size of the struct the program was
 * compiled with; see "Growing structs" at the top of this file for what happens when that is
 * older or newer than the library's.
 * @param[in] c         the handle.
 * @param[out] out      out_size bytes; on failure not a byte of them is written.
 * @param[in] out_size  sizeof(shmstore_store_info) as the caller's header defines it.
 * @return 0, or
 *   - SHMSTORE_EINVAL  NULL handle or out, or out_size below the first version's 264 bytes;
 *   - SHMSTORE_ECONN, SHMSTORE_EPROTO. */
SHMSTORE_API int shmstore_info_sized(shmstore_client *c, shmstore_store_info *out,
                                     size_t out_size);
/** shmstore_info(shmstore_client *c, shmstore_store_info *out): shmstore_info_sized() with this
 * header's sizeof(shmstore_store_info). */
#define shmstore_info(c, out) shmstore_info_sized((c), (out), sizeof(shmstore_store_info))

/* What one user's objects take, and the user's quotas; filled by shmstore_users(). */
typedef struct shmstore_user_usage {
    uint32_t uid;
    uint64_t objects;        /* objects the user's programs created that still exist: sealed,
                                unsealed, or deleted but still pinned by a reader */
    uint64_t bytes;          /* their payload and metadata bytes */
    uint64_t quota_bytes;    /* the user's limits under the daemon's config now; 0: none */
    uint64_t quota_objects;
} shmstore_user_usage;

/** Called once per user by shmstore_users(); user is valid only during the call. Return 0 to go
 * on, anything else to stop (shmstore_users() returns that value). The handle is busy: fn must
 * not call shmstore functions on it. */
typedef int (*shmstore_users_fn)(const shmstore_user_usage *user, void *arg);

/** Call fn for every user who holds objects in the store, in uid order: what each holds and
 * the quotas that apply to it (the daemon's quota_bytes and quota_objects and their per-user and
 * per-group overrides). A user is whoever's process created the object (its uid, from the
 * socket's peer credentials); durable objects brought back by a restart belong to the daemon's
 * own user.
 *
 * @param[in] c    the handle.
 * @param[in] fn   the callback.
 * @param[in] arg  passed to fn untouched.
 * @return 0 after the last user (also when there are none), fn's nonzero value if it stopped,
 *         or SHMSTORE_EINVAL (NULL handle or fn), SHMSTORE_ECONN, SHMSTORE_EPROTO (also a
 *         daemon older than this call). */
SHMSTORE_API int shmstore_users(shmstore_client *c, shmstore_users_fn fn, void *arg);

/** One round trip to the daemon.
 *
 * @param[in] c  the handle.
 * @return 0, or SHMSTORE_EINVAL (NULL handle), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_ping(shmstore_client *c);

/** Wait until every durable object sealed, replaced or deleted before this call (by any client)
 * is on the daemon's disk. It returns at once when the daemon has no data directory, and
 * promptly under `durability = sync`, where every durable seal already answers only once it is
 * on disk; a write that failed was reported to the call that made it, not here.
 *
 * @param[in] c  the handle.
 * @return 0, or SHMSTORE_EINVAL (NULL handle), SHMSTORE_ECONN. */
SHMSTORE_API int shmstore_sync(shmstore_client *c);

/* One damaged durable object found by shmstore_verify(). */
typedef struct shmstore_verify_problem {
    char name[SHMSTORE_NAME_MAX + 1];   /* NUL-terminated */
    uint64_t id;
    const char *what;     /* "checksum mismatch", "missing file", "wrong length: ..." */
    const char *action;   /* what the daemon did about it: "rewritten from memory", or
                             "not in memory: deleted, its file moved to corrupt/", or nothing
                             for a file that could not be read (an I/O error): "none: ..." */
} shmstore_verify_problem;

/** Called once per problem by shmstore_verify(); problem and its strings are valid only during
 * the call. Return 0 to go on, anything else to stop (shmstore_verify() returns that value). The
 * handle is busy: fn must not call shmstore functions on it. */
typedef int (*shmstore_verify_fn)(const shmstore_verify_problem *problem, void *arg);

/* What shmstore_verify() found. Grows like shmstore_store_info. */
typedef struct shmstore_verify_result {
    uint64_t data_dir;     /* 0: the daemon has no data directory, so nothing is durable and
                              nothing was checked; 1 otherwise */
    uint64_t objects;      /* durable objects whose files were read and checked */
    uint64_t bytes;        /* bytes read */
    uint64_t problems;     /* files found missing, torn, corrupt or unreadable */
    uint64_t pending;      /* durable objects with no file yet (durability = async, or their
                              write failed: see failed_writes in shmstore_info()) */
    uint64_t unlisted;     /* problems not passed to fn: a reply lists at most 100; the
                              daemon's log has every one */
    uint64_t duration_ms;
} shmstore_verify_result;

/** Have the daemon read every durable object's file back and check it against its checksum.
 *
 * Waits until the whole data directory has been read (about as long as reading that many bytes
 * from the disk), on a thread of the daemon's: other clients are served meanwhile. Objects
 * replaced or deleted while the check runs are not problems. A damaged file is repaired when
 * the object is in memory (the file is written again), else the object is deleted and its file
 * moved to the data directory's corrupt/; either way it is never served damaged. One verify
 * runs at a time.
 * Call it through the shmstore_verify() macro.
 * @param[in] c         the handle.
 * @param[in] fn        called for each problem (at most 100; see unlisted), or NULL.
 * @param[in] arg       passed to fn untouched.
 * @param[out] out      out_size bytes, filled before fn is first called.
 * @param[in] out_size  sizeof(shmstore_verify_result) as the caller's header defines it.
 * @return 0 when the check ran, whatever it found (read out->problems), fn's nonzero value if it
 *         stopped, or
 *   - SHMSTORE_EINVAL  NULL handle or out, out_size below the first version's 56 bytes;
 *   - SHMSTORE_ESTATE  another client's verify is running;
 *   - SHMSTORE_ECONN, SHMSTORE_ENOMEM, SHMSTORE_EPROTO (also a daemon older than this call). */
SHMSTORE_API int shmstore_verify_sized(shmstore_client *c, shmstore_verify_fn fn, void *arg,
                                       shmstore_verify_result *out, size_t out_size);
/** shmstore_verify(c, fn, arg, out): shmstore_verify_sized() with this header's
 * sizeof(shmstore_verify_result). */
#define shmstore_verify(c, fn, arg, out)                                                        \
    shmstore_verify_sized((c), (fn), (arg), (out), sizeof(shmstore_verify_result))

/* What happened, in a shmstore_event's kind. The values are part of the ABI and of the protocol;
 * kinds may be added, so a watcher skips kinds it does not know. */
typedef enum shmstore_event_kind {
    SHMSTORE_EVENT_SEALED = 1,       /* an object was bound to a name that had none */
    SHMSTORE_EVENT_REPLACED = 2,     /* an object was bound to a name in place of another one
                                        (SHMSTORE_REPLACE); nothing is told of the old one */
    SHMSTORE_EVENT_DELETED = 3,      /* the name was unbound: shmstore_delete(),
                                        shmstore_delete_matching(), `storectl rm` */
    SHMSTORE_EVENT_EVICTED = 4,      /* deleted by a daemon in cache mode (evict = lru) to make
                                        room */
    SHMSTORE_EVENT_EXPIRED = 5,      /* deleted when its time to live ran out */
    SHMSTORE_EVENT_SPILLED = 6,      /* left memory: its bytes are on disk only, and its next
                                        get reads them back */
    SHMSTORE_EVENT_RESTORED = 7,     /* read back into memory from disk */
    SHMSTORE_EVENT_SNAPSHOT = 8,     /* it was there when the watch started
                                        (SHMSTORE_WATCH_SNAPSHOT); time_ns is its seal time */
    SHMSTORE_EVENT_SNAPSHOT_END = 9, /* marker: every SNAPSHOT event has come, changes follow;
                                        count: how many objects the snapshot had */
    SHMSTORE_EVENT_LOST = 10,        /* marker: count events were dropped here, because the
                                        watcher read more slowly than they came */
} shmstore_event_kind;

/* One event of a watch, handed to a shmstore_watch_fn. The library owns it: valid only during
 * the call. Fields may be appended in later versions (the library allocates the struct, so a
 * program reads the fields its header knows). */
typedef struct shmstore_event {
    uint32_t kind;                      /* a shmstore_event_kind */
    char name[SHMSTORE_NAME_MAX + 1];   /* the object's name, NUL-terminated; "" for a marker */
    uint64_t id;                        /* the object's id (REPLACED: the new object's) */
    uint64_t size;                      /* its payload bytes */
    int64_t time_ns;                    /* when it happened, nanoseconds since the Unix epoch */
    uint64_t count;                     /* SNAPSHOT_END and LOST: see there; otherwise 0 */
} shmstore_event;

/* Flag of shmstore_watch_flags(): first one SHMSTORE_EVENT_SNAPSHOT per sealed object that
 * matches now, then SHMSTORE_EVENT_SNAPSHOT_END, then the changes. */
#define SHMSTORE_WATCH_SNAPSHOT 1u

/** Called once per event by shmstore_watch().
 *
 * @param[in] event  the event; valid only during the call, so copy what is kept.
 * @param[in] arg    shmstore_watch()'s arg.
 * @return 0 to go on; anything else stops the watch, and shmstore_watch() returns that value.
 * The handle is busy while the watch runs: fn must not call shmstore functions on it (it would
 * deadlock); other handles are fine. */
typedef int (*shmstore_watch_fn)(const shmstore_event *event, void *arg);

/** Watch the store: call fn for every change to a sealed object whose name matches a glob
 * pattern, as it happens, in the order the daemon made the changes.
 *
 * A handle that watches does nothing else, so give the watch a handle of its own: this call
 * replaces the handle's connection with one that asks to watch at its handshake (the handle must
 * hold no pins; unsealed objects of its old connection are freed, as at shmstore_close()). The
 * call blocks, calling fn for each event, until fn returns nonzero, the handle's interrupt check
 * asks to stop, or the connection is lost.
 *
 * Slow watchers. The daemon never drops a watcher for reading slowly and never holds more than a
 * bounded amount for it: events it cannot send yet wait coalesced, one per name (the latest:
 * an object sealed then deleted meanwhile arrives as one DELETED), and past a few thousand
 * waiting names further events are dropped, then told by one SHMSTORE_EVENT_LOST marker whose
 * count says how many, once the watcher has caught up. After a LOST marker, list the store again
 * (shmstore_list()) if an exact picture matters.
 *
 * Going on. When fn or the interrupt check stopped it, the handle stays subscribed: the daemon
 * keeps collecting its events as for a slow watcher, and the next shmstore_watch() on the handle
 * with the same pattern and flags carries on with the same stream, nothing repeated. Any other
 * call on the handle, or a watch with another pattern or flags, ends the subscription (its
 * connection is closed) and connects afresh.
 * @param[in] c        the handle, used for nothing else while it watches.
 * @param[in] pattern  fnmatch(3) pattern without flags, matched as shmstore_list() matches ('*'
 *                     also matches '/'); NULL or "" watches every name; at most 1024 bytes.
 *                     Copied.
 * @param[in] fn       the callback.
 * @param[in] arg      passed to fn untouched.
 * @return fn's nonzero value when it stopped the watch (the detail is then ""), or
 *   - SHMSTORE_EINVAL  NULL handle or fn, pattern too long, unknown flags;
 *   - SHMSTORE_ESTATE  the handle holds pins (release them, or use a handle of its own);
 *   - SHMSTORE_EINTR   the interrupt check (shmstore_set_interrupt()) asked to stop. It is asked
 *                      after each 50 ms without an event, at once when a signal arrives, and at
 *                      least every 50 ms while events flow;
 *   - SHMSTORE_ECONN   the daemon went away (the events of the gap are not known: list again
 *                      after reconnecting);
 *   - SHMSTORE_EPROTO  also a daemon older than this call;
 *   - SHMSTORE_ENOMEM. */
SHMSTORE_API int shmstore_watch(shmstore_client *c, const char *pattern, shmstore_watch_fn fn,
                                void *arg);

/** shmstore_watch() with flags: 0, or SHMSTORE_WATCH_SNAPSHOT for the objects that match now
 * before the changes. The snapshot and the changes have no gap and no duplicate: each object is
 * told once as a SNAPSHOT event, with its state when the daemon's walk through the names passed
 * it, and every later change to it comes after SHMSTORE_EVENT_SNAPSHOT_END; a name the walk had
 * not reached when it changed is simply listed as it then was. The daemon walks a large store a
 * few thousand names per turn of its loop, serving other clients in between. Parameters and
 * return values are those of shmstore_watch(). */
SHMSTORE_API int shmstore_watch_flags(shmstore_client *c, const char *pattern, unsigned flags,
                                      shmstore_watch_fn fn, void *arg);

/** The static text of an error code ("store full"); "success" for 0; "unknown error" for anything
 * else. Never NULL; lives as long as the program. Leaves the error detail alone. */
SHMSTORE_API const char *shmstore_strerror(int code);

/** The name of an error code ("SHMSTORE_ENOSPC"); "SHMSTORE_OK" for 0; "SHMSTORE_UNKNOWN" for
 * anything else. Never NULL; lives as long as the program. Leaves the error detail alone. */
SHMSTORE_API const char *shmstore_errname(int code);

/** The detail of the calling thread's last failure ("store full: asked 314572800 bytes
 * (300.0 MiB), 222298112 bytes (212.0 MiB) free of ..."), under the rules of "Error detail" at
 * the top of this file.
 *
 * @param[in] c  the handle the failed call was made on, or NULL for the thread's last call
 *               whatever its handle (the only way to read a failed shmstore_connect's detail).
 * @return never NULL; "" when the thread's last call succeeded, was made on another handle, or
 *         failed with nothing to tell. Owned by the library, in the calling thread's storage:
 *         valid until that thread's next call that clears the detail, or its exit. */
SHMSTORE_API const char *shmstore_errmsg(shmstore_client *c);

/** The version of the library actually loaded, SHMSTORE_VERSION_STRING of the headers it was
 * built with. Static; leaves the error detail alone. */
SHMSTORE_API const char *shmstore_version(void);

/** The socket path that shmstore_connect(NULL, ...) would use.
 *
 * @param[out] buf     receives the path, NUL-terminated.
 * @param[in] buflen   bytes available at buf.
 * @return 0, or SHMSTORE_EINVAL (buf is NULL or too small; no detail is set, and the error
 *         detail is left alone). */
SHMSTORE_API int shmstore_default_socket(char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
