/*
 * test_persist.c — unit tests of the data directory of durable objects (daemon/core/persist.c).
 *
 * Each test opens a fresh data directory under a mkdtemp directory, writes objects and catalogue
 * entries the way the daemon's writer thread does (file, directory sync, commit), reopens it as a
 * restart would, and checks what comes back: a round trip of names, ids, sizes and bytes; a
 * damaged or missing file refused and moved aside; orphan files removed; drops that a newer bind
 * overtook leaving the newer entry alone; the map growing when it is full.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"

struct fixture {
    char dir[64];
    persist_t *p;
};

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void reopen(struct fixture *f)
{
    char why[512];
    persist_close(f->p);
    f->p = NULL;
    int rc = persist_open(f->dir, &f->p, why, sizeof why);
    if (rc != 0)
        fail_msg("persist_open: %s", why);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/shmstore-persist-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    reopen(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    persist_close(f->p);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((seed * 131 + i * 7 + (i >> 8)) & 0xff);
}

/* Write one object whole and bind it, as the writer thread does. */
static struct persist_entry put_object(struct fixture *f, const char *name, uint64_t id,
                                       const unsigned char *data, size_t size,
                                       const char *meta)
{
    char why[512];
    size_t meta_size = meta ? strlen(meta) : 0;
    struct persist_entry e = {.id = id, .size = size, .meta_size = meta_size,
                              .checksum = persist_object_checksum(data, size, meta, meta_size),
                              .sealed_ns = (int64_t)id * 1000};
    uint64_t written_sum = 0;
    if (persist_write_object(f->p, id, data, size, meta, meta_size, &written_sum, why,
                             sizeof why) != 0 ||
        persist_publish_object(f->p, id, why, sizeof why) != 0 ||
        persist_sync_objects(f->p, why, sizeof why) != 0)
        fail_msg("write: %s", why);
    /* The checksum computed while writing is the one-buffer checksum of the same bytes. */
    assert_true(written_sum == persist_object_checksum(data, size, meta, meta_size));
    struct persist_op op = {.kind = PERSIST_BIND, .name = name, .name_len = strlen(name),
                            .entry = e};
    if (persist_commit(f->p, &op, 1, why, sizeof why) != 0)
        fail_msg("commit: %s", why);
    return e;
}

static int file_exists(struct fixture *f, const char *sub, uint64_t id)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s/%016llx", f->dir, sub, (unsigned long long)id);
    return access(path, F_OK) == 0;
}

static void test_checksum_sees_every_byte(void **state)
{
    (void)state;
    unsigned char buf[1000];
    fill(buf, sizeof buf, 3);
    uint64_t base = persist_checksum(buf, sizeof buf, 0);
    /* A flipped bit anywhere, in the lanes or the tails, changes the sum. */
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] ^= 0x10;
        assert_true(persist_checksum(buf, sizeof buf, 0) != base);
        buf[i] ^= 0x10;
    }
    assert_true(persist_checksum(buf, 999, 0) != persist_checksum(buf, 1000, 0));
    assert_true(persist_checksum(buf, 0, 0) != persist_checksum(buf, 0, 1));
    /* Bytes moved from payload to metadata are a different object. */
    assert_true(persist_object_checksum(buf, 600, buf + 600, 400) !=
                persist_object_checksum(buf, 599, buf + 599, 401));
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    enum { BIG = 3 << 20 };
    unsigned char *big = malloc(BIG);
    assert_non_null(big);
    fill(big, BIG, 9);
    put_object(f, "empty", 5, NULL, 0, NULL);
    put_object(f, "a/b", 7, big, 100, "meta!");
    put_object(f, "big", 11, big, BIG, NULL);
    reopen(f);

    char **names;
    struct persist_entry *entries;
    size_t n;
    char why[512];
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "a/b");
    assert_string_equal(names[1], "big");
    assert_string_equal(names[2], "empty");
    assert_int_equal(entries[0].id, 7);
    assert_int_equal(entries[0].size, 100);
    assert_int_equal(entries[0].meta_size, 5);
    assert_int_equal(entries[0].sealed_ns, 7000);
    assert_int_equal(entries[1].size, BIG);
    assert_int_equal(entries[2].size, 0);

    unsigned char *back = malloc(BIG);
    char meta[8] = {0};
    assert_non_null(back);
    assert_int_equal(persist_read_object(f->p, &entries[0], back, meta, why, sizeof why), 0);
    assert_memory_equal(back, big, 100);
    assert_string_equal(meta, "meta!");
    assert_int_equal(persist_read_object(f->p, &entries[1], back, NULL, why, sizeof why), 0);
    assert_memory_equal(back, big, BIG);
    assert_int_equal(persist_read_object(f->p, &entries[2], NULL, NULL, why, sizeof why), 0);
    assert_int_equal(persist_remove_orphans(f->p, why, sizeof why), 0);
    persist_entries_free(names, entries, n);
    free(back);
    free(big);
}

