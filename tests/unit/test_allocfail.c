/*
 * test_allocfail.c — every allocation the daemon makes while serving a request may fail, and
 * each such failure must cost only that request.
 *
 * The test is linked with -Wl,--wrap=malloc,calloc,realloc,free, so every call the daemon's
 * static libraries (core, I/O layer, codec) make goes through the counting wrappers below,
 * which can fail the Nth allocation after they are armed. A scripted workload plays every
 * request type against the in-process daemon (tests/support/inproc.h). For each step of the
 * script and each N, a fresh daemon replays the steps before it undisturbed, the store's
 * statistics and name -> id listing are taken, and the step runs with the Nth allocation
 * failing; N grows until the step runs without reaching it. An injected failure must come back
 * as SHMSTORE_ENOMEM with the store exactly as before, or as the close of that connection with
 * every name bound as before; the one exception is a waiting GET woken by the step, which may
 * itself get ENOMEM while the step succeeds. store_check must hold after every step, and after
 * teardown no allocation may be outstanding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc.h"
#include "pool.h"
#include "shmstore.h"
#include "store.h"

/* ---- the wrappers -------------------------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long live;            /* blocks allocated through the wrappers and not freed yet */
static unsigned long armed;  /* fail the allocation that brings this to 0; 0: disarmed */
static int fired;            /* the armed failure happened */

static int inject(void)
{
    if (armed == 0 || --armed > 0)
        return 0;
    fired = 1;
    return 1;
}

void *__wrap_malloc(size_t n)
{
    void *p = inject() ? NULL : __real_malloc(n);
    live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t count, size_t n)
{
    void *p = inject() ? NULL : __real_calloc(count, n);
    live += p != NULL;
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (inject())
        return NULL;
    void *q = __real_realloc(p, n);
    live += (p == NULL && q != NULL) - (p != NULL && n == 0);
    return q;
}

void __wrap_free(void *p)
{
    live -= p != NULL;
    __real_free(p);
}

/* ---- the workload -------------------------------------------------------------------------- */

enum step_kind { CONNECT, REQUEST, CLOSE };

struct step {
    const char *what;
    enum step_kind kind;
    unsigned client;
    uint32_t type;
    const char *name;       /* PUT, CREATE, GET, DELETE, STAT; LIST: the pattern */
    uint64_t size;          /* CREATE; PUT: bytes carried inline */
    const char *meta;
    uint32_t flags;
    int64_t timeout_ms;     /* GET */
    int id_of;              /* SEAL, ABORT, RELEASE: the step whose reply gave the id */
    const char *cursor;     /* LIST */
    uint32_t max;
    int expire;             /* time passes after the request (a GET that times out) */
    int waits;              /* undisturbed, the request gets no reply now (waiting GET, RELEASE) */
    int32_t status;         /* undisturbed, the reply's status */
    int wakes;              /* client whose waiting GET this step answers, else -1 */
};

#define NONE .wakes = -1, .id_of = -1

