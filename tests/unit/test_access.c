/*
 * test_access.c — the access decision of daemon/core/access.c: no lists means everyone is a full
 * client; with lists, users and groups (primary or supplementary) are full, read-only or
 * refused; root and the daemon's own user are always full; a user in both lists is full.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "access.h"
#include "options.h"

static struct options with_lists(void)
{
    struct options o;
    memset(&o, 0, sizeof o);
    o.allow_users = (struct id_list){{4101}, 1};
    o.allow_groups = (struct id_list){{500, 501}, 2};
    o.readonly_users = (struct id_list){{4102, 4101}, 2};
    o.readonly_groups = (struct id_list){{600}, 1};
    return o;
}

static struct peer peer_of(uid_t uid, gid_t gid)
{
    struct peer p;
    memset(&p, 0, sizeof p);
    p.pid = 1234;
    p.uid = uid;
    p.gid = gid;
    return p;
}

/* An unprivileged id that is not the test's own (the daemon's own user is always allowed). */
static uid_t stranger(uid_t base)
{
    return base == geteuid() ? base + 1000 : base;
}

static void test_no_lists_everyone_full(void **state)
{
    (void)state;
    struct options o;
    memset(&o, 0, sizeof o);
    assert_false(options_has_access_lists(&o));
    struct peer p = peer_of(stranger(4999), 4999);
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);
}

static void test_users(void **state)
{
    (void)state;
    struct options o = with_lists();
    assert_true(options_has_access_lists(&o));
    struct peer p = peer_of(stranger(4101), 4999);
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);   /* in both lists: full wins */
    p = peer_of(stranger(4102), 4999);
    assert_int_equal(access_decide(&o, &p), ACCESS_READONLY);
    p = peer_of(stranger(4103), 4999);
    assert_int_equal(access_decide(&o, &p), ACCESS_REFUSED);
}

static void test_groups_primary_and_supplementary(void **state)
{
    (void)state;
    struct options o = with_lists();
    struct peer p = peer_of(stranger(4200), 501);
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);
    p = peer_of(stranger(4200), 4999);
    const gid_t groups[] = {7, 600, 500};
    p.groups = groups;
    p.ngroups = 2;
    assert_int_equal(access_decide(&o, &p), ACCESS_READONLY);
    p.ngroups = 3;
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);
    p.ngroups = 1;   /* only group 7 */
    assert_int_equal(access_decide(&o, &p), ACCESS_REFUSED);
}

static void test_root_and_self_always_full(void **state)
{
    (void)state;
    struct options o = with_lists();
    struct peer p = peer_of(0, 0);
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);
    p = peer_of(geteuid(), 4999);
    assert_int_equal(access_decide(&o, &p), ACCESS_FULL);
}

static void test_names_and_format(void **state)
{
    (void)state;
    assert_string_equal(access_level_name(ACCESS_FULL), "read-write");
    assert_string_equal(access_level_name(ACCESS_READONLY), "read-only");
    assert_string_equal(access_level_name(ACCESS_REFUSED), "refused");
    struct options o = with_lists();
    char buf[64];
    assert_string_equal(options_format_ids(&o.allow_groups, buf, sizeof buf), "500, 501");
    struct id_list empty = {{0}, 0};
    assert_string_equal(options_format_ids(&empty, buf, sizeof buf), "(none)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_lists_everyone_full),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_groups_primary_and_supplementary),
        cmocka_unit_test(test_root_and_self_always_full),
        cmocka_unit_test(test_names_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
