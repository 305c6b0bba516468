/*
 * options.c — command line and config file of shmstored.
 *
 * The command line is read twice: first only for -c and the informational flags, so that the
 * config file can be applied before the rest of the command line overrides it. The config file
 * is `key = value` lines with `#` comments; an unknown key or a bad value stops the start with
 * FILE:LINE and what is wrong, because a daemon that silently ignores a typo in its access lists
 * is worse than one that refuses to start. Every key is one row of a table: its name and the
 * function that parses its value. User and group names are resolved to ids here, once, so a
 * connection's check is a comparison of numbers.
 */
#define _GNU_SOURCE
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "humansize.h"
#include "shmstore.h"
#include "sockpath.h"

static const char usage_text[] =
    "Usage: shmstored [OPTION]...\n"
    "Serve a shared-memory object store on a Unix socket, in the foreground.\n"
    "\n"
    "  -s, --socket PATH      listen on PATH (default: $SHMSTORE_SOCKET, else\n"
    "                         /run/shmstore/shmstore.sock for root, else\n"
    "                         $XDG_RUNTIME_DIR/shmstore.sock or /tmp/shmstore-UID.sock)\n"
    "  -m, --memory SIZE      arena capacity, with K/M/G/T suffixes (default 1G)\n"
    "  -c, --config FILE      read settings from FILE (default " OPTIONS_DEFAULT_CONFIG
    " if it exists)\n"
    "      --no-reserve       do not reserve the arena's memory at start\n"
    "      --log-level LEVEL  error, warn, info (default) or debug\n"
    "      --version          print the version and exit\n"
    "      --help             print this help and exit\n"
    "\n"
    "Stop it with SIGTERM or SIGINT; it removes its socket on the way out. SIGHUP re-reads the\n"
    "configuration and applies the log level, access lists and limits.\n";

enum { OPT_LOG_LEVEL = 256, OPT_NO_RESERVE, OPT_RESERVE, OPT_VERSION, OPT_HELP };

static const struct option long_options[] = {
    {"socket", required_argument, NULL, 's'},
    {"memory", required_argument, NULL, 'm'},
    {"config", required_argument, NULL, 'c'},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"no-reserve", no_argument, NULL, OPT_NO_RESERVE},
    {"reserve", no_argument, NULL, OPT_RESERVE},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* ---- value parsers: NULL, or what is wrong with the value ----------------------------------- */

static const char *parse_socket(struct options *o, const char *value)
{
    if (!*value || strlen(value) >= sizeof o->socket_path)
        return "socket path empty or longer than 107 bytes";
    snprintf(o->socket_path, sizeof o->socket_path, "%s", value);
    return NULL;
}

static const char *parse_memory(struct options *o, const char *value)
{
    if (human_size_parse(value, &o->memory) != 0 || o->memory == 0)
        return "memory must be a size like 512M or 4G";
    if (o->memory > OPTIONS_MAX_MEMORY)
        return "memory must be at most 1P";
    return NULL;
}

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

static const char *parse_reserve(struct options *o, const char *value)
{
    return parse_bool(value, &o->reserve) ? "reserve must be yes or no" : NULL;
}

static const char *parse_log_level(struct options *o, const char *value)
{
    return log_level_parse(value, &o->log_level) ? "log level must be error, warn, info or debug"
                                                  : NULL;
}

static const char *parse_socket_mode(struct options *o, const char *value)
{
    char *end;
    unsigned long mode = strtoul(value, &end, 8);
    if (!*value || *end || mode > 0777)
        return "socket_mode must be octal permission bits like 0660";
    o->socket_mode = (unsigned)mode;
    return NULL;
}

/* A number, or a name looked up with `lookup` (which returns -1 when there is none). */
static int parse_id(const char *text, long (*lookup)(const char *), uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long id = strtoul(text, &end, 10);
    if (isdigit((unsigned char)*text) && !*end && !errno && id < UINT32_MAX) {
        *out = (uint32_t)id;
        return 0;
    }
    long found = lookup(text);
    if (found < 0)
        return -1;
    *out = (uint32_t)found;
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

static const char *parse_socket_group(struct options *o, const char *value)
{
    uint32_t gid;
    if (parse_id(value, group_id, &gid) != 0)
        return "socket_group: no such group";
    o->socket_group = (long)gid;
    return NULL;
}

/* "alice, bob, 1005" into a list of ids. */
static const char *parse_id_list(struct id_list *list, const char *value,
                                 long (*lookup)(const char *), const char *unknown)
{
    char copy[1024];
    if (strlen(value) >= sizeof copy)
        return "list too long";
    snprintf(copy, sizeof copy, "%s", value);
    list->count = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*item))
            item++;
        char *stop = item + strlen(item);
        while (stop > item && isspace((unsigned char)stop[-1]))
            *--stop = '\0';
        if (!*item)
            continue;
        if (list->count == OPTIONS_IDS_MAX)
            return "more than 64 entries";
        if (parse_id(item, lookup, &list->ids[list->count]) != 0)
            return unknown;
        list->count++;
    }
    return NULL;
}

