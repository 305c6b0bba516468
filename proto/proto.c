/*
 * proto.c — encoding and decoding of shmstore's wire messages (see proto.h for the format).
 *
 * Each message type is described once, in msg_specs[], by the fields of its request and of its
 * reply: a kind (u32, str with a length limit, nested object, ...) and the offset of the member
 * in struct shm_request or struct shm_reply. One generic encoder walks such a list with
 * msgpack-c's packer and one generic decoder walks it with mpread, so the two directions cannot
 * disagree on the order or the types of fields, and a new message is one table row. An object
 * (GET, STAT, each LIST entry) and the INFO map are described by tables of their own in the same
 * way. Frames are built in place in the caller's shm_buf: a placeholder length, the body, then
 * the real length; any failure rolls the buffer back to where it was.
 */
#include "proto.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpread.h"
#include "shmstore.h"

enum field_kind {
    FIELD_END = 0,     /* ends a field list shorter than MAX_FIELDS */
    FIELD_U32,
    FIELD_U64,
    FIELD_I64,
    FIELD_STR,         /* struct shm_bytes of at most max_len bytes */
    FIELD_BIN,         /* struct shm_bytes of at most max_len bytes; nil decodes as empty */
    FIELD_BOOL,        /* int */
    FIELD_LIST_MAX,    /* uint32_t page size: 0 is refused, more than a page is clamped */
    FIELD_OBJECT,      /* struct shm_object, as an array of object_fields */
    FIELD_OBJECT_LIST, /* u.list.count and u.list.entries of struct shm_reply, as an array */
    FIELD_PLACED,      /* struct shm_object with its location and durable fields */
    FIELD_PLACED_LIST, /* FIELD_OBJECT_LIST of placed objects */
    FIELD_INFO,        /* struct shm_info, as a map of info_keys */
    FIELD_VERIFY,      /* struct shm_verify_summary, as a map of verify_keys */
    FIELD_PROBLEMS,    /* u.verify's problems of struct shm_reply, as an array of arrays */
    FIELD_USERS,       /* u.users' entries of struct shm_reply, as an array of arrays */
    FIELD_EVENT,       /* struct shm_event, as an array of event_fields */
};

struct field {
    enum field_kind kind;
    uint32_t max_len;
    size_t offset;     /* of the member in the struct the list describes */
};

/* Strings whose only bound is the frame they travel in. */
#define ANY_LEN UINT32_MAX

#define F_U32(off)      { FIELD_U32, 0, (off) }
#define F_U64(off)      { FIELD_U64, 0, (off) }
#define F_I64(off)      { FIELD_I64, 0, (off) }
#define F_STR(off, max) { FIELD_STR, (max), (off) }
#define F_BIN(off, max) { FIELD_BIN, (max), (off) }
#define F_BOOL(off)     { FIELD_BOOL, 0, (off) }
#define F_OF(kind, off) { (kind), 0, (off) }

#define REQ(member) offsetof(struct shm_request, u.member)
#define REP(member) offsetof(struct shm_reply, u.member)

#define MAX_FIELDS 5

struct msg_spec {
    const char *name;
    struct field request[MAX_FIELDS];
    struct field reply[MAX_FIELDS];   /* when status is 0 */
    int no_reply;
    /* Requests whose last fields came later: the fields a request must carry (0: all). The
     * decoder takes from request_min to all of them, the missing ones 0; the encoder leaves out
     * trailing later fields that are 0, so a request that does not use them reads the same to a
     * daemon older than them. */
    unsigned request_min;
    int no_request;   /* a frame only the daemon starts (EVENT): never decoded as a request */
};

/* Request names are bounded only by the frame here: the daemon checks them with
 * shm_name_check, so that a name that is too long gets an ordinary EINVAL reply and the
 * connection stays, like any other bad name, instead of a protocol error and a close. */
#define REQUEST_NAME_LEN ANY_LEN

