/*
 * test_namemap.c — unit tests for the ordered map from names to values (AVL tree).
 *
 * The order tests pin down the exact comparison (memcmp bytes as unsigned, a shorter prefix
 * first). The churn test drives the tree with a deterministic random mix of puts, overwrites
 * and removals over a fixed set of names, checks the AVL invariants with name_map_check after
 * every batch, and walks the whole map with name_map_next against the expected sorted contents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "namemap.h"

/* splitmix64: deterministic, so a failure replays identically. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void *fake_value(size_t index, unsigned version)
{
    return (void *)(uintptr_t)(index * 8 + 8 + (uintptr_t)version * 0x1000000);
}

/* The map stores values of the caller's size; these tests store one pointer in each, through
 * the small pointer-map API below, so that every operation's answer can be compared. */
static name_map *new_map(void)
{
    return name_map_new(sizeof(void *));
}

/* Insert or overwrite; -1 when memory runs out or value is NULL ("absent" in get's answers). */
static int put(name_map *m, const char *name, size_t len, void *value)
{
    int inserted;
    if (!value)
        return -1;
    void **slot = name_map_insert(m, name, len, &inserted);
    if (!slot)
        return -1;
    *slot = value;
    return 0;
}

static void *get(const name_map *m, const char *name, size_t len)
{
    void **slot = name_map_get(m, name, len);
    return slot ? *slot : NULL;
}

/* Remove and return what was stored (NULL when absent). */
static void *take(name_map *m, const char *name, size_t len)
{
    void *value = get(m, name, len);
    if (value)
        assert_int_equal(name_map_remove(m, name, len), 1);
    else
        assert_int_equal(name_map_remove(m, name, len), 0);
    return value;
}

static const char *next(const name_map *m, const char *after, size_t after_len, size_t *len,
                        void **value)
{
    void **slot = NULL;
    const char *name = name_map_next(m, after, after_len, len, value ? (void **)&slot : NULL);
    if (name && value) {
        *value = *slot;
        /* the value and the name belong to one entry */
        assert_ptr_equal(name_map_key(m, slot, NULL), name);
    }
    return name;
}

static void assert_map_sound(const name_map *m)
{
    const char *why = NULL;
    int rc = name_map_check(m, &why);
    if (rc != 0)
        fail_msg("name_map_check: %s", why ? why : "(no reason)");
}

static int put_str(name_map *m, const char *name, void *value)
{
    return put(m, name, strlen(name), value);
}

static void *get_str(const name_map *m, const char *name)
{
    return get(m, name, strlen(name));
}

/* Walk the whole map with next() and compare with the expected names, in order. */
static void assert_iteration(const name_map *m, const char *const *expected, size_t n)
{
    const char *cursor = NULL;
    size_t cursor_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        void *value = NULL;
        const char *name = next(m, cursor, cursor_len, &len, &value);
        assert_non_null(name);
        assert_int_equal(len, strlen(expected[i]));
        assert_memory_equal(name, expected[i], len);
        assert_int_equal(name[len], '\0');
        assert_ptr_equal(value, get(m, name, len));
        cursor = name;
        cursor_len = len;
    }
    assert_null(next(m, cursor, cursor_len, NULL, NULL));
}

static void test_empty_map(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    assert_int_equal(name_map_count(m), 0);
    assert_null(get_str(m, "a"));
    assert_null(take(m, "a", 1));
    assert_null(next(m, NULL, 0, NULL, NULL));
    assert_null(next(m, "a", 1, NULL, NULL));
    assert_map_sound(m);
    name_map_free(m);
    name_map_free(NULL);
}

static void test_put_get_overwrite_remove(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    assert_int_equal(put_str(m, "job7/input/x", fake_value(1, 0)), 0);
    assert_int_equal(put_str(m, "job7/input/y", fake_value(2, 0)), 0);
    assert_int_equal(name_map_count(m), 2);
    assert_ptr_equal(get_str(m, "job7/input/x"), fake_value(1, 0));
    assert_ptr_equal(get_str(m, "job7/input/y"), fake_value(2, 0));
    assert_null(get_str(m, "job7/input"));
    assert_null(get_str(m, "job7/input/x/"));

    assert_int_equal(put_str(m, "job7/input/x", fake_value(1, 1)), 0);
    assert_int_equal(name_map_count(m), 2);
    assert_ptr_equal(get_str(m, "job7/input/x"), fake_value(1, 1));

    assert_ptr_equal(take(m, "job7/input/x", 12), fake_value(1, 1));
    assert_int_equal(name_map_count(m), 1);
    assert_null(get_str(m, "job7/input/x"));
    assert_null(take(m, "job7/input/x", 12));
    assert_ptr_equal(get_str(m, "job7/input/y"), fake_value(2, 0));

    /* NULL is the "absent" answer, so it may not be stored. */
    assert_int_equal(put_str(m, "z", NULL), -1);
    assert_int_equal(name_map_count(m), 1);
    assert_null(get_str(m, "z"));
    assert_map_sound(m);
    name_map_free(m);
}

