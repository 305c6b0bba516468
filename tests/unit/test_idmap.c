/*
 * test_idmap.c — unit tests for the id -> pointer hash map.
 *
 * Besides the basic operations, the churn tests drive the map with a deterministic random mix of
 * puts, overwrites and removals against a plain array holding the expected value of every key,
 * and regularly compare every key: a backward-shift deletion that drops or strands an entry
 * shows up there as a lookup that no longer finds it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "idmap.h"

/* splitmix64: deterministic, so a failure replays identically. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Values are fake pointers derived from the id, so a value found under the wrong key shows. */
static void *value_for(uint64_t id, unsigned version)
{
    return (void *)(uintptr_t)(id * 4 + 4 + version * 0x10000);
}

static size_t capacity_of(const id_map *m)
{
    return m->values ? m->mask + 1 : 0;
}

static void assert_table_shape(const id_map *m)
{
    size_t capacity = capacity_of(m);
    if (capacity == 0)
        return;
    assert_true((capacity & (capacity - 1)) == 0);
    assert_true(m->count <= capacity / 4 * 3);
    size_t occupied = 0;
    for (size_t i = 0; i < capacity; i++)
        occupied += m->keys ? m->keys[i] != 0 : m->values[i] != NULL;
    assert_int_equal(occupied, m->count);
}

static void test_empty_map_allocates_nothing(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    assert_null(m.keys);
    assert_null(m.values);
    assert_int_equal(id_map_count(&m), 0);
    assert_null(id_map_get(&m, 1));
    assert_null(id_map_remove(&m, 1));
    assert_null(m.keys);
    id_map_clear(&m);
    id_map_clear(&m);
    assert_null(m.keys);
}

static void test_first_put_allocates_small_table(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    assert_int_equal(id_map_put(&m, 42, value_for(42, 0)), 0);
    assert_non_null(m.keys);
    assert_true(capacity_of(&m) <= 16);
    id_map_clear(&m);
    assert_null(m.keys);
    assert_int_equal(id_map_count(&m), 0);
}

static void test_put_get_overwrite_remove(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    assert_int_equal(id_map_put(&m, 7, value_for(7, 0)), 0);
    assert_int_equal(id_map_put(&m, 8, value_for(8, 0)), 0);
    assert_int_equal(id_map_count(&m), 2);
    assert_ptr_equal(id_map_get(&m, 7), value_for(7, 0));
    assert_ptr_equal(id_map_get(&m, 8), value_for(8, 0));
    assert_null(id_map_get(&m, 9));

    assert_int_equal(id_map_put(&m, 7, value_for(7, 1)), 0);
    assert_int_equal(id_map_count(&m), 2);
    assert_ptr_equal(id_map_get(&m, 7), value_for(7, 1));

    assert_ptr_equal(id_map_remove(&m, 7), value_for(7, 1));
    assert_int_equal(id_map_count(&m), 1);
    assert_null(id_map_get(&m, 7));
    assert_null(id_map_remove(&m, 7));
    assert_ptr_equal(id_map_get(&m, 8), value_for(8, 0));

    /* A removed id can be stored again. */
    assert_int_equal(id_map_put(&m, 7, value_for(7, 2)), 0);
    assert_ptr_equal(id_map_get(&m, 7), value_for(7, 2));
    assert_int_equal(id_map_count(&m), 2);
    id_map_clear(&m);
}

static void test_extreme_ids(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    assert_int_equal(id_map_put(&m, UINT64_MAX, value_for(1, 0)), 0);
    assert_int_equal(id_map_put(&m, 1, value_for(2, 0)), 0);
    assert_int_equal(id_map_put(&m, UINT64_C(1) << 63, value_for(3, 0)), 0);
    assert_ptr_equal(id_map_get(&m, UINT64_MAX), value_for(1, 0));
    assert_ptr_equal(id_map_get(&m, 1), value_for(2, 0));
    assert_ptr_equal(id_map_get(&m, UINT64_C(1) << 63), value_for(3, 0));
    id_map_clear(&m);
}

static void test_id_zero_rejected(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    assert_int_equal(id_map_put(&m, 0, value_for(0, 0)), -1);
    assert_int_equal(id_map_count(&m), 0);
    assert_null(m.keys);
    assert_null(id_map_get(&m, 0));
    assert_null(id_map_remove(&m, 0));

    assert_int_equal(id_map_put(&m, 5, value_for(5, 0)), 0);
    assert_int_equal(id_map_put(&m, 0, value_for(0, 0)), -1);
    assert_int_equal(id_map_count(&m), 1);
    assert_null(id_map_get(&m, 0));
    assert_null(id_map_remove(&m, 0));
    assert_ptr_equal(id_map_get(&m, 5), value_for(5, 0));
    id_map_clear(&m);
}

