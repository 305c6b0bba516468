/*
 * persist.c — the data directory of durable objects: object files and the LMDB catalogue
 * (persist.h; docs/architecture.md, "Durable objects").
 *
 * An object file is objects/ID (16 hex digits): the payload, then the metadata, nothing else; its
 * length, checksum, name and seal time live in the catalogue entry. Writing goes temp file ->
 * fsync -> rename; the caller syncs the directory once per batch and only then commits the
 * entries, so a committed entry always names a whole file. A crash at any point leaves either the
 * old state or files no entry names (orphans, removed at the next start). LMDB's own commit is
 * synchronous (default flags), which is the catalogue's fsync.
 */
#define _GNU_SOURCE
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "humansize.h"

#define CATALOGUE_VERSION 1u
#define MAP_SIZE_START (1ull << 20)   /* doubled whenever a commit finds it full */
#define IO_CHUNK (8u << 20)

struct persist {
    char *dir;
    int objects_fd, corrupt_fd, spill_fd;
    MDB_env *env;
    MDB_dbi dbi;
    size_t map_size;
};

/* The value stored under a name: a version word first so a later layout can be told apart, then
 * flags, the entry, and for an inline object its payload and metadata right after. */
struct stored_entry {
    uint64_t id, size, meta_size, checksum;
    int64_t sealed_ns;
};
struct catalogue_value {
    uint32_t version, flags;
    struct stored_entry entry;
};
#define VALUE_INLINE 1u

/* The entry in val, and where its inline bytes are (NULL when it has a file). -1 for a value of
 * another layout, which is skipped, never misread. */
static int decode_value(const MDB_val *val, struct persist_entry *e, const uint8_t **bytes)
{
    struct catalogue_value v;
    if (val->mv_size < sizeof v)
        return -1;
    memcpy(&v, val->mv_data, sizeof v);
    const int has_bytes = (v.flags & VALUE_INLINE) != 0;
    if (v.version != CATALOGUE_VERSION ||
        (has_bytes && (v.entry.size > PERSIST_INLINE_MAX ||
                       v.entry.meta_size > PERSIST_INLINE_MAX)) ||
        val->mv_size != sizeof v + (has_bytes ? v.entry.size + v.entry.meta_size : 0))
        return -1;
    *e = (struct persist_entry){v.entry.id, v.entry.size, v.entry.meta_size, v.entry.checksum,
                                v.entry.sealed_ns, (uint32_t)has_bytes};
    if (bytes)
        *bytes = has_bytes ? (const uint8_t *)val->mv_data + sizeof v : NULL;
    return 0;
}

static int say(char *why, size_t whylen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t whylen, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return err > 0 ? -err : err;
}

static void object_file_name(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%016llx", (unsigned long long)id);
}

const char *persist_dir(const persist_t *p)
{
    return p->dir;
}

/* ---- the checksum --------------------------------------------------------------------------- */

#define SUM_PRIME1 0x9E3779B185EBCA87ull
#define SUM_PRIME2 0xC2B2AE3D27D4EB4Full

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t sum_round(uint64_t acc, uint64_t word)
{
    return rotl64(acc + word * SUM_PRIME2, 31) * SUM_PRIME1;
}

static inline uint64_t load64(const unsigned char *q)
{
    uint64_t v;
    memcpy(&v, q, sizeof v);
    return v;
}

uint64_t persist_checksum(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *q = data;
    /* Four lanes have no dependency on each other, so the multiplies overlap. */
    uint64_t lane[4] = {seed + SUM_PRIME1 + SUM_PRIME2, seed + SUM_PRIME2, seed,
                        seed - SUM_PRIME1};
    size_t i = 0;
    for (; i + 32 <= len; i += 32)
        for (int k = 0; k < 4; k++)
            lane[k] = sum_round(lane[k], load64(q + i + 8 * k));
    uint64_t h = rotl64(lane[0], 1) + rotl64(lane[1], 7) + rotl64(lane[2], 12) +
                 rotl64(lane[3], 18);
    for (; i + 8 <= len; i += 8)
        h = sum_round(h, load64(q + i));
    for (; i < len; i++)
        h = rotl64(h ^ (q[i] * SUM_PRIME1), 11) * SUM_PRIME2;
    h ^= (uint64_t)len;
    h ^= h >> 33;
    h *= SUM_PRIME2;
    h ^= h >> 29;
    return h;
}

uint64_t persist_object_checksum(const void *data, uint64_t size, const void *meta,
                                 uint64_t meta_size)
{
    return persist_checksum(meta, meta_size, persist_checksum(data, size, 0));
}

/* ---- opening -------------------------------------------------------------------------------- */

