/*
 * server.h — the daemon's one piece of shared state: event loop, arena, store, listener and the
 * list of connections. Passed explicitly (no globals), so modules stay testable.
 */
#ifndef SHMSTORE_SERVER_H
#define SHMSTORE_SERVER_H

#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "options.h"
#include "proto.h"
#include "store.h"

struct event_base;
struct event;
struct conn;

struct server {
    struct event_base *base;
    struct options *opts;           /* reloadable parts change on SIGHUP */
    struct arena arena;
    store_t *store;
    int listen_fd;
    int lock_fd;                    /* flock'd SOCKET.lock: one daemon per socket */
    struct event *accept_event;
    struct event *accept_resume;    /* re-enables accept after running out of fds */
    struct event *signal_events[3];   /* SIGTERM, SIGINT, SIGHUP */
    struct event *release_timer;    /* drains release rings while pins exist */
    struct event *status_timer;     /* STATUS= to systemd, only under $NOTIFY_SOCKET */
    struct event *lifeline_event;   /* --lifeline: its end of file stops the daemon */
    int lifeline_fd;                /* the descriptor watched, -1 when none */
    int socket_activated;           /* listen_fd came from systemd (LISTEN_FDS) */
    struct conn *conns;             /* every open connection */
    uint64_t clients;               /* open connections */
    uint64_t served_clients;        /* connections past HELLO: what max_clients limits */
    uint64_t requests;
    uint64_t errors[SHM_ERROR_SLOTS];   /* error replies sent, by -code */
    struct timespec started;        /* CLOCK_MONOTONIC */
    struct shm_buf scratch;         /* encoder output, reused for every reply */
    struct durable *durable;        /* with a data directory: the writer thread (durable.h) */
    struct residency *residency;    /* with a data directory: spill and restore (residency.h) */
    struct grow *grow;              /* segments made and given back (grow.h) */
    struct conn *stalled, *stalled_tail;   /* requests waiting for room, oldest first */
    quota_t *quota;                 /* per-user accounting and limits (core/quota.h) */
    struct event *expiry_timer;     /* deletes objects whose time to live ran out (expire.h) */
    int64_t expiry_armed_ns;        /* the deadline it is armed for, INT64_MAX when idle */
    struct watcher *watchers;       /* connections that watch (watch.h) */
};

/* The arena, the store and the event loop: everything but signals and the socket. Enough for
 * an in-process harness that hands its own sockets to conn_new. opts must outlive s. 0, or -1
 * with why (s is then stopped). */
int server_init(struct server *s, struct options *opts, char *why, size_t whylen);
/* SIGTERM and SIGINT stop the loop, SIGHUP reloads the configuration. Call before
 * server_listen, so a stop sent as soon as the socket accepts is handled. 0, or -1 with why. */
int server_catch_signals(struct server *s, char *why, size_t whylen);
/* Bind the socket (refusing one that a live daemon serves, replacing a stale one) or take the
 * one systemd passed, and accept on it. The daemon is ready when this returns 0; -1 with why. */
int server_listen(struct server *s, char *why, size_t whylen);
/* Watch opts->lifeline_fd, when there is one: at its end of file, error or hangup the loop
 * stops as on SIGTERM. 0, or -1 with why (the descriptor is not open, or not readable). */
int server_watch_lifeline(struct server *s, char *why, size_t whylen);
/* server_init, server_catch_signals, server_watch_lifeline and server_listen; stops s when one
 * fails. */
int server_start(struct server *s, struct options *opts, char *why, size_t whylen);
/* Pins exist: make sure release rings are drained every SERVER_RELEASE_POLL_MS until none do. */
#define SERVER_RELEASE_POLL_MS 20
#define SERVER_STATUS_INTERVAL_S 10
void server_watch_releases(struct server *s);
/* Run until SIGTERM/SIGINT or the end of the lifeline. */
void server_run(struct server *s);
/* Close every connection, remove the socket file, free everything. */
void server_stop(struct server *s);

#endif
