/*
 * test_quota.c — per-user quotas (daemon/core/quota.{h,c}) alone and inside the store: the
 * config's override lines, which limit wins when several apply (a user's own line, else the most
 * generous of its groups', else the default), the accounting of objects from create to free,
 * the refusal's detail, a reconfiguration applying to later checks only, and the listing.
 *
 * Users and groups come from a fake lookup, so the tests need no accounts on the machine:
 * uid 1001 "alice" is in groups 100 and 200, uid 1002 "bob" in 100, uid 1003 "carol" in none,
 * and uid 1004 has no passwd entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota.h"
#include "shmstore.h"
#include "store.h"

static int fake_lookup(uint32_t uid, char *name, size_t name_len, uint32_t *gids, int max)
{
    static const struct { uint32_t uid; const char *name; int n; uint32_t gids[2]; } users[] = {
        {1001, "alice", 2, {100, 200}}, {1002, "bob", 1, {100}}, {1003, "carol", 0, {0}},
    };
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        if (users[i].uid != uid)
            continue;
        snprintf(name, name_len, "%s", users[i].name);
        int n = users[i].n < max ? users[i].n : max;
        memcpy(gids, users[i].gids, (size_t)n * sizeof *gids);
        return n;
    }
    return -1;
}

static quota_t *new_quota(void)
{
    quota_t *q = quota_new();
    assert_non_null(q);
    quota_set_lookup(q, fake_lookup);
    return q;
}

static void parse_ok(struct quota_rules *r, const char *key, const char *value)
{
    char problem[256];
    assert_int_equal(quota_rule_parse(r, key, value, problem, sizeof problem), 0);
}

static void test_rule_lines(void **state)
{
    (void)state;
    struct quota_rules r;
    memset(&r, 0, sizeof r);
    char problem[256];
    assert_int_equal(quota_rule_parse(&r, "quota_bytes", "1G", problem, sizeof problem), 1);
    assert_int_equal(quota_rule_parse(&r, "memory.x", "1G", problem, sizeof problem), 1);
    parse_ok(&r, "quota_bytes.1001", "10G");
    parse_ok(&r, "quota_objects.1001", "5");
    parse_ok(&r, "quota_bytes.@100", "unlimited");
    parse_ok(&r, "quota_bytes.1001", "2G");   /* a second line for the same replaces the first */
    parse_ok(&r, "quota_bytes.root", "1K");   /* names are looked up (root always exists) */
    assert_int_equal(r.count, 3);
    assert_int_equal(r.rules[0].id, 1001);
    assert_true(r.rules[0].has_bytes && r.rules[0].bytes == 2ull << 30);
    assert_true(r.rules[0].has_objects && r.rules[0].objects == 5);
    assert_true(r.rules[1].group && r.rules[1].id == 100 && r.rules[1].has_bytes &&
                r.rules[1].bytes == 0 && !r.rules[1].has_objects);
    assert_true(!r.rules[2].group && r.rules[2].id == 0 && r.rules[2].bytes == 1024);

    struct quota_rules before = r;
    assert_int_equal(quota_rule_parse(&r, "quota_bytes.", "1G", problem, sizeof problem), -1);
    assert_int_equal(quota_rule_parse(&r, "quota_bytes.@", "1G", problem, sizeof problem), -1);
    assert_int_equal(quota_rule_parse(&r, "quota_bytes.no-such-user-here", "1G", problem,
                                      sizeof problem), -1);
    assert_non_null(strstr(problem, "no such user: no-such-user-here"));
    assert_int_equal(quota_rule_parse(&r, "quota_bytes.@no-such-group-here", "1G", problem,
                                      sizeof problem), -1);
    assert_non_null(strstr(problem, "no such group: no-such-group-here"));
    assert_int_equal(quota_rule_parse(&r, "quota_bytes.1001", "lots", problem, sizeof problem),
                     -1);
    assert_non_null(strstr(problem, "must be a size"));
    assert_int_equal(quota_rule_parse(&r, "quota_objects.1001", "1G", problem, sizeof problem),
                     -1);
    assert_int_equal(quota_rule_parse(&r, "quota_objects.1001", "-1", problem, sizeof problem),
                     -1);
    assert_memory_equal(&r, &before, sizeof r);   /* a bad line changes nothing */

    char text[512];
    quota_rules_format(&r, text, sizeof text);
    assert_string_equal(text, "quota_bytes.1001 = 2147483648; quota_objects.1001 = 5; "
                              "quota_bytes.@100 = 0; quota_bytes.0 = 1024");
}

