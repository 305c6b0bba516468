/*
 * handlers.c — one function per request type, reached through a single table.
 *
 * Handlers validate what the decoder left to them (name contents, sizes against the arena),
 * call the store, and queue exactly one reply — except RELEASE, which never has one, and a GET
 * that waits, whose reply is queued later by the wake-up, the timer or the client's GET_CANCEL.
 * The store's detail text becomes the error reply's message, so a client's shmstore_errmsg()
 * shows the daemon's words.
 */
#define _GNU_SOURCE
#include "handlers.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "client_limits.h"
#include "durable.h"
#include "grow.h"
#include "expire.h"
#include "residency.h"
#include "log.h"
#include "releasering.h"
#include "shmlayout.h"
#include "shmstore.h"
#include "verify.h"
#include "watch.h"

typedef void (*handler_fn)(struct conn *c, const struct shm_request *req);

static void object_to_wire(const struct object *obj, struct shm_object *out)
{
    out->name.ptr = (const uint8_t *)obj->name;
    out->name.len = (uint32_t)obj->name_len;
    out->id = obj->id;
    out->data_offset = obj->data_offset;
    out->size = obj->size;
    out->meta_offset = store_meta_offset(obj);
    out->meta_size = obj->meta_size;
    out->pins = obj->pins;
    out->created_ns = obj->created_ns;
    /* Sent only in STAT_EX and LIST_EX replies (proto.h). */
    const enum object_location where = object_location(obj);
    out->location = (where != LOCATION_DISK ? SHM_LOCATION_MEMORY : 0) |
                    (where != LOCATION_MEMORY ? SHM_LOCATION_DISK : 0);
    out->durable = obj->persist != 0;
    out->owner_uid = obj->owner_uid;
    out->expires_ns = obj->expires_ns;
}

/* Placed objects carry owner and expiry only to clients that said they read them (proto.h). */
static void object_to_client(const struct conn *c, const struct object *obj,
                             struct shm_object *out)
{
    object_to_wire(obj, out);
    out->owner_known = (c->hello_flags & SHM_HELLO_OWNERS) != 0;
}

static void reply_empty(struct conn *c, const struct shm_request *req)
{
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    conn_send_reply(c, &rep);
}

static void reply_object(struct conn *c, uint32_t type, uint32_t seq, const struct object *obj)
{
    if (type == SHM_MSG_GET)
        server_watch_releases(c->server);   /* a pin now exists that a ring may give back */
    struct shm_reply rep = {.type = type, .seq = seq};
    object_to_client(c, obj, &rep.u.object);
    conn_send_reply(c, &rep);
}

void handlers_reply_object(struct conn *c, uint32_t type, uint32_t seq,
                           const struct object *obj)
{
    reply_object(c, type, seq, obj);
}

/* Reply with the store's verdict: the empty reply on success, else its detail. */
static void reply_status(struct conn *c, const struct shm_request *req, int rc,
                         const struct store_detail *d)
{
    if (rc == 0)
        reply_empty(c, req);
    else
        conn_send_error(c, req->type, req->seq, rc, "%s", d->text);
}

/* Names are checked here rather than in the decoder so that a bad one is an ordinary EINVAL
 * reply and the connection stays. */
static int name_ok(struct conn *c, const struct shm_request *req, struct shm_bytes name)
{
    const char *why;
    if (shm_name_check(name.ptr, name.len, &why) == 0)
        return 1;
    conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL, "invalid name: %s", why);
    return 0;
}

