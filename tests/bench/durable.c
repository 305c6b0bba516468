/*
 * durable.c — shmstore-bench-durable: how fast durable objects are, as ratios against plain file
 * I/O measured in the same run on the same file system (see tests/bench/README.md, "Durable
 * objects"; run it with tests/bench/run_durable.sh).
 *
 * Unlike shmstore-bench, this program starts and restarts shmstored itself, because two of its
 * measurements are about a restart. Every daemon gets a fresh data directory under --dir, which
 * also holds the baseline files, so the store and its baselines share one file system. The daemon
 * is pinned to one CPU (sched_setaffinity before exec, as taskset does; its writer thread
 * inherits it), and the client side runs in two placements: on the daemon's CPU and on another.
 *
 *  put      durable put of 256 MiB under durability = sync (answered once on disk) against
 *           write() of the same bytes to a new file in the data directory and one fsync;
 *  seals    sync seals per second of 4 KiB durable objects from 8 writer threads, each with its
 *           own connection, against write 4 KiB + fsync per second of one file (group commit);
 *  restore  the first get of a 256 MiB durable object after a restart, its file dropped from the
 *           page cache, against reading a file of that size cold;
 *  restart  start of a daemon whose catalogue holds N durable 64-byte objects (1M by default)
 *           until it answers a ping, its peak RSS and the data directory's size, against a start
 *           with an empty data directory; the fill (async durability, several connections) is
 *           timed too.
 *
 * Disks are noisier than memory: each figure and its baseline alternate, and ratios are medians
 * over rounds of the ratio within a round.
 */
#define _GNU_SOURCE
#include "shmstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

#define BULK_SIZE (256 * MiB)
#define SEAL_SIZE (4 * KiB)
#define SEAL_WRITERS 8
#define SMALL_SIZE 64
#define IO_CHUNK (8 * MiB)
#define MAX_ROUNDS 16

/* ---- options and small helpers ------------------------------------------------------------- */

static struct {
    const char *shmstored;
    const char *dir;
    int daemon_cpu;
    int other_cpu;      /* -1: none */
    int quick;
    const char *only;
    long objects;       /* restart: durable objects in the catalogue */
    double fill_limit;  /* restart: stop filling after this many seconds (0: no limit) */
    int fill_threads;
    int keep;           /* keep the data directories */
} opt = {.daemon_cpu = 0, .other_cpu = -1, .objects = 1000000, .fill_threads = 4};

static struct {
    int put_rounds;
    int seal_cycles;
    double seal_seconds;
    int restore_rounds;
    int restart_rounds;
} n;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shmstore-bench-durable: ", stderr);
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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int selected(const char *name)
{
    if (!opt.only)
        return 1;
    size_t len = strlen(name);
    for (const char *p = opt.only; *p;) {
        size_t l = strcspn(p, ",");
        if (l == len && memcmp(p, name, l) == 0)
            return 1;
        p += l + (p[l] == ',');
    }
    return 0;
}

static void check(int rc, shmstore_client *c, const char *what)
{
    if (rc)
        die("%s: %s (%s)", what, shmstore_strerror(rc), shmstore_errmsg(c));
}

static void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("cannot pin to cpu %d: %s", cpu, strerror(errno));
}

static void path_join(char *buf, size_t len, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        die("path too long: %s/%s", dir, name);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int count)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, sizeof *v * (size_t)count);
    qsort(s, (size_t)count, sizeof *s, cmp_double);
    return count % 2 ? s[count / 2] : (s[count / 2 - 1] + s[count / 2]) / 2;
}

