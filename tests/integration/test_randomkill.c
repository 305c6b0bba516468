/*
 * test_randomkill.c — clients SIGKILLed at random points inside every operation; the daemon must
 * clean up after each of them completely.
 *
 * One daemon serves the whole run. A watcher handle checks; a bystander handle holds one pin
 * throughout. Each round forks a victim process (in its own process group) that connects and
 * runs, for ever, one scenario picked by the seeded random stream: create and slowly fill large
 * objects (mid-create, mid-fill, seal), put/replace/delete loops, gets waiting on a name nobody
 * puts, gets that hold up to MAX_HELD pins (some on objects then deleted), lists paging through
 * N_MANY objects, abort/delete mixes that leave unsealed objects behind, a loop of fork()s whose
 * children use the inherited handle, and a parent and fork child both working on one handle.
 * The test kills it with SIGKILL either before it says (through a pipe) that it entered its
 * phase, or 0 µs to 10 ms after; in a forked family it kills the parent, the child or both, lets
 * a survivor go on for a moment, and then kills and reaps the whole group (this process is a
 * child subreaper, so orphans come back to it). Every victim must die by that SIGKILL: one that
 * exits by itself has met an error it reported on stderr. A shared page records what each victim
 * was doing when it died, printed as a histogram.
 *
 * After the rounds, once the daemon has seen every hang-up (polled, bounded), its counters must
 * be back at their baseline: pins, unsealed objects and bytes, deleted-but-pinned objects,
 * waiters and clients (the baseline counts the watcher and the bystander). Every object left in
 * the store must hold what its writer wrote (each carries its pattern's seed as metadata); the
 * victims' objects are then deleted and used bytes and objects must be back at their baseline
 * too. The bystander's pin must still read right. The daemon must hold exactly as many file
 * descriptors and release-ring mappings as at the baseline, and its private memory (RssAnon
 * and VmData) must not grow between the end of a warm-up and the end beyond MEMORY_SLACK_KIB;
 * that last check is skipped under valgrind and in sanitizer builds, where it means nothing.
 *
 * Rounds: 300 by default (scaled down under valgrind), or $SHMSTORE_KILL_ROUNDS. The long run:
 *     SHMSTORE_KILL_ROUNDS=5000 meson test -C build integration.randomkill -v
 * Seed: $SHMSTORE_KILL_SEED, else a fresh one per run; it is printed, to replay the same
 * scenarios and delays (the exact moments of death depend on scheduling, too).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "shmstore.h"
#include "testutil.h"

#define DEFAULT_ROUNDS 300
#define N_MANY 1000              /* objects a list pages through (several list pages) */
#define N_STABLE 16              /* objects victims pin */
#define BIG_MAX (8 * MiB)        /* largest object a victim creates */
#define FILL_CHUNK (256 * KiB)   /* a victim fills in steps of this, yielding in between */
#define MAX_HELD 64              /* pins one victim holds at most */
#define MAX_LEFT_UNSEALED 3      /* unsealed objects one victim leaves to the daemon at most */

/* How much the daemon's private memory (touched: RssAnon; mapped: VmData) may grow from the end
 * of the warm-up to the end. Memory freed by the daemon stays in malloc's heap, and how much of
 * it is resident depends on which buffers the last victims happened to use (a frame is up to
 * 256 KiB, but only what was written to is touched); the warm-up brings the heap to its working
 * size, after which the noise seen is well under 100 KiB. A leak of about 1 KiB per killed
 * client shows within the default 300 rounds, one of about 100 bytes within the 5,000-round
 * run; smaller leaks of unreachable memory are valgrind's and LeakSanitizer's to find. */
#define MEMORY_SLACK_KIB 256

/* ---- what a victim was doing, kept where its killer can read it ---------------------------- */

/* name, text, whether the victim is inside a libshmstore call (or fork) */
#define PHASES(XX)                                                                                \
    XX(START, "forked, before its first call", 0)                                                 \
    XX(IDLE, "between calls", 0)                                                                  \
    XX(CONNECT, "in shmstore_connect", 1)                                                         \
    XX(CREATE, "in shmstore_create", 1)                                                           \
    XX(FILL, "filling an unsealed object", 0)                                                     \
    XX(SEAL, "in shmstore_seal", 1)                                                               \
    XX(ABORT, "in shmstore_abort", 1)                                                             \
    XX(PUT, "in shmstore_put", 1)                                                                 \
    XX(GET, "in shmstore_get", 1)                                                                 \
    XX(GET_WAIT, "waiting in shmstore_get", 1)                                                    \
    XX(RELEASE, "in shmstore_release", 1)                                                         \
    XX(DELETE, "in shmstore_delete", 1)                                                           \
    XX(LIST, "in shmstore_list (or its callback)", 1)                                             \
    XX(CLOSE, "in shmstore_close", 1)                                                             \
    XX(FORK, "in fork()", 1)                                                                      \
    XX(REAP, "waiting for its fork child", 0)

