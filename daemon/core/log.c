/*
 * log.c — the daemon's log lines. Under systemd (JOURNAL_STREAM set) each line starts with the
 * syslog priority "<3>".."<7>" so the journal files it at the right level and adds its own
 * timestamp; on a terminal each line carries a UTC timestamp and the level word instead.
 */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_INFO;

static const struct {
    const char *word;
    int syslog_priority;
} level_info[] = {
    [LOG_LEVEL_ERROR] = {"error", 3},
    [LOG_LEVEL_WARN] = {"warn", 4},
    [LOG_LEVEL_INFO] = {"info", 6},
    [LOG_LEVEL_DEBUG] = {"debug", 7},
};

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[2048];
    size_t used;
    if (getenv("JOURNAL_STREAM")) {
        used = (size_t)snprintf(line, sizeof line, "<%d>", level_info[level].syslog_priority);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        used = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        used += (size_t)snprintf(line + used, sizeof line - used, ".%03ldZ shmstored %s: ",
                                 ts.tv_nsec / 1000000, level_info[level].word);
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + used, sizeof line - used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    used += (size_t)n;
    if (used > sizeof line - 2)
        used = sizeof line - 2;
    line[used++] = '\n';
    fwrite(line, 1, used, stderr);
}
