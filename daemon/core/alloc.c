/*
 * alloc.c — two-level segregated fit (TLSF) allocator of the arena's address space.
 *
 * Every range of [0, capacity), used or free, is a heap record on an address-ordered doubly
 * linked list, so a given-back block merges with free neighbours in O(1). Free records also sit
 * in one of FL_COUNT x SL_COUNT bins: the first level is the power of two of the size, the second
 * splits that power into SL_COUNT equal steps. Two bitmaps say which bins are non-empty, so the
 * search is a couple of find-first-set instructions. A request is rounded up to the next bin
 * boundary before searching, so the head of the bin found always fits and take is O(1).
 *
 * Rounding up misses blocks that sit in the request's own bin and happen to be large enough;
 * when the fast search fails (the store is nearly full for that size) a bounded scan of the first
 * SCAN_LIMIT records of those bins catches them. alloc_largest_free reports only what that same
 * bounded search can reach, so its answer is always a size alloc_take will grant.
 *
 * All sizes are counted in 64-bit bytes; bins are computed on 64-byte units, the smallest grain.
 */
#include "alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pool.h"

#define SL_BITS    5u
#define SL_COUNT   (1u << SL_BITS)
/* Unit counts stay below 2^59 even after rounding up, so 64 first-level bins are plenty. */
#define FL_COUNT   64u
#define UNIT_SHIFT 6u   /* log2(ALLOC_ALIGN) */

/* Records examined per bin on the slow path; bounds take's worst case at O(1). */
#define SCAN_LIMIT 32u

/* The largest leading gap that page alignment can leave in a 64-aligned free range. */
#define WORST_GAP (ALLOC_PAGE - ALLOC_ALIGN)

struct alloc_block {
    uint64_t offset;
    uint64_t size : 63;         /* a multiple of ALLOC_ALIGN; the flag takes the 64th bit, so a
                                 * record is 48 bytes (docs/architecture.md, "Bookkeeping per
                                 * object") */
    uint64_t free : 1;
    alloc_block_t *phys_prev;   /* neighbours in the arena, by address */
    alloc_block_t *phys_next;
    alloc_block_t *free_prev;   /* bin list; meaningful only while free */
    alloc_block_t *free_next;
};
_Static_assert(sizeof(struct alloc_block) == 48, "an allocator record is 48 bytes");

struct alloc {
    uint64_t capacity;
    uint64_t used;
    uint64_t blocks;
    alloc_block_t *first;       /* the range at offset 0; the records tile the arena from here */
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    alloc_block_t *bins[FL_COUNT][SL_COUNT];
    pool_t records;             /* every alloc_block_t of this allocator */
};

struct bin_index {
    unsigned fl;
    unsigned sl;
};

