/*
 * harness.h — start a real shmstored on a temporary socket for a test, and stop it.
 *
 * The daemon binary comes from $SHMSTORED (set by meson). $SHMSTORE_DAEMON_WRAPPER, when set
 * (the valgrind test setup sets it), is a space-separated command put in front of it, so the
 * daemon itself runs under valgrind too. harness_stop sends SIGTERM and returns the daemon's exit
 * status: a test asserts it is 0, which catches crashes, valgrind errors and leaks in the daemon.
 */
#ifndef SHMSTORE_TEST_HARNESS_H
#define SHMSTORE_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct test_daemon {
    pid_t pid;
    char dir[64];       /* private temporary directory */
    char socket[96];    /* dir/shmstore.sock; fits a sockaddr_un */
    char log[96];       /* dir/shmstored.log: the daemon's stderr */
    char memory[32];    /* the -m argument, kept for harness_restart */
};

/* Start shmstored with -s <socket> -m <memory> (e.g. "64M"; "" for no -m, so that a config
 * file's memory counts) and any extra arguments (NULL-terminated list), and wait until its
 * socket accepts connections. 0, or -1 (with the log
 * printed to stderr) when it exits or is not ready within the startup limit. */
int harness_start(struct test_daemon *d, const char *memory, ...);
/* SIGTERM, wait, remove the directory. Returns the exit status (0 is clean), 128+signal when
 * killed, or -1 when it did not stop in time (it is then SIGKILLed). Prints the log if not 0. */
int harness_stop(struct test_daemon *d);
/* Stop the daemon cleanly (as harness_stop, but keeping the directory) and start a new one on
 * the same socket with the same -m. 0, or -1 when the stop was not clean or the start failed. */
int harness_restart(struct test_daemon *d);
/* SIGKILL the daemon and reap it, keeping its directory: a crash, for tests of what survives. */
void harness_kill(struct test_daemon *d);
/* After harness_kill: start a new daemon on the same socket with the same -m and the given extra
 * arguments (NULL-terminated list). 0, or -1 as harness_start. */
int harness_respawn(struct test_daemon *d, ...);
/* Path of a binary from the environment variable `var` ("SHMSTORED", "STORECTL"). */
const char *harness_binary(const char *var);
/* $SHMSTORE_TEST_SCALE as a factor (default 1.0; the valgrind setup makes it smaller), applied to
 * n and never below `min`. */
size_t harness_scale(size_t n, size_t min);
/* Whether tests run under valgrind (SHMSTORE_DAEMON_WRAPPER mentions it). */
int harness_under_valgrind(void);
/* Print the daemon's log to stderr (for failures). */
void harness_dump_log(const struct test_daemon *d);

#endif
