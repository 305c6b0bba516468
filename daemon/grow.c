/*
 * grow.c — segments made on a thread, added to the store on the loop, given back when idle
 * (grow.h; docs/architecture.md, "Processes and memory").
 *
 * Making a segment means reserving and zeroing every page of it, about a quarter of a second for
 * 256 MiB here, so it never runs on the loop: grow_for hands the thread one segment to make at a
 * time, stalls the request, and when the thread is done the loop adds the segment to the store's
 * space and runs every stalled request again. A failure is remembered for a moment
 * (GROW_RETRY_MS), so the requests it woke get its reason as their ENOSPC detail instead of
 * asking again at once. Segments to give back are found by the loop's timer and handed to the
 * same thread, because punching out and unmapping 256 MiB of pages takes tens of milliseconds.
 *
 * Segment sizes: segment_size, or, for a block of more than half of it, a segment of the block's
 * own size (a dedicated one, which space.c never shares); never beyond the maximum.
 */
#define _GNU_SOURCE
#include "grow.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "arena.h"
#include "humansize.h"
#include "log.h"
#include "loopwake.h"
#include "server.h"

/* After a segment could not be made, requests fail at once for this long. */
#define GROW_RETRY_MS 1000
/* How often the loop looks for segments to give back. */
#define GROW_REAP_INTERVAL_MS 1000

struct grow_job {
    uint64_t bytes;
    int dedicated;
    struct arena_segment seg;
    int rc;
    char why[400], note[520];
};

/* A segment the store no longer holds, on its way to arena_segment_destroy. */
struct returned {
    struct arena_segment *seg;
    struct returned *next;
};

