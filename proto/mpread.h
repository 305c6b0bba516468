/*
 * mpread.h — a pull-style msgpack reader over one byte buffer, for the protocol decoder.
 *
 * The caller asks for the type it expects next (mp_read_uint, mp_read_str, ...) and gets it or
 * a refusal; nothing is allocated, strings and binaries point into the buffer. Every declared
 * length or count is checked against the bytes that remain before it is returned, so a caller
 * may loop over a count without further checks. All functions return 0 on success or -1 when
 * the next value is missing, truncated or of another type; on -1 the cursor has not moved.
 */
#ifndef SHMSTORE_MPREAD_H
#define SHMSTORE_MPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h" /* struct shm_bytes */

/* Containers nested deeper than this below the value being skipped are refused by mp_skip. */
#define MP_SKIP_DEPTH 16u

struct mp_reader {
    const uint8_t *ptr; /* next byte to read */
    const uint8_t *end; /* one past the last byte */
};

static inline void mp_reader_init(struct mp_reader *r, const uint8_t *buf, size_t len)
{
    r->ptr = buf;
    r->end = buf ? buf + len : buf; /* NULL + 0 is undefined */
}

static inline size_t mp_remaining(const struct mp_reader *r)
{
    return (size_t)(r->end - r->ptr);
}

/* Array and map headers. *count <= mp_remaining() afterwards (twice that for a map's keys and
 * values), since every element takes at least one byte. */
int mp_read_array(struct mp_reader *r, uint32_t *count);
int mp_read_map(struct mp_reader *r, uint32_t *count);

/* Integers in any msgpack int format whose value fits the result: mp_read_uint refuses negative
 * values, mp_read_int refuses values above INT64_MAX. Floats are refused. */
int mp_read_uint(struct mp_reader *r, uint64_t *value);
int mp_read_int(struct mp_reader *r, int64_t *value);

/* mp_read_str takes only str formats; mp_read_bin takes bin formats, and nil as an empty
 * binary (ptr NULL, len 0). */
int mp_read_str(struct mp_reader *r, struct shm_bytes *out);
int mp_read_bin(struct mp_reader *r, struct shm_bytes *out);

int mp_read_bool(struct mp_reader *r, int *value);
int mp_read_nil(struct mp_reader *r);

/* Step over one value of any type, including floats and ext values, with containers nested at
 * most max_depth levels (0: scalars only). */
int mp_skip(struct mp_reader *r, unsigned max_depth);

#endif
