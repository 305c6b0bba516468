/*
 * test_api.c — every rule of the object lifecycle (docs/architecture.md) and of the public C API
 * (include/shmstore.h), checked through libshmstore against a real shmstored.
 *
 * Each test gets a fresh 64 MiB daemon on a temporary socket and one connected handle; its
 * teardown stops the daemon and requires exit status 0, so a daemon crash, a valgrind error or a
 * leak in the daemon fails the test that caused it. Covered: connecting (default socket,
 * explicit path, missing daemon), byte-exact put/get round trips across the inline limit,
 * metadata, alignment, read-only pointers, create/seal/abort and their error states, REPLACE,
 * release, delete while pinned and reclamation at the last release, delete by pattern, get
 * timeouts and waiting gets, name validation, store-full errors, stat, list (glob, paging, early
 * stop), info, ping, error names, a handle shared by threads, fork, close (also while a fork
 * child that never uses the library still lives), a daemon that goes away, and the
 * protocol-version refusal at HELLO.
 * Work is scaled by SHMSTORE_TEST_SCALE (harness_scale); time bounds are generous and used only
 * where the behaviour itself is about time.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "humansize.h"
#include "proto.h"
#include "shmstore.h"
#include "testutil.h"

static struct test_daemon D;
static shmstore_client *C; /* the test's main handle, connected to D */

/* ---- helpers ------------------------------------------------------------------------------- */

static int64_t now_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *pattern_buf(size_t n, uint64_t seed)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    fill_pattern(p, n, seed);
    return p;
}

#define assert_contains(haystack, needle)                                                         \
    do {                                                                                          \
        const char *h_ = (haystack);                                                              \
        if (!h_ || !strstr(h_, (needle)))                                                         \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,        \
                    h_ ? h_ : "(null)", (needle));                                                \
        assert_non_null(h_);                                                                      \
        assert_non_null(strstr(h_, (needle)));                                                    \
    } while (0)

/* ---- fixtures ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    return daemon_client_setup(&D, "64M", &C);
}

static int teardown(void **state)
{
    (void)state;
    return daemon_client_teardown(&D, &C);
}

/* ---- connecting ---------------------------------------------------------------------------- */

static void test_connect_default_and_explicit(void **state)
{
    (void)state;
    /* NULL means the default socket, and $SHMSTORE_SOCKET comes first. */
    assert_int_equal(setenv("SHMSTORE_SOCKET", D.socket, 1), 0);
    char path[256];
    assert_rc(shmstore_default_socket(path, sizeof path), 0);
    assert_string_equal(path, D.socket);
    shmstore_client *by_env = connect_or_fail(NULL);
    assert_rc(shmstore_ping(by_env), 0);
    shmstore_client *by_path = connect_or_fail(D.socket);
    assert_rc(shmstore_ping(by_path), 0);

    /* All three handles are connections of the same daemon. */
    assert_int_equal(info_of(C).clients, 3);
    assert_rc(put_pattern(by_env, "via-env", 100, 1, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(by_path, "via-env", 0, &o), 0);
    assert_true(has_pattern(o.data, o.size, 1));
    assert_rc(shmstore_release(by_path, &o), 0);

    shmstore_close(by_env);
    shmstore_close(by_path);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    unsetenv("SHMSTORE_SOCKET");
}

static void test_connect_missing_socket(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/no-such.sock", D.dir);
    shmstore_client *c = (shmstore_client *)(uintptr_t)1;
    assert_rc(shmstore_connect(path, &c), SHMSTORE_ECONN);
    assert_null(c);
    const char *msg = shmstore_errmsg(NULL);
    assert_non_null(msg);
    /* Helpful: says where it looked, what is missing and how to start one there. */
    assert_contains(msg, path);
    assert_contains(msg, "no shmstored is running at");
    char start_hint[160];
    snprintf(start_hint, sizeof start_hint, "shmstored -s %s", path);
    assert_contains(msg, start_hint);

    /* Same through $SHMSTORE_SOCKET. */
    assert_int_equal(setenv("SHMSTORE_SOCKET", path, 1), 0);
    c = (shmstore_client *)(uintptr_t)1;
    assert_rc(shmstore_connect(NULL, &c), SHMSTORE_ECONN);
    assert_null(c);
    assert_contains(shmstore_errmsg(NULL), path);
    unsetenv("SHMSTORE_SOCKET");

    /* Bad arguments. */
    assert_rc(shmstore_connect(D.socket, NULL), SHMSTORE_EINVAL);
    char longpath[300];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    c = (shmstore_client *)(uintptr_t)1;
    assert_rc(shmstore_connect(longpath, &c), SHMSTORE_EINVAL);
    assert_null(c);
    char tiny[4];
    assert_rc(shmstore_default_socket(tiny, sizeof tiny), SHMSTORE_EINVAL);
    shmstore_close(NULL); /* a no-op */
}

/* ---- put / get ----------------------------------------------------------------------------- */

static void test_put_get_roundtrip_sizes(void **state)
{
    (void)state;
    const size_t sizes[] = {0,   1,          63,         64,       65,          4 * KiB,
                            64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 1 * MiB, 5 * MiB + 3};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t size = sizes[k];
        char name[64];
        snprintf(name, sizeof name, "rt/%zu", size);
        assert_rc(put_pattern(C, name, size, 100 + k, 0), 0);

        shmstore_object o;
        memset(&o, 0, sizeof o);
        assert_rc(shmstore_get(C, name, 0, &o), 0);
        assert_int_equal(o.size, size);
        assert_int_equal(o.meta_size, 0);
        assert_true(o.id != 0);
        assert_non_null(o.data);
        if (!has_pattern(o.data, size, 100 + k))
            fail_msg("payload of %zu bytes differs from what was put", size);
        /* Payloads are 64-byte aligned; large ones (>= 64 KiB) page-aligned. */
        assert_int_equal((uintptr_t)o.data % 64, 0);
        if (size >= 64 * KiB)
            assert_int_equal((uintptr_t)o.data % 4096, 0);

        shmstore_object_stat st = stat_of(C, name);
        assert_int_equal(st.size, size);
        assert_int_equal(st.id, o.id);
        assert_int_equal(st.pins, 1);
        assert_rc(shmstore_release(C, &o), 0);
        assert_int_equal(pins_of(C, name), 0);
    }
    assert_int_equal(info_of(C).objects, sizeof sizes / sizeof sizes[0]);

    /* NULL data is fine for an empty payload, not for a non-empty one. */
    assert_rc(shmstore_put(C, "rt/null-empty", NULL, 0, NULL, 0, 0), 0);
    assert_rc(shmstore_put(C, "rt/null-data", NULL, 10, NULL, 0, 0), SHMSTORE_EINVAL);
    assert_rc(shmstore_stat(C, "rt/null-data", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);
}

static void test_metadata(void **state)
{
    (void)state;
    static const char meta[] = "dtype=<f4;shape=(3,4)";
    uint8_t data[48];
    fill_pattern(data, sizeof data, 7);
    assert_rc(shmstore_put(C, "m/small", data, sizeof data, meta, sizeof meta, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(C, "m/small", 0, &o), 0);
    assert_int_equal(o.size, sizeof data);
    assert_memory_equal(o.data, data, sizeof data);
    assert_int_equal(o.meta_size, sizeof meta);
    assert_non_null(o.meta);
    assert_memory_equal(o.meta, meta, sizeof meta);
    assert_int_equal(stat_of(C, "m/small").meta_size, sizeof meta);
    assert_rc(shmstore_release(C, &o), 0);

    /* The largest metadata, with an inline payload and with a large one, and with none. */
    const size_t payloads[] = {0, 64 * KiB, 3 * MiB};
    for (size_t k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "m/max%zu", k);
        void *m = pattern_buf(SHMSTORE_META_MAX, 50 + k);
        void *d = pattern_buf(payloads[k], 60 + k);
        assert_rc(shmstore_put(C, name, d, payloads[k], m, SHMSTORE_META_MAX, 0), 0);
        assert_rc(shmstore_get(C, name, 0, &o), 0);
        assert_int_equal(o.size, payloads[k]);
        assert_int_equal(o.meta_size, SHMSTORE_META_MAX);
        assert_true(has_pattern(o.data, o.size, 60 + k));
        assert_true(has_pattern(o.meta, o.meta_size, 50 + k));
        assert_rc(shmstore_release(C, &o), 0);
        free(m);
        free(d);
    }

    /* create carries metadata too, visible after seal. */
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "m/created", 1000, meta, sizeof meta, 0, &w, &id), 0);
    fill_pattern(w, 1000, 9);
    assert_rc(shmstore_seal(C, id), 0);
    assert_rc(shmstore_get(C, "m/created", 0, &o), 0);
    assert_int_equal(o.meta_size, sizeof meta);
    assert_memory_equal(o.meta, meta, sizeof meta);
    assert_true(has_pattern(o.data, 1000, 9));
    assert_rc(shmstore_release(C, &o), 0);

    /* One byte over the limit, or NULL with a size: EINVAL, and nothing changes. */
    shmstore_store_info before = info_of(C);
    void *big = pattern_buf(SHMSTORE_META_MAX + 1, 3);
    assert_rc(shmstore_put(C, "m/over", data, sizeof data, big, SHMSTORE_META_MAX + 1, 0),
              SHMSTORE_EINVAL);
    assert_true(strlen(shmstore_errmsg(C)) > 0);
    void *d2 = pattern_buf(1 * MiB, 4);
    assert_rc(shmstore_put(C, "m/over", d2, 1 * MiB, big, SHMSTORE_META_MAX + 1, 0),
              SHMSTORE_EINVAL);
    assert_rc(shmstore_create(C, "m/over", 100, big, SHMSTORE_META_MAX + 1, 0, &w, &id),
              SHMSTORE_EINVAL);
    assert_rc(shmstore_put(C, "m/over", data, sizeof data, NULL, 5, 0), SHMSTORE_EINVAL);
    free(big);
    free(d2);
    shmstore_store_info after = info_of(C);
    assert_int_equal(after.objects, before.objects);
    assert_int_equal(after.unsealed_objects, before.unsealed_objects);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_rc(shmstore_stat(C, "m/over", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);
}

static void test_get_pointer_is_read_only(void **state)
{
    (void)state;
    const size_t sizes[] = {100, 256 * KiB};
    for (size_t k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "ro/%zu", k);
        assert_rc(put_pattern(C, name, sizes[k], 20 + k, 0), 0);
        shmstore_object o;
        assert_rc(shmstore_get(C, name, 0, &o), 0);

        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0) {
            volatile uint8_t *p = (volatile uint8_t *)o.data;
            p[o.size / 2] ^= 0xff; /* must fault */
            _exit(0);
        }
        int status = wait_child(pid, slack(30));
        if (!WIFSIGNALED(status))
            fprintf(stderr, "writing through a get pointer did not fault (exit %d)\n",
                    WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSEGV);

        /* The object is intact, for this handle and a fresh one. */
        assert_true(has_pattern(o.data, o.size, 20 + k));
        shmstore_client *other = connect_or_fail(D.socket);
        shmstore_object o2;
        assert_rc(shmstore_get(other, name, 0, &o2), 0);
        assert_true(has_pattern(o2.data, o2.size, 20 + k));
        assert_rc(shmstore_release(other, &o2), 0);
        shmstore_close(other);
        assert_rc(shmstore_release(C, &o), 0);
    }
}

/* ---- create / seal / abort ----------------------------------------------------------------- */

