/*
 * access_probe.c — run by test_access.sh as another user: gets an object and reports what the
 * kernel lets this client do with it. Prints one line:
 *   data=<first bytes> write=<fault|changed> mprotect=<ok|EACCES|...> put=<SHMSTORE_...>
 * write: a forked child writes through the pointer from shmstore_get; "fault" when it dies of
 * SIGSEGV/SIGBUS. mprotect: asks for a writable view of that page, which the kernel refuses
 * (EACCES) when the arena fd was opened read-only. reopen: asks the daemon for a segment's
 * descriptor by hand and tries to reopen it read-write through /proc/self/fd (refused when the
 * memfd's mode admits only the daemon).
 * With "pins N": gets NAME N times without releasing and prints the first failure's detail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "shmstore.h"

/* Send one request on fd and read one reply frame, keeping a descriptor it carries in *fd_out
 * (-1 when none; any other is closed). 0, or -1. */
static int raw_call(int fd, const struct shm_request *req, int *fd_out)
{
    struct shm_buf out = {0};
    if (shm_encode_request(req, &out) != 0 || write(fd, out.data, out.len) != (ssize_t)out.len) {
        shm_buf_free(&out);
        return -1;
    }
    shm_buf_free(&out);
    static uint8_t in[SHM_FRAME_HEADER + SHM_FRAME_MAX];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov = {in, sizeof in};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    *fd_out = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
            if (*fd_out < 0)
                *fd_out = got;
            else
                close(got);
        }
    }
    return n > 0 ? 0 : -1;
}

/* The attack the library never makes: speak the protocol by hand, take the O_RDONLY descriptor
 * of the arena's first segment that MAP_SEGMENT hands a read-only client, and try to reopen it
 * read-write through /proc/self/fd (a memfd is created 0777, and such a reopen checks the
 * inode's mode, not the descriptor's). */
static const char *reopen_segment(const char *socket_path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) != 0)
        return "no-connect";
    struct shm_request hello = {.type = SHM_MSG_HELLO, .seq = 1};
    hello.u.hello.version = SHM_PROTO_VERSION;
    hello.u.hello.pid = (uint32_t)getpid();
    struct shm_request map = {.type = SHM_MSG_MAP_SEGMENT, .seq = 2};
    map.u.segment.id = 0;
    int header = -1, segment = -1;
    const char *result = "no-segment-fd";
    if (raw_call(s, &hello, &header) == 0 && raw_call(s, &map, &segment) == 0 && segment >= 0) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", segment);
        int fd = open(link, O_RDWR);
        if (fd >= 0) {
            close(fd);
            result = "ok";
        } else {
            result = strerrorname_np(errno);
        }
    }
    if (header >= 0)
        close(header);
    if (segment >= 0)
        close(segment);
    close(s);
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
           shmstore_errname(shmstore_put(c, "probe/new", "x", 1, NULL, 0, 0)),
           reopen_segment(argv[1]));
    shmstore_release(c, &obj);
    shmstore_close(c);
    return 0;
}
