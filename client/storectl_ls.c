/*
 * storectl_ls.c — `storectl ls`: names, a long table (-l) or JSON, streamed or sorted.
 *
 * Unsorted, each page of the daemon's list is printed as it arrives, in name order, so a store
 * of millions of objects starts printing at once and needs no memory here: plain `ls` asks only
 * for names (the lighter LIST), -l and --json for where each object is as well. --sort and -r
 * must see every entry first: they keep each one in a compact record (its figures, and its name
 * in one shared pool of bytes, not a 256-byte field) and print once sorted.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "humansize.h"
#include "storectl.h"

/* ---- shared with show ---------------------------------------------------------------------- */

#define OWNER_CACHE_SIZE 64

const char *user_name(uint32_t uid)
{
    /* A listing has few owners and many objects: remember the last few lookups, names and
     * misses alike (each getpwuid may read all of /etc/passwd). */
    static struct {
        uint32_t uid;
        int known;
        char name[33];
    } cache[OWNER_CACHE_SIZE];
    static size_t cached, next_slot;
    for (size_t i = 0; i < cached; i++)
        if (cache[i].uid == uid)
            return cache[i].known ? cache[i].name : NULL;
    const size_t slot = next_slot;
    next_slot = (next_slot + 1) % OWNER_CACHE_SIZE;
    if (cached < OWNER_CACHE_SIZE)
        cached++;
    const struct passwd *pw = getpwuid((uid_t)uid);
    cache[slot].uid = uid;
    cache[slot].known = pw && strlen(pw->pw_name) < sizeof cache[slot].name;
    if (cache[slot].known)
        snprintf(cache[slot].name, sizeof cache[slot].name, "%s", pw->pw_name);
    return cache[slot].known ? cache[slot].name : NULL;
}

const char *owner_name(uint32_t uid, char *buf, size_t len)
{
    if (uid == SHMSTORE_OWNER_UNKNOWN) {
        snprintf(buf, len, "-");
        return buf;
    }
    const char *name = user_name(uid);
    if (name)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%lu", (unsigned long)uid);
    return buf;
}

const char *short_age(int64_t ns, char *buf, size_t len)
{
    const long long s = ns > 0 ? ns / 1000000000 : 0;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm", s / 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh", s / 3600);
    else
        snprintf(buf, len, "%lldd", s / 86400);
    return buf;
}

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- printing ------------------------------------------------------------------------------ */

enum ls_format { LS_NAMES, LS_LONG, LS_JSON };
enum ls_sort { SORT_NONE, SORT_NAME, SORT_SIZE, SORT_AGE };

struct ls_state {
    enum ls_format format;
    int64_t now;
    unsigned long long count;
};

static void print_long_header(void)
{
    printf("%-40s %10s %5s  %-10s %-6s  %-7s  %s\n", "NAME", "SIZE", "PINS", "OWNER", "WHERE",
           "DURABLE", "AGE");
}

static int print_entry(const shmstore_object_status *status, void *arg)
{
    struct ls_state *ls = arg;
    const shmstore_object_stat *st = &status->stat;
    if (ls->format == LS_JSON) {
        printf("%s\n", ls->count ? "," : "");
        json_object_stat(status, NULL);
    } else {
        char size[HUMAN_SIZE_MAX], owner[64], age[32];
        const char *where = location_name(status->location);
        if (ls->count == 0)
            print_long_header();
        printf("%-40s %10s %5llu  %-10s %-6s  %-7s  %s\n", st->name,
               human_size(st->size, size, sizeof size), (unsigned long long)st->pins,
               owner_name(status->owner_uid, owner, sizeof owner), where ? where : "-",
               !where ? "-" : status->durable ? "yes" : "no",
               short_age(ls->now - st->created_ns, age, sizeof age));
    }
    ls->count++;
    return ferror(stdout) ? SHMSTORE_EIO : 0;
}

static int print_name(const shmstore_object_stat *st, void *arg)
{
    struct ls_state *ls = arg;
    fputs(st->name, stdout);
    putchar('\n');
    ls->count++;
    return ferror(stdout) ? SHMSTORE_EIO : 0;
}

/* ---- sorted listings ----------------------------------------------------------------------- */

/* One object of a sorted listing: its name lives in the pool at name_offset. */
struct ls_record {
    uint64_t name_offset;
    uint64_t id, size, meta_size, pins;
    int64_t created_ns, expires_ns;
    uint32_t owner_uid;
    uint8_t location, durable;
};

struct ls_collection {
    struct ls_record *records;
    size_t count, capacity;
    char *pool;
    size_t pool_used, pool_capacity;
};

static int grow(void **buf, size_t *capacity, size_t need, size_t item)
{
    if (need <= *capacity)
        return 0;
    size_t bigger = *capacity ? *capacity * 2 : 4096;
    while (bigger < need)
        bigger *= 2;
    void *p = realloc(*buf, bigger * item);
    if (!p)
        return -1;
    *buf = p;
    *capacity = bigger;
    return 0;
}

