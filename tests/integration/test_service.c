/*
 * test_service.c — shmstored under a service manager: the sd_notify datagrams it sends to
 * $NOTIFY_SOCKET (READY=1 with a STATUS= line once its socket serves, STOPPING=1 on SIGTERM),
 * received here on a datagram socket of the test's own, and silence when NOTIFY_SOCKET is unset.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

/* A datagram socket at a fresh path; the path goes to *path. */
static int notify_listener(char *path, size_t len)
{
    snprintf(path, len, "/tmp/shmstore-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

/* The next datagram within `secs`, NUL-terminated in buf; 0 when none came. */
static int next_message(int fd, char *buf, size_t len, double secs)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(secs * 1000)) <= 0)
        return 0;
    ssize_t n = recv(fd, buf, len - 1, 0);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

static void test_ready_status_stopping(void **state)
{
    (void)state;
    char path[108], msg[1024];
    int fd = notify_listener(path, sizeof path);
    setenv("NOTIFY_SOCKET", path, 1);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", NULL), 0);
    unsetenv("NOTIFY_SOCKET");

    assert_true(next_message(fd, msg, sizeof msg, slack(10)));
    assert_non_null(strstr(msg, "READY=1"));
    assert_non_null(strstr(msg, "STATUS="));
    assert_non_null(strstr(msg, "objects"));
    assert_non_null(strstr(msg, "16.0 MiB"));
    char mainpid[32];
    snprintf(mainpid, sizeof mainpid, "MAINPID=%d", (int)d.pid);
    if (!harness_under_valgrind())   /* under valgrind the daemon's pid is valgrind's own */
        assert_non_null(strstr(msg, mainpid));

    /* The daemon serves while systemd listens. */
    shmstore_client *c = connect_or_fail(d.socket);
    assert_int_equal(shmstore_put(c, "x", "1", 1, NULL, 0, 0), 0);
    shmstore_close(c);

    assert_int_equal(harness_stop(&d), 0);
    int stopping = 0;
    while (!stopping && next_message(fd, msg, sizeof msg, slack(10)))
        stopping = strstr(msg, "STOPPING=1") != NULL;
    assert_true(stopping);
    close(fd);
    unlink(path);
}

static void test_silent_without_notify_socket(void **state)
{
    (void)state;
    char path[108], msg[1024];
    int fd = notify_listener(path, sizeof path);
    unsetenv("NOTIFY_SOCKET");
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", NULL), 0);
    assert_int_equal(harness_stop(&d), 0);
    assert_false(next_message(fd, msg, sizeof msg, 0.2));
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_status_stopping),
        cmocka_unit_test(test_silent_without_notify_socket),
    };
    return cmocka_run_group_tests_name("integration.service", tests, NULL, NULL);
}
