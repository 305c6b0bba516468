/*
 * bench.c — shmstore-bench: how fast shmstore is, as ratios against baselines measured in the
 * same run (see tests/bench/README.md; run it with tests/bench/run.sh).
 *
 * Machines here are shared and noisy, so no figure stands alone: each is measured beside its
 * baseline, in alternating batches (A then B, then B then A, ...) so that a slow spell of the
 * machine hits both, and compared by medians over many samples after a warm-up. Every latency
 * and bandwidth figure is taken in two placements, because waking another core costs far more
 * than a context switch on the same one: the client pinned to the daemon's core, and to another.
 *
 * Baselines live here, not in the library:
 *  - a raw Unix-socket round trip: a socketpair to a forked echo process pinned where the daemon
 *    is, with frames the size of a GET request and reply;
 *  - memcpy of the same size into private memory that was already touched (page tables filled),
 *    from the same touched source buffer the put copies from.
 *
 * The daemon is found through SO_PEERCRED on its socket (or --daemon-pid) and pinned to one CPU
 * with sched_setaffinity if it is not pinned already; this process pins itself per placement.
 */
#define _GNU_SOURCE
#include "shmstore.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

#define SMALL_SIZE (1 * KiB)
#define BIG_SIZE (1 * GiB)
#define BULK_SIZE (256 * MiB)
/* A GET request for a name like "bench-12345/small" is ~26 bytes with its frame header, the
 * reply ~30: the echo baseline moves frames of that size. */
#define ECHO_REQ 32
#define ECHO_REP 32

/* ---- options and small helpers ------------------------------------------------------------- */

static struct {
    const char *socket;
    pid_t daemon_pid;
    int daemon_cpu;     /* -1: find out */
    int client_cpu;     /* -1: both placements */
    int quick;
    int json;
    const char *only;
} opt = {.daemon_cpu = -1, .client_cpu = -1};

/* Iteration counts, set from --quick. */
static struct {
    int lat_warm, lat_rounds, lat_batch;
    int bw_warm, bw_rounds;
    int cold_rounds;
    int scale_cycles;       /* at most 16 */
    double scale_seconds;   /* one window */
} n;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shmstore-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int selected(const char *name)
{
    if (!opt.only)
        return 1;
    size_t len = strlen(name);
    for (const char *p = opt.only; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && memcmp(p, name, l) == 0)
            return 1;
        p += l + (comma != NULL);
    }
    return 0;
}

static void check(int rc, shmstore_client *c, const char *what)
{
    if (rc)
        die("%s: %s (%s)", what, shmstore_strerror(rc), shmstore_errmsg(c));
}

/* ---- CPU placement ------------------------------------------------------------------------- */

static int pin_tid(pid_t tid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set);
}

static void pin_self(int cpu)
{
    if (pin_tid(0, cpu) != 0)
        die("cannot pin this process to cpu %d: %s", cpu, strerror(errno));
}

/* Pin every thread of pid (the daemon is single-threaded, but be thorough). */
static int pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return pin_tid(pid, cpu);
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && pin_tid((pid_t)atoi(e->d_name), cpu) != 0)
            rc = -1;
    closedir(d);
    return rc;
}

static pid_t daemon_pid_from_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    struct ucred cred = {.pid = -1};
    socklen_t len = sizeof cred;
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        cred.pid = -1;
    if (fd >= 0)
        close(fd);
    return cred.pid;
}

struct placement {
    const char *name;
    int cpu;
};
static struct placement placements[2];
static int nplacements;

/* ---- statistics ---------------------------------------------------------------------------- */

