/*
 * mpread.c — a pull-style msgpack reader that never allocates.
 *
 * We decode with this rather than msgpack-c's unpacker because the unpacker builds a tree of
 * msgpack_object and, on an array or map header, allocates count * sizeof(msgpack_object) from
 * its zone before it has checked the count against the bytes present: a 5-byte frame declaring
 * 0xFFFFFFFF elements makes it ask for tens of GiB. Here read_head() classifies the next value's
 * header, and refuses it unless what the header declares fits in the remaining bytes (a str or
 * bin length, or a count of elements that each take at least one byte). Every public function is
 * built on read_head() and moves the cursor only on success.
 */
#include "mpread.h"

enum mp_kind {
    MP_NIL,
    MP_BOOL,
    MP_UINT,    /* any int format holding a value >= 0 */
    MP_NEGINT,  /* any int format holding a value < 0 */
    MP_FLOAT,
    MP_STR,
    MP_BIN,
    MP_EXT,
    MP_ARRAY,
    MP_MAP,
};

struct mp_head {
    enum mp_kind kind;
    uint64_t uint_value;   /* MP_UINT, MP_BOOL */
    int64_t int_value;     /* MP_NEGINT */
    uint64_t size;         /* bytes after the header (str, bin, ext, float); elements (array, map) */
    const uint8_t *after;  /* first byte after the header */
};

static uint64_t read_be(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

static int64_t sign_extend(uint64_t v, unsigned width)
{
    switch (width) {
    case 1: return (int8_t)v;
    case 2: return (int16_t)v;
    case 4: return (int32_t)v;
    default: return (int64_t)v;
    }
}

/* Formats come in runs whose argument is 1, 2, 4, (8) bytes wide: width by rank in the run. */
static unsigned width_of(uint8_t tag, uint8_t first_of_run)
{
    return 1u << (tag - first_of_run);
}

static int read_head(const struct mp_reader *r, struct mp_head *h)
{
    const uint8_t *p = r->ptr;
    if (p == r->end)
        return -1;
    uint8_t tag = *p++;
    unsigned width = 0;       /* bytes of argument (length, count or value) after the tag */
    unsigned extra = 0;       /* bytes of payload beyond the argument's value (ext type byte) */
    uint64_t fixed = 0;       /* the argument when it is part of the tag */
    int is_signed = 0;

    if (tag <= 0x7f) {
        h->kind = MP_UINT;
        fixed = tag;
    } else if (tag >= 0xe0) {
        h->kind = MP_NEGINT;
        fixed = tag;
    } else if (tag <= 0x8f) {
        h->kind = MP_MAP;
        fixed = tag & 0x0f;
    } else if (tag <= 0x9f) {
        h->kind = MP_ARRAY;
        fixed = tag & 0x0f;
    } else if (tag <= 0xbf) {
        h->kind = MP_STR;
        fixed = tag & 0x1f;
    } else {
        switch (tag) {
        case 0xc0: h->kind = MP_NIL; break;
        case 0xc2: case 0xc3: h->kind = MP_BOOL; fixed = tag & 1; break;
        case 0xc4: case 0xc5: case 0xc6: h->kind = MP_BIN; width = width_of(tag, 0xc4); break;
        case 0xc7: case 0xc8: case 0xc9:
            h->kind = MP_EXT; width = width_of(tag, 0xc7); extra = 1; break;
        case 0xca: h->kind = MP_FLOAT; fixed = 4; break;
        case 0xcb: h->kind = MP_FLOAT; fixed = 8; break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            h->kind = MP_UINT; width = width_of(tag, 0xcc); break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            h->kind = MP_UINT; width = width_of(tag, 0xd0); is_signed = 1; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            h->kind = MP_EXT; fixed = width_of(tag, 0xd4); extra = 1; break;
        case 0xd9: case 0xda: case 0xdb: h->kind = MP_STR; width = width_of(tag, 0xd9); break;
        case 0xdc: case 0xdd: h->kind = MP_ARRAY; width = 2 * width_of(tag, 0xdc); break;
        case 0xde: case 0xdf: h->kind = MP_MAP; width = 2 * width_of(tag, 0xde); break;
        default: return -1; /* 0xc1 is never used */
        }
    }

    if ((size_t)(r->end - p) < width)
        return -1;
    uint64_t arg = width ? read_be(p, width) : fixed;
    p += width;
    h->after = p;
    size_t left = (size_t)(r->end - p);

    switch (h->kind) {
    case MP_UINT:
        if (is_signed && sign_extend(arg, width) < 0) {
            h->kind = MP_NEGINT;
            h->int_value = sign_extend(arg, width);
        } else {
            h->uint_value = arg;
        }
        return 0;
    case MP_NEGINT:
        h->int_value = (int8_t)arg;
        return 0;
    case MP_BOOL:
        h->uint_value = arg;
        return 0;
    case MP_NIL:
        return 0;
    case MP_ARRAY:
        h->size = arg;
        return arg <= left ? 0 : -1;
    case MP_MAP:
        h->size = arg;
        return 2 * arg <= left ? 0 : -1;   /* arg < 2^32: cannot overflow */
    default:                               /* str, bin, ext, float: a payload follows */
        h->size = arg + extra;
        return h->size <= left ? 0 : -1;
    }
}

int mp_read_array(struct mp_reader *r, uint32_t *count)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_ARRAY)
        return -1;
    *count = (uint32_t)h.size;
    r->ptr = h.after;
    return 0;
}

