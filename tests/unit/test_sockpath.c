/*
 * test_sockpath.c — the default socket rule (docs/architecture.md, "Configuration"), which daemon
 * and clients must agree on: $SHMSTORE_SOCKET first, then the system socket for root, or for
 * another user when it exists and they may connect to it, then $XDG_RUNTIME_DIR, then
 * /tmp/shmstore-UID.sock; and a path that cannot fit a sockaddr_un is refused rather than cut.
 * The system socket is put in a temporary directory through shm_default_socket_path_with, and
 * the rule is asked as an unprivileged user: in a child that drops to nobody when the test runs
 * as root, or as the test's own user otherwise (with the socket's mode taking its access away).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockpath.h"

static int clear_env(void **state)
{
    (void)state;
    unsetenv("SHMSTORE_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    return 0;
}

/* What the rule gives when neither variable decides. */
static const char *fallback(char *buf, size_t len, const char *xdg)
{
    struct stat st;
    if (geteuid() == 0 || (stat(SHM_SYSTEM_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode) &&
                           access(SHM_SYSTEM_SOCKET, W_OK) == 0))
        snprintf(buf, len, "%s", SHM_SYSTEM_SOCKET);
    else if (xdg)
        snprintf(buf, len, "%s/shmstore.sock", xdg);
    else
        snprintf(buf, len, "/tmp/shmstore-%u.sock", (unsigned)getuid());
    return buf;
}

