/*
 * test_store.c — unit tests for the object store (daemon/core/store.{h,c}): objects, names, pins,
 * waiters and their lifecycle, with no sockets in the way.
 *
 * Each test gets a fresh store over a 16 MiB private "arena" buffer and three store clients;
 * the teardown drops the clients and frees the store, so ASan or valgrind see any record the
 * store forgets to free. The targeted tests pin down the rules of docs/architecture.md, "Object
 * lifecycle", one by one (name reservation, REPLACE, seal/abort ownership, pins, delete while
 * pinned, client drop, waiters, ENOSPC, sizes and alignment, the resumable name-ordered walk,
 * delete by pattern, the two-step seal of durable objects and restore). The churn test drives the store
 * with a deterministic random mix of every operation across three clients, keeps a shadow model
 * of what must exist, and compares the store's statistics, bindings and payload bytes with the
 * model after every step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmstore.h"
#include "store.h"

#define ARENA_SIZE (16u * 1024u * 1024u)
#define NCLIENTS 3

struct fixture {
    uint8_t *arena;
    store_t *s;
    struct store_client cl[NCLIENTS];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    void *mem = NULL;
    if (posix_memalign(&mem, 4096, ARENA_SIZE) != 0) {
        free(f);
        return -1;
    }
    f->arena = mem;
    memset(f->arena, 0xEE, ARENA_SIZE);
    f->s = store_new(f->arena, ARENA_SIZE);
    if (!f->s) {
        free(f->arena);
        free(f);
        return -1;
    }
    for (int i = 0; i < NCLIENTS; i++)
        store_client_init(f->s, &f->cl[i]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < NCLIENTS; i++)
        store_client_drop(f->s, &f->cl[i]);
    store_free(f->s);
    free(f->arena);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t r64(uint64_t n)
{
    return (n + 63u) & ~(uint64_t)63u;
}

/* Bytes the allocator reserves for an object of this shape (payload, then meta at 64). */
static uint64_t footprint(uint64_t size, uint64_t meta_size)
{
    uint64_t total = meta_size ? r64(size) + meta_size : size;
    return r64(total ? total : 1);
}

static struct store_stats stats(store_t *s)
{
    struct store_stats st;
    memset(&st, 0xAB, sizeof st);
    store_get_stats(s, &st);
    return st;
}

static void assert_stats_equal(const struct store_stats *a, const struct store_stats *b)
{
    assert_int_equal(a->capacity_bytes, b->capacity_bytes);
    assert_int_equal(a->used_bytes, b->used_bytes);
    assert_int_equal(a->free_bytes, b->free_bytes);
    assert_int_equal(a->largest_free_bytes, b->largest_free_bytes);
    assert_int_equal(a->objects, b->objects);
    assert_int_equal(a->unsealed_objects, b->unsealed_objects);
    assert_int_equal(a->unsealed_bytes, b->unsealed_bytes);
    assert_int_equal(a->deleted_pinned, b->deleted_pinned);
    assert_int_equal(a->pins, b->pins);
    assert_int_equal(a->waiters, b->waiters);
}

static int create_s(struct fixture *f, int c, const char *name, uint64_t size, const char *meta,
                    unsigned replace, struct object **out)
{
    struct store_detail d = {{0}};
    return store_create(f->s, &f->cl[c], name, strlen(name), size, meta,
                        meta ? strlen(meta) : 0, replace, out, &d);
}

static int put_s(struct fixture *f, int c, const char *name, const char *data, const char *meta,
                 unsigned replace, struct object **out)
{
    struct store_detail d = {{0}};
    return store_put(f->s, &f->cl[c], name, strlen(name), data, data ? strlen(data) : 0, meta,
                     meta ? strlen(meta) : 0, replace, out, &d);
}

static int seal_s(struct fixture *f, int c, uint64_t id)
{
    struct store_detail d = {{0}};
    return store_seal(f->s, &f->cl[c], id, &d);
}

static int abort_s(struct fixture *f, int c, uint64_t id)
{
    struct store_detail d = {{0}};
    return store_abort(f->s, &f->cl[c], id, &d);
}

static int get_s(struct fixture *f, int c, const char *name, struct object **out)
{
    struct store_detail d = {{0}};
    return store_get(f->s, &f->cl[c], name, strlen(name), out, &d);
}

static int release_s(struct fixture *f, int c, uint64_t id)
{
    struct store_detail d = {{0}};
    return store_release(f->s, &f->cl[c], id, &d);
}

static int delete_s(struct fixture *f, const char *name)
{
    struct store_detail d = {{0}};
    return store_delete(f->s, name, strlen(name), &d);
}

static struct object *lookup_s(struct fixture *f, const char *name)
{
    return store_lookup(f->s, name, strlen(name));
}

static int wait_s(struct fixture *f, const char *name, struct store_waiter *w)
{
    struct store_detail d = {{0}};
    return store_wait(f->s, name, strlen(name), w, &d);
}

/* Names visited by a full walk of store_next_sealed, joined by ',' into buf. */
static const char *walk(store_t *s, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *after = NULL;
    size_t after_len = 0;
    for (;;) {
        unsigned budget = 1000;
        const char *resume = NULL;
        size_t resume_len = 0;
        struct object *o = store_next_sealed(s, after, after_len, &budget, &resume, &resume_len);
        if (!o) {
            assert_true(budget > 0);   /* a budget of 1000 never runs out in these tests */
            return buf;
        }
        assert_int_equal(o->state, OBJECT_SEALED);
        if (buf[0])
            strncat(buf, ",", len - strlen(buf) - 1);
        strncat(buf, o->name, len - strlen(buf) - 1);
        after = o->name;
        after_len = o->name_len;
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void test_lifecycle_and_stats(void **state)
{
    struct fixture *f = *state;
    struct store_stats st = stats(f->s);
    assert_int_equal(st.capacity_bytes, ARENA_SIZE);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.free_bytes, ARENA_SIZE);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.waiters, 0);

    struct object *o = NULL;
    assert_int_equal(create_s(f, 0, "a", 100, "m", 0, &o), 0);
    assert_non_null(o);
    assert_true(o->id != 0);
    assert_string_equal(o->name, "a");
    assert_int_equal(o->name_len, 1);
    assert_int_equal(o->size, 100);
    assert_int_equal(o->meta_size, 1);
    assert_int_equal(o->state, OBJECT_UNSEALED);
    assert_int_equal(o->pins, 0);
    assert_true(o->created_ns > 0);
    assert_ptr_equal(o->owner, &f->cl[0]);
    assert_int_equal(f->cl[0].unsealed_count, 1);
    assert_int_equal(f->cl[0].unsealed_bytes, 100);

    st = stats(f->s);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.unsealed_objects, 1);
    assert_int_equal(st.unsealed_bytes, 100);
    assert_int_equal(st.used_bytes, footprint(100, 1));
    assert_int_equal(st.free_bytes, ARENA_SIZE - footprint(100, 1));

    /* Unsealed objects are invisible. */
    assert_null(lookup_s(f, "a"));
    struct object *g = NULL;
    assert_int_equal(get_s(f, 1, "a", &g), SHMSTORE_ENOTFOUND);
    assert_int_equal(delete_s(f, "a"), SHMSTORE_ENOTFOUND);

    memset(f->arena + o->data_offset, 'x', 100);
    assert_int_equal(seal_s(f, 0, o->id), 0);
    assert_int_equal(o->state, OBJECT_SEALED);
    assert_null(o->owner);
    assert_int_equal(f->cl[0].unsealed_count, 0);
    assert_int_equal(f->cl[0].unsealed_bytes, 0);
    assert_ptr_equal(lookup_s(f, "a"), o);
    st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.unsealed_bytes, 0);
    assert_int_equal(st.used_bytes, footprint(100, 1));

    assert_int_equal(get_s(f, 1, "a", &g), 0);
    assert_ptr_equal(g, o);
    assert_int_equal(o->pins, 1);
    assert_int_equal(f->cl[1].pin_count, 1);
    assert_int_equal(stats(f->s).pins, 1);
    assert_int_equal(f->arena[g->data_offset + 99], 'x');
    assert_int_equal(f->arena[store_meta_offset(g)], 'm');

    assert_int_equal(release_s(f, 1, o->id), 0);
    assert_int_equal(o->pins, 0);
    assert_int_equal(f->cl[1].pin_count, 0);
    assert_int_equal(stats(f->s).pins, 0);

    uint64_t old_id = o->id;
    assert_int_equal(delete_s(f, "a"), 0);
    assert_null(lookup_s(f, "a"));
    st = stats(f->s);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(delete_s(f, "a"), SHMSTORE_ENOTFOUND);

    /* Ids are never reused, and the name is free again. */
    assert_int_equal(put_s(f, 2, "a", "again", NULL, 0, &o), 0);
    assert_true(o->id > old_id);
    assert_int_equal(seal_s(f, 2, old_id), SHMSTORE_ENOTFOUND);
}

static void test_abort_frees_object_and_name(void **state)
{
    struct fixture *f = *state;
    struct object *o;
    assert_int_equal(create_s(f, 0, "ab", 5000, "meta", 0, &o), 0);
    uint64_t id = o->id;
    assert_int_equal(abort_s(f, 0, id), 0);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.unsealed_bytes, 0);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(f->cl[0].unsealed_count, 0);
    assert_null(f->cl[0].unsealed);
    /* The id is gone and the name is free for anyone. */
    assert_int_equal(abort_s(f, 0, id), SHMSTORE_ENOTFOUND);
    assert_int_equal(seal_s(f, 0, id), SHMSTORE_ENOTFOUND);
    assert_int_equal(create_s(f, 1, "ab", 10, NULL, 0, &o), 0);
    assert_int_equal(seal_s(f, 1, o->id), 0);
}

static void test_put_copies_data_and_meta(void **state)
{
    struct fixture *f = *state;
    uint8_t data[3000], meta[77];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < sizeof meta; i++)
        meta[i] = (uint8_t)(0xA0 ^ i);
    struct store_detail d = {{0}};
    struct object *o = NULL;
    assert_int_equal(store_put(f->s, &f->cl[0], "p", 1, data, sizeof data, meta, sizeof meta, 0,
                               &o, &d), 0);
    assert_non_null(o);
    assert_int_equal(o->state, OBJECT_SEALED);
    assert_int_equal(o->size, sizeof data);
    assert_int_equal(o->meta_size, sizeof meta);
    assert_int_equal(o->data_offset % 64, 0);
    assert_int_equal(store_meta_offset(o) % 64, 0);
    assert_true(store_meta_offset(o) >= o->data_offset + sizeof data);
    assert_true(store_meta_offset(o) + sizeof meta <= ARENA_SIZE);
    assert_memory_equal(f->arena + o->data_offset, data, sizeof data);
    assert_memory_equal(f->arena + store_meta_offset(o), meta, sizeof meta);
    assert_ptr_equal(lookup_s(f, "p"), o);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.used_bytes, footprint(sizeof data, sizeof meta));
    assert_int_equal(f->cl[0].unsealed_count, 0);
    assert_int_equal(o->pins, 0);   /* put does not pin */

    /* A second put lands elsewhere and leaves the first's bytes alone. */
    uint8_t data2[500];
    memset(data2, 0x5A, sizeof data2);
    struct object *o2 = NULL;
    assert_int_equal(store_put(f->s, &f->cl[1], "p2", 2, data2, sizeof data2, NULL, 0, 0, &o2,
                               &d), 0);
    assert_int_equal(o2->meta_size, 0);
    assert_true(o2->data_offset >= store_meta_offset(o) + sizeof meta ||
                o2->data_offset + sizeof data2 <= o->data_offset);
    assert_memory_equal(f->arena + o2->data_offset, data2, sizeof data2);
    assert_memory_equal(f->arena + o->data_offset, data, sizeof data);
    assert_memory_equal(f->arena + store_meta_offset(o), meta, sizeof meta);

    /* create copies the metadata at once; the payload is the writer's job. */
    struct object *o3 = NULL;
    assert_int_equal(create_s(f, 2, "p3", 100, "dtype=f8", 0, &o3), 0);
    assert_memory_equal(f->arena + store_meta_offset(o3), "dtype=f8", 8);
    assert_int_equal(abort_s(f, 2, o3->id), 0);
}

/* ---- names: EEXIST and REPLACE ------------------------------------------------------------- */

