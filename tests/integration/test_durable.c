/*
 * test_durable.c — durable objects (SHMSTORE_PERSIST) against a real daemon with a data
 * directory: what survives a restart, what does not, and SIGKILL at random moments.
 *
 * The kill test, once under durability = sync and once under async, runs writer processes that
 * put (with REPLACE, inline or created in place) and delete durable objects of 0 B to 64 MiB
 * (mostly small; in about one cycle in three a writer puts one of 4 to 64 MiB) under a few names
 * each, logging in shared memory every state each name goes through. The test SIGKILLs the
 * daemon at a random moment, lets the writers notice (their calls fail with ECONN and they
 * exit), starts a new daemon on the same data directory and checks every name: it must hold the
 * state of an entry of its log from the last one the daemon promised to keep (under sync the
 * last acknowledged; under async the last acknowledged before a shmstore_sync() that a racing
 * syncer saw complete) on, byte for byte with its metadata, so a torn object, a lost
 * acknowledged write, a deleted object come back or a write reordered would all show. A
 * transient object put before each kill must be gone. Then the observed state becomes the start
 * of the next cycle's log.
 *
 * Also: a clean restart keeps durable objects (ids, seal times) and only them; an arena too small
 * at start serves what fits and leaves the rest on disk; a file damaged while the daemon was down
 * is not served and is moved to corrupt/; a full disk (a 2 MiB tmpfs) fails a
 * durable put or seal with EIO and leaves the name as it was; SYNC then SIGKILL under both
 * modes; async: a clean stop flushes, a full disk after the answer, the bound on held objects.
 *
 * Kill cycles: 50 per mode by default, scaled by $SHMSTORE_TEST_SCALE (at least 5), or
 * $SHMSTORE_DURABLE_CYCLES. Under valgrind the large objects stop at 8 MiB.
 * The long run:  SHMSTORE_DURABLE_CYCLES=1000 meson test -C build integration.durable -v
 *                --timeout-multiplier 0
 * Seed: $SHMSTORE_DURABLE_SEED, else a fresh one, printed (and in every failure).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"

#define MAX_SIZE (3u << 20)   /* of the objects the other tests put */
#define WRITERS 2              /* of the kill test, each with names of its own */
#define NAMES_PER_WRITER 6
#define NAMES (WRITERS * NAMES_PER_WRITER)

static char data_dir[64];

/* The default is async: a test that needs each acknowledged seal, delete or replace to be on
 * disk when it answers says so in the config it starts the daemon with. */
#define SYNC_CONFIG "durability = sync\n"

static uint64_t mix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void slot_name(unsigned slot, char *buf, size_t len)
{
    snprintf(buf, len, "durable/w%u/n%u", slot / NAMES_PER_WRITER, slot % NAMES_PER_WRITER);
}

/* The size and bytes of a version are a function of (slot, version), so a reader can tell a
 * whole object of either candidate version from anything else. */
static size_t version_size(unsigned slot, uint32_t version)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 70000, 1u << 20, MAX_SIZE};
    uint64_t st = (uint64_t)slot << 32 | version;
    return sizes[mix(&st) % (sizeof sizes / sizeof sizes[0])];
}

static void version_fill(unsigned slot, uint32_t version, unsigned char *buf, size_t size)
{
    uint64_t st = ((uint64_t)slot << 32 | version) ^ 0x5555;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w = mix(&st);
        memcpy(buf + i, &w, 8);
    }
    uint64_t w = mix(&st);
    memcpy(buf + i, &w, size - i);
}

