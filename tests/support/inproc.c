/*
 * inproc.c — a daemon in a test tube (see inproc.h).
 *
 * The server is the daemon's own: options from options_parse, server_init, conn_new on one end
 * of a socketpair per client. The loop runs with EVLOOP_NONBLOCK only, so nothing ever sleeps;
 * "quiet" is decided by asking the kernel, with a zero-timeout poll, whether any connection the
 * loop still watches has something for it (input, a hang-up, room for pending output), and
 * libevent whether any event is active. Timers never fire on their own here: a test that wants
 * time to pass says so with inproc_expire_timers, which makes the outcome independent of the
 * machine's speed.
 *
 * Replies are read as they arrive into a fixed buffer per client (twice the largest frame), so
 * a daemon that answers more than the test pops never blocks; every reply is decoded once when
 * it is complete, and one that does not decode is counted as the daemon's bug.
 */
#define _GNU_SOURCE
#include "inproc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "options.h"

#define RX_CAP (2u * (SHM_FRAME_HEADER + SHM_FRAME_MAX))
/* Loop turns without settling before inproc_run gives up: far more than any test needs, and
 * few enough that a livelock shows as a failure rather than a hang. */
#define RUN_TURNS_MAX 100000
/* Loop turns a send waits for the daemon to take more input. It stops reading a connection that
 * is draining, and that one may wait for a client that does not read; the test's client then
 * gives up on the rest of what it meant to send. */
#define SEND_STALL_MAX 1000

struct inproc_client {
    int fd;             /* our end, -1 when closed */
    uint8_t *rx;
    size_t rx_len;      /* bytes held */
    size_t rx_checked;  /* bytes of whole replies already decoded once */
    struct shm_release_ring *ring;   /* mapped from the HELLO reply, NULL before */
    int paused;         /* does not read its replies (inproc_pause_reading) */
};

struct inproc {
    struct options opts;
    char memory[32];
    char *argv[7];
    struct server server;
    unsigned nclients;
    struct inproc_client clients[INPROC_CLIENTS_MAX];
    struct shm_buf tx;            /* request encoder output, allocated once */
    uint8_t popped[SHM_FRAME_HEADER + SHM_FRAME_MAX];   /* the last reply handed out */
    unsigned malformed;
};

struct inproc *inproc_new(const char *memory, unsigned nclients)
{
    if (nclients > INPROC_CLIENTS_MAX)
        return NULL;
    struct inproc *ip = calloc(1, sizeof *ip);
    if (!ip)
        return NULL;
    snprintf(ip->memory, sizeof ip->memory, "%s", memory);
    /* The socket path is never bound: server_init does not touch it. */
    char *argv[] = {"shmstored", "-s", "/nonexistent/shmstore-inproc.sock", "-m", ip->memory,
                    "--no-reserve", NULL};
    memcpy(ip->argv, argv, sizeof argv);
    ip->nclients = nclients;
    for (unsigned i = 0; i < INPROC_CLIENTS_MAX; i++)
        ip->clients[i].fd = -1;
    ip->tx.cap = SHM_FRAME_HEADER + SHM_FRAME_MAX;
    ip->tx.data = malloc(ip->tx.cap);
    int ok = ip->tx.data != NULL;
    for (unsigned i = 0; ok && i < nclients; i++)
        ok = (ip->clients[i].rx = malloc(RX_CAP)) != NULL;
    if (!ok || options_parse(&ip->opts, 6, ip->argv) != OPTIONS_RUN) {
        fprintf(stderr, "inproc: cannot set up the options\n");
        goto fail;
    }
    /* Connects, disconnects and refused requests are the daemon's everyday news; a test that
     * makes thousands of them would drown its own output. */
    log_set_level(LOG_LEVEL_ERROR);
    char why[512];
    if (server_init(&ip->server, &ip->opts, why, sizeof why) != 0) {
        fprintf(stderr, "inproc: server_init: %s\n", why);
        goto fail;
    }
    return ip;
fail:
    for (unsigned i = 0; i < nclients; i++)
        free(ip->clients[i].rx);
    free(ip->tx.data);
    free(ip);
    return NULL;
}

void inproc_free(struct inproc *ip)
{
    if (!ip)
        return;
    for (unsigned i = 0; i < ip->nclients; i++)
        inproc_close(ip, i);
    server_stop(&ip->server);   /* closes the daemon's ends of every connection still open */
    for (unsigned i = 0; i < ip->nclients; i++)
        free(ip->clients[i].rx);
    shm_buf_free(&ip->tx);
    free(ip);
}

