/*
 * store.c — objects, names, pins and waiters (see store.h for the model).
 *
 * Three structures index the same objects: the allocator owns their byte ranges, `objects`
 * maps every live id (unsealed, sealed or deleted-but-pinned) to its record, and `names` maps
 * each name in use to a name_entry. An object is freed exactly when nothing can reach it any
 * more: it is unbound (aborted, deleted or replaced) and its pin count is zero. Every call checks
 * everything it can refuse before it changes anything, so a failed call leaves the store as it
 * was.
 *
 * An object's bytes are one allocation: the payload first (so that large payloads start on a page
 * boundary, as the allocator aligns them), then the metadata at the next 64-byte boundary.
 */
#define _GNU_SOURCE
#include "store.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expiry.h"
#include "humansize.h"
#include "namemap.h"
#include "pool.h"
#include "shmlayout.h"
#include "shmstore.h"
#include <unistd.h>

/* The value of a name in the name map (which holds the name itself, once: objects point at it,
 * so an entry lives while any object of its name does). */
struct name_entry {
    struct object *sealed;       /* bound object */
    struct object *reserved;     /* unsealed object of a create without REPLACE */
    struct store_waiter *waiters;   /* gets waiting for the name, first come first; the first's
                                     * prev is the last, so appending is O(1) without a tail */
    uint32_t replacers;          /* unsealed objects created with REPLACE under this name */
    uint32_t objects;            /* objects whose name this is: their obj->name points here */
};

struct pin {
    struct object *obj;
    uint64_t count;
};

struct store {
    space_t *space;      /* the arena's segments and their allocators */
    pool_t object_records;   /* every struct object */
    id_map objects;      /* id -> struct object, every live object */
    name_map *names;     /* name -> struct name_entry */
    uint64_t next_id;
    uint64_t next_client_id;
    uint64_t sealed_count, unsealed_count, unsealed_bytes, deleted_pinned, pins, waiters;
    struct store_client *clients;   /* every client between init and drop, for store_check */
    void (*unbind_hook)(void *ctx, const struct object *obj);
    void *unbind_ctx;
    void (*spill_free_hook)(void *ctx, uint64_t id);
    void *spill_free_ctx;
    void (*event_hook)(void *ctx, enum store_event ev, const struct object *obj);
    void *event_ctx;
    /* Residency: the eviction order, and what is on disk (sealed objects only). */
    struct object *lru_head, *lru_tail;     /* least recently used first */
    uint64_t disk_objects, disk_bytes, disk_only_objects;
    uint64_t spilling_bytes;                /* of objects being spilled now */
    uint64_t evictions;
    uint64_t evicted_deletions;             /* evict = lru */
    uint64_t holds;                         /* pins of no client's (store_hold) */
    quota_t *quota;                         /* NULL: nothing is charged */
    expiry_heap expiry;                     /* sealed objects with a time to live */
    uint64_t expirations;
};

