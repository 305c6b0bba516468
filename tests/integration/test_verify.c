/*
 * test_verify.c — where objects are (shmstore_status, shmstore_list_status) and the check of
 * durable files (shmstore_verify), through the C API against a real daemon.
 *
 * Without a data directory: objects are in memory and not durable, verify has nothing to do,
 * and the sized calls write exactly the caller's struct (an older, shorter one is refused; a
 * newer, longer one has its unknown tail zeroed). With one: a clean store verifies with no
 * problem; a damaged file is reported to the callback with its name, id, what is wrong and what
 * was done, and a callback's nonzero value stops the list and is returned; objects replaced and
 * deleted by another client while verifies run are never reported, whatever the interleaving
 * (their old files disappear under the check: that is not damage). And a daemon older than
 * STAT_EX and LIST_EX (a proxy that answers them as such a daemon does, "unknown request type")
 * still gets stat and list from shmstore_status and shmstore_list_status, location 0.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"
#include "shmstore.h"

static char data_dir[64];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void make_data_dir(void)
{
    snprintf(data_dir, sizeof data_dir, "/tmp/shmstore-verify-XXXXXX");
    assert_non_null(mkdtemp(data_dir));
}

static void remove_data_dir(void)
{
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static shmstore_client *connect_to(const struct test_daemon *d)
{
    shmstore_client *c = NULL;
    assert_int_equal(shmstore_connect(d->socket, &c), 0);
    return c;
}

/* ---- without a data directory ---------------------------------------------------------------- */

/* A shmstore_object_status of a later version: one more field than this header's. */
struct newer_status {
    shmstore_object_status status;
    uint64_t later_field;
};

struct seen {
    unsigned long count;
    uint32_t location;
    uint32_t durable;
    uint64_t later_field;
};

static int note_newer(const shmstore_object_status *entry, void *arg)
{
    struct seen *seen = arg;
    seen->count++;
    seen->location = entry->location;
    seen->durable = entry->durable;
    seen->later_field = ((const struct newer_status *)entry)->later_field;
    return 0;
}

static int never_called(const shmstore_verify_problem *problem, void *arg)
{
    (void)problem;
    (*(int *)arg)++;
    return 0;
}

static void test_without_data_dir(void **state)
{
    (void)state;
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", NULL), 0);
    shmstore_client *c = connect_to(&d);
    assert_int_equal(shmstore_put(c, "plain", "abc", 3, NULL, 0, 0), 0);

    shmstore_object_status st;
    memset(&st, 0xff, sizeof st);
    assert_int_equal(shmstore_status(c, "plain", &st), 0);
    assert_string_equal(st.stat.name, "plain");
    assert_true(st.stat.size == 3);
    assert_int_equal(st.location, SHMSTORE_IN_MEMORY);
    assert_int_equal(st.durable, 0);
    assert_int_equal(shmstore_status(c, "nothing", &st), SHMSTORE_ENOTFOUND);

    /* A newer caller's longer struct: the tail this library does not know reads 0. */
    struct newer_status newer;
    memset(&newer, 0xff, sizeof newer);
    assert_int_equal(shmstore_status_sized(c, "plain", &newer.status, sizeof newer), 0);
    assert_int_equal(newer.status.location, SHMSTORE_IN_MEMORY);
    assert_true(newer.later_field == 0);
    /* An older one than the first version cannot be: refused, nothing written. */
    memset(&st, 0xab, sizeof st);
    assert_int_equal(shmstore_status_sized(c, "plain", &st, sizeof st.stat), SHMSTORE_EINVAL);
    assert_true(strstr(shmstore_errmsg(c), "shmstore_object_status") != NULL);
    assert_int_equal((unsigned char)st.stat.name[0], 0xab);

    struct seen seen = {0};
    seen.later_field = 1;
    assert_int_equal(shmstore_list_status_sized(c, "pl*", note_newer, &seen, sizeof newer), 0);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.location, SHMSTORE_IN_MEMORY);
    assert_int_equal(seen.durable, 0);
    assert_true(seen.later_field == 0);
    assert_int_equal(shmstore_list_status_sized(c, NULL, note_newer, &seen, 8), SHMSTORE_EINVAL);
    assert_int_equal(shmstore_list_status(c, NULL, NULL, NULL), SHMSTORE_EINVAL);

    /* Nothing is durable, so nothing to check and nothing wrong. */
    shmstore_verify_result r;
    memset(&r, 0xff, sizeof r);
    int calls = 0;
    assert_int_equal(shmstore_verify(c, never_called, &calls, &r), 0);
    assert_true(r.data_dir == 0);
    assert_true(r.objects == 0 && r.bytes == 0 && r.problems == 0 && r.unlisted == 0);
    assert_int_equal(calls, 0);
    assert_int_equal(shmstore_verify_sized(c, NULL, NULL, &r, 8), SHMSTORE_EINVAL);
    assert_int_equal(shmstore_verify(c, NULL, NULL, NULL), SHMSTORE_EINVAL);

    /* The disk figures of info are there, and 0. */
    shmstore_store_info info;
    memset(&info, 0xff, sizeof info);
    assert_int_equal(shmstore_info(c, &info), 0);
    assert_true(info.disk_objects == 0 && info.disk_bytes == 0 && info.pending_writes == 0 &&
                info.spills == 0 && info.restores == 0 && info.evictions == 0);

    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
}

