/*
 * expire.c — deletes objects whose time to live has run out (see expire.h).
 *
 * The deadlines themselves are in the store's heap (core/expiry.h); this file only keeps one
 * libevent timer pointed at the earliest of them. Deadlines are CLOCK_REALTIME (they are shown
 * to users as times), the timer counts a delay, so a clock step makes the timer fire early or
 * late once; when it fires it deletes what is due by the clock and re-arms, which corrects
 * either. A deadline that moves later (its object was deleted first) needs no re-arm: the timer
 * fires, finds nothing due and follows the new earliest. A firing deletes at most EXPIRE_BATCH
 * objects and comes back at once for the rest, so a million objects expiring together never
 * stall the clients.
 */
#include "expire.h"

#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Deadlines years away are reached by waking once a day: the timer never holds a delay that
 * libevent's arithmetic (or a clock step) could overflow. */
#define LONGEST_WAIT_NS (INT64_C(86400) * 1000000000)

static void arm_for(struct server *s, int64_t deadline_ns)
{
    const int64_t now = realtime_ns();
    int64_t delay_ns = deadline_ns - now;
    if (delay_ns < 0)
        delay_ns = 0;
    if (delay_ns > LONGEST_WAIT_NS)
        delay_ns = LONGEST_WAIT_NS;
    struct timeval tv = {(time_t)(delay_ns / 1000000000),
                         (suseconds_t)(delay_ns % 1000000000) / 1000};
    if (evtimer_add(s->expiry_timer, &tv) == 0)
        s->expiry_armed_ns = now + delay_ns;   /* when it really fires */
}

static void on_expiry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    s->expiry_armed_ns = INT64_MAX;
    uint64_t n = store_expire(s->store, realtime_ns(), EXPIRE_BATCH);
    if (n)
        log_debug("expired %llu objects", (unsigned long long)n);
    expire_arm(s);
}

int expire_start(struct server *s, char *why, size_t whylen)
{
    s->expiry_armed_ns = INT64_MAX;
    s->expiry_timer = evtimer_new(s->base, on_expiry_timer, s);
    if (!s->expiry_timer) {
        snprintf(why, whylen, "cannot set up the event loop");
        return -1;
    }
    return 0;
}

void expire_arm(struct server *s)
{
    const int64_t next = store_next_expiry(s->store);
    if (!s->expiry_timer || next == INT64_MAX || next >= s->expiry_armed_ns)
        return;
    arm_for(s, next);
}

void expire_stop(struct server *s)
{
    if (s->expiry_timer)
        event_free(s->expiry_timer);
    s->expiry_timer = NULL;
}
