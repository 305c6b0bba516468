/*
 * server.c — the listening socket and the daemon's lifetime.
 *
 * Start, in three steps: server_init makes the arena (first, so a machine without the memory
 * fails before anyone can connect), the store and the loop; server_catch_signals hooks SIGTERM,
 * SIGINT and SIGHUP into the loop; server_listen binds the socket. Signals come before the
 * socket because the daemon is ready the moment listen() returns, which is what clients, tests
 * and service managers wait for: a stop sent at that moment must find the handler in place, not
 * the default action that kills the daemon and leaves its socket file behind. Until the loop
 * runs, libevent holds such a signal and delivers it on the loop's first turn. In-process test
 * harnesses use server_init alone and hand socketpairs to conn_new.
 * A socket file that accepts a connection belongs to a live daemon and stops the start; one that
 * refuses is a dead daemon's leftover and is replaced.
 * A parent that starts the daemon for itself (Python's shmstore.serve()) passes the read end of
 * a pipe with --lifeline and keeps the write end: the kernel closes that end however the parent
 * dies, even by SIGKILL, and the read end then sees end of file, so the daemon never outlives it.
 * Stop: SIGTERM/SIGINT or the end of the lifeline break the loop; every connection is closed
 * (dropping pins and unsealed objects as for any client), the socket file is removed and
 * everything is freed, so valgrind sees a clean exit.
 */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "durable.h"
#include "grow.h"
#include "expire.h"
#include "residency.h"
#include "verify.h"
#include "watch.h"
#include "humansize.h"
#include "log.h"
#include "notify.h"
#include "shmstore.h"
#include "sockpath.h"

static int socket_is_live(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int live = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return live;
}

/* systemd socket activation: a listening AF_UNIX stream socket handed over as fd 3, with
 * LISTEN_PID naming this process. Returns the fd, -1 when there is none, -2 (with why) when
 * what was handed over is not usable. */
static int inherited_listener(char *why, size_t whylen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
        return -1;
    long count = strtol(fds, NULL, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (count < 1)
        return -1;
    const int fd = 3;   /* SD_LISTEN_FDS_START */
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct sockaddr_un addr;
    socklen_t addr_len = sizeof addr;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
        (len = sizeof listening, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) != 0 ||
        !listening || getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0 ||
        addr.sun_family != AF_UNIX) {
        snprintf(why, whylen, "the socket passed by systemd (LISTEN_FDS) is not a listening "
                              "Unix stream socket");
        return -2;
    }
    if (count > 1)
        log_warn("systemd passed %ld sockets; serving the first only", count);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* What to do when the socket's directory, lock or file is not this user's to make: almost always
 * a user whose default is a system socket they may not use. "" for other errors. */
static const char *permission_hint(int err, char *buf, size_t len)
{
    char own[sizeof ((struct sockaddr_un *)0)->sun_path];
    if (err != EACCES && err != EPERM)
        return "";
    if (shm_user_socket_path(own, sizeof own) != 0)
        snprintf(own, sizeof own, "PATH");
    snprintf(buf, len, "; a non-root user runs their own daemon on a socket of theirs: "
             "shmstored -s %s, or set $SHMSTORE_SOCKET", own);
    return buf;
}

static int bind_socket(struct server *s, const char *path, char *why, size_t whylen)
{
    char hint[256];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(why, whylen, "%s: socket path too long", path);
        return -1;
    }
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);

    /* The system socket's directory may not exist yet when root starts the daemon by hand. */
    char dir[sizeof addr.sun_path];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            int err = errno;
            snprintf(why, whylen, "%s: cannot create the socket's directory: %s%s", dir,
                     strerror(err), permission_hint(err, hint, sizeof hint));
            return -1;
        }
    }

    /* Checking for a live daemon and then binding is a race between two daemons starting at
     * once: the loser could unlink the winner's fresh socket. A lock beside the socket makes
     * the check and the bind one step. */
    char lock_path[sizeof addr.sun_path + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        int err = errno;
        snprintf(why, whylen, "cannot open %s: %s%s", lock_path, strerror(err),
                 permission_hint(err, hint, sizeof hint));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(why, whylen, "another shmstored is already serving %s (%s is locked)", path,
                 lock_path);
        close(s->lock_fd);
        s->lock_fd = -1;
        return -1;
    }

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(why, whylen, "%s exists and is not a socket; refusing to replace it", path);
            return -1;
        }
        if (socket_is_live(path)) {
            snprintf(why, whylen, "another shmstored is already serving %s", path);
            return -1;
        }
        log_info("removing stale socket %s left by a daemon that is gone", path);
        unlink(path);
    }

    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        snprintf(why, whylen, "cannot bind %s: %s%s", path, strerror(err),
                 permission_hint(err, hint, sizeof hint));
        goto fail;
    }
    if (chmod(path, (mode_t)s->opts->socket_mode) != 0 ||
        (s->opts->socket_group >= 0 && chown(path, (uid_t)-1, (gid_t)s->opts->socket_group) != 0)) {
        snprintf(why, whylen, "cannot set the mode or group of %s: %s", addr.sun_path,
                 strerror(errno));
        unlink(path);
        goto fail;
    }
    if (listen(s->listen_fd, SOMAXCONN) != 0) {
        snprintf(why, whylen, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    return 0;
fail:
    close(s->listen_fd);
    s->listen_fd = -1;
    return -1;
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    event_add(s->accept_event, NULL);
}

static void on_accept(evutil_socket_t listen_fd, short what, void *arg)
{
    (void)what;
    struct server *s = arg;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(s, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: stop accepting for a moment instead of spinning on a listener
             * that stays readable. */
            log_warn("cannot accept a client: %s; pausing accepts for 100 ms", strerror(errno));
            event_del(s->accept_event);
            struct timeval tv = {0, 100000};
            evtimer_add(s->accept_resume, &tv);
        }
        return;
    }
}

