/*
 * test_crash.c — what the daemon does when a client dies without a word (docs/architecture.md,
 * "When a client dies").
 *
 * The issue: "A client killed with SIGKILL while it holds pins and an unsealed 100 MiB object:
 * the daemon frees the unsealed object and drops the pins at once, in time proportional to what
 * that client held; other clients notice nothing." Each test starts a 256 MiB daemon, forks
 * clients that take pins, create unsealed objects or wait in a get, SIGKILLs them, and then
 * checks through a surviving client's info/stat that every counter (pins, unsealed objects and
 * bytes, deleted-but-pinned objects, waiters, clients, used bytes) returns to what it was
 * before, that names reserved by the dead client are free again, and that a bystander's pins,
 * bytes and waiting get are untouched. The last test kills a busy client at random moments,
 * over and over. The teardown requires the daemon to exit 0 (under valgrind: no errors, no
 * leaks). Loop counts scale with SHMSTORE_TEST_SCALE.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

static struct test_daemon D;
static shmstore_client *C; /* the surviving client that watches */

/* ---- helpers ------------------------------------------------------------------------------- */

static void kill_child(pid_t pid)
{
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = wait_child(pid, slack(10));
    if (!WIFSIGNALED(status))
        fprintf(stderr, "child %d ended by itself (exit %d) before it was killed\n", (int)pid,
                WEXITSTATUS(status));
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Read one byte from a child's pipe within secs; -1 on timeout or EOF (the child died). */
static int read_byte(int fd, double secs)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)(secs * 1000)) != 1)
        return -1;
    char b;
    return read(fd, &b, 1) == 1 ? (unsigned char)b : -1;
}

/* ---- a bystander: its own pin, and a get waiting on another thread ------------------------- */

struct waiter {
    shmstore_client *c;
    const char *name;
    int timeout_ms;
    pthread_t thread;
    int rc;
    shmstore_object obj;
};

static void *waiter_main(void *p)
{
    struct waiter *w = p;
    w->rc = shmstore_get(w->c, w->name, w->timeout_ms, &w->obj);
    return NULL;
}

static void waiter_start(struct waiter *w, shmstore_client *c, const char *name, int timeout_ms)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->name = name;
    w->timeout_ms = timeout_ms;
    w->rc = 1;
    assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    return daemon_client_setup(&D, "256M", &C);
}

static int teardown(void **state)
{
    (void)state;
    return daemon_client_teardown(&D, &C);
}

/* ---- killed while holding pins and unsealed objects ---------------------------------------- */

#define BIG_SIZE (100 * MiB)
static const struct {
    const char *name;
    size_t size;
} unsealed_objs[] = {
    {"u/big", BIG_SIZE},
    {"u/s1", 100},
    {"u/s2", 4096},
    {"u/s3", 70 * KiB},
};
#define N_UNSEALED (sizeof unsealed_objs / sizeof unsealed_objs[0])
/* Gets of the holder: two on p/b. */
static const char *const holder_gets[] = {"p/a", "p/b", "p/b", "p/c", "p/del1", "p/del2"};
#define N_GETS (sizeof holder_gets / sizeof holder_gets[0])

static void holder_child(int ready_fd)
{
    shmstore_client *k = NULL;
    CHILD_REQUIRE(shmstore_connect(D.socket, &k) == 0);
    shmstore_object o[N_GETS];
    for (size_t i = 0; i < N_GETS; i++)
        CHILD_REQUIRE(shmstore_get(k, holder_gets[i], 0, &o[i]) == 0);
    for (size_t i = 0; i < N_UNSEALED; i++) {
        void *w;
        uint64_t id;
        CHILD_REQUIRE(shmstore_create(k, unsealed_objs[i].name, unsealed_objs[i].size,
                                      i == 2 ? "meta" : NULL, i == 2 ? 4 : 0, 0, &w, &id) == 0);
        /* Fill part of the big one (all of the small ones): pages really in use. */
        size_t part = unsealed_objs[i].size;
        if (part > harness_scale(32 * MiB, 1 * MiB))
            part = harness_scale(32 * MiB, 1 * MiB);
        memset(w, 0xab, part);
    }
    CHILD_REQUIRE(write(ready_fd, "R", 1) == 1);
    for (;;)
        pause();
}

