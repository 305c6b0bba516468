/*
 * test_interrupt.c — interruptible waiting gets (shmstore_set_interrupt) against a real
 * shmstored.
 *
 * Each test gets a fresh daemon and one handle whose interrupt check is a small scripted
 * function: it counts its calls and, on the call the test chose, asks to stop (and may first do
 * something on a second handle, such as sealing the very object the get waits for, so that the
 * object's reply crosses the cancel). The tests then read the daemon's counters: an interrupted
 * get leaves no waiter, no pin and no timer behind, is one EINTR in the error counters and no
 * ETIMEDOUT, costs two requests however many slices it waited, and leaves the handle in step.
 * Nothing asserts a duration except generously (slack); the slices are counted, not timed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

static struct test_daemon D;
static shmstore_client *C; /* the test's handle, the one whose gets are interrupted */

static int setup(void **state)
{
    (void)state;
    return daemon_client_setup(&D, "64M", &C);
}

static int teardown(void **state)
{
    (void)state;
    return daemon_client_teardown(&D, &C);
}

/* The scripted check: stop on call number stop_at (0: never); before stopping, put
 * seal_name through `other` when it is set (its status in put_rc: no cmocka in a callback). */
struct script {
    int calls;
    int stop_at;
    shmstore_client *other;
    const char *seal_name;
    int put_rc;
    volatile sig_atomic_t *flag;   /* when set: stop once *flag is nonzero instead */
};

static int scripted_check(void *arg)
{
    struct script *s = arg;
    s->calls++;
    if (s->flag)
        return *s->flag != 0;
    if (s->calls != s->stop_at)
        return 0;
    if (s->other)
        s->put_rc = shmstore_put(s->other, s->seal_name, "crossed", 7, NULL, 0, 0);
    return 1;
}

/* The counters an interrupt may move, to compare before and after. */
struct counters {
    uint64_t requests, eintr, etimedout, waiters, pins;
};

static struct counters counters_of(shmstore_client *c)
{
    shmstore_store_info i = info_of(c);
    return (struct counters){i.requests, i.errors[-SHMSTORE_EINTR], i.errors[-SHMSTORE_ETIMEDOUT],
                             i.waiters, i.pins};
}

