/*
 * The producer's live progress line: lines/s, queue depth, batches done and
 * an ETA, redrawn in place on a terminal (every 0.5 s) and printed as a
 * plain line every 5 s otherwise.
 */
#ifndef LOGSTATS_PROGRESS_H
#define LOGSTATS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    bool enabled, tty;
    bool shown; /* an in-place line is on the terminal */
    double start, next_due;
    uint64_t total_lines; /* 0 while unknown (files, until they are all read) */
};

struct progress_sample {
    uint64_t lines_put, batches_put;
    uint64_t unfinished; /* the queue's: batches put and not yet done */
    uint64_t qsize, maxsize;
};

void progress_init(struct progress *p, bool enabled, uint64_t total_lines, double now);
/* Whether a line is due (so the caller fetches a queue.stat only then). */
bool progress_due(const struct progress *p, double now);
void progress_show(struct progress *p, const struct progress_sample *s, double now);
/* Ends the in-place line on a terminal. */
void progress_finish(struct progress *p);

#endif
