/*
 * testutil.c — helpers shared by the integration tests (see testutil.h).
 *
 * Everything here was once copied into each test that needed it; the copies differed only in
 * details such as the polling interval, and one version of each now serves them all.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* ---- time ---------------------------------------------------------------------------------- */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double slack(double seconds)
{
    return harness_under_valgrind() ? seconds * 6 : seconds;
}

/* ---- deterministic content ----------------------------------------------------------------- */

void fill_pattern(void *buf, size_t n, uint64_t seed)
{
    uint8_t *p = buf;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
    for (; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

bool has_pattern(const void *p, size_t n, uint64_t seed)
{
    void *want = malloc(n ? n : 1);
    if (!want)
        return false;
    fill_pattern(want, n, seed);
    bool same = n == 0 || memcmp(p, want, n) == 0;
    free(want);
    return same;
}

int put_pattern(shmstore_client *c, const char *name, size_t size, uint64_t seed, unsigned flags)
{
    void *buf = malloc(size ? size : 1);
    if (!buf)
        return SHMSTORE_ENOMEM;
    fill_pattern(buf, size, seed);
    int rc = shmstore_put(c, name, buf, size, NULL, 0, flags);
    free(buf);
    return rc;
}

uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

uint64_t splitmix_next(uint64_t *state)
{
    *state += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(*state);
}

uint64_t splitmix_below(uint64_t *state, uint64_t n)
{
    return n ? splitmix_next(state) % n : 0;
}

/* ---- libshmstore calls that must succeed --------------------------------------------------- */

shmstore_client *connect_or_fail(const char *path)
{
    shmstore_client *c = NULL;
    int rc = shmstore_connect(path, &c);
    if (rc)
        fprintf(stderr, "connect %s: %s: %s\n", path ? path : "(default)", shmstore_errname(rc),
                shmstore_errmsg(NULL));
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

shmstore_store_info info_of(shmstore_client *c)
{
    shmstore_store_info i;
    memset(&i, 0xa5, sizeof i);
    int rc = shmstore_info(c, &i);
    if (rc)
        fprintf(stderr, "info: %s: %s\n", shmstore_errname(rc), shmstore_errmsg(c));
    assert_int_equal(rc, 0);
    return i;
}

shmstore_object_stat stat_of(shmstore_client *c, const char *name)
{
    shmstore_object_stat st;
    int rc = shmstore_stat(c, name, &st);
    if (rc)
        fprintf(stderr, "stat %s: %s: %s\n", name, shmstore_errname(rc), shmstore_errmsg(c));
    assert_int_equal(rc, 0);
    return st;
}

uint64_t pins_of(shmstore_client *c, const char *name)
{
    return stat_of(c, name).pins;
}

/* ---- forked children ----------------------------------------------------------------------- */

pid_t fork_child(void)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
            signal(sigs[k], SIG_DFL);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
    }
    return pid;
}

int wait_child(pid_t pid, double secs)
{
    double deadline = now_s() + secs;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        assert_int_equal(r, 0);
        if (now_s() > deadline) {
            fprintf(stderr, "child %d did not finish in %.0f s; killing it\n", (int)pid, secs);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("child timed out");
        }
        usleep(2000);
    }
}

void assert_child_exited_ok(pid_t pid)
{
    int status = wait_child(pid, slack(30));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child %d: exited=%d code=%d signal=%d\n", (int)pid, WIFEXITED(status),
                WEXITSTATUS(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- another process, seen through /proc --------------------------------------------------- */

long proc_status_kib(pid_t pid, const char *key)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long value = -1;
    size_t key_len = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
            if (sscanf(line + key_len + 1, "%ld", &value) != 1)
                value = -1;
            break;
        }
    }
    fclose(f);
    return value;
}

int proc_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

int proc_maps_count(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

void print_store_info(const char *what, const shmstore_store_info *i)
{
    fprintf(stderr,
            "%s: used %llu, objects %llu, unsealed %llu (%llu bytes), deleted_pinned %llu, "
            "pins %llu, clients %llu, waiters %llu\n",
            what, (unsigned long long)i->used_bytes, (unsigned long long)i->objects,
            (unsigned long long)i->unsealed_objects, (unsigned long long)i->unsealed_bytes,
            (unsigned long long)i->deleted_pinned, (unsigned long long)i->pins,
            (unsigned long long)i->clients, (unsigned long long)i->waiters);
}

/* ---- sockets and daemons ------------------------------------------------------------------- */

int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int daemon_client_setup(struct test_daemon *d, const char *memory, shmstore_client **c)
{
    if (harness_start(d, memory, NULL) != 0)
        return -1;
    *c = connect_or_fail(d->socket);
    return 0;
}

int daemon_client_teardown(struct test_daemon *d, shmstore_client **c)
{
    shmstore_close(*c);
    *c = NULL;
    assert_int_equal(harness_stop(d), 0);
    return 0;
}

int stop_daemon_fixture(struct test_daemon *d)
{
    int status = harness_stop(d);
    if (status != 0)
        fprintf(stderr, "shmstored did not exit cleanly: status %d\n", status);
    return status == 0 ? 0 : -1;
}
