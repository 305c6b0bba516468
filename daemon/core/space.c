/*
 * space.c — the table of segments and the choice of a segment for each block (space.h).
 *
 * Segments live in a table of SHM_SEGMENT_SLOTS slots indexed by id % slots, which is how the
 * daemon turns an address into a pointer in O(1), and also in a list ordered by id (their age),
 * which is the order space_take tries them in. A new id is the next unused number whose slot is
 * free, so an id is never reused and two live segments never share a slot; with at most
 * SHM_SEGMENT_SLOTS segments held, a free slot is always within that many numbers.
 *
 * space_take asks each ordinary segment's allocator in turn, then the empty dedicated ones, but
 * only for a block that would have had a dedicated segment of its own (more than half of it): a
 * small create must not take the segment being made for a big one. The allocators are O(1), and a
 * store holds a few dozen segments, so the walk is cheap next to a request's round trip.
 *
 * Ids fit the 24 bits an address gives them (SHM_SEGMENT_ID_MAX): past that many segments made in
 * one daemon's life the store stops growing (space_add fails) rather than alias an old id.
 */
#include "space.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmlayout.h"

struct segment {
    uint32_t id;
    int dedicated;
    uint8_t *base;
    uint64_t bytes;
    alloc_t *alloc;
    void *backing;
    int64_t empty_since;   /* when its last block went (or it was added) */
};

