/*
 * test_zerocopy.c — N readers of one big object share one copy of it in memory.
 *
 * One 256 MiB object of pseudo-random bytes is put into a 512 MiB store; the writer then closes
 * its handle, so it maps nothing. Four reader processes each connect, get the object and read
 * every byte of it (checking a checksum). With all four alive and done, each measures itself
 * from /proc/self/smaps (and smaps_rollup): the arena mapping ("/memfd:shmstore-arena") must
 * hold the whole object in each reader's RSS, yet each reader's anonymous and private memory
 * barely grows, and the proportional set size (PSS) of the arena summed over every process
 * that maps it — the readers, the test itself and the daemon — is about 256 MiB: one copy
 * between them, not one each. As a control the same readers then malloc+memcpy the object and
 * measure again: each grows by ~256 MiB of anonymous memory, which shows the measurement would
 * see a copy. The table of figures is printed. Skipped under valgrind (memory figures of a
 * program under valgrind say nothing about the program).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

#define OBJ_SIZE (256ull << 20)
#define READERS 4
#define OBJ_NAME "zerocopy/big"
#define ARENA_TAG "memfd:shmstore-arena"
#define MIB (1024.0 * 1024.0)
#define KIB_PER_MIB 1024.0

/* Memory figures of one process, in KiB, as /proc reports them. */
struct mem {
    long rss, pss, anonymous, private_clean, private_dirty; /* all mappings together */
    long pss_shmem;                                         /* smaps_rollup; -1 if absent */
    long arena_rss, arena_pss, arena_private;               /* the arena mapping(s) only */
    int arena_mappings;
};

enum phase { READ_DONE = 1, MEASURED_SHARED, COPY_DONE, MEASURED_COPY };

/* Message of a reader to the test; well below PIPE_BUF, so each write arrives whole. */
struct msg {
    int reader;
    int phase;
    int ok;                 /* 0: the reader failed; detail on its stderr */
    struct mem before;      /* before connecting */
    struct mem now;
};

/* ---- /proc parsing ------------------------------------------------------------------------- */

static long field_kb(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0 || line[n] != ':')
        return -1;
    return strtol(line + n + 1, NULL, 10);
}

/* Sum /proc/<pid>/smaps over all mappings and over the arena's. pid 0: this process. */
static int read_mem(pid_t pid, struct mem *m)
{
    memset(m, 0, sizeof *m);
    m->pss_shmem = -1;
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int in_arena = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
            in_arena = strstr(line, ARENA_TAG) != NULL;
            m->arena_mappings += in_arena;
            continue;
        }
        long v;
        if ((v = field_kb(line, "Rss")) >= 0) {
            m->rss += v;
            if (in_arena)
                m->arena_rss += v;
        } else if ((v = field_kb(line, "Pss")) >= 0) {
            m->pss += v;
            if (in_arena)
                m->arena_pss += v;
        } else if ((v = field_kb(line, "Anonymous")) >= 0) {
            m->anonymous += v;
        } else if ((v = field_kb(line, "Private_Clean")) >= 0) {
            m->private_clean += v;
            if (in_arena)
                m->arena_private += v;
        } else if ((v = field_kb(line, "Private_Dirty")) >= 0) {
            m->private_dirty += v;
            if (in_arena)
                m->arena_private += v;
        }
    }
    fclose(f);
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps_rollup");
    if ((f = fopen(path, "r"))) {
        while (fgets(line, sizeof line, f)) {
            long v = field_kb(line, "Pss_Shmem");
            if (v >= 0)
                m->pss_shmem = v;
        }
        fclose(f);
    }
    return 0;
}

/* Private memory outside the arena: what a copy of the object would show up as. A page of the
 * arena mapped by this process alone also counts as "private" in smaps, so it is left out. */
static long private_outside_arena(const struct mem *m)
{
    return m->private_clean + m->private_dirty - m->arena_private;
}

/* ---- content ------------------------------------------------------------------------------- */

