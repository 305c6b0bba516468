/*
 * test_expiry.c — deadlines of time to live: the min-heap of daemon/core/expiry.{h,c} against a
 * simple model under a deterministic random mix of adds, removals and pops, and the store's use
 * of it (store_set_ttl, store_expire): a time to live starts at the seal, an expired object goes
 * as a delete would (a pinned one lives on for its readers), the event hook hears of it while
 * the object still exists, and objects deleted or replaced first leave the heap at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expiry.h"
#include "shmstore.h"
#include "store.h"

/* ---- the heap alone ------------------------------------------------------------------------- */

#define ITEMS 500

struct item {
    int64_t at;
    uint32_t slot;    /* as the heap says */
    int in;           /* the model: in the heap */
};

static void item_moved(void *p, uint32_t slot)
{
    ((struct item *)p)->slot = slot;
}

/* Every item the model has is where it says it is, and the heap is in order. */
static void check_heap(const expiry_heap *h, const struct item *items)
{
    uint32_t in = 0;
    for (int i = 0; i < ITEMS; i++) {
        if (!items[i].in) {
            assert_int_equal(items[i].slot, 0);
            continue;
        }
        in++;
        assert_true(items[i].slot >= 1 && items[i].slot <= h->count);
        assert_ptr_equal(h->entries[items[i].slot - 1].item, &items[i]);
        assert_true(h->entries[items[i].slot - 1].at_ns == items[i].at);
    }
    assert_int_equal(in, h->count);
    for (uint32_t i = 1; i < h->count; i++)
        assert_true(h->entries[(i - 1) / 2].at_ns <= h->entries[i].at_ns);
}

static int64_t model_min(const struct item *items)
{
    int64_t min = EXPIRY_NONE;
    for (int i = 0; i < ITEMS; i++)
        if (items[i].in && items[i].at < min)
            min = items[i].at;
    return min;
}

static void test_heap_against_model(void **state)
{
    (void)state;
    static struct item items[ITEMS];
    memset(items, 0, sizeof items);
    expiry_heap h = {.moved = item_moved};
    assert_true(expiry_next(&h) == EXPIRY_NONE);
    assert_null(expiry_pop_due(&h, INT64_MAX));
    uint64_t seed = 42;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        struct item *it = &items[(seed >> 33) % ITEMS];
        switch ((seed >> 20) % 4) {
        case 0:
        case 1:
            if (!it->in) {
                it->at = (int64_t)((seed >> 8) % 1000);   /* many equal deadlines too */
                assert_int_equal(expiry_add(&h, it, it->at), 0);
                it->in = 1;
            }
            break;
        case 2:
            if (it->in) {
                expiry_remove(&h, it->slot);
                it->in = 0;
            }
            break;
        case 3: {
            int64_t now = (int64_t)((seed >> 8) % 1000);
            int64_t min = model_min(items);
            struct item *popped = expiry_pop_due(&h, now);
            if (min > now) {
                assert_null(popped);
            } else {
                assert_non_null(popped);
                assert_true(popped->in && popped->at == min);
                popped->in = 0;
            }
            break;
        }
        }
        assert_true(expiry_next(&h) == model_min(items));
        if (step % 97 == 0)
            check_heap(&h, items);
    }
    check_heap(&h, items);
    /* Draining pops everything in order. */
    int64_t last = INT64_MIN;
    struct item *it;
    while ((it = expiry_pop_due(&h, INT64_MAX))) {
        assert_true(it->at >= last);
        last = it->at;
        it->in = 0;
    }
    assert_int_equal(expiry_count(&h), 0);
    check_heap(&h, items);
    expiry_remove(&h, 0);   /* not in the heap: ignored */
    expiry_clear(&h);
}

/* ---- in the store --------------------------------------------------------------------------- */

#define ARENA_SIZE (1u << 20)
#define SECOND INT64_C(1000000000)

struct fixture {
    uint8_t *arena;
    store_t *s;
    struct store_client writer, reader;
    int events;
    enum store_event last_event;
    char last_name[64];
    uint64_t last_pins;
};