static void handle_hello(struct conn *c, const struct shm_request *req)
{
    struct server *s = c->server;
    if (c->state != CONN_HANDSHAKE) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EPROTO, "HELLO sent twice");
        return;
    }
    if (req->u.hello.version != SHM_PROTO_VERSION) {
        log_warn("client %llu (pid %d) speaks protocol %u, not %u; refused",
                 (unsigned long long)c->client.id, (int)c->pid, req->u.hello.version,
                 SHM_PROTO_VERSION);
        conn_send_error(c, req->type, req->seq, SHMSTORE_EPROTO,
                        "protocol version %u is not supported: shmstored %s speaks version %u",
                        req->u.hello.version, SHMSTORE_VERSION_STRING, SHM_PROTO_VERSION);
        conn_set_state(c, CONN_DRAINING);
        return;
    }
    if (c->access == ACCESS_REFUSED) {
        log_warn("refused client %llu (pid %d, uid %u, gid %u): not in the access lists",
                 (unsigned long long)c->client.id, (int)c->pid, (unsigned)c->uid,
                 (unsigned)c->gid);
        conn_send_error(c, req->type, req->seq, SHMSTORE_EPERM,
                        "permission denied: uid %u is not allowed", (unsigned)c->uid);
        conn_set_state(c, CONN_DRAINING);
        return;
    }
    /* Only clients past HELLO count, so connections that never say HELLO (or are refused) cannot
     * lock others out. */
    struct store_detail d;
    int refused = limits_check_client(s->opts, s->served_clients, c->uid, geteuid(), &d);
    if (refused) {
        log_warn("refused client %llu (pid %d, uid %u): max_clients (%u) reached",
                 (unsigned long long)c->client.id, (int)c->pid, (unsigned)c->uid,
                 s->opts->max_clients);
        conn_send_error(c, req->type, req->seq, refused, "%s", d.text);
        conn_set_state(c, CONN_DRAINING);
        return;
    }
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.hello.version = SHM_PROTO_VERSION;
    rep.u.hello.arena_size = SHM_ARENA_HEADER_BYTES;
    rep.u.hello.client_id = c->client.id;
    rep.u.hello.server_version.ptr = (const uint8_t *)SHMSTORE_VERSION_STRING;
    rep.u.hello.server_version.len = (uint32_t)strlen(SHMSTORE_VERSION_STRING);
    int ring_fd = -1;
    if (release_ring_create(&c->ring, &ring_fd) != 0) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOMEM,
                        "daemon cannot make a release ring: %s", strerror(errno));
        conn_set_state(c, CONN_DRAINING);
        return;
    }
    /* Every client reads the header; segments come with MAP_SEGMENT. */
    const int fds[2] = {s->arena.header_readonly_fd, ring_fd};
    int sent = conn_send_reply_with_fds(c, &rep, fds, 2);
    close(ring_fd);   /* the client has its own copy now; the daemon keeps the mapping */
    if (sent != 0) {
        conn_set_state(c, CONN_DRAINING);
        return;
    }
    c->served = 1;
    c->hello_flags = req->u.hello.flags;
    s->served_clients++;
    conn_set_state(c, CONN_READY);
}

/* The store's flags for a PUT or CREATE, or 0 after refusing PERSIST on a daemon that has no
 * data directory: a durable request must never silently make a transient object. */
static int store_flags(struct conn *c, const struct shm_request *req, uint32_t wire,
                       unsigned *flags)
{
    *flags = (wire & SHM_FLAG_REPLACE ? STORE_REPLACE : 0) |
             (wire & SHM_FLAG_PERSIST ? STORE_PERSIST : 0) |
             (wire & SHM_FLAG_NO_EVICT ? STORE_NO_EVICT : 0);
    if (c->server->opts->persist_all && c->server->durable)
        *flags |= STORE_PERSIST;   /* persist = all */
    if ((wire & SHM_FLAG_PERSIST) && !c->server->durable) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL,
                        "durable objects need a data directory: start shmstored with -d DIR");
        return 0;
    }
    return 1;
}

/* A time to live and a user's quota, checked before anything is made: 1 to go on, else the
 * refusal is sent. The quota is checked here, before store_create, so that a create over quota
 * is told apart from a full store and never makes room (spills, evictions) it may not take. */
