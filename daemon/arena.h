/*
 * arena.h — the shared-memory arena: one memfd, sized and (by default) reserved at start,
 * mapped once in the daemon and passed to clients by fd (DESIGN.md §2.1, §2.2).
 */
#ifndef SHMSTORE_ARENA_H
#define SHMSTORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena {
    int fd;             /* read-write memfd, sealed against shrinking and growing */
    int readonly_fd;    /* the same memory opened O_RDONLY, for read-only clients */
    uint8_t *base;      /* the daemon's writable mapping */
    uint64_t size;
};

/* Create an arena of `size` bytes (rounded up to the page size). With reserve, every page is
 * allocated now, so that a machine without the memory fails here instead of with SIGBUS in a
 * client later. 0, or -1 with a message in why[0..whylen). */
int arena_create(struct arena *a, uint64_t size, int reserve, char *why, size_t whylen);
void arena_destroy(struct arena *a);

#endif
