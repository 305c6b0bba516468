/*
 * test_alloc.c — unit tests for the arena allocator (daemon/core/alloc.c).
 *
 * Besides the fixed cases (alignment, accounting, coalescing, a full arena, odd sizes and
 * capacities), a long churn run drives random takes and gives at ~90% fill with a fixed-seed
 * PRNG and checks every batch three ways: alloc_check on the internals, a shadow copy of the
 * live blocks that must never overlap, and alloc_largest_free, which must never promise more
 * than alloc_take grants. SHMSTORE_TEST_SCALE (a positive number, default 1) scales the
 * number of random operations, e.g. 0.1 under valgrind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* ---- helpers ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed) { rng_state = seed; }

/* splitmix64: tiny, deterministic, good enough to shuffle sizes and orders. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n) { return rng_next() % n; }

static double test_scale(void)
{
    const char *s = getenv("SHMSTORE_TEST_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

static uint64_t scaled(uint64_t n)
{
    uint64_t v = (uint64_t)((double)n * test_scale());
    return v ? v : 1;
}

static void assert_sound(const alloc_t *a)
{
    const char *why = "(unset)";
    int rc = alloc_check(a, &why);
    if (rc != 0)
        fail_msg("alloc_check: %s", why);
}

static uint64_t expected_size(uint64_t request)
{
    return request == 0 ? ALLOC_ALIGN : (request + ALLOC_ALIGN - 1) / ALLOC_ALIGN * ALLOC_ALIGN;
}

/* Checks a fresh block against the request and the arena bounds. */
static void assert_block_ok(const alloc_t *a, const alloc_block_t *b, uint64_t request)
{
    uint64_t off = alloc_block_offset(b), size = alloc_block_size(b);
    assert_int_equal(size, expected_size(request));
    assert_int_equal(off % ALLOC_ALIGN, 0);
    if (size >= ALLOC_PAGE_THRESHOLD)
        assert_int_equal(off % ALLOC_PAGE, 0);
    assert_true(off < alloc_capacity(a));
    assert_true(size <= alloc_capacity(a) - off);
}

static void shuffle(alloc_block_t **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(i);
        alloc_block_t *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static int cmp_by_offset(const void *x, const void *y)
{
    uint64_t a = alloc_block_offset(*(alloc_block_t *const *)x);
    uint64_t b = alloc_block_offset(*(alloc_block_t *const *)y);
    return a < b ? -1 : a > b;
}

/* The shadow check: live blocks sorted by offset must not overlap; their sizes add up to used. */
static void assert_no_overlap(const alloc_t *a, alloc_block_t **live, size_t n)
{
    alloc_block_t **sorted = malloc((n ? n : 1) * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, live, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_by_offset);
    uint64_t end = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = alloc_block_offset(sorted[i]);
        if (off < end)
            fail_msg("blocks overlap at offset %llu (previous ends at %llu)",
                     (unsigned long long)off, (unsigned long long)end);
        end = off + alloc_block_size(sorted[i]);
        sum += alloc_block_size(sorted[i]);
    }
    assert_true(end <= alloc_capacity(a));
    assert_int_equal(sum, alloc_used(a));
    assert_int_equal(n, alloc_blocks(a));
    free(sorted);
}

/* The promise behind alloc_largest_free: a take of exactly that size succeeds. Leaves the
 * allocator as it found it. */
static void assert_largest_free_takeable(alloc_t *a)
{
    uint64_t largest = alloc_largest_free(a);
    assert_true(largest <= alloc_free(a));
    if (largest == 0)
        return;
    uint64_t used = alloc_used(a), blocks = alloc_blocks(a);
    alloc_block_t *b = alloc_take(a, largest);
    if (!b)
        fail_msg("alloc_largest_free said %llu but alloc_take(%llu) failed",
                 (unsigned long long)largest, (unsigned long long)largest);
    assert_block_ok(a, b, largest);
    alloc_give(a, b);
    assert_int_equal(alloc_used(a), used);
    assert_int_equal(alloc_blocks(a), blocks);
}

