/*
 * client.c — libshmstore: one connection to shmstored, and the public calls over it.
 *
 * The connection speaks strictly request/reply (RELEASE alone has no reply), so a call is:
 * encode one frame, write it, read frames until the reply with the same seq arrives. The one
 * exception is a waiting get withdrawn by its interrupt check: a GET_CANCEL follows it, and
 * the replies to both are read, in order, before the call returns (see withdraw_get). A
 * connection that watches (shmstore_watch) is the one other exception: it asked at its
 * handshake, and after its WATCH reply it only reads EVENT frames the daemon starts itself. The
 * handshake's reply carries the arena's header; each segment of the arena is mapped read-only the
 * first time an address in it arrives (MAP_SEGMENT), and read-write on the first create in it, so
 * pointers from a get can never be written through. No segment descriptor is kept open.
 *
 * Robustness rules:
 *  - Every address and size the daemon returns is checked against its segment before it becomes
 *    a pointer, so a confused daemon yields SHMSTORE_EPROTO, never a wild pointer.
 *  - After fork() the child must not talk on the parent's socket, nor keep it open: the daemon
 *    frees a client's pins and unsealed objects when its socket closes, and a pool worker that
 *    never calls shmstore would otherwise hold its parent's connection open for its whole life.
 *    So every handle is on a list, and a pthread_atfork child handler closes the child's copy of
 *    every handle's socket and resets the handle (lock, pin table, buffers); the child's first
 *    call then finds no connection and makes its own. The parent's pins are never released by
 *    the child. Mappings are kept: pointers the parent got stay readable in the child while the
 *    parent holds them. (A child made with a raw clone(), bypassing fork(), gets none of this.)
 *  - A lost connection (daemon gone) fails the call with SHMSTORE_ECONN; the next call
 *    reconnects. Mappings made on an earlier connection are never unmapped, because pointers
 *    into them may still be in use, and the kernel keeps that memory alive for us. On one
 *    connection, a segment is unmapped only when the daemon says it gave it back: it was empty,
 *    so none of that connection's pointers pointed into it.
 */
#define _GNU_SOURCE
#include "shmstore.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "idmap.h"
#include "proto.h"
#include "ring.h"
#include "shmlayout.h"
#include "sockpath.h"

#define INPUT_CAP (SHM_FRAME_HEADER + SHM_FRAME_MAX)

/* Granule of the record of which parts of the writable mapping have page tables already. */
#define POPULATED_CHUNK (2u * 1024u * 1024u)

/* One segment of the arena as this handle maps it (proto/shmlayout.h), in the slot id % slots. */
struct segment_map {
    uint32_t id;
    const uint8_t *ro;  /* PROT_READ mapping: what gets point into; NULL when the slot is empty */
    uint8_t *rw;        /* PROT_READ|PROT_WRITE mapping, made on the first create in it */
    uint64_t *populated;/* one bit per POPULATED_CHUNK of rw whose page tables are filled */
    uint64_t bytes;
};

struct arena_map {
    const struct shm_arena_header *header;   /* the handshake's page, checked */
    dev_t dev;          /* of the header's memfd: the same daemon after a fork or reconnect */
    ino_t ino;
    struct segment_map *segments;   /* SHM_SEGMENT_SLOTS of them, allocated on first use */
};

struct shmstore_client {
    pthread_mutex_t lock;
    struct shmstore_client *prev_handle, *next_handle;   /* on all_handles */
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;                     /* -1 when disconnected */
    struct shm_release_ring *ring;  /* this connection's release ring, or NULL */
    int64_t spin_budget_ns;         /* see reply_spin_budget_ns */
    struct arena_map arena;
    uint64_t client_id;
    uint32_t seq;
    id_map pins;                /* id -> (void *)pin count */
    struct shm_buf out;
    uint8_t *in;                /* INPUT_CAP bytes */
    size_t in_start, in_end;
    struct shm_object *list_page;   /* SHM_LIST_PAGE_MAX, allocated on first list */
    shmstore_interrupt_fn interrupt_check;   /* asked while a get waits; NULL: never */
    void *interrupt_arg;
    int daemon_lacks_ex;        /* this connection's daemon predates STAT_EX and LIST_EX */
    uint32_t hello_flags;       /* SHM_HELLO_* of the next handshake, besides SHM_HELLO_OWNERS */
    int watching;               /* the connection is subscribed with watch_pattern, watch_flags */
    unsigned watch_flags;
    char *watch_pattern;
};

/* ---- errors -------------------------------------------------------------------------------- */

#define ERR_TEXT_(name, value, text) case SHMSTORE_##name: return text;
#define ERR_NAME_(name, value, text) case SHMSTORE_##name: return "SHMSTORE_" #name;

const char *shmstore_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    SHMSTORE_ERRNO_MAP(ERR_TEXT_)
    default: return "unknown error";
    }
}

const char *shmstore_errname(int code)
{
    switch (code) {
    case 0: return "SHMSTORE_OK";
    SHMSTORE_ERRNO_MAP(ERR_NAME_)
    default: return "SHMSTORE_UNKNOWN";
    }
}

/* The detail of the calling thread's last call, and the handle it was made on (NULL for
 * connect). It belongs to the thread, not the handle: threads sharing a handle would otherwise
 * clear or overwrite each other's detail between a failure and the errmsg call that reads it. */
static _Thread_local struct {
    const shmstore_client *handle;
    char text[512];
} last_error;

const char *shmstore_errmsg(shmstore_client *c)
{
    return !c || c == last_error.handle ? last_error.text : "";
}

/* Every call that takes a handle starts here, so a detail never outlives the call after it. */
static void clear_error(const shmstore_client *c)
{
    last_error.handle = c;
    last_error.text[0] = '\0';
}

const char *shmstore_version(void)
{
    return SHMSTORE_VERSION_STRING;
}