static const struct step script[] = {
    {"connect client 0", CONNECT, 0, NONE},
    {"connect client 1", CONNECT, 1, NONE},
    {"PUT small inline with meta", REQUEST, 0, SHM_MSG_PUT, "small", 100, "dtype=u8", NONE},
    {"CREATE with meta", REQUEST, 0, SHM_MSG_CREATE, "big", 1u << 20, "shape=(1024,1024)", NONE},
    {"SEAL", REQUEST, 0, SHM_MSG_SEAL, .id_of = 3, .wakes = -1},
    {"CREATE to abort", REQUEST, 0, SHM_MSG_CREATE, "tmp", 4096, NONE},
    {"ABORT", REQUEST, 0, SHM_MSG_ABORT, .id_of = 5, .wakes = -1},
    {"GET immediate", REQUEST, 1, SHM_MSG_GET, "small", NONE},
    {"GET that waits", REQUEST, 1, SHM_MSG_GET, "later", .timeout_ms = SHM_TIMEOUT_FOREVER,
     .waits = 1, NONE},
    {"CREATE that a waiter wants", REQUEST, 0, SHM_MSG_CREATE, "later", 64, NONE},
    {"SEAL that wakes the waiter", REQUEST, 0, SHM_MSG_SEAL, .id_of = 9, .wakes = 1},
    {"GET that times out", REQUEST, 1, SHM_MSG_GET, "never", .timeout_ms = 10, .expire = 1,
     .status = SHMSTORE_ETIMEDOUT, NONE},
    {"GET that waits, to be cancelled", REQUEST, 1, SHM_MSG_GET, "cancelled",
     .timeout_ms = 60000, .waits = 1, NONE},
    /* The cancelled GET's EINTR comes first, then the cancel's own reply, read as "woken". */
    {"GET_CANCEL of the waiting GET", REQUEST, 1, SHM_MSG_GET_CANCEL, .id_of = 12,
     .status = SHMSTORE_EINTR, .wakes = 1},
    {"GET that waits, woken by a PUT", REQUEST, 1, SHM_MSG_GET, "later2",
     .timeout_ms = 60000, .waits = 1, NONE},
    {"PUT that wakes the waiter", REQUEST, 0, SHM_MSG_PUT, "later2", 10, .wakes = 1, .id_of = -1},
    {"RELEASE by frame", REQUEST, 1, SHM_MSG_RELEASE, .id_of = 7, .waits = 1, .wakes = -1},
    {"DELETE", REQUEST, 0, SHM_MSG_DELETE, "big", NONE},
    {"STAT", REQUEST, 0, SHM_MSG_STAT, "small", NONE},
    {"PUT list/a", REQUEST, 0, SHM_MSG_PUT, "list/a", 1, NONE},
    {"PUT list/b", REQUEST, 0, SHM_MSG_PUT, "list/b", 2, NONE},
    {"PUT list/c", REQUEST, 0, SHM_MSG_PUT, "list/c", 3, NONE},
    {"LIST with a pattern, first page", REQUEST, 1, SHM_MSG_LIST, "list/*", .max = 2, NONE},
    {"LIST, next page", REQUEST, 1, SHM_MSG_LIST, "list/*", .cursor = "list/b", .max = 2, NONE},
    {"DELETE_MATCHING", REQUEST, 0, SHM_MSG_DELETE_MATCHING, "list/[bc]", NONE},
    {"INFO", REQUEST, 0, SHM_MSG_INFO, NONE},
    {"PING", REQUEST, 0, SHM_MSG_PING, NONE},
    {"GET to pin", REQUEST, 1, SHM_MSG_GET, "small", NONE},
    {"PUT REPLACE of a pinned object", REQUEST, 0, SHM_MSG_PUT, "small", 50,
     .flags = SHM_FLAG_REPLACE, NONE},
    {"DELETE of a pinned object", REQUEST, 0, SHM_MSG_DELETE, "small", NONE},
    {"connect client 2", CONNECT, 2, NONE},
    {"client 2 GET", REQUEST, 2, SHM_MSG_GET, "list/a", NONE},
    {"client 2 CREATE", REQUEST, 2, SHM_MSG_CREATE, "unsealed", 8192, "m", NONE},
    {"client 2 leaves holding a pin and an unsealed object", CLOSE, 2, NONE},
    {"client 1 leaves holding pins", CLOSE, 1, NONE},
};
#define STEPS (sizeof script / sizeof script[0])

/* What one run of the script has seen so far. */
struct run {
    struct inproc *ip;
    uint64_t ids[STEPS];    /* id in the acting client's reply to each step */
    uint32_t seqs[STEPS];   /* seq of each step's request */
    uint32_t seq;
};

struct outcome {
    int replied;                  /* the acting client got a reply */
    struct shm_reply reply;
    int woken_status;             /* the woken client's reply status, 1 when it got none */
};

static uint8_t payload[1u << 16];

static void build(const struct run *r, unsigned k, struct shm_request *req)
{
    const struct step *s = &script[k];
    memset(req, 0, sizeof *req);
    req->type = s->type;
    req->seq = r->seq;
    struct shm_bytes name = {(const uint8_t *)s->name, s->name ? (uint32_t)strlen(s->name) : 0};
    struct shm_bytes meta = {(const uint8_t *)s->meta, s->meta ? (uint32_t)strlen(s->meta) : 0};
    uint64_t id = s->id_of >= 0 ? r->ids[s->id_of] : 0;
    switch (s->type) {
    case SHM_MSG_PUT:
        req->u.put.name = name;
        req->u.put.data = (struct shm_bytes){payload, (uint32_t)s->size};
        req->u.put.meta = meta;
        req->u.put.flags = s->flags;
        break;
    case SHM_MSG_CREATE:
        req->u.create.name = name;
        req->u.create.size = s->size;
        req->u.create.meta = meta;
        req->u.create.flags = s->flags;
        break;
    case SHM_MSG_SEAL:
    case SHM_MSG_ABORT:
    case SHM_MSG_RELEASE: req->u.by_id.id = id; break;
    case SHM_MSG_GET:
        req->u.get.name = name;
        req->u.get.timeout_ms = s->timeout_ms;
        break;
    case SHM_MSG_DELETE:
    case SHM_MSG_STAT: req->u.by_name.name = name; break;
    case SHM_MSG_LIST:
        req->u.list.pattern = name;
        req->u.list.cursor = (struct shm_bytes){(const uint8_t *)s->cursor,
                                                s->cursor ? (uint32_t)strlen(s->cursor) : 0};
        req->u.list.max = s->max;
        break;
    case SHM_MSG_DELETE_MATCHING: req->u.delete_matching.pattern = name; break;
    case SHM_MSG_GET_CANCEL: req->u.get_cancel.get_seq = r->seqs[s->id_of]; break;
    default: break;
    }
}

