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

#define SHM_ARENA_LAYOUT_VERSION 2u
#define SHM_RING_LAYOUT_VERSION  1u

/* The arena is a set of segments, each a memfd of its own that the daemon adds as objects need
 * memory and gives back when it has stayed empty (docs/architecture.md, "Processes and memory").
 * An object never spans segments, so an address on the wire names both: the segment's id in the
 * high bits, the byte offset inside it in the low SHM_SEGMENT_SHIFT bits. Ids are never reused
 * while the daemon runs; a segment's slot in a table of SHM_SEGMENT_SLOTS is id % slots, and the
 * daemon never gives two live segments the same slot, so a client can keep its mappings in a
 * table of that size and tell a stale entry by its id. */
#define SHM_SEGMENT_SHIFT 40u
#define SHM_SEGMENT_SLOTS 1024u
#define SHM_SEGMENT_BYTES_MAX (1ull << SHM_SEGMENT_SHIFT)
#define SHM_SEGMENT_ID_MAX ((1u << (64 - SHM_SEGMENT_SHIFT)) - 1u)
#define SHM_ADDRESS(id, offset) (((uint64_t)(id) << SHM_SEGMENT_SHIFT) | (uint64_t)(offset))
#define SHM_ADDRESS_SEGMENT(addr) ((uint32_t)((addr) >> SHM_SEGMENT_SHIFT))
#define SHM_ADDRESS_OFFSET(addr) ((addr) & (SHM_SEGMENT_BYTES_MAX - 1))

/* The handshake passes the arena's header, a page of its own: clients check it before asking
 * for any segment (MAP_SEGMENT), and learn from it how far the store may grow. */
#define SHM_ARENA_HEADER_BYTES 4096u

struct shm_arena_header {
    struct shm_layout_header layout;   /* SHM_ARENA_MAGIC, SHM_ARENA_LAYOUT_VERSION */
    uint32_t segment_shift;            /* SHM_SEGMENT_SHIFT */
    uint32_t segment_slots;            /* SHM_SEGMENT_SLOTS */
    uint64_t max_bytes;                /* the most memory the store may take, when last set */
};

_Static_assert(sizeof(struct shm_arena_header) <= SHM_ARENA_HEADER_BYTES, "header fits its page");

/* 0 when h is a structure of this magic in a version this build reads, else -1. */
static inline int shm_layout_check(const struct shm_layout_header *h, uint32_t magic,
                                   uint32_t version)
{
    return h->magic == magic && h->version == version ? 0 : -1;
}

#endif
