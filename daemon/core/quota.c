/*
 * quota.c — per-user accounting and limits (see quota.h for the rules).
 *
 * Users are records in an id map keyed by uid + 1 (the map reserves key 0). A record keeps what
 * the user holds and the limits that apply to it, worked out from the rules the first time the
 * user is seen and again after each quota_configure (a generation number says when the cached
 * limits are stale), so a create costs a lookup and two comparisons, never a walk of the rules
 * or a call into the user database. Records stay when a user's objects are all gone: users are
 * few, and their names and groups then need no second lookup.
 */
#define _GNU_SOURCE
#include "quota.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "humansize.h"
#include "idmap.h"
#include "shmstore.h"

struct quota_user {
    uint32_t uid;
    uint64_t objects, bytes;
    uint64_t limit_bytes, limit_objects;   /* 0: none; valid when gen == quota's gen */
    uint64_t gen;
    char name[QUOTA_NAME_MAX];             /* "" when the uid has no passwd entry */
};

struct quota {
    id_map users;              /* uid + 1 -> struct quota_user */
    uint64_t holders;          /* users with objects > 0 */
    uint64_t total_objects, total_bytes;   /* charged over all users */
    uint64_t gen;              /* bumped by quota_configure */
    uint64_t default_bytes, default_objects;
    struct quota_rules rules;
    int group_rules;           /* any rule is a group's: only then are groups looked up */
    quota_lookup_fn lookup;
};

/* ---- the config's override lines ------------------------------------------------------------ */

/* "alice", "1001", "@research" or "@1002" into an id; -1 when there is no such user or group. */
static int parse_who(const char *who, uint32_t *id, uint8_t *group)
{
    *group = who[0] == '@';
    if (*group)
        who++;
    if (!*who)
        return -1;
    size_t digits = strspn(who, "0123456789");
    if (digits == strlen(who) && digits <= 10) {
        unsigned long long n = strtoull(who, NULL, 10);
        if (n >= UINT32_MAX)
            return -1;
        *id = (uint32_t)n;
        return 0;
    }
    if (*group) {
        struct group *gr = getgrnam(who);
        if (!gr)
            return -1;
        *id = (uint32_t)gr->gr_gid;
    } else {
        struct passwd *pw = getpwnam(who);
        if (!pw)
            return -1;
        *id = (uint32_t)pw->pw_uid;
    }
    return 0;
}

/* A limit's value: "unlimited" or 0 is none; bytes take K/M/G/T, objects a whole number. */
static int parse_limit(const char *value, int bytes, uint64_t *out)
{
    if (strcasecmp(value, "unlimited") == 0) {
        *out = 0;
        return 0;
    }
    if (bytes)
        return human_size_parse(value, out);
    if (!*value || strspn(value, "0123456789") != strlen(value))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(value, NULL, 10);
    if (errno)
        return -1;
    *out = n;
    return 0;
}

int quota_rule_parse(struct quota_rules *rules, const char *key, const char *value,
                     char *problem, size_t len)
{
    int bytes;
    const char *who;
    if (strncmp(key, "quota_bytes.", 12) == 0) {
        bytes = 1;
        who = key + 12;
    } else if (strncmp(key, "quota_objects.", 14) == 0) {
        bytes = 0;
        who = key + 14;
    } else {
        return 1;
    }
    struct quota_rule parsed = {0};
    if (parse_who(who, &parsed.id, &parsed.group) != 0) {
        snprintf(problem, len, "no such %s: %s", who[0] == '@' ? "group" : "user",
                 who[0] == '@' ? who + 1 : who);
        return -1;
    }
    uint64_t limit;
    if (parse_limit(value, bytes, &limit) != 0) {
        snprintf(problem, len, "must be %s, or 0 or unlimited for no limit",
                 bytes ? "a size: bytes, or a number with K, M, G or T (powers of 1024)"
                       : "a whole number of objects");
        return -1;
    }
    struct quota_rule *rule = NULL;
    for (unsigned i = 0; i < rules->count && !rule; i++)
        if (rules->rules[i].id == parsed.id && rules->rules[i].group == parsed.group)
            rule = &rules->rules[i];
    if (!rule) {
        if (rules->count == QUOTA_RULES_MAX) {
            snprintf(problem, len, "more than %d users and groups with quota overrides",
                     QUOTA_RULES_MAX);
            return -1;
        }
        rule = &rules->rules[rules->count++];
        memcpy(rule, &parsed, sizeof parsed);   /* padding too: reload compares rules bytewise */
    }
    if (bytes) {
        rule->has_bytes = 1;
        rule->bytes = limit;
    } else {
        rule->has_objects = 1;
        rule->objects = limit;
    }
    return 0;
}

