/*
 * residency.c — the I/O thread that spills and reads back objects, and the loop's side of it
 * (residency.h; docs/architecture.md, "Spill and restore").
 *
 * Jobs are made on the loop, handed to the thread under a mutex, done one at a time in order,
 * and handed back through an eventfd the loop watches, as the durable writer does. The thread
 * touches only files and the arena bytes of the job's object, which the store keeps still for it:
 * a spilled object is held and immutable, a loading object is held and served to nobody until
 * its read is done. The catalogue (LMDB) is never touched here.
 *
 * Three kinds of job: LOAD reads an object back into the block store_load_begin took and checks
 * its checksum; SPILL writes a transient object to the spill area; UNSPILL removes a spill file
 * nobody needs any more. A LOAD gathers every get of its object that arrives before it is done;
 * a spill's completion runs every stalled request again.
 */
#define _GNU_SOURCE
#include "residency.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "durable.h"
#include "grow.h"
#include "handlers.h"
#include "humansize.h"
#include "idmap.h"
#include "log.h"
#include "loopwake.h"
#include "persist.h"
#include "server.h"
#include "shmlayout.h"
#include "shmstore.h"

/* At most this many objects are chosen for spilling by one request that needs room. */
#define SPILL_BATCH 64

enum io_kind { IO_LOAD, IO_SPILL, IO_UNSPILL };

struct io_job {
    enum io_kind kind;
    struct object *obj;             /* LOAD, SPILL: loop side only */
    struct persist_entry entry;     /* id, sizes and (LOAD) the checksum to check */
    int from_spill;                 /* LOAD: the copy is in the spill area, not objects/ */
    const char *name;               /* LOAD of an inline copy: the object's (held: it stays) */
    size_t name_len;
    void *payload, *meta;           /* LOAD, SPILL: the object's bytes in the arena */
    int result;                     /* 0 or a negative errno, with detail */
    char detail[512];
    uint64_t checksum;              /* SPILL: of what was written */
    struct conn *waiters;           /* LOAD: gets waiting for it (conn->load_next) */
    struct io_job *next;
};

struct io_list {
    struct io_job *head, *tail;
};

struct residency {
    struct server *server;
    persist_t *persist;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct io_list queue, done;     /* under lock */
    int stopping;                   /* under lock */
    struct loopwake loop_wake;      /* the thread wakes the loop with it */
    id_map loads;                   /* object id -> its LOAD job, while one runs */
    uint64_t spills, spill_bytes, restores, restore_bytes;
};

