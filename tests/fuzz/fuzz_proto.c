/*
 * fuzz_proto.c — libFuzzer target for the wire codec (proto/proto.c).
 *
 * The input is taken four ways: as a frame header (shm_frame_length), as a name (shm_name_check),
 * as a request body and as a reply body (with room for a LIST page). Besides not crashing, a body
 * that decodes must survive a round trip: encoded again and decoded again it gives the same
 * values, so the encoder and the decoder agree on every message the decoder accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_proto: %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static int same_bytes(struct shm_bytes a, struct shm_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int same_request(const struct shm_request *a, const struct shm_request *b)
{
    if (a->type != b->type || a->seq != b->seq)
        return 0;
    switch (a->type) {
    case SHM_MSG_HELLO:
        return a->u.hello.version == b->u.hello.version && a->u.hello.pid == b->u.hello.pid &&
               a->u.hello.flags == b->u.hello.flags;
    case SHM_MSG_PUT:
        return same_bytes(a->u.put.name, b->u.put.name) &&
               same_bytes(a->u.put.data, b->u.put.data) &&
               same_bytes(a->u.put.meta, b->u.put.meta) && a->u.put.flags == b->u.put.flags;
    case SHM_MSG_CREATE:
        return same_bytes(a->u.create.name, b->u.create.name) &&
               a->u.create.size == b->u.create.size &&
               same_bytes(a->u.create.meta, b->u.create.meta) &&
               a->u.create.flags == b->u.create.flags;
    case SHM_MSG_SEAL:
    case SHM_MSG_ABORT:
    case SHM_MSG_RELEASE:
        return a->u.by_id.id == b->u.by_id.id;
    case SHM_MSG_GET:
        return same_bytes(a->u.get.name, b->u.get.name) &&
               a->u.get.timeout_ms == b->u.get.timeout_ms;
    case SHM_MSG_DELETE:
    case SHM_MSG_STAT:
        return same_bytes(a->u.by_name.name, b->u.by_name.name);
    case SHM_MSG_LIST:
        return same_bytes(a->u.list.pattern, b->u.list.pattern) &&
               same_bytes(a->u.list.cursor, b->u.list.cursor) && a->u.list.max == b->u.list.max;
    default:
        return 1;   /* INFO, PING: nothing but type and seq */
    }
}

static int same_object(const struct shm_object *a, const struct shm_object *b)
{
    return same_bytes(a->name, b->name) && a->id == b->id && a->data_offset == b->data_offset &&
           a->size == b->size && a->meta_offset == b->meta_offset &&
           a->meta_size == b->meta_size && a->pins == b->pins && a->created_ns == b->created_ns;
}

static int same_reply(const struct shm_reply *a, const struct shm_reply *b)
{
    if (a->type != b->type || a->seq != b->seq || a->status != b->status)
        return 0;
    if (a->status != 0)
        return same_bytes(a->u.error, b->u.error);
    switch (a->type) {
    case SHM_MSG_HELLO:
        return a->u.hello.version == b->u.hello.version &&
               a->u.hello.arena_size == b->u.hello.arena_size &&
               a->u.hello.client_id == b->u.hello.client_id &&
               same_bytes(a->u.hello.server_version, b->u.hello.server_version);
    case SHM_MSG_PUT:
        return a->u.put.id == b->u.put.id;
    case SHM_MSG_CREATE:
        return a->u.create.id == b->u.create.id &&
               a->u.create.data_offset == b->u.create.data_offset;
    case SHM_MSG_GET:
    case SHM_MSG_STAT:
        return same_object(&a->u.object, &b->u.object);
    case SHM_MSG_LIST:
        if (a->u.list.count != b->u.list.count || !a->u.list.done != !b->u.list.done ||
            !same_bytes(a->u.list.next_cursor, b->u.list.next_cursor))
            return 0;
        for (uint32_t i = 0; i < a->u.list.count; i++)
            if (!same_object(&a->u.list.entries[i], &b->u.list.entries[i]))
                return 0;
        return 1;
    case SHM_MSG_INFO: {
        const struct shm_info *x = &a->u.info, *y = &b->u.info;
        return x->capacity_bytes == y->capacity_bytes && x->used_bytes == y->used_bytes &&
               x->free_bytes == y->free_bytes && x->largest_free_bytes == y->largest_free_bytes &&
               x->objects == y->objects && x->unsealed_objects == y->unsealed_objects &&
               x->unsealed_bytes == y->unsealed_bytes && x->deleted_pinned == y->deleted_pinned &&
               x->pins == y->pins && x->clients == y->clients && x->waiters == y->waiters &&
               x->uptime_s == y->uptime_s && x->requests == y->requests &&
               memcmp(x->errors, y->errors, sizeof x->errors) == 0 &&
               same_bytes(x->version, y->version);
    }
    default:
        return 1;
    }
}

/* One encoder buffer and two LIST pages for the whole run: the fuzzer calls us millions of
 * times, and what is checked here is the codec, not malloc. */
static struct shm_buf out;
static struct shm_object entries[SHM_LIST_PAGE_MAX], entries_again[SHM_LIST_PAGE_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t body_len;
    if (size >= SHM_FRAME_HEADER && shm_frame_length(data, &body_len) == 0)
        REQUIRE(body_len >= 1 && body_len <= SHM_FRAME_MAX);
    if (size > SHM_FRAME_MAX)   /* the daemon never decodes more than this */
        return 0;

    /* A name the check lets through is safe to log and to use as a C string. */
    const char *why = NULL;
    if (shm_name_check(data, size, &why) == 0) {
        REQUIRE(size >= 1 && size <= SHM_NAME_MAX);
        for (size_t i = 0; i < size; i++)
            REQUIRE(data[i] >= 0x20 && data[i] != 0x7f);
    } else {
        REQUIRE(why != NULL);
    }

    struct shm_request req;
    int rc = shm_decode_request(data, size, &req);
    REQUIRE(rc == SHM_DECODE_OK || rc == SHM_DECODE_MALFORMED || rc == SHM_DECODE_UNKNOWN);
    if (rc == SHM_DECODE_OK) {
        struct shm_request again;
        shm_buf_reset(&out);
        REQUIRE(shm_encode_request(&req, &out) == 0);
        REQUIRE(shm_frame_length(out.data, &body_len) == 0);
        REQUIRE(body_len + SHM_FRAME_HEADER == out.len);
        REQUIRE(shm_decode_request(out.data + SHM_FRAME_HEADER, body_len, &again) ==
                SHM_DECODE_OK);
        REQUIRE(same_request(&req, &again));
    }

    struct shm_reply rep;
    rc = shm_decode_reply(data, size, &rep, entries);
    REQUIRE(rc == SHM_DECODE_OK || rc == SHM_DECODE_MALFORMED);
    if (rc == SHM_DECODE_OK) {
        struct shm_reply again;
        shm_buf_reset(&out);
        REQUIRE(shm_encode_reply(&rep, &out) == 0);
        REQUIRE(shm_frame_length(out.data, &body_len) == 0);
        REQUIRE(shm_decode_reply_to(rep.type, out.data + SHM_FRAME_HEADER, body_len, &again,
                                    entries_again) == SHM_DECODE_OK);
        REQUIRE(same_reply(&rep, &again));
    }
    return 0;
}
