/*
 * capacity.c — shmstore-bench-capacity: what a store that is full, or holds a million objects,
 * costs (see tests/bench/README.md, "Capacity"; run it with tests/bench/run_capacity.sh).
 *
 * Like shmstore-bench-durable it starts its own daemons (the path in --shmstored), pinned to one
 * CPU as taskset would, with the config each measurement needs:
 *
 *  evict    puts per second of 4 KiB objects under new names into a full store with evict = lru
 *           (every put deletes the least recently used object to make room), against the same
 *           puts into an empty store, in alternating batches; both placements (this process on
 *           the daemons' CPU, and on another);
 *  objects  the daemon's private memory (RssAnon in /proc/PID/status) per object after putting
 *           N small objects (1M by default: 16-byte names, 64-byte payloads), against the same
 *           daemon before the puts. Sizes, not times: the machine's load does not change them.
 */
#define _GNU_SOURCE
#include "shmstore.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB (1024ull)
#define MiB (1024ull * KiB)

#define EVICT_SIZE (4 * KiB)
#define EVICT_STORE "64M"
#define EVICT_BATCH 2000
#define SMALL_SIZE 64
#define MAX_ROUNDS 32

static struct {
    const char *shmstored;
    int daemon_cpu;
    int rounds;
    unsigned long objects;
    const char *only;
} opt = {.daemon_cpu = 0, .rounds = 9, .objects = 1000000};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shmstore-bench-capacity: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        die("cannot pin to cpu %d: %s", cpu, strerror(errno));
}

struct daemon {
    pid_t pid;
    char dir[64], sock[96], conf[96];
    shmstore_client *c;
};