static void test_eexist_on_sealed_name(void **state)
{
    struct fixture *f = *state;
    struct object *o, *x;
    assert_int_equal(put_s(f, 0, "x", "one", NULL, 0, &o), 0);
    struct store_stats before = stats(f->s);
    struct store_detail d = {{0}};
    assert_int_equal(store_create(f->s, &f->cl[1], "x", 1, 10, NULL, 0, 0, &x, &d),
                     SHMSTORE_EEXIST);
    assert_non_null(strstr(d.text, "x"));
    assert_int_equal(put_s(f, 1, "x", "two", NULL, 0, &x), SHMSTORE_EEXIST);
    assert_int_equal(put_s(f, 0, "x", "two", NULL, 0, &x), SHMSTORE_EEXIST);
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_ptr_equal(lookup_s(f, "x"), o);
    assert_memory_equal(f->arena + o->data_offset, "one", 3);
    assert_int_equal(f->cl[1].unsealed_count, 0);
}

static void test_eexist_on_reserved_name(void **state)
{
    struct fixture *f = *state;
    struct object *a, *x;
    assert_int_equal(create_s(f, 0, "y", 64, NULL, 0, &a), 0);
    struct store_stats before = stats(f->s);
    struct store_detail d = {{0}};
    assert_int_equal(store_create(f->s, &f->cl[1], "y", 1, 10, NULL, 0, 0, &x, &d),
                     SHMSTORE_EEXIST);
    assert_non_null(strstr(d.text, "y"));
    /* The same client cannot reserve it twice either, and a put fails too. */
    assert_int_equal(create_s(f, 0, "y", 10, NULL, 0, &x), SHMSTORE_EEXIST);
    assert_int_equal(put_s(f, 2, "y", "zz", NULL, 0, &x), SHMSTORE_EEXIST);
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);

    /* REPLACE is allowed while the name is reserved, and does not bind until sealed. */
    struct object *b;
    assert_int_equal(create_s(f, 1, "y", 32, NULL, SHMSTORE_REPLACE, &b), 0);
    assert_null(lookup_s(f, "y"));
    assert_int_equal(stats(f->s).unsealed_objects, 2);
    assert_int_equal(abort_s(f, 1, b->id), 0);
    assert_int_equal(seal_s(f, 0, a->id), 0);
    assert_ptr_equal(lookup_s(f, "y"), a);
}

static void test_replace_moves_name_atomically(void **state)
{
    struct fixture *f = *state;
    struct object *v1, *v2, *v3, *v4, *g;
    assert_int_equal(put_s(f, 0, "r", "version-1", "m1", 0, &v1), 0);
    assert_int_equal(get_s(f, 1, "r", &g), 0);
    assert_ptr_equal(g, v1);

    /* Replace while pinned: the old object stays, deleted but readable, until released. */
    assert_int_equal(put_s(f, 0, "r", "version-2", "m2", SHMSTORE_REPLACE, &v2), 0);
    assert_ptr_equal(lookup_s(f, "r"), v2);
    assert_int_equal(v1->state, OBJECT_DELETED);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.pins, 1);
    assert_int_equal(st.used_bytes, footprint(9, 2) * 2);
    assert_memory_equal(f->arena + v1->data_offset, "version-1", 9);
    assert_memory_equal(f->arena + v2->data_offset, "version-2", 9);
    uint64_t v1_id = v1->id;   /* v1 is freed by its last release */
    assert_int_equal(release_s(f, 1, v1_id), 0);
    st = stats(f->s);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.used_bytes, footprint(9, 2));
    assert_int_equal(release_s(f, 1, v1_id), SHMSTORE_ESTATE);

    /* Replace while unpinned: the old object is freed at once. */
    assert_int_equal(put_s(f, 2, "r", "version-3", NULL, SHMSTORE_REPLACE, &v3), 0);
    assert_ptr_equal(lookup_s(f, "r"), v3);
    st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.used_bytes, footprint(9, 0));

    /* An unsealed REPLACE create leaves the old binding visible until its seal. */
    assert_int_equal(create_s(f, 1, "r", 9, NULL, SHMSTORE_REPLACE, &v4), 0);
    assert_ptr_equal(lookup_s(f, "r"), v3);
    assert_int_equal(get_s(f, 0, "r", &g), 0);
    assert_ptr_equal(g, v3);
    memcpy(f->arena + v4->data_offset, "version-4", 9);
    assert_int_equal(seal_s(f, 1, v4->id), 0);
    assert_ptr_equal(lookup_s(f, "r"), v4);
    assert_int_equal(v3->state, OBJECT_DELETED);
    assert_int_equal(stats(f->s).deleted_pinned, 1);
    assert_int_equal(release_s(f, 0, v3->id), 0);
    assert_int_equal(stats(f->s).deleted_pinned, 0);

    /* REPLACE on a free name is an ordinary put. */
    struct object *n;
    assert_int_equal(put_s(f, 0, "fresh", "x", NULL, SHMSTORE_REPLACE, &n), 0);
    assert_ptr_equal(lookup_s(f, "fresh"), n);
    st = stats(f->s);
    assert_int_equal(st.objects, 2);
    assert_int_equal(st.used_bytes, footprint(9, 0) + footprint(1, 0));
}

static void test_replace_seals_first_reserver_gets_eexist(void **state)
{
    struct fixture *f = *state;
    struct object *a, *b, *x;
    assert_int_equal(create_s(f, 0, "e", 100, NULL, 0, &a), 0);
    assert_int_equal(create_s(f, 1, "e", 200, NULL, SHMSTORE_REPLACE, &b), 0);
    assert_int_equal(seal_s(f, 1, b->id), 0);
    assert_ptr_equal(lookup_s(f, "e"), b);

    struct store_stats before = stats(f->s);
    struct store_detail d = {{0}};
    assert_int_equal(store_seal(f->s, &f->cl[0], a->id, &d), SHMSTORE_EEXIST);
    assert_true(strlen(d.text) > 0);
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_int_equal(a->state, OBJECT_UNSEALED);
    assert_ptr_equal(a->owner, &f->cl[0]);
    assert_int_equal(after.unsealed_objects, 1);
    assert_int_equal(after.unsealed_bytes, 100);
    assert_ptr_equal(lookup_s(f, "e"), b);
    /* Trying again gives the same answer. */
    assert_int_equal(seal_s(f, 0, a->id), SHMSTORE_EEXIST);

    /* Abort works and leaves the sealed binding alone. */
    assert_int_equal(abort_s(f, 0, a->id), 0);
    after = stats(f->s);
    assert_int_equal(after.unsealed_objects, 0);
    assert_int_equal(after.objects, 1);
    assert_int_equal(after.used_bytes, footprint(200, 0));
    assert_ptr_equal(lookup_s(f, "e"), b);
    assert_int_equal(create_s(f, 2, "e", 1, NULL, 0, &x), SHMSTORE_EEXIST);

    /* After a delete the name is entirely free again. */
    assert_int_equal(delete_s(f, "e"), 0);
    assert_int_equal(create_s(f, 2, "e", 1, NULL, 0, &x), 0);
    assert_int_equal(seal_s(f, 2, x->id), 0);
    assert_ptr_equal(lookup_s(f, "e"), x);
}

static void test_reserver_seals_first_then_replace(void **state)
{
    struct fixture *f = *state;
    struct object *a, *b;
    assert_int_equal(create_s(f, 0, "q", 100, NULL, 0, &a), 0);
    assert_int_equal(create_s(f, 1, "q", 200, NULL, SHMSTORE_REPLACE, &b), 0);
    assert_int_equal(seal_s(f, 0, a->id), 0);
    assert_ptr_equal(lookup_s(f, "q"), a);
    assert_int_equal(seal_s(f, 1, b->id), 0);
    assert_ptr_equal(lookup_s(f, "q"), b);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.used_bytes, footprint(200, 0));
}

static void test_reserved_name_survives_delete_of_replacement(void **state)
{
    struct fixture *f = *state;
    struct object *a, *b, *x;
    assert_int_equal(create_s(f, 0, "k", 10, NULL, 0, &a), 0);
    assert_int_equal(put_s(f, 1, "k", "B", NULL, SHMSTORE_REPLACE, &b), 0);
    assert_int_equal(delete_s(f, "k"), 0);
    assert_null(lookup_s(f, "k"));
    /* Still reserved by a. */
    assert_int_equal(create_s(f, 2, "k", 1, NULL, 0, &x), SHMSTORE_EEXIST);
    assert_int_equal(seal_s(f, 0, a->id), 0);
    assert_ptr_equal(lookup_s(f, "k"), a);
}

/* ---- wrong state, unknown ids ------------------------------------------------------------- */

static void test_state_errors(void **state)
{
    struct fixture *f = *state;
    struct object *o, *u, *g;
    struct store_detail d = {{0}};
    assert_int_equal(create_s(f, 0, "s", 10, NULL, 0, &o), 0);

    /* Seal or abort by another client. */
    struct store_stats before = stats(f->s);
    assert_int_equal(store_seal(f->s, &f->cl[1], o->id, &d), SHMSTORE_ESTATE);
    assert_true(strlen(d.text) > 0);
    assert_int_equal(abort_s(f, 1, o->id), SHMSTORE_ESTATE);
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_int_equal(o->state, OBJECT_UNSEALED);
    assert_ptr_equal(o->owner, &f->cl[0]);

    /* Seal twice; abort after seal. */
    assert_int_equal(seal_s(f, 0, o->id), 0);
    before = stats(f->s);
    assert_int_equal(seal_s(f, 0, o->id), SHMSTORE_ESTATE);
    assert_int_equal(seal_s(f, 1, o->id), SHMSTORE_ESTATE);
    assert_int_equal(abort_s(f, 0, o->id), SHMSTORE_ESTATE);
    after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_ptr_equal(lookup_s(f, "s"), o);

    /* Unknown ids. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_seal(f->s, &f->cl[0], 987654321, &d), SHMSTORE_ENOTFOUND);
    assert_true(strlen(d.text) > 0);
    assert_int_equal(abort_s(f, 0, 987654321), SHMSTORE_ENOTFOUND);
    assert_int_equal(seal_s(f, 0, 0), SHMSTORE_ENOTFOUND);

    /* Release without a pin: never pinned, unknown id, pinned by someone else. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_release(f->s, &f->cl[0], o->id, &d), SHMSTORE_ESTATE);
    assert_true(strlen(d.text) > 0);
    assert_int_equal(release_s(f, 0, 987654321), SHMSTORE_ESTATE);
    assert_int_equal(get_s(f, 1, "s", &g), 0);
    assert_int_equal(release_s(f, 2, o->id), SHMSTORE_ESTATE);
    assert_int_equal(o->pins, 1);
    assert_int_equal(release_s(f, 1, o->id), 0);
    assert_int_equal(release_s(f, 1, o->id), SHMSTORE_ESTATE);
    assert_int_equal(stats(f->s).pins, 0);

    /* Release of an unsealed object's id (nobody can pin it). */
    assert_int_equal(create_s(f, 2, "u", 10, NULL, 0, &u), 0);
    assert_int_equal(release_s(f, 2, u->id), SHMSTORE_ESTATE);

    /* get and delete of unknown names. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_get(f->s, &f->cl[0], "nope", 4, &g, &d), SHMSTORE_ENOTFOUND);
    assert_non_null(strstr(d.text, "nope"));
    assert_int_equal(delete_s(f, "nope"), SHMSTORE_ENOTFOUND);
    /* delete of a reserved-but-unsealed name is "not found" and leaves the reservation. */
    assert_int_equal(delete_s(f, "u"), SHMSTORE_ENOTFOUND);
    assert_int_equal(create_s(f, 0, "u", 1, NULL, 0, &g), SHMSTORE_EEXIST);
    assert_int_equal(u->state, OBJECT_UNSEALED);
}

/* ---- pins ---------------------------------------------------------------------------------- */

static void test_two_pins_need_two_releases(void **state)
{
    struct fixture *f = *state;
    struct object *o, *g1, *g2;
    assert_int_equal(put_s(f, 0, "two", "data", NULL, 0, &o), 0);
    assert_int_equal(get_s(f, 1, "two", &g1), 0);
    assert_int_equal(get_s(f, 1, "two", &g2), 0);
    assert_ptr_equal(g1, o);
    assert_ptr_equal(g2, o);
    assert_int_equal(o->pins, 2);
    assert_int_equal(f->cl[1].pin_count, 2);
    assert_int_equal(stats(f->s).pins, 2);

    /* Deleted while doubly pinned: freed only after both releases. */
    assert_int_equal(delete_s(f, "two"), 0);
    assert_int_equal(release_s(f, 1, o->id), 0);
    assert_int_equal(o->pins, 1);
    assert_int_equal(f->cl[1].pin_count, 1);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.pins, 1);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.used_bytes, footprint(4, 0));
    uint64_t id = o->id;
    assert_int_equal(release_s(f, 1, id), 0);
    st = stats(f->s);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(f->cl[1].pin_count, 0);
    assert_int_equal(release_s(f, 1, id), SHMSTORE_ESTATE);
}