static const struct msg_spec msg_specs[SHM_MSG_TYPE_END] = {
    [SHM_MSG_HELLO] = {
        .name = "HELLO",
        .request = { F_U32(REQ(hello.version)), F_U32(REQ(hello.pid)), F_U32(REQ(hello.flags)) },
        .reply = { F_U32(REP(hello.version)), F_U64(REP(hello.arena_size)),
                   F_U64(REP(hello.client_id)), F_STR(REP(hello.server_version), ANY_LEN) },
    },
    [SHM_MSG_PUT] = {
        .name = "PUT",
        .request = { F_STR(REQ(put.name), REQUEST_NAME_LEN), F_BIN(REQ(put.data), SHM_INLINE_MAX),
                     F_BIN(REQ(put.meta), SHM_META_MAX), F_U32(REQ(put.flags)),
                     F_U64(REQ(put.ttl_ms)) },
        .reply = { F_U64(REP(put.id)) },
        .request_min = 4,
    },
    [SHM_MSG_CREATE] = {
        .name = "CREATE",
        .request = { F_STR(REQ(create.name), REQUEST_NAME_LEN), F_U64(REQ(create.size)),
                     F_BIN(REQ(create.meta), SHM_META_MAX), F_U32(REQ(create.flags)),
                     F_U64(REQ(create.ttl_ms)) },
        .reply = { F_U64(REP(create.id)), F_U64(REP(create.data_offset)) },
        .request_min = 4,
    },
    [SHM_MSG_SEAL] = { .name = "SEAL", .request = { F_U64(REQ(by_id.id)) } },
    [SHM_MSG_ABORT] = { .name = "ABORT", .request = { F_U64(REQ(by_id.id)) } },
    [SHM_MSG_GET] = {
        .name = "GET",
        .request = { F_STR(REQ(get.name), REQUEST_NAME_LEN), F_I64(REQ(get.timeout_ms)) },
        .reply = { F_OF(FIELD_OBJECT, REP(object)) },
    },
    [SHM_MSG_RELEASE] = { .name = "RELEASE", .request = { F_U64(REQ(by_id.id)) }, .no_reply = 1 },
    [SHM_MSG_DELETE] = {
        .name = "DELETE",
        .request = { F_STR(REQ(by_name.name), REQUEST_NAME_LEN) },
    },
    [SHM_MSG_STAT] = {
        .name = "STAT",
        .request = { F_STR(REQ(by_name.name), REQUEST_NAME_LEN) },
        .reply = { F_OF(FIELD_OBJECT, REP(object)) },
    },
    [SHM_MSG_LIST] = {
        .name = "LIST",
        .request = { F_STR(REQ(list.pattern), SHM_PATTERN_MAX),
                     F_STR(REQ(list.cursor), SHM_PATTERN_MAX), F_OF(FIELD_LIST_MAX, REQ(list.max)) },
        .reply = { F_OF(FIELD_OBJECT_LIST, REP(list)), F_STR(REP(list.next_cursor), SHM_PATTERN_MAX),
                   F_BOOL(REP(list.done)) },
    },
    [SHM_MSG_INFO] = { .name = "INFO", .reply = { F_OF(FIELD_INFO, REP(info)) } },
    [SHM_MSG_PING] = { .name = "PING" },
    [SHM_MSG_DELETE_MATCHING] = {
        .name = "DELETE_MATCHING",
        .request = { F_STR(REQ(delete_matching.pattern), SHM_PATTERN_MAX) },
        .reply = { F_U64(REP(delete_matching.deleted)) },
    },
    [SHM_MSG_GET_CANCEL] = { .name = "GET_CANCEL", .request = { F_U32(REQ(get_cancel.get_seq)) } },
    [SHM_MSG_SYNC] = { .name = "SYNC" },
    [SHM_MSG_VERIFY] = {
        .name = "VERIFY",
        .reply = { F_OF(FIELD_VERIFY, REP(verify.summary)), F_OF(FIELD_PROBLEMS, REP(verify)) },
    },
    [SHM_MSG_STAT_EX] = {
        .name = "STAT_EX",
        .request = { F_STR(REQ(by_name.name), REQUEST_NAME_LEN) },
        .reply = { F_OF(FIELD_PLACED, REP(object)) },
    },
    [SHM_MSG_LIST_EX] = {
        .name = "LIST_EX",
        .request = { F_STR(REQ(list.pattern), SHM_PATTERN_MAX),
                     F_STR(REQ(list.cursor), SHM_PATTERN_MAX), F_OF(FIELD_LIST_MAX, REQ(list.max)) },
        .reply = { F_OF(FIELD_PLACED_LIST, REP(list)), F_STR(REP(list.next_cursor), SHM_PATTERN_MAX),
                   F_BOOL(REP(list.done)) },
    },
    [SHM_MSG_MAP_SEGMENT] = {
        .name = "MAP_SEGMENT",
        .request = { F_U32(REQ(segment.id)) },
        .reply = { F_U32(REP(segment.id)), F_U64(REP(segment.bytes)),
                   F_BIN(REP(segment.live), SHM_SEGMENT_LIST_MAX) },
    },
    [SHM_MSG_USERS] = {
        .name = "USERS",
        .request = { F_U64(REQ(users.from_uid)) },
        .reply = { F_OF(FIELD_USERS, REP(users)), F_U64(REP(users.next_uid)),
                   F_BOOL(REP(users.done)) },
    },
    [SHM_MSG_WATCH] = {
        .name = "WATCH",
        .request = { F_STR(REQ(watch.pattern), SHM_PATTERN_MAX), F_U32(REQ(watch.flags)) },
    },
    [SHM_MSG_EVENT] = { .name = "EVENT", .reply = { F_OF(FIELD_EVENT, REP(event)) },
                        .no_request = 1 },
};