static int fail(struct store_detail *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How a user gets a bigger store: said in every "store full", the one way out that always works. */
#define GROW_HINT "raise memory in shmstored's config file and reload it (SIGHUP), or start it " \
                  "with a larger --memory (-m)"

static int fail(struct store_detail *d, int code, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->text, sizeof d->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t round_up64(uint64_t n)
{
    return (n + 63u) & ~(uint64_t)63u;
}

static void expiry_moved(void *item, uint32_t slot)
{
    ((struct object *)item)->expiry_slot = slot;
}

store_t *store_new(uint8_t *arena, uint64_t capacity)
{
    store_t *s = store_new_empty(capacity);
    uint32_t id;
    if (s && space_add(s->space, arena, capacity & ~(uint64_t)(ALLOC_PAGE - 1), 0, NULL, &id)) {
        store_free(s);
        return NULL;
    }
    return s;
}

space_t *store_space(store_t *s)
{
    return s->space;
}

uint8_t *store_pointer(const store_t *s, uint64_t address)
{
    return space_pointer(s->space, address);
}

/* What more the store could hold: free room in its segments, and what it may still take. */
static uint64_t store_free_bytes(const store_t *s)
{
    uint64_t ceiling = space_max(s->space);
    if (ceiling < space_taken(s->space))
        ceiling = space_taken(s->space);
    return ceiling - space_used(s->space);
}

/* The object table is keyless: each object names its own id. */
static uint64_t object_id(const void *obj)
{
    return ((const struct object *)obj)->id;
}

store_t *store_new_empty(uint64_t max_bytes)
{
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->space = space_new(max_bytes);
    pool_init(&s->object_records, sizeof(struct object), 1024);
    s->names = name_map_new(sizeof(struct name_entry));
    s->objects = (id_map)ID_MAP_KEYLESS(object_id);
    /* Ids are never reused, not even by the next daemon on the same socket: a client that
     * reconnects after a restart must not be able to release a new object with an old id. So
     * ids start at the clock in microseconds; a daemon never creates objects faster than one per
     * microsecond of its life, so the next one starts past every id the last one gave. The
     * values stay below 2^53, exact in every JSON reader. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->next_id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    s->next_client_id = 1;
    s->expiry.moved = expiry_moved;
    if (!s->space || !s->names) {
        space_free(s->space);
        name_map_free(s->names);
        free(s);
        return NULL;
    }
    return s;
}

static void free_object_record(uint64_t id, void *value, void *arg)
{
    (void)id;
    store_t *s = arg;
    pool_free(&s->object_records, value);
}

void store_free(store_t *s)
{
    if (!s)
        return;
    id_map_foreach(&s->objects, free_object_record, s);
    id_map_clear(&s->objects);
    name_map_free(s->names);
    space_free(s->space);
    expiry_clear(&s->expiry);
    pool_destroy(&s->object_records);
    free(s);
}

/* ---- name entries -------------------------------------------------------------------------- */

static struct name_entry *entry_find(store_t *s, const char *name, size_t len)
{
    return name_map_get(s->names, name, len);
}

static struct name_entry *entry_find_or_add(store_t *s, const char *name, size_t len)
{
    int inserted;
    return name_map_insert(s->names, name, len, &inserted);
}

/* The entry's name: the one copy, which its objects point at. */
static const char *entry_name(const store_t *s, const struct name_entry *e, size_t *len)
{
    return name_map_key(s->names, e, len);
}

/* Drop the entry once nothing refers to it any more. */
static void entry_release_if_unused(store_t *s, struct name_entry *e)
{
    if (e && !e->sealed && !e->reserved && !e->replacers && !e->waiters && !e->objects) {
        size_t len;
        const char *name = entry_name(s, e, &len);
        name_map_remove(s->names, name, len);
    }
}

/* obj takes its name from e, which then lives at least as long as obj. */
static void object_name_from(store_t *s, struct object *obj, struct name_entry *e)
{
    size_t len;
    obj->name = entry_name(s, e, &len);
    obj->name_len = len;
    e->objects++;
}

/* obj is being freed: its entry may go with it (obj->name is not to be read afterwards). */
static void object_name_drop(store_t *s, struct object *obj)
{
    struct name_entry *e = entry_find(s, obj->name, obj->name_len);
    e->objects--;
    entry_release_if_unused(s, e);
}

/* ---- object records ------------------------------------------------------------------------ */

static void owner_link(struct store_client *cl, struct object *obj)
{
    obj->owner = cl;
    obj->owner_prev = NULL;
    obj->owner_next = cl->unsealed;
    if (cl->unsealed)
        cl->unsealed->owner_prev = obj;
    cl->unsealed = obj;
    cl->unsealed_count++;
    cl->unsealed_bytes += obj->size;
    cl->unsealed_charge += obj->size + obj->meta_size;
}

static void owner_unlink(struct object *obj)
{
    struct store_client *cl = obj->owner;
    if (obj->owner_prev)
        obj->owner_prev->owner_next = obj->owner_next;
    else
        cl->unsealed = obj->owner_next;
    if (obj->owner_next)
        obj->owner_next->owner_prev = obj->owner_prev;
    cl->unsealed_count--;
    cl->unsealed_bytes -= obj->size;
    cl->unsealed_charge -= obj->size + obj->meta_size;
    obj->owner = NULL;
    obj->owner_prev = obj->owner_next = NULL;
}

/* ---- residency bookkeeping ------------------------------------------------------------------ */

uint64_t store_object_bytes(uint64_t size, uint64_t meta_size)
{
    if (!meta_size)
        return size;
    /* Saturates: a size near 2^64 must not wrap round to a small block. */
    if (size > UINT64_MAX - 63 || round_up64(size) > UINT64_MAX - meta_size)
        return UINT64_MAX;
    return round_up64(size) + meta_size;
}

static uint64_t object_bytes(const struct object *obj)
{
    return store_object_bytes(obj->size, obj->meta_size);
}

static void lru_remove(store_t *s, struct object *obj)
{
    if (!obj->in_lru)
        return;
    if (obj->lru_prev)
        obj->lru_prev->lru_next = obj->lru_next;
    else
        s->lru_head = obj->lru_next;
    if (obj->lru_next)
        obj->lru_next->lru_prev = obj->lru_prev;
    else
        s->lru_tail = obj->lru_prev;
    obj->lru_prev = obj->lru_next = NULL;
    obj->in_lru = 0;
}

/* The object may leave memory from now on: it is sealed, in memory and unpinned. It goes last,
 * as the most recently used. */
static void lru_add_if_evictable(store_t *s, struct object *obj)
{
    if (obj->state != OBJECT_SEALED || !obj->block || obj->pins || obj->loading ||
        obj->spilling || obj->in_lru)
        return;
    obj->in_lru = 1;
    obj->lru_prev = s->lru_tail;
    obj->lru_next = NULL;
    if (s->lru_tail)
        s->lru_tail->lru_next = obj;
    else
        s->lru_head = obj;
    s->lru_tail = obj;
}

/* A sealed object's copy on disk starts or stops counting in the figures. */
static void disk_count(store_t *s, const struct object *obj, int sign)
{
    if (!obj->on_disk || obj->state != OBJECT_SEALED)
        return;
    if (sign > 0) {
        s->disk_objects++;
        s->disk_bytes += obj->size + obj->meta_size;
        s->disk_only_objects += obj->block == NULL;
    } else {
        s->disk_objects--;
        s->disk_bytes -= obj->size + obj->meta_size;
        s->disk_only_objects -= obj->block == NULL;
    }
}

static void object_destroy(store_t *s, struct object *obj)
{
    lru_remove(s, obj);
    expiry_remove(&s->expiry, obj->expiry_slot);
    if (s->quota)
        quota_uncharge(s->quota, obj->owner_uid, obj->size + obj->meta_size);
    if (obj->spilled && s->spill_free_hook)
        s->spill_free_hook(s->spill_free_ctx, obj->id);
    id_map_remove(&s->objects, obj->id);
    if (obj->block)
        space_give(s->space, obj->data_offset, obj->block);
    object_name_drop(s, obj);
    pool_free(&s->object_records, obj);
}

/* The name no longer leads to obj: free it now, or when its last pin goes. */
static void object_unbind(store_t *s, struct object *obj)
{
    if (obj->persist && s->unbind_hook)
        s->unbind_hook(s->unbind_ctx, obj);
    disk_count(s, obj, -1);
    lru_remove(s, obj);
    expiry_remove(&s->expiry, obj->expiry_slot);   /* a deleted object never expires */
    s->sealed_count--;
    if (obj->pins == 0) {
        object_destroy(s, obj);
    } else {
        obj->state = OBJECT_DELETED;
        s->deleted_pinned++;
    }
}

static int pin_add(store_t *s, struct store_client *cl, struct object *obj, struct store_detail *d)
{
    if (obj->pins == UINT32_MAX)
        return fail(d, SHMSTORE_EPERM, "'%s' is pinned %u times, the most one object can be; "
                    "release some first", obj->name, obj->pins);
    struct pin *p = id_map_get(&cl->pins, obj->id);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p || id_map_put(&cl->pins, obj->id, p) != 0) {
            free(p);
            return fail(d, SHMSTORE_ENOMEM, "daemon out of memory recording a pin");
        }
        p->obj = obj;
    }
    p->count++;
    if (obj->pins++ == 0)
        lru_remove(s, obj);
    cl->pin_count++;
    s->pins++;
    return 0;
}

/* Drop `count` pins of obj; free it if it was the last thing keeping a deleted object. */
static void object_unpin(store_t *s, struct object *obj, uint64_t count)
{
    obj->pins -= count;
    s->pins -= count;
    if (obj->pins == 0 && obj->state == OBJECT_DELETED) {
        s->deleted_pinned--;
        object_destroy(s, obj);
    } else {
        lru_add_if_evictable(s, obj);
    }
}

/* ---- clients ------------------------------------------------------------------------------- */

void store_client_init(store_t *s, struct store_client *cl)
{
    memset(cl, 0, sizeof *cl);
    cl->pins = (id_map)ID_MAP_INIT;
    cl->id = s->next_client_id++;
    cl->next = s->clients;
    if (s->clients)
        s->clients->prev = cl;
    s->clients = cl;
}

struct drop_ctx {
    store_t *s;
};

static void drop_pin(uint64_t id, void *value, void *arg)
{
    (void)id;
    struct drop_ctx *ctx = arg;
    struct pin *p = value;
    object_unpin(ctx->s, p->obj, p->count);
    free(p);
}

/* The unsealed object no longer claims its name (it was sealed, aborted or its client left). */
static void entry_unclaim(struct name_entry *e, struct object *obj)
{
    if (!e)
        return;
    if (e->reserved == obj)
        e->reserved = NULL;
    else if (obj->replace && e->replacers > 0)
        e->replacers--;
}

static void unsealed_free(store_t *s, struct object *obj)
{
    struct name_entry *e = entry_find(s, obj->name, obj->name_len);
    entry_unclaim(e, obj);
    entry_release_if_unused(s, e);
    if (obj->owner)   /* an abandoned durable write outlived its client */
        owner_unlink(obj);
    s->unsealed_count--;
    s->unsealed_bytes -= obj->size;
    object_destroy(s, obj);
}

void store_client_drop(store_t *s, struct store_client *cl)
{
    struct drop_ctx ctx = {s};
    id_map_foreach(&cl->pins, drop_pin, &ctx);
    id_map_clear(&cl->pins);
    while (cl->unsealed) {
        struct object *obj = cl->unsealed;
        /* The writer thread reads its bytes: it stays, ownerless, until the write completes. */
        if (obj->writing)
            owner_unlink(obj);
        else
            unsealed_free(s, obj);
    }
    cl->pin_count = 0;
    /* Dropping twice is harmless: the second time the client is no longer linked. */
    if (cl->prev || s->clients == cl) {
        if (cl->prev)
            cl->prev->next = cl->next;
        else
            s->clients = cl->next;
        if (cl->next)
            cl->next->prev = cl->prev;
        cl->prev = cl->next = NULL;
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int store_create(store_t *s, struct store_client *cl, const char *name, size_t name_len,
                 uint64_t size, const void *meta, size_t meta_size, unsigned flags,
                 struct object **out, struct store_detail *d)
{
    const unsigned replace = flags & STORE_REPLACE;
    /* A create takes the name at once, with or without REPLACE (docs/architecture.md, "Object
     * lifecycle"): only another REPLACE may then go ahead, and the last seal wins. */
    struct name_entry *e = entry_find(s, name, name_len);
    if (!replace && e && (e->sealed || e->reserved || e->replacers))
        return fail(d, SHMSTORE_EEXIST, "%.*s: name already taken%s", (int)name_len, name,
                    e->sealed ? "" : " by an object being created");

    uint64_t capacity = space_max(s->space);
    if (capacity > SHM_SEGMENT_BYTES_MAX)
        capacity = SHM_SEGMENT_BYTES_MAX;   /* an object never spans segments */
    if (size > capacity || meta_size > capacity ||
        round_up64(size) + meta_size > capacity) {
        char asked[HUMAN_SIZE_MAX], avail[HUMAN_SIZE_MAX], whole[HUMAN_SIZE_MAX];
        return fail(d, SHMSTORE_ENOSPC,
                    "store full: asked %s, but the whole store is %s and %s of it is free; "
                    GROW_HINT,
                    human_size_exact(size > UINT64_MAX - meta_size ? UINT64_MAX : size + meta_size,
                                     asked, sizeof asked),
                    human_size_exact(capacity, whole, sizeof whole),
                    human_size_exact(store_free_bytes(s), avail, sizeof avail));
    }
    int rc = store_quota_check(s, cl, size, meta_size, d);
    if (rc)
        return rc;
    uint64_t meta_at = round_up64(size);
    uint64_t total = meta_size ? meta_at + meta_size : size;

    struct object *obj = pool_alloc(&s->object_records);
    if (!obj)
        return fail(d, SHMSTORE_ENOMEM, "daemon out of memory");

    obj->block = space_take(s->space, total, &obj->data_offset);
    if (!obj->block) {
        char asked[HUMAN_SIZE_MAX], avail[HUMAN_SIZE_MAX], largest[HUMAN_SIZE_MAX];
        uint64_t free_bytes = store_free_bytes(s), largest_free = space_largest_free(s->space);
        pool_free(&s->object_records, obj);
        /* A free range that space_take would grant exists, so what failed was its own record:
         * the daemon's heap, not the store, is out of room. */
        if (largest_free >= total)
            return fail(d, SHMSTORE_ENOMEM, "daemon out of memory");
        human_size_exact(total, asked, sizeof asked);
        human_size_exact(free_bytes, avail, sizeof avail);
        if (largest_free == free_bytes)
            return fail(d, SHMSTORE_ENOSPC, "store full: asked %s, %s free of %llu; delete "
                        "objects, or " GROW_HINT, asked, avail, (unsigned long long)capacity);
        return fail(d, SHMSTORE_ENOSPC, "store full: asked %s, %s free of %llu, but the largest "
                    "free block is %s; delete objects, or " GROW_HINT, asked, avail,
                    (unsigned long long)capacity,
                    human_size_exact(largest_free, largest, sizeof largest));
    }
    obj->id = s->next_id;
    obj->size = size;
    obj->meta_size = meta_size;
    obj->state = OBJECT_UNSEALED;
    obj->replace = replace != 0;
    obj->persist = (flags & STORE_PERSIST) != 0;
    obj->no_evict = (flags & STORE_NO_EVICT) != 0;
    obj->created_ns = now_ns();
    obj->owner_uid = cl->uid;

    e = entry_find_or_add(s, name, name_len);
    if (!e)
        goto out_of_memory;
    if (id_map_put(&s->objects, obj->id, obj) != 0) {
        entry_release_if_unused(s, e);
        goto out_of_memory;
    }
    object_name_from(s, obj, e);
    /* Cannot fail: store_quota_check made the owner's record. */
    if (s->quota)
        quota_charge(s->quota, obj->owner_uid, size + meta_size);
    if (replace)
        e->replacers++;
    else
        e->reserved = obj;
    if (meta_size && meta)
        memcpy(store_pointer(s, store_meta_offset(obj)), meta, meta_size);
    s->next_id++;
    owner_link(cl, obj);
    s->unsealed_count++;
    s->unsealed_bytes += size;
    *out = obj;
    return 0;

out_of_memory:
    space_give(s->space, obj->data_offset, obj->block);
    pool_free(&s->object_records, obj);
    return fail(d, SHMSTORE_ENOMEM, "daemon out of memory");
}

/* Find an unsealed object of cl by id, or say why not. */
static int find_own_unsealed(store_t *s, struct store_client *cl, uint64_t id, const char *verb,
                             struct object **out, struct store_detail *d)
{
    struct object *obj = id_map_get(&s->objects, id);
    if (!obj)
        return fail(d, SHMSTORE_ENOTFOUND, "%s: no object with id %llu", verb,
                    (unsigned long long)id);
    if (obj->state != OBJECT_UNSEALED)
        return fail(d, SHMSTORE_ESTATE, "%s: object %llu (%s) is already sealed", verb,
                    (unsigned long long)id, obj->name);
    if (obj->owner != cl)
        return fail(d, SHMSTORE_ESTATE, "%s: object %llu (%s) belongs to another client", verb,
                    (unsigned long long)id, obj->name);
    if (obj->writing)
        return fail(d, SHMSTORE_ESTATE, "%s: object %llu (%s) is being written to disk", verb,
                    (unsigned long long)id, obj->name);
    *out = obj;
    return 0;
}

/* Take w off its entry's waiter list. */
static void waiter_unlink(struct name_entry *e, struct store_waiter *w)
{
    if (w == e->waiters) {
        e->waiters = w->next;
        if (e->waiters)
            e->waiters->prev = w->prev;   /* the last stays the first's prev */
    } else {
        w->prev->next = w->next;
        if (w->next)
            w->next->prev = w->prev;
        else
            e->waiters->prev = w->prev;   /* w was the last */
    }
    w->prev = w->next = NULL;
}

static void wake_waiters(store_t *s, struct name_entry *e, struct object *obj)
{
    while (e->waiters) {
        struct store_waiter *w = e->waiters;
        waiter_unlink(e, w);
        w->entry = NULL;
        s->waiters--;
        if (pin_add(s, w->client, obj, NULL) != 0) {
            w->wake(w, NULL);   /* the waiter reports the failure to its client */
            continue;
        }
        w->wake(w, obj);
    }
}

static int seal_refused(store_t *s, const struct object *obj, struct store_detail *d)
{
    struct name_entry *e = entry_find(s, obj->name, obj->name_len);
    if (!obj->replace && e && e->sealed)
        return fail(d, SHMSTORE_EEXIST,
                    "%s: name was taken by a replacing object while this one was being written",
                    obj->name);
    return 0;
}

/* Bind an unsealed object that passed seal_refused to its name. */
static void seal_bind(store_t *s, struct object *obj)
{
    struct name_entry *e = entry_find(s, obj->name, obj->name_len);
    /* Every unsealed object's name has an entry: its create made or found one and claims it. */
    entry_unclaim(e, obj);
    struct object *previous = e->sealed;
    if (obj->owner)
        owner_unlink(obj);
    s->unsealed_count--;
    s->unsealed_bytes -= obj->size;
    obj->state = OBJECT_SEALED;
    obj->created_ns = now_ns();
    e->sealed = obj;
    s->sealed_count++;
    if (obj->expires_ns) {
        /* Its time to live starts now. Out of memory, it keeps no deadline rather than fail a
         * seal that cannot be undone here. */
        int64_t ttl_ns = obj->expires_ns;
        obj->expires_ns = 0;
        if (expiry_add(&s->expiry, obj, obj->created_ns + ttl_ns) == 0)
            obj->expires_ns = obj->created_ns + ttl_ns;
    }
    if (previous)
        object_unbind(s, previous);
    lru_add_if_evictable(s, obj);
    store_emit_event(s, previous ? STORE_EVENT_REPLACED : STORE_EVENT_SEALED, obj);
    wake_waiters(s, e, obj);
}

int store_seal(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d)
{
    struct object *obj = NULL;
    int rc = find_own_unsealed(s, cl, id, "seal", &obj, d);
    if (rc == 0)
        rc = seal_refused(s, obj, d);
    if (rc)
        return rc;
    seal_bind(s, obj);
    return 0;
}

int store_seal_begin(store_t *s, struct store_client *cl, uint64_t id, struct object **out,
                     int *durable, struct store_detail *d)
{
    struct object *obj = NULL;
    int rc = find_own_unsealed(s, cl, id, "seal", &obj, d);
    if (rc == 0)
        rc = seal_refused(s, obj, d);
    if (rc)
        return rc;
    *out = obj;
    *durable = obj->persist != 0;
    if (obj->persist)
        obj->writing = 1;
    else
        seal_bind(s, obj);
    return 0;
}

int store_seal_finish(store_t *s, struct object *obj, struct store_detail *d)
{
    obj->writing = 0;
    int rc = seal_refused(s, obj, d);
    if (rc) {
        store_seal_abandon(s, obj);
        return rc;
    }
    seal_bind(s, obj);
    return 0;
}

void store_seal_abandon(store_t *s, struct object *obj)
{
    obj->writing = 0;
    if (!obj->owner)
        unsealed_free(s, obj);
}

void store_hold(store_t *s, struct object *obj)
{
    if (obj->pins++ == 0)
        lru_remove(s, obj);
    s->pins++;
    s->holds++;
}

void store_unhold(store_t *s, struct object *obj)
{
    s->holds--;
    object_unpin(s, obj, 1);
}

void store_set_event_hook(store_t *s,
                          void (*hook)(void *ctx, enum store_event ev, const struct object *obj),
                          void *ctx)
{
    s->event_hook = hook;
    s->event_ctx = ctx;
}

void store_emit_event(store_t *s, enum store_event ev, const struct object *obj)
{
    if (s->event_hook)
        s->event_hook(s->event_ctx, ev, obj);
}

void store_set_unbind_hook(store_t *s, void (*hook)(void *ctx, const struct object *obj),
                           void *ctx)
{
    s->unbind_hook = hook;
    s->unbind_ctx = ctx;
}

int store_restore(store_t *s, const char *name, size_t name_len, uint64_t id, uint64_t size,
                  uint64_t meta_size, int64_t sealed_ns, uint64_t checksum, struct object **out,
                  struct store_detail *d)
{
    if (id == 0 || id_map_get(&s->objects, id))
        return fail(d, SHMSTORE_EEXIST, "%.*s: id %llu is taken", (int)name_len, name,
                    (unsigned long long)id);
    struct name_entry *e = entry_find(s, name, name_len);
    if (e && (e->sealed || e->reserved || e->replacers))
        return fail(d, SHMSTORE_EEXIST, "%.*s: name already taken", (int)name_len, name);
    struct object *obj = pool_alloc(&s->object_records);
    if (!obj)
        goto out_of_memory;
    e = entry_find_or_add(s, name, name_len);
    if (!e)
        goto out_of_memory;
    obj->id = id;   /* the object table reads it */
    if (id_map_put(&s->objects, id, obj) != 0) {
        entry_release_if_unused(s, e);
        goto out_of_memory;
    }
    /* The catalogue does not keep owners: a restored object is the daemon's own. */
    obj->owner_uid = (uint32_t)geteuid();
    if (s->quota && quota_charge(s->quota, obj->owner_uid, size + meta_size) != 0) {
        id_map_remove(&s->objects, id);
        entry_release_if_unused(s, e);
        goto out_of_memory;
    }
    obj->id = id;
    object_name_from(s, obj, e);
    obj->size = size;
    obj->meta_size = meta_size;
    obj->created_ns = sealed_ns;
    obj->state = OBJECT_SEALED;
    obj->persist = 1;
    obj->on_disk = 1;
    obj->checksum = checksum;
    e->sealed = obj;
    s->sealed_count++;
    disk_count(s, obj, +1);
    if (s->next_id <= id)
        s->next_id = id + 1;
    *out = obj;
    return 0;

out_of_memory:
    pool_free(&s->object_records, obj);
    return fail(d, SHMSTORE_ENOMEM, "daemon out of memory");
}

void store_forget(store_t *s, struct object *obj)
{
    struct name_entry *e = entry_find(s, obj->name, obj->name_len);
    if (!e || e->sealed != obj)
        return;
    /* Not an unbind the catalogue hears of (persist cleared, so the hook stays silent): the
     * caller deals with the entry itself. */
    obj->persist = 0;
    e->sealed = NULL;
    entry_release_if_unused(s, e);
    store_emit_event(s, STORE_EVENT_DELETED, obj);
    object_unbind(s, obj);
}

/* ---- residency ------------------------------------------------------------------------------ */

void store_clear_on_disk(store_t *s, struct object *obj)
{
    if (!obj->on_disk || !obj->block)
        return;   /* never on disk, or its memory copy is gone too: nothing to fall back on */
    disk_count(s, obj, -1);
    obj->on_disk = 0;
    obj->spilled = 0;
}

void store_set_on_disk(store_t *s, struct object *obj, uint64_t checksum)
{
    if (obj->state != OBJECT_SEALED || obj->on_disk)
        return;
    obj->checksum = checksum;
    obj->on_disk = 1;
    disk_count(s, obj, +1);
}

/* obj leaves memory: its copy on disk is whole, and nobody pins it. */
static void evict(store_t *s, struct object *obj)
{
    lru_remove(s, obj);
    disk_count(s, obj, -1);
    space_give(s->space, obj->data_offset, obj->block);
    obj->block = NULL;
    obj->data_offset = 0;
    disk_count(s, obj, +1);
    s->evictions++;
    store_emit_event(s, STORE_EVENT_SPILLED, obj);
}

/* Why nothing more can leave: what holds the memory, for the ENOSPC detail. */
struct holders {
    int can_spill;
    uint64_t pinned, pinned_bytes, unsealed_bytes, stuck, largest;
    const struct object *largest_obj;
};

static void count_holder(uint64_t id, void *value, void *arg)
{
    (void)id;
    struct holders *h = arg;
    const struct object *obj = value;
    if (!obj->block)
        return;
    const uint64_t bytes = object_bytes(obj);
    if (obj->state == OBJECT_UNSEALED) {
        h->unsealed_bytes += bytes;
    } else if (obj->pins) {
        h->pinned++;
        h->pinned_bytes += bytes;
        if (bytes >= h->largest) {
            h->largest = bytes;
            h->largest_obj = obj;
        }
    } else if (!obj->on_disk && (!h->can_spill || obj->spill_failed)) {
        h->stuck++;   /* transient, and no spill area or its spill failed */
    }
}

static void describe_holders(const store_t *s, int can_spill, char *buf, size_t len)
{
    struct holders h = {.can_spill = can_spill};
    id_map_foreach(&s->objects, count_holder, &h);
    char pb[HUMAN_SIZE_MAX], ub[HUMAN_SIZE_MAX], lb[HUMAN_SIZE_MAX];
    int at = snprintf(buf, len, "%llu objects (%s) are pinned", (unsigned long long)h.pinned,
                      human_size_exact(h.pinned_bytes, pb, sizeof pb));
    if (h.largest_obj && at >= 0 && (size_t)at < len)
        at += snprintf(buf + at, len - (size_t)at, " (the largest: '%s', %s)",
                       h.largest_obj->name, human_size_exact(h.largest, lb, sizeof lb));
    if (s->holds && at >= 0 && (size_t)at < len)
        at += snprintf(buf + at, len - (size_t)at, " (%llu of the pins are the daemon's own disk "
                       "work)", (unsigned long long)s->holds);
    if (at >= 0 && (size_t)at < len)
        snprintf(buf + at, len - (size_t)at, ", %s is held by objects being created, and %llu "
                 "unpinned objects cannot be spilled%s",
                 human_size_exact(h.unsealed_bytes, ub, sizeof ub), (unsigned long long)h.stuck,
                 can_spill ? "" : " (spill is off)");
}

/* Whether obj may be chosen to leave memory: already on disk, spillable, or deletable. */
static int may_leave(const struct object *obj, int can_spill, int can_delete)
{
    return obj->on_disk || (can_spill && !obj->spill_failed) ||
           (can_delete && !obj->persist && !obj->no_evict);
}

static void entry_unbind_sealed(store_t *s, struct name_entry *e, enum store_event why);

/* evict = lru: delete unpinned transient objects, least recently used first, until a block of
 * `bytes` is free. 1 when it is. */
static int delete_for_room(store_t *s, uint64_t bytes)
{
    for (struct object *obj = s->lru_head, *next;
         obj && space_largest_free(s->space) < bytes; obj = next) {
        next = obj->lru_next;
        if (obj->persist || obj->no_evict)
            continue;
        struct name_entry *e = entry_find(s, obj->name, obj->name_len);
        if (!e || e->sealed != obj)
            continue;
        s->evicted_deletions++;
        entry_unbind_sealed(s, e, STORE_EVENT_EVICTED);   /* unpinned: freed now */
    }
    return space_largest_free(s->space) >= bytes;
}

int store_make_room(store_t *s, uint64_t bytes, int can_spill, int can_delete,
                    struct object **spill, size_t max, size_t *n, struct store_detail *d)
{
    *n = 0;
    /* If even everything that may leave, with what is free, could not hold it, nothing moves. */
    uint64_t could_free = space_free_bytes(s->space) + s->spilling_bytes;
    for (const struct object *obj = s->lru_head; obj && could_free < bytes; obj = obj->lru_next)
        if (may_leave(obj, can_spill, can_delete))
            could_free += alloc_block_size(obj->block);
    if (could_free >= bytes) {
        /* On-disk objects first: leaving costs them nothing. The walk stops at the last of
         * them, so a cache of transient objects does not walk its whole list on every put. */
        uint64_t on_disk_in_memory = s->disk_objects - s->disk_only_objects;
        for (struct object *obj = s->lru_head, *next;
             obj && on_disk_in_memory && space_largest_free(s->space) < bytes; obj = next) {
            next = obj->lru_next;
            if (obj->on_disk) {
                on_disk_in_memory--;
                evict(s, obj);
            }
        }
        if (space_largest_free(s->space) >= bytes)
            return 0;
        /* Then transient ones, through the spill area, until the largest free block and what is
         * on its way out could hold the block. The free space may be in pieces, so that is
         * counted from the largest free block, not from all that is free: a round whose spills
         * leave the pieces apart is followed by another, until the block exists or nothing
         * more can leave (every spilled object can leave at once the next time). */
        uint64_t coming = space_largest_free(s->space) + s->spilling_bytes;
        for (struct object *obj = s->lru_head, *next;
             can_spill && obj && *n < max && coming < bytes; obj = next) {
            next = obj->lru_next;
            if (obj->on_disk || obj->spill_failed)
                continue;
            obj->spilling = 1;
            store_hold(s, obj);
            s->spilling_bytes += object_bytes(obj);
            coming += alloc_block_size(obj->block);
            spill[(*n)++] = obj;
        }
        if (*n > 0 || s->spilling_bytes > 0)
            return STORE_ROOM_PENDING;
        if (can_delete && delete_for_room(s, bytes))
            return 0;
    }
    char asked[HUMAN_SIZE_MAX], avail[HUMAN_SIZE_MAX], why[400];
    describe_holders(s, can_spill, why, sizeof why);
    return fail(d, SHMSTORE_ENOSPC, "store full: asked %s, %s free of %llu, and nothing more can "
                "leave memory: %s; release or delete objects, or " GROW_HINT,
                human_size_exact(bytes, asked, sizeof asked),
                human_size_exact(space_free_bytes(s->space), avail, sizeof avail),
                (unsigned long long)space_taken(s->space), why);
}

int store_spill_done(store_t *s, struct object *obj, int ok, uint64_t checksum)
{
    obj->spilling = 0;
    s->spilling_bytes -= object_bytes(obj);
    int useless = !ok || obj->state != OBJECT_SEALED;
    if (!ok) {
        obj->spill_failed = 1;
    } else if (!useless) {
        obj->spilled = 1;
        obj->checksum = checksum;
        obj->on_disk = 1;
        disk_count(s, obj, +1);
        if (obj->pins == 1)   /* only the spill's hold: nobody got it meanwhile */
            evict(s, obj);
    }
    store_unhold(s, obj);
    return useless;
}

int store_load_begin(store_t *s, struct object *obj, struct store_detail *d)
{
    uint64_t address;
    alloc_block_t *block = space_take(s->space, object_bytes(obj), &address);
    if (!block) {
        char asked[HUMAN_SIZE_MAX];
        return fail(d, SHMSTORE_ENOSPC, "no room to read '%s' (%s) back into memory", obj->name,
                    human_size_exact(object_bytes(obj), asked, sizeof asked));
    }
    disk_count(s, obj, -1);
    obj->block = block;
    obj->data_offset = address;
    obj->loading = 1;
    disk_count(s, obj, +1);
    store_hold(s, obj);
    return 0;
}

void store_load_done(store_t *s, struct object *obj, int ok)
{
    obj->loading = 0;
    if (!ok) {
        disk_count(s, obj, -1);
        space_give(s->space, obj->data_offset, obj->block);
        obj->block = NULL;
        obj->data_offset = 0;
        disk_count(s, obj, +1);
    } else if (obj->state == OBJECT_SEALED) {   /* not when deleted meanwhile: that was told */
        store_emit_event(s, STORE_EVENT_RESTORED, obj);
    }
    store_unhold(s, obj);
}

void store_set_spill_free_hook(store_t *s, void (*hook)(void *ctx, uint64_t id), void *ctx)
{
    s->spill_free_hook = hook;
    s->spill_free_ctx = ctx;
}

uint64_t store_evicted_deletions(const store_t *s)
{
    return s->evicted_deletions;
}

uint64_t store_spilling_bytes(const store_t *s)
{
    return s->spilling_bytes;
}

uint64_t store_evictions(const store_t *s)
{
    return s->evictions;
}

int store_put(store_t *s, struct store_client *cl, const char *name, size_t name_len,
              const void *data, size_t size, const void *meta, size_t meta_size,
              unsigned flags, struct object **out, struct store_detail *d)
{
    struct object *obj;
    int rc = store_create(s, cl, name, name_len, size, meta, meta_size, flags, &obj, d);
    if (rc)
        return rc;
    if (size)
        memcpy(store_pointer(s, obj->data_offset), data, size);
    rc = store_seal(s, cl, obj->id, d);
    if (rc) {
        unsealed_free(s, obj);
        return rc;
    }
    *out = obj;
    return 0;
}

int store_abort(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d)
{
    struct object *obj = NULL;
    int rc = find_own_unsealed(s, cl, id, "abort", &obj, d);
    if (rc)
        return rc;
    unsealed_free(s, obj);
    return 0;
}

struct object *store_lookup(store_t *s, const char *name, size_t name_len)
{
    struct name_entry *e = entry_find(s, name, name_len);
    return e ? e->sealed : NULL;
}

int store_get(store_t *s, struct store_client *cl, const char *name, size_t name_len,
              struct object **out, struct store_detail *d)
{
    struct object *obj = store_lookup(s, name, name_len);
    if (!obj)
        return fail(d, SHMSTORE_ENOTFOUND, "%.*s: not found", (int)name_len, name);
    int rc = pin_add(s, cl, obj, d);
    if (rc)
        return rc;
    *out = obj;
    return 0;
}

int store_wait(store_t *s, const char *name, size_t name_len, struct store_waiter *w,
               struct store_detail *d)
{
    struct name_entry *e = entry_find_or_add(s, name, name_len);
    if (!e)
        return fail(d, SHMSTORE_ENOMEM, "daemon out of memory");
    w->entry = e;
    w->next = NULL;
    if (e->waiters) {
        w->prev = e->waiters->prev;
        w->prev->next = w;
        e->waiters->prev = w;
    } else {
        w->prev = w;
        e->waiters = w;
    }
    s->waiters++;
    return 0;
}

void store_wait_cancel(store_t *s, struct store_waiter *w)
{
    struct name_entry *e = w->entry;
    if (!e)
        return;
    waiter_unlink(e, w);
    w->entry = NULL;
    s->waiters--;
    entry_release_if_unused(s, e);
}

const char *store_waiter_name(const store_t *s, const struct store_waiter *w, size_t *len)
{
    if (!w->entry)
        return NULL;
    return entry_name(s, w->entry, len);
}

int store_release(store_t *s, struct store_client *cl, uint64_t id, struct store_detail *d)
{
    struct pin *p = id_map_get(&cl->pins, id);
    if (!p)
        return fail(d, SHMSTORE_ESTATE, "release: object %llu is not pinned by this client",
                    (unsigned long long)id);
    struct object *obj = p->obj;
    if (--p->count == 0) {
        id_map_remove(&cl->pins, id);
        free(p);
    }
    cl->pin_count--;
    object_unpin(s, obj, 1);
    return 0;
}

/* Unbind the entry's sealed object, telling the event hook why; the entry itself goes if nothing
 * else holds it. */
static void entry_unbind_sealed(store_t *s, struct name_entry *e, enum store_event why)
{
    struct object *obj = e->sealed;
    e->sealed = NULL;
    entry_release_if_unused(s, e);
    store_emit_event(s, why, obj);   /* before the unbind, which may free it */
    object_unbind(s, obj);
}

int store_delete(store_t *s, const char *name, size_t name_len, struct store_detail *d)
{
    struct name_entry *e = entry_find(s, name, name_len);
    if (!e || !e->sealed)
        return fail(d, SHMSTORE_ENOTFOUND, "%.*s: not found", (int)name_len, name);
    entry_unbind_sealed(s, e, STORE_EVENT_DELETED);
    return 0;
}

uint64_t store_delete_matching(store_t *s, const char *pattern)
{
    /* Every name the pattern matches starts with the bytes before its first special character
     * ('*', '?', '[', and '\\' which escapes), and names sort bytewise, so those names form one
     * run of the map that starts at that prefix: deleting job7's objects visits job7's names,
     * not the whole store. */
    const size_t prefix_len = strcspn(pattern, "*?[\\");
    if (prefix_len > SHMSTORE_NAME_MAX)
        return 0;   /* longer than any name */
    /* The map's copy of a name dies with its entry, so the walk goes on from a copy of its own. */
    char cursor[SHMSTORE_NAME_MAX + 1];
    size_t cursor_len = prefix_len;
    memcpy(cursor, pattern, prefix_len);
    uint64_t deleted = 0;
    /* name_map_next starts strictly after the cursor, so a name equal to the prefix is first. */
    struct name_entry *e = prefix_len ? entry_find(s, cursor, cursor_len) : NULL;
    const char *after = prefix_len ? cursor : NULL;
    for (;;) {
        if (e && e->sealed && fnmatch(pattern, entry_name(s, e, NULL), 0) == 0) {
            entry_unbind_sealed(s, e, STORE_EVENT_DELETED);
            deleted++;
        }
        void *value;
        const char *key = name_map_next(s->names, after, cursor_len, &cursor_len, &value);
        if (!key || cursor_len < prefix_len || memcmp(key, pattern, prefix_len) != 0 ||
            cursor_len > SHMSTORE_NAME_MAX)
            return deleted;
        memcpy(cursor, key, cursor_len);
        after = cursor;
        e = value;
    }
}

struct object *store_next_sealed(store_t *s, const char *after, size_t after_len,
                                 unsigned *budget, const char **resume_name, size_t *resume_len)
{
    const char *key = after;
    size_t key_len = after_len;
    void *value;
    while (*budget > 0) {
        key = name_map_next(s->names, key, key_len, &key_len, &value);
        if (!key)
            return NULL;
        (*budget)--;
        struct name_entry *e = value;
        if (e->sealed)
            return e->sealed;
        *resume_name = key;
        *resume_len = key_len;
    }
    return NULL;
}

void store_get_stats(const store_t *s, struct store_stats *out)
{
    out->capacity_bytes = space_max(s->space);
    out->taken_bytes = space_taken(s->space);
    out->segments = space_segments(s->space);
    out->used_bytes = space_used(s->space);
    out->free_bytes = store_free_bytes(s);
    out->largest_free_bytes = space_largest_free(s->space);
    out->objects = s->sealed_count;
    out->unsealed_objects = s->unsealed_count;
    out->unsealed_bytes = s->unsealed_bytes;
    out->deleted_pinned = s->deleted_pinned;
    out->pins = s->pins;
    out->waiters = s->waiters;
    out->disk_objects = s->disk_objects;
    out->disk_bytes = s->disk_bytes;
    out->disk_only_objects = s->disk_only_objects;
}

/* ---- quotas and time to live ---------------------------------------------------------------- */

void store_set_quota(store_t *s, quota_t *q)
{
    s->quota = q;
}

int store_quota_check(store_t *s, const struct store_client *cl, uint64_t size,
                      uint64_t meta_size, struct store_detail *d)
{
    if (!s->quota)
        return 0;
    char detail[sizeof d->text];
    uint64_t bytes = size > UINT64_MAX - meta_size ? UINT64_MAX : size + meta_size;
    int rc = quota_check(s->quota, cl->uid, bytes, detail, sizeof detail);
    return rc ? fail(d, rc, "%s", detail) : 0;
}

int store_set_ttl(store_t *s, struct object *obj, uint64_t ttl_ms)
{
    /* Beyond about 292 years of nanoseconds the deadline would overflow: it never comes. */
    const int64_t ttl_ns = ttl_ms > (uint64_t)INT64_MAX / 2000000u ? INT64_MAX / 2
                                                                   : (int64_t)ttl_ms * 1000000;
    if (obj->state == OBJECT_UNSEALED) {
        obj->expires_ns = ttl_ns;   /* seal_bind starts it */
        return 0;
    }
    expiry_remove(&s->expiry, obj->expiry_slot);
    const int64_t at = obj->created_ns + ttl_ns;
    if (expiry_add(&s->expiry, obj, at) != 0) {
        obj->expires_ns = 0;
        return SHMSTORE_ENOMEM;
    }
    obj->expires_ns = at;
    return 0;
}

uint64_t store_expire(store_t *s, int64_t now_ns, uint64_t max)
{
    uint64_t expired = 0;
    struct object *obj;
    while (expired < max && (obj = expiry_pop_due(&s->expiry, now_ns))) {
        struct name_entry *e = entry_find(s, obj->name, obj->name_len);
        if (!e || e->sealed != obj)
            continue;   /* cannot happen: unbinding takes an object out of the heap */
        entry_unbind_sealed(s, e, STORE_EVENT_EXPIRED);
        s->expirations++;
        expired++;
    }
    return expired;
}

int64_t store_next_expiry(const store_t *s)
{
    return expiry_next(&s->expiry);
}

uint64_t store_expirations(const store_t *s)
{
    return s->expirations;
}

/* ---- consistency check --------------------------------------------------------------------- */

struct check_ctx {
    const store_t *s;
    char *why;
    size_t whylen;
    int bad;
    uint64_t blocks, block_bytes, object_pins, sealed, deleted, unsealed, unsealed_bytes;
    uint64_t unsealed_replacing, unsealed_ownerless, client_pins;
    uint64_t evictable, disk_objects, disk_bytes, disk_only, spilling_bytes;
    uint64_t charged_bytes, expiring;      /* payload + metadata of every object; in the heap */
};

static void check_fail(struct check_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep the first violation: later ones are usually its consequences. */
static void check_fail(struct check_ctx *ctx, const char *fmt, ...)
{
    if (ctx->bad++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->why, ctx->whylen, fmt, ap);
    va_end(ap);
}

static int check_client_known(const store_t *s, const struct store_client *cl)
{
    for (const struct store_client *c = s->clients; c; c = c->next)
        if (c == cl)
            return 1;
    return 0;
}

static void check_object(uint64_t id, void *value, void *arg)
{
    struct check_ctx *ctx = arg;
    const struct object *obj = value;
    if (obj->id != id || !obj->name || strlen(obj->name) != obj->name_len) {
        check_fail(ctx, "object %llu: record does not match its id or name",
                   (unsigned long long)id);
        return;
    }
    /* Its name is its entry's: the same bytes, not a copy. */
    const struct name_entry *named = name_map_get(ctx->s->names, obj->name, obj->name_len);
    if (!named || entry_name(ctx->s, named, NULL) != obj->name)
        check_fail(ctx, "object %llu (%s) does not point at its name's entry",
                   (unsigned long long)id, obj->name);
    uint64_t bytes = object_bytes(obj);
    if (!obj->block) {
        /* Only a sealed object with a whole copy on disk may be out of memory, unpinned. */
        if (obj->state != OBJECT_SEALED || !obj->on_disk || obj->pins || obj->loading ||
            obj->spilling)
            check_fail(ctx, "object %llu (%s) is out of memory but not a sealed, unpinned "
                       "object on disk", (unsigned long long)id, obj->name);
    } else if (alloc_block_offset(obj->block) != SHM_ADDRESS_OFFSET(obj->data_offset) ||
               alloc_block_size(obj->block) < bytes) {
        check_fail(ctx, "object %llu (%s): %llu bytes at %llu do not fit its block",
                   (unsigned long long)id, obj->name, (unsigned long long)bytes,
                   (unsigned long long)obj->data_offset);
    }
    if (obj->block) {
        ctx->blocks++;
        ctx->block_bytes += alloc_block_size(obj->block);
    }
    if (obj->spilling)
        ctx->spilling_bytes += bytes;
    if (obj->state == OBJECT_SEALED && obj->on_disk) {
        ctx->disk_objects++;
        ctx->disk_bytes += obj->size + obj->meta_size;
        ctx->disk_only += obj->block == NULL;
    }
    const int evictable = obj->state == OBJECT_SEALED && obj->block && !obj->pins &&
                          !obj->loading && !obj->spilling;
    ctx->evictable += evictable;
    if (evictable != (int)obj->in_lru)
        check_fail(ctx, "object %llu (%s) is %s the eviction list but should%s be",
                   (unsigned long long)id, obj->name, evictable ? "not on" : "on",
                   evictable ? "" : " not");
    ctx->object_pins += obj->pins;
    ctx->charged_bytes += obj->size + obj->meta_size;
    ctx->expiring += obj->expiry_slot != 0;
    if (obj->expiry_slot && (obj->state != OBJECT_SEALED || obj->expiry_slot >
                             expiry_count(&ctx->s->expiry) ||
                             ctx->s->expiry.entries[obj->expiry_slot - 1].item != obj ||
                             ctx->s->expiry.entries[obj->expiry_slot - 1].at_ns !=
                                 obj->expires_ns))
        check_fail(ctx, "object %llu (%s) has a wrong place in the expiry heap",
                   (unsigned long long)id, obj->name);
    const struct name_entry *e = name_map_get(ctx->s->names, obj->name, obj->name_len);
    switch (obj->state) {
    case OBJECT_SEALED:
        ctx->sealed++;
        if (!e || e->sealed != obj || obj->owner)
            check_fail(ctx, "sealed object %llu (%s) is not the one bound to its name",
                       (unsigned long long)id, obj->name);
        break;
    case OBJECT_DELETED:
        ctx->deleted++;
        if (obj->pins == 0 || (e && e->sealed == obj) || obj->owner)
            check_fail(ctx, "deleted object %llu (%s) is unpinned or still bound",
                       (unsigned long long)id, obj->name);
        break;
    case OBJECT_UNSEALED:
        ctx->unsealed++;
        ctx->unsealed_bytes += obj->size;
        ctx->unsealed_replacing += obj->replace;
        /* A durable seal being written outlives its client: ownerless, but only then. */
        ctx->unsealed_ownerless += obj->owner == NULL;
        if (obj->pins || (obj->owner ? !check_client_known(ctx->s, obj->owner) : !obj->writing))
            check_fail(ctx, "unsealed object %llu (%s) is pinned or has no live owner",
                       (unsigned long long)id, obj->name);
        else if (!e || (!obj->replace && e->reserved != obj))
            check_fail(ctx, "unsealed object %llu (%s) does not hold its name",
                       (unsigned long long)id, obj->name);
        break;
    default:
        check_fail(ctx, "object %llu has state %d", (unsigned long long)id, (int)obj->state);
    }
}

struct check_pins_ctx {
    struct check_ctx *ctx;
    uint64_t count;
};

static void check_pin(uint64_t id, void *value, void *arg)
{
    struct check_pins_ctx *pc = arg;
    const struct pin *p = value;
    if (p->count == 0 || id_map_get(&pc->ctx->s->objects, id) != p->obj ||
        p->obj->pins < p->count || p->obj->state == OBJECT_UNSEALED)
        check_fail(pc->ctx, "pin on %llu: no such pinnable object, or more pins than it has",
                   (unsigned long long)id);
    pc->count += p->count;
}

static void check_clients(struct check_ctx *ctx)
{
    uint64_t unsealed = 0;
    for (const struct store_client *cl = ctx->s->clients; cl; cl = cl->next) {
        struct check_pins_ctx pc = {ctx, 0};
        id_map_foreach(&cl->pins, check_pin, &pc);
        if (pc.count != cl->pin_count)
            check_fail(ctx, "client %llu: pin_count %llu, its pins add up to %llu",
                       (unsigned long long)cl->id, (unsigned long long)cl->pin_count,
                       (unsigned long long)pc.count);
        ctx->client_pins += cl->pin_count;
        uint64_t count = 0, bytes = 0, charge = 0;
        for (const struct object *obj = cl->unsealed; obj; obj = obj->owner_next) {
            if (obj->owner != cl || obj->state != OBJECT_UNSEALED ||
                id_map_get(&ctx->s->objects, obj->id) != obj) {
                check_fail(ctx, "client %llu lists object %llu that is not its unsealed object",
                           (unsigned long long)cl->id, (unsigned long long)obj->id);
                return;   /* the list itself may be broken: do not walk on */
            }
            count++;
            bytes += obj->size;
            charge += obj->size + obj->meta_size;
        }
        if (count != cl->unsealed_count || bytes != cl->unsealed_bytes ||
            charge != cl->unsealed_charge)
            check_fail(ctx, "client %llu: unsealed count/bytes/charge %llu/%llu/%llu, its list "
                       "adds up to %llu/%llu/%llu", (unsigned long long)cl->id,
                       (unsigned long long)cl->unsealed_count,
                       (unsigned long long)cl->unsealed_bytes,
                       (unsigned long long)cl->unsealed_charge, (unsigned long long)count,
                       (unsigned long long)bytes, (unsigned long long)charge);
        unsealed += count;
    }
    if (unsealed + ctx->unsealed_ownerless != ctx->unsealed)
        check_fail(ctx, "clients own %llu unsealed objects (and %llu being written have none), "
                   "the store has %llu", (unsigned long long)unsealed,
                   (unsigned long long)ctx->unsealed_ownerless,
                   (unsigned long long)ctx->unsealed);
}

static void check_names(struct check_ctx *ctx, uint64_t *bound, uint64_t *replacers,
                        uint64_t *waiters, uint64_t *named)
{
    const char *key = NULL;
    size_t key_len = 0;
    void *value;
    while ((key = name_map_next(ctx->s->names, key, key_len, &key_len, &value))) {
        const struct name_entry *e = value;
        if (!e->sealed && !e->reserved && !e->replacers && !e->waiters && !e->objects)
            check_fail(ctx, "entry %.*s is unused but kept", (int)key_len, key);
        *named += e->objects;
        const struct object *objs[2] = {e->sealed, e->reserved};
        for (int i = 0; i < 2; i++)
            if (objs[i] && (objs[i]->name_len != key_len ||
                            memcmp(objs[i]->name, key, key_len) != 0 ||
                            objs[i]->state != (i == 0 ? OBJECT_SEALED : OBJECT_UNSEALED) ||
                            id_map_get(&ctx->s->objects, objs[i]->id) != objs[i]))
                check_fail(ctx, "name %.*s leads to object %llu of another name or state",
                           (int)key_len, key, (unsigned long long)objs[i]->id);
        *bound += e->sealed != NULL;
        *replacers += e->replacers;
        const struct store_waiter *prev = NULL;
        for (const struct store_waiter *w = e->waiters; w; prev = w, w = w->next) {
            if (w->entry != e || (prev && w->prev != prev)) {
                check_fail(ctx, "waiter list of %.*s is broken", (int)key_len, key);
                break;
            }
            ++*waiters;
        }
        if (e->waiters && e->waiters->prev != prev)
            check_fail(ctx, "waiter list of %.*s: its first's prev is not its last", (int)key_len,
                       key);
    }
}

int store_check(const store_t *s, char *why, size_t whylen)
{
    struct check_ctx ctx = {.s = s, .why = why, .whylen = whylen};
    const char *sub_why = NULL;
    if (space_check(s->space, &sub_why) != 0) {
        check_fail(&ctx, "allocator: %s", sub_why);
        return -1;
    }
    if (name_map_check(s->names, &sub_why) != 0) {
        check_fail(&ctx, "name map: %s", sub_why);
        return -1;
    }
    id_map_foreach(&s->objects, check_object, &ctx);
    check_clients(&ctx);
    uint64_t bound = 0, replacers = 0, waiters = 0, named = 0;
    check_names(&ctx, &bound, &replacers, &waiters, &named);
    if (named != id_map_count(&s->objects))
        check_fail(&ctx, "name entries count %llu objects, the store has %llu",
                   (unsigned long long)named, (unsigned long long)id_map_count(&s->objects));

    struct store_stats st;
    store_get_stats(s, &st);
    if (ctx.blocks != space_blocks(s->space) || ctx.block_bytes != st.used_bytes)
        check_fail(&ctx, "allocator has %llu blocks, %llu bytes used; objects hold %llu, %llu",
                   (unsigned long long)space_blocks(s->space), (unsigned long long)st.used_bytes,
                   (unsigned long long)ctx.blocks, (unsigned long long)ctx.block_bytes);
    if (st.pins != ctx.object_pins || st.pins != ctx.client_pins + s->holds)
        check_fail(&ctx, "pins: stats %llu, objects %llu, clients %llu and holds %llu",
                   (unsigned long long)st.pins, (unsigned long long)ctx.object_pins,
                   (unsigned long long)ctx.client_pins, (unsigned long long)s->holds);
    uint64_t lru_length = 0;
    for (const struct object *obj = s->lru_head; obj; obj = obj->lru_next)
        if (++lru_length > ctx.evictable)
            break;
    if (lru_length != ctx.evictable)
        check_fail(&ctx, "eviction list holds %llu objects, %llu are evictable",
                   (unsigned long long)lru_length, (unsigned long long)ctx.evictable);
    if (st.disk_objects != ctx.disk_objects || st.disk_bytes != ctx.disk_bytes ||
        st.disk_only_objects != ctx.disk_only || s->spilling_bytes != ctx.spilling_bytes)
        check_fail(&ctx, "disk objects/bytes/only/spilling: stats %llu/%llu/%llu/%llu, found "
                   "%llu/%llu/%llu/%llu", (unsigned long long)st.disk_objects,
                   (unsigned long long)st.disk_bytes, (unsigned long long)st.disk_only_objects,
                   (unsigned long long)s->spilling_bytes, (unsigned long long)ctx.disk_objects,
                   (unsigned long long)ctx.disk_bytes, (unsigned long long)ctx.disk_only,
                   (unsigned long long)ctx.spilling_bytes);
    if (st.objects != ctx.sealed || bound != ctx.sealed)
        check_fail(&ctx, "sealed objects: stats %llu, objects %llu, bound names %llu",
                   (unsigned long long)st.objects, (unsigned long long)ctx.sealed,
                   (unsigned long long)bound);
    if (st.unsealed_objects != ctx.unsealed || st.unsealed_bytes != ctx.unsealed_bytes ||
        replacers != ctx.unsealed_replacing)
        check_fail(&ctx, "unsealed objects/bytes/replacing: stats %llu/%llu/%llu, objects "
                   "%llu/%llu/%llu", (unsigned long long)st.unsealed_objects,
                   (unsigned long long)st.unsealed_bytes, (unsigned long long)replacers,
                   (unsigned long long)ctx.unsealed, (unsigned long long)ctx.unsealed_bytes,
                   (unsigned long long)ctx.unsealed_replacing);
    if (st.deleted_pinned != ctx.deleted || st.waiters != waiters)
        check_fail(&ctx, "deleted-pinned/waiters: stats %llu/%llu, found %llu/%llu",
                   (unsigned long long)st.deleted_pinned, (unsigned long long)st.waiters,
                   (unsigned long long)ctx.deleted, (unsigned long long)waiters);
    uint64_t charged_objects = 0, charged_bytes = 0;
    if (s->quota)
        quota_totals(s->quota, &charged_objects, &charged_bytes);
    if (s->quota && (charged_objects != id_map_count(&s->objects) ||
                     charged_bytes != ctx.charged_bytes))
        check_fail(&ctx, "quotas charge %llu objects, %llu bytes; the store has %llu, %llu",
                   (unsigned long long)charged_objects, (unsigned long long)charged_bytes,
                   (unsigned long long)id_map_count(&s->objects),
                   (unsigned long long)ctx.charged_bytes);
    if (ctx.expiring != expiry_count(&s->expiry))
        check_fail(&ctx, "expiry heap holds %u objects, %llu say they are in it",
                   expiry_count(&s->expiry), (unsigned long long)ctx.expiring);
    return ctx.bad ? -1 : 0;
}