static uint64_t checksum_step(uint64_t h, uint64_t w)
{
    h = (h ^ w) * UINT64_C(0x100000001b3);
    return h ^ (h >> 29);
}

/* Shadow memory is AddressSanitizer's, not the store's: an instrumented load of each arena byte
 * makes ASan map an eighth of that range as shadow, which would show up as anonymous memory in
 * every reader (32 MiB for 256 MiB) and look like a partial copy. The checksum is what the test
 * measures, so its loads are left uninstrumented. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_SHADOW __attribute__((no_sanitize("address")))
#endif
#endif
#if !defined(NO_SHADOW) && defined(__SANITIZE_ADDRESS__)
#define NO_SHADOW __attribute__((no_sanitize_address))
#endif
#ifndef NO_SHADOW
#define NO_SHADOW
#endif

/* Every byte goes through the checksum. Payloads are 64-byte aligned and the size is a multiple
 * of 8, so plain aligned loads do (memcpy could reach ASan's checking interceptor). */
NO_SHADOW static uint64_t checksum(const void *data, size_t size)
{
    const uint64_t *words = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < size / 8; i++)
        h = checksum_step(h, words[i]);
    return h;
}

/* ---- the readers --------------------------------------------------------------------------- */

static void send_msg(int fd, int reader, int phase, int ok, const struct mem *before,
                     const struct mem *now)
{
    struct msg m = {.reader = reader, .phase = phase, .ok = ok};
    if (before)
        m.before = *before;
    if (now)
        m.now = *now;
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(5);
}

static void wait_go(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        _exit(6);   /* the test is gone */
}

static void reader_main(int idx, const char *socket, uint64_t expected, int to_parent,
                        int from_parent)
{
    struct mem before, now;
    if (read_mem(0, &before) != 0)
        _exit(7);
    shmstore_client *c;
    int rc = shmstore_connect(socket, &c);
    shmstore_object o;
    if (rc == 0)
        rc = shmstore_get(c, OBJ_NAME, 0, &o);
    if (rc != 0) {
        fprintf(stderr, "reader %d: %s: %s\n", idx, shmstore_errname(rc),
                shmstore_errmsg(c));
        send_msg(to_parent, idx, READ_DONE, 0, NULL, NULL);
        _exit(1);
    }
    uint64_t sum = checksum(o.data, o.size);
    int ok = o.size == OBJ_SIZE && sum == expected;
    if (!ok)
        fprintf(stderr, "reader %d: object of %zu bytes, checksum %016" PRIx64
                ", expected %llu bytes, %016" PRIx64 "\n",
                idx, o.size, sum, OBJ_SIZE, expected);
    send_msg(to_parent, idx, READ_DONE, ok, NULL, NULL);

    wait_go(from_parent);   /* every reader has read everything: measure */
    read_mem(0, &now);
    send_msg(to_parent, idx, MEASURED_SHARED, 1, &before, &now);

    wait_go(from_parent);   /* the control: a private copy */
    void *copy = malloc(o.size);
    ok = copy != NULL;
    if (ok) {
        memcpy(copy, o.data, o.size);
        ok = checksum(copy, o.size) == expected;
    }
    send_msg(to_parent, idx, COPY_DONE, ok, NULL, NULL);

    wait_go(from_parent);
    read_mem(0, &now);
    send_msg(to_parent, idx, MEASURED_COPY, 1, &before, &now);

    wait_go(from_parent);   /* done */
    free(copy);
    shmstore_release(c, &o);
    shmstore_close(c);
    _exit(0);
}

/* ---- the test ------------------------------------------------------------------------------ */

static struct test_daemon daemon_;
static int daemon_started;

static int stop_daemon(void **state)
{
    (void)state;
    if (!daemon_started)
        return 0;
    daemon_started = 0;
    return stop_daemon_fixture(&daemon_);
}

