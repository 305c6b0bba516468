/*
 * test_ttl.c — time to live and owners through the public API, against a real daemon: an object
 * put or created with a ttl is gone once it runs out, counted in expirations; a reader holding
 * it keeps reading it until its release (it goes as a delete would); a create's ttl starts at its
 * seal; a delete or a replace before the deadline wins; a durable object cannot have one; status
 * names the owner (this process's uid) and the expiry; thousands of deadlines at once all expire;
 * a watcher hears an expiry as one EXPIRED event.
 * Waits poll with a generous limit: no test depends on how soon the daemon acts, only that it
 * does.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"

struct fixture {
    struct test_daemon d;
    shmstore_client *c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || harness_start(&f->d, "32M", NULL) != 0 ||
        shmstore_connect(f->d.socket, &f->c) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    shmstore_close(f->c);
    int rc = harness_stop(&f->d);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int exists(shmstore_client *c, const char *name)
{
    shmstore_object_stat st;
    int rc = shmstore_stat(c, name, &st);
    assert_true(rc == 0 || rc == SHMSTORE_ENOTFOUND);
    return rc == 0;
}

/* Poll until name is gone; 1 when it went within 20 s (far longer than any ttl here). */
static int gone_soon(shmstore_client *c, const char *name)
{
    for (int i = 0; i < 2000; i++) {
        if (!exists(c, name))
            return 1;
        usleep(10000);
    }
    return 0;
}

static shmstore_store_info info(shmstore_client *c)
{
    shmstore_store_info in;
    assert_int_equal(shmstore_info(c, &in), 0);
    return in;
}

static void test_put_ttl_expires_and_counts(void **state)
{
    struct fixture *f = *state;
    const int64_t before = now_ns();
    assert_int_equal(shmstore_put_ttl(f->c, "small", "abc", 3, NULL, 0, 0, 200), 0);
    /* a large one goes through create + seal */
    size_t big = 1u << 20;
    char *data = calloc(1, big);
    assert_non_null(data);
    assert_int_equal(shmstore_put_ttl(f->c, "large", data, big, "m", 1, 0, 200), 0);
    free(data);
    assert_int_equal(shmstore_put_ttl(f->c, "later", "x", 1, NULL, 0, 0, 3600 * 1000), 0);
    assert_int_equal(shmstore_put(f->c, "forever", "y", 1, NULL, 0, 0), 0);

    shmstore_object_status st;
    assert_int_equal(shmstore_status(f->c, "small", &st), 0);
    assert_int_equal(st.owner_uid, (uint32_t)getuid());
    assert_true(st.expires_ns >= before + 200 * 1000000LL);
    assert_true(st.expires_ns == st.stat.created_ns + 200 * 1000000LL);
    assert_int_equal(shmstore_status(f->c, "forever", &st), 0);
    assert_true(st.expires_ns == 0);

    assert_true(gone_soon(f->c, "small"));
    assert_true(gone_soon(f->c, "large"));
    assert_true(exists(f->c, "later"));
    assert_true(exists(f->c, "forever"));
    shmstore_store_info in = info(f->c);
    assert_int_equal(in.expirations, 2);
    assert_int_equal(in.objects, 2);
    assert_int_equal(in.used_bytes, 128);   /* two one-byte objects, 64 bytes each */
    /* the name is free again */
    assert_int_equal(shmstore_put(f->c, "small", "new", 3, NULL, 0, 0), 0);
}

/* Expiry of a pinned object unbinds it like a delete: the reader keeps its bytes until release. */
static void test_pinned_object_expires_like_delete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(shmstore_put_ttl(f->c, "held", "still here", 10, NULL, 0, 0, 100), 0);
    shmstore_object obj;
    assert_int_equal(shmstore_get(f->c, "held", 0, &obj), 0);
    assert_true(gone_soon(f->c, "held"));
    assert_memory_equal(obj.data, "still here", 10);
    assert_int_equal(info(f->c).deleted_pinned, 1);
    assert_int_equal(shmstore_release(f->c, &obj), 0);
    int freed = 0;
    for (int i = 0; i < 2000 && !freed; i++) {   /* the release is applied within ~20 ms */
        freed = info(f->c).deleted_pinned == 0;
        if (!freed)
            usleep(10000);
    }
    assert_true(freed);
    assert_int_equal(info(f->c).used_bytes, 0);
}

/* A create's time to live starts when it is sealed, not when it is created. */
static void test_create_ttl_starts_at_seal(void **state)
{
    struct fixture *f = *state;
    void *p;
    uint64_t id;
    assert_int_equal(shmstore_create_ttl(f->c, "slow", 4, NULL, 0, 0, 300, &p, &id), 0);
    memcpy(p, "fill", 4);
    usleep(600 * 1000);   /* twice the ttl while unsealed */
    const int64_t sealed_after = now_ns();
    assert_int_equal(shmstore_seal(f->c, id), 0);
    shmstore_object_status st;
    assert_int_equal(shmstore_status(f->c, "slow", &st), 0);
    assert_true(st.expires_ns >= sealed_after + 300 * 1000000LL);
    assert_true(gone_soon(f->c, "slow"));
}

