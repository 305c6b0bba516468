/*
 * test_config.c — the settings table of daemon/core/config.c and the command line and reload of
 * options.c over it: every row's default parses to what the daemon starts with and prints back
 * the same; each type's bounds and bad values stop a file with "FILE:LINE: key: problem"; the
 * command line wins over the file; a reload copies only reloadable keys; the example config
 * parses back to the defaults; every row has help and a key and flags of its own; the durable
 * keys (durability, persist, preload, spill) parse and print back, and persist = all without a
 * data directory is refused.
 * The checks walk the table, so a new row is tested without a new test.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "options.h"

/* A temporary file holding text; its path goes into path (at least 64 bytes). */
static void write_temp(char *path, const char *text)
{
    snprintf(path, 64, "/tmp/test_config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static const char *value_of(const struct options *o, const char *key, char *buf, size_t len)
{
    const struct config_row *row = config_find(key);
    assert_non_null(row);
    return config_format(o, row, buf, len);
}

/* A valid value for row that differs from its default: the first candidate of its type that
 * prints differently. */
static const char *other_value(const struct config_row *row, char *buf, size_t len)
{
    char max[32], min[32];
    snprintf(max, sizeof max, "%llu", (unsigned long long)row->max);
    snprintf(min, sizeof min, "%llu", (unsigned long long)row->min);
    const char *candidates[8] = {NULL};
    switch (row->type) {
    case CONFIG_STRING: candidates[0] = "/tmp/other.sock"; break;
    case CONFIG_SIZE:
    case CONFIG_COUNT: candidates[0] = max; candidates[1] = min; break;
    case CONFIG_BOOL: candidates[0] = "yes"; candidates[1] = "no"; break;
    case CONFIG_MODE: candidates[0] = "0600"; candidates[1] = "0640"; break;
    case CONFIG_GROUP: candidates[0] = "0"; candidates[1] = ""; break;
    case CONFIG_USERS:
    case CONFIG_GROUPS: candidates[0] = "0, 1"; break;
    case CONFIG_DURATION: candidates[0] = "250ms"; candidates[1] = "2s"; break;
    case CONFIG_ENUM:
        for (size_t i = 0; row->words[i].word && i < 7; i++)
            candidates[i] = row->words[i].word;
        break;
    }
    struct options defaults, scratch;
    char problem[256], was[1024], now[1024];
    config_set_defaults(&defaults);
    config_format(&defaults, row, was, sizeof was);
    for (size_t i = 0; candidates[i]; i++) {
        scratch = defaults;
        assert_int_equal(config_set(&scratch, row, candidates[i], problem, sizeof problem), 0);
        if (strcmp(config_format(&scratch, row, now, sizeof now), was) != 0) {
            snprintf(buf, len, "%s", candidates[i]);
            return buf;
        }
    }
    fail_msg("no value other than the default for %s", row->key);
    return NULL;
}

static void test_defaults_parse_to_what_the_daemon_starts_with(void **state)
{
    (void)state;
    struct options defaults;
    config_set_defaults(&defaults);
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        struct options o;
        char problem[256] = "", parsed[1024], expected[1024];
        memset(&o, 0, sizeof o);
        if (config_set(&o, row, row->default_text, problem, sizeof problem) != 0)
            fail_msg("default of %s: %s", row->key, problem);
        assert_string_equal(config_format(&o, row, parsed, sizeof parsed),
                            config_format(&defaults, row, expected, sizeof expected));
        /* printed as written, so --print-config shows what the daemon uses */
        assert_string_equal(parsed, row->default_text);
    }
    /* the values the rest of the daemon was written against */
    assert_string_equal(defaults.socket_path, "");
    assert_int_equal(defaults.memory, 0);   /* 30% of the machine */
    assert_int_equal(defaults.segment_size, 256ull << 20);
    assert_int_equal(defaults.hugepages, HUGEPAGES_AUTO);
    assert_int_equal(defaults.reserve, 1);
    assert_int_equal(defaults.log_level, LOG_LEVEL_INFO);
    assert_int_equal(defaults.socket_mode, 0660);
    assert_int_equal(defaults.socket_group, -1);
    assert_false(options_has_access_lists(&defaults));
    assert_int_equal(defaults.max_clients, 4096);
    assert_int_equal(defaults.max_pins_per_client, 1u << 20);
    assert_int_equal(defaults.max_unsealed_bytes_per_client, 0);
    assert_int_equal(defaults.durability, DURABILITY_ASYNC);
    assert_int_equal(defaults.flush_interval_ms, 1000);
    assert_string_equal(defaults.data_dir, "");
    assert_int_equal(defaults.persist_all, 0);
    assert_int_equal(defaults.preload, 0);
    assert_int_equal(defaults.spill, 1);
}

static size_t expected_size(enum config_type type)
{
    switch (type) {
    case CONFIG_BOOL:
    case CONFIG_MODE:
    case CONFIG_ENUM: return sizeof(int);
    case CONFIG_GROUP: return sizeof(long);
    case CONFIG_USERS:
    case CONFIG_GROUPS: return sizeof(struct id_list);
    default: return 0;   /* STRING any, SIZE and COUNT 4 or 8 */
    }
}

static void test_rows_are_complete_and_unique(void **state)
{
    (void)state;
    /* the flags options.c adds around the table's */
    const char *taken_long[2 * CONFIG_ROWS_MAX + 8] = {"config", "print-config", "version",
                                                       "help"};
    size_t n_long = 4;
    char taken_short[CONFIG_ROWS_MAX + 3] = "ch";
    assert_true(config_row_count <= CONFIG_ROWS_MAX);
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        assert_non_null(row->key);
        assert_non_null(row->help);
        assert_true(strlen(row->help) > 10);
        assert_true(row->help[strlen(row->help) - 1] != '.');
        assert_non_null(row->default_text);
        assert_ptr_equal(config_find(row->key), row);   /* also: no earlier row has this key */
        assert_true(row->offset + row->size <= offsetof(struct options, config_path));
        if (expected_size(row->type))
            assert_int_equal(row->size, expected_size(row->type));
        if (row->type == CONFIG_SIZE || row->type == CONFIG_COUNT) {
            assert_true(row->size == 4 || row->size == 8);
            assert_true(row->min <= row->max);
            assert_true(row->size == 8 || row->max <= UINT32_MAX);
        }
        if (row->type == CONFIG_ENUM)
            assert_non_null(row->words);
        assert_true(!row->flag_off || row->type == CONFIG_BOOL);
        assert_true(!row->flag_off == !row->help_off);
        assert_true(!row->short_flag || row->flag);
        if (row->flag && row->type != CONFIG_BOOL)
            assert_non_null(row->metavar);
        const char *flags[] = {row->flag, row->flag_off};
        for (size_t f = 0; f < 2; f++) {
            if (!flags[f])
                continue;
            for (size_t j = 0; j < n_long; j++)
                if (strcmp(taken_long[j], flags[f]) == 0)
                    fail_msg("--%s twice (row %s)", flags[f], row->key);
            taken_long[n_long++] = flags[f];
        }
        if (row->short_flag) {
            if (strchr(taken_short, row->short_flag))
                fail_msg("-%c twice (row %s)", row->short_flag, row->key);
            taken_short[strlen(taken_short)] = row->short_flag;
        }
    }
}

