/*
 * verify.c — VERIFY: every durable object's file read back and checked, off the loop (verify.h;
 * docs/architecture.md, "Durable objects").
 *
 * A run goes through three steps. On the loop, a snapshot of the sealed durable objects whose
 * file is whole on disk (on_disk, not a spill copy): their names in one string pool, their ids,
 * sizes and checksums, taken SNAPSHOT_SLICE names per loop turn so that a million-object store
 * never holds the loop for long. Objects whose async write has not happened yet have no file and
 * are counted as pending. Then a thread of the run's own reads each file in 1 MiB chunks through
 * persist_verify_object, which opens it by path: it needs neither the LMDB catalogue nor the
 * daemon's persist_t, so the writer thread and the catalogue are never touched from here. The
 * thread signals an eventfd when done. Back on the loop, a damaged file whose name is no longer
 * bound to the id that was checked is no problem: its object was replaced or deleted meanwhile
 * and its file went with it. The others get a second look, RECHECK_DELAY_MS later, by the same
 * thread: under durability = sync the writer commits a replacing object, and removes the file
 * of the one it replaces, just before the loop hears of it and binds the new one, so for a moment
 * a bound object's file is gone for a good reason. Only a problem seen twice, with the same id
 * still bound both times, counts: it goes to durable_repair, and the reply lists at most
 * SHM_VERIFY_PROBLEMS_MAX problems and counts the rest, so it fits a frame however much is
 * wrong; the log has every one.
 *
 * The requesting connection waits in CONN_PERSISTING, as a durable seal's does, so its later
 * requests stay queued and replies keep their order. The run finds it again by client id when it
 * ends: a client that went away meanwhile is simply not answered. The run hangs off its own
 * eventfd event in the server's event base, which is how verify_request finds a running verify
 * and verify_stop finds one to end: no global, no field in struct server.
 */
#define _GNU_SOURCE
#include "verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "durable.h"
#include "humansize.h"
#include "log.h"
#include "persist.h"
#include "server.h"
#include "shmstore.h"

/* Names the snapshot visits per loop turn. */
#define SNAPSHOT_SLICE 16384u
/* Between the first sight of a problem and the second look at it. */
#define RECHECK_DELAY_MS 100

/* One durable object to check; its name is at name_at in the run's pool. */
struct verify_item {
    size_t name_at, name_len;
    struct persist_entry entry;
};

/* A damaged file, found by the thread. */
struct verify_failure {
    size_t item;
    int result;
    char what[SHM_VERIFY_TEXT_MAX];
    struct verify_failure *next;
};

struct verify_run {
    struct server *server;
    uint64_t client_id;          /* who asked: answered if still connected at the end */
    uint32_t seq;
    char *dir;                   /* the data directory, the run's own copy */
    struct persist *persist;     /* for inline objects' catalogue entries: read transactions of
                                  * the thread's own; verify_stop runs before durable_stop */
    struct timespec started;     /* CLOCK_MONOTONIC */
    /* snapshot (loop) */
    struct verify_item *items;
    size_t n, cap;
    char *pool;                  /* the items' names, NUL-terminated, back to back */
    size_t pool_len, pool_cap;
    char *cursor;                /* last name visited (a copy), NULL before the first */
    size_t cursor_len;
    uint64_t pending;            /* durable, written asynchronously, no file yet */
    uint64_t snapshot_bytes;
    struct event *slice_event;
    struct event *recheck_event;
    int rechecking;              /* the second look: items are the first pass's suspects */
    size_t checked_first;        /* the first pass's figures, which the summary reports */
    uint64_t bytes_first;
    /* thread; the loop reads these only after joining it */
    pthread_t thread;
    int thread_started;
    atomic_int cancel;
    size_t checked;
    uint64_t bytes;
    struct verify_failure *failures, **failures_tail;
    /* back to the loop */
    int event_fd;
    struct event *done_event;
};

static void free_failures(struct verify_run *run)
{
    while (run->failures) {
        struct verify_failure *next = run->failures->next;
        free(run->failures);
        run->failures = next;
    }
    run->failures_tail = &run->failures;
}

