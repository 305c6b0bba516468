/*
 * arena.h — the shared-memory arena: one memfd, sized and (by default) reserved at start,
 * mapped once in the daemon and passed to clients by fd (docs/architecture.md, "Processes and
 * memory"). Its first page is a header (proto/shmlayout.h) that clients check; objects live in
 * the data region after it, which is what the store allocates from.
 */
#ifndef SHMSTORE_ARENA_H
#define SHMSTORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena {
    int fd;             /* read-write memfd, sealed against shrinking and growing */
    int readonly_fd;    /* the same memory opened O_RDONLY, for read-only clients */
    uint8_t *base;      /* the daemon's writable mapping, header first */
    uint64_t size;      /* bytes of the fd: header and data region */
    uint8_t *data;      /* base + SHM_ARENA_DATA_START: where objects live */
    uint64_t data_bytes;   /* the store's capacity */
};

/* Create an arena whose data region holds `size` bytes (rounded up to the page size). With
 * reserve, every page is allocated now, so that a machine without the memory fails here instead of
 * with SIGBUS in a client later. 0, or -1 with a message in why[0..whylen). */
int arena_create(struct arena *a, uint64_t size, int reserve, char *why, size_t whylen);
void arena_destroy(struct arena *a);

#endif
