/*
 * proto.h — the shmstore wire protocol, shared by the daemon and the client library.
 *
 * Every message travels in a frame: a 4-byte little-endian body length followed by a msgpack
 * body of that many bytes (1 .. SHM_FRAME_MAX). A body is one msgpack array:
 *
 *   request:  [type, seq, field...]           fields depend on the type, in the order below
 *   reply:    [type, seq, status, field...]   type and seq echo the request; status is 0 or a
 *                                             negative SHMSTORE_E* code; on error the only
 *                                             field is a detail string
 *
 * One kind of frame is not a reply: on a connection whose HELLO had SHM_HELLO_WATCH and that
 * sent WATCH, the daemon starts EVENT frames of its own, shaped as a reply with seq 0 and status
 * 0, [EVENT, 0, 0, event] (see shm_event). A client tells them from replies by their type, and
 * never sends one (a request of type EVENT is answered as an unknown type).
 *
 * The payload of an object never crosses the socket except for a small put (SHM_INLINE_MAX),
 * where copying a few KiB through the socket is cheaper than a second round trip.
 *
 * This module is pure: no sockets, no event loop, no globals. Encoders append whole frames to a
 * growable byte buffer; decoders read a body that the caller has already framed and never
 * allocate: strings and binaries in a decoded message point into the caller's body buffer and
 * live as long as it does. Every type, count and length is checked against the bytes that are
 * really there before it is used, so a hostile frame costs at most a walk over its own bytes.
 */
#ifndef SHMSTORE_PROTO_H
#define SHMSTORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SHM_PROTO_VERSION   1u
#define SHM_FRAME_HEADER    4u                 /* bytes of the length prefix */
#define SHM_FRAME_MAX       (256u * 1024u)     /* hard limit on a body */
#define SHM_NAME_MAX        255u               /* bytes of a name */
#define SHM_META_MAX        (64u * 1024u)      /* bytes of an object's metadata */
#define SHM_INLINE_MAX      (64u * 1024u)      /* largest payload a PUT carries in its frame */
#define SHM_LIST_PAGE_MAX   128u               /* entries in one LIST reply */
#define SHM_PATTERN_MAX     1024u              /* bytes of a LIST or DELETE_MATCHING glob */
#define SHM_TIMEOUT_FOREVER (-1)               /* GET timeout_ms: wait without limit */
#define SHM_ERROR_SLOTS     16u                /* > -SHMSTORE_ERRNO_END_ */
#define SHM_SEGMENT_LIST_MAX (1024u * 4u)      /* bytes of MAP_SEGMENT's live list */