static void test_delete_while_pinned(void **state)
{
    struct fixture *f = *state;
    struct object *o, *g, *n;
    assert_int_equal(put_s(f, 0, "d", "old-bytes", NULL, 0, &o), 0);
    assert_int_equal(get_s(f, 1, "d", &g), 0);
    assert_int_equal(get_s(f, 2, "d", &g), 0);
    assert_int_equal(o->pins, 2);

    assert_int_equal(delete_s(f, "d"), 0);
    /* The name is free at once ... */
    assert_null(lookup_s(f, "d"));
    assert_int_equal(get_s(f, 0, "d", &g), SHMSTORE_ENOTFOUND);
    assert_int_equal(delete_s(f, "d"), SHMSTORE_ENOTFOUND);
    assert_int_equal(o->state, OBJECT_DELETED);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.pins, 2);
    assert_int_equal(st.used_bytes, footprint(9, 0));
    char listing[256];
    assert_string_equal(walk(f->s, listing, sizeof listing), "");

    /* ... and a new object can take it without REPLACE, while the old one stays readable. */
    assert_int_equal(put_s(f, 0, "d", "new-bytes", NULL, 0, &n), 0);
    assert_true(n != o);
    assert_true(n->id != o->id);
    assert_true(n->data_offset != o->data_offset);
    assert_ptr_equal(lookup_s(f, "d"), n);
    assert_memory_equal(f->arena + o->data_offset, "old-bytes", 9);
    assert_memory_equal(f->arena + n->data_offset, "new-bytes", 9);
    st = stats(f->s);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.used_bytes, 2 * footprint(9, 0));

    uint64_t old_id = o->id;
    assert_int_equal(release_s(f, 1, old_id), 0);
    st = stats(f->s);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.used_bytes, 2 * footprint(9, 0));
    assert_int_equal(release_s(f, 2, old_id), 0);
    st = stats(f->s);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.used_bytes, footprint(9, 0));
    assert_ptr_equal(lookup_s(f, "d"), n);
}

/* ---- client drop --------------------------------------------------------------------------- */

static void test_client_drop_releases_everything(void **state)
{
    struct fixture *f = *state;
    struct object *own1, *own2, *other, *doomed, *u1, *u2, *u3, *g, *x;
    /* c0: two sealed objects of its own, three unsealed (two reserving names, one REPLACE). */
    assert_int_equal(put_s(f, 0, "own1", "aaaa", NULL, 0, &own1), 0);
    assert_int_equal(put_s(f, 0, "own2", "bbbbbbbb", "mm", 0, &own2), 0);
    assert_int_equal(create_s(f, 0, "un1", 1000, NULL, 0, &u1), 0);
    assert_int_equal(create_s(f, 0, "un2", 70000, "meta", 0, &u2), 0);
    assert_int_equal(create_s(f, 0, "own1", 300, NULL, SHMSTORE_REPLACE, &u3), 0);
    /* c1: an object c0 pins, and one c0 pins that then gets deleted. */
    assert_int_equal(put_s(f, 1, "other", "cc", NULL, 0, &other), 0);
    assert_int_equal(put_s(f, 1, "doomed", "ddd", NULL, 0, &doomed), 0);

    assert_int_equal(get_s(f, 0, "own1", &g), 0);
    assert_int_equal(get_s(f, 0, "own1", &g), 0);
    assert_int_equal(get_s(f, 0, "other", &g), 0);
    assert_int_equal(get_s(f, 0, "doomed", &g), 0);
    assert_int_equal(get_s(f, 0, "doomed", &g), 0);
    assert_int_equal(get_s(f, 1, "other", &g), 0);   /* c1's own pin survives */
    assert_int_equal(delete_s(f, "doomed"), 0);

    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 3);
    assert_int_equal(st.unsealed_objects, 3);
    assert_int_equal(st.unsealed_bytes, 1000 + 70000 + 300);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(st.pins, 6);
    assert_int_equal(f->cl[0].pin_count, 5);
    assert_int_equal(f->cl[0].unsealed_count, 3);
    assert_int_equal(f->cl[0].unsealed_bytes, 71300);

    store_client_drop(f->s, &f->cl[0]);

    st = stats(f->s);
    assert_int_equal(st.objects, 3);              /* sealed objects outlive their writer */
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.unsealed_bytes, 0);
    assert_int_equal(st.deleted_pinned, 0);       /* doomed is freed */
    assert_int_equal(st.pins, 1);
    assert_int_equal(st.used_bytes,
                     footprint(4, 0) + footprint(8, 2) + footprint(2, 0));
    assert_int_equal(f->cl[0].pin_count, 0);
    assert_int_equal(f->cl[0].unsealed_count, 0);
    assert_int_equal(f->cl[0].unsealed_bytes, 0);
    assert_null(f->cl[0].unsealed);
    assert_int_equal(own1->pins, 0);
    assert_int_equal(other->pins, 1);
    assert_ptr_equal(lookup_s(f, "own1"), own1);  /* the REPLACE create never happened */

    /* The reserved names are free again. */
    assert_int_equal(create_s(f, 2, "un1", 1, NULL, 0, &x), 0);
    assert_int_equal(create_s(f, 2, "un2", 1, NULL, 0, &x), 0);

    /* A dropped client can be dropped again harmlessly and re-initialised. */
    store_client_drop(f->s, &f->cl[0]);
    store_client_init(f->s, &f->cl[0]);
    assert_int_equal(get_s(f, 0, "own2", &g), 0);
    assert_int_equal(release_s(f, 0, g->id), 0);
}

static void test_client_drop_empty_and_ids(void **state)
{
    struct fixture *f = *state;
    /* Clients get distinct ids. */
    assert_true(f->cl[0].id != f->cl[1].id);
    assert_true(f->cl[1].id != f->cl[2].id);
    assert_true(f->cl[0].id != f->cl[2].id);
    struct store_stats before = stats(f->s);
    store_client_drop(f->s, &f->cl[1]);
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);
}

/* ---- waiters ------------------------------------------------------------------------------- */

struct test_waiter {
    struct store_waiter w;   /* first, so the callback can cast back */
    int woken;
    struct object *obj;
    int order;
};

static int wake_counter;

static void on_wake(struct store_waiter *w, struct object *obj)
{
    struct test_waiter *tw = (struct test_waiter *)w;
    tw->woken++;
    tw->obj = obj;
    tw->order = ++wake_counter;
    /* The waiter is unlinked before the call. */
    assert_null(w->entry);
}

static void waiter_init(struct test_waiter *tw, struct store_client *cl)
{
    memset(tw, 0, sizeof *tw);
    tw->w.client = cl;
    tw->w.wake = on_wake;
}

static void test_wait_woken_by_seal(void **state)
{
    struct fixture *f = *state;
    struct test_waiter tw;
    waiter_init(&tw, &f->cl[1]);
    assert_int_equal(wait_s(f, "w", &tw.w), 0);
    assert_int_equal(stats(f->s).waiters, 1);
    assert_int_equal(tw.woken, 0);

    /* An unsealed create of the name does not wake it; nor does its abort. */
    struct object *a, *o, *o2;
    assert_int_equal(create_s(f, 0, "w", 10, NULL, 0, &a), 0);
    assert_int_equal(tw.woken, 0);
    assert_int_equal(abort_s(f, 0, a->id), 0);
    assert_int_equal(tw.woken, 0);
    assert_int_equal(stats(f->s).waiters, 1);
    /* Another name's seal does not wake it. */
    assert_int_equal(put_s(f, 0, "w2", "zz", NULL, 0, &o2), 0);
    assert_int_equal(tw.woken, 0);

    assert_int_equal(create_s(f, 0, "w", 10, NULL, 0, &o), 0);
    assert_int_equal(seal_s(f, 0, o->id), 0);
    assert_int_equal(tw.woken, 1);
    assert_ptr_equal(tw.obj, o);
    assert_int_equal(o->pins, 1);
    assert_int_equal(f->cl[1].pin_count, 1);
    assert_int_equal(f->cl[0].pin_count, 0);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.waiters, 0);
    assert_int_equal(st.pins, 1);

    /* Woken once only: a later replace does not call it again. */
    struct object *o3;
    assert_int_equal(put_s(f, 2, "w", "again", NULL, SHMSTORE_REPLACE, &o3), 0);
    assert_int_equal(tw.woken, 1);
    assert_int_equal(o->state, OBJECT_DELETED);
    assert_int_equal(o3->pins, 0);
    /* Cancelling an already-woken waiter is a no-op. */
    store_wait_cancel(f->s, &tw.w);
    assert_int_equal(stats(f->s).waiters, 0);
    assert_int_equal(release_s(f, 1, o->id), 0);
    st = stats(f->s);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.deleted_pinned, 0);
}

static void test_wait_woken_by_put(void **state)
{
    struct fixture *f = *state;
    struct test_waiter tw;
    waiter_init(&tw, &f->cl[2]);
    assert_int_equal(wait_s(f, "via/put", &tw.w), 0);
    struct object *o;
    assert_int_equal(put_s(f, 0, "via/put", "payload", "m", 0, &o), 0);
    assert_int_equal(tw.woken, 1);
    assert_ptr_equal(tw.obj, o);
    assert_int_equal(o->pins, 1);
    assert_int_equal(f->cl[2].pin_count, 1);
    /* A REPLACE put wakes waiters too. */
    struct test_waiter tw2;
    waiter_init(&tw2, &f->cl[1]);
    assert_int_equal(wait_s(f, "via/put", &tw2.w), 0);
    struct object *o2;
    assert_int_equal(put_s(f, 0, "via/put", "payload2", NULL, SHMSTORE_REPLACE, &o2), 0);
    assert_int_equal(tw2.woken, 1);
    assert_ptr_equal(tw2.obj, o2);
    assert_int_equal(o2->pins, 1);
    assert_int_equal(stats(f->s).pins, 2);
    assert_int_equal(stats(f->s).deleted_pinned, 1);
    /* Teardown's client drop releases these pins. */
}

static void test_wait_cancel_frees_entry(void **state)
{
    struct fixture *f = *state;
    struct test_waiter tw;
    waiter_init(&tw, &f->cl[1]);
    assert_int_equal(wait_s(f, "c", &tw.w), 0);
    assert_int_equal(stats(f->s).waiters, 1);

    /* The waiter-only entry is visited by the walk (it costs budget) but never listed. */
    unsigned budget = 10;
    const char *resume = NULL;
    size_t resume_len = 0;
    assert_null(store_next_sealed(f->s, NULL, 0, &budget, &resume, &resume_len));
    assert_int_equal(budget, 9);

    store_wait_cancel(f->s, &tw.w);
    assert_int_equal(stats(f->s).waiters, 0);
    assert_null(tw.w.entry);
    /* The entry is gone: the walk visits nothing. */
    budget = 10;
    assert_null(store_next_sealed(f->s, NULL, 0, &budget, &resume, &resume_len));
    assert_int_equal(budget, 10);
    /* Cancelling twice is harmless. */
    store_wait_cancel(f->s, &tw.w);
    assert_int_equal(stats(f->s).waiters, 0);

    /* A cancelled waiter is not woken. */
    struct object *o;
    assert_int_equal(put_s(f, 0, "c", "x", NULL, 0, &o), 0);
    assert_int_equal(tw.woken, 0);
    assert_int_equal(o->pins, 0);
    assert_int_equal(stats(f->s).pins, 0);

    /* Cancel on a name that is also reserved keeps the reservation. */
    struct object *u, *x;
    struct test_waiter tw2;
    waiter_init(&tw2, &f->cl[1]);
    assert_int_equal(create_s(f, 0, "res", 5, NULL, 0, &u), 0);
    assert_int_equal(wait_s(f, "res", &tw2.w), 0);
    store_wait_cancel(f->s, &tw2.w);
    assert_int_equal(create_s(f, 2, "res", 5, NULL, 0, &x), SHMSTORE_EEXIST);
    /* And abort with a waiter keeps the waiter. */
    struct test_waiter tw3;
    waiter_init(&tw3, &f->cl[2]);
    assert_int_equal(wait_s(f, "res", &tw3.w), 0);
    assert_int_equal(abort_s(f, 0, u->id), 0);
    assert_int_equal(stats(f->s).waiters, 1);
    assert_int_equal(put_s(f, 1, "res", "R", NULL, 0, &x), 0);
    assert_int_equal(tw3.woken, 1);
    assert_ptr_equal(tw3.obj, x);
    assert_int_equal(release_s(f, 2, x->id), 0);

    /* Only the sealed names remain. */
    char listing[256];
    assert_string_equal(walk(f->s, listing, sizeof listing), "c,res");
}