static uint64_t reply_id(const struct shm_reply *rep)
{
    switch (rep->type) {
    case SHM_MSG_PUT: return rep->u.put.id;
    case SHM_MSG_CREATE: return rep->u.create.id;
    case SHM_MSG_GET:
    case SHM_MSG_STAT: return rep->u.object.id;
    default: return 0;
    }
}

/* Play step k and collect what came back. */
static void play(struct run *r, unsigned k, struct outcome *out)
{
    static struct shm_object entries[SHM_LIST_PAGE_MAX];
    const struct step *s = &script[k];
    memset(out, 0, sizeof *out);
    out->woken_status = 1;
    r->seqs[k] = ++r->seq;
    if (s->kind == CONNECT) {
        if (inproc_connect(r->ip, s->client) == 0)
            out->replied = inproc_hello(r->ip, s->client, &out->reply) == 1;
        return;
    }
    if (s->kind == CLOSE) {
        inproc_close(r->ip, s->client);
        assert_int_equal(inproc_run(r->ip), 0);
        return;
    }
    struct shm_request req;
    build(r, k, &req);
    assert_int_equal(inproc_send_request(r->ip, s->client, &req), 0);
    assert_int_equal(inproc_run(r->ip), 0);
    if (s->expire)
        assert_int_equal(inproc_expire_timers(r->ip), 0);
    out->replied = inproc_reply(r->ip, s->client, &out->reply, entries) == 1;
    if (out->replied && out->reply.status == 0)
        r->ids[k] = reply_id(&out->reply);
    struct shm_reply woken;
    if (s->wakes >= 0 && inproc_reply(r->ip, (unsigned)s->wakes, &woken, entries) == 1) {
        out->woken_status = woken.status;
        if (woken.status == 0)
            r->ids[k] = reply_id(&woken);   /* the woken GET's pin */
    }
}

/* The store as the test compares it: statistics and every name with its object's id. */
struct snapshot {
    struct store_stats stats;
    unsigned names;
    char name[16][32];
    uint64_t id[16];
};

static void snap(struct inproc *ip, struct snapshot *sn)
{
    store_t *st = inproc_server(ip)->store;
    memset(sn, 0, sizeof *sn);
    store_get_stats(st, &sn->stats);
    const char *after = NULL;
    size_t after_len = 0;
    for (;;) {
        unsigned budget = 1000;
        const char *resume = NULL;
        size_t resume_len = 0;
        struct object *obj = store_next_sealed(st, after, after_len, &budget, &resume,
                                               &resume_len);
        if (!obj)
            break;
        assert_true(sn->names < 16);
        snprintf(sn->name[sn->names], sizeof sn->name[0], "%s", obj->name);
        sn->id[sn->names++] = obj->id;
        after = obj->name;
        after_len = obj->name_len;
    }
}

static int same_names(const struct snapshot *a, const struct snapshot *b)
{
    return a->names == b->names && memcmp(a->name, b->name, sizeof a->name) == 0 &&
           memcmp(a->id, b->id, sizeof a->id) == 0;
}

static void check_store(struct inproc *ip, const char *what, unsigned long n)
{
    char why[512];
    if (store_check(inproc_server(ip)->store, why, sizeof why) != 0)
        fail_msg("%s, allocation %lu failing: store invariant broken: %s", what, n, why);
    assert_int_equal(inproc_malformed_replies(ip), 0);
}

/* Undisturbed, step k must do what the script says. */
static void expect_undisturbed(const struct step *s, const struct outcome *o)
{
    if (s->kind == CLOSE)
        return;
    if (s->waits) {
        if (o->replied)
            fail_msg("%s: unexpected reply, status %d", s->what, o->reply.status);
        return;
    }
    if (!o->replied)
        fail_msg("%s: no reply", s->what);
    if (o->reply.status != s->status)
        fail_msg("%s: status %d, expected %d: %.*s", s->what, o->reply.status, s->status,
                 (int)o->reply.u.error.len, (const char *)o->reply.u.error.ptr);
    if (s->wakes >= 0 && o->woken_status != 0)
        fail_msg("%s: the waiting GET got %d", s->what, o->woken_status);
}

