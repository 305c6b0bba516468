/*
 * storectl — look at and manage a shmstore from the command line (specified in storectl.1).
 *
 * Uses only the public API of libshmstore. Every command maps the library's error codes onto
 * one exit status: 0 success, 1 the store refused or the object does not exist, 2 usage error,
 * 3 the daemon cannot be reached. Human output is a table with binary-unit sizes; --json prints
 * exactly one JSON value. `ls` prints each page of entries as it arrives, so listing a store of
 * millions of objects needs neither a huge reply nor a huge buffer here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "humansize.h"
#include "progress.h"
#include "shmstore.h"
#include "storectl.h"

/* getopt values of the options that have no letter: above every char, so that option_error can
 * tell a long option from an unknown letter by optopt alone. */
enum long_only_option {
    OPT_META = 256, OPT_REPLACE, OPT_PERSIST, OPT_NO_EVICT, OPT_TIMEOUT, OPT_PATTERN, OPT_JSON,
    OPT_PROMETHEUS, OPT_VERSION, OPT_TTL, OPT_SNAPSHOT
};

static const char usage_text[] =
    "Usage: storectl [-s SOCKET] COMMAND [ARG]...\n"
    "Look at and manage a shmstore.\n"
    "\n"
    "Commands:\n"
    "  ping                                 check that the daemon answers\n"
    "  put NAME [FILE|-] [--meta TEXT] [--replace] [--persist] [--no-evict] [--ttl TIME]\n"
    "                                       store FILE (or stdin) under NAME (--persist:\n"
    "                                       durable: kept on the daemon's disk across\n"
    "                                       restarts; --no-evict: never deleted by the\n"
    "                                       daemon's evict = lru; --ttl: deleted TIME after\n"
    "                                       it is stored: 500ms, 30s, 10m, 2h, 1d)\n"
    "  get NAME [-o FILE] [--timeout WAIT]  write the payload to stdout or FILE; wait up to\n"
    "                                       WAIT for it: milliseconds, or 500ms, 30s, 5m, 1h\n"
    "                                       (-1: forever)\n"
    "  rm NAME...                           delete objects\n"
    "  rm --pattern PATTERN                 delete every object whose name matches a glob\n"
    "  ls [PATTERN] [-l] [--sort name|size|age] [-r] [--json]\n"
    "                                       list the names that match a glob (-l: size,\n"
    "                                       pins, owner, where, durable, age; --sort: by\n"
    "                                       name, size (largest first) or age (newest\n"
    "                                       first); -r: reverse)\n"
    "  stat NAME [--json]                   describe one object\n"
    "  show NAME                            describe one object for a person: numpy array\n"
    "                                       (dtype, shape, first values), pickled class,\n"
    "                                       text lines or a hex dump\n"
    "  top [-n COUNT | --once] [-i SECONDS]\n"
    "                                       a live view of the store, refreshed every\n"
    "                                       second (q quits)\n"
    "  info [--json | --prometheus]         describe the store (--prometheus: metrics in the\n"
    "                                       Prometheus text format)\n"
    "  users [--json]                       what each user's objects take, and their quotas\n"
    "  sync                                 wait until every durable object stored or deleted\n"
    "                                       so far is on the daemon's disk\n"
    "  verify [--json]                      read every durable object's file back and check\n"
    "                                       it; exit 1 when one is damaged or missing\n"
    "  watch [PATTERN] [--snapshot] [--json]\n"
    "                                       print changes to objects whose names match a glob\n"
    "                                       as they happen, one line each, until interrupted\n"
    "                                       (--snapshot: the matching objects first)\n"
    "\n"
    "Options:\n"
    "  -s, --socket SOCKET   the daemon's socket (default: $SHMSTORE_SOCKET, else the\n"
    "                        system socket if this user may connect to it, else the\n"
    "                        per-user socket)\n"
    "  -h, --help            show this help\n"
    "      --version         show the version\n"
    "\n"
    "put and get show their progress on stderr when it is a terminal.\n"
    "\n"
    "Exit status: 0 success, 1 refused, not found or (verify) damaged, 2 usage error,\n"
    "3 daemon unreachable.\n";

const char *socket_path;   /* NULL: the library's default */

int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "storectl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'storectl --help' for more information.\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* getopt's complaint about argv, in storectl's words: opterr is 0, because getopt's own message
 * starts with argv[0], which is the full path when storectl runs from a build tree or a script.
 * `c` is what getopt returned: ':' for a missing argument (option strings start with ':'), '?'
 * for an option it does not know. `command` is NULL for the options before the command. */
int option_error(const char *command, int c, char **argv)
{
    char option[64];
    const char *token = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
    /* A missing argument's option was the last word getopt took; so was a long option (optopt
     * 0 when unknown, its value above every char when it got an argument it takes none of, or
     * a letter's value as in --help=x). An unknown letter is named alone, as it may sit inside
     * a bundle such as -xq that getopt has not stepped past. */
    const int given_argument = c != ':' && optopt != 0 && strncmp(token, "--", 2) == 0 &&
                               strchr(token, '=') != NULL;
    if (c == ':' || optopt == 0 || optopt > UCHAR_MAX || given_argument)
        snprintf(option, sizeof option, "%s", token);
    else
        snprintf(option, sizeof option, "-%c", optopt);
    const char *what = c == ':' ? "missing argument of option"
                       : given_argument ? "no argument allowed in option"
                                        : "unknown option";
    return usage_error("%s%s%s '%s'", command ? command : "", command ? ": " : "", what, option);
}

/* A name or message as it may safely go to a terminal: control bytes become \xNN, so a hostile
 * or mistyped name can neither split the one-line error nor send escape sequences. */