enum phase {
#define PHASE_ENUM_(name, text, in_call) PH_##name,
    PHASES(PHASE_ENUM_)
#undef PHASE_ENUM_
    PH_COUNT
};

static const struct {
    const char *text;
    int in_call;
} phase_info[PH_COUNT] = {
#define PHASE_INFO_(name, text, in_call) {text, in_call},
    PHASES(PHASE_INFO_)
#undef PHASE_INFO_
};

/* A MAP_SHARED page made before any fork: [0] is written by the victim, [1] by its fork
 * children. What is there when a process is reaped is what it was doing when it died. */
struct shared {
    volatile sig_atomic_t phase[2];
};
static struct shared *S;

/* ---- content every object carries ---------------------------------------------------------- */

/* Every object in this test is the pattern of a seed, with the seed as its 8-byte metadata, so
 * anyone can check any object without knowing who wrote it. buf must hold size bytes. */
static int put_seeded(shmstore_client *c, const char *name, uint8_t *buf, size_t size,
                      uint64_t seed, unsigned flags)
{
    fill_pattern(buf, size, seed);
    return shmstore_put(c, name, buf, size, &seed, sizeof seed, flags);
}

static bool object_intact(const shmstore_object *o)
{
    uint64_t seed;
    if (o->meta_size != sizeof seed)
        return false;
    memcpy(&seed, o->meta, sizeof seed);
    return has_pattern(o->data, o->size, seed);
}

/* ---- victims (forked; no cmocka here) ------------------------------------------------------ */

struct victim {
    shmstore_client *c;
    uint64_t rng;
    int role;       /* its slot in S->phase */
    int msg_fd;     /* to the test; -1 once it said it is ready */
    uint8_t *src;   /* BIG_MAX bytes: what puts and fills copy from */
    unsigned serial;
};

/* What a victim tells the test, in one write (atomic on a pipe). */
struct msg {
    int32_t tag;    /* 'R': entered its phase */
    int32_t child;  /* the pid of its long-lived fork child, or 0 */
};

static void v_phase(struct victim *v, enum phase p)
{
    S->phase[v->role] = p;
}

#define OK_(code) (1u << -(SHMSTORE_##code))

/* A call's status, which must be 0 or one of the `allowed` refusals (OK_ bits): anything else
 * ends the victim with status 3, and the test fails. */
static int v_check(struct victim *v, int rc, unsigned allowed, const char *what, const char *name)
{
    v_phase(v, PH_IDLE);
    if (rc == 0 || (rc < 0 && rc > SHMSTORE_ERRNO_END_ && (allowed & (1u << -rc))))
        return rc;
    fprintf(stderr, "victim %d: %s %s: %s: %s\n", (int)getpid(), what, name ? name : "",
            shmstore_errname(rc), shmstore_errmsg(v->c));
    _exit(3);
}