static void test_kill_holder_of_pins_and_unsealed(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "p/a", 1 * MiB, 1, 0), 0);
    assert_rc(put_pattern(C, "p/b", 64 * KiB, 2, 0), 0);
    assert_rc(put_pattern(C, "p/c", 100, 3, 0), 0);
    uint64_t used_kept = info_of(C).used_bytes;
    assert_rc(put_pattern(C, "p/del1", 1 * MiB, 4, 0), 0);
    assert_rc(put_pattern(C, "p/del2", 200, 5, 0), 0);

    /* The bystander: a pin on p/a, and a get waiting for "late" on another thread. */
    shmstore_client *by = connect_or_fail(D.socket);
    shmstore_object by_pin;
    assert_rc(shmstore_get(by, "p/a", 0, &by_pin), 0);
    struct waiter late;
    waiter_start(&late, by, "late", SHMSTORE_WAIT_FOREVER);
    assert_true(WAIT_FOR(info_of(C).waiters == 1, slack(5)));
    shmstore_store_info base = info_of(C);
    assert_int_equal(base.pins, 1);
    assert_int_equal(base.unsealed_objects, 0);
    assert_int_equal(base.clients, 2);

    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(p[0]);
        holder_child(p[1]);
    }
    close(p[1]);
    int ready = read_byte(p[0], slack(30));
    close(p[0]);
    if (ready != 'R') {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the holder child did not get ready");
    }

    /* What the holder holds is visible. */
    size_t unsealed_bytes = 0;
    for (size_t i = 0; i < N_UNSEALED; i++)
        unsealed_bytes += unsealed_objs[i].size;
    shmstore_store_info held = info_of(C);
    print_store_info("held", &held);
    assert_int_equal(held.unsealed_objects, base.unsealed_objects + N_UNSEALED);
    assert_int_equal(held.unsealed_bytes, base.unsealed_bytes + unsealed_bytes);
    assert_int_equal(held.pins, base.pins + N_GETS);
    assert_int_equal(held.clients, base.clients + 1);
    assert_true(held.used_bytes >= base.used_bytes + unsealed_bytes);
    assert_int_equal(pins_of(C, "p/a"), 2);
    assert_int_equal(pins_of(C, "p/b"), 2);
    assert_int_equal(pins_of(C, "p/c"), 1);
    /* Two of its objects are deleted while it pins them. */
    assert_rc(shmstore_delete(C, "p/del1"), 0);
    assert_rc(shmstore_delete(C, "p/del2"), 0);
    held = info_of(C);
    assert_int_equal(held.deleted_pinned, 2);
    assert_int_equal(held.objects, base.objects - 2);
    /* Its unsealed objects' names are taken. */
    void *w;
    uint64_t id;
    for (size_t i = 0; i < N_UNSEALED; i++)
        assert_rc(shmstore_create(C, unsealed_objs[i].name, 10, NULL, 0, 0, &w, &id),
                  SHMSTORE_EEXIST);
    assert_rc(put_pattern(C, "u/s1", 10, 1, 0), SHMSTORE_EEXIST);

    double t0 = now_s();
    kill_child(pid);
    /* Everything the holder held goes at once: pins, unsealed objects, and the deleted objects
     * only its pins kept alive. */
    shmstore_store_info after;
    bool clean = WAIT_FOR((after = info_of(C), after.pins == base.pins &&
                                                   after.unsealed_objects == 0 &&
                                                   after.unsealed_bytes == 0 &&
                                                   after.deleted_pinned == 0 &&
                                                   after.clients == base.clients &&
                                                   after.used_bytes == used_kept),
                          slack(5));
    fprintf(stderr, "cleanup after SIGKILL seen in %.3f s\n", now_s() - t0);
    if (!clean) {
        print_store_info("base", &base);
        print_store_info("after", &after);
        fprintf(stderr, "used_bytes expected %llu\n", (unsigned long long)used_kept);
    }
    assert_true(clean);
    assert_int_equal(after.objects, base.objects - 2);
    assert_int_equal(after.waiters, 1); /* the bystander still waits */
    assert_int_equal(pins_of(C, "p/a"), 1);
    assert_int_equal(pins_of(C, "p/b"), 0);
    assert_int_equal(pins_of(C, "p/c"), 0);

    /* The names are free again: the big one fits again too. */
    for (size_t i = 0; i < N_UNSEALED; i++) {
        assert_rc(shmstore_create(C, unsealed_objs[i].name, unsealed_objs[i].size, NULL, 0, 0, &w,
                                  &id),
                  0);
        assert_rc(shmstore_abort(C, id), 0);
    }
    assert_rc(put_pattern(C, "u/s1", 10, 1, 0), 0);
    assert_rc(shmstore_delete(C, "u/s1"), 0);

    /* The bystander noticed nothing: its bytes, its pin, its waiting get. */
    assert_true(has_pattern(by_pin.data, 1 * MiB, 1));
    assert_rc(put_pattern(C, "late", 5000, 9, 0), 0);
    pthread_join(late.thread, NULL);
    assert_rc(late.rc, 0);
    assert_int_equal(late.obj.size, 5000);
    assert_true(has_pattern(late.obj.data, 5000, 9));
    assert_rc(shmstore_release(by, &late.obj), 0);
    assert_rc(shmstore_release(by, &by_pin), 0);
    assert_int_equal(pins_of(by, "p/a"), 0);
    shmstore_close(by);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    shmstore_store_info end = info_of(C);
    assert_int_equal(end.pins, 0);
    assert_int_equal(end.waiters, 0);
}

