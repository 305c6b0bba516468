/*
 * fuzz_daemon.h — the input format of fuzz_daemon, shared with the corpus generator
 * (make_corpus.c) so the two cannot drift.
 *
 * An input is a sequence of records: [client][op][length: 2 bytes, little-endian][payload].
 * The client byte picks one of FUZZ_CLIENTS simulated clients (modulo); a client that is not
 * connected is connected first, and says HELLO unless the op has FUZZ_NO_HELLO; with
 * FUZZ_NO_READ the client does not read its replies until a record of its own without it. The
 * op's low three bits say what the record does (values past FUZZ_RING do nothing):
 *
 *   FUZZ_RAW      payload: bytes written to the socket as they are (frames, halves, garbage)
 *   FUZZ_REQUEST  payload: a request described compactly (see below), encoded by the codec,
 *                 so the fuzzer reaches the store without having to learn msgpack first
 *   FUZZ_CLOSE    the client's process goes away (payload ignored)
 *   FUZZ_TIME     a long time passes: every pending daemon timer fires (payload ignored)
 *   FUZZ_RING     payload: writes to the client's release ring, which the daemon drains at the
 *                 client's next request, its release timer or its close. [mode] even: ids to
 *                 push, one id byte each (as below); odd: raw head and tail counters (4 bytes
 *                 each), as only a hostile client would write them
 *
 * A FUZZ_REQUEST payload is read a byte at a time, missing bytes read as 0:
 *   type, seq, then the fields of that type: a name is [n] then, for n < 0xC0, n % 8 + 1
 *   letters from "ab/c" chosen by the next bytes, else n - 0xC0 raw bytes; a size is [k] then
 *   k % 4 selects 0, next*64, next*4096 or 8 raw bytes; meta and data are [n] giving n*4 or
 *   n*16 bytes; flags one byte; an id is [k]: k < 0xF0 takes the (k % seen)th id seen in a
 *   reply so far, else 8 raw bytes; a timeout is [k]: 0, -1, next ms, or 8 raw bytes; LIST is
 *   a pattern ([n] then n % 6 characters of a b / * ? [ ] by the next bytes; empty lists all), a
 *   cursor ([0]: none, else a name) and max; DELETE_MATCHING is a pattern as LIST's (empty is
 *   refused); GET_CANCEL is the seq of the get it cancels, one byte like every seq here.
 */
#ifndef SHMSTORE_FUZZ_DAEMON_H
#define SHMSTORE_FUZZ_DAEMON_H

#define FUZZ_CLIENTS 4
#define FUZZ_RECORD_HEADER 4

enum fuzz_op { FUZZ_RAW, FUZZ_REQUEST, FUZZ_CLOSE, FUZZ_TIME, FUZZ_RING };
#define FUZZ_OP_MASK 7u
#define FUZZ_NO_HELLO 8u
#define FUZZ_NO_READ 16u

#define FUZZ_NAME_RAW 0xC0u     /* name byte at or above: raw bytes follow */
#define FUZZ_ID_RAW 0xF0u       /* id byte at or above: 8 raw bytes follow */

#endif