/* A libshmstore call, marked in the victim's phase while it runs. */
#define V_CALL(v, ph, allowed, what, name, expr)                                                  \
    (v_phase((v), PH_##ph), v_check((v), (expr), (allowed), (what), (name)))

static void v_ready(struct victim *v, pid_t child)
{
    if (v->msg_fd < 0)
        return;
    struct msg m = {'R', (int32_t)child};
    CHILD_REQUIRE(write(v->msg_fd, &m, sizeof m) == (ssize_t)sizeof m);
    close(v->msg_fd);
    v->msg_fd = -1;
}

/* Mid-create and mid-fill: large objects created under a few names (REPLACE), filled slowly. */
static void sc_create_fill(struct victim *v)
{
    for (;;) {
        char name[32];
        snprintf(name, sizeof name, "v/big/%u", (unsigned)splitmix_below(&v->rng, 4));
        size_t size = 64 * KiB + splitmix_below(&v->rng, BIG_MAX - 64 * KiB + 1);
        uint64_t seed = splitmix_next(&v->rng);
        fill_pattern(v->src, size, seed);
        void *w;
        uint64_t id;
        if (V_CALL(v, CREATE, OK_(ENOSPC), "create", name,
                   shmstore_create(v->c, name, size, &seed, sizeof seed, SHMSTORE_REPLACE, &w,
                                   &id)) != 0)
            continue;
        v_ready(v, 0);
        v_phase(v, PH_FILL);
        for (size_t off = 0; off < size; off += FILL_CHUNK) {
            memcpy((uint8_t *)w + off, v->src + off, size - off < FILL_CHUNK ? size - off
                                                                             : FILL_CHUNK);
            sched_yield(); /* a slow writer: the kill should find it here */
        }
        V_CALL(v, SEAL, 0, "seal", name, shmstore_seal(v->c, id));
    }
}

/* Puts of every size class (inline and in place) under a few names, mostly REPLACE, and
 * deletes of those names. */
static void sc_put_replace(struct victim *v)
{
    static const size_t sizes[] = {0,           1,           100,        4096,   64 * KiB - 1,
                                   64 * KiB,    64 * KiB + 1, 200 * KiB, 1 * MiB};
    v_ready(v, 0);
    for (;;) {
        char name[32];
        snprintf(name, sizeof name, "v/put/%u", (unsigned)splitmix_below(&v->rng, 16));
        if (splitmix_below(&v->rng, 8) == 0) {
            V_CALL(v, DELETE, OK_(ENOTFOUND), "delete", name, shmstore_delete(v->c, name));
            continue;
        }
        size_t size = sizes[splitmix_below(&v->rng, sizeof sizes / sizeof sizes[0])];
        unsigned flags = splitmix_below(&v->rng, 4) ? SHMSTORE_REPLACE : 0;
        V_CALL(v, PUT, OK_(ENOSPC) | (flags ? 0 : OK_(EEXIST)), "put", name,
               put_seeded(v->c, name, v->src, size, splitmix_next(&v->rng), flags));
    }
}

/* Gets waiting on a name nobody ever puts: for ever, for a minute, or a string of short waits.
 * The shared name makes a queue of waiters when a forked family waits together. */
static void sc_wait_get(struct victim *v)
{
    char own[32];
    snprintf(own, sizeof own, "absent/%d", (int)getpid());
    v_ready(v, 0);
    for (;;) {
        const char *name = splitmix_below(&v->rng, 2) ? own : "absent/shared";
        shmstore_object o;
        switch (splitmix_below(&v->rng, 3)) {
        case 0:
            V_CALL(v, GET_WAIT, 0, "waiting get", name,
                   shmstore_get(v->c, name, SHMSTORE_WAIT_FOREVER, &o));
            CHILD_REQUIRE(!"a get of a name nobody puts returned an object");
            break;
        case 1:
            V_CALL(v, GET_WAIT, 0, "waiting get", name, shmstore_get(v->c, name, 60000, &o));
            CHILD_REQUIRE(!"a get of a name nobody puts returned an object");
            break;
        default:
            for (unsigned n = 1 + (unsigned)splitmix_below(&v->rng, 8); n > 0; n--)
                CHILD_REQUIRE(V_CALL(v, GET_WAIT, OK_(ETIMEDOUT), "short get", name,
                                     shmstore_get(v->c, name, 1 + (int)splitmix_below(&v->rng, 5),
                                                  &o)) == SHMSTORE_ETIMEDOUT);
        }
    }
}

/* Gets that hold many pins, released in random order (through the release ring), some on
 * objects that are then deleted while pinned. */
static void sc_hold_pins(struct victim *v)
{
    shmstore_object held[MAX_HELD];
    unsigned n = 0;
    for (unsigned i = 0;; i++) {
        if (i == 8)
            v_ready(v, 0);
        if (n > 0 && (n == MAX_HELD || splitmix_below(&v->rng, 10) >= 6)) {
            unsigned j = (unsigned)splitmix_below(&v->rng, n);
            V_CALL(v, RELEASE, 0, "release", NULL, shmstore_release(v->c, &held[j]));
            held[j] = held[--n];
            continue;
        }
        char name[32];
        bool stable = splitmix_below(&v->rng, 4) != 0;
        snprintf(name, sizeof name, stable ? "stable/%u" : "v/put/%u",
                 (unsigned)splitmix_below(&v->rng, stable ? N_STABLE : 16));
        if (V_CALL(v, GET, OK_(ENOTFOUND), "get", name, shmstore_get(v->c, name, 0, &held[n])))
            continue;
        if (held[n].size <= 256 * KiB)
            CHILD_REQUIRE(object_intact(&held[n]));
        n++;
        if (!stable && splitmix_below(&v->rng, 3) == 0)
            V_CALL(v, DELETE, OK_(ENOTFOUND), "delete", name, shmstore_delete(v->c, name));
    }
}

struct list_count {
    size_t n;
    size_t stop_at; /* 0: never stop early */
    bool dawdle;
};

static int count_entries(const shmstore_object_stat *e, void *arg)
{
    (void)e;
    struct list_count *lc = arg;
    lc->n++;
    if (lc->dawdle && lc->n % 32 == 0)
        sched_yield();
    return lc->stop_at && lc->n == lc->stop_at ? 7 : 0;
}

/* Lists that page through the store, some slowly, some stopped by the callback midway. */
static void sc_list(struct victim *v)
{
    v_ready(v, 0);
    for (;;) {
        bool many = splitmix_below(&v->rng, 2);
        struct list_count lc = {0, 0, splitmix_below(&v->rng, 2)};
        if (splitmix_below(&v->rng, 4) == 0)
            lc.stop_at = 1 + splitmix_below(&v->rng, N_MANY);
        v_phase(v, PH_LIST);
        int rc = shmstore_list(v->c, many ? "many/*" : NULL, count_entries, &lc);
        v_phase(v, PH_IDLE);
        if (rc != (lc.stop_at ? 7 : 0))
            fprintf(stderr, "victim %d: list: %d (%s): %s\n", (int)getpid(), rc,
                    shmstore_errname(rc), shmstore_errmsg(v->c));
        CHILD_REQUIRE(rc == (lc.stop_at ? 7 : 0));
        CHILD_REQUIRE(lc.stop_at ? lc.n == lc.stop_at : many ? lc.n == N_MANY : lc.n >= N_MANY);
    }
}

/* Creates under names of its own, aborted or left unsealed, and creates under a few shared names
 * (REPLACE), sealed and deleted. */
static void sc_abort_delete(struct victim *v)
{
    unsigned left = 0;
    v_ready(v, 0);
    for (;;) {
        size_t size = splitmix_below(&v->rng, 2 * MiB + 1);
        uint64_t seed = splitmix_next(&v->rng);
        void *w;
        uint64_t id;
        char name[64];
        if (splitmix_below(&v->rng, 10) < 7) {
            snprintf(name, sizeof name, "v/tmp/%d/%u", (int)getpid(), v->serial++);
            if (V_CALL(v, CREATE, OK_(ENOSPC), "create", name,
                       shmstore_create(v->c, name, size, &seed, sizeof seed, 0, &w, &id)))
                continue;
            v_phase(v, PH_FILL);
            memset(w, 0x5a, size / 2);
            if (left < MAX_LEFT_UNSEALED && splitmix_below(&v->rng, 4) == 0)
                left++; /* the daemon's to free when this process dies */
            else
                V_CALL(v, ABORT, 0, "abort", name, shmstore_abort(v->c, id));
        } else {
            snprintf(name, sizeof name, "v/del/%u", (unsigned)splitmix_below(&v->rng, 8));
            if (V_CALL(v, CREATE, OK_(ENOSPC), "create", name,
                       shmstore_create(v->c, name, size, &seed, sizeof seed, SHMSTORE_REPLACE, &w,
                                       &id)))
                continue;
            v_phase(v, PH_FILL);
            fill_pattern(w, size, seed);
            V_CALL(v, SEAL, 0, "seal", name, shmstore_seal(v->c, id));
            if (splitmix_below(&v->rng, 2))
                V_CALL(v, DELETE, OK_(ENOTFOUND), "delete", name, shmstore_delete(v->c, name));
        }
    }
}

/* A pin and an unsealed object, held by a process about to fork. */
struct held_before_fork {
    shmstore_object pin;
    uint64_t unsealed; /* id, or 0 */
};

static void hold_before_fork(struct victim *v, struct held_before_fork *h)
{
    char name[64];
    snprintf(name, sizeof name, "stable/%u", (unsigned)splitmix_below(&v->rng, N_STABLE));
    V_CALL(v, GET, 0, "get", name, shmstore_get(v->c, name, 0, &h->pin));
    snprintf(name, sizeof name, "v/tmp/%d/%u", (int)getpid(), v->serial++);
    void *w;
    uint64_t seed = 0;
    if (V_CALL(v, CREATE, OK_(ENOSPC), "create", name,
               shmstore_create(v->c, name, 100 * KiB, &seed, sizeof seed, 0, &w,
                               &h->unsealed)) != 0)
        h->unsealed = 0;
}

/* In a fork child: a few calls on the inherited handle (its first one reconnects), leaving a pin
 * and an unsealed object behind, and sometimes closing the handle first. */
static void forked_child_calls(struct victim *v, const struct held_before_fork *parent)
{
    v->role = 1;
    /* The parent's pin is the parent's; its bytes stay readable here while the parent holds it. */
    if (parent->pin.size <= 256 * KiB)
        CHILD_REQUIRE(object_intact(&parent->pin));
    struct held_before_fork mine;
    hold_before_fork(v, &mine);
    char name[32];
    snprintf(name, sizeof name, "v/put/%u", (unsigned)splitmix_below(&v->rng, 16));
    V_CALL(v, PUT, OK_(ENOSPC), "put", name,
           put_seeded(v->c, name, v->src, (size_t)splitmix_below(&v->rng, 128 * KiB),
                      splitmix_next(&v->rng), SHMSTORE_REPLACE));
    if (splitmix_below(&v->rng, 2)) {
        v_phase(v, PH_CLOSE);
        shmstore_close(v->c);
        v_phase(v, PH_IDLE);
    }
    _exit(0);
}

/* During fork: fork after fork, each child using the inherited handle and exiting. */
static void sc_fork_loop(struct victim *v)
{
    for (;;) {
        struct held_before_fork h;
        hold_before_fork(v, &h);
        v_phase(v, PH_FORK);
        pid_t child = fork();
        v_phase(v, PH_IDLE);
        CHILD_REQUIRE(child >= 0);
        if (child == 0) {
            if (v->msg_fd >= 0)
                close(v->msg_fd);
            v->msg_fd = -1;
            forked_child_calls(v, &h);
        }
        v_ready(v, 0);
        int status;
        v_phase(v, PH_REAP);
        CHILD_REQUIRE(waitpid(child, &status, 0) == child);
        v_phase(v, PH_IDLE);
        CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        V_CALL(v, RELEASE, 0, "release", NULL, shmstore_release(v->c, &h.pin));
        if (h.unsealed)
            V_CALL(v, ABORT, 0, "abort", NULL, shmstore_abort(v->c, h.unsealed));
    }
}

static void sc_fork_family(struct victim *v);

static const struct {
    const char *name;
    void (*run)(struct victim *v);
} scenarios[] = {
    /* The first N_FAMILY_MEMBERS can also be what either side of a forked family does. */
    {"create and fill", sc_create_fill},
    {"put, replace, delete", sc_put_replace},
    {"waiting get", sc_wait_get},
    {"holding pins", sc_hold_pins},
    {"list", sc_list},
    {"abort, delete", sc_abort_delete},
    {"fork loop", sc_fork_loop},
    {"forked family", sc_fork_family},
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])
#define N_FAMILY_MEMBERS 6

/* During fork, and after: a parent holding a pin and an unsealed object forks a child, and both
 * go on, each with its own scenario, on the one handle. The test kills one or both. */
static void sc_fork_family(struct victim *v)
{
    struct held_before_fork h;
    hold_before_fork(v, &h);
    unsigned mine = (unsigned)splitmix_below(&v->rng, N_FAMILY_MEMBERS);
    unsigned childs = (unsigned)splitmix_below(&v->rng, N_FAMILY_MEMBERS);
    v_phase(v, PH_FORK);
    pid_t child = fork();
    v_phase(v, PH_IDLE);
    CHILD_REQUIRE(child >= 0);
    if (child == 0) {
        close(v->msg_fd);
        v->msg_fd = -1;
        v->role = 1;
        v->rng = mix64(v->rng ^ 1);
        scenarios[childs].run(v);
        _exit(4); /* scenarios never return */
    }
    v_ready(v, child);
    scenarios[mine].run(v);
}

static _Noreturn void victim_main(const char *socket, unsigned scenario, uint64_t seed, int msg_fd)
{
    /* Its own process group, so that the test can kill it with all its children. */
    setpgid(0, 0);
    struct victim v = {.rng = seed, .msg_fd = msg_fd};
    v.src = malloc(BIG_MAX);
    CHILD_REQUIRE(v.src);
    V_CALL(&v, CONNECT, 0, "connect", socket, shmstore_connect(socket, &v.c));
    scenarios[scenario].run(&v);
    _exit(4); /* scenarios never return */
}

/* ---- the test's side ----------------------------------------------------------------------- */

static struct test_daemon D;
static shmstore_client *C; /* the watcher */

struct tally {
    unsigned victims_killed;   /* victims dead by SIGKILL (every one must be) */
    unsigned others_killed;    /* their fork children dead by SIGKILL */
    unsigned others_exited;    /* fork children that had finished by themselves */
    unsigned early;            /* killed before saying they were ready */
    unsigned by_scenario[N_SCENARIOS];
    unsigned by_phase[PH_COUNT];       /* what the victim was doing at its death */
    unsigned child_by_phase[PH_COUNT]; /* what a killed fork child was doing */
};

/* Wait `us` microseconds; spin for the shortest, which usleep would round up a lot. */
static void pause_us(double us)
{
    if (us <= 0)
        return;
    if (us >= 200) {
        usleep((useconds_t)us);
        return;
    }
    double until = now_s() + us / 1e6;
    while (now_s() < until)
        ;
}

/* The victim's message, or false when it closed the pipe or said nothing within secs. */
static bool read_msg(int fd, struct msg *m, double secs)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)(secs * 1000)) != 1)
        return false;
    return read(fd, m, sizeof *m) == (ssize_t)sizeof *m && m->tag == 'R';
}