static void test_too_many_rules(void **state)
{
    (void)state;
    struct quota_rules *r = calloc(1, sizeof *r);
    assert_non_null(r);
    char key[64], problem[256];
    for (unsigned i = 0; i < QUOTA_RULES_MAX; i++) {
        snprintf(key, sizeof key, "quota_objects.%u", 5000 + i);
        parse_ok(r, key, "1");
    }
    assert_int_equal(quota_rule_parse(r, "quota_objects.1", "1", problem, sizeof problem), -1);
    assert_non_null(strstr(problem, "more than"));
    parse_ok(r, "quota_objects.5000", "2");   /* a known one may still change */
    free(r);
}

/* Who wins: the user's own line, else the most generous group line, else the default; each of
 * bytes and objects on its own. */
static void test_precedence(void **state)
{
    (void)state;
    quota_t *q = new_quota();
    struct quota_rules r;
    memset(&r, 0, sizeof r);
    parse_ok(&r, "quota_bytes.@100", "1K");
    parse_ok(&r, "quota_bytes.@200", "4K");
    parse_ok(&r, "quota_objects.@200", "0");    /* group 200: no object limit */
    parse_ok(&r, "quota_objects.1002", "2");    /* bob's own */
    parse_ok(&r, "quota_bytes.1003", "8K");     /* carol's own */
    quota_configure(q, 100, 3, &r);

    struct quota_usage u[8];
    int more;
    /* alice: groups 100 (1K) and 200 (4K, unlimited objects) -> 4K, unlimited */
    /* bob: group 100 (1K) and his own 2 objects; carol: her own 8K, default 3 objects; uid 1004
     * (no passwd entry): the defaults */
    const uint32_t uids[] = {1001, 1002, 1003, 1004};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(quota_charge(q, uids[i], 1), 0);
    assert_int_equal(quota_list(q, 0, u, 8, &more), 4);
    assert_int_equal(more, 0);
    assert_true(u[0].uid == 1001 && u[0].quota_bytes == 4096 && u[0].quota_objects == 0);
    assert_true(u[1].uid == 1002 && u[1].quota_bytes == 1024 && u[1].quota_objects == 2);
    assert_true(u[2].uid == 1003 && u[2].quota_bytes == 8192 && u[2].quota_objects == 3);
    assert_true(u[3].uid == 1004 && u[3].quota_bytes == 100 && u[3].quota_objects == 3);

    /* An unlimited group line is the most generous of all. */
    parse_ok(&r, "quota_bytes.@100", "0");
    quota_configure(q, 100, 3, &r);
    assert_int_equal(quota_list(q, 0, u, 8, &more), 4);
    assert_true(u[0].quota_bytes == 0 && u[1].quota_bytes == 0);
    quota_free(q);
}

static void test_check_and_detail(void **state)
{
    (void)state;
    quota_t *q = new_quota();
    quota_configure(q, 10ull << 30, 0, NULL);
    char detail[512];
    assert_int_equal(quota_check(q, 1001, 9ull << 30, detail, sizeof detail), 0);
    assert_int_equal(quota_charge(q, 1001, (98ull << 30) / 10), 0);   /* 9.8 GiB */
    assert_int_equal(quota_check(q, 1001, 512ull << 20, detail, sizeof detail), SHMSTORE_ENOSPC);
    assert_non_null(strstr(detail, "quota of uid 1001 (alice): 10.0 GiB, 9.79 GiB used, "
                                   "asked 512.0 MiB"));
    /* exactly up to the limit is fine; a size near 2^64 does not wrap into one that fits */
    assert_int_equal(quota_check(q, 1001, (10ull << 30) - (98ull << 30) / 10, detail,
                                 sizeof detail), 0);
    assert_int_equal(quota_check(q, 1001, UINT64_MAX, detail, sizeof detail), SHMSTORE_ENOSPC);
    /* a uid with no passwd entry is named by number alone */
    assert_int_equal(quota_check(q, 1004, 11ull << 30, detail, sizeof detail), SHMSTORE_ENOSPC);
    assert_non_null(strstr(detail, "quota of uid 1004: 10.0 GiB"));

    quota_configure(q, 0, 2, NULL);
    assert_int_equal(quota_check(q, 1001, 100ull << 30, detail, sizeof detail), 0);
    assert_int_equal(quota_charge(q, 1001, 0), 0);
    assert_int_equal(quota_check(q, 1001, 0, detail, sizeof detail), SHMSTORE_ENOSPC);
    assert_non_null(strstr(detail, "object quota of uid 1001 (alice): 2 objects, 2 held"));
    quota_uncharge(q, 1001, 0);
    assert_int_equal(quota_check(q, 1001, 0, detail, sizeof detail), 0);
    quota_free(q);
}