int inproc_reset(struct inproc *ip, char *why, size_t whylen)
{
    for (unsigned i = 0; i < ip->nclients; i++) {
        inproc_close(ip, i);
        ip->clients[i].rx_len = ip->clients[i].rx_checked = 0;
        ip->clients[i].paused = 0;
    }
    if (inproc_run(ip) != 0) {
        snprintf(why, whylen, "the loop does not settle");
        return -1;
    }
    store_t *st = ip->server.store;
    for (;;) {
        unsigned budget = UINT32_MAX;
        const char *resume = NULL;
        size_t resume_len = 0;
        struct object *obj = store_next_sealed(st, NULL, 0, &budget, &resume, &resume_len);
        if (!obj || store_delete(st, obj->name, obj->name_len, NULL) != 0)
            break;
    }
    event_del(ip->server.release_timer);
    struct store_stats stats;
    store_get_stats(st, &stats);
    if (ip->server.conns || stats.used_bytes || stats.objects || stats.unsealed_objects ||
        stats.deleted_pinned || stats.pins || stats.waiters) {
        snprintf(why, whylen, "left over after every client left and every name was deleted: "
                 "%s, %llu bytes used, %llu objects, %llu unsealed, %llu deleted but pinned, "
                 "%llu pins, %llu waiters", ip->server.conns ? "connections" : "no connections",
                 (unsigned long long)stats.used_bytes, (unsigned long long)stats.objects,
                 (unsigned long long)stats.unsealed_objects,
                 (unsigned long long)stats.deleted_pinned, (unsigned long long)stats.pins,
                 (unsigned long long)stats.waiters);
        return -1;
    }
    return 0;
}

struct server *inproc_server(struct inproc *ip)
{
    return &ip->server;
}

int inproc_is_open(const struct inproc *ip, unsigned i)
{
    return ip->clients[i].fd >= 0;
}

void inproc_close(struct inproc *ip, unsigned i)
{
    struct inproc_client *cl = &ip->clients[i];
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    if (cl->ring)
        munmap(cl->ring, SHM_RING_BYTES);
    cl->ring = NULL;
}

struct shm_release_ring *inproc_ring(struct inproc *ip, unsigned i)
{
    return ip->clients[i].ring;
}

int inproc_connect(struct inproc *ip, unsigned i)
{
    struct inproc_client *cl = &ip->clients[i];
    inproc_close(ip, i);
    inproc_run(ip);   /* let the daemon see the old connection go first */
    cl->rx_len = cl->rx_checked = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    if (!conn_new(&ip->server, sv[1])) {   /* it has closed sv[1] */
        close(sv[0]);
        return -1;
    }
    cl->fd = sv[0];
    return 0;
}

/* Decode each reply that became whole since the last look, once. */
static void check_new_replies(struct inproc *ip, struct inproc_client *cl)
{
    static struct shm_object entries[SHM_LIST_PAGE_MAX];
    while (cl->rx_len - cl->rx_checked >= SHM_FRAME_HEADER) {
        uint32_t body_len;
        if (shm_frame_length(cl->rx + cl->rx_checked, &body_len) != 0) {
            ip->malformed++;
            cl->rx_len = cl->rx_checked;   /* the stream has lost its frame boundaries */
            return;
        }
        if (cl->rx_len - cl->rx_checked < SHM_FRAME_HEADER + (size_t)body_len)
            return;
        struct shm_reply rep;
        if (shm_decode_reply(cl->rx + cl->rx_checked + SHM_FRAME_HEADER, body_len, &rep,
                             entries) != SHM_DECODE_OK)
            ip->malformed++;
        cl->rx_checked += SHM_FRAME_HEADER + body_len;
    }
}

/* Drop client's oldest whole reply (already checked) to make room. 0 when there was none. */
static int drop_oldest(struct inproc_client *cl)
{
    uint32_t body_len;
    if (cl->rx_checked == 0 || shm_frame_length(cl->rx, &body_len) != 0)
        return 0;
    size_t frame = SHM_FRAME_HEADER + body_len;
    memmove(cl->rx, cl->rx + frame, cl->rx_len - frame);
    cl->rx_len -= frame;
    cl->rx_checked -= frame;
    return 1;
}

/* Read what the daemon sent to client i; any descriptors on it are closed at once, after the
 * release ring (the second one of HELLO's pair) is mapped as the client library would. Returns
 * the bytes read; marks the client closed when the daemon has closed its end. */
static size_t read_client(struct inproc *ip, unsigned i)
{
    struct inproc_client *cl = &ip->clients[i];
    size_t total = 0;
    while (cl->fd >= 0) {
        if (cl->rx_len == RX_CAP && !drop_oldest(cl))
            cl->rx_len = cl->rx_checked = 0;   /* unreachable with frames <= SHM_FRAME_MAX */
        union {
            struct cmsghdr align;
            char bytes[CMSG_SPACE(sizeof(int) * 8)];
        } control;
        struct iovec iov = {cl->rx + cl->rx_len, RX_CAP - cl->rx_len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                             .msg_controllen = sizeof control.bytes};
        ssize_t n = recvmsg(cl->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t k = 0; k < count; k++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
                if (k == 1 && !cl->ring) {
                    void *page = mmap(NULL, SHM_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
                                      fd, 0);
                    cl->ring = page == MAP_FAILED ? NULL : page;
                }
                close(fd);
            }
        }
        if (n <= 0) {   /* the daemon closed the connection (or it broke) */
            inproc_close(ip, i);
            break;
        }
        cl->rx_len += (size_t)n;
        total += (size_t)n;
        check_new_replies(ip, cl);
    }
    return total;
}