/* Put the object: created and filled in place, so this process holds no copy of it. */
static uint64_t put_object(shmstore_client *c)
{
    void *data;
    uint64_t id;
    int rc = shmstore_create(c, OBJ_NAME, OBJ_SIZE, NULL, 0, 0, &data, &id);
    if (rc != 0)
        fail_msg("create: %s: %s", shmstore_errname(rc), shmstore_errmsg(c));
    unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < OBJ_SIZE; i += 8) {
        uint64_t w = mix64(i);
        memcpy(p + i, &w, 8);
        h = checksum_step(h, w);
    }
    rc = shmstore_seal(c, id);
    if (rc != 0)
        fail_msg("seal: %s: %s", shmstore_errname(rc), shmstore_errmsg(c));
    return h;
}

/* Send one byte to every reader. */
static void go_all(const int *to_reader)
{
    for (int i = 0; i < READERS; i++)
        assert_int_equal(write(to_reader[i], "g", 1), 1);
}

/* Collect one message of `phase` from each reader. */
static void collect(int from_readers, int phase, struct msg *out)
{
    int seen = 0;
    while (seen < READERS) {
        struct msg m;
        ssize_t n = read(from_readers, &m, sizeof m);
        if (n != (ssize_t)sizeof m)
            fail_msg("a reader died before phase %d (read returned %zd)", phase, n);
        assert_true(m.reader >= 0 && m.reader < READERS);
        assert_int_equal(m.phase, phase);
        if (!m.ok)
            fail_msg("reader %d failed in phase %d", m.reader, phase);
        out[m.reader] = m;
        seen++;
    }
}

static double mib(long kib)
{
    return (double)kib / KIB_PER_MIB;
}

static void print_row(const char *who, const struct mem *before, const struct mem *m)
{
    long d_anon = before ? m->anonymous - before->anonymous : 0;
    long d_priv = before ? private_outside_arena(m) - private_outside_arena(before) : 0;
    printf("  %-10s %9.1f %9.1f %9.1f %11.1f %11.1f %9.1f %9.1f %11.1f\n", who, mib(m->rss),
           mib(m->pss), m->pss_shmem >= 0 ? mib(m->pss_shmem) : -1.0, mib(m->arena_rss),
           mib(m->arena_pss), mib(m->anonymous), mib(d_anon), mib(d_priv));
}

static void print_table(const char *title, const struct msg *r, const struct mem *daemon_mem,
                        const struct mem *self)
{
    printf("%s (MiB)\n", title);
    printf("  %-10s %9s %9s %9s %11s %11s %9s %9s %11s\n", "process", "Rss", "Pss", "Pss_Shmem",
           "arena Rss", "arena Pss", "Anonymous", "+Anon", "+Private*");
    long sum_pss = 0;
    for (int i = 0; i < READERS; i++) {
        char who[16];
        snprintf(who, sizeof who, "reader %d", i + 1);
        print_row(who, &r[i].before, &r[i].now);
        sum_pss += r[i].now.arena_pss;
    }
    print_row("shmstored", NULL, daemon_mem);
    print_row("test", NULL, self);
    printf("  arena Pss: readers %.1f, all processes %.1f; object %.1f\n", mib(sum_pss),
           mib(sum_pss + daemon_mem->arena_pss + self->arena_pss), OBJ_SIZE / MIB);
    printf("  (+Anon, +Private*: growth since before connecting; Private* leaves out the arena)\n");
    fflush(stdout);
}