struct stats {
    double p10, p50, p90;
    int count;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double quantile(const uint64_t *sorted, int count, double q)
{
    double pos = q * (count - 1);
    int i = (int)pos;
    if (i + 1 >= count)
        return (double)sorted[count - 1];
    return (double)sorted[i] + (pos - i) * ((double)sorted[i + 1] - (double)sorted[i]);
}

static struct stats stats_of(uint64_t *samples, int count)
{
    qsort(samples, (size_t)count, sizeof *samples, cmp_u64);
    return (struct stats){quantile(samples, count, 0.10), quantile(samples, count, 0.50),
                          quantile(samples, count, 0.90), count};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_double(double *v, int count)
{
    qsort(v, (size_t)count, sizeof *v, cmp_double);
    return count % 2 ? v[count / 2] : (v[count / 2 - 1] + v[count / 2]) / 2;
}

static double median_u64(const uint64_t *v, int count)
{
    uint64_t *copy = malloc(sizeof *copy * (size_t)count);
    if (!copy)
        die("out of memory");
    memcpy(copy, v, sizeof *copy * (size_t)count);
    double m = stats_of(copy, count).p50;
    free(copy);
    return m;
}

/* The ratio of times a/b as the median, over rounds, of the ratio of that round's medians: each
 * round's two batches ran back to back, so a busy spell of the machine weighs on both sides of
 * each ratio instead of skewing one side of a ratio of overall medians. Call before stats_of,
 * which sorts the samples. */
static double paired_ratio(const uint64_t *a, const uint64_t *b, int rounds, int batch)
{
    double *r = malloc(sizeof *r * (size_t)rounds);
    if (!r)
        die("out of memory");
    for (int i = 0; i < rounds; i++)
        r[i] = median_u64(a + (size_t)i * (size_t)batch, batch) /
               median_u64(b + (size_t)i * (size_t)batch, batch);
    double m = median_double(r, rounds);
    free(r);
    return m;
}

/* ---- result rows --------------------------------------------------------------------------- */

enum unit { U_LATENCY, U_BANDWIDTH, U_RATE };

struct row {
    char measurement[48];
    const char *placement;
    enum unit unit;
    double value, v10, v90;         /* us, GiB/s or ops/s; v10/v90 NAN when not sampled */
    char baseline[40];
    double base, b10, b90;
    double ratio;                   /* value / base */
    char target_op;                 /* '<', '>' or 0 (no target: information) */
    double target;
    int samples;
};

static struct row rows[64];
static int nrows;

static struct row *add_row(const char *measurement, const char *placement, enum unit unit,
                           const char *baseline)
{
    if (nrows == (int)(sizeof rows / sizeof rows[0]))
        die("too many rows");
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->measurement, sizeof r->measurement, "%s", measurement);
    r->placement = placement;
    r->unit = unit;
    snprintf(r->baseline, sizeof r->baseline, "%s", baseline);
    r->v10 = r->v90 = r->b10 = r->b90 = NAN;
    return r;
}

/* time_ratio: paired_ratio of the value's times to the baseline's. */
static void set_latency(struct row *r, struct stats v, struct stats b, double time_ratio)
{
    r->value = v.p50 / 1e3, r->v10 = v.p10 / 1e3, r->v90 = v.p90 / 1e3;
    r->base = b.p50 / 1e3, r->b10 = b.p10 / 1e3, r->b90 = b.p90 / 1e3;
    r->ratio = time_ratio;
    r->samples = v.count;
}

/* Times in ns per copy of size bytes -> GiB/s; the slow tail of times is the low tail of speed. */
static void set_bandwidth(struct row *r, size_t size, struct stats v, struct stats b,
                          double time_ratio)
{
    double g = (double)size / (double)GiB * 1e9;
    r->value = g / v.p50, r->v10 = g / v.p90, r->v90 = g / v.p10;
    r->base = g / b.p50, r->b10 = g / b.p90, r->b90 = g / b.p10;
    r->ratio = 1 / time_ratio;
    r->samples = v.count;
}

static const char *result_of(const struct row *r)
{
    if (!r->target_op)
        return "info";
    int ok = r->target_op == '<' ? r->ratio <= r->target : r->ratio >= r->target;
    return ok ? "PASS" : "MISS";
}

static void fmt_value(char *buf, size_t len, enum unit u, double v, double lo, double hi)
{
    const char *unit = u == U_LATENCY ? "us" : u == U_BANDWIDTH ? "GiB/s" : "ops/s";
    int prec = u == U_RATE ? 0 : u == U_LATENCY && v >= 100 ? 1 : 2;
    if (isnan(lo))
        snprintf(buf, len, "%.*f %s", prec, v, unit);
    else
        snprintf(buf, len, "%.*f %s [%.*f-%.*f]", prec, v, unit, prec, lo, prec, hi);
}

static void print_table(void)
{
    printf("%-30s %-10s %-28s %-22s %-28s %6s %7s  %s\n", "measurement", "placement",
           "value [p10-p90]", "baseline", "baseline value [p10-p90]", "ratio", "target",
           "result");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        char v[48], b[48], t[16] = "-";
        fmt_value(v, sizeof v, r->unit, r->value, r->v10, r->v90);
        fmt_value(b, sizeof b, r->unit, r->base, r->b10, r->b90);
        if (r->target_op)
            snprintf(t, sizeof t, "%s %.2f", r->target_op == '<' ? "<=" : ">=", r->target);
        printf("%-30s %-10s %-28s %-22s %-28s %6.2f %7s  %s\n", r->measurement, r->placement, v,
               r->baseline, b, r->ratio, t, result_of(r));
    }
}

static void json_num(const char *key, double v, int comma)
{
    if (isnan(v))
        printf("\"%s\":null%s", key, comma ? "," : "");
    else
        printf("\"%s\":%.6g%s", key, v, comma ? "," : "");
}

static void print_json(const char *machine)
{
    printf("{\"machine\":\"%s\",\"rows\":[", machine);
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        printf("%s\n{\"measurement\":\"%s\",\"placement\":\"%s\",\"unit\":\"%s\",", i ? "," : "",
               r->measurement, r->placement,
               r->unit == U_LATENCY ? "us" : r->unit == U_BANDWIDTH ? "GiB/s" : "ops/s");
        json_num("value", r->value, 1), json_num("p10", r->v10, 1), json_num("p90", r->v90, 1);
        printf("\"baseline\":\"%s\",", r->baseline);
        json_num("baseline_value", r->base, 1), json_num("baseline_p10", r->b10, 1);
        json_num("baseline_p90", r->b90, 1), json_num("ratio", r->ratio, 1);
        if (r->target_op)
            printf("\"target\":\"%s %.2f\",", r->target_op == '<' ? "<=" : ">=", r->target);
        else
            printf("\"target\":null,");
        printf("\"samples\":%d,\"result\":\"%s\"}", r->samples, result_of(r));
    }
    printf("\n]}\n");
}

/* ---- operations and the alternating runner ------------------------------------------------- */

typedef void (*op_fn)(void *ctx);

struct op {
    op_fn fn;
    void *ctx;
    uint64_t *samples;  /* rounds * batch */
};

