/*
 * Synthetic access logs in nginx's "combined" format:
 *
 *   203.0.113.7 - - [25/Nov/2026:04:51:07 +0000] "GET /api/v1/items?id=42 HTTP/1.1" 200 5123 "-" "curl/8.4.0"
 *
 * with a realistic mix: a few dozen paths of different popularity, each with
 * its usual method and status profile (static files, pages, API calls,
 * vulnerability probes), sizes by path and status, heavy-hitter clients
 * among a long tail, timestamps spread evenly over a span of a few minutes,
 * and a rare truncated (malformed) line. The same options and seed always
 * give the same bytes.
 *
 * Speed matters (the generator must not be what limits the pipeline): every
 * string is precomputed, the timestamp is formatted once per second, and a
 * weighted choice is one table lookup.
 */
#ifndef LOGSTATS_LOGGEN_H
#define LOGSTATS_LOGGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

/* Room a line needs while it is written (loggen.c checks the bound). */
#define LOGGEN_LINE_MAX 1024
/* 2026-11-25 04:50:00 UTC: the default first timestamp. */
#define LOGGEN_DEFAULT_START 1795582200
#define LOGGEN_DEFAULT_SPAN 300
/* Truncated lines per million (0.01%). */
#define LOGGEN_DEFAULT_MALFORMED_PPM 100

struct loggen_options {
    uint64_t lines;         /* how many lines in all */
    uint64_t seed;
    int64_t start;          /* epoch seconds of the first line */
    uint32_t span;          /* the lines are spread evenly over [start, start + span) */
    uint32_t malformed_ppm; /* truncated lines per million */
};

#define LOGGEN_PICK_BITS 10

/* A weighted choice: an index per slot, in proportion to the weights. */
struct loggen_table {
    uint8_t slot[1 << LOGGEN_PICK_BITS];
};

struct loggen_ip {
    char s[15];
    uint8_t len;
};

struct loggen {
    struct loggen_options opt;
    uint64_t rng;
    uint64_t made;
    int64_t stamp_second; /* the second stamp[] shows */
    char stamp[26];       /* "25/Nov/2026:04:51:07 +0000" */
    struct loggen_ip *ips; /* owned: the heavy hitters, then the long tail */
    struct loggen_table path, heavy, referer, agent, other_method;
    struct loggen_table status[4]; /* one per status profile */
};

/* false when out of memory. */
bool loggen_init(struct loggen *g, const struct loggen_options *opt);
void loggen_free(struct loggen *g);
/* Appends up to max_lines lines to b, stopping early once b holds max_bytes;
 * returns how many (0 once all are made, or when out of memory: tell them
 * apart with loggen_remaining). */
size_t loggen_fill(struct loggen *g, struct batch *b, size_t max_lines, size_t max_bytes);
uint64_t loggen_remaining(const struct loggen *g);

#endif