static size_t read_clients(struct inproc *ip)
{
    size_t total = 0;
    for (unsigned i = 0; i < ip->nclients; i++)
        if (!ip->clients[i].paused)
            total += read_client(ip, i);
    return total;
}

void inproc_pause_reading(struct inproc *ip, unsigned i, int paused)
{
    ip->clients[i].paused = paused;
}

/* Whether the loop would find work on c now. */
static int conn_has_work(struct conn *c)
{
    short want = 0;
    if (event_pending(c->read_event, EV_READ, NULL))
        want |= POLLIN | POLLRDHUP;
    if (event_pending(c->write_event, EV_WRITE, NULL) && evbuffer_get_length(c->out) > 0)
        want |= POLLOUT;
    if (!want)
        return 0;
    struct pollfd p = {.fd = c->fd, .events = want};
    return poll(&p, 1, 0) > 0 && (p.revents & (want | POLLHUP | POLLERR));
}

static int daemon_busy(struct inproc *ip)
{
    struct server *s = &ip->server;
    if (event_base_get_num_events(s->base, EVENT_BASE_COUNT_ACTIVE) > 0)
        return 1;
    for (struct conn *c = s->conns; c; c = c->next)
        if (conn_has_work(c))
            return 1;
    return 0;
}

int inproc_run(struct inproc *ip)
{
    for (int turn = 0; turn < RUN_TURNS_MAX; turn++) {
        event_base_loop(ip->server.base, EVLOOP_NONBLOCK);
        if (read_clients(ip) == 0 && !daemon_busy(ip))
            return 0;
    }
    return -1;
}

int inproc_expire_timers(struct inproc *ip)
{
    struct server *s = &ip->server;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (evtimer_pending(c->frame_timer, NULL))
            event_active(c->frame_timer, EV_TIMEOUT, 1);
        if (c->wait_timer && evtimer_pending(c->wait_timer, NULL))
            event_active(c->wait_timer, EV_TIMEOUT, 1);
    }
    if (s->release_timer && evtimer_pending(s->release_timer, NULL))
        event_active(s->release_timer, EV_TIMEOUT, 1);
    return inproc_run(ip);
}

void inproc_send(struct inproc *ip, unsigned i, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    int stalled = 0;
    while (len > 0 && ip->clients[i].fd >= 0 && stalled < SEND_STALL_MAX) {
        ssize_t n = send(ip->clients[i].fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            stalled = 0;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            /* The socket is full: let the daemon take some. */
            event_base_loop(ip->server.base, EVLOOP_NONBLOCK);
            read_clients(ip);
            stalled++;
        } else {
            return;   /* the daemon has closed this connection: the rest is lost */
        }
    }
}

int inproc_send_request(struct inproc *ip, unsigned i, const struct shm_request *req)
{
    shm_buf_reset(&ip->tx);
    if (shm_encode_request(req, &ip->tx) != 0)
        return -1;
    inproc_send(ip, i, ip->tx.data, ip->tx.len);
    return 0;
}

int inproc_reply(struct inproc *ip, unsigned i, struct shm_reply *rep,
                 struct shm_object *entries)
{
    struct inproc_client *cl = &ip->clients[i];
    uint32_t body_len;
    if (cl->rx_checked == 0 || shm_frame_length(cl->rx, &body_len) != 0)
        return 0;
    size_t frame = SHM_FRAME_HEADER + body_len;
    memcpy(ip->popped, cl->rx, frame);
    memmove(cl->rx, cl->rx + frame, cl->rx_len - frame);
    cl->rx_len -= frame;
    cl->rx_checked -= frame;
    return shm_decode_reply(ip->popped + SHM_FRAME_HEADER, body_len, rep, entries) ==
                   SHM_DECODE_OK ? 1 : -1;
}

unsigned inproc_malformed_replies(const struct inproc *ip)
{
    return ip->malformed;
}

int inproc_hello(struct inproc *ip, unsigned i, struct shm_reply *rep)
{
    struct shm_request req = {.type = SHM_MSG_HELLO, .seq = 1};
    req.u.hello.version = SHM_PROTO_VERSION;
    req.u.hello.pid = (uint32_t)getpid();
    if (inproc_send_request(ip, i, &req) != 0 || inproc_run(ip) != 0)
        return -1;
    return inproc_reply(ip, i, rep, NULL);
}
