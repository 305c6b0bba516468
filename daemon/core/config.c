/*
 * config.c — the table of shmstored's settings and everything that reads it alone: parsing a
 * value into struct options, printing it back, the defaults, the config file and the example
 * config that --print-config writes.
 *
 * A row names a key, its type and the place of its field (offsetof and sizeof), so one parser
 * and one printer per type serve every key of that type; the default is text that goes through
 * the same parser, so what the example config shows is what the daemon starts with. Values are
 * parsed into a local first and stored only when valid, so a bad line never leaves half a value.
 * The config file is `key = value` lines with `#` comments; an unknown key or a bad value stops
 * with FILE:LINE, because a daemon that silently ignored a typo in its access lists would be
 * worse than one that refuses to start. User and group names are resolved to ids here, once, so
 * a connection's check is a comparison of numbers.
 */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "humansize.h"
#include "log.h"

#define FIELD(name) \
    .offset = offsetof(struct options, name), .size = sizeof(((struct options *)0)->name)

static const struct config_word log_levels[] = {
    {"error", LOG_LEVEL_ERROR}, {"warn", LOG_LEVEL_WARN}, {"warning", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},   {"debug", LOG_LEVEL_DEBUG}, {NULL, 0},
};

static const struct config_word durabilities[] = {
    {"sync", DURABILITY_SYNC}, {"async", DURABILITY_ASYNC}, {NULL, 0},
};

/* evict: what a full store may delete; the value is struct options' evict_lru. */
static const struct config_word evict_modes[] = {
    {"none", 0}, {"lru", 1}, {NULL, 0},
};

/* hugepages: where segments' pages come from. */
static const struct config_word hugepages_modes[] = {
    {"no", HUGEPAGES_NO}, {"auto", HUGEPAGES_AUTO}, {"yes", HUGEPAGES_YES}, {NULL, 0},
};

/* persist: which objects are durable; the value is struct options' persist_all. */
static const struct config_word persist_modes[] = {
    {"flagged", 0}, {"all", 1}, {NULL, 0},
};

