/*
 * test_humansize.c — sizes for people, both ways: the formatting used in error details and
 * tables, and the K/M/G/T parser behind `shmstored -m`, including what it must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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
    assert_string_equal(human_size(UINT64_MAX, buf, sizeof buf), "16383.9 PiB");
    assert_string_equal(human_size(1023 * 1024 + 1023, buf, sizeof buf), "1023.9 KiB");
    assert_string_equal(human_size((10ull << 20) - 1, buf, sizeof buf), "9.99 MiB");
}

/* Regression (free_shown_equal_to_asked): 1073737728 free bytes were shown as "1024.0 MiB" next
 * to an ask of "1.00 GiB", two figures that look equal. Figures are cut, never rounded up. */
static void test_format_never_rounds_up(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(human_size(1073737728, buf, sizeof buf), "1023.9 MiB");
    assert_string_equal(human_size(1073676288, buf, sizeof buf), "1023.9 MiB");
    assert_string_equal(human_size((1ull << 30) - 1, buf, sizeof buf), "1023.9 MiB");
    assert_string_equal(human_size(2047, buf, sizeof buf), "1.99 KiB");
    /* Every figure is at most the true size: scan the edges below each power of 1024. */
    for (unsigned shift = 10; shift <= 60; shift += 10)
        for (uint64_t below = 1; below < 4096; below *= 3) {
            uint64_t bytes = (UINT64_C(1) << shift) - below;
            char unit[8];
            double shown;
            human_size(bytes, buf, sizeof buf);
            assert_int_equal(sscanf(buf, "%lf %7s", &shown, unit), 2);
            double scale = strcmp(unit, "B") == 0 ? 1 : strcmp(unit, "KiB") == 0 ? 0x1p10
                         : strcmp(unit, "MiB") == 0 ? 0x1p20 : strcmp(unit, "GiB") == 0 ? 0x1p30
                         : strcmp(unit, "TiB") == 0 ? 0x1p40 : 0x1p50;
            if (shown * scale > (double)bytes * (1 + 1e-12))
                fail_msg("%llu bytes shown as %s", (unsigned long long)bytes, buf);
        }
}

static void test_format_exact(void **state)
{
    (void)state;
    char buf[HUMAN_SIZE_MAX];
    assert_string_equal(human_size_exact(0, buf, sizeof buf), "0 bytes");
    assert_string_equal(human_size_exact(1023, buf, sizeof buf), "1023 bytes");
    assert_string_equal(human_size_exact(1073741824, buf, sizeof buf),
                        "1073741824 bytes (1.00 GiB)");
    assert_string_equal(human_size_exact(1073676288, buf, sizeof buf),
                        "1073676288 bytes (1023.9 MiB)");
    assert_string_equal(human_size_exact(UINT64_MAX, buf, sizeof buf),
                        "18446744073709551615 bytes (16383.9 PiB)");
}

static void test_format_truncates_safely(void **state)
{
    (void)state;
    char small[5];
    memset(small, 'x', sizeof small);
    human_size(300ull << 20, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* storectl info's uptime (regression: uptime_shown_as_bare_seconds). */
static void test_duration(void **state)
{
    (void)state;
    static const struct {
        uint64_t seconds;
        const char *text;
    } cases[] = {
        {0, "0s"},
        {59, "59s"},
        {60, "1m 00s"},
        {300, "5m 00s"},
        {3600, "1h 00m 00s"},
        {3725, "1h 02m 05s"},
        {86399, "23h 59m 59s"},
        {86400, "1d 00h 00m 00s"},
        {93784, "1d 02h 03m 04s"},
        {UINT64_MAX, "213503982334601d 07h 00m 15s"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(human_duration(cases[i].seconds, buf, sizeof buf), cases[i].text);
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
        cmocka_unit_test(test_format_never_rounds_up),
        cmocka_unit_test(test_format_exact),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