/* ---- damage --------------------------------------------------------------------------------- */

struct problems {
    int count;
    int stop_after;   /* 0: never stop */
    char name[SHMSTORE_NAME_MAX + 1];
    uint64_t id;
    char what[256], action[256];
};

static int collect(const shmstore_verify_problem *p, void *arg)
{
    struct problems *ps = arg;
    ps->count++;
    snprintf(ps->name, sizeof ps->name, "%s", p->name);
    ps->id = p->id;
    snprintf(ps->what, sizeof ps->what, "%s", p->what);
    snprintf(ps->action, sizeof ps->action, "%s", p->action);
    return ps->stop_after && ps->count >= ps->stop_after ? 42 : 0;
}

static void damage_file(uint64_t id, long offset)
{
    char path[256];
    snprintf(path, sizeof path, "%s/objects/%016llx", data_dir, (unsigned long long)id);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    int byte = fgetc(f);
    assert_true(byte != EOF);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    assert_true(fputc(byte ^ 0x40, f) != EOF);
    assert_int_equal(fclose(f), 0);
}

static void test_damage_reported_and_repaired(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "64M", "-d", data_dir, NULL), 0);
    shmstore_client *c = connect_to(&d);
    static char payload[1 << 20];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)(i * 7);
    assert_int_equal(shmstore_put(c, "v/one", payload, sizeof payload, "m", 1, SHMSTORE_PERSIST),
                     0);
    /* Above PERSIST_INLINE_MAX (16 KiB), so it has a file to damage. */
    assert_int_equal(shmstore_put(c, "v/two", payload, 20000, NULL, 0, SHMSTORE_PERSIST), 0);
    /* A small one lives inside the catalogue: verified there. */
    assert_int_equal(shmstore_put(c, "v/small", payload, 1000, NULL, 0, SHMSTORE_PERSIST), 0);
    assert_int_equal(shmstore_sync(c), 0);

    shmstore_object_status st;
    assert_int_equal(shmstore_status(c, "v/one", &st), 0);
    assert_int_equal(st.location, SHMSTORE_IN_MEMORY | SHMSTORE_ON_DISK);
    assert_int_equal(st.durable, 1);

    struct problems ps = {0};
    shmstore_verify_result r;
    assert_int_equal(shmstore_verify(c, collect, &ps, &r), 0);
    assert_true(r.data_dir == 1);
    assert_true(r.objects == 3);
    assert_true(r.bytes == sizeof payload + 1 + 20000 + 1000);
    assert_true(r.problems == 0);
    assert_int_equal(ps.count, 0);

    damage_file(st.stat.id, 12345);
    assert_int_equal(shmstore_verify(c, collect, &ps, &r), 0);
    assert_true(r.problems == 1 && r.unlisted == 0);
    assert_int_equal(ps.count, 1);
    assert_string_equal(ps.name, "v/one");
    assert_true(ps.id == st.stat.id);
    assert_string_equal(ps.what, "checksum mismatch");
    assert_string_equal(ps.action, "rewritten from memory");

    /* Repaired from memory once the rewrite is on disk; the object was served whole meanwhile. */
    assert_int_equal(shmstore_sync(c), 0);
    memset(&ps, 0, sizeof ps);
    assert_int_equal(shmstore_verify(c, collect, &ps, &r), 0);
    assert_true(r.problems == 0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(c, "v/one", 0, &obj), 0);
    assert_true(obj.size == sizeof payload && memcmp(obj.data, payload, sizeof payload) == 0);
    assert_int_equal(shmstore_release(c, &obj), 0);

    /* A callback's nonzero value stops the list and is what verify returns. */
    damage_file(st.stat.id, 1);
    assert_int_equal(shmstore_status(c, "v/two", &st), 0);
    damage_file(st.stat.id, 999);
    memset(&ps, 0, sizeof ps);
    ps.stop_after = 1;
    assert_int_equal(shmstore_verify(c, collect, &ps, &r), 42);
    assert_int_equal(ps.count, 1);
    assert_true(r.problems == 2);
    /* and the handle goes on working */
    assert_int_equal(shmstore_ping(c), 0);

    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* ---- objects changing under the check ----------------------------------------------------- */

#define CHURN_NAMES 64