static void assert_empty(const alloc_t *a)
{
    assert_sound(a);
    assert_int_equal(alloc_used(a), 0);
    assert_int_equal(alloc_blocks(a), 0);
    assert_int_equal(alloc_free(a), alloc_capacity(a));
    assert_int_equal(alloc_largest_free(a), alloc_capacity(a));
}

/* ---- tests ---- */

static void test_new_rounds_capacity(void **state)
{
    (void)state;
    assert_null(alloc_new(0));
    assert_null(alloc_new(ALLOC_PAGE - 1));

    alloc_t *a = alloc_new(ALLOC_PAGE);
    assert_non_null(a);
    assert_int_equal(alloc_capacity(a), ALLOC_PAGE);
    assert_empty(a);
    alloc_destroy(a);

    a = alloc_new(10 * MiB + 4095);
    assert_non_null(a);
    assert_int_equal(alloc_capacity(a), 10 * MiB);
    assert_empty(a);
    alloc_destroy(a);

    a = alloc_new(3 * ALLOC_PAGE + 100);
    assert_non_null(a);
    assert_int_equal(alloc_capacity(a), 3 * ALLOC_PAGE);
    /* Nothing may be handed out past the rounded capacity. */
    assert_null(alloc_take(a, 3 * ALLOC_PAGE + 64));
    alloc_block_t *b = alloc_take(a, 3 * ALLOC_PAGE);
    assert_non_null(b);
    assert_int_equal(alloc_block_offset(b), 0);
    assert_null(alloc_take(a, 1));
    alloc_give(a, b);
    assert_empty(a);
    alloc_destroy(a);
}

static void test_block_size_rounding(void **state)
{
    (void)state;
    alloc_t *a = alloc_new(MiB);
    assert_non_null(a);
    static const uint64_t requests[] = {0, 1, 63, 64, 65, 127, 128, 129, 4095, 4096, 65535};
    alloc_block_t *blocks[sizeof requests / sizeof requests[0]];
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        blocks[i] = alloc_take(a, requests[i]);
        assert_non_null(blocks[i]);
        assert_block_ok(a, blocks[i], requests[i]);
        sum += expected_size(requests[i]);
        assert_int_equal(alloc_used(a), sum);
        assert_int_equal(alloc_blocks(a), i + 1);
    }
    /* 65535 rounds to a 64 KiB block, so it is page aligned like any block of that size. */
    assert_int_equal(alloc_block_size(blocks[10]), 64 * KiB);
    assert_int_equal(alloc_block_offset(blocks[10]) % ALLOC_PAGE, 0);
    assert_sound(a);
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        alloc_give(a, blocks[i]);
    assert_empty(a);
    alloc_destroy(a);
}

static void test_alignment_random_sizes(void **state)
{
    (void)state;
    rng_seed(1);
    alloc_t *a = alloc_new(256 * MiB);
    assert_non_null(a);
    enum { N = 2000 };
    alloc_block_t *live[N];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        uint64_t size;
        switch (rng_below(4)) {
        case 0: size = rng_below(64 * KiB); break;                              /* small */
        case 1: size = ALLOC_PAGE_THRESHOLD - 128 + rng_below(256); break;       /* edge */
        case 2: size = ALLOC_PAGE_THRESHOLD + rng_below(256 * KiB); break;       /* large */
        default: size = rng_below(4096); break;
        }
        alloc_block_t *b = alloc_take(a, size);
        if (!b)
            continue;
        assert_block_ok(a, b, size);
        live[n++] = b;
    }
    assert_true(n > N / 2);
    assert_sound(a);
    assert_no_overlap(a, live, n);
    for (size_t i = 0; i < n; i++)
        alloc_give(a, live[i]);
    assert_empty(a);
    alloc_destroy(a);
}

/* A page-aligned block after a small one leaves a lead-in gap; it must be a proper free range
 * that merges with both neighbours when they come back. */