static void test_growth_keeps_every_entry(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    const uint64_t n = 20000;
    size_t last_capacity = 0;
    unsigned resizes = 0;
    for (uint64_t id = 1; id <= n; id++) {
        assert_int_equal(id_map_put(&m, id, value_for(id, 0)), 0);
        if (capacity_of(&m) != last_capacity) {
            resizes++;
            last_capacity = capacity_of(&m);
            assert_table_shape(&m);
            /* Right after a resize every earlier entry must have been carried over. */
            for (uint64_t old = 1; old <= id; old++)
                assert_ptr_equal(id_map_get(&m, old), value_for(old, 0));
        }
    }
    assert_true(resizes >= 10);
    assert_int_equal(id_map_count(&m), n);
    assert_table_shape(&m);
    for (uint64_t id = 1; id <= n; id++)
        assert_ptr_equal(id_map_get(&m, id), value_for(id, 0));
    assert_null(id_map_get(&m, n + 1));
    id_map_clear(&m);
}

static void test_shrinks_when_emptied(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    const uint64_t n = 10000;
    for (uint64_t id = 1; id <= n; id++)
        assert_int_equal(id_map_put(&m, id, value_for(id, 0)), 0);
    size_t full_capacity = capacity_of(&m);
    for (uint64_t id = 1; id <= n; id++) {
        assert_ptr_equal(id_map_remove(&m, id), value_for(id, 0));
        if (id % 997 == 0) {
            assert_table_shape(&m);
            for (uint64_t rest = id + 1; rest <= n; rest += 13)
                assert_ptr_equal(id_map_get(&m, rest), value_for(rest, 0));
        }
    }
    assert_int_equal(id_map_count(&m), 0);
    assert_true(capacity_of(&m) < full_capacity);
    assert_true(capacity_of(&m) <= 16);
    /* Still usable after shrinking all the way down. */
    assert_int_equal(id_map_put(&m, 3, value_for(3, 0)), 0);
    assert_ptr_equal(id_map_get(&m, 3), value_for(3, 0));
    id_map_clear(&m);
}

typedef struct visit_log {
    unsigned *visits;   /* indexed by id */
    uint64_t max_id;
    size_t calls;
    bool bad_value;
} visit_log;

static void record_visit(uint64_t id, void *value, void *arg)
{
    visit_log *log = arg;
    log->calls++;
    if (id == 0 || id > log->max_id || value != value_for(id, 0)) {
        log->bad_value = true;
        return;
    }
    log->visits[id]++;
}

static void test_foreach_visits_each_entry_once(void **state)
{
    (void)state;
    id_map m = ID_MAP_INIT;
    const uint64_t max_id = 3000;
    unsigned *visits = calloc(max_id + 1, sizeof *visits);
    assert_non_null(visits);

    visit_log log = {visits, max_id, 0, false};
    id_map_foreach(&m, record_visit, &log);
    assert_int_equal(log.calls, 0);

    /* Every third id, with a few removed again, so the table has holes and shifted runs. */
    size_t expected = 0;
    for (uint64_t id = 3; id <= max_id; id += 3) {
        assert_int_equal(id_map_put(&m, id, value_for(id, 0)), 0);
        expected++;
    }
    for (uint64_t id = 30; id <= max_id; id += 30) {
        assert_non_null(id_map_remove(&m, id));
        expected--;
    }

    id_map_foreach(&m, record_visit, &log);
    assert_false(log.bad_value);
    assert_int_equal(log.calls, expected);
    for (uint64_t id = 1; id <= max_id; id++) {
        bool present = id % 3 == 0 && id % 30 != 0;
        assert_int_equal(visits[id], present ? 1 : 0);
    }
    free(visits);
    id_map_clear(&m);
}

/* Random puts/overwrites/removes over `key_count` ids checked against a shadow array. */
static void churn(const uint64_t *ids, size_t key_count, unsigned ops, unsigned phase_length,
                  unsigned verify_every, uint64_t seed)
{
    id_map m = ID_MAP_INIT;
    void **shadow = calloc(key_count, sizeof *shadow);
    assert_non_null(shadow);
    size_t shadow_count = 0;
    uint64_t rng = seed;
    size_t last_capacity = 0;
    unsigned grows = 0, shrinks = 0;

    for (unsigned op = 1; op <= ops; op++) {
        uint64_t r = next_random(&rng);
        size_t k = (size_t)(r % key_count);
        uint64_t id = ids[k];
        /* Phases that mostly fill and mostly drain make the table grow and shrink again and
         * again, with removals landing in every state of the table. */
        unsigned remove_percent = (op / phase_length) % 2 ? 95 : 10;
        if ((r >> 32) % 100 < remove_percent) {
            assert_ptr_equal(id_map_remove(&m, id), shadow[k]);
            if (shadow[k])
                shadow_count--;
            shadow[k] = NULL;
        } else {
            void *value = value_for(id, op & 0xff);
            assert_int_equal(id_map_put(&m, id, value), 0);
            if (!shadow[k])
                shadow_count++;
            shadow[k] = value;
        }
        assert_ptr_equal(id_map_get(&m, id), shadow[k]);
        assert_int_equal(id_map_count(&m), shadow_count);
        if (capacity_of(&m) != last_capacity) {
            if (capacity_of(&m) > last_capacity)
                grows++;
            else
                shrinks++;
            last_capacity = capacity_of(&m);
        }

        if (op % verify_every == 0) {
            assert_table_shape(&m);
            for (size_t i = 0; i < key_count; i++)
                assert_ptr_equal(id_map_get(&m, ids[i]), shadow[i]);
        }
    }
    for (size_t i = 0; i < key_count; i++)
        assert_ptr_equal(id_map_get(&m, ids[i]), shadow[i]);
    assert_true(grows >= 3);
    assert_true(shrinks >= 2);
    free(shadow);
    id_map_clear(&m);
}