static int ttl_and_quota_ok(struct conn *c, const struct shm_request *req, unsigned flags,
                            uint64_t ttl_ms, uint64_t size, uint64_t meta_size)
{
    if (ttl_ms && (flags & STORE_PERSIST)) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL,
                        "a durable object cannot have a time to live%s",
                        c->server->opts->persist_all ? " (the daemon runs with persist = all)"
                                                     : "");
        return 0;
    }
    struct store_detail d;
    int rc = store_quota_check(c->server->store, &c->client, size, meta_size, &d);
    if (rc)
        conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
    return rc == 0;
}

/* store_create, making room when the store is full (residency.h): 0, a store error, or
 * ROOM_WAIT when c stalled and the request will run again. */
#define ROOM_WAIT 1
static int create_with_room(struct conn *c, struct shm_bytes name, uint64_t size,
                            struct shm_bytes meta, unsigned flags, struct object **obj,
                            struct store_detail *d)
{
    for (int tries = 0;; tries++) {
        int rc = store_create(c->server->store, &c->client, (const char *)name.ptr, name.len,
                              size, meta.ptr, meta.len, flags, obj, d);
        if (rc != SHMSTORE_ENOSPC || tries > 0)
            return rc;
        enum room room = residency_make_room(c->server, c, size, meta.len, d);
        if (room == ROOM_STALLED)
            return ROOM_WAIT;
        if (room == ROOM_NONE)
            return rc;
    }
}

static void handle_put(struct conn *c, const struct shm_request *req)
{
    unsigned flags;
    const uint64_t ttl_ms = req->u.put.ttl_ms;
    if (!name_ok(c, req, req->u.put.name) || !store_flags(c, req, req->u.put.flags, &flags) ||
        !ttl_and_quota_ok(c, req, flags, ttl_ms, req->u.put.data.len, req->u.put.meta.len))
        return;
    store_t *store = c->server->store;
    struct store_detail d;
    struct object *obj;
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    int rc;
    if ((flags & STORE_PERSIST) || ttl_ms) {
        /* create, copy, then the seal: a durable one, whose completion replies, or one that
         * starts the time to live */
        rc = create_with_room(c, req->u.put.name, req->u.put.data.len, req->u.put.meta, flags,
                              &obj, &d);
        if (rc == ROOM_WAIT)
            return;
        int durable = 0;
        if (rc == 0) {
            if (req->u.put.data.len)
                memcpy(store_pointer(store, obj->data_offset), req->u.put.data.ptr,
                       req->u.put.data.len);
            if (ttl_ms)
                store_set_ttl(store, obj, ttl_ms);   /* unsealed: cannot fail */
            rc = store_seal_begin(store, &c->client, obj->id, &obj, &durable, &d);
            if (rc) {
                struct store_detail ignored;
                store_abort(store, &c->client, obj->id, &ignored);
            }
        }
        if (rc) {
            conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
            return;
        }
        rep.u.put.id = obj->id;
        if (durable)
            durable_seal(c->server, obj, c, &rep, 1);
        else if (!durable_hold_reply(c->server, c, &rep))
            conn_send_reply(c, &rep);
        return;
    }
    for (int tries = 0;; tries++) {
        rc = store_put(store, &c->client, (const char *)req->u.put.name.ptr,
                       req->u.put.name.len, req->u.put.data.ptr, req->u.put.data.len,
                       req->u.put.meta.ptr, req->u.put.meta.len, flags, &obj, &d);
        if (rc != SHMSTORE_ENOSPC || tries > 0)
            break;
        enum room room = residency_make_room(c->server, c, req->u.put.data.len,
                                             req->u.put.meta.len, &d);
        if (room == ROOM_STALLED)
            return;
        if (room == ROOM_NONE)
            break;
    }
    if (rc) {
        conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
        return;
    }
    rep.u.put.id = obj->id;
    /* A transient put that replaced a durable object: the old entry's drop comes first. */
    if (!durable_hold_reply(c->server, c, &rep))
        conn_send_reply(c, &rep);
}

