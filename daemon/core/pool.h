/*
 * pool.h — fixed-size records carved from larger blocks: the daemon keeps a million objects and
 * as many allocator records, and malloc's per-allocation header and 16-byte rounding would add up
 * to 16 bytes to each (docs/architecture.md, "Bookkeeping per object").
 *
 * Records are never given back to the system one by one: freed ones wait on a free list for the
 * next allocation, and pool_destroy frees the blocks. Under AddressSanitizer, and when
 * pool_use_malloc(1) asks for it (the allocation-failure tests, which must reach every record's
 * allocation), every record is a malloc of its own instead.
 */
#ifndef SHMSTORE_POOL_H
#define SHMSTORE_POOL_H

#include <stddef.h>

struct pool_block;

typedef struct pool {
    size_t record_size;           /* a multiple of 8, at least a pointer */
    size_t per_block;             /* the most records carved from one block */
    size_t block_records;         /* records of the newest block: 1, 2, 4, ... up to per_block */
    size_t next_in_block;         /* records of the newest block handed out so far */
    void *free_list;              /* freed records, linked through their first bytes */
    struct pool_block *blocks;    /* every block, for pool_destroy */
} pool_t;

/* A pool of records of record_size bytes (rounded up to 8), at most per_block to a block. */
void pool_init(pool_t *p, size_t record_size, size_t per_block);
/* A zeroed record, or NULL when memory runs out. */
void *pool_alloc(pool_t *p);
/* Give a record of this pool back (NULL is ignored). */
void pool_free(pool_t *p, void *record);
/* Free every block; records still out become invalid. Records must have been freed one by one
 * first when they are separate mallocs (see above). */
void pool_destroy(pool_t *p);
/* 1: every pool hands out separate mallocs from now on (set it before any pool is used). */
void pool_use_malloc(int on);

#endif