/* Reap every process of the victim's group: the victim, and its fork children (they come back
 * to this process, a subreaper, when their parent dies). The group was sent SIGKILL. */
static void reap_group(struct tally *t, pid_t victim, unsigned round, unsigned sc)
{
    double deadline = now_s() + slack(10);
    for (;;) {
        int status;
        pid_t w = waitpid(-victim, &status, WNOHANG);
        if (w < 0) {
            assert_int_equal(errno, ECHILD); /* all reaped */
            return;
        }
        if (w == 0) {
            if (now_s() > deadline)
                fail_msg("round %u: processes of group %d still alive after SIGKILL", round,
                         (int)victim);
            usleep(100);
            continue;
        }
        bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (w == victim) {
            if (!killed)
                fail_msg("round %u (%s): the victim ended by itself with status 0x%x, not by "
                         "SIGKILL (see its message and the seed above)",
                         round, scenarios[sc].name, status);
            t->victims_killed++;
            t->by_phase[S->phase[0] < PH_COUNT ? S->phase[0] : PH_IDLE]++;
        } else if (killed) {
            t->others_killed++;
            t->child_by_phase[S->phase[1] < PH_COUNT ? S->phase[1] : PH_IDLE]++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            t->others_exited++;
        } else {
            fail_msg("round %u (%s): a fork child of the victim ended with status 0x%x", round,
                     scenarios[sc].name, status);
        }
    }
}