/* ---- killed while a fork child of it lives ------------------------------------------------- */

/* The client forks a worker that never calls shmstore (as multiprocessing pools do), then is
 * killed. The worker still has the inherited connection socket open, but the client is dead: its
 * pins and unsealed objects must go at once, not when the worker exits. */
static void test_kill_client_with_live_fork_child(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "fc/a", 1000, 1, 0), 0);
    shmstore_store_info base = info_of(C);
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        shmstore_client *k = NULL;
        CHILD_REQUIRE(shmstore_connect(D.socket, &k) == 0);
        shmstore_object o;
        CHILD_REQUIRE(shmstore_get(k, "fc/a", 0, &o) == 0);
        void *w;
        uint64_t id;
        CHILD_REQUIRE(shmstore_create(k, "fc/u", 10 * MiB, NULL, 0, 0, &w, &id) == 0);
        pid_t worker = fork();
        CHILD_REQUIRE(worker >= 0);
        if (worker == 0) {
            char b;
            ssize_t n = read(hold[0], &b, 1); /* until the test says go (EOF) */
            (void)n;
            _exit(0);
        }
        close(hold[0]);
        CHILD_REQUIRE(write(ready[1], "R", 1) == 1);
        for (;;)
            pause();
    }
    close(ready[1]);
    close(hold[0]);
    int r = read_byte(ready[0], slack(30));
    close(ready[0]);
    if (r != 'R') {
        close(hold[1]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the client child did not get ready");
    }
    shmstore_store_info held = info_of(C);
    assert_int_equal(held.pins, base.pins + 1);
    assert_int_equal(held.unsealed_objects, 1);

    kill_child(pid);
    shmstore_store_info i;
    bool clean = WAIT_FOR((i = info_of(C), i.pins == base.pins && i.unsealed_objects == 0 &&
                                               i.unsealed_bytes == 0 &&
                                               i.clients == base.clients &&
                                               i.used_bytes == base.used_bytes),
                          slack(5));
    /* Let the orphaned worker go (EOF on its pipe) before judging; then wait for it to be gone
     * so that the store settles whatever the verdict. */
    close(hold[1]);
    if (!clean) {
        print_store_info("base", &base);
        print_store_info("5 s after the client was killed, its worker alive", &i);
    }
    assert_true(WAIT_FOR((i = info_of(C), i.pins == base.pins && i.unsealed_objects == 0 &&
                                              i.clients == base.clients),
                         slack(10)));
    assert_true(clean);
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "fc/u", 10, NULL, 0, 0, &w, &id), 0);
    assert_rc(shmstore_abort(C, id), 0);
}