/* Refuse with the limit's own words when `rc` (from a limits_check_*) says so; 1 to go on. */
static int within_limit(struct conn *c, const struct shm_request *req, int rc,
                        const struct store_detail *d)
{
    if (rc == 0)
        return 1;
    conn_send_error(c, req->type, req->seq, rc, "%s", d->text);
    return 0;
}

static void handle_create(struct conn *c, const struct shm_request *req)
{
    struct store_detail d;
    unsigned flags;
    if (!store_flags(c, req, req->u.create.flags, &flags))
        return;
    /* Saturating: a size near 2^64 must not wrap into something that fits the limit. */
    const uint64_t meta_len = req->u.create.meta.len;
    const uint64_t charge = req->u.create.size > UINT64_MAX - meta_len
                                ? UINT64_MAX
                                : req->u.create.size + meta_len;
    if (!name_ok(c, req, req->u.create.name) ||
        !within_limit(c, req, limits_check_unsealed(c->server->opts, &c->client, charge, &d),
                      &d) ||
        !ttl_and_quota_ok(c, req, flags, req->u.create.ttl_ms, req->u.create.size, meta_len))
        return;
    struct object *obj;
    int rc = create_with_room(c, req->u.create.name, req->u.create.size, req->u.create.meta,
                              flags, &obj, &d);
    if (rc == ROOM_WAIT)
        return;
    if (rc) {
        conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
        return;
    }
    if (req->u.create.ttl_ms)
        store_set_ttl(c->server->store, obj, req->u.create.ttl_ms);   /* starts at its seal */
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.create.id = obj->id;
    rep.u.create.data_offset = obj->data_offset;
    conn_send_reply(c, &rep);
}

static void handle_seal(struct conn *c, const struct shm_request *req)
{
    struct store_detail d;
    struct object *obj;
    int durable = 0;
    int rc = store_seal_begin(c->server->store, &c->client, req->u.by_id.id, &obj, &durable,
                              &d);
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    if (rc == 0 && durable)
        durable_seal(c->server, obj, c, &rep, 0);
    else if (rc != 0 || !durable_hold_reply(c->server, c, &rep))
        reply_status(c, req, rc, &d);
}

static void handle_abort(struct conn *c, const struct shm_request *req)
{
    struct store_detail d;
    int rc = store_abort(c->server->store, &c->client, req->u.by_id.id, &d);
    reply_status(c, req, rc, &d);
}

static void handle_release(struct conn *c, const struct shm_request *req)
{
    struct store_detail d;
    /* No reply: the client library checks its own pins before sending, so a failure here is a
     * client bug or a hostile client, and either way only its own pins are at stake. */
    if (store_release(c->server->store, &c->client, req->u.by_id.id, &d) != 0)
        log_debug("client %llu: %s", (unsigned long long)c->client.id, d.text);
}

static void handle_delete(struct conn *c, const struct shm_request *req)
{
    if (!name_ok(c, req, req->u.by_name.name))
        return;
    struct store_detail d;
    int rc = store_delete(c->server->store, (const char *)req->u.by_name.name.ptr,
                          req->u.by_name.name.len, &d);
    /* An acknowledged delete of a durable object is durable: it never comes back after a
     * restart. */
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    if (rc != 0 || !durable_hold_reply(c->server, c, &rep))
        reply_status(c, req, rc, &d);
}

/* STAT and STAT_EX: the same object, STAT_EX's encoding adds where it is and if durable. */
static void handle_stat(struct conn *c, const struct shm_request *req)
{
    if (!name_ok(c, req, req->u.by_name.name))
        return;
    struct shm_bytes name = req->u.by_name.name;
    struct object *obj = store_lookup(c->server->store, (const char *)name.ptr, name.len);
    if (!obj) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOTFOUND, "%.*s: not found",
                        (int)name.len, (const char *)name.ptr);
        return;
    }
    reply_object(c, req->type, req->seq, obj);
}

/* ---- GET, and waiting for a name ----------------------------------------------------------- */

