/*
 * test_pool.c — fixed-size records: zeroed, distinct, aligned, reused after a free, across
 * blocks that double in size; every record given back, then the blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct record {
    uint64_t a, b;
    char tail[5];   /* 21 bytes: rounded up to 24 */
};

static void test_records(void **state)
{
    (void)state;
    pool_t p;
    pool_init(&p, sizeof(struct record), 4);
    assert_int_equal(p.record_size, 24);
    enum { N = 37 };   /* blocks of 1, 2, 4, 4, ... */
    struct record *r[N];
    for (int i = 0; i < N; i++) {
        r[i] = pool_alloc(&p);
        assert_non_null(r[i]);
        assert_int_equal((uintptr_t)r[i] % 8, 0);
        assert_true(r[i]->a == 0 && r[i]->b == 0);   /* zeroed */
        r[i]->a = (uint64_t)i;
        memset(r[i]->tail, 'x', sizeof r[i]->tail);
    }
    for (int i = 0; i < N; i++) {
        assert_true(r[i]->a == (uint64_t)i);   /* no record overlaps another */
        for (int j = 0; j < i; j++)
            assert_true(r[i] != r[j]);
    }
    /* Freed records come back zeroed. */
    pool_free(&p, r[5]);
    pool_free(&p, r[9]);
    pool_free(&p, NULL);
    struct record *again = pool_alloc(&p), *again2 = pool_alloc(&p);
    assert_non_null(again);
    assert_non_null(again2);
    assert_true(again->a == 0 && again2->a == 0 && again->tail[0] == 0);
    r[5] = again;
    r[9] = again2;
    for (int i = 0; i < N; i++)
        pool_free(&p, r[i]);
    pool_destroy(&p);
    pool_destroy(&p);   /* twice is harmless */
}

static void test_tiny_records_hold_a_link(void **state)
{
    (void)state;
    pool_t p;
    pool_init(&p, 1, 0);
    assert_int_equal(p.record_size, sizeof(void *));
    void *a = pool_alloc(&p), *b = pool_alloc(&p);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    pool_free(&p, a);
    pool_free(&p, b);
    pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_tiny_records_hold_a_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