static void test_readers_share_one_copy(void **state)
{
    (void)state;
    if (harness_under_valgrind()) {
        printf("skipped: memory figures mean nothing under valgrind\n");
        skip();
    }
    assert_int_equal(harness_start(&daemon_, "512M", NULL), 0);
    daemon_started = 1;
    const long obj_kib = (long)(OBJ_SIZE / 1024);

    shmstore_client *c;
    assert_int_equal(shmstore_connect(daemon_.socket, &c), 0);
    uint64_t expected = put_object(c);
    shmstore_store_info info;
    assert_int_equal(shmstore_info(c, &info), 0);
    assert_int_equal(info.objects, 1);
    assert_true(info.used_bytes >= OBJ_SIZE && info.used_bytes < OBJ_SIZE + (1 << 20));
    /* The writer lets go of its mappings: the object lives on in the store alone. */
    shmstore_close(c);
    struct mem self;
    assert_int_equal(read_mem(0, &self), 0);
    assert_int_equal(self.arena_mappings, 0);

    int up[2];
    assert_int_equal(pipe(up), 0);
    int down[READERS];
    pid_t pids[READERS];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < READERS; i++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(up[0]);
            close(p[1]);
            for (int j = 0; j < i; j++)
                close(down[j]);
            reader_main(i, daemon_.socket, expected, up[1], p[0]);
        }
        close(p[0]);
        down[i] = p[1];
    }
    close(up[1]);

    struct msg shared[READERS], copied[READERS], tmp[READERS];
    struct mem daemon_shared, self_shared, daemon_copy, self_copy;
    collect(up[0], READ_DONE, tmp);             /* all four have read every byte */
    go_all(down);
    collect(up[0], MEASURED_SHARED, shared);    /* measured while all four are alive */
    assert_int_equal(read_mem(daemon_.pid, &daemon_shared), 0);
    assert_int_equal(read_mem(0, &self_shared), 0);
    go_all(down);
    collect(up[0], COPY_DONE, tmp);
    go_all(down);
    collect(up[0], MEASURED_COPY, copied);
    assert_int_equal(read_mem(daemon_.pid, &daemon_copy), 0);
    assert_int_equal(read_mem(0, &self_copy), 0);
    go_all(down);
    for (int i = 0; i < READERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        close(down[i]);
    }
    close(up[0]);

    print_table("zero-copy: 4 readers, each has read all 256 MiB through the mapping", shared,
                &daemon_shared, &self_shared);
    print_table("control: the same readers after malloc+memcpy of the object", copied,
                &daemon_copy, &self_copy);

    /* Zero-copy: every reader maps the whole object, but adds no copy of it. */
    long total_pss = daemon_shared.arena_pss + self_shared.arena_pss, readers_pss = 0;
    for (int i = 0; i < READERS; i++) {
        const struct mem *b = &shared[i].before, *m = &shared[i].now;
        assert_int_equal(m->arena_mappings, 1);
        assert_true(m->arena_rss >= obj_kib);
        assert_true(m->arena_rss <= obj_kib + 16 * 1024);
        assert_true(m->arena_pss <= obj_kib / 2);       /* shared, not owned */
        assert_true(m->anonymous - b->anonymous < 16 * 1024);
        assert_true(private_outside_arena(m) - private_outside_arena(b) < 16 * 1024);
        readers_pss += m->arena_pss;
    }
    total_pss += readers_pss;
    /* One copy between all of them: the PSS of the arena over every process that maps it. */
    assert_true(readers_pss <= obj_kib * 13 / 10);
    assert_true(total_pss >= obj_kib * 9 / 10);
    assert_true(total_pss <= obj_kib * 13 / 10);

    /* The control: a real copy shows up as ~256 MiB more anonymous memory in each reader. */
    for (int i = 0; i < READERS; i++) {
        const struct mem *b = &copied[i].before, *m = &copied[i].now;
        assert_true(m->anonymous - b->anonymous >= obj_kib * 9 / 10);
        assert_true(private_outside_arena(m) - private_outside_arena(b) >= obj_kib * 9 / 10);
    }

    /* The store is left as it was found. */
    assert_int_equal(shmstore_connect(daemon_.socket, &c), 0);
    assert_int_equal(shmstore_delete(c, OBJ_NAME), 0);
    /* The readers are gone once the daemon has read their hang-ups; wait for that. */
    (void)WAIT_FOR((info = info_of(c)).clients <= 1, slack(20));
    assert_int_equal(info.clients, 1);
    assert_int_equal(info.used_bytes, 0);
    assert_int_equal(info.pins, 0);
    shmstore_close(c);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_readers_share_one_copy, stop_daemon),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* 77 tells meson the test was skipped rather than passed. */
    return failed == 0 && harness_under_valgrind() ? 77 : failed;
}