struct churn {
    const char *socket;
    atomic_int stop;
    unsigned long rounds;
    int failed;
};

/* Replace every name again and again, and delete and put back some, all durable. */
static void *churn_main(void *arg)
{
    struct churn *ch = arg;
    shmstore_client *c = NULL;
    if (shmstore_connect(ch->socket, &c) != 0) {
        ch->failed = 1;
        return NULL;
    }
    static char data[64 * 1024];   /* this thread's alone */
    while (!atomic_load(&ch->stop)) {
        for (int i = 0; i < CHURN_NAMES && !ch->failed; i++) {
            char name[32];
            snprintf(name, sizeof name, "churn/%02d", i);
            memset(data, (int)(ch->rounds + (unsigned)i), sizeof data);
            int deleted = i % 8 == 0 ? shmstore_delete(c, name) : 0;
            if (deleted != 0 && !(deleted == SHMSTORE_ENOTFOUND && ch->rounds == 0))
                ch->failed = 2;
            if (shmstore_put(c, name, data, sizeof data, NULL, 0,
                             SHMSTORE_REPLACE | SHMSTORE_PERSIST) != 0)
                ch->failed = 3;
        }
        ch->rounds++;
    }
    shmstore_close(c);
    return NULL;
}

/* durability: "sync" or "async" (the daemon's setting, through a config file). */
static void churn_under(const char *durability)
{
    make_data_dir();
    char conf[128], text[64];
    snprintf(conf, sizeof conf, "%s/test.conf", data_dir);
    snprintf(text, sizeof text, "durability = %s\n", durability);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "256M", "-d", data_dir, "-c", conf, NULL), 0);

    /* Every name has a file before the churn starts, so the checks have files to lose. */
    shmstore_client *c = connect_to(&d);
    static char data[64 * 1024];
    for (int i = 0; i < CHURN_NAMES; i++) {
        char name[32];
        snprintf(name, sizeof name, "churn/%02d", i);
        assert_int_equal(shmstore_put(c, name, data, sizeof data, NULL, 0, SHMSTORE_PERSIST), 0);
    }
    assert_int_equal(shmstore_sync(c), 0);

    struct churn ch = {.socket = d.socket};
    atomic_init(&ch.stop, 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, churn_main, &ch), 0);
    /* As many verifies as it takes for the churn to go round a few times meanwhile. */
    const unsigned long runs = harness_scale(20, 5);
    unsigned long done = 0;
    uint64_t checked = 0;
    while (done < runs || (ch.rounds < 3 && !ch.failed)) {
        struct problems ps = {0};
        shmstore_verify_result r;
        assert_int_equal(shmstore_verify(c, collect, &ps, &r), 0);
        if (r.problems != 0)
            fail_msg("%s: verify %lu reported '%s' (id %llu): %s", durability, done, ps.name,
                     (unsigned long long)ps.id, ps.what);
        assert_int_equal(ps.count, 0);
        checked += r.objects;
        done++;
    }
    atomic_store(&ch.stop, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(ch.failed, 0);
    assert_true(checked > 0);
    print_message("# %s: %lu verifies checked %llu files while %lu rounds of %d replaces ran\n",
                  durability, done, (unsigned long long)checked, ch.rounds, CHURN_NAMES);

    /* Once the churn is on disk, every name's file is there and whole. */
    assert_int_equal(shmstore_sync(c), 0);
    struct problems ps = {0};
    shmstore_verify_result r;
    assert_int_equal(shmstore_verify(c, collect, &ps, &r), 0);
    assert_true(r.problems == 0 && r.pending == 0);
    assert_true(r.objects == CHURN_NAMES);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

static void test_replaced_and_deleted_are_not_problems(void **state)
{
    (void)state;
    churn_under("async");
    churn_under("sync");
}

/* ---- a daemon older than STAT_EX and LIST_EX ------------------------------------------------ */

struct old_daemon {
    char socket[96];   /* dir/old.sock: fits a sockaddr_un */
    const char *real_socket;
    int listen_fd;
    pthread_t thread;
    int refused;   /* STAT_EX and LIST_EX requests it answered as unknown */
};

static int connect_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int write_all_fd(int fd, const void *data, size_t len)
{
    const char *q = data;
    while (len > 0) {
        ssize_t n = write(fd, q, len);
        if (n <= 0)
            return -1;
        q += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Daemon to client: bytes as they come, with the descriptors they carry (the HELLO reply's). */
static int pass_down(int from, int to)
{
    char buf[65536];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    ssize_t n = recvmsg(from, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return -1;
    iov.iov_len = (size_t)n;
    msg.msg_controllen = CMSG_FIRSTHDR(&msg) ? msg.msg_controllen : 0;
    if (msg.msg_controllen == 0)
        msg.msg_control = NULL;
    ssize_t sent = sendmsg(to, &msg, MSG_NOSIGNAL);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            close(fd);   /* the client has its own copy now */
        }
    return sent == n ? 0 : -1;
}

/* One client at a time, each frame it sends read whole: STAT_EX and LIST_EX are answered here,
 * every other frame goes on to the real daemon. */
static void *old_daemon_main(void *arg)
{
    struct old_daemon *od = arg;
    int client;
    while ((client = accept4(od->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        int daemon = connect_unix(od->real_socket);
        static uint8_t in[2 * SHM_FRAME_MAX];
        size_t have = 0;
        struct pollfd pfd[2] = {{client, POLLIN, 0}, {daemon, POLLIN, 0}};
        while (daemon >= 0 && poll(pfd, 2, -1) > 0) {
            if (pfd[1].revents && pass_down(daemon, client) != 0)
                break;
            if (!pfd[0].revents)
                continue;
            ssize_t n = read(client, in + have, sizeof in - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            uint32_t body;
            while (have >= SHM_FRAME_HEADER && shm_frame_length(in, &body) == 0 &&
                   have >= SHM_FRAME_HEADER + body) {
                struct shm_request req;
                size_t frame = SHM_FRAME_HEADER + body;
                int rc = shm_decode_request(in + SHM_FRAME_HEADER, body, &req);
                if (rc == SHM_DECODE_OK &&
                    (req.type == SHM_MSG_STAT_EX || req.type == SHM_MSG_LIST_EX)) {
                    struct shm_buf out = {0};
                    shm_encode_error(req.type, req.seq, SHMSTORE_EPROTO,
                                     &out, "unknown request type %u (this daemon speaks "
                                     "protocol %u)", req.type, SHM_PROTO_VERSION);
                    write_all_fd(client, out.data, out.len);
                    shm_buf_free(&out);
                    od->refused++;
                } else {
                    write_all_fd(daemon, in, frame);
                }
                memmove(in, in + frame, have - frame);
                have -= frame;
            }
        }
        if (daemon >= 0)
            close(daemon);
        close(client);
    }
    return NULL;
}

static void old_daemon_start(struct old_daemon *od, const struct test_daemon *real)
{
    snprintf(od->socket, sizeof od->socket, "%s/old.sock", real->dir);
    od->real_socket = real->socket;
    od->refused = 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", od->socket);
    od->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(od->listen_fd >= 0);
    assert_int_equal(bind(od->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(od->listen_fd, 4), 0);
    assert_int_equal(pthread_create(&od->thread, NULL, old_daemon_main, od), 0);
}

static void old_daemon_stop(struct old_daemon *od)
{
    shutdown(od->listen_fd, SHUT_RDWR);   /* accept returns */
    assert_int_equal(pthread_join(od->thread, NULL), 0);
    close(od->listen_fd);
    unlink(od->socket);
}

static void test_older_daemon(void **state)
{
    (void)state;
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", NULL), 0);
    struct old_daemon od;
    old_daemon_start(&od, &d);
    shmstore_client *c = NULL;
    assert_int_equal(shmstore_connect(od.socket, &c), 0);
    for (int i = 0; i < 300; i++) {   /* more than one LIST page */
        char name[32];
        snprintf(name, sizeof name, "old/%03d", i);
        assert_int_equal(shmstore_put(c, name, "x", 1, NULL, 0, 0), 0);
    }

    shmstore_object_status st;
    memset(&st, 0xff, sizeof st);
    assert_int_equal(shmstore_status(c, "old/007", &st), 0);
    assert_string_equal(st.stat.name, "old/007");
    assert_int_equal(st.location, 0);   /* the daemon did not say */
    assert_int_equal(st.durable, 0);
    assert_int_equal(od.refused, 1);
    struct seen seen = {0};
    assert_int_equal(shmstore_list_status_sized(c, "old/*", note_newer, &seen,
                                                sizeof(struct newer_status)), 0);
    assert_int_equal(seen.count, 300);
    assert_int_equal(seen.location, 0);
    /* The handle remembers: no more STAT_EX or LIST_EX on this connection. */
    assert_int_equal(shmstore_status(c, "old/008", &st), 0);
    assert_int_equal(od.refused, 1);
    assert_string_equal(shmstore_errmsg(c), "");
    shmstore_close(c);

    /* Straight to the real daemon, the same calls say where the objects are. */
    c = connect_to(&d);
    assert_int_equal(shmstore_status(c, "old/007", &st), 0);
    assert_int_equal(st.location, SHMSTORE_IN_MEMORY);
    shmstore_close(c);
    old_daemon_stop(&od);
    assert_int_equal(harness_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_data_dir),
        cmocka_unit_test(test_damage_reported_and_repaired),
        cmocka_unit_test(test_replaced_and_deleted_are_not_problems),
        cmocka_unit_test(test_older_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