static int open_subdir(int dirfd, const char *name, const char *dir, char *why, size_t whylen)
{
    if (mkdirat(dirfd, name, 0750) != 0 && errno != EEXIST)
        return say(why, whylen, errno, "cannot create %s/%s: %s", dir, name, strerror(errno));
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return say(why, whylen, errno, "cannot open %s/%s: %s", dir, name, strerror(errno));
    return fd;
}

static int lmdb_error(int rc)
{
    /* LMDB returns errno values for system errors and its own codes (negative) otherwise. */
    if (rc > 0)
        return -rc;
    return rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
}

/* Remove every file of a directory (best effort: what cannot go is overwritten later). */
static void empty_directory(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            unlinkat(dirfd, de->d_name, 0);
    closedir(d);
}

int persist_open(const char *dir, persist_t **out, char *why, size_t whylen)
{
    *out = NULL;
    persist_t *p = calloc(1, sizeof *p);
    if (!p)
        return say(why, whylen, ENOMEM, "out of memory");
    p->objects_fd = p->corrupt_fd = p->spill_fd = -1;
    int rc;
    int dirfd = -1, catalogue_fd = -1;
    p->dir = strdup(dir);
    if (!p->dir) {
        rc = say(why, whylen, ENOMEM, "out of memory");
        goto fail;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        rc = say(why, whylen, errno, "cannot create data directory %s: %s", dir,
                 strerror(errno));
        goto fail;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rc = say(why, whylen, errno, "cannot open data directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((rc = p->objects_fd = open_subdir(dirfd, "objects", dir, why, whylen)) < 0 ||
        (rc = p->corrupt_fd = open_subdir(dirfd, "corrupt", dir, why, whylen)) < 0 ||
        (rc = p->spill_fd = open_subdir(dirfd, "spill", dir, why, whylen)) < 0 ||
        (rc = catalogue_fd = open_subdir(dirfd, "catalogue", dir, why, whylen)) < 0)
        goto fail;
    close(catalogue_fd);
    catalogue_fd = -1;
    /* Spilled objects were transient: they never outlive the daemon that spilled them. */
    empty_directory(p->spill_fd);
    /* The new subdirectories' names must survive a crash as well. */
    fsync(dirfd);

    char path[4200];
    snprintf(path, sizeof path, "%s/catalogue", dir);
    p->map_size = MAP_SIZE_START;
    if ((rc = mdb_env_create(&p->env)) != 0 ||
        (rc = mdb_env_set_mapsize(p->env, p->map_size)) != 0 ||
        /* NOTLS: the writer thread and the start-up code use transactions of their own. */
        (rc = mdb_env_open(p->env, path, MDB_NOTLS, 0640)) != 0) {
        rc = say(why, whylen, lmdb_error(rc), "cannot open the catalogue in %s: %s", path,
                 mdb_strerror(rc));
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(p->env, &dead);
    /* A map another process grew is larger than ours: take its size. */
    MDB_envinfo info;
    if (mdb_env_info(p->env, &info) == 0 && info.me_mapsize > p->map_size)
        p->map_size = info.me_mapsize;
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(p->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &p->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        rc = say(why, whylen, lmdb_error(rc), "cannot open the catalogue in %s: %s", path,
                 mdb_strerror(rc));
        goto fail;
    }
    close(dirfd);
    *out = p;
    return 0;
fail:
    if (dirfd >= 0)
        close(dirfd);
    if (catalogue_fd >= 0)
        close(catalogue_fd);
    persist_close(p);
    return rc;
}

void persist_close(persist_t *p)
{
    if (!p)
        return;
    if (p->env)
        mdb_env_close(p->env);
    if (p->objects_fd >= 0)
        close(p->objects_fd);
    if (p->corrupt_fd >= 0)
        close(p->corrupt_fd);
    if (p->spill_fd >= 0)
        close(p->spill_fd);
    free(p->dir);
    free(p);
}

/* persist_checksum over bytes that arrive in pieces: the same lanes over whole 32-byte blocks,
 * the same tail and finish, so a streamed sum equals the one-buffer sum of the same bytes. */
struct sum_stream {
    uint64_t lane[4];
    unsigned char carry[32];   /* bytes of a block not yet complete */
    size_t carried;
    uint64_t len;
};

static void sum_stream_init(struct sum_stream *st, uint64_t seed)
{
    st->lane[0] = seed + SUM_PRIME1 + SUM_PRIME2;
    st->lane[1] = seed + SUM_PRIME2;
    st->lane[2] = seed;
    st->lane[3] = seed - SUM_PRIME1;
    st->carried = 0;
    st->len = 0;
}

static void sum_stream_block(struct sum_stream *st, const unsigned char *q)
{
    for (int k = 0; k < 4; k++)
        st->lane[k] = sum_round(st->lane[k], load64(q + 8 * k));
}

static void sum_stream_add(struct sum_stream *st, const unsigned char *q, size_t n)
{
    if (n == 0)
        return;   /* q may be NULL (no metadata) */
    st->len += n;
    if (st->carried) {
        size_t take = 32 - st->carried < n ? 32 - st->carried : n;
        memcpy(st->carry + st->carried, q, take);
        st->carried += take;
        q += take;
        n -= take;
        if (st->carried < 32)
            return;
        sum_stream_block(st, st->carry);
        st->carried = 0;
    }
    for (; n >= 32; q += 32, n -= 32)
        sum_stream_block(st, q);
    memcpy(st->carry, q, n);
    st->carried = n;
}

static uint64_t sum_stream_end(const struct sum_stream *st)
{
    const unsigned char *q = st->carry;
    size_t i = 0, len = st->carried;
    uint64_t h = rotl64(st->lane[0], 1) + rotl64(st->lane[1], 7) + rotl64(st->lane[2], 12) +
                 rotl64(st->lane[3], 18);
    for (; i + 8 <= len; i += 8)
        h = sum_round(h, load64(q + i));
    for (; i < len; i++)
        h = rotl64(h ^ (q[i] * SUM_PRIME1), 11) * SUM_PRIME2;
    h ^= st->len;
    h ^= h >> 33;
    h *= SUM_PRIME2;
    h ^= h >> 29;
    return h;
}

/* ---- object files --------------------------------------------------------------------------- */

static int write_all(int fd, const void *buf, uint64_t len)
{
    const unsigned char *q = buf;
    while (len > 0) {
        size_t chunk = len > IO_CHUNK ? IO_CHUNK : (size_t)len;
        ssize_t w = write(fd, q, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        q += w;
        len -= (uint64_t)w;
    }
    return 0;
}

static const char *disk_problem(int err)
{
    switch (err) {
    case ENOSPC: case EDQUOT: return "disk full";
    case EROFS: return "read-only file system";
    case EIO: return "I/O error";
    default: return "cannot write";
    }
}

/* Write payload then metadata to fd, summing them (persist_object_checksum) as each piece is
 * written, so the bytes are read once while cache-hot. No posix_fallocate first: on ext4 it made
 * a 64 MiB durable put 2x slower (unwritten extents converted at fsync), and write() reports a
 * full disk just as well. With writeback, each IO_CHUNK of payload is handed to the disk as soon
 * as it is in the page cache, and the rest once the file is written
 * (sync_file_range(SYNC_FILE_RANGE_WRITE) starts writeback and does not wait): the disk writes
 * while the next chunk is copied, so a later fsync finds little left (a 256 MiB durable put went
 * from 0.6 to 0.9 of write + one fsync, tests/bench durable.c). Only a hint: its errors surface
 * at the fsync. 0 or a negative errno. */
static int write_summed(int fd, const void *data, uint64_t size, const void *meta,
                        uint64_t meta_size, uint64_t *checksum, int writeback)
{
    struct sum_stream sum;
    sum_stream_init(&sum, 0);
    int rc = 0;
    const unsigned char *q = data;
    uint64_t left = size, written = 0, started = 0;
    while (rc == 0 && left > 0) {
        size_t chunk = left > IO_CHUNK ? IO_CHUNK : (size_t)left;
        for (size_t at = 0; rc == 0 && at < chunk; at += 1u << 20) {
            size_t piece = chunk - at < (1u << 20) ? chunk - at : (1u << 20);
            sum_stream_add(&sum, q + at, piece);
            rc = write_all(fd, q + at, piece);
        }
        q += chunk;
        left -= chunk;
        written += chunk;
        if (writeback && rc == 0 && chunk == IO_CHUNK) {
            (void)sync_file_range(fd, (off_t)started, (off_t)(written - started),
                                  SYNC_FILE_RANGE_WRITE);
            started = written;
        }
    }
    sum_stream_init(&sum, sum_stream_end(&sum));
    sum_stream_add(&sum, meta, meta_size);
    *checksum = sum_stream_end(&sum);
    if (rc == 0)
        rc = write_all(fd, meta, meta_size);
    if (writeback && rc == 0)
        (void)sync_file_range(fd, (off_t)started, 0, SYNC_FILE_RANGE_WRITE);
    return rc;
}

int persist_write_object(persist_t *p, uint64_t id, const void *data, uint64_t size,
                         const void *meta, uint64_t meta_size, uint64_t *checksum, char *why,
                         size_t whylen)
{
    char name[32], temp[40];
    object_file_name(id, name, sizeof name);
    snprintf(temp, sizeof temp, "%s.tmp", name);
    /* A new id's file is written under its own name: no catalogue entry names it until its batch
     * has committed, so until then it is an orphan like a temporary file (removed at start), and
     * it needs no rename, whose directory update every later fsync of the batch would write
     * again (ext4: 0.8-1.7 ms per file in a batch of 1,000, 0.1 ms without). Only a file that
     * exists already (an object written again, as durable_repair does) is written beside it and
     * renamed over it by persist_publish_object, so the named file is never torn by a crash. */
    const char *file = name;
    int fd = openat(p->objects_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
        file = temp;
        fd = openat(p->objects_fd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    }
    if (fd < 0) {
        int err = errno;
        return say(why, whylen, err, "%s: cannot create %s/objects/%s: %s", disk_problem(err),
                   p->dir, file, strerror(err));
    }
    int rc = write_summed(fd, data, size, meta, meta_size, checksum, 1);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0) {
        unlinkat(p->objects_fd, file, 0);
        char need[HUMAN_SIZE_MAX];
        return say(why, whylen, rc, "%s: needed %s in %s: %s", disk_problem(-rc),
                   human_size_exact(size + meta_size, need, sizeof need), p->dir,
                   strerror(-rc));
    }
    return 0;
}

int persist_publish_object(persist_t *p, uint64_t id, char *why, size_t whylen)
{
    char name[32], temp[40];
    object_file_name(id, name, sizeof name);
    snprintf(temp, sizeof temp, "%s.tmp", name);
    /* Under its own name, unless persist_write_object wrote it beside an existing file. */
    int rc = 0, renaming = 1;
    int fd = openat(p->objects_fd, temp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        renaming = 0;
        fd = openat(p->objects_fd, name, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 || fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && renaming && renameat(p->objects_fd, temp, p->objects_fd, name) != 0)
        rc = -errno;
    if (rc != 0) {
        const char *file = renaming ? temp : name;
        unlinkat(p->objects_fd, file, 0);
        return say(why, whylen, rc, "%s: cannot sync %s/objects/%s: %s", disk_problem(-rc),
                   p->dir, file, strerror(-rc));
    }
    return 0;
}

int persist_sync_objects(persist_t *p, char *why, size_t whylen)
{
    if (fsync(p->objects_fd) != 0)
        return say(why, whylen, errno, "%s: cannot sync %s/objects: %s", disk_problem(errno),
                   p->dir, strerror(errno));
    return 0;
}

void persist_remove_object(persist_t *p, uint64_t id)
{
    char name[32];
    object_file_name(id, name, sizeof name);
    unlinkat(p->objects_fd, name, 0);
}

/* Read len bytes into buf in IO_CHUNK reads, adding each chunk to sum while it is still in the
 * cache (one pass over memory instead of two). */
static int read_summed(int fd, void *buf, uint64_t len, uint64_t *got, struct sum_stream *sum)
{
    unsigned char *q = buf;
    *got = 0;
    while (len > 0) {
        size_t chunk = len > IO_CHUNK ? IO_CHUNK : (size_t)len;
        ssize_t r = read(fd, q, chunk);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        sum_stream_add(sum, q, (size_t)r);
        q += r;
        len -= (uint64_t)r;
        *got += (uint64_t)r;
    }
    return 0;
}

static int read_checked(persist_t *p, int dirfd, const char *area, const struct persist_entry *e,
                        void *payload, void *meta, char *why, size_t whylen)
{
    struct sum_stream sum;
    sum_stream_init(&sum, 0);
    char name[32];
    object_file_name(e->id, name, sizeof name);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return say(why, whylen, errno, "%s/%s/%s: %s", p->dir, area, name, strerror(errno));
    struct stat st;
    int rc = 0;
    uint64_t got = 0, got_meta = 0;
    if (fstat(fd, &st) != 0)
        rc = say(why, whylen, errno, "%s/%s/%s: %s", p->dir, area, name, strerror(errno));
    else if ((uint64_t)st.st_size != e->size + e->meta_size)
        rc = say(why, whylen, EBADMSG, "%s/%s/%s: torn: %llu bytes, the catalogue says %llu",
                 p->dir, area, name, (unsigned long long)st.st_size,
                 (unsigned long long)(e->size + e->meta_size));
    else if ((rc = read_summed(fd, payload, e->size, &got, &sum)) != 0 ||
             (sum_stream_init(&sum, sum_stream_end(&sum)),
              rc = read_summed(fd, meta, e->meta_size, &got_meta, &sum)) != 0)
        rc = say(why, whylen, rc, "%s/%s/%s: %s", p->dir, area, name, strerror(-rc));
    else if (got != e->size || got_meta != e->meta_size)
        rc = say(why, whylen, EBADMSG, "%s/%s/%s: torn: shorter than the catalogue says",
                 p->dir, area, name);
    else if (sum_stream_end(&sum) != e->checksum)
        rc = say(why, whylen, EBADMSG, "%s/%s/%s: checksum mismatch", p->dir, area, name);
    close(fd);
    return rc;
}

int persist_read_object(persist_t *p, const struct persist_entry *e, void *payload, void *meta,
                        char *why, size_t whylen)
{
    return read_checked(p, p->objects_fd, "objects", e, payload, meta, why, whylen);
}

int persist_read_inline(persist_t *p, const char *name, size_t name_len,
                        const struct persist_entry *e, void *payload, void *meta, char *why,
                        size_t whylen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return say(why, whylen, lmdb_error(rc), "cannot read the catalogue in %s: %s", p->dir,
                   mdb_strerror(rc));
    MDB_val key = {.mv_size = name_len, .mv_data = (void *)name}, val;
    struct persist_entry found;
    const uint8_t *bytes = NULL;
    rc = mdb_get(txn, p->dbi, &key, &val);
    if (rc == MDB_NOTFOUND)
        rc = say(why, whylen, ENOENT, "%.*s: no catalogue entry", (int)name_len, name);
    else if (rc != 0)
        rc = say(why, whylen, lmdb_error(rc), "%.*s: cannot read its catalogue entry: %s",
                 (int)name_len, name, mdb_strerror(rc));
    else if (decode_value(&val, &found, &bytes) != 0 || found.id != e->id || !bytes)
        rc = say(why, whylen, ENOENT, "%.*s: the catalogue names another object now",
                 (int)name_len, name);
    else if (found.size != e->size || found.meta_size != e->meta_size)
        rc = say(why, whylen, EBADMSG, "%.*s: torn catalogue entry", (int)name_len, name);
    else if (persist_object_checksum(bytes, e->size, bytes + e->size, e->meta_size) !=
             e->checksum)
        rc = say(why, whylen, EBADMSG, "%.*s: checksum mismatch in its catalogue entry",
                 (int)name_len, name);
    else {
        if (e->size)
            memcpy(payload, bytes, e->size);
        if (e->meta_size)
            memcpy(meta, bytes + e->size, e->meta_size);
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ---- the spill area ------------------------------------------------------------------------- */

int persist_write_spill(persist_t *p, uint64_t id, const void *data, uint64_t size,
                        const void *meta, uint64_t meta_size, uint64_t *checksum, char *why,
                        size_t whylen)
{
    char name[32];
    object_file_name(id, name, sizeof name);
    int fd = openat(p->spill_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        int err = errno;
        return say(why, whylen, err, "%s: cannot create %s/spill/%s: %s", disk_problem(err),
                   p->dir, name, strerror(err));
    }
    /* No writeback hint: a spill file matters only while its daemon lives, never synced. */
    int rc = write_summed(fd, data, size, meta, meta_size, checksum, 0);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0) {
        unlinkat(p->spill_fd, name, 0);
        return say(why, whylen, rc, "%s: cannot spill %llu bytes to %s/spill: %s",
                   disk_problem(-rc), (unsigned long long)(size + meta_size), p->dir,
                   strerror(-rc));
    }
    return 0;
}

int persist_read_spill(persist_t *p, const struct persist_entry *e, void *payload, void *meta,
                       char *why, size_t whylen)
{
    return read_checked(p, p->spill_fd, "spill", e, payload, meta, why, whylen);
}

void persist_remove_spill(persist_t *p, uint64_t id)
{
    char name[32];
    object_file_name(id, name, sizeof name);
    unlinkat(p->spill_fd, name, 0);
}

/* ---- the catalogue -------------------------------------------------------------------------- */

/* Ids whose files a transaction unbinds, removed once it has committed. */
struct unbound {
    uint64_t *ids;
    size_t n, cap;
};

static int unbound_add(struct unbound *u, uint64_t id)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        uint64_t *ids = realloc(u->ids, cap * sizeof *ids);
        if (!ids)
            return -ENOMEM;
        u->ids = ids;
        u->cap = cap;
    }
    u->ids[u->n++] = id;
    return 0;
}

static int lookup(MDB_txn *txn, MDB_dbi dbi, const char *name, size_t len,
                  struct persist_entry *e)
{
    MDB_val key = {.mv_size = len, .mv_data = (void *)name}, val;
    int rc = mdb_get(txn, dbi, &key, &val);
    if (rc != 0)
        return rc;
    return decode_value(&val, e, NULL) == 0 ? 0 : MDB_CORRUPTED;
}

static int apply_ops(persist_t *p, MDB_txn *txn, const struct persist_op *ops, size_t n,
                     struct unbound *u)
{
    for (size_t i = 0; i < n; i++) {
        const struct persist_op *op = &ops[i];
        MDB_val key = {.mv_size = op->name_len, .mv_data = (void *)op->name};
        struct persist_entry old;
        int found = lookup(txn, p->dbi, op->name, op->name_len, &old);
        if (found != 0 && found != MDB_NOTFOUND && found != MDB_CORRUPTED)
            return found;
        int rc;
        if (op->kind == PERSIST_REBIND && (found != 0 || old.id != op->entry.id))
            continue;   /* replaced or dropped meanwhile: nothing to repair any more */
        if (op->kind == PERSIST_BIND || op->kind == PERSIST_REBIND) {
            const struct persist_entry *e = &op->entry;
            struct catalogue_value v = {
                .version = CATALOGUE_VERSION, .flags = e->inline_copy ? VALUE_INLINE : 0,
                .entry = {e->id, e->size, e->meta_size, e->checksum, e->sealed_ns}};
            MDB_val val = {.mv_size = sizeof v + (e->inline_copy ? e->size + e->meta_size : 0)};
            /* The replaced id's file stays: its object may still be read back in memory until
             * the loop unbinds it, whose DROP then removes it (or, after a crash, the orphan
             * sweep at start). */
            if ((rc = mdb_put(txn, p->dbi, &key, &val, MDB_RESERVE)) != 0)
                return rc;
            unsigned char *at = val.mv_data;
            memcpy(at, &v, sizeof v);
            if (e->inline_copy && e->size)
                memcpy(at + sizeof v, op->data, e->size);
            if (e->inline_copy && e->meta_size)
                memcpy(at + sizeof v + e->size, op->meta, e->meta_size);
        } else {
            if (found == 0 && old.id == op->entry.id &&
                (rc = mdb_del(txn, p->dbi, &key, NULL)) != 0)
                return rc;
            if (unbound_add(u, op->entry.id) != 0)
                return ENOMEM;
        }
    }
    return 0;
}

int persist_commit(persist_t *p, const struct persist_op *ops, size_t n, char *why,
                   size_t whylen)
{
    struct unbound u = {0};
    int rc;
    for (;;) {
        u.n = 0;
        MDB_txn *txn;
        if ((rc = mdb_txn_begin(p->env, NULL, 0, &txn)) != 0)
            break;
        rc = apply_ops(p, txn, ops, n, &u);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc != MDB_MAP_FULL)
            break;
        /* The map is only an address-space reservation: doubling it costs no disk. */
        size_t bigger = p->map_size * 2;
        if (mdb_env_set_mapsize(p->env, bigger) != 0)
            break;
        p->map_size = bigger;
    }
    if (rc != 0) {
        free(u.ids);
        return say(why, whylen, lmdb_error(rc), "%s: cannot commit the catalogue in %s: %s",
                   disk_problem(-lmdb_error(rc)), p->dir, mdb_strerror(rc));
    }
    for (size_t i = 0; i < u.n; i++)
        persist_remove_object(p, u.ids[i]);
    free(u.ids);
    return 0;
}

void persist_entries_free(char **names, struct persist_entry *entries, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(entries);
}

int persist_list(persist_t *p, char ***names_out, struct persist_entry **entries_out,
                 size_t *n_out, char *why, size_t whylen)
{
    *names_out = NULL;
    *entries_out = NULL;
    *n_out = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return say(why, whylen, lmdb_error(rc), "cannot read the catalogue in %s: %s", p->dir,
                   mdb_strerror(rc));
    MDB_stat st;
    if ((rc = mdb_stat(txn, p->dbi, &st)) != 0 ||
        (rc = mdb_cursor_open(txn, p->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return say(why, whylen, lmdb_error(rc), "cannot read the catalogue in %s: %s", p->dir,
                   mdb_strerror(rc));
    }
    size_t cap = st.ms_entries ? st.ms_entries : 1, n = 0;
    char **names = calloc(cap, sizeof *names);
    struct persist_entry *entries = calloc(cap, sizeof *entries);
    int err = names && entries ? 0 : -ENOMEM;
    MDB_val key, val;
    for (int op = MDB_FIRST; err == 0 && mdb_cursor_get(cur, &key, &val, op) == 0;
         op = MDB_NEXT) {
        struct persist_entry e;
        /* An entry of another layout is skipped, never misread. */
        if (n == cap || decode_value(&val, &e, NULL) != 0)
            continue;
        names[n] = strndup(key.mv_data, key.mv_size);
        if (!names[n]) {
            err = -ENOMEM;
            break;
        }
        entries[n++] = e;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (err) {
        persist_entries_free(names, entries, n);
        return say(why, whylen, err, "out of memory reading the catalogue");
    }
    *names_out = names;
    *entries_out = entries;
    *n_out = n;
    return 0;
}

static int compare_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int persist_foreach(persist_t *p,
                    int (*fn)(void *ctx, const char *name, size_t name_len,
                              const struct persist_entry *e),
                    void *ctx, char *why, size_t whylen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = mdb_cursor_open(txn, p->dbi, &cur)) != 0)
        mdb_txn_abort(txn);
    if (rc != 0)
        return say(why, whylen, lmdb_error(rc), "cannot read the catalogue in %s: %s", p->dir,
                   mdb_strerror(rc));
    MDB_val key, val;
    int stop = 0;
    for (int op = MDB_FIRST; !stop && mdb_cursor_get(cur, &key, &val, op) == 0; op = MDB_NEXT) {
        struct persist_entry e;
        /* An entry of another layout is skipped, never misread. */
        if (decode_value(&val, &e, NULL) == 0)
            stop = fn(ctx, key.mv_data, key.mv_size, &e);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return stop < 0 ? say(why, whylen, -stop, "reading the catalogue in %s: %s", p->dir,
                          strerror(-stop))
                    : 0;
}

int persist_object_files(persist_t *p, uint64_t **ids_out, size_t *n_out, char *why,
                         size_t whylen)
{
    *ids_out = NULL;
    *n_out = 0;
    int fd = dup(p->objects_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return say(why, whylen, errno, "cannot list %s/objects: %s", p->dir, strerror(errno));
    }
    rewinddir(d);
    size_t n = 0, cap = 0;
    uint64_t *ids = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        errno = 0;
        unsigned long long id = strtoull(de->d_name, &end, 16);
        if (errno != 0 || end != de->d_name + 16 || *end != '\0')
            continue;   /* not an object file: a temporary one, or a stranger */
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            uint64_t *grown = realloc(ids, cap * sizeof *ids);
            if (!grown) {
                free(ids);
                closedir(d);
                return say(why, whylen, ENOMEM, "out of memory listing %s/objects", p->dir);
            }
            ids = grown;
        }
        ids[n++] = id;
    }
    closedir(d);
    if (n)
        qsort(ids, n, sizeof *ids, compare_ids);
    *ids_out = ids;
    *n_out = n;
    return 0;
}

/* An inline object's bytes as they are, into corrupt/ID: moved aside, not deleted. */
static int copy_inline_aside(persist_t *p, const char *name, const struct persist_entry *e,
                             char *why, size_t whylen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(p->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return say(why, whylen, lmdb_error(rc), "cannot read the catalogue in %s: %s", p->dir,
                   mdb_strerror(rc));
    MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name}, val;
    struct persist_entry found;
    const uint8_t *bytes = NULL;
    rc = 0;
    if (mdb_get(txn, p->dbi, &key, &val) == 0 && decode_value(&val, &found, &bytes) == 0 &&
        found.id == e->id && bytes) {
        char file[32];
        object_file_name(e->id, file, sizeof file);
        int fd = openat(p->corrupt_fd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0 || write_all(fd, bytes, found.size + found.meta_size) != 0 || fsync(fd) != 0)
            rc = say(why, whylen, errno, "cannot copy '%s' to %s/corrupt/%s: %s", name, p->dir,
                     file, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    mdb_txn_abort(txn);
    return rc;
}

int persist_quarantine(persist_t *p, const char *name, const struct persist_entry *e, char *why,
                       size_t whylen)
{
    if (e->inline_copy) {
        int rc = copy_inline_aside(p, name, e, why, whylen);
        if (rc != 0)
            return rc;
    }
    char file[32];
    object_file_name(e->id, file, sizeof file);
    if (!e->inline_copy && renameat(p->objects_fd, file, p->corrupt_fd, file) != 0 &&
        errno != ENOENT)
        return say(why, whylen, errno, "cannot move %s/objects/%s to %s/corrupt/: %s", p->dir,
                   file, p->dir, strerror(errno));
    fsync(p->corrupt_fd);
    fsync(p->objects_fd);
    struct persist_op drop = {.kind = PERSIST_DROP, .name = name, .name_len = strlen(name),
                              .entry = *e};
    /* The file is already aside, so the commit's removal of it finds nothing. */
    return persist_commit(p, &drop, 1, why, whylen);
}

struct id_list {
    uint64_t *ids;
    size_t n, cap;
};

static int collect_id(void *ctx, const char *name, size_t name_len, const struct persist_entry *e)
{
    (void)name;
    (void)name_len;
    struct id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        uint64_t *grown = realloc(l->ids, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        l->ids = grown;
        l->cap = cap;
    }
    l->ids[l->n++] = e->id;
    return 0;
}

long persist_remove_orphans(persist_t *p, char *why, size_t whylen)
{
    /* The catalogue's ids only, not its names: bounded memory for a large catalogue. */
    struct id_list known = {0};
    int rc = persist_foreach(p, collect_id, &known, why, whylen);
    if (rc != 0) {
        free(known.ids);
        return rc;
    }
    uint64_t *ids = known.ids;
    size_t n = known.n;
    if (n)
        qsort(ids, n, sizeof *ids, compare_ids);

    int fd = dup(p->objects_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        free(ids);
        return say(why, whylen, errno, "cannot list %s/objects: %s", p->dir, strerror(errno));
    }
    rewinddir(d);
    long removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *end;
        errno = 0;
        unsigned long long id = strtoull(de->d_name, &end, 16);
        int whole_name = errno == 0 && end == de->d_name + 16 && *end == '\0';
        if (whole_name && n && bsearch(&(uint64_t){id}, ids, n, sizeof *ids, compare_ids))
            continue;
        if (unlinkat(p->objects_fd, de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    free(ids);
    return removed;
}

/* ---- verify: the checksum of a file read in chunks ------------------------------------------ */

#define VERIFY_CHUNK (1u << 20)

int persist_verify_object(const char *dir, const struct persist_entry *e, uint64_t *bytes_read,
                          const atomic_int *stop, char *why, size_t whylen)
{
    char path[4200];
    *bytes_read = 0;
    snprintf(path, sizeof path, "%s/objects/%016llx", dir, (unsigned long long)e->id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return say(why, whylen, errno, errno == ENOENT ? "missing file" : "cannot open: %s",
                   strerror(errno));
    struct stat st;
    const uint64_t expected = e->size + e->meta_size;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return say(why, whylen, err, "cannot read: %s", strerror(err));
    }
    if ((uint64_t)st.st_size != expected) {
        close(fd);
        return say(why, whylen, EBADMSG, "wrong length: %llu bytes, the catalogue says %llu",
                   (unsigned long long)st.st_size, (unsigned long long)expected);
    }
    /* No bigger than the file: a store of small objects costs no 1 MiB mapping per file. */
    const size_t buf_size = expected < VERIFY_CHUNK ? (size_t)expected + 1 : VERIFY_CHUNK;
    unsigned char *buf = malloc(buf_size);
    if (!buf) {
        close(fd);
        return say(why, whylen, ENOMEM, "out of memory");
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    /* The payload's sum seeds the metadata's, as in persist_object_checksum. */
    struct sum_stream sum;
    sum_stream_init(&sum, 0);
    uint64_t payload_sum = 0;
    int in_meta = e->size == 0, rc = 0;
    if (in_meta)
        sum_stream_init(&sum, payload_sum = sum_stream_end(&sum));
    while (*bytes_read < expected) {
        if (stop && atomic_load(stop)) {
            rc = say(why, whylen, ECANCELED, "stopped");
            break;
        }
        uint64_t left = expected - *bytes_read;
        ssize_t got = read(fd, buf, left < buf_size ? (size_t)left : buf_size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = say(why, whylen, errno, "read error: %s", strerror(errno));
            break;
        }
        if (got == 0) {
            rc = say(why, whylen, EBADMSG, "wrong length: it ended after %llu bytes of %llu",
                     (unsigned long long)*bytes_read, (unsigned long long)expected);
            break;
        }
        const unsigned char *q = buf;
        size_t n = (size_t)got;
        if (!in_meta && *bytes_read + n >= e->size) {
            /* This chunk ends the payload: finish its sum, the rest starts the metadata's. */
            size_t payload_part = (size_t)(e->size - *bytes_read);
            sum_stream_add(&sum, q, payload_part);
            payload_sum = sum_stream_end(&sum);
            sum_stream_init(&sum, payload_sum);
            in_meta = 1;
            q += payload_part;
            n -= payload_part;
            *bytes_read += payload_part;
        }
        sum_stream_add(&sum, q, n);
        *bytes_read += n;
    }
    free(buf);
    close(fd);
    if (rc == 0 && sum_stream_end(&sum) != e->checksum)
        rc = say(why, whylen, EBADMSG, "checksum mismatch");
    return rc;
}