static int collect_entry(const shmstore_object_status *status, void *arg)
{
    struct ls_collection *all = arg;
    const shmstore_object_stat *st = &status->stat;
    const size_t name_len = strlen(st->name) + 1;
    if (grow((void **)&all->records, &all->capacity, all->count + 1, sizeof *all->records) ||
        grow((void **)&all->pool, &all->pool_capacity, all->pool_used + name_len, 1))
        return SHMSTORE_ENOMEM;
    memcpy(all->pool + all->pool_used, st->name, name_len);
    all->records[all->count++] = (struct ls_record){
        .name_offset = all->pool_used, .id = st->id, .size = st->size,
        .meta_size = st->meta_size, .pins = st->pins, .created_ns = st->created_ns,
        .expires_ns = status->expires_ns, .owner_uid = status->owner_uid,
        .location = (uint8_t)status->location, .durable = (uint8_t)status->durable};
    all->pool_used += name_len;
    return 0;
}

struct sort_order {
    enum ls_sort by;
    int reverse;
    const char *pool;
};

/* Names in byte order (the daemon's order); sizes largest first; ages newest first. Ties go by
 * name, so the order is total and the same every run. */
static int compare_records(const void *a, const void *b, void *arg)
{
    const struct sort_order *order = arg;
    const struct ls_record *x = a, *y = b;
    int c = 0;
    if (order->by == SORT_SIZE)
        c = x->size > y->size ? -1 : x->size < y->size;
    else if (order->by == SORT_AGE)
        c = x->created_ns > y->created_ns ? -1 : x->created_ns < y->created_ns;
    if (c == 0)
        c = strcmp(order->pool + x->name_offset, order->pool + y->name_offset);
    return order->reverse ? -c : c;
}

static int print_sorted(struct ls_collection *all, struct ls_state *ls, enum ls_sort by,
                        int reverse)
{
    struct sort_order order = {by, reverse, all->pool};
    qsort_r(all->records, all->count, sizeof *all->records, compare_records, &order);
    for (size_t i = 0; i < all->count; i++) {
        const struct ls_record *r = &all->records[i];
        shmstore_object_status status;
        memset(&status, 0, sizeof status);
        snprintf(status.stat.name, sizeof status.stat.name, "%s", all->pool + r->name_offset);
        status.stat.id = r->id;
        status.stat.size = r->size;
        status.stat.meta_size = r->meta_size;
        status.stat.pins = r->pins;
        status.stat.created_ns = r->created_ns;
        status.location = r->location;
        status.durable = r->durable;
        status.owner_uid = r->owner_uid;
        status.expires_ns = r->expires_ns;
        int rc = ls->format == LS_NAMES ? print_name(&status.stat, ls) : print_entry(&status, ls);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the command --------------------------------------------------------------------------- */

static const char ls_usage[] =
    "usage: storectl ls [PATTERN] [-l] [--sort name|size|age] [-r] [--json]";

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_LS_JSON},
        {"reverse", no_argument, NULL, 'r'},
        {"sort", required_argument, NULL, OPT_SORT},
        {NULL, 0, NULL, 0},
    };
    struct ls_state ls = {LS_NAMES, now_ns(), 0};
    enum ls_sort sort = SORT_NONE;
    int reverse = 0, long_format = 0, json = 0, opt;
    while ((opt = getopt_long(argc, argv, ":lr", opts, NULL)) != -1) {
        if (opt == 'l') {
            long_format = 1;
        } else if (opt == 'r') {
            reverse = 1;
        } else if (opt == OPT_LS_JSON) {
            json = 1;
        } else if (opt == OPT_SORT) {
            if (strcmp(optarg, "name") == 0)
                sort = SORT_NAME;
            else if (strcmp(optarg, "size") == 0)
                sort = SORT_SIZE;
            else if (strcmp(optarg, "age") == 0)
                sort = SORT_AGE;
            else
                return usage_error("ls: --sort '%s': sort by name, size or age", optarg);
        } else {
            return option_error("ls", opt, argv);
        }
    }
    if (argc - optind > 1)
        return usage_error("%s", ls_usage);
    if (reverse && sort == SORT_NONE)
        sort = SORT_NAME;
    ls.format = json ? LS_JSON : long_format ? LS_LONG : LS_NAMES;
    const char *pattern = argc - optind == 1 ? argv[optind] : NULL;
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (ls.format == LS_JSON)
        putchar('[');
    int rc;
    if (sort != SORT_NONE) {
        struct ls_collection all = {0};
        rc = shmstore_list_status(c, pattern, collect_entry, &all);
        if (rc == 0)
            rc = print_sorted(&all, &ls, sort, reverse);
        free(all.records);
        free(all.pool);
    } else if (ls.format == LS_NAMES) {
        rc = shmstore_list(c, pattern, print_name, &ls);
    } else {
        rc = shmstore_list_status(c, pattern, print_entry, &ls);
    }
    if (ls.format == LS_JSON)
        printf("%s]\n", ls.count ? "\n" : "");
    else if (rc == 0 && ls.count == 0 && isatty(STDOUT_FILENO))
        fprintf(stderr, "storectl: no objects%s%s\n", pattern ? " match " : "",
                pattern ? pattern : "");
    status = rc ? report(c, NULL, rc) : EXIT_OK;
    shmstore_close(c);
    return status;
}