/* Counts expiries only: seals, replaces and deletes are told too (unit.store checks those). */
static void on_event(void *ctx, enum store_event ev, const struct object *obj)
{
    struct fixture *f = ctx;
    if (ev != STORE_EVENT_EXPIRED)
        return;
    f->events++;
    f->last_event = ev;
    strncpy(f->last_name, obj->name, sizeof f->last_name - 1);   /* obj must still exist */
    f->last_pins = obj->pins;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->arena = calloc(1, ARENA_SIZE);
    f->s = store_new(f->arena, ARENA_SIZE);
    if (!f->arena || !f->s)
        return -1;
    store_client_init(f->s, &f->writer);
    store_client_init(f->s, &f->reader);
    store_set_event_hook(f->s, on_event, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char why[256];
    assert_int_equal(store_check(f->s, why, sizeof why), 0);
    store_client_drop(f->s, &f->writer);
    store_client_drop(f->s, &f->reader);
    store_free(f->s);
    free(f->arena);
    free(f);
    return 0;
}

static struct object *put_ttl(struct fixture *f, const char *name, uint64_t ttl_ms)
{
    struct store_detail d;
    struct object *obj;
    assert_int_equal(store_put(f->s, &f->writer, name, strlen(name), "abc", 3, NULL, 0,
                               STORE_REPLACE, &obj, &d), 0);
    if (ttl_ms)
        assert_int_equal(store_set_ttl(f->s, obj, ttl_ms), 0);
    return obj;
}

static void test_expire_in_order(void **state)
{
    struct fixture *f = *state;
    struct object *a = put_ttl(f, "a", 3000), *b = put_ttl(f, "b", 1000);
    put_ttl(f, "forever", 0);
    const int64_t sealed = b->created_ns;
    assert_true(b->expires_ns == sealed + 1 * SECOND);
    assert_true(a->expires_ns == a->created_ns + 3 * SECOND);
    assert_true(store_next_expiry(f->s) == b->expires_ns);

    assert_int_equal(store_expire(f->s, sealed, 100), 0);   /* nothing due yet */
    assert_int_equal(store_expire(f->s, sealed + 2 * SECOND, 100), 1);
    assert_null(store_lookup(f->s, "b", 1));
    assert_non_null(store_lookup(f->s, "a", 1));
    assert_int_equal(f->events, 1);
    assert_int_equal(f->last_event, STORE_EVENT_EXPIRED);
    assert_string_equal(f->last_name, "b");
    assert_int_equal(store_expirations(f->s), 1);
    assert_int_equal(store_expire(f->s, INT64_MAX, 100), 1);
    assert_null(store_lookup(f->s, "a", 1));
    assert_non_null(store_lookup(f->s, "forever", 7));
    assert_true(store_next_expiry(f->s) == INT64_MAX);
    assert_int_equal(store_expirations(f->s), 2);
}

static void test_batch_limit(void **state)
{
    struct fixture *f = *state;
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "n%d", i);
        put_ttl(f, name, 1);
    }
    assert_int_equal(store_expire(f->s, INT64_MAX, 4), 4);
    assert_int_equal(store_expire(f->s, INT64_MAX, 4), 4);
    assert_int_equal(store_expire(f->s, INT64_MAX, 4), 2);
    assert_int_equal(store_expirations(f->s), 10);
}

/* Expiry of a pinned object unbinds it as a delete does: its reader keeps it to the release. */
static void test_pinned_object_expires_like_delete(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    put_ttl(f, "p", 10);
    struct object *got;
    assert_int_equal(store_get(f->s, &f->reader, "p", 1, &got, &d), 0);
    assert_int_equal(store_expire(f->s, INT64_MAX, 100), 1);
    assert_int_equal(f->last_pins, 1);
    assert_null(store_lookup(f->s, "p", 1));
    assert_int_equal(got->state, OBJECT_DELETED);
    assert_memory_equal(f->arena + got->data_offset, "abc", 3);   /* still readable */
    struct store_stats st;
    store_get_stats(f->s, &st);
    assert_int_equal(st.deleted_pinned, 1);
    assert_int_equal(store_release(f->s, &f->reader, got->id, &d), 0);
    store_get_stats(f->s, &st);
    assert_int_equal(st.deleted_pinned, 0);
    assert_int_equal(st.used_bytes, 0);
}

/* Deleted or replaced first: out of the heap at once, never expired later. */
static void test_deleted_or_replaced_first(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    put_ttl(f, "del", 10);
    put_ttl(f, "rep", 10);
    assert_int_equal(store_delete(f->s, "del", 3, &d), 0);
    put_ttl(f, "rep", 0);   /* replaced by an object without a time to live */
    assert_true(store_next_expiry(f->s) == INT64_MAX);
    assert_int_equal(store_expire(f->s, INT64_MAX, 100), 0);
    assert_non_null(store_lookup(f->s, "rep", 3));
    assert_int_equal(store_expirations(f->s), 0);
    assert_int_equal(f->events, 0);
}

/* A create's time to live starts at its seal; an aborted one never enters the heap. */
static void test_ttl_starts_at_seal(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    struct object *obj, *aborted;
    assert_int_equal(store_create(f->s, &f->writer, "c", 1, 8, NULL, 0, 0, &obj, &d), 0);
    assert_int_equal(store_set_ttl(f->s, obj, 5000), 0);
    assert_int_equal(store_create(f->s, &f->writer, "x", 1, 8, NULL, 0, 0, &aborted, &d), 0);
    assert_int_equal(store_set_ttl(f->s, aborted, 1), 0);
    assert_true(store_next_expiry(f->s) == INT64_MAX);   /* unsealed: no deadline yet */
    assert_int_equal(store_expire(f->s, INT64_MAX, 100), 0);
    assert_int_equal(store_abort(f->s, &f->writer, aborted->id, &d), 0);
    assert_int_equal(store_seal(f->s, &f->writer, obj->id, &d), 0);
    assert_true(obj->expires_ns == obj->created_ns + 5 * SECOND);
    assert_true(store_next_expiry(f->s) == obj->expires_ns);
    assert_int_equal(store_expire(f->s, obj->expires_ns - 1, 100), 0);
    assert_int_equal(store_expire(f->s, obj->expires_ns, 100), 1);
}

/* A time to live set again on a sealed object replaces its deadline; a huge one never comes. */
static void test_ttl_reset_and_huge(void **state)
{
    struct fixture *f = *state;
    struct object *obj = put_ttl(f, "r", 1000);
    assert_int_equal(store_set_ttl(f->s, obj, 60000), 0);
    assert_true(store_next_expiry(f->s) == obj->created_ns + 60 * SECOND);
    struct object *huge = put_ttl(f, "huge", UINT64_MAX);
    assert_true(huge->expires_ns > huge->created_ns);
    assert_int_equal(store_expire(f->s, obj->created_ns + 61 * SECOND, 100), 1);
    assert_non_null(store_lookup(f->s, "huge", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_against_model),
        cmocka_unit_test_setup_teardown(test_expire_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_object_expires_like_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_or_replaced_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_starts_at_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_reset_and_huge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
