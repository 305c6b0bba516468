/*
 * store.h — the object store proper: objects, names, pins, waiters and their lifecycle.
 *
 * Knows nothing of sockets or the event loop, so all of it is unit-testable. A "store client" is
 * the per-connection bookkeeping that makes crash cleanup proportional to what a client held:
 * its pins (an id map) and its unsealed objects (an intrusive list). Payload bytes live in the
 * arena at offsets given by the allocator; every other byte of state lives here, in private
 * memory (docs/architecture.md, "Processes and memory").
 *
 * Object states: UNSEALED (owned by one client, writable by it) -> SEALED (immutable, bound to
 * its name) -> DELETED (unbound, kept while pinned) -> freed. A name entry holds the sealed
 * object bound to it, the unsealed object that reserved it (a create without REPLACE), and the
 * gets waiting for it.
 */
#ifndef SHMSTORE_STORE_H
#define SHMSTORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "idmap.h"
#include "space.h"
#include "quota.h"

typedef struct store store_t;
struct name_entry;

enum object_state { OBJECT_UNSEALED, OBJECT_SEALED, OBJECT_DELETED };

struct object {
    uint64_t id;
    const char *name;           /* NUL-terminated: its name entry's copy, which lives while any
                                 * object of that name does */
    alloc_block_t *block;       /* NULL while the object is on disk only (not in memory) */
    uint64_t data_offset, size; /* its address: SHM_ADDRESS(segment, offset); the metadata
                                 * follows at store_meta_offset */
    int64_t created_ns;         /* seal time (create time while unsealed) */
    uint64_t checksum;          /* persist_object_checksum of the copy on disk, when on_disk */
    struct store_client *owner; /* UNSEALED only */
    /* An object is on one list at a time, so the two share their links. */
    union {
        struct object *owner_prev;   /* UNSEALED: its client's unsealed objects */
        struct object *lru_prev;     /* in_lru: the store's eviction order: sealed, in memory,
                                      * unpinned objects, least recently used first */
    };
    union {
        struct object *owner_next;
        struct object *lru_next;
    };
    int64_t expires_ns;         /* sealed: when its time to live runs out (CLOCK_REALTIME), 0
                                 * without one; unsealed: its time to live in ns, which starts
                                 * at the seal (docs/architecture.md, "Time to live") */
    /* Narrow fields, packed (docs/architecture.md, "Bookkeeping per object"). */
    uint32_t pins;              /* clients' pins and holds; pin_add refuses beyond UINT32_MAX */
    uint32_t owner_uid;         /* the uid whose connection created it; charged to it (quotas) */
    uint32_t expiry_slot : 24;  /* its place in the store's expiry heap, 0 when not in it */
    uint32_t name_len : 8;      /* at most SHM_NAME_MAX */
    uint32_t meta_size : 17;    /* at most SHM_META_MAX */
    enum object_state state : 2;
    unsigned replace : 1;       /* created with SHMSTORE_REPLACE */
    unsigned persist : 1;       /* durable: created with SHMSTORE_PERSIST, or restored */
    unsigned writing : 1;       /* UNSEALED, its durable seal on the way to disk: immutable,
                                 * neither abortable nor freeable until the write completes */
    /* Residency (docs/architecture.md, "Spill and restore"): a sealed object may leave memory
     * when a whole copy of it is on disk, and comes back on its next get. */
    unsigned on_disk : 1;       /* a whole copy is on disk: its durable file, or a spill file */
    unsigned spilled : 1;       /* that copy is a spill file (a transient object) */
    unsigned loading : 1;       /* being read back into memory (holds a block and a hold) */
    unsigned spilling : 1;      /* being written to the spill area (in memory, readable) */
    unsigned spill_failed : 1;  /* its spill failed once: not chosen again */
    unsigned inline_copy : 1;   /* its durable copy is inside its catalogue entry, not a file */
    unsigned no_evict : 1;      /* created with STORE_NO_EVICT: evict = lru never deletes it */
    unsigned in_lru : 1;        /* on the eviction list (lru_prev, lru_next are its links) */
};
_Static_assert(sizeof(struct object) <= 104, "struct object stays within 104 bytes");

/* Where an object's metadata is: after its payload, at the next 64-byte boundary. */
static inline uint64_t store_meta_offset(const struct object *obj)
{
    return obj->data_offset + ((obj->size + 63u) & ~(uint64_t)63u);
}

/* Where an object's bytes are, as `storectl ls` and `stat` show it. */
enum object_location { LOCATION_MEMORY, LOCATION_DISK, LOCATION_BOTH };

static inline enum object_location object_location(const struct object *obj)
{
    if (!obj->block)
        return LOCATION_DISK;
    return obj->on_disk ? LOCATION_BOTH : LOCATION_MEMORY;
}

