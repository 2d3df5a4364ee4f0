/*
 * Access logs read from files (or stdin) into batches, line by line. Empty
 * lines are skipped; a last line without a newline still counts.
 */
#ifndef LOGSTATS_LOGREAD_H
#define LOGSTATS_LOGREAD_H

#include <stddef.h>

#include "batch.h"

struct logread {
    char *const *paths; /* borrowed (argv); none: stdin. "-" is stdin too */
    size_t npaths, next;
    const char *name; /* of the file being read */
    int fd;           /* -1 between files */
    char *buf;        /* owned: bytes read and not yet cut into lines */
    size_t off, len, cap;
};

void logread_init(struct logread *r, char *const *paths, size_t npaths);
/* Appends up to max_lines lines to b, stopping early once b holds max_bytes.
 * Returns the lines appended: 0 at the end of the input, -1 on an error
 * (printed, naming prog). */
long logread_fill(struct logread *r, struct batch *b, size_t max_lines, size_t max_bytes,
                  const char *prog);
void logread_free(struct logread *r);

#endif