static void version_meta(unsigned slot, uint32_t version, char *buf, size_t len)
{
    snprintf(buf, len, "slot %u version %u", slot, version);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void make_data_dir(void)
{
    snprintf(data_dir, sizeof data_dir, "/tmp/shmstore-durable-XXXXXX");
    assert_non_null(mkdtemp(data_dir));
}

static void remove_data_dir(void)
{
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A config file in the data directory (the daemon looks only at objects/ and catalogue/ there);
 * its path in conf. */
static void write_config(const char *text, char *conf, size_t len)
{
    snprintf(conf, len, "%s/test.conf", data_dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* ---- SIGKILL at random moments ---------------------------------------------------------------
 *
 * Every name has a log, in memory shared with the writers, of the states it went through in this
 * cycle: entry 0 is what the store held at the cycle's start, and each operation appends the state
 * it leads to (a version, or 0 for "no object") before it is sent. acked is the entry of the last
 * acknowledged operation; durable is the last entry the daemon promised to keep: under sync the
 * same as acked (each answer came after the disk), under async the acked entry a syncer read just
 * before a shmstore_sync() that then returned 0. Deletes and replaces reach the disk in order, so
 * after the crash the store must hold the state of one entry from durable on: a later one where a
 * write got there (the operation in flight at the kill included), never an earlier one, and never
 * anything else. An operation refused cleanly (ENOSPC: the arena full of unwritten objects)
 * changed nothing, and its entry is taken back. */

#define LOG_MAX 8192                  /* states per name and cycle; a full log ends its writer */
#define BUFFERED_MAX (4u << 20)       /* above: create in place, fill, seal */
#define LARGE_MAX (64u << 20)
#define LARGE_MAX_VALGRIND (8u << 20)

struct state {
    uint32_t version;   /* 0: no object */
    uint32_t unused;
    uint64_t size;
};

struct name_log {
    volatile uint32_t count;     /* entries in states[] */
    volatile uint32_t acked;     /* entry of the last acknowledged operation */
    volatile uint32_t durable;   /* last entry the daemon must keep */
    volatile uint32_t next;      /* the next version; versions only grow, across cycles too */
    volatile uint64_t ops, large_ops, refused;   /* acknowledged / of them large / ENOSPC */
    volatile uint64_t large_sent;                /* large puts sent, answered or not */
    struct state states[LOG_MAX];
};

static struct name_log *logs;   /* NAMES of them, shared with the writers and the syncer */

/* Every bytes of a version come from (slot, version), so a reader checks them without a copy. */
static int version_matches(unsigned slot, uint32_t version, const unsigned char *data,
                           size_t size)
{
    uint64_t st = ((uint64_t)slot << 32 | version) ^ 0x5555;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w = mix(&st);
        if (memcmp(data + i, &w, 8) != 0)
            return 0;
    }
    uint64_t w = mix(&st);
    return memcmp(data + i, &w, size - i) == 0;
}

/* Mostly small, now and then a few MiB, and as the writer's large_at-th put (counting down)
 * one large object of up to 64 MiB (8 MiB under valgrind), so that a run of 50 cycles writes
 * some of each. */
static uint64_t pick_size(uint64_t *st, int *large_at)
{
    static const uint64_t small[] = {0, 1, 100, 4095, 4096, 70000};
    uint64_t r = mix(st) % 1000;
    if (*large_at >= 0 && (*large_at)-- == 0) {
        uint64_t max = harness_under_valgrind() ? LARGE_MAX_VALGRIND : LARGE_MAX;
        return mix(st) % 2 ? max : BUFFERED_MAX + mix(st) % (max - BUFFERED_MAX);
    }
    if (r < 80)
        return mix(st) % 2 ? (1u << 20) : mix(st) % BUFFERED_MAX;
    if (r < 200)
        return mix(st) % 65536;
    return small[mix(st) % (sizeof small / sizeof small[0])];
}

/* One durable put (REPLACE) of version v of slot: inline from buf up to BUFFERED_MAX, otherwise
 * (and for one small put in eight) created in place, filled and sealed. */
static int put_version(shmstore_client *c, const char *name, unsigned slot, uint32_t v,
                       uint64_t size, unsigned char *buf, int in_place)
{
    char meta[64];
    version_meta(slot, v, meta, sizeof meta);
    const unsigned flags = SHMSTORE_REPLACE | SHMSTORE_PERSIST;
    if (size <= BUFFERED_MAX && !in_place) {
        version_fill(slot, v, buf, size);
        return shmstore_put(c, name, buf, size, meta, strlen(meta), flags);
    }
    void *dest;
    uint64_t id;
    int rc = shmstore_create(c, name, size, meta, strlen(meta), flags, &dest, &id);
    if (rc != 0)
        return rc;
    version_fill(slot, v, dest, size);
    rc = shmstore_seal(c, id);
    if (rc != 0 && rc != SHMSTORE_ECONN)
        shmstore_abort(c, id);
    return rc;
}

/* Raise a name's durable entry to at least entry (the writer and the syncer both do). */
static void promote(volatile uint32_t *durable, uint32_t entry)
{
    uint32_t was = __atomic_load_n(durable, __ATOMIC_SEQ_CST);
    while (was < entry &&
           !__atomic_compare_exchange_n(durable, &was, entry, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
        ;
}

/* shmstore_sync() from a writer: once it returns 0, every operation the writer had acknowledged
 * on its names before it is durable. */
static int sync_own_names(shmstore_client *c, unsigned writer)
{
    uint32_t noted[NAMES_PER_WRITER];
    struct name_log *own = &logs[writer * NAMES_PER_WRITER];
    for (unsigned i = 0; i < NAMES_PER_WRITER; i++)
        noted[i] = own[i].acked;
    __sync_synchronize();
    int rc = shmstore_sync(c);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < NAMES_PER_WRITER; i++)
        promote(&own[i].durable, noted[i]);
    return 0;
}

/* A writer: random puts and deletes on its own names until the daemon goes away; under async
 * also a shmstore_sync() after about one operation in 64. With one_large, one of its first puts
 * is of more than 4 MiB. */
static void kill_writer(const char *socket, unsigned writer, uint64_t seed, int sync_mode,
                        int one_large)
{
    shmstore_client *c;
    if (shmstore_connect(socket, &c) != 0)
        _exit(0);   /* the daemon died before this writer got going */
    unsigned char *buf = malloc(BUFFERED_MAX + 8);
    if (!buf)
        _exit(2);
    uint64_t st = seed;
    int large_at = one_large ? (int)(mix(&st) % 4) : -1;   /* -1: none */
    for (;;) {
        unsigned slot = writer * NAMES_PER_WRITER + (unsigned)(mix(&st) % NAMES_PER_WRITER);
        struct name_log *log = &logs[slot];
        uint32_t entry = log->count;
        if (entry == LOG_MAX)
            break;   /* enough for one cycle */
        char name[64];
        slot_name(slot, name, sizeof name);
        int rc, large = 0;
        if (mix(&st) % 4 == 0) {
            log->states[entry] = (struct state){.version = 0};
            __sync_synchronize();
            log->count = entry + 1;
            __sync_synchronize();
            rc = shmstore_delete(c, name);
        } else {
            uint32_t v = log->next++;
            uint64_t size = pick_size(&st, &large_at);
            large = size > BUFFERED_MAX;
            log->large_sent += large;
            log->states[entry] = (struct state){.version = v, .size = size};
            __sync_synchronize();
            log->count = entry + 1;
            __sync_synchronize();
            rc = put_version(c, name, slot, v, size, buf, mix(&st) % 8 == 0);
        }
        __sync_synchronize();
        if (rc == 0 || rc == SHMSTORE_ENOTFOUND) {   /* a delete of nothing changes nothing */
            log->acked = entry;
            if (sync_mode)
                log->durable = entry;
            log->ops++;
            log->large_ops += large;
            /* Async: now and then a sync of its own, which makes everything it did durable. */
            if (!sync_mode && mix(&st) % 64 == 0)
                rc = sync_own_names(c, writer);
            if (rc == 0 || rc == SHMSTORE_ENOTFOUND)
                continue;
        }
        if (rc == SHMSTORE_ECONN)
            break;   /* the daemon was killed: the operation may or may not have happened */
        if (rc == SHMSTORE_ENOSPC) {   /* refused, nothing changed: not a state it went through */
            log->count = entry;
            log->refused++;
            continue;
        }
        fprintf(stderr, "writer %u: %s on %s: %s\n", writer, shmstore_errname(rc), name,
                shmstore_errmsg(c));
        _exit(3);
    }
    free(buf);
    shmstore_close(c);
    _exit(0);
}

/* Async: every few milliseconds, note each name's acknowledged entry, then shmstore_sync(); once
 * it returns 0, those entries are durable. Counts completed syncs in *syncs. */
static void kill_syncer(const char *socket, uint64_t seed, volatile uint64_t *syncs)
{
    shmstore_client *c;
    if (shmstore_connect(socket, &c) != 0)
        _exit(0);
    uint64_t st = seed;
    for (;;) {
        usleep((useconds_t)(mix(&st) % 40000));
        uint32_t noted[NAMES];
        for (unsigned slot = 0; slot < NAMES; slot++)
            noted[slot] = logs[slot].acked;
        __sync_synchronize();
        int rc = shmstore_sync(c);
        if (rc == SHMSTORE_ECONN)
            break;
        if (rc != 0) {
            fprintf(stderr, "syncer: %s: %s\n", shmstore_errname(rc), shmstore_errmsg(c));
            _exit(3);
        }
        for (unsigned slot = 0; slot < NAMES; slot++)
            promote(&logs[slot].durable, noted[slot]);
        (*syncs)++;
    }
    shmstore_close(c);
    _exit(0);
}

static size_t kill_cycles(void)
{
    const char *env = getenv("SHMSTORE_DURABLE_CYCLES");
    if (env && *env)
        return (size_t)strtoul(env, NULL, 10);
    return harness_scale(50, 5);
}

/* What the store holds under a name now: the entry of slot's log from durable on that it matches
 * (its index in *entry), or 0 with why. A present object is checked byte for byte, metadata too. */
static int check_name(shmstore_client *c, unsigned slot, uint32_t *entry, struct state *seen,
                      char *why, size_t whylen)
{
    const struct name_log *log = &logs[slot];
    char name[64];
    slot_name(slot, name, sizeof name);
    /* stat first: a get of an absent name with a timeout would wait for it to appear, and a get
     * of an object still on disk may need one to read it back. */
    shmstore_object_stat st;
    int rc = shmstore_stat(c, name, &st);
    shmstore_object obj = {0};
    if (rc == 0)
        rc = shmstore_get(c, name, 60000, &obj);
    if (rc != 0 && rc != SHMSTORE_ENOTFOUND) {
        snprintf(why, whylen, "%s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(c));
        return 0;
    }
    uint32_t version = 0;
    unsigned meta_slot = slot;
    char meta[64] = "";
    if (rc == 0) {
        snprintf(meta, sizeof meta, "%.*s", (int)(obj.meta_size < 63 ? obj.meta_size : 63),
                 (const char *)obj.meta);
        if (sscanf(meta, "slot %u version %" SCNu32, &meta_slot, &version) != 2 || version == 0)
            version = UINT32_MAX;   /* matches no entry */
    }
    int ok = 0;
    for (uint32_t i = log->durable; i < log->count && !ok; i++) {
        if (log->states[i].version != version || meta_slot != slot)
            continue;
        ok = version == 0 || (obj.size == log->states[i].size &&
                              version_matches(slot, version, obj.data, obj.size));
        if (ok) {
            *entry = i;
            *seen = log->states[i];
        }
    }
    if (!ok) {
        uint32_t last = log->count - 1, d = log->durable;
        snprintf(why, whylen, "%s: holds %s%s%s (%zu bytes); allowed: entries %u..%u of the log, "
                 "versions %u (%llu bytes, durable) .. %u (%llu bytes, last sent), 0 = none",
                 name, rc == 0 ? "'" : "nothing", meta, rc == 0 ? "'" : "", obj.size, d, last,
                 log->states[d].version, (unsigned long long)log->states[d].size,
                 log->states[last].version, (unsigned long long)log->states[last].size);
    }
    if (rc == 0)
        shmstore_release(c, &obj);
    return ok;
}

/* The kill test under one durability mode. */
static void kill_cycles_under(const char *mode)
{
    const int sync_mode = strcmp(mode, "sync") == 0;
    const char *seed_env = getenv("SHMSTORE_DURABLE_SEED");
    uint64_t seed = seed_env && *seed_env
                        ? strtoull(seed_env, NULL, 0)
                        : ((uint64_t)time(NULL) ^ (uint64_t)getpid() << 16) + (uint64_t)sync_mode;
    const size_t n = kill_cycles();
    printf("# durability = %s, %zu cycles, seed %" PRIu64 " (SHMSTORE_DURABLE_SEED=%" PRIu64
           " to replay)\n", mode, n, seed, seed);
    fflush(stdout);
    const size_t shared = sizeof *logs * NAMES + sizeof(uint64_t);
    logs = mmap(NULL, shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(logs != MAP_FAILED);
    volatile uint64_t *syncs = (volatile uint64_t *)(logs + NAMES);
    for (unsigned i = 0; i < NAMES; i++) {
        logs[i].count = 1;   /* entry 0: no object */
        logs[i].next = 1;
    }
    make_data_dir();
    char conf[128], text[128];
    snprintf(text, sizeof text, "durability = %s\n", mode);
    write_config(text, conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "384M", "--no-reserve", "-d", data_dir, "-c", conf, NULL),
                     0);
    uint64_t st = seed;
    unsigned long present = 0, beyond_durable = 0, ops = 0, large = 0, large_sent = 0;
    unsigned long refused = 0, promised = 0;
    for (size_t cycle = 0; cycle < n; cycle++) {
        shmstore_client *c;
        assert_int_equal(shmstore_connect(d.socket, &c), 0);
        assert_int_equal(shmstore_put(c, "transient", "gone", 4, NULL, 0, SHMSTORE_REPLACE), 0);
        /* In about one cycle in three one writer puts a large object, and the crash comes
         * later, so that some are acknowledged and some cut short. */
        int large_writer = mix(&st) % 3 == 0 ? (int)(mix(&st) % WRITERS) : -1;
        pid_t children[WRITERS + 1];
        unsigned n_children = 0;
        for (unsigned w = 0; w <= WRITERS; w++) {
            if (w == WRITERS && sync_mode)
                break;
            uint64_t child_seed = mix(&st);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                if (w == WRITERS)
                    kill_syncer(d.socket, child_seed, syncs);
                kill_writer(d.socket, w, child_seed, sync_mode, (int)w == large_writer);
            }
            children[n_children++] = pid;
        }
        /* 0 to 300 ms of writing (100 to 900 with a large object; more under valgrind, which is
         * slower), then the crash. */
        unsigned delay_us = large_writer < 0 ? (unsigned)(mix(&st) % 300000)
                                             : 100000 + (unsigned)(mix(&st) % 800000);
        delay_us *= harness_under_valgrind() ? 5 : 1;
        usleep(delay_us);
        harness_kill(&d);
        for (unsigned i = 0; i < n_children; i++) {
            int status;
            assert_int_equal(waitpid(children[i], &status, 0), children[i]);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("cycle %zu (seed %" PRIu64 "): %s %u ended with status %d", cycle, seed,
                         i < WRITERS ? "writer" : "syncer", i, status);
        }
        shmstore_close(c);
        if (harness_respawn(&d, "--no-reserve", "-d", data_dir, "-c", conf, NULL) != 0)
            fail_msg("cycle %zu (seed %" PRIu64 "): the daemon did not start again", cycle, seed);
        assert_int_equal(shmstore_connect(d.socket, &c), 0);
        shmstore_object obj;
        if (shmstore_get(c, "transient", 0, &obj) != SHMSTORE_ENOTFOUND)
            fail_msg("cycle %zu: a transient object survived the crash", cycle);
        for (unsigned slot = 0; slot < NAMES; slot++) {
            char why[768];
            uint32_t entry = 0;
            struct state seen = {0};
            if (!check_name(c, slot, &entry, &seen, why, sizeof why)) {
                harness_dump_log(&d);
                fail_msg("cycle %zu (durability = %s, seed %" PRIu64 "): %s", cycle, mode, seed,
                         why);
            }
            struct name_log *log = &logs[slot];
            present += seen.version != 0;
            promised += log->durable > 0;
            beyond_durable += entry > log->durable;
            ops += log->ops;
            large += log->large_ops;
            large_sent += log->large_sent;
            refused += log->refused;
            /* What the store holds now is on disk: the next cycle starts from it. */
            log->states[0] = seen;
            log->count = 1;
            log->acked = log->durable = 0;
            log->ops = log->large_ops = log->large_sent = log->refused = 0;
        }
        shmstore_close(c);
    }
    printf("# %zu cycles: %lu operations acknowledged (%lu of the %lu puts over 4 MiB sent), %lu "
           "refused with ENOSPC; at the restarts %lu names had a promised state from this cycle "
           "to keep, %lu held an object, %lu a state later than the last one promised", n, ops,
           large, large_sent, refused, promised, present, beyond_durable);
    if (!sync_mode)
        printf("; %llu syncs completed", (unsigned long long)*syncs);
    printf("\n");
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
    munmap(logs, shared);
}

/* Under sync every acknowledged put, replace and delete is on disk when it answers. */
static void test_kill_cycles_sync(void **state)
{
    (void)state;
    kill_cycles_under("sync");
}

/* Under async, what was acknowledged before the last completed shmstore_sync() survives; later
 * operations may or may not, but only as whole versions, in order. */
static void test_kill_cycles_async(void **state)
{
    (void)state;
    kill_cycles_under("async");
}

/* A clean restart: durable objects come back with their ids and seal times, transient ones do
 * not, an acknowledged delete stays deleted, and new ids start above the old ones. */
static void test_restart_keeps_durable_only(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config(SYNC_CONFIG, conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char big[200000];
    version_fill(1, 1, big, sizeof big);
    assert_int_equal(shmstore_put(c, "keep/empty", NULL, 0, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "keep/big", big, sizeof big, "m", 1, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "gone/deleted", "x", 1, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_delete(c, "gone/deleted"), 0);
    assert_int_equal(shmstore_put(c, "gone/transient", "x", 1, NULL, 0, 0), 0);
    /* Replaced by a transient object: the durable one must not come back either. */
    assert_int_equal(shmstore_put(c, "gone/replaced", "x", 1, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "gone/replaced", "y", 1, NULL, 0, SHMSTORE_REPLACE), 0);
    /* Created in place, then sealed. */
    void *dest;
    uint64_t id;
    assert_int_equal(shmstore_create(c, "keep/inplace", 5, NULL, 0, SHMSTORE_PERSIST, &dest, &id),
                     0);
    memcpy(dest, "hello", 5);
    assert_int_equal(shmstore_seal(c, id), 0);
    shmstore_object_stat before;
    assert_int_equal(shmstore_stat(c, "keep/big", &before), 0);
    shmstore_close(c);

    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    shmstore_object_stat after;
    assert_int_equal(shmstore_stat(c, "keep/big", &after), 0);
    assert_int_equal(after.id, before.id);
    assert_int_equal(after.created_ns, before.created_ns);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "keep/big", 0, &obj), 0);
    assert_int_equal(obj.size, sizeof big);
    assert_memory_equal(obj.data, big, sizeof big);
    assert_int_equal(obj.meta_size, 1);
    assert_memory_equal(obj.meta, "m", 1);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "keep/inplace", 0, &obj), 0);
    assert_int_equal(obj.id, id);
    assert_memory_equal(obj.data, "hello", 5);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "keep/empty", 0, &obj), 0);
    assert_int_equal(obj.size, 0);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "gone/deleted", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "gone/transient", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "gone/replaced", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_put(c, "new", "n", 1, NULL, 0, 0), 0);
    shmstore_object_stat fresh;
    assert_int_equal(shmstore_stat(c, "new", &fresh), 0);
    assert_true(fresh.id > id && fresh.id > before.id);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* A daemon whose arena cannot hold everything starts anyway, serves what fits and says so. */
