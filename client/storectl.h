/*
 * storectl.h — what storectl.c shares with the files of its other commands (storectl_ls.c,
 * storectl_show.c, storectl_top.c): exit statuses, error reporting, and the output helpers
 * every command formats with.
 */
#ifndef STORECTL_H
#define STORECTL_H

#include <stddef.h>
#include <stdint.h>

#include "shmstore.h"

enum exit_status { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* getopt values of the long options of the commands in their own files: above storectl.c's. */
enum module_long_option { OPT_SORT = 512, OPT_ONCE, OPT_INTERVAL, OPT_LS_JSON };

extern const char *socket_path;   /* -s, or NULL: the library's default */

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* getopt's complaint (c: what getopt returned) in storectl's words; EXIT_USAGE. */
int option_error(const char *command, int c, char **argv);
/* text with control bytes as \xNN, in buf. */
const char *printable(const char *text, char *buf, size_t len);
/* One line on stderr for a library error; the exit status it maps to. */
int report(shmstore_client *c, const char *subject, int code);
int connect_or_report(shmstore_client **c);

/* RFC 3339 UTC with microseconds. */
void format_time(int64_t ns, char *buf, size_t len);
void json_string(const char *s);
/* "memory", "disk", "both", or NULL when the daemon did not say. */
const char *location_name(uint32_t location);
/* One object as ls --json and stat --json print it; meta: its text metadata, or NULL. */
void json_object_stat(const shmstore_object_status *status, const char *meta);

/* The login name of a uid ("alice"), or NULL when it has none here. Cached: a listing asks the
 * user database once per uid; the text stays valid until 64 other uids have been asked. */
const char *user_name(uint32_t uid);
/* The user name of a uid, its number when it has none, "-" when unknown
 * (SHMSTORE_OWNER_UNKNOWN). */
const char *owner_name(uint32_t uid, char *buf, size_t len);
/* An age as one short figure for a column: "42s", "17m", "5h", "12d". */
const char *short_age(int64_t ns, char *buf, size_t len);
/* Nanoseconds since the Unix epoch, now. */
int64_t now_ns(void);

int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