/* ---- killed while waiting in a get --------------------------------------------------------- */

/* Connect, say so, then wait for "never" in a get; exit 0 only if the get brings the right bytes. */
static void waiting_child(int ready_fd, int timeout_ms)
{
    shmstore_client *k = NULL;
    CHILD_REQUIRE(shmstore_connect(D.socket, &k) == 0);
    CHILD_REQUIRE(write(ready_fd, "R", 1) == 1);
    shmstore_object o;
    int rc = shmstore_get(k, "never", timeout_ms, &o);
    if (rc != 0)
        fprintf(stderr, "waiting child: %s\n", shmstore_errname(rc));
    CHILD_REQUIRE(rc == 0);
    CHILD_REQUIRE(o.size == 3000 && has_pattern(o.data, o.size, 12));
    CHILD_REQUIRE(shmstore_release(k, &o) == 0);
    shmstore_close(k);
    _exit(0);
}

static pid_t start_waiting_child(int timeout_ms, uint64_t waiters_then)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(p[0]);
        waiting_child(p[1], timeout_ms);
    }
    close(p[1]);
    int ready = read_byte(p[0], slack(30));
    close(p[0]);
    assert_int_equal(ready, 'R');
    assert_true(WAIT_FOR(info_of(C).waiters == waiters_then, slack(5)));
    return pid;
}

static void test_kill_waiting_get(void **state)
{
    (void)state;
    /* Alone: killed in a get that waits for ever. */
    pid_t alone = start_waiting_child(SHMSTORE_WAIT_FOREVER, 1);
    uint64_t clients = info_of(C).clients;
    kill_child(alone);
    assert_true(WAIT_FOR(info_of(C).waiters == 0, slack(5)));
    assert_true(WAIT_FOR(info_of(C).clients == clients - 1, slack(5)));

    /* In a queue of waiters on one name: a bystander thread first, then A (for ever, killed),
     * B (for ever, lives), Z (with a timeout, killed). The dead leave the queue; the living
     * still get the object when it comes. */
    shmstore_client *by = connect_or_fail(D.socket);
    struct waiter bw;
    waiter_start(&bw, by, "never", SHMSTORE_WAIT_FOREVER);
    assert_true(WAIT_FOR(info_of(C).waiters == 1, slack(5)));
    pid_t a = start_waiting_child(SHMSTORE_WAIT_FOREVER, 2);
    pid_t b = start_waiting_child(SHMSTORE_WAIT_FOREVER, 3);
    pid_t z = start_waiting_child((int)(slack(60) * 1000), 4);
    kill_child(a);
    assert_true(WAIT_FOR(info_of(C).waiters == 3, slack(5)));
    kill_child(z);
    assert_true(WAIT_FOR(info_of(C).waiters == 2, slack(5)));
    assert_true(WAIT_FOR(info_of(C).clients == 3, slack(5))); /* C, by, B */

    /* A waiting get with a timeout of the watcher still times out properly. */
    shmstore_object o;
    assert_rc(shmstore_get(C, "never2", 100, &o), SHMSTORE_ETIMEDOUT);

    assert_rc(put_pattern(C, "never", 3000, 12, 0), 0);
    assert_child_exited_ok(b);
    pthread_join(bw.thread, NULL);
    assert_rc(bw.rc, 0);
    assert_true(has_pattern(bw.obj.data, bw.obj.size, 12));
    assert_rc(shmstore_release(by, &bw.obj), 0);
    shmstore_close(by);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.waiters, 0);
    assert_int_equal(i.pins, 0);
    assert_int_equal(i.objects, 1);
}