static double min_of(const double *v, int count)
{
    double m = v[0];
    for (int i = 1; i < count; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double max_of(const double *v, int count)
{
    double m = v[0];
    for (int i = 1; i < count; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* ---- files --------------------------------------------------------------------------------- */

static void write_all(int fd, const void *buf, size_t len, const char *what)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len > IO_CHUNK ? IO_CHUNK : len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write %s: %s", what, w < 0 ? strerror(errno) : "nothing written");
        p += w;
        len -= (size_t)w;
    }
}

/* Write size bytes of buf to a new file and fsync it once: the baseline of a durable put. */
static void write_file_synced(const char *path, const void *buf, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    write_all(fd, buf, size, path);
    if (fsync(fd) != 0)
        die("fsync %s: %s", path, strerror(errno));
    close(fd);
}

/* Read the whole file into buf (at least its size): the baseline of a restore. */
static void read_file(const char *path, void *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open %s: %s", path, strerror(errno));
    uint8_t *p = buf;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got > IO_CHUNK ? IO_CHUNK : size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size)
        die("%s: %zu bytes, expected %zu", path, got, size);
}

/* Make a file cold: its dirty pages written, then every page of it dropped from the cache. */
static void drop_from_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot open %s: %s", path, strerror(errno));
    if (fsync(fd) != 0)
        die("fsync %s: %s", path, strerror(errno));
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc != 0)
        die("posix_fadvise %s: %s", path, strerror(rc));
    close(fd);
}

static void drop_dir_from_cache(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        die("cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            path_join(path, sizeof path, dir, e->d_name);
            drop_from_cache(path);
        }
    closedir(d);
}

struct du {
    uint64_t files, bytes, disk_bytes;
};

static void disk_usage(const char *dir, struct du *u)
{
    DIR *d = opendir(dir);
    if (!d)
        die("cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        path_join(path, sizeof path, dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        u->disk_bytes += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            disk_usage(path, u);
        } else {
            u->files++;
            u->bytes += (uint64_t)st.st_size;
        }
    }
    closedir(d);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        path_join(path, sizeof path, dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- the daemon ---------------------------------------------------------------------------- */

struct daemon {
    char name[32];
    char data_dir[4096], socket[4096], config[4096], log[4096];
    const char *memory;
    int reserve;
    pid_t pid;
    uint64_t start_ns;      /* fork */
    uint64_t ready_ns;      /* first ping answered */
};

/* A daemon of its own data directory DIR/NAME-data, socket, config file and log under --dir. */
static void daemon_init(struct daemon *d, const char *name, const char *memory, int reserve,
                        const char *config_text)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->memory = memory;
    d->reserve = reserve;
    char leaf[64];
    snprintf(leaf, sizeof leaf, "%s-data", name);
    path_join(d->data_dir, sizeof d->data_dir, opt.dir, leaf);
    snprintf(leaf, sizeof leaf, "%s.sock", name);
    path_join(d->socket, sizeof d->socket, opt.dir, leaf);
    snprintf(leaf, sizeof leaf, "%s.conf", name);
    path_join(d->config, sizeof d->config, opt.dir, leaf);
    snprintf(leaf, sizeof leaf, "%s.log", name);
    path_join(d->log, sizeof d->log, opt.dir, leaf);
    remove_tree(d->data_dir);
    FILE *f = fopen(d->config, "w");
    if (!f || fputs(config_text, f) < 0 || fclose(f) != 0)
        die("cannot write %s: %s", d->config, strerror(errno));
}

static void dump_log(const struct daemon *d)
{
    FILE *f = fopen(d->log, "r");
    if (!f)
        return;
    fprintf(stderr, "---- shmstored log (%s) ----\n", d->log);
    char line[1024];
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

static int ping(const char *socket)
{
    shmstore_client *c;
    if (shmstore_connect(socket, &c) != 0)
        return -1;
    int rc = shmstore_ping(c);
    shmstore_close(c);
    return rc;
}

/* Start the daemon pinned to the daemon CPU and wait until it answers a ping. */
static void daemon_start(struct daemon *d)
{
    unlink(d->socket);
    d->start_ns = now_ns();
    d->pid = fork();
    if (d->pid < 0)
        die("fork: %s", strerror(errno));
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd >= 0)
            dup2(fd, 2);
        pin_self(opt.daemon_cpu);
        char *argv[] = {(char *)opt.shmstored, "-c", d->config, "-s", d->socket, "-d",
                        d->data_dir, "-m", (char *)d->memory,
                        d->reserve ? "--reserve" : "--no-reserve", "--log-level", "warn", NULL};
        execv(opt.shmstored, argv);
        fprintf(stderr, "cannot run %s: %s\n", opt.shmstored, strerror(errno));
        _exit(127);
    }
    for (;;) {
        if (ping(d->socket) == 0)
            break;
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            dump_log(d);
            die("shmstored (%s) exited at start", d->name);
        }
        if (now_ns() - d->start_ns > 1800 * 1000000000ull) {
            kill(d->pid, SIGKILL);
            die("shmstored (%s) did not answer within 30 minutes", d->name);
        }
        sleep_ms(1);
    }
    d->ready_ns = now_ns();
}

