/*
 * progress.c — storectl's progress meter (see progress.h).
 *
 * The line is "put 1.20 GiB of 4.00 GiB  30%  812.4 MiB/s  3s left", written after a \r and
 * followed by "erase to end of line" so a shorter line leaves no tail of the last one. Time comes
 * from CLOCK_MONOTONIC; drawings are at least 100 ms apart so a fast copy spends its time
 * copying, not writing to the terminal.
 */
#define _GNU_SOURCE
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "humansize.h"

#define REDRAW_NS 100000000   /* at most ten drawings a second */

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void draw(struct progress *p, uint64_t done, int64_t now)
{
    char done_text[HUMAN_SIZE_MAX], total_text[HUMAN_SIZE_MAX], rate_text[HUMAN_SIZE_MAX];
    const double seconds = (double)(now - p->start_ns) / 1e9;
    const double rate = seconds > 0 ? (double)done / seconds : 0;
    human_size(done, done_text, sizeof done_text);
    fprintf(stderr, "\r%s %s", p->verb, done_text);
    if (p->total) {
        human_size(p->total, total_text, sizeof total_text);
        fprintf(stderr, " of %s  %3u%%", total_text,
                (unsigned)(done >= p->total ? 100 : done * 100.0 / (double)p->total));
    }
    if (rate >= 1) {
        human_size((uint64_t)rate, rate_text, sizeof rate_text);
        fprintf(stderr, "  %s/s", rate_text);
        if (p->total && done < p->total) {
            char left[64];
            human_duration((uint64_t)((double)(p->total - done) / rate) + 1, left, sizeof left);
            fprintf(stderr, "  %s left", left);
        }
    }
    fputs("\033[K", stderr);
    fflush(stderr);
    p->drawn = 1;
    p->last_draw_ns = now;
}

void progress_start(struct progress *p, const char *verb, uint64_t total)
{
    p->active = isatty(STDERR_FILENO) && (total == 0 || total >= PROGRESS_MIN_BYTES);
    p->drawn = 0;
    p->verb = verb;
    p->total = total;
    p->start_ns = p->last_draw_ns = monotonic_ns();
    if (p->active && total)
        draw(p, 0, p->start_ns);   /* a known large transfer shows at once */
}

void progress_update(struct progress *p, uint64_t done)
{
    if (!p->active || (!p->total && done < PROGRESS_MIN_BYTES))
        return;
    const int64_t now = monotonic_ns();
    if (now - p->last_draw_ns >= REDRAW_NS)
        draw(p, done, now);
}

void progress_end(struct progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
    p->active = 0;
}
