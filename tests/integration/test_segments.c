/*
 * test_segments.c — the arena that grows, against a real daemon: an object larger than the
 * first segment gets one of its own; thousands of objects spread over many segments and read
 * back right by a client that connected before those segments existed; empty segments are given
 * back after segment_idle (and that client unmaps them when it next maps one, keeping no
 * descriptor); the maximum holds, with an ENOSPC that says how to raise it, and a SIGHUP raises
 * it without a restart; an impossible size takes nothing; at the maximum, empty segments are given
 * back at once for an object that needs one; preload grows the arena; hugepages = yes without
 * huge pages refuses to start, and with huge pages reserved (as root) segments come from them.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

/* Start a daemon whose only settings come from the config text (no -m). */
static void start_with_config(struct test_daemon *d, char *conf, size_t len, const char *text)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/shmstore-segtest-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(conf, len, "%s/shmstored.conf", dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(harness_start(d, "", "-c", conf, NULL), 0);
}

static void remove_config(const char *conf)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s", conf);
    unlink(conf);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    rmdir(dir);
}

/* A create + fill + seal of `size` bytes of pattern `seed` (a put of more than the inline limit
 * goes through the arena anyway; create makes that explicit). */
static int create_pattern(shmstore_client *c, const char *name, size_t size, uint64_t seed)
{
    void *data;
    uint64_t id;
    int rc = shmstore_create(c, name, size, NULL, 0, 0, &data, &id);
    if (rc)
        return rc;
    fill_pattern(data, size, seed);
    return shmstore_seal(c, id);
}

static void assert_object_is(shmstore_client *c, const char *name, size_t size, uint64_t seed)
{
    shmstore_object o;
    assert_rc(shmstore_get(c, name, 0, &o), 0);
    assert_int_equal(o.size, size);
    assert_true(has_pattern(o.data, o.size, seed));
    assert_rc(shmstore_release(c, &o), 0);
}

static void test_object_larger_than_a_segment_gets_its_own(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    start_with_config(&d, conf, sizeof conf,
                      "memory = 64M\nsegment_size = 4M\nsegment_idle = 1s\n");
    shmstore_client *c = connect_or_fail(d.socket);
    shmstore_store_info before = info_of(c);
    assert_int_equal(before.segments, 1);
    assert_int_equal(before.taken_bytes, 4 * MiB);
    assert_int_equal(before.capacity_bytes, 64 * MiB);

    assert_rc(create_pattern(c, "big", 20 * MiB + 5, 1), 0);
    shmstore_store_info grown = info_of(c);
    assert_int_equal(grown.segments, 2);
    assert_int_equal(grown.taken_bytes, 4 * MiB + 22 * MiB);   /* its own, in 2 MiB steps */
    assert_object_is(c, "big", 20 * MiB + 5, 1);
    /* A second client, connected after the segment existed, reads it too. */
    shmstore_client *late = connect_or_fail(d.socket);
    assert_object_is(late, "big", 20 * MiB + 5, 1);
    shmstore_close(late);

    /* Freed, its segment goes back after segment_idle; the first one stays. */
    assert_rc(shmstore_delete(c, "big"), 0);
    assert_true(WAIT_FOR(info_of(c).segments == 1, slack(30)));
    assert_int_equal(info_of(c).taken_bytes, 4 * MiB);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

static void test_thousands_of_objects_over_many_segments(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    start_with_config(&d, conf, sizeof conf,
                      "memory = 128M\nsegment_size = 2M\nsegment_idle = 1s\n");
    /* The reader connects first, when the arena has one segment. */
    shmstore_client *reader = connect_or_fail(d.socket);
    shmstore_client *writer = connect_or_fail(d.socket);
    const unsigned count = (unsigned)harness_scale(3000, 300);
    const size_t size = 24 * KiB;
    char name[64];
    for (unsigned i = 0; i < count; i++) {
        snprintf(name, sizeof name, "obj/%u", i);
        assert_rc(create_pattern(writer, name, size, i), 0);
    }
    shmstore_store_info full = info_of(writer);
    print_store_info("after the fill", &full);
    assert_true(full.segments >= (uint64_t)count * size / (2 * MiB));
    assert_int_equal(full.objects, count);
    for (unsigned i = 0; i < count; i++) {
        snprintf(name, sizeof name, "obj/%u", i);
        assert_object_is(reader, name, size, i);
    }
    const int mapped = proc_maps_count(getpid(), "shmstore-arena");
    assert_true(mapped >= (int)full.segments);
    /* Regression (a descriptor kept per mapped segment): none is kept open. */
    assert_true(proc_fd_count(getpid()) < 32);

    /* Empty again: every segment but the first goes back. */
    assert_rc(shmstore_delete_matching(writer, "obj/*", NULL), 0);
    assert_true(WAIT_FOR(info_of(writer).segments == 1, slack(30)));
    assert_int_equal(info_of(writer).taken_bytes, 2 * MiB);

    /* A new segment: the reader maps it and, told which segments are left, unmaps the rest. */
    for (unsigned i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "again/%u", i);
        assert_rc(create_pattern(writer, name, 100 * KiB, 1000 + i), 0);
    }
    assert_true(info_of(writer).segments >= 2);
    for (unsigned i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "again/%u", i);
        assert_object_is(reader, name, 100 * KiB, 1000 + i);
    }
    const int remapped = proc_maps_count(getpid(), "shmstore-arena");
    const int live = (int)info_of(writer).segments;
    print_message("mappings of the arena: %d when full, %d after the give-back (%d segments)\n",
                  mapped, remapped, live);
    /* at most: the reader's read-only map of each live segment, and the writer's read-only and
     * writable ones */
    assert_true(remapped <= 3 * live);
    assert_true(remapped < mapped);
    shmstore_close(reader);
    shmstore_close(writer);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

