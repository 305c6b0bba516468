/*
 * expiry.h — the deadlines of objects with a time to live: a binary min-heap keyed by expiry
 * time (docs/architecture.md, "Time to live").
 *
 * Adding, removing any entry and taking the earliest are O(log n); the earliest deadline is read
 * in O(1), which is what the daemon's one timer is armed with. Each item learns its slot through
 * the `moved` callback whenever the heap moves it, so an object that is deleted before it
 * expires leaves the heap at once, with no search. Knows nothing of objects or the event loop.
 */
#ifndef SHMSTORE_EXPIRY_H
#define SHMSTORE_EXPIRY_H

#include <stdint.h>

struct expiry_entry {
    int64_t at_ns;   /* the deadline, kept here so comparisons never touch the item */
    void *item;
};

typedef struct expiry_heap {
    struct expiry_entry *entries;
    uint32_t count, cap;
    /* Tells item its slot: 1-based, or 0 when it has left the heap. Required. */
    void (*moved)(void *item, uint32_t slot);
} expiry_heap;

#define EXPIRY_NONE INT64_MAX   /* expiry_next of an empty heap */

/* The most items a heap holds: slots fit 24 bits (struct object keeps its slot in that many). */
#define EXPIRY_ITEMS_MAX ((1u << 24) - 1u)

/* Add item with its deadline. 0, or -1 when memory runs out (the heap is unchanged then). */
int expiry_add(expiry_heap *h, void *item, int64_t at_ns);
/* Take out the entry at slot (as given to moved; 0 is ignored). */
void expiry_remove(expiry_heap *h, uint32_t slot);
/* The earliest deadline, or EXPIRY_NONE. */
int64_t expiry_next(const expiry_heap *h);
/* Take out and return the item with the earliest deadline if that is <= now_ns, else NULL. */
void *expiry_pop_due(expiry_heap *h, int64_t now_ns);
static inline uint32_t expiry_count(const expiry_heap *h) { return h->count; }
/* Free the heap's memory (not the items; moved is not called). */
void expiry_clear(expiry_heap *h);

#endif