static void test_page_gap_coalesces(void **state)
{
    (void)state;
    alloc_t *a = alloc_new(MiB);
    assert_non_null(a);
    alloc_block_t *small = alloc_take(a, 100);
    assert_non_null(small);
    assert_int_equal(alloc_block_offset(small), 0);
    alloc_block_t *big = alloc_take(a, 64 * KiB);
    assert_non_null(big);
    assert_int_equal(alloc_block_offset(big) % ALLOC_PAGE, 0);
    assert_true(alloc_block_offset(big) >= 128);
    assert_int_equal(alloc_used(a), 128 + 64 * KiB);
    assert_sound(a);

    /* The gap is reusable by small blocks. */
    alloc_block_t *in_gap = alloc_take(a, 64);
    assert_non_null(in_gap);
    assert_true(alloc_block_offset(in_gap) < alloc_block_offset(big));
    alloc_give(a, in_gap);
    assert_sound(a);

    alloc_give(a, small);   /* merges with the gap */
    assert_sound(a);
    alloc_give(a, big);     /* merges gap+small range and the tail */
    assert_empty(a);

    /* And in the other order. */
    small = alloc_take(a, 100);
    big = alloc_take(a, 64 * KiB);
    assert_non_null(small);
    assert_non_null(big);
    alloc_give(a, big);
    assert_sound(a);
    alloc_give(a, small);
    assert_empty(a);
    alloc_destroy(a);
}

static void test_accounting(void **state)
{
    (void)state;
    rng_seed(2);
    alloc_t *a = alloc_new(64 * MiB);
    assert_non_null(a);
    enum { N = 1000 };
    alloc_block_t *live[N];
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        uint64_t size = 1 + rng_below(100 * KiB);
        live[i] = alloc_take(a, size);
        assert_non_null(live[i]);
        sum += alloc_block_size(live[i]);
        assert_int_equal(alloc_used(a), sum);
        assert_int_equal(alloc_free(a), alloc_capacity(a) - sum);
        assert_int_equal(alloc_blocks(a), (uint64_t)i + 1);
    }
    assert_sound(a);
    for (int i = 0; i < N; i += 2) {
        sum -= alloc_block_size(live[i]);
        alloc_give(a, live[i]);
        assert_int_equal(alloc_used(a), sum);
    }
    assert_int_equal(alloc_blocks(a), N / 2);
    assert_sound(a);
    for (int i = 1; i < N; i += 2)
        alloc_give(a, live[i]);
    assert_empty(a);
    alloc_destroy(a);
}

enum free_order { FORWARD, REVERSE, RANDOM };

static void coalesce_in_order(enum free_order order)
{
    rng_seed(3 + (uint64_t)order);
    alloc_t *a = alloc_new(16 * MiB);
    assert_non_null(a);
    size_t cap = 20000, n = 0;
    alloc_block_t **live = malloc(cap * sizeof *live);
    assert_non_null(live);
    /* Fill completely with mixed sizes, then with the smallest size until nothing fits. */
    for (;;) {
        uint64_t size = rng_below(8) == 0 ? 64 * KiB + rng_below(128 * KiB) : rng_below(2 * KiB);
        alloc_block_t *b = alloc_take(a, size);
        if (!b)
            b = alloc_take(a, 1);
        if (!b)
            break;
        assert_true(n < cap);
        live[n++] = b;
    }
    assert_int_equal(alloc_free(a), 0);
    assert_int_equal(alloc_largest_free(a), 0);
    assert_sound(a);
    assert_no_overlap(a, live, n);

    if (order == REVERSE) {
        for (size_t i = 0; i < n / 2; i++) {
            alloc_block_t *t = live[i];
            live[i] = live[n - 1 - i];
            live[n - 1 - i] = t;
        }
    } else if (order == RANDOM) {
        shuffle(live, n);
    }
    for (size_t i = 0; i < n; i++) {
        alloc_give(a, live[i]);
        if (i % 512 == 0)
            assert_sound(a);
    }
    assert_empty(a);
    alloc_block_t *whole = alloc_take(a, alloc_capacity(a));
    assert_non_null(whole);
    assert_int_equal(alloc_block_offset(whole), 0);
    alloc_give(a, whole);
    assert_empty(a);
    free(live);
    alloc_destroy(a);
}