static void test_create_fill_seal(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    const size_t size = 200 * KiB;
    void *w = NULL;
    uint64_t id = 0;
    assert_rc(shmstore_create(C, "cs/obj", size, NULL, 0, 0, &w, &id), 0);
    assert_non_null(w);
    assert_true(id != 0);
    assert_int_equal((uintptr_t)w % 4096, 0);
    fill_pattern(w, size, 31);

    /* Invisible until sealed, but the name is taken. */
    shmstore_object o;
    assert_rc(shmstore_get(C, "cs/obj", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_get(other, "cs/obj", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_stat(other, "cs/obj", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);
    shmstore_store_info i = info_of(other);
    assert_int_equal(i.objects, 0);
    assert_int_equal(i.unsealed_objects, 1);
    assert_int_equal(i.unsealed_bytes, size);
    assert_true(i.used_bytes >= size);

    void *w2;
    uint64_t id2;
    assert_rc(shmstore_create(C, "cs/obj", 10, NULL, 0, 0, &w2, &id2), SHMSTORE_EEXIST);
    assert_rc(shmstore_create(other, "cs/obj", 10, NULL, 0, 0, &w2, &id2), SHMSTORE_EEXIST);
    assert_rc(put_pattern(C, "cs/obj", 10, 1, 0), SHMSTORE_EEXIST);
    assert_rc(put_pattern(other, "cs/obj", 100 * KiB, 1, 0), SHMSTORE_EEXIST);
    assert_int_equal(info_of(C).unsealed_objects, 1);

    assert_rc(shmstore_seal(C, id), 0);
    assert_rc(shmstore_get(other, "cs/obj", 0, &o), 0);
    assert_int_equal(o.id, id);
    assert_int_equal(o.size, size);
    assert_true(has_pattern(o.data, size, 31));
    assert_rc(shmstore_release(other, &o), 0);
    i = info_of(C);
    assert_int_equal(i.objects, 1);
    assert_int_equal(i.unsealed_objects, 0);
    assert_int_equal(i.unsealed_bytes, 0);

    /* Sealed: taken for create and put as well. */
    assert_rc(shmstore_create(other, "cs/obj", 10, NULL, 0, 0, &w2, &id2), SHMSTORE_EEXIST);
    assert_rc(put_pattern(other, "cs/obj", 10, 1, 0), SHMSTORE_EEXIST);

    /* Bad create arguments. */
    assert_rc(shmstore_create(C, "cs/x", 10, NULL, 0, 0, NULL, &id2), SHMSTORE_EINVAL);
    assert_rc(shmstore_create(C, "cs/x", 10, NULL, 0, 0, &w2, NULL), SHMSTORE_EINVAL);
    assert_int_equal(info_of(C).unsealed_objects, 0);
    shmstore_close(other);
}

static void test_put_replace(void **state)
{
    (void)state;
    shmstore_client *reader = connect_or_fail(D.socket);
    const size_t sizes[] = {1000, 1 * MiB};
    for (size_t k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "rp/%zu", k);
        uint64_t base_used = info_of(C).used_bytes;
        assert_rc(put_pattern(C, name, sizes[k], 1, 0), 0);
        uint64_t one_object = info_of(C).used_bytes - base_used;

        /* Without REPLACE the name stays with the old bytes. */
        assert_rc(put_pattern(C, name, sizes[k], 2, 0), SHMSTORE_EEXIST);
        shmstore_object old;
        assert_rc(shmstore_get(reader, name, 0, &old), 0);
        assert_true(has_pattern(old.data, old.size, 1));

        /* With REPLACE the name moves; the reader keeps the old object. */
        assert_rc(put_pattern(C, name, sizes[k], 2, SHMSTORE_REPLACE), 0);
        shmstore_object cur;
        assert_rc(shmstore_get(C, name, 0, &cur), 0);
        assert_true(cur.id != old.id);
        assert_true(has_pattern(cur.data, cur.size, 2));
        assert_true(has_pattern(old.data, old.size, 1));
        shmstore_store_info i = info_of(C);
        assert_int_equal(i.deleted_pinned, 1);
        assert_int_equal(i.objects, k + 1);
        assert_int_equal(stat_of(C, name).id, cur.id);

        /* Released: the old object goes; memory is that of one object again. */
        assert_rc(shmstore_release(reader, &old), 0);
        assert_true(WAIT_FOR(info_of(C).deleted_pinned == 0, slack(5)));
        assert_rc(shmstore_release(C, &cur), 0);
        assert_int_equal(info_of(C).used_bytes, base_used + one_object);
    }

    /* create with REPLACE: the old object stays visible until the seal. */
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "rp/0", 1000, NULL, 0, SHMSTORE_REPLACE, &w, &id), 0);
    fill_pattern(w, 1000, 3);
    shmstore_object o;
    assert_rc(shmstore_get(reader, "rp/0", 0, &o), 0);
    assert_true(has_pattern(o.data, o.size, 2));
    assert_rc(shmstore_release(reader, &o), 0);
    assert_rc(shmstore_seal(C, id), 0);
    assert_rc(shmstore_get(reader, "rp/0", 0, &o), 0);
    assert_int_equal(o.id, id);
    assert_true(has_pattern(o.data, o.size, 3));
    assert_rc(shmstore_release(reader, &o), 0);

    /* REPLACE on a free name is an ordinary put. */
    assert_rc(put_pattern(C, "rp/new", 10, 4, SHMSTORE_REPLACE), 0);
    assert_int_equal(stat_of(C, "rp/new").size, 10);
    shmstore_close(reader);
}

static void test_abort_frees_name_and_memory(void **state)
{
    (void)state;
    shmstore_store_info base = info_of(C);
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "ab/x", 4 * MiB, "m", 1, 0, &w, &id), 0);
    memset(w, 0x5a, 4 * MiB);
    shmstore_store_info mid = info_of(C);
    assert_true(mid.used_bytes >= base.used_bytes + 4 * MiB);
    assert_int_equal(mid.unsealed_objects, base.unsealed_objects + 1);

    assert_rc(shmstore_abort(C, id), 0);
    shmstore_store_info after = info_of(C);
    assert_int_equal(after.used_bytes, base.used_bytes);
    assert_int_equal(after.unsealed_objects, base.unsealed_objects);
    assert_int_equal(after.unsealed_bytes, base.unsealed_bytes);
    assert_int_equal(after.objects, base.objects);
    shmstore_object o;
    assert_rc(shmstore_get(C, "ab/x", 0, &o), SHMSTORE_ENOTFOUND);
    /* The id is gone. */
    assert_rc(shmstore_abort(C, id), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_seal(C, id), SHMSTORE_ENOTFOUND);

    /* The name is free for another client too. */
    shmstore_client *other = connect_or_fail(D.socket);
    assert_rc(shmstore_create(other, "ab/x", 10, NULL, 0, 0, &w, &id), 0);
    assert_rc(shmstore_abort(other, id), 0);
    assert_rc(put_pattern(other, "ab/x", 10, 5, 0), 0);
    assert_rc(shmstore_get(C, "ab/x", 0, &o), 0);
    assert_true(has_pattern(o.data, 10, 5));
    assert_rc(shmstore_release(C, &o), 0);
    shmstore_close(other);
}

static void test_seal_abort_errors(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    void *w;
    uint64_t a, b;
    assert_rc(shmstore_create(C, "se/a", 100, NULL, 0, 0, &w, &a), 0);
    assert_rc(shmstore_seal(C, a), 0);
    assert_rc(shmstore_seal(C, a), SHMSTORE_ESTATE);
    assert_true(strlen(shmstore_errmsg(C)) > 0);
    assert_rc(shmstore_abort(C, a), SHMSTORE_ESTATE);
    assert_rc(shmstore_seal(other, a), SHMSTORE_ESTATE);
    assert_rc(shmstore_abort(other, a), SHMSTORE_ESTATE);
    assert_int_equal(stat_of(C, "se/a").id, a);

    /* Another handle's unsealed object: neither seal nor abort, and it stays as it was. */
    assert_rc(shmstore_create(C, "se/b", 100, NULL, 0, 0, &w, &b), 0);
    assert_rc(shmstore_seal(other, b), SHMSTORE_ESTATE);
    assert_rc(shmstore_abort(other, b), SHMSTORE_ESTATE);
    assert_int_equal(info_of(C).unsealed_objects, 1);
    shmstore_object o;
    assert_rc(shmstore_get(other, "se/b", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_seal(C, b), 0);
    assert_rc(shmstore_get(other, "se/b", 0, &o), 0);
    assert_rc(shmstore_release(other, &o), 0);

    /* An id of a put is sealed. */
    assert_rc(put_pattern(C, "se/c", 10, 1, 0), 0);
    uint64_t c_id = stat_of(C, "se/c").id;
    assert_rc(shmstore_seal(C, c_id), SHMSTORE_ESTATE);
    assert_rc(shmstore_abort(C, c_id), SHMSTORE_ESTATE);

    /* Unknown ids. */
    assert_rc(shmstore_seal(C, 987654321), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_abort(C, 987654321), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_seal(C, 0), SHMSTORE_ENOTFOUND);
    /* An id that existed and was freed. */
    assert_rc(shmstore_delete(C, "se/c"), 0);
    assert_rc(shmstore_seal(C, c_id), SHMSTORE_ENOTFOUND);
    assert_int_equal(info_of(C).objects, 2);
    shmstore_close(other);
}

/* ---- release / delete ---------------------------------------------------------------------- */

static void test_release_errors(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    assert_rc(put_pattern(C, "rl/a", 100, 1, 0), 0);

    shmstore_object o, copy;
    assert_rc(shmstore_get(C, "rl/a", 0, &o), 0);
    copy = o;
    assert_rc(shmstore_release(C, &o), 0);
    assert_rc(shmstore_release(C, &copy), SHMSTORE_ESTATE);
    assert_int_equal(pins_of(C, "rl/a"), 0);

    /* Two gets, two releases, and no third. */
    shmstore_object g1, g2;
    assert_rc(shmstore_get(C, "rl/a", 0, &g1), 0);
    assert_rc(shmstore_get(C, "rl/a", 0, &g2), 0);
    assert_int_equal(g1.id, g2.id);
    assert_int_equal(pins_of(C, "rl/a"), 2);
    copy = g1;
    assert_rc(shmstore_release(C, &g1), 0);
    assert_int_equal(pins_of(C, "rl/a"), 1);
    assert_rc(shmstore_release(C, &g2), 0);
    assert_int_equal(pins_of(C, "rl/a"), 0);
    assert_rc(shmstore_release(C, &copy), SHMSTORE_ESTATE);

    /* An object this handle never got, though another handle holds it. */
    shmstore_object theirs;
    assert_rc(shmstore_get(other, "rl/a", 0, &theirs), 0);
    shmstore_object forged = theirs;
    assert_rc(shmstore_release(C, &forged), SHMSTORE_ESTATE);
    assert_int_equal(pins_of(C, "rl/a"), 1);
    assert_rc(shmstore_release(other, &theirs), 0);
    /* Release has no reply: ask on the releasing connection, which keeps order. */
    assert_int_equal(pins_of(other, "rl/a"), 0);

    /* Made-up ids and NULLs. */
    shmstore_object made_up = {.id = 424242};
    assert_rc(shmstore_release(C, &made_up), SHMSTORE_ESTATE);
    assert_rc(shmstore_release(C, NULL), SHMSTORE_EINVAL);
    assert_int_equal(info_of(C).pins, 0);
    assert_rc(shmstore_ping(C), 0);
    shmstore_close(other);
}

static void test_delete_while_pinned(void **state)
{
    (void)state;
    shmstore_client *r2 = connect_or_fail(D.socket);
    shmstore_store_info base = info_of(C);
    assert_rc(put_pattern(C, "dl/x", 2 * MiB, 1, 0), 0);
    shmstore_store_info with_one = info_of(C);
    shmstore_object p1, p2;
    assert_rc(shmstore_get(C, "dl/x", 0, &p1), 0);
    assert_rc(shmstore_get(r2, "dl/x", 0, &p2), 0);

    assert_rc(shmstore_delete(C, "dl/x"), 0);
    /* The name is free at once... */
    assert_rc(shmstore_stat(C, "dl/x", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);
    shmstore_object o;
    assert_rc(shmstore_get(r2, "dl/x", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_delete(C, "dl/x"), SHMSTORE_ENOTFOUND);
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.objects, base.objects);
    assert_int_equal(i.deleted_pinned, 1);
    assert_int_equal(i.used_bytes, with_one.used_bytes);
    assert_int_equal(i.pins, 2);

    /* ...and a new object takes it, while the old one stays readable. */
    assert_rc(put_pattern(C, "dl/x", 2 * MiB, 2, 0), 0);
    assert_rc(shmstore_get(C, "dl/x", 0, &o), 0);
    assert_true(o.id != p1.id);
    assert_true(has_pattern(o.data, o.size, 2));
    assert_true(has_pattern(p1.data, p1.size, 1));
    assert_true(has_pattern(p2.data, p2.size, 1));
    assert_rc(shmstore_release(C, &o), 0);
    uint64_t used_two = info_of(C).used_bytes;
    assert_true(used_two > with_one.used_bytes);

    /* Memory comes back only at the last release. */
    assert_rc(shmstore_release(C, &p1), 0);
    i = info_of(C);
    assert_int_equal(i.deleted_pinned, 1);
    assert_int_equal(i.used_bytes, used_two);
    assert_rc(shmstore_release(r2, &p2), 0);
    assert_true(WAIT_FOR(info_of(C).deleted_pinned == 0, slack(5)));
    i = info_of(C);
    assert_int_equal(i.used_bytes, with_one.used_bytes);
    assert_int_equal(i.pins, 0);

    /* Deleting an unpinned object frees it at once. */
    assert_rc(shmstore_delete(C, "dl/x"), 0);
    i = info_of(C);
    assert_int_equal(i.used_bytes, base.used_bytes);
    assert_int_equal(i.deleted_pinned, 0);
    /* An unsealed reservation is not deletable: there is nothing sealed under the name. */
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "dl/u", 10, NULL, 0, 0, &w, &id), 0);
    assert_rc(shmstore_delete(C, "dl/u"), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_abort(C, id), 0);
    shmstore_close(r2);
}

