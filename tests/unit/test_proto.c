/*
 * test_proto.c — unit tests of the wire codec (proto/proto.c, proto/mpread.c).
 *
 * Valid messages of every type are encoded, framed, decoded and compared field by field. Hostile
 * bodies are built by hand with msgpack-c's packer or as raw bytes (headers declaring 4 GiB,
 * 100,000 levels of nesting, wrong types, missing and extra fields), mutated from valid bodies,
 * or drawn from a seeded PRNG; the decoders must refuse them without crashing, reading out of
 * bounds or allocating, which ASan and valgrind check when the test runs under them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "msgbody.h"
#include "proto.h"
#include "shmstore.h"

/* ---- Helpers ---- */

static struct shm_bytes bytes_of(const char *s)
{
    return (struct shm_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

static void assert_bytes_equal(struct shm_bytes a, struct shm_bytes b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.ptr, b.ptr, a.len);
}

static int decode_request_body(const struct body *b, struct shm_request *req)
{
    return shm_decode_request((const uint8_t *)b->sb.data, b->sb.size, req);
}

static int decode_reply_body(const struct body *b, struct shm_reply *rep,
                             struct shm_object *entries)
{
    return shm_decode_reply((const uint8_t *)b->sb.data, b->sb.size, rep, entries);
}

/* Check that buf holds exactly one frame whose header matches its body; return the body. */
static const uint8_t *single_frame(const struct shm_buf *buf, uint32_t *body_len)
{
    assert_true(buf->len > SHM_FRAME_HEADER);
    assert_int_equal(shm_frame_length(buf->data, body_len), 0);
    assert_int_equal(SHM_FRAME_HEADER + (size_t)*body_len, buf->len);
    return buf->data + SHM_FRAME_HEADER;
}

static int decode_framed_request(const struct shm_buf *buf, struct shm_request *req)
{
    uint32_t len;
    const uint8_t *body = single_frame(buf, &len);
    return shm_decode_request(body, len, req);
}

static int decode_framed_reply(const struct shm_buf *buf, struct shm_reply *rep)
{
    uint32_t len;
    const uint8_t *body = single_frame(buf, &len);
    return shm_decode_reply(body, len, rep, NULL);
}

/* xorshift64*: deterministic across runs and platforms. */
static uint64_t prng_state = 0x9e3779b97f4a7c15u;
static uint32_t prng(void)
{
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    return (uint32_t)((prng_state * 0x2545f4914f6cdd1du) >> 32);
}

/* ---- Sample messages ---- */

static const uint8_t sample_data[] = { 0, 1, 2, 3, 0xff, 0xfe };
static const uint8_t sample_meta[] = "dtype=float32;shape=(3,4)";

#define N_SAMPLE_REQUESTS 20

static void sample_requests(struct shm_request req[N_SAMPLE_REQUESTS])
{
    memset(req, 0, N_SAMPLE_REQUESTS * sizeof *req);
    req[0] = (struct shm_request){ .type = SHM_MSG_HELLO, .seq = 1,
                                   .u.hello = { SHM_PROTO_VERSION, 4242, UINT32_MAX } };
    req[1] = (struct shm_request){ .type = SHM_MSG_PUT, .seq = UINT32_MAX };
    req[1].u.put.name = bytes_of("job7/input/x");
    req[1].u.put.data = (struct shm_bytes){ sample_data, sizeof sample_data };
    req[1].u.put.meta = (struct shm_bytes){ sample_meta, sizeof sample_meta - 1 };
    req[1].u.put.flags = SHM_FLAG_REPLACE;
    req[2] = (struct shm_request){ .type = SHM_MSG_CREATE, .seq = 3 };
    req[2].u.create.name = bytes_of("données/é");
    req[2].u.create.size = UINT64_MAX;
    req[2].u.create.meta = (struct shm_bytes){ NULL, 0 };
    req[3] = (struct shm_request){ .type = SHM_MSG_SEAL, .seq = 4, .u.by_id.id = 1ull << 40 };
    req[4] = (struct shm_request){ .type = SHM_MSG_ABORT, .seq = 5, .u.by_id.id = 7 };
    req[5] = (struct shm_request){ .type = SHM_MSG_GET, .seq = 6 };
    req[5].u.get.name = bytes_of("a");
    req[5].u.get.timeout_ms = SHM_TIMEOUT_FOREVER;
    req[6] = (struct shm_request){ .type = SHM_MSG_RELEASE, .seq = 7, .u.by_id.id = UINT64_MAX };
    req[7] = (struct shm_request){ .type = SHM_MSG_DELETE, .seq = 8 };
    req[7].u.by_name.name = bytes_of("gone");
    req[8] = (struct shm_request){ .type = SHM_MSG_STAT, .seq = 9 };
    req[8].u.by_name.name = bytes_of("job7/output");
    req[9] = (struct shm_request){ .type = SHM_MSG_LIST, .seq = 10 };
    req[9].u.list.pattern = bytes_of("job7/*");
    req[9].u.list.cursor = bytes_of("job7/input/x");
    req[9].u.list.max = SHM_LIST_PAGE_MAX;
    req[10] = (struct shm_request){ .type = SHM_MSG_INFO, .seq = 11 };
    req[11] = (struct shm_request){ .type = SHM_MSG_PING, .seq = 0 };
    req[12] = (struct shm_request){ .type = SHM_MSG_DELETE_MATCHING, .seq = 13 };
    req[12].u.delete_matching.pattern = bytes_of("job7/[ab]*");
    req[13] = (struct shm_request){ .type = SHM_MSG_GET_CANCEL, .seq = 14 };
    req[13].u.get_cancel.get_seq = UINT32_MAX;
    req[14] = (struct shm_request){ .type = SHM_MSG_SYNC, .seq = 15 };
    req[15] = (struct shm_request){ .type = SHM_MSG_VERIFY, .seq = 16 };
    req[16] = (struct shm_request){ .type = SHM_MSG_STAT_EX, .seq = 17 };
    req[16].u.by_name.name = bytes_of("job7/données");
    req[17] = (struct shm_request){ .type = SHM_MSG_LIST_EX, .seq = 18 };
    req[17].u.list.pattern = bytes_of("job7/*");
    req[17].u.list.cursor = bytes_of("");
    req[17].u.list.max = 1;
    req[18] = (struct shm_request){ .type = SHM_MSG_MAP_SEGMENT, .seq = 19 };
    req[18].u.segment.id = UINT32_MAX;
    req[19] = (struct shm_request){ .type = SHM_MSG_WATCH, .seq = 20 };
    req[19].u.watch.pattern = bytes_of("job7/*");
    req[19].u.watch.flags = SHM_WATCH_SNAPSHOT;
}

static void assert_requests_equal(const struct shm_request *a, const struct shm_request *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->seq, b->seq);
    switch (a->type) {
    case SHM_MSG_HELLO:
        assert_int_equal(a->u.hello.version, b->u.hello.version);
        assert_int_equal(a->u.hello.pid, b->u.hello.pid);
        assert_int_equal(a->u.hello.flags, b->u.hello.flags);
        break;
    case SHM_MSG_PUT:
        assert_bytes_equal(a->u.put.name, b->u.put.name);
        assert_bytes_equal(a->u.put.data, b->u.put.data);
        assert_bytes_equal(a->u.put.meta, b->u.put.meta);
        assert_int_equal(a->u.put.flags, b->u.put.flags);
        break;
    case SHM_MSG_CREATE:
        assert_bytes_equal(a->u.create.name, b->u.create.name);
        assert_true(a->u.create.size == b->u.create.size);
        assert_bytes_equal(a->u.create.meta, b->u.create.meta);
        assert_int_equal(a->u.create.flags, b->u.create.flags);
        break;
    case SHM_MSG_SEAL:
    case SHM_MSG_ABORT:
    case SHM_MSG_RELEASE:
        assert_true(a->u.by_id.id == b->u.by_id.id);
        break;
    case SHM_MSG_GET:
        assert_bytes_equal(a->u.get.name, b->u.get.name);
        assert_true(a->u.get.timeout_ms == b->u.get.timeout_ms);
        break;
    case SHM_MSG_DELETE:
    case SHM_MSG_STAT:
    case SHM_MSG_STAT_EX:
        assert_bytes_equal(a->u.by_name.name, b->u.by_name.name);
        break;
    case SHM_MSG_LIST:
    case SHM_MSG_LIST_EX:
        assert_bytes_equal(a->u.list.pattern, b->u.list.pattern);
        assert_bytes_equal(a->u.list.cursor, b->u.list.cursor);
        assert_int_equal(a->u.list.max, b->u.list.max);
        break;
    case SHM_MSG_DELETE_MATCHING:
        assert_bytes_equal(a->u.delete_matching.pattern, b->u.delete_matching.pattern);
        break;
    case SHM_MSG_GET_CANCEL:
        assert_int_equal(a->u.get_cancel.get_seq, b->u.get_cancel.get_seq);
        break;
    case SHM_MSG_MAP_SEGMENT:
        assert_int_equal(a->u.segment.id, b->u.segment.id);
    case SHM_MSG_WATCH:
        assert_bytes_equal(a->u.watch.pattern, b->u.watch.pattern);
        assert_int_equal(a->u.watch.flags, b->u.watch.flags);
        break;
    default:
        break;
    }
}

static struct shm_object sample_object(const char *name, uint64_t n)
{
    return (struct shm_object){ .name = bytes_of(name), .id = n, .data_offset = n * 4096,
                                .size = UINT64_MAX - n, .meta_offset = n * 64, .meta_size = n,
                                .pins = n % 3, .created_ns = n % 2 ? INT64_MIN : 1700000000123456789 };
}

static struct shm_object sample_entries[3];

/* A placed object: where it is and whether it is durable travel too. */
static struct shm_object sample_placed(const char *name, uint64_t n, uint32_t location, int durable)
{
    struct shm_object obj = sample_object(name, n);
    obj.location = location;
    obj.durable = durable;
    return obj;
}

static struct shm_object sample_placed_entries[3];

static const struct shm_verify_problem sample_problems[] = {
    { { (const uint8_t *)"job7/a", 6 }, 1, { (const uint8_t *)"checksum mismatch", 17 },
      { (const uint8_t *)"rewritten from memory", 21 } },
    { { (const uint8_t *)"job7/données", 13 }, UINT64_MAX, { (const uint8_t *)"missing file", 12 },
      { (const uint8_t *)"", 0 } },
};

#define N_SAMPLE_REPLIES 27

/* OK replies of every type that has a reply, a LIST with several entries and one with none,
 * and error replies to known types (a GET's EINTR after its cancel among them) and to an
 * unknown type. */
