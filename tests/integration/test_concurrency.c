/*
 * test_concurrency.c — many clients hammering one store at once.
 *
 * Eight forked worker processes (each with its own connection), and then eight threads sharing
 * one handle, run a deterministic random mix of put (with and without SHMSTORE_REPLACE),
 * create+fill+seal, create+abort, get (no wait and short waits), release and delete over a small
 * shared name space, so that they constantly collide. Payloads range from 0 bytes to 8 MiB,
 * skewed to small ones. Every payload can be checked with no shared state: its first 16 bytes are
 * (writer, sequence, size), the rest is a PRNG stream seeded from those, and the metadata carries
 * the name, the same triple, a checksum and a PRNG padding. Every get checks every byte of data
 * and metadata. Workers keep up to MAX_HELD objects pinned across other operations and check
 * them again at release, after others may have deleted or replaced them (the deleted-while-pinned
 * path). Store-full and name-taken answers are expected under load and only counted. Half of
 * the processes end tidily; the other half exit holding pins and an unsealed object, which the
 * daemon must reclaim. At the end every name is deleted and the store must be empty: no bytes,
 * objects, pins or unsealed objects, and all free space in one range again.
 * Seed: $SHMSTORE_TEST_SEED (default fixed), printed with the operation counts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

#define NAMES 32
#define WORKERS 8
#define MAX_HELD 4
#define MAX_OBJECT (8u << 20)
#define CHUNK (64u * 1024u)
#define META_MAGIC UINT64_C(0x73686d636f6e6331) /* "shmconc1" */
#define ID_TABLE 65536u                         /* power of two */
#define MAX_REPORTED_FAILURES 10

/* ---- counters ------------------------------------------------------------------------------ */

#define COUNTERS(XX)                                                                               \
    XX(OPS, "operations")                                                                          \
    XX(PUT_OK, "put ok")                                                                           \
    XX(PUT_REPLACE_OK, "  of which REPLACE")                                                       \
    XX(PUT_EEXIST, "put EEXIST")                                                                   \
    XX(PUT_ENOSPC, "put ENOSPC")                                                                   \
    XX(CREATE_OK, "create ok")                                                                     \
    XX(CREATE_EEXIST, "create EEXIST")                                                             \
    XX(CREATE_ENOSPC, "create ENOSPC")                                                             \
    XX(SEAL_OK, "seal ok")                                                                         \
    XX(SEAL_EEXIST, "seal EEXIST (then abort)")                                                    \
    XX(ABORT_OK, "abort ok")                                                                       \
    XX(GET_OK, "get ok (verified)")                                                                \
    XX(GET_NOTFOUND, "get ENOTFOUND")                                                              \
    XX(GET_TIMEDOUT, "get ETIMEDOUT")                                                              \
    XX(GET_WAIT_OK, "get ok after waiting")                                                        \
    XX(DOUBLE_PIN, "same name got twice at once")                                                  \
    XX(HELD, "gets held across other ops")                                                         \
    XX(HELD_UNBOUND, "held, re-verified after delete/replace")                                     \
    XX(RELEASE_OK, "release ok")                                                                   \
    XX(DELETE_OK, "delete ok")                                                                     \
    XX(DELETE_NOTFOUND, "delete ENOTFOUND")                                                        \
    XX(ZERO_SIZE, "0-byte objects written")                                                        \
    XX(BIG, "objects >= 1 MiB written")                                                            \
    XX(MAX_SIZE, "largest object written (bytes)")                                                 \
    XX(BYTES_WRITTEN, "payload bytes written")                                                     \
    XX(BYTES_VERIFIED, "payload bytes verified")                                                   \
    XX(LEFT_PINNED, "pins left to the daemon at exit")                                             \
    XX(LEFT_UNSEALED, "unsealed objects left to the daemon at exit")                               \
    XX(FAILURES, "FAILURES")

enum counter {
#define COUNTER_ENUM_(name, text) C_##name,
    COUNTERS(COUNTER_ENUM_)
#undef COUNTER_ENUM_
    C_COUNT
};

static const char *const counter_text[C_COUNT] = {
#define COUNTER_TEXT_(name, text) text,
    COUNTERS(COUNTER_TEXT_)
#undef COUNTER_TEXT_
};