struct space {
    uint64_t max_bytes, taken;
    uint32_t next_id;
    uint32_t count;
    int64_t (*clock)(void);   /* stamps empty segments; CLOCK_MONOTONIC unless a test sets it */
    struct segment *slots[SHM_SEGMENT_SLOTS];
    struct segment *order[SHM_SEGMENT_SLOTS];   /* order[0..count): by id, oldest first */
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

space_t *space_new(uint64_t max_bytes)
{
    space_t *sp = calloc(1, sizeof *sp);
    if (sp) {
        sp->max_bytes = max_bytes;
        sp->clock = monotonic_ns;
    }
    return sp;
}

void space_set_clock(space_t *sp, int64_t (*clock)(void))
{
    sp->clock = clock ? clock : monotonic_ns;
}

void space_free(space_t *sp)
{
    if (!sp)
        return;
    for (uint32_t i = 0; i < sp->count; i++) {
        alloc_destroy(sp->order[i]->alloc);
        free(sp->order[i]);
    }
    free(sp);
}

void space_set_max(space_t *sp, uint64_t max_bytes) { sp->max_bytes = max_bytes; }
uint64_t space_max(const space_t *sp) { return sp->max_bytes; }
uint64_t space_taken(const space_t *sp) { return sp->taken; }
uint64_t space_segments(const space_t *sp) { return sp->count; }

uint64_t space_room_to_grow(const space_t *sp)
{
    return sp->max_bytes > sp->taken ? sp->max_bytes - sp->taken : 0;
}

static struct segment *segment_of(const space_t *sp, uint32_t id)
{
    struct segment *seg = sp->slots[id % SHM_SEGMENT_SLOTS];
    return seg && seg->id == id ? seg : NULL;
}

int space_add(space_t *sp, uint8_t *base, uint64_t bytes, int dedicated, void *backing,
              uint32_t *id_out)
{
    if (sp->count == SHM_SEGMENT_SLOTS || bytes == 0 || bytes > SHM_SEGMENT_BYTES_MAX)
        return -1;
    uint32_t id = sp->next_id;
    while (id <= SHM_SEGMENT_ID_MAX && sp->slots[id % SHM_SEGMENT_SLOTS])
        id++;
    if (id > SHM_SEGMENT_ID_MAX)
        return -1;
    struct segment *seg = calloc(1, sizeof *seg);
    if (!seg)
        return -1;
    seg->alloc = alloc_new(bytes);
    if (!seg->alloc) {
        free(seg);
        return -1;
    }
    seg->id = id;
    seg->dedicated = dedicated;
    seg->base = base;
    seg->bytes = bytes;
    seg->backing = backing;
    seg->empty_since = sp->clock();
    sp->slots[id % SHM_SEGMENT_SLOTS] = seg;
    sp->order[sp->count++] = seg;
    sp->taken += bytes;
    sp->next_id = id + 1;
    *id_out = id;
    return 0;
}

void *space_remove(space_t *sp, uint32_t id)
{
    struct segment *seg = segment_of(sp, id);
    if (!seg || alloc_blocks(seg->alloc) != 0)
        return NULL;
    uint32_t i = 0;
    while (sp->order[i] != seg)
        i++;
    memmove(&sp->order[i], &sp->order[i + 1], (sp->count - i - 1) * sizeof sp->order[0]);
    sp->count--;
    sp->slots[id % SHM_SEGMENT_SLOTS] = NULL;
    sp->taken -= seg->bytes;
    void *backing = seg->backing;
    alloc_destroy(seg->alloc);
    free(seg);
    return backing;
}

static alloc_block_t *take_from(struct segment *seg, uint64_t size, uint64_t *address)
{
    alloc_block_t *b = alloc_take(seg->alloc, size);
    if (b)
        *address = SHM_ADDRESS(seg->id, alloc_block_offset(b));
    return b;
}

alloc_block_t *space_take(space_t *sp, uint64_t size, uint64_t *address)
{
    for (uint32_t i = 0; i < sp->count; i++) {
        struct segment *seg = sp->order[i];
        alloc_block_t *b;
        if (!seg->dedicated && (b = take_from(seg, size, address)))
            return b;
    }
    for (uint32_t i = 0; i < sp->count; i++) {
        struct segment *seg = sp->order[i];
        alloc_block_t *b;
        if (seg->dedicated && alloc_blocks(seg->alloc) == 0 && size > seg->bytes / 2 &&
            (b = take_from(seg, size, address)))
            return b;
    }
    return NULL;
}

void space_give(space_t *sp, uint64_t address, alloc_block_t *b)
{
    struct segment *seg = segment_of(sp, SHM_ADDRESS_SEGMENT(address));
    alloc_give(seg->alloc, b);
    if (alloc_blocks(seg->alloc) == 0)
        seg->empty_since = sp->clock();
}

uint8_t *space_pointer(const space_t *sp, uint64_t address)
{
    struct segment *seg = segment_of(sp, SHM_ADDRESS_SEGMENT(address));
    uint64_t offset = SHM_ADDRESS_OFFSET(address);
    return seg && offset < seg->bytes ? seg->base + offset : NULL;
}

int space_segment(const space_t *sp, uint32_t id, uint64_t *bytes, uint8_t **base,
                  void **backing)
{
    struct segment *seg = segment_of(sp, id);
    if (!seg)
        return -1;
    if (bytes)
        *bytes = seg->bytes;
    if (base)
        *base = seg->base;
    if (backing)
        *backing = seg->backing;
    return 0;
}

uint32_t space_segment_ids(const space_t *sp, uint32_t *ids, uint32_t max)
{
    for (uint32_t i = 0; i < sp->count && i < max; i++)
        ids[i] = sp->order[i]->id;
    return sp->count;
}

uint32_t space_idle_segments(const space_t *sp, int64_t before, uint32_t *ids, uint32_t max)
{
    uint32_t n = 0;
    int kept_one = 0;
    for (uint32_t i = 0; i < sp->count && n < max; i++) {
        const struct segment *seg = sp->order[i];
        if (!seg->dedicated && !kept_one) {
            kept_one = 1;   /* the oldest ordinary segment stays: the store's floor */
            continue;
        }
        if (alloc_blocks(seg->alloc) == 0 && seg->empty_since < before)
            ids[n++] = seg->id;
    }
    return n;
}

#define SUM_OVER_SEGMENTS(fn)                                                                  \
    uint64_t total = 0;                                                                        \
    for (uint32_t i = 0; i < sp->count; i++)                                                   \
        total += fn(sp->order[i]->alloc);                                                      \
    return total

uint64_t space_used(const space_t *sp) { SUM_OVER_SEGMENTS(alloc_used); }
uint64_t space_blocks(const space_t *sp) { SUM_OVER_SEGMENTS(alloc_blocks); }
uint64_t space_free_bytes(const space_t *sp) { SUM_OVER_SEGMENTS(alloc_free); }

uint64_t space_largest_free(const space_t *sp)
{
    uint64_t largest = 0;
    for (uint32_t i = 0; i < sp->count; i++) {
        const struct segment *seg = sp->order[i];
        if (seg->dedicated && alloc_blocks(seg->alloc) != 0)
            continue;   /* its leftover is never handed out */
        uint64_t here = alloc_largest_free(seg->alloc);
        if (here > largest)
            largest = here;
    }
    return largest;
}

int space_check(const space_t *sp, const char **why)
{
    uint64_t taken = 0;
    for (uint32_t i = 0; i < sp->count; i++) {
        const struct segment *seg = sp->order[i];
        if (i > 0 && sp->order[i - 1]->id >= seg->id) {
            *why = "segments out of order";
            return -1;
        }
        if (sp->slots[seg->id % SHM_SEGMENT_SLOTS] != seg) {
            *why = "a segment is not in its slot";
            return -1;
        }
        if (seg->dedicated && alloc_blocks(seg->alloc) > 1) {
            *why = "a dedicated segment holds more than one block";
            return -1;
        }
        if (alloc_check(seg->alloc, why) != 0)
            return -1;
        taken += seg->bytes;
    }
    uint32_t in_slots = 0;
    for (uint32_t i = 0; i < SHM_SEGMENT_SLOTS; i++)
        in_slots += sp->slots[i] != NULL;
    if (in_slots != sp->count || taken != sp->taken) {
        *why = "segment table and totals disagree";
        return -1;
    }
    return 0;
}
