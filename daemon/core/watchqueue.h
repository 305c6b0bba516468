/*
 * watchqueue.h — the events waiting for one watcher whose connection is behind
 * (docs/architecture.md, "Watch stream").
 *
 * A watcher that reads slowly must cost the daemon bounded memory and never be disconnected for
 * it. So its waiting events are coalesced: at most one per name, the latest (a name sealed,
 * replaced and deleted while the watcher was behind waits as one "deleted"), kept in the order
 * of their latest events, and at most `max` names wait. An event for yet another name is then
 * dropped and counted, and so is every new name after it until the queue has drained: the
 * watcher reads everything that waited, then one "events lost" marker with the count, so what
 * comes before the marker is whole and what comes after it is live again.
 *
 * Pure bookkeeping: no I/O, no store; unit-tested by tests/unit/test_watchqueue.c.
 */
#ifndef SHMSTORE_WATCHQUEUE_H
#define SHMSTORE_WATCHQUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct watch_queue watch_queue;

/* One waiting event. name is NUL-terminated. */
struct watch_item {
    uint32_t kind;
    uint64_t id, size;
    int64_t time_ns;
    struct watch_item *prev, *next;   /* the queue's order */
    size_t name_len;
    char name[];
};

/* At most max names wait (max >= 1). NULL when out of memory. */
watch_queue *watch_queue_new(size_t max);
/* Frees the queue and every item still waiting. NULL is fine. */
void watch_queue_free(watch_queue *q);

/* What watch_queue_push did with an event. */
enum watch_push {
    WATCH_QUEUED,      /* its name was not waiting: it waits now, last */
    WATCH_COALESCED,   /* its name was waiting: that item now tells this event, and moved last */
    WATCH_DROPPED,     /* no room (or lost events not yet told, or out of memory): counted */
};
enum watch_push watch_queue_push(watch_queue *q, uint32_t kind, const char *name, size_t name_len,
                                 uint64_t id, uint64_t size, int64_t time_ns);

/* The first waiting event, or NULL; valid until the next push or pop. */
const struct watch_item *watch_queue_peek(const watch_queue *q);
/* Remove (and free) the first waiting event, if any. */
void watch_queue_pop(watch_queue *q);
size_t watch_queue_length(const watch_queue *q);
/* Events dropped since the last marker was taken. */
uint64_t watch_queue_lost(const watch_queue *q);
/* Once nothing waits: the count of dropped events to tell in the marker (0: none), which is
 * reset, so new names are taken again. While events wait: 0, and nothing changes. */
uint64_t watch_queue_take_lost(watch_queue *q);

#endif
