#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#define TTY_PERIOD 0.5
#define PLAIN_PERIOD 5.0

void progress_init(struct progress *p, bool enabled, uint64_t total_lines, double now)
{
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->start = now;
    p->next_due = now + (p->tty ? TTY_PERIOD : PLAIN_PERIOD);
    p->total_lines = total_lines;
    p->shown = false;
}

bool progress_due(const struct progress *p, double now)
{
    return p->enabled && now >= p->next_due;
}

/* Lines whose batch is done, estimated from the batches done (the queue's
 * unfinished count) and the lines per batch so far. */
static uint64_t lines_done(const struct progress_sample *s)
{
    if (s->batches_put == 0 || s->unfinished >= s->batches_put)
        return 0;
    uint64_t batches_done = s->batches_put - s->unfinished;
    return (uint64_t)((double)s->lines_put * (double)batches_done / (double)s->batches_put);
}

static void format_eta(char *out, size_t n, uint64_t total, uint64_t done, double rate)
{
    if (total == 0 || rate <= 0 || done > total) {
        snprintf(out, n, "ETA ?");
        return;
    }
    unsigned long s = (unsigned long)((double)(total - done) / rate + 0.5);
    snprintf(out, n, "ETA %lu:%02lu", s / 60, s % 60);
}

void progress_show(struct progress *p, const struct progress_sample *s, double now)
{
    double elapsed = now - p->start;
    uint64_t done = lines_done(s);
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char eta[32];
    format_eta(eta, sizeof eta, p->total_lines, done, rate);
    unsigned long long batches_done =
        s->unfinished < s->batches_put ? s->batches_put - s->unfinished : 0;
    fprintf(stderr, "%s%llu lines done, %.2fM lines/s, queue %llu/%llu, batches %llu/%llu done, %s%s",
            p->tty ? "\r" : "", (unsigned long long)done, rate / 1e6,
            (unsigned long long)s->qsize, (unsigned long long)s->maxsize, batches_done,
            (unsigned long long)s->batches_put, eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->shown = true;
    p->next_due = now + (p->tty ? TTY_PERIOD : PLAIN_PERIOD);
}

void progress_finish(struct progress *p)
{
    if (p->shown && p->tty)
        fputc('\n', stderr);
    p->shown = false;
}
