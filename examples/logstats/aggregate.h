/*
 * A batch's statistics, counted locally before one buf.update: requests and
 * bytes per status, method, path and minute, requests per client, lines and
 * malformed lines.
 */
#ifndef LOGSTATS_AGGREGATE_H
#define LOGSTATS_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "countmap.h"

struct aggregate {
    struct countmap status, method, path, minute, client;
    int64_t lines, malformed;
};

bool aggregate_init(struct aggregate *a);
void aggregate_free(struct aggregate *a);
void aggregate_clear(struct aggregate *a);
/* Counts every non-empty line of a batch (lines joined by '\n'). Keys point
 * into data, which must stay valid until the next clear. False only when out
 * of memory. */
bool aggregate_batch(struct aggregate *a, const char *data, size_t len);
/* An item that is not a batch of text at all: one malformed line. */
void aggregate_unreadable_item(struct aggregate *a);

#endif
