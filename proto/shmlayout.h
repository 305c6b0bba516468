/*
 * shmlayout.h — what every structure in shared memory starts with, and the arena's header.
 *
 * The daemon writes these and clients map them, possibly from a different build of the library:
 * a client checks the magic (is this the structure it thinks it mapped?) and the layout version
 * (can it read it?) before trusting a single other byte, and refuses with SHMSTORE_EPROTO
 * otherwise. A layout version changes whenever a field moves or changes meaning; fields are
 * added only where the version says so. See docs/architecture.md, "Processes and memory".
 */
#ifndef SHMSTORE_SHMLAYOUT_H
#define SHMSTORE_SHMLAYOUT_H

#include <stdint.h>

/* First 8 bytes of every shared-memory structure. */
struct shm_layout_header {
    uint32_t magic;
    uint32_t version;
};

/* Magic numbers spell their structure in ASCII when dumped little-endian. */
#define SHM_ARENA_MAGIC   0x414d4853u   /* "SHMA" */
#define SHM_RING_MAGIC    0x524d4853u   /* "SHMR" */

#define SHM_ARENA_LAYOUT_VERSION 1u
#define SHM_RING_LAYOUT_VERSION  1u

/* The arena's first page is its header; objects live after it. Offsets on the wire are offsets
 * into the arena's fd, so they already include SHM_ARENA_DATA_START. */
#define SHM_ARENA_DATA_START 4096u

struct shm_arena_header {
    struct shm_layout_header layout;   /* SHM_ARENA_MAGIC, SHM_ARENA_LAYOUT_VERSION */
    uint64_t total_bytes;              /* size of the fd, header included */
    uint64_t data_start;               /* SHM_ARENA_DATA_START */
    uint64_t data_bytes;               /* what objects may use: the store's capacity */
};

_Static_assert(sizeof(struct shm_arena_header) <= SHM_ARENA_DATA_START, "header fits its page");

/* 0 when h is a structure of this magic in a version this build reads, else -1. */
static inline int shm_layout_check(const struct shm_layout_header *h, uint32_t magic,
                                   uint32_t version)
{
    return h->magic == magic && h->version == version ? 0 : -1;
}

#endif