static void run_free(struct verify_run *run)
{
    if (run->slice_event)
        event_free(run->slice_event);
    if (run->recheck_event)
        event_free(run->recheck_event);
    if (run->done_event)
        event_free(run->done_event);
    if (run->event_fd >= 0)
        close(run->event_fd);
    free_failures(run);
    free(run->items);
    free(run->pool);
    free(run->cursor);
    free(run->dir);
    free(run);
}

static uint64_t elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - since->tv_sec) * 1000 +
                 (now.tv_nsec - since->tv_nsec) / 1000000;
    return ms > 0 ? (uint64_t)ms : 0;
}

/* ---- finding the run ------------------------------------------------------------------------ */

static void on_run_done(evutil_socket_t fd, short what, void *arg);

static int match_run(const struct event_base *base, const struct event *ev, void *arg)
{
    (void)base;
    if (event_get_callback(ev) != on_run_done)
        return 0;
    *(struct verify_run **)arg = event_get_callback_arg(ev);
    return 1;
}

static struct verify_run *running(struct server *s)
{
    struct verify_run *run = NULL;
    if (s->base)
        event_base_foreach_event(s->base, match_run, &run);
    return run;
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* A small object kept inside its catalogue entry: read back and checked there. */
static int verify_inline(struct verify_run *run, const struct verify_item *it, uint64_t *got,
                         char *what, size_t whatlen)
{
    static _Thread_local unsigned char payload[PERSIST_INLINE_MAX], meta[PERSIST_INLINE_MAX];
    char why[512];
    int rc = persist_read_inline(run->persist, run->pool + it->name_at, it->name_len, &it->entry,
                                 payload, meta, why, sizeof why);
    *got = rc == 0 ? it->entry.size + it->entry.meta_size : 0;
    if (rc == -ENOENT)
        snprintf(what, whatlen, "missing catalogue entry");
    else if (rc == -EBADMSG)
        snprintf(what, whatlen, "checksum mismatch in its catalogue entry");
    else if (rc != 0)
        snprintf(what, whatlen, "cannot read its catalogue entry");
    return rc;
}

static void *verify_main(void *arg)
{
    struct verify_run *run = arg;
    for (size_t i = 0; i < run->n && !atomic_load(&run->cancel); i++) {
        char what[SHM_VERIFY_TEXT_MAX];
        uint64_t got = 0;
        const struct verify_item *it = &run->items[i];
        int rc = it->entry.inline_copy
                     ? verify_inline(run, it, &got, what, sizeof what)
                     : persist_verify_object(run->dir, &it->entry, &got, &run->cancel, what,
                                             sizeof what);
        run->bytes += got;
        if (rc == -ECANCELED)
            break;
        run->checked++;
        if (rc == 0)
            continue;
        struct verify_failure *f = calloc(1, sizeof *f);
        if (!f)
            continue;   /* counted as checked; the next verify will find it */
        f->item = i;
        f->result = rc;
        snprintf(f->what, sizeof f->what, "%s", what);
        *run->failures_tail = f;
        run->failures_tail = &f->next;
    }
    uint64_t one = 1;
    /* The counter only wakes the loop; a full counter is already a wake-up. */
    (void)!write(run->event_fd, &one, sizeof one);
    return NULL;
}

/* ---- the answer ----------------------------------------------------------------------------- */

static struct conn *find_conn(struct server *s, uint64_t client_id)
{
    for (struct conn *c = s->conns; c; c = c->next)
        if (c->client.id == client_id)
            return c;
    return NULL;
}

static void answer(struct verify_run *run, const struct shm_reply *rep)
{
    struct conn *c = find_conn(run->server, run->client_id);
    if (!c || c->state != CONN_PERSISTING)
        return;
    conn_send_reply(c, rep);
    /* Queuing the reply may have failed and moved the connection on: leave it there. */
    if (c->state == CONN_PERSISTING)
        conn_set_state(c, CONN_READY);
    conn_kick(c);
}

static void answer_error(struct verify_run *run, int code, const char *detail)
{
    struct conn *c = find_conn(run->server, run->client_id);
    if (!c || c->state != CONN_PERSISTING)
        return;
    conn_send_error(c, SHM_MSG_VERIFY, run->seq, code, "%s", detail);
    if (c->state == CONN_PERSISTING)
        conn_set_state(c, CONN_READY);
    conn_kick(c);
}

/* The object a failed check was about, if it is still bound to its name with the id checked
 * and still has its durable file; NULL when it was replaced, deleted or rewritten meanwhile. */
static struct object *still_checked(const struct verify_run *run, const struct verify_item *it)
{
    struct object *obj = store_lookup(run->server->store, run->pool + it->name_at, it->name_len);
    if (!obj || obj->id != it->entry.id || !obj->persist || !obj->on_disk || obj->spilled)
        return NULL;
    return obj;
}

static void on_recheck(evutil_socket_t fd, short what, void *arg);

/* After the first pass: the suspects that are still what was checked get a second look; 0, or
 * -1 when there are none (or no memory to look again: then the first sight stands). */
static int start_recheck(struct verify_run *run)
{
    size_t n = 0;
    for (struct verify_failure *f = run->failures; f; f = f->next)
        n += still_checked(run, &run->items[f->item]) != NULL;
    if (n == 0)
        return -1;
    struct verify_item *suspects = malloc(n * sizeof *suspects);
    if (!suspects)
        return -1;
    n = 0;
    for (struct verify_failure *f = run->failures; f; f = f->next)
        if (still_checked(run, &run->items[f->item]))
            suspects[n++] = run->items[f->item];
    free_failures(run);
    free(run->items);
    run->items = suspects;
    run->n = run->cap = n;
    run->checked_first = run->checked;
    run->bytes_first = run->bytes;
    run->checked = 0;
    run->bytes = 0;
    run->rechecking = 1;
    struct timeval delay = {0, RECHECK_DELAY_MS * 1000};
    event_add(run->recheck_event, &delay);
    return 0;
}

/* Report and repair the damaged files of objects that are still what was checked. */
static void finish(struct verify_run *run)
{
    struct server *s = run->server;
    struct shm_verify_problem listed[SHM_VERIFY_PROBLEMS_MAX];
    struct shm_reply rep = {.type = SHM_MSG_VERIFY, .seq = run->seq};
    struct shm_verify_summary *sum = &rep.u.verify.summary;
    uint32_t nlisted = 0;
    for (struct verify_failure *f = run->failures; f; f = f->next) {
        const struct verify_item *it = &run->items[f->item];
        struct object *obj = still_checked(run, it);
        if (!obj)
            continue;
        sum->problems++;
        /* Only a file known to be damaged is repaired, as at start: one that could not be read
         * (an I/O error, no file descriptor left, ...) may be whole, and an object on disk only
         * must not be deleted for that. */
        const int damaged = f->result == -ENOENT || f->result == -EBADMSG;
        /* As durable_repair decides: a copy still being read back is not whole yet. */
        const int in_memory = object_location(obj) != LOCATION_DISK && !obj->loading;
        const char *action = !damaged   ? "none: it could not be read, so it was left as it is"
                             : in_memory ? "rewritten from memory"
                                         : "not in memory: deleted, its file moved to corrupt/";
        char problem[SHM_VERIFY_TEXT_MAX + 4200];
        snprintf(problem, sizeof problem, "%s/objects/%016llx: %s (found by verify)", run->dir,
                 (unsigned long long)it->entry.id, f->what);
        if (nlisted < SHM_VERIFY_PROBLEMS_MAX) {
            struct shm_verify_problem *p = &listed[nlisted++];
            p->name.ptr = (const uint8_t *)(run->pool + it->name_at);
            p->name.len = (uint32_t)it->name_len;
            p->id = it->entry.id;
            p->what.ptr = (const uint8_t *)f->what;
            p->what.len = (uint32_t)strlen(f->what);
            p->action.ptr = (const uint8_t *)action;
            p->action.len = (uint32_t)strlen(action);
        }
        if (!damaged)
            log_error("verify: durable '%s' (id %llu) could not be checked: %s", obj->name,
                      (unsigned long long)obj->id, problem);
        else
            durable_repair(s, obj, problem);   /* last: it may unbind and free obj */
    }
    sum->data_dir = 1;
    sum->objects = run->rechecking ? run->checked_first : run->checked;
    sum->bytes = run->rechecking ? run->bytes_first : run->bytes;
    sum->pending = run->pending;
    sum->unlisted = sum->problems - nlisted;
    sum->duration_ms = elapsed_ms(&run->started);
    rep.u.verify.count = nlisted;
    rep.u.verify.problems = listed;
    char size[32];
    log_info("verify: done in %.1f s: %llu durable objects checked (%s), %llu problems%s",
             (double)sum->duration_ms / 1000, (unsigned long long)sum->objects,
             human_size(sum->bytes, size, sizeof size), (unsigned long long)sum->problems,
             sum->pending ? ", some not written yet" : "");
    answer(run, &rep);
    run_free(run);
}

static void on_run_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct verify_run *run = arg;
    uint64_t count;
    (void)!read(fd, &count, sizeof count);
    pthread_join(run->thread, NULL);
    run->thread_started = 0;
    if (run->rechecking || start_recheck(run) != 0)
        finish(run);
}