const struct config_row config_rows[] = {
    {.key = "socket", .type = CONFIG_STRING, FIELD(socket_path), .default_text = "",
     .short_flag = 's', .flag = "socket", .metavar = "PATH",
     .help = "the Unix socket to listen on; empty: $SHMSTORE_SOCKET, else "
             "/run/shmstore/shmstore.sock for root, or when it exists and this user may "
             "connect to it, else $XDG_RUNTIME_DIR/shmstore.sock or /tmp/shmstore-UID.sock",
     .doc = "Ignored when systemd passes the socket (shmstored.socket)."},
    {.key = "memory", .type = CONFIG_SIZE, FIELD(memory), .default_text = "0",
     .min = 0, .max = OPTIONS_MAX_MEMORY, .reloadable = 1,
     .reload_note = "(the store grows to the new maximum; above it nothing more is taken)",
     .short_flag = 'm', .flag = "memory", .metavar = "SIZE",
     .help = "the most memory the store takes for objects; 0: 30% of this machine's memory "
             "(or of the service's memory limit)",
     .doc = "Memory is taken in segments as objects need it and given back when a segment has "
            "been empty for segment_idle, so a large maximum costs nothing until it is used. "
            "Raise it with a reload (SIGHUP): no restart, no object lost."},
    {.key = "segment_size", .type = CONFIG_SIZE, FIELD(segment_size), .default_text = "256M",
     .min = 2 * 1024 * 1024, .max = 1ull << 39,
     .help = "memory taken at a time when the store grows, rounded up to 2 MiB",
     .doc = "An object of more than half of it gets a segment of its own, of its own size; "
            "once that object is freed the segment serves the next such object, or is given back "
            "after segment_idle (at once when the store at its maximum needs the memory)."},
    {.key = "segment_idle", .type = CONFIG_DURATION, FIELD(segment_idle_ms),
     .default_text = "30s", .min = 0, .max = 24ull * 3600 * 1000, .reloadable = 1,
     .help = "how long a segment stays empty before its memory is given back to the system",
     .doc = "The first segment is always kept."},
    {.key = "hugepages", .type = CONFIG_ENUM, FIELD(hugepages), .default_text = "auto",
     .words = hugepages_modes, .flag = "hugepages", .metavar = "MODE",
     .help = "whether segments come from the huge page pool (vm.nr_hugepages)",
     .doc = "auto: when the pool has the pages free, else 4 KiB pages (logged once). yes: "
            "always; the daemon refuses to start, and the store to grow, without them. no: never. "
            "Either way segments not made of huge pages ask for transparent huge pages where "
            "the kernel allows it for shared memory (shmem_enabled = advise)."},
    {.key = "reserve", .type = CONFIG_BOOL, FIELD(reserve), .default_text = "yes",
     .flag = "reserve", .flag_off = "no-reserve",
     .help = "reserve each segment's memory when it is taken",
     .help_off = "do not reserve segments' memory when they are taken",
     .doc = "Then a machine without the memory refuses the segment (the create fails with "
            "ENOSPC, saying so) rather than a client failing later with SIGBUS, and the pages "
            "are zeroed by the daemon, off its loop, not in a client's first write; with no, "
            "pages are allocated as they are first written."},
    {.key = "data_dir", .type = CONFIG_STRING, FIELD(data_dir), .default_text = "",
     .short_flag = 'd', .flag = "data-dir", .metavar = "DIR",
     .help = "directory of durable objects (SHMSTORE_PERSIST), kept across restarts; "
             "empty: none, every object is lost when the daemon stops",
     .doc = "Created if missing. Holds an LMDB catalogue (catalogue/) and one file per durable "
            "object (objects/); damaged objects found at start are moved to corrupt/."},
    {.key = "durability", .type = CONFIG_ENUM, FIELD(durability), .default_text = "async",
     .words = durabilities,
     .help = "when sealing a durable object answers",
     .doc = "async: at once; the object is on disk within flush_interval, and shmstore_sync() "
            "(storectl sync) waits until everything sealed before it is; a crash can lose what "
            "was sealed since the last flush (about flush_interval). sync: once the object and "
            "its catalogue entry are on disk (fsync); concurrent seals share one flush."},
    {.key = "flush_interval", .type = CONFIG_DURATION, FIELD(flush_interval_ms),
     .default_text = "1s", .min = 1, .max = 3600 * 1000,
     .help = "with durability = async, the longest a durable write waits before it goes to disk",
     .doc = "Writes queued within one interval share one flush."},
    {.key = "persist", .type = CONFIG_ENUM, FIELD(persist_all), .default_text = "flagged",
     .words = persist_modes,
     .help = "which objects are durable",
     .doc = "flagged: those put or created with SHMSTORE_PERSIST (storectl put --persist, "
            "Python persist=True). all: every object put or created, as if each had the flag; "
            "needs a data directory, and the daemon refuses to start without one."},
    {.key = "preload", .type = CONFIG_BOOL, FIELD(preload), .default_text = "no",
     .help = "at start, read every durable object back into memory at once",
     .doc = "With no, an object's payload is read from the data directory on its first get "
            "(that get waits for it), so a start with many objects is quick. With yes the start "
            "reads them all, as far as the arena holds them. Only with a data directory."},
    {.key = "spill", .type = CONFIG_BOOL, FIELD(spill), .default_text = "yes",
     .help = "when the arena is full, write unpinned transient objects to disk to make room",
     .doc = "Only with a data directory; without one this setting does nothing. A create that "
            "does not fit makes room, least recently used first: unpinned durable objects leave "
            "memory (they are on disk already), and with yes unpinned transient objects too, "
            "written to a spill area in the data directory first; a get brings them back. "
            "Spilled objects do not survive a restart (the spill area is emptied at start). "
            "With no, only durable objects make room."},
    {.key = "evict", .type = CONFIG_ENUM, FIELD(evict_lru), .default_text = "none",
     .words = evict_modes,
     .help = "what a full store may delete to make room: none, or lru (cache mode)",
     .doc = "lru: when a create does not fit and nothing more can leave memory (or be spilled), "
            "unpinned transient objects are deleted, least recently used first, as Redis's "
            "allkeys-lru does. Durable objects and those put with SHMSTORE_NO_EVICT (storectl "
            "put --no-evict) are never deleted, nor are pinned ones. none: such a create fails "
            "with ENOSPC."},
    {.key = "log_level", .type = CONFIG_ENUM, FIELD(log_level), .default_text = "info",
     .words = log_levels, .reloadable = 1,
     .flag = "log-level", .metavar = "LEVEL",
     .help = "how much to log"},
    {.key = "socket_mode", .type = CONFIG_MODE, FIELD(socket_mode), .default_text = "0660",
     .help = "permission bits of the socket file the daemon creates",
     .doc = "With socket_group the first gate: only who can open the socket can connect. (With "
            "shmstored.socket, systemd sets them instead.)"},
    {.key = "socket_group", .type = CONFIG_GROUP, FIELD(socket_group), .default_text = "",
     .help = "group of the socket file the daemon creates; empty: leave it as created"},
    {.key = "allow_users", .type = CONFIG_USERS, FIELD(allow_users), .default_text = "",
     .reloadable = 1, .reload_note = "(for new connections)",
     .help = "users who connect as read-write clients",
     .doc = "With no access list set, everyone who can open the socket is a read-write client. "
            "With any set, only those listed connect (root and the daemon's own user always "
            "may); others are refused with \"permission denied\", logged with uid and pid."},
    {.key = "allow_groups", .type = CONFIG_GROUPS, FIELD(allow_groups), .default_text = "",
     .reloadable = 1, .reload_note = "(for new connections)",
     .help = "groups whose members (primary or supplementary) connect as read-write clients"},
    {.key = "readonly_users", .type = CONFIG_USERS, FIELD(readonly_users), .default_text = "",
     .reloadable = 1, .reload_note = "(for new connections)",
     .help = "users who connect as read-only clients: get, stat and ls only",
     .doc = "The arena is handed to them read-only, so the kernel refuses them writable "
            "mappings."},
    {.key = "readonly_groups", .type = CONFIG_GROUPS, FIELD(readonly_groups), .default_text = "",
     .reloadable = 1, .reload_note = "(for new connections)",
     .help = "groups whose members connect as read-only clients"},
    {.key = "max_clients", .type = CONFIG_COUNT, FIELD(max_clients), .default_text = "4096",
     .min = 1, .max = 1000000, .reloadable = 1,
     .help = "connections served at once",
     .doc = "One more is refused with an error naming the limit; root and the daemon's own "
            "user are never turned away."},
    {.key = "max_pins_per_client", .type = CONFIG_COUNT, FIELD(max_pins_per_client),
     .default_text = "1048576", .min = 1, .max = UINT64_MAX, .reloadable = 1,
     .help = "objects one connection may hold pinned at once",
     .doc = "A get beyond it fails with an error naming the limit."},
    {.key = "max_unsealed_bytes_per_client", .type = CONFIG_SIZE,
     FIELD(max_unsealed_bytes_per_client), .default_text = "0", .min = 0,
     .max = OPTIONS_MAX_MEMORY, .reloadable = 1,
     .help = "bytes one connection may hold in objects it created and has not sealed yet; "
             "0: no limit but the store's size"},
    {.key = "quota_bytes", .type = CONFIG_SIZE, FIELD(quota_bytes), .default_text = "0",
     .min = 0, .max = OPTIONS_MAX_MEMORY, .reloadable = 1, .reload_note = "(for later creates)",
     .help = "bytes (payload and metadata) the objects of one user may take; 0: no limit",
     .doc = "Every object counts against the user (uid) whose program created it, from its "
            "create until it is freed, sealed or not, in memory or on disk; durable objects "
            "brought back by a restart count against the daemon's own user. A create or put "
            "past the quota fails with ENOSPC naming it. Overrides per user and per group, as "
            "many lines as needed: quota_bytes.alice = 10G (a user name or uid), "
            "quota_bytes.@research = 50G (a group name or gid, with @); 0 or unlimited: no limit. "
            "A user's own line wins; else the most generous line of the groups the user is in; "
            "else this default. `storectl users` shows what each user holds."},
    {.key = "quota_objects", .type = CONFIG_COUNT, FIELD(quota_objects), .default_text = "0",
     .min = 0, .max = UINT64_MAX, .reloadable = 1, .reload_note = "(for later creates)",
     .help = "objects one user may hold at once; 0: no limit",
     .doc = "Counted and overridden as quota_bytes is: quota_objects.alice = 1000, "
            "quota_objects.@students = 100."},
};