struct report {
    uint32_t worker;
    uint64_t v[C_COUNT];
};

/* ---- deterministic content ----------------------------------------------------------------- */

/* What a writer put into an object; recovered by a reader from the metadata alone. */
struct desc {
    uint32_t name_idx;
    uint32_t writer;
    uint32_t seq;
    uint32_t pad_len;
    uint64_t size;
};

/* Metadata layout (little-endian host order, copied with memcpy), then pad_len PRNG bytes. */
struct meta {
    uint64_t magic;
    uint32_t name_idx;
    uint32_t writer;
    uint32_t seq;
    uint32_t pad_len;
    uint64_t size;
    uint64_t checksum;
};

static uint64_t desc_seed(const struct desc *d, uint64_t tweak)
{
    return mix64(mix64(((uint64_t)d->writer << 32 | d->seq) ^ tweak) ^ d->size ^
                 ((uint64_t)d->name_idx << 48));
}

static void desc_header(const struct desc *d, uint8_t hdr[16])
{
    memcpy(hdr, &d->writer, 4);
    memcpy(hdr + 4, &d->seq, 4);
    memcpy(hdr + 8, &d->size, 8);
}

/* Bytes [off, off+len) of the stream "16-byte header, then PRNG words from seed". off is a
 * multiple of 8, so every word starts on a multiple of 8. */
static void gen_stream(uint64_t seed, const uint8_t *hdr, size_t hdr_len, size_t off, uint8_t *out,
                       size_t len)
{
    size_t j = off, end = off + len;
    while (j < end && j < hdr_len)
        *out++ = hdr[j++];
    for (; j + 8 <= end; j += 8, out += 8) {
        uint64_t w = mix64(seed + ((j - hdr_len) / 8) * UINT64_C(0xd1b54a32d192ed03));
        memcpy(out, &w, 8);
    }
    if (j < end) {
        uint64_t w = mix64(seed + ((j - hdr_len) / 8) * UINT64_C(0xd1b54a32d192ed03));
        memcpy(out, &w, end - j);
    }
}

static void gen_payload(const struct desc *d, size_t off, uint8_t *out, size_t len)
{
    uint8_t hdr[16];
    desc_header(d, hdr);
    gen_stream(desc_seed(d, 1), hdr, sizeof hdr, off, out, len);
}

static void gen_pad(const struct desc *d, uint8_t *out, size_t len)
{
    gen_stream(desc_seed(d, 2), NULL, 0, 0, out, len);
}