const char *quota_rules_format(const struct quota_rules *rules, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < rules->count && used < len; i++) {
        const struct quota_rule *r = &rules->rules[i];
        const char *at = r->group ? "@" : "";
        int n = 0;
        if (r->has_bytes)
            n += snprintf(buf + used, len - used, "%squota_bytes.%s%u = %llu", used ? "; " : "",
                          at, r->id, (unsigned long long)r->bytes);
        if (r->has_objects && used + (size_t)n < len)
            n += snprintf(buf + used + n, len - used - (size_t)n, "%squota_objects.%s%u = %llu",
                          used + (size_t)n ? "; " : "", at, r->id,
                          (unsigned long long)r->objects);
        used += (size_t)n;
    }
    return buf;
}

/* ---- who a user is -------------------------------------------------------------------------- */

static int system_lookup(uint32_t uid, char *name, size_t name_len, uint32_t *gids, int max)
{
    char buf[4096];
    struct passwd pw, *found = NULL;
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return -1;
    snprintf(name, name_len, "%s", pw.pw_name);
    gid_t groups[QUOTA_GROUPS_MAX];
    int n = max < QUOTA_GROUPS_MAX ? max : QUOTA_GROUPS_MAX;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        n = max < QUOTA_GROUPS_MAX ? max : QUOTA_GROUPS_MAX;   /* more than fit: the first ones */
    for (int i = 0; i < n; i++)
        gids[i] = (uint32_t)groups[i];
    return n;
}

quota_t *quota_new(void)
{
    quota_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->users = (id_map)ID_MAP_INIT;
    q->lookup = system_lookup;
    q->gen = 1;
    return q;
}

static void free_user(uint64_t key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void quota_free(quota_t *q)
{
    if (!q)
        return;
    id_map_foreach(&q->users, free_user, NULL);
    id_map_clear(&q->users);
    free(q);
}

void quota_set_lookup(quota_t *q, quota_lookup_fn lookup)
{
    q->lookup = lookup;
    q->gen++;
}

void quota_configure(quota_t *q, uint64_t default_bytes, uint64_t default_objects,
                     const struct quota_rules *rules)
{
    q->default_bytes = default_bytes;
    q->default_objects = default_objects;
    q->rules.count = 0;
    q->group_rules = 0;
    if (rules) {
        q->rules = *rules;
        for (unsigned i = 0; i < rules->count; i++)
            q->group_rules |= rules->rules[i].group;
    }
    q->gen++;
}

/* The more generous of two limits, where 0 is none (the most generous). */
static uint64_t more_generous(uint64_t a, uint64_t b)
{
    return a == 0 || b == 0 ? 0 : a > b ? a : b;
}

/* Work out u's limits from the rules: its own override, else the most generous of its groups',
 * else the default; for bytes and objects separately. */
static void resolve_limits(quota_t *q, struct quota_user *u)
{
    uint32_t gids[QUOTA_GROUPS_MAX];
    int ngroups = q->lookup(u->uid, u->name, sizeof u->name, gids, QUOTA_GROUPS_MAX);
    if (ngroups < 0) {
        u->name[0] = '\0';
        ngroups = 0;
    }
    int own_bytes = 0, own_objects = 0, group_bytes = 0, group_objects = 0;
    uint64_t bytes = 0, objects = 0, gbytes = 0, gobjects = 0;
    for (unsigned i = 0; i < q->rules.count; i++) {
        const struct quota_rule *r = &q->rules.rules[i];
        if (!r->group) {
            if (r->id != u->uid)
                continue;
            if (r->has_bytes)
                own_bytes = 1, bytes = r->bytes;
            if (r->has_objects)
                own_objects = 1, objects = r->objects;
            continue;
        }
        int member = 0;
        for (int g = 0; g < ngroups && !member; g++)
            member = gids[g] == r->id;
        if (!member)
            continue;
        if (r->has_bytes) {
            gbytes = group_bytes ? more_generous(gbytes, r->bytes) : r->bytes;
            group_bytes = 1;
        }
        if (r->has_objects) {
            gobjects = group_objects ? more_generous(gobjects, r->objects) : r->objects;
            group_objects = 1;
        }
    }
    u->limit_bytes = own_bytes ? bytes : group_bytes ? gbytes : q->default_bytes;
    u->limit_objects = own_objects ? objects : group_objects ? gobjects : q->default_objects;
    u->gen = q->gen;
}

/* uid's record, made when absent; NULL when out of memory. Its limits are current. */
static struct quota_user *user_of(quota_t *q, uint32_t uid)
{
    struct quota_user *u = id_map_get(&q->users, (uint64_t)uid + 1);
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u || id_map_put(&q->users, (uint64_t)uid + 1, u) != 0) {
            free(u);
            return NULL;
        }
        u->uid = uid;
    }
    if (u->gen != q->gen)
        resolve_limits(q, u);
    return u;
}