static int set_error(shmstore_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(shmstore_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    last_error.handle = c;
    vsnprintf(last_error.text, sizeof last_error.text, fmt, ap);
    va_end(ap);
    return code;
}

int shmstore_default_socket(char *buf, size_t buflen)
{
    if (!buf || shm_default_socket_path(buf, buflen) != 0)
        return SHMSTORE_EINVAL;
    return 0;
}

/* ---- fork detection ------------------------------------------------------------------------ */

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t all_handles_lock = PTHREAD_MUTEX_INITIALIZER;
static shmstore_client *all_handles;

/* Held across fork() so the child sees a consistent list. */
static void on_fork_prepare(void)
{
    pthread_mutex_lock(&all_handles_lock);
}

static void on_fork_parent(void)
{
    pthread_mutex_unlock(&all_handles_lock);
}

/* Runs in the child only, while it is still single-threaded, so every handle is reset here. The
 * parent's pins are the parent's to release: the child forgets them. If the handle's lock was
 * held at the fork, some parent thread (which does not exist in the child) was in the middle of
 * a call, and the pin table and output buffer may be half-updated: those are abandoned, not
 * freed. Taking every handle's lock in a prepare handler instead would make fork() wait for any
 * get blocked in SHMSTORE_WAIT_FOREVER. */
/* Where a fork child keeps what it abandons, so it stays reachable (and leak checkers stay
 * quiet about a deliberate choice). Never freed; beyond its size, blocks are simply lost. */
static void *volatile fork_graveyard[48];   /* volatile: written, never read, must stay */
static size_t fork_graveyard_used;

static void abandon(void *block)
{
    if (block && fork_graveyard_used < sizeof fork_graveyard / sizeof fork_graveyard[0])
        fork_graveyard[fork_graveyard_used++] = block;
}

static void on_fork_child(void)
{
    for (shmstore_client *c = all_handles; c; c = c->next_handle) {
        if (pthread_mutex_trylock(&c->lock) == 0) {
            id_map_clear(&c->pins);
            shm_buf_free(&c->out);
        } else {
            abandon(c->pins.keys);
            abandon(c->pins.values);
            abandon(c->out.data);
        }
        pthread_mutex_init(&c->lock, NULL);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        if (c->ring)   /* the parent's ring: a child's release there would drop the parent's pin */
            munmap(c->ring, SHM_RING_BYTES);
        c->ring = NULL;
        c->in_start = c->in_end = 0;
        c->pins = (id_map)ID_MAP_INIT;
        c->out = (struct shm_buf){0};
    }
    pthread_mutex_unlock(&all_handles_lock);
}

static void register_atfork(void)
{
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

static void handle_list_add(shmstore_client *c)
{
    pthread_mutex_lock(&all_handles_lock);
    c->prev_handle = NULL;
    c->next_handle = all_handles;
    if (all_handles)
        all_handles->prev_handle = c;
    all_handles = c;
    pthread_mutex_unlock(&all_handles_lock);
}

static void handle_list_remove(shmstore_client *c)
{
    pthread_mutex_lock(&all_handles_lock);
    if (c->prev_handle)
        c->prev_handle->next_handle = c->next_handle;
    else if (all_handles == c)
        all_handles = c->next_handle;
    if (c->next_handle)
        c->next_handle->prev_handle = c->prev_handle;
    pthread_mutex_unlock(&all_handles_lock);
}

/* ---- socket I/O ---------------------------------------------------------------------------- */

/* The ring belongs to one connection: once that is gone, nothing reads it. */
static void unmap_ring(shmstore_client *c)
{
    if (c->ring)
        munmap(c->ring, SHM_RING_BYTES);
    c->ring = NULL;
}

static void drop_connection(shmstore_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    unmap_ring(c);
    c->in_start = c->in_end = 0;
    c->daemon_lacks_ex = 0;   /* the next daemon may be a newer one */
    c->watching = 0;          /* the subscription was the connection's */
    /* The daemon drops every pin of a closed connection; forget ours to match. */
    id_map_clear(&c->pins);
}

static int lost(shmstore_client *c, const char *what, int err)
{
    drop_connection(c);
    if (err)
        return set_error(c, SHMSTORE_ECONN, "connection to shmstored lost while %s: %s", what,
                         strerror(err));
    return set_error(c, SHMSTORE_ECONN, "connection to shmstored lost while %s: daemon closed it",
                     what);
}

static int send_all(shmstore_client *c, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lost(c, "sending", errno);
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read more bytes into the input buffer. The handshake's reply carries descriptors
 * (SCM_RIGHTS): when fds_out is given they fill its HELLO_FDS slots still at -1, in order; any
 * other descriptor is closed. */
#define HELLO_FDS 2   /* the arena, then the release ring */
static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long a call polls for its reply before it sleeps in recv. A reply that arrives while the
 * caller sleeps must first wake its core, which on these machines costs about as much as the
 * daemon's whole answer; polling briefly skips that. Only with a spare core (on one core the
 * daemon needs the CPU the poll would take), and $SHMSTORE_SPIN_US=0 turns it off. */
static int64_t reply_spin_budget_ns(void)
{
    const char *env = getenv("SHMSTORE_SPIN_US");
    if (env && *env)
        return (int64_t)strtol(env, NULL, 10) * 1000;
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 50000 : 0;
}

static int fill_input(shmstore_client *c, int *fds_out, int may_spin)
{
    if (c->in_start > 0 && c->in_start == c->in_end)
        c->in_start = c->in_end = 0;
    if (c->in_end == INPUT_CAP) {
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov = {c->in + c->in_end, INPUT_CAP - c->in_end};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    /* Poll without sleeping until spin_until, then block. */
    int64_t spin_until = may_spin && c->spin_budget_ns > 0 ? monotonic_ns() + c->spin_budget_ns : 0;
    ssize_t n;
    for (;;) {
        n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | (spin_until ? MSG_DONTWAIT : 0));
        if (n >= 0 || errno == EINTR) {
            if (n >= 0)
                break;
            continue;
        }
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && spin_until) {
            if (monotonic_ns() >= spin_until)
                spin_until = 0;
            sched_yield();   /* a daemon on this same core gets to answer */
            continue;
        }
        break;
    }
    if (n <= 0)
        return lost(c, "waiting for a reply", n < 0 ? errno : 0);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            int kept = 0;
            for (size_t slot = 0; fds_out && slot < HELLO_FDS && !kept; slot++) {
                if (fds_out[slot] < 0) {
                    fds_out[slot] = fd;
                    kept = 1;
                }
            }
            if (!kept)
                close(fd);
        }
    }
    c->in_end += (size_t)n;
    return 0;
}

/* Encode req with the handle's next seq and send it. */
static int send_request(shmstore_client *c, struct shm_request *req)
{
    req->seq = ++c->seq;
    shm_buf_reset(&c->out);
    if (shm_encode_request(req, &c->out) != 0)
        return set_error(c, SHMSTORE_ENOMEM, "cannot encode the request");
    return send_all(c, c->out.data, c->out.len);
}

/* RELEASE has no reply: into the ring without a system call, or, when the ring is full or
 * absent, one send and done. If the daemon is gone, so is the pin. */
static void send_release(shmstore_client *c, uint64_t id)
{
    if (c->ring && shm_ring_push(c->ring, id) == 0)
        return;
    struct shm_request req = {.type = SHM_MSG_RELEASE};
    req.u.by_id.id = id;
    send_request(c, &req);
}

/* 1 when a whole frame waits in the input buffer, 0 when more must be read, or SHMSTORE_EPROTO
 * (connection dropped) when its length is bad. */
static int frame_buffered(shmstore_client *c)
{
    size_t avail = c->in_end - c->in_start;
    uint32_t body_len;
    if (avail < SHM_FRAME_HEADER)
        return 0;
    if (shm_frame_length(c->in + c->in_start, &body_len) != 0) {
        drop_connection(c);
        return set_error(c, SHMSTORE_EPROTO, "the daemon sent a frame of bad length");
    }
    return avail >= SHM_FRAME_HEADER + body_len;
}

/* Read until a whole frame is buffered, sleeping in recv as long as it takes. */
static int await_frame(shmstore_client *c, int *fds_out, int may_spin)
{
    int rc;
    while ((rc = frame_buffered(c)) == 0)
        if ((rc = fill_input(c, fds_out, may_spin)) != 0)
            return rc;
    return rc < 0 ? rc : 0;
}

/* Longest a waiting get sleeps between two calls of the handle's interrupt check. */
#define INTERRUPT_SLICE_MS 50
/* await_frame_interruptibly's "the check asked to stop"; never returned to callers. */
#define INTERRUPTED 1

/* Ask the handle's interrupt check: INTERRUPTED when it says stop, 0 to go on, or ECONN when a
 * fork in the check reset the handle in the child, which must not go on waiting for what will
 * only ever reach the parent. */
static int interrupt_asked(shmstore_client *c)
{
    int stop = c->interrupt_check(c->interrupt_arg);
    if (c->fd < 0)
        return set_error(c, SHMSTORE_ECONN, "the wait was the parent's: the interrupt check "
                                            "forked, and this is the child");
    return stop ? INTERRUPTED : 0;
}

/* await_frame for a get that may wait long, on a handle with an interrupt check: the socket is
 * polled in slices, and the check runs after each slice and after each signal (EINTR). The
 * slices are the library's own, so they cost the daemon nothing. */