/* One victim, from fork to reaping. */
static void run_round(struct tally *t, uint64_t seed, unsigned round)
{
    uint64_t rng = mix64(seed ^ ((uint64_t)round * UINT64_C(0xd1b54a32d192ed03)));
    /* Every scenario once first, so even a short run covers them all. */
    unsigned sc = round < N_SCENARIOS ? round : (unsigned)splitmix_below(&rng, N_SCENARIOS);
    uint64_t victim_seed = splitmix_next(&rng);
    int p[2];
    assert_int_equal(pipe(p), 0);
    S->phase[0] = S->phase[1] = PH_START;
    pid_t pid = fork_child();
    if (pid == 0) {
        close(p[0]);
        victim_main(D.socket, sc, victim_seed, p[1]);
    }
    close(p[1]);
    (void)setpgid(pid, pid); /* as the victim does itself: whichever runs first */
    t->by_scenario[sc]++;

    /* Delays grow under valgrind, where everything is slower, so kills still land in the work. */
    double scale = slack(1);
    struct msg m = {0, 0};
    uint64_t when = splitmix_below(&rng, 100);
    if (when < 20) {
        /* Before it is ready: in fork, connect, or its first calls. */
        t->early++;
        pause_us(when < 8 ? 0 : (double)splitmix_below(&rng, 3000) * scale);
    } else {
        if (!read_msg(p[0], &m, slack(30))) {
            kill(-pid, SIGKILL);
            reap_group(t, pid, round, sc);
            fail_msg("round %u (%s): the victim never said it was ready", round,
                     scenarios[sc].name);
        }
        uint64_t k = splitmix_below(&rng, 100);
        double us = k < 25   ? 0
                    : k < 50 ? (double)splitmix_below(&rng, 200)
                    : k < 80 ? (double)splitmix_below(&rng, 2000)
                             : 2000 + (double)splitmix_below(&rng, 8000);
        pause_us(us * scale);
    }

    /* In a forked family: the parent, the child, or both; a survivor goes on for a moment. */
    unsigned target = m.child > 0 ? (unsigned)splitmix_below(&rng, 3) : 0;
    if (target != 1)
        assert_int_equal(kill(pid, SIGKILL), 0);
    if (target != 0)
        assert_int_equal(kill(m.child, SIGKILL), 0);
    if (target != 2 && m.child > 0)
        pause_us((double)splitmix_below(&rng, 3000) * scale);
    kill(-pid, SIGKILL); /* whatever is left of the group */
    reap_group(t, pid, round, sc);
    close(p[0]); /* only now: a victim writing to a closed pipe would die of SIGPIPE */
}

