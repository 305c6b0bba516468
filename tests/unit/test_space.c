/*
 * test_space.c — the table of segments: ids never reused and never sharing a slot, addresses
 * that name their segment, blocks that never span segments, dedicated segments kept for one
 * object, oldest segments filled first, idle segments found (never the first ordinary one),
 * removal only when empty, and the totals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shmlayout.h"
#include "space.h"

#define MiB (1024u * 1024u)

/* Fake mappings: the space never touches them, only computes pointers. */
static uint8_t *fake_base(uint32_t n)
{
    return (uint8_t *)(uintptr_t)((uint64_t)(n + 1) << 32);
}

static void test_addresses_name_their_segment(void **state)
{
    (void)state;
    space_t *sp = space_new(64 * MiB);
    assert_non_null(sp);
    uint32_t a, b;
    assert_int_equal(space_add(sp, fake_base(0), 4 * MiB, 0, "first", &a), 0);
    assert_int_equal(space_add(sp, fake_base(1), 4 * MiB, 0, "second", &b), 0);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(space_taken(sp), 8 * MiB);
    assert_int_equal(space_segments(sp), 2);
    assert_int_equal(space_room_to_grow(sp), 56 * MiB);

    /* Oldest first: small blocks fill segment 0 before segment 1 is used. */
    uint64_t addr;
    alloc_block_t *x = space_take(sp, 3 * MiB, &addr);
    assert_non_null(x);
    assert_int_equal(SHM_ADDRESS_SEGMENT(addr), 0);
    assert_ptr_equal(space_pointer(sp, addr), fake_base(0) + SHM_ADDRESS_OFFSET(addr));
    uint64_t addr2;
    alloc_block_t *y = space_take(sp, 2 * MiB, &addr2);   /* does not fit beside x */
    assert_non_null(y);
    assert_int_equal(SHM_ADDRESS_SEGMENT(addr2), 1);
    assert_ptr_equal(space_pointer(sp, addr2), fake_base(1) + SHM_ADDRESS_OFFSET(addr2));
    /* Never across segments: 5 MiB fits nowhere though 3 MiB are free in all. */
    uint64_t none;
    assert_null(space_take(sp, 5 * MiB, &none));
    assert_int_equal(space_used(sp), 5 * MiB);
    assert_int_equal(space_free_bytes(sp), 3 * MiB);
    assert_true(space_largest_free(sp) >= 1 * MiB && space_largest_free(sp) < 3 * MiB);
    /* Unknown segments and offsets beyond a segment give no pointer. */
    assert_null(space_pointer(sp, SHM_ADDRESS(7, 0)));
    assert_null(space_pointer(sp, SHM_ADDRESS(0, 4 * MiB)));

    /* A segment holding a block cannot go. */
    assert_null(space_remove(sp, 1));
    space_give(sp, addr2, y);
    assert_string_equal(space_remove(sp, 1), "second");
    assert_int_equal(space_taken(sp), 4 * MiB);
    const char *why = NULL;
    assert_int_equal(space_check(sp, &why), 0);
    space_give(sp, addr, x);
    assert_int_equal(space_blocks(sp), 0);
    space_free(sp);
}

static void test_ids_never_reused_and_slots_never_shared(void **state)
{
    (void)state;
    space_t *sp = space_new(UINT64_MAX);
    uint32_t keep, id, last = 0;
    assert_int_equal(space_add(sp, fake_base(0), 2 * MiB, 0, NULL, &keep), 0);
    /* Add and remove many times: every id is new, and the kept one's slot is skipped. */
    for (unsigned i = 0; i < 3 * SHM_SEGMENT_SLOTS; i++) {
        assert_int_equal(space_add(sp, fake_base(1), 2 * MiB, 0, NULL, &id), 0);
        assert_true(id > last);
        assert_true(id % SHM_SEGMENT_SLOTS != keep % SHM_SEGMENT_SLOTS);
        last = id;
        assert_null(space_remove(sp, id));   /* the backing is NULL: removed all the same */
        assert_int_equal(space_segments(sp), 1);
    }
    /* A full table refuses more. */
    for (unsigned i = 1; i < SHM_SEGMENT_SLOTS; i++)
        assert_int_equal(space_add(sp, fake_base(i), 2 * MiB, 0, NULL, &id), 0);
    assert_int_equal(space_add(sp, fake_base(0), 2 * MiB, 0, NULL, &id), -1);
    uint32_t ids[SHM_SEGMENT_SLOTS];
    assert_int_equal(space_segment_ids(sp, ids, SHM_SEGMENT_SLOTS), SHM_SEGMENT_SLOTS);
    for (unsigned i = 1; i < SHM_SEGMENT_SLOTS; i++)
        assert_true(ids[i] > ids[i - 1]);
    const char *why = NULL;
    assert_int_equal(space_check(sp, &why), 0);
    space_free(sp);
}