static void test_replace_and_drop(void **state)
{
    struct fixture *f = *state;
    unsigned char data[64];
    fill(data, sizeof data, 1);
    struct persist_entry old = put_object(f, "x", 20, data, sizeof data, NULL);
    struct persist_entry newer = put_object(f, "x", 21, data, 10, NULL);
    /* The bind replaced the entry; the older file stays until its own drop (a get may still be
     * reading it back). */
    assert_true(file_exists(f, "objects", 20));
    assert_true(file_exists(f, "objects", 21));

    /* That drop, after the newer bind, leaves the entry alone and removes only its file. */
    char why[512];
    struct persist_op drop = {.kind = PERSIST_DROP, .name = "x", .name_len = 1, .entry = old};
    assert_int_equal(persist_commit(f->p, &drop, 1, why, sizeof why), 0);
    assert_false(file_exists(f, "objects", 20));
    assert_true(file_exists(f, "objects", 21));
    char **names;
    struct persist_entry *entries;
    size_t n;
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    assert_int_equal(entries[0].id, 21);
    persist_entries_free(names, entries, n);

    drop.entry = newer;
    assert_int_equal(persist_commit(f->p, &drop, 1, why, sizeof why), 0);
    reopen(f);
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 0);
    persist_entries_free(names, entries, n);
    assert_false(file_exists(f, "objects", 21));
}

static void corrupt_byte(struct fixture *f, uint64_t id, off_t at)
{
    char path[128];
    snprintf(path, sizeof path, "%s/objects/%016llx", f->dir, (unsigned long long)id);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 1;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void test_damage_is_detected_and_moved_aside(void **state)
{
    struct fixture *f = *state;
    unsigned char data[5000], back[5000];
    char meta[16];
    fill(data, sizeof data, 4);
    struct persist_entry flipped = put_object(f, "flipped", 30, data, sizeof data, "m");
    struct persist_entry torn = put_object(f, "torn", 31, data, sizeof data, NULL);
    struct persist_entry missing = put_object(f, "missing", 32, data, 10, NULL);
    corrupt_byte(f, 30, 4321);
    char path[128];
    snprintf(path, sizeof path, "%s/objects/%016llx", f->dir, 31ull);
    assert_int_equal(truncate(path, 4000), 0);
    snprintf(path, sizeof path, "%s/objects/%016llx", f->dir, 32ull);
    assert_int_equal(unlink(path), 0);
    reopen(f);

    char why[512];
    assert_int_equal(persist_read_object(f->p, &flipped, back, meta, why, sizeof why), -EBADMSG);
    assert_non_null(strstr(why, "checksum mismatch"));
    assert_int_equal(persist_read_object(f->p, &torn, back, NULL, why, sizeof why), -EBADMSG);
    assert_non_null(strstr(why, "torn"));
    assert_int_equal(persist_read_object(f->p, &missing, back, NULL, why, sizeof why), -ENOENT);

    assert_int_equal(persist_quarantine(f->p, "flipped", &flipped, why, sizeof why), 0);
    assert_int_equal(persist_quarantine(f->p, "missing", &missing, why, sizeof why), 0);
    assert_true(file_exists(f, "corrupt", 30));
    assert_false(file_exists(f, "objects", 30));
    char **names;
    struct persist_entry *entries;
    size_t n;
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "torn");
    persist_entries_free(names, entries, n);
}