static void sample_replies(struct shm_reply rep[N_SAMPLE_REPLIES])
{
    memset(rep, 0, N_SAMPLE_REPLIES * sizeof *rep);
    sample_entries[0] = sample_object("job7/a", 1);
    sample_entries[1] = sample_object("job7/données", 2);
    sample_entries[2] = sample_object("job7/c", 3);

    rep[0] = (struct shm_reply){ .type = SHM_MSG_HELLO, .seq = 1 };
    rep[0].u.hello.version = SHM_PROTO_VERSION;
    rep[0].u.hello.arena_size = 1ull << 34;
    rep[0].u.hello.client_id = 99;
    rep[0].u.hello.server_version = bytes_of("0.1.0");
    rep[1] = (struct shm_reply){ .type = SHM_MSG_PUT, .seq = 2, .u.put.id = 12345 };
    rep[2] = (struct shm_reply){ .type = SHM_MSG_CREATE, .seq = 3 };
    rep[2].u.create.id = UINT64_MAX;
    rep[2].u.create.data_offset = 1ull << 33;
    rep[3] = (struct shm_reply){ .type = SHM_MSG_SEAL, .seq = 4 };
    rep[4] = (struct shm_reply){ .type = SHM_MSG_ABORT, .seq = 5 };
    rep[5] = (struct shm_reply){ .type = SHM_MSG_GET, .seq = 6, .u.object = sample_object("x", 5) };
    rep[6] = (struct shm_reply){ .type = SHM_MSG_DELETE, .seq = 7 };
    rep[7] = (struct shm_reply){ .type = SHM_MSG_STAT, .seq = 8, .u.object = sample_object("y", 6) };
    rep[8] = (struct shm_reply){ .type = SHM_MSG_LIST, .seq = 9 };
    rep[8].u.list.count = 3;
    rep[8].u.list.entries = sample_entries;
    rep[8].u.list.next_cursor = bytes_of("job7/c");
    rep[9] = (struct shm_reply){ .type = SHM_MSG_LIST, .seq = 10 };
    rep[9].u.list.next_cursor = bytes_of("");
    rep[9].u.list.done = 1;
    rep[10] = (struct shm_reply){ .type = SHM_MSG_INFO, .seq = 11 };
    rep[10].u.info = (struct shm_info){ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, UINT64_MAX,
                                        .version = bytes_of("0.1.0") };
    for (int code = 1; code < -SHMSTORE_ERRNO_END_; code++)   /* every error counter travels */
        rep[10].u.info.errors[code] = 1000u + (uint64_t)code;
    rep[11] = (struct shm_reply){ .type = SHM_MSG_PING, .seq = 12 };
    rep[12] = (struct shm_reply){ .type = SHM_MSG_DELETE_MATCHING, .seq = 13 };
    rep[12].u.delete_matching.deleted = UINT64_MAX - 1;
    rep[13] = (struct shm_reply){ .type = SHM_MSG_PUT, .seq = 14, .status = SHMSTORE_ENOSPC };
    rep[13].u.error = bytes_of("asked 1 GiB, 12 MiB free");
    rep[14] = (struct shm_reply){ .type = 77, .seq = 15, .status = SHMSTORE_EPROTO };
    rep[14].u.error = bytes_of("unknown request type 77");
    rep[15] = (struct shm_reply){ .type = SHM_MSG_GET_CANCEL, .seq = 16 };
    rep[16] = (struct shm_reply){ .type = SHM_MSG_GET, .seq = 17, .status = SHMSTORE_EINTR };
    rep[16].u.error = bytes_of("the wait for 'x' was interrupted");
    rep[17] = (struct shm_reply){ .type = SHM_MSG_SYNC, .seq = 18 };
    rep[18] = (struct shm_reply){ .type = SHM_MSG_VERIFY, .seq = 19 };
    rep[18].u.verify.summary = (struct shm_verify_summary){ 1, 2, UINT64_MAX, 4, 5, 6, 7 };
    rep[18].u.verify.count = 2;
    rep[18].u.verify.problems = sample_problems;
    rep[19] = (struct shm_reply){ .type = SHM_MSG_VERIFY, .seq = 20 };   /* no data directory */
    rep[20] = (struct shm_reply){ .type = SHM_MSG_STAT_EX, .seq = 21 };
    rep[20].u.object = sample_placed("y", 6, SHM_LOCATION_DISK, 1);
    sample_placed_entries[0] = sample_placed("job7/a", 1, SHM_LOCATION_MEMORY, 0);
    sample_placed_entries[1] = sample_placed("job7/b", 2, SHM_LOCATION_DISK, 1);
    sample_placed_entries[2] = sample_placed("job7/c", 3, SHM_LOCATION_MEMORY | SHM_LOCATION_DISK, 1);
    rep[21] = (struct shm_reply){ .type = SHM_MSG_LIST_EX, .seq = 22 };
    rep[21].u.list.count = 3;
    rep[21].u.list.entries = sample_placed_entries;
    rep[21].u.list.next_cursor = bytes_of("job7/c");
    rep[22] = (struct shm_reply){ .type = SHM_MSG_INFO, .seq = 23 };   /* the disk figures */
    rep[22].u.info.disk_objects = 1;
    rep[22].u.info.disk_bytes = 2;
    rep[22].u.info.disk_only_objects = 3;
    rep[22].u.info.pending_writes = 4;
    rep[22].u.info.failed_writes = 5;
    rep[22].u.info.spills = 6;
    rep[22].u.info.spill_bytes = 7;
    rep[22].u.info.restores = 8;
    rep[22].u.info.restore_bytes = 9;
    rep[22].u.info.evictions = UINT64_MAX;
    rep[22].u.info.taken_bytes = 10;
    rep[22].u.info.segments = 11;
    rep[22].u.info.version = bytes_of("");
    static const uint8_t live[8] = {0, 0, 0, 0, 7, 0, 0, 0};
    rep[23] = (struct shm_reply){ .type = SHM_MSG_MAP_SEGMENT, .seq = 24 };
    rep[23].u.segment.id = 7;
    rep[23].u.segment.bytes = 1ull << 40;
    rep[23].u.segment.live = (struct shm_bytes){live, sizeof live};
    rep[24] = (struct shm_reply){ .type = SHM_MSG_WATCH, .seq = 25 };
    rep[25] = (struct shm_reply){ .type = SHM_MSG_EVENT, .seq = 0 };
    rep[25].u.event = (struct shm_event){ SHM_EVENT_REPLACED, bytes_of("job7/données"),
                                          UINT64_MAX, 1ull << 40, INT64_MIN, 0 };
    rep[26] = (struct shm_reply){ .type = SHM_MSG_EVENT, .seq = 0 };   /* a marker */
    rep[26].u.event = (struct shm_event){ SHM_EVENT_LOST, bytes_of(""), 0, 0,
                                          1700000000123456789, UINT64_MAX };
}

static void assert_objects_equal(const struct shm_object *a, const struct shm_object *b)
{
    assert_bytes_equal(a->name, b->name);
    assert_true(a->id == b->id);
    assert_true(a->data_offset == b->data_offset);
    assert_true(a->size == b->size);
    assert_true(a->meta_offset == b->meta_offset);
    assert_true(a->meta_size == b->meta_size);
    assert_true(a->pins == b->pins);
    assert_true(a->created_ns == b->created_ns);
}

static void assert_placed_equal(const struct shm_object *a, const struct shm_object *b)
{
    assert_objects_equal(a, b);
    assert_int_equal(a->location, b->location);
    assert_int_equal(a->durable, b->durable);
}

static void assert_verify_equal(const struct shm_reply *a, const struct shm_reply *b)
{
#define SAME(member) assert_true(a->u.verify.summary.member == b->u.verify.summary.member)
    SAME(data_dir); SAME(objects); SAME(bytes); SAME(problems); SAME(pending); SAME(unlisted);
    SAME(duration_ms);
#undef SAME
    assert_int_equal(a->u.verify.count, b->u.verify.count);
    size_t offset = 0;
    struct shm_verify_problem p;
    for (uint32_t i = 0; i < a->u.verify.count; i++) {
        assert_int_equal(shm_verify_problem_next(b, &offset, &p), 0);
        assert_bytes_equal(a->u.verify.problems[i].name, p.name);
        assert_true(a->u.verify.problems[i].id == p.id);
        assert_bytes_equal(a->u.verify.problems[i].what, p.what);
        assert_bytes_equal(a->u.verify.problems[i].action, p.action);
    }
    assert_int_equal(shm_verify_problem_next(b, &offset, &p), -1);
}

static void assert_infos_equal(const struct shm_info *a, const struct shm_info *b)
{
#define SAME(member) assert_true(a->member == b->member)
    SAME(capacity_bytes); SAME(used_bytes); SAME(free_bytes); SAME(largest_free_bytes);
    SAME(objects); SAME(unsealed_objects); SAME(unsealed_bytes); SAME(deleted_pinned);
    SAME(pins); SAME(clients); SAME(waiters); SAME(uptime_s); SAME(requests);
    SAME(disk_objects); SAME(disk_bytes); SAME(disk_only_objects); SAME(pending_writes);
    SAME(failed_writes); SAME(spills); SAME(spill_bytes); SAME(restores); SAME(restore_bytes);
    SAME(evictions);
    SAME(taken_bytes);
    SAME(segments);
#undef SAME
    for (size_t code = 0; code < SHM_ERROR_SLOTS; code++)
        assert_true(a->errors[code] == b->errors[code]);
    assert_bytes_equal(a->version, b->version);
}

static void assert_replies_equal(const struct shm_reply *a, const struct shm_reply *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->status, b->status);
    if (a->status != 0) {
        assert_bytes_equal(a->u.error, b->u.error);
        return;
    }
    switch (a->type) {
    case SHM_MSG_HELLO:
        assert_int_equal(a->u.hello.version, b->u.hello.version);
        assert_true(a->u.hello.arena_size == b->u.hello.arena_size);
        assert_true(a->u.hello.client_id == b->u.hello.client_id);
        assert_bytes_equal(a->u.hello.server_version, b->u.hello.server_version);
        break;
    case SHM_MSG_PUT:
        assert_true(a->u.put.id == b->u.put.id);
        break;
    case SHM_MSG_CREATE:
        assert_true(a->u.create.id == b->u.create.id);
        assert_true(a->u.create.data_offset == b->u.create.data_offset);
        break;
    case SHM_MSG_GET:
    case SHM_MSG_STAT:
        assert_objects_equal(&a->u.object, &b->u.object);
        break;
    case SHM_MSG_LIST:
        assert_int_equal(a->u.list.count, b->u.list.count);
        for (uint32_t i = 0; i < a->u.list.count; i++)
            assert_objects_equal(&a->u.list.entries[i], &b->u.list.entries[i]);
        assert_bytes_equal(a->u.list.next_cursor, b->u.list.next_cursor);
        assert_int_equal(a->u.list.done, b->u.list.done);
        break;
    case SHM_MSG_INFO:
        assert_infos_equal(&a->u.info, &b->u.info);
        break;
    case SHM_MSG_STAT_EX:
        assert_placed_equal(&a->u.object, &b->u.object);
        break;
    case SHM_MSG_LIST_EX:
        assert_int_equal(a->u.list.count, b->u.list.count);
        for (uint32_t i = 0; i < a->u.list.count; i++)
            assert_placed_equal(&a->u.list.entries[i], &b->u.list.entries[i]);
        assert_bytes_equal(a->u.list.next_cursor, b->u.list.next_cursor);
        assert_int_equal(a->u.list.done, b->u.list.done);
        break;
    case SHM_MSG_VERIFY:
        assert_verify_equal(a, b);
        break;
    case SHM_MSG_MAP_SEGMENT:
        assert_int_equal(a->u.segment.id, b->u.segment.id);
        assert_true(a->u.segment.bytes == b->u.segment.bytes);
        assert_bytes_equal(a->u.segment.live, b->u.segment.live);
        break;
    case SHM_MSG_DELETE_MATCHING:
        assert_true(a->u.delete_matching.deleted == b->u.delete_matching.deleted);
        break;
    case SHM_MSG_EVENT:
        assert_int_equal(a->u.event.kind, b->u.event.kind);
        assert_bytes_equal(a->u.event.name, b->u.event.name);
        assert_true(a->u.event.id == b->u.event.id);
        assert_true(a->u.event.size == b->u.event.size);
        assert_true(a->u.event.time_ns == b->u.event.time_ns);
        assert_true(a->u.event.count == b->u.event.count);
        break;
    default:
        break;
    }
}

