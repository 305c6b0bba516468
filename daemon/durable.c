/*
 * durable.c — the writer thread of durable objects and the loop's side of it (durable.h;
 * docs/architecture.md, "Durable objects").
 *
 * Jobs are made on the loop and live in three lists: `staged` (the loop's alone: jobs the current
 * request or completion made, not yet handed over), `queue` (under the mutex: waiting for the
 * writer) and `done` (under the mutex: written and committed, or failed, waiting for the loop).
 * The writer takes the whole queue as one batch: group commit, so N concurrent seals cost one
 * directory fsync and one LMDB commit. Jobs complete in the order they were queued, which is the
 * order their requests ran, so the catalogue sees binds and drops of a name in that order.
 *
 * A job being written reads its object straight from the arena. Under durability = sync the
 * object is UNSEALED and marked writing, so no client can write it (its owner's connection is held
 * until the reply) and the store neither aborts nor frees it until store_seal_finish or
 * store_seal_abandon. Under async the object is sealed and bound before its reply, which goes at
 * once; the job holds a pin of no client's (store_hold) so the object's memory stays until the
 * write is done, whatever clients do to its name meanwhile. The writer then waits up to
 * flush_interval after the first queued job before it takes the batch, so writes of one interval
 * share one flush, unless a SYNC is queued (it would wait for nothing else).
 *
 * What async holds is bounded: while the objects replied to but not yet written (held memory a
 * delete cannot free) exceed a quarter of the store's maximum, a seal takes the sync path
 * instead, waiting for its own write, and the writer stops waiting out the interval. Without that, a stream of
 * replacing puts faster than the disk would fill the arena with held old versions and fail with
 * ENOSPC; with it, the writers are slowed to the disk's pace, as under sync.
 */
#define _GNU_SOURCE
#include "durable.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "grow.h"
#include "humansize.h"
#include "log.h"
#include "loopwake.h"
#include "persist.h"
#include "residency.h"
#include "server.h"
#include "shmstore.h"

/* A SYNC job writes nothing: it completes after every job queued before it, since jobs complete
 * in queue order. */
/* JOB_REWRITE writes a file again for an entry the catalogue already has (a repair): no
 * catalogue change, so it can never bind a name back to an object replaced meanwhile. */
enum job_kind { JOB_WRITE, JOB_DROP, JOB_SYNC, JOB_QUARANTINE, JOB_REWRITE };

struct durable_job {
    enum job_kind kind;
    struct object *obj;             /* WRITE: loop side only */
    const void *data, *meta;        /* WRITE: the object's bytes in the arena */
    char *name;                     /* own copy */
    size_t name_len;
    struct persist_entry entry;
    struct conn *reply_to;          /* NULL: nobody waits for this job */
    struct shm_reply reply;
    int put;                        /* WRITE of an inline put: abort it when the write fails */
    int acknowledged;               /* async WRITE: replied already, holds obj (store_hold) */
    int result;                     /* 0 or a negative errno, with detail */
    char detail[512];
    struct durable_job *next;
};

struct job_list {
    struct durable_job *head, *tail;
};

struct durable {
    struct server *server;
    persist_t *persist;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job_list queue, done;    /* under lock */
    int stopping;                   /* under lock */
    int urgent;                     /* under lock: the queue holds a SYNC */
    struct timespec queued_since;   /* under lock: when the queue last became non-empty */
    struct job_list staged;         /* loop only */
    int staged_urgent;              /* loop only: staged holds a SYNC */
    int async;                      /* durability = async */
    uint64_t flush_ms;              /* async: the longest a queued job waits for the writer */
    uint64_t lost_writes;           /* async writes that failed after their reply */
    uint64_t pending_writes;        /* loop only: WRITE jobs made and not yet completed */
    uint64_t held_bytes;            /* loop only: memory of acknowledged jobs not yet done */
    struct loopwake loop_wake;      /* the thread wakes the loop with it */
};

