/*
 * residency.h — spill and restore in the running daemon: which objects are in memory, and the
 * I/O thread that moves them (docs/architecture.md, "Spill and restore").
 *
 * With a data directory the arena is a cache of the disk. A request that finds no room (a create,
 * a put, a read back) asks residency_make_room: objects already on disk leave memory at once,
 * least recently used first; unpinned transient objects are first written to the spill area by
 * the I/O thread, and the request waits (its connection STALLED, the frame kept) and is run again
 * when they are out. A get of an object that is not in memory waits (LOADING) while the I/O thread
 * reads it back; concurrent gets of one object share one read. The loop never touches the disk.
 */
#ifndef SHMSTORE_RESIDENCY_H
#define SHMSTORE_RESIDENCY_H

#include <stdint.h>

#include "conn.h"
#include "store.h"

struct server;
struct conn;

/* After durable_start: start the I/O thread when there is a data directory. 0, or -1 with why. */
int residency_start(struct server *s, char *why, size_t whylen);
/* Stop the I/O thread; connections must be closed first. */
void residency_stop(struct server *s);

/* A request of c found no room for an object of size + meta_size bytes. */
enum room residency_make_room(struct server *s, struct conn *c, uint64_t size,
                              uint64_t meta_size, struct store_detail *d);

/* A GET pinned obj for c, but obj is not in memory, or is being read back. The reply waits for the
 * read (c goes LOADING), bounded by timeout_ms when it is positive; or c stalls for room; or an
 * error is sent. Either way the request is dealt with. */
void residency_get(struct server *s, struct conn *c, uint32_t seq, int64_t timeout_ms,
                   struct object *obj);

/* c is being freed: it no longer waits for a read or for room. */
void residency_forget_conn(struct server *s, struct conn *c);

/* Spills and restores since start, for durable_get_stats. */
void residency_get_stats(const struct server *s, uint64_t *spills, uint64_t *spill_bytes,
                         uint64_t *restores, uint64_t *restore_bytes);

#endif