/* Encoded bodies of every sample, requests then replies, for the hostile-input tests. */
struct sample_body {
    int is_request;
    uint32_t type;
    uint8_t *body;
    uint32_t len;
};
#define N_SAMPLE_BODIES (N_SAMPLE_REQUESTS + N_SAMPLE_REPLIES)
static struct sample_body sample_bodies[N_SAMPLE_BODIES];
static struct shm_buf samples_buf;

static int setup_sample_bodies(void **state)
{
    (void)state;
    struct shm_request req[N_SAMPLE_REQUESTS];
    struct shm_reply rep[N_SAMPLE_REPLIES];
    size_t starts[N_SAMPLE_BODIES];
    sample_requests(req);
    sample_replies(rep);
    for (int i = 0; i < N_SAMPLE_BODIES; i++) {
        starts[i] = samples_buf.len;
        int rc = i < N_SAMPLE_REQUESTS ? shm_encode_request(&req[i], &samples_buf)
                                       : shm_encode_reply(&rep[i - N_SAMPLE_REQUESTS], &samples_buf);
        if (rc)
            return -1;
        sample_bodies[i].is_request = i < N_SAMPLE_REQUESTS;
        sample_bodies[i].type = i < N_SAMPLE_REQUESTS ? req[i].type : rep[i - N_SAMPLE_REQUESTS].type;
    }
    /* Pointers only now that the buffer has stopped moving; frames sit back to back. */
    for (int i = 0; i < N_SAMPLE_BODIES; i++) {
        if (shm_frame_length(samples_buf.data + starts[i], &sample_bodies[i].len))
            return -1;
        sample_bodies[i].body = samples_buf.data + starts[i] + SHM_FRAME_HEADER;
    }
    return 0;
}

static int teardown_sample_bodies(void **state)
{
    (void)state;
    shm_buf_free(&samples_buf);
    return 0;
}

/* Decode a body as what it claims to be; the result must be one of the three defined ones. */
static int decode_as(const struct sample_body *s, const uint8_t *body, size_t len)
{
    static struct shm_object entries[SHM_LIST_PAGE_MAX];
    struct shm_request req;
    struct shm_reply rep;
    int rc = s->is_request ? shm_decode_request(body, len, &req)
                           : shm_decode_reply_to(s->type, body, len, &rep, entries);
    assert_true(rc == SHM_DECODE_OK || rc == SHM_DECODE_MALFORMED || rc == SHM_DECODE_UNKNOWN);
    return rc;
}

/* A copy in a heap block of exactly len bytes, so ASan sees any read past the end. */
static uint8_t *exact_copy(const uint8_t *src, size_t len, size_t extra)
{
    uint8_t *copy = malloc(len + extra ? len + extra : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, src, len);
    return copy;
}

/* ---- Round trips ---- */

static void test_frame_length(void **state)
{
    (void)state;
    uint32_t len = 12345;
    const uint8_t zero[4] = { 0, 0, 0, 0 };
    const uint8_t one[4] = { 1, 0, 0, 0 };
    const uint8_t little_endian[4] = { 0x34, 0x12, 0x01, 0 };
    const uint8_t max[4] = { 0, 0, 4, 0 };        /* 256 KiB */
    const uint8_t over[4] = { 1, 0, 4, 0 };
    const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };

    assert_int_equal(shm_frame_length(zero, &len), -1);
    assert_int_equal(shm_frame_length(over, &len), -1);
    assert_int_equal(shm_frame_length(huge, &len), -1);
    assert_int_equal(shm_frame_length(one, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(shm_frame_length(little_endian, &len), 0);
    assert_int_equal(len, 0x011234);
    assert_int_equal(shm_frame_length(max, &len), 0);
    assert_int_equal(len, SHM_FRAME_MAX);
}

static void test_request_roundtrip(void **state)
{
    (void)state;
    struct shm_request req[N_SAMPLE_REQUESTS];
    sample_requests(req);
    for (int i = 0; i < N_SAMPLE_REQUESTS; i++) {
        struct shm_buf buf = { 0 };
        struct shm_request back;
        uint32_t len;
        assert_int_equal(shm_encode_request(&req[i], &buf), 0);
        const uint8_t *body = single_frame(&buf, &len);
        assert_int_equal(shm_decode_request(body, len, &back), SHM_DECODE_OK);
        assert_requests_equal(&req[i], &back);
        shm_buf_free(&buf);
    }
}

static void test_reply_roundtrip(void **state)
{
    (void)state;
    struct shm_reply rep[N_SAMPLE_REPLIES];
    sample_replies(rep);
    for (int i = 0; i < N_SAMPLE_REPLIES; i++) {
        struct shm_object entries[SHM_LIST_PAGE_MAX];
        struct shm_buf buf = { 0 };
        struct shm_reply back;
        uint32_t len;
        assert_int_equal(shm_encode_reply(&rep[i], &buf), 0);
        const uint8_t *body = single_frame(&buf, &len);
        assert_int_equal(shm_decode_reply_to(rep[i].type, body, len, &back, entries), SHM_DECODE_OK);
        assert_replies_equal(&rep[i], &back);
        if (rep[i].type == SHM_MSG_LIST && rep[i].status == 0)
            assert_ptr_equal(back.u.list.entries, entries);
        assert_int_equal(shm_decode_reply(body, len, &back, entries), SHM_DECODE_OK);
        assert_replies_equal(&rep[i], &back);
        shm_buf_free(&buf);
    }
}

static void test_error_replies(void **state)
{
    (void)state;
    struct shm_buf buf = { 0 };
    struct shm_reply back;
    uint32_t len;

    /* An error reply exists for every type but RELEASE, known or not. */
    for (uint32_t type = 0; type <= SHM_MSG_TYPE_END + 1; type++) {
        shm_buf_reset(&buf);
        int rc = shm_encode_error(type, 40 + type, SHMSTORE_ENOTFOUND, &buf, "%s: %s", "job7/x",
                                  "not found");
        if (type == SHM_MSG_RELEASE) {
            assert_int_equal(rc, -1);
            assert_int_equal(buf.len, 0);
            continue;
        }
        assert_int_equal(rc, 0);
        const uint8_t *body = single_frame(&buf, &len);
        assert_int_equal(shm_decode_reply_to(type, body, len, &back, NULL), SHM_DECODE_OK);
        assert_int_equal(back.type, type);
        assert_int_equal(back.seq, 40 + type);
        assert_int_equal(back.status, SHMSTORE_ENOTFOUND);
        assert_bytes_equal(back.u.error, bytes_of("job7/x: not found"));
    }

    /* The detail is cut to 1 KiB (with its NUL). */
    char long_detail[3000];
    memset(long_detail, 'x', sizeof long_detail - 1);
    long_detail[sizeof long_detail - 1] = '\0';
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_error(SHM_MSG_GET, 1, SHMSTORE_EIO, &buf, "%s", long_detail), 0);
    const uint8_t *body = single_frame(&buf, &len);
    assert_int_equal(shm_decode_reply(body, len, &back, NULL), SHM_DECODE_OK);
    assert_int_equal(back.u.error.len, 1023);

    /* Status 0 would make an "error" that reads as a success. */
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_error(SHM_MSG_GET, 1, 0, &buf, "oops"), -1);
    assert_int_equal(buf.len, 0);
    shm_buf_free(&buf);
}

static void test_frames_append(void **state)
{
    (void)state;
    struct shm_buf buf = { 0 };
    struct shm_request ping = { .type = SHM_MSG_PING, .seq = 1 }, back;
    uint32_t len;
    assert_int_equal(shm_encode_request(&ping, &buf), 0);
    size_t first = buf.len;
    ping.seq = 2;
    assert_int_equal(shm_encode_request(&ping, &buf), 0);
    assert_int_equal(buf.len, 2 * first);
    assert_int_equal(shm_frame_length(buf.data + first, &len), 0);
    assert_int_equal(shm_decode_request(buf.data + first + SHM_FRAME_HEADER, len, &back),
                     SHM_DECODE_OK);
    assert_int_equal(back.seq, 2);

    size_t cap = buf.cap;
    shm_buf_reset(&buf);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.cap, cap);
    shm_buf_free(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.cap, 0);
    shm_buf_free(&buf);   /* twice is harmless */
}

/* ---- What the encoder refuses ---- */

static void test_encode_frame_limit(void **state)
{
    (void)state;
    struct shm_buf buf = { 0 };
    struct shm_request ping = { .type = SHM_MSG_PING, .seq = 1 };
    assert_int_equal(shm_encode_request(&ping, &buf), 0);
    size_t before_len = buf.len;
    uint8_t before[16];
    memcpy(before, buf.data, before_len);

    /* Find the PUT's overhead with a body well inside a frame, then hit the limit exactly. */
    uint8_t *payload = calloc(1, SHM_FRAME_MAX + 1);
    assert_non_null(payload);
    struct shm_request put = { .type = SHM_MSG_PUT, .seq = 2 };
    put.u.put.name = bytes_of("big");
    put.u.put.data = (struct shm_bytes){ payload, 70000 };
    struct shm_buf probe = { 0 };
    assert_int_equal(shm_encode_request(&put, &probe), 0);
    size_t overhead = probe.len - SHM_FRAME_HEADER - 70000;
    shm_buf_free(&probe);

    put.u.put.data.len = (uint32_t)(SHM_FRAME_MAX - overhead);
    assert_int_equal(shm_encode_request(&put, &buf), 0);
    uint32_t len;
    assert_int_equal(shm_frame_length(buf.data + before_len, &len), 0);
    assert_int_equal(len, SHM_FRAME_MAX);
    buf.len = before_len;

    put.u.put.data.len++;
    assert_int_equal(shm_encode_request(&put, &buf), -1);
    assert_int_equal(buf.len, before_len);
    assert_memory_equal(buf.data, before, before_len);

    put.u.put.data.len = SHM_FRAME_MAX + 1;
    assert_int_equal(shm_encode_request(&put, &buf), -1);
    assert_int_equal(buf.len, before_len);
    assert_memory_equal(buf.data, before, before_len);

    free(payload);
    shm_buf_free(&buf);
}

