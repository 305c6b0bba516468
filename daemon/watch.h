/*
 * watch.h — the watch stream: EVENT frames the daemon starts itself on connections that watch
 * (docs/architecture.md, "Watch stream").
 *
 * A connection asks at HELLO (SHM_HELLO_WATCH), then sends one WATCH with a glob and flags. From
 * then on every change to a sealed object whose name matches is sent to it as an EVENT frame,
 * in the order the store made them. A watcher's events take at most WATCH_OUTPUT_MAX of its
 * output; behind that they wait coalesced in a bounded queue (watchqueue.h), and past that they
 * are dropped and told as one "lost" marker. So a watcher that does not read costs bounded
 * memory and is never dropped for it: CONN_OUTPUT_MAX, which drops clients that do not read
 * their replies, is far above what events alone can fill.
 */
#ifndef SHMSTORE_WATCH_H
#define SHMSTORE_WATCH_H

#include "conn.h"

/* Event bytes a watcher's output may hold before further events wait in its queue: a few
 * thousand events, well under CONN_OUTPUT_MAX. */
#define WATCH_OUTPUT_MAX (256u * 1024u)
/* Names whose events may wait in one watcher's queue before events are lost. */
#define WATCH_QUEUE_MAX 4096u
/* Name entries a snapshot visits per loop turn, as LIST's budget. */
#define WATCH_SNAPSHOT_BUDGET 4096u

/* Hook the store's events. Call once the store exists. */
void watch_start(struct server *s);
/* Unhook (after every connection is closed). */
void watch_stop(struct server *s);
/* WATCH: subscribe c; its reply goes first, then events (and, with SHM_WATCH_SNAPSHOT, the
 * current matching objects before them). */
void watch_request(struct conn *c, const struct shm_request *req);
/* Queue as many of c's waiting events as its output takes, within a loop turn's budget. 1 when
 * more wait (call again on the next turn), 0 when nothing does. */
int watch_fill(struct conn *c);
/* c is closing: its subscription goes. */
void watch_forget_conn(struct conn *c);

#endif
