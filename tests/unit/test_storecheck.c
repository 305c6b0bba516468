/*
 * test_storecheck.c — store_check, the invariant checker the fuzzers and the allocation-failure
 * test rely on, must accept every state the store really reaches and must catch a broken one.
 *
 * A store with sealed, unsealed, pinned, deleted-but-pinned objects and a waiter is checked as
 * is; then each kind of bookkeeping the checker covers is broken by hand through the public
 * record fields (a pin count, an object's state, a client's counters), one at a time, and the
 * checker must say so with a reason that names it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store.h"

#define ARENA_SIZE (1u << 20)

struct fixture {
    uint8_t *arena;
    store_t *s;
    struct store_client writer, reader;
    struct store_waiter waiter;
    struct object *sealed, *deleted, *unsealed;
};

static void woken(struct store_waiter *w, struct object *obj)
{
    (void)w;
    (void)obj;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->arena = calloc(1, ARENA_SIZE);
    f->s = store_new(f->arena, ARENA_SIZE);
    store_client_init(f->s, &f->writer);
    store_client_init(f->s, &f->reader);
    struct object *obj;
    assert_int_equal(store_put(f->s, &f->writer, "kept", 4, "x", 1, "m", 1, 0, &f->sealed, NULL),
                     0);
    assert_int_equal(store_get(f->s, &f->reader, "kept", 4, &obj, NULL), 0);
    assert_int_equal(store_put(f->s, &f->writer, "gone", 4, "y", 1, NULL, 0, 0, &f->deleted, NULL),
                     0);
    assert_int_equal(store_get(f->s, &f->reader, "gone", 4, &obj, NULL), 0);
    assert_int_equal(store_delete(f->s, "gone", 4, NULL), 0);   /* pinned: kept as deleted */
    assert_int_equal(store_create(f->s, &f->writer, "open", 4, 5000, NULL, 0, 0, &f->unsealed,
                                  NULL), 0);
    f->waiter.client = &f->reader;
    f->waiter.wake = woken;
    assert_int_equal(store_wait(f->s, "later", 5, &f->waiter, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_wait_cancel(f->s, &f->waiter);
    store_client_drop(f->s, &f->reader);
    store_client_drop(f->s, &f->writer);
    store_free(f->s);
    free(f->arena);
    free(f);
    return 0;
}

static void expect_broken(struct fixture *f, const char *reason)
{
    char why[512] = "";
    assert_int_equal(store_check(f->s, why, sizeof why), -1);
    if (!strstr(why, reason))
        fail_msg("store_check said \"%s\", expected it to mention \"%s\"", why, reason);
}

static void expect_sound(struct fixture *f)
{
    char why[512] = "";
    if (store_check(f->s, why, sizeof why) != 0)
        fail_msg("store_check: %s", why);
}

static void test_real_states_pass(void **state)
{
    struct fixture *f = *state;
    expect_sound(f);
    struct store_detail d;
    uint64_t id = f->unsealed->id;
    assert_int_equal(store_seal(f->s, &f->writer, id, &d), 0);
    expect_sound(f);
    assert_int_equal(store_release(f->s, &f->reader, f->deleted->id, &d), 0);   /* freed now */
    expect_sound(f);
}

static void test_object_pins_must_add_up(void **state)
{
    struct fixture *f = *state;
    f->sealed->pins++;
    expect_broken(f, "pins");
    f->sealed->pins--;
    expect_sound(f);
}

static void test_client_pin_count_must_match_its_pins(void **state)
{
    struct fixture *f = *state;
    f->reader.pin_count++;
    expect_broken(f, "pin_count");
    f->reader.pin_count--;
    expect_sound(f);
}

static void test_bound_object_must_be_sealed(void **state)
{
    struct fixture *f = *state;
    f->sealed->state = OBJECT_DELETED;
    expect_broken(f, "kept");
    f->sealed->state = OBJECT_SEALED;
    expect_sound(f);
}

static void test_unsealed_object_must_have_an_owner(void **state)
{
    struct fixture *f = *state;
    struct store_client *owner = f->unsealed->owner;
    f->unsealed->owner = NULL;
    expect_broken(f, "owner");
    f->unsealed->owner = owner;
    expect_sound(f);
}

static void test_client_unsealed_counters_must_match_its_list(void **state)
{
    struct fixture *f = *state;
    f->writer.unsealed_bytes += 64;
    expect_broken(f, "unsealed count/bytes/charge");
    f->writer.unsealed_bytes -= 64;
    expect_sound(f);
}

static void test_deleted_object_must_be_pinned(void **state)
{
    struct fixture *f = *state;
    uint64_t pins = f->deleted->pins;
    f->deleted->pins = 0;
    expect_broken(f, "deleted object");
    f->deleted->pins = pins;
    expect_sound(f);
}

static void test_object_must_fit_its_block(void **state)
{
    struct fixture *f = *state;
    f->sealed->size += 1u << 16;
    expect_broken(f, "do not fit its block");
    f->sealed->size -= 1u << 16;
    expect_sound(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_states_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_pins_must_add_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_pin_count_must_match_its_pins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bound_object_must_be_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsealed_object_must_have_an_owner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_unsealed_counters_must_match_its_list,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_object_must_be_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_must_fit_its_block, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