const char *printable(const char *text, char *buf, size_t len)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && used + 5 < len; p++) {
        if (*p < 0x20 || *p == 0x7f)
            used += (size_t)snprintf(buf + used, len - used, "\\x%02x", *p);
        else
            buf[used++] = (char)*p;
    }
    buf[used] = '\0';
    return buf;
}

/* One line on stderr and the exit status for a library error. */
int report(shmstore_client *c, const char *subject, int code)
{
    char detail[1024], name[1024];
    printable(*shmstore_errmsg(c) ? shmstore_errmsg(c) : shmstore_strerror(code), detail,
              sizeof detail);
    if (subject)
        printable(subject, name, sizeof name);
    if (code == SHMSTORE_ECONN) {
        fprintf(stderr, "storectl: %s\n", detail);
        return EXIT_UNREACHABLE;
    }
    if (code == SHMSTORE_ENOTFOUND && subject)
        fprintf(stderr, "storectl: %s: not found\n", name);
    else if (subject && !strstr(detail, name))
        fprintf(stderr, "storectl: %s: %s\n", name, detail);
    else
        fprintf(stderr, "storectl: %s\n", detail);
    return EXIT_REFUSED;
}

int connect_or_report(shmstore_client **c)
{
    int rc = shmstore_connect(socket_path, c);
    return rc ? report(NULL, NULL, rc) : EXIT_OK;
}

/* ---- output helpers ------------------------------------------------------------------------ */

void format_time(int64_t ns, char *buf, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%06ldZ", (long)(ns % 1000000000) / 1000);
}

void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Where an object is, as ls and stat show it; NULL when the daemon did not say (older). */
const char *location_name(uint32_t location)
{
    switch (location & (SHMSTORE_IN_MEMORY | SHMSTORE_ON_DISK)) {
    case SHMSTORE_IN_MEMORY: return "memory";
    case SHMSTORE_ON_DISK: return "disk";
    case SHMSTORE_IN_MEMORY | SHMSTORE_ON_DISK: return "both";
    default: return NULL;
    }
}


/* meta: the metadata as text when it is text (see meta_text), else NULL: then no "meta" key. */
void json_object_stat(const shmstore_object_status *status, const char *meta)
{
    const shmstore_object_stat *st = &status->stat;
    const char *where = location_name(status->location);
    char created[64];
    format_time(st->created_ns, created, sizeof created);
    printf("{\"name\":");
    json_string(st->name);
    printf(",\"id\":%llu,\"size\":%llu,\"meta_size\":%llu,\"pins\":%llu,\"created\":\"%s\"",
           (unsigned long long)st->id, (unsigned long long)st->size,
           (unsigned long long)st->meta_size, (unsigned long long)st->pins, created);
    /* null from a daemon too old to say */
    printf(",\"location\":%s%s%s,\"durable\":%s", where ? "\"" : "", where ? where : "null",
           where ? "\"" : "", !where ? "null" : status->durable ? "true" : "false");
    /* owner: the uid, owner_name: its login name; null when unknown (an older daemon, or a uid
     * without a passwd entry here); expires: when its time to live runs out, null for none */
    const int owner_known = status->owner_uid != SHMSTORE_OWNER_UNKNOWN;
    const char *owner_name = owner_known ? user_name(status->owner_uid) : NULL;
    if (owner_known)
        printf(",\"owner\":%u,\"owner_name\":", status->owner_uid);
    else
        printf(",\"owner\":null,\"owner_name\":");
    if (owner_name)
        json_string(owner_name);
    else
        printf("null");
    if (status->expires_ns) {
        char expires[64];
        format_time(status->expires_ns, expires, sizeof expires);
        printf(",\"expires\":\"%s\"", expires);
    } else {
        printf(",\"expires\":null");
    }
    if (meta) {
        printf(",\"meta\":");
        json_string(meta);
    }
    putchar('}');
}

/* The object's metadata as a NUL-terminated string when it is text (no NUL or control bytes
 * but newline and tab), as the Python binding's "SHMPY1" header and most users' dtype/shape
 * notes are; NULL for binary metadata, none, or an object gone meanwhile. Reading it takes a
 * brief pin. The caller frees the result. */