int mp_read_map(struct mp_reader *r, uint32_t *count)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_MAP)
        return -1;
    *count = (uint32_t)h.size;
    r->ptr = h.after;
    return 0;
}

int mp_read_uint(struct mp_reader *r, uint64_t *value)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_UINT)
        return -1;
    *value = h.uint_value;
    r->ptr = h.after;
    return 0;
}

int mp_read_int(struct mp_reader *r, int64_t *value)
{
    struct mp_head h;
    if (read_head(r, &h))
        return -1;
    if (h.kind == MP_NEGINT)
        *value = h.int_value;
    else if (h.kind == MP_UINT && h.uint_value <= INT64_MAX)
        *value = (int64_t)h.uint_value;
    else
        return -1;
    r->ptr = h.after;
    return 0;
}

static void take_payload(struct mp_reader *r, const struct mp_head *h, struct shm_bytes *out)
{
    out->ptr = h->after;
    out->len = (uint32_t)h->size;
    r->ptr = h->after + h->size;
}

int mp_read_str(struct mp_reader *r, struct shm_bytes *out)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_STR)
        return -1;
    take_payload(r, &h, out);
    return 0;
}

int mp_read_bin(struct mp_reader *r, struct shm_bytes *out)
{
    struct mp_head h;
    if (read_head(r, &h))
        return -1;
    if (h.kind == MP_NIL) {
        out->ptr = NULL;
        out->len = 0;
        r->ptr = h.after;
        return 0;
    }
    if (h.kind != MP_BIN)
        return -1;
    take_payload(r, &h, out);
    return 0;
}

int mp_read_bool(struct mp_reader *r, int *value)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_BOOL)
        return -1;
    *value = (int)h.uint_value;
    r->ptr = h.after;
    return 0;
}

int mp_read_nil(struct mp_reader *r)
{
    struct mp_head h;
    if (read_head(r, &h) || h.kind != MP_NIL)
        return -1;
    r->ptr = h.after;
    return 0;
}

int mp_skip(struct mp_reader *r, unsigned max_depth)
{
    struct mp_head h;
    if (read_head(r, &h))
        return -1;
    struct mp_reader rest = { h.after, r->end };
    switch (h.kind) {
    case MP_ARRAY:
    case MP_MAP: {
        if (max_depth == 0)
            return -1;
        uint64_t elements = h.kind == MP_MAP ? 2 * h.size : h.size;
        for (uint64_t i = 0; i < elements; i++)
            if (mp_skip(&rest, max_depth - 1))
                return -1;
        break;
    }
    case MP_FLOAT:
    case MP_STR:
    case MP_BIN:
    case MP_EXT:
        rest.ptr += h.size;
        break;
    default:
        break;
    }
    r->ptr = rest.ptr;
    return 0;
}
