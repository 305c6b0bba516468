/*
 * alloc.h — allocator of the arena's address space.
 *
 * Hands out non-overlapping byte ranges of [0, capacity) and takes them back. It never touches the
 * arena itself: all bookkeeping lives in the daemon's private heap, so no client can corrupt it
 * (docs/architecture.md, "Processes and memory"). Offsets are 64-byte aligned; blocks of
 * ALLOC_PAGE_THRESHOLD bytes or more are 4096-byte aligned. Take and give are O(1) (two-level
 * segregated fit); neighbouring free ranges coalesce at once, so after every block is given back a
 * single free range remains.
 */
#ifndef SHMSTORE_ALLOC_H
#define SHMSTORE_ALLOC_H

#include <stdint.h>

#define ALLOC_ALIGN          64u
#define ALLOC_PAGE           4096u
#define ALLOC_PAGE_THRESHOLD (64u * 1024u)
#define ALLOC_CAPACITY_MAX   (1ull << 62)   /* sizes are kept in 63 bits */

typedef struct alloc alloc_t;
typedef struct alloc_block alloc_block_t;   /* one allocated range; opaque */

/* A new allocator over [0, capacity); capacity is rounded down to ALLOC_PAGE, and to at most
 * ALLOC_CAPACITY_MAX. NULL when out of memory or capacity rounds to 0. */
alloc_t *alloc_new(uint64_t capacity);
/* Frees the allocator and every block handle it still has out. */
void alloc_destroy(alloc_t *a);

/* Reserve at least `size` bytes (size 0 is taken as 1). The block's size is `size` rounded up
 * to ALLOC_ALIGN. NULL when no free range can hold it (or the heap is exhausted); nothing changes
 * then. */
alloc_block_t *alloc_take(alloc_t *a, uint64_t size);
/* Give a block back; its handle is invalid afterwards. */
void alloc_give(alloc_t *a, alloc_block_t *b);

uint64_t alloc_block_offset(const alloc_block_t *b);
uint64_t alloc_block_size(const alloc_block_t *b);   /* bytes reserved, a multiple of 64 */

uint64_t alloc_capacity(const alloc_t *a);
uint64_t alloc_used(const alloc_t *a);          /* sum of the sizes of blocks out */
uint64_t alloc_free(const alloc_t *a);          /* capacity - used */
uint64_t alloc_largest_free(const alloc_t *a);  /* largest size alloc_take can satisfy now
                                                   (exact or a safe lower bound) */
uint64_t alloc_blocks(const alloc_t *a);        /* blocks out */

/* Walk every internal structure and check it (ranges tile [0, capacity) without overlap,
 * no two free ranges adjacent, accounting matches, free lists consistent). 0 when sound,
 * else -1 with a reason in *why. For tests. */
int alloc_check(const alloc_t *a, const char **why);

#endif