static char *meta_text(shmstore_client *c, const shmstore_object_stat *st)
{
    if (st->meta_size == 0)
        return NULL;
    shmstore_object obj;
    if (shmstore_get(c, st->name, 0, &obj) != 0)
        return NULL;
    char *text = NULL;
    const unsigned char *m = obj.meta;
    int printable = obj.id == st->id;
    for (size_t i = 0; printable && i < obj.meta_size; i++)
        printable = m[i] >= 0x20 ? m[i] != 0x7f : (m[i] == '\n' || m[i] == '\t');
    if (printable && (text = malloc(obj.meta_size + 1))) {
        memcpy(text, obj.meta, obj.meta_size);
        text[obj.meta_size] = '\0';
    }
    shmstore_release(c, &obj);
    return text;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int cmd_ping(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return usage_error("ping takes no arguments");
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    int rc = shmstore_ping(c);
    if (rc == 0) {
        char path[256] = "";
        if (socket_path)
            snprintf(path, sizeof path, "%s", socket_path);
        else
            shmstore_default_socket(path, sizeof path);
        printf("shmstored at %s is alive\n", path);
    }
    status = rc ? report(c, NULL, rc) : EXIT_OK;
    shmstore_close(c);
    return status;
}

static int cmd_sync(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return usage_error("sync takes no arguments");
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    int rc = shmstore_sync(c);
    status = rc ? report(c, NULL, rc) : EXIT_OK;
    shmstore_close(c);
    return status;
}

/* Bytes moved per read or write of a large transfer, between two looks at the progress meter. */
#define TRANSFER_CHUNK (8u << 20)

/* Read all of fd into a growing buffer (for pipes, whose size is unknown up front). */
static int read_all(int fd, unsigned char **out, size_t *out_len, struct progress *meter)
{
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        progress_update(meter, len);
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* A duration: a whole number with one of the units ms, s, m, h and, when days, d (or, when
 * bare_ms, none: milliseconds), of at most max ms. 0 and the milliseconds in *ms, or -1 for
 * anything else. */
static int parse_duration_ms(const char *text, int bare_ms, int days, unsigned long long max,
                             unsigned long long *ms)
{
    static const struct {
        const char *suffix;
        unsigned long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (text[0] < '0' || text[0] > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned long long scale = bare_ms && !*end ? 1 : 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0] - !days && !scale; i++)
        if (strcmp(end, units[i].suffix) == 0)
            scale = units[i].ms;
    if (!scale || value > max / scale)
        return -1;
    *ms = value * scale;
    return 0;
}

/* A regular file of known size is read straight into the object, created in place. */
static int put_in_place(shmstore_client *c, const char *name, int fd, size_t size,
                        const char *meta, unsigned flags, uint64_t ttl_ms, const char *source)
{
    void *dest;
    uint64_t id;
    int rc = shmstore_create_ttl(c, name, size, meta, meta ? strlen(meta) : 0, flags, ttl_ms,
                                 &dest, &id);
    if (rc)
        return report(c, name, rc);
    size_t done = 0;
    struct progress meter;
    progress_start(&meter, "put", size);
    while (done < size) {
        progress_update(&meter, done);
        const size_t want = size - done < TRANSFER_CHUNK ? size - done : TRANSFER_CHUNK;
        ssize_t n = read(fd, (char *)dest + done, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int read_errno = errno;
            progress_end(&meter);
            errno = read_errno;
            fprintf(stderr, "storectl: %s: %s\n", source, n < 0 ? strerror(errno) : "file shrank while reading");
            shmstore_abort(c, id);
            return EXIT_REFUSED;
        }
        done += (size_t)n;
    }
    progress_end(&meter);
    rc = shmstore_seal(c, id);
    if (rc) {
        int status = report(c, name, rc);
        shmstore_abort(c, id);
        return status;
    }
    return EXIT_OK;
}

static int cmd_put(int argc, char **argv)
{
    static const struct option opts[] = {
        {"meta", required_argument, NULL, OPT_META},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"persist", no_argument, NULL, OPT_PERSIST},
        {"no-evict", no_argument, NULL, OPT_NO_EVICT},
        {"ttl", required_argument, NULL, OPT_TTL},
        {NULL, 0, NULL, 0},
    };
    const char *meta = NULL;
    unsigned flags = 0;
    unsigned long long ttl_ms = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == OPT_META)
            meta = optarg;
        else if (opt == OPT_REPLACE)
            flags |= SHMSTORE_REPLACE;
        else if (opt == OPT_PERSIST)
            flags |= SHMSTORE_PERSIST;
        else if (opt == OPT_NO_EVICT)
            flags |= SHMSTORE_NO_EVICT;
        else if (opt == OPT_TTL && (parse_duration_ms(optarg, 0, 1, UINT64_MAX, &ttl_ms) != 0 ||
                                    ttl_ms == 0))
            return usage_error("put: --ttl '%s' is not a time to live: give a number with ms, "
                               "s, m, h or d (500ms, 30s, 10m, 2h, 1d)", optarg);
        else if (opt != OPT_TTL)
            return option_error("put", opt, argv);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return usage_error("usage: storectl put NAME [FILE|-] [--meta TEXT] [--replace] [--persist] "
                           "[--no-evict] [--ttl TIME]");
    const char *name = argv[optind];
    const char *source = argc - optind == 2 ? argv[optind + 1] : "-";
    int fd = strcmp(source, "-") == 0 ? STDIN_FILENO : open(source, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "storectl: %s: %s\n", source, strerror(errno));
        return EXIT_REFUSED;
    }
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status == EXIT_OK) {
        struct stat st;
        /* Files of /proc and /sys say they are empty and are not: those are read like pipes. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            status = put_in_place(c, name, fd, (size_t)st.st_size, meta, flags, ttl_ms, source);
        } else {
            unsigned char *data;
            size_t len;
            struct progress meter;
            progress_start(&meter, "read", 0);
            const int read_rc = read_all(fd, &data, &len, &meter);
            const int read_errno = errno;
            progress_end(&meter);
            errno = read_errno;
            if (read_rc != 0) {
                fprintf(stderr, "storectl: %s: %s\n", source, strerror(errno));
                status = EXIT_REFUSED;
            } else {
                int rc = shmstore_put_ttl(c, name, data, len, meta, meta ? strlen(meta) : 0,
                                          flags, ttl_ms);
                status = rc ? report(c, name, rc) : EXIT_OK;
                free(data);
            }
        }
        shmstore_close(c);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    return status;
}

/* meter: updated between chunks of a large write, or NULL. */
static int write_all(int fd, const void *data, size_t size, struct progress *meter)
{
    const char *p = data;
    const char *start = p;
    while (size > 0) {
        if (meter)
            progress_update(meter, (uint64_t)(p - start));
        ssize_t n = write(fd, p, size < TRANSFER_CHUNK ? size : TRANSFER_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* A --timeout: -1 (no limit), or a whole number of milliseconds, bare or with one of the units
 * ms, s, m, h, of at most INT_MAX ms (about 24 days). 0, or -1 for anything else. */
static int parse_timeout(const char *text, int *timeout_ms)
{
    if (strcmp(text, "-1") == 0) {
        *timeout_ms = SHMSTORE_WAIT_FOREVER;
        return 0;
    }
    unsigned long long ms;
    if (parse_duration_ms(text, 1, 0, INT_MAX, &ms) != 0)
        return -1;
    *timeout_ms = (int)ms;
    return 0;
}

static int cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    int timeout_ms = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        if (opt == 'o') {
            output = optarg;
        } else if (opt == OPT_TIMEOUT) {
            if (parse_timeout(optarg, &timeout_ms) != 0)
                return usage_error("get: --timeout '%s' is not a wait: give milliseconds (500), "
                                   "a number with ms, s, m or h (500ms, 30s, 5m, 1h), or -1 "
                                   "for no limit", optarg);
        } else {
            return option_error("get", opt, argv);
        }
    }
    if (argc - optind != 1)
        return usage_error("usage: storectl get NAME [-o FILE] [--timeout WAIT]");
    const char *name = argv[optind];
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    shmstore_object obj;
    int rc = shmstore_get(c, name, timeout_ms, &obj);
    if (rc) {
        status = report(c, name, rc);
        shmstore_close(c);
        return status;
    }
    int fd = output ? open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : STDOUT_FILENO;
    /* No meter over the payload itself when that goes to a terminal. */
    struct progress meter = {0};
    const int to_terminal = fd == STDOUT_FILENO && isatty(fd);
    if (fd >= 0 && !to_terminal)
        progress_start(&meter, "get", obj.size);
    int written = fd >= 0 ? write_all(fd, obj.data, obj.size, &meter) : -1;
    const int write_errno = errno;
    progress_end(&meter);
    errno = write_errno;
    if (written != 0) {
        fprintf(stderr, "storectl: %s: %s\n", output ? output : "stdout", strerror(errno));
        status = EXIT_REFUSED;
    }
    if (fd >= 0 && fd != STDOUT_FILENO && close(fd) != 0) {
        fprintf(stderr, "storectl: %s: %s\n", output, strerror(errno));
        status = EXIT_REFUSED;
    }
    shmstore_release(c, &obj);
    shmstore_close(c);
    return status;
}

static int rm_by_pattern(const char *pattern)
{
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    uint64_t deleted = 0;
    int rc = shmstore_delete_matching(c, pattern, &deleted);
    if (rc == 0)
        printf("deleted %llu object%s\n", (unsigned long long)deleted, deleted == 1 ? "" : "s");
    status = rc ? report(c, NULL, rc) : EXIT_OK;
    shmstore_close(c);
    return status;
}

static int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pattern", required_argument, NULL, OPT_PATTERN},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] = "usage: storectl rm NAME... | storectl rm --pattern PATTERN";
    const char *pattern = NULL;
    int opt;
    /* Options may come anywhere, so "rm NAME --pattern P" is caught as the mix it is; a name
     * that starts with '-' goes after "--". */
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt != OPT_PATTERN)
            return option_error("rm", opt, argv);
        if (pattern)
            return usage_error("rm: give --pattern once");
        pattern = optarg;
    }
    if (pattern && argc - optind != 0)
        return usage_error("rm: --pattern takes no NAME arguments; %s", usage);
    if (pattern && !*pattern)
        return usage_error("rm: --pattern needs a non-empty pattern ('*' deletes everything)");
    if (pattern)
        return rm_by_pattern(pattern);
    if (argc - optind < 1)
        return usage_error("%s", usage);
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    for (int i = optind; i < argc; i++) {
        int rc = shmstore_delete(c, argv[i]);
        if (rc) {
            int s = report(c, argv[i], rc);
            if (s > status)
                status = s;
            if (s == EXIT_UNREACHABLE)
                break;
        }
    }
    shmstore_close(c);
    return status;
}