enum shm_msg_type {
    SHM_MSG_HELLO = 1, /* req: version, pid, flags          rep: version, arena_size, client_id, server_version
                          (the reply frame carries the arena header's fd, of arena_size bytes, and
                          the release ring's as SCM_RIGHTS) */
    SHM_MSG_PUT,       /* req: name, data(bin), meta(bin), flags[, ttl_ms]   rep: id */
    SHM_MSG_CREATE,    /* req: name, size, meta(bin), flags[, ttl_ms]        rep: id, data_offset
                          (ttl_ms: time to live, 0 none; optional, so that a request without
                          one reads the same to a daemon older than it) */
    SHM_MSG_SEAL,      /* req: id                                  rep: (nothing) */
    SHM_MSG_ABORT,     /* req: id                                  rep: (nothing) */
    SHM_MSG_GET,       /* req: name, timeout_ms (int, -1 forever)  rep: object (see shm_object) */
    SHM_MSG_RELEASE,   /* req: id                                  no reply ever */
    SHM_MSG_DELETE,    /* req: name                                rep: (nothing) */
    SHM_MSG_STAT,      /* req: name                                rep: object */
    SHM_MSG_LIST,      /* req: pattern, cursor, max                rep: [object...], next_cursor, done */
    SHM_MSG_INFO,      /* req: (nothing)                           rep: info map (see shm_info) */
    SHM_MSG_PING,      /* req: (nothing)                           rep: (nothing) */
    SHM_MSG_DELETE_MATCHING, /* req: pattern                       rep: deleted (count) */
    SHM_MSG_GET_CANCEL, /* req: get_seq (the waiting GET's seq)     rep: (nothing); the only request
                           read while a GET waits: the GET is answered first, with EINTR
                           unless its reply already went */
    SHM_MSG_SYNC,      /* req: (nothing)                           rep: (nothing), once every durable
                          write queued before it has reached the disk (at once without a data
                          directory) */
    SHM_MSG_VERIFY,    /* req: (nothing)                           rep: verify summary map (see
                          shm_verify_summary), [problem...] (see shm_verify_problem); answered
                          when every durable object's file has been read and checked */
    SHM_MSG_STAT_EX,   /* req: name                                rep: placed object */
    SHM_MSG_LIST_EX,   /* req: pattern, cursor, max                rep: [placed object...],
                          next_cursor, done: STAT and LIST whose objects also say where their
                          bytes are and whether they are durable (new types rather than longer
                          objects, so that clients older than these fields keep decoding STAT
                          and LIST, and a newer client learns an older daemon's answer from its
                          "unknown request type" reply) */
    SHM_MSG_MAP_SEGMENT, /* req: segment_id                  rep: segment_id, bytes, live; the
                          reply frame carries the segment's fd as SCM_RIGHTS. live: the ids of
                          every segment the daemon holds, as little-endian uint32s, so the client
                          can unmap the ones given back (shmlayout.h) */
    SHM_MSG_USERS,     /* req: from_uid                            rep: [user...], next_uid, done:
                          what each user holds and may hold (see shm_user), in uid order, from
                          from_uid on, at most SHM_USERS_PAGE_MAX per reply */
    SHM_MSG_WATCH,     /* req: pattern, flags (SHM_WATCH_*)       rep: (nothing); once, on a
                          connection whose HELLO had SHM_HELLO_WATCH: EVENT frames follow */
    SHM_MSG_EVENT,     /* never a request, never a reply to one: [EVENT, 0, 0, event] (shm_event),
                          started by the daemon on a watching connection */
    SHM_MSG_TYPE_END
};

/* Flags of HELLO: what the client understands or wants. SHM_HELLO_OWNERS: placed objects in
 * their longer form, with owner_uid and expires_ns (a daemon sends that form only to such
 * clients, so older clients keep decoding STAT_EX and LIST_EX). SHM_HELLO_WATCH: this
 * connection will watch (WATCH), so frames the daemon starts itself (EVENT) may arrive on it
 * besides replies. */
#define SHM_HELLO_OWNERS 1u
#define SHM_HELLO_WATCH 2u

/* Flags of PUT and CREATE; the same bits as the public SHMSTORE_REPLACE and SHMSTORE_PERSIST. */
#define SHM_FLAG_REPLACE 1u
#define SHM_FLAG_PERSIST 2u
#define SHM_FLAG_NO_EVICT 4u

/* Flag of WATCH: first the sealed objects that match now (SHM_EVENT_SNAPSHOT, then one
 * SHM_EVENT_SNAPSHOT_END), then the changes. */
#define SHM_WATCH_SNAPSHOT 1u

/* A byte string inside a decoded body (not NUL-terminated). */
struct shm_bytes {
    const uint8_t *ptr;
    uint32_t len;
};

/* Where a sealed object's bytes are (shm_object.location): bits, both set when it is in memory
 * and has a whole copy on disk. The same values as the public SHMSTORE_IN_MEMORY and
 * SHMSTORE_ON_DISK. */
#define SHM_LOCATION_MEMORY 1u
#define SHM_LOCATION_DISK   2u

/* What the daemon tells about a sealed object: GET, STAT and each LIST entry.
 * Encoded as an array [name, id, data_offset, size, meta_offset, meta_size, pins, created_ns];
 * a "placed" object (STAT_EX, LIST_EX) has two more elements, [..., location, durable], and to
 * clients that said SHM_HELLO_OWNERS two more again, [..., owner_uid, expires_ns]: decoders take
 * either length (owner_known says which came). */