const size_t config_row_count = sizeof config_rows / sizeof config_rows[0];
_Static_assert(sizeof config_rows / sizeof config_rows[0] <= CONFIG_ROWS_MAX,
               "raise CONFIG_ROWS_MAX");

const struct config_row *config_find(const char *key)
{
    for (size_t i = 0; i < config_row_count; i++)
        if (strcmp(config_rows[i].key, key) == 0)
            return &config_rows[i];
    return NULL;
}

/* ---- the field behind a row ----------------------------------------------------------------- */

static void *field_of(struct options *o, const struct config_row *row)
{
    return (char *)o + row->offset;
}

static const void *const_field_of(const struct options *o, const struct config_row *row)
{
    return (const char *)o + row->offset;
}

/* Unsigned and enum fields are 4 or 8 bytes wide; the row's size says which. */
static uint64_t load_uint(const void *field, size_t size)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, field, sizeof v);
    return v;
}

static void store_uint(void *field, size_t size, uint64_t value)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v = (uint32_t)value;
        memcpy(field, &v, sizeof v);
    } else {
        memcpy(field, &value, sizeof value);
    }
}

/* ---- what a row accepts --------------------------------------------------------------------- */

/* 1073741824 as "1G": the largest suffix that divides it exactly. */
static const char *format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char suffixes[] = "KMGT";
    int unit = -1;
    while (bytes && unit < 3 && bytes % 1024 == 0) {
        bytes /= 1024;
        unit++;
    }
    if (unit < 0)
        snprintf(buf, len, "%llu", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%llu%c", (unsigned long long)bytes, suffixes[unit]);
    return buf;
}