static void test_encode_refuses_impossible_messages(void **state)
{
    (void)state;
    struct shm_buf buf = { 0 };
    struct shm_request unknown = { .type = SHM_MSG_TYPE_END, .seq = 1 };
    struct shm_request zero = { .type = 0, .seq = 1 };
    struct shm_reply release = { .type = SHM_MSG_RELEASE, .seq = 1 };
    struct shm_reply unknown_ok = { .type = 99, .seq = 1 };
    struct shm_reply positive = { .type = SHM_MSG_PING, .seq = 1, .status = 1 };
    struct shm_reply long_list = { .type = SHM_MSG_LIST, .seq = 1 };
    struct shm_reply null_list = { .type = SHM_MSG_LIST, .seq = 1 };
    static struct shm_object many[SHM_LIST_PAGE_MAX + 1];
    long_list.u.list.count = SHM_LIST_PAGE_MAX + 1;
    long_list.u.list.entries = many;
    null_list.u.list.count = 1;

    assert_int_equal(shm_encode_request(&unknown, &buf), -1);
    assert_int_equal(shm_encode_request(&zero, &buf), -1);
    assert_int_equal(shm_encode_reply(&release, &buf), -1);
    release.status = SHMSTORE_ESTATE;
    assert_int_equal(shm_encode_reply(&release, &buf), -1);
    assert_int_equal(shm_encode_reply(&unknown_ok, &buf), -1);
    assert_int_equal(shm_encode_reply(&positive, &buf), -1);
    assert_int_equal(shm_encode_reply(&long_list, &buf), -1);
    assert_int_equal(shm_encode_reply(&null_list, &buf), -1);
    assert_int_equal(buf.len, 0);

    long_list.u.list.count = SHM_LIST_PAGE_MAX;
    assert_int_equal(shm_encode_reply(&long_list, &buf), 0);
    shm_buf_free(&buf);
}

/* ---- Hostile input ---- */

static void test_truncations(void **state)
{
    (void)state;
    for (int i = 0; i < N_SAMPLE_BODIES; i++) {
        const struct sample_body *s = &sample_bodies[i];
        for (uint32_t len = 0; len < s->len; len++) {
            uint8_t *copy = exact_copy(s->body, len, 0);
            assert_int_equal(decode_as(s, copy, len), SHM_DECODE_MALFORMED);
            free(copy);
        }
        assert_int_equal(decode_as(s, s->body, s->len), SHM_DECODE_OK);
    }
}

static void test_trailing_and_extra_bytes(void **state)
{
    (void)state;
    for (int i = 0; i < N_SAMPLE_BODIES; i++) {
        const struct sample_body *s = &sample_bodies[i];
        uint8_t *copy = exact_copy(s->body, s->len, 1);
        assert_true(copy[0] >= 0x92 && copy[0] < 0x9f);   /* all samples use a fixarray */

        copy[s->len] = 0xc0;                                 /* garbage after the array */
        assert_int_equal(decode_as(s, copy, s->len + 1), SHM_DECODE_MALFORMED);

        copy[0]++;                                           /* ... or counted as an extra field */
        assert_int_equal(decode_as(s, copy, s->len + 1), SHM_DECODE_MALFORMED);
        copy[s->len] = 0x00;
        /* PUT and CREATE take one more field, their time to live, which the samples leave out
         * (it is 0): a 0 there is that field, not an extra one. */
        const int takes_ttl = s->is_request && (s->type == SHM_MSG_PUT ||
                                                s->type == SHM_MSG_CREATE);
        assert_int_equal(decode_as(s, copy, s->len + 1),
                         takes_ttl ? SHM_DECODE_OK : SHM_DECODE_MALFORMED);

        copy[0] -= 2;                                        /* the last field not counted */
        assert_int_equal(decode_as(s, copy, s->len), SHM_DECODE_MALFORMED);
        free(copy);
    }
}

static void test_missing_fields(void **state)
{
    (void)state;
    struct shm_request req;
    struct shm_reply rep;
    struct body b;

    /* PUT without flags */
    body_init(&b);
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_uint32(&b.pk, SHM_MSG_PUT);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_str_with_body(&b.pk, "a", 1);
    msgpack_pack_bin_with_body(&b.pk, "d", 1);
    msgpack_pack_bin_with_body(&b.pk, "m", 1);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);

    /* HELLO with two fields of three */
    body_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, SHM_MSG_HELLO);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 100);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(req.type, SHM_MSG_HELLO);
    assert_int_equal(req.seq, 1);
    body_free(&b);

    /* GET without a name or timeout, and a request without a seq */
    body_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET);
    msgpack_pack_uint32(&b.pk, 1);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);
    body_init(&b);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, SHM_MSG_PING);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(req.type, 0);
    assert_int_equal(req.seq, 0);
    body_free(&b);

    /* CREATE reply without data_offset; error reply without its detail; reply without status */
    body_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, SHM_MSG_CREATE);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_int32(&b.pk, 0);
    msgpack_pack_uint64(&b.pk, 1);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);
    body_init(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_int32(&b.pk, SHMSTORE_ENOTFOUND);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);
    body_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_uint32(&b.pk, SHM_MSG_PING);
    msgpack_pack_uint32(&b.pk, 1);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);

    /* An error reply with a second field */
    body_init(&b);
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_int32(&b.pk, SHMSTORE_ENOTFOUND);
    msgpack_pack_str_with_body(&b.pk, "no", 2);
    msgpack_pack_uint32(&b.pk, 1);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);

    /* GET reply whose object has 7 fields of 8 */
    body_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_int32(&b.pk, 0);
    msgpack_pack_array(&b.pk, 7);
    msgpack_pack_str_with_body(&b.pk, "x", 1);
    for (int i = 0; i < 6; i++)
        msgpack_pack_uint32(&b.pk, 1);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);
}

/* GET_CANCEL is [type, seq, get_seq] with get_seq a u32, and its reply carries nothing. */
static void test_get_cancel_shape(void **state)
{
    (void)state;
    struct shm_request req;
    struct shm_reply rep;
    struct body b;
    const int64_t get_seqs[] = {4, UINT32_MAX, (int64_t)UINT32_MAX + 1, -1};
    for (size_t i = 0; i < sizeof get_seqs / sizeof get_seqs[0]; i++) {
        body_init(&b);
        msgpack_pack_array(&b.pk, 3);
        msgpack_pack_uint32(&b.pk, SHM_MSG_GET_CANCEL);
        msgpack_pack_uint32(&b.pk, 5);
        msgpack_pack_int64(&b.pk, get_seqs[i]);
        int fits = get_seqs[i] >= 0 && get_seqs[i] <= UINT32_MAX;
        assert_int_equal(decode_request_body(&b, &req), fits ? SHM_DECODE_OK : SHM_DECODE_MALFORMED);
        if (fits)
            assert_int_equal(req.u.get_cancel.get_seq, (uint32_t)get_seqs[i]);
        body_free(&b);
    }
    body_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET_CANCEL);
    msgpack_pack_uint32(&b.pk, 5);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);
    body_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, SHM_MSG_GET_CANCEL);
    msgpack_pack_uint32(&b.pk, 5);
    msgpack_pack_int32(&b.pk, 0);
    msgpack_pack_uint32(&b.pk, 4);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
    body_free(&b);
}