static void test_wait_many_waiters(void **state)
{
    struct fixture *f = *state;
    enum { N = 6 };
    struct test_waiter tw[N];
    wake_counter = 0;
    for (int i = 0; i < N; i++) {
        waiter_init(&tw[i], &f->cl[i % NCLIENTS]);
        assert_int_equal(wait_s(f, "many", &tw[i].w), 0);
    }
    assert_int_equal(stats(f->s).waiters, N);
    /* Cancel one in the middle and the last. */
    store_wait_cancel(f->s, &tw[2].w);
    store_wait_cancel(f->s, &tw[N - 1].w);
    assert_int_equal(stats(f->s).waiters, N - 2);

    struct object *o;
    assert_int_equal(put_s(f, 0, "many", "shared", NULL, 0, &o), 0);
    int order = 0;
    for (int i = 0; i < N; i++) {
        if (i == 2 || i == N - 1) {
            assert_int_equal(tw[i].woken, 0);
            continue;
        }
        assert_int_equal(tw[i].woken, 1);
        assert_ptr_equal(tw[i].obj, o);
        assert_true(tw[i].order > order);   /* woken in the order they waited */
        order = tw[i].order;
    }
    assert_int_equal(o->pins, N - 2);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.pins, N - 2);
    assert_int_equal(st.waiters, 0);
    /* Waiters 0 and 3 were both client 0's: it holds two pins on one object. */
    assert_int_equal(f->cl[0].pin_count, 2);
    assert_int_equal(f->cl[1].pin_count, 2);
    assert_int_equal(f->cl[2].pin_count, 0);
    assert_int_equal(release_s(f, 0, o->id), 0);
    assert_int_equal(release_s(f, 0, o->id), 0);
    assert_int_equal(release_s(f, 0, o->id), SHMSTORE_ESTATE);
    assert_int_equal(release_s(f, 1, o->id), 0);
    assert_int_equal(release_s(f, 1, o->id), 0);
    assert_int_equal(stats(f->s).pins, 0);
}

/* ---- ENOSPC -------------------------------------------------------------------------------- */

static void test_enospc(void **state)
{
    struct fixture *f = *state;
    struct object *o, *x;
    struct store_detail d;
    struct store_stats before = stats(f->s);

    /* Larger than the whole arena. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_create(f->s, &f->cl[0], "big", 3, ARENA_SIZE + 1, NULL, 0, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    /* Regression (free_shown_equal_to_asked): exact bytes beside the human figures, and the
     * way out, on one line. */
    assert_string_equal(d.text, "store full: asked 16777217 bytes (16.0 MiB), but the whole store "
                                "is 16777216 bytes (16.0 MiB) and 16777216 bytes (16.0 MiB) of "
                                "it is free; raise memory in shmstored's config file and reload "
                                "it (SIGHUP), or start it with a larger --memory (-m)");
    struct store_stats after = stats(f->s);
    assert_stats_equal(&before, &after);
    /* The failed create did not reserve the name. */
    assert_int_equal(create_s(f, 1, "big", 1, NULL, 0, &x), 0);
    assert_int_equal(abort_s(f, 1, x->id), 0);
    /* Absurd sizes do not wrap around. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_create(f->s, &f->cl[0], "huge", 4, UINT64_MAX, NULL, 0, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "store full"));
    memset(&d, 0, sizeof d);
    assert_int_equal(store_create(f->s, &f->cl[0], "huge", 4, UINT64_MAX - 10, "m", 1, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "store full"));
    /* Payload fits alone but not with its metadata. */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_create(f->s, &f->cl[0], "edge", 4, ARENA_SIZE, "m", 1, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "store full"));
    after = stats(f->s);
    assert_stats_equal(&before, &after);

    /* Fill most of the store, then ask for more than is left. */
    assert_int_equal(create_s(f, 0, "fill", 10u << 20, NULL, 0, &o), 0);
    assert_int_equal(seal_s(f, 0, o->id), 0);
    before = stats(f->s);
    memset(&d, 0, sizeof d);
    assert_int_equal(store_create(f->s, &f->cl[1], "more", 4, 8u << 20, NULL, 0, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    assert_string_equal(d.text, "store full: asked 8388608 bytes (8.00 MiB), 6291456 bytes "
                                "(6.00 MiB) free of 16777216; delete objects, or raise memory in "
                                "shmstored's config file and reload it (SIGHUP), or start it "
                                "with a larger --memory (-m)");
    after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_int_equal(create_s(f, 2, "more", 1, NULL, 0, &x), 0);   /* name not taken */
    assert_int_equal(abort_s(f, 2, x->id), 0);

    /* put and a REPLACE put fail the same way and leave the old binding in place. */
    uint8_t *buf = calloc(1, 8u << 20);
    assert_non_null(buf);
    before = stats(f->s);
    memset(&d, 0, sizeof d);
    assert_int_equal(store_put(f->s, &f->cl[1], "more", 4, buf, 8u << 20, NULL, 0, 0, &x, &d),
                     SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "store full"));
    memset(&d, 0, sizeof d);
    assert_int_equal(store_put(f->s, &f->cl[1], "fill", 4, buf, 8u << 20, NULL, 0,
                               SHMSTORE_REPLACE, &x, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "store full"));
    free(buf);
    after = stats(f->s);
    assert_stats_equal(&before, &after);
    assert_ptr_equal(lookup_s(f, "fill"), o);
    assert_int_equal(f->cl[1].unsealed_count, 0);

    /* After a delete the space is back. */
    assert_int_equal(delete_s(f, "fill"), 0);
    assert_int_equal(create_s(f, 1, "more", 8u << 20, NULL, 0, &x), 0);
    assert_int_equal(seal_s(f, 1, x->id), 0);
}

/* ---- sizes and alignment ------------------------------------------------------------------- */

static void test_zero_sizes(void **state)
{
    struct fixture *f = *state;
    struct object *a, *b, *c, *g;
    /* 0 bytes, no metadata, via create + seal. */
    assert_int_equal(create_s(f, 0, "zero", 0, NULL, 0, &a), 0);
    assert_int_equal(a->size, 0);
    assert_int_equal(a->meta_size, 0);
    assert_int_equal(seal_s(f, 0, a->id), 0);
    assert_int_equal(get_s(f, 1, "zero", &g), 0);
    assert_ptr_equal(g, a);
    assert_int_equal(release_s(f, 1, a->id), 0);

    /* 0 bytes with metadata, via put with NULL data. */
    struct store_detail d = {{0}};
    assert_int_equal(store_put(f->s, &f->cl[0], "zero+meta", 9, NULL, 0, "shape=()", 8, 0, &b,
                               &d), 0);
    assert_int_equal(b->size, 0);
    assert_int_equal(b->meta_size, 8);
    assert_int_equal(store_meta_offset(b) % 64, 0);
    assert_memory_equal(f->arena + store_meta_offset(b), "shape=()", 8);

    /* 0 bytes, no metadata, via put. */
    assert_int_equal(store_put(f->s, &f->cl[0], "zero2", 5, NULL, 0, NULL, 0, 0, &c, &d), 0);
    assert_int_equal(c->size, 0);
    assert_true(a->data_offset != c->data_offset);   /* each takes a distinct block */

    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 3);
    assert_int_equal(st.used_bytes, footprint(0, 0) * 2 + footprint(0, 8));
    char listing[256];
    assert_string_equal(walk(f->s, listing, sizeof listing), "zero,zero+meta,zero2");

    assert_int_equal(delete_s(f, "zero"), 0);
    assert_int_equal(delete_s(f, "zero+meta"), 0);
    assert_int_equal(delete_s(f, "zero2"), 0);
    assert_int_equal(stats(f->s).used_bytes, 0);
}

static void test_alignment(void **state)
{
    struct fixture *f = *state;
    static const uint64_t sizes[] = {
        1, 63, 64, 65, 100, 4095, 4096, 4097, 65535, 65536, 65537, 3, 200000, 7, 1u << 20, 129,
        (64u << 10) - 64, 70001, 1,
    };
    struct object *objs[sizeof sizes / sizeof sizes[0]];
    uint64_t expect_used = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[32], meta[16];
        snprintf(name, sizeof name, "al%02zu", i);
        snprintf(meta, sizeof meta, "m%zu", i);
        const char *m = (i % 3 == 0) ? meta : NULL;
        assert_int_equal(create_s(f, (int)(i % NCLIENTS), name, sizes[i], m, 0, &objs[i]), 0);
        struct object *o = objs[i];
        assert_int_equal(o->data_offset % 64, 0);
        assert_int_equal(store_meta_offset(o) % 64, 0);
        if (sizes[i] >= 64u * 1024u)
            assert_int_equal(o->data_offset % 4096, 0);
        assert_true(o->data_offset + o->size <= ARENA_SIZE);
        if (m) {
            assert_true(store_meta_offset(o) >= o->data_offset + o->size);
            assert_memory_equal(f->arena + store_meta_offset(o), m, strlen(m));
        }
        memset(f->arena + o->data_offset, (int)(i + 1), sizes[i]);
        expect_used += footprint(sizes[i], m ? strlen(m) : 0);
        assert_int_equal(stats(f->s).used_bytes, expect_used);
    }
    /* No two objects overlap: every payload still holds its own fill byte. */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct object *o = objs[i];
        assert_int_equal(f->arena[o->data_offset], (uint8_t)(i + 1));
        assert_int_equal(f->arena[o->data_offset + o->size - 1], (uint8_t)(i + 1));
        assert_int_equal(seal_s(f, (int)(i % NCLIENTS), o->id), 0);
    }
}

/* ---- the name-ordered walk ----------------------------------------------------------------- */

static void test_next_sealed_order_and_resume(void **state)
{
    struct fixture *f = *state;
    struct object *a, *b, *d_, *ex, *utf, *aa, *o;
    /* Inserted out of order on purpose. */
    assert_int_equal(put_s(f, 0, "d", "4", NULL, 0, &d_), 0);
    assert_int_equal(put_s(f, 0, "\xc3\xa9t\xc3\xa9", "5", NULL, 0, &utf), 0);   /* "été" */
    assert_int_equal(put_s(f, 0, "a", "1", NULL, 0, &a), 0);
    assert_int_equal(create_s(f, 1, "b", 10, NULL, 0, &b), 0);                      /* unsealed */
    struct test_waiter tw;
    waiter_init(&tw, &f->cl[2]);
    assert_int_equal(wait_s(f, "c", &tw.w), 0);                    /* waiter only */
    assert_int_equal(put_s(f, 0, "e/x", "6", NULL, 0, &ex), 0);
    assert_int_equal(put_s(f, 0, "aa", "2", NULL, 0, &aa), 0);
    assert_int_equal(put_s(f, 0, "gone", "7", NULL, 0, &o), 0);
    assert_int_equal(delete_s(f, "gone"), 0);
    assert_int_equal(create_s(f, 2, "repl", 10, NULL, SHMSTORE_REPLACE, &o), 0);   /* no entry */

    char listing[256];
    assert_string_equal(walk(f->s, listing, sizeof listing), "a,aa,d,e/x,\xc3\xa9t\xc3\xa9");

    const char *resume = NULL;
    size_t resume_len = 0;
    unsigned budget = 100;
    /* From the start, and after a given name (present or not). */
    assert_ptr_equal(store_next_sealed(f->s, NULL, 0, &budget, &resume, &resume_len), a);
    assert_int_equal(budget, 99);
    budget = 100;
    assert_ptr_equal(store_next_sealed(f->s, "a", 1, &budget, &resume, &resume_len), aa);
    budget = 100;
    assert_ptr_equal(store_next_sealed(f->s, "aa", 2, &budget, &resume, &resume_len), d_);
    assert_int_equal(budget, 97);   /* visited b, c, d */
    budget = 100;
    assert_ptr_equal(store_next_sealed(f->s, "bz", 2, &budget, &resume, &resume_len), d_);
    budget = 100;
    assert_ptr_equal(store_next_sealed(f->s, "e", 1, &budget, &resume, &resume_len), ex);
    budget = 100;
    assert_ptr_equal(store_next_sealed(f->s, "e/x", 3, &budget, &resume, &resume_len), utf);
    budget = 100;
    assert_null(store_next_sealed(f->s, "\xc3\xa9t\xc3\xa9", 5, &budget, &resume, &resume_len));
    assert_true(budget > 0);
    budget = 100;
    assert_null(store_next_sealed(f->s, "\xff", 1, &budget, &resume, &resume_len));
    assert_int_equal(budget, 100);

    /* Budget runs out on the unsealed and waiter-only entries: NULL, budget 0, resume at c. */
    budget = 2;
    resume = NULL;
    resume_len = 0;
    assert_null(store_next_sealed(f->s, "aa", 2, &budget, &resume, &resume_len));
    assert_int_equal(budget, 0);
    assert_non_null(resume);
    assert_int_equal(resume_len, 1);
    assert_memory_equal(resume, "c", 1);
    /* Going on from the resume point finds d. */
    char again[8];
    memcpy(again, resume, resume_len);
    budget = 2;
    assert_ptr_equal(store_next_sealed(f->s, again, resume_len, &budget, &resume, &resume_len), d_);
    assert_int_equal(budget, 1);

    /* Budget of one on a skipped entry. */
    budget = 1;
    resume = NULL;
    assert_null(store_next_sealed(f->s, "aa", 2, &budget, &resume, &resume_len));
    assert_int_equal(budget, 0);
    assert_non_null(resume);
    assert_int_equal(resume_len, 1);
    assert_memory_equal(resume, "b", 1);
    /* Budget of one that lands on a sealed entry returns it. */
    budget = 1;
    assert_ptr_equal(store_next_sealed(f->s, "c", 1, &budget, &resume, &resume_len), d_);
    assert_int_equal(budget, 0);

    store_wait_cancel(f->s, &tw.w);
}