/* The only field of a reply whose status is not 0, whatever its type. */
static const struct field error_fields[] = { F_STR(REP(error), ANY_LEN) };

#define OBJ(member) offsetof(struct shm_object, member)
/* An object is the first OBJECT_FIELDS rows; a placed object all of them (or, from a daemon
 * older than owners, the first PLACED_V1_FIELDS). */
static const struct field object_fields[] = {
    F_STR(OBJ(name), SHM_NAME_MAX), F_U64(OBJ(id)), F_U64(OBJ(data_offset)), F_U64(OBJ(size)),
    F_U64(OBJ(meta_offset)), F_U64(OBJ(meta_size)), F_U64(OBJ(pins)), F_I64(OBJ(created_ns)),
    F_U32(OBJ(location)), F_BOOL(OBJ(durable)), F_U32(OBJ(owner_uid)), F_I64(OBJ(expires_ns)),
};
#define OBJECT_FIELDS 8u
#define PLACED_V1_FIELDS 10u
#define PLACED_FIELDS (sizeof object_fields / sizeof object_fields[0])

#define USER(member) offsetof(struct shm_user, member)
static const struct field user_fields[] = {
    F_U32(USER(uid)), F_U64(USER(objects)), F_U64(USER(bytes)), F_U64(USER(quota_bytes)),
    F_U64(USER(quota_objects)),
};
#define USER_FIELDS (sizeof user_fields / sizeof user_fields[0])
#define EVENT(member) offsetof(struct shm_event, member)
static const struct field event_fields[] = {
    F_U32(EVENT(kind)), F_STR(EVENT(name), SHM_NAME_MAX), F_U64(EVENT(id)), F_U64(EVENT(size)),
    F_I64(EVENT(time_ns)), F_U64(EVENT(count)),
};
#define EVENT_FIELDS (sizeof event_fields / sizeof event_fields[0])

#define PROBLEM(member) offsetof(struct shm_verify_problem, member)
static const struct field problem_fields[] = {
    F_STR(PROBLEM(name), SHM_NAME_MAX), F_U64(PROBLEM(id)),
    F_STR(PROBLEM(what), SHM_VERIFY_TEXT_MAX), F_STR(PROBLEM(action), SHM_VERIFY_TEXT_MAX),
};
#define PROBLEM_FIELDS (sizeof problem_fields / sizeof problem_fields[0])

struct info_key {
    const char *key;
    struct field field;
};
#define INFO_U64(member) { #member, F_U64(offsetof(struct shm_info, member)) }
static const struct info_key info_keys[] = {
    INFO_U64(capacity_bytes), INFO_U64(used_bytes), INFO_U64(free_bytes),
    INFO_U64(largest_free_bytes), INFO_U64(objects), INFO_U64(unsealed_objects),
    INFO_U64(unsealed_bytes), INFO_U64(deleted_pinned), INFO_U64(pins), INFO_U64(clients),
    INFO_U64(waiters), INFO_U64(uptime_s), INFO_U64(requests),
    { "version", F_STR(offsetof(struct shm_info, version), ANY_LEN) },
    INFO_U64(disk_objects), INFO_U64(disk_bytes), INFO_U64(disk_only_objects),
    INFO_U64(pending_writes), INFO_U64(failed_writes), INFO_U64(spills), INFO_U64(spill_bytes),
    INFO_U64(restores), INFO_U64(restore_bytes), INFO_U64(evictions),
    INFO_U64(taken_bytes), INFO_U64(segments),
    INFO_U64(evicted_deletions), INFO_U64(expirations),
#define INFO_ERRORS(name, value, text)                                                            \
    { "errors_" #name,                                                                            \
      F_U64(offsetof(struct shm_info, errors) + sizeof(uint64_t) * (size_t)-(value)) },
    SHMSTORE_ERRNO_MAP(INFO_ERRORS)
#undef INFO_ERRORS
};
_Static_assert(-SHMSTORE_ERRNO_END_ <= (int)SHM_ERROR_SLOTS, "room for every error code");
#define INFO_KEYS (sizeof info_keys / sizeof info_keys[0])