/* Load text as a config file over the defaults: 0, or -1 with why. */
static int load_text(struct options *o, const char *text, char *path, char *why, size_t len)
{
    write_temp(path, text);
    config_set_defaults(o);
    int rc = config_load_file(o, path, why, len);
    unlink(path);
    return rc;
}

static void test_bad_values_name_file_line_key_and_problem(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *problem;   /* after "FILE:2: " */
    } bad[] = {
        {"memory = 1025T", "memory: must be a size from 0 to 1024T"},
        {"memory = 12Q", "memory: must be a size from 0 to 1024T"},
        {"segment_size = 1M", "segment_size: must be a size from 2M to 512G"},
        {"hugepages = maybe", "hugepages: must be no, auto or yes"},
        {"max_unsealed_bytes_per_client = -1", "max_unsealed_bytes_per_client: must be a size"},
        {"reserve = maybe", "reserve: must be yes or no"},
        {"max_clients = 0", "max_clients: must be a whole number from 1 to 1000000"},
        {"max_clients = 1000001", "max_clients: must be a whole number from 1 to 1000000"},
        {"max_clients = -1", "max_clients: must be a whole number from 1 to 1000000"},
        {"max_clients = 12abc", "max_clients: must be a whole number from 1 to 1000000"},
        {"max_pins_per_client = 0", "max_pins_per_client: must be a whole number of at least 1"},
        {"max_pins_per_client = 18446744073709551616",
         "max_pins_per_client: must be a whole number of at least 1"},
        {"socket_mode = 0778", "socket_mode: must be octal permission bits like 0660"},
        {"socket_mode = 1000", "socket_mode: must be octal permission bits like 0660"},
        {"socket_mode = 0x1", "socket_mode: must be octal permission bits like 0660"},
        {"log_level = loud", "log_level: must be error, warn, info or debug"},
        {"durability = fsync", "durability: must be sync or async"},
        {"persist = yes", "persist: must be flagged or all"},
        {"persist = ", "persist: must be flagged or all"},
        {"preload = eager", "preload: must be yes or no"},
        {"spill = 2", "spill: must be yes or no"},
        {"socket_group = no-such-group-xyz", "socket_group: no such group: no-such-group-xyz"},
        {"allow_users = 4101, no-such-user-xyz", "allow_users: no such user: no-such-user-xyz"},
        {"readonly_groups = no-such-group-xyz", "readonly_groups: no such group: no-such-group-xyz"},
        {"socket = /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "socket: must be text of at most 107 bytes"},
        {"colour = blue", "colour: unknown key"},
        {"memory 1G", "expected key = value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512], path[64], why[1024] = "", expected[1200];
        struct options o;
        snprintf(text, sizeof text, "# a comment\n%s\nmemory = 2G\n", bad[i].line);
        assert_int_equal(load_text(&o, text, path, why, sizeof why), -1);
        snprintf(expected, sizeof expected, "%s:2: %s", path, bad[i].problem);
        if (strncmp(why, expected, strlen(expected)) != 0)
            fail_msg("'%s' gave '%s', expected '%s...'", bad[i].line, why, expected);
        /* a bad value leaves the field as it was */
        char now[64];
        if (strncmp(bad[i].line, "memory", 6) == 0)
            assert_string_equal(value_of(&o, "memory", now, sizeof now), "0");
    }

    char list[1024] = "allow_groups = 0";
    for (int i = 1; i <= OPTIONS_IDS_MAX; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), ", %d", i);
    char text[1100], path[64], why[1024];
    struct options o;
    snprintf(text, sizeof text, "%s\n", list);
    assert_int_equal(load_text(&o, text, path, why, sizeof why), -1);
    assert_non_null(strstr(why, ":1: allow_groups: more than 64 entries"));
}