/* Run the operations in alternating batches, the starting one rotating each round (A,B / B,A or
 * A,B,C / B,C,A / ...), after a warm-up of each; record the time of every operation. */
static void run_interleaved(struct op *ops, int nops, int warm, int rounds, int batch)
{
    for (int i = 0; i < warm; i++)
        for (int k = 0; k < nops; k++)
            ops[k].fn(ops[k].ctx);
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < nops; j++) {
            struct op *o = &ops[(r + j) % nops];
            uint64_t *s = o->samples + (size_t)r * (size_t)batch;
            for (int i = 0; i < batch; i++) {
                uint64_t t0 = now_ns();
                o->fn(o->ctx);
                s[i] = now_ns() - t0;
            }
        }
    }
}

static void run_pair(op_fn a, void *actx, op_fn b, void *bctx, int warm, int rounds, int batch,
                     uint64_t *sa, uint64_t *sb)
{
    struct op ops[2] = {{a, actx, sa}, {b, bctx, sb}};
    run_interleaved(ops, 2, warm, rounds, batch);
}

/* The echo baseline speaks in frames of [length byte][reply wanted?][padding]: a "request" of
 * ECHO_REQ bytes gets a reply of ECHO_REP bytes, a "one-way" frame of 8 bytes (the size of a
 * RELEASE) gets none. Like the daemon, the echo process reads whatever has arrived, answers every
 * whole frame in it, and goes back to sleep. */
static int echo_fd = -1;

static void full_io(int fd, void *buf, size_t len, int writing)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t k = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("echo socket: %s", k < 0 ? strerror(errno) : "closed");
        p += k;
        len -= (size_t)k;
    }
}

static void op_round_trip(void *ctx)
{
    (void)ctx;
    uint8_t req[ECHO_REQ] = {ECHO_REQ, 1}, rep[ECHO_REP];
    full_io(echo_fd, req, sizeof req, 1);
    full_io(echo_fd, rep, sizeof rep, 0);
}

static void op_round_trip_one_way(void *ctx)
{
    op_round_trip(ctx);
    uint8_t msg[8] = {8, 0};
    full_io(echo_fd, msg, sizeof msg, 1);
}

static void start_echo(int cpu)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(sv[0]);
        pin_self(cpu);
        uint8_t in[4096], rep[ECHO_REP] = {ECHO_REP};
        size_t have = 0;
        for (;;) {
            ssize_t k = recv(sv[1], in + have, sizeof in - have, 0);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                _exit(0);
            have += (size_t)k;
            size_t at = 0;
            while (have - at >= 2 && in[at] >= 2 && have - at >= in[at]) {
                if (in[at + 1])
                    full_io(sv[1], rep, sizeof rep, 1);
                at += in[at];
            }
            memmove(in, in + at, have - at);
            have -= at;
        }
    }
    close(sv[1]);
    echo_fd = sv[0];
}

struct get_ctx {
    shmstore_client *c;
    const char *name;
};

static void op_get_release(void *ctx)
{
    struct get_ctx *g = ctx;
    shmstore_object o;
    check(shmstore_get(g->c, g->name, 0, &o), g->c, "get");
    (void)*(volatile const uint8_t *)o.data;   /* the payload is there to be read in place */
    check(shmstore_release(g->c, &o), g->c, "release");
}

struct bulk_ctx {
    shmstore_client *c;
    const char *name;
    const uint8_t *src;
    uint8_t *dst;
    size_t size;
};

static void op_memcpy(void *ctx)
{
    struct bulk_ctx *b = ctx;
    memcpy(b->dst, b->src, b->size);
    __asm__ volatile("" ::: "memory");
}

static void op_put(void *ctx)
{
    struct bulk_ctx *b = ctx;
    check(shmstore_put(b->c, b->name, b->src, b->size, NULL, 0, SHMSTORE_REPLACE), b->c, "put");
}

static void op_create_fill_seal(void *ctx)
{
    struct bulk_ctx *b = ctx;
    void *dst;
    uint64_t id;
    check(shmstore_create(b->c, b->name, b->size, NULL, 0, SHMSTORE_REPLACE, &dst, &id), b->c,
          "create");
    memcpy(dst, b->src, b->size);
    check(shmstore_seal(b->c, id), b->c, "seal");
}

/* ---- the measurements ---------------------------------------------------------------------- */

static char name_small[64], name_big[64], name_put[64], name_create[64];

static uint64_t *alloc_samples(int count)
{
    uint64_t *s = malloc(sizeof *s * (size_t)count);
    if (!s)
        die("out of memory");
    return s;
}

static uint8_t *bulk_src, *bulk_dst;

