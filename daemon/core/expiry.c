/*
 * expiry.c — a binary min-heap of deadlines (see expiry.h).
 *
 * Entries live in one array in heap order: the parent of slot i (0-based) is (i - 1) / 2, so
 * the earliest deadline is entries[0]. Every write of an entry into a slot goes through place(),
 * which also tells the item its new slot, so the slots the items hold are never stale. The array
 * doubles when full and is never shrunk below its peak: deadlines come and go in waves, and a
 * few bytes per entry at the peak are cheap next to the objects themselves.
 */
#include "expiry.h"

#include <stdlib.h>

static void place(expiry_heap *h, uint32_t i, struct expiry_entry e)
{
    h->entries[i] = e;
    h->moved(e.item, i + 1);
}

/* The entry e belongs at or above slot i: move larger parents down until it fits. */
static void sift_up(expiry_heap *h, uint32_t i, struct expiry_entry e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->entries[parent].at_ns <= e.at_ns)
            break;
        place(h, i, h->entries[parent]);
        i = parent;
    }
    place(h, i, e);
}

/* The entry e belongs at or below slot i: move smaller children up until it fits. */
static void sift_down(expiry_heap *h, uint32_t i, struct expiry_entry e)
{
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->entries[child + 1].at_ns < h->entries[child].at_ns)
            child++;
        if (e.at_ns <= h->entries[child].at_ns)
            break;
        place(h, i, h->entries[child]);
        i = child;
    }
    place(h, i, e);
}

int expiry_add(expiry_heap *h, void *item, int64_t at_ns)
{
    if (h->count >= EXPIRY_ITEMS_MAX)
        return -1;
    if (h->count == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        if (cap < h->cap)
            return -1;
        struct expiry_entry *grown = realloc(h->entries, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        h->entries = grown;
        h->cap = cap;
    }
    h->count++;
    sift_up(h, h->count - 1, (struct expiry_entry){at_ns, item});
    return 0;
}

void expiry_remove(expiry_heap *h, uint32_t slot)
{
    if (slot == 0 || slot > h->count)
        return;
    uint32_t i = slot - 1;
    h->moved(h->entries[i].item, 0);
    struct expiry_entry last = h->entries[--h->count];
    if (i == h->count)
        return;   /* it was the last entry */
    /* The last entry fills the hole; it may belong above or below it. */
    if (i > 0 && last.at_ns < h->entries[(i - 1) / 2].at_ns)
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

int64_t expiry_next(const expiry_heap *h)
{
    return h->count ? h->entries[0].at_ns : EXPIRY_NONE;
}

void *expiry_pop_due(expiry_heap *h, int64_t now_ns)
{
    if (h->count == 0 || h->entries[0].at_ns > now_ns)
        return NULL;
    void *item = h->entries[0].item;
    expiry_remove(h, 1);
    return item;
}

void expiry_clear(expiry_heap *h)
{
    free(h->entries);
    h->entries = NULL;
    h->count = h->cap = 0;
}
