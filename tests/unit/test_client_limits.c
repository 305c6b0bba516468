/*
 * test_client_limits.c — the per-client limits of daemon/core/client_limits.c: each check lets
 * everything below its limit through, refuses at the limit with the code and a detail that names
 * the setting, treats 0 as "no limit" where the configuration says so, and never lets a huge
 * request wrap around into something that fits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "client_limits.h"
#include "shmstore.h"

static struct options limits_options(void)
{
    struct options o;
    memset(&o, 0, sizeof o);
    o.max_clients = 2;
    o.max_pins_per_client = 3;
    o.max_unsealed_bytes_per_client = 1000;
    return o;
}

static void test_clients_up_to_the_limit(void **state)
{
    (void)state;
    struct options o = limits_options();
    struct store_detail d;
    assert_int_equal(limits_check_client(&o, 0, 1000, 999, &d), 0);
    assert_int_equal(limits_check_client(&o, 1, 1000, 999, &d), 0);
    assert_int_equal(limits_check_client(&o, 2, 1000, 999, &d), SHMSTORE_EPERM);
    assert_non_null(strstr(d.text, "max_clients is 2"));
}

static void test_root_and_the_daemons_user_always_get_in(void **state)
{
    (void)state;
    struct options o = limits_options();
    struct store_detail d;
    assert_int_equal(limits_check_client(&o, 100, 0, 999, &d), 0);
    assert_int_equal(limits_check_client(&o, 100, 999, 999, &d), 0);
    assert_int_equal(limits_check_client(&o, 100, 998, 999, &d), SHMSTORE_EPERM);
}

static void test_pins_up_to_the_limit(void **state)
{
    (void)state;
    struct options o = limits_options();
    struct store_client cl;
    memset(&cl, 0, sizeof cl);
    struct store_detail d;
    for (cl.pin_count = 0; cl.pin_count < 3; cl.pin_count++)
        assert_int_equal(limits_check_pin(&o, &cl, &d), 0);
    assert_int_equal(limits_check_pin(&o, &cl, &d), SHMSTORE_EPERM);
    assert_non_null(strstr(d.text, "holds 3 pins"));
    assert_non_null(strstr(d.text, "max_pins_per_client is 3"));
}

static void test_unsealed_bytes_count_what_is_held(void **state)
{
    (void)state;
    struct options o = limits_options();
    struct store_client cl;
    memset(&cl, 0, sizeof cl);
    struct store_detail d;
    assert_int_equal(limits_check_unsealed(&o, &cl, 1000, &d), 0);
    assert_int_equal(limits_check_unsealed(&o, &cl, 1001, &d), SHMSTORE_ENOSPC);
    assert_non_null(strstr(d.text, "max_unsealed_bytes_per_client"));
    cl.unsealed_charge = 600;
    assert_int_equal(limits_check_unsealed(&o, &cl, 400, &d), 0);
    assert_int_equal(limits_check_unsealed(&o, &cl, 401, &d), SHMSTORE_ENOSPC);
    /* Exact bytes, and what to do about it (regression: free_shown_equal_to_asked). */
    assert_string_equal(d.text, "limit reached: asked 401 bytes with 600 bytes already unsealed "
                                "by this client, and max_unsealed_bytes_per_client is 1000 bytes; "
                                "seal or abort what this client is writing, or raise "
                                "max_unsealed_bytes_per_client in shmstored's config file");
}

/* Regression guard: charge + held must not wrap around 2^64 into something small. */
static void test_unsealed_bytes_do_not_wrap(void **state)
{
    (void)state;
    struct options o = limits_options();
    struct store_client cl;
    memset(&cl, 0, sizeof cl);
    cl.unsealed_charge = 10;
    struct store_detail d;
    assert_int_equal(limits_check_unsealed(&o, &cl, UINT64_MAX - 5, &d), SHMSTORE_ENOSPC);
    assert_int_equal(limits_check_unsealed(&o, &cl, UINT64_MAX, &d), SHMSTORE_ENOSPC);
}

static void test_zero_means_no_unsealed_limit(void **state)
{
    (void)state;
    struct options o = limits_options();
    o.max_unsealed_bytes_per_client = 0;
    struct store_client cl;
    memset(&cl, 0, sizeof cl);
    cl.unsealed_charge = UINT64_MAX / 2;
    struct store_detail d;
    assert_int_equal(limits_check_unsealed(&o, &cl, UINT64_MAX / 2, &d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients_up_to_the_limit),
        cmocka_unit_test(test_root_and_the_daemons_user_always_get_in),
        cmocka_unit_test(test_pins_up_to_the_limit),
        cmocka_unit_test(test_unsealed_bytes_count_what_is_held),
        cmocka_unit_test(test_unsealed_bytes_do_not_wrap),
        cmocka_unit_test(test_zero_means_no_unsealed_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
