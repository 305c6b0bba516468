/*
 * durable.h — durable objects in the running daemon: the writer thread that does every disk
 * write, and the loop's side of it (docs/architecture.md, "Durable objects").
 *
 * The loop never touches the disk after start. It queues jobs (write an object and bind it in the
 * catalogue; drop a name's entry) and holds the reply of the request that caused them; the writer
 * thread takes every queued job at once, writes the files, syncs the objects directory once,
 * commits one LMDB transaction for the whole batch, and hands the batch back through an eventfd
 * the loop watches. The loop then binds the sealed objects, wakes their waiting gets and sends
 * the held replies, in queue order.
 */
#ifndef SHMSTORE_DURABLE_H
#define SHMSTORE_DURABLE_H

#include <stdint.h>

#include "proto.h"
#include "store.h"

struct server;
struct conn;
struct durable;

/* With a data directory: open it, bring every catalogued object back into the arena (checking
 * it; damaged ones moved aside), remove orphan files, start the writer thread and watch its
 * completions on s->base. Before the socket opens. 0, or -1 with why. */
int durable_start(struct server *s, char *why, size_t whylen);
/* Let the writer finish what is queued, stop it and close the data directory. Connections must
 * be closed first; held replies are dropped. */
void durable_stop(struct server *s);

/* obj passed store_seal_begin as durable: write it, then bind it and send rep (the PUT or SEAL
 * reply) to c; the connection waits in CONN_PERSISTING. put: the object came from an inline put,
 * so a failed write aborts it instead of leaving it unsealed. */
void durable_seal(struct server *s, struct object *obj, struct conn *c,
                  const struct shm_reply *rep, int put);
/* After a request's store calls: when they unbound durable objects, the catalogue drops they
 * queued must be durable before rep goes, so hold it (1); else 0 and the caller replies. */
int durable_hold_reply(struct server *s, struct conn *c, const struct shm_reply *rep);
/* SYNC: hold rep until every job queued before it is done (written, or failed and told to its
 * requester). 1 if held; 0 without a data directory, and the caller replies at once. */
int durable_sync(struct server *s, struct conn *c, const struct shm_reply *rep);
/* c is being freed: its held reply, if any, goes nowhere. */
void durable_forget_conn(struct server *s, struct conn *c);

/* Disk figures for INFO and --prometheus; all zero without a data directory. Objects and bytes on
 * disk come from store_get_stats (disk_objects, disk_bytes, disk_only_objects). */
struct durable_stats {
    uint64_t pending_writes;            /* durable writes queued or being written */
    uint64_t failed_writes;             /* async writes that failed after their reply */
    uint64_t spills, spill_bytes;       /* transient objects written to the spill area */
    uint64_t restores, restore_bytes;   /* objects read back into memory on a get or preload */
    uint64_t evictions;                 /* objects that left memory to make room */
};
void durable_get_stats(const struct server *s, struct durable_stats *out);

/* The data directory (NULL without one), for `storectl verify`: another thread may read object
 * files through it (persist_read_object), never the LMDB catalogue. */
struct persist *durable_persist(const struct server *s);
/* verify found obj's durable file damaged or missing: rewrite the file from memory when the object
 * is in memory; otherwise the object can never be served again, so it is unbound and its file
 * moved aside to corrupt/. problem goes to the log. */
void durable_repair(struct server *s, struct object *obj, const char *problem);

#endif