/* ---- killed at random moments in a busy loop ----------------------------------------------- */

/* Everything a client does, in random order, for ever; says 'R' once it is well under way. */
static void busy_child(int ready_fd, unsigned iter)
{
    shmstore_client *k = NULL;
    CHILD_REQUIRE(shmstore_connect(D.socket, &k) == 0);
    uint64_t rng = 0x1234567ull + iter * 7919u;
    static const size_t sizes[] = {0, 10, 1000, 64 * KiB, 64 * KiB + 1, 200 * KiB, 2 * MiB};
    enum { MAX_HELD = 16, MAX_LEFT_UNSEALED = 4 };
    shmstore_object held[MAX_HELD];
    int nheld = 0, left_unsealed = 0;
    void *buf = malloc(2 * MiB);
    CHILD_REQUIRE(buf);
    fill_pattern(buf, 2 * MiB, iter);
    for (unsigned i = 0;; i++) {
        if (i == 30)
            CHILD_REQUIRE(write(ready_fd, "R", 1) == 1);
        char name[64];
        snprintf(name, sizeof name, "loop/%u/%u", iter, (unsigned)(splitmix_next(&rng) % 40));
        int rc = 0;
        switch (splitmix_next(&rng) % 10) {
        case 0:
        case 1:
        case 2:
            rc = shmstore_put(k, name, buf, sizes[splitmix_next(&rng) % 7], NULL, 0,
                              splitmix_next(&rng) % 2 ? SHMSTORE_REPLACE : 0);
            break;
        case 3:
        case 9:
            if (nheld == MAX_HELD) {
                rc = shmstore_release(k, &held[0]);
                memmove(held, held + 1, sizeof held[0] * (MAX_HELD - 1));
                nheld--;
            }
            rc = shmstore_get(k, splitmix_next(&rng) % 4 ? name : "stable", 0, &held[nheld]);
            if (rc == 0)
                nheld++;
            break;
        case 4:
            if (nheld > 0) {
                int j = (int)(splitmix_next(&rng) % (uint64_t)nheld);
                rc = shmstore_release(k, &held[j]);
                held[j] = held[--nheld];
            }
            break;
        case 5: {
            void *w;
            uint64_t id;
            size_t size = (size_t)(splitmix_next(&rng) % (8 * MiB)) + 1;
            rc = shmstore_create(k, name, size, "m", 1, splitmix_next(&rng) % 2 ? SHMSTORE_REPLACE : 0,
                                 &w, &id);
            if (rc == 0) {
                memset(w, (int)i, size < 256 * KiB ? size : 256 * KiB);
                unsigned what = (unsigned)(splitmix_next(&rng) % 3);
                if (what == 2 && left_unsealed < MAX_LEFT_UNSEALED)
                    left_unsealed++; /* left unsealed until the end */
                else if (what == 1)
                    rc = shmstore_abort(k, id);
                else
                    rc = shmstore_seal(k, id);
            }
            break;
        }
        case 6:
            rc = shmstore_delete(k, name);
            break;
        case 7: {
            shmstore_object none;
            rc = shmstore_get(k, "loop/none", 20, &none);
            CHILD_REQUIRE(rc == SHMSTORE_ETIMEDOUT);
            break;
        }
        case 8: {
            shmstore_object_stat st;
            rc = shmstore_stat(k, name, &st);
            break;
        }
        }
        /* Refusals (taken, not found, full) are part of the game; a lost daemon is not. */
        CHILD_REQUIRE(rc != SHMSTORE_ECONN && rc != SHMSTORE_EPROTO && rc != SHMSTORE_EINVAL);
    }
}

struct delete_ctx {
    char (*names)[SHMSTORE_NAME_MAX + 1];
    size_t count, cap;
};

static int collect_name(const shmstore_object_stat *e, void *arg)
{
    struct delete_ctx *d = arg;
    if (d->count == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->names = realloc(d->names, d->cap * sizeof *d->names);
        if (!d->names)
            abort();
    }
    memcpy(d->names[d->count++], e->name, sizeof e->name);
    return 0;
}

