/*
 * fuzz_daemon.c — libFuzzer target for the daemon's request handling, in process.
 *
 * Each input builds a small daemon in a test tube (tests/support/inproc.h) with FUZZ_CLIENTS
 * client slots and plays the input's records against it (format in fuzz_daemon.h): raw bytes
 * through the real connection code, compact requests encoded by the codec, releases written to
 * the shared release ring (well-formed or not), clients that stop reading their replies, clients
 * that go away, time that passes. After every record the loop runs until quiet and the store's
 * invariants are checked (store_check); every reply must decode, and every object a reply
 * describes must lie inside the arena. Any violation aborts with its reason, which libFuzzer
 * reports as a crash. Teardown at the end of each input must leave nothing behind, which
 * LeakSanitizer checks.
 *
 * One daemon serves every input: building one costs more than most inputs do (an arena, an
 * event base, large buffers that are page-faulted in afresh). Between inputs inproc_reset
 * takes it back to a fresh daemon's state and proves it (nothing used, pinned, waiting or
 * connected), so inputs stay independent; a reset that finds anything left over is a crash of
 * the input that left it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_daemon.h"
#include "inproc.h"
#include "server.h"
#include "shmlayout.h"
#include "store.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_daemon: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint8_t next(struct cursor *c)
{
    if (c->n == 0)
        return 0;
    c->n--;
    return *c->p++;
}

static uint64_t next64(struct cursor *c)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)next(c) << (8 * i);
    return v;
}

/* Ids from replies, so that SEAL, ABORT and RELEASE can name real objects: the store's ids
 * start at the clock and could never be guessed. */
static uint64_t seen[16];
static unsigned nseen;

static void remember(uint64_t id)
{
    seen[nseen++ % 16] = id;
}

static uint64_t take_id(struct cursor *c)
{
    uint8_t k = next(c);
    if (k >= FUZZ_ID_RAW || nseen == 0)
        return next64(c);
    return seen[k % (nseen < 16 ? nseen : 16)];
}

/* A name from a four-letter alphabet, so that requests meet on the same names, or raw bytes
 * (up to 315 of them, past SHM_NAME_MAX) for the name checks. */
static struct shm_bytes take_name(struct cursor *c, uint8_t *buf)
{
    uint8_t n = next(c);
    size_t len;
    if (n < FUZZ_NAME_RAW) {
        len = n % 8u + 1;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)"ab/c"[next(c) % 4];
    } else {
        len = (n - FUZZ_NAME_RAW) * 5u;
        for (size_t i = 0; i < len; i++)
            buf[i] = c->n ? next(c) : 'x';
    }
    return (struct shm_bytes){buf, (uint32_t)len};
}

/* A glob over the same alphabet; length 0 lists everything. */
static struct shm_bytes take_pattern(struct cursor *c, uint8_t *buf)
{
    size_t len = next(c) % 6u;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)"ab/*?[]"[next(c) % 7];
    return (struct shm_bytes){buf, (uint32_t)len};
}

static uint64_t take_size(struct cursor *c)
{
    switch (next(c) % 4) {
    case 0: return 0;
    case 1: return (uint64_t)next(c) * 64u;
    case 2: return (uint64_t)next(c) * 4096u;
    default: return next64(c);
    }
}

static int64_t take_timeout(struct cursor *c)
{
    switch (next(c) % 4) {
    case 0: return 0;
    case 1: return SHM_TIMEOUT_FOREVER;
    case 2: return next(c);
    default: return (int64_t)next64(c);
    }
}

static uint8_t filler[255 * 16];

static struct shm_bytes take_blob(struct cursor *c, size_t unit)
{
    return (struct shm_bytes){filler, (uint32_t)(next(c) * unit)};
}