/* Per-connection bookkeeping. Zero it with store_client_init before use. */
struct store_client {
    uint64_t id;
    id_map pins;                  /* object id -> struct pin */
    struct object *unsealed;      /* list of this client's unsealed objects */
    uint64_t unsealed_count, unsealed_bytes, pin_count;
    uint64_t unsealed_charge;     /* payload + metadata of its unsealed objects (for limits) */
    struct store_client *prev, *next;   /* the store's clients, from init to drop */
    uint32_t uid;                 /* owner of what it creates (the peer's uid); set after init */
};

/* A get waiting for a name. The caller embeds it, fills client and wake, and keeps it alive until
 * it is woken or cancelled. wake() is called once, with the object already pinned for the
 * waiter's client; the waiter is unlinked before the call. */
struct store_waiter {
    struct store_client *client;
    void (*wake)(struct store_waiter *w, struct object *obj);
    struct name_entry *entry;                   /* set by the store */
    struct store_waiter *prev, *next;
};

struct store_stats {
    uint64_t capacity_bytes;    /* the most the segments may take (space_max) */
    uint64_t taken_bytes, segments;   /* what they take now, and how many there are */
    uint64_t used_bytes, free_bytes, largest_free_bytes;
    uint64_t objects, unsealed_objects, unsealed_bytes, deleted_pinned, pins, waiters;
    uint64_t disk_objects, disk_bytes;      /* sealed objects with a copy on disk, its bytes */
    uint64_t disk_only_objects;             /* of those, the ones not in memory */
};

/* Error details are written here by failing calls: "store full: asked 314572800 bytes
 * (300.0 MiB), 222298112 bytes (212.0 MiB) free of ...; start shmstored with a larger ...". */
struct store_detail {
    char text[512];
};

/* Flags of store_create and store_put. */
#define STORE_REPLACE 1u   /* rebind a taken name at seal (SHMSTORE_REPLACE) */
#define STORE_PERSIST 2u   /* durable (SHMSTORE_PERSIST): sealed with store_seal_begin/finish */
#define STORE_NO_EVICT 4u  /* never deleted by evict = lru (SHMSTORE_NO_EVICT) */

/* The bytes of an object's block: the payload, then the metadata at the next 64-byte boundary. */
uint64_t store_object_bytes(uint64_t size, uint64_t meta_size);

/* A store that may grow to max_bytes in segments and has none yet: the daemon adds them
 * through store_space (space.h). NULL when out of memory. */
store_t *store_new_empty(uint64_t max_bytes);
/* A store of one segment (id 0, so addresses are offsets): `capacity` bytes at arena, the
 * daemon's writable mapping, into which inline puts and metadata are copied. For tests. */
store_t *store_new(uint8_t *arena, uint64_t capacity);
/* The store's segments: the daemon adds and removes them (removal only when empty). */
space_t *store_space(store_t *s);
/* The daemon's pointer to an address of the store (an object's data_offset or meta_offset). */
uint8_t *store_pointer(const store_t *s, uint64_t address);
/* Frees every object and name. Clients must have been dropped first. */
void store_free(store_t *s);

void store_client_init(store_t *s, struct store_client *cl);
/* The client is gone: drop its pins and free its unsealed objects, in time proportional to what
 * it held. Its waiters must have been cancelled by the caller. */
void store_client_drop(store_t *s, struct store_client *cl);

/* Every call returns 0 or a negative SHMSTORE_E* code, with a detail in *d on failure, and
 * leaves the store unchanged on failure. Names must have passed shm_name_check. */
int store_create(store_t *s, struct store_client *cl, const char *name, size_t name_len,
                 uint64_t size, const void *meta, size_t meta_size, unsigned flags,
                 struct object **out, struct store_detail *d);
/* create + copy + seal in one step (inline put). Not for STORE_PERSIST. */
int store_put(store_t *s, struct store_client *cl, const char *name, size_t name_len,
              const void *data, size_t size, const void *meta, size_t meta_size,
              unsigned flags, struct object **out, struct store_detail *d);
int store_seal(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d);

/* The seal of a durable object, in two steps around its write to disk (docs/architecture.md,
 * "Durable objects"). store_seal_begin checks what store_seal checks and marks the object
 * writing, binding nothing; then exactly one of store_seal_finish (the object is on disk: bind
 * it, as store_seal does, even if its client has gone meanwhile) or store_seal_abandon (the write
 * failed: the object stays unsealed and its client's, or is freed if its client has gone). A
 * store_seal_begin on an object that is not durable seals it at once and sets *durable to 0. */
int store_seal_begin(store_t *s, struct store_client *cl, uint64_t id, struct object **out,
                     int *durable, struct store_detail *d);