/* [type, seq, <one field written by pack_field>] */
static int decode_one_field_request(uint32_t type, void (*pack_field)(msgpack_packer *))
{
    struct shm_request req;
    struct body b;
    body_init(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint32(&b.pk, type);
    msgpack_pack_uint32(&b.pk, 9);
    pack_field(&b.pk);
    int rc = decode_request_body(&b, &req);
    body_free(&b);
    return rc;
}

static void pack_str(msgpack_packer *pk) { msgpack_pack_str_with_body(pk, "12", 2); }
static void pack_bin(msgpack_packer *pk) { msgpack_pack_bin_with_body(pk, "ab", 2); }
static void pack_minus_one(msgpack_packer *pk) { msgpack_pack_int64(pk, -1); }
static void pack_float(msgpack_packer *pk) { msgpack_pack_double(pk, 1.0); }
static void pack_true(msgpack_packer *pk) { msgpack_pack_true(pk); }
static void pack_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void pack_ext(msgpack_packer *pk) { msgpack_pack_ext_with_body(pk, "abcd", 4, 1); }
static void pack_array(msgpack_packer *pk) { msgpack_pack_array(pk, 1); msgpack_pack_uint8(pk, 1); }
static void pack_seven(msgpack_packer *pk) { msgpack_pack_uint8(pk, 7); }
static void pack_name(msgpack_packer *pk) { msgpack_pack_str_with_body(pk, "ok", 2); }

static void test_wrong_field_types(void **state)
{
    (void)state;
    /* SEAL's id must be a non-negative integer. */
    assert_int_equal(decode_one_field_request(SHM_MSG_SEAL, pack_seven), SHM_DECODE_OK);
    void (*not_an_id[])(msgpack_packer *) = { pack_str, pack_bin, pack_minus_one, pack_float,
                                              pack_true, pack_nil, pack_ext, pack_array };
    for (size_t i = 0; i < sizeof not_an_id / sizeof not_an_id[0]; i++)
        assert_int_equal(decode_one_field_request(SHM_MSG_SEAL, not_an_id[i]), SHM_DECODE_MALFORMED);

    /* DELETE's name must be a str: not bin, not an int, not nil. */
    assert_int_equal(decode_one_field_request(SHM_MSG_DELETE, pack_name), SHM_DECODE_OK);
    void (*not_a_name[])(msgpack_packer *) = { pack_bin, pack_seven, pack_nil, pack_array, pack_ext };
    for (size_t i = 0; i < sizeof not_a_name / sizeof not_a_name[0]; i++)
        assert_int_equal(decode_one_field_request(SHM_MSG_DELETE, not_a_name[i]), SHM_DECODE_MALFORMED);

    struct shm_request req;
    struct shm_reply rep;
    struct body b;

    /* PUT data as a str, and HELLO flags beyond 32 bits */
    body_init(&b);
    msgpack_pack_array(&b.pk, 6);
    msgpack_pack_uint32(&b.pk, SHM_MSG_PUT);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_str_with_body(&b.pk, "a", 1);
    msgpack_pack_str_with_body(&b.pk, "data", 4);
    msgpack_pack_bin_with_body(&b.pk, "m", 1);
    msgpack_pack_uint32(&b.pk, 0);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);
    body_init(&b);
    msgpack_pack_array(&b.pk, 5);
    msgpack_pack_uint32(&b.pk, SHM_MSG_HELLO);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_uint64(&b.pk, 1ull << 32);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);

    /* GET timeout as a str, and one above INT64_MAX */
    for (int variant = 0; variant < 2; variant++) {
        body_init(&b);
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_uint32(&b.pk, SHM_MSG_GET);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_str_with_body(&b.pk, "a", 1);
        if (variant == 0)
            msgpack_pack_str_with_body(&b.pk, "-1", 2);
        else
            msgpack_pack_uint64(&b.pk, (uint64_t)INT64_MAX + 1);
        assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
        body_free(&b);
    }

    /* seq negative, seq beyond 32 bits, type as a str */
    uint8_t negative_seq[] = { 0x92, SHM_MSG_PING, 0xff };
    uint8_t wide_seq[] = { 0x92, SHM_MSG_PING, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0 };
    uint8_t str_type[] = { 0x92, 0xa4, 'P', 'I', 'N', 'G', 0x01 };
    assert_int_equal(shm_decode_request(negative_seq, sizeof negative_seq, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(req.type, SHM_MSG_PING);
    assert_int_equal(req.seq, 0);
    assert_int_equal(shm_decode_request(wide_seq, sizeof wide_seq, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_request(str_type, sizeof str_type, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(req.type, 0);

    /* Replies: positive status, status as a str, error detail as bin, done as an int. */
    uint8_t positive_status[] = { 0x93, SHM_MSG_PING, 0x01, 0x01 };
    uint8_t str_status[] = { 0x93, SHM_MSG_PING, 0x01, 0xa1, '0' };
    uint8_t bin_detail[] = { 0x94, SHM_MSG_PING, 0x01, 0xff, 0xc4, 0x01, 'x' };
    uint8_t huge_status[] = { 0x94, SHM_MSG_PING, 0x01, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xa0 };
    uint8_t int_done[] = { 0x96, SHM_MSG_LIST, 0x01, 0x00, 0x90, 0xa0, 0x01 };
    uint8_t bool_done[] = { 0x96, SHM_MSG_LIST, 0x01, 0x00, 0x90, 0xa0, 0xc3 };
    assert_int_equal(shm_decode_reply(positive_status, sizeof positive_status, &rep, NULL),
                     SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(str_status, sizeof str_status, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(bin_detail, sizeof bin_detail, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(huge_status, sizeof huge_status, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(int_done, sizeof int_done, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(bool_done, sizeof bool_done, &rep, NULL), SHM_DECODE_OK);
    assert_int_equal(rep.u.list.done, 1);

    /* An object whose name is an int, and one with a negative id */
    for (int variant = 0; variant < 2; variant++) {
        body_init(&b);
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_uint32(&b.pk, SHM_MSG_STAT);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_array(&b.pk, 8);
        if (variant == 0)
            msgpack_pack_uint32(&b.pk, 1);
        else
            msgpack_pack_str_with_body(&b.pk, "x", 1);
        msgpack_pack_int64(&b.pk, variant == 0 ? 1 : -5);
        for (int i = 0; i < 6; i++)
            msgpack_pack_uint32(&b.pk, 1);
        assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
        body_free(&b);
    }
}

static void test_integer_formats(void **state)
{
    (void)state;
    struct shm_request req;
    /* An id may come in any int format that holds its value. */
    const uint8_t ids[][12] = {
        { 0x93, SHM_MSG_SEAL, 0x01, 0x05 },
        { 0x93, SHM_MSG_SEAL, 0x01, 0xcc, 0x05 },
        { 0x93, SHM_MSG_SEAL, 0x01, 0xcd, 0x00, 0x05 },
        { 0x93, SHM_MSG_SEAL, 0x01, 0xd0, 0x05 },
        { 0x93, SHM_MSG_SEAL, 0x01, 0xd2, 0x00, 0x00, 0x00, 0x05 },
        { 0x93, SHM_MSG_SEAL, 0x01, 0xd3, 0, 0, 0, 0, 0, 0, 0, 0x05 },
    };
    const size_t id_lens[] = { 4, 5, 6, 5, 8, 12 };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        assert_int_equal(shm_decode_request(ids[i], id_lens[i], &req), SHM_DECODE_OK);
        assert_true(req.u.by_id.id == 5);
    }
    const uint8_t max_id[] = { 0x93, SHM_MSG_SEAL, 0x01, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff,
                               0xff, 0xff, 0xff };
    assert_int_equal(shm_decode_request(max_id, sizeof max_id, &req), SHM_DECODE_OK);
    assert_true(req.u.by_id.id == UINT64_MAX);
    const uint8_t negative_int8_id[] = { 0x93, SHM_MSG_SEAL, 0x01, 0xd0, 0xfb };
    assert_int_equal(shm_decode_request(negative_int8_id, sizeof negative_int8_id, &req),
                     SHM_DECODE_MALFORMED);

    /* A timeout may be negative in any format. */
    const uint8_t timeouts[][12] = {
        { 0x94, SHM_MSG_GET, 0x01, 0xa1, 'a', 0xff },
        { 0x94, SHM_MSG_GET, 0x01, 0xa1, 'a', 0xd1, 0xff, 0xff },
        { 0x94, SHM_MSG_GET, 0x01, 0xa1, 'a', 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
    };
    const size_t timeout_lens[] = { 6, 8, 12 };
    assert_int_equal(shm_decode_request(timeouts[0], timeout_lens[0], &req), SHM_DECODE_OK);
    assert_true(req.u.get.timeout_ms == -1);
    assert_int_equal(shm_decode_request(timeouts[1], timeout_lens[1], &req), SHM_DECODE_OK);
    assert_true(req.u.get.timeout_ms == -1);
    /* truncated int64 */
    assert_int_equal(shm_decode_request(timeouts[2], timeout_lens[2], &req), SHM_DECODE_MALFORMED);
}

static void test_huge_declared_sizes(void **state)
{
    (void)state;
    struct shm_request req;
    struct shm_reply rep;
    struct shm_object entries[SHM_LIST_PAGE_MAX];
    const uint8_t array32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01 };
    const uint8_t map32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01 };
    const uint8_t str32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    const uint8_t bin32[] = { 0xc6, 0xff, 0xff, 0xff, 0xff, 'a' };
    const uint8_t array16[] = { 0xdc, 0xff, 0xff, 0x01, 0x01 };
    /* In field positions */
    const uint8_t name_str32[] = { 0x93, SHM_MSG_DELETE, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    const uint8_t data_bin32[] = { 0x96, SHM_MSG_PUT, 0x01, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff,
                                   0xff, 0xc0, 0x00 };
    const uint8_t list_array32[] = { 0x96, SHM_MSG_LIST, 0x01, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff,
                                     0xa0, 0xc3 };
    const uint8_t info_map32[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0xdf, 0xff, 0xff, 0xff, 0xff,
                                   0xa1, 'x', 0x01 };
    const uint8_t object_array32[] = { 0x94, SHM_MSG_GET, 0x01, 0x00, 0xdd, 0xff, 0xff, 0xff,
                                       0xff, 0xa1, 'x' };
    const uint8_t unknown_extra[] = { 0x93, 0x63, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
    const uint8_t unknown_key_bin32[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x81, 0xa1, 'x', 0xc6,
                                          0xff, 0xff, 0xff, 0xff, 0x01 };

    const struct { const uint8_t *p; size_t len; } bodies[] = {
        { array32, sizeof array32 }, { map32, sizeof map32 }, { str32, sizeof str32 },
        { bin32, sizeof bin32 }, { array16, sizeof array16 }, { name_str32, sizeof name_str32 },
        { data_bin32, sizeof data_bin32 }, { list_array32, sizeof list_array32 },
        { info_map32, sizeof info_map32 }, { object_array32, sizeof object_array32 },
        { unknown_extra, sizeof unknown_extra }, { unknown_key_bin32, sizeof unknown_key_bin32 },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        uint8_t *copy = exact_copy(bodies[i].p, bodies[i].len, 0);
        assert_int_equal(shm_decode_request(copy, bodies[i].len, &req), SHM_DECODE_MALFORMED);
        assert_int_equal(shm_decode_reply(copy, bodies[i].len, &rep, entries), SHM_DECODE_MALFORMED);
        free(copy);
    }
}

static void test_deep_nesting(void **state)
{
    (void)state;
    enum { DEPTH = 100000 };
    struct shm_request req;
    struct shm_reply rep;
    uint8_t *deep = malloc(DEPTH + 8);
    assert_non_null(deep);

    memset(deep, 0x91, DEPTH);
    assert_int_equal(shm_decode_request(deep, DEPTH, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(deep, DEPTH, &rep, NULL), SHM_DECODE_MALFORMED);

    /* Nesting where the decoder skips: extra elements of an unknown request ... */
    deep[0] = 0x93;
    deep[1] = 0x63;
    deep[2] = 0x01;
    memset(deep + 3, 0x91, DEPTH - 4);
    deep[DEPTH - 1] = 0x00;
    assert_int_equal(shm_decode_request(deep, DEPTH, &req), SHM_DECODE_MALFORMED);

    /* ... and the value of an unknown INFO key. */
    const uint8_t info_prefix[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x81, 0xa1, 'x' };
    memcpy(deep, info_prefix, sizeof info_prefix);
    memset(deep + sizeof info_prefix, 0x91, DEPTH - sizeof info_prefix - 1);
    assert_int_equal(shm_decode_reply(deep, DEPTH, &rep, NULL), SHM_DECODE_MALFORMED);
    free(deep);

    /* Moderate nesting there is fine. */
    const uint8_t shallow[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x81, 0xa1, 'x',
                                0x91, 0x91, 0x81, 0xa1, 'k', 0x91, 0xc0 };
    assert_int_equal(shm_decode_reply(shallow, sizeof shallow, &rep, NULL), SHM_DECODE_OK);
}

static void test_unknown_type(void **state)
{
    (void)state;
    struct shm_request req;
    struct body b;

    /* A newer client's request: unknown type, anything after the seq. */
    body_init(&b);
    msgpack_pack_array(&b.pk, 6);
    msgpack_pack_uint32(&b.pk, 99);
    msgpack_pack_uint32(&b.pk, 77);
    msgpack_pack_str_with_body(&b.pk, "anything", 8);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_double(&b.pk, 1.5);
    msgpack_pack_ext_with_body(&b.pk, "12345678", 8, 3);
    msgpack_pack_map(&b.pk, 1);
    msgpack_pack_int32(&b.pk, -1);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_bin_with_body(&b.pk, "", 0);
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_UNKNOWN);
    assert_int_equal(req.type, 99);
    assert_int_equal(req.seq, 77);
    body_raw(&b, "\x00", 1);   /* ... but not with trailing bytes */
    assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
    body_free(&b);

    const uint8_t type_zero[] = { 0x92, 0x00, 0x05 };
    const uint8_t type_end[] = { 0x92, SHM_MSG_TYPE_END, 0x06 };
    const uint8_t type_max[] = { 0x92, 0xce, 0xff, 0xff, 0xff, 0xff, 0x07 };
    const uint8_t type_wide[] = { 0x92, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x07 };
    const uint8_t type_negative[] = { 0x92, 0xff, 0x07 };
    const uint8_t no_seq[] = { 0x91, 0x63 };
    const uint8_t truncated_extra[] = { 0x93, 0x63, 0x01, 0xa5, 'a' };
    assert_int_equal(shm_decode_request(type_zero, sizeof type_zero, &req), SHM_DECODE_UNKNOWN);
    assert_int_equal(req.type, 0);
    assert_int_equal(req.seq, 5);
    assert_int_equal(shm_decode_request(type_end, sizeof type_end, &req), SHM_DECODE_UNKNOWN);
    assert_int_equal(req.type, SHM_MSG_TYPE_END);
    assert_int_equal(req.seq, 6);
    assert_int_equal(shm_decode_request(type_max, sizeof type_max, &req), SHM_DECODE_UNKNOWN);
    assert_int_equal(req.type, UINT32_MAX);
    assert_int_equal(shm_decode_request(type_wide, sizeof type_wide, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_request(type_negative, sizeof type_negative, &req),
                     SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_request(no_seq, sizeof no_seq, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_request(truncated_extra, sizeof truncated_extra, &req),
                     SHM_DECODE_MALFORMED);
    assert_int_equal(req.type, 0x63);
    assert_int_equal(req.seq, 1);

    /* A body that is not an array at all */
    const uint8_t not_array[] = { 0x81, 0x01, 0x01 };
    assert_int_equal(shm_decode_request(not_array, sizeof not_array, &req), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_request(NULL, 0, &req), SHM_DECODE_MALFORMED);
}

static void test_reply_type_checks(void **state)
{
    (void)state;
    struct shm_buf buf = { 0 };
    struct shm_reply rep = { .type = SHM_MSG_PUT, .seq = 3, .u.put.id = 8 }, back;
    uint32_t len;
    assert_int_equal(shm_encode_reply(&rep, &buf), 0);
    const uint8_t *body = single_frame(&buf, &len);
    assert_int_equal(shm_decode_reply_to(SHM_MSG_CREATE, body, len, &back, NULL),
                     SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply_to(SHM_MSG_PUT, body, len, &back, NULL), SHM_DECODE_OK);
    assert_int_equal(shm_decode_reply(body, len, &back, NULL), SHM_DECODE_OK);
    assert_int_equal(back.type, SHM_MSG_PUT);
    shm_buf_free(&buf);

    /* RELEASE never has a reply, OK or error; an OK reply of an unknown type means nothing. */
    const uint8_t release_ok[] = { 0x93, SHM_MSG_RELEASE, 0x01, 0x00 };
    const uint8_t release_error[] = { 0x94, SHM_MSG_RELEASE, 0x01, 0xff, 0xa1, 'x' };
    const uint8_t unknown_ok[] = { 0x93, 0x63, 0x01, 0x00 };
    assert_int_equal(shm_decode_reply(release_ok, sizeof release_ok, &back, NULL),
                     SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply_to(SHM_MSG_RELEASE, release_error, sizeof release_error,
                                         &back, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(unknown_ok, sizeof unknown_ok, &back, NULL),
                     SHM_DECODE_MALFORMED);
}

static void test_oversize_fields(void **state)
{
    (void)state;
    static uint8_t big[SHM_INLINE_MAX + 2];
    char name[SHM_NAME_MAX + 2];
    memset(big, 'b', sizeof big);
    memset(name, 'n', sizeof name);
    name[SHM_NAME_MAX + 1] = '\0';

    struct shm_request put = { .type = SHM_MSG_PUT, .seq = 1 }, back;
    struct shm_buf buf = { 0 };

    /* The decoder checks lengths, not contents: a control character gets through. */
    put.u.put.name = (struct shm_bytes){ (const uint8_t *)"bad\x01name", 8 };
    assert_int_equal(shm_encode_request(&put, &buf), 0);
    assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_OK);

    const struct {
        struct shm_bytes *field;
        uint32_t limit;
    } cases[] = {
        { &put.u.put.name, SHM_NAME_MAX },
        { &put.u.put.data, SHM_INLINE_MAX },
        { &put.u.put.meta, SHM_META_MAX },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put.u.put.name = bytes_of("n");
        put.u.put.data = put.u.put.meta = (struct shm_bytes){ NULL, 0 };
        *cases[i].field = (struct shm_bytes){ i == 0 ? (const uint8_t *)name : big,
                                              cases[i].limit };
        shm_buf_reset(&buf);
        assert_int_equal(shm_encode_request(&put, &buf), 0);
        assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_OK);
        cases[i].field->len++;
        shm_buf_reset(&buf);
        assert_int_equal(shm_encode_request(&put, &buf), 0);
        /* Regression (name_too_long_closed_connection): a name one byte over the limit is left
         * to the daemon's name check, which answers EINVAL and keeps the connection; data and
         * metadata over their limits are malformed frames. */
        assert_int_equal(decode_framed_request(&buf, &back),
                         i == 0 ? SHM_DECODE_OK : SHM_DECODE_MALFORMED);
    }

    /* LIST: pattern and cursor limits; max 0 refused, above a page clamped. */
    struct shm_request list = { .type = SHM_MSG_LIST, .seq = 1 };
    list.u.list.pattern = (struct shm_bytes){ big, SHM_PATTERN_MAX };
    list.u.list.cursor = (struct shm_bytes){ big, SHM_PATTERN_MAX };
    list.u.list.max = 1000;
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_request(&list, &buf), 0);
    assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_OK);
    assert_int_equal(back.u.list.max, SHM_LIST_PAGE_MAX);
    struct shm_bytes *too_long[] = { &list.u.list.pattern, &list.u.list.cursor };
    for (size_t i = 0; i < 2; i++) {
        too_long[i]->len++;
        shm_buf_reset(&buf);
        assert_int_equal(shm_encode_request(&list, &buf), 0);
        assert_int_equal(decode_framed_request(&buf, &back),
                         SHM_DECODE_MALFORMED);
        too_long[i]->len--;
    }
    list.u.list.max = 0;
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_request(&list, &buf), 0);
    assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_MALFORMED);

    /* DELETE_MATCHING: the same pattern limit as LIST. */
    struct shm_request dm = { .type = SHM_MSG_DELETE_MATCHING, .seq = 1 };
    dm.u.delete_matching.pattern = (struct shm_bytes){ big, SHM_PATTERN_MAX };
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_request(&dm, &buf), 0);
    assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_OK);
    dm.u.delete_matching.pattern.len++;
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_request(&dm, &buf), 0);
    assert_int_equal(decode_framed_request(&buf, &back), SHM_DECODE_MALFORMED);

    /* An object's name in a reply */
    struct shm_reply stat = { .type = SHM_MSG_STAT, .seq = 1 }, rep;
    stat.u.object.name = (struct shm_bytes){ (const uint8_t *)name, SHM_NAME_MAX + 1 };
    shm_buf_reset(&buf);
    assert_int_equal(shm_encode_reply(&stat, &buf), 0);
    assert_int_equal(decode_framed_reply(&buf, &rep),
                     SHM_DECODE_MALFORMED);
    shm_buf_free(&buf);
}

static void test_nil_as_empty_binary(void **state)
{
    (void)state;
    struct shm_request req;
    const uint8_t put[] = { 0x96, SHM_MSG_PUT, 0x01, 0xa1, 'a', 0xc0, 0xc0, 0x00 };
    assert_int_equal(shm_decode_request(put, sizeof put, &req), SHM_DECODE_OK);
    assert_int_equal(req.u.put.data.len, 0);
    assert_int_equal(req.u.put.meta.len, 0);
    /* ... but not as an empty str */
    const uint8_t stat[] = { 0x93, SHM_MSG_STAT, 0x01, 0xc0 };
    assert_int_equal(shm_decode_request(stat, sizeof stat, &req), SHM_DECODE_MALFORMED);
}

static void test_list_reply_limits(void **state)
{
    (void)state;
    struct shm_object entries[SHM_LIST_PAGE_MAX];
    struct shm_reply rep;
    for (uint32_t count = SHM_LIST_PAGE_MAX; count <= SHM_LIST_PAGE_MAX + 1; count++) {
        struct body b;
        body_init(&b);
        msgpack_pack_array(&b.pk, 6);
        msgpack_pack_uint32(&b.pk, SHM_MSG_LIST);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_array(&b.pk, count);
        for (uint32_t i = 0; i < count; i++) {
            msgpack_pack_array(&b.pk, 8);
            msgpack_pack_str_with_body(&b.pk, "x", 1);
            for (int f = 0; f < 7; f++)
                msgpack_pack_uint32(&b.pk, i);
        }
        msgpack_pack_str_with_body(&b.pk, "", 0);
        msgpack_pack_false(&b.pk);
        if (count == SHM_LIST_PAGE_MAX) {
            assert_int_equal(decode_reply_body(&b, &rep, entries), SHM_DECODE_OK);
            assert_int_equal(rep.u.list.count, count);
            assert_true(entries[count - 1].id == count - 1);
            /* the caller forgot the entries array */
            assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
        } else {
            assert_int_equal(decode_reply_body(&b, &rep, entries), SHM_DECODE_MALFORMED);
        }
        body_free(&b);
    }
    const uint8_t empty[] = { 0x96, SHM_MSG_LIST, 0x01, 0x00, 0x90, 0xa0, 0xc3 };
    assert_int_equal(shm_decode_reply(empty, sizeof empty, &rep, NULL), SHM_DECODE_OK);
    assert_int_equal(rep.u.list.count, 0);
}

/* At most SHM_VERIFY_PROBLEMS_MAX problems in a VERIFY reply, each [name, id, what, action]
 * with bounded texts; the summary is a map like INFO's. */
static void test_verify_reply_limits(void **state)
{
    (void)state;
    struct shm_reply rep;
    for (uint32_t count = SHM_VERIFY_PROBLEMS_MAX; count <= SHM_VERIFY_PROBLEMS_MAX + 1; count++) {
        struct body b;
        body_init(&b);
        msgpack_pack_array(&b.pk, 5);
        msgpack_pack_uint32(&b.pk, SHM_MSG_VERIFY);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_map(&b.pk, 2);
        msgpack_pack_str_with_body(&b.pk, "problems", 8);
        msgpack_pack_uint32(&b.pk, 1000);
        msgpack_pack_str_with_body(&b.pk, "future_key", 10);
        msgpack_pack_str_with_body(&b.pk, "x", 1);
        msgpack_pack_array(&b.pk, count);
        for (uint32_t i = 0; i < count; i++) {
            msgpack_pack_array(&b.pk, 4);
            msgpack_pack_str_with_body(&b.pk, "n", 1);
            msgpack_pack_uint32(&b.pk, i);
            msgpack_pack_str_with_body(&b.pk, "missing file", 12);
            msgpack_pack_str_with_body(&b.pk, "", 0);
        }
        if (count == SHM_VERIFY_PROBLEMS_MAX) {
            assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_OK);
            assert_true(rep.u.verify.summary.problems == 1000);
            assert_true(rep.u.verify.summary.objects == 0);
            assert_int_equal(rep.u.verify.count, count);
            size_t offset = 0;
            struct shm_verify_problem p;
            for (uint32_t i = 0; i < count; i++) {
                assert_int_equal(shm_verify_problem_next(&rep, &offset, &p), 0);
                assert_true(p.id == i);
            }
            assert_int_equal(shm_verify_problem_next(&rep, &offset, &p), -1);
        } else {
            assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
        }
        body_free(&b);
    }

    /* A problem with three fields, and one whose text is too long */
    for (int bad = 0; bad < 2; bad++) {
        struct body b;
        char long_text[SHM_VERIFY_TEXT_MAX + 1];
        memset(long_text, 'x', sizeof long_text);
        body_init(&b);
        msgpack_pack_array(&b.pk, 5);
        msgpack_pack_uint32(&b.pk, SHM_MSG_VERIFY);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_map(&b.pk, 0);
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_array(&b.pk, bad ? 4 : 3);
        msgpack_pack_str_with_body(&b.pk, "n", 1);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_str_with_body(&b.pk, "what", 4);
        if (bad)
            msgpack_pack_str_with_body(&b.pk, long_text, sizeof long_text);
        assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_MALFORMED);
        body_free(&b);
    }

    /* The encoder refuses a list longer than a reply may carry */
    struct shm_verify_problem many[SHM_VERIFY_PROBLEMS_MAX + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        many[i] = sample_problems[0];
    struct shm_reply big = { .type = SHM_MSG_VERIFY, .seq = 1 };
    big.u.verify.count = SHM_VERIFY_PROBLEMS_MAX + 1;
    big.u.verify.problems = many;
    struct shm_buf buf = { 0 };
    assert_int_equal(shm_encode_reply(&big, &buf), -1);
    assert_int_equal(buf.len, 0);
    big.u.verify.count = SHM_VERIFY_PROBLEMS_MAX;
    assert_int_equal(shm_encode_reply(&big, &buf), 0);
    shm_buf_free(&buf);

    /* A decoded reply encodes again as it came (the problems from the bytes the decoder kept) */
    struct shm_reply sample[N_SAMPLE_REPLIES], back, again;
    sample_replies(sample);
    assert_int_equal(sample[18].type, SHM_MSG_VERIFY);
    assert_int_equal(shm_encode_reply(&sample[18], &buf), 0);
    uint32_t len;
    const uint8_t *body = single_frame(&buf, &len);
    assert_int_equal(shm_decode_reply(body, len, &back, NULL), SHM_DECODE_OK);
    assert_null(back.u.verify.problems);
    struct shm_buf buf2 = { 0 };
    assert_int_equal(shm_encode_reply(&back, &buf2), 0);
    assert_int_equal(buf2.len, buf.len);
    assert_memory_equal(buf2.data, buf.data, buf.len);
    body = single_frame(&buf2, &len);
    assert_int_equal(shm_decode_reply(body, len, &again, NULL), SHM_DECODE_OK);
    assert_replies_equal(&sample[18], &again);
    shm_buf_free(&buf);
    shm_buf_free(&buf2);

    /* Problems of another reply type, or of an error reply, are not read */
    struct shm_reply other = { .type = SHM_MSG_INFO };
    size_t offset = 0;
    struct shm_verify_problem p;
    assert_int_equal(shm_verify_problem_next(&other, &offset, &p), -1);
}

/* STAT and LIST objects keep their 8 elements (older clients decode them); STAT_EX and LIST_EX
 * objects have exactly 10, the last two the location bits and the durable flag. */
static void test_placed_object_shape(void **state)
{
    (void)state;
    struct shm_reply rep;
    for (uint32_t fields = 8; fields <= 12; fields++) {
        for (int placed = 0; placed < 2; placed++) {
            struct body b;
            body_init(&b);
            msgpack_pack_array(&b.pk, 4);
            msgpack_pack_uint32(&b.pk, placed ? SHM_MSG_STAT_EX : SHM_MSG_STAT);
            msgpack_pack_uint32(&b.pk, 1);
            msgpack_pack_int32(&b.pk, 0);
            msgpack_pack_array(&b.pk, fields);
            msgpack_pack_str_with_body(&b.pk, "x", 1);
            for (int i = 0; i < 7; i++)
                msgpack_pack_uint32(&b.pk, 1);
            if (fields >= 9)
                msgpack_pack_uint32(&b.pk, SHM_LOCATION_DISK);
            if (fields >= 10)
                msgpack_pack_true(&b.pk);
            if (fields >= 11)
                msgpack_pack_uint32(&b.pk, 1001);
            if (fields >= 12)
                msgpack_pack_int64(&b.pk, INT64_C(1700000000000000000));
            /* A placed object comes with or without its owner and expiry. */
            int expected = (placed ? fields == 10 || fields == 12 : fields == 8)
                               ? SHM_DECODE_OK
                               : SHM_DECODE_MALFORMED;
            assert_int_equal(decode_reply_body(&b, &rep, NULL), expected);
            if (expected == SHM_DECODE_OK && placed) {
                assert_int_equal(rep.u.object.location, SHM_LOCATION_DISK);
                assert_int_equal(rep.u.object.durable, 1);
                assert_int_equal(rep.u.object.owner_known, fields == 12);
                assert_int_equal(rep.u.object.owner_uid, fields == 12 ? 1001 : 0);
                assert_true(rep.u.object.expires_ns ==
                            (fields == 12 ? INT64_C(1700000000000000000) : 0));
            }
            body_free(&b);
        }
    }
}

/* A placed object is encoded in its longer form only when owner_known asks for it. */
static void test_placed_object_encoding(void **state)
{
    (void)state;
    for (int known = 0; known < 2; known++) {
        struct shm_reply rep = {.type = SHM_MSG_STAT_EX, .seq = 3}, back;
        rep.u.object.name = bytes_of("x");
        rep.u.object.owner_uid = 4242;
        rep.u.object.expires_ns = 77;
        rep.u.object.owner_known = known;
        struct shm_buf buf = {0};
        assert_int_equal(shm_encode_reply(&rep, &buf), 0);
        uint32_t len;
        const uint8_t *body = single_frame(&buf, &len);
        assert_int_equal(body[4], 0x90 | (known ? 12 : 10));   /* [type, seq, status, object] */
        assert_int_equal(shm_decode_reply(body, len, &back, NULL), SHM_DECODE_OK);
        assert_int_equal(back.u.object.owner_known, known);
        assert_int_equal(back.u.object.owner_uid, known ? 4242 : 0);
        assert_true(back.u.object.expires_ns == (known ? 77 : 0));
        shm_buf_free(&buf);
    }
}

/* PUT and CREATE carry a time to live only when they have one, so a daemon older than it reads
 * every request without one; the decoder takes both lengths. */
static void test_ttl_field(void **state)
{
    (void)state;
    for (int create = 0; create < 2; create++) {
        for (uint64_t ttl = 0; ttl <= 600000; ttl += 600000) {
            struct shm_request req = {.type = create ? SHM_MSG_CREATE : SHM_MSG_PUT, .seq = 9};
            if (create) {
                req.u.create.name = bytes_of("t");
                req.u.create.size = 10;
                req.u.create.ttl_ms = ttl;
            } else {
                req.u.put.name = bytes_of("t");
                req.u.put.ttl_ms = ttl;
            }
            struct shm_buf buf = {0};
            assert_int_equal(shm_encode_request(&req, &buf), 0);
            uint32_t len;
            const uint8_t *body = single_frame(&buf, &len);
            assert_int_equal(body[0], 0x90 | (ttl ? 7 : 6));
            struct shm_request back;
            assert_int_equal(shm_decode_request(body, len, &back), SHM_DECODE_OK);
            assert_true((create ? back.u.create.ttl_ms : back.u.put.ttl_ms) == ttl);
            shm_buf_free(&buf);
        }
    }
    /* A ttl of the wrong type, and one field too many */
    for (int extra = 0; extra < 2; extra++) {
        struct body b;
        struct shm_request req;
        body_init(&b);
        msgpack_pack_array(&b.pk, extra ? 8 : 7);
        msgpack_pack_uint32(&b.pk, SHM_MSG_PUT);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_str_with_body(&b.pk, "a", 1);
        msgpack_pack_bin_with_body(&b.pk, "d", 1);
        msgpack_pack_bin_with_body(&b.pk, "m", 1);
        msgpack_pack_uint32(&b.pk, 0);
        if (extra) {
            msgpack_pack_uint32(&b.pk, 1000);
            msgpack_pack_uint32(&b.pk, 0);
        } else {
            msgpack_pack_str_with_body(&b.pk, "10m", 3);
        }
        assert_int_equal(decode_request_body(&b, &req), SHM_DECODE_MALFORMED);
        body_free(&b);
    }
}

/* USERS: a page of users that survives a round trip, a page over the limit refused, a user of
 * the wrong shape refused. */
static void test_users_reply(void **state)
{
    (void)state;
    const struct shm_user users[2] = {{0, 3, 4096, 0, 0},
                                      {UINT32_MAX - 1, 1, UINT64_MAX, 10u << 30, 100}};
    struct shm_reply rep = {.type = SHM_MSG_USERS, .seq = 2}, back;
    rep.u.users.count = 2;
    rep.u.users.entries = users;
    rep.u.users.next_uid = UINT32_MAX;
    rep.u.users.done = 1;
    struct shm_buf buf = {0};
    assert_int_equal(shm_encode_reply(&rep, &buf), 0);
    uint32_t len;
    const uint8_t *body = single_frame(&buf, &len);
    assert_int_equal(shm_decode_reply_to(SHM_MSG_USERS, body, len, &back, NULL), SHM_DECODE_OK);
    assert_int_equal(back.u.users.count, 2);
    assert_true(back.u.users.next_uid == UINT32_MAX);
    assert_int_equal(back.u.users.done, 1);
    size_t offset = 0;
    struct shm_user u;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(shm_user_next(&back, &offset, &u), 0);
        assert_int_equal(u.uid, users[i].uid);
        assert_true(u.objects == users[i].objects && u.bytes == users[i].bytes &&
                    u.quota_bytes == users[i].quota_bytes &&
                    u.quota_objects == users[i].quota_objects);
    }
    assert_int_equal(shm_user_next(&back, &offset, &u), -1);
    /* Sent on from the decoded bytes */
    struct shm_buf again = {0};
    assert_int_equal(shm_encode_reply(&back, &again), 0);
    assert_int_equal(again.len, buf.len);
    assert_memory_equal(again.data, buf.data, buf.len);
    shm_buf_free(&again);
    shm_buf_free(&buf);

    rep.u.users.count = SHM_USERS_PAGE_MAX + 1;
    assert_int_equal(shm_encode_reply(&rep, &buf), -1);
    assert_int_equal(buf.len, 0);
    shm_buf_free(&buf);
    for (uint32_t fields = 4; fields <= 6; fields += 2) {
        struct body b;
        body_init(&b);
        msgpack_pack_array(&b.pk, 6);
        msgpack_pack_uint32(&b.pk, SHM_MSG_USERS);
        msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_array(&b.pk, fields);
        for (uint32_t i = 0; i < fields; i++)
            msgpack_pack_uint32(&b.pk, 1);
        msgpack_pack_uint32(&b.pk, 2);
        msgpack_pack_false(&b.pk);
        assert_int_equal(decode_reply_body(&b, &back, NULL), SHM_DECODE_MALFORMED);
        body_free(&b);
    }
}