static void bulk_buffers(void)
{
    if (bulk_src)
        return;
    bulk_src = mmap(NULL, BULK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bulk_dst = mmap(NULL, BULK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bulk_src == MAP_FAILED || bulk_dst == MAP_FAILED)
        die("cannot allocate 2 x 256 MiB: %s", strerror(errno));
    for (size_t i = 0; i < BULK_SIZE; i += 4096)
        memset(bulk_src + i, (int)(i >> 12), 4096);
    /* The baseline writes into touched memory, and it must stay touched: fork() (the cold and
     * scale measurements fork) would make every page copy-on-write, and the next memcpy would
     * fault on each. */
    madvise(bulk_dst, BULK_SIZE, MADV_DONTFORK);
    memset(bulk_dst, 0, BULK_SIZE);
}

/* 1. get+release of a 1 KiB object against a raw socket round trip; beside it, for the analysis,
 * a round trip followed by a one-way message: the floor of a protocol whose release is a frame of
 * its own. */
static void bench_get(shmstore_client *c)
{
    int count = n.lat_rounds * n.lat_batch;
    uint64_t *sa = alloc_samples(count), *sb = alloc_samples(count), *sc = alloc_samples(count);
    struct get_ctx g = {c, name_small};
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        struct op ops[3] = {{op_get_release, &g, sa}, {op_round_trip, NULL, sb},
                            {op_round_trip_one_way, NULL, sc}};
        run_interleaved(ops, 3, n.lat_warm, n.lat_rounds, n.lat_batch);
        double q = paired_ratio(sa, sb, n.lat_rounds, n.lat_batch);
        double q1 = paired_ratio(sa, sc, n.lat_rounds, n.lat_batch);
        struct stats get = stats_of(sa, count), rtt = stats_of(sb, count);
        struct stats rtt1 = stats_of(sc, count);
        struct row *r = add_row("get+release 1 KiB", placements[p].name, U_LATENCY,
                                "socket round trip");
        set_latency(r, get, rtt, q);
        r->target_op = '<', r->target = 1.5;
        r = add_row("get+release 1 KiB", placements[p].name, U_LATENCY, "round trip + 1-way msg");
        set_latency(r, get, rtt1, q1);
        note("get: %s done", placements[p].name);
    }
    free(sa);
    free(sb);
    free(sc);
}

/* 2. get+release of a 1 GiB object against the 1 KiB one. */
static void bench_big(shmstore_client *c)
{
    /* Filling the object is timed too: on a fresh daemon (run.sh) these are the arena's first
     * writes, which show what the start-up reservation leaves to the first put. */
    note("filling a 1 GiB object");
    bulk_buffers();
    pin_self(placements[0].cpu);
    uint64_t t0 = now_ns();
    void *obj;
    uint64_t id;
    check(shmstore_create(c, name_big, BIG_SIZE, NULL, 0, SHMSTORE_REPLACE, &obj, &id), c,
          "create");
    for (size_t off = 0; off < BIG_SIZE; off += BULK_SIZE)
        memcpy((uint8_t *)obj + off, bulk_src, BULK_SIZE);
    check(shmstore_seal(c, id), c, "seal");
    uint64_t fill = now_ns() - t0, copies[3];
    struct bulk_ctx base = {c, NULL, bulk_src, bulk_dst, BULK_SIZE};
    for (int i = 0; i < 3; i++) {
        t0 = now_ns();
        op_memcpy(&base);
        copies[i] = now_ns() - t0;
    }
    struct row *first = add_row("create+fill+seal 1 GiB, 1st", placements[0].name, U_BANDWIDTH,
                                "memcpy, touched dst");
    struct stats one = {NAN, (double)fill / (BIG_SIZE / BULK_SIZE), NAN, 1};
    struct stats copy = stats_of(copies, 3);
    set_bandwidth(first, BULK_SIZE, one, copy, one.p50 / copy.p50);

    int count = n.lat_rounds * n.lat_batch;
    uint64_t *sa = alloc_samples(count), *sb = alloc_samples(count);
    struct get_ctx big = {c, name_big}, small = {c, name_small};
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        run_pair(op_get_release, &big, op_get_release, &small, n.lat_warm, n.lat_rounds,
                 n.lat_batch, sa, sb);
        struct row *r = add_row("get+release 1 GiB", placements[p].name, U_LATENCY,
                                "get+release 1 KiB");
        double q = paired_ratio(sa, sb, n.lat_rounds, n.lat_batch);
        set_latency(r, stats_of(sa, count), stats_of(sb, count), q);
        r->target_op = '<', r->target = 1.2;
        note("big: %s done", placements[p].name);
    }
    check(shmstore_delete(c, name_big), c, "delete");
    free(sa);
    free(sb);
}

/* 3 and 4. put, and create + fill + seal, of 256 MiB against memcpy of 256 MiB. */
static void bench_bulk(shmstore_client *c, const char *measurement, op_fn op, const char *name,
                       char target_op)
{
    bulk_buffers();
    uint64_t *sa = alloc_samples(n.bw_rounds), *sb = alloc_samples(n.bw_rounds);
    struct bulk_ctx store = {c, name, bulk_src, NULL, BULK_SIZE};
    struct bulk_ctx base = {c, name, bulk_src, bulk_dst, BULK_SIZE};
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        run_pair(op, &store, op_memcpy, &base, n.bw_warm, n.bw_rounds, 1, sa, sb);
        struct row *r = add_row(measurement, placements[p].name, U_BANDWIDTH,
                                "memcpy, touched dst");
        double q = paired_ratio(sa, sb, n.bw_rounds, 1);
        set_bandwidth(r, BULK_SIZE, stats_of(sa, n.bw_rounds), stats_of(sb, n.bw_rounds), q);
        r->target_op = target_op, r->target = 0.8;
        note("%s: %s done", measurement, placements[p].name);
    }
    check(shmstore_delete(c, name), c, "delete");
    free(sa);
    free(sb);
}

/* The same two, but each in a fresh client process whose arena mapping has no page tables yet:
 * what the first put of a worker costs. One operation per child; the child reports its time. */