static void list_append(struct io_list *l, struct io_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

/* ---- the I/O thread ------------------------------------------------------------------------- */

static void run_job(persist_t *p, struct io_job *j)
{
    switch (j->kind) {
    case IO_LOAD:
        if (j->from_spill)
            j->result = persist_read_spill(p, &j->entry, j->payload, j->meta, j->detail,
                                           sizeof j->detail);
        else if (j->entry.inline_copy)
            j->result = persist_read_inline(p, j->name, j->name_len, &j->entry, j->payload,
                                            j->meta, j->detail, sizeof j->detail);
        else
            j->result = persist_read_object(p, &j->entry, j->payload, j->meta, j->detail,
                                            sizeof j->detail);
        break;
    case IO_SPILL:
        j->result = persist_write_spill(p, j->entry.id, j->payload, j->entry.size, j->meta,
                                        j->entry.meta_size, &j->checksum, j->detail,
                                        sizeof j->detail);
        break;
    case IO_UNSPILL:
        persist_remove_spill(p, j->entry.id);
        break;
    }
}

static void *io_main(void *arg)
{
    struct residency *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->queue.head && !r->stopping)
            pthread_cond_wait(&r->wake, &r->lock);
        struct io_job *j = r->queue.head;
        if (!j)
            break;   /* stopping, and the queue is empty */
        r->queue.head = j->next;
        if (!r->queue.head)
            r->queue.tail = NULL;
        pthread_mutex_unlock(&r->lock);
        run_job(r->persist, j);
        pthread_mutex_lock(&r->lock);
        list_append(&r->done, j);
        loopwake_signal(&r->loop_wake);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void submit(struct residency *r, struct io_job *j)
{
    pthread_mutex_lock(&r->lock);
    list_append(&r->queue, j);
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

static struct io_job *job_for(enum io_kind kind, const struct object *obj, const store_t *store)
{
    struct io_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->entry.id = obj->id;
    j->entry.size = obj->size;
    j->entry.meta_size = obj->meta_size;
    j->entry.checksum = obj->checksum;
    if (obj->block) {
        j->payload = store_pointer(store, obj->data_offset);
        j->meta = store_pointer(store, store_meta_offset(obj));
    }
    return j;
}

/* The spill area holds a file nobody needs any more. */
static void remove_spill_file(struct residency *r, uint64_t id)
{
    struct io_job *j = calloc(1, sizeof *j);
    if (!j) {
        log_warn("out of memory: spill file of object %llu stays until the next start",
                 (unsigned long long)id);
        return;
    }
    j->kind = IO_UNSPILL;
    j->entry.id = id;
    submit(r, j);
}

static void on_spilled_object_freed(void *ctx, uint64_t id)
{
    remove_spill_file(ctx, id);
}

enum room residency_make_room(struct server *s, struct conn *c, uint64_t size,
                              uint64_t meta_size, struct store_detail *d)
{
    struct residency *r = s->residency;
    const uint64_t bytes = store_object_bytes(size, meta_size);
    const int can_delete = s->opts->evict_lru;
    /* Larger than the whole store, or than any segment can be: no room will ever do, and the
     * store's detail says so. */
    const space_t *sp = store_space(s->store);
    if (bytes > space_max(sp) || bytes > SHM_SEGMENT_BYTES_MAX / 2)
        return ROOM_NONE;
    /* A store below its maximum takes more memory first: nothing leaves while it can. */
    enum room grown = grow_for(s, c, bytes, d);
    if (grown != ROOM_NONE)
        return grown;
    /* Without a data directory nothing can leave but what evict = lru deletes; beyond the
     * largest segment the store may hold nothing would help. Otherwise the store's own ENOSPC
     * detail (or the grow failure's) stands. */
    if ((!r && !can_delete) || bytes > grow_largest_segment(s))
        return ROOM_NONE;
    struct object *chosen[SPILL_BATCH];
    size_t n = 0;
    int rc = store_make_room(s->store, bytes, r && s->opts->spill, can_delete, chosen,
                             r ? SPILL_BATCH : 0, &n, d);
    if (rc == 0)
        return ROOM_MADE;
    if (rc != STORE_ROOM_PENDING)
        return ROOM_NONE;
    for (size_t i = 0; i < n; i++) {
        struct io_job *j = job_for(IO_SPILL, chosen[i], s->store);
        if (!j) {
            store_spill_done(s->store, chosen[i], 0, 0);
            continue;
        }
        j->obj = chosen[i];
        submit(r, j);
    }
    /* Nothing on its way out (out of memory for every job): no completion would wake it. */
    if (!store_spilling_bytes(s->store)) {
        snprintf(d->text, sizeof d->text, "daemon out of memory making room");
        return ROOM_NONE;
    }
    conn_stall(c);
    return ROOM_STALLED;
}

static void complete_spill(struct residency *r, struct io_job *j)
{
    struct object *obj = j->obj;
    if (j->result != 0)
        log_warn("could not spill '%s' (id %llu) to make room: %s", obj->name,
                 (unsigned long long)obj->id, j->detail);
    else {
        r->spills++;
        r->spill_bytes += j->entry.size + j->entry.meta_size;
        log_debug("spilled '%s' (id %llu, %llu bytes)", obj->name, (unsigned long long)obj->id,
                  (unsigned long long)(j->entry.size + j->entry.meta_size));
    }
    int useless = store_spill_done(r->server->store, obj, j->result == 0, j->checksum);
    if (useless && j->result == 0)
        remove_spill_file(r, j->entry.id);
}

/* ---- reading back --------------------------------------------------------------------------- */

static void load_detach(struct conn *c)
{
    struct io_job *j = c->load;
    if (c->load_prev)
        c->load_prev->load_next = c->load_next;
    else if (j && j->waiters == c)
        j->waiters = c->load_next;
    if (c->load_next)
        c->load_next->load_prev = c->load_prev;
    c->load_prev = c->load_next = NULL;
    c->load = NULL;
    if (c->load_timer) {
        event_free(c->load_timer);
        c->load_timer = NULL;
    }
}

/* End c's wait with an error: its pin on obj goes, and the get is answered. */
static void load_fail(struct conn *c, struct object *obj, int code, const char *detail)
{
    struct store_detail ignored;
    load_detach(c);
    store_release(c->server->store, &c->client, obj->id, &ignored);
    conn_release_frame(c);
    conn_send_error(c, SHM_MSG_GET, c->load_seq, code, "%s", detail);
    if (c->state == CONN_LOADING)
        conn_set_state(c, CONN_READY);
}

static void on_load_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct object *obj = c->load->obj;
    char detail[SHMSTORE_NAME_MAX + 128];
    snprintf(detail, sizeof detail, "'%s' is being read back from disk and was not in memory "
             "within %lld ms", obj->name, (long long)c->load_timeout_ms);
    load_fail(c, obj, SHMSTORE_ETIMEDOUT, detail);
}

static void load_attach(struct conn *c, struct io_job *j, uint32_t seq, int64_t timeout_ms)
{
    c->load = j;
    c->load_seq = seq;
    c->load_timeout_ms = timeout_ms;
    c->load_prev = NULL;
    c->load_next = j->waiters;
    if (j->waiters)
        j->waiters->load_prev = c;
    j->waiters = c;
    if (timeout_ms > 0) {
        c->load_timer = evtimer_new(c->server->base, on_load_timeout, c);
        struct timeval tv = {(time_t)(timeout_ms / 1000),
                             (suseconds_t)(timeout_ms % 1000) * 1000};
        if (c->load_timer)
            evtimer_add(c->load_timer, &tv);
    }
    conn_set_state(c, CONN_LOADING);
}

void residency_get(struct server *s, struct conn *c, uint32_t seq, int64_t timeout_ms,
                   struct object *obj)
{
    struct residency *r = s->residency;
    struct store_detail d;
    struct io_job *j = obj->loading ? id_map_get(&r->loads, obj->id) : NULL;
    if (j) {
        load_attach(c, j, seq, timeout_ms);
        return;
    }
    int rc = store_load_begin(s->store, obj, &d);
    if (rc == SHMSTORE_ENOSPC) {
        /* The object is out of memory, so no eviction can take it from under its pin. */
        enum room room = residency_make_room(s, c, obj->size, obj->meta_size, &d);
        if (room == ROOM_MADE)
            rc = store_load_begin(s->store, obj, &d);
        if (room == ROOM_STALLED) {
            /* The pin goes while the request waits: it runs again from the start. */
            store_release(s->store, &c->client, obj->id, &(struct store_detail){{0}});
            return;
        }
    }
    j = rc == 0 ? job_for(IO_LOAD, obj, s->store) : NULL;
    if (j && id_map_put(&r->loads, obj->id, j) != 0) {
        free(j);
        j = NULL;
    }
    if (!j) {
        if (rc == 0)
            store_load_done(s->store, obj, 0);
        store_release(s->store, &c->client, obj->id, &(struct store_detail){{0}});
        conn_send_error(c, SHM_MSG_GET, seq, rc ? rc : SHMSTORE_ENOMEM, "%s",
                        rc ? d.text : "daemon out of memory");
        return;
    }
    j->obj = obj;
    j->from_spill = obj->spilled;
    j->entry.inline_copy = obj->inline_copy && !obj->spilled;
    j->name = obj->name;
    j->name_len = obj->name_len;
    load_attach(c, j, seq, timeout_ms);
    submit(r, j);
}

static void complete_load(struct residency *r, struct io_job *j)
{
    struct server *s = r->server;
    struct object *obj = j->obj;
    id_map_remove(&r->loads, obj->id);
    if (j->result == 0) {
        r->restores++;
        r->restore_bytes += j->entry.size + j->entry.meta_size;
        while (j->waiters) {
            struct conn *c = j->waiters;
            load_detach(c);
            conn_release_frame(c);
            handlers_reply_object(c, SHM_MSG_GET, c->load_seq, obj);
            if (c->state == CONN_LOADING)
                conn_set_state(c, CONN_READY);
        }
        store_load_done(s->store, obj, 1);
        return;
    }
    if (obj->state != OBJECT_SEALED) {
        /* Deleted or replaced while it was read, and its file went with its name: each get
         * runs again from its kept frame, and finds the name's object now, or none. */
        while (j->waiters) {
            struct conn *c = j->waiters;
            load_detach(c);
            store_release(s->store, &c->client, obj->id, &(struct store_detail){{0}});
            conn_set_state(c, CONN_READY);
        }
        store_load_done(s->store, obj, 0);
        return;
    }
    const int damaged = j->result == -EBADMSG || j->result == -ENOENT;
    char detail[700];
    if (damaged)
        snprintf(detail, sizeof detail, "'%s' is damaged on disk and is not served: %s",
                 obj->name, j->detail);
    else
        snprintf(detail, sizeof detail, "cannot read '%s' back from disk: %s", obj->name,
                 j->detail);
    while (j->waiters)
        load_fail(j->waiters, obj, SHMSTORE_EIO, detail);
    log_error("%s", detail);
    if (damaged && obj->spilled)
        store_forget(s->store, obj);   /* the spill file goes with it */
    else if (damaged)
        durable_repair(s, obj, j->detail);
    store_load_done(s->store, obj, 0);
}

/* ---- the loop's completions, start and stop ------------------------------------------------- */

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct residency *r = arg;
    loopwake_clear(fd);
    pthread_mutex_lock(&r->lock);
    struct io_job *j = r->done.head;
    r->done.head = r->done.tail = NULL;
    pthread_mutex_unlock(&r->lock);
    int spilled = 0;
    while (j) {
        struct io_job *next = j->next;
        if (j->kind == IO_LOAD) {
            complete_load(r, j);
        } else if (j->kind == IO_SPILL) {
            complete_spill(r, j);
            spilled = 1;
        }
        free(j);
        j = next;
    }
    if (spilled)
        conn_run_stalled(r->server);
}