/* Start shmstored with `config` as its config file, pinned to the daemons' CPU, and connect. */
static void daemon_start(struct daemon *d, const char *config)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/shmstore-capbench-XXXXXX");
    if (!mkdtemp(d->dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(d->sock, sizeof d->sock, "%s/s.sock", d->dir);
    snprintf(d->conf, sizeof d->conf, "%s/shmstored.conf", d->dir);
    FILE *f = fopen(d->conf, "w");
    if (!f || fputs(config, f) < 0 || fclose(f) != 0)
        die("cannot write %s", d->conf);
    d->pid = fork();
    if (d->pid < 0)
        die("fork: %s", strerror(errno));
    if (d->pid == 0) {
        pin(0, opt.daemon_cpu);
        execl(opt.shmstored, "shmstored", "-s", d->sock, "-c", d->conf, "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    for (int tries = 0; shmstore_connect(d->sock, &d->c) != 0; tries++) {
        if (tries > 400 || waitpid(d->pid, NULL, WNOHANG) == d->pid)
            die("shmstored did not start (%s)", shmstore_errmsg(NULL));
        usleep(25000);
    }
}

static void daemon_stop(struct daemon *d)
{
    shmstore_close(d->c);
    kill(d->pid, SIGTERM);
    int status;
    waitpid(d->pid, &status, 0);
    unlink(d->conf);
    rmdir(d->dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("shmstored did not stop cleanly");
}

static long status_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Puts per second of one batch of 4 KiB objects under new names. */
static double put_batch(shmstore_client *c, const char *prefix, unsigned long *next)
{
    static unsigned char payload[EVICT_SIZE];
    char name[64];
    uint64_t t0 = now_ns();
    for (int i = 0; i < EVICT_BATCH; i++) {
        snprintf(name, sizeof name, "%s/%lu", prefix, (*next)++);
        payload[0] = (unsigned char)i;
        if (shmstore_put(c, name, payload, sizeof payload, NULL, 0, 0) != 0)
            die("put %s: %s", name, shmstore_errmsg(c));
    }
    return EVICT_BATCH / ((double)(now_ns() - t0) / 1e9);
}

static void bench_evict(void)
{
    struct daemon full, empty;
    daemon_start(&full, "memory = " EVICT_STORE "\nsegment_size = " EVICT_STORE "\n"
                        "evict = lru\n");
    daemon_start(&empty, "memory = 2G\nsegment_size = 1G\n");
    /* Fill the cache-mode store until it evicts. */
    unsigned long next_full = 0, next_empty = 0;
    shmstore_store_info info;
    do {
        put_batch(full.c, "fill", &next_full);
        if (shmstore_info(full.c, &info) != 0)
            die("info: %s", shmstore_errmsg(full.c));
    } while (info.evicted_deletions == 0);
    const int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    const struct { const char *name; int cpu; } places[2] = {
        {"same core", opt.daemon_cpu}, {"other core", (opt.daemon_cpu + 1) % ncpu}};
    printf("%-34s %-10s %14s %14s %8s %8s\n", "measurement", "placement", "full, lru",
           "empty store", "ratio", "target");
    for (int p = 0; p < (ncpu > 1 ? 2 : 1); p++) {
        pin(0, places[p].cpu);
        put_batch(full.c, "warm", &next_full);
        put_batch(empty.c, "warm", &next_empty);
        double a[MAX_ROUNDS], b[MAX_ROUNDS], q[MAX_ROUNDS];
        for (int r = 0; r < opt.rounds; r++) {
            /* Alternate which goes first, so a busy spell weighs on both. */
            if (r % 2) {
                b[r] = put_batch(empty.c, "e", &next_empty);
                a[r] = put_batch(full.c, "f", &next_full);
            } else {
                a[r] = put_batch(full.c, "f", &next_full);
                b[r] = put_batch(empty.c, "e", &next_empty);
            }
            q[r] = a[r] / b[r];
        }
        double qa = median(q, opt.rounds), ma = median(a, opt.rounds), mb = median(b, opt.rounds);
        printf("%-34s %-10s %12.0f/s %12.0f/s %8.2f %8s  %s\n", "put 4 KiB, new names",
               places[p].name, ma, mb, qa, ">= 0.70", qa >= 0.7 ? "PASS" : "MISS");
    }
    if (shmstore_info(full.c, &info) != 0)
        die("info: %s", shmstore_errmsg(full.c));
    printf("  (the full store deleted %llu objects to make room; it holds %llu)\n",
           (unsigned long long)info.evicted_deletions, (unsigned long long)info.objects);
    daemon_stop(&full);
    daemon_stop(&empty);
}

static void bench_objects(void)
{
    struct daemon d;
    daemon_start(&d, "memory = 2G\n");
    const long before = status_kib(d.pid, "RssAnon");
    static unsigned char payload[SMALL_SIZE];
    char name[64];
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < opt.objects; i++) {
        snprintf(name, sizeof name, "obj/%012lu", i);   /* 16 bytes */
        if (shmstore_put(d.c, name, payload, sizeof payload, NULL, 0, 0) != 0)
            die("put %s: %s", name, shmstore_errmsg(d.c));
    }
    const double fill_s = (double)(now_ns() - t0) / 1e9;
    const long after = status_kib(d.pid, "RssAnon");
    const double per_object = (double)(after - before) * 1024.0 / (double)opt.objects;
    printf("%-34s %lu objects: daemon RssAnon %ld KiB before, %ld KiB after: %.0f bytes per "
           "object (target <= 256: %s); filled in %.1f s\n", "bookkeeping", opt.objects, before,
           after, per_object, per_object <= 256 ? "PASS" : "MISS", fill_s);
    daemon_stop(&d);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"shmstored", required_argument, NULL, 's'}, {"daemon-cpu", required_argument, NULL, 'c'},
        {"rounds", required_argument, NULL, 'r'},    {"objects", required_argument, NULL, 'n'},
        {"only", required_argument, NULL, 'o'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 's': opt.shmstored = optarg; break;
        case 'c': opt.daemon_cpu = atoi(optarg); break;
        case 'r': opt.rounds = atoi(optarg); break;
        case 'n': opt.objects = strtoul(optarg, NULL, 10); break;
        case 'o': opt.only = optarg; break;
        default:
            printf("usage: shmstore-bench-capacity --shmstored PATH [--daemon-cpu N] "
                   "[--rounds N] [--objects N] [--only evict|objects]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (!opt.shmstored)
        die("--shmstored PATH is required");
    if (opt.rounds < 1 || opt.rounds > MAX_ROUNDS)
        die("--rounds must be 1 to %d", MAX_ROUNDS);
    if (!opt.only || strcmp(opt.only, "evict") == 0)
        bench_evict();
    if (!opt.only || strcmp(opt.only, "objects") == 0)
        bench_objects();
    return 0;
}