/* Parse the one optional flag --json of ls and stat; EXIT_USAGE (said) on a bad option. */
static int parse_json_flag(const char *command, int argc, char **argv, int *json)
{
    static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int opt;
    *json = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt != OPT_JSON)
            return option_error(command, opt, argv);
        *json = 1;
    }
    return EXIT_OK;
}

static int cmd_stat(int argc, char **argv)
{
    int json;
    if (parse_json_flag("stat", argc, argv, &json) != EXIT_OK)
        return EXIT_USAGE;
    if (argc - optind != 1)
        return usage_error("usage: storectl stat NAME [--json]");
    const char *name = argv[optind];
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    shmstore_object_status placed;
    const shmstore_object_stat *stp = &placed.stat;
    int rc = shmstore_status(c, name, &placed);
    /* Reading the metadata pins the object: not for one on disk only, which a get would read
     * back into memory. */
    const int disk_only = placed.location == SHMSTORE_ON_DISK;
    char *meta = rc == 0 && !disk_only ? meta_text(c, stp) : NULL;
    if (rc) {
        status = report(c, name, rc);
    } else if (json) {
        json_object_stat(&placed, meta);
        putchar('\n');
    } else {
        const shmstore_object_stat st = *stp;
        const char *where = location_name(placed.location);
        char size[32], meta_size[32], created[64];
        format_time(st.created_ns, created, sizeof created);
        printf("name:      %s\nid:        %llu\nsize:      %s (%llu bytes)\n"
               "meta_size: %s (%llu bytes)\npins:      %llu\ncreated:   %s\n",
               st.name, (unsigned long long)st.id, human_size(st.size, size, sizeof size),
               (unsigned long long)st.size, human_size(st.meta_size, meta_size, sizeof meta_size),
               (unsigned long long)st.meta_size, (unsigned long long)st.pins, created);
        if (where)
            printf("location:  %s\ndurable:   %s\n",
                   strcmp(where, "both") == 0 ? "both (memory and disk)" : where,
                   placed.durable ? "yes" : "no");
        if (placed.owner_uid != SHMSTORE_OWNER_UNKNOWN) {
            const char *owner = user_name(placed.owner_uid);
            printf("owner:     %u%s%s%s\n", placed.owner_uid, owner ? " (" : "",
                   owner ? owner : "", owner ? ")" : "");
        }
        if (placed.expires_ns) {
            char expires[64], left[64];
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            const int64_t left_ns = placed.expires_ns -
                                    ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
            format_time(placed.expires_ns, expires, sizeof expires);
            printf("expires:   %s (in %s)\n", expires,
                   human_duration(left_ns > 0 ? (uint64_t)left_ns / 1000000000u : 0, left,
                                  sizeof left));
        }
        if (meta)
            printf("meta:      %s\n", meta);
        else if (st.meta_size)
            printf("meta:      %s\n", disk_only ? "(on disk, not read)" : "(binary)");
    }
    free(meta);
    shmstore_close(c);
    return status;
}

