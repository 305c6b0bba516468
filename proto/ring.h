/*
 * ring.h — the release ring: one page of shared memory per connection through which a client
 * releases pins without a system call (the first piece of the per-client pin slots that the
 * shared-memory index will bring; docs/architecture.md, "Pins and the release ring").
 *
 * The daemon creates the page at HELLO and passes it with the arena fd. The client is the only
 * producer (it advances head), the daemon the only consumer (it advances tail). The daemon drains
 * a ring before every request of its connection, so a handle always sees its own releases, and
 * on a short timer while any pin exists, so other processes see them soon after. The client may
 * write anything here: the daemon reads at most SHM_RING_SLOTS ids per drain and releases only
 * pins that connection holds, so a hostile or dying client can only give up its own pins.
 */
#ifndef SHMSTORE_RING_H
#define SHMSTORE_RING_H

#include <stdatomic.h>
#include <stdint.h>

#include "shmlayout.h"

#define SHM_RING_BYTES 4096u   /* the page both sides map */
#define SHM_RING_SLOTS 256u    /* a power of two, so slot = counter % SLOTS stays right when the
                                  32-bit counters wrap */

struct shm_release_ring {
    struct shm_layout_header layout;   /* SHM_RING_MAGIC, SHM_RING_LAYOUT_VERSION */
    uint32_t pad_layout[14];
    _Atomic uint32_t head;      /* client: ids written so far (wrapping) */
    uint32_t pad_head[15];      /* head and tail on separate cache lines */
    _Atomic uint32_t tail;      /* daemon: ids consumed so far (wrapping) */
    uint32_t pad_tail[15];
    uint64_t ids[SHM_RING_SLOTS];
};

_Static_assert(sizeof(struct shm_release_ring) <= SHM_RING_BYTES, "fits the page");
_Static_assert((SHM_RING_SLOTS & (SHM_RING_SLOTS - 1)) == 0, "a power of two");

/* Client side: queue one release. 0, or -1 when the ring is full (send a RELEASE frame). */
static inline int shm_ring_push(struct shm_release_ring *r, uint64_t id)
{
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail >= SHM_RING_SLOTS)
        return -1;
    r->ids[head % SHM_RING_SLOTS] = id;
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return 0;
}

#endif