/* ---- waiting ------------------------------------------------------------------------------- */

static void test_get_timeouts(void **state)
{
    (void)state;
    shmstore_object o;
    assert_rc(shmstore_get(C, "tm/none", 0, &o), SHMSTORE_ENOTFOUND);
    assert_true(strlen(shmstore_errmsg(C)) > 0);

    double t0 = now_s();
    assert_rc(shmstore_get(C, "tm/none", 200, &o), SHMSTORE_ETIMEDOUT);
    double elapsed = now_s() - t0;
    if (elapsed < 0.15 || elapsed > slack(5))
        fprintf(stderr, "get with timeout 200 ms took %.3f s\n", elapsed);
    assert_true(elapsed >= 0.15);
    assert_true(elapsed <= slack(5));
    /* Regression (timeout_names_nothing): the detail names the object and the wait. */
    assert_string_equal(shmstore_errmsg(C), "no object 'tm/none' was sealed within 200 ms");

    assert_rc(shmstore_get(C, "tm/none", -5, &o), SHMSTORE_EINVAL);
    assert_rc(shmstore_get(C, "tm/none", 0, NULL), SHMSTORE_EINVAL);
    assert_int_equal(info_of(C).waiters, 0);

    /* The handle is in step after a timeout: the next replies are the right ones. */
    assert_rc(put_pattern(C, "tm/some", 10, 1, 0), 0);
    assert_rc(shmstore_get(C, "tm/some", 200, &o), 0);
    assert_true(has_pattern(o.data, 10, 1));
    assert_rc(shmstore_release(C, &o), 0);
}

/* Child of the rendezvous test: wait until the parent's get is waiting, then produce. */
static void rendezvous_child(const char *socket, const char *name, int use_create, size_t size)
{
    shmstore_client *c = NULL;
    CHILD_REQUIRE(shmstore_connect(socket, &c) == 0);
    double deadline = now_s() + slack(10);
    shmstore_store_info i;
    for (;;) {
        CHILD_REQUIRE(shmstore_info(c, &i) == 0);
        if (i.waiters == 1)
            break;
        CHILD_REQUIRE(now_s() < deadline);
        usleep(5000);
    }
    usleep(200 * 1000);
    if (use_create) {
        void *w;
        uint64_t id;
        CHILD_REQUIRE(shmstore_create(c, name, size, NULL, 0, 0, &w, &id) == 0);
        fill_pattern(w, size, 77);
        CHILD_REQUIRE(shmstore_seal(c, id) == 0);
    } else {
        void *buf = malloc(size);
        CHILD_REQUIRE(buf);
        fill_pattern(buf, size, 77);
        CHILD_REQUIRE(shmstore_put(c, name, buf, size, NULL, 0, 0) == 0);
        free(buf);
    }
    shmstore_close(c);
    _exit(0);
}

/* If a producer child fails, a waiting get would wait for ever: after a while this thread puts the
 * name itself (seed 0), which the test then sees as wrong bytes. */
struct watchdog {
    const char *name;
    volatile int done;
    double seconds;
    pthread_t thread;
};

static void *watchdog_main(void *p)
{
    struct watchdog *w = p;
    double deadline = now_s() + w->seconds;
    while (!w->done && now_s() < deadline)
        usleep(10000);
    if (!w->done) {
        fprintf(stderr, "watchdog: nobody sealed %s; putting it to end the wait\n", w->name);
        shmstore_client *c;
        if (shmstore_connect(D.socket, &c) == 0) {
            shmstore_put(c, w->name, "", 0, NULL, 0, 0);
            shmstore_close(c);
        }
    }
    return NULL;
}

static void test_waiting_get_rendezvous(void **state)
{
    (void)state;
    const struct {
        const char *name;
        int timeout;
        int use_create;
        size_t size;
    } cases[] = {
        {"wt/ten-seconds", 10000, 0, 1000},
        {"wt/forever", SHMSTORE_WAIT_FOREVER, 1, 1 * MiB},
    };
    for (size_t k = 0; k < 2; k++) {
        pid_t pid = fork_child();
        assert_true(pid >= 0);
        if (pid == 0)
            rendezvous_child(D.socket, cases[k].name, cases[k].use_create, cases[k].size);

        struct watchdog wd = {.name = cases[k].name, .seconds = slack(30)};
        assert_int_equal(pthread_create(&wd.thread, NULL, watchdog_main, &wd), 0);
        double t0 = now_s();
        shmstore_object o;
        int rc = shmstore_get(C, cases[k].name, cases[k].timeout, &o);
        int64_t returned_ns = now_real_ns();
        wd.done = 1;
        pthread_join(wd.thread, NULL);
        double elapsed = now_s() - t0;
        if (rc)
            fprintf(stderr, "waiting get: %s: %s\n", shmstore_errname(rc), shmstore_errmsg(C));
        assert_int_equal(rc, 0);
        assert_child_exited_ok(pid);
        assert_int_equal(o.size, cases[k].size);
        assert_true(has_pattern(o.data, o.size, 77));
        /* It waited for the producer (who slept 200 ms after seeing us wait)... */
        assert_true(elapsed >= 0.15);
        /* ...and returned soon after the seal (created_ns is the seal time). */
        int64_t after_seal_ns = returned_ns - stat_of(C, cases[k].name).created_ns;
        if (after_seal_ns > (int64_t)(slack(2) * 1e9))
            fprintf(stderr, "waiting get returned %.3f s after the seal\n", after_seal_ns / 1e9);
        assert_true(after_seal_ns <= (int64_t)(slack(2) * 1e9));
        assert_int_equal(stat_of(C, cases[k].name).pins, 1);
        assert_rc(shmstore_release(C, &o), 0);
        assert_int_equal(info_of(C).waiters, 0);
    }
}

/* ---- names --------------------------------------------------------------------------------- */

static void test_bad_names(void **state)
{
    (void)state;
    char too_long[SHMSTORE_NAME_MAX + 2];
    memset(too_long, 'a', SHMSTORE_NAME_MAX + 1);
    too_long[SHMSTORE_NAME_MAX + 1] = '\0';
    const char *bad[] = {
        NULL,           "",           too_long,       "a\x01" "b", "tab\there", "new\nline",
        "del\x7f",      "\xff",       "ok/\xfe",      "\xc0\xaf",  "\xe6\x97",  "\xed\xa0\x80",
        "c1\xc2\x85",
    };
    /* A store with something in it, so "unchanged" means something. */
    assert_rc(put_pattern(C, "keep", 100, 1, 0), 0);
    shmstore_store_info before = info_of(C);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *n = bad[k];
        shmstore_object o;
        shmstore_object_stat st;
        void *w = NULL;
        uint64_t id = 0;
        uint8_t data[16] = {0};
        assert_rc(shmstore_put(C, n, data, sizeof data, NULL, 0, 0), SHMSTORE_EINVAL);
        assert_contains(shmstore_errmsg(C), "name");
        assert_rc(shmstore_put(C, n, data, sizeof data, NULL, 0, SHMSTORE_REPLACE),
                  SHMSTORE_EINVAL);
        assert_rc(shmstore_get(C, n, 0, &o), SHMSTORE_EINVAL);
        assert_rc(shmstore_get(C, n, 100, &o), SHMSTORE_EINVAL);
        assert_rc(shmstore_delete(C, n), SHMSTORE_EINVAL);
        assert_rc(shmstore_stat(C, n, &st), SHMSTORE_EINVAL);
        assert_rc(shmstore_create(C, n, 16, NULL, 0, 0, &w, &id), SHMSTORE_EINVAL);
        assert_contains(shmstore_errmsg(C), "name");
    }
    shmstore_store_info after = info_of(C);
    assert_int_equal(after.objects, before.objects);
    assert_int_equal(after.unsealed_objects, before.unsealed_objects);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_int_equal(after.pins, before.pins);
    assert_int_equal(after.waiters, 0);
    assert_rc(shmstore_ping(C), 0);
}

static void test_good_names(void **state)
{
    (void)state;
    char longest[SHMSTORE_NAME_MAX + 1];
    memset(longest, 'n', SHMSTORE_NAME_MAX);
    longest[10] = '/';
    longest[SHMSTORE_NAME_MAX] = '\0';
    char longest_utf8[SHMSTORE_NAME_MAX + 1] = "";
    for (int k = 0; k < SHMSTORE_NAME_MAX / 3; k++)
        strcat(longest_utf8, "\xe6\x97\xa5"); /* 日: 85 x 3 = 255 bytes */
    const char *good[] = {longest, longest_utf8, "job7/ëntrée/数据/x", "/", "a b*c?[d]", "~"};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        const char *n = good[k];
        assert_rc(put_pattern(C, n, 100 + k, k, 0), 0);
        shmstore_object o;
        assert_rc(shmstore_get(C, n, 0, &o), 0);
        assert_true(has_pattern(o.data, 100 + k, k));
        assert_rc(shmstore_release(C, &o), 0);
        shmstore_object_stat st = stat_of(C, n);
        assert_string_equal(st.name, n);
        assert_int_equal(st.size, 100 + k);
    }
    assert_int_equal(strlen(longest_utf8), SHMSTORE_NAME_MAX);
    assert_int_equal(info_of(C).objects, sizeof good / sizeof good[0]);
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++)
        assert_rc(shmstore_delete(C, good[k]), 0);
    assert_int_equal(info_of(C).objects, 0);
}