static const char *parse_allow_users(struct options *o, const char *value)
{
    return parse_id_list(&o->allow_users, value, user_id, "no such user");
}

static const char *parse_allow_groups(struct options *o, const char *value)
{
    return parse_id_list(&o->allow_groups, value, group_id, "no such group");
}

static const char *parse_readonly_users(struct options *o, const char *value)
{
    return parse_id_list(&o->readonly_users, value, user_id, "no such user");
}

static const char *parse_readonly_groups(struct options *o, const char *value)
{
    return parse_id_list(&o->readonly_groups, value, group_id, "no such group");
}

static const char *parse_count(const char *value, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (!isdigit((unsigned char)*value) || *end || errno || n > max)
        return "must be a whole number";
    *out = n;
    return NULL;
}

static const char *parse_max_clients(struct options *o, const char *value)
{
    uint64_t n;
    const char *problem = parse_count(value, 1000000, &n);
    if (problem || n == 0)
        return "max_clients must be a number from 1 to 1000000";
    o->max_clients = (uint32_t)n;
    return NULL;
}

static const char *parse_max_pins(struct options *o, const char *value)
{
    if (parse_count(value, UINT64_MAX, &o->max_pins_per_client) || !o->max_pins_per_client)
        return "max_pins_per_client must be a number of at least 1";
    return NULL;
}

static const char *parse_max_unsealed(struct options *o, const char *value)
{
    if (human_size_parse(value, &o->max_unsealed_bytes_per_client) != 0)
        return "max_unsealed_bytes_per_client must be a size like 256M (0: no limit)";
    return NULL;
}

static const struct setting {
    const char *key;
    const char *(*parse)(struct options *o, const char *value);
} settings[] = {
    {"socket", parse_socket},
    {"memory", parse_memory},
    {"reserve", parse_reserve},
    {"log_level", parse_log_level},
    {"socket_mode", parse_socket_mode},
    {"socket_group", parse_socket_group},
    {"allow_users", parse_allow_users},
    {"allow_groups", parse_allow_groups},
    {"readonly_users", parse_readonly_users},
    {"readonly_groups", parse_readonly_groups},
    {"max_clients", parse_max_clients},
    {"max_pins_per_client", parse_max_pins},
    {"max_unsealed_bytes_per_client", parse_max_unsealed},
};

static const char *apply_setting(struct options *o, const char *key, const char *value)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(settings[i].key, key) == 0)
            return settings[i].parse(o, value);
    return "unknown key";
}

/* ---- the config file ------------------------------------------------------------------------ */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_config(struct options *o, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    unsigned lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
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
        const char *problem = apply_setting(o, key, value);
        if (problem) {
            snprintf(why, whylen, "%s:%u: %s: %s", path, lineno, key, problem);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void set_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->memory = OPTIONS_DEFAULT_MEMORY;
    o->reserve = 1;
    o->log_level = LOG_LEVEL_INFO;
    o->socket_mode = 0660;
    o->socket_group = -1;
    o->max_clients = 4096;
    o->max_pins_per_client = 1u << 20;
}

/* Both passes over argv and the file between them. `quiet`: report problems only in why (for
 * a reload), not on stderr, and never act on --help or --version. */
static enum options_result parse_all(struct options *o, int argc, char **argv, int quiet,
                                     char *why, size_t whylen)
{
    set_defaults(o);
    o->argc = argc;
    o->argv = argv;

    /* Pass 1: the config file and the flags that end the program. */
    const char *config = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:m:c:", long_options, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == OPT_HELP && !quiet) {
            fputs(usage_text, stdout);
            return OPTIONS_EXIT_OK;
        } else if (c == OPT_VERSION && !quiet) {
            printf("shmstored %s (protocol %u)\n", SHMSTORE_VERSION_STRING, 1u);
            return OPTIONS_EXIT_OK;
        }
    }
    if (!config && access(OPTIONS_DEFAULT_CONFIG, F_OK) == 0)
        config = OPTIONS_DEFAULT_CONFIG;
    if (config) {
        snprintf(o->config_path, sizeof o->config_path, "%s", config);
        if (load_config(o, config, why, whylen) != 0)
            return OPTIONS_EXIT_USAGE;
    }

    /* Pass 2: everything else, over the file's values. */
    optind = 0;
    opterr = !quiet;
    while ((c = getopt_long(argc, argv, "s:m:c:", long_options, NULL)) != -1) {
        const char *problem = NULL;
        switch (c) {
        case 's': problem = parse_socket(o, optarg); break;
        case 'm': problem = parse_memory(o, optarg); break;
        case OPT_LOG_LEVEL: problem = parse_log_level(o, optarg); break;
        case OPT_NO_RESERVE: o->reserve = 0; break;
        case OPT_RESERVE: o->reserve = 1; break;
        case 'c': case OPT_HELP: case OPT_VERSION: break;
        default:
            snprintf(why, whylen, "bad option (try 'shmstored --help')");
            return OPTIONS_EXIT_USAGE;
        }
        if (problem) {
            snprintf(why, whylen, "%s: %s", optarg, problem);
            return OPTIONS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        snprintf(why, whylen, "unexpected argument '%s' (try 'shmstored --help')", argv[optind]);
        return OPTIONS_EXIT_USAGE;
    }
    if (!o->socket_path[0] && shm_default_socket_path(o->socket_path, sizeof o->socket_path) != 0) {
        snprintf(why, whylen, "the default socket path is too long; give one with -s");
        return OPTIONS_EXIT_USAGE;
    }
    return OPTIONS_RUN;
}