/* A client's releases sit in its ring until its next request; for a client that goes quiet,
 * this timer applies them within SERVER_RELEASE_POLL_MS, so other processes see pins drop and
 * deleted objects' memory come back. It runs only while some pin exists. */
static void on_release_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    for (struct conn *c = s->conns; c; c = c->next)
        conn_drain_releases(c);
    struct store_stats st;
    store_get_stats(s->store, &st);
    if (st.pins > 0)
        server_watch_releases(s);
}

void server_watch_releases(struct server *s)
{
    if (!evtimer_pending(s->release_timer, NULL)) {
        struct timeval tv = {0, SERVER_RELEASE_POLL_MS * 1000};
        evtimer_add(s->release_timer, &tv);
    }
}

/* READY=1 (when first given) and a STATUS= line for systemctl status. */
static void send_status(struct server *s, const char *prefix)
{
    struct store_stats st;
    store_get_stats(s->store, &st);
    char used[32], cap[32], message[256];
    snprintf(message, sizeof message,
             "%sSTATUS=%llu objects, %s of %s used, %llu clients\nMAINPID=%d", prefix,
             (unsigned long long)st.objects, human_size(st.used_bytes, used, sizeof used),
             human_size(st.capacity_bytes, cap, sizeof cap), (unsigned long long)s->clients,
             (int)getpid());
    if (notify_send(message) != 0)
        log_debug("cannot notify systemd: %s", strerror(errno));
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_status(arg, "");
}

/* SIGHUP: read the configuration again and apply what can change while clients stay. A bad
 * file changes nothing. Connections keep the access level they were given when they came. */
static void on_reload(evutil_socket_t signo, short what, void *arg)
{
    (void)signo;
    (void)what;
    struct server *s = arg;
    struct options fresh;
    char why[4200];
    log_info("SIGHUP: reloading the configuration%s%s", s->opts->config_path[0] ? " from " : "",
             s->opts->config_path);
    if (options_reload(s->opts, &fresh, why, sizeof why) != 0) {
        log_error("reload failed: %s; keeping the current configuration", why);
        return;
    }
    options_apply_reload(s->opts, &fresh);
    log_set_level(s->opts->log_level);
    grow_reload(s);
    quota_configure(s->quota, s->opts->quota_bytes, s->opts->quota_objects,
                    &s->opts->quota_rules);
}

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    struct server *s = arg;
    log_info("%s received; shutting down", strsignal((int)signo));
    event_base_loopbreak(s->base);
}