/* How the human table shows a figure: a count as it is, a size in binary units beside its bytes,
 * a duration in days, hours, minutes and seconds beside its seconds. */
enum row_kind { ROW_COUNT, ROW_SIZE, ROW_DURATION };

/* Every figure of `info`, once: its JSON key (also the Prometheus name after "shmstore_"), value,
 * kind (for the human table), its Prometheus type and help. */
struct info_row {
    const char *key;
    uint64_t value;
    enum row_kind kind;
    const char *type;
    const char *help;
};

static size_t info_rows(const shmstore_store_info *in, struct info_row *rows)
{
    const struct info_row all[] = {
        {"capacity_bytes", in->capacity_bytes, ROW_SIZE, "gauge",
         "The most memory the store may take (memory)."},
        {"taken_bytes", in->taken_bytes, ROW_SIZE, "gauge",
         "Memory the store holds now, in segments."},
        {"segments", in->segments, ROW_COUNT, "gauge", "Segments of the arena."},
        {"used_bytes", in->used_bytes, ROW_SIZE, "gauge",
         "Bytes allocated to objects, sealed or not."},
        {"free_bytes", in->free_bytes, ROW_SIZE, "gauge",
         "Bytes more objects may take: free in segments, and what the store may still take."},
        {"largest_free_bytes", in->largest_free_bytes, ROW_SIZE, "gauge",
         "Largest single object that fits now."},
        {"objects", in->objects, ROW_COUNT, "gauge", "Sealed objects bound to a name."},
        {"unsealed_objects", in->unsealed_objects, ROW_COUNT, "gauge",
         "Objects created, not yet sealed."},
        {"unsealed_bytes", in->unsealed_bytes, ROW_SIZE, "gauge", "Bytes of unsealed objects."},
        {"deleted_pinned", in->deleted_pinned, ROW_COUNT, "gauge",
         "Deleted objects still pinned by a reader."},
        {"pins", in->pins, ROW_COUNT, "gauge", "Pins held by all clients."},
        {"clients", in->clients, ROW_COUNT, "gauge", "Connected clients."},
        {"waiters", in->waiters, ROW_COUNT, "gauge", "Gets waiting for a name."},
        {"uptime_s", in->uptime_s, ROW_DURATION, "gauge", "Seconds since the daemon started."},
        {"requests", in->requests, ROW_COUNT, "counter", "Requests served since start."},
        {"disk_objects", in->disk_objects, ROW_COUNT, "gauge",
         "Sealed objects with a whole copy on disk."},
        {"disk_bytes", in->disk_bytes, ROW_SIZE, "gauge", "Bytes of the objects on disk."},
        {"disk_only_objects", in->disk_only_objects, ROW_COUNT, "gauge",
         "Objects on disk and not in memory."},
        {"pending_writes", in->pending_writes, ROW_COUNT, "gauge",
         "Durable writes queued or being written."},
        {"failed_writes", in->failed_writes, ROW_COUNT, "counter",
         "Durable writes that failed after their seal had answered (durability = async)."},
        {"spills", in->spills, ROW_COUNT, "counter",
         "Transient objects written to the spill area to make room."},
        {"spill_bytes", in->spill_bytes, ROW_SIZE, "counter", "Bytes written by spills."},
        {"restores", in->restores, ROW_COUNT, "counter",
         "Objects read back into memory from disk."},
        {"restore_bytes", in->restore_bytes, ROW_SIZE, "counter", "Bytes read by restores."},
        {"evictions", in->evictions, ROW_COUNT, "counter",
         "Objects that left memory to make room."},
        {"evicted_deletions", in->evicted_deletions, ROW_COUNT, "counter",
         "Objects deleted by evict = lru to make room."},
        {"expirations", in->expirations, ROW_COUNT, "counter",
         "Objects deleted when their time to live ran out."},
    };
    memcpy(rows, all, sizeof all);
    return sizeof all / sizeof all[0];
}

#define INFO_ROWS_MAX 32

/* ---- users --------------------------------------------------------------------------------- */

/* Every user the daemon lists, collected (users are few; the table needs them all for its
 * widths, and info prints them after its other figures). */
struct user_list {
    shmstore_user_usage *users;
    size_t count, cap;
};