/* Step k ran with one allocation failing: judge what it did. */
static void expect_refused(struct inproc *ip, const struct step *s, unsigned long n,
                           const struct outcome *o, const struct snapshot *before)
{
    struct snapshot after;
    snap(ip, &after);
    check_store(ip, s->what, n);
    if (!inproc_is_open(ip, s->client)) {
        /* A closed connection gives up what it held, nothing else. */
        if (!same_names(before, &after))
            fail_msg("%s, allocation %lu failing: the connection closed and the names changed",
                     s->what, n);
        return;
    }
    if (o->replied && o->reply.status == SHMSTORE_ENOMEM) {
        if (memcmp(&before->stats, &after.stats, sizeof after.stats) != 0 ||
            !same_names(before, &after))
            fail_msg("%s, allocation %lu failing: ENOMEM, but the store changed (objects %llu "
                     "-> %llu, pins %llu -> %llu, used %llu -> %llu, waiters %llu -> %llu)",
                     s->what, n, (unsigned long long)before->stats.objects,
                     (unsigned long long)after.stats.objects,
                     (unsigned long long)before->stats.pins, (unsigned long long)after.stats.pins,
                     (unsigned long long)before->stats.used_bytes,
                     (unsigned long long)after.stats.used_bytes,
                     (unsigned long long)before->stats.waiters,
                     (unsigned long long)after.stats.waiters);
        return;
    }
    /* The step itself may succeed when what failed was pinning the object for a woken GET:
     * that GET is answered ENOMEM and holds no pin. */
    if (s->wakes >= 0 && o->replied && o->reply.status == 0 &&
        o->woken_status == SHMSTORE_ENOMEM && after.stats.pins == before->stats.pins &&
        after.stats.waiters + 1 == before->stats.waiters)
        return;
    fail_msg("%s, allocation %lu failing: neither ENOMEM nor a closed connection (%s, status "
             "%d, woken GET %d)", s->what, n, o->replied ? "replied" : "no reply",
             o->replied ? o->reply.status : 0, o->woken_status);
}

static void test_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    unsigned long injected = 0;
    for (unsigned k = 0; k < STEPS; k++) {
        for (unsigned long n = 1;; n++) {
            const long live_at_start = live;
            struct run r = {.ip = inproc_new("16M", 3)};
            assert_non_null(r.ip);
            struct outcome o;
            for (unsigned j = 0; j < k; j++) {
                play(&r, j, &o);
                expect_undisturbed(&script[j], &o);
            }
            struct snapshot before;
            snap(r.ip, &before);
            fired = 0;
            armed = n;
            play(&r, k, &o);
            armed = 0;
            if (fired) {
                injected++;
                expect_refused(r.ip, &script[k], n, &o, &before);
            } else {
                expect_undisturbed(&script[k], &o);
                check_store(r.ip, script[k].what, 0);
            }
            inproc_free(r.ip);
            if (live != live_at_start)
                fail_msg("%s, allocation %lu failing: %ld allocations outstanding after "
                         "teardown", script[k].what, n, live - live_at_start);
            if (!fired)
                break;   /* the step made fewer than n allocations: all of them were tried */
        }
    }
    print_message("%lu failures injected over %zu steps\n", injected, (size_t)STEPS);
    /* The workload reaches the store's allocations, not only the connection's. */
    assert_true(injected > STEPS);
}

/* Regression: when the allocator could not get memory for a block record, store_create said
 * "store full" (ENOSPC) although the arena had room; clients then gave up on a store that was
 * fine. Every failing allocation of a create that fits must read as ENOMEM. */
static void test_create_out_of_heap_is_enomem_not_enospc(void **state)
{
    (void)state;
    static uint8_t arena[1u << 20];
    unsigned long n;
    for (n = 1;; n++) {
        store_t *s = store_new(arena, sizeof arena);
        assert_non_null(s);
        struct store_client cl;
        store_client_init(s, &cl);
        struct object *first, *obj;
        struct store_detail d;
        /* A first object, so the second one's block leaves a free tail that needs a record. */
        assert_int_equal(store_create(s, &cl, "a", 1, 100, NULL, 0, 0, &first, &d), 0);
        fired = 0;
        armed = n;
        int rc = store_create(s, &cl, "b", 1, 5000, "m", 1, 0, &obj, &d);
        armed = 0;
        if (fired && rc != SHMSTORE_ENOMEM)
            fail_msg("allocation %lu of a create that fits failing: %d (%s)", n, rc, d.text);
        char why[256];
        if (store_check(s, why, sizeof why) != 0)
            fail_msg("allocation %lu failing: %s", n, why);
        store_client_drop(s, &cl);
        store_free(s);
        if (!fired)
            break;
    }
    assert_true(n > 3);   /* the allocator's own record was among the failures */
}

int main(void)
{
    /* Every record a malloc of its own, so the failure of each one is reached. */
    pool_use_malloc(1);
    memset(payload, 0xa5, sizeof payload);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_out_of_heap_is_enomem_not_enospc),
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