/* ---- store full ---------------------------------------------------------------------------- */

static void test_enospc_too_big(void **state)
{
    (void)state;
    shmstore_store_info before = info_of(C);
    const size_t big = 300 * MiB;
    /* A readable source that costs no memory: the daemon refuses before any byte is copied. */
    void *src = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(src != MAP_FAILED);
    assert_rc(shmstore_put(C, "big", src, big, NULL, 0, 0), SHMSTORE_ENOSPC);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", shmstore_errmsg(C));
    fprintf(stderr, "ENOSPC detail for 300 MiB: \"%s\"\n", msg);
    assert_contains(msg, "store full");
    assert_contains(msg, "300");
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "big", big, NULL, 0, 0, &w, &id), SHMSTORE_ENOSPC);
    assert_contains(shmstore_errmsg(C), "store full");
    munmap(src, big);
    /* Absurd sizes are refused the same way, not wrapped around. */
    assert_rc(shmstore_create(C, "big", SIZE_MAX, NULL, 0, 0, &w, &id), SHMSTORE_ENOSPC);
    assert_rc(shmstore_create(C, "big", SIZE_MAX - 10, "m", 1, 0, &w, &id), SHMSTORE_ENOSPC);

    /* Nothing changed and the name is not taken. */
    shmstore_store_info after = info_of(C);
    assert_int_equal(after.used_bytes, before.used_bytes);
    assert_int_equal(after.unsealed_objects, 0);
    assert_int_equal(after.objects, 0);
    assert_rc(put_pattern(C, "big", 10, 1, 0), 0);

    /* The detail says how much is free (shmstore.h's errmsg example), also when
     * the request is larger than the whole store. Checked last so the rest runs regardless. */
    assert_contains(msg, "free");
}

static void test_fill_until_enospc(void **state)
{
    (void)state;
    shmstore_store_info base = info_of(C);
    assert_int_equal(base.used_bytes, 0);
    const size_t chunk = 1 * MiB;
    void *buf = pattern_buf(chunk, 11);
    int n = 0, rc;
    char name[32];
    for (;;) {
        snprintf(name, sizeof name, "fill/%04d", n);
        rc = shmstore_put(C, name, buf, chunk, NULL, 0, 0);
        if (rc != 0)
            break;
        n++;
        assert_true(n <= 64);
    }
    free(buf);
    assert_rc(rc, SHMSTORE_ENOSPC);
    const char *msg = shmstore_errmsg(C);
    fprintf(stderr, "ENOSPC detail when full (%d objects): \"%s\"\n", n, msg);
    assert_contains(msg, "store full");
    assert_contains(msg, "free");
    assert_true(n >= 60); /* 64 MiB of 1 MiB objects: little may be lost to bookkeeping */
    shmstore_store_info full = info_of(C);
    assert_int_equal(full.objects, n);
    assert_int_equal(full.unsealed_objects, 0); /* the failed put left nothing behind */
    assert_true(full.largest_free_bytes < chunk);
    assert_int_equal(full.free_bytes, full.capacity_bytes - full.used_bytes);

    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "fill/%04d", k);
        assert_rc(shmstore_delete(C, name), 0);
    }
    shmstore_store_info empty = info_of(C);
    assert_int_equal(empty.used_bytes, 0);
    assert_int_equal(empty.objects, 0);
    assert_int_equal(empty.free_bytes, empty.capacity_bytes);
    /* Free space coalesced: one object of most of the store fits again. */
    assert_true(empty.largest_free_bytes >= empty.capacity_bytes - 64 * KiB);
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "fill/one", 48 * MiB, NULL, 0, 0, &w, &id), 0);
    assert_rc(shmstore_abort(C, id), 0);
}

/* A fragmented store: much is free, but no single range fits. The detail must still say how
 * much is free (as SHMSTORE_ENOSPC promises), not only the largest hole, or "store full" looks
 * like a full store. */
static void test_enospc_fragmented_detail(void **state)
{
    (void)state;
    void *buf = pattern_buf(1 * MiB, 12);
    char name[32];
    int n = 0;
    for (; n < 64; n++) {
        snprintf(name, sizeof name, "frag/%02d", n);
        if (shmstore_put(C, name, buf, 1 * MiB, NULL, 0, 0) != 0)
            break;
    }
    free(buf);
    assert_true(n >= 60);
    for (int k = 0; k < n; k += 2) {
        snprintf(name, sizeof name, "frag/%02d", k);
        assert_rc(shmstore_delete(C, name), 0);
    }
    shmstore_store_info i = info_of(C);
    assert_true(i.free_bytes >= 30 * MiB);
    assert_true(i.largest_free_bytes < 4 * MiB);

    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "frag/big", 8 * MiB, NULL, 0, 0, &w, &id), SHMSTORE_ENOSPC);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", shmstore_errmsg(C));
    fprintf(stderr, "ENOSPC detail when fragmented (free %llu, largest %llu): \"%s\"\n",
            (unsigned long long)i.free_bytes, (unsigned long long)i.largest_free_bytes, msg);
    assert_contains(msg, "store full");
    char free_text[HUMAN_SIZE_MAX];
    human_size_exact(i.free_bytes, free_text, sizeof free_text);
    assert_contains(msg, free_text);
    assert_contains(msg, "largest free block is");
    assert_contains(msg, "--memory");
    /* What fits still fits. */
    assert_rc(put_pattern(C, "frag/small", 512 * KiB, 1, 0), 0);
}

/* ---- stat / list / info / ping / errors ---------------------------------------------------- */

static void test_stat_fields(void **state)
{
    (void)state;
    int64_t t0 = now_real_ns();
    assert_rc(shmstore_put(C, "st/x", "0123456789", 10, "meta!", 5, 0), 0);
    int64_t t1 = now_real_ns();
    shmstore_object_stat st = stat_of(C, "st/x");
    assert_string_equal(st.name, "st/x");
    assert_int_equal(st.size, 10);
    assert_int_equal(st.meta_size, 5);
    assert_int_equal(st.pins, 0);
    assert_true(st.id != 0);
    /* Seal time, on the real clock; a second of slack for clock granularity. */
    assert_true(st.created_ns >= t0 - 1000000000);
    assert_true(st.created_ns <= t1 + 1000000000);

    shmstore_object a, b;
    assert_rc(shmstore_get(C, "st/x", 0, &a), 0);
    assert_int_equal(a.id, st.id);
    shmstore_client *other = connect_or_fail(D.socket);
    assert_rc(shmstore_get(other, "st/x", 0, &b), 0);
    assert_int_equal(pins_of(other, "st/x"), 2);
    assert_rc(shmstore_release(C, &a), 0);
    assert_int_equal(pins_of(C, "st/x"), 1);
    assert_rc(shmstore_release(other, &b), 0);
    assert_int_equal(pins_of(other, "st/x"), 0);

    /* Ids are never reused: a new object under the same name has a new one. */
    assert_rc(shmstore_delete(C, "st/x"), 0);
    assert_rc(put_pattern(C, "st/x", 10, 1, 0), 0);
    assert_true(stat_of(C, "st/x").id != st.id);

    assert_rc(shmstore_stat(C, "st/none", &st), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_stat(C, "st/x", NULL), SHMSTORE_EINVAL);
    shmstore_close(other);
}

struct name_list {
    char (*names)[SHMSTORE_NAME_MAX + 1];
    uint64_t *sizes;
    size_t count, cap;
    size_t stop_after; /* 0: never stop */
    int stop_value;
};

static int collect(const shmstore_object_stat *e, void *arg)
{
    struct name_list *l = arg;
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        l->sizes = realloc(l->sizes, l->cap * sizeof *l->sizes);
        if (!l->names || !l->sizes)
            abort();
    }
    memcpy(l->names[l->count], e->name, sizeof e->name);
    l->sizes[l->count] = e->size;
    l->count++;
    if (l->stop_after && l->count == l->stop_after)
        return l->stop_value;
    return 0;
}

static void list_free(struct name_list *l)
{
    free(l->names);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}

static void list_names(const char *pattern, struct name_list *l)
{
    memset(l, 0, sizeof *l);
    int rc = shmstore_list(C, pattern, collect, l);
    if (rc)
        fprintf(stderr, "list: %s: %s\n", shmstore_errname(rc), shmstore_errmsg(C));
    assert_int_equal(rc, 0);
}

static void assert_list_is(const char *pattern, const char *const *want, size_t n)
{
    struct name_list l;
    list_names(pattern, &l);
    if (l.count != n) {
        fprintf(stderr, "list \"%s\" gave %zu entries, want %zu:\n", pattern ? pattern : "(NULL)",
                l.count, n);
        for (size_t k = 0; k < l.count; k++)
            fprintf(stderr, "  %s\n", l.names[k]);
    }
    assert_int_equal(l.count, n);
    for (size_t k = 0; k < n; k++)
        assert_string_equal(l.names[k], want[k]);
    list_free(&l);
}

static void test_list_glob(void **state)
{
    (void)state;
    const char *names[] = {"job7/a/b", "job8/a", "job7b", "job7/a", "other", "job7/"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        assert_rc(put_pattern(C, names[k], 10 + k, k, 0), 0);
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(C, "job7/unsealed", 10, NULL, 0, 0, &w, &id), 0);
    assert_rc(put_pattern(C, "job7/deleted", 10, 1, 0), 0);
    assert_rc(shmstore_delete(C, "job7/deleted"), 0);

    /* '*' crosses '/'; results come in byte order; unsealed and deleted ones do not show. */
    const char *job7[] = {"job7/", "job7/a", "job7/a/b"};
    assert_list_is("job7/*", job7, 3);
    const char *all[] = {"job7/", "job7/a", "job7/a/b", "job7b", "job8/a", "other"};
    assert_list_is(NULL, all, 6);
    assert_list_is("", all, 6);
    assert_list_is("*", all, 6);
    const char *q[] = {"job7/a", "job8/a"};
    assert_list_is("job?/a", q, 2);
    const char *br[] = {"job8/a"};
    assert_list_is("job[8b]*", br, 1);
    const char *cls[] = {"job7/", "job7/a", "job7/a/b", "job7b", "job8/a"};
    assert_list_is("job[78][/b]*", cls, 5);
    assert_list_is("nothing*", NULL, 0);
    assert_list_is("job7", NULL, 0);

    /* The entries carry the stat fields. */
    struct name_list l;
    list_names("other", &l);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.sizes[0], 14);
    list_free(&l);

    /* Patterns up to the limit work; one byte more is refused. */
    char long_pattern[SHM_PATTERN_MAX + 2];
    memset(long_pattern, '*', sizeof long_pattern - 1);
    long_pattern[SHM_PATTERN_MAX] = '\0';
    assert_list_is(long_pattern, all, 6);
    long_pattern[SHM_PATTERN_MAX] = '*';
    long_pattern[SHM_PATTERN_MAX + 1] = '\0';
    assert_rc(shmstore_list(C, long_pattern, collect, &l), SHMSTORE_EINVAL);
    assert_rc(shmstore_list(C, "*", NULL, NULL), SHMSTORE_EINVAL);
    assert_rc(shmstore_abort(C, id), 0);
}

static int cmp_bytes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b); /* unsigned bytes */
}

/* Delete by pattern: one request unbinds the sealed objects whose names match as `ls` matches
 * them; names that only look alike, objects still being written and a reader's pinned object
 * are left alone, and nothing matching is a count of 0, not an error. */