/* ---- delete by pattern --------------------------------------------------------------------- */

static uint64_t delete_matching_s(struct fixture *f, const char *pattern)
{
    uint64_t n = store_delete_matching(f->s, pattern);
    char why[256];
    assert_int_equal(store_check(f->s, why, sizeof why), 0);
    return n;
}

/* A job's objects go in one call; the names beside them (a longer prefix, another job, the
 * prefix itself), objects still being written and gets still waiting are left alone, and a
 * reader keeps the object it pinned. */
static void test_delete_matching_leaves_non_matching_unsealed_and_pinned(void **state)
{
    struct fixture *f = *state;
    struct object *a, *bc, *job7, *job70, *job8, *unsealed, *replacer, *g, *later;
    assert_int_equal(put_s(f, 0, "job7/a", "A", NULL, 0, &a), 0);
    assert_int_equal(put_s(f, 0, "job7/b/c", "pinned-bytes", NULL, 0, &bc), 0);
    assert_int_equal(put_s(f, 0, "job7", "J", NULL, 0, &job7), 0);
    assert_int_equal(put_s(f, 0, "job70/x", "X", NULL, 0, &job70), 0);
    assert_int_equal(put_s(f, 0, "job8/a", "8", NULL, 0, &job8), 0);
    assert_int_equal(create_s(f, 1, "job7/u", 4, NULL, 0, &unsealed), 0);
    assert_int_equal(create_s(f, 1, "job7/a", 4, NULL, SHMSTORE_REPLACE, &replacer), 0);
    struct test_waiter tw;
    waiter_init(&tw, &f->cl[2]);
    assert_int_equal(wait_s(f, "job7/w", &tw.w), 0);
    assert_int_equal(get_s(f, 2, "job7/b/c", &g), 0);

    assert_int_equal(delete_matching_s(f, "job7/*"), 2);
    assert_null(lookup_s(f, "job7/a"));
    assert_null(lookup_s(f, "job7/b/c"));
    assert_ptr_equal(lookup_s(f, "job7"), job7);
    assert_ptr_equal(lookup_s(f, "job70/x"), job70);
    assert_ptr_equal(lookup_s(f, "job8/a"), job8);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, 3);
    assert_int_equal(st.unsealed_objects, 2);
    assert_int_equal(st.waiters, 1);
    assert_int_equal(st.deleted_pinned, 1);
    /* The pinned one is unbound but still readable until its release. */
    assert_int_equal(bc->state, OBJECT_DELETED);
    assert_memory_equal(f->arena + bc->data_offset, "pinned-bytes", 12);
    assert_int_equal(release_s(f, 2, bc->id), 0);
    assert_int_equal(stats(f->s).deleted_pinned, 0);
    /* Nothing left to match: 0, not an error. */
    assert_int_equal(delete_matching_s(f, "job7/*"), 0);

    /* The unsealed objects were not touched: both seal, and the waiter is woken. */
    assert_int_equal(seal_s(f, 1, unsealed->id), 0);
    assert_int_equal(seal_s(f, 1, replacer->id), 0);
    assert_ptr_equal(lookup_s(f, "job7/a"), replacer);
    assert_int_equal(put_s(f, 0, "job7/w", "W", NULL, 0, &later), 0);
    assert_int_equal(tw.woken, 1);
    assert_int_equal(release_s(f, 2, later->id), 0);

    /* A pattern without wildcards is one exact name; '\' escapes a wildcard. */
    assert_int_equal(put_s(f, 0, "a*b", "1", NULL, 0, &g), 0);
    assert_int_equal(put_s(f, 0, "aXb", "2", NULL, 0, &g), 0);
    assert_int_equal(delete_matching_s(f, "job8/a"), 1);
    assert_int_equal(delete_matching_s(f, "job8/a"), 0);
    assert_int_equal(delete_matching_s(f, "a\\*b"), 1);
    assert_null(lookup_s(f, "a*b"));
    assert_ptr_equal(lookup_s(f, "aXb"), g);
    /* A literal prefix longer than any name matches nothing. */
    char longer[400];
    memset(longer, 'j', sizeof longer - 2);
    longer[sizeof longer - 2] = '*';
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(delete_matching_s(f, longer), 0);
    /* "job7*" takes the prefix name itself and the longer prefix; "*" takes the rest. */
    /* job7, job7/a, job7/u, job7/w, job70/x */
    assert_int_equal(delete_matching_s(f, "job7*"), 5);
    assert_int_equal(delete_matching_s(f, "*"), 1);
    assert_int_equal(stats(f->s).objects, 0);
    assert_int_equal(stats(f->s).used_bytes, 0);
}

/* The walk starts at the pattern's literal prefix: it must find exactly what fnmatch over every
 * name finds, for prefixes that are names themselves, names that sort just after the prefix
 * ('/' < '0' < 'a'), brackets, '?' and escapes. */
static void test_delete_matching_agrees_with_fnmatch(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {
        "a", "a/", "a/b", "a/b/c", "a0", "a/*", "a?", "ab", "abc", "b", "b/a", "ba", "[x]", "x",
        "a.b", "\xc3\xa9t\xc3\xa9", "a\\b",
    };
    static const char *const patterns[] = {
        "a", "a*", "a/*", "a/?", "a?", "a\\?", "a\\*", "a/\\*", "[ab]*", "*b*", "?", "a/b*",
        "\\[x]", "[[]x]", "\xc3\xa9*", "a\\\\b", "a[!/]", "zzz*", "*",
    };
    const size_t nnames = sizeof names / sizeof names[0];
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        struct object *o;
        uint64_t want = 0;
        for (size_t i = 0; i < nnames; i++) {
            assert_int_equal(put_s(f, 0, names[i], "v", NULL, SHMSTORE_REPLACE, &o), 0);
            want += fnmatch(patterns[p], names[i], 0) == 0;
        }
        uint64_t got = delete_matching_s(f, patterns[p]);
        if (got != want)
            fail_msg("pattern '%s' deleted %llu objects, fnmatch matches %llu", patterns[p],
                     (unsigned long long)got, (unsigned long long)want);
        for (size_t i = 0; i < nnames; i++) {
            int gone = lookup_s(f, names[i]) == NULL;
            if (gone != (fnmatch(patterns[p], names[i], 0) == 0))
                fail_msg("pattern '%s': name '%s' %s", patterns[p], names[i],
                         gone ? "deleted but does not match" : "matches but was kept");
        }
    }
}

static void test_next_sealed_small_budget_full_walk(void **state)
{
    struct fixture *f = *state;
    /* 300 names, every third sealed, the rest unsealed reservations: walking with budget 4 per
     * call and resuming must see exactly the sealed ones, in order. */
    struct object *o;
    int sealed = 0;
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%03d", i);
        if (i % 3 == 0) {
            assert_int_equal(put_s(f, 0, name, "v", NULL, 0, &o), 0);
            sealed++;
        } else {
            assert_int_equal(create_s(f, 1, name, 1, NULL, 0, &o), 0);
        }
    }
    const char *after = NULL;
    size_t after_len = 0;
    char cursor[16];
    int seen = 0, calls = 0, last = -1;
    for (;;) {
        unsigned budget = 4;
        const char *resume = NULL;
        size_t resume_len = 0;
        o = store_next_sealed(f->s, after, after_len, &budget, &resume, &resume_len);
        calls++;
        assert_true(calls < 1000);
        if (o) {
            int idx = atoi(o->name + 1);
            assert_int_equal(idx % 3, 0);
            assert_true(idx > last);
            last = idx;
            seen++;
            memcpy(cursor, o->name, o->name_len);
            after_len = o->name_len;
        } else if (budget == 0) {
            assert_non_null(resume);
            memcpy(cursor, resume, resume_len);
            after_len = resume_len;
        } else {
            break;
        }
        after = cursor;
    }
    assert_int_equal(seen, sealed);
}

/* ---- churn with a shadow model ------------------------------------------------------------- */

#define CHURN_NAMES 40

struct mobj {
    uint64_t id;
    struct object *obj;
    int name;              /* index into the name pool */
    uint64_t size, meta_size;
    enum object_state state;
    int replace;
    int owner;             /* client index while unsealed */
    uint64_t pins[NCLIENTS];
    uint8_t fill;          /* payload byte pattern seed */
    struct mobj *next;     /* list of all live objects */
};

struct model {
    struct mobj *live;
    struct mobj *sealed[CHURN_NAMES];
    struct mobj *reserved[CHURN_NAMES];
    unsigned replacers[CHURN_NAMES];   /* unsealed REPLACE creates: they take the name too */
    char names[CHURN_NAMES][24];
};

/* An unsealed object stops claiming its name (sealed, aborted, or its client dropped). */
static void model_unclaim(struct model *md, struct mobj *m)
{
    if (md->reserved[m->name] == m)
        md->reserved[m->name] = NULL;
    else if (m->replace)
        md->replacers[m->name]--;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t mpins(const struct mobj *m)
{
    uint64_t n = 0;
    for (int i = 0; i < NCLIENTS; i++)
        n += m->pins[i];
    return n;
}

static void model_remove(struct model *md, struct mobj *m)
{
    for (struct mobj **p = &md->live; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            free(m);
            return;
        }
    }
    fail_msg("model object %llu not in the live list", (unsigned long long)m->id);
}

/* The model's version of object_unbind. */
static void model_unbind(struct model *md, struct mobj *m)
{
    if (mpins(m) == 0)
        model_remove(md, m);
    else
        m->state = OBJECT_DELETED;
}

static void model_unpin(struct model *md, struct mobj *m, int c, uint64_t n)
{
    m->pins[c] -= n;
    if (m->state == OBJECT_DELETED && mpins(m) == 0)
        model_remove(md, m);
}

static struct mobj *pick(struct model *md, uint64_t *rng, bool (*want)(const struct mobj *, int),
                         int c)
{
    size_t n = 0;
    for (struct mobj *m = md->live; m; m = m->next)
        if (want(m, c))
            n++;
    if (n == 0)
        return NULL;
    size_t k = next_random(rng) % n;
    for (struct mobj *m = md->live; m; m = m->next)
        if (want(m, c) && k-- == 0)
            return m;
    return NULL;
}

static bool is_own_unsealed(const struct mobj *m, int c)
{
    return m->state == OBJECT_UNSEALED && m->owner == c;
}

static bool is_other_unsealed(const struct mobj *m, int c)
{
    return m->state == OBJECT_UNSEALED && m->owner != c;
}

static bool is_pinned_by(const struct mobj *m, int c)
{
    return m->pins[c] > 0;
}

static bool is_unpinned_by(const struct mobj *m, int c)
{
    return m->state != OBJECT_UNSEALED && m->pins[c] == 0;
}

static uint8_t fill_byte(const struct mobj *m, uint64_t i)
{
    return (uint8_t)(m->fill + i * 31u);
}

static void fill_payload(struct fixture *f, const struct mobj *m)
{
    uint8_t *p = f->arena + m->obj->data_offset;
    for (uint64_t i = 0; i < m->size; i++)
        p[i] = fill_byte(m, i);
}