static void test_coalesce_forward(void **state) { (void)state; coalesce_in_order(FORWARD); }
static void test_coalesce_reverse(void **state) { (void)state; coalesce_in_order(REVERSE); }
static void test_coalesce_random(void **state) { (void)state; coalesce_in_order(RANDOM); }

static void test_full_arena(void **state)
{
    (void)state;
    alloc_t *a = alloc_new(MiB);
    assert_non_null(a);
    size_t n = (size_t)(MiB / 1000 + 1), count = 0;
    alloc_block_t **live = malloc(n * sizeof *live);
    assert_non_null(live);
    /* 1000 rounds to 1024, so exactly MiB/1024 blocks fit. */
    alloc_block_t *b;
    while ((b = alloc_take(a, 1000))) {
        assert_true(count < n);
        live[count++] = b;
    }
    assert_int_equal(count, MiB / 1024);
    assert_int_equal(alloc_used(a), MiB);
    assert_sound(a);

    /* A failed take changes nothing. */
    assert_null(alloc_take(a, 1));
    assert_null(alloc_take(a, 0));
    assert_null(alloc_take(a, 64 * KiB));
    assert_int_equal(alloc_used(a), MiB);
    assert_int_equal(alloc_blocks(a), count);
    assert_int_equal(alloc_largest_free(a), 0);
    assert_sound(a);

    /* Free one in the middle: exactly its range comes back. */
    uint64_t hole = alloc_block_offset(live[count / 2]);
    alloc_give(a, live[count / 2]);
    assert_int_equal(alloc_largest_free(a), 1024);
    assert_null(alloc_take(a, 1025));
    assert_sound(a);
    b = alloc_take(a, 1024);
    assert_non_null(b);
    assert_int_equal(alloc_block_offset(b), hole);
    live[count / 2] = b;
    assert_null(alloc_take(a, 1));

    /* Free two neighbours: they merge into one 2 KiB range. */
    alloc_give(a, live[10]);
    alloc_give(a, live[11]);
    assert_int_equal(alloc_largest_free(a), 2048);
    b = alloc_take(a, 2048);
    assert_non_null(b);
    assert_int_equal(alloc_block_offset(b), 10 * 1024);
    live[10] = b;
    live[11] = live[--count];
    assert_sound(a);

    for (size_t i = 0; i < count; i++)
        alloc_give(a, live[i]);
    assert_empty(a);
    free(live);
    alloc_destroy(a);
}

static void test_zero_and_huge_requests(void **state)
{
    (void)state;
    alloc_t *a = alloc_new(MiB);
    assert_non_null(a);
    alloc_block_t *z = alloc_take(a, 0);
    assert_non_null(z);
    assert_int_equal(alloc_block_size(z), ALLOC_ALIGN);
    assert_int_equal(alloc_used(a), ALLOC_ALIGN);

    static const uint64_t huge[] = {
        MiB + 1, 2 * MiB, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 63, UINT64_MAX - 64,
        UINT64_MAX - 4095, UINT64_MAX / 2 + 1, UINT64_C(1) << 63, UINT64_C(1) << 58,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        assert_null(alloc_take(a, huge[i]));
        assert_int_equal(alloc_used(a), ALLOC_ALIGN);
        assert_int_equal(alloc_blocks(a), 1);
    }
    /* MiB no longer fits beside the small block. */
    assert_null(alloc_take(a, MiB));
    assert_sound(a);
    alloc_give(a, z);
    assert_empty(a);
    alloc_block_t *all = alloc_take(a, MiB);
    assert_non_null(all);
    alloc_give(a, all);
    alloc_destroy(a);
}

