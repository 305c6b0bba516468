/*
 * test_releasering.c — the release ring, client push and daemon drain together over a real
 * store: every queued release applied exactly once, including across the 32-bit wrap of the
 * counters (regression: ring_slots_not_power_of_two lost and doubled releases at the wrap);
 * a full ring refuses more; hostile head values release only the client's own pins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "releasering.h"
#include "ring.h"
#include "shmstore.h"
#include "store.h"

#define ARENA (4u << 20)

struct fixture {
    uint8_t *arena;
    store_t *s;
    struct store_client owner, reader, other;
    struct shm_release_ring *ring;
    uint64_t ids[600];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->arena = aligned_alloc(4096, ARENA);
    f->s = store_new(f->arena, ARENA);
    assert_non_null(f->s);
    store_client_init(f->s, &f->owner);
    store_client_init(f->s, &f->reader);
    store_client_init(f->s, &f->other);
    int fd;
    assert_int_equal(release_ring_create(&f->ring, &fd), 0);
    close(fd);
    for (size_t i = 0; i < 600; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%zu", i);
        struct object *obj;
        struct store_detail d;
        assert_int_equal(store_put(f->s, &f->owner, name, strlen(name), "x", 1, NULL, 0, 0, &obj, &d), 0);
        f->ids[i] = obj->id;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_client_drop(f->s, &f->reader);
    store_client_drop(f->s, &f->other);
    store_client_drop(f->s, &f->owner);
    release_ring_destroy(f->ring);
    store_free(f->s);
    free(f->arena);
    free(f);
    return 0;
}

static uint64_t pins_total(struct fixture *f)
{
    struct store_stats st;
    store_get_stats(f->s, &st);
    return st.pins;
}

static void pin_all(struct fixture *f, struct store_client *cl, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%zu", i);
        struct object *obj;
        struct store_detail d;
        assert_int_equal(store_get(f->s, cl, name, strlen(name), &obj, &d), 0);
    }
}

static void release_through_ring(struct fixture *f, size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++) {
        assert_int_equal(shm_ring_push(f->ring, f->ids[i]), 0);
        if ((i + 1) % 100 == 0)   /* the daemon drains now and then, as it would */
            release_ring_drain(f->ring, f->s, &f->reader);
    }
    release_ring_drain(f->ring, f->s, &f->reader);
}

static void test_every_release_applied_once(void **state)
{
    struct fixture *f = *state;
    pin_all(f, &f->reader, 300);
    assert_int_equal(pins_total(f), 300);
    release_through_ring(f, 0, 300);
    assert_int_equal(pins_total(f), 0);
    assert_int_equal(f->reader.pin_count, 0);
}

static void test_across_counter_wrap(void **state)
{
    struct fixture *f = *state;
    uint32_t start = UINT32_MAX - 150;
    atomic_store(&f->ring->head, start);
    atomic_store(&f->ring->tail, start);
    pin_all(f, &f->reader, 300);
    /* Queue 200 without draining, so entries from before and after the wrap sit together. */
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(shm_ring_push(f->ring, f->ids[i]), 0);
    assert_int_equal(release_ring_drain(f->ring, f->s, &f->reader), 200);
    assert_int_equal(pins_total(f), 100);
    release_through_ring(f, 200, 100);
    assert_int_equal(pins_total(f), 0);
}

static void test_full_ring_refuses(void **state)
{
    struct fixture *f = *state;
    for (uint32_t i = 0; i < SHM_RING_SLOTS; i++)
        assert_int_equal(shm_ring_push(f->ring, f->ids[0]), 0);
    assert_int_equal(shm_ring_push(f->ring, f->ids[0]), -1);
    assert_int_equal(release_ring_drain(f->ring, f->s, &f->reader), SHM_RING_SLOTS);
    assert_int_equal(shm_ring_push(f->ring, f->ids[0]), 0);
}

static void test_hostile_ring_releases_only_own_pins(void **state)
{
    struct fixture *f = *state;
    pin_all(f, &f->other, 50);    /* someone else's pins */
    pin_all(f, &f->reader, 10);   /* this connection's */
    for (uint32_t i = 0; i < SHM_RING_SLOTS; i++)
        f->ring->ids[i] = f->ids[i % 50];
    atomic_store(&f->ring->head, atomic_load(&f->ring->tail) + 0x7fffffffu);
    release_ring_drain(f->ring, f->s, &f->reader);
    assert_int_equal(f->other.pin_count, 50);
    assert_int_equal(f->reader.pin_count, 0);
    assert_int_equal(pins_total(f), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_release_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_across_counter_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_ring_releases_only_own_pins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
