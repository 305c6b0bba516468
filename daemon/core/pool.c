/*
 * pool.c — fixed-size records from larger blocks, with a free list (pool.h).
 *
 * A block is one malloc of a small header and its records (1, 2, 4, ... up to per_block of
 * them, so a small store costs little); records are handed out from the newest block in order,
 * and freed ones are reused first, last freed first. The free list is threaded through the
 * records' own first bytes, so a free record costs nothing extra.
 */
#include "pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_SANITIZED 1
#endif
#endif
#ifndef POOL_SANITIZED
#define POOL_SANITIZED 0
#endif

/* Records as separate mallocs: under ASan (so it sees each one), or when a test asks. */
static int use_malloc = POOL_SANITIZED;

void pool_use_malloc(int on)
{
    use_malloc = on || POOL_SANITIZED;
}

struct pool_block {
    struct pool_block *next;
    uint64_t align_;              /* the records after it start 16 bytes in */
    unsigned char records[];
};

void pool_init(pool_t *p, size_t record_size, size_t per_block)
{
    memset(p, 0, sizeof *p);
    if (record_size < sizeof(void *))
        record_size = sizeof(void *);
    p->record_size = (record_size + 7) & ~(size_t)7;
    p->per_block = per_block ? per_block : 1;
}

void *pool_alloc(pool_t *p)
{
    if (use_malloc)
        return calloc(1, p->record_size);
    void *r = p->free_list;
    if (r) {
        memcpy(&p->free_list, r, sizeof(void *));
    } else {
        if (!p->blocks || p->next_in_block == p->block_records) {
            size_t records = !p->blocks ? 1
                             : p->block_records * 2 > p->per_block ? p->per_block
                                                                   : p->block_records * 2;
            struct pool_block *b = malloc(sizeof *b + p->record_size * records);
            if (!b)
                return NULL;
            b->next = p->blocks;
            p->blocks = b;
            p->block_records = records;
            p->next_in_block = 0;
        }
        r = p->blocks->records + p->record_size * p->next_in_block++;
    }
    memset(r, 0, p->record_size);
    return r;
}

void pool_free(pool_t *p, void *record)
{
    if (!record)
        return;
    if (use_malloc) {
        free(record);
        return;
    }
    memcpy(record, &p->free_list, sizeof(void *));
    p->free_list = record;
}

void pool_destroy(pool_t *p)
{
    struct pool_block *b = p->blocks;
    while (b) {
        struct pool_block *next = b->next;
        free(b);
        b = next;
    }
    p->blocks = NULL;
    p->free_list = NULL;
    p->next_in_block = p->block_records = 0;
}