/* ---- counters and memory ------------------------------------------------------------------- */

/* Whether the daemon is back to the baseline in everything a client can leave behind. */
static bool settled(const shmstore_store_info *base, shmstore_store_info *now)
{
    *now = info_of(C);
    return now->pins == base->pins && now->unsealed_objects == base->unsealed_objects &&
           now->unsealed_bytes == base->unsealed_bytes &&
           now->deleted_pinned == base->deleted_pinned && now->waiters == base->waiters &&
           now->clients == base->clients;
}

/* The daemon sees a dead client's hang-up, and the releases it queued, asynchronously: poll
 * (bounded) instead of sleeping, then compare field by field for a clear failure. */
static void wait_settled(const shmstore_store_info *base, const char *when)
{
    shmstore_store_info now;
    double t0 = now_s();
    bool ok = WAIT_FOR(settled(base, &now), slack(10));
    fprintf(stderr, "%s: %s after %.3f s\n", when, ok ? "settled" : "NOT SETTLED", now_s() - t0);
    if (!ok) {
        print_store_info("baseline", base);
        print_store_info(when, &now);
    }
    assert_int_equal(now.pins, base->pins);
    assert_int_equal(now.unsealed_objects, base->unsealed_objects);
    assert_int_equal(now.unsealed_bytes, base->unsealed_bytes);
    assert_int_equal(now.deleted_pinned, base->deleted_pinned);
    assert_int_equal(now.waiters, base->waiters);
    assert_int_equal(now.clients, base->clients);
}