static void check_payload(struct fixture *f, const struct mobj *m)
{
    const uint8_t *p = f->arena + m->obj->data_offset;
    if (m->size) {
        assert_int_equal(p[0], fill_byte(m, 0));
        assert_int_equal(p[m->size - 1], fill_byte(m, m->size - 1));
        assert_int_equal(p[m->size / 2], fill_byte(m, m->size / 2));
    }
    for (uint64_t i = 0; i < m->meta_size; i++)
        assert_int_equal(f->arena[store_meta_offset(m->obj) + i], (uint8_t)(m->fill ^ i));
}

static void model_check(struct fixture *f, struct model *md, bool deep)
{
    uint64_t objects = 0, unsealed = 0, unsealed_bytes = 0, deleted_pinned = 0, pins = 0,
             used = 0;
    uint64_t cl_unsealed[NCLIENTS] = {0}, cl_unsealed_bytes[NCLIENTS] = {0},
             cl_pins[NCLIENTS] = {0};
    for (struct mobj *m = md->live; m; m = m->next) {
        used += footprint(m->size, m->meta_size);
        pins += mpins(m);
        for (int c = 0; c < NCLIENTS; c++)
            cl_pins[c] += m->pins[c];
        assert_int_equal(m->obj->id, m->id);
        assert_int_equal(m->obj->state, m->state);
        assert_int_equal(m->obj->pins, mpins(m));
        switch (m->state) {
        case OBJECT_SEALED: objects++; break;
        case OBJECT_DELETED: deleted_pinned++; break;
        case OBJECT_UNSEALED:
            unsealed++;
            unsealed_bytes += m->size;
            cl_unsealed[m->owner]++;
            cl_unsealed_bytes[m->owner] += m->size;
            assert_ptr_equal(m->obj->owner, &f->cl[m->owner]);
            break;
        }
        if (deep)
            check_payload(f, m);
    }
    struct store_stats st = stats(f->s);
    assert_int_equal(st.objects, objects);
    assert_int_equal(st.unsealed_objects, unsealed);
    assert_int_equal(st.unsealed_bytes, unsealed_bytes);
    assert_int_equal(st.deleted_pinned, deleted_pinned);
    assert_int_equal(st.pins, pins);
    assert_int_equal(st.waiters, 0);
    assert_int_equal(st.used_bytes, used);
    assert_int_equal(st.used_bytes + st.free_bytes, st.capacity_bytes);
    for (int c = 0; c < NCLIENTS; c++) {
        assert_int_equal(f->cl[c].unsealed_count, cl_unsealed[c]);
        assert_int_equal(f->cl[c].unsealed_bytes, cl_unsealed_bytes[c]);
        assert_int_equal(f->cl[c].pin_count, cl_pins[c]);
    }
    if (deep) {
        for (int i = 0; i < CHURN_NAMES; i++) {
            struct object *o = lookup_s(f, md->names[i]);
            if (md->sealed[i])
                assert_ptr_equal(o, md->sealed[i]->obj);
            else
                assert_null(o);
        }
        /* The walk lists exactly the bound names, in order. */
        char listing[CHURN_NAMES * 26], expect[CHURN_NAMES * 26];
        walk(f->s, listing, sizeof listing);
        expect[0] = '\0';
        for (int i = 0; i < CHURN_NAMES; i++) {   /* the pool is generated in sorted order */
            if (!md->sealed[i])
                continue;
            if (expect[0])
                strcat(expect, ",");
            strcat(expect, md->names[i]);
        }
        assert_string_equal(listing, expect);
    }
}

static uint64_t churn_size(uint64_t *rng)
{
    uint64_t r = next_random(rng) % 100;
    if (r < 5)
        return 0;
    if (r < 90)
        return next_random(rng) % 4096;
    if (r < 98)
        return next_random(rng) % 60000;
    return 65536 + next_random(rng) % 200000;
}

/* create (or put) on name index `ni` for client c, compared with the model. */
static void churn_create(struct fixture *f, struct model *md, uint64_t *rng, int c, int ni,
                         bool put)
{
    unsigned replace = (next_random(rng) % 4 == 0) ? SHMSTORE_REPLACE : 0;
    uint64_t size = churn_size(rng);
    uint8_t meta[40];
    size_t meta_size = next_random(rng) % 3 == 0 ? 1 + next_random(rng) % sizeof meta : 0;
    uint8_t fill = (uint8_t)next_random(rng);
    for (size_t i = 0; i < meta_size; i++)
        meta[i] = (uint8_t)(fill ^ i);
    const char *name = md->names[ni];
    bool taken = md->sealed[ni] || md->reserved[ni] || md->replacers[ni];
    int expect = (!replace && taken) ? SHMSTORE_EEXIST : 0;

    struct store_stats before = stats(f->s);
    struct store_detail d = {{0}};
    struct object *o = NULL;
    int rc;
    uint8_t *data = NULL;
    if (put) {
        data = malloc(size ? size : 1);
        assert_non_null(data);
        struct mobj tmp = {.fill = fill};
        for (uint64_t i = 0; i < size; i++)
            data[i] = fill_byte(&tmp, i);
        rc = store_put(f->s, &f->cl[c], name, strlen(name), size ? data : NULL, size,
                       meta_size ? meta : NULL, meta_size, replace, &o, &d);
        free(data);
    } else {
        rc = store_create(f->s, &f->cl[c], name, strlen(name), size, meta_size ? meta : NULL,
                          meta_size, replace, &o, &d);
    }
    if (rc == SHMSTORE_ENOSPC && expect == 0) {
        assert_non_null(strstr(d.text, "store full"));
        struct store_stats after = stats(f->s);
        assert_stats_equal(&before, &after);
        return;
    }
    assert_int_equal(rc, expect);
    if (rc != 0) {
        struct store_stats after = stats(f->s);
        assert_stats_equal(&before, &after);
        return;
    }
    struct mobj *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->id = o->id;
    m->obj = o;
    m->name = ni;
    m->size = size;
    m->meta_size = meta_size;
    m->replace = replace != 0;
    m->owner = c;
    m->fill = fill;
    m->next = md->live;
    md->live = m;
    if (put) {
        m->state = OBJECT_SEALED;
        struct mobj *prev = md->sealed[ni];
        md->sealed[ni] = m;
        if (prev)
            model_unbind(md, prev);
    } else {
        m->state = OBJECT_UNSEALED;
        if (!replace)
            md->reserved[ni] = m;
        else
            md->replacers[ni]++;
        fill_payload(f, m);
    }
}

static void churn_seal(struct fixture *f, struct model *md, struct mobj *m, int c)
{
    int ni = m->name;
    int expect = (!m->replace && md->sealed[ni]) ? SHMSTORE_EEXIST : 0;
    struct store_stats before = stats(f->s);
    assert_int_equal(seal_s(f, c, m->id), expect);
    if (expect) {
        struct store_stats after = stats(f->s);
        assert_stats_equal(&before, &after);
        return;
    }
    model_unclaim(md, m);
    m->state = OBJECT_SEALED;
    struct mobj *prev = md->sealed[ni];
    md->sealed[ni] = m;
    if (prev)
        model_unbind(md, prev);
}

static void churn_abort(struct fixture *f, struct model *md, struct mobj *m, int c)
{
    assert_int_equal(abort_s(f, c, m->id), 0);
    model_unclaim(md, m);
    model_remove(md, m);
}

static void churn_drop(struct fixture *f, struct model *md, int c)
{
    store_client_drop(f->s, &f->cl[c]);
    store_client_init(f->s, &f->cl[c]);
    struct mobj *m = md->live;
    while (m) {
        struct mobj *next = m->next;
        if (m->state == OBJECT_UNSEALED && m->owner == c) {
            model_unclaim(md, m);
            model_remove(md, m);
        } else if (m->pins[c]) {
            model_unpin(md, m, c, m->pins[c]);
        }
        m = next;
    }
}

static void test_churn_accounting(void **state)
{
    struct fixture *f = *state;
    struct model md;
    memset(&md, 0, sizeof md);
    for (int i = 0; i < CHURN_NAMES; i++) {
        /* Sorted by construction (memcmp order): "j/00".."j/39" ... */
        if (i < 30)
            snprintf(md.names[i], sizeof md.names[i], "j/%02d", i);
        else   /* ... then multi-byte UTF-8, which sorts after ASCII. */
            snprintf(md.names[i], sizeof md.names[i], "\xc3\xa9/%02d", i);
    }
    uint64_t rng = 20240601;
    const int ops = 20000;
    uint64_t counts[16] = {0};

    for (int step = 0; step < ops; step++) {
        int c = (int)(next_random(&rng) % NCLIENTS);
        int ni = (int)(next_random(&rng) % CHURN_NAMES);
        unsigned op = (unsigned)(next_random(&rng) % 100);
        struct mobj *m;
        struct object *o;
        if (op < 18) {                                     /* put */
            churn_create(f, &md, &rng, c, ni, true);
            counts[0]++;
        } else if (op < 32) {                              /* create (bounded backlog) */
            if (f->cl[c].unsealed_count < 6) {
                churn_create(f, &md, &rng, c, ni, false);
                counts[1]++;
            }
        } else if (op < 44) {                              /* seal own */
            if ((m = pick(&md, &rng, is_own_unsealed, c))) {
                churn_seal(f, &md, m, c);
                counts[2]++;
            }
        } else if (op < 49) {                              /* abort own */
            if ((m = pick(&md, &rng, is_own_unsealed, c))) {
                churn_abort(f, &md, m, c);
                counts[3]++;
            }
        } else if (op < 52) {                              /* seal/abort someone else's */
            if ((m = pick(&md, &rng, is_other_unsealed, c))) {
                struct store_stats before = stats(f->s);
                assert_int_equal(seal_s(f, c, m->id), SHMSTORE_ESTATE);
                assert_int_equal(abort_s(f, c, m->id), SHMSTORE_ESTATE);
                struct store_stats after = stats(f->s);
                assert_stats_equal(&before, &after);
                counts[4]++;
            }
        } else if (op < 68) {                              /* get */
            int rc = get_s(f, c, md.names[ni], &o);
            if (md.sealed[ni]) {
                assert_int_equal(rc, 0);
                assert_ptr_equal(o, md.sealed[ni]->obj);
                md.sealed[ni]->pins[c]++;
                check_payload(f, md.sealed[ni]);
            } else {
                assert_int_equal(rc, SHMSTORE_ENOTFOUND);
            }
            counts[5]++;
        } else if (op < 84) {                              /* release */
            if ((m = pick(&md, &rng, is_pinned_by, c))) {
                check_payload(f, m);
                assert_int_equal(release_s(f, c, m->id), 0);
                model_unpin(&md, m, c, 1);
                counts[6]++;
            }
        } else if (op < 86) {                              /* release without a pin */
            if ((m = pick(&md, &rng, is_unpinned_by, c))) {
                assert_int_equal(release_s(f, c, m->id), SHMSTORE_ESTATE);
                counts[7]++;
            }
        } else if (op < 96) {                              /* delete */
            int rc = delete_s(f, md.names[ni]);
            if (md.sealed[ni]) {
                assert_int_equal(rc, 0);
                struct mobj *old = md.sealed[ni];
                md.sealed[ni] = NULL;
                model_unbind(&md, old);
            } else {
                assert_int_equal(rc, SHMSTORE_ENOTFOUND);
            }
            counts[8]++;
        } else if (op < 97) {                              /* client crash */
            churn_drop(f, &md, c);
            counts[9]++;
        } else {                                           /* unknown id */
            uint64_t bogus = UINT64_C(1) << 62 | next_random(&rng) % 1000;
            assert_int_equal(seal_s(f, c, bogus), SHMSTORE_ENOTFOUND);
            assert_int_equal(abort_s(f, c, bogus), SHMSTORE_ENOTFOUND);
            assert_int_equal(release_s(f, c, bogus), SHMSTORE_ESTATE);
            counts[10]++;
        }
        model_check(f, &md, step % 500 == 0);
    }
    model_check(f, &md, true);
    /* Every kind of operation actually happened. */
    for (int k = 0; k <= 10; k++)
        assert_true(counts[k] > 0);

    /* Drop every client, delete every name: nothing may remain. */
    for (int c = 0; c < NCLIENTS; c++)
        churn_drop(f, &md, c);
    model_check(f, &md, true);
    for (int i = 0; i < CHURN_NAMES; i++) {
        if (md.sealed[i]) {
            assert_int_equal(delete_s(f, md.names[i]), 0);
            struct mobj *old = md.sealed[i];
            md.sealed[i] = NULL;
            model_unbind(&md, old);
        } else {
            assert_int_equal(delete_s(f, md.names[i]), SHMSTORE_ENOTFOUND);
        }
    }
    assert_null(md.live);
    struct store_stats st = stats(f->s);
    assert_int_equal(st.used_bytes, 0);
    assert_int_equal(st.free_bytes, ARENA_SIZE);
    assert_int_equal(st.largest_free_bytes, ARENA_SIZE);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.unsealed_objects, 0);
    assert_int_equal(st.unsealed_bytes, 0);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.pins, 0);
    char listing[64];
    assert_string_equal(walk(f->s, listing, sizeof listing), "");
    /* All names are free again. */
    for (int i = 0; i < CHURN_NAMES; i++) {
        struct object *o;
        assert_int_equal(create_s(f, i % NCLIENTS, md.names[i], 1, NULL, 0, &o), 0);
    }
}