/* Reads per wake-up of the lifeline: a parent that writes to it without end must not keep the
 * loop from its clients. */
#define LIFELINE_READS_PER_WAKE 16

static void on_lifeline(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct server *s = arg;
    char ignored[512];
    ssize_t n = 0;
    for (int reads = 0; reads < LIFELINE_READS_PER_WAKE; reads++) {
        n = read(fd, ignored, sizeof ignored);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
    }
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        return;   /* still open */
    if (n == 0)
        log_info("lifeline closed: shutting down");
    else
        log_info("lifeline closed: shutting down (read: %s)", strerror(errno));
    event_del(s->lifeline_event);
    event_base_loopbreak(s->base);
}

/* The lifeline's flags, or -1 with why when it is not open. */
static int lifeline_flags(int fd, char *why, size_t whylen)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        snprintf(why, whylen, "--lifeline %d: descriptor %d is not open (%s); pass the read end "
                 "of a pipe the starting process keeps open", fd, fd, strerror(errno));
    return flags;
}

int server_watch_lifeline(struct server *s, char *why, size_t whylen)
{
    const int fd = s->opts->lifeline_fd;
    if (fd < 0)
        return 0;
    int flags = lifeline_flags(fd, why, whylen);
    if (flags < 0)
        return -1;
    if ((flags & O_ACCMODE) == O_WRONLY) {
        snprintf(why, whylen, "--lifeline %d: descriptor %d is open for writing only; pass the "
                 "read end of the pipe", fd, fd);
        return -1;
    }
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->lifeline_event = event_new(s->base, fd, EV_READ | EV_PERSIST, on_lifeline, s);
    if (!s->lifeline_event || event_add(s->lifeline_event, NULL) != 0) {
        snprintf(why, whylen, "--lifeline %d: cannot watch descriptor %d (a pipe or socket is "
                 "needed)", fd, fd);
        return -1;
    }
    s->lifeline_fd = fd;
    return 0;
}

/* Many clients each hold a socket: allow as many descriptors as the hard limit lets us. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int server_init(struct server *s, struct options *opts, char *why, size_t whylen)
{
    memset(s, 0, sizeof *s);
    s->opts = opts;
    /* Before the daemon opens descriptors of its own, one of which could take the number of a
     * lifeline that was never open. */
    if (opts->lifeline_fd >= 0 && lifeline_flags(opts->lifeline_fd, why, whylen) < 0)
        return -1;
    s->listen_fd = s->lock_fd = s->lifeline_fd = -1;
    s->arena.header_fd = s->arena.header_readonly_fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    raise_fd_limit();
    /* A client that vanishes mid-reply must cost a write error, not the daemon. */
    signal(SIGPIPE, SIG_IGN);

    s->store = store_new_empty(grow_max_for(opts));
    s->base = event_base_new();
    s->quota = quota_new();
    if (!s->store || !s->base || !s->quota) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    if (grow_start(s, why, whylen) != 0)
        goto fail;
    quota_configure(s->quota, opts->quota_bytes, opts->quota_objects, &opts->quota_rules);
    store_set_quota(s->store, s->quota);
    if (expire_start(s, why, whylen) != 0)
        goto fail;
    s->release_timer = evtimer_new(s->base, on_release_timer, s);
    if (!s->release_timer) {
        snprintf(why, whylen, "cannot set up the event loop");
        goto fail;
    }
    /* The catalogue is read before the socket opens: a client never sees a half-listed store.
     * Payloads come back on first get (or now, with preload). */
    if (durable_start(s, why, whylen) != 0 || residency_start(s, why, whylen) != 0)
        goto fail;
    watch_start(s);
    return 0;
fail:
    server_stop(s);
    return -1;
}

int server_catch_signals(struct server *s, char *why, size_t whylen)
{
    static const int signals[3] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        s->signal_events[i] = evsignal_new(s->base, signals[i],
                                           signals[i] == SIGHUP ? on_reload : on_signal, s);
        if (!s->signal_events[i] || event_add(s->signal_events[i], NULL) != 0) {
            snprintf(why, whylen, "cannot catch %s", strsignal(signals[i]));
            return -1;
        }
    }
    return 0;
}

