/*
 * arena.c — the memfds behind every object: the arena's header page and its segments.
 *
 * memfd_create gives memory with no name in any filesystem, so nothing is left in /dev/shm when
 * anything dies: the memory goes when the daemon and the last client that maps it are gone.
 * Every fd is sealed against shrinking and growing, because a client holding it could otherwise
 * ftruncate it and make every other process's next read a SIGBUS.
 *
 * A segment is reserved when it is made: its pages are allocated and zeroed then, by the thread
 * that makes it (daemon/grow.c), so a machine without the memory fails there with a clear error
 * instead of a client failing later with SIGBUS, and no client's first write pays for the
 * zeroing. Pages come from the huge page pool (MFD_HUGETLB) when asked and reserved there
 * (vm.nr_hugepages); otherwise the segment asks for transparent huge pages (MADV_HUGEPAGE, used
 * when the kernel's shmem_enabled allows "advise") and is populated through the daemon's own
 * mapping. Because shmem reaches for the OOM killer rather than failing when memory runs short,
 * each reservation is first compared with what the machine (and this cgroup) can still give.
 * A segment given back has its pages punched out before its fds close, so the memory returns
 * to the system at once even while clients still map it (they are told at their next MAP).
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
             "cannot reserve %s for the arena: only %s is %s (free memory, lower memory, or "
             "start with --no-reserve)",
             human_size(size, want, sizeof want), human_size(available, have, sizeof have),
             source);
    return -1;
}

uint64_t arena_huge_page_bytes(void)
{
    uint64_t bytes = meminfo_bytes("Hugepagesize");
    return bytes ? bytes : 2u * 1024 * 1024;
}

uint64_t arena_free_huge_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long pages = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %llu", &pages) == 1)
            break;
    fclose(f);
    return (uint64_t)pages * arena_huge_page_bytes();
}

uint64_t arena_default_memory(void)
{
    uint64_t total = meminfo_bytes("MemTotal");
    uint64_t share = total / 10 * 3;   /* 30%, as Ray's object store takes */
    uint64_t headroom = cgroup_memory_headroom();
    if (headroom != UINT64_MAX && headroom / 10 * 3 < share)
        share = headroom / 10 * 3;
    if (share < ARENA_SEGMENT_ALIGN * 32)
        share = ARENA_SEGMENT_ALIGN * 32;   /* 64 MiB even on a tiny machine */
    return share & ~(ARENA_SEGMENT_ALIGN - 1);
}

/* A read-only descriptor of the same memory, for read-only clients: reopening the fd through
 * /proc gives an independent O_RDONLY file description. */