static void test_bounds_and_spellings_accepted(void **state)
{
    (void)state;
    char path[64], why[1024] = "", now[1024];
    struct options o;
    int rc = load_text(&o,
                       "memory = 1024T\n"
                       "max_unsealed_bytes_per_client = 0\n"
                       "reserve = FALSE\n"
                       "max_clients = 1000000\n"
                       "max_pins_per_client = 18446744073709551615\n"
                       "socket_mode = 0777\n"
                       "log_level = WARNING\n"
                       "socket_group = 0\n"
                       "readonly_users = root, 4102 ,, 4103\n"
                       "socket = \n",
                       path, why, sizeof why);
    if (rc != 0)
        fail_msg("%s", why);
    assert_int_equal(o.memory, OPTIONS_MAX_MEMORY);
    assert_int_equal(o.reserve, 0);
    assert_int_equal(o.max_clients, 1000000);
    assert_true(o.max_pins_per_client == UINT64_MAX);
    assert_int_equal(o.socket_mode, 0777);
    assert_int_equal(o.log_level, LOG_LEVEL_WARN);
    assert_string_equal(value_of(&o, "log_level", now, sizeof now), "warn");
    assert_int_equal(o.socket_group, 0);
    assert_string_equal(value_of(&o, "readonly_users", now, sizeof now), "0, 4102, 4103");
    assert_string_equal(o.socket_path, "");
    rc = load_text(&o, "max_clients = 1\nmax_pins_per_client = 1\nmemory = 1\nreserve = 1\n", path,
                   why, sizeof why);
    assert_int_equal(rc, 0);
    assert_int_equal(o.max_clients, 1);
    assert_int_equal(o.memory, 1);
    assert_int_equal(o.reserve, 1);
}

