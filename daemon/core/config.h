/*
 * config.h — the table of shmstored's settings: one row per key, saying where the value lives in
 * struct options, how it is parsed and printed, its default, its bounds, whether SIGHUP may
 * change it, its command-line flags and its help. The config file, the command line, --help,
 * --print-config and the reload all read this table (docs/architecture.md, "Configuration").
 *
 * Adding a key: a field in struct options (options.h) and a row in config_rows (config.c).
 */
#ifndef SHMSTORE_CONFIG_H
#define SHMSTORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

enum config_type {
    CONFIG_STRING,   /* char array; may be empty; at most sizeof field - 1 bytes */
    CONFIG_SIZE,     /* uint64_t bytes, digits with an optional K/M/G/T suffix */
    CONFIG_BOOL,     /* int, yes/no (also true/false, 1/0) */
    CONFIG_COUNT,    /* uint32_t or uint64_t, a whole number */
    CONFIG_MODE,     /* unsigned, octal permission bits */
    CONFIG_GROUP,    /* long, a group name or number; empty stores -1 */
    CONFIG_USERS,    /* struct id_list of user names or numbers, comma-separated */
    CONFIG_GROUPS,   /* struct id_list of group names or numbers, comma-separated */
    CONFIG_ENUM,     /* int-sized enum, one of the row's words */
    CONFIG_DURATION, /* uint64_t milliseconds, a whole number with ms or s (no suffix: seconds) */
};

/* One accepted word of an enum key. Several words may share a value (aliases); the first one
 * with a value is how the value is printed. */
struct config_word {
    const char *word;
    int value;
};

struct config_row {
    const char *key;
    enum config_type type;
    size_t offset, size;                 /* of the field in struct options */
    const char *default_text;            /* parsed like a value from the file */
    uint64_t min, max;                   /* SIZE, COUNT and DURATION */
    const struct config_word *words;     /* ENUM: ends with {NULL, 0} */
    int reloadable;                      /* SIGHUP applies a change; else at the next start */
    const char *reload_note;             /* appended to the reload log line, e.g. for whom */
    char short_flag;                     /* command line, 0 for none */
    const char *flag;                    /* long flag without "--", NULL for none */
    const char *flag_off;                /* BOOL: the long flag that sets "no" */
    const char *metavar;                 /* the flag's argument in --help, e.g. "SIZE" */
    const char *help;                    /* one line, lower case, no final period */
    const char *help_off;                /* BOOL: help of flag_off */
    const char *doc;                     /* more for the example config, or NULL */
};

/* More rows than this is a compile error in config.c; the command line's tables are sized by it. */
#define CONFIG_ROWS_MAX 64

extern const struct config_row config_rows[];
extern const size_t config_row_count;

/* The row of key, or NULL. */
const struct config_row *config_find(const char *key);

/* Parse value into the row's field of *o. 0, or -1 with what is wrong in problem (without the
 * key, e.g. "must be yes or no"). *o is unchanged on failure. */
int config_set(struct options *o, const struct config_row *row, const char *value,
               char *problem, size_t len);

/* The row's value in *o as text that config_set accepts; empty lists and unset values are "". */
const char *config_format(const struct options *o, const struct config_row *row, char *buf,
                          size_t len);

/* What the row accepts, e.g. "a whole number from 1 to 1000000": the tail of error messages
 * ("must be ...") and of the example config. */
const char *config_describe(const struct config_row *row, char *buf, size_t len);

/* Zero *o and parse every row's default text into it. */
void config_set_defaults(struct options *o);

/* Apply the `key = value` lines of the file at path over *o. 0, or -1 with
 * "FILE:LINE: key: problem" (or "FILE: error") in why. */
int config_load_file(struct options *o, const char *path, char *why, size_t whylen);

/* The example config file: a header, then every key commented out with its default and help. */
void config_print_example(FILE *out);

/* Write text to out as lines of at most width columns, each starting with prefix; the first
 * line starts with first (same width as prefix) instead. Used for --help and the example. */
void config_print_wrapped(FILE *out, const char *first, const char *prefix, const char *text,
                          size_t width);

#endif