static void test_churn_sequential_ids(void **state)
{
    (void)state;
    const size_t key_count = 2000;
    uint64_t *ids = malloc(key_count * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < key_count; i++)
        ids[i] = i + 1;
    churn(ids, key_count, 100000, 10000, 2500, 1);
    free(ids);
}

static void test_churn_random_ids(void **state)
{
    (void)state;
    const size_t key_count = 2000;
    uint64_t *ids = malloc(key_count * sizeof *ids);
    assert_non_null(ids);
    uint64_t rng = 99;
    for (size_t i = 0; i < key_count; i++) {
        /* Distinct and nonzero: a high random part with the index in the low bits. */
        ids[i] = (next_random(&rng) << 16) | (i + 1);
    }
    churn(ids, key_count, 100000, 10000, 2500, 2);
    free(ids);
}

/* A keyless map: records that carry their own id, churned against which of them are in. */
struct record {
    uint64_t id;
};

static uint64_t record_id(const void *value)
{
    return ((const struct record *)value)->id;
}

static void test_keyless_map(void **state)
{
    (void)state;
    enum { N = 3000 };
    struct record *records = malloc(N * sizeof *records);
    bool *in = calloc(N, sizeof *in);
    assert_non_null(records);
    assert_non_null(in);
    for (size_t i = 0; i < N; i++)
        records[i].id = (i % 2 ? i + 1 : (uint64_t)1 << 60 | (i + 1));
    id_map m = ID_MAP_KEYLESS(record_id);
    /* A value must name the id it is put under, and cannot be NULL. */
    assert_int_equal(id_map_put(&m, 7, &records[0]), -1);
    assert_int_equal(id_map_put(&m, records[0].id, NULL), -1);
    assert_int_equal(id_map_count(&m), 0);
    uint64_t rng = 5;
    size_t count = 0;
    for (unsigned op = 1; op <= 60000; op++) {
        uint64_t r = next_random(&rng);
        size_t k = (size_t)(r % N);
        unsigned remove_percent = (op / 6000) % 2 ? 95 : 10;
        if ((r >> 32) % 100 < remove_percent) {
            assert_ptr_equal(id_map_remove(&m, records[k].id), in[k] ? &records[k] : NULL);
            count -= in[k];
            in[k] = false;
        } else {
            assert_int_equal(id_map_put(&m, records[k].id, &records[k]), 0);
            count += !in[k];
            in[k] = true;
        }
        assert_int_equal(id_map_count(&m), count);
        if (op % 5000 == 0) {
            assert_table_shape(&m);
            for (size_t i = 0; i < N; i++)
                assert_ptr_equal(id_map_get(&m, records[i].id), in[i] ? &records[i] : NULL);
        }
    }
    assert_null(m.keys);   /* no key array at all */
    id_map_clear(&m);
    free(records);
    free(in);
}

/* A handful of keys keeps the table at its smallest sizes, where runs wrap around the end of
 * the array and backward shifts cross the wrap most often. */
static void test_churn_tiny_map(void **state)
{
    (void)state;
    uint64_t ids[12];
    for (size_t i = 0; i < 12; i++)
        ids[i] = i + 1;
    churn(ids, 12, 50000, 100, 1, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map_allocates_nothing),
        cmocka_unit_test(test_first_put_allocates_small_table),
        cmocka_unit_test(test_put_get_overwrite_remove),
        cmocka_unit_test(test_extreme_ids),
        cmocka_unit_test(test_id_zero_rejected),
        cmocka_unit_test(test_growth_keeps_every_entry),
        cmocka_unit_test(test_shrinks_when_emptied),
        cmocka_unit_test(test_foreach_visits_each_entry_once),
        cmocka_unit_test(test_churn_sequential_ids),
        cmocka_unit_test(test_keyless_map),
        cmocka_unit_test(test_churn_random_ids),
        cmocka_unit_test(test_churn_tiny_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