static void test_delete_matching(void **state)
{
    (void)state;
    const char *names[] = {"job7/a", "job7/b/c", "job7", "job70/x", "job8/a", "other"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        assert_rc(put_pattern(C, names[k], 100 + k, k, 0), 0);
    assert_rc(put_pattern(C, "job7/big", 2 * MiB, 42, 0), 0);
    void *w;
    uint64_t unsealed_id;
    assert_rc(shmstore_create(C, "job7/unsealed", 10, NULL, 0, 0, &w, &unsealed_id), 0);
    shmstore_client *reader = connect_or_fail(D.socket);
    shmstore_object pinned;
    assert_rc(shmstore_get(reader, "job7/big", 0, &pinned), 0);

    uint64_t deleted = 99;
    assert_rc(shmstore_delete_matching(C, "job7/*", &deleted), 0);
    assert_int_equal(deleted, 3);   /* job7/a, job7/b/c, job7/big */
    const char *left[] = {"job7", "job70/x", "job8/a", "other"};
    assert_list_is(NULL, left, 4);
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.objects, 4);
    assert_int_equal(i.unsealed_objects, 1);
    assert_int_equal(i.deleted_pinned, 1);
    /* The reader's object is unbound but intact until it lets go. */
    assert_rc(shmstore_stat(C, "job7/big", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);
    assert_true(has_pattern(pinned.data, pinned.size, 42));
    assert_rc(shmstore_release(reader, &pinned), 0);
    assert_true(WAIT_FOR(info_of(C).deleted_pinned == 0, slack(5)));
    /* The object being written was not touched: it seals under its name. */
    memset(w, 'u', 10);
    assert_rc(shmstore_seal(C, unsealed_id), 0);
    assert_int_equal(stat_of(C, "job7/unsealed").size, 10);

    /* Nothing matches: success with 0; deleted_out may be NULL. */
    deleted = 99;
    assert_rc(shmstore_delete_matching(C, "nothing*", &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_rc(shmstore_delete_matching(C, "job8/?", NULL), 0);
    assert_rc(shmstore_stat(C, "job8/a", &(shmstore_object_stat){0}), SHMSTORE_ENOTFOUND);

    /* Bad arguments are refused before anything is deleted, and leave *deleted_out alone. */
    deleted = 99;
    assert_rc(shmstore_delete_matching(NULL, "*", &deleted), SHMSTORE_EINVAL);
    assert_true(shmstore_errmsg(NULL)[0] != '\0');
    assert_rc(shmstore_delete_matching(C, NULL, &deleted), SHMSTORE_EINVAL);
    assert_rc(shmstore_delete_matching(C, "", &deleted), SHMSTORE_EINVAL);
    assert_contains(shmstore_errmsg(C), "pattern");
    char long_pattern[SHM_PATTERN_MAX + 2];
    memset(long_pattern, '*', sizeof long_pattern - 1);
    long_pattern[sizeof long_pattern - 1] = '\0';
    assert_rc(shmstore_delete_matching(C, long_pattern, &deleted), SHMSTORE_EINVAL);
    assert_int_equal(deleted, 99);
    assert_int_equal(info_of(C).objects, 4);   /* job7, job7/unsealed, job70/x, other */

    /* A pattern of the longest size is served; "*" takes everything sealed. */
    long_pattern[SHM_PATTERN_MAX] = '\0';
    assert_rc(shmstore_delete_matching(C, long_pattern, &deleted), 0);
    assert_int_equal(deleted, 4);
    assert_int_equal(info_of(C).objects, 0);
    assert_rc(shmstore_delete_matching(C, "*", &deleted), 0);
    assert_int_equal(deleted, 0);
    shmstore_close(reader);
}

static void test_list_many(void **state)
{
    (void)state;
    size_t n = harness_scale(1000, 300); /* always more than two 128-entry pages */
    char **names = calloc(n, sizeof *names);
    assert_non_null(names);
    /* Names in a scrambled order of insertion, some sharing prefixes, some with bytes >= 0x80
     * (which sort after ASCII in byte order), some one a prefix of another. */
    static const char *const tails[] = {"", "/x", "\xc3\xa9", "\xe6\x97\xa5", "Z", "/"};
    for (size_t k = 0; k < n; k++) {
        size_t j = (k * 7919) % n; /* 7919 is prime and n < 7919: a permutation of 0..n-1 */
        names[k] = malloc(64);
        assert_non_null(names[k]);
        snprintf(names[k], 64, "many/%zu%s", j, tails[j % 6]);
    }
    for (size_t k = 0; k < n; k++)
        assert_rc(shmstore_put(C, names[k], &k, sizeof k, NULL, 0, 0), 0);
    assert_rc(put_pattern(C, "few/a", 1, 1, 0), 0);
    assert_int_equal(info_of(C).objects, n + 1);
    qsort(names, n, sizeof *names, cmp_bytes);
    for (size_t k = 1; k < n; k++)
        assert_true(strcmp(names[k - 1], names[k]) != 0);

    struct name_list l;
    list_names("many/*", &l);
    if (l.count != n)
        fprintf(stderr, "listed %zu of %zu objects\n", l.count, n);
    assert_int_equal(l.count, n);
    for (size_t k = 0; k < n; k++) {
        if (strcmp(l.names[k], names[k]) != 0)
            fail_msg("entry %zu is \"%s\", want \"%s\"", k, l.names[k], names[k]);
        assert_int_equal(l.sizes[k], sizeof(size_t));
    }
    list_free(&l);
    list_names(NULL, &l);
    assert_int_equal(l.count, n + 1);
    assert_string_equal(l.names[0], "few/a");
    for (size_t k = 1; k < l.count; k++)
        assert_true(strcmp(l.names[k - 1], l.names[k]) < 0);
    list_free(&l);

    /* A sparse pattern over the many: every match, once. */
    list_names("*Z", &l);
    size_t want = 0;
    for (size_t k = 0; k < n; k++)
        want += names[k][strlen(names[k]) - 1] == 'Z';
    assert_int_equal(l.count, want);
    for (size_t k = 1; k < l.count; k++)
        assert_true(strcmp(l.names[k - 1], l.names[k]) < 0);
    list_free(&l);

    for (size_t k = 0; k < n; k++)
        free(names[k]);
    free(names);
}

static void test_list_stop(void **state)
{
    (void)state;
    for (int k = 0; k < 300; k++) {
        char name[32];
        snprintf(name, sizeof name, "ls/%03d", k);
        assert_rc(shmstore_put(C, name, name, strlen(name), NULL, 0, 0), 0);
    }
    const size_t stops[] = {1, 3, 128, 129, 300};
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
        struct name_list l = {.stop_after = stops[k], .stop_value = 42 + (int)k};
        assert_rc(shmstore_list(C, "ls/*", collect, &l), 42 + (int)k);
        assert_int_equal(l.count, stops[k]);
        assert_string_equal(l.names[0], "ls/000");
        list_free(&l);
        /* A negative value stops too, and is handed back unchanged. */
        l = (struct name_list){.stop_after = stops[k], .stop_value = -1000};
        assert_rc(shmstore_list(C, "ls/*", collect, &l), -1000);
        assert_int_equal(l.count, stops[k]);
        list_free(&l);
        /* The handle is in step afterwards. */
        assert_rc(shmstore_ping(C), 0);
        assert_int_equal(stat_of(C, "ls/299").size, 6);
    }
}

static void test_info_fields(void **state)
{
    (void)state;
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.capacity_bytes, 64 * MiB);
    assert_int_equal(i.used_bytes, 0);
    assert_int_equal(i.free_bytes, i.capacity_bytes);
    assert_int_equal(i.largest_free_bytes, i.capacity_bytes);
    assert_int_equal(i.objects, 0);
    assert_int_equal(i.unsealed_objects, 0);
    assert_int_equal(i.unsealed_bytes, 0);
    assert_int_equal(i.deleted_pinned, 0);
    assert_int_equal(i.pins, 0);
    assert_int_equal(i.clients, 1);
    assert_int_equal(i.waiters, 0);
    assert_true(i.uptime_s < 3600);
    assert_string_equal(i.version, shmstore_version());
    assert_string_equal(shmstore_version(), SHMSTORE_VERSION_STRING);

    shmstore_client *a = connect_or_fail(D.socket);
    shmstore_client *b = connect_or_fail(D.socket);
    assert_int_equal(info_of(C).clients, 3);
    assert_rc(put_pattern(a, "inf/x", 100 * KiB, 1, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(b, "inf/x", 0, &o), 0);
    shmstore_store_info j = info_of(C);
    assert_int_equal(j.objects, 1);
    assert_int_equal(j.pins, 1);
    assert_true(j.used_bytes >= 100 * KiB);
    assert_int_equal(j.free_bytes, j.capacity_bytes - j.used_bytes);
    assert_true(j.requests > i.requests);
    assert_rc(shmstore_release(b, &o), 0);
    shmstore_close(a);
    shmstore_close(b);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    assert_int_equal(info_of(C).pins, 0);
    assert_rc(shmstore_info(C, NULL), SHMSTORE_EINVAL);

    /* -m is honoured whatever the size. */
    struct test_daemon d2;
    assert_int_equal(harness_start(&d2, "3M", NULL), 0);
    shmstore_client *c2 = connect_or_fail(d2.socket);
    assert_int_equal(info_of(c2).capacity_bytes, 3 * MiB);
    shmstore_close(c2);
    assert_int_equal(harness_stop(&d2), 0);
}

static void test_ping_and_null_handles(void **state)
{
    (void)state;
    assert_rc(shmstore_ping(C), 0);
    for (int k = 0; k < 100; k++)
        assert_rc(shmstore_ping(C), 0);
    shmstore_object o = {0};
    shmstore_object_stat st;
    shmstore_store_info i;
    void *w;
    uint64_t id;
    assert_rc(shmstore_ping(NULL), SHMSTORE_EINVAL);
    assert_rc(shmstore_put(NULL, "x", "x", 1, NULL, 0, 0), SHMSTORE_EINVAL);
    assert_rc(shmstore_create(NULL, "x", 1, NULL, 0, 0, &w, &id), SHMSTORE_EINVAL);
    assert_rc(shmstore_seal(NULL, 1), SHMSTORE_EINVAL);
    assert_rc(shmstore_abort(NULL, 1), SHMSTORE_EINVAL);
    assert_rc(shmstore_get(NULL, "x", 0, &o), SHMSTORE_EINVAL);
    assert_rc(shmstore_release(NULL, &o), SHMSTORE_EINVAL);
    assert_rc(shmstore_delete(NULL, "x"), SHMSTORE_EINVAL);
    assert_rc(shmstore_stat(NULL, "x", &st), SHMSTORE_EINVAL);
    assert_rc(shmstore_list(NULL, "*", collect, NULL), SHMSTORE_EINVAL);
    assert_rc(shmstore_info(NULL, &i), SHMSTORE_EINVAL);
    assert_non_null(shmstore_errmsg(C));
}

static void test_strerror_errname(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
    } codes[] = {
        {SHMSTORE_EINVAL, "SHMSTORE_EINVAL"},       {SHMSTORE_ENOTFOUND, "SHMSTORE_ENOTFOUND"},
        {SHMSTORE_EEXIST, "SHMSTORE_EEXIST"},       {SHMSTORE_ENOSPC, "SHMSTORE_ENOSPC"},
        {SHMSTORE_ETIMEDOUT, "SHMSTORE_ETIMEDOUT"}, {SHMSTORE_ESTATE, "SHMSTORE_ESTATE"},
        {SHMSTORE_EPERM, "SHMSTORE_EPERM"},         {SHMSTORE_ECONN, "SHMSTORE_ECONN"},
        {SHMSTORE_EPROTO, "SHMSTORE_EPROTO"},       {SHMSTORE_ENOMEM, "SHMSTORE_ENOMEM"},
        {SHMSTORE_EIO, "SHMSTORE_EIO"},             {SHMSTORE_EINTR, "SHMSTORE_EINTR"},
    };
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t k = 0; k < n; k++) {
        assert_true(codes[k].code < 0);
        assert_string_equal(shmstore_errname(codes[k].code), codes[k].name);
        const char *text = shmstore_strerror(codes[k].code);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        assert_string_not_equal(text, "unknown error");
        for (size_t j = 0; j < k; j++) {
            assert_true(codes[j].code != codes[k].code);
            assert_string_not_equal(shmstore_strerror(codes[j].code), text);
        }
    }
    assert_string_equal(shmstore_strerror(SHMSTORE_ENOSPC), "store full");
    assert_string_equal(shmstore_strerror(SHMSTORE_ENOTFOUND), "not found");
    assert_string_equal(shmstore_errname(-1000), "SHMSTORE_UNKNOWN");
    assert_string_equal(shmstore_strerror(-1000), "unknown error");
    assert_string_equal(shmstore_errname(12345), "SHMSTORE_UNKNOWN");
    assert_non_null(shmstore_strerror(0));
    assert_non_null(shmstore_errname(0));
}