enum options_result options_parse(struct options *o, int argc, char **argv)
{
    char why[4200] = "";
    enum options_result r = parse_all(o, argc, argv, 0, why, sizeof why);
    if (r == OPTIONS_EXIT_USAGE && why[0])
        fprintf(stderr, "shmstored: %s\n", why);
    return r;
}

int options_reload(const struct options *current, struct options *fresh, char *why,
                   size_t whylen)
{
    /* Without the file the daemon started with, every setting would fall back to its default,
     * and empty access lists admit everyone: a vanished file is an error, not a reset. */
    if (current->config_path[0] && access(current->config_path, R_OK) != 0) {
        snprintf(why, whylen, "%s: %s", current->config_path, strerror(errno));
        return -1;
    }
    return parse_all(fresh, current->argc, current->argv, 1, why, whylen) == OPTIONS_RUN ? 0 : -1;
}

int options_has_access_lists(const struct options *o)
{
    return o->allow_users.count || o->allow_groups.count || o->readonly_users.count ||
           o->readonly_groups.count;
}

const char *options_format_ids(const struct id_list *l, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < l->count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? ", " : "", l->ids[i]);
    if (!l->count)
        snprintf(buf, len, "(none)");
    return buf;
}

static int same_ids(const struct id_list *a, const struct id_list *b)
{
    return a->count == b->count && memcmp(a->ids, b->ids, a->count * sizeof a->ids[0]) == 0;
}

void options_apply_reload(struct options *current, const struct options *fresh)
{
    static const char *const level_names[] = {"error", "warn", "info", "debug"};
    int changes = 0;
    if (current->log_level != fresh->log_level) {
        log_info("reload: log_level %s -> %s", level_names[current->log_level],
                 level_names[fresh->log_level]);
        current->log_level = fresh->log_level;
        changes++;
    }
    const struct {
        const char *key;
        struct id_list *now;
        const struct id_list *next;
    } lists[] = {
        {"allow_users", &current->allow_users, &fresh->allow_users},
        {"allow_groups", &current->allow_groups, &fresh->allow_groups},
        {"readonly_users", &current->readonly_users, &fresh->readonly_users},
        {"readonly_groups", &current->readonly_groups, &fresh->readonly_groups},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (same_ids(lists[i].now, lists[i].next))
            continue;
        char before[512], after[512];
        log_info("reload: %s %s -> %s (for new connections)", lists[i].key,
                 options_format_ids(lists[i].now, before, sizeof before),
                 options_format_ids(lists[i].next, after, sizeof after));
        *lists[i].now = *lists[i].next;
        changes++;
    }
    const struct {
        const char *key;
        uint64_t *now;
        uint64_t next;
    } limits[] = {
        {"max_pins_per_client", &current->max_pins_per_client, fresh->max_pins_per_client},
        {"max_unsealed_bytes_per_client", &current->max_unsealed_bytes_per_client,
         fresh->max_unsealed_bytes_per_client},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (*limits[i].now == limits[i].next)
            continue;
        log_info("reload: %s %llu -> %llu", limits[i].key, (unsigned long long)*limits[i].now,
                 (unsigned long long)limits[i].next);
        *limits[i].now = limits[i].next;
        changes++;
    }
    if (current->max_clients != fresh->max_clients) {
        log_info("reload: max_clients %u -> %u", current->max_clients, fresh->max_clients);
        current->max_clients = fresh->max_clients;
        changes++;
    }
    if (strcmp(current->socket_path, fresh->socket_path) || current->memory != fresh->memory ||
        current->reserve != fresh->reserve || current->socket_mode != fresh->socket_mode ||
        current->socket_group != fresh->socket_group)
        log_warn("reload: socket, memory, reserve, socket_mode and socket_group take effect only "
                 "at the next start");
    if (!changes)
        log_info("reload: nothing to change");
}
