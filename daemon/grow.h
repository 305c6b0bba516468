/*
 * grow.h — the arena grows and shrinks in segments (docs/architecture.md, "Processes and
 * memory").
 *
 * At start the daemon makes the arena's header and its first segment. When a request finds no
 * room and the store is below its maximum, grow_for asks a thread of this module for a new
 * segment, whose pages it reserves and zeroes off the loop, and the request waits (STALLED) until
 * the segment is in the store. A segment empty for segment_idle is given back; a reload can
 * raise (or lower) the maximum.
 */
#ifndef SHMSTORE_GROW_H
#define SHMSTORE_GROW_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "store.h"

struct server;

/* The store's maximum for these options: memory, or 30% of the machine when it is 0. */
uint64_t grow_max_for(const struct options *o);

/* After the store exists: make the header and the first segment, start the thread and the
 * timer that gives segments back. 0, or -1 with why (hugepages = yes without huge pages, a
 * machine without the memory, ...). */
int grow_start(struct server *s, char *why, size_t whylen);
/* Stop the thread and free every segment's memory; after the connections are closed, before
 * the store is freed. */
void grow_stop(struct server *s);

/* A request of c found no room for a block of `bytes`. ROOM_STALLED when a segment that can
 * hold it is being made (c waits), else ROOM_NONE: the store is at its maximum, or the last
 * attempt to grow failed moments ago (then d says why). */
enum room grow_for(struct server *s, struct conn *c, uint64_t bytes, struct store_detail *d);
/* At start, before the loop runs (durable preload): add a segment for a block of `bytes` now,
 * blocking. 0, or -1 at the maximum or when the segment cannot be made (logged). */
int grow_now(struct server *s, uint64_t bytes);
/* The largest block the store can hold without growing: its largest segment's size. */
uint64_t grow_largest_segment(const struct server *s);

/* The configuration was reloaded: apply its memory. */
void grow_reload(struct server *s);

/* The segment a client asks for by id (MAP_SEGMENT): its fd for that client and its size. 0, or
 * -1 when the store holds no such segment (any more). */
int grow_segment_fd(const struct server *s, uint32_t id, int readonly, int *fd, uint64_t *bytes);

#endif
