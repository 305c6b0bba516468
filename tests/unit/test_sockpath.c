/*
 * test_sockpath.c — the default socket rule (docs/architecture.md, "Configuration"), which daemon
 * and clients must agree on: $SHMSTORE_SOCKET first, then the system socket for root (or when it
 * exists), then $XDG_RUNTIME_DIR, then /tmp/shmstore-UID.sock; and a path that cannot fit a
 * sockaddr_un is refused rather than cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    if (geteuid() == 0 || (stat(SHM_SYSTEM_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode)))
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_env_wins, clear_env),
        cmocka_unit_test_setup(test_empty_env_is_ignored, clear_env),
        cmocka_unit_test_setup(test_xdg_or_tmp, clear_env),
        cmocka_unit_test_setup(test_too_long_is_refused, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