static void test_dedicated_segments_hold_one_object(void **state)
{
    (void)state;
    space_t *sp = space_new(64 * MiB);
    uint32_t ordinary, own;
    assert_int_equal(space_add(sp, fake_base(0), 2 * MiB, 0, NULL, &ordinary), 0);
    assert_int_equal(space_add(sp, fake_base(1), 20 * MiB, 1, NULL, &own), 0);
    uint64_t big_addr, small_addr, other;
    alloc_block_t *big = space_take(sp, 19 * MiB, &big_addr);
    assert_non_null(big);
    assert_int_equal(SHM_ADDRESS_SEGMENT(big_addr), own);
    /* Its leftover is never handed out, nor counted as room. */
    alloc_block_t *small = space_take(sp, 1 * MiB, &small_addr);
    assert_non_null(small);
    assert_int_equal(SHM_ADDRESS_SEGMENT(small_addr), ordinary);
    assert_null(space_take(sp, 1 * MiB + 512 * 1024, &other));
    assert_true(space_largest_free(sp) <= 1 * MiB);
    /* An empty dedicated segment takes the next big one, never a small one (that would steal the
     * segment made for a big create waiting for it). */
    space_give(sp, big_addr, big);
    space_give(sp, small_addr, small);
    small = space_take(sp, 3 * MiB, &small_addr);
    assert_null(small);   /* 3 MiB: more than the ordinary 2 MiB, no more than half of 20 */
    small = space_take(sp, 1 * MiB, &small_addr);
    assert_int_equal(SHM_ADDRESS_SEGMENT(small_addr), ordinary);
    assert_true(space_largest_free(sp) >= 19 * MiB);
    big = space_take(sp, 18 * MiB, &big_addr);
    assert_non_null(big);
    assert_int_equal(SHM_ADDRESS_SEGMENT(big_addr), own);
    const char *why = NULL;
    assert_int_equal(space_check(sp, &why), 0);
    space_give(sp, big_addr, big);
    space_give(sp, small_addr, small);
    space_free(sp);
}

/* The test's clock: segments are stamped with it when added or emptied. */
static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static void test_idle_segments(void **state)
{
    (void)state;
    space_t *sp = space_new(64 * MiB);
    space_set_clock(sp, fake_clock);
    fake_now = 100;
    uint32_t first, second, third;
    assert_int_equal(space_add(sp, fake_base(0), 2 * MiB, 0, NULL, &first), 0);
    assert_int_equal(space_add(sp, fake_base(1), 2 * MiB, 0, NULL, &second), 0);
    fake_now = 200;
    assert_int_equal(space_add(sp, fake_base(2), 2 * MiB, 1, NULL, &third), 0);
    uint32_t ids[4];
    /* Empty since 100 (first, second) and 200 (third); the first ordinary one always stays. */
    assert_int_equal(space_idle_segments(sp, 150, ids, 4), 1);
    assert_int_equal(ids[0], second);
    assert_int_equal(space_idle_segments(sp, 250, ids, 4), 2);
    assert_int_equal(ids[0], second);
    assert_int_equal(ids[1], third);
    /* A segment in use is not idle; once empty again its clock restarts. */
    uint64_t addr, addr_b;
    alloc_block_t *b = space_take(sp, 3 * MiB / 2, &addr_b);   /* oldest first */
    assert_int_equal(SHM_ADDRESS_SEGMENT(addr_b), first);
    alloc_block_t *c = space_take(sp, 1 * MiB, &addr);
    assert_int_equal(SHM_ADDRESS_SEGMENT(addr), second);
    assert_int_equal(space_idle_segments(sp, 250, ids, 4), 1);
    assert_int_equal(ids[0], third);
    fake_now = 300;
    space_give(sp, addr, c);
    assert_int_equal(space_idle_segments(sp, 250, ids, 4), 1);
    assert_int_equal(space_idle_segments(sp, 350, ids, 4), 2);
    /* Only max ids are written. */
    assert_int_equal(space_idle_segments(sp, 350, ids, 1), 1);
    space_give(sp, addr_b, b);
    space_free(sp);
}

static void test_maximum(void **state)
{
    (void)state;
    space_t *sp = space_new(8 * MiB);
    uint32_t id;
    assert_int_equal(space_add(sp, fake_base(0), 6 * MiB, 0, NULL, &id), 0);
    assert_int_equal(space_room_to_grow(sp), 2 * MiB);
    space_set_max(sp, 4 * MiB);   /* lowered below what is taken: no room, nothing taken back */
    assert_int_equal(space_room_to_grow(sp), 0);
    assert_int_equal(space_taken(sp), 6 * MiB);
    space_set_max(sp, 16 * MiB);
    assert_int_equal(space_max(sp), 16 * MiB);
    assert_int_equal(space_room_to_grow(sp), 10 * MiB);
    /* Sizes the table refuses. */
    assert_int_equal(space_add(sp, fake_base(1), 0, 0, NULL, &id), -1);
    assert_int_equal(space_add(sp, fake_base(1), SHM_SEGMENT_BYTES_MAX + 4096, 0, NULL, &id), -1);
    space_free(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_name_their_segment),
        cmocka_unit_test(test_ids_never_reused_and_slots_never_shared),
        cmocka_unit_test(test_dedicated_segments_hold_one_object),
        cmocka_unit_test(test_idle_segments),
        cmocka_unit_test(test_maximum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