#define VERIFY_U64(member) { #member, F_U64(offsetof(struct shm_verify_summary, member)) }
static const struct info_key verify_keys[] = {
    VERIFY_U64(data_dir), VERIFY_U64(objects), VERIFY_U64(bytes), VERIFY_U64(problems),
    VERIFY_U64(pending), VERIFY_U64(unlisted), VERIFY_U64(duration_ms),
};
#define VERIFY_KEYS (sizeof verify_keys / sizeof verify_keys[0])

/* An array of records of one shape: VERIFY's problems, USERS' entries. Encoded from the caller's
 * entries (stride bytes apart), or sent on from the checked bytes a decoder kept; decoded by
 * checking every record and keeping the span, which *_next reads again, so no decoder needs an
 * array of the caller's. */
struct record_list {
    const struct field *fields;
    size_t nfields;
    size_t stride;    /* bytes from one entry to the next in the caller's array */
    uint32_t max;     /* records one reply may carry */
};
static const struct record_list problem_records = {
    problem_fields, PROBLEM_FIELDS, sizeof(struct shm_verify_problem), SHM_VERIFY_PROBLEMS_MAX,
};
static const struct record_list user_records = {
    user_fields, USER_FIELDS, sizeof(struct shm_user), SHM_USERS_PAGE_MAX,
};

static const struct msg_spec *known_spec(uint32_t type)
{
    if (type >= SHM_MSG_TYPE_END || msg_specs[type].name == NULL)
        return NULL;
    return &msg_specs[type];
}

static size_t field_count(const struct field *fields)
{
    size_t n = 0;
    while (n < MAX_FIELDS && fields[n].kind != FIELD_END)
        n++;
    return n;
}

/* The fields a reply of this type and status carries; -1 when there can be no such reply. Shared
 * by the encoder and the decoder so that both refuse the same replies. */
static int reply_fields(uint32_t type, int64_t status, const struct field **fields, size_t *count)
{
    const struct msg_spec *spec = known_spec(type);
    if (status > 0 || status < INT32_MIN || (spec && spec->no_reply))
        return -1;
    if (status != 0) {
        /* Any type, so that an unknown request can be answered. */
        *fields = error_fields;
        *count = 1;
        return 0;
    }
    if (!spec)
        return -1;
    *fields = spec->reply;
    *count = field_count(spec->reply);
    return 0;
}

/* ---- Buffers and frames ---- */

