/*
 * make_corpus.c — writes the fuzz targets' seed corpora (tests/fuzz/corpus/).
 *
 *   make_corpus PROTO_DIR DAEMON_DIR
 *
 * For fuzz_proto: the body of one well-formed request and reply of every type, encoded by the
 * codec itself. For fuzz_daemon: short scripts in its record format (fuzz_daemon.h) that walk
 * every request through its interesting paths — put and get, create with metadata and seal, a
 * get that waits and is woken, one that times out, one that is cancelled (and cancels that find
 * nothing to cancel), abort, a replace of a pinned object, a list with a pattern over pages, a
 * delete by pattern, a client that leaves holding pins and unsealed objects, releases through
 * the shared ring (and a ring scribbled on), a client that stops reading its replies — plus raw
 * frames that break the protocol. The fuzzer starts deep instead of having to find HELLO first.
 * Run it again after changing either format, and commit what it writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_daemon.h"
#include "proto.h"

static const char *dir;

static void write_file(const char *name, const void *bytes, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- fuzz_proto: message bodies ------------------------------------------------------------ */

static void body_file(const char *name, struct shm_buf *b)
{
    write_file(name, b->data + SHM_FRAME_HEADER, b->len - SHM_FRAME_HEADER);
    shm_buf_reset(b);
}

#define BYTES(s) ((struct shm_bytes){(const uint8_t *)(s), (uint32_t)strlen(s)})