static void test_orphans_are_removed(void **state)
{
    struct fixture *f = *state;
    unsigned char data[100];
    char why[512];
    fill(data, sizeof data, 2);
    put_object(f, "kept", 40, data, sizeof data, NULL);
    /* A file whose entry never committed, a leftover temporary file, and a stray name. */
    uint64_t sum;
    assert_int_equal(persist_write_object(f->p, 41, data, sizeof data, NULL, 0, &sum, why,
                                          sizeof why), 0);
    assert_int_equal(persist_publish_object(f->p, 41, why, sizeof why), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/objects/%016llx.tmp", f->dir, 42ull);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/objects/stray", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    reopen(f);
    assert_int_equal(persist_remove_orphans(f->p, why, sizeof why), 3);
    assert_true(file_exists(f, "objects", 40));
    assert_false(file_exists(f, "objects", 41));
    assert_int_equal(persist_remove_orphans(f->p, why, sizeof why), 0);
}

static void test_map_grows_when_full(void **state)
{
    struct fixture *f = *state;
    /* Entries (about 2.5 MiB of them) well past the first 1 MiB map, in few transactions. */
    enum { PER_COMMIT = 500, COMMITS = 20 };
    static char names[PER_COMMIT][256];
    static struct persist_op ops[PER_COMMIT];
    char why[512];
    uint64_t id = 1000;
    for (int c = 0; c < COMMITS; c++) {
        for (int i = 0; i < PER_COMMIT; i++) {
            int len = snprintf(names[i], sizeof names[i], "%0200d-%d-%d", 0, c, i);
            ops[i] = (struct persist_op){.kind = PERSIST_BIND, .name = names[i],
                                         .name_len = (size_t)len,
                                         .entry = {.id = id++}};
        }
        if (persist_commit(f->p, ops, PER_COMMIT, why, sizeof why) != 0)
            fail_msg("commit %d: %s", c, why);
    }
    reopen(f);
    char **listed;
    struct persist_entry *entries;
    size_t n;
    assert_int_equal(persist_list(f->p, &listed, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, (size_t)PER_COMMIT * COMMITS);
    persist_entries_free(listed, entries, n);
}

static void test_open_refuses_a_file_as_directory(void **state)
{
    struct fixture *f = *state;
    char path[128], why[512];
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    persist_t *p;
    assert_true(persist_open(path, &p, why, sizeof why) < 0);
    assert_null(p);
    assert_non_null(strstr(why, path));
}

/* Small objects live inside their catalogue entry: read back and checked there, across a reopen;
 * a repair (REBIND) never brings back a replaced entry; damage is moved aside to corrupt/. */
static void test_inline_objects(void **state)
{
    struct fixture *f = *state;
    char why[512];
    unsigned char data[3000], back[3000];
    char meta_back[8];
    fill(data, sizeof data, 9);
    struct persist_entry e = {.id = 40, .size = sizeof data, .meta_size = 4,
                              .checksum = persist_object_checksum(data, sizeof data, "meta", 4),
                              .sealed_ns = 7, .inline_copy = 1};
    struct persist_op op = {.kind = PERSIST_BIND, .name = "small", .name_len = 5, .entry = e,
                            .data = data, .meta = "meta"};
    assert_int_equal(persist_commit(f->p, &op, 1, why, sizeof why), 0);
    assert_false(file_exists(f, "objects", 40));
    reopen(f);
    char **names;
    struct persist_entry *entries;
    size_t n;
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    assert_int_equal(entries[0].inline_copy, 1);
    assert_int_equal(entries[0].size, sizeof data);
    persist_entries_free(names, entries, n);
    assert_int_equal(persist_read_inline(f->p, "small", 5, &e, back, meta_back, why, sizeof why),
                     0);
    assert_memory_equal(back, data, sizeof data);
    assert_memory_equal(meta_back, "meta", 4);
    /* The wrong checksum, or another id: never served. */
    struct persist_entry wrong = e;
    wrong.checksum ^= 1;
    assert_int_equal(persist_read_inline(f->p, "small", 5, &wrong, back, meta_back, why,
                                         sizeof why), -EBADMSG);
    wrong = e;
    wrong.id = 41;
    assert_int_equal(persist_read_inline(f->p, "small", 5, &wrong, back, meta_back, why,
                                         sizeof why), -ENOENT);
    /* Replaced by id 42; a repair of 40 queued before changes nothing. */
    struct persist_entry newer = e;
    newer.id = 42;
    op.entry = newer;
    assert_int_equal(persist_commit(f->p, &op, 1, why, sizeof why), 0);
    op.kind = PERSIST_REBIND;
    op.entry = e;
    assert_int_equal(persist_commit(f->p, &op, 1, why, sizeof why), 0);
    assert_int_equal(persist_read_inline(f->p, "small", 5, &newer, back, meta_back, why,
                                         sizeof why), 0);
    /* Moved aside: its bytes in corrupt/ID, its entry gone. */
    assert_int_equal(persist_quarantine(f->p, "small", &newer, why, sizeof why), 0);
    assert_true(file_exists(f, "corrupt", 42));
    assert_int_equal(persist_list(f->p, &names, &entries, &n, why, sizeof why), 0);
    assert_int_equal(n, 0);
    persist_entries_free(names, entries, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_sees_every_byte),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_is_detected_and_moved_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orphans_are_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_grows_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_a_file_as_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