static void test_list_pages(void **state)
{
    (void)state;
    quota_t *q = new_quota();
    for (uint32_t uid = 3000; uid > 2000; uid -= 100)   /* 10 users, charged out of order */
        assert_int_equal(quota_charge(q, uid, uid), 0);
    assert_int_equal(quota_charge(q, UINT32_MAX, 1), 0);
    assert_int_equal(quota_user_count(q), 11);
    struct quota_usage u[4];
    int more;
    uint64_t from = 0, seen = 0, last = 0;
    do {
        size_t n = quota_list(q, from, u, 4, &more);
        for (size_t i = 0; i < n; i++) {
            assert_true(seen == 0 || u[i].uid > last);
            last = u[i].uid;
            seen++;
            assert_true(u[i].objects == 1 && (u[i].uid == UINT32_MAX || u[i].bytes == u[i].uid));
        }
        from = (uint64_t)u[n - 1].uid + 1;
    } while (more);
    assert_int_equal(seen, 11);
    assert_int_equal(last, UINT32_MAX);
    /* users who hold nothing are not listed */
    quota_uncharge(q, 2500, 2500);
    assert_int_equal(quota_user_count(q), 10);
    struct quota_usage all[16];
    assert_int_equal(quota_list(q, 2500, all, 16, &more), 6);
    assert_int_equal(all[0].uid, 2600);
    quota_free(q);
}

/* ---- in the store --------------------------------------------------------------------------- */

#define ARENA_SIZE (1u << 20)

struct fixture {
    uint8_t *arena;
    store_t *s;
    quota_t *q;
    struct store_client alice, bob;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->arena = calloc(1, ARENA_SIZE);
    f->s = store_new(f->arena, ARENA_SIZE);
    f->q = quota_new();
    if (!f->arena || !f->s || !f->q)
        return -1;
    quota_set_lookup(f->q, fake_lookup);
    store_set_quota(f->s, f->q);
    store_client_init(f->s, &f->alice);
    store_client_init(f->s, &f->bob);
    f->alice.uid = 1001;
    f->bob.uid = 1002;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char why[256];
    assert_int_equal(store_check(f->s, why, sizeof why), 0);
    store_client_drop(f->s, &f->alice);
    store_client_drop(f->s, &f->bob);
    store_free(f->s);
    assert_int_equal(quota_user_count(f->q), 0);   /* everything charged was given back */
    quota_free(f->q);
    free(f->arena);
    free(f);
    return 0;
}

static int put(struct fixture *f, struct store_client *cl, const char *name, size_t size,
               struct store_detail *d)
{
    static const char data[4096];
    struct object *obj;
    return store_put(f->s, cl, name, strlen(name), data, size, "mm", 2, 0, &obj, d);
}

static struct quota_usage usage_of(struct fixture *f, uint32_t uid)
{
    struct quota_usage u[4];
    int more;
    size_t n = quota_list(f->q, uid, u, 4, &more);
    if (n == 0 || u[0].uid != uid)
        return (struct quota_usage){uid, 0, 0, 0, 0};
    return u[0];
}

