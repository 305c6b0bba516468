/*
 * access_probe.c — run by test_access.sh as another user: gets an object and reports what the
 * kernel lets this client do with it. Prints one line:
 *   data=<first bytes> write=<fault|changed> mprotect=<ok|EACCES|...> put=<SHMSTORE_...>
 * write: a forked child writes through the pointer from shmstore_get; "fault" when it dies of
 * SIGSEGV/SIGBUS. mprotect: asks for a writable view of that page, which the kernel refuses
 * (EACCES) when the arena fd was opened read-only. reopen: tries to reopen the arena fd
 * read-write through /proc/self/fd (refused when the memfd's mode admits only the daemon).
 * With "pins N": gets NAME N times without releasing and prints the first failure's detail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmstore.h"

/* Try to reopen this process's arena descriptor read-write through /proc/self/fd: the way a
 * read-only client could try to win back what its O_RDONLY descriptor denies it. */
static const char *reopen_arena(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return "no-proc";
    const char *result = "no-arena-fd";
    struct dirent *e;
    while ((e = readdir(dir))) {
        char link[300], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (!strstr(target, "shmstore-arena"))
            continue;
        int fd = open(link, O_RDWR);
        if (fd >= 0) {
            close(fd);
            result = "ok";
        } else {
            result = strerrorname_np(errno);
        }
        break;
    }
    closedir(dir);
    return result;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 5 && strcmp(argv[3], "pins") == 0)) {
        fprintf(stderr, "usage: access_probe SOCKET NAME [pins N]\n");
        return 2;
    }
    shmstore_client *c;
    int rc = shmstore_connect(argv[1], &c);
    if (rc) {
        printf("connect=%s %s\n", shmstore_errname(rc), shmstore_errmsg(NULL));
        return 1;
    }
    shmstore_object obj;
    if (argc == 5) {
        for (int i = 0; i < atoi(argv[4]); i++) {
            rc = shmstore_get(c, argv[2], 0, &obj);
            if (rc) {
                printf("get %d: %s: %s\n", i + 1, shmstore_errname(rc), shmstore_errmsg(c));
                break;
            }
        }
        shmstore_close(c);
        return rc ? 0 : 1;
    }
    rc = shmstore_get(c, argv[2], 0, &obj);
    if (rc) {
        printf("get=%s\n", shmstore_errname(rc));
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        *(volatile char *)obj.data = 'X';
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int faulted = WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
    void *page = (void *)((uintptr_t)obj.data & ~(uintptr_t)4095);
    const char *mprotect_result =
        mprotect(page, 4096, PROT_READ | PROT_WRITE) == 0 ? "ok" : strerrorname_np(errno);
    printf("data=%.*s write=%s mprotect=%s put=%s reopen=%s\n",
           (int)(obj.size < 8 ? obj.size : 8), (const char *)obj.data,
           faulted ? "fault" : "changed", mprotect_result,
           shmstore_errname(shmstore_put(c, "probe/new", "x", 1, NULL, 0, 0)), reopen_arena());
    shmstore_release(c, &obj);
    shmstore_close(c);
    return 0;
}