struct shm_object {
    struct shm_bytes name;
    uint64_t id;
    uint64_t data_offset;   /* address of the payload: SHM_ADDRESS(segment, offset) */
    uint64_t size;
    uint64_t meta_offset;   /* address of the metadata, in the same segment */
    uint64_t meta_size;
    uint64_t pins;          /* pins held by all clients when the reply was made */
    int64_t created_ns;     /* seal time, nanoseconds since the Unix epoch */
    uint32_t location;      /* placed objects only: SHM_LOCATION_* bits */
    int durable;            /* placed objects only: made with SHM_FLAG_PERSIST, or restored */
    uint32_t owner_uid;     /* placed objects only: the uid that created it */
    int64_t expires_ns;     /* placed objects only: end of its time to live, 0 for none */
    int owner_known;        /* placed objects: owner_uid and expires_ns are sent (encode) or
                               came (decode): the longer form */
};

/* One user's holdings in a USERS reply: [uid, objects, bytes, quota_bytes, quota_objects]
 * (quotas 0: no limit). */
struct shm_user {
    uint32_t uid;
    uint64_t objects, bytes;
    uint64_t quota_bytes, quota_objects;
};
#define SHM_USERS_PAGE_MAX 1024u
/* What an EVENT frame tells: what happened to the object of that name (or a marker of the
 * stream, with an empty name). Encoded as an array [kind, name, id, size, time_ns, count]. Kinds
 * are the values of the public SHMSTORE_EVENT_*; a decoder passes on kinds it does not know. */
enum shm_event_kind {
    SHM_EVENT_SEALED = 1,   /* bound to its name, which had no object */
    SHM_EVENT_REPLACED,     /* bound to its name in place of another object */
    SHM_EVENT_DELETED,      /* its name was unbound by a delete */
    SHM_EVENT_EVICTED,      /* deleted by evict = lru to make room */
    SHM_EVENT_EXPIRED,      /* deleted when its time to live ran out */
    SHM_EVENT_SPILLED,      /* left memory: its bytes are on disk only */
    SHM_EVENT_RESTORED,     /* read back into memory */
    SHM_EVENT_SNAPSHOT,     /* matched when the watch started (SHM_WATCH_SNAPSHOT) */
    SHM_EVENT_SNAPSHOT_END, /* marker: the snapshot is whole; count: its objects */
    SHM_EVENT_LOST,         /* marker: count events were dropped before this point */
};
struct shm_event {
    uint32_t kind;
    struct shm_bytes name;   /* empty for the markers */
    uint64_t id, size;
    int64_t time_ns;         /* when it happened (a snapshot entry: its seal), since the epoch */
    uint64_t count;          /* markers only */
};

/* Store-wide figures, encoded as a msgpack map from these key names to unsigned integers
 * (plus "version" to a string), so that later fields can be added without breaking decoders:
 * unknown keys are skipped, missing keys decode as 0. */
struct shm_info {
    uint64_t capacity_bytes;
    uint64_t used_bytes;
    uint64_t free_bytes;
    uint64_t largest_free_bytes;
    uint64_t objects;            /* sealed objects bound to a name */
    uint64_t unsealed_objects;
    uint64_t unsealed_bytes;
    uint64_t deleted_pinned;     /* deleted objects kept alive by pins */
    uint64_t pins;
    uint64_t clients;
    uint64_t waiters;            /* GETs waiting for a name */
    uint64_t uptime_s;
    uint64_t requests;
    uint64_t errors[SHM_ERROR_SLOTS];   /* error replies sent, indexed by -code; keys "errors_EINVAL", ... */
    struct shm_bytes version;
    /* Disk (durable objects, spill and restore); all 0 without a data directory. */
    uint64_t disk_objects;       /* sealed objects with a whole copy on disk */
    uint64_t disk_bytes;         /* their payload and metadata bytes */
    uint64_t disk_only_objects;  /* of those, the ones not in memory */
    uint64_t pending_writes;     /* durable writes queued or being written */
    uint64_t failed_writes;      /* async durable writes that failed after their reply */
    uint64_t spills, spill_bytes;       /* transient objects written to the spill area */
    uint64_t restores, restore_bytes;   /* objects read back into memory */
    uint64_t evictions;          /* objects that left memory to make room */
    /* The growing arena (capacity_bytes is its maximum). */
    uint64_t taken_bytes;        /* memory held in segments */
    uint64_t segments;           /* segments held */
    uint64_t evicted_deletions;  /* objects evict = lru deleted */
    uint64_t expirations;        /* objects deleted when their time to live ran out */
};