static int await_frame_interruptibly(shmstore_client *c)
{
    int rc;
    while ((rc = frame_buffered(c)) == 0) {
        struct pollfd ready = {.fd = c->fd, .events = POLLIN};
        int n = poll(&ready, 1, INTERRUPT_SLICE_MS);
        if (n > 0)
            rc = fill_input(c, NULL, 0);   /* or finds the daemon gone */
        else if (n < 0 && errno != EINTR)
            rc = lost(c, "waiting for a reply", errno);
        else
            rc = interrupt_asked(c);
        if (rc)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

/* Decode the buffered frame as the reply to req (into *rep, pointing into the input buffer,
 * valid until the next call) and consume it. A nonzero status becomes the handle's error. */
static int take_reply(shmstore_client *c, const struct shm_request *req, struct shm_reply *rep)
{
    const uint8_t *body = c->in + c->in_start + SHM_FRAME_HEADER;
    uint32_t body_len;
    shm_frame_length(c->in + c->in_start, &body_len);
    c->in_start += SHM_FRAME_HEADER + body_len;
    int decoded = shm_decode_reply_to(req->type, body, body_len, rep, c->list_page);
    if (decoded != SHM_DECODE_OK || rep->seq != req->seq) {
        drop_connection(c);
        return set_error(c, SHMSTORE_EPROTO, "the daemon sent a reply this library cannot read "
                                             "(is it another version of shmstore?)");
    }
    if (rep->status != 0) {
        int code = rep->status;
        if (code >= 0 || code <= SHMSTORE_ERRNO_END_)
            code = SHMSTORE_EPROTO;
        return set_error(c, code, "%.*s", (int)rep->u.error.len, (const char *)rep->u.error.ptr);
    }
    return 0;
}

/* The interrupt check asked a waiting get to stop: withdraw it with GET_CANCEL. The daemon
 * answers the get first (EINTR, or the object, timeout or error that crossed the cancel), then
 * the cancel, so both replies are read here and the connection stays in step. An object that
 * crossed is pinned for a caller who no longer wants it: its pin goes back at once. */
static int withdraw_get(shmstore_client *c, const struct shm_request *get)
{
    struct shm_request cancel = {.type = SHM_MSG_GET_CANCEL};
    cancel.u.get_cancel.get_seq = get->seq;
    struct shm_reply rep;
    int rc = send_request(c, &cancel);
    if (rc) {
        drop_connection(c);   /* the daemon drops the wait with the connection */
        return rc;
    }
    if ((rc = await_frame(c, NULL, 1)) == 0 && (rc = take_reply(c, get, &rep)) == 0)
        send_release(c, rep.u.object.id);
    /* Lost, or a reply that cannot be read: no pin survives either. rc is 0 when only the
     * release of a crossed object found the daemon gone; the get still failed (ECONN, set). */
    if (c->fd < 0)
        return rc ? rc : SHMSTORE_ECONN;
    if ((rc = await_frame(c, NULL, 1)) || (rc = take_reply(c, &cancel, &rep)))
        return rc;
    return set_error(c, SHMSTORE_EINTR, "the wait for '%.*s' was interrupted",
                     (int)get->u.get.name.len, (const char *)get->u.get.name.ptr);
}

/* Send req and wait for its reply (see take_reply). A get that waits for a producer does not
 * spin (it would only burn its poll) and, with an interrupt check set, can be withdrawn. */
static int call(shmstore_client *c, struct shm_request *req, struct shm_reply *rep, int *fds_out)
{
    int may_wait = req->type == SHM_MSG_GET && req->u.get.timeout_ms != 0;
    int rc = send_request(c, req);
    if (rc == 0 && may_wait && c->interrupt_check)
        rc = await_frame_interruptibly(c);
    else if (rc == 0)
        rc = await_frame(c, fds_out, !may_wait);
    if (rc == INTERRUPTED)
        return withdraw_get(c, req);
    return rc ? rc : take_reply(c, req, rep);
}

/* ---- connecting ---------------------------------------------------------------------------- */

/* Forget every segment's mapping. unmap: also unmap them (their objects are all released);
 * else leave the mappings in place, because pointers into an old daemon's arena may still be in
 * use (see the top of this file). */
static void segment_unmap(struct segment_map *m)
{
    if (m->ro)
        munmap((void *)m->ro, m->bytes);
    if (m->rw)
        munmap(m->rw, m->bytes);
    free(m->populated);
    *m = (struct segment_map){0};
}

/* Forget every segment's mapping. unmap: also unmap them (at close: the caller's objects are
 * all released); else leave the mappings in place, because pointers the caller got before a
 * lost connection may still be in use (see the top of this file). */
static void segments_forget(struct arena_map *a, int unmap)
{
    if (!a->segments)
        return;
    for (uint32_t i = 0; i < SHM_SEGMENT_SLOTS; i++) {
        struct segment_map *m = &a->segments[i];
        if (unmap)
            segment_unmap(m);
        else
            free(m->populated);
    }
    free(a->segments);
    a->segments = NULL;
}

static int map_header(shmstore_client *c, int fd, uint64_t size)
{
    struct stat st;
    if (size < sizeof(struct shm_arena_header) || fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size < size)
        return set_error(c, SHMSTORE_EPROTO, "the arena fd from the daemon is not %llu bytes",
                         (unsigned long long)size);
    /* A new connection, to the same daemon or another: the mappings made so far stay in place,
     * unmapped never (pointers got before may still be read, while the daemon, which dropped the
     * old connection's pins, may give those segments back), and segments are asked for afresh. */
    segments_forget(&c->arena, 0);
    if (c->arena.header && c->arena.dev == st.st_dev && c->arena.ino == st.st_ino)
        return 0;
    void *p = mmap(NULL, sizeof(struct shm_arena_header), PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return set_error(c, SHMSTORE_ENOMEM, "cannot map the arena's header: %s",
                         strerror(errno));
    /* Trust nothing in the arena before its header says it is one, in a layout this build reads. */
    const struct shm_arena_header *header = p;
    if (shm_layout_check(&header->layout, SHM_ARENA_MAGIC, SHM_ARENA_LAYOUT_VERSION) != 0 ||
        header->segment_shift != SHM_SEGMENT_SHIFT || header->segment_slots != SHM_SEGMENT_SLOTS) {
        uint32_t magic = header->layout.magic, version = header->layout.version;
        munmap(p, sizeof(struct shm_arena_header));
        return set_error(c, SHMSTORE_EPROTO,
                         "the daemon's arena has magic 0x%08x layout version %u; this library "
                         "reads magic 0x%08x version %u", magic, version, SHM_ARENA_MAGIC,
                         SHM_ARENA_LAYOUT_VERSION);
    }
    c->arena.header = header;
    c->arena.dev = st.st_dev;
    c->arena.ino = st.st_ino;
    return 0;
}

/* "mode 0660, group shmstore" of path into buf, and whether that group may write (connect);
 * buf is "" when path cannot be looked at. */
static int describe_access(const char *path, char *buf, size_t len, char *group, size_t group_len)
{
    struct stat st;
    buf[0] = '\0';
    if (stat(path, &st) != 0)
        return 0;
    struct group gr, *found = NULL;
    char names[1024];
    if (getgrgid_r(st.st_gid, &gr, names, sizeof names, &found) == 0 && found)
        snprintf(group, group_len, "%s", found->gr_name);
    else
        snprintf(group, group_len, "%u", (unsigned)st.st_gid);
    snprintf(buf, len, "mode %04o, group %s", (unsigned)(st.st_mode & 07777), group);
    return (st.st_mode & S_IWGRP) != 0;
}

/* connect() failed with err: say what was tried and what to do about it. */
static int connect_failed(shmstore_client *c, int err)
{
    const char *path = c->socket_path;
    if (err == ENOENT || err == ECONNREFUSED)
        return set_error(c, SHMSTORE_ECONN, "no shmstored is running at %s (connect: %s); start "
                         "one with: shmstored -s %s", path, strerror(err), path);
    if (err != EACCES && err != EPERM)
        return set_error(c, SHMSTORE_ECONN, "cannot connect to shmstored at %s: %s", path,
                         strerror(err));
    /* Permission: the socket's own bits, or those of its directory when this user may not even
     * look at the socket. */
    char dir[sizeof c->socket_path], access_text[160], group[64], ask[128];
    snprintf(dir, sizeof dir, "%s", path);
    const char *what = "the socket";
    int group_may = describe_access(path, access_text, sizeof access_text, group, sizeof group);
    if (!access_text[0]) {
        what = dirname(dir);
        group_may = describe_access(what, access_text, sizeof access_text, group, sizeof group);
    }
    if (access_text[0] && group_may)
        snprintf(ask, sizeof ask, "ask to be added to group %s", group);
    else
        snprintf(ask, sizeof ask, "ask the daemon's administrator for access");
    char own[sizeof c->socket_path];
    if (shm_user_socket_path(own, sizeof own) != 0)
        snprintf(own, sizeof own, "PATH");
    return set_error(c, SHMSTORE_EPERM, "permission denied connecting to shmstored at %s (%s: "
                     "%s); %s, or run your own daemon: shmstored -s %s, and point clients at it "
                     "with -s or $SHMSTORE_SOCKET", path, what,
                     access_text[0] ? access_text : "cannot be looked at", ask, own);
}

static int open_connection(shmstore_client *c)
{
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return set_error(c, SHMSTORE_ECONN, "socket: %s", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, c->socket_path, sizeof addr.sun_path);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        close(c->fd);
        c->fd = -1;
        return connect_failed(c, err);
    }
    c->in_start = c->in_end = 0;

    struct shm_request req = {.type = SHM_MSG_HELLO};
    req.u.hello.version = SHM_PROTO_VERSION;
    req.u.hello.pid = (uint32_t)getpid();
    req.u.hello.flags = SHM_HELLO_OWNERS | c->hello_flags;
    struct shm_reply rep;
    int fds[HELLO_FDS] = {-1, -1};
    int rc = call(c, &req, &rep, fds);
    int arena_fd = fds[0], ring_fd = fds[1];
    if (rc == 0 && arena_fd < 0)
        rc = set_error(c, SHMSTORE_EPROTO, "the daemon's handshake carried no arena fd");
    if (rc == 0)
        rc = map_header(c, arena_fd, rep.u.hello.arena_size);
    if (arena_fd >= 0)
        close(arena_fd);   /* the mapping is what counts */
    if (rc == 0 && ring_fd >= 0) {
        /* Without a ring (mapping failed), releases simply travel as RELEASE frames. */
        void *ring = mmap(NULL, SHM_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
        c->ring = ring == MAP_FAILED ? NULL : ring;
        /* A ring in a layout this build does not know is left alone: releases travel as frames. */
        if (c->ring &&
            shm_layout_check(&c->ring->layout, SHM_RING_MAGIC, SHM_RING_LAYOUT_VERSION) != 0) {
            munmap(c->ring, SHM_RING_BYTES);
            c->ring = NULL;
        }
    }
    if (ring_fd >= 0)
        close(ring_fd);
    if (rc) {
        drop_connection(c);
        return rc;
    }
    c->client_id = rep.u.hello.client_id;
    return 0;
}

int shmstore_connect(const char *socket_path, shmstore_client **out)
{
    clear_error(NULL);
    if (!out)
        return set_error(NULL, SHMSTORE_EINVAL, "shmstore_connect: out is NULL");
    *out = NULL;
    pthread_once(&atfork_once, register_atfork);
    shmstore_client *c = calloc(1, sizeof *c);
    if (c)
        c->in = malloc(INPUT_CAP);
    if (!c || !c->in) {
        free(c);
        return set_error(NULL, SHMSTORE_ENOMEM, "out of memory");
    }
    c->fd = -1;
    c->pins = (id_map)ID_MAP_INIT;
    c->spin_budget_ns = reply_spin_budget_ns();
    pthread_mutex_init(&c->lock, NULL);
    int rc = 0;
    if (socket_path) {
        if (strlen(socket_path) >= sizeof c->socket_path)
            rc = set_error(c, SHMSTORE_EINVAL, "socket path longer than %zu bytes",
                           sizeof c->socket_path - 1);
        else
            snprintf(c->socket_path, sizeof c->socket_path, "%s", socket_path);
    } else if (shm_default_socket_path(c->socket_path, sizeof c->socket_path) != 0) {
        rc = set_error(c, SHMSTORE_EINVAL, "the default socket path is too long");
    }
    /* On the list before the socket exists, so a fork from another thread cannot miss it. */
    handle_list_add(c);
    if (rc == 0)
        rc = open_connection(c);
    if (rc) {
        char why[sizeof last_error.text];
        memcpy(why, last_error.text, sizeof why);
        shmstore_close(c);
        /* The handle is gone: the detail is the failed connect's, shmstore_errmsg(NULL)'s. */
        return set_error(NULL, rc, "%s", why);
    }
    *out = c;
    return 0;
}

void shmstore_close(shmstore_client *c)
{
    clear_error(c);
    if (!c)
        return;
    handle_list_remove(c);
    /* In a fork child that has not called yet, fd is already -1: the parent's connection is
     * the parent's, and only the parent's close ends it. */
    drop_connection(c);
    segments_forget(&c->arena, 1);
    if (c->arena.header)
        munmap((void *)c->arena.header, sizeof(struct shm_arena_header));
    shm_buf_free(&c->out);
    free(c->list_page);
    free(c->watch_pattern);
    free(c->in);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Lock the handle and make sure it has a live connection of this process (after a fork or a
 * lost connection, fd is -1 and a new connection is made). */
static int begin(shmstore_client *c)
{
    clear_error(c);
    if (!c)
        return set_error(NULL, SHMSTORE_EINVAL, "the handle is NULL");
    pthread_mutex_lock(&c->lock);
    if (c->watching)
        drop_connection(c);   /* a watching connection does nothing else: this call ends it */
    if (c->fd < 0) {
        int rc = open_connection(c);
        if (rc) {
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
    }
    return 0;
}

static int end(shmstore_client *c, int rc)
{
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* begin(), plus the check every call with an output makes: `required` (named `what` in the
 * message) must not be NULL. On failure the handle is already unlocked. */
static int begin_call(shmstore_client *c, const void *required, const char *what)
{
    int rc = begin(c);
    if (rc == 0 && !required)
        rc = end(c, set_error(c, SHMSTORE_EINVAL, "%s must not be NULL", what));
    return rc;
}

/* ---- argument checks ----------------------------------------------------------------------- */

/* The length of a valid name, or a negative SHMSTORE_E* code. Returned rather than stored
 * through a pointer so that no caller holds a length that is unset on the failure path. */
static ptrdiff_t checked_name_len(shmstore_client *c, const char *name)
{
    if (!name)
        return set_error(c, SHMSTORE_EINVAL, "invalid name: NULL");
    size_t n = strnlen(name, SHM_NAME_MAX + 1);
    const char *why;
    if (shm_name_check((const uint8_t *)name, n, &why) != 0)
        return set_error(c, SHMSTORE_EINVAL, "invalid name: %s", why);
    return (ptrdiff_t)n;
}

static int check_meta(shmstore_client *c, const void *meta, size_t meta_size)
{
    if (meta_size > SHM_META_MAX)
        return set_error(c, SHMSTORE_EINVAL, "metadata of %zu bytes is over the %u-byte limit",
                         meta_size, SHM_META_MAX);
    if (meta_size && !meta)
        return set_error(c, SHMSTORE_EINVAL, "metadata is NULL but meta_size is %zu", meta_size);
    return 0;
}

static struct shm_bytes bytes_of(const void *p, size_t n)
{
    return (struct shm_bytes){p ? p : (const void *)"", (uint32_t)n};
}

/* Ask the daemon for segment id (MAP_SEGMENT): its fd in *fd, for the caller to map and close
 * (no descriptor is kept: a process may map hundreds of segments), and its size. The answer also
 * lists the segments the daemon holds; any other in the table was given back empty, so no pointer
 * of ours points into it, and it is unmapped. */
static int request_segment(shmstore_client *c, uint32_t id, int *fd, uint64_t *bytes)
{
    struct arena_map *a = &c->arena;
    struct shm_request req = {.type = SHM_MSG_MAP_SEGMENT};
    req.u.segment.id = id;
    struct shm_reply rep;
    int fds[HELLO_FDS] = {-1, -1};
    int rc = call(c, &req, &rep, fds);
    if (fds[1] >= 0)
        close(fds[1]);
    struct stat st;
    if (rc == 0 && fds[0] < 0)
        rc = set_error(c, SHMSTORE_ENOMEM, "the daemon's descriptor of segment %u did not arrive "
                       "(is this process out of file descriptors?)", (unsigned)id);
    else if (rc == 0 && (rep.u.segment.id != id || rep.u.segment.bytes == 0 ||
                         rep.u.segment.bytes > SHM_SEGMENT_BYTES_MAX ||
                         fstat(fds[0], &st) != 0 || (uint64_t)st.st_size < rep.u.segment.bytes))
        rc = set_error(c, SHMSTORE_EPROTO, "the daemon's answer for segment %u is not a "
                       "segment of the size it says", (unsigned)id);
    if (rc) {
        if (fds[0] >= 0)
            close(fds[0]);
        return rc;
    }
    if (a->segments) {
        /* Live ids by slot (the daemon never has two in one slot), then one pass over ours. */
        const uint8_t *live = rep.u.segment.live.ptr;
        const uint32_t nlive = rep.u.segment.live.len / 4;
        uint32_t live_id[SHM_SEGMENT_SLOTS];
        uint8_t is_live[SHM_SEGMENT_SLOTS] = {0};
        for (uint32_t i = 0; i < nlive; i++) {
            uint32_t lid = (uint32_t)live[4 * i] | (uint32_t)live[4 * i + 1] << 8 |
                           (uint32_t)live[4 * i + 2] << 16 | (uint32_t)live[4 * i + 3] << 24;
            live_id[lid % SHM_SEGMENT_SLOTS] = lid;
            is_live[lid % SHM_SEGMENT_SLOTS] = 1;
        }
        for (uint32_t slot = 0; slot < SHM_SEGMENT_SLOTS; slot++) {
            struct segment_map *m = &a->segments[slot];
            if (m->ro && !(is_live[slot] && live_id[slot] == m->id))
                segment_unmap(m);
        }
    }
    *fd = fds[0];
    *bytes = rep.u.segment.bytes;
    return 0;
}

/* Map segment id read-only into its slot. */
static int map_segment(shmstore_client *c, uint32_t id, struct segment_map **out)
{
    struct arena_map *a = &c->arena;
    if (!a->segments) {
        a->segments = calloc(SHM_SEGMENT_SLOTS, sizeof *a->segments);
        if (!a->segments)
            return set_error(c, SHMSTORE_ENOMEM, "out of memory for the segment table");
    }
    int fd;
    uint64_t bytes;
    int rc = request_segment(c, id, &fd, &bytes);
    if (rc)
        return rc;
    void *ro = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (ro == MAP_FAILED)
        return set_error(c, SHMSTORE_ENOMEM, "cannot map segment %u (%llu bytes): %s",
                         (unsigned)id, (unsigned long long)bytes, strerror(errno));
    struct segment_map *m = &a->segments[id % SHM_SEGMENT_SLOTS];
    if (m->ro)
        segment_unmap(m);   /* an older segment in the same slot: the daemon gave it back */
    *m = (struct segment_map){.id = id, .ro = ro, .bytes = bytes};
    *out = m;
    return 0;
}

/* The mapping of the segment an address names, mapped now if this handle has not yet; EPROTO
 * when the range is not inside it, so a confused daemon never yields a wild pointer. */
static int segment_of(shmstore_client *c, uint64_t address, uint64_t size,
                      struct segment_map **out)
{
    const uint32_t id = SHM_ADDRESS_SEGMENT(address);
    const uint64_t offset = SHM_ADDRESS_OFFSET(address);
    struct segment_map *m = c->arena.segments ? &c->arena.segments[id % SHM_SEGMENT_SLOTS] : NULL;
    int rc;
    if ((!m || !m->ro || m->id != id) && (rc = map_segment(c, id, &m)) != 0)
        return rc;
    if (offset > m->bytes || size > m->bytes - offset)
        return set_error(c, SHMSTORE_EPROTO, "the daemon named bytes outside segment %u",
                         (unsigned)id);
    *out = m;
    return 0;
}

/* The first create in a segment maps it a second time, writable, from a descriptor asked for
 * again (MAP_SEGMENT): a read-only client's is O_RDONLY and the kernel refuses. */
static int ensure_writable(shmstore_client *c, struct segment_map *m)
{
    if (m->rw)
        return 0;
    const uint32_t id = m->id;
    int fd;
    uint64_t bytes;
    int rc = request_segment(c, id, &fd, &bytes);
    if (rc)
        return rc;
    if (!m->ro || m->id != id || bytes != m->bytes) {   /* cannot happen: it holds our object */
        close(fd);
        return set_error(c, SHMSTORE_EPROTO, "the daemon gave back segment %u under an object "
                         "being created", (unsigned)id);
    }
    void *rw = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (rw == MAP_FAILED)
        return set_error(c, errno == EACCES ? SHMSTORE_EPERM : SHMSTORE_ENOMEM,
                         "cannot map the arena writable: %s", strerror(errno));
    m->rw = rw;
    /* Without the record, puts still work; they only take page faults instead. */
    m->populated = calloc((m->bytes / POPULATED_CHUNK + 64) / 64, sizeof(uint64_t));
    return 0;
}

/* Fill the page tables of a range about to be written in one call instead of one fault per
 * page (docs/architecture.md, "Processes and memory"). Page tables stay filled for the life of
 * the mapping, and walking them again costs a third of the copy itself, so each 2 MiB chunk is
 * populated once per mapping. Kernels without MADV_POPULATE_WRITE just take the faults. */
static void prefault_for_write(struct segment_map *a, uint8_t *p, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    if (size < 256 * 1024 || !a->populated)
        return;
#define CHUNK_DONE(chunk) (a->populated[(chunk) / 64] & (1ull << ((chunk) % 64)))
    uint64_t first = (uint64_t)(p - a->rw) / POPULATED_CHUNK;
    uint64_t last = ((uint64_t)(p - a->rw) + size - 1) / POPULATED_CHUNK;
    for (uint64_t chunk = first; chunk <= last;) {
        if (CHUNK_DONE(chunk)) {
            chunk++;
            continue;
        }
        uint64_t run_end = chunk;   /* populate each run of new chunks with one call */
        while (run_end < last && !CHUNK_DONE(run_end + 1))
            run_end++;
        uint64_t start = chunk * POPULATED_CHUNK;
        uint64_t stop = (run_end + 1) * POPULATED_CHUNK;
        if (stop > a->bytes)
            stop = a->bytes;
        if (madvise(a->rw + start, stop - start, MADV_POPULATE_WRITE) != 0)
            return;
        for (; chunk <= run_end; chunk++)
            a->populated[chunk / 64] |= 1ull << (chunk % 64);
    }
#undef CHUNK_DONE
#else
    (void)a;
    (void)p;
    (void)size;
#endif
}

/* ---- object calls -------------------------------------------------------------------------- */

/* The wire's flags of a put or create. */
static uint32_t wire_flags(unsigned flags)
{
    return (flags & SHMSTORE_REPLACE ? SHM_FLAG_REPLACE : 0) |
           (flags & SHMSTORE_PERSIST ? SHM_FLAG_PERSIST : 0) |
           (flags & SHMSTORE_NO_EVICT ? SHM_FLAG_NO_EVICT : 0);
}

static int by_id_locked(shmstore_client *c, uint32_t type, uint64_t id);

static int create_locked(shmstore_client *c, const char *name, size_t name_len, size_t size,
                         const void *meta, size_t meta_size, unsigned flags, uint64_t ttl_ms,
                         void **data_out, uint64_t *id_out)
{
    struct shm_request req = {.type = SHM_MSG_CREATE};
    req.u.create.name = bytes_of(name, name_len);
    req.u.create.size = size;
    req.u.create.meta = bytes_of(meta, meta_size);
    req.u.create.flags = wire_flags(flags);
    req.u.create.ttl_ms = ttl_ms;
    struct shm_reply rep;
    int rc = call(c, &req, &rep, NULL);
    if (rc)
        return rc;
    const uint64_t id = rep.u.create.id, address = rep.u.create.data_offset;
    struct segment_map *m;
    if ((rc = segment_of(c, address, size, &m)) != 0 || (rc = ensure_writable(c, m)) != 0) {
        char why[sizeof last_error.text];
        memcpy(why, last_error.text, sizeof why);
        if (c->fd >= 0)
            by_id_locked(c, SHM_MSG_ABORT, id);   /* it cannot be filled: give it back */
        return set_error(c, rc, "%s", why);
    }
    *data_out = m->rw + SHM_ADDRESS_OFFSET(address);
    *id_out = id;
    prefault_for_write(m, *data_out, size);   /* the caller is about to fill it */
    return 0;
}

int shmstore_create(shmstore_client *c, const char *name, size_t size, const void *meta,
                    size_t meta_size, unsigned flags, void **data_out, uint64_t *id_out)
{
    return shmstore_create_ttl(c, name, size, meta, meta_size, flags, 0, data_out, id_out);
}

int shmstore_create_ttl(shmstore_client *c, const char *name, size_t size, const void *meta,
                        size_t meta_size, unsigned flags, uint64_t ttl_ms, void **data_out,
                        uint64_t *id_out)
{
    int rc = begin_call(c, data_out && id_out ? c : NULL, "data_out or id_out");
    if (rc)
        return rc;
    ptrdiff_t name_len = checked_name_len(c, name);
    if (name_len < 0)
        return end(c, (int)name_len);
    if ((rc = check_meta(c, meta, meta_size)))
        return end(c, rc);
    return end(c, create_locked(c, name, name_len, size, meta, meta_size, flags, ttl_ms, data_out,
                                id_out));
}

static int by_id_locked(shmstore_client *c, uint32_t type, uint64_t id)
{
    struct shm_request req = {.type = type};
    req.u.by_id.id = id;
    struct shm_reply rep;
    return call(c, &req, &rep, NULL);
}

int shmstore_seal(shmstore_client *c, uint64_t id)
{
    int rc = begin(c);
    return rc ? rc : end(c, by_id_locked(c, SHM_MSG_SEAL, id));
}

int shmstore_abort(shmstore_client *c, uint64_t id)
{
    int rc = begin(c);
    return rc ? rc : end(c, by_id_locked(c, SHM_MSG_ABORT, id));
}

int shmstore_put(shmstore_client *c, const char *name, const void *data, size_t size,
                 const void *meta, size_t meta_size, unsigned flags)
{
    return shmstore_put_ttl(c, name, data, size, meta, meta_size, flags, 0);
}

int shmstore_put_ttl(shmstore_client *c, const char *name, const void *data, size_t size,
                     const void *meta, size_t meta_size, unsigned flags, uint64_t ttl_ms)
{
    int rc = begin(c);
    if (rc)
        return rc;
    ptrdiff_t name_len = checked_name_len(c, name);
    if (name_len < 0)
        return end(c, (int)name_len);
    if ((rc = check_meta(c, meta, meta_size)))
        return end(c, rc);
    if (size && !data)
        return end(c, set_error(c, SHMSTORE_EINVAL, "data is NULL but size is %zu", size));

    if (size <= SHM_INLINE_MAX) {
        /* Small: the payload rides in the request, one round trip. */
        struct shm_request req = {.type = SHM_MSG_PUT};
        req.u.put.name = bytes_of(name, name_len);
        req.u.put.data = bytes_of(data, size);
        req.u.put.meta = bytes_of(meta, meta_size);
        req.u.put.flags = wire_flags(flags);
        req.u.put.ttl_ms = ttl_ms;
        struct shm_reply rep;
        return end(c, call(c, &req, &rep, NULL));
    }
    /* Large: reserve in place, copy at memory speed, seal. */
    void *dest;
    uint64_t id;
    rc = create_locked(c, name, name_len, size, meta, meta_size, flags, ttl_ms, &dest, &id);
    if (rc)
        return end(c, rc);
    memcpy(dest, data, size);
    rc = by_id_locked(c, SHM_MSG_SEAL, id);
    if (rc && rc != SHMSTORE_ECONN) {
        char why[sizeof last_error.text];   /* the seal's detail, not the abort's */
        memcpy(why, last_error.text, sizeof why);
        by_id_locked(c, SHM_MSG_ABORT, id);
        set_error(c, rc, "%s", why);
    }
    return end(c, rc);
}

/* The handle's own count of pins per id, so release can refuse what was never got without
 * asking the daemon. 0, or -1 when memory runs out (nothing changed then). */
static int pin_count_add(shmstore_client *c, uint64_t id, intptr_t delta)
{
    intptr_t count = (intptr_t)id_map_get(&c->pins, id) + delta;
    if (count > 0)
        return id_map_put(&c->pins, id, (void *)count);
    id_map_remove(&c->pins, id);
    return 0;
}

int shmstore_get(shmstore_client *c, const char *name, int timeout_ms, shmstore_object *out)
{
    int rc = begin_call(c, out, "out");
    if (rc)
        return rc;
    ptrdiff_t name_len = checked_name_len(c, name);
    if (name_len < 0)
        return end(c, (int)name_len);
    if (timeout_ms < 0 && timeout_ms != SHMSTORE_WAIT_FOREVER)
        return end(c, set_error(c, SHMSTORE_EINVAL, "timeout_ms %d is negative", timeout_ms));
    struct shm_request req = {.type = SHM_MSG_GET};
    req.u.get.name = bytes_of(name, name_len);
    req.u.get.timeout_ms = timeout_ms;
    struct shm_reply rep;
    rc = call(c, &req, &rep, NULL);
    if (rc)
        return end(c, rc);
    /* The reply's body is reused by a MAP_SEGMENT call: keep what is needed of it. */
    const struct shm_object o = rep.u.object;
    struct segment_map *m, *meta_m;
    if ((rc = segment_of(c, o.data_offset, o.size, &m)) ||
        (rc = segment_of(c, o.meta_offset, o.meta_size, &meta_m)) ||
        (m != meta_m && (rc = set_error(c, SHMSTORE_EPROTO, "the daemon put an object's "
                                        "metadata in another segment than its data")))) {
        if (c->fd >= 0)
            send_release(c, o.id);   /* a pin we cannot honour */
        return end(c, rc);
    }
    /* Remember the pin before anything can fail, so a release always matches the daemon. */
    if (pin_count_add(c, o.id, 1) != 0) {
        send_release(c, o.id);
        return end(c, set_error(c, SHMSTORE_ENOMEM, "out of memory recording a pin"));
    }
    out->data = m->ro + SHM_ADDRESS_OFFSET(o.data_offset);
    out->size = (size_t)o.size;
    out->meta = m->ro + SHM_ADDRESS_OFFSET(o.meta_offset);
    out->meta_size = (size_t)o.meta_size;
    out->id = o.id;
    return end(c, 0);
}

int shmstore_set_interrupt(shmstore_client *c, shmstore_interrupt_fn check, void *arg)
{
    clear_error(c);
    if (!c)
        return set_error(NULL, SHMSTORE_EINVAL, "the handle is NULL");
    pthread_mutex_lock(&c->lock);   /* not begin(): a setting needs no connection */
    c->interrupt_check = check;
    c->interrupt_arg = arg;
    return end(c, 0);
}

int shmstore_release(shmstore_client *c, shmstore_object *obj)
{
    int rc = begin_call(c, obj, "obj");
    if (rc)
        return rc;
    if (!id_map_get(&c->pins, obj->id))
        return end(c, set_error(c, SHMSTORE_ESTATE, "object %llu is not pinned by this handle",
                                (unsigned long long)obj->id));
    pin_count_add(c, obj->id, -1);
    send_release(c, obj->id);
    memset(obj, 0, sizeof *obj);
    return end(c, 0);
}

static int by_name_locked(shmstore_client *c, uint32_t type, const char *name,
                          struct shm_reply *rep)
{
    ptrdiff_t name_len = checked_name_len(c, name);
    if (name_len < 0)
        return (int)name_len;
    struct shm_request req = {.type = type};
    req.u.by_name.name = bytes_of(name, name_len);
    return call(c, &req, rep, NULL);
}

int shmstore_delete(shmstore_client *c, const char *name)
{
    int rc = begin(c);
    struct shm_reply rep;
    return rc ? rc : end(c, by_name_locked(c, SHM_MSG_DELETE, name, &rep));
}

int shmstore_delete_matching(shmstore_client *c, const char *pattern, uint64_t *deleted_out)
{
    int rc = begin(c);
    if (rc)
        return rc;
    size_t pattern_len = pattern ? strlen(pattern) : 0;
    if (pattern_len == 0)
        return end(c, set_error(c, SHMSTORE_EINVAL, "the pattern is %s: give one, such as '*' "
                                "to delete every object", pattern ? "empty" : "NULL"));
    if (pattern_len > SHM_PATTERN_MAX)
        return end(c, set_error(c, SHMSTORE_EINVAL, "pattern longer than %u bytes",
                                SHM_PATTERN_MAX));
    struct shm_request req = {.type = SHM_MSG_DELETE_MATCHING};
    req.u.delete_matching.pattern = bytes_of(pattern, pattern_len);
    struct shm_reply rep;
    rc = call(c, &req, &rep, NULL);
    if (rc == 0 && deleted_out)
        *deleted_out = rep.u.delete_matching.deleted;
    return end(c, rc);
}

static void stat_from_wire(const struct shm_object *o, shmstore_object_stat *out)
{
    size_t n = o->name.len < SHMSTORE_NAME_MAX ? o->name.len : SHMSTORE_NAME_MAX;
    memcpy(out->name, o->name.ptr, n);
    out->name[n] = '\0';
    out->id = o->id;
    out->size = o->size;
    out->meta_size = o->meta_size;
    out->pins = o->pins;
    out->created_ns = o->created_ns;
}

/* placed: the object came in a STAT_EX or LIST_EX reply; else where it is stays 0 (unknown). */
static void status_from_wire(const struct shm_object *o, int placed, shmstore_object_status *out)
{
    memset(out, 0, sizeof *out);
    stat_from_wire(o, &out->stat);
    out->owner_uid = SHMSTORE_OWNER_UNKNOWN;
    if (placed) {
        out->location = (o->location & SHM_LOCATION_MEMORY ? SHMSTORE_IN_MEMORY : 0) |
                        (o->location & SHM_LOCATION_DISK ? SHMSTORE_ON_DISK : 0);
        out->durable = o->durable != 0;
        if (o->owner_known) {
            out->owner_uid = o->owner_uid;
            out->expires_ns = o->expires_ns;
        }
    }
}

_Static_assert(SHM_LOCATION_MEMORY == SHMSTORE_IN_MEMORY && SHM_LOCATION_DISK == SHMSTORE_ON_DISK,
               "the wire's location bits are the public ones");

/* rc of a STAT_EX or LIST_EX: did a daemon older than them answer "unknown request type"? It
 * keeps the connection for that answer (any other EPROTO drops it), so the plain request can
 * follow on the same connection, and does from then on. */
static int ex_unknown(shmstore_client *c, int rc)
{
    if (rc != SHMSTORE_EPROTO || c->fd < 0)
        return 0;
    c->daemon_lacks_ex = 1;
    clear_error(c);
    return 1;
}

/* STAT_EX, or STAT from an older daemon; *placed says which answered. */
static int stat_locked(shmstore_client *c, const char *name, struct shm_reply *rep, int *placed)
{
    int rc = SHMSTORE_EPROTO;
    *placed = !c->daemon_lacks_ex;
    if (*placed && !ex_unknown(c, rc = by_name_locked(c, SHM_MSG_STAT_EX, name, rep)))
        return rc;
    *placed = 0;
    return by_name_locked(c, SHM_MSG_STAT, name, rep);
}

int shmstore_stat(shmstore_client *c, const char *name, shmstore_object_stat *out)
{
    int rc = begin_call(c, out, "out");
    if (rc)
        return rc;
    struct shm_reply rep;
    rc = by_name_locked(c, SHM_MSG_STAT, name, &rep);
    if (rc == 0)
        stat_from_wire(&rep.u.object, out);
    return end(c, rc);
}

/* The first shmstore_object_status ends with durable; fields are only ever appended. */
#define OBJECT_STATUS_V1_SIZE (sizeof(shmstore_object_stat) + 8u)
_Static_assert(offsetof(shmstore_object_status, durable) + sizeof(uint32_t) ==
                   OBJECT_STATUS_V1_SIZE,
               "shmstore_object_status's first-version fields moved: append new fields instead");

static int status_size_ok(shmstore_client *c, size_t size)
{
    if (size >= OBJECT_STATUS_V1_SIZE)
        return 0;
    return set_error(c, SHMSTORE_EINVAL, "size %zu is below the %zu bytes of the first "
                     "shmstore_object_status", size, (size_t)OBJECT_STATUS_V1_SIZE);
}

/* As shmstore_info_sized: the part both know is copied, the rest of a newer caller's reads 0. */
static void copy_sized(void *out, size_t out_size, const void *mine, size_t mine_size)
{
    size_t known = out_size < mine_size ? out_size : mine_size;
    memcpy(out, mine, known);
    memset((unsigned char *)out + known, 0, out_size - known);
}

int shmstore_status_sized(shmstore_client *c, const char *name, shmstore_object_status *out,
                          size_t out_size)
{
    int rc = begin_call(c, out, "out");
    if (rc)
        return rc;
    if ((rc = status_size_ok(c, out_size)) != 0)
        return end(c, rc);
    struct shm_reply rep;
    int placed;
    rc = stat_locked(c, name, &rep, &placed);
    if (rc == 0) {
        shmstore_object_status mine;
        status_from_wire(&rep.u.object, placed, &mine);
        copy_sized(out, out_size, &mine, sizeof mine);
    }
    return end(c, rc);
}

/* One walk for shmstore_list and shmstore_list_status: exactly one of fn and status_fn is set.
 * A status entry handed to status_fn is entry_size bytes (the caller's struct, at least ours). */
static int list_walk(shmstore_client *c, const char *pattern, shmstore_list_fn fn,
                     shmstore_list_status_fn status_fn, void *arg, size_t entry_size)
{
    if (!pattern)
        pattern = "";
    size_t pattern_len = strlen(pattern);
    if (pattern_len > SHM_PATTERN_MAX)
        return set_error(c, SHMSTORE_EINVAL, "pattern longer than %u bytes", SHM_PATTERN_MAX);
    if (!c->list_page && !(c->list_page = calloc(SHM_LIST_PAGE_MAX, sizeof *c->list_page)))
        return set_error(c, SHMSTORE_ENOMEM, "out of memory");
    void *entry = NULL;
    if (status_fn && !(entry = calloc(1, entry_size > sizeof(shmstore_object_status)
                                             ? entry_size
                                             : sizeof(shmstore_object_status))))
        return set_error(c, SHMSTORE_ENOMEM, "out of memory");

    char cursor[SHM_NAME_MAX + 1] = "";
    size_t cursor_len = 0;
    int rc;
    for (;;) {
        int placed = status_fn && !c->daemon_lacks_ex;
        struct shm_request req = {.type = placed ? SHM_MSG_LIST_EX : SHM_MSG_LIST};
        req.u.list.pattern = bytes_of(pattern, pattern_len);
        req.u.list.cursor = bytes_of(cursor, cursor_len);
        req.u.list.max = SHM_LIST_PAGE_MAX;
        struct shm_reply rep;
        rc = call(c, &req, &rep, NULL);
        if (rc && placed && ex_unknown(c, rc))
            continue;   /* the same page again, as LIST */
        if (rc)
            break;
        /* The callback may take its time (storectl writes to a pipe); the page is ours until the
         * next call, so entries are converted and handed over one by one. */
        for (uint32_t i = 0; i < rep.u.list.count && rc == 0; i++) {
            if (status_fn) {
                status_from_wire(&c->list_page[i], placed, entry);
                rc = status_fn(entry, arg);
            } else {
                shmstore_object_stat st;
                stat_from_wire(&c->list_page[i], &st);
                rc = fn(&st, arg);
            }
        }
        if (rc || rep.u.list.done)
            break;
        if (rep.u.list.next_cursor.len > SHM_NAME_MAX) {
            rc = set_error(c, SHMSTORE_EPROTO, "the daemon sent a bad list cursor");
            break;
        }
        cursor_len = rep.u.list.next_cursor.len;
        memcpy(cursor, rep.u.list.next_cursor.ptr, cursor_len);
    }
    free(entry);
    return rc;
}

int shmstore_list(shmstore_client *c, const char *pattern, shmstore_list_fn fn, void *arg)
{
    int rc = begin_call(c, fn, "fn");
    return rc ? rc : end(c, list_walk(c, pattern, fn, NULL, arg, 0));
}

int shmstore_list_status_sized(shmstore_client *c, const char *pattern,
                               shmstore_list_status_fn fn, void *arg, size_t entry_size)
{
    int rc = begin_call(c, fn, "fn");
    if (rc)
        return rc;
    if ((rc = status_size_ok(c, entry_size)) != 0)
        return end(c, rc);
    return end(c, list_walk(c, pattern, NULL, fn, arg, entry_size));
}

/* The first shmstore_store_info ends with version. Fields are only ever appended, so this end
 * never moves, and no program can have been built with a smaller struct. */
#define STORE_INFO_V1_SIZE 264u
_Static_assert(offsetof(shmstore_store_info, version) + sizeof ((shmstore_store_info *)0)->version
                   == STORE_INFO_V1_SIZE,
               "shmstore_store_info's first-version fields moved: append new fields instead");

static void info_from_wire(const struct shm_info *i, shmstore_store_info *out)
{
    memset(out, 0, sizeof *out);
    out->capacity_bytes = i->capacity_bytes;
    out->used_bytes = i->used_bytes;
    out->free_bytes = i->free_bytes;
    out->largest_free_bytes = i->largest_free_bytes;
    out->objects = i->objects;
    out->unsealed_objects = i->unsealed_objects;
    out->unsealed_bytes = i->unsealed_bytes;
    out->deleted_pinned = i->deleted_pinned;
    out->pins = i->pins;
    out->clients = i->clients;
    out->waiters = i->waiters;
    out->uptime_s = i->uptime_s;
    out->requests = i->requests;
    for (size_t code = 0; code < sizeof out->errors / sizeof out->errors[0] &&
                          code < SHM_ERROR_SLOTS; code++)
        out->errors[code] = i->errors[code];
    size_t n = i->version.len < sizeof out->version - 1 ? i->version.len : sizeof out->version - 1;
    memcpy(out->version, i->version.ptr, n);
    out->disk_objects = i->disk_objects;
    out->disk_bytes = i->disk_bytes;
    out->disk_only_objects = i->disk_only_objects;
    out->pending_writes = i->pending_writes;
    out->failed_writes = i->failed_writes;
    out->spills = i->spills;
    out->spill_bytes = i->spill_bytes;
    out->restores = i->restores;
    out->restore_bytes = i->restore_bytes;
    out->evictions = i->evictions;
    out->taken_bytes = i->taken_bytes;
    out->segments = i->segments;
    out->evicted_deletions = i->evicted_deletions;
    out->expirations = i->expirations;
}

/* The caller's struct may be an older (shorter) or newer (longer) shmstore_store_info than this
 * library's: the part both know is copied, the part only a newer caller knows reads as 0, and
 * not a byte beyond out_size is written. */
int shmstore_info_sized(shmstore_client *c, shmstore_store_info *out, size_t out_size)
{
    int rc = begin_call(c, out, "out");
    if (rc)
        return rc;
    if (out_size < STORE_INFO_V1_SIZE)
        return end(c, set_error(c, SHMSTORE_EINVAL,
                                "out_size %zu is below the %u bytes of the first "
                                "shmstore_store_info", out_size, STORE_INFO_V1_SIZE));
    struct shm_request req = {.type = SHM_MSG_INFO};
    struct shm_reply rep;
    rc = call(c, &req, &rep, NULL);
    if (rc)
        return end(c, rc);
    shmstore_store_info mine;
    info_from_wire(&rep.u.info, &mine);
    size_t known = out_size < sizeof mine ? out_size : sizeof mine;
    memcpy(out, &mine, known);
    memset((unsigned char *)out + known, 0, out_size - known);
    return end(c, 0);
}

int shmstore_users(shmstore_client *c, shmstore_users_fn fn, void *arg)
{
    int rc = begin_call(c, fn, "fn");
    if (rc)
        return rc;
    uint64_t from = 0;
    for (;;) {
        struct shm_request req = {.type = SHM_MSG_USERS};
        req.u.users.from_uid = from;
        struct shm_reply rep;
        if ((rc = call(c, &req, &rep, NULL)) != 0)
            return end(c, rc);
        /* The users point into the input buffer, which stays put until the next request. */
        size_t offset = 0;
        struct shm_user wire;
        while (shm_user_next(&rep, &offset, &wire) == 0) {
            shmstore_user_usage user = {wire.uid, wire.objects, wire.bytes, wire.quota_bytes,
                                        wire.quota_objects};
            if ((rc = fn(&user, arg)) != 0)
                return end(c, rc);
        }
        if (rep.u.users.done)
            return end(c, 0);
        if (rep.u.users.next_uid <= from)
            return end(c, set_error(c, SHMSTORE_EPROTO, "the daemon sent a bad users cursor"));
        from = rep.u.users.next_uid;
    }
}

/* A request with an empty body and an empty reply: PING, SYNC. */
static int empty_call(shmstore_client *c, uint32_t type)
{
    int rc = begin(c);
    if (rc)
        return rc;
    struct shm_request req = {.type = type};
    struct shm_reply rep;
    return end(c, call(c, &req, &rep, NULL));
}

int shmstore_ping(shmstore_client *c)
{
    return empty_call(c, SHM_MSG_PING);
}

int shmstore_sync(shmstore_client *c)
{
    return empty_call(c, SHM_MSG_SYNC);
}

/* The first shmstore_verify_result ends with duration_ms. */
#define VERIFY_RESULT_V1_SIZE 56u
_Static_assert(offsetof(shmstore_verify_result, duration_ms) + sizeof(uint64_t) ==
                   VERIFY_RESULT_V1_SIZE,
               "shmstore_verify_result's first-version fields moved: append new fields instead");

static void copy_text(char *out, size_t cap, struct shm_bytes text)
{
    size_t n = text.len < cap - 1 ? text.len : cap - 1;
    memcpy(out, text.ptr, n);
    out[n] = '\0';
}

int shmstore_verify_sized(shmstore_client *c, shmstore_verify_fn fn, void *arg,
                          shmstore_verify_result *out, size_t out_size)
{
    int rc = begin_call(c, out, "out");
    if (rc)
        return rc;
    if (out_size < VERIFY_RESULT_V1_SIZE)
        return end(c, set_error(c, SHMSTORE_EINVAL,
                                "out_size %zu is below the %u bytes of the first "
                                "shmstore_verify_result", out_size, VERIFY_RESULT_V1_SIZE));
    struct shm_request req = {.type = SHM_MSG_VERIFY};
    struct shm_reply rep;
    if ((rc = call(c, &req, &rep, NULL)) != 0)
        return end(c, rc);
    const struct shm_verify_summary *sum = &rep.u.verify.summary;
    shmstore_verify_result mine = {
        .data_dir = sum->data_dir != 0, .objects = sum->objects, .bytes = sum->bytes,
        .problems = sum->problems, .pending = sum->pending, .unlisted = sum->unlisted,
        .duration_ms = sum->duration_ms,
    };
    copy_sized(out, out_size, &mine, sizeof mine);
    /* The problems point into the input buffer, which stays put until the next request. */
    size_t offset = 0;
    struct shm_verify_problem wire;
    while (fn && shm_verify_problem_next(&rep, &offset, &wire) == 0) {
        shmstore_verify_problem problem;
        char what[SHM_VERIFY_TEXT_MAX + 1], action[SHM_VERIFY_TEXT_MAX + 1];
        copy_text(problem.name, sizeof problem.name, wire.name);
        copy_text(what, sizeof what, wire.what);
        copy_text(action, sizeof action, wire.action);
        problem.id = wire.id;
        problem.what = what;
        problem.action = action;
        int stop = fn(&problem, arg);
        if (stop)
            return end(c, stop);
    }
    return end(c, 0);
}

/* ---- watch --------------------------------------------------------------------------------- */

/* Replace the handle's connection with one that asked to watch at its handshake, and subscribe
 * it. The daemon answers WATCH before it sends any event. */
static int watch_subscribe(shmstore_client *c, const char *pattern, size_t pattern_len,
                           unsigned flags)
{
    if (id_map_count(&c->pins) > 0)
        return set_error(c, SHMSTORE_ESTATE, "the handle holds %zu pinned objects: a handle that "
                         "watches does nothing else, so release them or watch on a handle of "
                         "its own", id_map_count(&c->pins));
    char *copy = malloc(pattern_len + 1);
    if (!copy)
        return set_error(c, SHMSTORE_ENOMEM, "out of memory");
    memcpy(copy, pattern, pattern_len + 1);
    drop_connection(c);
    c->hello_flags = SHM_HELLO_WATCH;
    int rc = open_connection(c);
    c->hello_flags = 0;
    if (rc == 0) {
        struct shm_request req = {.type = SHM_MSG_WATCH};
        req.u.watch.pattern = bytes_of(pattern, pattern_len);
        req.u.watch.flags = flags & SHMSTORE_WATCH_SNAPSHOT ? SHM_WATCH_SNAPSHOT : 0;
        struct shm_reply rep;
        rc = call(c, &req, &rep, NULL);
        if (rc)
            drop_connection(c);   /* the next call connects as an ordinary client */
    }
    if (rc) {
        free(copy);
        return rc;
    }
    free(c->watch_pattern);
    c->watch_pattern = copy;
    c->watch_flags = flags;
    c->watching = 1;
    return 0;
}

/* Take the buffered frame as an event (seq 0, started by the daemon). */
static int take_event(shmstore_client *c, shmstore_event *ev)
{
    static const struct shm_request events = {.type = SHM_MSG_EVENT, .seq = 0};
    struct shm_reply rep;
    int rc = take_reply(c, &events, &rep);
    if (rc) {
        drop_connection(c);   /* the daemon never fails an event: it is not in step */
        return rc;
    }
    const struct shm_event *w = &rep.u.event;
    memset(ev, 0, sizeof *ev);
    ev->kind = w->kind;
    memcpy(ev->name, w->name.ptr, w->name.len);   /* the decoder bounds it by SHM_NAME_MAX */
    ev->id = w->id;
    ev->size = w->size;
    ev->time_ns = w->time_ns;
    ev->count = w->count;
    return 0;
}

/* The kinds pass through as they come (a newer daemon's too), so they must be the same numbers. */
#define SAME_KIND(k) ((int)SHMSTORE_EVENT_##k == (int)SHM_EVENT_##k)
_Static_assert(SAME_KIND(SEALED) && SAME_KIND(REPLACED) && SAME_KIND(DELETED) &&
                   SAME_KIND(EVICTED) && SAME_KIND(EXPIRED) && SAME_KIND(SPILLED) &&
                   SAME_KIND(RESTORED) && SAME_KIND(SNAPSHOT) && SAME_KIND(SNAPSHOT_END) &&
                   SAME_KIND(LOST),
               "the wire's event kinds are the public ones");
#undef SAME_KIND

int shmstore_watch_flags(shmstore_client *c, const char *pattern, unsigned flags,
                         shmstore_watch_fn fn, void *arg)
{
    clear_error(c);
    if (!c)
        return set_error(NULL, SHMSTORE_EINVAL, "the handle is NULL");
    pthread_mutex_lock(&c->lock);   /* not begin(): that would end a subscription to go on with */
    if (!fn)
        return end(c, set_error(c, SHMSTORE_EINVAL, "fn must not be NULL"));
    if (!pattern)
        pattern = "";
    size_t pattern_len = strlen(pattern);
    if (pattern_len > SHM_PATTERN_MAX)
        return end(c, set_error(c, SHMSTORE_EINVAL, "pattern longer than %u bytes",
                                SHM_PATTERN_MAX));
    if (flags & ~SHMSTORE_WATCH_SNAPSHOT)
        return end(c, set_error(c, SHMSTORE_EINVAL, "unknown watch flags 0x%x",
                                flags & ~SHMSTORE_WATCH_SNAPSHOT));
    int rc = 0;
    if (!c->watching || c->fd < 0 || c->watch_flags != flags ||
        strcmp(c->watch_pattern, pattern) != 0)
        rc = watch_subscribe(c, pattern, pattern_len, flags);
    /* While events flow the poll never runs out, so the check is also asked between them. */
    const int64_t check_every = (int64_t)INTERRUPT_SLICE_MS * 1000000;
    int64_t next_check = monotonic_ns() + check_every;
    while (rc == 0) {
        rc = c->interrupt_check ? await_frame_interruptibly(c) : await_frame(c, NULL, 0);
        if (rc == 0 && c->interrupt_check && monotonic_ns() >= next_check) {
            next_check = monotonic_ns() + check_every;
            rc = interrupt_asked(c);
        }
        if (rc == INTERRUPTED) {
            /* The frame that may be buffered stays for the watch that goes on. */
            rc = set_error(c, SHMSTORE_EINTR, "the watch was interrupted");
            break;
        }
        shmstore_event ev;
        if (rc == 0 && (rc = take_event(c, &ev)) == 0)
            rc = fn(&ev, arg);
    }
    return end(c, rc);
}

int shmstore_watch(shmstore_client *c, const char *pattern, shmstore_watch_fn fn, void *arg)
{
    return shmstore_watch_flags(c, pattern, 0, fn, arg);
}
