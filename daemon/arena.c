/*
 * arena.c — the memfd behind every object.
 *
 * memfd_create gives memory with no name in any filesystem, so nothing is left in /dev/shm when
 * anything dies: the memory goes when the daemon and the last client that maps it are gone.
 * The fd is sealed against shrinking and growing, because a client holding the fd could
 * otherwise ftruncate it and make every other process's next read a SIGBUS. Reservation uses
 * fallocate, which on shmem allocates every page and fails with ENOSPC/ENOMEM when the memory is
 * not there, instead of letting a later page fault fail in a client.
 */
#define _GNU_SOURCE
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "humansize.h"

int arena_create(struct arena *a, uint64_t size, int reserve, char *why, size_t whylen)
{
    char human[32];
    long page = sysconf(_SC_PAGESIZE);
    size = (size + (uint64_t)page - 1) & ~((uint64_t)page - 1);
    a->fd = a->readonly_fd = -1;
    a->base = NULL;
    a->size = size;

    a->fd = memfd_create("shmstore-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (a->fd < 0) {
        snprintf(why, whylen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    if (ftruncate(a->fd, (off_t)size) != 0) {
        snprintf(why, whylen, "cannot size the arena to %s: %s",
                 human_size(size, human, sizeof human), strerror(errno));
        goto fail;
    }
    if (reserve) {
        int err = posix_fallocate(a->fd, 0, (off_t)size);
        if (err) {
            snprintf(why, whylen,
                     "cannot reserve %s of memory for the arena: %s (lower --memory, free memory, "
                     "or start with --no-reserve)",
                     human_size(size, human, sizeof human), strerror(err));
            goto fail;
        }
    }
    if (fcntl(a->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        snprintf(why, whylen, "cannot seal the arena: %s", strerror(errno));
        goto fail;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", a->fd);
    a->readonly_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (a->readonly_fd < 0) {
        snprintf(why, whylen, "cannot open a read-only view of the arena: %s", strerror(errno));
        goto fail;
    }
    a->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->base == MAP_FAILED) {
        a->base = NULL;
        snprintf(why, whylen, "cannot map the arena: %s", strerror(errno));
        goto fail;
    }
    return 0;

fail:
    arena_destroy(a);
    return -1;
}

void arena_destroy(struct arena *a)
{
    if (a->base)
        munmap(a->base, a->size);
    if (a->fd >= 0)
        close(a->fd);
    if (a->readonly_fd >= 0)
        close(a->readonly_fd);
    a->base = NULL;
    a->fd = a->readonly_fd = -1;
}