int quota_check(quota_t *q, uint32_t uid, uint64_t bytes, char *detail, size_t len)
{
    struct quota_user *u = user_of(q, uid);
    if (!u) {
        snprintf(detail, len, "daemon out of memory");
        return SHMSTORE_ENOMEM;
    }
    char who[QUOTA_NAME_MAX + 32];
    if (u->name[0])
        snprintf(who, sizeof who, "uid %u (%s)", u->uid, u->name);
    else
        snprintf(who, sizeof who, "uid %u", u->uid);
    if (u->limit_objects && u->objects + 1 > u->limit_objects) {
        snprintf(detail, len, "object quota of %s: %llu objects, %llu held; delete objects, or "
                 "raise quota_objects in shmstored's config", who,
                 (unsigned long long)u->limit_objects, (unsigned long long)u->objects);
        return SHMSTORE_ENOSPC;
    }
    if (u->limit_bytes && (bytes > u->limit_bytes || u->bytes > u->limit_bytes - bytes)) {
        char limit[HUMAN_SIZE_MAX], used[HUMAN_SIZE_MAX], asked[HUMAN_SIZE_MAX];
        snprintf(detail, len, "quota of %s: %s, %s used, asked %s; delete objects, or raise "
                 "quota_bytes in shmstored's config", who,
                 human_size(u->limit_bytes, limit, sizeof limit),
                 human_size(u->bytes, used, sizeof used), human_size(bytes, asked, sizeof asked));
        return SHMSTORE_ENOSPC;
    }
    return 0;
}

int quota_charge(quota_t *q, uint32_t uid, uint64_t bytes)
{
    struct quota_user *u = id_map_get(&q->users, (uint64_t)uid + 1);
    if (!u && !(u = user_of(q, uid)))
        return -1;
    if (u->objects++ == 0)
        q->holders++;
    u->bytes += bytes;
    q->total_objects++;
    q->total_bytes += bytes;
    return 0;
}

void quota_uncharge(quota_t *q, uint32_t uid, uint64_t bytes)
{
    struct quota_user *u = id_map_get(&q->users, (uint64_t)uid + 1);
    if (!u || u->objects == 0)
        return;   /* never charged: a bug elsewhere, not worth a crash here */
    const uint64_t given_back = bytes < u->bytes ? bytes : u->bytes;
    u->bytes -= given_back;
    q->total_bytes -= given_back;
    q->total_objects--;
    if (--u->objects == 0)
        q->holders--;
}

struct collect {
    uint64_t from;
    struct quota_user **found;
    size_t n;
};

static void collect_user(uint64_t key, void *value, void *arg)
{
    (void)key;
    struct collect *c = arg;
    struct quota_user *u = value;
    if (u->objects && u->uid >= c->from)
        c->found[c->n++] = u;
}

static int by_uid(const void *a, const void *b)
{
    const struct quota_user *x = *(struct quota_user *const *)a;
    const struct quota_user *y = *(struct quota_user *const *)b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

size_t quota_list(quota_t *q, uint64_t from_uid, struct quota_usage *out, size_t max,
                  int *more)
{
    *more = 0;
    if (q->holders == 0 || max == 0)
        return 0;
    struct collect c = {.from = from_uid, .found = malloc(q->holders * sizeof *c.found)};
    if (!c.found)
        return 0;
    id_map_foreach(&q->users, collect_user, &c);
    qsort(c.found, c.n, sizeof *c.found, by_uid);
    size_t n = c.n < max ? c.n : max;
    for (size_t i = 0; i < n; i++) {
        struct quota_user *u = c.found[i];
        if (u->gen != q->gen)
            resolve_limits(q, u);
        out[i] = (struct quota_usage){u->uid, u->objects, u->bytes, u->limit_bytes,
                                      u->limit_objects};
    }
    *more = c.n > n;
    free(c.found);
    return n;
}

uint64_t quota_user_count(const quota_t *q)
{
    return q->holders;
}

void quota_totals(const quota_t *q, uint64_t *objects, uint64_t *bytes)
{
    *objects = q->total_objects;
    *bytes = q->total_bytes;
}
