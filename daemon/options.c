/*
 * options.c — command line and config file of shmstored.
 *
 * The command line is read twice: first only for -c and the informational flags, so that the
 * config file can be applied before the rest of the command line overrides it. The config file
 * is `key = value` lines with `#` comments; an unknown key or a bad value stops the start with
 * FILE:LINE and what is wrong, because a daemon that silently ignores a typo in its limits is
 * worse than one that refuses to start.
 */
#define _GNU_SOURCE
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
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
    "Stop it with SIGTERM or SIGINT; it removes its socket on the way out.\n";

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

/* One setting, from whichever source; returns NULL or what is wrong with the value. */
static const char *apply_setting(struct options *o, const char *key, const char *value)
{
    if (strcmp(key, "socket") == 0) {
        if (!*value || strlen(value) >= sizeof o->socket_path)
            return "socket path empty or longer than 107 bytes";
        snprintf(o->socket_path, sizeof o->socket_path, "%s", value);
    } else if (strcmp(key, "memory") == 0) {
        if (human_size_parse(value, &o->memory) != 0 || o->memory == 0)
            return "memory must be a size like 512M or 4G";
        if (o->memory > OPTIONS_MAX_MEMORY)
            return "memory must be at most 1P";
    } else if (strcmp(key, "reserve") == 0) {
        if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
            o->reserve = 1;
        else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
            o->reserve = 0;
        else
            return "reserve must be yes or no";
    } else if (strcmp(key, "log_level") == 0) {
        if (log_level_parse(value, &o->log_level) != 0)
            return "log level must be error, warn, info or debug";
    } else {
        return "unknown key";
    }
    return NULL;
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

static int load_config(struct options *o, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "shmstored: %s: %s\n", path, strerror(errno));
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
            fprintf(stderr, "shmstored: %s:%u: expected key = value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(text), *value = trim(eq + 1);
        const char *problem = apply_setting(o, key, value);
        if (problem) {
            fprintf(stderr, "shmstored: %s:%u: %s: %s\n", path, lineno, key, problem);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

enum options_result options_parse(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->memory = OPTIONS_DEFAULT_MEMORY;
    o->reserve = 1;
    o->log_level = LOG_LEVEL_INFO;

    /* Pass 1: the config file and the flags that end the program. */
    const char *config = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:m:c:", long_options, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == OPT_HELP) {
            fputs(usage_text, stdout);
            return OPTIONS_EXIT_OK;
        } else if (c == OPT_VERSION) {
            printf("shmstored %s (protocol %u)\n", SHMSTORE_VERSION_STRING, 1u);
            return OPTIONS_EXIT_OK;
        }
    }
    if (config) {
        snprintf(o->config_path, sizeof o->config_path, "%s", config);
        if (load_config(o, config) != 0)
            return OPTIONS_EXIT_USAGE;
    } else if (access(OPTIONS_DEFAULT_CONFIG, F_OK) == 0) {
        snprintf(o->config_path, sizeof o->config_path, "%s", OPTIONS_DEFAULT_CONFIG);
        if (load_config(o, OPTIONS_DEFAULT_CONFIG) != 0)
            return OPTIONS_EXIT_USAGE;
    }

    /* Pass 2: everything else, over the file's values. */
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "s:m:c:", long_options, NULL)) != -1) {
        const char *problem = NULL;
        switch (c) {
        case 's': problem = apply_setting(o, "socket", optarg); break;
        case 'm': problem = apply_setting(o, "memory", optarg); break;
        case OPT_LOG_LEVEL: problem = apply_setting(o, "log_level", optarg); break;
        case OPT_NO_RESERVE: o->reserve = 0; break;
        case OPT_RESERVE: o->reserve = 1; break;
        case 'c': case OPT_HELP: case OPT_VERSION: break;
        default:
            fputs("Try 'shmstored --help' for more information.\n", stderr);
            return OPTIONS_EXIT_USAGE;
        }
        if (problem) {
            fprintf(stderr, "shmstored: %s: %s\n", optarg, problem);
            return OPTIONS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shmstored: unexpected argument '%s'\nTry 'shmstored --help' for more information.\n",
                argv[optind]);
        return OPTIONS_EXIT_USAGE;
    }
    if (!o->socket_path[0] && shm_default_socket_path(o->socket_path, sizeof o->socket_path) != 0) {
        fprintf(stderr, "shmstored: the default socket path is too long; give one with -s\n");
        return OPTIONS_EXIT_USAGE;
    }
    return OPTIONS_RUN;
}