static void daemon_stop(struct daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    int status;
    if (waitpid(d->pid, &status, 0) != d->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        dump_log(d);
        die("shmstored (%s) did not stop cleanly", d->name);
    }
    d->pid = 0;
}

static void daemon_remove(struct daemon *d)
{
    daemon_stop(d);
    if (!opt.keep)
        remove_tree(d->data_dir);
    unlink(d->config);
    unlink(d->log);
}

/* VmHWM of a live process, in bytes. */
static uint64_t peak_rss(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib * KiB;
}

static shmstore_client *connect_to(const struct daemon *d)
{
    shmstore_client *c;
    int rc = shmstore_connect(d->socket, &c);
    if (rc)
        die("connect %s: %s (%s)", d->socket, shmstore_strerror(rc), shmstore_errmsg(NULL));
    return c;
}

/* ---- result rows --------------------------------------------------------------------------- */

struct row {
    char measurement[48];
    const char *placement;
    char value[48];
    char baseline[40];
    char base[48];
    double ratio;       /* NAN: none */
    char target_op;     /* '<', '>' or 0 (information) */
    double target;
};

static struct row rows[32];
static int nrows;

static struct row *add_row(const char *measurement, const char *placement, const char *baseline)
{
    if (nrows == (int)(sizeof rows / sizeof rows[0]))
        die("too many rows");
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->measurement, sizeof r->measurement, "%s", measurement);
    r->placement = placement;
    snprintf(r->baseline, sizeof r->baseline, "%s", baseline);
    r->ratio = NAN;
    return r;
}

/* value [min-max] of per-round figures, with unit. */
static void fmt_spread(char *buf, size_t len, const double *v, int count, int prec,
                       const char *unit)
{
    if (count == 1)
        snprintf(buf, len, "%.*f %s", prec, v[0], unit);
    else
        snprintf(buf, len, "%.*f %s [%.*f-%.*f]", prec, median(v, count), unit, prec,
                 min_of(v, count), prec, max_of(v, count));
}

static const char *result_of(const struct row *r)
{
    if (!r->target_op || isnan(r->ratio))
        return "info";
    int ok = r->target_op == '<' ? r->ratio <= r->target : r->ratio >= r->target;
    return ok ? "PASS" : "MISS";
}

static void print_table(void)
{
    printf("%-32s %-10s %-30s %-26s %-30s %6s %7s  %s\n", "measurement", "placement",
           "value [min-max]", "baseline", "baseline value [min-max]", "ratio", "target",
           "result");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        char t[16] = "-", q[16] = "-";
        if (r->target_op)
            snprintf(t, sizeof t, "%s %.2f", r->target_op == '<' ? "<=" : ">=", r->target);
        if (!isnan(r->ratio))
            snprintf(q, sizeof q, "%.2f", r->ratio);
        printf("%-32s %-10s %-30s %-26s %-30s %6s %7s  %s\n", r->measurement, r->placement,
               r->value, r->baseline, r->base, q, t, result_of(r));
    }
}

/* ---- placements ---------------------------------------------------------------------------- */

struct placement {
    const char *name;
    int cpu;
};
static struct placement placements[2];
static int nplacements;

static uint8_t *bulk_src, *bulk_dst;