/* ---- threads ------------------------------------------------------------------------------- */

struct thread_arg {
    shmstore_client *c;
    int index;
    size_t iterations;
    int failures;
    size_t kept;
    char what[256];
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    static const size_t sizes[] = {1, 100, 4000, 64 * 1024, 64 * 1024 + 1, 300 * 1024};
    for (size_t i = 0; i < a->iterations && !a->failures; i++) {
        char name[64];
        snprintf(name, sizeof name, "thr/%d/%zu", a->index, i);
        size_t size = sizes[(i + (size_t)a->index) % 6];
        uint64_t seed = (uint64_t)a->index * 1000003u + i;
        void *buf = malloc(size);
        if (!buf)
            abort();
        fill_pattern(buf, size, seed);
        int rc = shmstore_put(a->c, name, buf, size, NULL, 0, 0);
        free(buf);
        shmstore_object o;
        if (rc == 0)
            rc = shmstore_get(a->c, name, 0, &o);
        if (rc) {
            snprintf(a->what, sizeof a->what, "%s: %s", name, shmstore_errname(rc));
            a->failures++;
            break;
        }
        if (o.size != size || !has_pattern(o.data, size, seed)) {
            snprintf(a->what, sizeof a->what, "%s: wrong bytes", name);
            a->failures++;
        }
        if ((rc = shmstore_release(a->c, &o)) != 0 ||
            (i % 2 == 0 && (rc = shmstore_delete(a->c, name)) != 0)) {
            snprintf(a->what, sizeof a->what, "%s: release/delete %s", name, shmstore_errname(rc));
            a->failures++;
        }
        if (i % 2 == 1)
            a->kept++;
    }
    return NULL;
}

static void test_threads_share_handle(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    struct thread_arg args[THREADS];
    size_t iterations = harness_scale(400, 20);
    for (int k = 0; k < THREADS; k++) {
        args[k] = (struct thread_arg){.c = C, .index = k, .iterations = iterations};
        assert_int_equal(pthread_create(&t[k], NULL, thread_main, &args[k]), 0);
    }
    size_t kept = 0;
    for (int k = 0; k < THREADS; k++) {
        pthread_join(t[k], NULL);
        if (args[k].failures)
            fprintf(stderr, "thread %d: %s\n", k, args[k].what);
        assert_int_equal(args[k].failures, 0);
        kept += args[k].kept;
    }
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.pins, 0);
    assert_int_equal(i.objects, kept);
    assert_int_equal(i.unsealed_objects, 0);
    struct name_list l;
    list_names("thr/*", &l);
    assert_int_equal(l.count, kept);
    list_free(&l);
}

/* ---- fork ---------------------------------------------------------------------------------- */

static void test_fork_child_reconnects(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "fk/obj", 256 * KiB, 5, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(C, "fk/obj", 0, &o), 0);
    assert_int_equal(pins_of(C, "fk/obj"), 1);

    int to_parent[2], to_child[2];
    assert_int_equal(pipe(to_parent), 0);
    assert_int_equal(pipe(to_child), 0);
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_parent[0]);
        close(to_child[1]);
        /* (1) The parent's pointer is readable here. */
        CHILD_REQUIRE(has_pattern(o.data, o.size, 5));
        /* (2) The first call works, on a connection of the child's own. */
        shmstore_object mine;
        CHILD_REQUIRE(shmstore_get(C, "fk/obj", 0, &mine) == 0);
        CHILD_REQUIRE(has_pattern(mine.data, mine.size, 5));
        CHILD_REQUIRE(put_pattern(C, "fk/from-child", 1000, 6, 0) == 0);
        shmstore_store_info i;
        CHILD_REQUIRE(shmstore_info(C, &i) == 0);
        CHILD_REQUIRE(i.clients == 2);
        CHILD_REQUIRE(i.pins == 2);
        CHILD_REQUIRE(write(to_parent[1], "r", 1) == 1);
        char go;
        CHILD_REQUIRE(read(to_child[0], &go, 1) == 1);
        /* (3) The child releases its own pin; the parent's is not the child's to release... */
        CHILD_REQUIRE(shmstore_release(C, &mine) == 0);
        shmstore_object parents = o;
        CHILD_REQUIRE(shmstore_release(C, &parents) == SHMSTORE_ESTATE);
        CHILD_REQUIRE(shmstore_stat(C, "fk/obj", &(shmstore_object_stat){0}) == 0);
        /* ...nor to drop by closing. */
        shmstore_close(C);
        _exit(0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    char ready = 0;
    struct pollfd pfd = {to_parent[0], POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, (int)(slack(20) * 1000)), 1);
    ssize_t got = read(to_parent[0], &ready, 1);
    if (got != 1)
        assert_child_exited_ok(pid); /* shows the child's failure */
    assert_int_equal(got, 1);
    /* The child holds a pin of its own, beside ours. */
    assert_int_equal(pins_of(C, "fk/obj"), 2);
    assert_int_equal(info_of(C).clients, 2);
    assert_int_equal(write(to_child[1], "g", 1), 1);
    assert_child_exited_ok(pid);
    close(to_parent[0]);
    close(to_child[1]);

    /* After the child is gone: our pin stands, our connection is in step. */
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    shmstore_object_stat st = stat_of(C, "fk/obj");
    assert_int_equal(st.pins, 1);
    assert_true(has_pattern(o.data, o.size, 5));
    shmstore_object child_obj;
    assert_rc(shmstore_get(C, "fk/from-child", 0, &child_obj), 0);
    assert_true(has_pattern(child_obj.data, 1000, 6));
    assert_rc(shmstore_release(C, &child_obj), 0);
    assert_rc(shmstore_release(C, &o), 0);
    assert_int_equal(pins_of(C, "fk/obj"), 0);
    assert_int_equal(info_of(C).pins, 0);
}

/* A fork child that only closes the inherited handle must not disturb the parent either. */
static void test_fork_child_close_only(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "fk2/obj", 100, 8, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(C, "fk2/obj", 0, &o), 0);
    pid_t pid = fork_child();
    assert_true(pid >= 0);
    if (pid == 0) {
        shmstore_close(C);
        _exit(0);
    }
    assert_child_exited_ok(pid);
    assert_rc(shmstore_ping(C), 0);
    assert_int_equal(pins_of(C, "fk2/obj"), 1);
    assert_int_equal(info_of(C).clients, 1);
    assert_rc(shmstore_release(C, &o), 0);
    assert_int_equal(pins_of(C, "fk2/obj"), 0);
}

/* ---- close / lost daemon ------------------------------------------------------------------- */

static void test_close_releases_and_aborts(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "cl/a", 1 * MiB, 1, 0), 0);
    assert_rc(put_pattern(C, "cl/b", 100, 2, 0), 0);
    shmstore_store_info base = info_of(C);

    shmstore_client *h = connect_or_fail(D.socket);
    shmstore_object a1, a2, b;
    assert_rc(shmstore_get(h, "cl/a", 0, &a1), 0);
    assert_rc(shmstore_get(h, "cl/a", 0, &a2), 0);
    assert_rc(shmstore_get(h, "cl/b", 0, &b), 0);
    void *w;
    uint64_t u1, u2;
    assert_rc(shmstore_create(h, "cl/u1", 3 * MiB, NULL, 0, 0, &w, &u1), 0);
    memset(w, 1, 3 * MiB);
    assert_rc(shmstore_create(h, "cl/u2", 10, "m", 1, 0, &w, &u2), 0);
    assert_rc(shmstore_delete(C, "cl/b"), 0); /* deleted while h pins it */

    shmstore_store_info held = info_of(C);
    assert_int_equal(held.pins, 3);
    assert_int_equal(held.unsealed_objects, 2);
    assert_int_equal(held.unsealed_bytes, 3 * MiB + 10);
    assert_int_equal(held.deleted_pinned, 1);
    assert_int_equal(held.clients, 2);
    assert_int_equal(pins_of(C, "cl/a"), 2);

    shmstore_close(h);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    shmstore_store_info i = info_of(C);
    assert_int_equal(i.pins, 0);
    assert_int_equal(i.unsealed_objects, 0);
    assert_int_equal(i.unsealed_bytes, 0);
    assert_int_equal(i.deleted_pinned, 0);
    assert_int_equal(i.objects, base.objects - 1);
    assert_true(i.used_bytes < base.used_bytes);
    assert_int_equal(pins_of(C, "cl/a"), 0);
    /* The unsealed objects' names are free again. */
    assert_rc(shmstore_create(C, "cl/u1", 10, NULL, 0, 0, &w, &u1), 0);
    assert_rc(shmstore_abort(C, u1), 0);
    assert_rc(put_pattern(C, "cl/u2", 10, 3, 0), 0);
    assert_rc(shmstore_delete(C, "cl/u2"), 0);
    assert_rc(shmstore_delete(C, "cl/a"), 0);
    assert_int_equal(info_of(C).used_bytes, 0);
}

/* The classic worker-pool shape: a process connects, forks workers that never use the library,
 * and closes its handle while they still run. The workers inherited the connection's socket with
 * fork, but the connection is the parent's: its close must release its pins and abort its
 * unsealed objects now, not when the last worker exits. */
static void test_close_while_fork_child_lives(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "cf/a", 1000, 1, 0), 0);
    shmstore_store_info base = info_of(C);
    /* static: in the worker it stays reachable (valgrind would call it lost otherwise) */
    static shmstore_client *h;
    h = connect_or_fail(D.socket);
    shmstore_object o;
    assert_rc(shmstore_get(h, "cf/a", 0, &o), 0);
    void *w;
    uint64_t id;
    assert_rc(shmstore_create(h, "cf/u", 2 * MiB, NULL, 0, 0, &w, &id), 0);

    int hold[2];
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork_child();
    if (pid == 0) {
        /* A worker that never calls shmstore: it just lives until told to go. */
        close(hold[1]);
        char b;
        ssize_t n = read(hold[0], &b, 1);
        (void)n;
        _exit(0);
    }
    close(hold[0]);
    shmstore_close(h);
    shmstore_store_info i;
    bool released = WAIT_FOR((i = info_of(C), i.pins == base.pins && i.unsealed_objects == 0 &&
                                                  i.clients == base.clients),
                             slack(5));
    /* Let the worker go before judging, so a failure leaves nothing behind. */
    close(hold[1]);
    assert_child_exited_ok(pid);
    if (!released)
        fprintf(stderr, "after shmstore_close with a fork child alive: pins %llu (want %llu), "
                        "unsealed %llu (want 0), clients %llu (want %llu)\n",
                (unsigned long long)i.pins, (unsigned long long)base.pins,
                (unsigned long long)i.unsealed_objects, (unsigned long long)i.clients,
                (unsigned long long)base.clients);
    assert_true(released);
    /* Once the worker is gone, everything is released in any case. */
    assert_true(WAIT_FOR(info_of(C).pins == base.pins, slack(5)));
}