static void test_name_is_copied(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    char buffer[8] = "abc";
    assert_int_equal(put(m, buffer, 3, fake_value(0, 0)), 0);
    memcpy(buffer, "xyz", 3);
    assert_ptr_equal(get_str(m, "abc"), fake_value(0, 0));
    assert_null(get_str(m, "xyz"));

    /* Only len bytes count, not whatever follows them. */
    assert_int_equal(put(m, "abcdef", 2, fake_value(1, 0)), 0);
    assert_ptr_equal(get_str(m, "ab"), fake_value(1, 0));
    size_t len = 0;
    const char *name = next(m, NULL, 0, &len, NULL);
    assert_int_equal(len, 2);
    assert_string_equal(name, "ab");
    name_map_free(m);
}

static void test_prefix_sorts_first(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    const char *sorted[] = {"a", "a/", "a/b", "a/b/c", "a/c", "aa", "ab", "b"};
    const size_t n = sizeof sorted / sizeof sorted[0];
    /* Insert in a scrambled order so the tree shape does not mirror the expected order. */
    const size_t insert_order[] = {5, 2, 7, 0, 4, 1, 6, 3};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(put_str(m, sorted[insert_order[i]], fake_value(insert_order[i], 0)), 0);
    assert_map_sound(m);
    assert_iteration(m, sorted, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(get_str(m, sorted[i]), fake_value(i, 0));
    name_map_free(m);
}

static void test_high_bytes_sort_after_ascii(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    /* As signed chars, 0x80..0xff would sort before ASCII; code-point order needs unsigned. */
    const char *sorted[] = {"A", "z", "~", "\x7f", "\x80", "\xc3\xa9", "\xc3\xa9t\xc3\xa9",
                            "\xe2\x82\xac", "\xff"};
    const size_t n = sizeof sorted / sizeof sorted[0];
    for (size_t i = n; i-- > 0;)
        assert_int_equal(put_str(m, sorted[i], fake_value(i, 0)), 0);
    assert_map_sound(m);
    assert_iteration(m, sorted, n);
    name_map_free(m);
}

static void test_embedded_nul_bytes(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    /* The map compares lengths and bytes, not C strings: "a" < "a\0" < "a\0b" < "a\1". */
    assert_int_equal(put(m, "a\0b", 3, fake_value(2, 0)), 0);
    assert_int_equal(put(m, "a\1", 2, fake_value(3, 0)), 0);
    assert_int_equal(put(m, "a", 1, fake_value(0, 0)), 0);
    assert_int_equal(put(m, "a\0", 2, fake_value(1, 0)), 0);
    assert_int_equal(name_map_count(m), 4);
    assert_map_sound(m);
    size_t len = 0;
    void *value = NULL;
    const char *name = next(m, NULL, 0, &len, &value);
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(name);
        assert_ptr_equal(value, fake_value(i, 0));
        name = next(m, name, len, &len, &value);
    }
    assert_null(name);
    name_map_free(m);
}

static void test_long_names(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    char name[255];
    memset(name, 'q', sizeof name);
    for (unsigned i = 0; i < 50; i++) {
        name[254] = (char)(0x20 + i);
        assert_int_equal(put(m, name, sizeof name, fake_value(i, 0)), 0);
    }
    for (unsigned i = 0; i < 50; i++) {
        name[254] = (char)(0x20 + i);
        assert_ptr_equal(get(m, name, sizeof name), fake_value(i, 0));
        assert_null(get(m, name, sizeof name - 1));
    }
    assert_map_sound(m);
    name_map_free(m);
}