static void test_env_wins(void **state)
{
    (void)state;
    char path[200];
    setenv("SHMSTORE_SOCKET", "/some/where.sock", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    assert_int_equal(shm_default_socket_path(path, sizeof path), 0);
    assert_string_equal(path, "/some/where.sock");
}

static void test_empty_env_is_ignored(void **state)
{
    (void)state;
    char path[200], want[200];
    setenv("SHMSTORE_SOCKET", "", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    assert_int_equal(shm_default_socket_path(path, sizeof path), 0);
    assert_string_equal(path, fallback(want, sizeof want, "/run/user/4242"));
}

static void test_xdg_or_tmp(void **state)
{
    (void)state;
    char path[200], want[200];
    assert_int_equal(shm_default_socket_path(path, sizeof path), 0);
    assert_string_equal(path, fallback(want, sizeof want, NULL));
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    assert_int_equal(shm_default_socket_path(path, sizeof path), 0);
    assert_string_equal(path, fallback(want, sizeof want, "/run/user/4242"));
}

static void test_too_long_is_refused(void **state)
{
    (void)state;
    char path[300], longer[200];
    memset(longer, 'a', sizeof longer - 1);
    longer[0] = '/';
    longer[sizeof longer - 1] = '\0';
    setenv("SHMSTORE_SOCKET", longer, 1);
    assert_int_equal(shm_default_socket_path(path, sizeof path), -1);   /* > sun_path */
    setenv("SHMSTORE_SOCKET", "/short.sock", 1);
    assert_int_equal(shm_default_socket_path(path, 5), -1);             /* > buffer */
    assert_int_equal(shm_default_socket_path(path, sizeof path), 0);
}

/* ---- the system socket, as an unprivileged user --------------------------------------------- */

#define NOBODY 65534

struct fake_system {
    char dir[64];
    char socket[96];
};

/* A listening-free socket file at dir/system.sock, as the system daemon's would be. */
static void fake_system_make(struct fake_system *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/shmstore-sockpath-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(chmod(f->dir, 0755), 0);
    snprintf(f->socket, sizeof f->socket, "%s/system.sock", f->dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", f->socket);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    close(fd);
}

static void fake_system_remove(struct fake_system *f)
{
    unlink(f->socket);
    rmdir(f->dir);
}

/* The rule's answer for an unprivileged user: nobody (in a child) when the test runs as root,
 * the test's own user otherwise. `mode` is the socket's mode while the rule runs. */
static const char *rule_as_user(const struct fake_system *f, mode_t mode, char *out, size_t len)
{
    assert_int_equal(chmod(f->socket, mode), 0);
    if (geteuid() != 0) {
        assert_int_equal(shm_default_socket_path_with(f->socket, out, len), 0);
        return out;
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char path[200] = "";
        int ok = setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 &&
                 shm_default_socket_path_with(f->socket, path, sizeof path) == 0;
        ssize_t n = write(fds[1], ok ? path : "(failed)", strlen(ok ? path : "(failed)"));
        _exit(n > 0 ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], out, len - 1);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    out[n] = '\0';
    return out;
}

/* The per-user socket of the user rule_as_user runs as (XDG_RUNTIME_DIR is unset). */
static const char *user_socket(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/shmstore-%u.sock", geteuid() == 0 ? NOBODY : (unsigned)getuid());
    return buf;
}

/* Regression (nonroot_system_socket_lock_error): a user who may not connect to the system
 * socket used to get it as the default anyway, and a daemon of their own then failed on its lock
 * file with no hint. Now the rule gives them their per-user socket. */
static void test_unusable_system_socket_falls_back_to_user_socket(void **state)
{
    (void)state;
    struct fake_system f;
    fake_system_make(&f);
    char got[200], want[200];
    /* As root: the system socket has mode 0600 and belongs to root. Otherwise: mode 0. */
    assert_string_equal(rule_as_user(&f, geteuid() == 0 ? 0600 : 0, got, sizeof got),
                        user_socket(want, sizeof want));
    fake_system_remove(&f);
}

static void test_usable_system_socket_is_used(void **state)
{
    (void)state;
    struct fake_system f;
    fake_system_make(&f);
    char got[200];
    assert_string_equal(rule_as_user(&f, geteuid() == 0 ? 0666 : 0600, got, sizeof got),
                        f.socket);
    fake_system_remove(&f);
}

static void test_missing_or_not_a_socket(void **state)
{
    (void)state;
    struct fake_system f;
    fake_system_make(&f);
    char got[200], want[200];
    /* A plain file where the socket should be is no daemon's. */
    unlink(f.socket);
    FILE *plain = fopen(f.socket, "w");
    assert_non_null(plain);
    fclose(plain);
    assert_string_equal(rule_as_user(&f, 0666, got, sizeof got), user_socket(want, sizeof want));
    unlink(f.socket);
    /* No system socket at all. */
    if (geteuid() != 0) {
        assert_int_equal(shm_default_socket_path_with(f.socket, got, sizeof got), 0);
        assert_string_equal(got, user_socket(want, sizeof want));
    }
    /* Root is the system daemon's user: it always gets the system socket. */
    if (geteuid() == 0) {
        assert_int_equal(shm_default_socket_path_with(f.socket, got, sizeof got), 0);
        assert_string_equal(got, f.socket);
    }
    rmdir(f.dir);
}

static void test_user_socket_path(void **state)
{
    (void)state;
    char path[200], want[200];
    assert_int_equal(shm_user_socket_path(path, sizeof path), 0);
    snprintf(want, sizeof want, "/tmp/shmstore-%u.sock", (unsigned)getuid());
    assert_string_equal(path, want);
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    assert_int_equal(shm_user_socket_path(path, sizeof path), 0);
    assert_string_equal(path, "/run/user/4242/shmstore.sock");
    /* $SHMSTORE_SOCKET does not move the per-user socket. */
    setenv("SHMSTORE_SOCKET", "/some/where.sock", 1);
    assert_int_equal(shm_user_socket_path(path, sizeof path), 0);
    assert_string_equal(path, "/run/user/4242/shmstore.sock");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_env_wins, clear_env),
        cmocka_unit_test_setup(test_empty_env_is_ignored, clear_env),
        cmocka_unit_test_setup(test_xdg_or_tmp, clear_env),
        cmocka_unit_test_setup(test_too_long_is_refused, clear_env),
        cmocka_unit_test_setup(test_unusable_system_socket_falls_back_to_user_socket, clear_env),
        cmocka_unit_test_setup(test_usable_system_socket_is_used, clear_env),
        cmocka_unit_test_setup(test_missing_or_not_a_socket, clear_env),
        cmocka_unit_test_setup(test_user_socket_path, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