static void wait_finished(struct conn *c)
{
    if (c->wait_timer) {
        event_free(c->wait_timer);
        c->wait_timer = NULL;
    }
    /* Queuing the reply may have failed and moved the connection to DRAINING: leave it there. */
    if (c->state == CONN_WAITING)
        conn_set_state(c, CONN_READY);
}

/* Called by the store, from whichever client's seal bound the name, with the object already
 * pinned for this client. */
static void on_wait_woken(struct store_waiter *w, struct object *obj)
{
    struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, waiter));
    if (obj)
        reply_object(c, SHM_MSG_GET, c->wait_seq, obj);
    else
        conn_send_error(c, SHM_MSG_GET, c->wait_seq, SHMSTORE_ENOMEM,
                        "daemon out of memory pinning the object");
    wait_finished(c);
}

/* End the waiting get with an error reply. The detail names the object, so it is formatted
 * (the name copied) before the cancel frees the name the waiter points to. */
static void fail_wait(struct conn *c, int code, const char *detail)
{
    conn_send_error(c, SHM_MSG_GET, c->wait_seq, code, "%s", detail);
    store_wait_cancel(c->server->store, &c->waiter);
    wait_finished(c);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    size_t name_len = 0;
    const char *name = store_waiter_name(c->server->store, &c->waiter, &name_len);
    char detail[SHM_NAME_MAX + 64];
    snprintf(detail, sizeof detail, "no object '%.*s' was sealed within %lld ms", (int)name_len,
             name ? name : "", (long long)c->wait_timeout_ms);
    fail_wait(c, SHMSTORE_ETIMEDOUT, detail);
}

/* The client's interrupt check fired while its get waited (shmstore_set_interrupt). The get is
 * answered first, with EINTR, then the cancel itself, so the client reads both replies in the
 * order it sent the requests. When the get's reply went out before the cancel arrived (a seal
 * or the timer crossed it), there is nothing to cancel: only the acknowledgement goes, and the
 * client gives back any pin that reply carried. */
static void handle_get_cancel(struct conn *c, const struct shm_request *req)
{
    if (c->state == CONN_WAITING && c->wait_seq == req->u.get_cancel.get_seq) {
        size_t name_len = 0;
        const char *name = store_waiter_name(c->server->store, &c->waiter, &name_len);
        char detail[SHM_NAME_MAX + 64];
        snprintf(detail, sizeof detail, "the wait for '%.*s' was interrupted", (int)name_len,
                 name ? name : "");
        fail_wait(c, SHMSTORE_EINTR, detail);
    }
    reply_empty(c, req);
}

static void handle_get(struct conn *c, const struct shm_request *req)
{
    if (!name_ok(c, req, req->u.get.name))
        return;
    struct store_detail d;
    if (!within_limit(c, req, limits_check_pin(c->server->opts, &c->client, &d), &d))
        return;
    if (req->u.get.timeout_ms < SHM_TIMEOUT_FOREVER) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL,
                        "timeout_ms %lld is invalid: use -1 (forever), 0 or a positive value",
                        (long long)req->u.get.timeout_ms);
        return;
    }
    struct server *s = c->server;
    struct shm_bytes name = req->u.get.name;
    struct object *obj;
    int rc = store_get(s->store, &c->client, (const char *)name.ptr, name.len, &obj, &d);
    if (rc == 0 && (!obj->block || obj->loading)) {
        /* On disk only: the reply waits for the read back (residency.h). */
        residency_get(s, c, req->seq, req->u.get.timeout_ms, obj);
        return;
    }
    if (rc == 0) {
        reply_object(c, req->type, req->seq, obj);
        return;
    }
    int64_t timeout_ms = req->u.get.timeout_ms;
    if (rc != SHMSTORE_ENOTFOUND || timeout_ms == 0) {
        conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
        return;
    }
    c->waiter.client = &c->client;
    c->waiter.wake = on_wait_woken;
    if (timeout_ms > 0) {
        c->wait_timer = evtimer_new(s->base, on_wait_timeout, c);
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
        if (!c->wait_timer || evtimer_add(c->wait_timer, &tv) != 0) {
            if (c->wait_timer)
                event_free(c->wait_timer);
            c->wait_timer = NULL;
            conn_send_error(c, req->type, req->seq, SHMSTORE_ENOMEM, "daemon out of memory");
            return;
        }
    }
    rc = store_wait(s->store, (const char *)name.ptr, name.len, &c->waiter, &d);
    if (rc) {
        if (c->wait_timer)
            event_free(c->wait_timer);
        c->wait_timer = NULL;
        conn_send_error(c, req->type, req->seq, rc, "%s", d.text);
        return;
    }
    c->wait_seq = req->seq;
    c->wait_timeout_ms = timeout_ms;
    conn_set_state(c, CONN_WAITING);
}