static void test_daemon_gone_gives_econn(void **state)
{
    (void)state;
    struct test_daemon d2;
    assert_int_equal(harness_start(&d2, "16M", NULL), 0);
    shmstore_client *h = connect_or_fail(d2.socket);
    assert_rc(put_pattern(h, "gone/x", 100, 1, 0), 0);
    shmstore_object o;
    assert_rc(shmstore_get(h, "gone/x", 0, &o), 0);
    /* The daemon stops cleanly with a client connected. */
    assert_int_equal(harness_stop(&d2), 0);

    shmstore_store_info i;
    shmstore_object_stat st;
    void *w;
    uint64_t id;
    assert_rc(shmstore_ping(h), SHMSTORE_ECONN);
    assert_true(strlen(shmstore_errmsg(h)) > 0);
    assert_rc(shmstore_get(h, "gone/x", 0, &o), SHMSTORE_ECONN);
    assert_rc(put_pattern(h, "gone/y", 10, 1, 0), SHMSTORE_ECONN);
    assert_rc(put_pattern(h, "gone/z", 1 * MiB, 1, 0), SHMSTORE_ECONN);
    assert_rc(shmstore_create(h, "gone/w", 10, NULL, 0, 0, &w, &id), SHMSTORE_ECONN);
    assert_rc(shmstore_stat(h, "gone/x", &st), SHMSTORE_ECONN);
    assert_rc(shmstore_info(h, &i), SHMSTORE_ECONN);
    assert_rc(shmstore_delete(h, "gone/x"), SHMSTORE_ECONN);
    assert_rc(shmstore_list(h, "*", collect, NULL), SHMSTORE_ECONN);
    assert_rc(shmstore_ping(h), SHMSTORE_ECONN);
    shmstore_close(h);

    /* The test's own daemon noticed nothing. */
    assert_rc(shmstore_ping(C), 0);
}

/* ---- protocol version ---------------------------------------------------------------------- */

static void test_hello_wrong_version(void **state)
{
    (void)state;
    int fd = unix_connect(D.socket);
    assert_true(fd >= 0);

    struct shm_request req = {.type = SHM_MSG_HELLO, .seq = 7};
    req.u.hello.version = 99;
    req.u.hello.pid = (uint32_t)getpid();
    struct shm_buf out = {0};
    assert_int_equal(shm_encode_request(&req, &out), 0);
    assert_int_equal(send(fd, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
    shm_buf_free(&out);

    /* Read one whole frame, with a time limit. */
    static uint8_t in[SHM_FRAME_HEADER + SHM_FRAME_MAX];
    size_t have = 0;
    uint32_t body_len = 0;
    for (;;) {
        if (have >= SHM_FRAME_HEADER) {
            assert_int_equal(shm_frame_length(in, &body_len), 0);
            if (have >= SHM_FRAME_HEADER + body_len)
                break;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        assert_int_equal(poll(&pfd, 1, (int)(slack(5) * 1000)), 1);
        ssize_t n = recv(fd, in + have, sizeof in - have, 0);
        assert_true(n > 0);
        have += (size_t)n;
    }
    struct shm_reply rep;
    assert_int_equal(shm_decode_reply(in + SHM_FRAME_HEADER, body_len, &rep, NULL), SHM_DECODE_OK);
    assert_int_equal(rep.type, SHM_MSG_HELLO);
    assert_int_equal(rep.seq, 7);
    assert_int_equal(rep.status, SHMSTORE_EPROTO);
    char msg[1100];
    snprintf(msg, sizeof msg, "%.*s", (int)rep.u.error.len, (const char *)rep.u.error.ptr);
    fprintf(stderr, "refusal: \"%s\"\n", msg);
    assert_contains(msg, "version");
    assert_contains(msg, "99");

    /* Then the daemon closes the connection. */
    assert_int_equal(have, SHM_FRAME_HEADER + body_len);
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, (int)(slack(5) * 1000)), 1);
    uint8_t extra[16];
    ssize_t n = recv(fd, extra, sizeof extra, 0);
    assert_int_equal(n, 0);
    close(fd);

    /* Others notice nothing. */
    assert_rc(shmstore_ping(C), 0);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
}

/* ---- regressions ---------------------------------------------------------------------------- */

/* Regression (ids_reused_after_restart): every daemon counted ids from 1, so after a restart a
 * handle's release of an object got before it unpinned whichever new object took the same id. */
static void test_ids_not_reused_after_restart(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "old", 100, 1, 0), 0);
    shmstore_object old;
    assert_rc(shmstore_get(C, "old", 0, &old), 0);
    assert_int_equal(harness_restart(&D), 0);
    /* The first call notices the lost connection; the next one reconnects. */
    int rc = shmstore_ping(C);
    if (rc == SHMSTORE_ECONN)
        rc = shmstore_ping(C);
    assert_rc(rc, 0);
    for (uint64_t i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "new%llu", (unsigned long long)i);
        assert_rc(put_pattern(C, name, 100, 2 + i, 0), 0);
        shmstore_object_stat st = stat_of(C, name);
        assert_true(st.id != old.id);
    }
    shmstore_object fresh;
    assert_rc(shmstore_get(C, "new3", 0, &fresh), 0);
    assert_int_equal(shmstore_release(C, &old), SHMSTORE_ESTATE);   /* that pin died with A */
    assert_int_equal(pins_of(C, "new3"), 1);
    assert_rc(shmstore_release(C, &fresh), 0);
}

/* Regression (replace_create_did_not_take_the_name): a name is taken at create, with
 * or without REPLACE; a plain put while a REPLACE create was in progress used to succeed and
 * then be replaced silently at the seal. */
static void test_replace_create_takes_the_name(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    void *data;
    uint64_t id;
    assert_rc(shmstore_create(C, "taken", 8, NULL, 0, SHMSTORE_REPLACE, &data, &id), 0);
    memcpy(data, "creator", 8);
    assert_int_equal(shmstore_put(other, "taken", "plain", 6, NULL, 0, 0), SHMSTORE_EEXIST);
    void *data2;
    uint64_t id2;
    assert_int_equal(shmstore_create(other, "taken", 8, NULL, 0, 0, &data2, &id2),
                     SHMSTORE_EEXIST);
    assert_rc(shmstore_put(other, "taken", "replacer", 9, NULL, 0, SHMSTORE_REPLACE), 0);
    assert_rc(shmstore_seal(C, id), 0);   /* the last seal wins */
    shmstore_object obj;
    assert_rc(shmstore_get(other, "taken", 0, &obj), 0);
    assert_memory_equal(obj.data, "creator", 8);
    assert_rc(shmstore_release(other, &obj), 0);
    /* An aborted REPLACE create gives the name back. */
    assert_rc(shmstore_delete(C, "taken"), 0);
    assert_rc(shmstore_create(C, "taken", 8, NULL, 0, SHMSTORE_REPLACE, &data, &id), 0);
    assert_rc(shmstore_abort(C, id), 0);
    assert_rc(shmstore_put(other, "taken", "free", 5, NULL, 0, 0), 0);
    shmstore_close(other);
}

struct ping_thread {
    shmstore_client *c;
    int failures;
};

static void *ping_many(void *arg)
{
    struct ping_thread *t = arg;
    for (int i = 0; i < 50; i++)
        if (shmstore_ping(t->c) != 0)
            t->failures++;
    return NULL;
}

/* Regression (fork_child_threads_raced_on_handle): the first threads of a fork child to use an
 * inherited handle each reset it, re-initialising a mutex another thread held and interleaving
 * frames on one socket. */
static void test_fork_child_threads_share_handle(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "shared", 4096, 5, 0), 0);
    size_t rounds = harness_scale(40, 4);
    for (size_t round = 0; round < rounds; round++) {
        pid_t pid = fork_child();
        if (pid == 0) {
            struct ping_thread t[8];
            pthread_t tid[8];
            for (int i = 0; i < 8; i++) {
                t[i] = (struct ping_thread){C, 0};
                CHILD_REQUIRE(pthread_create(&tid[i], NULL, ping_many, &t[i]) == 0);
            }
            int failures = 0;
            for (int i = 0; i < 8; i++) {
                pthread_join(tid[i], NULL);
                failures += t[i].failures;
            }
            shmstore_object obj;
            CHILD_REQUIRE(failures == 0);
            CHILD_REQUIRE(shmstore_get(C, "shared", 0, &obj) == 0);
            CHILD_REQUIRE(has_pattern(obj.data, obj.size, 5));
            CHILD_REQUIRE(shmstore_release(C, &obj) == 0);
            _exit(0);
        }
        assert_child_exited_ok(pid);
    }
    assert_rc(shmstore_ping(C), 0);
    assert_int_equal(pins_of(C, "shared"), 0);
}

/* ---- error detail per thread ------------------------------------------------------------- */

/* The rules of "Error detail" in shmstore.h, in one thread. */
static void test_errmsg_rules(void **state)
{
    (void)state;
    shmstore_client *other = connect_or_fail(D.socket);
    shmstore_object o;
    assert_rc(shmstore_get(C, "er/missing", 0, &o), SHMSTORE_ENOTFOUND);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", shmstore_errmsg(C));
    assert_contains(detail, "er/missing");
    /* The detail is the failed call's handle's, and errmsg(NULL) sees it whatever the handle. */
    assert_string_equal(shmstore_errmsg(other), "");
    assert_string_equal(shmstore_errmsg(NULL), detail);
    /* The calls made to print a failure leave it alone. */
    char path[256];
    assert_non_null(shmstore_strerror(SHMSTORE_ENOTFOUND));
    assert_non_null(shmstore_errname(SHMSTORE_ENOTFOUND));
    assert_non_null(shmstore_version());
    assert_rc(shmstore_default_socket(path, sizeof path), 0);
    assert_string_equal(shmstore_errmsg(C), detail);

    /* Any call of the thread clears it: a success on another handle ... */
    assert_rc(shmstore_ping(other), 0);
    assert_string_equal(shmstore_errmsg(C), "");
    assert_string_equal(shmstore_errmsg(NULL), "");
    /* ... and a success on the same one. */
    assert_rc(shmstore_get(C, "er/missing", 0, &o), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_ping(C), 0);
    assert_string_equal(shmstore_errmsg(C), "");

    /* A failure on the other handle is not C's. */
    assert_rc(shmstore_delete(other, "er/missing"), SHMSTORE_ENOTFOUND);
    assert_string_equal(shmstore_errmsg(C), "");
    assert_contains(shmstore_errmsg(other), "er/missing");

    /* A NULL handle is explained through errmsg(NULL). */
    assert_rc(shmstore_ping(NULL), SHMSTORE_EINVAL);
    assert_contains(shmstore_errmsg(NULL), "NULL");
    assert_string_equal(shmstore_errmsg(C), "");

    /* A failed connect has no handle: errmsg(NULL) only, and it replaces the thread's detail. */
    assert_rc(shmstore_get(C, "er/missing", 0, &o), SHMSTORE_ENOTFOUND);
    char nowhere[300];
    snprintf(nowhere, sizeof nowhere, "%s/er-none.sock", D.dir);
    shmstore_client *none;
    assert_rc(shmstore_connect(nowhere, &none), SHMSTORE_ECONN);
    assert_contains(shmstore_errmsg(NULL), nowhere);
    assert_string_equal(shmstore_errmsg(C), "");
    shmstore_close(other);
}