static void list_append(struct job_list *l, struct durable_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void list_splice(struct job_list *to, struct job_list *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

static void job_free(struct durable_job *j)
{
    free(j->name);
    free(j);
}

static struct durable_job *job_new(enum job_kind kind, const struct object *obj)
{
    struct durable_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->name = malloc(obj->name_len + 1);
    if (!j->name) {
        free(j);
        return NULL;
    }
    memcpy(j->name, obj->name, obj->name_len + 1);
    j->name_len = obj->name_len;
    j->entry.id = obj->id;
    j->entry.size = obj->size;
    j->entry.meta_size = obj->meta_size;
    return j;
}

/* ---- the writer thread ---------------------------------------------------------------------- */

/* A write whose bytes go inside the catalogue entry (small objects) rather than into a file. */
static int writes_inline(const struct durable_job *j)
{
    return (j->kind == JOB_WRITE || j->kind == JOB_REWRITE) &&
           j->entry.size + j->entry.meta_size <= PERSIST_INLINE_MAX;
}

static int writes_file(const struct durable_job *j)
{
    return (j->kind == JOB_WRITE || j->kind == JOB_REWRITE) && !writes_inline(j);
}

static void write_batch(persist_t *p, struct durable_job *batch)
{
    size_t n = 0, written = 0;
    for (struct durable_job *j = batch; j; j = j->next) {
        n++;
        if (j->kind == JOB_QUARANTINE)   /* its own commit; it drops only its own id */
            j->result = persist_quarantine(p, j->name, &j->entry, j->detail, sizeof j->detail);
        if (writes_inline(j)) {
            j->entry.inline_copy = 1;
            j->entry.checksum = persist_object_checksum(j->data, j->entry.size, j->meta,
                                                        j->entry.meta_size);
        } else if (writes_file(j)) {
            j->result = persist_write_object(p, j->entry.id, j->data, j->entry.size, j->meta,
                                             j->entry.meta_size, &j->entry.checksum, j->detail,
                                             sizeof j->detail);
        }
    }
    /* Every file is written before the first fsync: the batch's data goes down together. */
    for (struct durable_job *j = batch; j; j = j->next)
        if (writes_file(j) && j->result == 0) {
            j->result = persist_publish_object(p, j->entry.id, j->detail, sizeof j->detail);
            written += j->result == 0;
        }
    char why[512];
    int rc = written ? persist_sync_objects(p, why, sizeof why) : 0;
    struct persist_op *ops = calloc(n, sizeof *ops);
    size_t nops = 0;
    if (rc == 0 && !ops)
        rc = -ENOMEM, snprintf(why, sizeof why, "daemon out of memory committing the catalogue");
    /* One transaction: the binds (inline bytes included), drops and inline repairs of the batch.
     * A file repair needs no catalogue change; its entry is already right. */
    for (struct durable_job *j = batch; rc == 0 && j; j = j->next) {
        if (j->result != 0 || !(j->kind == JOB_WRITE || j->kind == JOB_DROP || writes_inline(j)))
            continue;
        ops[nops++] = (struct persist_op){
            .kind = j->kind == JOB_DROP ? PERSIST_DROP
                    : j->kind == JOB_REWRITE ? PERSIST_REBIND : PERSIST_BIND,
            .name = j->name, .name_len = j->name_len, .entry = j->entry, .data = j->data,
            .meta = j->meta};
    }
    if (rc == 0 && nops)
        rc = persist_commit(p, ops, nops, why, sizeof why);
    free(ops);
    if (rc == 0)
        return;
    /* Nothing of this batch is in the catalogue: its files are orphans, removed now. */
    for (struct durable_job *j = batch; j; j = j->next) {
        /* A rewritten file is whole and its entry was committed long ago: it stays. */
        if (j->result != 0 || j->kind == JOB_SYNC || j->kind == JOB_QUARANTINE ||
            (writes_file(j) && j->kind == JOB_REWRITE))
            continue;
        j->result = rc;
        snprintf(j->detail, sizeof j->detail, "%s", why);
        if (writes_file(j))
            persist_remove_object(p, j->entry.id);
    }
}

/* Async: let the queue fill for up to flush_interval after its first job (under lock). */
static void wait_for_interval(struct durable *d)
{
    struct timespec deadline = d->queued_since;
    deadline.tv_sec += (time_t)(d->flush_ms / 1000);
    deadline.tv_nsec += (long)(d->flush_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!d->stopping && !d->urgent &&
           pthread_cond_timedwait(&d->wake, &d->lock, &deadline) != ETIMEDOUT) {
    }
}

static void *writer_main(void *arg)
{
    struct durable *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->queue.head && !d->stopping)
            pthread_cond_wait(&d->wake, &d->lock);
        if (!d->queue.head)
            break;   /* stopping, and everything queued is written */
        if (d->async)
            wait_for_interval(d);
        struct job_list batch = d->queue;
        d->queue.head = d->queue.tail = NULL;
        d->urgent = 0;
        pthread_mutex_unlock(&d->lock);
        write_batch(d->persist, batch.head);
        pthread_mutex_lock(&d->lock);
        list_splice(&d->done, &batch);
        loopwake_signal(&d->loop_wake);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

/* Beyond this many bytes held for async writes, seals take the sync path: a quarter of the
 * store's maximum, as it is now (a reload may raise it). */
static uint64_t held_limit(const struct durable *d)
{
    return space_max(store_space(d->server->store)) / 4;
}

static void submit_staged(struct durable *d)
{
    if (!d->staged.head)
        return;
    pthread_mutex_lock(&d->lock);
    if (!d->queue.head)
        clock_gettime(CLOCK_MONOTONIC, &d->queued_since);
    list_splice(&d->queue, &d->staged);
    d->urgent |= d->staged_urgent || d->held_bytes > held_limit(d);
    d->staged_urgent = 0;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

/* The store unbound a durable object: its catalogue entry goes, in order with everything else. */
static void on_durable_unbound(void *ctx, const struct object *obj)
{
    struct durable *d = ctx;
    struct durable_job *j = job_new(JOB_DROP, obj);
    if (!j) {
        /* It comes back after a restart; logged so that is not a mystery. */
        log_error("out of memory: the catalogue keeps '%s' (id %llu), deleted in memory", obj->name,
                  (unsigned long long)obj->id);
        return;
    }
    list_append(&d->staged, j);
}

static void hold(struct conn *c, struct durable_job *j, const struct shm_reply *rep)
{
    j->reply_to = c;
    j->reply = *rep;
    c->held_job = j;
    conn_set_state(c, CONN_PERSISTING);
}

static void send_held_reply(struct durable_job *j, int code, const char *detail)
{
    struct conn *c = j->reply_to;
    if (!c)
        return;
    c->held_job = NULL;
    if (code)
        conn_send_error(c, j->reply.type, j->reply.seq, code, "%s", detail);
    else
        conn_send_reply(c, &j->reply);
    /* Queuing the reply may have failed and moved the connection on: leave it there. */
    if (c->state == CONN_PERSISTING)
        conn_set_state(c, CONN_READY);
    conn_kick(c);
}

static void complete_write(struct durable *d, struct durable_job *j)
{
    store_t *store = d->server->store;
    struct object *obj = j->obj;
    d->pending_writes--;
    if (j->acknowledged) {
        if (j->result == 0) {
            obj->inline_copy = j->entry.inline_copy;
            store_set_on_disk(store, obj, j->entry.checksum);
        }
        else
            store_clear_on_disk(store, obj);   /* a failed rewrite took the old file too */
        /* Its client was told already: the log is the only place left to say it. */
        if (j->result != 0) {
            d->lost_writes++;
            log_error("durable '%s' (id %llu) was acknowledged (durability = async) but could "
                      "not be written to disk: %s; it is served from memory but will not "
                      "survive a restart (%llu such writes since start)", j->name,
                      (unsigned long long)j->entry.id, j->detail,
                      (unsigned long long)d->lost_writes);
        }
        d->held_bytes -= j->entry.size + j->entry.meta_size;
        store_unhold(store, obj);
        return;
    }
    if (j->result != 0) {
        log_error("durable seal of '%s' failed: %s", j->name, j->detail);
        struct store_client *owner = obj->owner;
        store_seal_abandon(store, obj);
        if (j->put && owner) {
            struct store_detail ignored;
            store_abort(store, owner, obj->id, &ignored);
        }
        send_held_reply(j, SHMSTORE_EIO, j->detail);
        return;
    }
    struct store_detail sd;
    struct store_client *owner = obj->owner;
    if (store_seal_finish(store, obj, &sd) != 0) {
        if (j->put && owner) {
            struct store_detail ignored;
            store_abort(store, owner, obj->id, &ignored);
        }
        /* Not bound after all (a replacing seal took the name meanwhile): its entry goes too.
         * store_seal_finish freed obj or left it to its client, so the drop is made from the job. */
        struct durable_job *drop = calloc(1, sizeof *drop);
        if (drop) {
            drop->kind = JOB_DROP;
            drop->name = j->name;
            drop->name_len = j->name_len;
            drop->entry = j->entry;
            j->name = NULL;
            list_append(&d->staged, drop);
        }
        send_held_reply(j, SHMSTORE_EEXIST, sd.text);
        return;
    }
    obj->created_ns = j->entry.sealed_ns;
    obj->inline_copy = j->entry.inline_copy;
    store_set_on_disk(store, obj, j->entry.checksum);
    send_held_reply(j, 0, NULL);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct durable *d = arg;
    loopwake_clear(fd);
    pthread_mutex_lock(&d->lock);
    struct job_list done = d->done;
    d->done.head = d->done.tail = NULL;
    pthread_mutex_unlock(&d->lock);
    while (done.head) {
        struct durable_job *j = done.head;
        done.head = j->next;
        if (j->kind == JOB_WRITE || j->kind == JOB_REWRITE) {
            complete_write(d, j);
        } else if (j->kind == JOB_QUARANTINE) {
            if (j->result != 0)
                log_error("%s", j->detail);
        } else if (j->kind == JOB_SYNC) {
            /* A write that failed before it was told to its requester, so it broke no promise. */
            send_held_reply(j, 0, NULL);
        } else if (j->result != 0) {
            log_error("catalogue drop of '%s' failed: %s", j->name, j->detail);
            send_held_reply(j, SHMSTORE_EIO, j->detail);
        } else {
            send_held_reply(j, 0, NULL);
        }
        job_free(j);
    }
    /* Binds above may have replaced durable objects: their drops go now. */
    submit_staged(d);
}

/* The seal could not go on: obj stays its client's, unsealed, or goes with an inline put. */
static void refuse_seal(struct server *s, struct object *obj, int put,
                        struct store_client *owner)
{
    struct store_detail ignored;
    if (put && owner)
        store_abort(s->store, owner, obj->id, &ignored);
}

/* Async: bind now and answer; the write follows, holding obj. The job is staged before the
 * bind, so the drop of a durable object it replaces comes after its own write, as under sync. */
static void seal_now(struct durable *d, struct durable_job *j, struct conn *c,
                     const struct shm_reply *rep)
{
    struct server *s = d->server;
    struct object *obj = j->obj;
    struct store_client *owner = obj->owner;
    list_append(&d->staged, j);
    struct store_detail sd;
    if (store_seal_finish(s->store, obj, &sd) != 0) {
        /* Refused (the name was taken meanwhile): nothing was unbound, so j is still last. */
        struct durable_job **link = &d->staged.head;
        d->staged.tail = NULL;
        while (*link != j) {
            d->staged.tail = *link;
            link = &(*link)->next;
        }
        *link = NULL;
        refuse_seal(s, obj, j->put, owner);
        conn_send_error(c, rep->type, rep->seq, SHMSTORE_EEXIST, "%s", sd.text);
        job_free(j);
        submit_staged(d);
        return;
    }
    obj->created_ns = j->entry.sealed_ns;
    store_hold(s->store, obj);
    j->acknowledged = 1;
    d->held_bytes += j->entry.size + j->entry.meta_size;
    conn_send_reply(c, rep);
    submit_staged(d);
}

void durable_seal(struct server *s, struct object *obj, struct conn *c,
                  const struct shm_reply *rep, int put)
{
    struct durable *d = s->durable;
    struct durable_job *j = job_new(JOB_WRITE, obj);
    if (!j) {
        struct store_client *owner = obj->owner;
        store_seal_abandon(s->store, obj);
        refuse_seal(s, obj, put, owner);
        conn_send_error(c, rep->type, rep->seq, SHMSTORE_ENOMEM, "daemon out of memory");
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    d->pending_writes++;
    j->obj = obj;
    j->put = put;
    j->data = store_pointer(s->store, obj->data_offset);
    j->meta = store_pointer(s->store, store_meta_offset(obj));
    j->entry.sealed_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (d->async && d->held_bytes + j->entry.size + j->entry.meta_size <= held_limit(d)) {
        seal_now(d, j, c, rep);
        return;
    }
    list_append(&d->staged, j);
    hold(c, j, rep);
    /* Async over its bound: a client waits for this write, so the writer must not sit on it. */
    d->staged_urgent |= d->async;
    submit_staged(d);
}

int durable_hold_reply(struct server *s, struct conn *c, const struct shm_reply *rep)
{
    struct durable *d = s->durable;
    if (!d || !d->staged.head)
        return 0;
    if (d->async) {
        /* Queued in order behind every earlier write; the reply need not wait for it. */
        submit_staged(d);
        return 0;
    }
    hold(c, d->staged.tail, rep);
    submit_staged(d);
    return 1;
}

int durable_sync(struct server *s, struct conn *c, const struct shm_reply *rep)
{
    struct durable *d = s->durable;
    if (!d)
        return 0;
    struct durable_job *j = calloc(1, sizeof *j);
    if (!j) {
        conn_send_error(c, rep->type, rep->seq, SHMSTORE_ENOMEM, "daemon out of memory");
        return 1;
    }
    j->kind = JOB_SYNC;
    list_append(&d->staged, j);
    d->staged_urgent = 1;
    hold(c, j, rep);
    submit_staged(d);
    return 1;
}

void durable_forget_conn(struct server *s, struct conn *c)
{
    if (c->held_job)
        c->held_job->reply_to = NULL;
    c->held_job = NULL;
    (void)s;
}

/* ---- start and stop ------------------------------------------------------------------------- */

/* Restart: every catalogued object is listed at once, its payload left on disk until its first
 * get (or read now, with preload). One pass over the catalogue, streaming: memory grows with the
 * objects' records, not with a copy of the catalogue. */
struct restore_pass {
    struct durable *d;
    const uint64_t *files;          /* ids of the files in objects/, sorted */
    size_t nfiles;
    int preload;                    /* still reading payloads now (the arena has room) */
    uint64_t listed, listed_bytes, loaded, loaded_bytes, damaged, left;
    struct missing {                /* entries whose file is gone: dropped after the pass */
        char *name;
        struct persist_entry entry;
    } *missing;
    size_t nmissing, missing_cap;
};

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int note_missing(struct restore_pass *rp, const char *name, size_t len,
                        const struct persist_entry *e)
{
    if (rp->nmissing == rp->missing_cap) {
        size_t cap = rp->missing_cap ? 2 * rp->missing_cap : 16;
        struct missing *grown = realloc(rp->missing, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        rp->missing = grown;
        rp->missing_cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return -ENOMEM;
    rp->missing[rp->nmissing++] = (struct missing){copy, *e};
    return 0;
}

/* preload: read obj back now. A damaged one is moved aside and never served. */
static void preload_one(struct restore_pass *rp, struct object *obj, const struct persist_entry *e)
{
    struct server *s = rp->d->server;
    struct store_detail sd;
    /* At start the loop is not running yet: the arena grows here, blocking, up to its maximum. */
    if (store_load_begin(s->store, obj, &sd) != 0 &&
        (grow_now(s, store_object_bytes(obj->size, obj->meta_size)) != 0 ||
         store_load_begin(s->store, obj, &sd) != 0)) {
        rp->preload = 0;   /* the store is full: the rest come back on their first get */
        return;
    }
    char problem[512];
    void *payload = store_pointer(s->store, obj->data_offset);
    void *meta = store_pointer(s->store, store_meta_offset(obj));
    int rc = e->inline_copy
                 ? persist_read_inline(rp->d->persist, obj->name, obj->name_len, e, payload, meta,
                                       problem, sizeof problem)
                 : persist_read_object(rp->d->persist, e, payload, meta, problem, sizeof problem);
    if (rc == 0) {
        rp->loaded++;
        rp->loaded_bytes += e->size + e->meta_size;
        store_load_done(s->store, obj, 1);
        return;
    }
    if (rc == -ENOENT || rc == -EBADMSG) {
        rp->damaged++;
        log_error("durable '%s' (id %llu) is damaged and is not served: %s; moved to %s/corrupt/",
                  obj->name, (unsigned long long)e->id, problem, persist_dir(rp->d->persist));
        char name[SHMSTORE_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", obj->name);
        store_forget(s->store, obj);
        if (persist_quarantine(rp->d->persist, name, e, problem, sizeof problem) != 0)
            log_error("%s", problem);
    } else {
        log_error("durable '%s' could not be read now (%s); it is read on its first get",
                  obj->name, problem);
    }
    store_load_done(s->store, obj, 0);
}

static int restore_entry(void *ctx, const char *name, size_t len, const struct persist_entry *e)
{
    struct restore_pass *rp = ctx;
    struct server *s = rp->d->server;
    if (!e->inline_copy &&
        (!rp->nfiles || !bsearch(&e->id, rp->files, rp->nfiles, sizeof *rp->files, compare_u64)))
        return note_missing(rp, name, len, e);
    struct object *obj;
    struct store_detail sd;
    int rc = store_restore(s->store, name, len, e->id, e->size, e->meta_size, e->sealed_ns,
                           e->checksum, &obj, &sd);
    if (rc == SHMSTORE_ENOMEM)
        return -ENOMEM;
    if (rc != 0) {
        if (rp->left++ == 0)
            log_warn("durable '%.*s' is not listed: %s", (int)len, name, sd.text);
        return 0;
    }
    obj->inline_copy = e->inline_copy != 0;
    rp->listed++;
    rp->listed_bytes += e->size + e->meta_size;
    if (rp->preload)
        preload_one(rp, obj, e);
    return 0;
}

static int restore_all(struct durable *d, char *why, size_t whylen)
{
    struct server *s = d->server;
    struct restore_pass rp = {.d = d, .preload = s->opts->preload};
    uint64_t *files = NULL;
    int rc = persist_object_files(d->persist, &files, &rp.nfiles, why, whylen);
    rp.files = files;
    if (rc == 0)
        rc = persist_foreach(d->persist, restore_entry, &rp, why, whylen);
    free(files);
    /* An entry whose file is gone can never be served: reported and dropped, never listed. */
    for (size_t i = 0; i < rp.nmissing; i++) {
        char problem[512];
        rp.damaged++;
        log_error("durable '%s' (id %llu) is damaged and is not served: its file %s/objects/"
                  "%016llx is missing; its catalogue entry is dropped", rp.missing[i].name,
                  (unsigned long long)rp.missing[i].entry.id, persist_dir(d->persist),
                  (unsigned long long)rp.missing[i].entry.id);
        if (rc == 0 && persist_quarantine(d->persist, rp.missing[i].name, &rp.missing[i].entry,
                                          problem, sizeof problem) != 0)
            log_error("%s", problem);
        free(rp.missing[i].name);
    }
    free(rp.missing);
    if (rc != 0)
        return -1;
    char size[32], loaded[32];
    log_info("durable objects in %s: %llu listed (%s), %llu read into memory (%s)%s%s",
             persist_dir(d->persist), (unsigned long long)rp.listed,
             human_size(rp.listed_bytes, size, sizeof size), (unsigned long long)rp.loaded,
             human_size(rp.loaded_bytes, loaded, sizeof loaded),
             s->opts->preload ? "" : "; the rest come back on their first get",
             rp.damaged ? "; damaged ones are not served (see above)" : "");
    long orphans = persist_remove_orphans(d->persist, why, whylen);
    if (orphans < 0)
        return -1;
    if (orphans > 0)
        log_info("removed %ld object files no catalogue entry names (left by a crash)", orphans);
    return 0;
}

int durable_start(struct server *s, char *why, size_t whylen)
{
    if (!s->opts->data_dir[0])
        return 0;
    struct durable *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    d->server = s;
    d->loop_wake.fd = -1;
    d->async = s->opts->durability == DURABILITY_ASYNC;
    d->flush_ms = s->opts->flush_interval_ms;
    pthread_mutex_init(&d->lock, NULL);
    /* The interval is measured on the monotonic clock: a clock change must not stretch it. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    s->durable = d;
    if (persist_open(s->opts->data_dir, &d->persist, why, whylen) != 0 ||
        restore_all(d, why, whylen) != 0)
        return -1;   /* server_stop calls durable_stop */
    if (loopwake_open(&d->loop_wake, s->base, on_done, d, why, whylen) != 0)
        return -1;
    int rc = pthread_create(&d->thread, NULL, writer_main, d);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start the writer thread: %s", strerror(rc));
        return -1;
    }
    d->thread_started = 1;
    store_set_unbind_hook(s->store, on_durable_unbound, d);
    return 0;
}

/* At stop, jobs whose completion will never run: an async write still holds its object. */
static void free_list(struct durable *d, struct durable_job *j)
{
    while (j) {
        struct durable_job *next = j->next;
        if (j->acknowledged)
            store_unhold(d->server->store, j->obj);
        job_free(j);
        j = next;
    }
}

void durable_stop(struct server *s)
{
    struct durable *d = s->durable;
    if (!d)
        return;
    store_set_unbind_hook(s->store, NULL, NULL);
    submit_staged(d);
    if (d->thread_started) {
        pthread_mutex_lock(&d->lock);
        d->stopping = 1;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    /* Written and committed, but nobody waits for the replies any more. */
    free_list(d, d->done.head);
    free_list(d, d->queue.head);
    free_list(d, d->staged.head);
    loopwake_close(&d->loop_wake);
    persist_close(d->persist);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    free(d);
    s->durable = NULL;
}

/* ---- figures and repair ---------------------------------------------------------------------- */

void durable_get_stats(const struct server *s, struct durable_stats *out)
{
    memset(out, 0, sizeof *out);
    const struct durable *d = s->durable;
    if (!d)
        return;
    out->pending_writes = d->pending_writes;
    out->failed_writes = d->lost_writes;
    residency_get_stats(s, &out->spills, &out->spill_bytes, &out->restores, &out->restore_bytes);
    out->evictions = store_evictions(s->store);
}

struct persist *durable_persist(const struct server *s)
{
    return s->durable ? s->durable->persist : NULL;
}

void durable_repair(struct server *s, struct object *obj, const char *problem)
{
    struct durable *d = s->durable;
    if (!d || !obj->persist || obj->state != OBJECT_SEALED)
        return;
    if (obj->block && !obj->loading) {
        /* The copy in memory is whole (it was checked when it was written or read back): the
         * file is written again from it, as an async seal would write it. */
        struct durable_job *j = job_new(JOB_REWRITE, obj);
        if (!j) {
            log_error("durable '%s' is damaged on disk (%s) and could not be rewritten: out of "
                      "memory", obj->name, problem);
            return;
        }
        log_warn("durable '%s' (id %llu) is damaged on disk (%s): writing it again from memory",
                 obj->name, (unsigned long long)obj->id, problem);
        j->obj = obj;
        j->data = store_pointer(s->store, obj->data_offset);
        j->meta = store_pointer(s->store, store_meta_offset(obj));
        j->entry.sealed_ns = obj->created_ns;
        j->entry.checksum = obj->checksum;
        j->acknowledged = 1;
        store_hold(s->store, obj);
        d->pending_writes++;
        d->held_bytes += j->entry.size + j->entry.meta_size;
        list_append(&d->staged, j);
        submit_staged(d);
        return;
    }
    struct durable_job *j = job_new(JOB_QUARANTINE, obj);
    log_error("durable '%s' (id %llu) is damaged on disk and not in memory: %s; it is not served "
              "any more and its file is moved to %s/corrupt/", obj->name,
              (unsigned long long)obj->id, problem, persist_dir(d->persist));
    if (j) {
        j->entry.checksum = obj->checksum;
        j->entry.sealed_ns = obj->created_ns;
        j->entry.inline_copy = obj->inline_copy;
        list_append(&d->staged, j);
    }
    store_forget(s->store, obj);
    submit_staged(d);
}