void shm_buf_free(struct shm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void shm_buf_reset(struct shm_buf *b)
{
    b->len = 0;
}

static int buf_append(struct shm_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;   /* data may be NULL; memcpy must not see it */
    if (len > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < len) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        uint8_t *grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

struct frame {
    struct shm_buf *buf;
    size_t start;   /* of the frame header in buf; where to roll back to */
};

static int frame_write(void *data, const char *bytes, size_t len)
{
    struct frame *f = data;
    size_t body = f->buf->len - f->start - SHM_FRAME_HEADER;
    /* Refuse as soon as the body outgrows a frame, before growing the buffer for it. */
    if (len > SHM_FRAME_MAX - body)
        return -1;
    return buf_append(f->buf, bytes, len);
}

static int frame_begin(struct frame *f, struct shm_buf *out, msgpack_packer *pk)
{
    static const uint8_t placeholder[SHM_FRAME_HEADER];
    f->buf = out;
    f->start = out->len;
    msgpack_packer_init(pk, f, frame_write);
    return buf_append(out, placeholder, sizeof placeholder);
}

static int frame_end(struct frame *f, int failed)
{
    if (failed) {
        f->buf->len = f->start;
        return -1;
    }
    size_t body = f->buf->len - f->start - SHM_FRAME_HEADER;
    uint8_t *hdr = f->buf->data + f->start;
    for (unsigned i = 0; i < SHM_FRAME_HEADER; i++)
        hdr[i] = (uint8_t)(body >> (8 * i));
    return 0;
}

int shm_frame_length(const uint8_t hdr[SHM_FRAME_HEADER], uint32_t *body_len)
{
    uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                   (uint32_t)hdr[3] << 24;
    if (len == 0 || len > SHM_FRAME_MAX)
        return -1;
    *body_len = len;
    return 0;
}

/* ---- Encoding ---- */

static int encode_fields(msgpack_packer *pk, const struct field *fields, size_t count,
                         const void *base);

/* nfields: OBJECT_FIELDS, or PLACED_FIELDS for a placed object (its shorter form without
 * owner_known). */
static int encode_object(msgpack_packer *pk, const struct shm_object *obj, uint32_t nfields)
{
    if (nfields == PLACED_FIELDS && !obj->owner_known)
        nfields = PLACED_V1_FIELDS;
    return msgpack_pack_array(pk, nfields) || encode_fields(pk, object_fields, nfields, obj);
}

static int encode_object_list(msgpack_packer *pk, const struct shm_reply *rep, uint32_t nfields)
{
    uint32_t count = rep->u.list.count;
    /* Decoders refuse longer pages, so do not send one. */
    if (count > SHM_LIST_PAGE_MAX || (count > 0 && rep->u.list.entries == NULL))
        return -1;
    if (msgpack_pack_array(pk, count))
        return -1;
    for (uint32_t i = 0; i < count; i++)
        if (encode_object(pk, &rep->u.list.entries[i], nfields))
            return -1;
    return 0;
}

/* A map of keys[] (INFO, the VERIFY summary): each key's field read from base. */
static int encode_map(msgpack_packer *pk, const struct info_key *keys, size_t nkeys,
                      const void *base)
{
    if (msgpack_pack_map(pk, (uint32_t)nkeys))
        return -1;
    for (size_t i = 0; i < nkeys; i++)
        if (msgpack_pack_str_with_body(pk, keys[i].key, strlen(keys[i].key)) ||
            encode_fields(pk, &keys[i].field, 1, base))
            return -1;
    return 0;
}

/* From entries[], or, for a decoded reply sent on again (entries NULL), from the checked bytes
 * the decoder kept. */
static int encode_records(msgpack_packer *pk, const struct record_list *rl, uint32_t count,
                          const void *entries, const struct shm_bytes *packed)
{
    /* Decoders refuse longer lists, so do not send one. */
    if (count > rl->max || (count > 0 && entries == NULL && packed->len == 0))
        return -1;
    if (msgpack_pack_array(pk, count))
        return -1;
    if (count > 0 && entries == NULL)
        return pk->callback(pk->data, (const char *)packed->ptr, packed->len);
    for (uint32_t i = 0; i < count; i++)
        if (msgpack_pack_array(pk, (uint32_t)rl->nfields) ||
            encode_fields(pk, rl->fields, rl->nfields, (const char *)entries + i * rl->stride))
            return -1;
    return 0;
}

static int encode_field(msgpack_packer *pk, const struct field *f, const void *base)
{
    const char *at = (const char *)base + f->offset;
    const struct shm_bytes *bytes = (const struct shm_bytes *)at;
    switch (f->kind) {
    case FIELD_U32:
    case FIELD_LIST_MAX:
        return msgpack_pack_uint32(pk, *(const uint32_t *)at);
    case FIELD_U64:
        return msgpack_pack_uint64(pk, *(const uint64_t *)at);
    case FIELD_I64:
        return msgpack_pack_int64(pk, *(const int64_t *)at);
    case FIELD_STR:
        return msgpack_pack_str_with_body(pk, bytes->ptr, bytes->len);
    case FIELD_BIN:
        return msgpack_pack_bin_with_body(pk, bytes->ptr, bytes->len);
    case FIELD_BOOL:
        return *(const int *)at ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case FIELD_OBJECT:
        return encode_object(pk, (const struct shm_object *)at, OBJECT_FIELDS);
    case FIELD_PLACED:
        return encode_object(pk, (const struct shm_object *)at, PLACED_FIELDS);
    case FIELD_OBJECT_LIST:
        return encode_object_list(pk, base, OBJECT_FIELDS);   /* only LIST replies have these */
    case FIELD_PLACED_LIST:
        return encode_object_list(pk, base, PLACED_FIELDS);
    case FIELD_INFO:
        return encode_map(pk, info_keys, INFO_KEYS, at);
    case FIELD_VERIFY:
        return encode_map(pk, verify_keys, VERIFY_KEYS, at);
    case FIELD_PROBLEMS: {   /* only a VERIFY reply has this field */
        const struct shm_reply *rep = base;
        return encode_records(pk, &problem_records, rep->u.verify.count, rep->u.verify.problems,
                              &rep->u.verify.packed);
    }
    case FIELD_USERS: {      /* only a USERS reply has this field */
        const struct shm_reply *rep = base;
        return encode_records(pk, &user_records, rep->u.users.count, rep->u.users.entries,
                              &rep->u.users.packed);
    }
    case FIELD_EVENT:
        return msgpack_pack_array(pk, EVENT_FIELDS) ||
               encode_fields(pk, event_fields, EVENT_FIELDS, at);
    case FIELD_END:
        break;
    }
    return -1;
}

static int encode_fields(msgpack_packer *pk, const struct field *fields, size_t count,
                         const void *base)
{
    for (size_t i = 0; i < count; i++)
        if (encode_field(pk, &fields[i], base))
            return -1;
    return 0;
}

/* One frame [type, seq, (status,) fields...]; status is NULL for a request. */
static int encode_message(struct shm_buf *out, uint32_t type, uint32_t seq, const int32_t *status,
                          const struct field *fields, size_t count, const void *base)
{
    struct frame f;
    msgpack_packer pk;
    if (frame_begin(&f, out, &pk))
        return -1;
    int failed = msgpack_pack_array(&pk, (uint32_t)(2 + (status != NULL) + count)) ||
                 msgpack_pack_uint32(&pk, type) || msgpack_pack_uint32(&pk, seq) ||
                 (status && msgpack_pack_int32(&pk, *status)) ||
                 encode_fields(&pk, fields, count, base);
    return frame_end(&f, failed);
}

/* A U32 or U64 field whose value is 0: a later request field that may be left out. */
static int field_is_zero(const struct field *f, const void *base)
{
    const char *at = (const char *)base + f->offset;
    if (f->kind == FIELD_U32)
        return *(const uint32_t *)at == 0;
    return f->kind == FIELD_U64 && *(const uint64_t *)at == 0;
}

int shm_encode_request(const struct shm_request *req, struct shm_buf *out)
{
    const struct msg_spec *spec = known_spec(req->type);
    if (!spec || spec->no_request)
        return -1;
    size_t count = field_count(spec->request);
    while (spec->request_min && count > spec->request_min &&
           field_is_zero(&spec->request[count - 1], req))
        count--;
    return encode_message(out, req->type, req->seq, NULL, spec->request, count, req);
}

int shm_encode_reply(const struct shm_reply *rep, struct shm_buf *out)
{
    const struct field *fields;
    size_t count;
    if (reply_fields(rep->type, rep->status, &fields, &count))
        return -1;
    return encode_message(out, rep->type, rep->seq, &rep->status, fields, count, rep);
}

int shm_encode_error(uint32_t type, uint32_t seq, int32_t status, struct shm_buf *out,
                     const char *fmt, ...)
{
    if (status >= 0)
        return -1;   /* an error reply with status 0 would read as a success */
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(detail, sizeof detail, fmt, ap) < 0)
        detail[0] = '\0';
    va_end(ap);
    struct shm_reply rep = { .type = type, .seq = seq, .status = status };
    rep.u.error.ptr = (const uint8_t *)detail;
    rep.u.error.len = (uint32_t)strlen(detail);
    return shm_encode_reply(&rep, out);
}

/* ---- Decoding ---- */

static int decode_fields(struct mp_reader *r, const struct field *fields, size_t count,
                         void *base, struct shm_object *list_entries);

static int decode_object(struct mp_reader *r, struct shm_object *obj, uint32_t nfields)
{
    uint32_t count;
    if (mp_read_array(r, &count) ||
        (count != nfields && !(nfields == PLACED_FIELDS && count == PLACED_V1_FIELDS)))
        return -1;
    obj->owner_known = count == PLACED_FIELDS;
    return decode_fields(r, object_fields, count, obj, NULL);
}

static int decode_object_list(struct mp_reader *r, struct shm_reply *rep,
                              struct shm_object *entries, uint32_t nfields)
{
    uint32_t count;
    if (mp_read_array(r, &count) || count > SHM_LIST_PAGE_MAX || (count > 0 && entries == NULL))
        return -1;
    for (uint32_t i = 0; i < count; i++)
        if (decode_object(r, &entries[i], nfields))
            return -1;
    rep->u.list.count = count;
    rep->u.list.entries = entries;
    return 0;
}

static const struct info_key *find_key(const struct info_key *keys, size_t nkeys,
                                       const struct shm_bytes *key)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strlen(keys[i].key) == key->len && memcmp(keys[i].key, key->ptr, key->len) == 0)
            return &keys[i];
    return NULL;
}

