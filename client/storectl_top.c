/*
 * storectl_top.c — `storectl top`: the store at a glance, refreshed every second.
 *
 * Each refresh is one shmstore_info; rates are the differences of its counters between two
 * refreshes over the time between them (the first frame has none yet). The daemon counts
 * requests, not gets and puts apart, so the view shows requests per second.
 *
 * On a terminal the view takes the alternate screen, hides the cursor and redraws in place
 * (home, each line cleared to its end, the rest of the screen cleared); the keyboard is read
 * without echo or line buffering so that q quits at once. Every way out (q, Ctrl-C, SIGTERM,
 * the count reached, an error) goes through one function that gives the terminal back as it
 * was. Elsewhere (a pipe, a file) frames are plain text separated by a blank line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "humansize.h"
#include "storectl.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct screen {
    int is_terminal;        /* stdout: draw in place on the alternate screen */
    int keyboard;           /* stdin is a terminal put in raw mode */
    struct termios saved;   /* its settings before, to put back */
};

static void screen_open(struct screen *s)
{
    s->is_terminal = isatty(STDOUT_FILENO);
    s->keyboard = 0;
    if (!s->is_terminal)
        return;
    fputs("\033[?1049h\033[?25l", stdout);   /* alternate screen, cursor hidden */
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &s->saved) == 0) {
        struct termios raw = s->saved;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        s->keyboard = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
}

static void screen_close(struct screen *s)
{
    if (s->keyboard)
        tcsetattr(STDIN_FILENO, TCSANOW, &s->saved);
    if (s->is_terminal)
        fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    s->keyboard = s->is_terminal = 0;
}

