/*
 * testutil.h — helpers shared by the integration tests: clocks and time limits, polling for a
 * condition, deterministic byte patterns, libshmstore calls that must succeed, forked children
 * fit to run test code, a look at another process's memory and descriptors through /proc, and
 * a plain AF_UNIX connect for tests that speak the protocol by hand.
 *
 * The helpers that check something do it with cmocka, so they belong to the test process only;
 * a forked child checks with CHILD_REQUIRE instead. Time limits for things that must merely
 * happen "soon" go through slack(), which makes them far larger under valgrind.
 */
#ifndef SHMSTORE_TEST_TESTUTIL_H
#define SHMSTORE_TEST_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---- time ---------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* A time limit for something that must merely happen "soon": valgrind slows everything down a
 * lot. */
double slack(double seconds);

/* Poll `cond` until it holds or `secs` pass; the value is whether it held. */
#define WAIT_FOR(cond, secs)                                                                      \
    ({                                                                                            \
        double deadline_ = now_s() + (secs);                                                      \
        int ok_;                                                                                  \
        while (!(ok_ = !!(cond)) && now_s() < deadline_)                                          \
            usleep(2000);                                                                         \
        ok_;                                                                                      \
    })

/* ---- deterministic content ----------------------------------------------------------------- */

/* Deterministic bytes that differ per seed, so a mixed-up object shows. */
void fill_pattern(void *buf, size_t n, uint64_t seed);
/* Whether p[0..n) holds the pattern of seed. */
bool has_pattern(const void *p, size_t n, uint64_t seed);
/* shmstore_put of `size` bytes of the pattern of seed; the status (SHMSTORE_ENOMEM when the
 * buffer cannot be allocated). Uses no cmocka, so a forked child may call it. */
int put_pattern(shmstore_client *c, const char *name, size_t size, uint64_t seed, unsigned flags);
/* The splitmix64 finaliser (after adding the golden-ratio increment). */
uint64_t mix64(uint64_t x);
/* A splitmix64 stream: the next number of *state, and one below n (0 when n is 0). */
uint64_t splitmix_next(uint64_t *state);
uint64_t splitmix_below(uint64_t *state, uint64_t n);

/* ---- libshmstore calls that must succeed --------------------------------------------------- */

/* Connect to `path` (NULL: the default socket); fails the test otherwise. */
shmstore_client *connect_or_fail(const char *path);
shmstore_store_info info_of(shmstore_client *c);
shmstore_object_stat stat_of(shmstore_client *c, const char *name);
uint64_t pins_of(shmstore_client *c, const char *name);

/* Like assert_int_equal, but prints both status codes by name. */
#define assert_rc(expr, want)                                                                     \
    do {                                                                                          \
        int rc_ = (expr);                                                                         \
        if (rc_ != (want))                                                                        \
            fprintf(stderr, "%s:%d: %s returned %s (%d), want %s (%d)\n", __FILE__, __LINE__,     \
                    #expr, shmstore_errname(rc_), rc_, shmstore_errname(want), (int)(want));      \
        assert_int_equal(rc_, (want));                                                            \
    } while (0)

/* ---- forked children ----------------------------------------------------------------------- */

/* In a forked child: no cmocka (it would longjmp into the parent's runner state). */
#define CHILD_REQUIRE(cond)                                                                       \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "child %d: %s:%d: %s failed\n", (int)getpid(), __FILE__, __LINE__,    \
                    #cond);                                                                       \
            _exit(3);                                                                             \
        }                                                                                         \
    } while (0)

/* fork(), with the child made fit to run test code: cmocka traps SIGSEGV and friends to report
 * failures by longjmp into its runner, which a child must never do. The child dumps no core. */
pid_t fork_child(void);
/* Wait for a child, killing it (and failing the test) if it takes longer than secs; returns the
 * raw wait status. */
int wait_child(pid_t pid, double secs);
/* The child must exit with status 0 within slack(30) seconds. */
void assert_child_exited_ok(pid_t pid);

/* ---- another process, seen through /proc --------------------------------------------------- */

/* A "Key:   N kB" field of /proc/PID/status (e.g. "RssAnon"), in KiB; -1 when absent. */
long proc_status_kib(pid_t pid, const char *key);
/* Number of file descriptors process pid has open; -1 when /proc does not tell. */
int proc_fd_count(pid_t pid);
/* Number of lines of /proc/PID/maps that contain needle; -1 when unreadable. */
int proc_maps_count(pid_t pid, const char *needle);
/* The store's counters on one line of stderr, after `what` (for failure reports). */
void print_store_info(const char *what, const shmstore_store_info *i);

/* ---- sockets and daemons ------------------------------------------------------------------- */

/* A blocking AF_UNIX stream socket (close-on-exec) connected to path; -1 with errno set. */
int unix_connect(const char *path);
/* The fixture of a test with its own daemon (of `memory`, e.g. "64M") and one handle connected
 * to it: start and connect (-1 when the daemon does not start), and close and stop (the daemon
 * must exit with status 0). */
int daemon_client_setup(struct test_daemon *d, const char *memory, shmstore_client **c);
int daemon_client_teardown(struct test_daemon *d, shmstore_client **c);
/* harness_stop as a cmocka fixture's result: 0 when the daemon exited cleanly, else -1 (with
 * the status printed). */
int stop_daemon_fixture(struct test_daemon *d);

#endif