static int start_thread(struct verify_run *run);

static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct verify_run *run = arg;
    if (start_thread(run) != 0)
        finish(run);   /* no second look: nothing is reported (the next verify looks again) */
}

/* ---- the snapshot --------------------------------------------------------------------------- */

static int add_item(struct verify_run *run, const struct object *obj)
{
    if (run->n == run->cap) {
        size_t cap = run->cap ? 2 * run->cap : 1024;
        struct verify_item *items = realloc(run->items, cap * sizeof *items);
        if (!items)
            return -1;
        run->items = items;
        run->cap = cap;
    }
    if ((size_t)obj->name_len + 1 > run->pool_cap - run->pool_len) {
        size_t cap = run->pool_cap ? run->pool_cap : 64 * 1024;
        while ((size_t)obj->name_len + 1 > cap - run->pool_len)
            cap *= 2;
        char *pool = realloc(run->pool, cap);
        if (!pool)
            return -1;
        run->pool = pool;
        run->pool_cap = cap;
    }
    struct verify_item *it = &run->items[run->n++];
    it->name_at = run->pool_len;
    it->name_len = obj->name_len;
    memcpy(run->pool + run->pool_len, obj->name, obj->name_len + 1);
    run->pool_len += obj->name_len + 1;
    it->entry = (struct persist_entry){.id = obj->id, .size = obj->size,
                                       .meta_size = obj->meta_size, .checksum = obj->checksum,
                                       .sealed_ns = obj->created_ns,
                                       .inline_copy = obj->inline_copy};
    run->snapshot_bytes += obj->size + obj->meta_size;
    return 0;
}