static uint64_t checksum(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* Sizes from 0 to 8 MiB, mostly small, with the inline-put and page-alignment boundary
 * (64 KiB) and the maximum hit on purpose. */
static uint64_t pick_size(uint64_t *rng)
{
    uint64_t r = splitmix_below(rng, 1000);
    if (r < 70)
        return 0;
    if (r < 420)
        return 1 + splitmix_below(rng, 256);
    if (r < 620)
        return 257 + splitmix_below(rng, 16 * 1024);
    if (r < 720)
        return 64 * 1024 - 64 + splitmix_below(rng, 129);
    if (r < 860)
        return 16 * 1024 + splitmix_below(rng, 1024 * 1024);
    if (r < 970)
        return (1u << 20) + splitmix_below(rng, MAX_OBJECT - (1u << 20));
    return MAX_OBJECT - splitmix_below(rng, 2) * splitmix_below(rng, 4096);
}

static uint32_t pick_pad(uint64_t *rng)
{
    uint64_t r = splitmix_below(rng, 100);
    if (r < 70)
        return 0;
    if (r < 97)
        return (uint32_t)splitmix_below(rng, 4096);
    return (uint32_t)(SHMSTORE_META_MAX - sizeof(struct meta) - splitmix_below(rng, 2) * 8);
}

/* ---- one worker (a process or a thread) ---------------------------------------------------- */

struct held {
    shmstore_object obj;
    unsigned name_idx;
};

struct worker {
    shmstore_client *c;
    uint32_t id;
    uint64_t rng;
    uint32_t seq;
    size_t ops;
    struct held held[MAX_HELD];
    unsigned nheld;
    uint8_t *scratch;       /* MAX_OBJECT bytes: source of puts */
    uint8_t *chunk;         /* CHUNK bytes: expected bytes while verifying */
    uint8_t *meta_buf;      /* SHMSTORE_META_MAX bytes */
    uint64_t *id_keys;      /* ids seen -> (writer, seq): ids are never reused */
    uint64_t *id_vals;
    struct report rep;
};

static void name_of(unsigned idx, char *buf, size_t len)
{
    snprintf(buf, len, "conc/obj-%02u", idx);
}

static void failure(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failure(struct worker *w, const char *fmt, ...)
{
    if (w->rep.v[C_FAILURES]++ >= MAX_REPORTED_FAILURES)
        return;
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "worker %u (op %" PRIu64 "): FAILURE: %s\n", w->id, w->rep.v[C_OPS], text);
}

static void count(struct worker *w, enum counter k)
{
    w->rep.v[k]++;
}

/* An id must always name the same object (ids are never reused), as far as this worker sees. */
static void check_id(struct worker *w, uint64_t id, uint64_t what)
{
    uint64_t slot = mix64(id) & (ID_TABLE - 1);
    for (unsigned probe = 0; probe < ID_TABLE; probe++, slot = (slot + 1) & (ID_TABLE - 1)) {
        if (w->id_keys[slot] == id) {
            if (w->id_vals[slot] != what)
                failure(w, "id %" PRIu64 " named object (writer %u, seq %u) and later "
                        "(writer %u, seq %u): an id was reused",
                        id, (unsigned)(w->id_vals[slot] >> 32), (unsigned)w->id_vals[slot],
                        (unsigned)(what >> 32), (unsigned)what);
            return;
        }
        if (w->id_keys[slot] == 0) {
            if (probe > ID_TABLE / 2)
                return; /* table too full to bother; it only ever holds a sample */
            w->id_keys[slot] = id;
            w->id_vals[slot] = what;
            return;
        }
    }
}

/* Check every byte of an object got under name_idx. 0 when it is what its writer wrote. */
static int verify(struct worker *w, unsigned name_idx, const shmstore_object *o, const char *when)
{
    struct meta m;
    if (o->id == 0)
        failure(w, "%s: object of name %u has id 0", when, name_idx);
    if (!o->meta || o->meta_size < sizeof m) {
        failure(w, "%s: name %u: metadata of %zu bytes, expected at least %zu", when, name_idx,
                o->meta_size, sizeof m);
        return -1;
    }
    memcpy(&m, o->meta, sizeof m);
    if (m.magic != META_MAGIC || m.name_idx != name_idx || m.size != o->size ||
        o->meta_size != sizeof m + m.pad_len) {
        failure(w, "%s: name %u id %" PRIu64 ": metadata says magic %016" PRIx64 " name %u size %"
                PRIu64 " pad %u, object has size %zu meta_size %zu",
                when, name_idx, o->id, m.magic, m.name_idx, m.size, m.pad_len, o->size,
                o->meta_size);
        return -1;
    }
    struct desc d = {m.name_idx, m.writer, m.seq, m.pad_len, m.size};
    check_id(w, o->id, (uint64_t)m.writer << 32 | m.seq);
    if (o->size > 0 && !o->data) {
        failure(w, "%s: name %u: NULL data for %zu bytes", when, name_idx, o->size);
        return -1;
    }
    /* Payloads are 64-byte aligned, large ones page-aligned (docs/architecture.md, "Processes
     * and memory"). */
    if ((uintptr_t)o->data % 64 != 0 || (o->size >= (1u << 20) && (uintptr_t)o->data % 4096))
        failure(w, "%s: name %u: payload of %zu bytes at %p is not aligned", when, name_idx,
                o->size, o->data);
    if (m.pad_len) {
        gen_pad(&d, w->meta_buf, m.pad_len);
        if (memcmp(w->meta_buf, (const uint8_t *)o->meta + sizeof m, m.pad_len) != 0) {
            failure(w, "%s: name %u id %" PRIu64 " (writer %u seq %u): metadata padding differs",
                    when, name_idx, o->id, m.writer, m.seq);
            return -1;
        }
    }
    const uint8_t *data = o->data;
    for (size_t off = 0; off < o->size; off += CHUNK) {
        size_t len = o->size - off < CHUNK ? o->size - off : CHUNK;
        gen_payload(&d, off, w->chunk, len);
        if (memcmp(w->chunk, data + off, len) != 0) {
            size_t i = 0;
            while (w->chunk[i] == data[off + i])
                i++;
            failure(w, "%s: name %u id %" PRIu64 " (writer %u seq %u size %zu): byte %zu is "
                    "0x%02x, expected 0x%02x",
                    when, name_idx, o->id, m.writer, m.seq, o->size, off + i, data[off + i],
                    w->chunk[i]);
            return -1;
        }
    }
    uint64_t sum = checksum(data, o->size);
    if (sum != m.checksum) {
        failure(w, "%s: name %u id %" PRIu64 ": checksum %016" PRIx64 ", metadata says %016" PRIx64,
                when, name_idx, o->id, sum, m.checksum);
        return -1;
    }
    w->rep.v[C_BYTES_VERIFIED] += o->size;
    return 0;
}

/* Make the next object's description, its metadata (in w->meta_buf, with the payload's
 * checksum) and its payload (in w->scratch, the source of a put; a create fills in place from
 * the generator instead). Returns the metadata size. */
static size_t prepare(struct worker *w, unsigned name_idx, struct desc *d)
{
    d->name_idx = name_idx;
    d->writer = w->id;
    d->seq = ++w->seq;
    d->size = pick_size(&w->rng);
    d->pad_len = pick_pad(&w->rng);
    gen_payload(d, 0, w->scratch, d->size);
    struct meta m = {META_MAGIC, d->name_idx,    d->writer,
                     d->seq,     d->pad_len,     d->size,
                     checksum(w->scratch, d->size)};
    memcpy(w->meta_buf, &m, sizeof m);
    gen_pad(d, w->meta_buf + sizeof m, d->pad_len);
    return sizeof m + d->pad_len;
}

static void note_written(struct worker *w, const struct desc *d)
{
    w->rep.v[C_BYTES_WRITTEN] += d->size;
    if (d->size == 0)
        count(w, C_ZERO_SIZE);
    if (d->size >= (1u << 20))
        count(w, C_BIG);
    if (d->size > w->rep.v[C_MAX_SIZE])
        w->rep.v[C_MAX_SIZE] = d->size;
}

static void release_held(struct worker *w, unsigned i);

/* Store full is normal under this load: give back a pin to make room. */
static void on_enospc(struct worker *w)
{
    if (w->nheld > 0)
        release_held(w, 0);
}

static void op_put(struct worker *w, unsigned name_idx, const char *name)
{
    struct desc d;
    size_t meta_size = prepare(w, name_idx, &d);
    unsigned flags = splitmix_below(&w->rng, 2) ? SHMSTORE_REPLACE : 0;
    int rc = shmstore_put(w->c, name, w->scratch, d.size, w->meta_buf, meta_size, flags);
    if (rc == 0) {
        count(w, C_PUT_OK);
        if (flags)
            count(w, C_PUT_REPLACE_OK);
        note_written(w, &d);
    } else if (rc == SHMSTORE_EEXIST && !flags) {
        count(w, C_PUT_EEXIST);
    } else if (rc == SHMSTORE_ENOSPC) {
        count(w, C_PUT_ENOSPC);
        on_enospc(w);
    } else {
        failure(w, "put %s (%" PRIu64 " bytes, flags %u): %s: %s", name, d.size, flags,
                shmstore_errname(rc), shmstore_errmsg(w->c));
    }
}

/* create, then fill in place and seal, or (abort_it) scribble on part of it and abort. */
static void op_create(struct worker *w, unsigned name_idx, const char *name, int abort_it)
{
    struct desc d;
    size_t meta_size = prepare(w, name_idx, &d);
    unsigned flags = splitmix_below(&w->rng, 2) ? SHMSTORE_REPLACE : 0;
    void *dest = NULL;
    uint64_t id = 0;
    int rc = shmstore_create(w->c, name, d.size, w->meta_buf, meta_size, flags, &dest, &id);
    if (rc == SHMSTORE_EEXIST && !flags) {
        count(w, C_CREATE_EEXIST);
        return;
    }
    if (rc == SHMSTORE_ENOSPC) {
        count(w, C_CREATE_ENOSPC);
        on_enospc(w);
        return;
    }
    if (rc != 0) {
        failure(w, "create %s (%" PRIu64 " bytes, flags %u): %s: %s", name, d.size, flags,
                shmstore_errname(rc), shmstore_errmsg(w->c));
        return;
    }
    count(w, C_CREATE_OK);
    if (d.size > 0 && !dest) {
        failure(w, "create %s: NULL data pointer for %" PRIu64 " bytes", name, d.size);
        abort_it = 1;
    }
    if (abort_it) {
        if (d.size)
            memset(dest, 0xa5, d.size < 4096 ? d.size : 4096);
        rc = shmstore_abort(w->c, id);
        if (rc == 0)
            count(w, C_ABORT_OK);
        else
            failure(w, "abort %s id %" PRIu64 ": %s: %s", name, id, shmstore_errname(rc),
                    shmstore_errmsg(w->c));
        return;
    }
    /* Fill in place from the generator itself (not from scratch), in chunks. */
    for (size_t off = 0; off < d.size; off += CHUNK)
        gen_payload(&d, off, (uint8_t *)dest + off, d.size - off < CHUNK ? d.size - off : CHUNK);
    rc = shmstore_seal(w->c, id);
    if (rc == 0) {
        count(w, C_SEAL_OK);
        note_written(w, &d);
        return;
    }
    if (rc == SHMSTORE_EEXIST && !flags) {
        /* A REPLACE create sealed the name while this one was being written: ours stays ours
         * to abort. */
        count(w, C_SEAL_EEXIST);
        rc = shmstore_abort(w->c, id);
        if (rc == 0)
            count(w, C_ABORT_OK);
        else
            failure(w, "abort after failed seal of %s id %" PRIu64 ": %s: %s", name, id,
                    shmstore_errname(rc), shmstore_errmsg(w->c));
        return;
    }
    failure(w, "seal %s id %" PRIu64 " (flags %u): %s: %s", name, id, flags, shmstore_errname(rc),
            shmstore_errmsg(w->c));
}

static void release_obj(struct worker *w, shmstore_object *o, const char *name)
{
    uint64_t id = o->id;
    int rc = shmstore_release(w->c, o);
    if (rc == 0)
        count(w, C_RELEASE_OK);
    else
        failure(w, "release %s id %" PRIu64 ": %s: %s", name, id, shmstore_errname(rc),
                shmstore_errmsg(w->c));
}

/* Check a held object again (its name may have been deleted or rebound since) and release it. */
static void release_held(struct worker *w, unsigned i)
{
    struct held h = w->held[i];
    w->held[i] = w->held[--w->nheld];
    char name[32];
    name_of(h.name_idx, name, sizeof name);
    verify(w, h.name_idx, &h.obj, "re-check of a held object");
    shmstore_object_stat st;
    int rc = shmstore_stat(w->c, name, &st);
    if (rc == SHMSTORE_ENOTFOUND || (rc == 0 && st.id != h.obj.id))
        count(w, C_HELD_UNBOUND);
    else if (rc != 0)
        failure(w, "stat %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(w->c));
    else if (st.pins < 1)
        failure(w, "stat %s: object %" PRIu64 " is pinned here but stat says %" PRIu64 " pins",
                name, st.id, st.pins);
    release_obj(w, &h.obj, name);
}

static void op_get(struct worker *w, unsigned name_idx, const char *name, int timeout_ms)
{
    shmstore_object o;
    int rc = shmstore_get(w->c, name, timeout_ms, &o);
    if (rc == SHMSTORE_ENOTFOUND && timeout_ms == 0) {
        count(w, C_GET_NOTFOUND);
        return;
    }
    if (rc == SHMSTORE_ETIMEDOUT && timeout_ms > 0) {
        count(w, C_GET_TIMEDOUT);
        return;
    }
    if (rc != 0) {
        failure(w, "get %s (timeout %d ms): %s: %s", name, timeout_ms, shmstore_errname(rc),
                shmstore_errmsg(w->c));
        return;
    }
    count(w, C_GET_OK);
    if (timeout_ms > 0)
        count(w, C_GET_WAIT_OK);
    verify(w, name_idx, &o, "get");
    if (splitmix_below(&w->rng, 3) == 0) {
        if (w->nheld == MAX_HELD)
            release_held(w, (unsigned)splitmix_below(&w->rng, MAX_HELD));
        w->held[w->nheld++] = (struct held){o, name_idx};
        count(w, C_HELD);
        return;
    }
    release_obj(w, &o, name);
}

/* Two gets of one name on one handle: two pins, each released on its own. */
static void op_double_get(struct worker *w, unsigned name_idx, const char *name)
{
    shmstore_object a, b;
    int rc = shmstore_get(w->c, name, 0, &a);
    if (rc == SHMSTORE_ENOTFOUND) {
        count(w, C_GET_NOTFOUND);
        return;
    }
    if (rc != 0) {
        failure(w, "get %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(w->c));
        return;
    }
    count(w, C_GET_OK);
    rc = shmstore_get(w->c, name, 0, &b);
    if (rc == 0) {
        count(w, C_GET_OK);
        count(w, C_DOUBLE_PIN);
        verify(w, name_idx, &b, "second get");
    } else if (rc != SHMSTORE_ENOTFOUND) {
        failure(w, "second get %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(w->c));
    }
    verify(w, name_idx, &a, "first get");
    release_obj(w, &a, name);
    if (rc == 0) {
        verify(w, name_idx, &b, "second get after first release");
        release_obj(w, &b, name);
    }
}

static void op_delete(struct worker *w, const char *name)
{
    int rc = shmstore_delete(w->c, name);
    if (rc == 0)
        count(w, C_DELETE_OK);
    else if (rc == SHMSTORE_ENOTFOUND)
        count(w, C_DELETE_NOTFOUND);
    else
        failure(w, "delete %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(w->c));
}

static int worker_init(struct worker *w, uint32_t id, uint64_t seed, size_t ops)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->rng = mix64(seed ^ ((uint64_t)id << 20));
    w->ops = ops;
    w->rep.worker = id;
    w->scratch = malloc(MAX_OBJECT);
    w->chunk = malloc(CHUNK);
    w->meta_buf = malloc(SHMSTORE_META_MAX);
    w->id_keys = calloc(ID_TABLE, sizeof *w->id_keys);
    w->id_vals = calloc(ID_TABLE, sizeof *w->id_vals);
    return w->scratch && w->chunk && w->meta_buf && w->id_keys && w->id_vals ? 0 : -1;
}

static void worker_free(struct worker *w)
{
    free(w->scratch);
    free(w->chunk);
    free(w->meta_buf);
    free(w->id_keys);
    free(w->id_vals);
}

static void worker_run(struct worker *w)
{
    for (size_t n = 0; n < w->ops && w->rep.v[C_FAILURES] < 100; n++) {
        count(w, C_OPS);
        unsigned name_idx = (unsigned)splitmix_below(&w->rng, NAMES);
        char name[32];
        name_of(name_idx, name, sizeof name);
        uint64_t r = splitmix_below(&w->rng, 100);
        if (r < 18)
            op_put(w, name_idx, name);
        else if (r < 32)
            op_create(w, name_idx, name, 0);
        else if (r < 37)
            op_create(w, name_idx, name, 1);
        else if (r < 60)
            op_get(w, name_idx, name, 0);
        else if (r < 67)
            op_get(w, name_idx, name, 1 + (int)splitmix_below(&w->rng, 20));
        else if (r < 72)
            op_double_get(w, name_idx, name);
        else if (r < 86)
            op_delete(w, name);
        else if (w->nheld > 0)
            release_held(w, (unsigned)splitmix_below(&w->rng, w->nheld));
        else
            op_get(w, name_idx, name, 0);
    }
}

/* The tidy end: every held object checked once more and released. */
static void worker_finish(struct worker *w)
{
    while (w->nheld > 0)
        release_held(w, w->nheld - 1);
}

/* The abrupt end of a process that exits without releasing or closing anything: its pins and an
 * unsealed object are the daemon's to clean up when the connection drops (docs/architecture.md,
 * "When a client dies"). */
static void worker_abandon(struct worker *w)
{
    for (unsigned i = 0; i < w->nheld; i++) {
        verify(w, w->held[i].name_idx, &w->held[i].obj, "last check of a held object");
        count(w, C_LEFT_PINNED);
    }
    w->nheld = 0;
    char name[32];
    snprintf(name, sizeof name, "conc/unsealed-%u", w->id);
    void *dest;
    uint64_t id;
    uint64_t size = pick_size(&w->rng);
    int rc = shmstore_create(w->c, name, size, NULL, 0, 0, &dest, &id);
    if (rc == 0) {
        memset(dest, 0x5a, size);
        count(w, C_LEFT_UNSEALED);
    } else if (rc != SHMSTORE_ENOSPC) {
        failure(w, "create %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(w->c));
    }
}

/* ---- shared pieces ------------------------------------------------------------------------- */

static uint64_t test_seed(void)
{
    const char *s = getenv("SHMSTORE_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 0) : UINT64_C(20240611);
}

static void add_report(struct report *total, const struct report *r)
{
    for (int k = 0; k < C_COUNT; k++) {
        if (k == C_MAX_SIZE)
            total->v[k] = r->v[k] > total->v[k] ? r->v[k] : total->v[k];
        else
            total->v[k] += r->v[k];
    }
}

static void print_report(const char *title, const struct report *total, unsigned workers,
                         uint64_t seed)
{
    printf("%s: %u workers, seed %" PRIu64 "\n", title, workers, seed);
    for (int k = 0; k < C_COUNT; k++)
        printf("  %-42s %12" PRIu64 "\n", counter_text[k], total->v[k]);
    fflush(stdout);
}

static int count_entry(const shmstore_object_stat *st, void *arg)
{
    (void)st;
    (*(size_t *)arg)++;
    return 0;
}

/* Delete every name, then the store must hold nothing at all. */
static void check_store_empty(shmstore_client *c)
{
    for (unsigned i = 0; i < NAMES; i++) {
        char name[32];
        name_of(i, name, sizeof name);
        int rc = shmstore_delete(c, name);
        if (rc != 0 && rc != SHMSTORE_ENOTFOUND)
            fail_msg("final delete %s: %s: %s", name, shmstore_errname(rc), shmstore_errmsg(c));
    }
    /* Workers that exited are gone from the daemon once it has read their hang-ups; wait for
     * that (a condition, not a duration) before judging what they left behind. */
    shmstore_store_info info;
    (void)WAIT_FOR((info = info_of(c)).clients <= 1, slack(30));
    printf("final info: capacity %" PRIu64 " used %" PRIu64 " free %" PRIu64 " largest_free %"
           PRIu64 " objects %" PRIu64 " unsealed %" PRIu64 " (%" PRIu64 " bytes) pins %" PRIu64
           " deleted_pinned %" PRIu64 " waiters %" PRIu64 " clients %" PRIu64 " requests %" PRIu64
           "\n",
           info.capacity_bytes, info.used_bytes, info.free_bytes, info.largest_free_bytes,
           info.objects, info.unsealed_objects, info.unsealed_bytes, info.pins,
           info.deleted_pinned, info.waiters, info.clients, info.requests);
    fflush(stdout);
    assert_int_equal(info.clients, 1);
    assert_int_equal(info.used_bytes, 0);
    assert_int_equal(info.objects, 0);
    assert_int_equal(info.unsealed_objects, 0);
    assert_int_equal(info.unsealed_bytes, 0);
    assert_int_equal(info.pins, 0);
    assert_int_equal(info.deleted_pinned, 0);
    assert_int_equal(info.waiters, 0);
    assert_int_equal(info.free_bytes, info.capacity_bytes);
    /* Free space coalesced back into one range. */
    assert_int_equal(info.largest_free_bytes, info.capacity_bytes);
    size_t listed = 0;
    assert_int_equal(shmstore_list(c, NULL, count_entry, &listed), 0);
    assert_int_equal(listed, 0);
}

static void check_activity(const struct report *t)
{
    assert_int_equal(t->v[C_FAILURES], 0);
    assert_true(t->v[C_PUT_OK] > 0);
    assert_true(t->v[C_SEAL_OK] > 0);
    assert_true(t->v[C_ABORT_OK] > 0);
    assert_true(t->v[C_GET_OK] > 0);
    assert_true(t->v[C_DELETE_OK] > 0);
    assert_true(t->v[C_HELD] > 0);
    assert_true(t->v[C_BYTES_VERIFIED] > 0);
    assert_true(t->v[C_ZERO_SIZE] > 0);
}

/* ---- daemon per test ---------------------------------------------------------------------- */

static int start_daemon(void **state)
{
    static struct test_daemon d;
    if (harness_start(&d, "64M", NULL) != 0)
        return -1;
    *state = &d;
    return 0;
}

/* A daemon that crashed, leaked or reported a valgrind error fails the test here. */
static int stop_daemon(void **state)
{
    return stop_daemon_fixture(*state);
}

/* ---- processes ----------------------------------------------------------------------------- */

static void process_worker(const char *socket, uint32_t id, uint64_t seed, size_t ops,
                           int report_fd)
{
    struct worker w;
    if (worker_init(&w, id, seed, ops) != 0) {
        fprintf(stderr, "worker %u: out of memory\n", id);
        _exit(3);
    }
    int rc = shmstore_connect(socket, &w.c);
    if (rc != 0) {
        fprintf(stderr, "worker %u: connect: %s: %s\n", id, shmstore_errname(rc),
                shmstore_errmsg(NULL));
        _exit(4);
    }
    worker_run(&w);
    /* Odd workers leave the way a crashing process would, even ones tidy up. */
    if (id % 2) {
        worker_abandon(&w);
    } else {
        worker_finish(&w);
        shmstore_close(w.c);
    }
    ssize_t n = write(report_fd, &w.rep, sizeof w.rep);
    int failed = w.rep.v[C_FAILURES] != 0 || n != (ssize_t)sizeof w.rep;
    worker_free(&w);
    _exit(failed ? 1 : 0);
}

static void test_processes(void **state)
{
    struct test_daemon *d = *state;
    uint64_t seed = test_seed();
    size_t ops = harness_scale(3000, 200);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(fds[0]);
            process_worker(d->socket, i + 1, seed, ops, fds[1]);
        }
        assert_true(pids[i] > 0);
    }
    close(fds[1]);

    /* Reports are smaller than PIPE_BUF, so each arrives whole. */
    struct report total = {0}, r;
    unsigned reports = 0;
    while (read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
        add_report(&total, &r);
        reports++;
    }
    close(fds[0]);
    unsigned bad_exits = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "worker %u (pid %d) ended with status 0x%x\n", i + 1, (int)pids[i],
                    status);
            bad_exits++;
        }
    }
    print_report("processes", &total, WORKERS, seed);
    assert_int_equal(bad_exits, 0);
    assert_int_equal(reports, WORKERS);
    check_activity(&total);

    shmstore_client *c;
    assert_int_equal(shmstore_connect(d->socket, &c), 0);
    check_store_empty(c);
    shmstore_close(c);
}

/* ---- threads sharing one handle ------------------------------------------------------------ */

static void *thread_main(void *arg)
{
    worker_run(arg);
    worker_finish(arg);
    return NULL;
}

static void test_threads(void **state)
{
    struct test_daemon *d = *state;
    uint64_t seed = test_seed() ^ UINT64_C(0x7468726561647321);
    size_t ops = harness_scale(1200, 150);
    shmstore_client *c;
    assert_int_equal(shmstore_connect(d->socket, &c), 0);

    static struct worker workers[WORKERS];
    pthread_t threads[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        assert_int_equal(worker_init(&workers[i], 100 + i, seed, ops), 0);
        workers[i].c = c;
    }
    for (unsigned i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, thread_main, &workers[i]), 0);
    struct report total = {0};
    for (unsigned i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        add_report(&total, &workers[i].rep);
        worker_free(&workers[i]);
    }
    print_report("threads sharing one handle", &total, WORKERS, seed);
    check_activity(&total);
    check_store_empty(c);
    shmstore_close(c);
}

int main(void)
{
    /* Under meson both streams go to one log; keep them in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_processes, start_daemon, stop_daemon),
        cmocka_unit_test_setup_teardown(test_threads, start_daemon, stop_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