void handlers_conn_closing(struct conn *c)
{
    store_wait_cancel(c->server->store, &c->waiter);
    if (c->wait_timer) {
        event_free(c->wait_timer);
        c->wait_timer = NULL;
    }
}

/* ---- LIST, DELETE_MATCHING, INFO, PING ------------------------------------------------------ */

/* Name entries one LIST request may visit, matching or not, so that a pattern matching little
 * in a huge store still answers in bounded time and the client comes back for more. */
#define LIST_VISIT_BUDGET 4096u

/* The glob of a LIST or DELETE_MATCHING as a C string in buf (SHM_PATTERN_MAX + 1 bytes; the
 * decoder bounds its length); 0 with an EINVAL reply sent when it cannot be one. */
static int pattern_ok(struct conn *c, const struct shm_request *req, struct shm_bytes pattern,
                      char *buf)
{
    memcpy(buf, pattern.ptr, pattern.len);
    buf[pattern.len] = '\0';
    if (memchr(buf, '\0', pattern.len)) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL, "pattern contains a NUL byte");
        return 0;
    }
    return 1;
}

/* LIST and LIST_EX, as STAT and STAT_EX. */
static void handle_list(struct conn *c, const struct shm_request *req)
{
    char pattern[SHM_PATTERN_MAX + 1];
    if (!pattern_ok(c, req, req->u.list.pattern, pattern))
        return;
    struct shm_object entries[SHM_LIST_PAGE_MAX];
    uint32_t count = 0;
    unsigned budget = LIST_VISIT_BUDGET;
    const char *cursor = req->u.list.cursor.len ? (const char *)req->u.list.cursor.ptr : NULL;
    size_t cursor_len = req->u.list.cursor.len;
    int done = 0;
    while (count < req->u.list.max) {
        const char *resume = cursor;
        size_t resume_len = cursor_len;
        struct object *obj = store_next_sealed(c->server->store, cursor, cursor_len, &budget,
                                               &resume, &resume_len);
        if (!obj) {
            done = budget > 0;
            cursor = resume;
            cursor_len = resume_len;
            break;
        }
        cursor = obj->name;
        cursor_len = obj->name_len;
        if (pattern[0] == '\0' || fnmatch(pattern, obj->name, 0) == 0)
            object_to_client(c, obj, &entries[count++]);
    }
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.list.count = count;
    rep.u.list.entries = entries;
    rep.u.list.next_cursor.ptr = (const uint8_t *)(cursor ? cursor : "");
    rep.u.list.next_cursor.len = (uint32_t)(cursor ? cursor_len : 0);
    rep.u.list.done = done;
    conn_send_reply(c, &rep);
}

/* One request however many names match, so a scope's cleanup is one round trip; an empty
 * pattern is refused rather than read as "everything" the way `ls` reads it. */