static int decode_map(struct mp_reader *r, const struct info_key *keys, size_t nkeys, void *base)
{
    uint32_t count;
    if (mp_read_map(r, &count))
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        struct shm_bytes key;
        if (mp_read_str(r, &key))
            return -1;
        const struct info_key *known = find_key(keys, nkeys, &key);
        /* Keys from a newer daemon are skipped, whatever their value. */
        if (known ? decode_fields(r, &known->field, 1, base, NULL) : mp_skip(r, MP_SKIP_DEPTH))
            return -1;
    }
    return 0;
}

static int decode_record(struct mp_reader *r, const struct record_list *rl, void *out)
{
    uint32_t count;
    if (mp_read_array(r, &count) || count != rl->nfields)
        return -1;
    return decode_fields(r, rl->fields, rl->nfields, out, NULL);
}

/* Checked here, whole, and kept as the span of bytes record_next reads again. */
static int decode_records(struct mp_reader *r, const struct record_list *rl, uint32_t *count_out,
                          struct shm_bytes *packed)
{
    uint32_t count;
    if (mp_read_array(r, &count) || count > rl->max)
        return -1;
    const uint8_t *start = r->ptr;
    for (uint32_t i = 0; i < count; i++) {
        union { struct shm_verify_problem problem; struct shm_user user; } scratch;
        if (decode_record(r, rl, &scratch))
            return -1;
    }
    *count_out = count;
    packed->ptr = start;
    packed->len = (uint32_t)(r->ptr - start);
    return 0;
}