/* A store freed with sealed objects still in it (clients dropped first) leaks nothing. */
static void test_store_free_with_live_objects(void **state)
{
    (void)state;
    void *mem = NULL;
    assert_int_equal(posix_memalign(&mem, 4096, 1u << 20), 0);
    store_t *s = store_new(mem, 1u << 20);
    assert_non_null(s);
    struct store_client cl;
    store_client_init(s, &cl);
    struct store_detail d;
    struct object *o;
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "obj%d", i);
        assert_int_equal(store_put(s, &cl, name, strlen(name), "x", 1, "m", 1, 0, &o, &d), 0);
        if (i % 5 == 0)
            assert_int_equal(store_get(s, &cl, name, strlen(name), &o, &d), 0);
        if (i % 7 == 0)
            assert_int_equal(store_delete(s, name, strlen(name), &d), 0);
    }
    assert_int_equal(store_create(s, &cl, "pending", 7, 10, NULL, 0, 0, &o, &d), 0);
    store_client_drop(s, &cl);
    struct store_stats st = stats(s);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.pins, 0);
    assert_int_equal(st.unsealed_objects, 0);
    store_free(s);
    free(mem);
}


/* ---- durable objects: the two-step seal and restore ------------------------------------------ */

static void assert_sound(store_t *s)
{
    char why[256];
    if (store_check(s, why, sizeof why) != 0)
        fail_msg("store_check: %s", why);
}

struct unbound_log {
    int calls;
    uint64_t last_id;
};

static void record_unbind(void *ctx, const struct object *obj)
{
    struct unbound_log *log = ctx;
    log->calls++;
    log->last_id = obj->id;
}

static void test_durable_seal_binds_only_at_finish(void **state)
{
    struct fixture *f = *state;
    struct unbound_log log = {0};
    store_set_unbind_hook(f->s, record_unbind, &log);
    struct object *old, *o, *begun;
    struct store_detail d;
    int durable = -1;
    assert_int_equal(put_s(f, 0, "d", "old", NULL, 0, &old), 0);
    assert_int_equal(create_s(f, 0, "d", 10, NULL, STORE_REPLACE | STORE_PERSIST, &o), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[0], o->id, &begun, &durable, &d), 0);
    assert_int_equal(durable, 1);
    assert_ptr_equal(begun, o);
    /* Being written: not bound yet, and neither sealable nor abortable again. */
    assert_ptr_equal(lookup_s(f, "d"), old);
    assert_int_equal(seal_s(f, 0, o->id), SHMSTORE_ESTATE);
    assert_int_equal(abort_s(f, 0, o->id), SHMSTORE_ESTATE);
    assert_sound(f->s);
    assert_int_equal(store_seal_finish(f->s, o, &d), 0);
    assert_ptr_equal(lookup_s(f, "d"), o);
    /* The old object was transient: the hook only hears of durable ones. */
    assert_int_equal(log.calls, 0);
    const uint64_t durable_id = o->id;   /* the delete frees o */
    assert_int_equal(delete_s(f, "d"), 0);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.last_id, durable_id);
    assert_sound(f->s);
    /* A transient object's seal_begin seals at once. */
    struct object *t;
    assert_int_equal(create_s(f, 1, "t", 1, NULL, 0, &t), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[1], t->id, &begun, &durable, &d), 0);
    assert_int_equal(durable, 0);
    assert_ptr_equal(lookup_s(f, "t"), t);
    store_set_unbind_hook(f->s, NULL, NULL);
}

static void test_durable_write_outlives_its_client(void **state)
{
    struct fixture *f = *state;
    struct object *o, *p, *begun;
    struct store_detail d;
    int durable;
    assert_int_equal(create_s(f, 2, "a", 100, "m", STORE_PERSIST, &o), 0);
    assert_int_equal(create_s(f, 2, "b", 100, NULL, STORE_PERSIST, &p), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[2], o->id, &begun, &durable, &d), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[2], p->id, &begun, &durable, &d), 0);
    store_client_drop(f->s, &f->cl[2]);
    store_client_init(f->s, &f->cl[2]);
    /* Ownerless while their writes run, and the store still adds up. */
    assert_null(o->owner);
    assert_int_equal(stats(f->s).unsealed_objects, 2);
    assert_sound(f->s);
    /* One write succeeded: bound. The other failed: freed, its name free again. */
    assert_int_equal(store_seal_finish(f->s, o, &d), 0);
    assert_ptr_equal(lookup_s(f, "a"), o);
    store_seal_abandon(f->s, p);
    assert_int_equal(stats(f->s).unsealed_objects, 0);
    struct object *again;
    assert_int_equal(create_s(f, 0, "b", 1, NULL, 0, &again), 0);
    assert_sound(f->s);
}

static void test_durable_seal_failure_keeps_it_unsealed(void **state)
{
    struct fixture *f = *state;
    struct object *o, *begun, *r;
    struct store_detail d;
    int durable;
    assert_int_equal(create_s(f, 0, "x", 8, NULL, STORE_PERSIST, &o), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[0], o->id, &begun, &durable, &d), 0);
    store_seal_abandon(f->s, o);
    /* Still its client's, unsealed: the client may seal again or abort. */
    assert_ptr_equal(o->owner, &f->cl[0]);
    assert_null(lookup_s(f, "x"));
    assert_int_equal(abort_s(f, 0, o->id), 0);
    /* A plain create whose write was overtaken by a replacing seal: EEXIST at finish. */
    assert_int_equal(create_s(f, 0, "y", 8, NULL, STORE_PERSIST, &o), 0);
    assert_int_equal(store_seal_begin(f->s, &f->cl[0], o->id, &begun, &durable, &d), 0);
    assert_int_equal(put_s(f, 1, "y", "r", NULL, STORE_REPLACE, &r), 0);
    assert_int_equal(store_seal_finish(f->s, o, &d), SHMSTORE_EEXIST);
    assert_ptr_equal(lookup_s(f, "y"), r);
    assert_int_equal(abort_s(f, 0, o->id), 0);
    assert_sound(f->s);
}

static void test_restore_keeps_ids_and_raises_next(void **state)
{
    struct fixture *f = *state;
    struct object *o, *n;
    struct store_detail d;
    const uint64_t far = (uint64_t)1 << 52;
    const uint64_t used = stats(f->s).used_bytes;
    assert_int_equal(store_restore(f->s, "r", 1, far, 64, 3, 12345, 0xC0FFEE, &o, &d), 0);
    assert_int_equal(o->id, far);
    assert_int_equal(o->created_ns, 12345);
    assert_int_equal(o->persist, 1);
    assert_int_equal(o->checksum, 0xC0FFEE);
    assert_ptr_equal(lookup_s(f, "r"), o);
    /* Listed, but on disk only: it takes no arena until its first get. */
    assert_int_equal(object_location(o), LOCATION_DISK);
    assert_int_equal(stats(f->s).used_bytes, used);
    assert_int_equal(stats(f->s).disk_only_objects, 1);
    /* The same id twice is refused; a new object's id is above the restored one. */
    assert_int_equal(store_restore(f->s, "s", 1, far, 1, 0, 1, 0, &n, &d), SHMSTORE_EEXIST);
    assert_int_equal(put_s(f, 0, "new", "n", NULL, 0, &n), 0);
    assert_true(n->id > far);
    /* A damaged one is forgotten: gone, without a catalogue drop. */
    struct unbound_log log = {0};
    store_set_unbind_hook(f->s, record_unbind, &log);
    store_forget(f->s, o);
    assert_null(lookup_s(f, "r"));
    assert_int_equal(log.calls, 0);
    store_set_unbind_hook(f->s, NULL, NULL);
    /* Larger than the whole arena: listed all the same, a get could only fail. */
    assert_int_equal(store_restore(f->s, "huge", 4, far + 10, 2 * ARENA_SIZE, 0, 1, 0, &o, &d),
                     0);
    assert_int_equal(store_load_begin(f->s, o, &d), SHMSTORE_ENOSPC);
    assert_sound(f->s);
}

/* A get of an object on disk only: the caller takes a block for it, reads, and it is in memory
 * (and on disk) again; a failed read gives the block back. */
static void test_load_brings_an_object_back(void **state)
{
    struct fixture *f = *state;
    struct object *o, *got;
    struct store_detail d;
    assert_int_equal(store_restore(f->s, "r", 1, 1ull << 52, 100, 5, 1, 7, &o, &d), 0);
    assert_int_equal(get_s(f, 0, "r", &got), 0);
    assert_ptr_equal(got, o);
    assert_int_equal(store_load_begin(f->s, o, &d), 0);
    assert_true(o->loading);
    assert_non_null(o->block);
    assert_int_equal(store_meta_offset(o), o->data_offset + 128);
    assert_sound(f->s);
    store_load_done(f->s, o, 0);   /* the read failed */
    assert_int_equal(object_location(o), LOCATION_DISK);
    assert_int_equal(store_load_begin(f->s, o, &d), 0);
    store_load_done(f->s, o, 1);
    assert_int_equal(object_location(o), LOCATION_BOTH);
    assert_int_equal(stats(f->s).used_bytes, footprint(100, 5));
    assert_int_equal(stats(f->s).disk_only_objects, 0);
    assert_int_equal(stats(f->s).disk_objects, 1);
    assert_int_equal(release_s(f, 0, o->id), 0);
    assert_sound(f->s);
}

/* Fill the arena with objects of one size; returns how many fit. */
static int fill(struct fixture *f, const char *prefix, uint64_t size, unsigned flags,
                struct object **objs, int max)
{
    int n = 0;
    char name[32];
    while (n < max) {
        snprintf(name, sizeof name, "%s%d", prefix, n);
        struct object *o;
        if (create_s(f, 0, name, size, NULL, flags, &o) != 0)
            break;
        assert_int_equal(seal_s(f, 0, o->id), 0);
        objs[n++] = o;
    }
    return n;
}

static void test_make_room_evicts_on_disk_objects_first(void **state)
{
    struct fixture *f = *state;
    struct object *objs[64], *spill[8], *pinned;
    struct store_detail d;
    size_t n;
    const uint64_t size = ARENA_SIZE / 8;
    int count = fill(f, "o", size, 0, objs, 64);
    assert_true(count >= 6);
    /* Every other one is "on disk" (a durable write completed), the first is pinned. */
    for (int i = 0; i < count; i += 2)
        store_set_on_disk(f->s, objs[i], 100 + (uint64_t)i);
    assert_int_equal(get_s(f, 1, "o0", &pinned), 0);
    assert_int_equal(store_make_room(f->s, size, 1, 0, spill, 8, &n, &d), 0);
    assert_int_equal(n, 0);
    /* The least recently used object on disk went (o2: o0 is pinned), nothing else. */
    assert_int_equal(object_location(objs[0]), LOCATION_BOTH);
    assert_int_equal(object_location(objs[2]), LOCATION_DISK);
    assert_int_equal(object_location(objs[4]), LOCATION_BOTH);
    assert_int_equal(object_location(objs[1]), LOCATION_MEMORY);
    assert_int_equal(store_evictions(f->s), 1);
    assert_sound(f->s);
    /* The room taken, more asked: the next on-disk object goes, never a transient one. */
    struct object *o;
    assert_int_equal(create_s(f, 0, "new", size, NULL, 0, &o), 0);
    assert_int_equal(store_make_room(f->s, size, 0, 0, spill, 8, &n, &d), 0);
    assert_int_equal(object_location(objs[4]), LOCATION_DISK);
    assert_int_equal(object_location(objs[1]), LOCATION_MEMORY);
    assert_int_equal(object_location(objs[0]), LOCATION_BOTH);   /* pinned: never moves */
    /* Two contiguous blocks' worth: no single run of on-disk objects holds it, and nothing
     * transient may be spilled: ENOSPC, and the pinned one is named. */
    assert_int_equal(store_make_room(f->s, size * 2, 0, 0, spill, 8, &n, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "'o0'"));
    assert_int_equal(abort_s(f, 0, o->id), 0);
    assert_int_equal(release_s(f, 1, pinned->id), 0);
    assert_sound(f->s);
}