/* A delete or a replace before the deadline wins: the new object stays. */
static void test_delete_or_replace_first(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(shmstore_put_ttl(f->c, "r", "old", 3, NULL, 0, 0, 200), 0);
    assert_int_equal(shmstore_put(f->c, "r", "new", 3, NULL, 0, SHMSTORE_REPLACE), 0);
    assert_int_equal(shmstore_put_ttl(f->c, "d", "old", 3, NULL, 0, 0, 200), 0);
    assert_int_equal(shmstore_delete(f->c, "d"), 0);
    usleep(600 * 1000);
    assert_true(exists(f->c, "r"));
    assert_int_equal(info(f->c).expirations, 0);
}

/* Thousands of deadlines at once all expire (batches of the daemon's timer). */
static void test_many_expire_together(void **state)
{
    struct fixture *f = *state;
    const unsigned n = (unsigned)harness_scale(5000, 200);
    char name[32];
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "many/%u", i);
        assert_int_equal(shmstore_put_ttl(f->c, name, "z", 1, NULL, 0, 0, 100 + i % 50), 0);
    }
    int all = 0;
    for (int i = 0; i < 2000 && !all; i++) {
        all = info(f->c).objects == 0;
        if (!all)
            usleep(10000);
    }
    assert_true(all);
    assert_int_equal(info(f->c).expirations, n);
}

static void test_bad_ttls(void **state)
{
    struct fixture *f = *state;
    /* durable objects are kept until deleted: no ttl (here also: no data directory) */
    assert_int_equal(shmstore_put_ttl(f->c, "p", "x", 1, NULL, 0, SHMSTORE_PERSIST, 1000),
                     SHMSTORE_EINVAL);
    assert_false(exists(f->c, "p"));
    /* ttl 0 is no ttl */
    assert_int_equal(shmstore_put_ttl(f->c, "zero", "x", 1, NULL, 0, 0, 0), 0);
    shmstore_object_status st;
    assert_int_equal(shmstore_status(f->c, "zero", &st), 0);
    assert_true(st.expires_ns == 0);
    /* a huge one never comes */
    assert_int_equal(shmstore_put_ttl(f->c, "huge", "x", 1, NULL, 0, 0, UINT64_MAX), 0);
    assert_int_equal(shmstore_status(f->c, "huge", &st), 0);
    assert_true(st.expires_ns > now_ns() + 100LL * 365 * 86400 * 1000000000LL);
}

/* A durable object with a ttl is refused with a daemon that has a data directory too. */
static void test_durable_refuses_ttl(void **state)
{
    (void)state;
    char data_dir[] = "/tmp/shmstore-ttl-XXXXXX";
    assert_non_null(mkdtemp(data_dir));
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "16M", "-d", data_dir, NULL), 0);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d.socket, &c), 0);
    assert_int_equal(shmstore_put_ttl(c, "p", "x", 1, NULL, 0, SHMSTORE_PERSIST, 1000),
                     SHMSTORE_EINVAL);
    assert_non_null(strstr(shmstore_errmsg(c), "durable object cannot have a time to live"));
    void *p;
    uint64_t id;
    assert_int_equal(shmstore_create_ttl(c, "p", 1, NULL, 0, SHMSTORE_PERSIST, 1000, &p, &id),
                     SHMSTORE_EINVAL);
    assert_int_equal(shmstore_put(c, "p", "x", 1, NULL, 0, SHMSTORE_PERSIST), 0);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", data_dir);
    assert_int_equal(system(cmd), 0);
}

/* A watcher of the name sees it sealed, then expired: one EXPIRED event, no DELETED beside it. */
struct seen {
    uint32_t kinds[8];
    int count;
    double deadline;
};

static int record_until_expired(const shmstore_event *event, void *arg)
{
    struct seen *seen = arg;
    if (seen->count < 8)
        seen->kinds[seen->count++] = event->kind;
    return event->kind == SHMSTORE_EVENT_EXPIRED;
}

static int past_deadline(void *arg)
{
    const struct seen *seen = arg;
    return (double)now_ns() / 1e9 > seen->deadline;
}

static void test_expiry_is_one_event(void **state)
{
    struct fixture *f = *state;
    shmstore_client *w;
    assert_int_equal(shmstore_connect(f->d.socket, &w), 0);
    struct seen seen = {.deadline = (double)now_ns() / 1e9 + 30};
    assert_int_equal(shmstore_set_interrupt(w, past_deadline, &seen), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {   /* the producer, once the watch is surely on */
        usleep(200 * 1000);
        shmstore_client *p;
        _exit(shmstore_connect(f->d.socket, &p) == 0 &&
              shmstore_put_ttl(p, "ttl/watched", "x", 1, NULL, 0, 0, 300) == 0 ? 0 : 1);
    }
    int rc = shmstore_watch(w, "ttl/*", record_until_expired, &seen);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(rc, 1);   /* what record_until_expired returned to stop it */
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.kinds[0], SHMSTORE_EVENT_SEALED);
    assert_int_equal(seen.kinds[1], SHMSTORE_EVENT_EXPIRED);
    shmstore_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_ttl_expires_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned_object_expires_like_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_ttl_starts_at_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_or_replace_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_expire_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ttls, setup, teardown),
        cmocka_unit_test(test_durable_refuses_ttl),
        cmocka_unit_test_setup_teardown(test_expiry_is_one_event, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