static void test_arena_too_small_at_start(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config(SYNC_CONFIG, conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "8M", "-d", data_dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char chunk[3u << 20];
    version_fill(2, 2, chunk, sizeof chunk);
    assert_int_equal(shmstore_put(c, "a", chunk, sizeof chunk, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "b", chunk, sizeof chunk, NULL, 0, SHMSTORE_PERSIST), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(harness_start(&d, "4M", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    shmstore_object obj, other;
    /* Both listed; each comes back on its first get, and there is room for one at a time. */
    assert_int_equal(shmstore_get(c, "a", 0, &obj), 0);
    assert_memory_equal(obj.data, chunk, sizeof chunk);
    /* While a is pinned, b cannot come in: ENOSPC naming what holds the memory. */
    assert_int_equal(shmstore_get(c, "b", 0, &other), SHMSTORE_ENOSPC);
    if (!strstr(shmstore_errmsg(c), "pinned") || !strstr(shmstore_errmsg(c), "'a'"))
        fail_msg("unclear detail: %s", shmstore_errmsg(c));
    shmstore_release(c, &obj);
    /* Released, a leaves memory (it is on disk) to make room for b, and the other way round. */
    for (int round = 0; round < 3; round++) {
        assert_int_equal(shmstore_get(c, round % 2 ? "a" : "b", 0, &obj), 0);
        assert_memory_equal(obj.data, chunk, sizeof chunk);
        shmstore_release(c, &obj);
    }
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* A full disk fails the durable put with EIO and a detail saying so and how much was needed; the
 * name keeps its object and the store goes on serving. The data directory is a 2 MiB tmpfs,
 * which needs root (CI runs as root): skipped with a message where mounting is impossible. */
static void test_disk_full(void **state)
{
    (void)state;
    make_data_dir();
    if (mount("tmpfs", data_dir, "tmpfs", 0, "size=2m") != 0) {
        printf("# skipped: cannot mount a small tmpfs here (%s)\n", strerror(errno));
        remove_data_dir();
        skip();
    }
    char conf[128];
    write_config(SYNC_CONFIG, conf, sizeof conf);
    struct test_daemon d;
    char dir[96];
    snprintf(dir, sizeof dir, "%s/data", data_dir);
    assert_int_equal(harness_start(&d, "16M", "-d", dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char small[500000], big[3000000];
    version_fill(3, 1, small, sizeof small);
    version_fill(3, 2, big, sizeof big);
    assert_int_equal(shmstore_put(c, "x", small, sizeof small, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "x", big, sizeof big, NULL, 0,
                                  SHMSTORE_PERSIST | SHMSTORE_REPLACE), SHMSTORE_EIO);
    const char *why = shmstore_errmsg(c);
    if (!strstr(why, "disk full") || !strstr(why, "3000000 bytes") || !strstr(why, dir))
        fail_msg("unclear detail: %s", why);
    /* Created in place and sealed: the seal fails, the object stays unsealed and can go. */
    void *dest;
    uint64_t id;
    assert_int_equal(shmstore_create(c, "y", sizeof big, NULL, 0, SHMSTORE_PERSIST, &dest, &id),
                     0);
    memcpy(dest, big, sizeof big);
    assert_int_equal(shmstore_seal(c, id), SHMSTORE_EIO);
    assert_int_equal(shmstore_abort(c, id), 0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "y", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "x", 0, &obj), 0);
    assert_int_equal(obj.size, sizeof small);
    assert_memory_equal(obj.data, small, sizeof small);
    shmstore_release(c, &obj);
    /* What fits still goes, and the old object comes back after a restart. */
    assert_int_equal(shmstore_put(c, "z", "ok", 2, NULL, 0, SHMSTORE_PERSIST), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(harness_start(&d, "16M", "-d", dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(shmstore_get(c, "x", 0, &obj), 0);
    assert_memory_equal(obj.data, small, sizeof small);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "y", 0, &obj), SHMSTORE_ENOTFOUND);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    umount(data_dir);
    remove_data_dir();
}

/* Async holds the objects it answered for until they are written, so a stream of replacing puts
 * must not fill the arena with old versions waiting for a long interval: beyond a quarter of the
 * arena, seals wait for their write as under sync, and every put succeeds. */
static void test_async_bounded_by_the_arena(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("durability = async\nflush_interval = 600s\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char buf[1u << 20];
    for (uint32_t version = 1; version <= 48; version++) {
        version_fill(5, version, buf, sizeof buf);
        int rc = shmstore_put(c, "stream", buf, sizeof buf, NULL, 0,
                              SHMSTORE_PERSIST | SHMSTORE_REPLACE);
        if (rc != 0)
            fail_msg("put %u of 1 MiB into a 16 MiB arena: %s", version, shmstore_errmsg(c));
    }
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "stream", 0, &obj), 0);
    assert_memory_equal(obj.data, buf, sizeof buf);
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* Whether the daemon's log holds text. */
static int log_contains(const struct test_daemon *d, const char *text)
{
    FILE *f = fopen(d->log, "r");
    if (!f)
        return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Async on a full disk: the put was answered before its write failed, so the object is served
 * from memory, the failure is logged, a later sync still answers, and after a restart the
 * object is simply not there, while what fitted is. */
static void test_async_disk_full(void **state)
{
    (void)state;
    make_data_dir();
    if (mount("tmpfs", data_dir, "tmpfs", 0, "size=2m") != 0) {
        printf("# skipped: cannot mount a small tmpfs here (%s)\n", strerror(errno));
        remove_data_dir();
        skip();
    }
    char conf[128], dir[96];
    write_config("durability = async\nflush_interval = 600s\n", conf, sizeof conf);
    snprintf(dir, sizeof dir, "%s/data", data_dir);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char big[3000000];
    version_fill(4, 1, big, sizeof big);
    assert_int_equal(shmstore_put(c, "big", big, sizeof big, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_sync(c), 0);
    assert_true(log_contains(&d, "'big'"));
    assert_true(log_contains(&d, "was acknowledged (durability = async) but could not be "
                                 "written to disk: disk full"));
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "big", 0, &obj), 0);
    assert_memory_equal(obj.data, big, sizeof big);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_put(c, "small", "ok", 2, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    assert_int_equal(harness_start(&d, "16M", "-d", dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(shmstore_get(c, "big", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "small", 0, &obj), 0);
    assert_memory_equal(obj.data, "ok", 2);
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    umount(data_dir);
    remove_data_dir();
}

/* A durable object whose file was damaged while the daemon was down is never served: the next
 * start logs it, moves its file to corrupt/ and serves the others. */
static void test_damaged_file_is_not_served(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config(SYNC_CONFIG, conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char payload[100000];
    version_fill(4, 1, payload, sizeof payload);
    assert_int_equal(shmstore_put(c, "damaged", payload, sizeof payload, NULL, 0,
                                  SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "sound", payload, sizeof payload, NULL, 0,
                                  SHMSTORE_PERSIST), 0);
    shmstore_object_stat st;
    assert_int_equal(shmstore_stat(c, "damaged", &st), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);

    char path[160];
    snprintf(path, sizeof path, "%s/objects/%016" PRIx64, data_dir, st.id);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 54321, SEEK_SET), 0);
    assert_int_equal(fputc(0x5a ^ payload[54321], fp), 0x5a ^ payload[54321]);
    fclose(fp);

    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    shmstore_object obj;
    /* Read back on its first get, found damaged: EIO saying so, and never served after. */
    assert_int_equal(shmstore_get(c, "damaged", 0, &obj), SHMSTORE_EIO);
    if (!strstr(shmstore_errmsg(c), "damaged") || !strstr(shmstore_errmsg(c), "checksum"))
        fail_msg("unclear detail: %s", shmstore_errmsg(c));
    assert_int_equal(shmstore_get(c, "damaged", 0, &obj), SHMSTORE_ENOTFOUND);
    assert_int_equal(shmstore_get(c, "sound", 0, &obj), 0);
    assert_memory_equal(obj.data, payload, sizeof payload);
    shmstore_release(c, &obj);
    /* Moved aside (by the writer thread: a SYNC waits for it), not deleted. */
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    snprintf(path, sizeof path, "%s/corrupt/%016" PRIx64, data_dir, st.id);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

static void test_persist_without_data_dir(void **state)
{
    (void)state;
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "8M", NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(shmstore_put(c, "p", "x", 1, NULL, 0, SHMSTORE_PERSIST), SHMSTORE_EINVAL);
    assert_non_null(strstr(shmstore_errmsg(c), "start shmstored with -d DIR"));
    static unsigned char big[100000];
    assert_int_equal(shmstore_put(c, "p", big, sizeof big, NULL, 0, SHMSTORE_PERSIST),
                     SHMSTORE_EINVAL);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "p", 0, &obj), SHMSTORE_ENOTFOUND);
    /* Nothing can be waiting for a disk: sync answers at once. */
    assert_int_equal(shmstore_sync(c), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
}

/* Every fifth object is put in even rounds and deleted in odd ones. */
static int deleted_in_round(unsigned i, size_t round)
{
    return i % 5 == 4 && round % 2 == 1;
}

/* shmstore_sync from another client after puts, replaces and deletes of durable objects: it
 * answers, and everything done before it survives a SIGKILL right after, byte-identical, with
 * the deleted names still gone. config: the daemon's settings (durability). Under sync each of
 * those calls was on disk when it answered; under async (with an interval far longer than the
 * test) only the SYNC can have made them durable before the kill. */
static void sync_then_kill(const char *config)
{
    make_data_dir();
    char conf[128];
    write_config(config, conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "32M", "-d", data_dir, "-c", conf, NULL), 0);
    enum { OBJECTS = 24 };
    static unsigned char buf[300000], got[300000];
    size_t rounds = harness_scale(4, 2);
    for (size_t round = 0; round < rounds; round++) {
        shmstore_client *writer, *syncer;
        assert_int_equal(shmstore_connect(d.socket, &writer), 0);
        assert_int_equal(shmstore_connect(d.socket, &syncer), 0);
        uint32_t version = (uint32_t)round + 1;
        for (unsigned i = 0; i < OBJECTS; i++) {
            char name[32];
            slot_name(i, name, sizeof name);
            if (deleted_in_round(i, round)) {
                assert_int_equal(shmstore_delete(writer, name), 0);
                continue;
            }
            size_t size = version_size(i, version) % sizeof buf;
            version_fill(i, version, buf, size);
            assert_int_equal(shmstore_put(writer, name, buf, size, NULL, 0,
                                          SHMSTORE_PERSIST | SHMSTORE_REPLACE), 0);
        }
        assert_int_equal(shmstore_sync(syncer), 0);
        assert_int_equal(shmstore_sync(writer), 0);
        shmstore_close(writer);
        shmstore_close(syncer);
        harness_kill(&d);
        assert_int_equal(harness_respawn(&d, "-d", data_dir, "-c", conf, NULL), 0);

        shmstore_client *c;
        assert_int_equal(shmstore_connect(d.socket, &c), 0);
        for (unsigned i = 0; i < OBJECTS; i++) {
            char name[32];
            slot_name(i, name, sizeof name);
            shmstore_object obj;
            if (deleted_in_round(i, round)) {
                assert_int_equal(shmstore_get(c, name, 0, &obj), SHMSTORE_ENOTFOUND);
                continue;
            }
            assert_int_equal(shmstore_get(c, name, 0, &obj), 0);
            size_t size = version_size(i, version) % sizeof buf;
            version_fill(i, version, got, size);
            assert_int_equal(obj.size, size);
            assert_memory_equal(obj.data, got, size);
            shmstore_release(c, &obj);
        }
        shmstore_close(c);
    }
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

static void test_sync_then_kill(void **state)
{
    (void)state;
    sync_then_kill("durability = sync\n");
}

static void test_async_sync_then_kill(void **state)
{
    (void)state;
    sync_then_kill("durability = async\nflush_interval = 600s\n");
}

/* Async: a durable put answers before its write, the object is served at once, and a clean
 * stop writes whatever is still queued, so it is back after a restart. */
static void test_async_clean_stop_flushes(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("durability = async\nflush_interval = 600s\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    static unsigned char big[150000];
    version_fill(3, 1, big, sizeof big);
    assert_int_equal(shmstore_put(c, "async/big", big, sizeof big, "m", 1, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_put(c, "async/gone", "x", 1, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_delete(c, "async/gone"), 0);
    void *dest;
    uint64_t id;
    assert_int_equal(shmstore_create(c, "async/inplace", 5, NULL, 0, SHMSTORE_PERSIST, &dest,
                                     &id), 0);
    memcpy(dest, "hello", 5);
    assert_int_equal(shmstore_seal(c, id), 0);
    /* A replace before the first write is done: the newer one must be what comes back. */
    assert_int_equal(shmstore_put(c, "async/inplace", "world", 5, NULL, 0,
                                  SHMSTORE_PERSIST | SHMSTORE_REPLACE), 0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "async/big", 0, &obj), 0);
    assert_memory_equal(obj.data, big, sizeof big);
    shmstore_release(c, &obj);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);

    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, "-c", conf, NULL), 0);
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(shmstore_get(c, "async/big", 0, &obj), 0);
    assert_int_equal(obj.size, sizeof big);
    assert_memory_equal(obj.data, big, sizeof big);
    assert_int_equal(obj.meta_size, 1);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "async/inplace", 0, &obj), 0);
    assert_memory_equal(obj.data, "world", 5);
    shmstore_release(c, &obj);
    assert_int_equal(shmstore_get(c, "async/gone", 0, &obj), SHMSTORE_ENOTFOUND);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persist_without_data_dir),
        cmocka_unit_test(test_restart_keeps_durable_only),
        cmocka_unit_test(test_arena_too_small_at_start),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_damaged_file_is_not_served),
        cmocka_unit_test(test_async_disk_full),
        cmocka_unit_test(test_sync_then_kill),
        cmocka_unit_test(test_async_sync_then_kill),
        cmocka_unit_test(test_async_clean_stop_flushes),
        cmocka_unit_test(test_async_bounded_by_the_arena),
        cmocka_unit_test(test_kill_cycles_sync),
        cmocka_unit_test(test_kill_cycles_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
