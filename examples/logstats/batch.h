/*
 * A batch of log lines as the producer builds it: each line followed by
 * '\n'. On the queue a batch is one bin item, the lines joined with '\n'
 * (batch_item_len leaves the last newline out).
 */
#ifndef LOGSTATS_BATCH_H
#define LOGSTATS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

struct batch {
    char *data; /* owned; batch_free */
    size_t len, cap;
    size_t lines;
};

/* Makes room for extra more bytes; false when out of memory. */
bool batch_reserve(struct batch *b, size_t extra);
/* Appends one line (without its newline). */
bool batch_add_line(struct batch *b, const char *line, size_t len);
/* The size of the queue item: the lines without the final newline. */
size_t batch_item_len(const struct batch *b);
void batch_clear(struct batch *b);
void batch_free(struct batch *b);

#endif
