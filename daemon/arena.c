/*
 * arena.c — the memfd behind every object.
 *
 * memfd_create gives memory with no name in any filesystem, so nothing is left in /dev/shm when
 * anything dies: the memory goes when the daemon and the last client that maps it are gone.
 * The fd is sealed against shrinking and growing, because a client holding the fd could
 * otherwise ftruncate it and make every other process's next read a SIGBUS. Reservation uses
 * fallocate, which on shmem allocates every page and fails with ENOSPC/ENOMEM when the memory is
 * not there, instead of letting a later page fault fail in a client. Because shmem's fallocate
 * reaches for the OOM killer rather than failing when memory runs short, the request is first
 * compared with what the machine (and this cgroup) can still give.
 */
#define _GNU_SOURCE
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "humansize.h"
#include "shmlayout.h"

/* A number from a "Key:   123 kB" line of /proc/meminfo, in bytes; 0 when absent. */
static uint64_t meminfo_bytes(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t value = 0;
    size_t key_len = strlen(key);
    while (fgets(line, sizeof line, f)) {
        unsigned long long kib;
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ':' &&
            sscanf(line + key_len + 1, "%llu", &kib) == 1) {
            value = (uint64_t)kib * 1024;
            break;
        }
    }
    fclose(f);
    return value;
}

/* What this process's cgroup (v2) still allows, or UINT64_MAX when unlimited or unknown. */
static uint64_t cgroup_memory_headroom(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return UINT64_MAX;
    char line[512], path[600];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            found = snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3) < (int)sizeof path;
            break;
        }
    }
    fclose(f);
    if (!found)
        return UINT64_MAX;
    char file[700];
    unsigned long long max = 0, current = 0;
    snprintf(file, sizeof file, "%s/memory.max", path);
    f = fopen(file, "r");
    int have_max = f && fscanf(f, "%llu", &max) == 1;   /* "max" does not parse: unlimited */
    if (f)
        fclose(f);
    if (!have_max)
        return UINT64_MAX;
    snprintf(file, sizeof file, "%s/memory.current", path);
    f = fopen(file, "r");
    if (f) {
        if (fscanf(f, "%llu", &current) != 1)
            current = 0;
        fclose(f);
    }
    return max > current ? max - current : 0;
}

/* Reserving more than the machine can give does not fail cleanly on shmem: fallocate allocates
 * page after page until the OOM killer picks a victim. So refuse up front what cannot fit. */
static int check_memory_available(uint64_t size, char *why, size_t whylen)
{
    uint64_t available = meminfo_bytes("MemAvailable");
    uint64_t headroom = cgroup_memory_headroom();
    const char *source = "available on this machine (MemAvailable)";
    if (headroom < available || available == 0) {
        available = headroom;
        source = "left under this service's memory limit (cgroup memory.max)";
    }
    if (available == UINT64_MAX || size <= available)
        return 0;
    char want[32], have[32];
    snprintf(why, whylen,
             "cannot reserve %s for the arena: only %s is %s (lower --memory, free memory, or "
             "start with --no-reserve)",
             human_size(size, want, sizeof want), human_size(available, have, sizeof have),
             source);
    return -1;
}

int arena_create(struct arena *a, uint64_t data_bytes, int reserve, char *why, size_t whylen)
{
    char human[32];
    long page = sysconf(_SC_PAGESIZE);
    data_bytes = (data_bytes + (uint64_t)page - 1) & ~((uint64_t)page - 1);
    const uint64_t size = data_bytes + SHM_ARENA_DATA_START;
    a->fd = a->readonly_fd = -1;
    a->base = a->data = NULL;
    a->size = size;
    a->data_bytes = data_bytes;

    if (reserve && check_memory_available(size, why, whylen) != 0)
        return -1;
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
    /* A memfd is created with mode 0777, and reopening /proc/PID/fd/N checks that mode, not
     * the descriptor's: a read-only client could reopen its O_RDONLY descriptor read-write.
     * 0600 leaves that to the daemon's own user, which is a full client anyway. */
    if (fchmod(a->fd, 0600) != 0) {
        snprintf(why, whylen, "cannot restrict the arena's mode: %s", strerror(errno));
        goto fail;
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
    struct shm_arena_header *header = (struct shm_arena_header *)a->base;
    header->layout = (struct shm_layout_header){SHM_ARENA_MAGIC, SHM_ARENA_LAYOUT_VERSION};
    header->total_bytes = size;
    header->data_start = SHM_ARENA_DATA_START;
    header->data_bytes = data_bytes;
    a->data = a->base + SHM_ARENA_DATA_START;
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
    a->base = a->data = NULL;
    a->fd = a->readonly_fd = -1;
}