static void test_next_iterates_whole_map_in_order(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    /* Zero-padded numbers sort numerically; insert them in a shuffled order. */
    enum { N = 5000 };
    unsigned *order = malloc(N * sizeof *order);
    assert_non_null(order);
    for (unsigned i = 0; i < N; i++)
        order[i] = i;
    uint64_t rng = 7;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)(next_random(&rng) % (i + 1));
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    char name[16];
    for (unsigned i = 0; i < N; i++) {
        snprintf(name, sizeof name, "obj%05u", order[i]);
        assert_int_equal(put_str(m, name, fake_value(order[i], 0)), 0);
    }
    assert_int_equal(name_map_count(m), N);
    assert_map_sound(m);

    const char *cursor = NULL;
    size_t cursor_len = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t len = 0;
        void *value = NULL;
        cursor = next(m, cursor, cursor_len, &len, &value);
        assert_non_null(cursor);
        snprintf(name, sizeof name, "obj%05u", i);
        assert_string_equal(cursor, name);
        assert_int_equal(len, strlen(name));
        assert_ptr_equal(value, fake_value(i, 0));
        cursor_len = len;
    }
    assert_null(next(m, cursor, cursor_len, NULL, NULL));
    free(order);
    name_map_free(m);
}

static void test_next_from_absent_name(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    const char *names[] = {"b", "d", "d/x", "f"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(put_str(m, names[i], fake_value(i, 0)), 0);

    struct { const char *after; const char *expected; } cases[] = {
        {"", "b"},        /* the empty name is below everything */
        {"a", "b"},
        {"azzz", "b"},
        {"b", "d"},       /* present: strictly after */
        {"b\x80", "d"},
        {"c", "d"},
        {"d", "d/x"},
        {"d/", "d/x"},    /* a prefix of d/x, absent */
        {"d/w", "d/x"},
        {"d/xa", "f"},
        {"e", "f"},
        {"f", NULL},      /* after the last */
        {"f/", NULL},
        {"\xff", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        const char *got = next(m, cases[i].after, strlen(cases[i].after), &len, NULL);
        if (!cases[i].expected) {
            if (got)
                fail_msg("after \"%s\": expected the end, got \"%s\"", cases[i].after, got);
        } else {
            if (!got || strcmp(got, cases[i].expected) != 0)
                fail_msg("after \"%s\": expected \"%s\", got %s", cases[i].after,
                         cases[i].expected, got ? got : "the end");
            assert_int_equal(len, strlen(cases[i].expected));
        }
    }
    name_map_free(m);
}

static void test_next_after_last_returns_null(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    assert_int_equal(put_str(m, "only", fake_value(0, 0)), 0);
    size_t len = 0;
    const char *first = next(m, NULL, 0, &len, NULL);
    assert_non_null(first);
    assert_string_equal(first, "only");
    assert_null(next(m, first, len, NULL, NULL));
    assert_null(next(m, "zzz", 3, NULL, NULL));
    name_map_free(m);
}

/* A name pointer from next() stays valid while its entry is in the map, however much the tree
 * around it is rebalanced. */
static void test_returned_name_survives_other_removals(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    char name[16];
    for (unsigned i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "n%03u", i);
        assert_int_equal(put_str(m, name, fake_value(i, 0)), 0);
    }
    const char *kept = next(m, "n099", 4, NULL, NULL);
    assert_non_null(kept);
    assert_string_equal(kept, "n100");
    for (unsigned i = 0; i < 200; i++) {
        if (i == 100)
            continue;
        snprintf(name, sizeof name, "n%03u", i);
        assert_non_null(take(m, name, strlen(name)));
    }
    assert_string_equal(kept, "n100");
    assert_int_equal(name_map_count(m), 1);
    assert_map_sound(m);
    name_map_free(m);
}

static void test_remove_all_leaves_empty(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    enum { N = 1000 };
    char name[16];
    for (unsigned i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%u", i);
        assert_int_equal(put_str(m, name, fake_value(i, 0)), 0);
    }
    /* Stride through the keys so removals hit leaves, inner nodes and the root. */
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (k * 37u) % N;
        snprintf(name, sizeof name, "%u", i);
        assert_ptr_equal(take(m, name, strlen(name)), fake_value(i, 0));
        if (k % 50 == 0)
            assert_map_sound(m);
    }
    assert_int_equal(name_map_count(m), 0);
    assert_null(next(m, NULL, 0, NULL, NULL));
    assert_map_sound(m);
    name_map_free(m);
}

static void test_free_non_empty_map(void **state)
{
    (void)state;
    name_map *m = new_map();
    assert_non_null(m);
    char name[32];
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "dir%u/file%u", i % 17, i);
        assert_int_equal(put_str(m, name, fake_value(i, 0)), 0);
    }
    assert_int_equal(name_map_count(m), 3000);
    name_map_free(m);   /* valgrind / ASan report any node or name left behind */
}