static void test_make_room_spills_transient_objects(void **state)
{
    struct fixture *f = *state;
    struct object *objs[64], *spill[8], *pinned;
    struct store_detail d;
    size_t n;
    const uint64_t size = ARENA_SIZE / 8;
    int count = fill(f, "t", size, 0, objs, 64);
    assert_int_equal(get_s(f, 1, "t0", &pinned), 0);
    /* Without spill nothing can leave: ENOSPC, saying what is pinned. */
    assert_int_equal(store_make_room(f->s, size, 0, 0, spill, 8, &n, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "1 objects"));
    assert_non_null(strstr(d.text, "'t0'"));
    /* With spill: the least recently used unpinned one is chosen, held, still readable. */
    assert_int_equal(store_make_room(f->s, size, 1, 0, spill, 8, &n, &d), STORE_ROOM_PENDING);
    assert_int_equal(n, 1);
    assert_ptr_equal(spill[0], objs[1]);
    assert_true(objs[1]->spilling);
    assert_sound(f->s);
    /* Asked again while that spill runs: wait for it, choose nothing more. */
    assert_int_equal(store_make_room(f->s, size, 1, 0, spill + 1, 7, &n, &d), STORE_ROOM_PENDING);
    assert_int_equal(n, 0);
    /* Done: it leaves memory, its copy is a spill file. */
    assert_int_equal(store_spill_done(f->s, objs[1], 1, 42), 0);
    assert_int_equal(object_location(objs[1]), LOCATION_DISK);
    assert_true(objs[1]->spilled);
    assert_int_equal(objs[1]->checksum, 42);
    assert_int_equal(store_make_room(f->s, size, 1, 0, spill, 8, &n, &d), 0);
    /* A spill that a get overtakes: the object stays (both), the file is kept. */
    assert_int_equal(store_make_room(f->s, 2 * size, 1, 0, spill, 8, &n, &d), STORE_ROOM_PENDING);
    assert_true(n >= 1);
    struct object *got;
    assert_int_equal(get_s(f, 2, spill[0]->name, &got), 0);
    assert_int_equal(store_spill_done(f->s, spill[0], 1, 1), 0);
    assert_int_equal(object_location(got), LOCATION_BOTH);
    /* A failed spill: never chosen again; its file is of no use. */
    for (size_t i = 1; i < n; i++)
        assert_int_equal(store_spill_done(f->s, spill[i], 0, 0), 1);
    /* A spilled object's freeing removes its file (the hook). */
    struct unbound_log log = {0};
    (void)log;
    assert_int_equal(release_s(f, 2, got->id), 0);
    assert_int_equal(release_s(f, 1, pinned->id), 0);
    (void)count;
    assert_sound(f->s);
}

/* evict = lru: unpinned transient objects are deleted, least recently used first; pinned,
 * durable and NO_EVICT ones stay. */
static void test_make_room_deletes_in_cache_mode(void **state)
{
    struct fixture *f = *state;
    struct object *objs[64], *spill[1], *pinned, *o;
    struct store_detail d;
    size_t n;
    const uint64_t size = ARENA_SIZE / 8;
    int count = fill(f, "c", size, 0, objs, 64);
    assert_true(count >= 6);
    /* c0 pinned, c1 NO_EVICT (made so by hand here), c2 durable: the oldest three stay. */
    assert_int_equal(get_s(f, 1, "c0", &pinned), 0);
    objs[1]->no_evict = 1;
    objs[2]->persist = 1;
    uint64_t before = store_evicted_deletions(f->s);
    assert_int_equal(store_make_room(f->s, size, 0, 1, spill, 0, &n, &d), 0);
    assert_int_equal(store_evicted_deletions(f->s), before + 1);
    assert_null(lookup_s(f, "c3"));   /* the least recently used deletable one */
    assert_non_null(lookup_s(f, "c0"));
    assert_non_null(lookup_s(f, "c1"));
    assert_non_null(lookup_s(f, "c2"));
    assert_non_null(lookup_s(f, "c4"));
    assert_sound(f->s);
    /* More than all deletable objects could free: nothing is deleted, ENOSPC. */
    assert_int_equal(create_s(f, 0, "new", size, NULL, 0, &o), 0);
    before = store_evicted_deletions(f->s);
    assert_int_equal(store_make_room(f->s, ARENA_SIZE, 0, 1, spill, 0, &n, &d),
                     SHMSTORE_ENOSPC);
    assert_int_equal(store_evicted_deletions(f->s), before);
    assert_non_null(lookup_s(f, "c4"));
    /* Without can_delete nothing is deleted either. */
    assert_int_equal(store_make_room(f->s, size, 0, 0, spill, 0, &n, &d), SHMSTORE_ENOSPC);
    assert_non_null(lookup_s(f, "c4"));
    objs[2]->persist = 0;
    assert_int_equal(abort_s(f, 0, o->id), 0);
    assert_int_equal(release_s(f, 1, pinned->id), 0);
    assert_sound(f->s);
}

static uint64_t freed_spill_id;
static void record_spill_free(void *ctx, uint64_t id)
{
    (void)ctx;
    freed_spill_id = id;
}

static void test_spilled_object_freed_removes_its_file(void **state)
{
    struct fixture *f = *state;
    struct object *o, *spill[1];
    struct store_detail d;
    size_t n;
    assert_int_equal(put_s(f, 0, "a", "payload", NULL, 0, &o), 0);
    assert_int_equal(store_make_room(f->s, ARENA_SIZE, 1, 0, spill, 1, &n, &d), STORE_ROOM_PENDING);
    assert_ptr_equal(spill[0], o);
    assert_int_equal(store_spill_done(f->s, o, 1, 9), 0);
    store_set_spill_free_hook(f->s, record_spill_free, NULL);
    const uint64_t id = o->id;
    assert_int_equal(store_delete(f->s, "a", 1, &d), 0);
    assert_int_equal(freed_spill_id, id);
    store_set_spill_free_hook(f->s, NULL, NULL);
    assert_sound(f->s);
}

/* The event hook hears every change to a sealed object once, from the store call that made it,
 * with the object still readable: the watch stream's source (daemon/watch.c). */
struct event_log {
    int n;
    enum store_event ev[64];
    uint64_t id[64];
    char name[64][16];
};

static void record_event(void *ctx, enum store_event ev, const struct object *obj)
{
    struct event_log *log = ctx;
    if (log->n < 64) {
        log->ev[log->n] = ev;
        log->id[log->n] = obj->id;
        snprintf(log->name[log->n], sizeof log->name[0], "%s", obj->name);
    }
    log->n++;
}

static void expect_event(const struct event_log *log, int i, enum store_event ev,
                         const char *name, uint64_t id)
{
    assert_true(i < log->n);
    assert_int_equal(log->ev[i], ev);
    assert_string_equal(log->name[i], name);
    if (id)
        assert_true(log->id[i] == id);
}

static void test_event_hook(void **state)
{
    struct fixture *f = *state;
    struct event_log log = {0};
    struct object *a, *a2, *b, *got, *spill[1];
    struct store_detail d;
    size_t n;
    store_set_event_hook(f->s, record_event, &log);
    assert_int_equal(put_s(f, 0, "a", "1", NULL, 0, &a), 0);
    expect_event(&log, 0, STORE_EVENT_SEALED, "a", a->id);
    assert_int_equal(put_s(f, 0, "a", "2", NULL, STORE_REPLACE, &a2), 0);
    expect_event(&log, 1, STORE_EVENT_REPLACED, "a", a2->id);
    /* Nothing is told of unsealed objects, aborts or failures. */
    assert_int_equal(create_s(f, 0, "b", 10, NULL, 0, &b), 0);
    assert_int_equal(abort_s(f, 0, b->id), 0);
    assert_int_equal(put_s(f, 0, "a", "3", NULL, 0, &b), SHMSTORE_EEXIST);
    assert_int_equal(delete_s(f, "nothing"), SHMSTORE_ENOTFOUND);
    assert_int_equal(log.n, 2);
    /* A delete of a pinned object is told at once, not when its memory goes. */
    assert_int_equal(get_s(f, 1, "a", &got), 0);
    assert_int_equal(delete_s(f, "a"), 0);
    expect_event(&log, 2, STORE_EVENT_DELETED, "a", a2->id);
    assert_int_equal(release_s(f, 1, got->id), 0);
    assert_int_equal(log.n, 3);
    /* Each deletion of a pattern's delete is told. */
    assert_int_equal(put_s(f, 0, "j/1", "x", NULL, 0, &b), 0);
    assert_int_equal(put_s(f, 0, "j/2", "x", NULL, 0, &b), 0);
    assert_int_equal(delete_matching_s(f, "j/*"), 2);
    expect_event(&log, 5, STORE_EVENT_DELETED, "j/1", 0);
    expect_event(&log, 6, STORE_EVENT_DELETED, "j/2", 0);
    /* Spill: told when the object leaves memory; read back: restored. */
    assert_int_equal(put_s(f, 0, "s", "payload", NULL, 0, &b), 0);
    assert_int_equal(store_make_room(f->s, ARENA_SIZE, 1, 0, spill, 1, &n, &d),
                     STORE_ROOM_PENDING);
    assert_int_equal(log.n, 8);   /* chosen, being written: still in memory */
    assert_int_equal(store_spill_done(f->s, b, 1, 9), 0);
    expect_event(&log, 8, STORE_EVENT_SPILLED, "s", b->id);
    assert_int_equal(get_s(f, 1, "s", &got), 0);
    assert_int_equal(store_load_begin(f->s, got, &d), 0);
    store_load_done(f->s, got, 0);   /* a failed read restores nothing */
    assert_int_equal(log.n, 9);
    assert_int_equal(store_load_begin(f->s, got, &d), 0);
    store_load_done(f->s, got, 1);
    expect_event(&log, 9, STORE_EVENT_RESTORED, "s", b->id);
    assert_int_equal(release_s(f, 1, got->id), 0);
    /* Cache mode's deletions are evictions. */
    assert_int_equal(delete_s(f, "s"), 0);
    int before = log.n;
    struct object *objs[64];
    int count = fill(f, "c", ARENA_SIZE / 8, 0, objs, 64);
    assert_int_equal(log.n, before + count);
    const uint64_t oldest = objs[0]->id;   /* freed by its eviction */
    assert_int_equal(store_make_room(f->s, ARENA_SIZE / 8, 0, 1, spill, 0, &n, &d), 0);
    assert_int_equal(log.n, before + count + 1);
    expect_event(&log, log.n - 1, STORE_EVENT_EVICTED, "c0", oldest);
    store_set_event_hook(f->s, NULL, NULL);
    assert_sound(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_lifecycle_and_stats),
        T(test_durable_seal_binds_only_at_finish),
        T(test_durable_write_outlives_its_client),
        T(test_durable_seal_failure_keeps_it_unsealed),
        T(test_restore_keeps_ids_and_raises_next),
        T(test_load_brings_an_object_back),
        T(test_make_room_evicts_on_disk_objects_first),
        T(test_make_room_spills_transient_objects),
        T(test_spilled_object_freed_removes_its_file),
        T(test_make_room_deletes_in_cache_mode),
        T(test_event_hook),
        T(test_abort_frees_object_and_name),
        T(test_put_copies_data_and_meta),
        T(test_eexist_on_sealed_name),
        T(test_eexist_on_reserved_name),
        T(test_replace_moves_name_atomically),
        T(test_replace_seals_first_reserver_gets_eexist),
        T(test_reserver_seals_first_then_replace),
        T(test_reserved_name_survives_delete_of_replacement),
        T(test_state_errors),
        T(test_two_pins_need_two_releases),
        T(test_delete_while_pinned),
        T(test_client_drop_releases_everything),
        T(test_client_drop_empty_and_ids),
        T(test_wait_woken_by_seal),
        T(test_wait_woken_by_put),
        T(test_wait_cancel_frees_entry),
        T(test_wait_many_waiters),
        T(test_enospc),
        T(test_zero_sizes),
        T(test_alignment),
        T(test_next_sealed_order_and_resume),
        T(test_next_sealed_small_budget_full_walk),
        T(test_delete_matching_leaves_non_matching_unsealed_and_pinned),
        T(test_delete_matching_agrees_with_fnmatch),
        T(test_churn_accounting),
        T(test_store_free_with_live_objects),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