/* Build the request a FUZZ_REQUEST payload describes. The byte strings point into names. */
static void build_request(struct cursor *c, struct shm_request *req, uint8_t names[2][320])
{
    memset(req, 0, sizeof *req);
    req->type = next(c) % SHM_MSG_TYPE_END;
    req->seq = next(c);
    switch (req->type) {
    case SHM_MSG_HELLO:
        req->u.hello.version = next(c) % 4 ? SHM_PROTO_VERSION : next(c);
        req->u.hello.flags = next(c);
        break;
    case SHM_MSG_PUT:
        req->u.put.name = take_name(c, names[0]);
        req->u.put.data = take_blob(c, 16);
        req->u.put.meta = take_blob(c, 4);
        req->u.put.flags = next(c);
        break;
    case SHM_MSG_CREATE:
        req->u.create.name = take_name(c, names[0]);
        req->u.create.size = take_size(c);
        req->u.create.meta = take_blob(c, 4);
        req->u.create.flags = next(c);
        break;
    case SHM_MSG_SEAL:
    case SHM_MSG_ABORT:
    case SHM_MSG_RELEASE:
        req->u.by_id.id = take_id(c);
        break;
    case SHM_MSG_GET:
        req->u.get.name = take_name(c, names[0]);
        req->u.get.timeout_ms = take_timeout(c);
        break;
    case SHM_MSG_DELETE:
    case SHM_MSG_STAT:
        req->u.by_name.name = take_name(c, names[0]);
        break;
    case SHM_MSG_LIST:
        req->u.list.pattern = take_pattern(c, names[0]);
        if (next(c))
            req->u.list.cursor = take_name(c, names[1]);
        req->u.list.max = next(c);
        break;
    case SHM_MSG_DELETE_MATCHING:
        req->u.delete_matching.pattern = take_pattern(c, names[0]);
        break;
    case SHM_MSG_GET_CANCEL:
        req->u.get_cancel.get_seq = next(c);   /* a seq is one byte here too */
        break;
    case SHM_MSG_WATCH:   /* honoured after a HELLO whose flags asked to watch */
        req->u.watch.pattern = take_pattern(c, names[0]);
        req->u.watch.flags = next(c) % 4;
        break;
    default:   /* INFO, PING and type 0, which no daemon knows */
        break;
    }
}

/* Release through the ring as the client library does, or scribble on its counters. */
static void write_ring(struct shm_release_ring *ring, struct cursor *c)
{
    if (!ring)   /* no HELLO yet */
        return;
    if (next(c) % 2 == 0) {
        while (c->n && shm_ring_push(ring, take_id(c)) == 0)
            ;
        return;
    }
    uint32_t head = 0, tail = 0;
    for (int i = 0; i < 4; i++)
        head |= (uint32_t)next(c) << (8 * i);
    for (int i = 0; i < 4; i++)
        tail |= (uint32_t)next(c) << (8 * i);
    atomic_store(&ring->head, head);
    atomic_store(&ring->tail, tail);
}

/* The range must lie inside one segment the store holds. */
static int outside_segments(const struct server *s, uint64_t address, uint64_t size)
{
    uint64_t bytes;
    const uint64_t offset = SHM_ADDRESS_OFFSET(address);
    return space_segment(store_space(s->store), SHM_ADDRESS_SEGMENT(address), &bytes, NULL,
                         NULL) != 0 ||
           offset > bytes || size > bytes - offset;
}

static void check_object(const struct server *s, const struct shm_object *o)
{
    if (outside_segments(s, o->data_offset, o->size) ||
        outside_segments(s, o->meta_offset, o->meta_size))
        die("a reply describes an object outside the arena", NULL);
}

static struct inproc *tube;   /* the one daemon, built in LLVMFuzzerInitialize */

/* FUZZ_DAEMON_TRACE=1 prints every reply: to see how deep a seed gets. */
static int trace;