/* The outcome of a VERIFY, encoded as a map like shm_info (unknown keys skipped, missing ones 0).
 * A daemon without a data directory answers data_dir 0 and nothing else. */
struct shm_verify_summary {
    uint64_t data_dir;     /* 1: the daemon has a data directory and checked it */
    uint64_t objects;      /* durable objects whose files were read */
    uint64_t bytes;        /* bytes read */
    uint64_t problems;     /* files found missing, torn, corrupt or unreadable: all of them */
    uint64_t pending;      /* durable objects whose (async) write is not done yet: no file yet */
    uint64_t unlisted;     /* problems the reply leaves out (SHM_VERIFY_PROBLEMS_MAX) */
    uint64_t duration_ms;  /* from the request to the end of the check */
};

/* One damaged object: [name, id, what, action]. what: "checksum mismatch", "missing file", ...;
 * action: what the daemon did about it ("rewritten from memory", "moved to corrupt/ and
 * deleted"). */
struct shm_verify_problem {
    struct shm_bytes name;
    uint64_t id;
    struct shm_bytes what;
    struct shm_bytes action;
};
#define SHM_VERIFY_PROBLEMS_MAX 100u   /* problems listed in one VERIFY reply */
#define SHM_VERIFY_TEXT_MAX     256u   /* bytes of a problem's what and action */

struct shm_request {
    uint32_t type;   /* enum shm_msg_type */
    uint32_t seq;    /* chosen by the client, echoed in the reply */
    union {
        struct { uint32_t version; uint32_t pid; uint32_t flags; } hello;
        struct { struct shm_bytes name, data, meta; uint32_t flags; uint64_t ttl_ms; } put;
        struct { struct shm_bytes name; uint64_t size; struct shm_bytes meta; uint32_t flags;
                 uint64_t ttl_ms; } create;
        struct { uint64_t id; } by_id;                         /* SEAL, ABORT, RELEASE */
        struct { struct shm_bytes name; int64_t timeout_ms; } get;
        struct { struct shm_bytes name; } by_name;             /* DELETE, STAT */
        struct { struct shm_bytes pattern, cursor; uint32_t max; } list;
        struct { struct shm_bytes pattern; } delete_matching;
        struct { uint32_t get_seq; } get_cancel;
        struct { uint32_t id; } segment;                       /* MAP_SEGMENT */
        struct { uint64_t from_uid; } users;
        struct { struct shm_bytes pattern; uint32_t flags; } watch;
    } u;
};

struct shm_reply {
    uint32_t type;    /* the request's type */
    uint32_t seq;     /* the request's seq */
    int32_t status;   /* 0 or a negative SHMSTORE_E* code */
    union {
        struct shm_bytes error;   /* status != 0: detail message */
        struct { uint32_t version; uint64_t arena_size; uint64_t client_id;
                 struct shm_bytes server_version; } hello;
        struct { uint64_t id; } put;
        struct { uint64_t id; uint64_t data_offset; } create;
        struct shm_object object;                              /* GET, STAT */
        struct { uint32_t count; struct shm_object *entries; /* decode: caller's array of
                                                                SHM_LIST_PAGE_MAX */
                 struct shm_bytes next_cursor; int done; } list;
        struct shm_info info;
        struct { uint64_t deleted; } delete_matching;
        struct { uint32_t id; uint64_t bytes; struct shm_bytes live; } segment;   /* MAP_SEGMENT */
        struct { struct shm_verify_summary summary;
                 uint32_t count;                            /* problems listed */
                 const struct shm_verify_problem *problems; /* encode: count of them */
                 struct shm_bytes packed;   /* decode: the msgpack array of the count problems,
                                               checked; read with shm_verify_problem_next */
               } verify;
        struct { uint32_t count;                 /* users listed */
                 const struct shm_user *entries; /* encode: count of them */
                 struct shm_bytes packed;        /* decode: the checked msgpack array; read
                                                    with shm_user_next */
                 uint64_t next_uid; int done; } users;
        struct shm_event event;                                /* EVENT (seq 0) */
    } u;
};