static void test_kill_at_random_moments(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "stable", 512 * KiB, 77, 0), 0);
    shmstore_object stable;
    assert_rc(shmstore_get(C, "stable", 0, &stable), 0);
    shmstore_store_info base = info_of(C);
    unsigned rounds = (unsigned)harness_scale(20, 3);
    uint64_t rng = 0xfeedbeefull;
    double max_cleanup = 0;
    unsigned busy_rounds = 0; /* rounds where the child held something when it was killed */
    for (unsigned iter = 0; iter < rounds; iter++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork_child();
        if (pid == 0) {
            close(p[0]);
            busy_child(p[1], iter);
        }
        close(p[1]);
        int ready = read_byte(p[0], slack(30));
        close(p[0]);
        if (ready != 'R') {
            int status = wait_child(pid, slack(10));
            fail_msg("busy child %u died before it was killed (status 0x%x)", iter, status);
        }
        /* A random moment, a few ms to some tens of ms into its work. */
        useconds_t delay = (useconds_t)(splitmix_next(&rng) % (harness_under_valgrind() ? 300000 : 40000));
        usleep(delay);
        shmstore_store_info before = info_of(C);
        if (before.pins > base.pins || before.unsealed_objects > 0 || before.waiters > 0)
            busy_rounds++;
        double t0 = now_s();
        kill_child(pid);

        shmstore_store_info i;
        bool clean = WAIT_FOR((i = info_of(C), i.pins == base.pins && i.unsealed_objects == 0 &&
                                                   i.unsealed_bytes == 0 &&
                                                   i.deleted_pinned == 0 && i.waiters == 0 &&
                                                   i.clients == base.clients),
                              slack(5));
        double took = now_s() - t0;
        if (took > max_cleanup)
            max_cleanup = took;
        if (!clean) {
            print_store_info("base", &base);
            print_store_info("after kill", &i);
        }
        assert_true(clean);

        /* What it sealed stays (sealed objects outlive their writer); delete it all, and the
         * store is back to where it was. */
        struct delete_ctx d = {0};
        assert_rc(shmstore_list(C, "loop/*", collect_name, &d), 0);
        for (size_t k = 0; k < d.count; k++)
            assert_rc(shmstore_delete(C, d.names[k]), 0);
        free(d.names);
        i = info_of(C);
        if (i.used_bytes != base.used_bytes || i.objects != base.objects) {
            print_store_info("base", &base);
            print_store_info("after deleting its objects", &i);
        }
        assert_int_equal(i.used_bytes, base.used_bytes);
        assert_int_equal(i.objects, base.objects);
        assert_int_equal(i.deleted_pinned, 0);

        /* And the daemon still serves, with our pin and bytes intact. */
        assert_rc(shmstore_ping(C), 0);
        assert_int_equal(pins_of(C, "stable"), 1);
        assert_true(has_pattern(stable.data, stable.size, 77));
        assert_rc(put_pattern(C, "probe", 100 * KiB, iter, 0), 0);
        shmstore_object o;
        assert_rc(shmstore_get(C, "probe", 0, &o), 0);
        assert_true(has_pattern(o.data, o.size, iter));
        assert_rc(shmstore_release(C, &o), 0);
        assert_rc(shmstore_delete(C, "probe"), 0);
    }
    fprintf(stderr, "%u rounds, %u killed while holding pins/unsealed objects/waits; slowest "
                    "cleanup seen %.3f s\n", rounds, busy_rounds, max_cleanup);
    /* Not a vacuous test: the kills did hit a client in the middle of something. */
    assert_true(busy_rounds > 0);
    assert_rc(shmstore_release(C, &stable), 0);
    assert_int_equal(info_of(C).pins, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_holder_of_pins_and_unsealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_waiting_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_client_with_live_fork_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_at_random_moments, setup, teardown),
    };
    return cmocka_run_group_tests_name("integration.crash", tests, NULL, NULL);
}