static int set_cursor(struct verify_run *run, const char *name, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, name, len);
    copy[len] = '\0';
    free(run->cursor);
    run->cursor = copy;
    run->cursor_len = len;
    return 0;
}

static void fail_run(struct verify_run *run, const char *why)
{
    log_error("verify: %s", why);
    answer_error(run, SHMSTORE_ENOMEM, why);
    run_free(run);
}

/* A timer of no delay rather than event_active: the loop polls its sockets before it fires, so
 * clients are served between two slices (an event made active from a callback would run in the
 * same turn, and the slices would hold the loop as one). */
static void next_slice(struct verify_run *run)
{
    static const struct timeval now = {0, 0};
    evtimer_add(run->slice_event, &now);
}

/* One slice of the snapshot; the next is another loop turn away, until the end of the names
 * starts the thread. */
static void on_slice(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct verify_run *run = arg;
    store_t *store = run->server->store;
    unsigned budget = SNAPSHOT_SLICE;
    /* Within the turn the store does not change: the last name seen is where to go on, and is
     * copied only when the turn ends. */
    const char *after = run->cursor;
    size_t after_len = run->cursor_len;
    for (;;) {
        const char *resume = after;
        size_t resume_len = after_len;
        struct object *obj = store_next_sealed(store, after, after_len, &budget, &resume,
                                               &resume_len);
        if (!obj) {
            if (budget > 0)
                break;   /* the end of the names */
            if (resume != run->cursor && set_cursor(run, resume, resume_len) != 0) {
                fail_run(run, "daemon out of memory taking the snapshot");
                return;
            }
            next_slice(run);
            return;
        }
        after = obj->name;
        after_len = obj->name_len;
        if (!obj->persist)
            continue;
        if (!obj->on_disk || obj->spilled) {
            run->pending++;   /* its durable write is still queued */
            continue;
        }
        if (add_item(run, obj) != 0) {
            fail_run(run, "daemon out of memory taking the snapshot");
            return;
        }
    }
    char size[32];
    log_info("verify: checking %zu durable objects (%s) in %s%s", run->n,
             human_size(run->snapshot_bytes, size, sizeof size), run->dir,
             run->pending ? "; some are not written yet and are left out" : "");
    if (start_thread(run) != 0)
        fail_run(run, "cannot start the verify thread");
}