static int record_next(const struct shm_reply *rep, uint32_t type,
                       const struct shm_bytes *packed, const struct record_list *rl,
                       size_t *offset, void *out)
{
    if (rep->type != type || rep->status != 0 || *offset >= packed->len)
        return -1;
    struct mp_reader r;
    mp_reader_init(&r, packed->ptr + *offset, packed->len - *offset);
    if (decode_record(&r, rl, out))
        return -1;
    *offset = (size_t)(r.ptr - packed->ptr);
    return 0;
}

int shm_verify_problem_next(const struct shm_reply *rep, size_t *offset,
                            struct shm_verify_problem *out)
{
    return record_next(rep, SHM_MSG_VERIFY, &rep->u.verify.packed, &problem_records, offset,
                       out);
}

int shm_user_next(const struct shm_reply *rep, size_t *offset, struct shm_user *out)
{
    return record_next(rep, SHM_MSG_USERS, &rep->u.users.packed, &user_records, offset, out);
}

static int decode_field(struct mp_reader *r, const struct field *f, void *base,
                        struct shm_object *list_entries)
{
    char *at = (char *)base + f->offset;
    struct shm_bytes *bytes = (struct shm_bytes *)at;
    uint64_t value;
    switch (f->kind) {
    case FIELD_U32:
        if (mp_read_uint(r, &value) || value > UINT32_MAX)
            return -1;
        *(uint32_t *)at = (uint32_t)value;
        return 0;
    case FIELD_LIST_MAX:
        if (mp_read_uint(r, &value) || value == 0)
            return -1;
        *(uint32_t *)at = value > SHM_LIST_PAGE_MAX ? SHM_LIST_PAGE_MAX : (uint32_t)value;
        return 0;
    case FIELD_U64:
        return mp_read_uint(r, (uint64_t *)at);
    case FIELD_I64:
        return mp_read_int(r, (int64_t *)at);
    case FIELD_STR:
        return mp_read_str(r, bytes) || bytes->len > f->max_len ? -1 : 0;
    case FIELD_BIN:
        return mp_read_bin(r, bytes) || bytes->len > f->max_len ? -1 : 0;
    case FIELD_BOOL:
        return mp_read_bool(r, (int *)at);
    case FIELD_OBJECT:
        return decode_object(r, (struct shm_object *)at, OBJECT_FIELDS);
    case FIELD_PLACED:
        return decode_object(r, (struct shm_object *)at, PLACED_FIELDS);
    case FIELD_OBJECT_LIST:
        return decode_object_list(r, base, list_entries, OBJECT_FIELDS);
    case FIELD_PLACED_LIST:
        return decode_object_list(r, base, list_entries, PLACED_FIELDS);
    case FIELD_INFO:
        return decode_map(r, info_keys, INFO_KEYS, at);
    case FIELD_VERIFY:
        return decode_map(r, verify_keys, VERIFY_KEYS, at);
    case FIELD_PROBLEMS: {
        struct shm_reply *rep = base;
        rep->u.verify.problems = NULL;
        return decode_records(r, &problem_records, &rep->u.verify.count, &rep->u.verify.packed);
    }
    case FIELD_USERS: {
        struct shm_reply *rep = base;
        rep->u.users.entries = NULL;
        return decode_records(r, &user_records, &rep->u.users.count, &rep->u.users.packed);
    }
    case FIELD_EVENT: {
        uint32_t count;
        if (mp_read_array(r, &count) || count != EVENT_FIELDS)
            return -1;
        return decode_fields(r, event_fields, EVENT_FIELDS, at, NULL);
    }
    case FIELD_END:
        break;
    }
    return -1;
}

static int decode_fields(struct mp_reader *r, const struct field *fields, size_t count,
                         void *base, struct shm_object *list_entries)
{
    for (size_t i = 0; i < count; i++)
        if (decode_field(r, &fields[i], base, list_entries))
            return -1;
    return 0;
}

static int read_u32(struct mp_reader *r, uint32_t *out)
{
    uint64_t value;
    if (mp_read_uint(r, &value) || value > UINT32_MAX)
        return -1;
    *out = (uint32_t)value;
    return 0;
}