int server_listen(struct server *s, char *why, size_t whylen)
{
    struct options *opts = s->opts;
    s->listen_fd = inherited_listener(why, whylen);
    if (s->listen_fd == -2) {
        s->listen_fd = -1;
        return -1;
    }
    s->socket_activated = s->listen_fd >= 0;
    if (!s->socket_activated && bind_socket(s, opts->socket_path, why, whylen) != 0)
        return -1;
    s->accept_event = event_new(s->base, s->listen_fd, EV_READ | EV_PERSIST, on_accept, s);
    s->accept_resume = evtimer_new(s->base, on_accept_resume, s);
    if (!s->accept_event || !s->accept_resume || event_add(s->accept_event, NULL) != 0) {
        snprintf(why, whylen, "cannot set up the event loop");
        return -1;   /* server_stop closes and removes the socket */
    }
    char max[32], taken[32];
    const space_t *sp = store_space(s->store);
    log_info("shmstored %s serving %s: memory up to %s, %s taken%s, protocol %u",
             SHMSTORE_VERSION_STRING,
             s->socket_activated ? "the socket passed by systemd" : opts->socket_path,
             human_size(space_max(sp), max, sizeof max),
             human_size(space_taken(sp), taken, sizeof taken),
             opts->reserve ? " and reserved" : " (not reserved)", SHM_PROTO_VERSION);
    if (getenv("NOTIFY_SOCKET")) {
        s->status_timer = event_new(s->base, -1, EV_PERSIST, on_status_timer, s);
        struct timeval every = {SERVER_STATUS_INTERVAL_S, 0};
        if (s->status_timer)
            evtimer_add(s->status_timer, &every);
        send_status(s, "READY=1\n");
    }
    return 0;
}

int server_start(struct server *s, struct options *opts, char *why, size_t whylen)
{
    if (server_init(s, opts, why, whylen) != 0)
        return -1;
    if (server_catch_signals(s, why, whylen) != 0 || server_watch_lifeline(s, why, whylen) != 0 ||
        server_listen(s, why, whylen) != 0) {
        server_stop(s);
        return -1;
    }
    return 0;
}

void server_run(struct server *s)
{
    event_base_dispatch(s->base);
}

void server_stop(struct server *s)
{
    if (s->base)
        notify_send("STOPPING=1\nSTATUS=shutting down");
    while (s->conns)
        conn_set_state(s->conns, CONN_CLOSED);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        if (!s->socket_activated)   /* systemd's socket is systemd's to remove */
            unlink(s->opts->socket_path);
        s->listen_fd = -1;
    }
    if (s->lock_fd >= 0) {
        /* Unlink while still holding it: a daemon starting now locks a fresh file. */
        char lock_path[sizeof ((struct sockaddr_un *)0)->sun_path + 8];
        snprintf(lock_path, sizeof lock_path, "%s.lock", s->opts->socket_path);
        unlink(lock_path);
        close(s->lock_fd);
        s->lock_fd = -1;
    }
    if (s->accept_event)
        event_free(s->accept_event);
    if (s->accept_resume)
        event_free(s->accept_resume);
    if (s->release_timer)
        event_free(s->release_timer);
    if (s->status_timer)
        event_free(s->status_timer);
    if (s->lifeline_event)
        event_free(s->lifeline_event);
    if (s->lifeline_fd >= 0)
        close(s->lifeline_fd);
    expire_stop(s);
    for (size_t i = 0; i < 3; i++)
        if (s->signal_events[i])
            event_free(s->signal_events[i]);
    /* After the connections (their held replies go nowhere), before the store and arena the
     * writer thread reads. */
    verify_stop(s);
    watch_stop(s);
    residency_stop(s);
    durable_stop(s);
    grow_stop(s);
    if (s->base)
        event_base_free(s->base);
    store_free(s->store);
    quota_free(s->quota);
    shm_buf_free(&s->scratch);
    memset(s, 0, sizeof *s);
    s->listen_fd = s->lock_fd = s->lifeline_fd = -1;
}