/* EVENT is a frame only the daemon starts: [EVENT, 0, 0, [kind, name, id, size, time_ns,
 * count]], never a request. Its name is bounded like an object's, and the event array has
 * exactly six elements. */
static void test_event_shape(void **state)
{
    (void)state;
    struct shm_reply rep;
    for (uint32_t fields = 5; fields <= 7; fields++) {
        struct body b;
        body_init(&b);
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_uint32(&b.pk, SHM_MSG_EVENT);
        msgpack_pack_uint32(&b.pk, 0);
        msgpack_pack_int32(&b.pk, 0);
        msgpack_pack_array(&b.pk, fields);
        msgpack_pack_uint32(&b.pk, SHM_EVENT_SEALED);
        msgpack_pack_str_with_body(&b.pk, "job7/x", 6);
        for (uint32_t i = 2; i < fields; i++)
            msgpack_pack_uint32(&b.pk, 7);
        assert_int_equal(decode_reply_body(&b, &rep, NULL),
                         fields == 6 ? SHM_DECODE_OK : SHM_DECODE_MALFORMED);
        if (fields == 6) {
            assert_int_equal(rep.u.event.kind, SHM_EVENT_SEALED);
            assert_bytes_equal(rep.u.event.name, bytes_of("job7/x"));
            assert_true(rep.u.event.count == 7);
        }
        body_free(&b);
    }
    /* A name longer than any object's is refused. */
    char long_name[SHM_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name);
    struct shm_buf buf = { 0 };
    struct shm_reply ev = { .type = SHM_MSG_EVENT };
    ev.u.event.name = (struct shm_bytes){ (const uint8_t *)long_name, sizeof long_name };
    assert_int_equal(shm_encode_reply(&ev, &buf), 0);
    uint32_t len;
    const uint8_t *body = single_frame(&buf, &len);
    assert_int_equal(shm_decode_reply_to(SHM_MSG_EVENT, body, len, &rep, NULL),
                     SHM_DECODE_MALFORMED);
    shm_buf_free(&buf);
    /* Nobody may send it as a request: encoding refuses, and one that arrives anyway is an
     * unknown type (the connection stays), never dispatched. */
    struct shm_request req = { .type = SHM_MSG_EVENT, .seq = 3 };
    assert_int_equal(shm_encode_request(&req, &buf), -1);
    assert_int_equal(buf.len, 0);
    const uint8_t as_request[] = { 0x92, SHM_MSG_EVENT, 0x03 };
    struct shm_request back;
    assert_int_equal(shm_decode_request(as_request, sizeof as_request, &back), SHM_DECODE_UNKNOWN);
    assert_int_equal(back.type, SHM_MSG_EVENT);
    assert_int_equal(back.seq, 3);
}

