/*
 * conn.c — connection state machine, framing and output.
 *
 * Input is read in bounded chunks into an evbuffer; each whole frame is decoded in place and
 * handed to the dispatch table, then drained. Output accumulates in another evbuffer and is
 * flushed at the end of each read callback or when the socket becomes writable. Nothing here
 * blocks: a client that stops reading is dropped once CONN_OUTPUT_MAX of replies pile up, and one
 * that starts a frame and stalls is dropped after CONN_FRAME_TIMEOUT_S.
 *
 * A connection is freed only by conn_set_state(CONN_CLOSED), and only from its own callbacks or
 * at shutdown: handlers, and wake-ups that arrive from another client's seal, merely queue output
 * and call conn_kick, so no code ever runs on a connection that was freed under it.
 */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "durable.h"
#include "residency.h"
#include "handlers.h"
#include "watch.h"
#include "releasering.h"
#include "log.h"
#include "shmstore.h"

#define READ_CHUNK (64 * 1024)

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_frame_timeout(evutil_socket_t fd, short what, void *arg);

static const char *const state_names[] = {
    [CONN_HANDSHAKE] = "handshake", [CONN_READY] = "ready", [CONN_WAITING] = "waiting",
    [CONN_PERSISTING] = "persisting", [CONN_LOADING] = "loading", [CONN_STALLED] = "stalled",
    [CONN_DRAINING] = "draining",   [CONN_CLOSED] = "closed",
};

struct conn *conn_new(struct server *s, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->server = s;
    c->fd = fd;
    c->state = CONN_HANDSHAKE;
    struct peer peer;
    if (access_read_peer(fd, &peer) == 0) {
        c->pid = peer.pid;
        c->uid = peer.uid;
        c->gid = peer.gid;
        c->access = access_decide(s->opts, &peer);
        access_peer_release(&peer);
    } else {
        c->pid = -1;
        c->uid = (uid_t)-1;
        c->gid = (gid_t)-1;
        c->access = options_has_access_lists(s->opts) ? ACCESS_REFUSED : ACCESS_FULL;
    }
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->read_event = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_event = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->frame_timer = evtimer_new(s->base, on_frame_timeout, c);
    struct timeval hello_deadline = {CONN_FRAME_TIMEOUT_S, 0};
    if (!c->in || !c->out || !c->read_event || !c->write_event || !c->frame_timer ||
        event_add(c->read_event, NULL) != 0 || evtimer_add(c->frame_timer, &hello_deadline) != 0) {
        log_error("out of memory accepting a client");
        c->state = CONN_CLOSED;
        if (c->in) evbuffer_free(c->in);
        if (c->out) evbuffer_free(c->out);
        if (c->read_event) event_free(c->read_event);
        if (c->write_event) event_free(c->write_event);
        if (c->frame_timer) event_free(c->frame_timer);
        close(fd);
        free(c);
        return NULL;
    }
    store_client_init(s->store, &c->client);
    c->client.uid = (uint32_t)c->uid;   /* what it creates is charged to its user */
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->clients++;
    log_info("client %llu connected (pid %d, uid %u, gid %u, %s)", (unsigned long long)c->client.id,
             (int)c->pid, (unsigned)c->uid, (unsigned)c->gid, access_level_name(c->access));
    return c;
}

/* c no longer waits for room (it is answered, or gone). */
static void conn_unstall(struct conn *c)
{
    struct server *s = c->server;
    if (c->stall_prev)
        c->stall_prev->stall_next = c->stall_next;
    else if (s->stalled == c)
        s->stalled = c->stall_next;
    if (c->stall_next)
        c->stall_next->stall_prev = c->stall_prev;
    else if (s->stalled_tail == c)
        s->stalled_tail = c->stall_prev;
    c->stall_prev = c->stall_next = NULL;
}

/* First come, first served: a request that waited longer runs again first, so the room made for
 * it (a segment of its size) is not taken by one that came later. */
void conn_stall(struct conn *c)
{
    struct server *s = c->server;
    c->stall_next = NULL;
    c->stall_prev = s->stalled_tail;
    if (s->stalled_tail)
        s->stalled_tail->stall_next = c;
    else
        s->stalled = c;
    s->stalled_tail = c;
    conn_set_state(c, CONN_STALLED);
}

void conn_run_stalled(struct server *s)
{
    while (s->stalled) {
        struct conn *c = s->stalled;
        conn_unstall(c);
        conn_set_state(c, CONN_READY);   /* kicks the connection: its frame runs again */
    }
}