/* Take every reply, learn the ids in them and check what they describe. */
static void take_replies(struct inproc *ip)
{
    static struct shm_object entries[SHM_LIST_PAGE_MAX];
    const struct server *arena = inproc_server(ip);
    struct shm_reply rep;
    for (unsigned i = 0; i < FUZZ_CLIENTS; i++) {
        int rc;
        while ((rc = inproc_reply(ip, i, &rep, entries)) == 1) {
            if (trace && rep.status == 0 && rep.type == SHM_MSG_INFO)
                fprintf(stderr, "client %u: INFO seq %u: %llu objects, %llu pins, %llu deleted "
                        "but pinned, %llu bytes used\n", i, rep.seq,
                        (unsigned long long)rep.u.info.objects,
                        (unsigned long long)rep.u.info.pins,
                        (unsigned long long)rep.u.info.deleted_pinned,
                        (unsigned long long)rep.u.info.used_bytes);
            else if (trace)
                fprintf(stderr, "client %u: %s seq %u: %d %.*s\n", i, shm_msg_name(rep.type),
                        rep.seq, rep.status, rep.status ? (int)rep.u.error.len : 0,
                        rep.status ? (const char *)rep.u.error.ptr : "");
            if (rep.status != 0)
                continue;
            switch (rep.type) {
            case SHM_MSG_PUT: remember(rep.u.put.id); break;
            case SHM_MSG_CREATE: remember(rep.u.create.id); break;
            case SHM_MSG_GET:
            case SHM_MSG_STAT:
                check_object(arena, &rep.u.object);
                remember(rep.u.object.id);
                break;
            case SHM_MSG_LIST:
                for (uint32_t k = 0; k < rep.u.list.count; k++) {
                    check_object(arena, &entries[k]);
                    remember(entries[k].id);
                }
                break;
            default: break;
            }
        }
        if (rc < 0)
            die("the daemon sent a reply that does not decode", NULL);
    }
    if (inproc_malformed_replies(ip))
        die("the daemon sent a reply that does not decode", NULL);
}

static void settle(struct inproc *ip)
{
    if (inproc_run(ip) != 0)
        die("the event loop never settles", NULL);
    take_replies(ip);
    char why[512];
    if (store_check(inproc_server(ip)->store, why, sizeof why) != 0)
        die("store invariant broken", why);
}

/* Connect the record's client if it is not, then let it read its replies or not. */
static void ensure_connected(struct inproc *ip, unsigned client, uint8_t op)
{
    inproc_pause_reading(ip, client, 0);
    if (!inproc_is_open(ip, client)) {
        if (inproc_connect(ip, client) != 0)
            die("cannot connect a client", NULL);
        struct shm_reply rep;
        if (!(op & FUZZ_NO_HELLO) && inproc_hello(ip, client, &rep) < 0)
            die("the HELLO reply does not decode", NULL);
    }
    inproc_pause_reading(ip, client, (op & FUZZ_NO_READ) != 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_DAEMON_TRACE") != NULL;
    tube = inproc_new("4M", FUZZ_CLIENTS);
    if (!tube)
        die("cannot build the daemon", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inproc *ip = tube;
    nseen = 0;
    struct cursor in = {data, size};
    while (in.n >= FUZZ_RECORD_HEADER) {
        unsigned client = next(&in) % FUZZ_CLIENTS;
        uint8_t op = next(&in);
        size_t len = next(&in);
        len |= (size_t)next(&in) << 8;
        struct cursor payload = {in.p, len < in.n ? len : in.n};
        in.p += payload.n;
        in.n -= payload.n;
        switch (op & FUZZ_OP_MASK) {
        case FUZZ_RAW:
            ensure_connected(ip, client, op);
            inproc_send(ip, client, payload.p, payload.n);
            break;
        case FUZZ_REQUEST: {
            uint8_t names[2][320];
            struct shm_request req;
            build_request(&payload, &req, names);
            ensure_connected(ip, client, op);
            inproc_send_request(ip, client, &req);   /* unencodable (type 0): nothing sent */
            break;
        }
        case FUZZ_CLOSE:
            inproc_close(ip, client);
            break;
        case FUZZ_TIME:
            if (inproc_expire_timers(ip) != 0)
                die("the event loop never settles after the timers", NULL);
            break;
        case FUZZ_RING:
            ensure_connected(ip, client, op);
            write_ring(inproc_ring(ip, client), &payload);
            break;
        default:
            break;
        }
        settle(ip);
    }
    char why[512];
    if (inproc_reset(ip, why, sizeof why) != 0)
        die("the daemon does not come clean", why);
    return 0;
}