int store_seal_finish(store_t *s, struct object *obj, struct store_detail *d);
void store_seal_abandon(store_t *s, struct object *obj);

/* A pin of no client's: the writer of an async durable seal reads the sealed object after its
 * reply went, so its memory must stay even if it is deleted or replaced meanwhile. */
void store_hold(store_t *s, struct object *obj);
void store_unhold(store_t *s, struct object *obj);

/* Called whenever a sealed durable object loses its name (delete, replace), before it may be
 * freed, so its catalogue entry can be dropped in the same order. */
void store_set_unbind_hook(store_t *s, void (*hook)(void *ctx, const struct object *obj),
                           void *ctx);

/* What happened to a sealed object, for the watch stream (docs/architecture.md, "Watch
 * stream"). The hook runs synchronously inside the store call that caused the event, after the
 * change: it may read obj (its name, id, size) but must not call back into the store. */
enum store_event {
    STORE_EVENT_SEALED,     /* bound to its name for the first time */
    STORE_EVENT_REPLACED,   /* bound to its name, replacing another object */
    STORE_EVENT_DELETED,    /* its name was unbound by a delete */
    STORE_EVENT_EVICTED,    /* deleted by evict = lru to make room */
    STORE_EVENT_EXPIRED,    /* deleted because its time to live ran out */
    STORE_EVENT_SPILLED,    /* left memory; its bytes are on disk only */
    STORE_EVENT_RESTORED,   /* read back into memory from disk */
};
void store_set_event_hook(store_t *s,
                          void (*hook)(void *ctx, enum store_event ev, const struct object *obj),
                          void *ctx);
/* Tell the event hook, if any. For the store's own modules (and the daemon's expiry timer). */
void store_emit_event(store_t *s, enum store_event ev, const struct object *obj);

/* Restart: make a sealed durable object with the id, name, sizes, seal time and checksum a
 * catalogue gave, on disk only: its first get reads it back (store_load_begin). New ids start
 * above every restored one. */
int store_restore(store_t *s, const char *name, size_t name_len, uint64_t id, uint64_t size,
                  uint64_t meta_size, int64_t sealed_ns, uint64_t checksum, struct object **out,
                  struct store_detail *d);
/* Unbind obj for good without telling the catalogue (the caller deals with its entry): a
 * damaged object that must never be served. Freed now, or at its last unpin. */
void store_forget(store_t *s, struct object *obj);

/* ---- residency (docs/architecture.md, "Spill and restore") ----
 *
 * A sealed object whose bytes are also on disk (its durable file, or a spill file) may leave
 * memory to make room; a get brings it back. Only unpinned objects leave, least recently used
 * first; pinned ones never move. While the disk work runs the object carries a hold
 * (store_hold), so nothing frees it; the *_done calls drop that hold, after which obj may be
 * gone. */

/* A whole copy of sealed obj is now on disk with this checksum: its durable write completed.
 * Ignored when obj is no longer sealed (deleted or replaced meanwhile). */
void store_set_on_disk(store_t *s, struct object *obj, uint64_t checksum);
/* obj's copy on disk is gone (a rewrite of its file failed): it stays in memory from now on. */
void store_clear_on_disk(store_t *s, struct object *obj);

/* Make room for a block of `bytes`. Objects already on disk leave memory first, least recently
 * used first (they cost no write), until such a block is free: 0. Otherwise, when can_spill,
 * unpinned transient objects are chosen to be spilled, least recently used first, marked
 * spilling, held, and put in spill[] (at most max; *n of them): STORE_ROOM_PENDING, and the
 * caller writes each to the spill area, calls store_spill_done, and asks again. Also
 * STORE_ROOM_PENDING with *n == 0 when spills already under way may make the room. Only when
 * nothing more can leave: SHMSTORE_ENOSPC, the detail saying what is pinned. */
#define STORE_ROOM_PENDING 1
/* can_delete (evict = lru): when nothing more can leave or be spilled, unpinned transient
 * objects not made with STORE_NO_EVICT are deleted, least recently used first, until the block
 * is free (0). */
int store_make_room(store_t *s, uint64_t bytes, int can_spill, int can_delete,
                    struct object **spill, size_t max, size_t *n, struct store_detail *d);
/* Objects evict = lru deleted, since start. */
uint64_t store_evicted_deletions(const store_t *s);
/* The spill of obj finished: ok, its copy (with checksum) is in the spill area, and obj leaves
 * memory unless a client pinned it meanwhile. Drops the hold. Returns 1 when the spill file is of
 * no use (the spill failed, or obj was deleted meanwhile) and the caller should remove it. */
int store_spill_done(store_t *s, struct object *obj, int ok, uint64_t checksum);
/* obj is sealed and not in memory: take a block for its bytes and a hold, mark it loading; the
 * caller reads it into data_offset/meta_offset. SHMSTORE_ENOSPC when no block is free (make
 * room and retry). */
