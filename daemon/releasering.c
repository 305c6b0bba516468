/*
 * releasering.c — per-connection release rings, daemon side.
 *
 * Each ring is its own one-page memfd rather than a slice of the arena, so that a client can map
 * only its own ring and the arena stays purely payload. The page is sealed against resizing like
 * the arena, so a client cannot make the daemon's next read of it fault. Everything read from the
 * page is untrusted: the count is clamped to the ring's size and each id goes through
 * store_release, which refuses ids the connection holds no pin on.
 */
#define _GNU_SOURCE
#include "releasering.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int release_ring_create(struct shm_release_ring **ring, int *fd)
{
    int memfd = memfd_create("shmstore-release-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0)
        return -1;
    if (ftruncate(memfd, SHM_RING_BYTES) != 0 ||
        fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        goto fail;
    void *page = mmap(NULL, SHM_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (page == MAP_FAILED)
        goto fail;
    *ring = page;
    (*ring)->layout = (struct shm_layout_header){SHM_RING_MAGIC, SHM_RING_LAYOUT_VERSION};
    *fd = memfd;
    return 0;
fail:;
    int saved = errno;
    close(memfd);
    errno = saved;
    return -1;
}

void release_ring_destroy(struct shm_release_ring *ring)
{
    if (ring)
        munmap(ring, SHM_RING_BYTES);
}

unsigned release_ring_drain(struct shm_release_ring *ring, store_t *s, struct store_client *cl)
{
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t count = head - tail;
    if (count == 0)
        return 0;
    if (count > SHM_RING_SLOTS)   /* only a broken or hostile client writes this */
        count = SHM_RING_SLOTS;
    for (uint32_t i = 0; i < count; i++)
        store_release(s, cl, ring->ids[(tail + i) % SHM_RING_SLOTS], NULL);
    atomic_store_explicit(&ring->tail, tail + count, memory_order_release);
    return count;
}