/* Names for the churn test: short strings over a tiny alphabet so many are prefixes of others,
 * including bytes >= 0x80. */
typedef struct churn_name {
    char bytes[8];
    size_t len;
} churn_name;

static int compare_churn_names(const void *a, const void *b)
{
    const churn_name *x = a, *y = b;
    size_t common = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->bytes, y->bytes, common);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static size_t make_churn_names(churn_name *names, size_t wanted, uint64_t *rng)
{
    static const char alphabet[] = {'a', 'b', '/', (char)0xc3, (char)0xff};
    size_t n = 0;
    while (n < wanted) {
        churn_name candidate = {{0}, 1 + (size_t)(next_random(rng) % 6)};
        for (size_t i = 0; i < candidate.len; i++)
            candidate.bytes[i] = alphabet[next_random(rng) % sizeof alphabet];
        bool duplicate = false;
        for (size_t i = 0; i < n && !duplicate; i++)
            duplicate = compare_churn_names(&names[i], &candidate) == 0;
        if (!duplicate)
            names[n++] = candidate;
    }
    /* Sorted by the reference comparison, so the shadow's order is just index order. */
    qsort(names, n, sizeof *names, compare_churn_names);
    return n;
}

static void assert_matches_shadow(const name_map *m, const churn_name *names, void *const *shadow,
                                  size_t n)
{
    const char *cursor = NULL;
    size_t cursor_len = 0;
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(get(m, names[i].bytes, names[i].len), shadow[i]);
        if (!shadow[i])
            continue;
        size_t len = 0;
        void *value = NULL;
        cursor = next(m, cursor, cursor_len, &len, &value);
        assert_non_null(cursor);
        assert_int_equal(len, names[i].len);
        assert_memory_equal(cursor, names[i].bytes, len);
        assert_ptr_equal(value, shadow[i]);
        cursor_len = len;
    }
    assert_null(next(m, cursor, cursor_len, NULL, NULL));
}

static void test_churn_against_shadow(void **state)
{
    (void)state;
    enum { NAME_COUNT = 1500, OPS = 100000, BATCH = 1000 };
    uint64_t rng = 12345;
    churn_name *names = malloc(NAME_COUNT * sizeof *names);
    void **shadow = calloc(NAME_COUNT, sizeof *shadow);
    assert_non_null(names);
    assert_non_null(shadow);
    size_t n = make_churn_names(names, NAME_COUNT, &rng);
    size_t shadow_count = 0;

    name_map *m = new_map();
    assert_non_null(m);
    for (unsigned op = 1; op <= OPS; op++) {
        uint64_t r = next_random(&rng);
        size_t k = (size_t)(r % n);
        /* Alternate filling and draining phases so the tree is rebuilt from near empty to near
         * full several times, with removals at every size. */
        unsigned remove_percent = (op / 10000) % 2 ? 85 : 25;
        if ((r >> 32) % 100 < remove_percent) {
            assert_ptr_equal(take(m, names[k].bytes, names[k].len), shadow[k]);
            if (shadow[k])
                shadow_count--;
            shadow[k] = NULL;
        } else {
            void *value = fake_value(k, op & 0xff);
            assert_int_equal(put(m, names[k].bytes, names[k].len, value), 0);
            if (!shadow[k])
                shadow_count++;
            shadow[k] = value;
        }
        assert_int_equal(name_map_count(m), shadow_count);
        if (op % BATCH == 0)
            assert_map_sound(m);
        if (op % (BATCH * 5) == 0)
            assert_matches_shadow(m, names, shadow, n);
    }
    assert_map_sound(m);
    assert_matches_shadow(m, names, shadow, n);
    name_map_free(m);
    free(shadow);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_get_overwrite_remove),
        cmocka_unit_test(test_name_is_copied),
        cmocka_unit_test(test_prefix_sorts_first),
        cmocka_unit_test(test_high_bytes_sort_after_ascii),
        cmocka_unit_test(test_embedded_nul_bytes),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_next_iterates_whole_map_in_order),
        cmocka_unit_test(test_next_from_absent_name),
        cmocka_unit_test(test_next_after_last_returns_null),
        cmocka_unit_test(test_returned_name_survives_other_removals),
        cmocka_unit_test(test_remove_all_leaves_empty),
        cmocka_unit_test(test_free_non_empty_map),
        cmocka_unit_test(test_churn_against_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