static void test_huge_capacity(void **state)
{
    (void)state;
    /* The allocator never touches the arena, so a 1 TiB (or 2^62) one costs nothing. */
    alloc_t *a = alloc_new(TiB + 123);
    assert_non_null(a);
    assert_int_equal(alloc_capacity(a), TiB);
    alloc_block_t *x = alloc_take(a, 300 * GiB + 1);
    alloc_block_t *y = alloc_take(a, 5);
    alloc_block_t *z = alloc_take(a, 700 * GiB);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(z);
    assert_block_ok(a, x, 300 * GiB + 1);
    assert_block_ok(a, z, 700 * GiB);
    assert_sound(a);
    assert_largest_free_takeable(a);
    assert_null(alloc_take(a, 25 * GiB));
    alloc_give(a, y);
    alloc_give(a, x);
    alloc_give(a, z);
    assert_empty(a);
    alloc_destroy(a);

    a = alloc_new(UINT64_MAX);   /* as much as a record can say */
    assert_non_null(a);
    uint64_t cap = ALLOC_CAPACITY_MAX;
    assert_int_equal(alloc_capacity(a), cap);
    assert_empty(a);
    assert_null(alloc_take(a, UINT64_MAX));
    x = alloc_take(a, cap);
    assert_non_null(x);
    assert_int_equal(alloc_block_size(x), cap);
    assert_null(alloc_take(a, 0));
    alloc_give(a, x);
    x = alloc_take(a, 64);
    y = alloc_take(a, cap - 4 * KiB);   /* page-aligned: must start at 4096, no room left */
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(alloc_block_offset(y), ALLOC_PAGE);
    assert_sound(a);
    assert_largest_free_takeable(a);
    alloc_give(a, x);
    alloc_give(a, y);
    assert_empty(a);
    alloc_destroy(a);
}

/* Fragment the arena so that the largest free range is badly aligned or sits in a crowded bin,
 * and check alloc_largest_free against alloc_take after every step. */
static void test_largest_free_never_overstated(void **state)
{
    (void)state;
    rng_seed(4);
    alloc_t *a = alloc_new(32 * MiB);
    assert_non_null(a);
    enum { N = 3000 };
    alloc_block_t *live[N];
    size_t n = 0;
    for (int round = 0; round < 4000; round++) {
        if (n < N && rng_below(3) != 0) {
            uint64_t size = rng_below(2) ? rng_below(256 * KiB) : 60 * KiB + rng_below(8 * KiB);
            alloc_block_t *b = alloc_take(a, size);
            if (b)
                live[n++] = b;
            else
                assert_true(alloc_largest_free(a) < expected_size(size));
        } else if (n) {
            size_t i = (size_t)rng_below(n);
            alloc_give(a, live[i]);
            live[i] = live[--n];
        }
        if (round % 16 == 0)
            assert_largest_free_takeable(a);
    }
    assert_sound(a);

    /* Many free ranges of nearly the same size, misaligned for pages: the fast search skips
     * them, alloc_largest_free must still only promise what alloc_take finds. */
    while (n)
        alloc_give(a, live[--n]);
    assert_empty(a);
    alloc_block_t *sep[64], *mid[64];
    for (int i = 0; i < 64; i++) {
        sep[i] = alloc_take(a, 64);
        mid[i] = alloc_take(a, 70 * KiB + 64 * (uint64_t)i);
        assert_non_null(sep[i]);
        assert_non_null(mid[i]);
    }
    alloc_block_t *rest = alloc_take(a, alloc_largest_free(a));
    assert_non_null(rest);
    for (int i = 0; i < 64; i++)
        alloc_give(a, mid[i]);
    assert_sound(a);
    for (uint64_t want = 60 * KiB; want <= 80 * KiB; want += 64) {
        uint64_t largest = alloc_largest_free(a);
        alloc_block_t *b = alloc_take(a, want);
        if (want <= largest)
            assert_non_null(b);
        if (b) {
            assert_block_ok(a, b, want);
            alloc_give(a, b);
        }
    }
    assert_largest_free_takeable(a);
    for (int i = 0; i < 64; i++)
        alloc_give(a, sep[i]);
    alloc_give(a, rest);
    assert_empty(a);
    alloc_destroy(a);
}