static void test_info_map(void **state)
{
    (void)state;
    struct shm_reply rep;
    struct body b;

    /* Unknown keys of any type are skipped; missing keys read as 0. */
    body_init(&b);
    msgpack_pack_array(&b.pk, 4);
    msgpack_pack_uint32(&b.pk, SHM_MSG_INFO);
    msgpack_pack_uint32(&b.pk, 1);
    msgpack_pack_int32(&b.pk, 0);
    msgpack_pack_map(&b.pk, 7);
    msgpack_pack_str_with_body(&b.pk, "future_float", 12);
    msgpack_pack_double(&b.pk, 0.5);
    msgpack_pack_str_with_body(&b.pk, "objects", 7);
    msgpack_pack_uint32(&b.pk, 42);
    msgpack_pack_str_with_body(&b.pk, "future_map", 10);
    msgpack_pack_map(&b.pk, 1);
    msgpack_pack_str_with_body(&b.pk, "k", 1);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int32(&b.pk, -3);
    msgpack_pack_ext_with_body(&b.pk, "x", 1, 5);
    msgpack_pack_str_with_body(&b.pk, "version", 7);
    msgpack_pack_str_with_body(&b.pk, "9.9", 3);
    msgpack_pack_str_with_body(&b.pk, "future_str", 10);
    msgpack_pack_str_with_body(&b.pk, "hello", 5);
    msgpack_pack_str_with_body(&b.pk, "future_nil", 10);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_str_with_body(&b.pk, "requests", 8);
    msgpack_pack_uint64(&b.pk, UINT64_MAX);
    assert_int_equal(decode_reply_body(&b, &rep, NULL), SHM_DECODE_OK);
    assert_true(rep.u.info.objects == 42);
    assert_true(rep.u.info.requests == UINT64_MAX);
    assert_true(rep.u.info.capacity_bytes == 0);
    assert_true(rep.u.info.clients == 0);
    assert_bytes_equal(rep.u.info.version, bytes_of("9.9"));
    body_free(&b);

    /* A known key with the wrong type, and a key that is not a str */
    const uint8_t wrong_type[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x81, 0xa7, 'o', 'b', 'j', 'e',
                                   'c', 't', 's', 0xa1, '1' };
    const uint8_t int_key[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x81, 0x01, 0x01 };
    const uint8_t not_a_map[] = { 0x94, SHM_MSG_INFO, 0x01, 0x00, 0x90 };
    assert_int_equal(shm_decode_reply(wrong_type, sizeof wrong_type, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(int_key, sizeof int_key, &rep, NULL), SHM_DECODE_MALFORMED);
    assert_int_equal(shm_decode_reply(not_a_map, sizeof not_a_map, &rep, NULL), SHM_DECODE_MALFORMED);
}

/* Random bytes, biased toward msgpack headers and small type numbers so that many reach deep
 * into the decoders, then mutations of every valid sample. */
static void test_random_input(void **state)
{
    (void)state;
    static const uint8_t interesting[] = { 0x90, 0x92, 0x93, 0x94, 0x96, 0x98, 0xdc, 0xdd, 0x80,
                                           0x81, 0xde, 0xdf, 0xa0, 0xa3, 0xd9, 0xdb, 0xc4, 0xc6,
                                           0xc0, 0xc2, 0xc3, 0xcc, 0xcf, 0xd0, 0xd3, 0xff, 0xca,
                                           0xcb, 0xd4, 0xd8, 0xc7, 0xc9, 0xc1, 0x00, 0x7f };
    uint8_t buf[64] = { 0 };
    int outcomes[3] = { 0 };
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = prng() % (iter % 4 ? 8 : sizeof buf);   /* short ones end in time more often */
        for (size_t i = 0; i < len; i++) {
            uint32_t r = prng();
            buf[i] = r % 3 ? (uint8_t)(r >> 8) : interesting[(r >> 8) % sizeof interesting];
        }
        if (len >= 3 && iter % 2) {   /* a plausible envelope */
            buf[0] = (uint8_t)(0x92 + prng() % 6);
            buf[1] = (uint8_t)(prng() % (SHM_MSG_TYPE_END + 1));
        }
        struct sample_body as_request = { .is_request = 1 };
        struct sample_body as_reply = { .is_request = 0, .type = buf[1] };
        uint8_t *copy = exact_copy(buf, len, 0);
        outcomes[-decode_as(&as_request, copy, len)]++;
        decode_as(&as_reply, copy, len);
        free(copy);
    }
    assert_true(outcomes[0] > 0 && outcomes[1] > 0 && outcomes[2] > 0);

    for (int i = 0; i < N_SAMPLE_BODIES; i++) {
        const struct sample_body *s = &sample_bodies[i];
        for (int iter = 0; iter < 400; iter++) {
            uint8_t *copy = exact_copy(s->body, s->len, 0);
            int flips = 1 + (int)(prng() % 3);
            for (int f = 0; f < flips; f++) {
                uint32_t r = prng();
                copy[r % s->len] = r & 0x10000 ? (uint8_t)(r >> 8)
                                               : interesting[(r >> 8) % sizeof interesting];
            }
            decode_as(s, copy, s->len);
            free(copy);
        }
    }
}