/* The durable-object keys: each value parses to its field and prints back as its word. */
static void test_durable_keys(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        size_t offset;
        int value;
        const char *key, *printed;
    } good[] = {
        {"durability = sync", offsetof(struct options, durability), DURABILITY_SYNC,
         "durability", "sync"},
        {"durability = ASYNC", offsetof(struct options, durability), DURABILITY_ASYNC,
         "durability", "async"},
        {"persist = all", offsetof(struct options, persist_all), 1, "persist", "all"},
        {"persist = Flagged", offsetof(struct options, persist_all), 0, "persist", "flagged"},
        {"preload = yes", offsetof(struct options, preload), 1, "preload", "yes"},
        {"preload = no", offsetof(struct options, preload), 0, "preload", "no"},
        {"spill = no", offsetof(struct options, spill), 0, "spill", "no"},
        {"spill = true", offsetof(struct options, spill), 1, "spill", "yes"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char path[64], why[1024] = "", now[64];
        struct options o;
        if (load_text(&o, good[i].line, path, why, sizeof why) != 0)
            fail_msg("'%s': %s", good[i].line, why);
        int field;
        memcpy(&field, (const char *)&o + good[i].offset, sizeof field);
        if (field != good[i].value)
            fail_msg("'%s' gave %d, expected %d", good[i].line, field, good[i].value);
        assert_string_equal(value_of(&o, good[i].key, now, sizeof now), good[i].printed);
    }
}

/* persist = all with no data directory could never be honoured: the configuration is refused
 * with what to do, whether the file or the command line is missing the directory; -d on the
 * command line makes the file's persist = all valid. */
