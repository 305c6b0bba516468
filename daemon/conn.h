/*
 * conn.h — one client connection: a small state machine (memcached's conn_set_state) over a
 * non-blocking socket with bounded input and output buffers.
 *
 *   HANDSHAKE --HELLO ok--> READY <--reply--> WAITING (a get waits for a name)
 *                           READY <--reply--> PERSISTING (a durable seal, put or delete
 *                                                        waits for the disk: durable.h)
 *                           READY <--reply--> LOADING (a get waits for its object to be read
 *                                                     back from disk, its frame kept: residency.h)
 *                           READY <--redo---> STALLED (a request waits for room being made; its
 *                                                     frame stays and runs again)
 *        \                    |
 *         +--bad frame--> DRAINING (flush the error reply) --> CLOSED (freed)
 *
 * In WAITING the input is still read but held, except a GET_CANCEL at its head, which ends the
 * wait (the client's interrupt check fired), so replies always leave in request order.
 */
#ifndef SHMSTORE_CONN_H
#define SHMSTORE_CONN_H

#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "proto.h"
#include "ring.h"
#include "server.h"
#include "store.h"

struct evbuffer;
struct durable_job;
struct io_job;

/* PERSISTING: the reply of a durable seal, put or delete waits for the disk (durable.h); every
 * request after it stays in the input until it has gone. */
enum conn_state { CONN_HANDSHAKE, CONN_READY, CONN_WAITING, CONN_PERSISTING, CONN_LOADING,
                  CONN_STALLED, CONN_DRAINING, CONN_CLOSED };

/* A client that lets this much output pile up is not reading its replies: it is dropped. */
#define CONN_OUTPUT_MAX (4u * 1024u * 1024u)
/* A frame must arrive whole within this time once it has started, and HELLO within this time
 * of connecting. */
#define CONN_FRAME_TIMEOUT_S 30
/* A closing connection whose peer does not take its last reply is closed anyway after this. */
#define CONN_DRAIN_TIMEOUT_S 5

struct conn {
    struct server *server;
    int fd;
    enum conn_state state;
    pid_t pid;                   /* peer credentials at connect */
    uid_t uid;
    gid_t gid;
    enum access_level access;    /* decided at connect from the peer and the access lists */
    uint32_t hello_flags;        /* SHM_HELLO_*: what the client said it understands */
    int served;                  /* counted in server->served_clients */
    struct event *read_event, *write_event;
    struct event *frame_timer;   /* deadline: HELLO, a started frame, or the final flush */
    struct evbuffer *in, *out;
    struct store_client client;  /* pins and unsealed objects */
    struct shm_release_ring *ring;   /* releases queued by the client, from HELLO on */
    /* a waiting get */
    struct store_waiter waiter;
    struct event *wait_timer;
    uint32_t wait_seq;
    int64_t wait_timeout_ms;     /* what the waiting get asked for, for its timeout's detail */
    struct durable_job *held_job;   /* PERSISTING: the job whose completion sends the reply */
    /* LOADING: the get whose reply waits for its object to be read back (residency.h) */
    struct io_job *load;
    uint32_t load_seq;
    int64_t load_timeout_ms;
    struct event *load_timer;
    struct conn *load_prev, *load_next;     /* the other gets waiting for the same read */
    /* STALLED: the request waits for room; its frame stays in the input and runs again */
    struct conn *stall_prev, *stall_next;
    struct watcher *watcher;     /* after WATCH: its subscription (watch.h) */
    struct conn *prev, *next;
};

/* Take over an accepted socket. NULL when out of memory (the fd is then closed). */
struct conn *conn_new(struct server *s, int fd);
/* The one place a connection changes state; CONN_CLOSED frees it. */
void conn_set_state(struct conn *c, enum conn_state state);
/* Queue a reply (or an error reply) on the connection's output. */
void conn_send_reply(struct conn *c, const struct shm_reply *rep);
void conn_send_error(struct conn *c, uint32_t type, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Send the HELLO reply with descriptors attached (SCM_RIGHTS). 0, or -1 when it cannot. */
int conn_send_reply_with_fds(struct conn *c, const struct shm_reply *rep, const int *fds,
                             size_t nfds);
/* A request held in LOADING is answered: its frame, kept at the head of the input so that it
 * could run again, goes now. */
void conn_release_frame(struct conn *c);
/* Apply the releases the client queued in its ring. */
void conn_drain_releases(struct conn *c);
/* Ask the loop to flush output and resume reading input soon (safe from any callback). */
void conn_kick(struct conn *c);

/* What a request that found no room got from the modules that make room (grow.h, residency.h). */
enum room {
    ROOM_NONE,      /* nothing more can be done: the caller answers ENOSPC with the detail */
    ROOM_MADE,      /* a block of the size asked is free now: try again */
    ROOM_STALLED,   /* room is on its way: c is STALLED and its request runs again later */
};
/* c's request waits for room (a segment being made, objects being spilled): c goes STALLED on
 * the server's list, its frame kept. */
void conn_stall(struct conn *c);
/* Room may have been made: every stalled request runs again (and stalls again if it must). */
void conn_run_stalled(struct server *s);

#endif
