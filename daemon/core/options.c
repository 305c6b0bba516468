/*
 * options.c — shmstored's command line, and the SIGHUP reload, over the settings table of
 * config.c.
 *
 * The getopt tables and --help are built from that table, so a key with a flag is one row
 * there and nothing here. The command line is read twice: first only for -c and the flags
 * that end the program, so that the config file can be applied before the rest of the command
 * line overrides it. A reload parses everything again into a fresh struct and then copies over
 * only the keys the table marks reloadable, logging each change.
 */
#define _GNU_SOURCE
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "shmstore.h"
#include "sockpath.h"

/* getopt values of the table's flags: FLAG_BASE + 2 * row, + 1 for a bool's "off" flag. */
enum { OPT_VERSION = 256, OPT_PRINT_CONFIG, OPT_LIFELINE, FLAG_BASE = 1000 };

/* The options that are not settings, in --help order after the table's. */
static const struct {
    char short_flag;
    const char *flag, *metavar, *help;
    int val;
} fixed_options[] = {
    {'c', "config", "FILE",
     "read settings from FILE (default " OPTIONS_DEFAULT_CONFIG " if it exists)", 'c'},
    {0, "lifeline", "FD",
     "run only as long as descriptor FD (the read end of a pipe whose write end the starting "
     "process keeps) stays open: at its end of file, error or hangup, stop as on SIGTERM; bytes "
     "read from it are ignored. Not a config file setting",
     OPT_LIFELINE},
    {0, "print-config", NULL,
     "print an example config file, every key with its default and help, and exit",
     OPT_PRINT_CONFIG},
    {0, "version", NULL, "print the version and exit", OPT_VERSION},
    {'h', "help", NULL, "print this help and exit", 'h'},
};
#define FIXED_COUNT (sizeof fixed_options / sizeof fixed_options[0])

struct getopt_tables {
    struct option longs[2 * CONFIG_ROWS_MAX + FIXED_COUNT + 1];
    char shorts[2 * (CONFIG_ROWS_MAX + FIXED_COUNT) + 1];   /* "s:m:c:h" */
};

static void add_short(struct getopt_tables *t, char flag, int takes_argument)
{
    size_t used = strlen(t->shorts);
    snprintf(t->shorts + used, sizeof t->shorts - used, "%c%s", flag, takes_argument ? ":" : "");
}

static void build_getopt_tables(struct getopt_tables *t)
{
    size_t n = 0;
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        if (!row->flag)
            continue;
        int takes_argument = row->type != CONFIG_BOOL;
        t->longs[n++] = (struct option){row->flag, takes_argument ? required_argument
                                                                  : no_argument,
                                        NULL, FLAG_BASE + 2 * (int)i};
        if (row->flag_off)
            t->longs[n++] = (struct option){row->flag_off, no_argument, NULL,
                                            FLAG_BASE + 2 * (int)i + 1};
        if (row->short_flag)
            add_short(t, row->short_flag, takes_argument);
    }
    for (size_t i = 0; i < FIXED_COUNT; i++) {
        t->longs[n++] = (struct option){fixed_options[i].flag,
                                        fixed_options[i].metavar ? required_argument
                                                                 : no_argument,
                                        NULL, fixed_options[i].val};
        if (fixed_options[i].short_flag)
            add_short(t, fixed_options[i].short_flag, fixed_options[i].metavar != NULL);
    }
}

/* The row a getopt value stands for, and whether it is a bool's "off" flag; NULL for others. */
static const struct config_row *row_of_option(int c, int *off)
{
    *off = 0;
    if (c >= FLAG_BASE && (size_t)(c - FLAG_BASE) < 2 * config_row_count) {
        *off = (c - FLAG_BASE) % 2;
        return &config_rows[(c - FLAG_BASE) / 2];
    }
    for (size_t i = 0; i < config_row_count; i++)
        if (config_rows[i].short_flag && config_rows[i].short_flag == c)
            return &config_rows[i];
    return NULL;
}

/* ---- --help ---------------------------------------------------------------------------------- */

/* "  -s, --socket PATH      help..." wrapped under the help column. */
static void print_option(char short_flag, const char *flag, const char *metavar,
                         const char *help)
{
    char column[64], lead[80];
    if (short_flag)
        snprintf(column, sizeof column, "  -%c, --%s", short_flag, flag);
    else
        snprintf(column, sizeof column, "      --%s", flag);
    if (metavar)
        snprintf(column + strlen(column), sizeof column - strlen(column), " %s", metavar);
    snprintf(lead, sizeof lead, "%-23s  ", column);
    config_print_wrapped(stdout, lead, "                         ", help, 79);
}