/* "error, warn, info or debug": each value once, by its first word. */
static const char *format_words(const struct config_word *words, char *buf, size_t len)
{
    size_t distinct = 0, used = 0;
    for (size_t i = 0; words[i].word; i++)
        if (i == 0 || words[i].value != words[i - 1].value)
            distinct++;
    buf[0] = '\0';
    size_t shown = 0;
    for (size_t i = 0; words[i].word && used < len; i++) {
        if (i > 0 && words[i].value == words[i - 1].value)
            continue;
        shown++;
        const char *sep = shown == 1 ? "" : shown == distinct ? " or " : ", ";
        used += (size_t)snprintf(buf + used, len - used, "%s%s", sep, words[i].word);
    }
    return buf;
}

const char *config_describe(const struct config_row *row, char *buf, size_t len)
{
    char lo[32], hi[32];
    switch (row->type) {
    case CONFIG_STRING:
        snprintf(buf, len, "text of at most %zu bytes", row->size - 1);
        break;
    case CONFIG_SIZE:
        snprintf(buf, len, "a size from %s to %s: bytes, or a number with K, M, G or T (powers "
                 "of 1024)", format_size(row->min, lo, sizeof lo),
                 format_size(row->max, hi, sizeof hi));
        break;
    case CONFIG_BOOL:
        snprintf(buf, len, "yes or no");
        break;
    case CONFIG_COUNT:
        if (row->max == UINT64_MAX)
            snprintf(buf, len, "a whole number of at least %llu", (unsigned long long)row->min);
        else
            snprintf(buf, len, "a whole number from %llu to %llu", (unsigned long long)row->min,
                     (unsigned long long)row->max);
        break;
    case CONFIG_MODE:
        snprintf(buf, len, "octal permission bits like 0660, at most 0777");
        break;
    case CONFIG_GROUP:
        snprintf(buf, len, "a group name or number, or empty");
        break;
    case CONFIG_USERS:
    case CONFIG_GROUPS:
        snprintf(buf, len, "%s names or numbers, comma-separated, at most %d",
                 row->type == CONFIG_USERS ? "user" : "group", OPTIONS_IDS_MAX);
        break;
    case CONFIG_ENUM:
        format_words(row->words, buf, len);
        break;
    case CONFIG_DURATION:
        snprintf(buf, len, "a duration from %llums to %llus: a whole number with ms or s "
                 "(no suffix: seconds)", (unsigned long long)row->min,
                 (unsigned long long)(row->max / 1000));
        break;
    }
    return buf;
}


