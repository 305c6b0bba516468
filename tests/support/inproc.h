/*
 * inproc.h — a daemon in a test tube: a real shmstored server (server_init: arena, store, event
 * loop; no socket, no signal handlers) whose clients are socketpairs handed to conn_new. Tests
 * and fuzz targets write frames to a client's end, let the loop run until nothing moves, and
 * read the replies, all in one thread and without timing.
 *
 * Outside inproc_new and inproc_free the harness allocates nothing, so allocation-failure tests
 * can count and fail the daemon's allocations alone.
 */
#ifndef SHMSTORE_TESTS_INPROC_H
#define SHMSTORE_TESTS_INPROC_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ring.h"
#include "server.h"

#define INPROC_CLIENTS_MAX 8

struct inproc;

/* A server with `memory` ("16M") of arena, not reserved, and nclients (<= INPROC_CLIENTS_MAX)
 * client slots, none connected yet. NULL (with a message on stderr) when it cannot be built. */
struct inproc *inproc_new(const char *memory, unsigned nclients);
/* Back to the state of a fresh daemon, for fuzzers that reuse one across inputs: every client
 * leaves, every name is deleted, no timer is pending. 0, or -1 with why when anything is left
 * over (which would be the store's leak). */
int inproc_reset(struct inproc *ip, char *why, size_t whylen);
/* Close every client, stop the server, free everything. */
void inproc_free(struct inproc *ip);
struct server *inproc_server(struct inproc *ip);

/* Connect client slot i (closing its previous connection first, if any). 0, or -1 when the
 * daemon refused (conn_new out of memory) or socketpair failed. */
int inproc_connect(struct inproc *ip, unsigned i);
/* Close client i's end, as a client process that exits would. */
void inproc_close(struct inproc *ip, unsigned i);
/* Whether client i is connected: its end is open and the daemon has not closed the other. */
int inproc_is_open(const struct inproc *ip, unsigned i);

/* Client i's release ring, mapped writable as the client library maps it, or NULL before a
 * HELLO reply. What is written there reaches the daemon at its next drain. */
struct shm_release_ring *inproc_ring(struct inproc *ip, unsigned i);

/* Client i stops (paused) or resumes reading its replies, like a client busy elsewhere: the
 * daemon's output to it backs up in the socket and then in the connection. */
void inproc_pause_reading(struct inproc *ip, unsigned i, int paused);

/* Write raw bytes to client i's end, running the loop whenever the socket is full (giving up
 * on the rest when the daemon stops taking it). */
void inproc_send(struct inproc *ip, unsigned i, const void *bytes, size_t len);
/* Encode req and send it; -1 when it cannot be encoded. */
int inproc_send_request(struct inproc *ip, unsigned i, const struct shm_request *req);

/* Run the loop without blocking until it is quiet: no event active, no input waiting on any
 * connection, no reply waiting to be read. Replies are read as they come (any fds that ride on
 * them are closed, the release ring mapped first) and kept per client; when a client's buffer
 * fills, its oldest replies are dropped. 0, or -1 when the loop never settles. */
int inproc_run(struct inproc *ip);
/* Let every pending timer of the daemon fire now, as if a long time had passed (GET timeouts,
 * HELLO and frame deadlines, release polling), then run until quiet. */
int inproc_expire_timers(struct inproc *ip);

/* Pop client i's oldest reply, decoded into *rep (entries: SHM_LIST_PAGE_MAX for LIST
 * replies). 1 when there was one, 0 when none, -1 when it did not decode (the daemon sent a
 * malformed reply). Byte strings in *rep stay valid until the next call on this harness. */
int inproc_reply(struct inproc *ip, unsigned i, struct shm_reply *rep,
                 struct shm_object *entries);
/* Replies of any client that failed to decode so far (a daemon bug). */
unsigned inproc_malformed_replies(const struct inproc *ip);

/* HELLO as the client library sends it; returns inproc_reply's result for its reply, which is
 * in *rep. */
int inproc_hello(struct inproc *ip, unsigned i, struct shm_reply *rep);

#endif
