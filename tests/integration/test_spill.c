/*
 * test_spill.c — the arena as a cache of the disk, against a real daemon with a data directory:
 * a workload four times the arena's size, with transient and durable objects, where every get
 * must return the right bytes, pinned objects never move and the store never holds more than its
 * capacity; lazy restore after a restart, with many concurrent gets of one object; preload;
 * `spill = no`; spilled objects gone after a restart; a client killed while its put waits for
 * room; `persist = all`; cache mode (`evict = lru`).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"

#define ARENA "32M"
#define ARENA_BYTES (32u << 20)
#define OBJECT_BYTES (1u << 20)

static char data_dir[64];

static void make_data_dir(void)
{
    snprintf(data_dir, sizeof data_dir, "/var/tmp/shmstore-spill-XXXXXX");
    if (!mkdtemp(data_dir)) {
        snprintf(data_dir, sizeof data_dir, "/tmp/shmstore-spill-XXXXXX");
        assert_non_null(mkdtemp(data_dir));
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_data_dir(void)
{
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_config(const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s.conf", data_dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* The bytes of object i: a function of i, so any mix-up or tear shows. */
static void fill(unsigned i, unsigned char *buf, size_t len)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    for (size_t k = 0; k < len; k += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + k, &x, len - k < 8 ? len - k : 8);
    }
}

static int same_bytes(unsigned i, const void *data, size_t len)
{
    static unsigned char want[OBJECT_BYTES];
    fill(i, want, len);
    return memcmp(want, data, len) == 0;
}

static void name_of(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%u", i % 4 == 0 ? "durable" : "transient", i);
}

static uint64_t used_bytes(shmstore_client *c)
{
    shmstore_store_info info;
    assert_int_equal(shmstore_info(c, &info), 0);
    assert_true(info.used_bytes <= info.capacity_bytes);
    return info.used_bytes;
}

/* Four times the arena, a quarter durable: every put finds room (objects leave memory for it),
 * every get returns the right bytes, the pinned object's bytes never change under the client. */
