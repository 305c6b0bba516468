/*
 * harness.c — a real daemon per test group (see harness.h).
 *
 * Readiness is what the daemon promises (docs/architecture.md, "Access control and the
 * service"): the socket accepts connections. The harness polls
 * connect() rather than sleeping a fixed time, with a generous limit because under valgrind the
 * daemon starts some hundred times slower.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 64

const char *harness_binary(const char *var)
{
    const char *path = getenv(var);
    if (!path || !*path) {
        fprintf(stderr, "harness: $%s is not set (run the tests through meson test)\n", var);
        exit(2);
    }
    return path;
}

int harness_under_valgrind(void)
{
    const char *w = getenv("SHMSTORE_DAEMON_WRAPPER");
    return w && strstr(w, "valgrind") != NULL;
}

size_t harness_scale(size_t n, size_t min)
{
    const char *s = getenv("SHMSTORE_TEST_SCALE");
    double factor = s && *s ? atof(s) : 1.0;
    size_t scaled = (size_t)((double)n * factor);
    return scaled < min ? min : scaled;
}

static int socket_accepts(const char *path)
{
    int fd = unix_connect(path);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

void harness_dump_log(const struct test_daemon *d)
{
    FILE *f = fopen(d->log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- shmstored log (%s) ----\n", d->log);
    char line[1024];
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fprintf(stderr, "---- end of log ----\n");
    fclose(f);
}

/* Run shmstored on d's socket with d's memory and `extra` arguments (NULL-terminated, may be
 * NULL), its output appended to d's log, and wait until it accepts connections. */
static int spawn(struct test_daemon *d, char **extra)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    char *wrapper = NULL;
    const char *w = getenv("SHMSTORE_DAEMON_WRAPPER");
    if (w && *w) {
        wrapper = strdup(w);
        for (char *tok = strtok(wrapper, " "); tok && argc < MAX_ARGS - 16; tok = strtok(NULL, " "))
            argv[argc++] = tok;
    }
    argv[argc++] = (char *)harness_binary("SHMSTORED");
    argv[argc++] = "-s";
    argv[argc++] = d->socket;
    if (d->memory[0]) {
        argv[argc++] = "-m";
        argv[argc++] = d->memory;
    }
    for (size_t i = 0; extra && extra[i] && argc < MAX_ARGS - 1; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    d->pid = fork();
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        setenv("SHMSTORE_SOCKET", d->socket, 1);
        execvp(argv[0], argv);
        fprintf(stderr, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(wrapper);
    if (d->pid < 0) {
        perror("harness: fork");
        return -1;
    }
    double deadline = now_s() + (harness_under_valgrind() ? 120.0 : 20.0);
    while (now_s() < deadline) {
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            fprintf(stderr, "harness: shmstored exited during start (status %d)\n", status);
            harness_dump_log(d);
            d->pid = 0;
            return -1;
        }
        if (socket_accepts(d->socket))
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "harness: shmstored did not become ready\n");
    harness_dump_log(d);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    return -1;
}

int harness_start(struct test_daemon *d, const char *memory, ...)
{
    memset(d, 0, sizeof *d);
    /* Not $TMPDIR: a socket path must fit in 108 bytes, and /tmp always does. */
    snprintf(d->dir, sizeof d->dir, "/tmp/shmstore-test-XXXXXX");
    if (!mkdtemp(d->dir)) {
        perror("harness: mkdtemp");
        return -1;
    }
    snprintf(d->socket, sizeof d->socket, "%s/shmstore.sock", d->dir);
    snprintf(d->log, sizeof d->log, "%s/shmstored.log", d->dir);
    snprintf(d->memory, sizeof d->memory, "%s", memory);

    char *extra[MAX_ARGS];
    size_t n = 0;
    va_list ap;
    va_start(ap, memory);
    for (char *arg; (arg = va_arg(ap, char *)) && n < MAX_ARGS - 1;)
        extra[n++] = arg;
    va_end(ap);
    extra[n] = NULL;
    return spawn(d, extra);
}

/* SIGTERM and wait: the exit status (0 is clean), 128+signal, or -1 when it had to be killed.
 * Prints the log when the stop was not clean. */
static int stop_process(struct test_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    double deadline = now_s() + (harness_under_valgrind() ? 120.0 : 20.0);
    int status = 0, result = -1;
    while (now_s() < deadline) {
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid) {
            result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        usleep(10000);
    }
    if (result == -1) {
        fprintf(stderr, "harness: shmstored did not stop after SIGTERM; killing it\n");
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    if (result != 0) {
        fprintf(stderr, "harness: shmstored ended with status %d\n", result);
        harness_dump_log(d);
    } else if (access(d->socket, F_OK) == 0) {
        fprintf(stderr, "harness: shmstored left its socket file behind\n");
        result = -2;
    }
    d->pid = 0;
    return result;
}

void harness_kill(struct test_daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

int harness_respawn(struct test_daemon *d, ...)
{
    char *extra[MAX_ARGS];
    size_t n = 0;
    va_list ap;
    va_start(ap, d);
    for (char *arg; (arg = va_arg(ap, char *)) && n < MAX_ARGS - 1;)
        extra[n++] = arg;
    va_end(ap);
    extra[n] = NULL;
    return spawn(d, extra);
}

int harness_restart(struct test_daemon *d)
{
    if (stop_process(d) != 0)
        return -1;
    return spawn(d, NULL);
}

static void remove_dir(const struct test_daemon *d)
{
    unlink(d->log);
    unlink(d->socket);
    char lock[sizeof d->socket + 8];   /* left behind only by a daemon that was killed */
    snprintf(lock, sizeof lock, "%s.lock", d->socket);
    unlink(lock);
    rmdir(d->dir);
}

int harness_stop(struct test_daemon *d)
{
    int result = stop_process(d);
    remove_dir(d);
    return result;
}
