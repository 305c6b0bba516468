/*
 * test_watch.c — the watch stream against a real daemon: every kind of event the store makes
 * (sealed, replaced, deleted, evicted with evict = lru, spilled and restored with a data
 * directory), in order, with name, id, size and time; a watch interrupted and resumed losing
 * nothing; a watcher that does not read while 100,000 events happen (the daemon's memory stays
 * bounded, it is not dropped, and a lost marker with a count arrives once it reads); and a watch
 * from a snapshot while writers run, in which every object is seen exactly once.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- collecting events ------------------------------------------------------------------- */

struct collected {
    shmstore_event *ev;
    size_t n, cap;
    const char *until;   /* stop after this name is sealed (or listed by a snapshot) */
    int stop_at_snapshot_end;
};

static int collect(const shmstore_event *ev, void *arg)
{
    struct collected *col = arg;
    if (col->n == col->cap) {
        col->cap = col->cap ? 2 * col->cap : 64;
        col->ev = realloc(col->ev, col->cap * sizeof *col->ev);
        if (!col->ev)
            abort();
    }
    col->ev[col->n++] = *ev;
    if (col->stop_at_snapshot_end && ev->kind == SHMSTORE_EVENT_SNAPSHOT_END)
        return 1;
    return col->until && strcmp(ev->name, col->until) == 0 &&
                   (ev->kind == SHMSTORE_EVENT_SEALED || ev->kind == SHMSTORE_EVENT_SNAPSHOT)
               ? 1
               : 0;
}

/* Subscribe w to pattern with a snapshot, and come back once it is whole: from then on the
 * daemon collects w's events while the test makes them, and the next watch on w with the same
 * pattern goes on with the same stream. */
static void subscribe(shmstore_client *w, const char *pattern)
{
    struct collected col = {.stop_at_snapshot_end = 1};
    assert_rc(shmstore_watch_flags(w, pattern, SHMSTORE_WATCH_SNAPSHOT, collect, &col), 1);
    assert_true(col.n >= 1);
    assert_int_equal(col.ev[col.n - 1].kind, SHMSTORE_EVENT_SNAPSHOT_END);
    free(col.ev);
}

/* Go on with w's stream until `until` is sealed. */
static void collect_until(shmstore_client *w, const char *pattern, const char *until,
                          struct collected *col)
{
    memset(col, 0, sizeof *col);
    col->until = until;
    assert_rc(shmstore_watch_flags(w, pattern, SHMSTORE_WATCH_SNAPSHOT, collect, col), 1);
}

static void print_events(const struct collected *col)
{
    for (size_t i = 0; i < col->n; i++)
        fprintf(stderr, "  event %zu: kind %u name '%s' id %llu size %llu count %llu\n", i,
                col->ev[i].kind, col->ev[i].name, (unsigned long long)col->ev[i].id,
                (unsigned long long)col->ev[i].size, (unsigned long long)col->ev[i].count);
}