static void conn_free(struct conn *c)
{
    struct server *s = c->server;
    handlers_conn_closing(c);
    durable_forget_conn(s, c);
    residency_forget_conn(s, c);
    conn_unstall(c);
    watch_forget_conn(c);
    conn_drain_releases(c);   /* releases it made before closing are not pins it dropped */
    uint64_t pins = c->client.pin_count, unsealed = c->client.unsealed_count;
    uint64_t unsealed_bytes = c->client.unsealed_bytes;
    store_client_drop(s->store, &c->client);
    release_ring_destroy(c->ring);
    if (pins || unsealed)
        log_info("client %llu (pid %d, uid %u) gone: dropped %llu pins, freed %llu unsealed "
                 "objects (%llu bytes)",
                 (unsigned long long)c->client.id, (int)c->pid, (unsigned)c->uid,
                 (unsigned long long)pins, (unsigned long long)unsealed,
                 (unsigned long long)unsealed_bytes);
    else
        log_info("client %llu (pid %d, uid %u) disconnected", (unsigned long long)c->client.id,
                 (int)c->pid, (unsigned)c->uid);
    event_free(c->read_event);
    event_free(c->write_event);
    event_free(c->frame_timer);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->clients--;
    if (c->served)
        s->served_clients--;
    free(c);
}

void conn_set_state(struct conn *c, enum conn_state state)
{
    enum conn_state previous = c->state;
    if (previous == state)
        return;
    log_debug("client %llu: %s -> %s", (unsigned long long)c->client.id, state_names[previous],
              state_names[state]);
    c->state = state;
    switch (state) {
    case CONN_READY:
        if (previous == CONN_HANDSHAKE)
            event_del(c->frame_timer);   /* the HELLO deadline is met */
        if (previous == CONN_WAITING || previous == CONN_PERSISTING ||
            previous == CONN_LOADING || previous == CONN_STALLED)
            conn_kick(c);   /* requests may have arrived meanwhile; a stalled one runs again */
        break;
    case CONN_DRAINING: {
        struct timeval deadline = {CONN_DRAIN_TIMEOUT_S, 0};
        event_del(c->read_event);
        evtimer_add(c->frame_timer, &deadline);
        conn_kick(c);
        break;
    }
    case CONN_CLOSED:
        conn_free(c);
        break;
    case CONN_HANDSHAKE:
    case CONN_WAITING:
    case CONN_PERSISTING:
    case CONN_LOADING:
    case CONN_STALLED:
        break;
    }
}

void conn_release_frame(struct conn *c)
{
    uint8_t header[SHM_FRAME_HEADER];
    uint32_t body_len = 0;
    if (evbuffer_copyout(c->in, header, sizeof header) == (ev_ssize_t)sizeof header &&
        shm_frame_length(header, &body_len) == 0) {
        evbuffer_drain(c->in, SHM_FRAME_HEADER + (size_t)body_len);
        c->server->requests++;
    }
}

void conn_drain_releases(struct conn *c)
{
    if (c->ring)
        release_ring_drain(c->ring, c->server->store, &c->client);
}

void conn_kick(struct conn *c)
{
    event_add(c->write_event, NULL);
    if (c->state == CONN_READY)
        event_active(c->read_event, EV_READ, 0);
}

static void queue_frame(struct conn *c, int encoded)
{
    struct shm_buf *buf = &c->server->scratch;
    if (encoded != 0 || evbuffer_add(c->out, buf->data, buf->len) != 0) {
        log_error("client %llu: cannot queue a reply; closing", (unsigned long long)c->client.id);
        if (c->state != CONN_CLOSED)
            conn_set_state(c, CONN_DRAINING);
    }
    shm_buf_reset(buf);
}

void conn_send_reply(struct conn *c, const struct shm_reply *rep)
{
    shm_buf_reset(&c->server->scratch);
    queue_frame(c, shm_encode_reply(rep, &c->server->scratch));
}

void conn_send_error(struct conn *c, uint32_t type, uint32_t seq, int code, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_debug("client %llu: %s failed: %s", (unsigned long long)c->client.id, shm_msg_name(type),
              detail);
    if (code < 0 && -code < (int)SHM_ERROR_SLOTS)
        c->server->errors[-code]++;
    /* RELEASE has no reply, not even an error; a broken one is answered as "type 0", which the
     * client reads as a protocol error before the connection closes. */
    if (type == SHM_MSG_RELEASE)
        type = 0;
    shm_buf_reset(&c->server->scratch);
    queue_frame(c, shm_encode_error(type, seq, code, &c->server->scratch, "%s", detail));
}