static int terminal_width(const struct screen *s)
{
    struct winsize ws;
    if (s->is_terminal && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

/* Ends a line of the frame: on a terminal, clear what an older, longer line left there. */
static void end_line(const struct screen *s)
{
    fputs(s->is_terminal ? "\033[K\n" : "\n", stdout);
}

/* "12/s", "1.5k/s"; "-" before there are two samples or after a counter went back (the daemon
 * restarted). */
static const char *rate(uint64_t now, uint64_t before, double seconds, int have_before,
                        char *buf, size_t len)
{
    if (!have_before || now < before || seconds <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    const double per_second = (double)(now - before) / seconds;
    if (per_second < 10000)
        snprintf(buf, len, "%.0f/s", per_second);
    else if (per_second < 10e6)
        snprintf(buf, len, "%.1fk/s", per_second / 1e3);
    else
        snprintf(buf, len, "%.1fM/s", per_second / 1e6);
    return buf;
}

/* The memory bar: '#' used, ':' taken from the system but free, '.' free and not taken (from
 * a daemon that does not say what it took, all free memory shows as '.'). */
static void draw_bar(const shmstore_store_info *in, int width)
{
    const double capacity = in->capacity_bytes ? (double)in->capacity_bytes : 1;
    const int used = (int)((double)in->used_bytes / capacity * width);
    const int taken = (int)((double)in->taken_bytes / capacity * width);
    putchar('[');
    for (int i = 0; i < width; i++)
        putchar(i < used ? '#' : i < taken ? ':' : '.');
    printf("] %5.1f%%", 100.0 * (double)in->used_bytes / capacity);
}

static void draw_frame(const struct screen *s, const shmstore_store_info *in,
                       const shmstore_store_info *before, double seconds)
{
    const int have = before != NULL;
    const shmstore_store_info *b = have ? before : in;
    char up[64], used[HUMAN_SIZE_MAX], free_[HUMAN_SIZE_MAX], capacity[HUMAN_SIZE_MAX],
        taken[HUMAN_SIZE_MAX], clock[32];
    char requests[32], errors[32], spills[32], restores[32], evictions[32], deletions[32],
        expirations[32];
    const time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S UTC", &tm);
    uint64_t errors_now = 0, errors_before = 0;
    for (size_t i = 0; i < sizeof in->errors / sizeof in->errors[0]; i++) {
        errors_now += in->errors[i];
        errors_before += b->errors[i];
    }
    if (s->is_terminal)
        fputs("\033[H", stdout);
    printf("shmstore %s   up %s   %s%s", in->version,
           human_duration(in->uptime_s, up, sizeof up), clock,
           s->is_terminal ? "   (q quits)" : "");
    end_line(s);
    fputs("memory  ", stdout);
    draw_bar(in, terminal_width(s) - 18);
    end_line(s);
    printf("        used %s   free %s   of %s", human_size(in->used_bytes, used, sizeof used),
           human_size(in->free_bytes, free_, sizeof free_),
           human_size(in->capacity_bytes, capacity, sizeof capacity));
    if (in->taken_bytes)
        printf("   taken %s in %" PRIu64 " segment%s",
               human_size(in->taken_bytes, taken, sizeof taken), in->segments,
               in->segments == 1 ? "" : "s");
    end_line(s);
    printf("objects %" PRIu64 "   unsealed %" PRIu64 "   disk only %" PRIu64 "   clients %" PRIu64
           "   pins %" PRIu64 "   waiters %" PRIu64,
           in->objects, in->unsealed_objects, in->disk_only_objects, in->clients, in->pins,
           in->waiters);
    end_line(s);
    printf("requests %s   errors %s",
           rate(in->requests, b->requests, seconds, have, requests, sizeof requests),
           rate(errors_now, errors_before, seconds, have, errors, sizeof errors));
    end_line(s);
    printf("spills %s   restores %s   evictions %s   lru deletions %s   expirations %s",
           rate(in->spills, b->spills, seconds, have, spills, sizeof spills),
           rate(in->restores, b->restores, seconds, have, restores, sizeof restores),
           rate(in->evictions, b->evictions, seconds, have, evictions, sizeof evictions),
           rate(in->evicted_deletions, b->evicted_deletions, seconds, have, deletions,
                sizeof deletions),
           rate(in->expirations, b->expirations, seconds, have, expirations,
                sizeof expirations));
    end_line(s);
    if (s->is_terminal)
        fputs("\033[J", stdout);   /* what a taller frame left below */
    fflush(stdout);
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until `deadline` (monotonic seconds); 1 when the user asked to quit (q, a signal). */
static int wait_or_quit(const struct screen *s, double deadline)
{
    for (;;) {
        if (stop_requested)
            return 1;
        const double left = deadline - monotonic_seconds();
        if (left <= 0)
            return 0;
        struct pollfd in = {.fd = s->keyboard ? STDIN_FILENO : -1, .events = POLLIN};
        const int ready = poll(&in, 1, (int)(left * 1000) + 1);
        if (ready > 0 && (in.revents & POLLIN)) {
            char keys[32];
            const ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
            if (n > 0 && (memchr(keys, 'q', (size_t)n) || memchr(keys, 'Q', (size_t)n) ||
                          memchr(keys, 3, (size_t)n)))
                return 1;
        }
    }
}

static const char top_usage[] = "usage: storectl top [-n COUNT | --once] [-i SECONDS]";

int cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, OPT_ONCE},
        {"count", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    long count = 0;   /* 0: until q */
    double interval = 1.0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":n:i:", opts, NULL)) != -1) {
        char *end;
        if (opt == OPT_ONCE) {
            count = 1;
        } else if (opt == 'n') {
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || count < 1)
                return usage_error("top: -n '%s': give a number of refreshes, 1 or more",
                                   optarg);
        } else if (opt == 'i') {
            errno = 0;
            interval = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(interval >= 0.1 && interval <= 3600))
                return usage_error("top: -i '%s': give seconds between refreshes, from 0.1 "
                                   "to 3600", optarg);
        } else {
            return option_error("top", opt, argv);
        }
    }
    if (argc - optind != 0)
        return usage_error("%s", top_usage);
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;   /* no SA_RESTART: the wait returns at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct screen screen;
    screen_open(&screen);
    shmstore_store_info info, before;
    double taken_at = 0, before_at = 0;
    int rc = 0;
    for (long frame = 0; count == 0 || frame < count; frame++) {
        rc = shmstore_info(c, &info);
        if (rc)
            break;
        taken_at = monotonic_seconds();
        if (frame > 0 && !screen.is_terminal)
            putchar('\n');
        draw_frame(&screen, &info, frame ? &before : NULL, taken_at - before_at);
        before = info;
        before_at = taken_at;
        if ((count && frame + 1 == count) || wait_or_quit(&screen, taken_at + interval))
            break;
    }
    screen_close(&screen);
    status = rc ? report(c, NULL, rc) : EXIT_OK;
    shmstore_close(c);
    return status;
}