static int collect_user(const shmstore_user_usage *user, void *arg)
{
    struct user_list *l = arg;
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        shmstore_user_usage *grown = realloc(l->users, cap * sizeof *grown);
        if (!grown)
            return SHMSTORE_ENOMEM;
        l->users = grown;
        l->cap = cap;
    }
    l->users[l->count++] = *user;
    return 0;
}

static void print_users_json(const struct user_list *l)
{
    putchar('[');
    for (size_t i = 0; i < l->count; i++) {
        const shmstore_user_usage *u = &l->users[i];
        const char *name = user_name(u->uid);
        printf("%s{\"uid\":%u,\"name\":", i ? "," : "", u->uid);
        if (name)
            json_string(name);
        else
            printf("null");
        printf(",\"objects\":%llu,\"bytes\":%llu,\"quota_bytes\":%llu,\"quota_objects\":%llu}",
               (unsigned long long)u->objects, (unsigned long long)u->bytes,
               (unsigned long long)u->quota_bytes, (unsigned long long)u->quota_objects);
    }
    putchar(']');
}

static void print_users_prometheus(const struct user_list *l)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } metrics[] = {
        {"user_objects", "Objects a user's programs created that still exist.",
         offsetof(shmstore_user_usage, objects)},
        {"user_bytes", "Payload and metadata bytes of a user's objects.",
         offsetof(shmstore_user_usage, bytes)},
        {"user_quota_bytes", "A user's quota of bytes; 0: no limit.",
         offsetof(shmstore_user_usage, quota_bytes)},
        {"user_quota_objects", "A user's quota of objects; 0: no limit.",
         offsetof(shmstore_user_usage, quota_objects)},
    };
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        printf("# HELP shmstore_%s %s\n# TYPE shmstore_%s gauge\n", metrics[m].name,
               metrics[m].help, metrics[m].name);
        for (size_t i = 0; i < l->count; i++) {
            uint64_t value;
            memcpy(&value, (const char *)&l->users[i] + metrics[m].offset, sizeof value);
            printf("shmstore_%s{uid=\"%u\"} %llu\n", metrics[m].name, l->users[i].uid,
                   (unsigned long long)value);
        }
    }
}

static void print_users_table(const struct user_list *l)
{
    printf("%10s  %-16s %10s %12s %12s %13s\n", "UID", "USER", "OBJECTS", "BYTES", "QUOTA",
           "QUOTA_OBJECTS");
    for (size_t i = 0; i < l->count; i++) {
        const shmstore_user_usage *u = &l->users[i];
        const char *name = user_name(u->uid);
        char bytes[32], quota[32], quota_objects[32];
        if (u->quota_bytes)
            human_size(u->quota_bytes, quota, sizeof quota);
        else
            snprintf(quota, sizeof quota, "-");
        if (u->quota_objects)
            snprintf(quota_objects, sizeof quota_objects, "%llu",
                     (unsigned long long)u->quota_objects);
        else
            snprintf(quota_objects, sizeof quota_objects, "-");
        printf("%10u  %-16s %10llu %12s %12s %13s\n", u->uid, name ? name : "-",
               (unsigned long long)u->objects, human_size(u->bytes, bytes, sizeof bytes), quota,
               quota_objects);
    }
}

static int cmd_users(int argc, char **argv)
{
    int json;
    if (parse_json_flag("users", argc, argv, &json) != EXIT_OK)
        return EXIT_USAGE;
    if (argc - optind != 0)
        return usage_error("usage: storectl users [--json]");
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    struct user_list l = {0};
    int rc = shmstore_users(c, collect_user, &l);
    if (rc) {
        status = report(c, NULL, rc);
    } else if (json) {
        print_users_json(&l);
        putchar('\n');
    } else if (l.count) {
        print_users_table(&l);
    } else if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "storectl: no user holds objects\n");
    }
    free(l.users);
    shmstore_close(c);
    return status;
}

static void print_prometheus(const shmstore_store_info *in, const struct info_row *rows,
                             size_t nrows, const struct user_list *users)
{
    for (size_t i = 0; i < nrows; i++) {
        /* Prometheus counters end in _total. */
        const char *suffix = strcmp(rows[i].type, "counter") == 0 ? "_total" : "";
        printf("# HELP shmstore_%s%s %s\n# TYPE shmstore_%s%s %s\nshmstore_%s%s %llu\n",
               rows[i].key, suffix, rows[i].help, rows[i].key, suffix, rows[i].type, rows[i].key,
               suffix, (unsigned long long)rows[i].value);
    }
    printf("# HELP shmstore_errors_total Error replies sent since start, by code.\n"
           "# TYPE shmstore_errors_total counter\n");
#define PROMETHEUS_ERROR_(name, value, text)                                                      \
    printf("shmstore_errors_total{code=\"%s\"} %llu\n", #name,                                    \
           (unsigned long long)in->errors[-(value)]);
    SHMSTORE_ERRNO_MAP(PROMETHEUS_ERROR_)
#undef PROMETHEUS_ERROR_
    printf("# HELP shmstore_info The daemon's version.\n# TYPE shmstore_info gauge\n"
           "shmstore_info{version=\"%s\"} 1\n", in->version);
    print_users_prometheus(users);
}