static void bench_cold(void)
{
    bulk_buffers();
    op_fn ops[2] = {op_put, op_create_fill_seal};
    const char *labels[2] = {"put 256 MiB, new client", "create+fill+seal, new client"};
    int rounds = n.cold_rounds;
    uint64_t *sa = alloc_samples(rounds), *sb = alloc_samples(rounds);
    struct bulk_ctx base = {NULL, NULL, bulk_src, bulk_dst, BULK_SIZE};
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        for (int k = 0; k < 2; k++) {
            for (int r = 0; r < rounds; r++) {
                int pfd[2];
                if (pipe(pfd) != 0)
                    die("pipe: %s", strerror(errno));
                pid_t pid = fork();
                if (pid < 0)
                    die("fork: %s", strerror(errno));
                if (pid == 0) {
                    prctl(PR_SET_PDEATHSIG, SIGKILL);
                    shmstore_client *cc;
                    if (shmstore_connect(opt.socket, &cc) != 0)
                        _exit(2);
                    struct bulk_ctx b = {cc, name_put, bulk_src, NULL, BULK_SIZE};
                    uint64_t t0 = now_ns();
                    ops[k](&b);
                    uint64_t t = now_ns() - t0;
                    shmstore_close(cc);
                    _exit(write(pfd[1], &t, sizeof t) == sizeof t ? 0 : 3);
                }
                close(pfd[1]);
                ssize_t got = read(pfd[0], &sa[r], sizeof sa[r]);
                close(pfd[0]);
                int status;
                waitpid(pid, &status, 0);
                if (got != sizeof sa[r] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    die("cold %s: child failed", labels[k]);
                uint64_t t0 = now_ns();
                op_memcpy(&base);
                sb[r] = now_ns() - t0;
            }
            struct row *row = add_row(labels[k], placements[p].name, U_BANDWIDTH,
                                      "memcpy, touched dst");
            double q = paired_ratio(sa, sb, rounds, 1);
            set_bandwidth(row, BULK_SIZE, stats_of(sa, rounds), stats_of(sb, rounds), q);
            note("cold %s: %s done", labels[k], placements[p].name);
        }
    }
    free(sa);
    free(sb);
}

/* 5. get+release per second with 1, 2 and 4 client processes, each with its own connection,
 * all pinned to the placement's CPU; against raw round trips per second for one client, and
 * then against the one-client figure. */
struct scale_result {
    uint64_t ops, elapsed_ns;
};

static double run_clients(int clients, double seconds)
{
    int ready[2], go[2], res[2];
    if (pipe(ready) || pipe(go) || pipe(res))
        die("pipe: %s", strerror(errno));
    pid_t pids[8];
    for (int i = 0; i < clients; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(ready[0]), close(go[1]), close(res[0]);
            shmstore_client *c;
            if (shmstore_connect(opt.socket, &c) != 0)
                _exit(2);
            struct get_ctx g = {c, name_small};
            for (int k = 0; k < n.lat_warm / 4 + 1; k++)
                op_get_release(&g);
            char byte = 1;
            if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1)
                _exit(3);
            uint64_t t0 = now_ns(), stop = t0 + (uint64_t)(seconds * 1e9), t;
            struct scale_result r = {0, 0};
            do {
                op_get_release(&g);
                r.ops++;
            } while ((t = now_ns()) < stop);
            r.elapsed_ns = t - t0;
            shmstore_close(c);
            _exit(write(res[1], &r, sizeof r) == sizeof r ? 0 : 3);
        }
    }
    close(ready[1]), close(go[0]), close(res[1]);
    char buf[8];
    for (int i = 0; i < clients; i++)
        if (read(ready[0], buf, 1) != 1)
            die("a client process failed to start");
    memset(buf, 1, sizeof buf);
    if (write(go[1], buf, (size_t)clients) != clients)
        die("cannot start the clients");
    double total = 0;
    for (int i = 0; i < clients; i++) {
        struct scale_result r;
        if (read(res[0], &r, sizeof r) != sizeof r)
            die("a client process failed");
        total += (double)r.ops / ((double)r.elapsed_ns / 1e9);
    }
    for (int i = 0; i < clients; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("a client process exited badly");
    }
    close(ready[0]), close(go[1]), close(res[0]);
    return total;
}

static double round_trips_per_second(double seconds)
{
    uint64_t t0 = now_ns(), stop = t0 + (uint64_t)(seconds * 1e9), t, trips = 0;
    do {
        op_round_trip(NULL);
        trips++;
    } while ((t = now_ns()) < stop);
    return (double)trips / ((double)(t - t0) / 1e9);
}

/* Short windows in cycles (round trips, 1, 2, 4 clients; again ...), so that the load of the
 * machine weighs on every figure alike; medians over cycles, ratios paired within a cycle. */