static void test_store_charges_owner(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    quota_configure(f->q, 3000, 0, NULL);
    assert_int_equal(put(f, &f->alice, "a1", 1000, &d), 0);
    struct object *obj = store_lookup(f->s, "a1", 2);
    assert_int_equal(obj->owner_uid, 1001);
    assert_int_equal(usage_of(f, 1001).bytes, 1002);   /* payload and metadata */

    /* unsealed objects count too */
    struct object *unsealed;
    assert_int_equal(store_create(f->s, &f->alice, "a2", 2, 1000, NULL, 0, 0, &unsealed, &d), 0);
    assert_int_equal(usage_of(f, 1001).objects, 2);
    assert_int_equal(usage_of(f, 1001).bytes, 2002);

    /* over alice's quota: refused, and the store is as it was */
    struct store_stats before, after;
    store_get_stats(f->s, &before);
    assert_int_equal(put(f, &f->alice, "a3", 1000, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "quota of uid 1001 (alice): 2.92 KiB, 1.95 KiB used, "
                                   "asked 1002 B"));
    assert_int_equal(store_quota_check(f->s, &f->alice, 1000, 2, &d), SHMSTORE_ENOSPC);
    store_get_stats(f->s, &after);
    assert_int_equal(after.objects, before.objects);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_null(store_lookup(f->s, "a3", 2));
    /* bob has his own account */
    assert_int_equal(put(f, &f->bob, "b1", 1000, &d), 0);
    assert_int_equal(usage_of(f, 1002).objects, 1);

    /* an abort, a delete and a dropped client give it back */
    assert_int_equal(store_abort(f->s, &f->alice, unsealed->id, &d), 0);
    assert_int_equal(usage_of(f, 1001).objects, 1);
    assert_int_equal(put(f, &f->alice, "a3", 1000, &d), 0);
    assert_int_equal(store_delete(f->s, "a1", 2, &d), 0);
    assert_int_equal(usage_of(f, 1001).bytes, 1002);
    assert_int_equal(store_create(f->s, &f->bob, "b2", 2, 10, NULL, 0, 0, &unsealed, &d), 0);
    store_client_drop(f->s, &f->bob);
    store_client_init(f->s, &f->bob);
    f->bob.uid = 1002;
    assert_int_equal(usage_of(f, 1002).objects, 1);
    assert_int_equal(store_delete(f->s, "b1", 2, &d), 0);
    assert_int_equal(store_delete(f->s, "a3", 2, &d), 0);
}

/* A deleted object still pinned by a reader still counts: its memory is still taken. */
static void test_pinned_delete_counts_until_freed(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    assert_int_equal(put(f, &f->alice, "x", 100, &d), 0);
    struct object *obj;
    assert_int_equal(store_get(f->s, &f->bob, "x", 1, &obj, &d), 0);
    assert_int_equal(store_delete(f->s, "x", 1, &d), 0);
    assert_int_equal(usage_of(f, 1001).objects, 1);
    assert_int_equal(store_release(f->s, &f->bob, obj->id, &d), 0);
    assert_int_equal(usage_of(f, 1001).objects, 0);
}

/* A new configuration applies to later creates; what users hold stays. */
static void test_reconfigure_applies_later(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    assert_int_equal(put(f, &f->alice, "x1", 10, &d), 0);
    assert_int_equal(put(f, &f->alice, "x2", 10, &d), 0);
    struct quota_rules r;
    memset(&r, 0, sizeof r);
    parse_ok(&r, "quota_objects.@200", "1");
    quota_configure(f->q, 0, 0, &r);
    assert_int_equal(put(f, &f->alice, "x3", 10, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "object quota of uid 1001 (alice): 1 objects, 2 held"));
    assert_int_equal(put(f, &f->bob, "y1", 10, &d), 0);   /* bob is not in group 200 */
    quota_configure(f->q, 0, 0, NULL);
    assert_int_equal(put(f, &f->alice, "x3", 10, &d), 0);
    assert_int_equal(store_delete_matching(f->s, "*"), 4);
}

/* store_check sees a charge that does not match the objects. */
static void test_store_check_sees_wrong_charges(void **state)
{
    struct fixture *f = *state;
    struct store_detail d;
    char why[256];
    assert_int_equal(put(f, &f->alice, "x", 10, &d), 0);
    assert_int_equal(store_check(f->s, why, sizeof why), 0);
    quota_uncharge(f->q, 1001, 12);
    assert_int_equal(store_check(f->s, why, sizeof why), -1);
    assert_non_null(strstr(why, "quotas charge 0 objects, 0 bytes; the store has 1, 12"));
    assert_int_equal(quota_charge(f->q, 1001, 12), 0);   /* put right for the teardown */
    assert_int_equal(store_delete(f->s, "x", 1, &d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_lines),
        cmocka_unit_test(test_too_many_rules),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_check_and_detail),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test_setup_teardown(test_store_charges_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_delete_counts_until_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconfigure_applies_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_check_sees_wrong_charges, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