struct grow {
    struct server *server;
    uint64_t max_bytes;
    /* the thread: one job at a time */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct grow_job *todo, *done;   /* under lock */
    struct returned *to_free;       /* under lock: segments given back, to destroy */
    int stopping;                   /* under lock */
    struct loopwake loop_wake;
    /* the loop's side */
    struct grow_job *in_flight;     /* handed to the thread, not yet back */
    int64_t failed_at_ns;           /* CLOCK_MONOTONIC of the last failure, 0 for none */
    char failure[480];
    int said_no_huge;               /* the auto fallback to 4 KiB pages was logged */
    struct event *reap_timer;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t round_up_segment(uint64_t bytes)
{
    return (bytes + ARENA_SEGMENT_ALIGN - 1) & ~(ARENA_SEGMENT_ALIGN - 1);
}

uint64_t grow_max_for(const struct options *o)
{
    if (!o->memory)
        return arena_default_memory();
    /* At least one segment of the smallest size. */
    return o->memory < ARENA_SEGMENT_ALIGN ? ARENA_SEGMENT_ALIGN : o->memory;
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* Give back the memory of segments the store let go: their pages are punched out. */
static void free_returned(struct returned *r)
{
    while (r) {
        struct returned *next = r->next;
        arena_segment_destroy(r->seg, 1);
        free(r->seg);
        free(r);
        r = next;
    }
}

static void *grow_main(void *arg)
{
    struct grow *g = arg;
    const struct options *o = g->server->opts;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        while (!g->todo && !g->to_free && !g->stopping)
            pthread_cond_wait(&g->wake, &g->lock);
        if (g->stopping)
            break;
        struct returned *r = g->to_free;
        g->to_free = NULL;
        struct grow_job *j = g->todo;
        g->todo = NULL;
        pthread_mutex_unlock(&g->lock);
        free_returned(r);
        if (j)
            j->rc = arena_segment_create(&j->seg, j->bytes, o->hugepages, o->reserve, j->why,
                                         sizeof j->why, j->note, sizeof j->note);
        pthread_mutex_lock(&g->lock);
        if (j) {
            g->done = j;
            loopwake_signal(&g->loop_wake);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

static void describe_segment(const struct arena_segment *seg, int dedicated, char *buf,
                             size_t len)
{
    char size[32];
    snprintf(buf, len, "%s%s%s", human_size(seg->bytes, size, sizeof size),
             seg->huge ? " of huge pages" : "", dedicated ? ", for one object" : "");
}

/* Put a made segment into the store. 0, or -1 (the segment is freed) when the table is full. */
static int add_segment(struct grow *g, struct arena_segment *made, int dedicated)
{
    struct server *s = g->server;
    struct arena_segment *seg = malloc(sizeof *seg);
    uint32_t id;
    if (!seg || space_add(store_space(s->store), made->base, made->bytes, dedicated, seg,
                          &id) != 0) {
        free(seg);
        arena_segment_destroy(made, 1);
        return -1;
    }
    *seg = *made;
    char what[96], taken[32], max[32];
    describe_segment(seg, dedicated, what, sizeof what);
    log_info("arena: segment %u added (%s); %s taken of %s", id, what,
             human_size(space_taken(store_space(s->store)), taken, sizeof taken),
             human_size(g->max_bytes, max, sizeof max));
    return 0;
}

/* The fallback from huge pages to 4 KiB pages is said once. */
static void say_note(struct grow *g, const char *note)
{
    if (note[0] && !g->said_no_huge) {
        g->said_no_huge = 1;
        log_warn("arena: %s", note);
    }
}

/* Make a segment here, blocking (at start, before the loop serves anyone), and add it. 0, or -1
 * with why. */
static int add_segment_now(struct grow *g, uint64_t size, int dedicated, char *why, size_t whylen)
{
    const struct options *o = g->server->opts;
    struct arena_segment seg;
    char note[520];
    if (arena_segment_create(&seg, size, o->hugepages, o->reserve, why, whylen, note,
                             sizeof note) != 0)
        return -1;
    say_note(g, note);
    if (add_segment(g, &seg, dedicated) != 0) {
        snprintf(why, whylen, "out of memory, or the arena holds %u segments, its most",
                 SHM_SEGMENT_SLOTS);
        return -1;
    }
    return 0;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct grow *g = arg;
    loopwake_clear(fd);
    pthread_mutex_lock(&g->lock);
    struct grow_job *j = g->done;
    g->done = NULL;
    pthread_mutex_unlock(&g->lock);
    if (!j)
        return;
    g->in_flight = NULL;
    say_note(g, j->note);
    if (j->rc == 0 && add_segment(g, &j->seg, j->dedicated) != 0) {
        j->rc = -1;
        snprintf(j->why, sizeof j->why, "the arena holds %u segments, its most",
                 SHM_SEGMENT_SLOTS);
    }
    if (j->rc != 0) {
        g->failed_at_ns = monotonic_ns();
        snprintf(g->failure, sizeof g->failure, "the store could not grow: %s", j->why);
        log_error("arena: %s", g->failure);
    }
    free(j);
    conn_run_stalled(g->server);
}

/* The size of the segment that would hold a block of `bytes`, and whether it is the block's own;
 * 0 when the maximum leaves no room for it. */
static uint64_t segment_for(const struct grow *g, const space_t *sp, uint64_t bytes,
                            int *dedicated)
{
    const uint64_t segment_size = round_up_segment(g->server->opts->segment_size);
    const uint64_t room = space_room_to_grow(sp) & ~(ARENA_SEGMENT_ALIGN - 1);
    const uint64_t own = round_up_segment(bytes);
    *dedicated = bytes > segment_size / 2;
    uint64_t size = *dedicated ? own : segment_size;
    if (size > room)
        size = room;   /* a smaller last segment, up to the maximum */
    return size >= own ? size : 0;
}

static uint32_t give_back(struct grow *g, int64_t before, const char *why);

enum room grow_for(struct server *s, struct conn *c, uint64_t bytes, struct store_detail *d)
{
    struct grow *g = s->grow;
    if (!g)
        return ROOM_NONE;
    if (g->in_flight) {
        conn_stall(c);   /* that segment may be enough; if not, this request asks again */
        return ROOM_STALLED;
    }
    if (g->failed_at_ns && monotonic_ns() - g->failed_at_ns < GROW_RETRY_MS * 1000000ll) {
        snprintf(d->text, sizeof d->text, "%s", g->failure);
        return ROOM_NONE;
    }
    int dedicated;
    uint64_t size = segment_for(g, store_space(s->store), bytes, &dedicated);
    /* At the maximum, empty segments waiting out segment_idle are memory this request may have:
     * give them back now and make the segment it needs. */
    if (!size && give_back(g, INT64_MAX, "empty, and the store at its maximum needs room"))
        size = segment_for(g, store_space(s->store), bytes, &dedicated);
    if (!size)
        return ROOM_NONE;   /* at the maximum: the store's own detail says so */
    struct grow_job *j = calloc(1, sizeof *j);
    if (!j)
        return ROOM_NONE;
    j->bytes = size;
    j->dedicated = dedicated;
    g->in_flight = j;
    pthread_mutex_lock(&g->lock);
    g->todo = j;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    conn_stall(c);
    return ROOM_STALLED;
}

int grow_now(struct server *s, uint64_t bytes)
{
    struct grow *g = s->grow;
    int dedicated;
    uint64_t size = g ? segment_for(g, store_space(s->store), bytes, &dedicated) : 0;
    if (!size)
        return -1;
    char why[400];
    if (add_segment_now(g, size, dedicated, why, sizeof why) != 0) {
        log_warn("arena: cannot grow: %s", why);
        return -1;
    }
    return 0;
}

uint64_t grow_largest_segment(const struct server *s)
{
    const space_t *sp = store_space(s->store);
    uint32_t ids[SHM_SEGMENT_SLOTS];
    uint32_t n = space_segment_ids(sp, ids, SHM_SEGMENT_SLOTS);
    uint64_t largest = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t bytes;
        if (space_segment(sp, ids[i], &bytes, NULL, NULL) == 0 && bytes > largest)
            largest = bytes;
    }
    return largest;
}

/* Give back the segments empty since before `before` (the first ordinary one stays); how many. */
static uint32_t give_back(struct grow *g, int64_t before, const char *why)
{
    struct server *s = g->server;
    space_t *sp = store_space(s->store);
    uint32_t ids[64];
    uint32_t n = space_idle_segments(sp, before, ids, 64);
    for (uint32_t i = 0; i < n; i++) {
        struct arena_segment *seg = space_remove(sp, ids[i]);
        if (!seg)
            continue;
        char size[32], taken[32];
        log_info("arena: segment %u given back (%s, %s); %s taken", ids[i],
                 human_size(seg->bytes, size, sizeof size), why,
                 human_size(space_taken(sp), taken, sizeof taken));
        struct returned *r = malloc(sizeof *r);
        if (!r) {   /* no memory for the hand-over: do it here */
            arena_segment_destroy(seg, 1);
            free(seg);
            continue;
        }
        r->seg = seg;
        pthread_mutex_lock(&g->lock);
        r->next = g->to_free;
        g->to_free = r;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
    }
    return n;
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct grow *g = arg;
    give_back(g, monotonic_ns() - (int64_t)g->server->opts->segment_idle_ms * 1000000,
              "empty for segment_idle");
}

void grow_reload(struct server *s)
{
    struct grow *g = s->grow;
    if (!g)
        return;
    uint64_t max = grow_max_for(s->opts);
    if (max == g->max_bytes)
        return;
    char before[32], after[32];
    log_info("arena: maximum %s -> %s", human_size(g->max_bytes, before, sizeof before),
             human_size(max, after, sizeof after));
    g->max_bytes = max;
    g->failed_at_ns = 0;   /* a failure to grow may have been the old maximum's */
    space_set_max(store_space(s->store), max);
    s->arena.header->max_bytes = max;
    conn_run_stalled(s);
}

int grow_segment_fd(const struct server *s, uint32_t id, int readonly, int *fd, uint64_t *bytes)
{
    void *backing;
    if (space_segment(store_space(s->store), id, bytes, NULL, &backing) != 0 || !backing)
        return -1;
    const struct arena_segment *seg = backing;
    *fd = readonly ? seg->readonly_fd : seg->fd;
    return 0;
}

int grow_start(struct server *s, char *why, size_t whylen)
{
    struct grow *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    g->server = s;
    g->loop_wake.fd = -1;
    g->max_bytes = space_max(store_space(s->store));
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    s->grow = g;
    if (arena_open(&s->arena, g->max_bytes, why, whylen) != 0)
        return -1;
    /* The first segment is made here, before the socket opens, so a daemon that cannot have
     * any memory (or the huge pages it must use) refuses to start. */
    /* segment_size, or as many whole 2 MiB steps as the maximum holds (at least one). */
    uint64_t size = round_up_segment(s->opts->segment_size);
    if (size > g->max_bytes)
        size = g->max_bytes & ~(ARENA_SEGMENT_ALIGN - 1);
    if (add_segment_now(g, size, 0, why, whylen) != 0)
        return -1;
    void *first;
    if (space_segment(store_space(s->store), 0, NULL, NULL, &first) == 0 &&
        s->opts->hugepages == HUGEPAGES_AUTO &&
        !((const struct arena_segment *)first)->huge && !g->said_no_huge) {
        g->said_no_huge = 1;
        log_info("arena: no huge pages free (vm.nr_hugepages), so segments use 4 KiB pages%s",
                 s->opts->reserve ? ", zeroed by the daemon as they are added" : "");
    }
    if (loopwake_open(&g->loop_wake, s->base, on_done, g, why, whylen) != 0)
        return -1;
    g->reap_timer = event_new(s->base, -1, EV_PERSIST, on_reap_timer, g);
    struct timeval every = {0, GROW_REAP_INTERVAL_MS * 1000};
    if (!g->reap_timer || event_add(g->reap_timer, &every) != 0) {
        snprintf(why, whylen, "cannot set up the event loop");
        return -1;
    }
    int rc = pthread_create(&g->thread, NULL, grow_main, g);
    if (rc != 0) {
        snprintf(why, whylen, "cannot start the arena's thread: %s", strerror(rc));
        return -1;
    }
    g->thread_started = 1;
    return 0;
}

void grow_stop(struct server *s)
{
    struct grow *g = s->grow;
    if (!g)
        return;
    if (g->thread_started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    /* A segment made but never added, a job the thread never took, segments it did not free. */
    free_returned(g->to_free);
    if (g->done && g->done->rc == 0)
        arena_segment_destroy(&g->done->seg, 1);
    free(g->done);
    free(g->todo);
    if (s->store) {
        space_t *sp = store_space(s->store);
        uint32_t ids[SHM_SEGMENT_SLOTS];
        uint32_t n = space_segment_ids(sp, ids, SHM_SEGMENT_SLOTS);
        for (uint32_t i = 0; i < n; i++) {
            void *backing;
            if (space_segment(sp, ids[i], NULL, NULL, &backing) == 0 && backing) {
                arena_segment_destroy(backing, 0);
                free(backing);
            }
        }
    }
    if (g->reap_timer)
        event_free(g->reap_timer);
    loopwake_close(&g->loop_wake);
    arena_close(&s->arena);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g);
    s->grow = NULL;
}