/* The index of the first event at or after `from` of that kind and name, or -1. */
static long find_event(const struct collected *col, size_t from, uint32_t kind, const char *name)
{
    for (size_t i = from; i < col->n; i++)
        if (col->ev[i].kind == kind && strcmp(col->ev[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char data_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A config file next to nothing: its own temporary directory, removed by remove_data_dir. */
static void make_data_dir(void)
{
    snprintf(data_dir, sizeof data_dir, "/var/tmp/shmstore-watch-XXXXXX");
    if (!mkdtemp(data_dir)) {
        snprintf(data_dir, sizeof data_dir, "/tmp/shmstore-watch-XXXXXX");
        assert_non_null(mkdtemp(data_dir));
    }
}

static void remove_data_dir(void)
{
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_config(const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/shmstored.conf", data_dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* ---- every kind of event ------------------------------------------------------------------- */

/* Sealed, replaced, deleted (by name and by pattern), and evicted by a daemon in cache mode;
 * names outside the pattern are not told; ids, sizes and times are the objects'. */
static void test_kinds_in_order(void **state)
{
    (void)state;
    make_data_dir();
    char conf[128];
    write_config("evict = lru\n", conf, sizeof conf);
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "8M", "--no-reserve", "-c", conf, NULL), 0);
    shmstore_client *c = connect_or_fail(d.socket), *w = connect_or_fail(d.socket);
    subscribe(w, "k/*");
    const int64_t start = realtime_ns();

    assert_rc(shmstore_put(c, "k/a", "12345", 5, NULL, 0, 0), 0);
    const uint64_t first = stat_of(c, "k/a").id;
    assert_rc(shmstore_put(c, "k/a", "123", 3, NULL, 0, SHMSTORE_REPLACE), 0);
    const uint64_t second = stat_of(c, "k/a").id;
    assert_rc(shmstore_put(c, "other/a", "x", 1, NULL, 0, 0), 0);   /* not watched */
    assert_rc(shmstore_delete(c, "k/a"), 0);
    assert_rc(shmstore_put(c, "k/p/1", "x", 1, NULL, 0, 0), 0);
    assert_rc(shmstore_put(c, "k/p/2", "x", 1, NULL, 0, 0), 0);
    assert_rc(shmstore_delete_matching(c, "k/p/*", NULL), 0);
    /* 1 MiB objects into an 8 MiB cache: the oldest goes to make room. */
    char name[32];
    shmstore_object_stat st;
    for (int big = 0; big < 12; big++) {
        snprintf(name, sizeof name, "k/big%d", big);
        assert_rc(put_pattern(c, name, MiB, (uint64_t)big, 0), 0);
        if (shmstore_stat(c, "k/big0", &st) == SHMSTORE_ENOTFOUND)
            break;
    }
    assert_rc(shmstore_stat(c, "k/big0", &st), SHMSTORE_ENOTFOUND);
    assert_rc(shmstore_put(c, "k/end", "", 0, NULL, 0, 0), 0);

    struct collected col;
    collect_until(w, "k/*", "k/end", &col);
    long i = find_event(&col, 0, SHMSTORE_EVENT_SEALED, "k/a");
    long r = find_event(&col, 0, SHMSTORE_EVENT_REPLACED, "k/a");
    long del = find_event(&col, 0, SHMSTORE_EVENT_DELETED, "k/a");
    long p1 = find_event(&col, 0, SHMSTORE_EVENT_DELETED, "k/p/1");
    long p2 = find_event(&col, 0, SHMSTORE_EVENT_DELETED, "k/p/2");
    long ev = find_event(&col, 0, SHMSTORE_EVENT_EVICTED, "k/big0");
    if (i != 0 || r != 1 || del != 2 || p1 < 0 || p2 < 0 || ev < 0)
        print_events(&col);
    assert_int_equal(i, 0);
    assert_int_equal(r, 1);
    assert_int_equal(del, 2);
    assert_true(col.ev[i].id == first && col.ev[i].size == 5);
    assert_true(col.ev[r].id == second && col.ev[r].size == 3);
    assert_true(col.ev[del].id == second);
    assert_true(p1 > del && p2 > p1);
    assert_true(ev > find_event(&col, 0, SHMSTORE_EVENT_SEALED, "k/big0"));
    assert_true(col.ev[ev].size == MiB);
    for (size_t k = 0; k < col.n; k++) {
        assert_null(strstr(col.ev[k].name, "other"));
        assert_true(col.ev[k].time_ns >= start && col.ev[k].time_ns <= realtime_ns());
        assert_true(k == 0 || col.ev[k].time_ns >= col.ev[k - 1].time_ns);
        assert_int_equal(col.ev[k].count, 0);
        assert_true(col.ev[k].kind != SHMSTORE_EVENT_LOST);
    }
    free(col.ev);
    shmstore_close(w);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* With a data directory, objects spilled to make room are told as they leave memory, and as
 * they come back on a get. */
static void test_spilled_and_restored(void **state)
{
    (void)state;
    make_data_dir();
    struct test_daemon d;
    assert_int_equal(harness_start(&d, "4M", "--no-reserve", "-d", data_dir, NULL), 0);
    shmstore_client *c = connect_or_fail(d.socket), *w = connect_or_fail(d.socket);
    subscribe(w, "s/*");
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "s/%d", i);
        assert_rc(put_pattern(c, name, MiB, (uint64_t)i, 0), 0);
    }
    shmstore_object o;
    assert_rc(shmstore_get(c, "s/0", SHMSTORE_WAIT_FOREVER, &o), 0);   /* read back */
    assert_true(has_pattern(o.data, o.size, 0));
    assert_rc(shmstore_release(c, &o), 0);
    assert_rc(shmstore_put(c, "s/end", "e", 1, NULL, 0, 0), 0);

    struct collected col;
    collect_until(w, "s/*", "s/end", &col);
    long sealed = find_event(&col, 0, SHMSTORE_EVENT_SEALED, "s/0");
    long spilled = find_event(&col, 0, SHMSTORE_EVENT_SPILLED, "s/0");
    long restored = find_event(&col, 0, SHMSTORE_EVENT_RESTORED, "s/0");
    if (sealed < 0 || spilled < 0 || restored < 0)
        print_events(&col);
    assert_true(sealed >= 0 && spilled > sealed && restored > spilled);
    assert_true(col.ev[restored].id == col.ev[sealed].id && col.ev[restored].size == MiB);
    free(col.ev);
    shmstore_close(w);
    shmstore_close(c);
    assert_int_equal(harness_stop(&d), 0);
    remove_data_dir();
}

/* ---- stopping, interrupting and going on ----------------------------------------------------- */

static int checks_left;
static int stop_after_checks(void *arg)
{
    (void)arg;
    return --checks_left <= 0;
}

/* A watch with nothing to tell is interrupted by the handle's check (EINTR), and the next one
 * goes on with the same stream: what happened meanwhile arrives, once. Another call on the
 * handle ends the subscription; a handle that holds pins may not watch. */
static void test_interrupt_and_go_on(void **state)
{
    (void)state;
    struct test_daemon d;
    shmstore_client *c, *w;
    assert_int_equal(daemon_client_setup(&d, "16M", &c), 0);
    w = connect_or_fail(d.socket);
    shmstore_object o;
    assert_rc(shmstore_put(c, "pinned", "x", 1, NULL, 0, 0), 0);
    assert_rc(shmstore_get(w, "pinned", 0, &o), 0);
    struct collected col = {0};
    assert_rc(shmstore_watch(w, "i/*", collect, &col), SHMSTORE_ESTATE);
    assert_non_null(strstr(shmstore_errmsg(w), "pinned"));
    assert_rc(shmstore_release(w, &o), 0);
    assert_rc(shmstore_watch(w, "i/*", NULL, NULL), SHMSTORE_EINVAL);
    assert_rc(shmstore_watch_flags(w, "i/*", 8, collect, &col), SHMSTORE_EINVAL);

    subscribe(w, "i/*");
    assert_rc(shmstore_put(c, "i/1", "x", 1, NULL, 0, 0), 0);
    checks_left = 3;
    shmstore_set_interrupt(w, stop_after_checks, NULL);
    /* i/1 is told first; then nothing comes, and the check stops the wait. */
    col = (struct collected){0};
    assert_rc(shmstore_watch_flags(w, "i/*", SHMSTORE_WATCH_SNAPSHOT, collect, &col),
              SHMSTORE_EINTR);
    assert_int_equal(col.n, 1);
    assert_string_equal(col.ev[0].name, "i/1");
    free(col.ev);
    shmstore_set_interrupt(w, NULL, NULL);
    assert_rc(shmstore_put(c, "i/2", "x", 1, NULL, 0, 0), 0);
    collect_until(w, "i/*", "i/2", &col);
    assert_int_equal(col.n, 1);   /* i/1 was not told again */
    free(col.ev);

    /* Any other call ends the subscription, and the handle works as ever. */
    assert_rc(shmstore_ping(w), 0);
    assert_rc(shmstore_put(c, "i/3", "x", 1, NULL, 0, 0), 0);
    assert_rc(shmstore_put(w, "i/4", "x", 1, NULL, 0, 0), 0);
    /* A new watch starts afresh: its snapshot lists what is there. */
    col = (struct collected){.stop_at_snapshot_end = 1};
    assert_rc(shmstore_watch_flags(w, "i/*", SHMSTORE_WATCH_SNAPSHOT, collect, &col), 1);
    assert_int_equal(col.n, 5);
    for (int k = 0; k < 4; k++)
        assert_int_equal(col.ev[k].kind, SHMSTORE_EVENT_SNAPSHOT);
    assert_string_equal(col.ev[0].name, "i/1");
    assert_string_equal(col.ev[3].name, "i/4");
    assert_true(col.ev[4].count == 4);
    free(col.ev);
    shmstore_close(w);
    assert_int_equal(daemon_client_teardown(&d, &c), 0);
}

/* ---- a watcher that does not read ---------------------------------------------------------- */

struct lost_count {
    uint64_t events, lost;
};

static int count_until_marker(const shmstore_event *ev, void *arg)
{
    struct lost_count *lc = arg;
    if (ev->kind == SHMSTORE_EVENT_LOST) {
        lc->lost = ev->count;
        return 1;
    }
    lc->events++;
    return 0;
}

/* ASan's quarantine and valgrind keep freed memory, so the daemon's size only means something in
 * a plain build. */
static int memory_checkable(void)
{
    const char *san = getenv("SANITIZE");
    return !harness_under_valgrind() && (!san || !*san || strcmp(san, "none") == 0);
}

static long daemon_rss_kib(pid_t pid)
{
    long kib = proc_status_kib(pid, "RssAnon");
    return kib >= 0 ? kib : proc_status_kib(pid, "VmRSS");
}

/* 100,000 events with long names while the watcher reads nothing: unbounded, they would be
 * about 30 MiB of frames in the daemon. It holds at most its output bound and its queue, is
 * not dropped, and once the watcher reads, a lost marker says how many it missed. */
static void test_watcher_that_does_not_read(void **state)
{
    (void)state;
    struct test_daemon d;
    shmstore_client *c, *w;
    assert_int_equal(daemon_client_setup(&d, "64M", &c), 0);
    w = connect_or_fail(d.socket);
    subscribe(w, "");
    const size_t events = harness_scale(100000, 10000), batch = 1000;
    char name[SHMSTORE_NAME_MAX + 1];
    char filler[201];
    memset(filler, 'f', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    /* A first batch warms the daemon's heap up for the objects themselves. */
    for (size_t i = 0; i < batch; i++) {
        snprintf(name, sizeof name, "warm/%s/%zu", filler, i);
        assert_rc(shmstore_put(c, name, "x", 1, NULL, 0, 0), 0);
    }
    assert_rc(shmstore_delete_matching(c, "warm/*", NULL), 0);
    const long before = daemon_rss_kib(d.pid);
    /* Each object is two events: sealed, then deleted by pattern. */
    for (size_t made = 0; made < events; made += 2 * batch) {
        for (size_t i = 0; i < batch; i++) {
            snprintf(name, sizeof name, "n/%s/%zu", filler, made + i);
            assert_rc(shmstore_put(c, name, "x", 1, NULL, 0, 0), 0);
        }
        assert_rc(shmstore_delete_matching(c, "n/*", NULL), 0);
    }
    const long after = daemon_rss_kib(d.pid);
    fprintf(stderr, "daemon private memory: %ld KiB before %zu events, %ld KiB after\n", before,
            events, after);
    if (memory_checkable())
        assert_true(after - before < 12 * 1024);
    assert_int_equal(info_of(c).clients, 2);   /* the watcher is still there */

    /* What waited comes first, each name's latest event (a name sealed and deleted meanwhile
     * comes as deleted), then the marker. */
    struct lost_count lc = {0};
    assert_rc(shmstore_watch_flags(w, "", SHMSTORE_WATCH_SNAPSHOT, count_until_marker, &lc), 1);
    fprintf(stderr, "the watcher read %llu events, then a marker of %llu lost\n",
            (unsigned long long)lc.events, (unsigned long long)lc.lost);
    assert_true(lc.lost > 0);
    assert_true(lc.events > 0 && lc.events + lc.lost <= events);
    /* It is live again: the next change comes, and nothing before it. */
    assert_rc(shmstore_put(c, "end", "", 0, NULL, 0, 0), 0);
    struct collected col;
    collect_until(w, "", "end", &col);
    assert_int_equal(col.n, 1);
    free(col.ev);
    shmstore_close(w);
    assert_int_equal(daemon_client_teardown(&d, &c), 0);
}

/* ---- a snapshot while writers run ------------------------------------------------------------ */

#define WRITERS 2

struct seen {
    unsigned *pre, *by_writer[WRITERS];
    size_t pre_n, per_writer;
    int done[WRITERS];
    int snapshot_ends, live_before_end, lost, bad;
};

static int see(const shmstore_event *ev, void *arg)
{
    struct seen *s = arg;
    if (ev->kind == SHMSTORE_EVENT_SNAPSHOT_END) {
        s->snapshot_ends++;
        return 0;
    }
    if (ev->kind == SHMSTORE_EVENT_LOST) {
        s->lost++;
        return 0;
    }
    if (ev->kind != SHMSTORE_EVENT_SNAPSHOT && ev->kind != SHMSTORE_EVENT_SEALED) {
        s->bad++;
        return 0;
    }
    if (ev->kind == SHMSTORE_EVENT_SEALED && !s->snapshot_ends)
        s->live_before_end++;
    unsigned k, i;
    if (sscanf(ev->name, "g/pre/%u", &i) == 1 && i < s->pre_n)
        s->pre[i]++;
    else if (sscanf(ev->name, "g/w%u/%u", &k, &i) == 2 && k < WRITERS && i < s->per_writer)
        s->by_writer[k][i]++;
    else if (sscanf(ev->name, "g/done%u", &k) == 1 && k < WRITERS)
        s->done[k] = 1;
    else
        s->bad++;
    for (k = 0; k < WRITERS; k++)
        if (!s->done[k])
            return 0;
    return 1;
}

/* Every object that exists when the watch starts, or is sealed while it runs, is seen exactly
 * once: in the snapshot or as a change after it. Writers put while the snapshot is walked in
 * several loop turns (more names than one turn visits). */
static void test_snapshot_while_writers_run(void **state)
{
    (void)state;
    struct test_daemon d;
    shmstore_client *c, *w;
    assert_int_equal(daemon_client_setup(&d, "64M", &c), 0);
    struct seen s = {.pre_n = harness_scale(6000, 1000), .per_writer = harness_scale(1500, 300)};
    char name[64];
    for (size_t i = 0; i < s.pre_n; i++) {
        snprintf(name, sizeof name, "g/pre/%05zu", i);
        assert_rc(shmstore_put(c, name, "p", 1, NULL, 0, 0), 0);
    }
    pid_t writers[WRITERS];
    for (unsigned k = 0; k < WRITERS; k++) {
        writers[k] = fork_child();
        if (writers[k] == 0) {
            shmstore_client *mine;
            CHILD_REQUIRE(shmstore_connect(d.socket, &mine) == 0);
            for (size_t i = 0; i < s.per_writer; i++) {
                snprintf(name, sizeof name, "g/w%u/%05zu", k, i);
                CHILD_REQUIRE(shmstore_put(mine, name, "w", 1, NULL, 0, 0) == 0);
            }
            snprintf(name, sizeof name, "g/done%u", k);
            CHILD_REQUIRE(shmstore_put(mine, name, "", 0, NULL, 0, 0) == 0);
            shmstore_close(mine);
            _exit(0);
        }
    }
    /* Start when the writers are under way. */
    assert_true(WAIT_FOR(info_of(c).objects > s.pre_n + s.per_writer / 10, slack(30)));
    w = connect_or_fail(d.socket);
    s.pre = calloc(s.pre_n, sizeof *s.pre);
    for (unsigned k = 0; k < WRITERS; k++)
        s.by_writer[k] = calloc(s.per_writer, sizeof *s.by_writer[k]);
    assert_rc(shmstore_watch_flags(w, "g/*", SHMSTORE_WATCH_SNAPSHOT, see, &s), 1);
    for (unsigned k = 0; k < WRITERS; k++)
        assert_child_exited_ok(writers[k]);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.snapshot_ends, 1);
    assert_int_equal(s.live_before_end, 0);
    size_t missing = 0, twice = 0;
    for (size_t i = 0; i < s.pre_n; i++) {
        missing += s.pre[i] == 0;
        twice += s.pre[i] > 1;
    }
    for (unsigned k = 0; k < WRITERS; k++)
        for (size_t i = 0; i < s.per_writer; i++) {
            missing += s.by_writer[k][i] == 0;
            twice += s.by_writer[k][i] > 1;
        }
    if (missing || twice)
        fprintf(stderr, "%zu objects never seen, %zu seen more than once\n", missing, twice);
    assert_int_equal(missing, 0);
    assert_int_equal(twice, 0);
    free(s.pre);
    for (unsigned k = 0; k < WRITERS; k++)
        free(s.by_writer[k]);
    shmstore_close(w);
    assert_int_equal(daemon_client_teardown(&d, &c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_in_order),
        cmocka_unit_test(test_spilled_and_restored),
        cmocka_unit_test(test_interrupt_and_go_on),
        cmocka_unit_test(test_watcher_that_does_not_read),
        cmocka_unit_test(test_snapshot_while_writers_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