void residency_forget_conn(struct server *s, struct conn *c)
{
    struct residency *r = s->residency;
    if (!r)
        return;
    if (c->load)
        load_detach(c);   /* its pin goes with its client */
}

void residency_get_stats(const struct server *s, uint64_t *spills, uint64_t *spill_bytes,
                         uint64_t *restores, uint64_t *restore_bytes)
{
    const struct residency *r = s->residency;
    *spills = r ? r->spills : 0;
    *spill_bytes = r ? r->spill_bytes : 0;
    *restores = r ? r->restores : 0;
    *restore_bytes = r ? r->restore_bytes : 0;
}

int residency_start(struct server *s, char *why, size_t whylen)
{
    persist_t *p = durable_persist(s);
    if (!p)
        return 0;
    struct residency *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    r->server = s;
    r->persist = p;
    r->loop_wake.fd = -1;
    r->loads = (id_map)ID_MAP_INIT;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    s->residency = r;
    if (loopwake_open(&r->loop_wake, s->base, on_done, r, why, whylen) != 0)
        return -1;
    int rc = pthread_create(&r->thread, NULL, io_main, r);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start the I/O thread: %s", strerror(rc));
        return -1;
    }
    r->thread_started = 1;
    store_set_spill_free_hook(s->store, on_spilled_object_freed, r);
    return 0;
}

/* At stop: their objects' holds die with the store, which is freed right after. */
static void free_jobs(struct io_job *j)
{
    while (j) {
        struct io_job *next = j->next;
        free(j);
        j = next;
    }
}

void residency_stop(struct server *s)
{
    struct residency *r = s->residency;
    if (!r)
        return;
    store_set_spill_free_hook(s->store, NULL, NULL);
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->stopping = 1;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    free_jobs(r->done.head);
    free_jobs(r->queue.head);
    loopwake_close(&r->loop_wake);
    id_map_clear(&r->loads);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
    s->residency = NULL;
}