/* The array header and the type and seq that start every body. type and seq are stored as soon
 * as each is read, so that a malformed message can still be answered. */
static int read_envelope(struct mp_reader *r, uint32_t min_count, uint32_t *count, uint32_t *type,
                         uint32_t *seq)
{
    if (mp_read_array(r, count) || *count < min_count)
        return -1;
    return read_u32(r, type) || read_u32(r, seq) ? -1 : 0;
}

int shm_decode_request(const uint8_t *body, size_t len, struct shm_request *out)
{
    struct mp_reader r;
    uint32_t count;
    memset(out, 0, sizeof *out);
    mp_reader_init(&r, body, len);
    if (read_envelope(&r, 2, &count, &out->type, &out->seq))
        return SHM_DECODE_MALFORMED;
    uint32_t fields_sent = count - 2;

    const struct msg_spec *spec = known_spec(out->type);
    if (!spec || spec->no_request) {
        /* Still check that the rest is msgpack, so a well-formed request of a newer client
         * is told apart from garbage that happens to start like one. */
        for (uint32_t i = 0; i < fields_sent; i++)
            if (mp_skip(&r, MP_SKIP_DEPTH))
                return SHM_DECODE_MALFORMED;
        return mp_remaining(&r) ? SHM_DECODE_MALFORMED : SHM_DECODE_UNKNOWN;
    }
    size_t fields_expected = field_count(spec->request);
    size_t fields_required = spec->request_min ? spec->request_min : fields_expected;
    if (fields_sent < fields_required || fields_sent > fields_expected ||
        decode_fields(&r, spec->request, fields_sent, out, NULL) || mp_remaining(&r))
        return SHM_DECODE_MALFORMED;
    return SHM_DECODE_OK;
}

static int decode_reply(const uint8_t *body, size_t len, int check_type, uint32_t expected_type,
                        struct shm_reply *out, struct shm_object *list_entries)
{
    struct mp_reader r;
    uint32_t count;
    int64_t status;
    const struct field *fields;
    size_t fields_expected;
    memset(out, 0, sizeof *out);
    mp_reader_init(&r, body, len);
    if (read_envelope(&r, 3, &count, &out->type, &out->seq) ||
        (check_type && out->type != expected_type) || mp_read_int(&r, &status) ||
        reply_fields(out->type, status, &fields, &fields_expected))
        return SHM_DECODE_MALFORMED;
    out->status = (int32_t)status;
    if (count - 3 != fields_expected ||
        decode_fields(&r, fields, fields_expected, out, list_entries) || mp_remaining(&r))
        return SHM_DECODE_MALFORMED;
    return SHM_DECODE_OK;
}

int shm_decode_reply(const uint8_t *body, size_t len, struct shm_reply *out,
                     struct shm_object *list_entries)
{
    return decode_reply(body, len, 0, 0, out, list_entries);
}

int shm_decode_reply_to(uint32_t expected_type, const uint8_t *body, size_t len,
                        struct shm_reply *out, struct shm_object *list_entries)
{
    return decode_reply(body, len, 1, expected_type, out, list_entries);
}

/* ---- Names ---- */

/* Length of the well-formed UTF-8 sequence at s, with its code point in *cp; 0 when it is not
 * one (overlong, surrogate, above U+10FFFF, stray continuation byte, truncated). */
static size_t utf8_decode(const uint8_t *s, size_t avail, uint32_t *cp)
{
    uint8_t lead = s[0];
    size_t n;
    uint32_t min;
    if (lead < 0x80) {
        *cp = lead;
        return 1;
    }
    if (lead >= 0xc2 && lead <= 0xdf) {
        n = 2, min = 0x80, *cp = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        n = 3, min = 0x800, *cp = lead & 0x0f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        n = 4, min = 0x10000, *cp = lead & 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return n;
}

static const char *name_problem(const uint8_t *name, size_t len)
{
    if (len == 0)
        return "empty";
    if (len > SHM_NAME_MAX)
        return "longer than 255 bytes";
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(name + i, len - i, &cp);
        if (n == 0)
            return "not valid UTF-8";
        if (cp == 0)
            return "contains a NUL byte";
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return "contains a control character";
        i += n;
    }
    return NULL;
}

int shm_name_check(const uint8_t *name, size_t len, const char **why)
{
    const char *problem = name_problem(name, len);
    if (why)
        *why = problem;
    return problem ? SHMSTORE_EINVAL : 0;
}

const char *shm_msg_name(uint32_t type)
{
    const struct msg_spec *spec = known_spec(type);
    return spec ? spec->name : "UNKNOWN";
}