static void test_maximum_holds_and_sighup_raises_it(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    start_with_config(&d, conf, sizeof conf, "memory = 8M\nsegment_size = 2M\n");
    shmstore_client *c = connect_or_fail(d.socket);
    char name[32];
    unsigned stored = 0;
    int rc = 0;
    while (stored < 100 && (rc = create_pattern(c, (snprintf(name, sizeof name, "m/%u", stored),
                                                     name), 1 * MiB, stored)) == 0)
        stored++;
    assert_int_equal(rc, SHMSTORE_ENOSPC);
    assert_true(stored >= 6 && stored <= 8);
    assert_non_null(strstr(shmstore_errmsg(c), "memory"));
    assert_non_null(strstr(shmstore_errmsg(c), "SIGHUP"));
    assert_int_equal(info_of(c).taken_bytes, 8 * MiB);

    /* Raise the maximum in the file and reload: the same create now succeeds, nothing lost. */
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs("memory = 16M\nsegment_size = 2M\n", f);
    fclose(f);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(WAIT_FOR(info_of(c).capacity_bytes == 16 * MiB, slack(30)));
    snprintf(name, sizeof name, "m/%u", stored);
    assert_rc(create_pattern(c, name, 1 * MiB, stored), 0);
    for (unsigned i = 0; i <= stored; i++) {
        snprintf(name, sizeof name, "m/%u", i);
        assert_object_is(c, name, 1 * MiB, i);
    }
    assert_true(info_of(c).taken_bytes > 8 * MiB);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

/* Regression (size_wraps_to_a_small_block): a size near 2^64 with metadata wrapped round to a
 * small block, and every retry grew the store by a segment, up to its maximum. */
static void test_impossible_size_takes_nothing(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    start_with_config(&d, conf, sizeof conf, "memory = 256M\nsegment_size = 4M\n");
    shmstore_client *c = connect_or_fail(d.socket);
    void *data;
    uint64_t id;
    char meta[1000] = {0};
    assert_rc(shmstore_create(c, "huge", SIZE_MAX - 10, meta, sizeof meta, 0, &data, &id),
              SHMSTORE_ENOSPC);
    assert_rc(shmstore_create(c, "huge", 300 * MiB, NULL, 0, 0, &data, &id), SHMSTORE_ENOSPC);
    const shmstore_store_info after = info_of(c);
    assert_int_equal(after.segments, 1);
    assert_int_equal(after.taken_bytes, 4 * MiB);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

/* Regression (big_object_at_the_maximum): segments emptied by deletes wait out segment_idle;
 * a store at its maximum gives them back at once when an object needs a segment of its own. */
static void test_maximum_reuses_empty_segments(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    start_with_config(&d, conf, sizeof conf,
                      "memory = 32M\nsegment_size = 8M\nsegment_idle = 3600s\n");
    shmstore_client *c = connect_or_fail(d.socket);
    char name[32];
    for (unsigned i = 0; i < 28; i++) {
        snprintf(name, sizeof name, "fill/%u", i);
        assert_rc(create_pattern(c, name, 1 * MiB, i), 0);
    }
    assert_int_equal(info_of(c).taken_bytes, 32 * MiB);
    assert_rc(shmstore_delete_matching(c, "fill/*", NULL), 0);
    assert_int_equal(info_of(c).taken_bytes, 32 * MiB);   /* empty, kept for an hour */
    assert_rc(create_pattern(c, "big", 20 * MiB, 99), 0);
    assert_object_is(c, "big", 20 * MiB, 99);
    assert_true(info_of(c).taken_bytes <= 32 * MiB);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

/* Regression (preload_stopped_at_the_first_segment): preload reads every durable object back,
 * growing the arena at start as far as its maximum. */
static void test_preload_grows_the_arena(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128], data_dir[96];
    snprintf(data_dir, sizeof data_dir, "/var/tmp/shmstore-segtest-data-XXXXXX");
    assert_non_null(mkdtemp(data_dir));
    char text[256];
    snprintf(text, sizeof text,
             "memory = 64M\nsegment_size = 4M\npreload = yes\ndata_dir = %s\n", data_dir);
    start_with_config(&d, conf, sizeof conf, text);
    shmstore_client *c = connect_or_fail(d.socket);
    char name[32];
    for (unsigned i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "keep/%u", i);
        assert_rc(put_pattern(c, name, 3 * MiB, i, SHMSTORE_PERSIST), 0);
    }
    assert_rc(shmstore_sync(c), 0);
    shmstore_close(c);
    harness_kill(&d);
    assert_int_equal(harness_respawn(&d, "-c", conf, NULL), 0);
    c = connect_or_fail(d.socket);
    const shmstore_store_info back = info_of(c);
    assert_int_equal(back.objects, 10);
    assert_int_equal(back.disk_only_objects, 0);   /* all in memory again */
    assert_true(back.segments > 1);
    for (unsigned i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "keep/%u", i);
        assert_object_is(c, name, 3 * MiB, i);
    }
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    assert_int_equal(system(cmd), 0);
}

