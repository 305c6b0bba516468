/*
 * progress.h — a one-line progress meter on stderr for storectl's long transfers: bytes done of
 * the total, rate and time left, redrawn in place with \r at most ten times a second and erased
 * at the end. It draws only when stderr is a terminal, so piped and scripted runs never see it.
 */
#ifndef STORECTL_PROGRESS_H
#define STORECTL_PROGRESS_H

#include <stdint.h>

/* Transfers smaller than this finish too fast to be worth a meter. */
#define PROGRESS_MIN_BYTES (16u << 20)

struct progress {
    int active;          /* stderr is a terminal and the transfer is large enough */
    int drawn;           /* a line is on the screen, to erase at the end */
    const char *verb;    /* "put", "get" */
    uint64_t total;      /* 0: unknown (a pipe) */
    int64_t start_ns, last_draw_ns;
};

/* total 0 for an input of unknown length: the meter then appears once PROGRESS_MIN_BYTES have
 * gone by, and shows no percentage or time left. */
void progress_start(struct progress *p, const char *verb, uint64_t total);
/* done bytes so far; redraws if 100 ms have passed since the last drawing. */
void progress_update(struct progress *p, uint64_t done);
/* Erases the line (the command's own messages follow on a clean line). */
void progress_end(struct progress *p);

#endif
