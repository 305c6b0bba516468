/*
 * loopwake.h — how a worker thread wakes the event loop: an eventfd the loop watches. The durable
 * writer and the I/O thread of spill and restore each hand finished jobs back this way
 * (docs/architecture.md, "Durable objects" and "Spill and restore").
 */
#ifndef SHMSTORE_LOOPWAKE_H
#define SHMSTORE_LOOPWAKE_H

#include <stddef.h>

#include <event2/event.h>

struct loopwake {
    int fd;                 /* -1 when not open */
    struct event *event;
};

/* Make the eventfd and have the loop of base call fn(fd, what, arg) whenever it is signalled;
 * fn calls loopwake_clear first. 0, or -1 with why. w is usable by loopwake_close either way. */
int loopwake_open(struct loopwake *w, struct event_base *base, event_callback_fn fn, void *arg,
                  char *why, size_t whylen);
/* From any thread: wake the loop. Cannot fail: a full counter is already a wake-up. */
void loopwake_signal(struct loopwake *w);
/* In the callback: reset the counter, so the next signal wakes the loop again. */
void loopwake_clear(evutil_socket_t fd);
void loopwake_close(struct loopwake *w);

#endif