struct daemon_mem {
    long private_kib; /* RssAnon: the daemon's heap and other private memory, as far as touched */
    long data_kib;    /* VmData: the same, touched or not (a leaked calloc'd block may not be) */
    int fds;
    int rings;        /* mapped release rings: one per connected client */
};

static struct daemon_mem daemon_mem(void)
{
    struct daemon_mem m;
    m.private_kib = proc_status_kib(D.pid, "RssAnon");
    if (m.private_kib < 0) /* kernels before 4.5 */
        m.private_kib = proc_status_kib(D.pid, "VmRSS");
    m.data_kib = proc_status_kib(D.pid, "VmData");
    m.fds = proc_fd_count(D.pid);
    m.rings = proc_maps_count(D.pid, "shmstore-release-ring");
    assert_true(m.private_kib >= 0 && m.data_kib >= 0 && m.fds >= 0 && m.rings >= 0);
    return m;
}

/* Under valgrind the daemon's memory is valgrind's, and ASan's quarantine and shadow grow with
 * every free: the growth check means nothing there. */
static bool memory_growth_checkable(void)
{
    const char *san = getenv("SANITIZE");
    return !harness_under_valgrind() && (!san || !*san || strcmp(san, "none") == 0);
}

/* ---- the end: every object intact, the victims' ones deleted ------------------------------- */

struct names {
    char (*v)[SHMSTORE_NAME_MAX + 1];
    size_t n, cap;
};

static int collect_name(const shmstore_object_stat *e, void *arg)
{
    struct names *ns = arg;
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? 2 * ns->cap : 256;
        ns->v = realloc(ns->v, ns->cap * sizeof *ns->v);
        if (!ns->v)
            abort();
    }
    memcpy(ns->v[ns->n++], e->name, sizeof e->name);
    return 0;
}

/* Check every object in the store (the victims' too: whatever they sealed, they had filled
 * completely) and delete the victims' ones. Returns how many of those there were. */
static size_t check_and_delete_victims_objects(void)
{
    struct names ns = {0};
    assert_rc(shmstore_list(C, NULL, collect_name, &ns), 0);
    size_t victims = 0;
    for (size_t i = 0; i < ns.n; i++) {
        shmstore_object o;
        assert_rc(shmstore_get(C, ns.v[i], 0, &o), 0);
        if (!object_intact(&o))
            fail_msg("object %s (%zu bytes, id %" PRIu64 ") does not hold what was written",
                     ns.v[i], o.size, o.id);
        assert_rc(shmstore_release(C, &o), 0);
        if (strncmp(ns.v[i], "v/", 2) == 0) {
            assert_rc(shmstore_delete(C, ns.v[i]), 0);
            victims++;
        }
    }
    free(ns.v);
    return victims;
}