static int start_thread(struct verify_run *run)
{
    int rc = pthread_create(&run->thread, NULL, verify_main, run);
    if (rc != 0) {
        log_error("verify: cannot start its thread: %s", strerror(rc));
        return -1;
    }
    run->thread_started = 1;
    return 0;
}

/* ---- the request ---------------------------------------------------------------------------- */

void verify_request(struct conn *c, const struct shm_request *req)
{
    struct server *s = c->server;
    struct persist *p = durable_persist(s);
    if (!p) {
        /* Nothing is durable without a data directory: nothing to verify, nothing wrong. */
        struct shm_reply rep = {.type = req->type, .seq = req->seq};
        conn_send_reply(c, &rep);
        return;
    }
    struct verify_run *other = running(s);
    if (other) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ESTATE,
                        "a verify asked by client %llu is running; try again when it has ended",
                        (unsigned long long)other->client_id);
        return;
    }
    struct verify_run *run = calloc(1, sizeof *run);
    if (!run) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOMEM, "daemon out of memory");
        return;
    }
    run->server = s;
    run->client_id = c->client.id;
    run->seq = req->seq;
    run->event_fd = -1;
    run->failures_tail = &run->failures;
    atomic_init(&run->cancel, 0);
    clock_gettime(CLOCK_MONOTONIC, &run->started);
    run->dir = strdup(persist_dir(p));
    run->persist = p;
    run->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (run->event_fd >= 0) {
        /* Persistent: it stays added from start to end, which is how running() finds the run. */
        run->done_event = event_new(s->base, run->event_fd, EV_READ | EV_PERSIST, on_run_done,
                                    run);
        run->slice_event = evtimer_new(s->base, on_slice, run);
        run->recheck_event = evtimer_new(s->base, on_recheck, run);
    }
    if (!run->dir || !run->done_event || !run->slice_event || !run->recheck_event ||
        event_add(run->done_event, NULL) != 0) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOMEM,
                        "daemon cannot start a verify: %s",
                        run->event_fd < 0 ? strerror(errno) : "out of memory");
        run_free(run);
        return;
    }
    log_info("verify: asked by client %llu (pid %d)", (unsigned long long)c->client.id,
             (int)c->pid);
    conn_set_state(c, CONN_PERSISTING);
    next_slice(run);
}

void verify_stop(struct server *s)
{
    struct verify_run *run = running(s);
    if (!run)
        return;
    atomic_store(&run->cancel, 1);
    if (run->thread_started)
        pthread_join(run->thread, NULL);
    log_info("verify: stopped with the daemon after %zu of %zu objects", run->checked, run->n);
    run_free(run);
}
