/*
 * msgbody.h — msgpack bodies built by hand, for tests that must send what the encoder never
 * would (wrong types, truncated arrays, lying lengths). Header-only, so unit tests and
 * integration tests share it without a library of their own.
 */
#ifndef SHMSTORE_TEST_MSGBODY_H
#define SHMSTORE_TEST_MSGBODY_H

#include <stddef.h>

#include <msgpack.h>

struct body {
    msgpack_sbuffer sb;
    msgpack_packer pk;   /* pack into sb with the msgpack_pack_* calls */
};

static inline void body_init(struct body *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

/* Append bytes as they are: for raw msgpack tags and deliberately broken encodings. */
static inline void body_raw(struct body *b, const void *bytes, size_t len)
{
    msgpack_sbuffer_write(&b->sb, bytes, len);
}

static inline void body_free(struct body *b)
{
    msgpack_sbuffer_destroy(&b->sb);
}

#endif