static void bulk_buffers(void)
{
    if (bulk_src)
        return;
    bulk_src = mmap(NULL, BULK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bulk_dst = mmap(NULL, BULK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bulk_src == MAP_FAILED || bulk_dst == MAP_FAILED)
        die("cannot allocate 2 x 256 MiB: %s", strerror(errno));
    /* Not all one byte, so nothing along the way can make it cheaper than real data. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < BULK_SIZE; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(bulk_src + i, &x, 8);
    }
    memset(bulk_dst, 0, BULK_SIZE);
}

/* ---- a. durable put of 256 MiB ------------------------------------------------------------- */

static void bench_put(void)
{
    bulk_buffers();
    struct daemon d;
    daemon_init(&d, "put", "1G", 1, "durability = sync\n");
    daemon_start(&d);
    shmstore_client *c = connect_to(&d);
    char base_path[4096];
    path_join(base_path, sizeof base_path, d.data_dir, "baseline.bin");
    const char *name = "durable-bench/put";
    int rounds = n.put_rounds;
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        double ours[MAX_ROUNDS], base[MAX_ROUNDS], q[MAX_ROUNDS];
        /* Round -1 is the warm-up; then alternate which side goes first. */
        for (int r = -1; r < rounds; r++) {
            double t_ours = 0, t_base = 0;
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0)) {
                    uint64_t t0 = now_ns();
                    check(shmstore_put(c, name, bulk_src, BULK_SIZE, NULL, 0, SHMSTORE_PERSIST),
                          c, "durable put");
                    t_ours = (double)(now_ns() - t0) / 1e9;
                    check(shmstore_delete(c, name), c, "delete");
                } else {
                    uint64_t t0 = now_ns();
                    write_file_synced(base_path, bulk_src, BULK_SIZE);
                    t_base = (double)(now_ns() - t0) / 1e9;
                    unlink(base_path);
                }
            }
            if (r < 0)
                continue;
            ours[r] = (double)BULK_SIZE / GiB / t_ours;
            base[r] = (double)BULK_SIZE / GiB / t_base;
            q[r] = t_base / t_ours;
        }
        struct row *row = add_row("durable put 256 MiB (sync)", placements[p].name,
                                  "write+fsync, one file");
        fmt_spread(row->value, sizeof row->value, ours, rounds, 2, "GiB/s");
        fmt_spread(row->base, sizeof row->base, base, rounds, 2, "GiB/s");
        row->ratio = median(q, rounds);
        row->target_op = '>', row->target = 0.8;
        note("put: %s done", placements[p].name);
    }
    shmstore_close(c);
    daemon_remove(&d);
}

/* ---- b. sync seals per second from 8 writers ----------------------------------------------- */

struct sealer {
    pthread_t thread;
    int index;
    shmstore_client *c;
    pthread_barrier_t *start, *end;
    const volatile int *stop;
    const volatile uint64_t *deadline;
    const volatile int *cpu;
    uint64_t seals, elapsed_ns;
};

static void *sealer_main(void *arg)
{
    struct sealer *s = arg;
    uint8_t payload[SEAL_SIZE];
    memset(payload, 0x5a ^ s->index, sizeof payload);
    char name[64];
    snprintf(name, sizeof name, "durable-bench/seal-%d", s->index);
    for (;;) {
        pthread_barrier_wait(s->start);
        if (*s->stop)
            break;
        pin_self(*s->cpu);
        uint64_t t0 = now_ns(), end = *s->deadline, t, count = 0;
        do {
            check(shmstore_put(s->c, name, payload, sizeof payload, NULL, 0,
                               SHMSTORE_PERSIST | SHMSTORE_REPLACE), s->c, "durable put 4 KiB");
            count++;
        } while ((t = now_ns()) < end);
        s->seals = count;
        s->elapsed_ns = t - t0;
        pthread_barrier_wait(s->end);
    }
    return NULL;
}

/* write 4 KiB + fsync to one file, as often as possible for `seconds`: fsyncs per second. */
static double fsyncs_per_second(const char *path, double seconds)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    uint8_t block[SEAL_SIZE];
    memset(block, 0xa5, sizeof block);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), t, count = 0;
    do {
        write_all(fd, block, sizeof block, path);
        if (fsync(fd) != 0)
            die("fsync %s: %s", path, strerror(errno));
        count++;
    } while ((t = now_ns()) < end);
    close(fd);
    unlink(path);
    return (double)count / ((double)(t - t0) / 1e9);
}