static void print_info_json(const shmstore_store_info *in, const struct info_row *rows,
                            size_t nrows, const struct user_list *users)
{
    printf("{\"version\":");
    json_string(in->version);
    for (size_t i = 0; i < nrows; i++)
        printf(",\"%s\":%llu", rows[i].key, (unsigned long long)rows[i].value);
    printf(",\"errors\":{");
    const char *sep = "";
#define JSON_ERROR_(name, value, text)                                                            \
    printf("%s\"%s\":%llu", sep, #name, (unsigned long long)in->errors[-(value)]);                \
    sep = ",";
    SHMSTORE_ERRNO_MAP(JSON_ERROR_)
#undef JSON_ERROR_
    printf("},\"users\":");
    print_users_json(users);
    printf("}\n");
}

static void print_info_table(const shmstore_store_info *in, const struct info_row *rows,
                             size_t nrows)
{
    printf("%-20s %s\n", "version", in->version);
    for (size_t i = 0; i < nrows; i++) {
        char human[64];
        const unsigned long long value = rows[i].value;
        switch (rows[i].kind) {
        case ROW_SIZE:
            printf("%-20s %s (%llu)\n", rows[i].key, human_size(value, human, sizeof human),
                   value);
            break;
        case ROW_DURATION:   /* "uptime_s" reads "uptime" once it is not a bare number */
            printf("%-20.*s %s (%llu s)\n", (int)(strlen(rows[i].key) - 2), rows[i].key,
                   human_duration(value, human, sizeof human), value);
            break;
        case ROW_COUNT:
            printf("%-20s %llu\n", rows[i].key, value);
            break;
        }
    }
    printf("%-20s", "errors");
    int any = 0;
#define TABLE_ERROR_(name, value, text)                                                           \
    if (in->errors[-(value)]) {                                                                   \
        printf(" %s=%llu", #name, (unsigned long long)in->errors[-(value)]);                      \
        any = 1;                                                                                  \
    }
    SHMSTORE_ERRNO_MAP(TABLE_ERROR_)
#undef TABLE_ERROR_
    printf("%s\n", any ? "" : " none");
}

static int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"prometheus", no_argument, NULL, OPT_PROMETHEUS},
        {NULL, 0, NULL, 0},
    };
    int json = 0, prometheus = 0, opt;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_PROMETHEUS)
            prometheus = 1;
        else
            return option_error("info", opt, argv);
    }
    if (argc - optind != 0 || (json && prometheus))
        return usage_error("usage: storectl info [--json | --prometheus]");
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    shmstore_store_info in;
    int rc = shmstore_info(c, &in);
    if (rc) {
        status = report(c, NULL, rc);
        shmstore_close(c);
        return status;
    }
    struct info_row rows[INFO_ROWS_MAX];
    size_t nrows = info_rows(&in, rows);
    /* Per user only in the machine-readable forms (`storectl users` is the table); a daemon
     * older than USERS lists none. */
    struct user_list users = {0};
    if ((json || prometheus) && (rc = shmstore_users(c, collect_user, &users)) != 0 &&
        rc != SHMSTORE_EPROTO) {
        status = report(c, NULL, rc);
        free(users.users);
        shmstore_close(c);
        return status;
    }
    if (prometheus)
        print_prometheus(&in, rows, nrows, &users);
    else if (json)
        print_info_json(&in, rows, nrows, &users);
    else
        print_info_table(&in, rows, nrows);
    free(users.users);
    shmstore_close(c);
    return EXIT_OK;
}

/* ---- verify -------------------------------------------------------------------------------- */

struct verify_state {
    int json;
    unsigned long long listed;
};

static int print_problem(const shmstore_verify_problem *p, void *arg)
{
    struct verify_state *v = arg;
    char name[1024];
    if (v->json) {
        printf("%s{\"name\":", v->listed ? "," : "");
        json_string(p->name);
        printf(",\"id\":%llu,\"what\":", (unsigned long long)p->id);
        json_string(p->what);
        printf(",\"action\":");
        json_string(p->action);
        putchar('}');
    } else {
        printf("damaged: %s (id %llu): %s; %s\n", printable(p->name, name, sizeof name),
               (unsigned long long)p->id, p->what, p->action);
    }
    v->listed++;
    return ferror(stdout) ? SHMSTORE_EIO : 0;
}

static int cmd_verify(int argc, char **argv)
{
    int json;
    if (parse_json_flag("verify", argc, argv, &json) != EXIT_OK)
        return EXIT_USAGE;
    if (argc - optind != 0)
        return usage_error("usage: storectl verify [--json]");
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    struct verify_state v = {json, 0};
    shmstore_verify_result r;
    if (json)
        printf("{\"problems\":[");
    int rc = shmstore_verify(c, print_problem, &v, &r);
    if (rc) {
        if (json)
            printf("]}\n");   /* stdout stays one JSON value; stderr says what failed */
        status = report(c, NULL, rc);
        shmstore_close(c);
        return status;
    }
    shmstore_close(c);
    if (json) {
        printf("],\"data_dir\":%s,\"objects\":%llu,\"bytes\":%llu,\"problem_count\":%llu,"
               "\"unlisted\":%llu,\"pending\":%llu,\"duration_ms\":%llu}\n",
               r.data_dir ? "true" : "false", (unsigned long long)r.objects,
               (unsigned long long)r.bytes, (unsigned long long)r.problems,
               (unsigned long long)r.unlisted, (unsigned long long)r.pending,
               (unsigned long long)r.duration_ms);
    } else if (!r.data_dir) {
        printf("no data directory: nothing to verify\n");
    } else {
        char bytes[32];
        if (r.unlisted)
            printf("... and %llu more damaged objects (the daemon's log lists every one)\n",
                   (unsigned long long)r.unlisted);
        printf("verified %llu durable object%s, %s (%llu bytes) in %.1f s: %llu problem%s",
               (unsigned long long)r.objects, r.objects == 1 ? "" : "s",
               human_size(r.bytes, bytes, sizeof bytes), (unsigned long long)r.bytes,
               (double)r.duration_ms / 1000, (unsigned long long)r.problems,
               r.problems == 1 ? "" : "s");
        if (r.pending)
            printf("; %llu not written to disk yet, not checked", (unsigned long long)r.pending);
        putchar('\n');
    }
    return r.problems ? EXIT_REFUSED : EXIT_OK;
}