static void test_persist_all_needs_a_data_dir(void **state)
{
    (void)state;
    char path[64], why[1024] = "";
    write_temp(path, "persist = all\n");
    struct options current, fresh;
    char *without[] = {"shmstored", "-c", path, "-s", "/tmp/p.sock", NULL};
    assert_int_equal(options_parse(&current, 5, without), OPTIONS_EXIT_USAGE);

    char *with[] = {"shmstored", "-c", path, "-s", "/tmp/p.sock", "-d", "/tmp/p-data", NULL};
    assert_int_equal(options_parse(&current, 7, with), OPTIONS_RUN);
    assert_int_equal(current.persist_all, 1);
    assert_string_equal(current.data_dir, "/tmp/p-data");

    /* The same check on a reload, which reports in why rather than on stderr. */
    char *flagged[] = {"shmstored", "-c", path, "-s", "/tmp/p.sock", NULL};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("persist = flagged\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(options_parse(&current, 5, flagged), OPTIONS_RUN);
    assert_int_equal(current.persist_all, 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("persist = all\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(options_reload(&current, &fresh, why, sizeof why), -1);
    if (!strstr(why, "persist = all needs a data directory") || !strstr(why, "-d DIR"))
        fail_msg("unclear refusal: '%s'", why);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("persist = all\ndata_dir = /tmp/p-data\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(options_reload(&current, &fresh, why, sizeof why), 0);
    assert_int_equal(fresh.persist_all, 1);
    unlink(path);
}

/* flush_interval, the one duration: ms or s, no suffix meaning seconds, printed back in the
 * largest unit that is exact; anything else refused with what is accepted. */
static void test_duration_values(void **state)
{
    (void)state;
    const struct config_row *row = config_find("flush_interval");
    assert_non_null(row);
    static const struct { const char *value; uint64_t ms; const char *printed; } good[] = {
        {"1500ms", 1500, "1500ms"}, {"2000ms", 2000, "2s"}, {"3", 3000, "3s"},
        {"1ms", 1, "1ms"}, {"3600s", 3600000, "3600s"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct options o;
        char problem[256], buf[64];
        config_set_defaults(&o);
        assert_int_equal(config_set(&o, row, good[i].value, problem, sizeof problem), 0);
        assert_int_equal(o.flush_interval_ms, good[i].ms);
        assert_string_equal(config_format(&o, row, buf, sizeof buf), good[i].printed);
    }
    static const char *bad[] = {"", "s", "ms", "1h", "1.5s", "-1", "0", "0ms", "3601s",
                                "1 s", "99999999999999999999999s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct options o;
        char problem[256] = "";
        config_set_defaults(&o);
        if (config_set(&o, row, bad[i], problem, sizeof problem) == 0)
            fail_msg("flush_interval = '%s' was accepted", bad[i]);
        assert_non_null(strstr(problem, "a duration from 1ms to 3600s"));
        assert_int_equal(o.flush_interval_ms, 1000);
    }
}

static void test_command_line_wins_over_the_file(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, "memory = 32M\nlog_level = debug\nreserve = no\nsocket = /tmp/from-file.sock\n");
    char *argv[] = {"shmstored", "-m", "48M", "-c", path, "--reserve", NULL};
    struct options o;
    assert_int_equal(options_parse(&o, 6, argv), OPTIONS_RUN);
    assert_int_equal(o.memory, 48ull << 20);           /* flag */
    assert_int_equal(o.reserve, 1);                    /* flag */
    assert_int_equal(o.log_level, LOG_LEVEL_DEBUG);    /* file */
    assert_string_equal(o.socket_path, "/tmp/from-file.sock");
    assert_string_equal(o.config_path, path);

    char *argv2[] = {"shmstored", "--no-reserve", "--log-level", "error", "-c", path,
                     "--socket", "/tmp/flag.sock", NULL};
    assert_int_equal(options_parse(&o, 8, argv2), OPTIONS_RUN);
    assert_int_equal(o.memory, 32ull << 20);
    assert_int_equal(o.reserve, 0);
    assert_int_equal(o.log_level, LOG_LEVEL_ERROR);
    assert_string_equal(o.socket_path, "/tmp/flag.sock");

    char *bad[] = {"shmstored", "-c", path, "--memory", "2000T", NULL};
    assert_int_equal(options_parse(&o, 5, bad), OPTIONS_EXIT_USAGE);
    char *extra[] = {"shmstored", "-c", path, "stray", NULL};
    assert_int_equal(options_parse(&o, 4, extra), OPTIONS_EXIT_USAGE);
    unlink(path);
}

static void test_reload_copies_only_reloadable_keys(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERROR);   /* the reload's own lines are not under test here */
    struct options current, fresh, defaults;
    config_set_defaults(&defaults);
    config_set_defaults(&current);
    config_set_defaults(&fresh);
    for (size_t i = 0; i < config_row_count; i++) {
        char value[256], problem[256];
        other_value(&config_rows[i], value, sizeof value);
        if (config_set(&fresh, &config_rows[i], value, problem, sizeof problem) != 0)
            fail_msg("%s = %s: %s", config_rows[i].key, value, problem);
    }
    options_apply_reload(&current, &fresh);
    int reloadable = 0, fixed = 0;
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        char now[1024], want[1024];
        config_format(&current, row, now, sizeof now);
        config_format(row->reloadable ? &fresh : &defaults, row, want, sizeof want);
        if (strcmp(now, want) != 0)
            fail_msg("after a reload %s is '%s', expected '%s'", row->key, now, want);
        if (row->reloadable)
            reloadable++;
        else
            fixed++;
    }
    assert_true(reloadable > 0 && fixed > 0);
    assert_int_equal(current.log_level, fresh.log_level);
    assert_int_equal(current.memory, fresh.memory);   /* raising the maximum needs no restart */
    assert_int_equal(current.segment_size, defaults.segment_size);
}

static void test_reload_reads_the_file_again(void **state)
{
    (void)state;
    char path[64], why[1024] = "";
    write_temp(path, "max_pins_per_client = 3\n");
    char *argv[] = {"shmstored", "-c", path, "-s", "/tmp/reload.sock", NULL};
    struct options current, fresh;
    assert_int_equal(options_parse(&current, 5, argv), OPTIONS_RUN);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("max_pins_per_client = 100\ncolour = blue\n", f);
    fclose(f);
    assert_int_equal(options_reload(&current, &fresh, why, sizeof why), -1);
    char expected[128];
    snprintf(expected, sizeof expected, "%s:2: colour: unknown key", path);
    assert_string_equal(why, expected);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("max_pins_per_client = 100\n", f);
    fclose(f);
    assert_int_equal(options_reload(&current, &fresh, why, sizeof why), 0);
    assert_int_equal(fresh.max_pins_per_client, 100);
    assert_string_equal(fresh.socket_path, "/tmp/reload.sock");   /* the flags count again */
    unlink(path);
    assert_int_equal(options_reload(&current, &fresh, why, sizeof why), -1);   /* file gone */
}

static void test_print_config_parses_back_to_the_defaults(void **state)
{
    (void)state;
    char *printed = NULL;
    size_t printed_len = 0;
    FILE *out = open_memstream(&printed, &printed_len);
    assert_non_null(out);
    config_print_example(out);
    assert_int_equal(fclose(out), 0);

    /* Uncomment every "#key = default" line; the comment lines stay comments. */
    char *uncommented = calloc(1, printed_len + 1);
    assert_non_null(uncommented);
    size_t keys = 0, used = 0;
    for (char *line = printed; *line;) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line + 1) : strlen(line);
        size_t name = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");
        int is_key = line[0] == '#' && name > 0 && strncmp(line + 1 + name, " =", 2) == 0;
        if (is_key) {
            keys++;
            line++;
            n--;
        }
        memcpy(uncommented + used, line, n);
        used += n;
        line += n;
    }
    assert_int_equal(keys, config_row_count);

    /* Over values that all differ from the defaults, the file must bring every one back. */
    char path[64], why[1024] = "";
    write_temp(path, uncommented);
    struct options o, defaults;
    config_set_defaults(&defaults);
    config_set_defaults(&o);
    for (size_t i = 0; i < config_row_count; i++) {
        char value[256], problem[256];
        assert_int_equal(config_set(&o, &config_rows[i],
                                    other_value(&config_rows[i], value, sizeof value), problem,
                                    sizeof problem), 0);
    }
    if (config_load_file(&o, path, why, sizeof why) != 0)
        fail_msg("%s", why);
    for (size_t i = 0; i < config_row_count; i++) {
        char now[1024], want[1024];
        assert_string_equal(config_format(&o, &config_rows[i], now, sizeof now),
                            config_format(&defaults, &config_rows[i], want, sizeof want));
    }
    unlink(path);
    free(uncommented);
    free(printed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_parse_to_what_the_daemon_starts_with),
        cmocka_unit_test(test_duration_values),
        cmocka_unit_test(test_durable_keys),
        cmocka_unit_test(test_persist_all_needs_a_data_dir),
        cmocka_unit_test(test_rows_are_complete_and_unique),
        cmocka_unit_test(test_bad_values_name_file_line_key_and_problem),
        cmocka_unit_test(test_bounds_and_spellings_accepted),
        cmocka_unit_test(test_command_line_wins_over_the_file),
        cmocka_unit_test(test_reload_copies_only_reloadable_keys),
        cmocka_unit_test(test_reload_reads_the_file_again),
        cmocka_unit_test(test_print_config_parses_back_to_the_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