static int reopen_readonly(int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* A memfd's mode is 0777, and reopening /proc/PID/fd/N checks that mode, not the descriptor's:
 * a read-only client could reopen its O_RDONLY descriptor read-write. 0600 leaves that to the
 * daemon's own user, which is a full client anyway. Then it can never change size. */
static int restrict_and_seal(int fd, char *why, size_t whylen)
{
    if (fchmod(fd, 0600) != 0) {
        snprintf(why, whylen, "cannot restrict a memfd's mode: %s", strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        snprintf(why, whylen, "cannot seal a memfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int arena_open(struct arena *a, uint64_t max_bytes, char *why, size_t whylen)
{
    a->header_fd = a->header_readonly_fd = -1;
    a->header = NULL;
    a->header_fd = memfd_create("shmstore-header", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (a->header_fd < 0) {
        snprintf(why, whylen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    if (ftruncate(a->header_fd, SHM_ARENA_HEADER_BYTES) != 0) {
        snprintf(why, whylen, "cannot size the arena's header: %s", strerror(errno));
        goto fail;
    }
    if (restrict_and_seal(a->header_fd, why, whylen) != 0)
        goto fail;
    a->header_readonly_fd = reopen_readonly(a->header_fd);
    if (a->header_readonly_fd < 0) {
        snprintf(why, whylen, "cannot open a read-only view of the arena: %s", strerror(errno));
        goto fail;
    }
    void *p = mmap(NULL, SHM_ARENA_HEADER_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
                   a->header_fd, 0);
    if (p == MAP_FAILED) {
        snprintf(why, whylen, "cannot map the arena's header: %s", strerror(errno));
        goto fail;
    }
    a->header = p;
    a->header->layout = (struct shm_layout_header){SHM_ARENA_MAGIC, SHM_ARENA_LAYOUT_VERSION};
    a->header->segment_shift = SHM_SEGMENT_SHIFT;
    a->header->segment_slots = SHM_SEGMENT_SLOTS;
    a->header->max_bytes = max_bytes;
    return 0;

fail:
    arena_close(a);
    return -1;
}

void arena_close(struct arena *a)
{
    if (a->header)
        munmap(a->header, SHM_ARENA_HEADER_BYTES);
    if (a->header_fd >= 0)
        close(a->header_fd);
    if (a->header_readonly_fd >= 0)
        close(a->header_readonly_fd);
    a->header = NULL;
    a->header_fd = a->header_readonly_fd = -1;
}

/* Allocate and zero every page now, through the daemon's mapping: transparent huge pages where
 * the kernel gives them to shmem on request, 4 KiB pages otherwise. Kernels without
 * MADV_POPULATE_WRITE get fallocate, which reserves the same pages without mapping them. */
static int reserve_pages(struct arena_segment *seg, char *why, size_t whylen)
{
    char human[32];
    int err = 0;
#ifdef MADV_POPULATE_WRITE
    if (madvise(seg->base, seg->bytes, MADV_POPULATE_WRITE) == 0)
        return 0;
    err = errno;
    if (err == EINVAL)
#endif
        err = posix_fallocate(seg->fd, 0, (off_t)seg->bytes);
    if (!err)
        return 0;
    snprintf(why, whylen, "cannot reserve %s of memory for a segment: %s (free memory, lower "
             "memory, or start with --no-reserve)", human_size(seg->bytes, human, sizeof human),
             strerror(err));
    return -1;
}

static int make_memfd(struct arena_segment *seg, int huge, char *why, size_t whylen)
{
    seg->fd = memfd_create("shmstore-arena",
                           MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));
    if (seg->fd < 0) {
        snprintf(why, whylen, "memfd_create%s: %s", huge ? " (huge pages)" : "", strerror(errno));
        return -1;
    }
    if (ftruncate(seg->fd, (off_t)seg->bytes) != 0) {
        char human[32];
        snprintf(why, whylen, "cannot size a segment to %s: %s",
                 human_size(seg->bytes, human, sizeof human), strerror(errno));
        return -1;
    }
    /* Huge pages are reserved by fallocate, which also fails cleanly when the pool runs short
     * (hugetlbfs never reaches for the OOM killer). */
    if (huge) {
        int err = posix_fallocate(seg->fd, 0, (off_t)seg->bytes);
        if (err) {
            char human[32];
            snprintf(why, whylen, "cannot reserve %s of huge pages: %s (vm.nr_hugepages has %s "
                     "free)", human_size(seg->bytes, human, sizeof human), strerror(err),
                     human_size(arena_free_huge_bytes(), (char[32]){0}, 32));
            return -1;
        }
    }
    return restrict_and_seal(seg->fd, why, whylen);
}

int arena_segment_create(struct arena_segment *seg, uint64_t bytes, enum hugepages_mode huge,
                         int reserve, char *why, size_t whylen, char *note, size_t notelen)
{
    memset(seg, 0, sizeof *seg);
    seg->fd = seg->readonly_fd = -1;
    seg->bytes = (bytes + ARENA_SEGMENT_ALIGN - 1) & ~(ARENA_SEGMENT_ALIGN - 1);
    note[0] = '\0';
    int use_huge = 0;
    if (huge != HUGEPAGES_NO) {
        uint64_t free_huge = arena_free_huge_bytes();
        use_huge = free_huge >= seg->bytes;
        if (!use_huge && huge == HUGEPAGES_YES) {
            char want[32], have[32];
            snprintf(why, whylen, "hugepages = yes, but %s of huge pages are free and a segment "
                     "needs %s: reserve more (sysctl vm.nr_hugepages) or set hugepages = auto",
                     human_size(free_huge, have, sizeof have),
                     human_size(seg->bytes, want, sizeof want));
            return -1;
        }
    }
    if (reserve && !use_huge && check_memory_available(seg->bytes, why, whylen) != 0)
        return -1;
    if (make_memfd(seg, use_huge, why, whylen) != 0) {
        if (!use_huge || huge == HUGEPAGES_YES)
            goto fail;
        /* auto: the pool ran short between the check and the reservation. */
        snprintf(note, notelen, "huge pages ran short (%s); this segment uses 4 KiB pages", why);
        arena_segment_destroy(seg, 0);
        seg->fd = seg->readonly_fd = -1;
        use_huge = 0;
        if ((reserve && check_memory_available(seg->bytes, why, whylen) != 0) ||
            make_memfd(seg, 0, why, whylen) != 0)
            goto fail;
    }
    seg->huge = use_huge;
    seg->readonly_fd = reopen_readonly(seg->fd);
    if (seg->readonly_fd < 0) {
        snprintf(why, whylen, "cannot open a read-only view of a segment: %s", strerror(errno));
        goto fail;
    }
    void *p = mmap(NULL, seg->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, seg->fd, 0);
    if (p == MAP_FAILED) {
        snprintf(why, whylen, "cannot map a segment: %s", strerror(errno));
        goto fail;
    }
    seg->base = p;
    if (!use_huge) {
        /* Ignored where shmem THP is off; then the pages are 4 KiB. */
        (void)madvise(seg->base, seg->bytes, MADV_HUGEPAGE);
        if (reserve && reserve_pages(seg, why, whylen) != 0)
            goto fail;
    }
    return 0;

fail:
    arena_segment_destroy(seg, 0);
    return -1;
}

void arena_segment_destroy(struct arena_segment *seg, int give_back)
{
    /* Clients may still map it: punching its pages out gives the memory back now. Only for a
     * segment given back empty: at shutdown, objects clients still hold must stay readable. */
    if (give_back && seg->fd >= 0)
        (void)fallocate(seg->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)seg->bytes);
    if (seg->base)
        munmap(seg->base, seg->bytes);
    if (seg->fd >= 0)
        close(seg->fd);
    if (seg->readonly_fd >= 0)
        close(seg->readonly_fd);
    seg->base = NULL;
    seg->fd = seg->readonly_fd = -1;
}
