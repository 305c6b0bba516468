/*
 * loopwake.c — a worker thread's way to wake the event loop (loopwake.h).
 */
#define _GNU_SOURCE
#include "loopwake.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int loopwake_open(struct loopwake *w, struct event_base *base, event_callback_fn fn, void *arg,
                  char *why, size_t whylen)
{
    w->event = NULL;
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) {
        snprintf(why, whylen, "cannot make an eventfd: %s", strerror(errno));
        return -1;
    }
    w->event = event_new(base, w->fd, EV_READ | EV_PERSIST, fn, arg);
    if (!w->event || event_add(w->event, NULL) != 0) {
        snprintf(why, whylen, "cannot set up the event loop");
        return -1;
    }
    return 0;
}

void loopwake_signal(struct loopwake *w)
{
    uint64_t one = 1;
    (void)!write(w->fd, &one, sizeof one);
}

void loopwake_clear(evutil_socket_t fd)
{
    uint64_t count;
    (void)!read(fd, &count, sizeof count);
}

void loopwake_close(struct loopwake *w)
{
    if (w->event)
        event_free(w->event);
    if (w->fd >= 0)
        close(w->fd);
    w->event = NULL;
    w->fd = -1;
}