/* A growable output buffer for encoders. Zero-initialise; free with shm_buf_free. */
struct shm_buf {
    uint8_t *data;
    size_t len, cap;
};
void shm_buf_free(struct shm_buf *b);
void shm_buf_reset(struct shm_buf *b);   /* len = 0, keeps the memory */

/* Decoder results. */
enum shm_decode_result {
    SHM_DECODE_OK = 0,
    SHM_DECODE_MALFORMED = -1,  /* not a valid message: reply with an error and close */
    SHM_DECODE_UNKNOWN = -2,    /* well-formed envelope [type, seq, ...] with an unknown type:
                                   type and seq are filled in; reply with an error, keep going */
};

/* Read the frame header at hdr (SHM_FRAME_HEADER bytes). Returns 0 and the body length, or -1
 * when the length is 0 or above SHM_FRAME_MAX. */
int shm_frame_length(const uint8_t hdr[SHM_FRAME_HEADER], uint32_t *body_len);

/* Append one whole frame (header and body) to out. Return 0, or -1 when memory runs out or the
 * body would exceed SHM_FRAME_MAX (out is left as it was in both cases). */
int shm_encode_request(const struct shm_request *req, struct shm_buf *out);
int shm_encode_reply(const struct shm_reply *rep, struct shm_buf *out);
/* Convenience: an error reply with a printf-style detail (truncated to 1 KiB). */
int shm_encode_error(uint32_t type, uint32_t seq, int32_t status, struct shm_buf *out,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Decode one body (without its header). On SHM_DECODE_MALFORMED the contents of *out are
 * unspecified except that type and seq are 0 when they could not be read. */
int shm_decode_request(const uint8_t *body, size_t len, struct shm_request *out);
/* Decode a reply by its own type; list_entries must point to SHM_LIST_PAGE_MAX entries when a
 * LIST reply may arrive. shm_decode_reply_to also refuses (SHM_DECODE_MALFORMED) a reply whose
 * type is not expected_type, the type of the request it answers; shm_decode_reply leaves that
 * check to the caller. Neither returns SHM_DECODE_UNKNOWN. */
int shm_decode_reply(const uint8_t *body, size_t len, struct shm_reply *out,
                     struct shm_object *list_entries);
int shm_decode_reply_to(uint32_t expected_type, const uint8_t *body, size_t len,
                        struct shm_reply *out, struct shm_object *list_entries);

/* The problems of a decoded VERIFY reply, one by one: *offset starts at 0 and moves on. 0 and
 * the next problem in *out (pointing into the reply's body), or -1 after the last. */
int shm_verify_problem_next(const struct shm_reply *rep, size_t *offset,
                            struct shm_verify_problem *out);

/* The users of a decoded USERS reply, one by one, as shm_verify_problem_next. */
int shm_user_next(const struct shm_reply *rep, size_t *offset, struct shm_user *out);

/* Names: 1..SHM_NAME_MAX bytes of well-formed UTF-8 with no NUL and no control characters
 * (U+0000..U+001F, U+007F..U+009F). Returns 0 when valid, else a negative SHMSTORE_EINVAL and
 * a static reason in *why ("empty", "longer than 255 bytes", "contains a control character",
 * "not valid UTF-8", ...). */
int shm_name_check(const uint8_t *name, size_t len, const char **why);

/* The message type's name for logs ("PUT"), or "UNKNOWN". */
const char *shm_msg_name(uint32_t type);

#endif