/* Huge pages free in the pool, in pages. */
static long free_huge_pages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long pages = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %ld", &pages) == 1)
            break;
    if (f)
        fclose(f);
    return pages;
}

static int set_nr_hugepages(long n)
{
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%ld\n", n) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static long nr_hugepages(void)
{
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
    long n = -1;
    if (f && fscanf(f, "%ld", &n) != 1)
        n = -1;
    if (f)
        fclose(f);
    return n;
}

/* The pool as it was before test_hugepages reserved pages, given back however the test ends. */
static long saved_nr_hugepages = -1;

static int restore_hugepages(void **state)
{
    (void)state;
    if (saved_nr_hugepages >= 0)
        set_nr_hugepages(saved_nr_hugepages);
    saved_nr_hugepages = -1;
    return 0;
}

static void test_hugepages(void **state)
{
    (void)state;
    struct test_daemon d;
    char conf[128];
    if (free_huge_pages() == 0) {
        /* yes without huge pages: a clear refusal at start. */
        char dir[64];
        snprintf(dir, sizeof dir, "/tmp/shmstore-segtest-XXXXXX");
        assert_non_null(mkdtemp(dir));
        char cmd[512], log[128];
        snprintf(log, sizeof log, "%s/log", dir);
        snprintf(cmd, sizeof cmd, "'%s' -s %s/s.sock -m 16M --hugepages yes 2>%s",
                 harness_binary("SHMSTORED"), dir, log);
        int status = system(cmd);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        char text[2048] = "";
        FILE *f = fopen(log, "r");
        assert_non_null(f);
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        assert_non_null(strstr(text, "vm.nr_hugepages"));
        unlink(log);
        rmdir(dir);
    }
    /* With huge pages reserved (root only), segments are made of them. */
    const long before = nr_hugepages();
    if (geteuid() == 0 && before >= 0 && !harness_under_valgrind())
        saved_nr_hugepages = before;
    if (saved_nr_hugepages < 0 || set_nr_hugepages(before + 16) != 0 ||
        free_huge_pages() < 16) {
        print_message("(huge pages: could not reserve 16 (needs root, and 32 MiB the kernel "
                      "can give as huge pages); skipped the rest)\n");
        return;
    }
    const long free_before = free_huge_pages();
    start_with_config(&d, conf, sizeof conf,
                      "memory = 64M\nsegment_size = 8M\nhugepages = yes\n");
    assert_int_equal(free_before - free_huge_pages(), 4);   /* the first segment: 8 MiB */
    shmstore_client *c = connect_or_fail(d.socket);
    assert_rc(create_pattern(c, "h", 6 * MiB, 7), 0);       /* in the first segment */
    assert_rc(create_pattern(c, "h2", 6 * MiB, 8), 0);      /* a segment of its own: 6 MiB */
    assert_int_equal(free_before - free_huge_pages(), 7);
    assert_object_is(c, "h", 6 * MiB, 7);
    assert_object_is(c, "h2", 6 * MiB, 8);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_config(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_larger_than_a_segment_gets_its_own),
        cmocka_unit_test(test_thousands_of_objects_over_many_segments),
        cmocka_unit_test(test_maximum_holds_and_sighup_raises_it),
        cmocka_unit_test(test_impossible_size_takes_nothing),
        cmocka_unit_test(test_maximum_reuses_empty_segments),
        cmocka_unit_test(test_preload_grows_the_arena),
        cmocka_unit_test_teardown(test_hugepages, restore_hugepages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
