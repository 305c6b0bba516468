/*
 * watch.c — subscriptions of watching connections, and the EVENT frames they receive (watch.h;
 * docs/architecture.md, "Watch stream").
 *
 * The store calls on_store_event synchronously inside the call that changed an object. Each
 * watcher whose glob matches the name gets the event: straight into its connection's output
 * when nothing of its own waits and the output holds less than WATCH_OUTPUT_MAX, else into its
 * coalescing queue. The queue is emptied from watch_fill, which conn.c calls whenever it flushes
 * the connection's output, so events go out as fast as the watcher reads and no faster.
 *
 * A snapshot (SHM_WATCH_SNAPSHOT) walks the matching sealed objects in name order, from a cursor,
 * a budget of names per loop turn and only while the output has room. The subscription starts
 * in the same loop turn as the walk, and the loop is single threaded, so there is no moment in
 * which a change can slip between the two. Per name, the walk's entry says the state when the
 * cursor passed it: a change to a name the cursor has not reached yet is left to the walk (it
 * will see the result), and a change to a name it has passed waits in the queue, behind the
 * snapshot and its end marker. Every object is thus told exactly once as a snapshot entry or
 * as a change after it, with no gap and no duplicate.
 */
#define _GNU_SOURCE
#include "watch.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "log.h"
#include "shmstore.h"
#include "watchqueue.h"

struct watcher {
    struct conn *conn;
    watch_queue *queue;
    struct watcher *prev, *next;       /* the server's watchers */
    int snapshot;                      /* the snapshot's walk is not done */
    uint64_t snapshot_count;           /* entries it sent */
    char cursor[SHM_NAME_MAX + 1];     /* the walk has passed every name <= cursor */
    size_t cursor_len;                 /* 0: it has passed none */
    size_t prefix_len;                 /* of the pattern's literal prefix: the walk's range */
    char pattern[SHM_PATTERN_MAX + 1]; /* "" matches every name */
};

/* Store events and wire kinds are told apart on purpose: the store's list may grow with kinds
 * no watcher is told of. */