/* ---- Names ---- */

static int check_name(const char *name, size_t len, const char **why)
{
    return shm_name_check((const uint8_t *)name, len, why);
}

static void test_name_check(void **state)
{
    (void)state;
    const char *why = "unset";
    char long_name[SHM_NAME_MAX + 1];
    memset(long_name, 'a', sizeof long_name);

    assert_int_equal(check_name("job7/input/x", 12, &why), 0);
    assert_null(why);
    assert_int_equal(check_name("données/é", strlen("données/é"), &why), 0);
    assert_int_equal(check_name("\xf0\x9f\x98\x80 emoji \xe2\x82\xac", 14, &why), 0);
    assert_int_equal(check_name(long_name, SHM_NAME_MAX, &why), 0);

    const struct {
        const char *name;
        size_t len;
        const char *why;
    } bad[] = {
        { "", 0, "empty" },
        { long_name, SHM_NAME_MAX + 1, "longer than 255 bytes" },
        { "a\0b", 3, "contains a NUL byte" },
        { "a\tb", 3, "contains a control character" },
        { "a\x1f", 2, "contains a control character" },
        { "a\x7f", 2, "contains a control character" },
        { "a\xc2\x85", 3, "contains a control character" },       /* U+0085 NEL */
        { "\xc2\x9f", 2, "contains a control character" },         /* U+009F */
        { "a\xc0\xaf", 3, "not valid UTF-8" },                     /* overlong '/' */
        { "\xe0\x80\xaf", 3, "not valid UTF-8" },                  /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", 4, "not valid UTF-8" },              /* overlong, 4 bytes */
        { "\xed\xa0\x80", 3, "not valid UTF-8" },                  /* surrogate U+D800 */
        { "\xed\xbf\xbf", 3, "not valid UTF-8" },                  /* surrogate U+DFFF */
        { "\xf4\x90\x80\x80", 4, "not valid UTF-8" },              /* U+110000 */
        { "\xf5\x80\x80\x80", 4, "not valid UTF-8" },
        { "a\xe2\x82", 3, "not valid UTF-8" },                     /* truncated */
        { "\xe2\x82x", 3, "not valid UTF-8" },                     /* bad continuation */
        { "\x80", 1, "not valid UTF-8" },                          /* stray continuation */
        { "\xff", 1, "not valid UTF-8" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal(check_name(bad[i].name, bad[i].len, &why), SHMSTORE_EINVAL);
        assert_string_equal(why, bad[i].why);
    }
    /* Just inside the C1 range's edges */
    assert_int_equal(check_name("\xc2\xa0", 2, &why), 0);   /* U+00A0 */
    assert_int_equal(check_name("\xef\xbf\xbf", 3, NULL), 0);
    assert_int_equal(check_name("\xf4\x8f\xbf\xbf", 4, NULL), 0);   /* U+10FFFF */
}

static void test_msg_name(void **state)
{
    (void)state;
    const char *expected[] = { "UNKNOWN", "HELLO", "PUT", "CREATE", "SEAL", "ABORT", "GET",
                               "RELEASE", "DELETE", "STAT", "LIST", "INFO", "PING",
                               "DELETE_MATCHING", "GET_CANCEL", "SYNC", "VERIFY", "STAT_EX",
                               "LIST_EX", "MAP_SEGMENT", "USERS", "WATCH", "EVENT" };
    assert_int_equal(sizeof expected / sizeof expected[0], SHM_MSG_TYPE_END);
    for (uint32_t t = 0; t < SHM_MSG_TYPE_END; t++)
        assert_string_equal(shm_msg_name(t), expected[t]);
    assert_string_equal(shm_msg_name(SHM_MSG_TYPE_END), "UNKNOWN");
    assert_string_equal(shm_msg_name(UINT32_MAX), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_length),
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_reply_roundtrip),
        cmocka_unit_test(test_error_replies),
        cmocka_unit_test(test_frames_append),
        cmocka_unit_test(test_encode_frame_limit),
        cmocka_unit_test(test_encode_refuses_impossible_messages),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_trailing_and_extra_bytes),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_get_cancel_shape),
        cmocka_unit_test(test_wrong_field_types),
        cmocka_unit_test(test_integer_formats),
        cmocka_unit_test(test_huge_declared_sizes),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_reply_type_checks),
        cmocka_unit_test(test_oversize_fields),
        cmocka_unit_test(test_nil_as_empty_binary),
        cmocka_unit_test(test_list_reply_limits),
        cmocka_unit_test(test_info_map),
        cmocka_unit_test(test_verify_reply_limits),
        cmocka_unit_test(test_placed_object_shape),
        cmocka_unit_test(test_placed_object_encoding),
        cmocka_unit_test(test_ttl_field),
        cmocka_unit_test(test_users_reply),
        cmocka_unit_test(test_event_shape),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_name_check),
        cmocka_unit_test(test_msg_name),
    };
    return cmocka_run_group_tests(tests, setup_sample_bodies, teardown_sample_bodies);
}