static unsigned floor_log2(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

/* Sizes below SL_COUNT units get one exact bin each; above, SL_COUNT bins per power of two. */
static struct bin_index bin_of_units(uint64_t units)
{
    struct bin_index bi;
    if (units < SL_COUNT) {
        bi.fl = 0;
        bi.sl = (unsigned)units;
    } else {
        unsigned p = floor_log2(units);
        bi.fl = p - SL_BITS + 1;
        bi.sl = (unsigned)(units >> (p - SL_BITS)) - SL_COUNT;
    }
    return bi;
}

static struct bin_index bin_of_size(uint64_t size)
{
    return bin_of_units(size >> UNIT_SHIFT);
}

/* Every block in the bin of the returned index is at least `size` bytes. */
static struct bin_index bin_at_least(uint64_t size)
{
    uint64_t units = size >> UNIT_SHIFT;
    if (units >= SL_COUNT)
        units += (UINT64_C(1) << (floor_log2(units) - SL_BITS)) - 1;
    return bin_of_units(units);
}

/* The largest size a bin can hold, in units (kept in units: in bytes the top bin would wrap). */
static uint64_t bin_max_units(struct bin_index bi)
{
    uint64_t limit = bi.fl == 0 ? (uint64_t)bi.sl + 1
                                : ((uint64_t)SL_COUNT + bi.sl + 1) << (bi.fl - 1);
    return limit - 1;
}

static void bin_insert(alloc_t *a, alloc_block_t *b)
{
    struct bin_index bi = bin_of_size(b->size);
    alloc_block_t *head = a->bins[bi.fl][bi.sl];
    b->free_prev = NULL;
    b->free_next = head;
    if (head)
        head->free_prev = b;
    a->bins[bi.fl][bi.sl] = b;
    a->sl_bitmap[bi.fl] |= 1u << bi.sl;
    a->fl_bitmap |= UINT64_C(1) << bi.fl;
}

static void bin_remove(alloc_t *a, alloc_block_t *b)
{
    struct bin_index bi = bin_of_size(b->size);
    if (b->free_prev)
        b->free_prev->free_next = b->free_next;
    else
        a->bins[bi.fl][bi.sl] = b->free_next;
    if (b->free_next)
        b->free_next->free_prev = b->free_prev;
    b->free_prev = b->free_next = NULL;
    if (!a->bins[bi.fl][bi.sl]) {
        a->sl_bitmap[bi.fl] &= ~(1u << bi.sl);
        if (!a->sl_bitmap[bi.fl])
            a->fl_bitmap &= ~(UINT64_C(1) << bi.fl);
    }
}

static void phys_insert_after(alloc_block_t *at, alloc_block_t *b)
{
    b->phys_prev = at;
    b->phys_next = at->phys_next;
    if (at->phys_next)
        at->phys_next->phys_prev = b;
    at->phys_next = b;
}

static void phys_unlink(alloc_t *a, alloc_block_t *b)
{
    if (b->phys_prev)
        b->phys_prev->phys_next = b->phys_next;
    else
        a->first = b->phys_next;
    if (b->phys_next)
        b->phys_next->phys_prev = b->phys_prev;
}

/* First non-empty bin at or after `from`, or false. */
static bool next_nonempty_bin(const alloc_t *a, struct bin_index from, struct bin_index *out)
{
    if (from.fl >= FL_COUNT)
        return false;
    uint32_t sl_map = a->sl_bitmap[from.fl] & (~UINT32_C(0) << from.sl);
    unsigned fl = from.fl;
    if (!sl_map) {
        uint64_t fl_map = fl + 1 < FL_COUNT ? a->fl_bitmap & (~UINT64_C(0) << (fl + 1)) : 0;
        if (!fl_map)
            return false;
        fl = (unsigned)__builtin_ctzll(fl_map);
        sl_map = a->sl_bitmap[fl];
    }
    out->fl = fl;
    out->sl = (unsigned)__builtin_ctz(sl_map);
    return true;
}

static uint64_t page_gap(uint64_t offset)
{
    return round_up(offset, ALLOC_PAGE) - offset;
}

/* Can free block b hold `need` bytes (page-aligned when `page`)? Sets *gap to the lead-in. */
static bool block_fits(const alloc_block_t *b, uint64_t need, bool page, uint64_t *gap)
{
    uint64_t g = page ? page_gap(b->offset) : 0;
    if (b->size < g || b->size - g < need)
        return false;
    *gap = g;
    return true;
}

/* The largest request that free block b can satisfy on its own. */
static uint64_t block_usable(const alloc_block_t *b)
{
    if (b->size < ALLOC_PAGE_THRESHOLD)
        return b->size;
    uint64_t g = page_gap(b->offset);
    if (b->size >= g && b->size - g >= ALLOC_PAGE_THRESHOLD)
        return b->size - g;
    /* Too little room once aligned: it still serves the largest request that needs no page. */
    return ALLOC_PAGE_THRESHOLD - ALLOC_ALIGN;
}

static alloc_block_t *find_fit(const alloc_t *a, uint64_t need, bool page, uint64_t *gap)
{
    struct bin_index bi;
    if (next_nonempty_bin(a, bin_at_least(need), &bi)) {
        alloc_block_t *b = a->bins[bi.fl][bi.sl];
        if (block_fits(b, need, page, gap))
            return b;
    }
    uint64_t worst = page ? need + WORST_GAP : need;
    if (page && next_nonempty_bin(a, bin_at_least(worst), &bi)) {
        alloc_block_t *b = a->bins[bi.fl][bi.sl];
        if (block_fits(b, need, page, gap))
            return b;
    }
    /* Blocks in bins below bin_at_least(worst) may still fit; they can only live in the bins
     * from bin_of_size(need) to bin_of_size(worst), a span of at most three. */
    struct bin_index last = bin_of_size(worst);
    bi = bin_of_size(need);
    while (next_nonempty_bin(a, bi, &bi)) {
        if (bi.fl > last.fl || (bi.fl == last.fl && bi.sl > last.sl))
            break;
        alloc_block_t *b = a->bins[bi.fl][bi.sl];
        for (unsigned n = 0; b && n < SCAN_LIMIT; n++, b = b->free_next)
            if (block_fits(b, need, page, gap))
                return b;
        if (++bi.sl == SL_COUNT) {
            bi.sl = 0;
            bi.fl++;
        }
    }
    return NULL;
}

alloc_t *alloc_new(uint64_t capacity)
{
    if (capacity > ALLOC_CAPACITY_MAX)
        capacity = ALLOC_CAPACITY_MAX;
    capacity &= ~(uint64_t)(ALLOC_PAGE - 1);
    if (capacity == 0)
        return NULL;
    alloc_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    pool_init(&a->records, sizeof(alloc_block_t), 1024);
    alloc_block_t *b = pool_alloc(&a->records);
    if (!b) {
        free(a);
        return NULL;
    }
    a->capacity = capacity;
    b->offset = 0;
    b->size = capacity;
    b->free = true;
    a->first = b;
    bin_insert(a, b);
    return a;
}

void alloc_destroy(alloc_t *a)
{
    if (!a)
        return;
    alloc_block_t *b = a->first;
    while (b) {
        alloc_block_t *next = b->phys_next;
        pool_free(&a->records, b);
        b = next;
    }
    pool_destroy(&a->records);
    free(a);
}

alloc_block_t *alloc_take(alloc_t *a, uint64_t size)
{
    if (size == 0)
        size = 1;
    /* Checked before rounding so sizes near UINT64_MAX cannot wrap. */
    if (size > a->capacity)
        return NULL;
    uint64_t need = round_up(size, ALLOC_ALIGN);
    bool page = need >= ALLOC_PAGE_THRESHOLD;

    uint64_t gap = 0;
    alloc_block_t *found = find_fit(a, need, page, &gap);
    if (!found)
        return NULL;
    uint64_t tail = found->size - gap - need;

    /* Get every record before touching any structure, so a failed malloc changes nothing. */
    alloc_block_t *used = found, *tail_block = NULL;
    if (gap && !(used = pool_alloc(&a->records)))
        return NULL;
    if (tail && !(tail_block = pool_alloc(&a->records))) {
        if (used != found)
            pool_free(&a->records, used);
        return NULL;
    }

    bin_remove(a, found);
    if (gap) {
        /* The record found keeps the lead-in, so the record at offset 0 never changes here. */
        used->offset = found->offset + gap;
        found->size = gap;
        phys_insert_after(found, used);
        bin_insert(a, found);
    }
    used->size = need;
    used->free = false;
    used->free_prev = used->free_next = NULL;
    if (tail) {
        tail_block->offset = used->offset + need;
        tail_block->size = tail;
        tail_block->free = true;
        phys_insert_after(used, tail_block);
        bin_insert(a, tail_block);
    }
    a->used += need;
    a->blocks++;
    return used;
}

void alloc_give(alloc_t *a, alloc_block_t *b)
{
    if (!b)
        return;
    assert(!b->free);
    a->used -= b->size;
    a->blocks--;
    b->free = true;

    alloc_block_t *prev = b->phys_prev;
    if (prev && prev->free) {
        bin_remove(a, prev);
        prev->size += b->size;
        phys_unlink(a, b);
        pool_free(&a->records, b);
        b = prev;
    }
    alloc_block_t *next = b->phys_next;
    if (next && next->free) {
        bin_remove(a, next);
        b->size += next->size;
        phys_unlink(a, next);
        pool_free(&a->records, next);
    }
    bin_insert(a, b);
}

uint64_t alloc_block_offset(const alloc_block_t *b) { return b->offset; }
uint64_t alloc_block_size(const alloc_block_t *b) { return b->size; }
uint64_t alloc_capacity(const alloc_t *a) { return a->capacity; }
uint64_t alloc_used(const alloc_t *a) { return a->used; }
uint64_t alloc_free(const alloc_t *a) { return a->capacity - a->used; }
uint64_t alloc_blocks(const alloc_t *a) { return a->blocks; }

uint64_t alloc_largest_free(const alloc_t *a)
{
    /* Looks at exactly the records find_fit can reach (the first SCAN_LIMIT of each bin), from
     * the top bin down, and stops once no lower bin can beat the best so far. Usually that is
     * the top bin alone. */
    uint64_t best = 0;
    for (int fl = (int)FL_COUNT - 1; fl >= 0; fl--) {
        if (!(a->fl_bitmap & (UINT64_C(1) << fl)))
            continue;
        for (int sl = (int)SL_COUNT - 1; sl >= 0; sl--) {
            if (!(a->sl_bitmap[fl] & (1u << sl)))
                continue;
            struct bin_index bi = {(unsigned)fl, (unsigned)sl};
            if (bin_max_units(bi) <= best >> UNIT_SHIFT)
                return best;
            const alloc_block_t *b = a->bins[fl][sl];
            for (unsigned n = 0; b && n < SCAN_LIMIT; n++, b = b->free_next) {
                uint64_t usable = block_usable(b);
                if (usable > best)
                    best = usable;
            }
        }
    }
    return best;
}

int alloc_check(const alloc_t *a, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
#define FAIL(msg) do { *why = (msg); return -1; } while (0)

    if (!a->first || a->first->phys_prev)
        FAIL("no record at the start of the arena");
    uint64_t expect = 0, used = 0, blocks = 0, free_count = 0;
    const alloc_block_t *prev = NULL;
    for (const alloc_block_t *b = a->first; b; prev = b, b = b->phys_next) {
        if (b->phys_prev != prev)
            FAIL("broken back link in the address list");
        if (b->offset != expect)
            FAIL("ranges do not tile the arena (gap or overlap)");
        if (b->size == 0 || b->size % ALLOC_ALIGN || b->offset % ALLOC_ALIGN)
            FAIL("range not 64-byte aligned or empty");
        if (b->size > a->capacity - b->offset)
            FAIL("range runs past the end of the arena");
        expect = b->offset + b->size;
        if (b->free) {
            if (prev && prev->free)
                FAIL("two adjacent free ranges");
            free_count++;
        } else {
            if (b->size >= ALLOC_PAGE_THRESHOLD && b->offset % ALLOC_PAGE)
                FAIL("large block not page aligned");
            used += b->size;
            blocks++;
        }
    }
    if (expect != a->capacity)
        FAIL("ranges do not reach the end of the arena");
    if (used != a->used)
        FAIL("used bytes do not match the blocks out");
    if (blocks != a->blocks)
        FAIL("block count does not match the blocks out");

    uint64_t listed = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!!(a->fl_bitmap & (UINT64_C(1) << fl)) != (a->sl_bitmap[fl] != 0))
            FAIL("first-level bitmap disagrees with second-level bitmap");
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            const alloc_block_t *head = a->bins[fl][sl];
            if (!!(a->sl_bitmap[fl] & (1u << sl)) != (head != NULL))
                FAIL("second-level bitmap disagrees with bin");
            const alloc_block_t *fprev = NULL;
            for (const alloc_block_t *b = head; b; fprev = b, b = b->free_next) {
                if (++listed > free_count)
                    FAIL("more records in bins than free ranges (stale record or cycle)");
                if (!b->free)
                    FAIL("used block in a free bin");
                if (b->free_prev != fprev)
                    FAIL("broken back link in a free bin");
                struct bin_index bi = bin_of_size(b->size);
                if (bi.fl != fl || bi.sl != sl)
                    FAIL("free range in the wrong bin");
            }
        }
    }
    if (listed != free_count)
        FAIL("free range missing from the bins");
#undef FAIL
    *why = NULL;
    return 0;
}
