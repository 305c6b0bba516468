/*
 * test_humansize.c — sizes for people, both ways: the formatting used in error details and
 * tables, and the K/M/G/T parser behind `shmstored -m`, including what it must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "humansize.h"

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(human_size(0, buf, sizeof buf), "0 B");
    assert_string_equal(human_size(1023, buf, sizeof buf), "1023 B");
    assert_string_equal(human_size(1024, buf, sizeof buf), "1.00 KiB");
    assert_string_equal(human_size(1536, buf, sizeof buf), "1.50 KiB");
    assert_string_equal(human_size(300ull << 20, buf, sizeof buf), "300.0 MiB");
    assert_string_equal(human_size(1ull << 30, buf, sizeof buf), "1.00 GiB");
    assert_string_equal(human_size(3ull << 40, buf, sizeof buf), "3.00 TiB");
    assert_string_equal(human_size(UINT64_MAX, buf, sizeof buf), "16384.0 PiB");
}

static void test_format_truncates_safely(void **state)
{
    (void)state;
    char small[5];
    memset(small, 'x', sizeof small);
    human_size(300ull << 20, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t value;
    } good[] = {
        {"0", 0},           {"4096", 4096},         {"1K", 1024},        {"1k", 1024},
        {"64M", 64ull << 20}, {"1G", 1ull << 30},   {"2T", 2ull << 40},  {"512MiB", 512ull << 20},
        {"3GB", 3ull << 30}, {"16777215T", 16777215ull << 40},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 12345;
        assert_int_equal(human_size_parse(good[i].text, &v), 0);
        assert_true(v == good[i].value);
    }
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "M", "-1", "+5", " 5", "5 ", "1.5G", "12Q", "1GG", "1Gi", "0x10",
        "18446744073709551616",   /* 2^64 */
        "16777216T",              /* 2^64 after the shift */
        "99999999999999999999K",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 777;
        assert_int_equal(human_size_parse(bad[i], &v), -1);
        assert_true(v == 777);   /* untouched on failure */
    }
    uint64_t v;
    assert_int_equal(human_size_parse(NULL, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncates_safely),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