int conn_send_reply_with_fds(struct conn *c, const struct shm_reply *rep, const int *fds,
                             size_t nfds)
{
    /* Error replies to requests sent before HELLO may still be queued; the fd must ride on the
     * HELLO reply's own first byte, so they go first. A few hundred bytes on a fresh socket
     * always fit; a client that let even those pile up is refused. */
    while (evbuffer_get_length(c->out) > 0)
        if (evbuffer_write(c->out, c->fd) <= 0)
            return -1;
    struct shm_buf *buf = &c->server->scratch;
    shm_buf_reset(buf);
    if (shm_encode_reply(rep, buf) != 0)
        return -1;
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    if (nfds > 4)
        return -1;
    memset(&control, 0, sizeof control);
    struct iovec iov = {buf->data, buf->len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    ssize_t sent;
    do
        sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    /* A fresh socket's send buffer holds far more than a HELLO reply; anything else is a client
     * that is already gone. The fd rides on the first byte, so a short write just queues the
     * rest. */
    int rc = -1;
    if (sent > 0) {
        rc = evbuffer_add(c->out, buf->data + sent, buf->len - (size_t)sent);
    }
    shm_buf_reset(buf);
    return rc;
}

/* A frame length that cannot be honoured, or a body that is not a request: answer once, then
 * close, because nothing after it can be trusted to start on a frame boundary. */
static void protocol_violation(struct conn *c, uint32_t type, uint32_t seq, const char *what)
{
    log_warn("client %llu (pid %d): %s; closing the connection", (unsigned long long)c->client.id,
             (int)c->pid, what);
    conn_send_error(c, type, seq, SHMSTORE_EPROTO, "%s", what);
    conn_set_state(c, CONN_DRAINING);
}

/* While a get waits, the one request served is the GET_CANCEL that ends it; any other stays in
 * the buffer until the get's reply has gone, so replies keep the order of their requests. */
static int held_while_waiting(const struct conn *c, int decoded, const struct shm_request *req)
{
    if (c->state == CONN_PERSISTING || c->state == CONN_LOADING || c->state == CONN_STALLED)
        return 1;
    return c->state == CONN_WAITING &&
           !(decoded == SHM_DECODE_OK && req->type == SHM_MSG_GET_CANCEL);
}

static void process_input(struct conn *c)
{
    while (c->state == CONN_HANDSHAKE || c->state == CONN_READY || c->state == CONN_WAITING ||
           c->state == CONN_PERSISTING || c->state == CONN_LOADING || c->state == CONN_STALLED) {
        size_t avail = evbuffer_get_length(c->in);
        if (avail == 0) {
            if (c->state != CONN_HANDSHAKE)   /* there the timer is the HELLO deadline */
                event_del(c->frame_timer);
            return;
        }
        if (evbuffer_get_length(c->out) > CONN_OUTPUT_MAX) {
            log_warn("client %llu (pid %d) does not read its replies; dropping it",
                     (unsigned long long)c->client.id, (int)c->pid);
            conn_set_state(c, CONN_DRAINING);
            evbuffer_drain(c->out, evbuffer_get_length(c->out));
            return;
        }
        uint8_t header[SHM_FRAME_HEADER];
        uint32_t body_len = 0;
        if (avail >= SHM_FRAME_HEADER) {
            evbuffer_copyout(c->in, header, sizeof header);
            if (shm_frame_length(header, &body_len) != 0) {
                char what[128];
                uint32_t claimed = (uint32_t)header[0] | (uint32_t)header[1] << 8 |
                                   (uint32_t)header[2] << 16 | (uint32_t)header[3] << 24;
                snprintf(what, sizeof what, "frame length %u is outside 1..%u", claimed,
                         SHM_FRAME_MAX);
                protocol_violation(c, 0, 0, what);
                return;
            }
        }
        if (avail < SHM_FRAME_HEADER || avail < SHM_FRAME_HEADER + (size_t)body_len) {
            if (!evtimer_pending(c->frame_timer, NULL)) {
                struct timeval tv = {CONN_FRAME_TIMEOUT_S, 0};
                evtimer_add(c->frame_timer, &tv);
            }
            return;
        }
        if (c->state != CONN_HANDSHAKE)
            event_del(c->frame_timer);
        size_t frame_len = SHM_FRAME_HEADER + body_len;
        const uint8_t *frame = evbuffer_pullup(c->in, (ev_ssize_t)frame_len);
        struct shm_request req = {0};
        int decoded = frame ? shm_decode_request(frame + SHM_FRAME_HEADER, body_len, &req)
                            : SHM_DECODE_MALFORMED;
        if (held_while_waiting(c, decoded, &req))
            return;   /* the wake-up, timer or cancel moves to READY and kicks the loop */
        c->server->requests++;
        if (decoded == SHM_DECODE_MALFORMED) {
            protocol_violation(c, req.type, req.seq, "malformed request");
        } else if (decoded == SHM_DECODE_UNKNOWN) {
            conn_send_error(c, req.type, req.seq, SHMSTORE_EPROTO,
                            "unknown request type %u (this daemon speaks protocol %u)", req.type,
                            SHM_PROTO_VERSION);
        } else if (c->state == CONN_HANDSHAKE && req.type != SHM_MSG_HELLO) {
            protocol_violation(c, req.type, req.seq, "the first request must be HELLO");
        } else {
            conn_drain_releases(c);   /* the client's own releases come before its request */
            handlers_dispatch(c, &req);
            if (c->state == CONN_STALLED || c->state == CONN_LOADING) {
                /* It waits for room or for a read, and may run again whole: the frame stays
                 * until conn_release_frame, and is counted then. */
                c->server->requests--;
                return;
            }
        }
        /* The request pointed into the frame, so the frame goes only now. */
        evbuffer_drain(c->in, frame_len);
    }
}

/* Write what is queued; close when the peer is gone or a draining connection is done. Frees c
 * in those cases, so callers return right after. A watcher's waiting events join the output
 * here, as far as it has room for them (watch.h); what is left goes on the next loop turn. */
static void flush_output(struct conn *c)
{
    int more_events = c->watcher ? watch_fill(c) : 0;
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->write_event, NULL);
                return;
            }
            if (errno == EINTR)
                continue;
            conn_set_state(c, CONN_CLOSED);
            return;
        }
    }
    if (more_events) {
        event_add(c->write_event, NULL);
        return;
    }
    event_del(c->write_event);
    if (c->state == CONN_DRAINING)
        conn_set_state(c, CONN_CLOSED);
}