static uint64_t churn_size(void)
{
    uint64_t r = rng_below(100);
    if (r < 60)
        return rng_below(2 * KiB);                       /* small objects */
    if (r < 90)
        return 2 * KiB + rng_below(62 * KiB);            /* medium */
    if (r < 99)
        return 64 * KiB + rng_below(448 * KiB);          /* large, page aligned */
    return 512 * KiB + rng_below(1536 * KiB);            /* occasional big one */
}

static void test_churn_high_fill(void **state)
{
    (void)state;
    rng_seed(5);
    const uint64_t capacity = 64 * MiB, target = capacity / 10 * 9;
    const uint64_t ops = scaled(100000), batch = 1000;
    alloc_t *a = alloc_new(capacity);
    assert_non_null(a);
    size_t cap = 1 << 16, n = 0;
    alloc_block_t **live = malloc(cap * sizeof *live);
    assert_non_null(live);
    uint64_t takes = 0, failures = 0;

    for (uint64_t op = 1; op <= ops; op++) {
        bool give = n > 0 && (alloc_used(a) >= target || rng_below(4) == 0);
        if (!give) {
            uint64_t size = churn_size();
            uint64_t used = alloc_used(a), blocks = alloc_blocks(a);
            uint64_t largest = alloc_largest_free(a);
            alloc_block_t *b = alloc_take(a, size);
            if (b) {
                assert_block_ok(a, b, size);
                assert_int_equal(alloc_used(a), used + alloc_block_size(b));
                assert_true(n < cap);
                live[n++] = b;
                takes++;
            } else {
                /* A refusal must be honest and harmless. */
                assert_true(largest < expected_size(size));
                assert_int_equal(alloc_used(a), used);
                assert_int_equal(alloc_blocks(a), blocks);
                assert_int_equal(alloc_largest_free(a), largest);
                failures++;
                give = n > 0;
            }
        }
        if (give) {
            size_t i = (size_t)rng_below(n);
            alloc_give(a, live[i]);
            live[i] = live[--n];
        }
        if (op % batch == 0) {
            assert_sound(a);
            assert_no_overlap(a, live, n);
            assert_largest_free_takeable(a);
        }
    }
    /* The run must really have been near full, or it tested little. */
    assert_true(alloc_used(a) > capacity / 10 * 8);
    assert_true(takes > ops / 3);
    print_message("churn: %llu ops, %llu takes, %llu refused, end fill %.1f%%\n",
                  (unsigned long long)ops, (unsigned long long)takes,
                  (unsigned long long)failures, 100.0 * (double)alloc_used(a) / (double)capacity);

    shuffle(live, n);
    while (n)
        alloc_give(a, live[--n]);
    assert_empty(a);
    free(live);
    alloc_destroy(a);
}

/* Destroy with blocks still out must free their records too (ASan / valgrind see leaks). */
static void test_destroy_with_blocks_out(void **state)
{
    (void)state;
    alloc_t *a = alloc_new(16 * MiB);
    assert_non_null(a);
    for (int i = 0; i < 100; i++)
        assert_non_null(alloc_take(a, (uint64_t)i * 700));
    alloc_give(a, NULL);   /* tolerated, like free(NULL) */
    assert_int_equal(alloc_blocks(a), 100);
    alloc_destroy(a);
    alloc_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rounds_capacity),
        cmocka_unit_test(test_block_size_rounding),
        cmocka_unit_test(test_alignment_random_sizes),
        cmocka_unit_test(test_page_gap_coalesces),
        cmocka_unit_test(test_accounting),
        cmocka_unit_test(test_coalesce_forward),
        cmocka_unit_test(test_coalesce_reverse),
        cmocka_unit_test(test_coalesce_random),
        cmocka_unit_test(test_full_arena),
        cmocka_unit_test(test_zero_and_huge_requests),
        cmocka_unit_test(test_huge_capacity),
        cmocka_unit_test(test_largest_free_never_overstated),
        cmocka_unit_test(test_churn_high_fill),
        cmocka_unit_test(test_destroy_with_blocks_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