static void handle_delete_matching(struct conn *c, const struct shm_request *req)
{
    char pattern[SHM_PATTERN_MAX + 1];
    if (!pattern_ok(c, req, req->u.delete_matching.pattern, pattern))
        return;
    if (pattern[0] == '\0') {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EINVAL,
                        "empty pattern: give one, such as '*' to delete every object");
        return;
    }
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.delete_matching.deleted = store_delete_matching(c->server->store, pattern);
    log_debug("client %llu: deleted %llu objects matching '%s'", (unsigned long long)c->client.id,
              (unsigned long long)rep.u.delete_matching.deleted, pattern);
    if (!durable_hold_reply(c->server, c, &rep))
        conn_send_reply(c, &rep);
}

static void handle_info(struct conn *c, const struct shm_request *req)
{
    struct server *s = c->server;
    struct store_stats st;
    store_get_stats(s->store, &st);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    struct shm_info *info = &rep.u.info;
    info->capacity_bytes = st.capacity_bytes;
    info->used_bytes = st.used_bytes;
    info->free_bytes = st.free_bytes;
    info->largest_free_bytes = st.largest_free_bytes;
    info->objects = st.objects;
    info->unsealed_objects = st.unsealed_objects;
    info->unsealed_bytes = st.unsealed_bytes;
    info->deleted_pinned = st.deleted_pinned;
    info->pins = st.pins;
    info->clients = s->clients;
    info->waiters = st.waiters;
    info->uptime_s = (uint64_t)(now.tv_sec - s->started.tv_sec);
    info->requests = s->requests;
    memcpy(info->errors, s->errors, sizeof info->errors);
    info->version.ptr = (const uint8_t *)SHMSTORE_VERSION_STRING;
    info->version.len = (uint32_t)strlen(SHMSTORE_VERSION_STRING);
    struct durable_stats ds;
    durable_get_stats(s, &ds);
    info->disk_objects = st.disk_objects;
    info->disk_bytes = st.disk_bytes;
    info->disk_only_objects = st.disk_only_objects;
    info->pending_writes = ds.pending_writes;
    info->failed_writes = ds.failed_writes;
    info->spills = ds.spills;
    info->spill_bytes = ds.spill_bytes;
    info->restores = ds.restores;
    info->restore_bytes = ds.restore_bytes;
    info->evictions = ds.evictions;
    info->taken_bytes = st.taken_bytes;
    info->segments = st.segments;
    info->evicted_deletions = store_evicted_deletions(s->store);
    info->expirations = store_expirations(s->store);
    conn_send_reply(c, &rep);
}

/* What each user holds and may hold, a page at a time in uid order (quota.h). */
static void handle_users(struct conn *c, const struct shm_request *req)
{
    /* Static: 80 KiB is a lot for one stack frame, and the loop is the only thread here. */
    static struct quota_usage usage[SHM_USERS_PAGE_MAX];
    static struct shm_user users[SHM_USERS_PAGE_MAX];
    int more = 0;
    const uint64_t from = req->u.users.from_uid;
    size_t n = from > UINT32_MAX ? 0
                                 : quota_list(c->server->quota, from, usage, SHM_USERS_PAGE_MAX,
                                              &more);
    for (size_t i = 0; i < n; i++)
        users[i] = (struct shm_user){usage[i].uid, usage[i].objects, usage[i].bytes,
                                     usage[i].quota_bytes, usage[i].quota_objects};
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.users.count = (uint32_t)n;
    rep.u.users.entries = users;
    rep.u.users.next_uid = n ? (uint64_t)usage[n - 1].uid + 1 : from;
    rep.u.users.done = !more;
    conn_send_reply(c, &rep);
}

/* Read every durable object's file back and check it, on a thread of verify.c's; the reply
 * waits for it. Read-only clients may ask: it changes nothing but what is already damaged. */
static void handle_verify(struct conn *c, const struct shm_request *req)
{
    verify_request(c, req);
}

/* A client met an address in a segment it has not mapped: hand it the segment's fd (O_RDONLY
 * to a read-only client, so the kernel refuses it a writable mapping) and the ids of every
 * segment, so it can unmap those given back. */