static void proto_corpus(void)
{
    struct shm_buf b = {0};
    struct shm_request req = {.seq = 7};
    static const char *const names[] = {
        "", "hello", "put", "create", "seal", "abort", "get", "release", "delete", "stat",
        "list", "info", "ping", "delete-matching", "get-cancel", "sync", "verify", "stat-ex",
        "list-ex", "map-segment", "users", "watch", "event"};
    _Static_assert(sizeof names / sizeof names[0] == SHM_MSG_TYPE_END,
                   "a corpus file name for every message type");
    for (uint32_t type = SHM_MSG_HELLO; type < SHM_MSG_TYPE_END; type++) {
        memset(&req.u, 0, sizeof req.u);
        req.type = type;
        switch (type) {
        case SHM_MSG_HELLO: req.u.hello.version = SHM_PROTO_VERSION; req.u.hello.pid = 42; break;
        case SHM_MSG_PUT:
            req.u.put.name = BYTES("job7/input/x");
            req.u.put.data = BYTES("payload");
            req.u.put.meta = BYTES("dtype=f8");
            req.u.put.flags = SHM_FLAG_REPLACE;
            break;
        case SHM_MSG_CREATE:
            req.u.create.name = BYTES("big");
            req.u.create.size = 1u << 20;
            req.u.create.meta = BYTES("shape=(1024,128)");
            break;
        case SHM_MSG_GET: req.u.get.name = BYTES("x"); req.u.get.timeout_ms = 250; break;
        case SHM_MSG_DELETE:
        case SHM_MSG_STAT:
        case SHM_MSG_STAT_EX: req.u.by_name.name = BYTES("x"); break;
        case SHM_MSG_LIST:
        case SHM_MSG_LIST_EX:
            req.u.list.pattern = BYTES("job*");
            req.u.list.cursor = BYTES("job3");
            req.u.list.max = 2;
            break;
        case SHM_MSG_DELETE_MATCHING: req.u.delete_matching.pattern = BYTES("job7/*"); break;
        case SHM_MSG_GET_CANCEL: req.u.get_cancel.get_seq = 6; break;
        case SHM_MSG_MAP_SEGMENT: req.u.segment.id = 1; break;
        case SHM_MSG_WATCH:
            req.u.watch.pattern = BYTES("job7/*");
            req.u.watch.flags = SHM_WATCH_SNAPSHOT;
            break;
        case SHM_MSG_SEAL:
        case SHM_MSG_ABORT:
        case SHM_MSG_RELEASE: req.u.by_id.id = 1764633600000000ull; break;
        default: break;
        }
        char name[64];
        snprintf(name, sizeof name, "req-%s", names[type]);
        if (shm_encode_request(&req, &b) == 0)
            body_file(name, &b);
    }

    struct shm_object objs[3] = {
        {BYTES("job1"), 11, 0, 100, 128, 8, 1, 1764633600000000000, SHM_LOCATION_MEMORY, 0},
        {BYTES("job2"), 12, 4096, 0, 4096, 0, 0, 1764633600000000001, SHM_LOCATION_DISK, 1},
        {BYTES("job3"), 13, 8192, 70000, 81920, 100, 3, 1764633600000000002,
         SHM_LOCATION_MEMORY | SHM_LOCATION_DISK, 1},
    };
    const struct shm_verify_problem problems[2] = {
        {BYTES("job4"), 14, BYTES("checksum mismatch"), BYTES("rewritten from memory")},
        {BYTES("job5"), 15, BYTES("missing file"), BYTES("moved to corrupt/ and deleted")},
    };
    struct shm_reply rep = {.seq = 7};
    for (uint32_t type = SHM_MSG_HELLO; type < SHM_MSG_TYPE_END; type++) {
        memset(&rep.u, 0, sizeof rep.u);
        rep.type = type;
        rep.status = 0;
        rep.seq = type == SHM_MSG_EVENT ? 0 : 7;   /* the daemon starts events: seq 0 */
        switch (type) {
        case SHM_MSG_HELLO:
            rep.u.hello.version = SHM_PROTO_VERSION;
            rep.u.hello.arena_size = 16u << 20;
            rep.u.hello.client_id = 3;
            rep.u.hello.server_version = BYTES("0.1.0");
            break;
        case SHM_MSG_PUT: rep.u.put.id = 11; break;
        case SHM_MSG_CREATE: rep.u.create.id = 12; rep.u.create.data_offset = 4096; break;
        case SHM_MSG_MAP_SEGMENT:
            rep.u.segment.id = 1;
            rep.u.segment.bytes = 64u << 20;
            rep.u.segment.live = (struct shm_bytes){(const uint8_t *)"\0\0\0\0\1\0\0\0", 8};
            break;
        case SHM_MSG_GET:
        case SHM_MSG_STAT: rep.u.object = objs[0]; break;
        case SHM_MSG_STAT_EX: rep.u.object = objs[2]; break;
        case SHM_MSG_VERIFY:
            rep.u.verify.summary = (struct shm_verify_summary){1, 5, 1u << 20, 2, 1, 0, 12};
            rep.u.verify.count = 2;
            rep.u.verify.problems = problems;
            break;
        case SHM_MSG_LIST:
        case SHM_MSG_LIST_EX:
            rep.u.list.count = 3;
            rep.u.list.entries = objs;
            rep.u.list.next_cursor = BYTES("job3");
            break;
        case SHM_MSG_INFO:
            rep.u.info.capacity_bytes = 16u << 20;
            rep.u.info.used_bytes = 4096;
            rep.u.info.objects = 3;
            rep.u.info.errors[2] = 5;
            rep.u.info.version = BYTES("0.1.0");
            break;
        case SHM_MSG_DELETE_MATCHING: rep.u.delete_matching.deleted = 3; break;
        case SHM_MSG_EVENT:
            rep.u.event = (struct shm_event){SHM_EVENT_REPLACED, BYTES("job7/x"), 13, 70000,
                                             1764633600000000002, 0};
            break;
        default: break;
        }
        char name[64];
        snprintf(name, sizeof name, "rep-%s", names[type]);
        if (shm_encode_reply(&rep, &b) == 0)
            body_file(name, &b);
    }
    shm_encode_error(SHM_MSG_GET, 9, -3, &b, "x: not found");
    body_file("rep-error", &b);
    shm_buf_free(&b);
}

/* ---- fuzz_daemon: scripts of records ------------------------------------------------------- */

static uint8_t script[1 << 16];
static size_t script_len;

static void record(unsigned client, unsigned op, const uint8_t *payload, size_t len)
{
    script[script_len++] = (uint8_t)client;
    script[script_len++] = (uint8_t)op;
    script[script_len++] = (uint8_t)(len & 0xff);
    script[script_len++] = (uint8_t)(len >> 8);
    if (len)   /* payload is NULL then */
        memcpy(script + script_len, payload, len);
    script_len += len;
}

/* A compact request: type, seq, then the type's field bytes (fuzz_daemon.h). */
#define REQ(client, ...)                                                                        \
    do {                                                                                        \
        const uint8_t p_[] = {__VA_ARGS__};                                                     \
        record((client), FUZZ_REQUEST, p_, sizeof p_);                                          \
    } while (0)
#define CLOSE(client) record((client), FUZZ_CLOSE, NULL, 0)
#define TIME() record(0, FUZZ_TIME, NULL, 0)