static void bench_seals(void)
{
    struct daemon d;
    daemon_init(&d, "seals", "256M", 1, "durability = sync\n");
    daemon_start(&d);
    char base_path[4096];
    path_join(base_path, sizeof base_path, d.data_dir, "baseline.bin");
    pthread_barrier_t start, end;
    pthread_barrier_init(&start, NULL, SEAL_WRITERS + 1);
    pthread_barrier_init(&end, NULL, SEAL_WRITERS + 1);
    volatile int stop = 0, cpu = placements[0].cpu;
    volatile uint64_t deadline = 0;
    struct sealer s[SEAL_WRITERS];
    for (int i = 0; i < SEAL_WRITERS; i++) {
        s[i] = (struct sealer){.index = i, .c = connect_to(&d), .start = &start, .end = &end,
                               .stop = &stop, .deadline = &deadline, .cpu = &cpu};
        if (pthread_create(&s[i].thread, NULL, sealer_main, &s[i]) != 0)
            die("cannot start a writer thread");
    }
    int cycles = n.seal_cycles;
    for (int p = 0; p < nplacements; p++) {
        pin_self(placements[p].cpu);
        cpu = placements[p].cpu;
        double ours[MAX_ROUNDS], base[MAX_ROUNDS], q[MAX_ROUNDS];
        for (int r = -1; r < cycles; r++) {
            double rate = 0, fsyncs = 0;
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0)) {
                    deadline = now_ns() + (uint64_t)(n.seal_seconds * 1e9);
                    pthread_barrier_wait(&start);
                    pthread_barrier_wait(&end);
                    rate = 0;
                    for (int i = 0; i < SEAL_WRITERS; i++)
                        rate += (double)s[i].seals / ((double)s[i].elapsed_ns / 1e9);
                } else {
                    fsyncs = fsyncs_per_second(base_path, n.seal_seconds);
                }
            }
            if (r < 0)
                continue;
            ours[r] = rate, base[r] = fsyncs, q[r] = rate / fsyncs;
        }
        char label[48];
        snprintf(label, sizeof label, "sync seals/s, 4 KiB, %d writers", SEAL_WRITERS);
        struct row *row = add_row(label, placements[p].name, "write 4 KiB+fsync/s, 1 file");
        fmt_spread(row->value, sizeof row->value, ours, cycles, 0, "/s");
        fmt_spread(row->base, sizeof row->base, base, cycles, 0, "/s");
        row->ratio = median(q, cycles);
        row->target_op = '>', row->target = 4;
        note("seals: %s done", placements[p].name);
    }
    stop = 1;
    pthread_barrier_wait(&start);
    for (int i = 0; i < SEAL_WRITERS; i++) {
        pthread_join(s[i].thread, NULL);
        shmstore_close(s[i].c);
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
    daemon_remove(&d);
}

/* ---- c. restore on get of 256 MiB ---------------------------------------------------------- */

static void bench_restore(void)
{
    bulk_buffers();
    struct daemon d;
    daemon_init(&d, "restore", "1G", 1, "durability = sync\npreload = no\n");
    daemon_start(&d);
    char base_path[4096], objects[4096];
    path_join(base_path, sizeof base_path, d.data_dir, "baseline.bin");
    path_join(objects, sizeof objects, d.data_dir, "objects");
    const char *name = "durable-bench/restore";
    int rounds = n.restore_rounds;
    for (int p = 0; p < nplacements; p++) {
        double ours[MAX_ROUNDS], base[MAX_ROUNDS], q[MAX_ROUNDS], start_s[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            pin_self(placements[p].cpu);
            shmstore_client *c = connect_to(&d);
            check(shmstore_put(c, name, bulk_src, BULK_SIZE, NULL, 0,
                               SHMSTORE_PERSIST | SHMSTORE_REPLACE), c, "durable put");
            shmstore_close(c);
            write_file_synced(base_path, bulk_src, BULK_SIZE);
            daemon_stop(&d);
            daemon_start(&d);
            start_s[r] = (double)(d.ready_ns - d.start_ns) / 1e9;
            drop_dir_from_cache(objects);
            drop_from_cache(base_path);
            c = connect_to(&d);
            double t_ours = 0, t_base = 0;
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0)) {
                    shmstore_object o;
                    uint64_t t0 = now_ns();
                    check(shmstore_get(c, name, 600000, &o), c, "get");
                    t_ours = (double)(now_ns() - t0) / 1e9;
                    if (o.size != BULK_SIZE || memcmp(o.data, bulk_src, 4096) != 0 ||
                        memcmp((const uint8_t *)o.data + BULK_SIZE - 4096,
                               bulk_src + BULK_SIZE - 4096, 4096) != 0)
                        die("restored object differs from what was put");
                    check(shmstore_release(c, &o), c, "release");
                } else {
                    uint64_t t0 = now_ns();
                    read_file(base_path, bulk_dst, BULK_SIZE);
                    t_base = (double)(now_ns() - t0) / 1e9;
                }
            }
            shmstore_close(c);
            unlink(base_path);
            ours[r] = (double)BULK_SIZE / GiB / t_ours;
            base[r] = (double)BULK_SIZE / GiB / t_base;
            q[r] = t_base / t_ours;
        }
        struct row *row = add_row("restore on get 256 MiB, cold", placements[p].name,
                                  "read file cold");
        fmt_spread(row->value, sizeof row->value, ours, rounds, 2, "GiB/s");
        fmt_spread(row->base, sizeof row->base, base, rounds, 2, "GiB/s");
        row->ratio = median(q, rounds);
        row->target_op = '>', row->target = 0.8;
        note("restore: %s done (restart to ping: median %.3f s)", placements[p].name,
             median(start_s, rounds));
    }
    daemon_remove(&d);
}