/* ---- parsing ------------------------------------------------------------------------------- */

static int parse_bool(const char *value, int *out)
{
    if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1"))
        *out = 1;
    else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Digits only: strtoull alone would take "-1", " 7" and "0x10". */
static int parse_number(const char *value, int base, uint64_t *out)
{
    if (!isdigit((unsigned char)*value))
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(value, &end, base);
    if (*end || errno)
        return -1;
    *out = n;
    return 0;
}

static long user_id(const char *name)
{
    struct passwd *pw = getpwnam(name);
    return pw ? (long)pw->pw_uid : -1;
}

static long group_id(const char *name)
{
    struct group *gr = getgrnam(name);
    return gr ? (long)gr->gr_gid : -1;
}

/* A number, or a name looked up with lookup (which returns -1 when there is none). */
static int parse_id(const char *text, long (*lookup)(const char *), uint32_t *out)
{
    uint64_t id;
    if (parse_number(text, 10, &id) == 0 && id < UINT32_MAX) {
        *out = (uint32_t)id;
        return 0;
    }
    long found = lookup(text);
    if (found < 0)
        return -1;
    *out = (uint32_t)found;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* "alice, bob, 1005" into a list of ids. */
static int parse_id_list(const char *value, long (*lookup)(const char *), const char *what,
                         struct id_list *list, char *problem, size_t len)
{
    char copy[1024];
    if (strlen(value) >= sizeof copy) {
        snprintf(problem, len, "list longer than %zu bytes", sizeof copy - 1);
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", value);
    memset(list, 0, sizeof *list);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        item = trim(item);
        if (!*item)
            continue;
        if (list->count == OPTIONS_IDS_MAX) {
            snprintf(problem, len, "more than %d entries", OPTIONS_IDS_MAX);
            return -1;
        }
        if (parse_id(item, lookup, &list->ids[list->count]) != 0) {
            snprintf(problem, len, "no such %s: %s", what, item);
            return -1;
        }
        list->count++;
    }
    return 0;
}

/* -1 when value is none of the row's words. */
static int parse_word(const struct config_word *words, const char *value, int *out)
{
    for (size_t i = 0; words[i].word; i++) {
        if (strcasecmp(words[i].word, value) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return -1;
}

/* "250ms", "2s" or "2" (seconds) into milliseconds. */
static int parse_duration_ms(const char *value, uint64_t *out)
{
    char digits[32];
    size_t n = strspn(value, "0123456789");
    if (n == 0 || n >= sizeof digits)
        return -1;
    memcpy(digits, value, n);
    digits[n] = '\0';
    uint64_t count;
    if (parse_number(digits, 10, &count) != 0)
        return -1;
    const char *unit = value + n;
    uint64_t scale = strcmp(unit, "ms") == 0 ? 1 : (!*unit || strcmp(unit, "s") == 0) ? 1000 : 0;
    if (!scale || count > UINT64_MAX / scale)
        return -1;
    *out = count * scale;
    return 0;
}

int config_set(struct options *o, const struct config_row *row, const char *value,
               char *problem, size_t len)
{
    void *field = field_of(o, row);
    uint64_t n;
    int flag;
    char what[256];
    switch (row->type) {
    case CONFIG_STRING:
        if (strlen(value) >= row->size)
            break;
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case CONFIG_SIZE:
        if (human_size_parse(value, &n) != 0 || n < row->min || n > row->max)
            break;
        store_uint(field, row->size, n);
        return 0;
    case CONFIG_BOOL:
        if (parse_bool(value, &flag) != 0)
            break;
        memcpy(field, &flag, sizeof flag);
        return 0;
    case CONFIG_COUNT:
        if (parse_number(value, 10, &n) != 0 || n < row->min || n > row->max)
            break;
        store_uint(field, row->size, n);
        return 0;
    case CONFIG_MODE:
        if (parse_number(value, 8, &n) != 0 || n > 0777)
            break;
        store_uint(field, row->size, n);
        return 0;
    case CONFIG_GROUP: {
        long gid = -1;
        if (*value) {
            uint32_t id;
            if (parse_id(value, group_id, &id) != 0) {
                snprintf(problem, len, "no such group: %s", value);
                return -1;
            }
            gid = (long)id;
        }
        memcpy(field, &gid, sizeof gid);
        return 0;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct id_list list;
        int users = row->type == CONFIG_USERS;
        if (parse_id_list(value, users ? user_id : group_id, users ? "user" : "group", &list,
                          problem, len) != 0)
            return -1;
        memcpy(field, &list, sizeof list);
        return 0;
    }
    case CONFIG_ENUM:
        if (parse_word(row->words, value, &flag) != 0)
            break;
        store_uint(field, row->size, (uint64_t)flag);
        return 0;
    case CONFIG_DURATION:
        if (parse_duration_ms(value, &n) != 0 || n < row->min || n > row->max)
            break;
        store_uint(field, row->size, n);
        return 0;
    }
    snprintf(problem, len, "must be %s", config_describe(row, what, sizeof what));
    return -1;
}

/* ---- printing ------------------------------------------------------------------------------- */

const char *config_format(const struct options *o, const struct config_row *row, char *buf,
                          size_t len)
{
    const void *field = const_field_of(o, row);
    uint64_t n = 0;
    if (row->type == CONFIG_SIZE || row->type == CONFIG_COUNT || row->type == CONFIG_MODE ||
        row->type == CONFIG_ENUM || row->type == CONFIG_DURATION)
        n = load_uint(field, row->size);
    buf[0] = '\0';
    switch (row->type) {
    case CONFIG_STRING:
        snprintf(buf, len, "%.*s", (int)row->size, (const char *)field);
        break;
    case CONFIG_SIZE:
        format_size(n, buf, len);
        break;
    case CONFIG_BOOL: {
        int flag;
        memcpy(&flag, field, sizeof flag);
        snprintf(buf, len, "%s", flag ? "yes" : "no");
        break;
    }
    case CONFIG_COUNT:
        snprintf(buf, len, "%llu", (unsigned long long)n);
        break;
    case CONFIG_MODE:
        snprintf(buf, len, "%04llo", (unsigned long long)n);
        break;
    case CONFIG_GROUP: {
        long gid;
        memcpy(&gid, field, sizeof gid);
        if (gid >= 0)
            snprintf(buf, len, "%ld", gid);
        break;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct id_list list;
        memcpy(&list, field, sizeof list);
        if (list.count)
            options_format_ids(&list, buf, len);
        break;
    }
    case CONFIG_DURATION:
        if (n % 1000 == 0)
            snprintf(buf, len, "%llus", (unsigned long long)(n / 1000));
        else
            snprintf(buf, len, "%llums", (unsigned long long)n);
        break;
    case CONFIG_ENUM:
        snprintf(buf, len, "%llu", (unsigned long long)n);
        for (size_t i = 0; row->words[i].word; i++) {
            if ((uint64_t)row->words[i].value == n) {
                snprintf(buf, len, "%s", row->words[i].word);
                break;
            }
        }
        break;
    }
    return buf;
}

void config_set_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->lifeline_fd = -1;   /* not a setting: the command line alone gives one */
    for (size_t i = 0; i < config_row_count; i++) {
        char problem[512];
        /* A default the parser refuses is a bug in the table, which tests/unit/test_config.c
         * catches; no user input can get here. */
        if (config_set(o, &config_rows[i], config_rows[i].default_text, problem,
                       sizeof problem) != 0) {
            fprintf(stderr, "shmstored: default of %s: %s\n", config_rows[i].key, problem);
            abort();
        }
    }
}

/* ---- the config file ------------------------------------------------------------------------ */

int config_load_file(struct options *o, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *text = trim(line);
        if (!*text)
            continue;
        char *eq = strchr(text, '=');
        if (!eq) {
            snprintf(why, whylen, "%s:%u: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(text), *value = trim(eq + 1);
        const struct config_row *row = config_find(key);
        char problem[1200];
        if (!row) {
            /* quota_bytes.alice, quota_objects.@research: quota.h */
            rc = quota_rule_parse(&o->quota_rules, key, value, problem, sizeof problem);
            if (rc > 0) {
                snprintf(problem, sizeof problem, "unknown key");
                rc = -1;
            }
        } else {
            rc = config_set(o, row, value, problem, sizeof problem);
        }
        if (rc != 0)
            snprintf(why, whylen, "%s:%u: %s: %s", path, lineno, key, problem);
    }
    fclose(f);
    return rc;
}

void config_print_wrapped(FILE *out, const char *first, const char *prefix, const char *text,
                          size_t width)
{
    const char *lead = first;
    size_t column = 0;
    int open = 0;
    for (const char *p = text; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t n = strcspn(p, " ");
        if (open && column + 1 + n > width) {
            fputc('\n', out);
            open = 0;
        }
        if (open) {
            fputc(' ', out);
            column++;
        } else {
            fputs(lead, out);
            column = strlen(lead);
            lead = prefix;
            open = 1;
        }
        fwrite(p, 1, n, out);
        column += n;
        p += n;
    }
    if (open)
        fputc('\n', out);
}

static const char example_header[] =
    "shmstored.conf — settings of shmstored, read from /etc/shmstore/shmstored.conf when it "
    "exists (or the file named by -c). One `key = value` per line; `#` starts a comment. The "
    "command line wins over this file. An unknown key or a bad value stops the start with "
    "FILE:LINE and what is wrong. SIGHUP re-reads this file and applies the keys marked "
    "reloadable without dropping clients; a file with an error is logged and changes nothing. "
    "Every key is shown here with its default; remove the # to set one. This file is the output "
    "of `shmstored --print-config`.";

/* printf at the end of buf[*used..len), never past it. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    *used = n < 0 ? len : *used + (size_t)n;
}

/* The paragraph above a key in the example config. */
static void print_row_doc(FILE *out, const struct config_row *row)
{
    char text[4096], values[256];
    size_t used = 0;
    append(text, sizeof text, &used, "%c%s.", toupper((unsigned char)row->help[0]), row->help + 1);
    if (row->doc)
        append(text, sizeof text, &used, " %s", row->doc);
    append(text, sizeof text, &used, " Value: %s. %s", config_describe(row, values, sizeof values),
           row->reloadable ? "Reloadable." : "Read at start only.");
    if (row->flag) {
        append(text, sizeof text, &used, " Command line: ");
        if (row->short_flag)
            append(text, sizeof text, &used, "-%c, ", row->short_flag);
        append(text, sizeof text, &used, "--%s", row->flag);
        if (row->flag_off)
            append(text, sizeof text, &used, ", --%s", row->flag_off);
        append(text, sizeof text, &used, ".");
    }
    config_print_wrapped(out, "# ", "# ", text, 96);
}

void config_print_example(FILE *out)
{
    config_print_wrapped(out, "# ", "# ", example_header, 96);
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        fputc('\n', out);
        print_row_doc(out, row);
        fprintf(out, "#%s =%s%s\n", row->key, row->default_text[0] ? " " : "",
                row->default_text);
    }
}