/* Names in the compact form: n % 8 + 1 letters of "ab/c". */
#define NAME_A 0, 0
#define NAME_B 0, 1
#define NAME_AB 1, 0, 1
#define NAME_A_B 2, 0, 2, 1   /* "a/b" */
/* id byte: the k-th id seen in a reply (in order, from 0) */
#define SEEN(k) (k)

static void script_file(const char *name)
{
    write_file(name, script, script_len);
    script_len = 0;
}

/* Raw bytes of an encoded request, sent as they are. */
static void raw_request(unsigned client, unsigned op, const struct shm_request *req)
{
    struct shm_buf b = {0};
    if (shm_encode_request(req, &b) != 0)
        exit(1);
    record(client, FUZZ_RAW | op, b.data, b.len);
    shm_buf_free(&b);
}

static void daemon_corpus(void)
{
    /* put, get, stat, list, info, ping, release, delete */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 4, 1, 0);
    REQ(0, SHM_MSG_GET, 2, NAME_A, 0);
    REQ(0, SHM_MSG_STAT, 3, NAME_A);
    REQ(0, SHM_MSG_LIST, 4, 0, 0, 10);
    REQ(0, SHM_MSG_INFO, 5);
    REQ(0, SHM_MSG_PING, 6);
    REQ(0, SHM_MSG_RELEASE, 7, SEEN(0));
    REQ(0, SHM_MSG_DELETE, 8, NAME_A);
    REQ(0, SHM_MSG_INFO, 9);
    script_file("put-get-release-delete");

    /* create with metadata, seal, another client gets it */
    REQ(0, SHM_MSG_CREATE, 1, NAME_B, 1, 2, 2, 0);
    REQ(0, SHM_MSG_SEAL, 2, SEEN(0));
    REQ(1, SHM_MSG_GET, 1, NAME_B, 0);
    REQ(1, SHM_MSG_STAT, 2, NAME_B);
    REQ(1, SHM_MSG_RELEASE, 3, SEEN(1));
    REQ(0, SHM_MSG_DELETE, 3, NAME_B);
    script_file("create-meta-seal-get");

    /* a get that waits forever, woken by another client's seal */
    REQ(1, SHM_MSG_GET, 1, NAME_A, 1);
    REQ(0, SHM_MSG_CREATE, 1, NAME_A, 1, 1, 0, 0);
    REQ(0, SHM_MSG_SEAL, 2, SEEN(0));
    REQ(1, SHM_MSG_PING, 2);
    REQ(1, SHM_MSG_RELEASE, 3, SEEN(1));
    script_file("get-waits-woken-by-seal");

    /* a get that times out, and one woken by a put */
    REQ(1, SHM_MSG_GET, 1, NAME_AB, 2, 5);
    TIME();
    REQ(2, SHM_MSG_GET, 1, NAME_A, 2, 50);
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 1, 0, 0);
    REQ(2, SHM_MSG_INFO, 2);
    script_file("get-timeout-and-wake");

    /* cancels: of a get that waits forever; of nothing (twice, one of them a wrong seq while a
     * get waits, which then times out); of a get already woken, whose pin stays until close */
    REQ(1, SHM_MSG_GET, 1, NAME_A, 1);
    REQ(1, SHM_MSG_GET_CANCEL, 2, 1);
    REQ(1, SHM_MSG_GET_CANCEL, 3, 1);
    REQ(1, SHM_MSG_GET, 4, NAME_A, 2, 50);
    REQ(1, SHM_MSG_GET_CANCEL, 5, 9);
    TIME();
    REQ(2, SHM_MSG_GET, 1, NAME_B, 1);
    REQ(0, SHM_MSG_PUT, 1, NAME_B, 1, 0, 0);
    REQ(2, SHM_MSG_GET_CANCEL, 2, 1);
    REQ(0, SHM_MSG_INFO, 2);
    CLOSE(2);
    REQ(0, SHM_MSG_INFO, 3);
    script_file("get-cancel");

    /* abort, and a client that leaves an unsealed object behind */
    REQ(0, SHM_MSG_CREATE, 1, NAME_A, 2, 3, 0, 0);
    REQ(0, SHM_MSG_ABORT, 2, SEEN(0));
    REQ(0, SHM_MSG_CREATE, 3, NAME_A, 1, 4, 1, 0);
    REQ(1, SHM_MSG_CREATE, 1, NAME_A, 1, 4, 1, 0);   /* EEXIST: reserved */
    CLOSE(0);
    REQ(1, SHM_MSG_CREATE, 2, NAME_A, 1, 4, 1, 0);
    REQ(1, SHM_MSG_INFO, 3);
    script_file("abort-and-leave-unsealed");

    /* replace a pinned object, delete it, release the old pin */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 2, 0, 0);
    REQ(1, SHM_MSG_GET, 1, NAME_A, 0);
    REQ(0, SHM_MSG_PUT, 2, NAME_A, 3, 0, SHM_FLAG_REPLACE);
    REQ(0, SHM_MSG_CREATE, 3, NAME_A, 1, 1, 0, SHM_FLAG_REPLACE);
    REQ(0, SHM_MSG_SEAL, 4, SEEN(3));
    REQ(0, SHM_MSG_DELETE, 5, NAME_A);
    REQ(1, SHM_MSG_INFO, 2);
    REQ(1, SHM_MSG_RELEASE, 3, SEEN(1));
    REQ(1, SHM_MSG_INFO, 4);
    script_file("replace-pinned");

    /* list with a pattern over pages */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 0, 0, 0);
    REQ(0, SHM_MSG_PUT, 2, NAME_B, 0, 0, 0);
    REQ(0, SHM_MSG_PUT, 3, NAME_AB, 0, 0, 0);
    REQ(0, SHM_MSG_PUT, 4, NAME_A_B, 0, 0, 0);
    REQ(1, SHM_MSG_LIST, 1, 2, 0, 3, 0, 2);   /* "a*", first page of 2 */
    REQ(1, SHM_MSG_LIST, 2, 2, 0, 3, 1, NAME_AB, 2);   /* on from "ab" */
    REQ(1, SHM_MSG_LIST, 3, 0, 0, 0);         /* max 0 */
    script_file("list-pattern-pages");

    /* delete by pattern: a pinned match lives on until its release, an unsealed one with a
     * matching name is left to seal; an empty pattern is refused */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 0, 0, 0);
    REQ(0, SHM_MSG_PUT, 2, NAME_AB, 0, 0, 0);
    REQ(0, SHM_MSG_PUT, 3, NAME_A_B, 1, 0, 0);
    REQ(0, SHM_MSG_PUT, 4, NAME_B, 0, 0, 0);
    REQ(1, SHM_MSG_CREATE, 1, 2, 0, 2, 0, 1, 1, 0, 0);   /* "a/a", unsealed */
    REQ(2, SHM_MSG_GET, 1, NAME_A_B, 0);
    REQ(0, SHM_MSG_DELETE_MATCHING, 5, 2, 0, 3);        /* "a*" */
    REQ(0, SHM_MSG_DELETE_MATCHING, 6, 0);              /* "" */
    REQ(0, SHM_MSG_DELETE_MATCHING, 7, 1, 3);           /* "*" */
    REQ(2, SHM_MSG_INFO, 2);
    REQ(2, SHM_MSG_RELEASE, 3, SEEN(5));
    REQ(1, SHM_MSG_SEAL, 2, SEEN(4));
    REQ(0, SHM_MSG_INFO, 8);
    script_file("delete-matching");

    /* a client that goes away holding pins and an unsealed object */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 1, 1, 0);
    REQ(1, SHM_MSG_GET, 1, NAME_A, 0);
    REQ(1, SHM_MSG_GET, 2, NAME_A, 0);
    REQ(1, SHM_MSG_CREATE, 3, NAME_B, 2, 8, 1, 0);
    REQ(0, SHM_MSG_DELETE, 2, NAME_A);
    CLOSE(1);
    REQ(0, SHM_MSG_INFO, 3);
    script_file("leave-holding-pins");

    /* big sizes: the store is full, the name is too long */
    REQ(0, SHM_MSG_CREATE, 1, NAME_A, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0);
    REQ(0, SHM_MSG_CREATE, 2, NAME_A, 2, 0xff, 0, 0);
    REQ(0, SHM_MSG_PUT, 3, 0xff, 0, 0, 0);
    REQ(0, SHM_MSG_GET, 4, NAME_A, 3, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    script_file("limits");

    /* releases through the ring: drained at the next request, by the timer, at close */
    REQ(0, SHM_MSG_PUT, 1, NAME_A, 1, 0, 0);
    REQ(1, SHM_MSG_GET, 1, NAME_A, 0);
    REQ(1, SHM_MSG_GET, 2, NAME_A, 0);
    REQ(1, SHM_MSG_GET, 3, NAME_A, 0);
    const uint8_t push_one[] = {0, SEEN(1)};
    record(1, FUZZ_RING, push_one, sizeof push_one);
    REQ(1, SHM_MSG_PING, 4);
    record(1, FUZZ_RING, push_one, sizeof push_one);
    TIME();
    REQ(0, SHM_MSG_DELETE, 2, NAME_A);
    record(1, FUZZ_RING, push_one, sizeof push_one);
    CLOSE(1);
    REQ(0, SHM_MSG_INFO, 3);
    script_file("release-ring");

    /* a hostile ring: counters far apart, then ids nobody holds */
    REQ(0, SHM_MSG_PUT, 1, NAME_B, 1, 0, 0);
    REQ(1, SHM_MSG_GET, 1, NAME_B, 0);
    const uint8_t counters[] = {1, 0xff, 0xff, 0xff, 0x7f, 0x01, 0, 0, 0};
    record(1, FUZZ_RING, counters, sizeof counters);
    REQ(1, SHM_MSG_PING, 2);
    const uint8_t strangers[] = {0, FUZZ_ID_RAW, 1, 2, 3, 4, 5, 6, 7, 8, SEEN(0), SEEN(0)};
    record(1, FUZZ_RING, strangers, sizeof strangers);
    TIME();
    REQ(1, SHM_MSG_INFO, 3);
    script_file("release-ring-hostile");

    /* a client that stops reading its replies while it asks for many: the daemon's output
     * backs up in the socket, then in the connection */
    for (uint8_t i = 0; i < 8; i++) {
        /* a three-letter name, 4080 bytes inline, 1020 bytes of metadata */
        const uint8_t put[] = {SHM_MSG_PUT, i, 2, i % 4, i / 4, 0, 0xff, 0xff, 0};
        record(0, FUZZ_REQUEST, put, sizeof put);
    }
    struct shm_request info = {.type = SHM_MSG_INFO};
    struct shm_buf infos = {0};
    while (infos.len < 1900 && shm_encode_request(&info, &infos) == 0)
        ;
    for (int i = 0; i < 4; i++)   /* more replies than a socket holds */
        record(1, FUZZ_RAW | FUZZ_NO_READ, infos.data, infos.len);
    REQ(0, SHM_MSG_LIST, 1, 0, 0, 0xff);
    record(1, FUZZ_RAW, NULL, 0);   /* reads again */
    shm_buf_free(&infos);
    script_file("slow-reader");

    /* the handshake by hand: HELLO in raw bytes, then a raw PUT and GET */
    struct shm_request req = {.type = SHM_MSG_HELLO, .seq = 1};
    req.u.hello.version = SHM_PROTO_VERSION;
    raw_request(0, FUZZ_NO_HELLO, &req);
    req = (struct shm_request){.type = SHM_MSG_PUT, .seq = 2};
    req.u.put.name = BYTES("raw");
    req.u.put.data = BYTES("bytes");
    raw_request(0, 0, &req);
    req = (struct shm_request){.type = SHM_MSG_GET, .seq = 3};
    req.u.get.name = BYTES("raw");
    raw_request(0, 0, &req);
    req = (struct shm_request){.type = SHM_MSG_HELLO, .seq = 4};
    req.u.hello.version = SHM_PROTO_VERSION;
    raw_request(0, 0, &req);   /* HELLO twice */
    script_file("raw-handshake");

    /* protocol violations: no HELLO first, a bad frame length, garbage, a stalled frame */
    req = (struct shm_request){.type = SHM_MSG_PING, .seq = 1};
    raw_request(0, FUZZ_NO_HELLO, &req);
    const uint8_t zero_length[] = {0, 0, 0, 0};
    record(1, FUZZ_RAW, zero_length, sizeof zero_length);
    const uint8_t garbage[] = {3, 0, 0, 0, 0xc1, 0xc1, 0xc1};
    record(2, FUZZ_RAW, garbage, sizeof garbage);
    const uint8_t unknown[] = {4, 0, 0, 0, 0x93, 0x63, 0x05, 0xc0};   /* [99, 5, nil] */
    record(3, FUZZ_RAW, unknown, sizeof unknown);
    const uint8_t half[] = {100, 0, 0, 0, 0x92};
    record(3, FUZZ_RAW, half, sizeof half);
    TIME();
    record(0, FUZZ_RAW | FUZZ_NO_HELLO, half, sizeof half);
    TIME();
    script_file("protocol-violations");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_corpus PROTO_DIR DAEMON_DIR\n");
        return 2;
    }
    dir = argv[1];
    proto_corpus();
    dir = argv[2];
    daemon_corpus();
    return 0;
}