static void test_check_stops_the_wait(void **state)
{
    (void)state;
    static const struct {
        int timeout_ms, stop_at;
    } cases[] = {{SHMSTORE_WAIT_FOREVER, 4}, {60000, 4}, {1000, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct script s = {.stop_at = cases[k].stop_at};
        assert_rc(shmstore_set_interrupt(C, scripted_check, &s), 0);
        struct counters before = counters_of(C);
        shmstore_object o;
        double t0 = now_s();
        assert_rc(shmstore_get(C, "intr/never", cases[k].timeout_ms, &o), SHMSTORE_EINTR);
        double waited = now_s() - t0;
        fprintf(stderr, "timeout %d ms: interrupted on check call %d after %.3f s\n",
                cases[k].timeout_ms, s.calls, waited);
        /* Each slice that went by asked once; the last one asked to stop. */
        assert_int_equal(s.calls, cases[k].stop_at);
        assert_true(waited <= slack(5));
        assert_non_null(strstr(shmstore_errmsg(C), "'intr/never' was interrupted"));

        /* A 1 s wait interrupted at about 0.1 s: its timer must be gone with it, or it would
         * fire now (an ETIMEDOUT, and a reply out of turn). */
        if (cases[k].timeout_ms == 1000)
            usleep(1200 * 1000);
        struct counters after = counters_of(C);
        assert_int_equal(after.waiters, 0);
        assert_int_equal(after.pins, 0);
        assert_int_equal(after.eintr - before.eintr, 1);
        assert_int_equal(after.etimedout, before.etimedout);
        /* GET, GET_CANCEL and this INFO: the slices were the library's own. */
        assert_int_equal(after.requests - before.requests, 3);

        /* The handle is in step: the next replies are the right ones. */
        assert_rc(put_pattern(C, "intr/after", 100, k, SHMSTORE_REPLACE), 0);
        assert_rc(shmstore_get(C, "intr/after", 1000, &o), 0);
        assert_true(has_pattern(o.data, 100, k));
        assert_rc(shmstore_release(C, &o), 0);
        assert_int_equal(s.calls, cases[k].stop_at);   /* a get that finds its object asks
                                                          nothing */
    }
}

/* Regression (crossed_reply_kept_a_pin): the object is sealed (from the check itself, through a
 * second handle) just before the check asks to stop, so the daemon has already answered the get
 * with the object, pinned, when the cancel arrives. The library must give that pin back. */
static void test_crossed_reply_leaves_no_pin(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    struct script s = {.stop_at = 2, .other = other, .seal_name = "intr/crossed"};
    assert_rc(shmstore_set_interrupt(C, scripted_check, &s), 0);
    struct counters before = counters_of(C);
    shmstore_object o;
    assert_rc(shmstore_get(C, "intr/crossed", SHMSTORE_WAIT_FOREVER, &o), SHMSTORE_EINTR);
    assert_rc(s.put_rc, 0);
    assert_int_equal(s.calls, 2);
    /* This handle's next request comes after its release (docs/architecture.md, "release
     * ring"), so its stat sees the pins as they are. */
    assert_int_equal(pins_of(C, "intr/crossed"), 0);
    struct counters after = counters_of(C);
    assert_int_equal(after.pins, 0);
    assert_int_equal(after.waiters, 0);
    assert_int_equal(after.eintr, before.eintr);   /* the get was answered, not cancelled */

    /* Again with a pin of another handle on the object: that one stays, alone. */
    shmstore_object theirs;
    assert_rc(shmstore_get(other, "intr/crossed", 0, &theirs), 0);
    assert_rc(shmstore_delete(other, "intr/crossed"), 0);
    s = (struct script){.stop_at = 3, .other = other, .seal_name = "intr/crossed"};
    assert_rc(shmstore_get(C, "intr/crossed", 60000, &o), SHMSTORE_EINTR);
    assert_rc(s.put_rc, 0);
    assert_int_equal(pins_of(C, "intr/crossed"), 0);   /* the new one */
    assert_int_equal(info_of(C).pins, 1);              /* the old, deleted one, still theirs */
    assert_int_equal(info_of(C).deleted_pinned, 1);
    assert_rc(shmstore_release(other, &theirs), 0);
    assert_int_equal(info_of(other).pins, 0);

    /* And the handle gets what it asks for afterwards. */
    assert_rc(shmstore_get(C, "intr/crossed", 0, &o), 0);
    assert_int_equal(o.size, 7);
    assert_int_equal(memcmp(o.data, "crossed", 7), 0);
    assert_rc(shmstore_release(C, &o), 0);
    shmstore_close(other);
}

static void test_checks_only_while_a_get_waits(void **state)
{
    (void)state;
    struct script s = {.stop_at = 1};
    assert_rc(shmstore_set_interrupt(C, scripted_check, &s), 0);
    shmstore_object o;
    assert_rc(shmstore_get(C, "intr/none", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(put_pattern(C, "intr/here", 10, 1, 0), 0);
    assert_rc(shmstore_get(C, "intr/here", SHMSTORE_WAIT_FOREVER, &o), 0);
    assert_rc(shmstore_release(C, &o), 0);
    assert_rc(shmstore_ping(C), 0);
    assert_int_equal(s.calls, 0);

    /* NULL takes the check away: the wait runs out as asked. */
    assert_rc(shmstore_set_interrupt(C, NULL, NULL), 0);
    assert_rc(shmstore_get(C, "intr/none", 200, &o), SHMSTORE_ETIMEDOUT);
    assert_int_equal(s.calls, 0);
    assert_rc(shmstore_set_interrupt(NULL, scripted_check, &s), SHMSTORE_EINVAL);
}

/* ---- a real signal ------------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;

static void on_signal(int signum)
{
    (void)signum;
    got_signal = 1;
}

struct signal_later {
    pthread_t target;
    pthread_t thread;
};

static void *signal_after_a_while(void *arg)
{
    struct signal_later *later = arg;
    usleep(120 * 1000);
    pthread_kill(later->target, SIGUSR1);
    return NULL;
}

/* A program's signal handler only sets a flag; the check reads it. The handler is installed
 * without SA_RESTART, as Python's are, so the signal also cuts the slice short (EINTR). */
static void test_signal_handler_flag(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = on_signal}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    got_signal = 0;
    struct script s = {.flag = &got_signal};
    assert_rc(shmstore_set_interrupt(C, scripted_check, &s), 0);
    struct signal_later later = {.target = pthread_self()};
    assert_int_equal(pthread_create(&later.thread, NULL, signal_after_a_while, &later), 0);
    double t0 = now_s();
    shmstore_object o;
    int rc = shmstore_get(C, "intr/signalled", SHMSTORE_WAIT_FOREVER, &o);
    double waited = now_s() - t0;
    pthread_join(later.thread, NULL);
    sigaction(SIGUSR1, &old, NULL);
    fprintf(stderr, "signal at 0.12 s: get returned after %.3f s, %d checks\n", waited, s.calls);
    assert_rc(rc, SHMSTORE_EINTR);
    assert_true(waited <= slack(5));
    assert_int_equal(info_of(C).waiters, 0);
    assert_rc(shmstore_ping(C), 0);
}

/* ---- a fork inside the check ---------------------------------------------------------------- */

/* A check may run arbitrary code, fork included (a Python signal handler may call os.fork()).
 * The child inherits a get in progress on a connection that stays the parent's: the library
 * resets the handle in the child, so the child's get must end (ECONN) instead of polling the
 * closed connection slice after slice, forever. */
struct forking {
    pid_t parent, child;
    int calls;
};

static int forking_check(void *arg)
{
    struct forking *f = arg;
    f->calls++;
    if (getpid() != f->parent) {
        /* Still asked 40 slices after the fork: the child's get would wait forever. */
        CHILD_REQUIRE(f->calls < 40);
        return 0;
    }
    if (f->calls == 2) {
        f->child = fork_child();
        if (f->child == 0) {
            f->calls = 0;
            return 0;   /* the child does not ask to stop: its get must end by itself */
        }
    }
    return f->calls >= 2;
}

static void test_fork_in_the_check(void **state)
{
    (void)state;
    struct forking f = {.parent = getpid()};
    assert_rc(shmstore_set_interrupt(C, forking_check, &f), 0);
    shmstore_object o;
    int rc = shmstore_get(C, "intr/forked", SHMSTORE_WAIT_FOREVER, &o);
    if (getpid() != f.parent) {
        if (rc != SHMSTORE_ECONN)
            fprintf(stderr, "child: get returned %s: %s\n", shmstore_errname(rc),
                    shmstore_errmsg(C));
        CHILD_REQUIRE(rc == SHMSTORE_ECONN);
        /* The child's handle then works on a connection of its own. */
        CHILD_REQUIRE(put_pattern(C, "intr/forked-child", 10, 7, 0) == 0);
        _exit(0);
    }
    assert_rc(rc, SHMSTORE_EINTR);
    assert_true(f.child > 0);
    assert_child_exited_ok(f.child);
    assert_int_equal(stat_of(C, "intr/forked-child").size, 10);
    assert_int_equal(info_of(C).waiters, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_check_stops_the_wait),
        T(test_crossed_reply_leaves_no_pin),
        T(test_checks_only_while_a_get_waits),
        T(test_signal_handler_flag),
        T(test_fork_in_the_check),
#undef T
    };
    return cmocka_run_group_tests_name("integration.interrupt", tests, NULL, NULL);
}