static void bench_scale(void)
{
    enum { MAX_CYCLES = 16 };
    static const int counts[3] = {1, 2, 4};
    int cycles = n.scale_cycles;
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        for (int k = 0; k < n.lat_warm; k++)
            op_round_trip(NULL);
        double rtt[MAX_CYCLES], rate[3][MAX_CYCLES], q[3][MAX_CYCLES];
        for (int cyc = 0; cyc < cycles; cyc++) {
            rtt[cyc] = round_trips_per_second(n.scale_seconds);
            for (int k = 0; k < 3; k++)
                rate[k][cyc] = run_clients(counts[k], n.scale_seconds);
            q[0][cyc] = rate[0][cyc] / rtt[cyc];
            q[1][cyc] = rate[1][cyc] / rate[0][cyc];
            q[2][cyc] = rate[2][cyc] / rate[0][cyc];
        }
        double one = median_double(rate[0], cycles);
        for (int k = 0; k < 3; k++) {
            char label[48];
            snprintf(label, sizeof label, "get+release/s, %d client%s", counts[k],
                     counts[k] > 1 ? "s" : "");
            struct row *r = add_row(label, placements[p].name, U_RATE,
                                    k == 0 ? "round trips/s, 1 client" : "get+release/s, 1 client");
            r->value = median_double(rate[k], cycles);
            r->base = k == 0 ? median_double(rtt, cycles) : one;
            r->ratio = median_double(q[k], cycles);
            r->samples = cycles;
        }
        note("scale: %s done", placements[p].name);
    }
}

/* 6. The watch stream: how many events per second one watcher receives.
 *
 * A watcher process (its own connection, pinned to the placement's CPU like the producer) counts
 * the events of its pattern and, at each round's stop marker, reports the count and the time of
 * the last event through a pipe. Two ways of making events, each beside its baseline:
 *  - puts: this process puts (replace) small objects in turn under WATCH_NAMES names, one round
 *    trip each; the figure is events received per second from the first put to the last event,
 *    the baseline the same loop of puts under names the watcher does not match (so the daemon
 *    still checks its pattern: the cost of a watcher elsewhere stays in both);
 *  - bulk: WATCH_BULK objects (put untimed) deleted by one DELETE_MATCHING; the figure is events
 *    per second from the request to the last DELETED event received, the baseline round trips
 *    per second (PING): how many events the daemon delivers in the time one request takes. */
#define WATCH_NAMES 256
#define WATCH_BULK 4000

struct watch_report {
    uint64_t events;
    uint64_t last_ns;   /* CLOCK_MONOTONIC of the last event before the marker */
};

static int watch_report_fd = -1;
static struct watch_report watch_round;

static int count_event(const shmstore_event *ev, void *arg)
{
    const char *stop = arg;
    if ((ev->kind == SHMSTORE_EVENT_SEALED || ev->kind == SHMSTORE_EVENT_REPLACED) &&
        strcmp(ev->name, stop) == 0) {
        if (write(watch_report_fd, &watch_round, sizeof watch_round) != sizeof watch_round)
            _exit(1);
        watch_round = (struct watch_report){0};
        return 0;
    }
    if (ev->kind == SHMSTORE_EVENT_LOST)
        die("the watcher lost %llu events", (unsigned long long)ev->count);
    watch_round.events++;
    watch_round.last_ns = now_ns();
    return 0;
}

/* The watcher: subscribed (its snapshot end written to the pipe as a zero report) before the
 * first round. */
static pid_t start_watcher(int cpu, const char *pattern, const char *stop, int *report_fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        pin_self(cpu);
        watch_report_fd = fds[1];
        shmstore_client *w;
        if (shmstore_connect(opt.socket, &w) != 0)
            _exit(1);
        shmstore_watch_flags(w, pattern, 0, count_event, (void *)stop);
        _exit(0);   /* the parent closed the connection's daemon, or killed us */
    }
    close(fds[1]);
    *report_fd = fds[0];
    return pid;
}

static struct watch_report await_report(int fd)
{
    struct watch_report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = read(fd, (char *)&r + got, sizeof r - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            die("the watcher is gone");
        got += (size_t)k;
    }
    return r;
}

static void put_small(shmstore_client *c, const char *prefix, unsigned i)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%u", prefix, i % WATCH_NAMES);
    check(shmstore_put(c, name, "event", 5, NULL, 0, SHMSTORE_REPLACE), c, "put");
}