static void test_workload_four_times_the_arena(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    const unsigned n = (unsigned)harness_scale(4 * ARENA_BYTES / OBJECT_BYTES, 40);
    static unsigned char buf[OBJECT_BYTES];
    char name[64];
    shmstore_object pinned;
    for (unsigned i = 0; i < n; i++) {
        fill(i, buf, sizeof buf);
        name_of(i, name, sizeof name);
        int rc = shmstore_put(c, name, buf, sizeof buf, "m", 1,
                              i % 4 == 0 ? SHMSTORE_PERSIST : 0);
        if (rc != 0)
            fail_msg("put %s: %s", name, shmstore_errmsg(c));
        if (i == 1)
            assert_int_equal(shmstore_get(c, name, 0, &pinned), 0);
        assert_true(used_bytes(c) <= ARENA_BYTES);
    }
    /* Three passes in a scrambled order: each get may bring its object back. */
    for (unsigned pass = 0; pass < 3; pass++) {
        for (unsigned k = 0; k < n; k++) {
            unsigned i = (k * 7919u + pass * 31u) % n;
            name_of(i, name, sizeof name);
            shmstore_object obj;
            int rc = shmstore_get(c, name, 0, &obj);
            if (rc != 0)
                fail_msg("get %s: %s", name, shmstore_errmsg(c));
            assert_int_equal(obj.size, OBJECT_BYTES);
            assert_int_equal(obj.meta_size, 1);
            if (!same_bytes(i, obj.data, obj.size) || ((const char *)obj.meta)[0] != 'm')
                fail_msg("%s: wrong bytes", name);
            shmstore_release(c, &obj);
        }
    }
    /* Held all along, through every spill and eviction: never moved, never overwritten. */
    assert_true(same_bytes(1, pinned.data, pinned.size));
    shmstore_release(c, &pinned);
    shmstore_store_info info;
    assert_int_equal(shmstore_info(c, &info), 0);
    assert_int_equal(info.objects, n);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* Spilled objects were transient: after a restart they are gone, durable ones are back. */
static void test_spilled_objects_do_not_survive_restart(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    char name[64];
    const unsigned n = 2 * ARENA_BYTES / OBJECT_BYTES;
    for (unsigned i = 0; i < n; i++) {
        fill(i, buf, sizeof buf);
        name_of(i, name, sizeof name);
        assert_int_equal(shmstore_put(c, name, buf, sizeof buf, NULL, 0,
                                      i % 4 == 0 ? SHMSTORE_PERSIST : 0), 0);
    }
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    harness_kill(&d);
    assert_int_equal(harness_respawn(&d, "--no-reserve", "-d", data_dir, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    for (unsigned i = 0; i < n; i++) {
        name_of(i, name, sizeof name);
        shmstore_object obj;
        int rc = shmstore_get(c, name, 0, &obj);
        if (i % 4 == 0) {
            assert_int_equal(rc, 0);
            assert_true(same_bytes(i, obj.data, obj.size));
            shmstore_release(c, &obj);
        } else {
            assert_int_equal(rc, SHMSTORE_ENOTFOUND);
        }
    }
    shmstore_close(c);
    /* The spill area was emptied at start. */
    char spill[128];
    snprintf(spill, sizeof spill, "%s/spill", data_dir);
    DIR *dir = opendir(spill);
    assert_non_null(dir);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        if (de->d_name[0] != '.')
            fail_msg("spill/%s is left after a restart", de->d_name);
    closedir(dir);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* Many processes get one object that is on disk only, at once: all see the right bytes. */
static void test_lazy_restore_with_concurrent_gets(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    fill(4, buf, sizeof buf);
    assert_int_equal(shmstore_put(c, "durable/4", buf, sizeof buf, NULL, 0, SHMSTORE_PERSIST),
                     0);
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    harness_kill(&d);
    assert_int_equal(harness_respawn(&d, "--no-reserve", "-d", data_dir, NULL), 0);
    /* Listed at once, without its payload. */
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(used_bytes(c), 0);
    shmstore_object_stat st;
    assert_int_equal(shmstore_stat(c, "durable/4", &st), 0);
    assert_int_equal(st.size, OBJECT_BYTES);
    enum { READERS = 8 };
    pid_t pids[READERS];
    for (int r = 0; r < READERS; r++) {
        pids[r] = fork();
        assert_true(pids[r] >= 0);
        if (pids[r] == 0) {
            shmstore_client *rc;
            shmstore_object obj;
            int ok = shmstore_connect(d.socket, &rc) == 0 &&
                     shmstore_get(rc, "durable/4", 5000, &obj) == 0 &&
                     obj.size == OBJECT_BYTES && same_bytes(4, obj.data, obj.size);
            _exit(ok ? 0 : 1);
        }
    }
    for (int r = 0; r < READERS; r++) {
        int status;
        assert_int_equal(waitpid(pids[r], &status, 0), pids[r]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_true(used_bytes(c) >= OBJECT_BYTES);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

static int log_contains(const struct test_daemon *d, const char *text)
{
    FILE *fp = fopen(d->log, "r");
    if (!fp)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, fp))
        found = strstr(line, text) != NULL;
    fclose(fp);
    return found;
}

/* preload = yes: the payloads are read at start, before the socket opens. */
static void test_preload(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("preload = yes\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, "-c", conf, NULL),
                     0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    for (unsigned i = 0; i < 3; i++) {
        char name[64];
        fill(i, buf, sizeof buf);
        snprintf(name, sizeof name, "p/%u", i);
        assert_int_equal(shmstore_put(c, name, buf, sizeof buf, NULL, 0, SHMSTORE_PERSIST), 0);
    }
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    harness_kill(&d);
    assert_int_equal(harness_respawn(&d, "--no-reserve", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_true(used_bytes(c) >= 3 * OBJECT_BYTES);
    if (!log_contains(&d, "3 listed") || !log_contains(&d, "3 read into memory"))
        fail_msg("the log does not tell the preload");
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "p/2", 0, &obj), 0);
    assert_true(same_bytes(2, obj.data, obj.size));
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* spill = no: transient objects stay, so a full arena of them answers ENOSPC, with its reason;
 * durable ones still leave memory. */
static void test_spill_off(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("spill = no\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, "-c", conf, NULL),
                     0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    char name[64];
    unsigned i = 0;
    int rc = 0;
    for (; i < 2 * ARENA_BYTES / OBJECT_BYTES && rc == 0; i++) {
        fill(i, buf, sizeof buf);
        snprintf(name, sizeof name, "t/%u", i);
        rc = shmstore_put(c, name, buf, sizeof buf, NULL, 0, 0);
    }
    assert_int_equal(rc, SHMSTORE_ENOSPC);
    if (!strstr(shmstore_errmsg(c), "cannot be spilled"))
        fail_msg("unclear detail: %s", shmstore_errmsg(c));
    /* The one that failed is not there; the others are. */
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, name, 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "t/0", 0, &obj), 0);
    assert_true(same_bytes(0, obj.data, obj.size));
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_delete_matching(c, "t/*", NULL), 0);
    /* Durable objects leave memory all the same: twice the arena fits. */
    for (i = 0; i < 2 * ARENA_BYTES / OBJECT_BYTES; i++) {
        fill(i, buf, sizeof buf);
        snprintf(name, sizeof name, "d/%u", i);
        if (shmstore_put(c, name, buf, sizeof buf, NULL, 0, SHMSTORE_PERSIST) != 0)
            fail_msg("put %s: %s", name, shmstore_errmsg(c));
    }
    assert_int_equal(shmstore_get(c, "d/0", 0, &obj), 0);
    assert_true(same_bytes(0, obj.data, obj.size));
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* Clients SIGKILLed while their puts wait for room: the daemon goes on, the store stays sound
 * (its clean exit under the sanitizers and valgrind checks that too), later puts succeed. */
static void test_client_killed_while_waiting_for_room(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, NULL), 0);
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            shmstore_client *c;
            static unsigned char buf[OBJECT_BYTES];
            if (shmstore_connect(d.socket, &c) != 0)
                _exit(1);
            for (unsigned i = 0;; i++) {
                char name[64];
                snprintf(name, sizeof name, "k%d/%u", round, i);
                fill(i, buf, sizeof buf);
                shmstore_put(c, name, buf, sizeof buf, NULL, 0, SHMSTORE_REPLACE);
            }
        }
        usleep(50000 + 20000 * (useconds_t)round);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    fill(99, buf, sizeof buf);
    for (int i = 0; i < 40; i++)
        assert_int_equal(shmstore_put(c, "after", buf, sizeof buf, NULL, 0, SHMSTORE_REPLACE),
                         0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "after", 0, &obj), 0);
    assert_true(same_bytes(99, obj.data, obj.size));
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* Holes all over the arena, each smaller than what is asked: spilling goes on, round after
 * round, until a large enough block is free (a false "store full" otherwise). */
static void test_fragmented_arena(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[2 * OBJECT_BYTES];
    char name[64];
    const unsigned n = ARENA_BYTES / OBJECT_BYTES;
    for (unsigned i = 0; i < n; i++) {
        fill(i, buf, OBJECT_BYTES);
        snprintf(name, sizeof name, "small/%u", i);
        if (shmstore_put(c, name, buf, OBJECT_BYTES, NULL, 0, 0) != 0)
            fail_msg("put %s: %s", name, shmstore_errmsg(c));
    }
    for (unsigned i = 0; i < n; i += 2) {
        snprintf(name, sizeof name, "small/%u", i);
        assert_int_equal(shmstore_delete(c, name), 0);
    }
    for (unsigned i = 0; i < n / 2; i++) {
        fill(1000 + i, buf, sizeof buf);
        snprintf(name, sizeof name, "large/%u", i);
        if (shmstore_put(c, name, buf, sizeof buf, NULL, 0, 0) != 0)
            fail_msg("put %s: %s", name, shmstore_errmsg(c));
    }
    for (unsigned i = 1; i < n; i += 2) {
        snprintf(name, sizeof name, "small/%u", i);
        shmstore_object obj;
        assert_int_equal(shmstore_get(c, name, 0, &obj), 0);
        assert_true(same_bytes(i, obj.data, obj.size));
        shmstore_release(c, &obj);
    }
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* A durable object replaced again and again while other objects push it out of memory and
 * readers get it: every get returns a whole version, never "damaged" or "not found" (a read
 * back of the replaced version whose file went runs the get again). */
static void test_replace_while_reading_back(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("durability = sync\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "4M", "--no-reserve", "-d", data_dir, "-c", conf, NULL),
                     0);
    /* The window is narrow: before the fix, 1000 rounds (SHMSTORE_TEST_SCALE=3.4) hit it at
     * round 490; the suite's 300 rounds catch it only sometimes. */
    enum { SMALL = 300000, ROLES = 6 };
    const unsigned rounds = (unsigned)harness_scale(300, 40);
    pid_t pids[ROLES];
    for (int role = 0; role < ROLES; role++) {
        pids[role] = fork();
        assert_true(pids[role] >= 0);
        if (pids[role] != 0)
            continue;
        shmstore_client *c;
        static unsigned char buf[OBJECT_BYTES];
        if (shmstore_connect(d.socket, &c) != 0)
            _exit(2);
        for (unsigned r = 0; r < rounds; r++) {
            char name[32];
            int rc = 0;
            shmstore_object obj;
            switch (role) {
            case 0:   /* the replacer: version r of X */
                fill(r, buf, SMALL);
                rc = shmstore_put(c, "X", buf, SMALL, NULL, 0,
                                  SHMSTORE_PERSIST | SHMSTORE_REPLACE);
                break;
            case 1:   /* the churner: durable objects that push X out */
                fill(r, buf, OBJECT_BYTES);
                snprintf(name, sizeof name, "churn/%u", r % 16);
                rc = shmstore_put(c, name, buf, OBJECT_BYTES, NULL, 0,
                                  SHMSTORE_PERSIST | SHMSTORE_REPLACE);
                break;
            default:  /* readers: X exists from the start, and must always be found whole */
                rc = shmstore_get(c, "X", 10000, &obj);
                if (rc == 0) {
                    int whole = 0;
                    for (unsigned v = 0; v < rounds && !whole; v++)
                        whole = obj.size == SMALL && same_bytes(v, obj.data, SMALL);
                    shmstore_release(c, &obj);
                    if (!whole) {
                        fprintf(stderr, "reader: X is no whole version\n");
                        _exit(3);
                    }
                }
                break;
            }
            if (rc != 0) {
                fprintf(stderr, "role %d round %u: %s\n", role, r, shmstore_errmsg(c));
                _exit(1);
            }
        }
        _exit(0);
    }
    for (int role = 0; role < ROLES; role++) {
        int status;
        assert_int_equal(waitpid(pids[role], &status, 0), pids[role]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("role %d failed (status %d)", role, status);
    }
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* The spill area on a full disk (a 6 MiB tmpfs, which needs root: skipped with a message where
 * mounting is impossible): a failed spill only means no room is made. Puts beyond what fits
 * fail with ENOSPC saying why, and every object acknowledged is still served, whole. */
static void test_spill_on_a_full_disk(void **state)
{
    (void)state;
    make_data_dir();
    if (mount("tmpfs", data_dir, "tmpfs", 0, "size=6m") != 0) {
        printf("# skipped: cannot mount a small tmpfs here (%s)\n", strerror(errno));
        remove_data_dir();
        skip();
    }
    char dir[96];
    snprintf(dir, sizeof dir, "%s/data", data_dir);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "8M", "--no-reserve", "-d", dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    char name[64];
    unsigned stored = 0;
    int rc = 0;
    for (unsigned i = 0; i < 24 && rc == 0; i++) {
        fill(i, buf, sizeof buf);
        snprintf(name, sizeof name, "t/%u", i);
        rc = shmstore_put(c, name, buf, sizeof buf, NULL, 0, 0);
        stored += rc == 0;
    }
    /* More than the arena went in (some were spilled), but not everything: the disk filled. */
    assert_true(stored > 8);
    assert_int_equal(rc, SHMSTORE_ENOSPC);
    if (!strstr(shmstore_errmsg(c), "cannot be spilled"))
        fail_msg("unclear detail: %s", shmstore_errmsg(c));
    /* What is in memory is served. A spilled one needs room to come back, and the arena is full
     * of objects that cannot leave: ENOSPC, saying so, until room is made by hand. */
    unsigned in_memory[24], n_in_memory = 0, waiting = 0;
    for (unsigned i = 0; i < stored; i++) {
        snprintf(name, sizeof name, "t/%u", i);
        shmstore_object_status st;
        assert_int_equal(shmstore_status(c, name, &st), 0);
        shmstore_object obj;
        rc = shmstore_get(c, name, 0, &obj);
        if (st.location & SHMSTORE_IN_MEMORY) {
            assert_int_equal(rc, 0);
            in_memory[n_in_memory++] = i;
        } else if (rc != 0) {
            assert_int_equal(rc, SHMSTORE_ENOSPC);
            waiting++;
            continue;
        }
        assert_true(same_bytes(i, obj.data, obj.size));
        shmstore_release(c, &obj);
    }
    assert_true(n_in_memory >= 2);
    for (unsigned k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "t/%u", in_memory[k]);
        assert_int_equal(shmstore_delete(c, name), 0);
    }
    for (unsigned i = 0; i < stored; i++) {
        if (i == in_memory[0] || i == in_memory[1])
            continue;
        snprintf(name, sizeof name, "t/%u", i);
        shmstore_object obj;
        if (shmstore_get(c, name, 0, &obj) != 0)
            fail_msg("get %s after making room: %s", name, shmstore_errmsg(c));
        assert_true(same_bytes(i, obj.data, obj.size));
        shmstore_release(c, &obj);
    }
    printf("# %u objects stored, %u waited for room\n", stored, waiting);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(umount(data_dir), 0);
    remove_data_dir();
}

/* persist = all: every object is durable without the flag, and back after a crash. */
static void test_persist_all(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("persist = all\ndurability = sync\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-d", data_dir, "-c", conf, NULL),
                     0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[40000];
    fill(7, buf, sizeof buf);
    assert_int_equal(shmstore_put(c, "plain", buf, sizeof buf, NULL, 0, 0), 0);
    assert_int_equal(shmstore_put(c, "tiny", "abc", 3, "m", 1, 0), 0);
    shmstore_object_status st;
    assert_int_equal(shmstore_status(c, "plain", &st), 0);
    assert_int_equal(st.durable, 1);
    shmstore_close(c);
    harness_kill(&d);
    assert_int_equal(harness_respawn(&d, "--no-reserve", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "plain", 0, &obj), 0);
    assert_true(obj.size == sizeof buf && same_bytes(7, obj.data, obj.size));
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "tiny", 0, &obj), 0);
    assert_true(obj.size == 3 && memcmp(obj.data, "abc", 3) == 0 && obj.meta_size == 1);
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* evict = lru without a data directory (cache mode): puts three times the arena all succeed;
 * the least recently used transient objects are deleted, pinned and NO_EVICT ones stay. */
static void test_cache_mode(void **state)
{
    (void)state;
    make_data_dir();   /* for the config file only: this daemon has no data directory */
    char conf[128];
    write_config("evict = lru\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, ARENA, "--no-reserve", "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[OBJECT_BYTES];
    fill(1000, buf, sizeof buf);
    assert_int_equal(shmstore_put(c, "keep", buf, sizeof buf, NULL, 0, SHMSTORE_NO_EVICT), 0);
    fill(1001, buf, sizeof buf);
    assert_int_equal(shmstore_put(c, "held", buf, sizeof buf, NULL, 0, 0), 0);
    shmstore_object held;
    assert_int_equal(shmstore_get(c, "held", 0, &held), 0);
    const unsigned n = 3 * ARENA_BYTES / OBJECT_BYTES;
    char name[64];
    for (unsigned i = 0; i < n; i++) {
        fill(i, buf, sizeof buf);
        snprintf(name, sizeof name, "c/%u", i);
        if (shmstore_put(c, name, buf, sizeof buf, NULL, 0, 0) != 0)
            fail_msg("put %s: %s", name, shmstore_errmsg(c));
    }
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "c/0", 0, &obj), SHMSTORE_ENOTFOUND);
    for (unsigned i = n - 8; i < n; i++) {
        snprintf(name, sizeof name, "c/%u", i);
        assert_int_equal(shmstore_get(c, name, 0, &obj), 0);
        assert_true(same_bytes(i, obj.data, obj.size));
        shmstore_release(c, &obj);
    }
    assert_int_equal(shmstore_get(c, "keep", 0, &obj), 0);
    assert_true(same_bytes(1000, obj.data, obj.size));
    shmstore_release(c, &obj);
    assert_true(same_bytes(1001, held.data, held.size));
    shmstore_release(c, &held);
    /* Everything left is NO_EVICT: a put that needs more than the free space fails clearly. */
    assert_int_equal(shmstore_delete_matching(c, "c/*", NULL), 0);
    assert_int_equal(shmstore_delete(c, "held"), 0);
    unsigned kept = 0;
    int rc = 0;
    for (; rc == 0 && kept < 64; kept++) {
        fill(2000 + kept, buf, sizeof buf);
        snprintf(name, sizeof name, "pinned-down/%u", kept);
        rc = shmstore_put(c, name, buf, sizeof buf, NULL, 0, SHMSTORE_NO_EVICT);
    }
    assert_int_equal(rc, SHMSTORE_ENOSPC);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload_four_times_the_arena),
        cmocka_unit_test(test_spilled_objects_do_not_survive_restart),
        cmocka_unit_test(test_lazy_restore_with_concurrent_gets),
        cmocka_unit_test(test_preload),
        cmocka_unit_test(test_spill_off),
        cmocka_unit_test(test_client_killed_while_waiting_for_room),
        cmocka_unit_test(test_fragmented_arena),
        cmocka_unit_test(test_replace_while_reading_back),
        cmocka_unit_test(test_spill_on_a_full_disk),
        cmocka_unit_test(test_persist_all),
        cmocka_unit_test(test_cache_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