/* One recv() straight into the buffer's free space. evbuffer_read would first ask the kernel
 * how much is waiting (ioctl FIONREAD): a whole extra system call on every request. */
static ssize_t read_into(struct evbuffer *in, int fd)
{
    struct evbuffer_iovec space;
    if (evbuffer_reserve_space(in, READ_CHUNK, &space, 1) < 1) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = recv(fd, space.iov_base, space.iov_len, 0);
    space.iov_len = n > 0 ? (size_t)n : 0;
    int saved = errno;
    evbuffer_commit_space(in, &space, 1);
    errno = saved;
    return n;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    int peer_closed = 0;
    /* While a get waits, keep reading (to notice a client that dies, and its GET_CANCEL), but
     * hold any other input. */
    if ((c->state == CONN_WAITING || c->state == CONN_PERSISTING ||
         c->state == CONN_LOADING || c->state == CONN_STALLED) &&
        evbuffer_get_length(c->in) > 2 * SHM_FRAME_MAX) {
        log_warn("client %llu (pid %d) floods requests while one is %s; dropping it",
                 (unsigned long long)c->client.id, (int)c->pid, state_names[c->state]);
        conn_set_state(c, CONN_CLOSED);
        return;
    }
    ssize_t n = read_into(c->in, fd);
    if (n == 0)
        peer_closed = 1;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        peer_closed = 1;
    process_input(c);
    if (peer_closed && c->state != CONN_DRAINING) {
        conn_set_state(c, CONN_CLOSED);
        return;
    }
    flush_output(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_output(arg);
}

static void on_frame_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    const char *why = c->state == CONN_HANDSHAKE ? "sent no HELLO"
                      : c->state == CONN_DRAINING ? "did not take its last reply"
                                                  : "sent part of a frame and stalled";
    log_warn("client %llu (pid %d) %s in time; dropping it", (unsigned long long)c->client.id,
             (int)c->pid, why);
    conn_set_state(c, CONN_CLOSED);
}