enum { ERRMSG_THREADS = 4 };

struct errmsg_thread {
    int k;                    /* which failure of own_failure() is this thread's */
    uint64_t sealed_id;       /* for the ESTATE thread */
    size_t rounds;
    pthread_barrier_t *failed, *disturbed;
    int want_rc;
    char want[512];           /* the detail of this thread's failure, all alone */
    int mismatches;
    char what[1200];          /* the first mismatch */
};

/* Thread k's own failure, with a detail that no other thread's failure has. */
static int own_failure(const struct errmsg_thread *t)
{
    shmstore_object o;
    switch (t->k) {
    case 0:
        return shmstore_get(C, "t0-missing", 0, &o);                            /* ENOTFOUND */
    case 1:
        return shmstore_put(C, "t1-taken", "x", 1, NULL, 0, 0);                 /* EEXIST */
    case 2:
        return shmstore_delete(C, "t2-bad\n");                                  /* EINVAL */
    default:
        return shmstore_seal(C, t->sealed_id);                                  /* ESTATE */
    }
}

static void errmsg_check(struct errmsg_thread *t, size_t round, const char *when, int rc,
                         int want_rc, const char *got, const char *want)
{
    if (rc == want_rc && strcmp(got, want) == 0)
        return;
    if (t->mismatches++ == 0)
        snprintf(t->what, sizeof t->what, "thread %d, round %zu, %s: %s, \"%s\", want %s, \"%s\"",
                 t->k, round, when, shmstore_errname(rc), got, shmstore_errname(want_rc), want);
}

/* Each round, every thread makes successful calls and then fails its own way, and checks its
 * detail at once while the others do the same on the handle. Then, deterministically, one
 * thread (a different one each round) makes successful calls while the others hold their
 * details, and those must still read back their own. */
static void *errmsg_thread_main(void *p)
{
    struct errmsg_thread *t = p;
    char own_name[32];
    snprintf(own_name, sizeof own_name, "t%d-ok", t->k);
    for (size_t round = 0; round < t->rounds; round++) {
        int rc = shmstore_put(C, own_name, &round, sizeof round, NULL, 0, SHMSTORE_REPLACE);
        if (rc == 0)
            rc = shmstore_ping(C);
        errmsg_check(t, round, "put and ping", rc, 0, shmstore_errmsg(C), "");
        rc = own_failure(t);
        errmsg_check(t, round, "right after", rc, t->want_rc, shmstore_errmsg(C), t->want);
        errmsg_check(t, round, "errmsg(NULL)", rc, t->want_rc, shmstore_errmsg(NULL), t->want);

        pthread_barrier_wait(t->failed);
        int busy = (int)(round % ERRMSG_THREADS) == t->k;
        if (busy) {
            shmstore_object o;
            int ok = shmstore_get(C, own_name, 0, &o);
            ok = ok ? ok : shmstore_release(C, &o);
            ok = ok ? ok : shmstore_ping(C);
            errmsg_check(t, round, "busy thread's calls", ok, 0, shmstore_errmsg(C), "");
        }
        pthread_barrier_wait(t->disturbed);
        if (!busy)
            errmsg_check(t, round, "after another thread's calls", rc, t->want_rc,
                         shmstore_errmsg(C), t->want);
    }
    return NULL;
}

/* Regression (errmsg_shared_by_threads): the detail was one buffer per handle, so a thread
 * sharing a handle read another thread's detail, or "" after another thread's success. */
static void test_errmsg_per_thread(void **state)
{
    (void)state;
    void *w;
    uint64_t sealed_id;
    assert_rc(put_pattern(C, "t1-taken", 10, 1, 0), 0);
    assert_rc(shmstore_create(C, "t3-sealed", 10, NULL, 0, 0, &w, &sealed_id), 0);
    assert_rc(shmstore_seal(C, sealed_id), 0);

    static const int codes[ERRMSG_THREADS] = {SHMSTORE_ENOTFOUND, SHMSTORE_EEXIST,
                                              SHMSTORE_EINVAL, SHMSTORE_ESTATE};
    struct errmsg_thread t[ERRMSG_THREADS];
    pthread_barrier_t failed, disturbed;
    assert_int_equal(pthread_barrier_init(&failed, NULL, ERRMSG_THREADS), 0);
    assert_int_equal(pthread_barrier_init(&disturbed, NULL, ERRMSG_THREADS), 0);
    for (int k = 0; k < ERRMSG_THREADS; k++) {
        t[k] = (struct errmsg_thread){.k = k, .sealed_id = sealed_id,
                                      .rounds = harness_scale(200, 20), .failed = &failed,
                                      .disturbed = &disturbed, .want_rc = codes[k]};
        /* What the failure says when nothing else runs: the detail each thread must get. */
        assert_rc(own_failure(&t[k]), codes[k]);
        snprintf(t[k].want, sizeof t[k].want, "%s", shmstore_errmsg(C));
        assert_true(strlen(t[k].want) > 0);
        for (int j = 0; j < k; j++)
            assert_string_not_equal(t[j].want, t[k].want);
    }
    assert_contains(t[0].want, "t0-missing");
    assert_contains(t[1].want, "t1-taken");

    pthread_t tid[ERRMSG_THREADS];
    for (int k = 0; k < ERRMSG_THREADS; k++)
        assert_int_equal(pthread_create(&tid[k], NULL, errmsg_thread_main, &t[k]), 0);
    int mismatches = 0;
    for (int k = 0; k < ERRMSG_THREADS; k++) {
        pthread_join(tid[k], NULL);
        if (t[k].mismatches)
            fprintf(stderr, "%d mismatches; first: %s\n", t[k].mismatches, t[k].what);
        mismatches += t[k].mismatches;
    }
    pthread_barrier_destroy(&failed);
    pthread_barrier_destroy(&disturbed);
    assert_int_equal(mismatches, 0);
}

/* ---- shmstore_store_info across versions --------------------------------------------------- */

/* The first shmstore_store_info, as programs built against shmstore 0.1 have it compiled in. If
 * this fails, a field was inserted, moved or resized: new fields go at the end. */
#define INFO_V1_SIZE 264
_Static_assert(offsetof(shmstore_store_info, errors) == 13 * 8 &&
                   offsetof(shmstore_store_info, version) == 29 * 8 &&
                   offsetof(shmstore_store_info, version) + 32 == INFO_V1_SIZE &&
                   sizeof(shmstore_store_info) >= INFO_V1_SIZE,
               "shmstore_store_info's first-version layout changed");

#define GUARD 0xa5
enum { TAIL = 256 };

/* A caller's buffer of any size, aligned as the struct, with room for guard bytes after it. */
union info_buf {
    shmstore_store_info info;
    unsigned char bytes[sizeof(shmstore_store_info) + TAIL + 64];
};

static size_t first_unlike(const unsigned char *p, size_t from, size_t to, unsigned char want)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != want)
            return i;
    return to;
}

/* An older program's struct is a prefix of ours: it gets its fields, and not a byte more. */
static void test_info_older_program(void **state)
{
    (void)state;
    assert_rc(put_pattern(C, "old/x", 1000, 1, 0), 0);
    union info_buf b;
    memset(&b, GUARD, sizeof b);
    assert_rc(shmstore_info_sized(C, &b.info, INFO_V1_SIZE), 0);
    assert_int_equal(b.info.capacity_bytes, 64 * MiB);
    assert_int_equal(b.info.objects, 1);
    assert_int_equal(b.info.clients, 1);
    assert_int_equal(b.info.errors[0], 0);
    assert_string_equal(b.info.version, shmstore_version());
    assert_int_equal(first_unlike(b.bytes, INFO_V1_SIZE, sizeof b.bytes, GUARD), sizeof b.bytes);
}

/* A newer program's struct is longer than ours: the fields we do not know come back as 0, and
 * nothing past its size is written. */
static void test_info_newer_program(void **state)
{
    (void)state;
    const size_t newer = sizeof(shmstore_store_info) + TAIL;
    union info_buf b;
    memset(&b, GUARD, sizeof b);
    assert_rc(shmstore_info_sized(C, &b.info, newer), 0);
    assert_int_equal(b.info.capacity_bytes, 64 * MiB);
    assert_string_equal(b.info.version, shmstore_version());
    assert_int_equal(first_unlike(b.bytes, sizeof(shmstore_store_info), newer, 0), newer);
    assert_int_equal(first_unlike(b.bytes, newer, sizeof b.bytes, GUARD), sizeof b.bytes);

    /* The macro is this header's size, and fills exactly what the struct holds. */
    shmstore_store_info i;
    memset(&i, GUARD, sizeof i);
    assert_rc(shmstore_info(C, &i), 0);
    assert_int_equal(i.capacity_bytes, 64 * MiB);
    assert_true(memchr(i.version, '\0', sizeof i.version) != NULL);
}

/* Smaller than the first version: no program has such a struct, so it is a bad argument, and
 * nothing is written. */
static void test_info_size_too_small(void **state)
{
    (void)state;
    union info_buf b;
    const size_t sizes[] = {0, 1, 8, INFO_V1_SIZE - 32, INFO_V1_SIZE - 1};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        memset(&b, GUARD, sizeof b);
        assert_rc(shmstore_info_sized(C, &b.info, sizes[k]), SHMSTORE_EINVAL);
        assert_contains(shmstore_errmsg(C), "out_size");
        assert_int_equal(first_unlike(b.bytes, 0, sizeof b.bytes, GUARD), sizeof b.bytes);
    }
    assert_rc(shmstore_info_sized(C, NULL, sizeof(shmstore_store_info)), SHMSTORE_EINVAL);
    assert_rc(shmstore_info_sized(NULL, &b.info, sizeof(shmstore_store_info)), SHMSTORE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_connect_default_and_explicit),
        T(test_connect_missing_socket),
        T(test_put_get_roundtrip_sizes),
        T(test_metadata),
        T(test_get_pointer_is_read_only),
        T(test_create_fill_seal),
        T(test_put_replace),
        T(test_abort_frees_name_and_memory),
        T(test_seal_abort_errors),
        T(test_release_errors),
        T(test_delete_while_pinned),
        T(test_delete_matching),
        T(test_get_timeouts),
        T(test_waiting_get_rendezvous),
        T(test_bad_names),
        T(test_good_names),
        T(test_enospc_too_big),
        T(test_fill_until_enospc),
        T(test_enospc_fragmented_detail),
        T(test_stat_fields),
        T(test_list_glob),
        T(test_list_many),
        T(test_list_stop),
        T(test_info_fields),
        T(test_ping_and_null_handles),
        T(test_strerror_errname),
        T(test_threads_share_handle),
        T(test_fork_child_reconnects),
        T(test_fork_child_close_only),
        T(test_close_releases_and_aborts),
        T(test_close_while_fork_child_lives),
        T(test_daemon_gone_gives_econn),
        T(test_hello_wrong_version),
        T(test_ids_not_reused_after_restart),
        T(test_replace_create_takes_the_name),
        T(test_fork_child_threads_share_handle),
        T(test_errmsg_rules),
        T(test_errmsg_per_thread),
        T(test_info_older_program),
        T(test_info_newer_program),
        T(test_info_size_too_small),
#undef T
    };
    return cmocka_run_group_tests_name("integration.api", tests, NULL, NULL);
}