/* ---- watch --------------------------------------------------------------------------------- */

static volatile sig_atomic_t watch_stop_signal;

static void on_watch_signal(int sig)
{
    watch_stop_signal = sig;
}

/* The library's interrupt check: asked while no event comes, and between events. */
static int watch_interrupted(void *arg)
{
    (void)arg;
    return watch_stop_signal != 0;
}

static const char *event_kind_name(uint32_t kind)
{
    switch (kind) {
    case SHMSTORE_EVENT_SEALED: return "sealed";
    case SHMSTORE_EVENT_REPLACED: return "replaced";
    case SHMSTORE_EVENT_DELETED: return "deleted";
    case SHMSTORE_EVENT_EVICTED: return "evicted";
    case SHMSTORE_EVENT_EXPIRED: return "expired";
    case SHMSTORE_EVENT_SPILLED: return "spilled";
    case SHMSTORE_EVENT_RESTORED: return "restored";
    case SHMSTORE_EVENT_SNAPSHOT: return "snapshot";
    case SHMSTORE_EVENT_SNAPSHOT_END: return "snapshot_end";
    case SHMSTORE_EVENT_LOST: return "lost";
    default: return "unknown";
    }
}

/* 1 when the watch should stop: a signal came, or whoever read stdout went away. */
static int watch_output_gone(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    if (errno != EPIPE)
        return 1;
    /* The reader went away (storectl watch | head): what is left goes nowhere, and that is no
     * error of ours. */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    fflush(stdout);
    clearerr(stdout);
    return 1;
}

static int print_event(const shmstore_event *ev, void *arg)
{
    const int json = *(const int *)arg;
    const int marker = ev->kind == SHMSTORE_EVENT_SNAPSHOT_END || ev->kind == SHMSTORE_EVENT_LOST;
    char when[64];
    format_time(ev->time_ns, when, sizeof when);
    if (json) {
        printf("{\"time\":\"%s\",\"time_ns\":%lld,\"kind\":\"%s\"", when,
               (long long)ev->time_ns, event_kind_name(ev->kind));
        if (marker) {
            printf(",\"count\":%llu}\n", (unsigned long long)ev->count);
        } else {
            printf(",\"name\":");
            json_string(ev->name);
            printf(",\"id\":%llu,\"size\":%llu}\n", (unsigned long long)ev->id,
                   (unsigned long long)ev->size);
        }
    } else if (ev->kind == SHMSTORE_EVENT_LOST) {
        printf("%s  %-12s (%llu events lost: this watcher read more slowly than they came)\n",
               when, "lost", (unsigned long long)ev->count);
    } else if (ev->kind == SHMSTORE_EVENT_SNAPSHOT_END) {
        printf("%s  %-12s (%llu objects)\n", when, "snapshot_end", (unsigned long long)ev->count);
    } else {
        char name[1024], size[32];
        printable(ev->name, name, sizeof name);
        printf("%s  %-12s %-40s %12s\n", when, event_kind_name(ev->kind), name,
               human_size(ev->size, size, sizeof size));
    }
    return watch_stop_signal || watch_output_gone();
}

static int cmd_watch(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
                                          {"snapshot", no_argument, NULL, OPT_SNAPSHOT},
                                          {NULL, 0, NULL, 0}};
    int opt, json = 0;
    unsigned flags = 0;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (opt == OPT_JSON)
            json = 1;
        else if (opt == OPT_SNAPSHOT)
            flags |= SHMSTORE_WATCH_SNAPSHOT;
        else
            return option_error("watch", opt, argv);
    }
    if (argc - optind > 1)
        return usage_error("usage: storectl watch [PATTERN] [--snapshot] [--json]");
    const char *pattern = argc - optind == 1 ? argv[optind] : NULL;
    /* SIGINT and SIGTERM end the watch between events; a closed stdout shows as EPIPE. */
    struct sigaction stop = {.sa_handler = on_watch_signal};
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    shmstore_set_interrupt(c, watch_interrupted, NULL);
    int rc = shmstore_watch_flags(c, pattern, flags, print_event, &json);
    /* Stopped by a signal or a closed stdout: a watch's ordinary end. */
    status = rc == 1 || rc == SHMSTORE_EINTR ? EXIT_OK : report(c, NULL, rc);
    shmstore_close(c);
    return status;
}

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"ping", cmd_ping}, {"put", cmd_put},   {"get", cmd_get},   {"rm", cmd_rm},
    {"ls", cmd_ls},     {"stat", cmd_stat}, {"info", cmd_info}, {"sync", cmd_sync},
    {"verify", cmd_verify}, {"users", cmd_users}, {"show", cmd_show}, {"top", cmd_top},
    {"watch", cmd_watch},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int opt;
    opterr = 0;   /* storectl says it itself: see option_error */
    while ((opt = getopt_long(argc, argv, "+:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': socket_path = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case OPT_VERSION: printf("storectl %s\n", shmstore_version()); return EXIT_OK;
        default: return option_error(NULL, opt, argv);
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0;   /* 0, not 1: GNU getopt then forgets the global parse entirely */
            int status = commands[i].run(sub_argc, sub_argv);
            if ((fflush(stdout) != 0 || ferror(stdout)) && status == EXIT_OK) {
                fprintf(stderr, "storectl: stdout: %s\n", strerror(errno));
                status = EXIT_REFUSED;
            }
            return status;
        }
    }
    return usage_error("unknown command '%s'", name);
}