/* ---- d. restart with many durable small objects -------------------------------------------- */

struct filler {
    pthread_t thread;
    const struct daemon *d;
    long first, count;
    long done;
    const volatile uint64_t *deadline;
};

static void *filler_main(void *arg)
{
    struct filler *f = arg;
    shmstore_client *c = connect_to(f->d);
    uint8_t payload[SMALL_SIZE];
    char name[64];
    for (long i = f->first; i < f->first + f->count; i++) {
        if ((i & 1023) == 0 && *f->deadline && now_ns() > *f->deadline)
            break;
        snprintf(name, sizeof name, "durable-bench/small-%08ld", i);
        memset(payload, (int)(i & 0xff), sizeof payload);
        memcpy(payload, &i, sizeof i);
        check(shmstore_put(c, name, payload, sizeof payload, NULL, 0,
                           SHMSTORE_PERSIST | SHMSTORE_REPLACE), c, "durable put 64 B");
        f->done++;
    }
    shmstore_close(c);
    return NULL;
}

static void bench_restart(void)
{
    /* Async durability, so the fill is paced by round trips rather than one flush per put; the
     * arena is not reserved, so the daemon's peak RSS counts only what it touched. */
    struct daemon full, empty;
    daemon_init(&full, "restart", "1G", 0, "durability = async\npreload = no\n");
    daemon_init(&empty, "empty", "1G", 0, "durability = async\npreload = no\n");
    daemon_start(&full);
    note("restart: filling %ld durable objects of %d bytes with %d connections%s", opt.objects,
         SMALL_SIZE, opt.fill_threads, opt.fill_limit > 0 ? " (time-limited)" : "");
    volatile uint64_t deadline = 0;
    struct filler f[64];
    int threads = opt.fill_threads;
    uint64_t t0 = now_ns();
    if (opt.fill_limit > 0)
        deadline = t0 + (uint64_t)(opt.fill_limit * 1e9);
    for (int i = 0; i < threads; i++) {
        long per = opt.objects / threads;
        f[i] = (struct filler){.d = &full, .first = i * per, .deadline = &deadline,
                               .count = i == threads - 1 ? opt.objects - i * per : per};
        if (pthread_create(&f[i].thread, NULL, filler_main, &f[i]) != 0)
            die("cannot start a fill thread");
    }
    long stored = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(f[i].thread, NULL);
        stored += f[i].done;
    }
    uint64_t t_puts = now_ns();
    shmstore_client *c = connect_to(&full);
    check(shmstore_sync(c), c, "sync");
    shmstore_close(c);
    uint64_t t_synced = now_ns();
    note("restart: %ld objects put in %.1f s, on disk %.1f s later", stored,
         (double)(t_puts - t0) / 1e9, (double)(t_synced - t_puts) / 1e9);
    daemon_stop(&full);
    struct du u = {0};
    disk_usage(full.data_dir, &u);

    int rounds = n.restart_rounds;
    double ours[MAX_ROUNDS], base[MAX_ROUNDS], q[MAX_ROUNDS];
    double rss[MAX_ROUNDS], rss_base[MAX_ROUNDS], rss_q[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            struct daemon *d = (k == 0) == (r % 2 == 0) ? &full : &empty;
            daemon_start(d);
            double seconds = (double)(d->ready_ns - d->start_ns) / 1e9;
            double peak = (double)peak_rss(d->pid) / MiB;
            if (d == &full && f[threads - 1].done > 0) {
                c = connect_to(d);
                shmstore_object_stat st;
                char name[64];
                snprintf(name, sizeof name, "durable-bench/small-%08ld",
                         f[threads - 1].first + f[threads - 1].done - 1);
                check(shmstore_stat(c, name, &st), c, "stat after restart");
                shmstore_close(c);
            }
            daemon_stop(d);
            if (d == &full)
                ours[r] = seconds, rss[r] = peak;
            else
                base[r] = seconds, rss_base[r] = peak;
        }
        q[r] = ours[r] / base[r];
        rss_q[r] = rss[r] / rss_base[r];
        note("restart: round %d: %.3f s, %.1f MiB (empty: %.3f s, %.1f MiB)", r + 1, ours[r],
             rss[r], base[r], rss_base[r]);
    }
    char label[48];
    snprintf(label, sizeof label, "restart, %ld durable x %d B", stored, SMALL_SIZE);
    struct row *row = add_row(label, "-", "start, empty data dir");
    fmt_spread(row->value, sizeof row->value, ours, rounds, 3, "s");
    fmt_spread(row->base, sizeof row->base, base, rounds, 3, "s");
    row->ratio = median(q, rounds);
    row = add_row("  daemon peak RSS (VmHWM)", "-", "start, empty data dir");
    fmt_spread(row->value, sizeof row->value, rss, rounds, 1, "MiB");
    fmt_spread(row->base, sizeof row->base, rss_base, rounds, 1, "MiB");
    row->ratio = median(rss_q, rounds);
    row = add_row("  data directory", "-", "payload bytes");
    snprintf(row->value, sizeof row->value, "%.1f MiB, %llu files", (double)u.disk_bytes / MiB,
             (unsigned long long)u.files);
    snprintf(row->base, sizeof row->base, "%.1f MiB", (double)stored * SMALL_SIZE / MiB);
    row->ratio = (double)u.disk_bytes / ((double)stored * SMALL_SIZE);
    row = add_row("  fill: async puts + sync", "-", "-");
    snprintf(row->value, sizeof row->value, "%.1f s (%.0f puts/s)",
             (double)(t_synced - t0) / 1e9, (double)stored / ((double)(t_synced - t0) / 1e9));
    snprintf(row->base, sizeof row->base, "-");
    daemon_remove(&full);
    daemon_remove(&empty);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("Usage: shmstore-bench-durable --shmstored PATH --dir DIR [--daemon-cpu N]\n"
          "                              [--quick] [--only LIST] [--objects N]\n"
          "                              [--fill-limit SECONDS] [--fill-threads N] [--keep]\n"
          "Measure durable objects against plain file I/O in the same run (see\n"
          "tests/bench/README.md). Starts its own daemons.\n"
          "  --shmstored PATH     the daemon to run (default: $SHMSTORED)\n"
          "  --dir DIR            scratch directory on the file system to measure (not tmpfs):\n"
          "                       data directories and baseline files go there\n"
          "  --daemon-cpu N       pin the daemons to cpu N (default 0); the client runs there\n"
          "                       and on another cpu\n"
          "  --quick              few rounds and 100,000 objects: a smoke run, rough figures\n"
          "  --only LIST          comma-separated subset of: put,seals,restore,restart\n"
          "  --objects N          durable objects for the restart (default 1000000)\n"
          "  --fill-limit SECONDS stop filling after this long and measure what is there\n"
          "  --fill-threads N     connections that fill (default 4)\n"
          "  --keep               leave the data directories behind\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"shmstored", required_argument, NULL, 'S'}, {"dir", required_argument, NULL, 'D'},
        {"daemon-cpu", required_argument, NULL, 'd'}, {"quick", no_argument, NULL, 'q'},
        {"only", required_argument, NULL, 'o'},       {"objects", required_argument, NULL, 'n'},
        {"fill-limit", required_argument, NULL, 'l'},
        {"fill-threads", required_argument, NULL, 't'},
        {"keep", no_argument, NULL, 'k'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch, objects_given = 0;
    opt.shmstored = getenv("SHMSTORED");
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': opt.shmstored = optarg; break;
        case 'D': opt.dir = optarg; break;
        case 'd': opt.daemon_cpu = atoi(optarg); break;
        case 'q': opt.quick = 1; break;
        case 'o': opt.only = optarg; break;
        case 'n': opt.objects = atol(optarg), objects_given = 1; break;
        case 'l': opt.fill_limit = atof(optarg); break;
        case 't': opt.fill_threads = atoi(optarg); break;
        case 'k': opt.keep = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !opt.shmstored || !opt.dir || opt.objects < 1 ||
        opt.fill_threads < 1 || opt.fill_threads > 64) {
        usage(stderr);
        return 2;
    }
    for (const char *p = opt.only; p && *p;) {
        static const char *const known[] = {"put", "seals", "restore", "restart"};
        size_t l = strcspn(p, ",");
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strlen(known[k]) == l && memcmp(known[k], p, l) == 0;
        if (!ok) {
            fprintf(stderr, "shmstore-bench-durable: --only: unknown measurement '%.*s'\n",
                    (int)l, p);
            return 2;
        }
        p += l + (p[l] == ',');
    }
    if (opt.quick) {
        n = (typeof(n)){.put_rounds = 2, .seal_cycles = 3, .seal_seconds = 0.3,
                        .restore_rounds = 1, .restart_rounds = 1};
        if (!objects_given)
            opt.objects = 100000;
    } else {
        n = (typeof(n)){.put_rounds = 5, .seal_cycles = 5, .seal_seconds = 1,
                        .restore_rounds = 3, .restart_rounds = 3};
    }
    signal(SIGPIPE, SIG_IGN);

    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0)
        die("sched_getaffinity: %s", strerror(errno));
    if (!CPU_ISSET(opt.daemon_cpu, &mine))
        die("cpu %d is not available to this process", opt.daemon_cpu);
    for (int i = 0; i < CPU_SETSIZE && opt.other_cpu < 0; i++)
        if (CPU_ISSET(i, &mine) && i != opt.daemon_cpu)
            opt.other_cpu = i;
    placements[nplacements++] = (struct placement){"same core", opt.daemon_cpu};
    if (opt.other_cpu >= 0)
        placements[nplacements++] = (struct placement){"other core", opt.other_cpu};
    else
        note("only one cpu available: the other-core placement is skipped");

    struct statfs sfs;
    if (statfs(opt.dir, &sfs) != 0)
        die("%s: %s", opt.dir, strerror(errno));
    const char *fs_name = sfs.f_type == 0xEF53 ? "ext2/3/4" : sfs.f_type == 0x58465342 ? "xfs"
                          : sfs.f_type == 0x9123683E ? "btrfs" : sfs.f_type == 0x01021994 ? "tmpfs"
                          : "other";
    if (sfs.f_type == 0x01021994)
        note("%s is on tmpfs: fsync costs nothing there, so these figures say nothing of a disk",
             opt.dir);

    struct utsname u;
    uname(&u);
    char machine[640], other_text[40] = "";
    if (opt.other_cpu >= 0)
        snprintf(other_text, sizeof other_text, ", other core = cpu %d", opt.other_cpu);
    snprintf(machine, sizeof machine, "%ld cpus online, %s %s; daemons on cpu %d%s; dir %.400s "
             "(%s)%s", sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, opt.daemon_cpu,
             other_text, opt.dir, fs_name, opt.quick ? "; QUICK run (rough figures)" : "");

    if (selected("put"))
        bench_put();
    if (selected("seals"))
        bench_seals();
    if (selected("restore"))
        bench_restore();
    if (selected("restart"))
        bench_restart();

    printf("shmstore-bench-durable: %s\n", machine);
    printf("value, baseline: medians over rounds [min-max]; each round measures both, "
           "alternating which goes first;\nratio: median over rounds of the ratio within a "
           "round (speed ratio: higher is better; for restart, time and memory ratios)\n\n");
    print_table();
    return 0;
}
