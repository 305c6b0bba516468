/*
 * arena.h — the shared memory behind the store: a header page and segments, each a memfd passed
 * to clients by fd (docs/architecture.md, "Processes and memory").
 *
 * The header (proto/shmlayout.h) is what the handshake passes: clients check its magic and
 * layout version before anything else. Segments are made as the store needs memory (by the
 * grow thread, daemon/grow.c, since reserving their pages takes time) and given back when empty;
 * the store's space (core/space.h) keeps which segment holds what.
 */
#ifndef SHMSTORE_ARENA_H
#define SHMSTORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "shmlayout.h"

/* Segment sizes are multiples of this: the usual huge page size, so a segment can always be
 * made of huge pages, and objects at its start are huge-page aligned. */
#define ARENA_SEGMENT_ALIGN (2ull * 1024 * 1024)


struct arena {
    int header_fd;              /* the header page's memfd, read-write, sealed against resizing */
    int header_readonly_fd;     /* the same, O_RDONLY: what every client gets */
    struct shm_arena_header *header;   /* the daemon's mapping of it */
};

/* One segment's memory. */
struct arena_segment {
    int fd;             /* read-write memfd, sealed against shrinking and growing */
    int readonly_fd;    /* the same memory opened O_RDONLY, for read-only clients */
    uint8_t *base;      /* the daemon's writable mapping */
    uint64_t bytes;
    int huge;           /* made of huge pages (MFD_HUGETLB) */
};

/* Make the header. 0, or -1 with a message in why[0..whylen). */
int arena_open(struct arena *a, uint64_t max_bytes, char *why, size_t whylen);
void arena_close(struct arena *a);

/* Make a segment of at least `bytes` (rounded up to ARENA_SEGMENT_ALIGN). With reserve, every
 * page is allocated and zeroed now, after checking the machine has the memory. huge: see
 * hugepages in docs; with HUGEPAGES_AUTO a segment the huge page pool cannot hold is made of
 * 4 KiB pages and note[0..notelen) says why (else note is ""). Slow (it touches every page):
 * call it off the event loop. 0, or -1 with a message in why. */
int arena_segment_create(struct arena_segment *seg, uint64_t bytes, enum hugepages_mode huge,
                         int reserve, char *why, size_t whylen, char *note, size_t notelen);
/* Close the daemon's fds and mapping of a segment. give_back: it is empty, so its pages are
 * punched out first, returning the memory at once even while clients still map it; else the
 * memory lives on as long as a client maps it (at shutdown, for objects clients still hold). */
void arena_segment_destroy(struct arena_segment *seg, int give_back);

/* Huge pages free in the pool now (HugePages_Free), in bytes, and the size of one. */
uint64_t arena_free_huge_bytes(void);
uint64_t arena_huge_page_bytes(void);
/* The default maximum: 30% of the machine's memory (or of this cgroup's limit). */
uint64_t arena_default_memory(void);

#endif