static uint32_t wire_kind(enum store_event ev)
{
    switch (ev) {
    case STORE_EVENT_SEALED: return SHM_EVENT_SEALED;
    case STORE_EVENT_REPLACED: return SHM_EVENT_REPLACED;
    case STORE_EVENT_DELETED: return SHM_EVENT_DELETED;
    case STORE_EVENT_EVICTED: return SHM_EVENT_EVICTED;
    case STORE_EVENT_EXPIRED: return SHM_EVENT_EXPIRED;
    case STORE_EVENT_SPILLED: return SHM_EVENT_SPILLED;
    case STORE_EVENT_RESTORED: return SHM_EVENT_RESTORED;
    }
    return 0;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int matches(const struct watcher *w, const char *name)
{
    return w->pattern[0] == '\0' || fnmatch(w->pattern, name, 0) == 0;
}

/* The name map's order: bytes, a shorter prefix first. */
static int name_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    if (c)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/* Events may go out only while the connection lives and is past HELLO. */
static int conn_open(const struct conn *c)
{
    return c->state != CONN_HANDSHAKE && c->state != CONN_DRAINING && c->state != CONN_CLOSED;
}

static int output_has_room(const struct conn *c)
{
    return evbuffer_get_length(c->out) < WATCH_OUTPUT_MAX;
}

static void send_event(struct conn *c, uint32_t kind, const char *name, size_t name_len,
                       uint64_t id, uint64_t size, int64_t time_ns, uint64_t count)
{
    struct shm_reply rep = {.type = SHM_MSG_EVENT, .seq = 0, .status = 0};
    rep.u.event.kind = kind;
    rep.u.event.name.ptr = (const uint8_t *)name;
    rep.u.event.name.len = (uint32_t)name_len;
    rep.u.event.id = id;
    rep.u.event.size = size;
    rep.u.event.time_ns = time_ns;
    rep.u.event.count = count;
    conn_send_reply(c, &rep);
}

static void offer(struct watcher *w, uint32_t kind, const struct object *obj, int64_t time_ns)
{
    struct conn *c = w->conn;
    if (!w->snapshot && watch_queue_length(w->queue) == 0 && watch_queue_lost(w->queue) == 0 &&
        output_has_room(c)) {
        send_event(c, kind, obj->name, obj->name_len, obj->id, obj->size, time_ns, 0);
        conn_kick(c);
        return;
    }
    /* It waits: the connection's next flush takes it, once the output has room. */
    if (watch_queue_push(w->queue, kind, obj->name, obj->name_len, obj->id, obj->size,
                         time_ns) == WATCH_DROPPED && watch_queue_lost(w->queue) == 1)
        log_info("client %llu watches slower than events come: events are lost until it "
                 "catches up", (unsigned long long)c->client.id);
}

static void on_store_event(void *ctx, enum store_event ev, const struct object *obj)
{
    struct server *s = ctx;
    uint32_t kind = wire_kind(ev);
    int64_t now = 0;
    for (struct watcher *w = s->watchers; w && kind; w = w->next) {
        if (!conn_open(w->conn) || !matches(w, obj->name))
            continue;
        /* A name the snapshot has not reached yet: its entry will tell the outcome. */
        if (w->snapshot && name_cmp(obj->name, obj->name_len, w->cursor, w->cursor_len) > 0)
            continue;
        if (!now)
            now = realtime_ns();
        offer(w, kind, obj, now);
    }
}

void watch_start(struct server *s)
{
    store_set_event_hook(s->store, on_store_event, s);
}

void watch_stop(struct server *s)
{
    if (s->store)
        store_set_event_hook(s->store, NULL, NULL);
}

static void watcher_free(struct watcher *w)
{
    watch_queue_free(w->queue);
    free(w);
}

void watch_forget_conn(struct conn *c)
{
    struct watcher *w = c->watcher;
    if (!w)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->server->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    c->watcher = NULL;
    watcher_free(w);
}

static void snapshot_finish(struct watcher *w)
{
    w->snapshot = 0;
    send_event(w->conn, SHM_EVENT_SNAPSHOT_END, "", 0, 0, 0, realtime_ns(), w->snapshot_count);
}

/* One step of the walk: the next sealed object after the cursor, sent if it matches. 0 when the
 * turn's budget ran out, 1 otherwise (the walk may have finished). */
static int snapshot_step(struct watcher *w, unsigned *budget)
{
    struct conn *c = w->conn;
    const char *resume = NULL;
    size_t resume_len = 0;
    struct object *obj = store_next_sealed(c->server->store, w->cursor_len ? w->cursor : NULL,
                                           w->cursor_len, budget, &resume, &resume_len);
    if (!obj && *budget == 0) {
        /* Names without a sealed object were passed: a seal there from now on is a change. */
        if (resume && resume_len <= SHM_NAME_MAX) {
            memcpy(w->cursor, resume, resume_len);
            w->cursor_len = resume_len;
        }
        return 0;
    }
    if (!obj ||
        (w->prefix_len && (obj->name_len < w->prefix_len ||
                           memcmp(obj->name, w->pattern, w->prefix_len) != 0))) {
        snapshot_finish(w);   /* the end of the store, or of the names the pattern can match */
        return 1;
    }
    memcpy(w->cursor, obj->name, obj->name_len);
    w->cursor_len = obj->name_len;
    if (matches(w, obj->name)) {
        send_event(c, SHM_EVENT_SNAPSHOT, obj->name, obj->name_len, obj->id, obj->size,
                   obj->created_ns, 0);
        w->snapshot_count++;
    }
    return 1;
}

int watch_fill(struct conn *c)
{
    struct watcher *w = c->watcher;
    if (!w || !conn_open(c))
        return 0;
    unsigned budget = WATCH_SNAPSHOT_BUDGET;
    while (output_has_room(c)) {
        if (w->snapshot) {
            if (!snapshot_step(w, &budget))
                return 1;
            continue;
        }
        const struct watch_item *it = watch_queue_peek(w->queue);
        if (it) {
            send_event(c, it->kind, it->name, it->name_len, it->id, it->size, it->time_ns, 0);
            watch_queue_pop(w->queue);
            continue;
        }
        uint64_t lost = watch_queue_take_lost(w->queue);
        if (!lost)
            return 0;
        log_info("client %llu caught up: %llu events were lost", (unsigned long long)c->client.id,
                 (unsigned long long)lost);
        send_event(c, SHM_EVENT_LOST, "", 0, 0, 0, realtime_ns(), lost);
    }
    return w->snapshot || watch_queue_length(w->queue) > 0 || watch_queue_lost(w->queue) > 0;
}

void watch_request(struct conn *c, const struct shm_request *req)
{
    const struct shm_bytes pattern = req->u.watch.pattern;
    if (!(c->hello_flags & SHM_HELLO_WATCH)) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ESTATE,
                        "WATCH on a connection that did not ask to watch at HELLO: a watching "
                        "connection does nothing else, so it asks when it opens");
        return;
    }
    if (c->watcher) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ESTATE, "this connection watches "
                        "already; open another one for another pattern");
        return;
    }
    if (req->u.watch.flags & ~SHM_WATCH_SNAPSHOT) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL, "unknown WATCH flags 0x%x",
                        req->u.watch.flags & ~SHM_WATCH_SNAPSHOT);
        return;
    }
    if (memchr(pattern.ptr, '\0', pattern.len)) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL, "pattern contains a NUL byte");
        return;
    }
    struct watcher *w = calloc(1, sizeof *w);
    if (w)
        w->queue = watch_queue_new(WATCH_QUEUE_MAX);
    if (!w || !w->queue) {
        free(w);
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOMEM, "daemon out of memory");
        return;
    }
    memcpy(w->pattern, pattern.ptr, pattern.len);   /* the decoder bounds it */
    w->pattern[pattern.len] = '\0';
    w->conn = c;
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    conn_send_reply(c, &rep);   /* before any event */
    if (req->u.watch.flags & SHM_WATCH_SNAPSHOT) {
        w->snapshot = 1;
        /* Every name the pattern matches starts with its literal prefix, and names sort
         * bytewise: the walk covers that run only (as DELETE_MATCHING's does). A name equal to
         * the prefix is the run's first; the walk goes on strictly after the cursor. */
        w->prefix_len = strcspn(w->pattern, "*?[\\");
        if (w->prefix_len > SHM_NAME_MAX) {
            w->snapshot = 0;   /* longer than any name: nothing to list */
            send_event(c, SHM_EVENT_SNAPSHOT_END, "", 0, 0, 0, realtime_ns(), 0);
        } else if (w->prefix_len) {
            memcpy(w->cursor, w->pattern, w->prefix_len);
            w->cursor_len = w->prefix_len;
            const struct object *first = store_lookup(c->server->store, w->cursor,
                                                      w->cursor_len);
            if (first && matches(w, first->name)) {
                send_event(c, SHM_EVENT_SNAPSHOT, first->name, first->name_len, first->id,
                           first->size, first->created_ns, 0);
                w->snapshot_count++;
            }
        }
    }
    w->next = c->server->watchers;
    if (w->next)
        w->next->prev = w;
    c->server->watchers = w;
    c->watcher = w;
    log_debug("client %llu watches '%s'%s", (unsigned long long)c->client.id, w->pattern,
              w->snapshot ? " from a snapshot" : "");
    conn_kick(c);
}
