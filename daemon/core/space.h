/*
 * space.h — the store's address space: the arena's segments, each with an allocator of its own.
 *
 * The arena grows in segments (docs/architecture.md, "Processes and memory"): the daemon adds one
 * when no segment has room for an object and the store may still grow, and gives one back when
 * it has been empty for a while. This module keeps the table of segments and hands out
 * addresses in them, SHM_ADDRESS(segment id, offset) (proto/shmlayout.h); it knows nothing of
 * memfds or threads, only where each segment is mapped in the daemon, so the store can copy
 * bytes into it and tests can run it over plain memory.
 *
 * An object never spans segments. A "dedicated" segment is one made for a single huge object:
 * nothing else is put in it, and when that object is freed it is empty, for the next huge object
 * or to be given back.
 * Ordinary segments are tried oldest first, so newer ones drain and can be given back.
 */
#ifndef SHMSTORE_SPACE_H
#define SHMSTORE_SPACE_H

#include <stdint.h>

#include "alloc.h"

typedef struct space space_t;

/* A space that may take up to max_bytes in segments; it has none yet. NULL when out of memory. */
space_t *space_new(uint64_t max_bytes);
/* Frees the table and every allocator; the segments' memory is the caller's. */
void space_free(space_t *sp);

/* The most memory the segments may take together; raising it lets the store grow further,
 * lowering it below what is taken stops growth (nothing is taken back). */
void space_set_max(space_t *sp, uint64_t max_bytes);
uint64_t space_max(const space_t *sp);
uint64_t space_taken(const space_t *sp);     /* bytes of all segments */
uint64_t space_segments(const space_t *sp);  /* segments held */

/* Add a segment of `bytes` (a multiple of ALLOC_PAGE, at most SHM_SEGMENT_BYTES_MAX) mapped at
 * base in the daemon; backing is the caller's handle for it (space_segment_backing). Its id is
 * chosen here: never one used before, and in a slot no other segment holds. 0 and the id in
 * *id_out, or -1 when the table is full or memory runs out (nothing changed). Adding may exceed
 * space_max: the caller decides whether a segment is allowed (space_room_to_grow). */
int space_add(space_t *sp, uint8_t *base, uint64_t bytes, int dedicated, void *backing,
              uint32_t *id_out);
/* Remove an empty segment; its backing is returned for the caller to free. NULL when the id is
 * unknown or the segment holds a block. */
void *space_remove(space_t *sp, uint32_t id);

/* How many more bytes the segments may take before reaching space_max. */
uint64_t space_room_to_grow(const space_t *sp);

/* Reserve at least `size` bytes in some segment (see alloc_take): the block, its address in
 * *address. NULL when no segment has room; nothing changes then. */
alloc_block_t *space_take(space_t *sp, uint64_t size, uint64_t *address);
/* Give back a block taken at address. */
void space_give(space_t *sp, uint64_t address, alloc_block_t *b);

/* The daemon's pointer to address, or NULL when no segment holds it. */
uint8_t *space_pointer(const space_t *sp, uint64_t address);

/* A segment by id: its bytes, its mapping and backing. 0, or -1 when no segment has that id. */
int space_segment(const space_t *sp, uint32_t id, uint64_t *bytes, uint8_t **base,
                  void **backing);
/* The ids of the segments held, oldest first, into ids[0..max); returns how many there are
 * (which may exceed max). */
uint32_t space_segment_ids(const space_t *sp, uint32_t *ids, uint32_t max);

/* Segments that have been empty since before `before` (CLOCK_MONOTONIC nanoseconds, or the
 * clock space_set_clock gave), except the oldest ordinary one, which the store always keeps:
 * their ids into ids[0..max); returns how many were written. */
uint32_t space_idle_segments(const space_t *sp, int64_t before, uint32_t *ids, uint32_t max);
/* The clock segments are stamped with when they are added or become empty (tests give a fake
 * one); NULL: CLOCK_MONOTONIC. */
void space_set_clock(space_t *sp, int64_t (*clock)(void));

/* Totals over all segments, as alloc_* gives them for one. */
uint64_t space_used(const space_t *sp);
uint64_t space_free_bytes(const space_t *sp);     /* taken - used: free inside segments */
uint64_t space_largest_free(const space_t *sp);   /* largest block space_take grants now */
uint64_t space_blocks(const space_t *sp);

/* Check every segment's allocator and the table. 0, or -1 with a reason. For tests. */
int space_check(const space_t *sp, const char **why);

#endif