static void print_help(void)
{
    fputs("Usage: shmstored [OPTION]...\n"
          "Serve a shared-memory object store on a Unix socket, in the foreground.\n"
          "\n",
          stdout);
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        if (!row->flag)
            continue;
        char values[256] = "", fallback[128] = "", text[1024];
        if (row->type == CONFIG_ENUM)
            snprintf(values, sizeof values, ": %s", config_describe(row, text, sizeof text));
        if (row->type == CONFIG_BOOL) {
            if (strcmp(row->default_text, "yes") == 0)
                snprintf(fallback, sizeof fallback, " (the default)");
        } else if (row->default_text[0]) {
            snprintf(fallback, sizeof fallback, " (default %s)", row->default_text);
        }
        snprintf(text, sizeof text, "%s%s%s", row->help, values, fallback);
        print_option(row->short_flag, row->flag,
                     row->type == CONFIG_BOOL ? NULL : row->metavar ? row->metavar : "VALUE",
                     text);
        if (row->flag_off) {
            snprintf(text, sizeof text, "%s%s", row->help_off,
                     strcmp(row->default_text, "no") == 0 ? " (the default)" : "");
            print_option(0, row->flag_off, NULL, text);
        }
    }
    for (size_t i = 0; i < FIXED_COUNT; i++)
        print_option(fixed_options[i].short_flag, fixed_options[i].flag,
                     fixed_options[i].metavar, fixed_options[i].help);
    fputc('\n', stdout);
    config_print_wrapped(stdout, "", "",
                         "Every setting, with a flag or without, can also be set in the config "
                         "file; the command line wins. Stop the daemon with SIGTERM or SIGINT; "
                         "it removes its socket on the way out. SIGHUP re-reads the "
                         "configuration and applies the settings that --print-config marks "
                         "reloadable (log level, access lists, limits and memory).",
                         79);
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* A descriptor number: digits only, within an int. 0, or -1 for anything else. */
static int parse_fd_number(const char *text, int *fd)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno || value > INT_MAX)
        return -1;
    *fd = (int)value;
    return 0;
}

/* Settings each valid alone that cannot be honoured together: 0, or -1 with what is wrong and
 * the way out in why. */
static int check_combination(const struct options *o, char *why, size_t whylen)
{
    if (o->persist_all && !o->data_dir[0]) {
        snprintf(why, whylen, "persist = all needs a data directory to keep objects in: set "
                 "data_dir (or start with -d DIR), or use persist = flagged");
        return -1;
    }
    return 0;
}

/* Both passes over argv and the file between them. `quiet`: report problems only in why (for
 * a reload), not on stderr, and never act on --help, --version or --print-config. */
static enum options_result parse_all(struct options *o, int argc, char **argv, int quiet,
                                     char *why, size_t whylen)
{
    struct getopt_tables t;
    build_getopt_tables(&t);
    config_set_defaults(o);
    o->argc = argc;
    o->argv = argv;

    /* Pass 1: the config file and the flags that end the program. */
    const char *config = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
        if (c == 'c') {
            config = optarg;
        } else if (c == OPT_LIFELINE) {
            if (parse_fd_number(optarg, &o->lifeline_fd) != 0) {
                snprintf(why, whylen, "--lifeline %s: not a file descriptor number", optarg);
                return OPTIONS_EXIT_USAGE;
            }
        } else if (quiet) {
            continue;
        } else if (c == 'h') {
            print_help();
            return OPTIONS_EXIT_OK;
        } else if (c == OPT_VERSION) {
            printf("shmstored %s (protocol %u)\n", SHMSTORE_VERSION_STRING, 1u);
            return OPTIONS_EXIT_OK;
        } else if (c == OPT_PRINT_CONFIG) {
            config_print_example(stdout);
            return OPTIONS_EXIT_OK;
        }
    }
    if (!config && access(OPTIONS_DEFAULT_CONFIG, F_OK) == 0)
        config = OPTIONS_DEFAULT_CONFIG;
    if (config) {
        snprintf(o->config_path, sizeof o->config_path, "%s", config);
        if (config_load_file(o, config, why, whylen) != 0)
            return OPTIONS_EXIT_USAGE;
    }

    /* Pass 2: every setting given as a flag, over the file's values. */
    optind = 0;
    opterr = !quiet;
    while ((c = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
        int off;
        const struct config_row *row = row_of_option(c, &off);
        if (!row) {
            if (c == '?' || c == ':') {
                snprintf(why, whylen, "bad option (try 'shmstored --help')");
                return OPTIONS_EXIT_USAGE;
            }
            continue;   /* one of the fixed options, done in pass 1 */
        }
        const char *value = row->type != CONFIG_BOOL ? optarg : off ? "no" : "yes";
        char problem[1200];
        if (config_set(o, row, value, problem, sizeof problem) != 0) {
            snprintf(why, whylen, "--%s %s: %s", row->flag, value, problem);
            return OPTIONS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        snprintf(why, whylen, "unexpected argument '%s' (try 'shmstored --help')", argv[optind]);
        return OPTIONS_EXIT_USAGE;
    }
    if (check_combination(o, why, whylen) != 0)
        return OPTIONS_EXIT_USAGE;
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

void options_apply_reload(struct options *current, const struct options *fresh)
{
    int changes = 0;
    for (size_t i = 0; i < config_row_count; i++) {
        const struct config_row *row = &config_rows[i];
        char before[1024], after[1024];
        config_format(current, row, before, sizeof before);
        config_format(fresh, row, after, sizeof after);
        if (strcmp(before, after) == 0)
            continue;
        const char *shown_before = before[0] ? before : "(none)";
        const char *shown_after = after[0] ? after : "(none)";
        if (!row->reloadable) {
            log_warn("reload: %s %s -> %s takes effect only at the next start", row->key,
                     shown_before, shown_after);
            continue;
        }
        log_info("reload: %s %s -> %s%s%s", row->key, shown_before, shown_after,
                 row->reload_note ? " " : "", row->reload_note ? row->reload_note : "");
        memcpy((char *)current + row->offset, (const char *)fresh + row->offset, row->size);
        changes++;
    }
    if (memcmp(&current->quota_rules, &fresh->quota_rules, sizeof fresh->quota_rules) != 0) {
        char rules[4096];
        log_info("reload: quota overrides now %s (for later creates)",
                 fresh->quota_rules.count
                     ? quota_rules_format(&fresh->quota_rules, rules, sizeof rules)
                     : "none");
        current->quota_rules = fresh->quota_rules;
        changes++;
    }
    if (!changes)
        log_info("reload: nothing to change");
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