static void bench_watch(shmstore_client *c)
{
    enum { MAX_ROUNDS = 32 };
    const int rounds = n.lat_rounds < MAX_ROUNDS ? n.lat_rounds : MAX_ROUNDS;
    const int puts = n.lat_batch * 4;
    int me = (int)getpid();
    char watched[48], unwatched[48], pattern[56], stop[64], bulk_pattern[64];
    snprintf(watched, sizeof watched, "benchw-%d/put", me);
    snprintf(unwatched, sizeof unwatched, "benchu-%d/put", me);
    snprintf(pattern, sizeof pattern, "benchw-%d/*", me);
    snprintf(stop, sizeof stop, "benchw-%d/stop", me);
    snprintf(bulk_pattern, sizeof bulk_pattern, "benchw-%d/bulk/*", me);
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        int report_fd;
        pid_t watcher = start_watcher(placements[p].cpu, pattern, stop, &report_fd);
        /* Subscribed once a first marker comes back (it may take a few tries: the watcher's
         * WATCH may come after this put). */
        for (int k = 0;; k++) {
            check(shmstore_put(c, stop, "", 0, NULL, 0, SHMSTORE_REPLACE), c, "put");
            struct pollfd pf = {report_fd, POLLIN, 0};
            if (poll(&pf, 1, 100) == 1) {
                /* Markers put before this one may still be told: take them all. */
                while (poll(&pf, 1, 50) == 1)
                    await_report(report_fd);
                break;
            }
            if (k == 100)
                die("the watcher does not subscribe");
        }
        double events_rate[MAX_ROUNDS], puts_rate[MAX_ROUNDS], q[MAX_ROUNDS];
        double bulk_rate[MAX_ROUNDS], ping_rate[MAX_ROUNDS], qb[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            for (int j = 0; j < 2; j++) {
                if ((r + j) % 2 == 0) {
                    uint64_t t0 = now_ns();
                    for (int i = 0; i < puts; i++)
                        put_small(c, watched, (unsigned)i);
                    check(shmstore_put(c, stop, "", 0, NULL, 0, SHMSTORE_REPLACE), c, "put");
                    struct watch_report rep = await_report(report_fd);
                    events_rate[r] = (double)rep.events / ((double)(rep.last_ns - t0) / 1e9);
                } else {
                    uint64_t t0 = now_ns();
                    for (int i = 0; i < puts; i++)
                        put_small(c, unwatched, (unsigned)i);
                    puts_rate[r] = puts / ((double)(now_ns() - t0) / 1e9);
                }
            }
            q[r] = events_rate[r] / puts_rate[r];
            /* Bulk: the objects first (their SEALED events counted in a round of their own). */
            char name[80];
            for (unsigned i = 0; i < WATCH_BULK; i++) {
                snprintf(name, sizeof name, "benchw-%d/bulk/%u", me, i);
                check(shmstore_put(c, name, "b", 1, NULL, 0, 0), c, "put");
            }
            check(shmstore_put(c, stop, "", 0, NULL, 0, SHMSTORE_REPLACE), c, "put");
            await_report(report_fd);
            uint64_t deleted = 0, t0 = now_ns();
            check(shmstore_delete_matching(c, bulk_pattern, &deleted), c, "delete_matching");
            check(shmstore_put(c, stop, "", 0, NULL, 0, SHMSTORE_REPLACE), c, "put");
            struct watch_report rep = await_report(report_fd);
            if (rep.events != WATCH_BULK || deleted != WATCH_BULK)
                die("bulk: %llu deleted, the watcher saw %llu events",
                    (unsigned long long)deleted, (unsigned long long)rep.events);
            bulk_rate[r] = (double)rep.events / ((double)(rep.last_ns - t0) / 1e9);
            t0 = now_ns();
            for (int i = 0; i < puts; i++)
                check(shmstore_ping(c), c, "ping");
            ping_rate[r] = puts / ((double)(now_ns() - t0) / 1e9);
            qb[r] = bulk_rate[r] / ping_rate[r];
        }
        kill(watcher, SIGKILL);
        waitpid(watcher, NULL, 0);
        close(report_fd);
        struct row *row = add_row("watch events/s, puts", placements[p].name, U_RATE,
                                  "puts/s, no watcher");
        row->value = median_double(events_rate, rounds);
        row->base = median_double(puts_rate, rounds);
        row->ratio = median_double(q, rounds);
        row->samples = rounds;
        row = add_row("watch events/s, bulk delete", placements[p].name, U_RATE,
                      "round trips/s (PING)");
        row->value = median_double(bulk_rate, rounds);
        row->base = median_double(ping_rate, rounds);
        row->ratio = median_double(qb, rounds);
        row->samples = rounds;
        note("watch: %s done", placements[p].name);
    }
    char stop_pattern[64];
    snprintf(stop_pattern, sizeof stop_pattern, "benchw-%d/*", me);
    shmstore_delete_matching(c, stop_pattern, NULL);
    snprintf(stop_pattern, sizeof stop_pattern, "benchu-%d/*", me);
    shmstore_delete_matching(c, stop_pattern, NULL);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("Usage: shmstore-bench [--socket PATH] [--daemon-pid PID] [--daemon-cpu N]\n"
          "                      [--client-cpu N] [--quick] [--only LIST] [--json]\n"
          "Measure shmstore against baselines taken in the same run (see tests/bench/README.md).\n"
          "  --socket PATH     daemon socket (default: as shmstore_connect(NULL))\n"
          "  --daemon-pid PID  the daemon's pid (default: from SO_PEERCRED on the socket)\n"
          "  --daemon-cpu N    pin the daemon to cpu N (default: keep its single cpu, else the\n"
          "                    first cpu this process may use)\n"
          "  --client-cpu N    run only the placement with this process on cpu N\n"
          "                    (default: both, same core as the daemon and another core)\n"
          "  --quick           few iterations: a smoke run, figures are rough\n"
          "  --only LIST       comma-separated subset of: get,big,put,create,cold,scale,watch\n"
          "  --json            print the results as JSON instead of a table\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"daemon-pid", required_argument, NULL, 'p'},
        {"daemon-cpu", required_argument, NULL, 'd'}, {"client-cpu", required_argument, NULL, 'c'},
        {"quick", no_argument, NULL, 'q'},           {"only", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.socket = optarg; break;
        case 'p': opt.daemon_pid = (pid_t)atoi(optarg); break;
        case 'd': opt.daemon_cpu = atoi(optarg); break;
        case 'c': opt.client_cpu = atoi(optarg); break;
        case 'q': opt.quick = 1; break;
        case 'o': opt.only = optarg; break;
        case 'j': opt.json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    for (const char *p = opt.only; p && *p;) {
        static const char *const known[] = {"get",  "big",   "put",  "create",
                                            "cold", "scale", "watch"};
        size_t l = strcspn(p, ",");
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strlen(known[k]) == l && memcmp(known[k], p, l) == 0;
        if (!ok) {
            fprintf(stderr, "shmstore-bench: --only: unknown measurement '%.*s'\n", (int)l, p);
            return 2;
        }
        p += l + (p[l] == ',');
    }
    if (opt.quick)
        n = (typeof(n)){.lat_warm = 200, .lat_rounds = 6, .lat_batch = 200, .bw_warm = 3,
                        .bw_rounds = 3, .cold_rounds = 2, .scale_cycles = 2,
                        .scale_seconds = 0.15};
    else
        n = (typeof(n)){.lat_warm = 2000, .lat_rounds = 20, .lat_batch = 1000, .bw_warm = 4,
                        .bw_rounds = 15, .cold_rounds = 5, .scale_cycles = 5,
                        .scale_seconds = 0.5};

    char sockbuf[108];
    if (!opt.socket) {
        if (shmstore_default_socket(sockbuf, sizeof sockbuf) != 0)
            die("no default socket path");
        opt.socket = sockbuf;
    }

    /* Where the daemon runs, and the two placements. */
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        die("sched_getaffinity: %s", strerror(errno));
    if (!opt.daemon_pid)
        opt.daemon_pid = daemon_pid_from_socket(opt.socket);
    if (opt.daemon_pid <= 0)
        die("cannot find the daemon's pid on %s (is shmstored running?)", opt.socket);
    if (opt.daemon_cpu < 0) {
        cpu_set_t theirs;
        if (sched_getaffinity(opt.daemon_pid, sizeof theirs, &theirs) == 0 &&
            CPU_COUNT(&theirs) == 1) {
            for (int i = 0; i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &theirs))
                    opt.daemon_cpu = i;
        } else {
            for (int i = 0; i < CPU_SETSIZE && opt.daemon_cpu < 0; i++)
                if (CPU_ISSET(i, &mine))
                    opt.daemon_cpu = i;
        }
    }
    if (pin_process(opt.daemon_pid, opt.daemon_cpu) != 0)
        die("cannot pin the daemon (pid %d) to cpu %d: %s", (int)opt.daemon_pid, opt.daemon_cpu,
            strerror(errno));
    int other = -1;
    for (int i = 0; i < CPU_SETSIZE && other < 0; i++)
        if (CPU_ISSET(i, &mine) && i != opt.daemon_cpu)
            other = i;
    if (opt.client_cpu >= 0) {
        placements[nplacements++] = (struct placement){
            opt.client_cpu == opt.daemon_cpu ? "same core" : "other core", opt.client_cpu};
    } else {
        placements[nplacements++] = (struct placement){"same core", opt.daemon_cpu};
        if (other >= 0)
            placements[nplacements++] = (struct placement){"other core", other};
        else
            note("only one cpu available: the other-core placement is skipped");
    }

    struct utsname u;
    uname(&u);
    char model[128] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[256];
        while (fgets(line, sizeof line, ci))
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                snprintf(model, sizeof model, "%.120s", colon ? colon + 2 : line);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        fclose(ci);
    }
    char machine[512], other_text[32] = "";
    if (other >= 0)
        snprintf(other_text, sizeof other_text, ", other core = cpu %d", other);
    snprintf(machine, sizeof machine, "%ld cpus online (%d usable), %s %s, %s; daemon pid %d on "
             "cpu %d%s%s", sysconf(_SC_NPROCESSORS_ONLN), CPU_COUNT(&mine), u.sysname, u.release,
             model, (int)opt.daemon_pid, opt.daemon_cpu, other_text,
             opt.quick ? "; QUICK run (rough figures)" : "");

    start_echo(opt.daemon_cpu);
    shmstore_client *c;
    int rc = shmstore_connect(opt.socket, &c);
    if (rc)
        die("connect %s: %s (%s)", opt.socket, shmstore_strerror(rc), shmstore_errmsg(NULL));

    int me = (int)getpid();
    snprintf(name_small, sizeof name_small, "bench-%d/small", me);
    snprintf(name_big, sizeof name_big, "bench-%d/big", me);
    snprintf(name_put, sizeof name_put, "bench-%d/put", me);
    snprintf(name_create, sizeof name_create, "bench-%d/create", me);
    uint8_t small[SMALL_SIZE];
    memset(small, 0x42, sizeof small);
    check(shmstore_put(c, name_small, small, sizeof small, NULL, 0, SHMSTORE_REPLACE), c, "put");

    if (selected("get"))
        bench_get(c);
    if (selected("big"))
        bench_big(c);
    if (selected("put"))
        bench_bulk(c, "put 256 MiB", op_put, name_put, '>');
    if (selected("create"))
        bench_bulk(c, "create+fill+seal 256 MiB", op_create_fill_seal, name_create, 0);
    if (selected("cold")) {
        bench_cold();
        check(shmstore_delete(c, name_put), c, "delete");
    }
    if (selected("scale"))
        bench_scale();
    if (selected("watch"))
        bench_watch(c);

    shmstore_delete(c, name_small);
    shmstore_close(c);
    close(echo_fd);
    wait(NULL);

    if (opt.json) {
        print_json(machine);
    } else {
        printf("shmstore-bench: %s\n", machine);
        printf("value, baseline: medians after warm-up [p10-p90]; each measured beside its baseline "
               "in alternating batches;\nratio: median over rounds of value/baseline within a "
               "round (time ratio for latencies, speed ratio for bandwidths and rates)\n\n");
        print_table();
    }
    return 0;
}