/* ---- fixtures and the test ----------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    /* Orphaned fork children of killed victims come back here to be reaped. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return -1;
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED)
        return -1;
    return daemon_client_setup(&D, "256M", &C);
}

static int teardown(void **state)
{
    (void)state;
    munmap(S, sizeof *S);
    return daemon_client_teardown(&D, &C);
}

static uint64_t kill_seed(void)
{
    const char *s = getenv("SHMSTORE_KILL_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return mix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ (uint64_t)getpid();
}

static unsigned kill_rounds(void)
{
    const char *s = getenv("SHMSTORE_KILL_ROUNDS");
    if (s && *s)
        return (unsigned)strtoul(s, NULL, 10);
    return (unsigned)harness_scale(DEFAULT_ROUNDS, 40);
}

static void test_random_kills(void **state)
{
    (void)state;
    uint64_t seed = kill_seed();
    unsigned rounds = kill_rounds();
    assert_true(rounds >= N_SCENARIOS);
    fprintf(stderr, "randomkill: %u rounds, seed %" PRIu64 " (replay: SHMSTORE_KILL_SEED=%" PRIu64
            ")\n", rounds, seed, seed);

    /* What victims read, list and pin; and the bystander's pin, held through every kill. */
    uint8_t *buf = malloc(1 * MiB);
    assert_non_null(buf);
    char name[32];
    for (unsigned i = 0; i < N_MANY; i++) {
        snprintf(name, sizeof name, "many/%04u", i);
        assert_rc(put_seeded(C, name, buf, 64 + i % 200, 1000000 + i, 0), 0);
    }
    static const size_t stable_sizes[] = {0, 1, 100, 4096, 64 * KiB, 64 * KiB + 1, 200 * KiB,
                                          1 * MiB};
    for (unsigned i = 0; i < N_STABLE; i++) {
        snprintf(name, sizeof name, "stable/%u", i);
        assert_rc(put_seeded(C, name, buf, stable_sizes[i % 8], 2000000 + i, 0), 0);
    }
    assert_rc(put_seeded(C, "bystander", buf, 1 * MiB, 3000000, 0), 0);
    free(buf);
    shmstore_client *by = connect_or_fail(D.socket);
    shmstore_object by_pin;
    assert_rc(shmstore_get(by, "bystander", 0, &by_pin), 0);

    /* The baseline: the watcher and the bystander are its two clients, the bystander's its one
     * pin. */
    shmstore_store_info base = info_of(C);
    print_store_info("baseline", &base);
    assert_int_equal(base.clients, 2);
    assert_int_equal(base.pins, 1);
    struct daemon_mem mem_base = daemon_mem();

    unsigned warmup = rounds / 5 < 50 ? (rounds < 50 ? rounds : 50) : rounds / 5;
    struct daemon_mem mem_warm = mem_base;
    static struct tally t;
    memset(&t, 0, sizeof t);
    double t0 = now_s();
    for (unsigned round = 0; round < rounds; round++) {
        run_round(&t, seed, round);
        if (round + 1 == warmup) {
            wait_settled(&base, "after the warm-up");
            mem_warm = daemon_mem();
        }
        if ((round + 1) % 1000 == 0)
            fprintf(stderr, "  %u rounds, %.1f s\n", round + 1, now_s() - t0);
    }
    double took = now_s() - t0;
    wait_settled(&base, "after the last kill");
    /* Polled too, in case the daemon holds a descriptor for a moment (say, to notify systemd). */
    struct daemon_mem mem_end;
    (void)WAIT_FOR((mem_end = daemon_mem(), mem_end.fds == mem_base.fds &&
                                                mem_end.rings == mem_base.rings),
                   slack(2));

    fprintf(stderr, "%u victims killed by SIGKILL in %.1f s (%u before they were ready), and "
            "%u of their fork children (%u more had exited by themselves)\n",
            t.victims_killed, took, t.early, t.others_killed, t.others_exited);
    unsigned in_call = 0;
    for (unsigned i = 0; i < N_SCENARIOS; i++)
        fprintf(stderr, "  scenario %-22s %5u\n", scenarios[i].name, t.by_scenario[i]);
    for (unsigned p = 0; p < PH_COUNT; p++) {
        if (t.by_phase[p] || t.child_by_phase[p])
            fprintf(stderr, "  killed %-38s %5u victims, %5u fork children\n",
                    phase_info[p].text, t.by_phase[p], t.child_by_phase[p]);
        if (phase_info[p].in_call)
            in_call += t.by_phase[p] + t.child_by_phase[p];
    }
    fprintf(stderr, "daemon: RssAnon %ld kB at the start, %ld after %u rounds of warm-up, %ld at "
            "the end; VmData %ld, %ld, %ld kB; %d fds and %d release rings at the start, %d "
            "and %d at the end\n",
            mem_base.private_kib, mem_warm.private_kib, warmup, mem_end.private_kib,
            mem_base.data_kib, mem_warm.data_kib, mem_end.data_kib, mem_base.fds,
            mem_base.rings, mem_end.fds, mem_end.rings);

    /* Every round's victim died by the test's SIGKILL, and the kills hit the library. */
    assert_int_equal(t.victims_killed, rounds);
    for (unsigned i = 0; i < N_SCENARIOS; i++)
        assert_true(t.by_scenario[i] > 0);
    assert_true(in_call > 0);

    /* Nothing of the dead stays in the daemon: connections, rings, memory. */
    assert_int_equal(mem_end.fds, mem_base.fds);
    assert_int_equal(mem_end.rings, mem_base.rings);
    if (memory_growth_checkable()) {
        assert_true(mem_end.private_kib <= mem_warm.private_kib + MEMORY_SLACK_KIB);
        assert_true(mem_end.data_kib <= mem_warm.data_kib + MEMORY_SLACK_KIB);
    } else {
        fprintf(stderr, "memory growth not checked (valgrind or a sanitizer build)\n");
    }

    /* What they sealed is intact; deleted, the store is back at its baseline. */
    size_t left = check_and_delete_victims_objects();
    shmstore_store_info end = info_of(C);
    fprintf(stderr, "%zu objects sealed by victims were intact and deleted\n", left);
    print_store_info("end", &end);
    assert_int_equal(end.used_bytes, base.used_bytes);
    assert_int_equal(end.objects, base.objects);
    assert_int_equal(end.pins, base.pins);
    assert_int_equal(end.deleted_pinned, 0);

    /* The bystander noticed nothing. */
    assert_true(object_intact(&by_pin));
    assert_int_equal(pins_of(C, "bystander"), 1);
    assert_rc(shmstore_release(by, &by_pin), 0);
    shmstore_close(by);
    assert_true(WAIT_FOR(info_of(C).clients == 1, slack(5)));
    end = info_of(C);
    assert_int_equal(end.pins, 0);
    assert_int_equal(end.unsealed_objects, 0);
    assert_int_equal(end.waiters, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_kills, setup, teardown),
    };
    return cmocka_run_group_tests_name("integration.randomkill", tests, NULL, NULL);
}