int store_load_begin(store_t *s, struct object *obj, struct store_detail *d);
/* The read finished: ok, obj is in memory again; else its block goes back. Drops the hold. */
void store_load_done(store_t *s, struct object *obj, int ok);
/* Called when an object with a spill file is freed, so the file can be removed. */
void store_set_spill_free_hook(store_t *s, void (*hook)(void *ctx, uint64_t id), void *ctx);
/* Bytes of the objects being spilled now. */
uint64_t store_spilling_bytes(const store_t *s);
/* Objects that left memory to make room, since start. */
uint64_t store_evictions(const store_t *s);
int store_abort(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d);
/* Pin the sealed object bound to name for cl. SHMSTORE_ENOTFOUND when there is none. */
int store_get(store_t *s, struct store_client *cl, const char *name, size_t name_len,
              struct object **out, struct store_detail *d);
/* Register w to be woken when name is sealed. SHMSTORE_ENOMEM possible. */
int store_wait(store_t *s, const char *name, size_t name_len, struct store_waiter *w,
               struct store_detail *d);
void store_wait_cancel(store_t *s, struct store_waiter *w);
/* The name w waits for, NUL-terminated, with its length in *len; NULL when w is not waiting. Valid
 * until w is woken or cancelled. */
const char *store_waiter_name(const store_t *s, const struct store_waiter *w, size_t *len);
/* Unpin one pin of cl on id. SHMSTORE_ESTATE when cl holds no pin on it. */
int store_release(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d);
int store_delete(store_t *s, const char *name, size_t name_len, struct store_detail *d);
/* Unbind every sealed object whose name matches the fnmatch(3) pattern (no flags, as `ls`
 * matches), as store_delete does each: pinned ones live on until their last release. Unsealed
 * objects and waiting gets are left alone. Cannot fail; returns how many were unbound. Costs
 * O(log n) plus the names that share the pattern's literal prefix. */
uint64_t store_delete_matching(store_t *s, const char *pattern);
/* The sealed object bound to name, or NULL; not pinned. */
struct object *store_lookup(store_t *s, const char *name, size_t name_len);
/* The first sealed object whose name is > after (NULL: from the start), visiting at most
 * *budget name entries (decremented); NULL at the end or when the budget runs out (then *budget
 * is 0 and *resume_name/len tell where to go on). */
struct object *store_next_sealed(store_t *s, const char *after, size_t after_len,
                                 unsigned *budget, const char **resume_name, size_t *resume_len);
void store_get_stats(const store_t *s, struct store_stats *out);

/* ---- quotas and time to live (docs/architecture.md, "Quotas", "Time to live") ----
 *
 * With a quota set, every object is charged to its owner_uid from its create until it is freed,
 * and a create over the owner's quota fails with SHMSTORE_ENOSPC naming the quota (before any
 * room is made for it). Restored durable objects belong to the daemon's own uid. */
void store_set_quota(store_t *s, quota_t *q);
/* Would a create of size + meta_size bytes by cl pass its quota? 0 or SHMSTORE_ENOSPC/ENOMEM
 * with the detail; 0 without a quota. The same check store_create makes, for callers that must
 * tell "over quota" from "store full" before making room. */
int store_quota_check(store_t *s, const struct store_client *cl, uint64_t size,
                      uint64_t meta_size, struct store_detail *d);
/* Give obj a time to live of ttl_ms (> 0): counted from its seal when it is unsealed, from now
 * when sealed (a put). 0, or SHMSTORE_ENOMEM. Not for durable objects (the caller refuses). */
int store_set_ttl(store_t *s, struct object *obj, uint64_t ttl_ms);
/* Delete, as store_delete does (pinned ones live on until their last release), at most max
 * objects whose time to live has run out by now_ns, earliest first, each counted and told to the
 * event hook as STORE_EVENT_EXPIRED. Returns how many. */
uint64_t store_expire(store_t *s, int64_t now_ns, uint64_t max);
/* The earliest deadline of a time to live (CLOCK_REALTIME ns), or INT64_MAX when none. */
int64_t store_next_expiry(const store_t *s);
/* Objects deleted because their time to live ran out, since start. */
uint64_t store_expirations(const store_t *s);

/* Walk every structure and check that they agree: the allocator's used bytes are the blocks of
 * the live objects, pins and unsealed objects add up over the clients, every name leads to a
 * sealed object of that name, every unsealed object has an owner, and store_get_stats tells the
 * truth. Allocates nothing, so it can run under injected allocation failures. 0 when sound,
 * else -1 with the first violation in why. For tests and fuzzers. */
int store_check(const store_t *s, char *why, size_t whylen);

#endif