static void handle_map_segment(struct conn *c, const struct shm_request *req)
{
    struct server *s = c->server;
    int fd;
    uint64_t bytes;
    if (grow_segment_fd(s, req->u.segment.id, c->access != ACCESS_FULL, &fd, &bytes) != 0) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_ENOTFOUND,
                        "segment %u is not in the arena (given back, or never made)",
                        (unsigned)req->u.segment.id);
        return;
    }
    _Static_assert(SHM_SEGMENT_LIST_MAX >= SHM_SEGMENT_SLOTS * sizeof(uint32_t),
                   "MAP_SEGMENT's live list holds every segment");
    uint32_t ids[SHM_SEGMENT_SLOTS];
    uint8_t live[SHM_SEGMENT_SLOTS * sizeof(uint32_t)];
    uint32_t n = space_segment_ids(store_space(s->store), ids, SHM_SEGMENT_SLOTS);
    for (uint32_t i = 0; i < n; i++)
        for (unsigned b = 0; b < 4; b++)
            live[i * 4 + b] = (uint8_t)(ids[i] >> (8 * b));
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    rep.u.segment.id = req->u.segment.id;
    rep.u.segment.bytes = bytes;
    rep.u.segment.live = (struct shm_bytes){live, n * 4};
    if (conn_send_reply_with_fds(c, &rep, &fd, 1) != 0)
        conn_set_state(c, CONN_DRAINING);
}

/* Durable writes are made by the writer thread in queue order: SYNC waits behind them. */
static void handle_sync(struct conn *c, const struct shm_request *req)
{
    struct shm_reply rep = {.type = req->type, .seq = req->seq};
    if (!durable_sync(c->server, c, &rep))
        conn_send_reply(c, &rep);
}

static const struct handler {
    handler_fn fn;
    int writes;   /* changes the store: refused to read-only clients */
} handlers[SHM_MSG_TYPE_END] = {
    [SHM_MSG_HELLO] = {handle_hello, 0},     [SHM_MSG_PUT] = {handle_put, 1},
    [SHM_MSG_CREATE] = {handle_create, 1},   [SHM_MSG_SEAL] = {handle_seal, 1},
    [SHM_MSG_ABORT] = {handle_abort, 1},     [SHM_MSG_GET] = {handle_get, 0},
    [SHM_MSG_RELEASE] = {handle_release, 0}, [SHM_MSG_DELETE] = {handle_delete, 1},
    [SHM_MSG_STAT] = {handle_stat, 0},       [SHM_MSG_LIST] = {handle_list, 0},
    [SHM_MSG_INFO] = {handle_info, 0},       [SHM_MSG_PING] = {reply_empty, 0},
    [SHM_MSG_DELETE_MATCHING] = {handle_delete_matching, 1},
    [SHM_MSG_GET_CANCEL] = {handle_get_cancel, 0},
    [SHM_MSG_SYNC] = {handle_sync, 0},
    [SHM_MSG_VERIFY] = {handle_verify, 0},
    [SHM_MSG_STAT_EX] = {handle_stat, 0},    [SHM_MSG_LIST_EX] = {handle_list, 0},
    [SHM_MSG_MAP_SEGMENT] = {handle_map_segment, 0},
    [SHM_MSG_USERS] = {handle_users, 0},
    [SHM_MSG_WATCH] = {watch_request, 0},
};

void handlers_dispatch(struct conn *c, const struct shm_request *req)
{
    const struct handler *h = &handlers[req->type];
    log_debug("client %llu: %s seq %u", (unsigned long long)c->client.id, shm_msg_name(req->type),
              req->seq);
    if (h->writes && c->access != ACCESS_FULL) {
        conn_send_error(c, req->type, req->seq, SHMSTORE_EPERM,
                        "permission denied: uid %u is a read-only client and cannot %s",
                        (unsigned)c->uid, shm_msg_name(req->type));
        return;
    }
    h->fn(c, req);
    expire_arm(c->server);   /* the request may have set the store's earliest deadline */
}
