#include "aggregate.h"

#include <string.h>

#include "logparse.h"

bool aggregate_init(struct aggregate *a)
{
    memset(a, 0, sizeof *a);
    if (countmap_init(&a->status) && countmap_init(&a->method) && countmap_init(&a->path) &&
        countmap_init(&a->minute) && countmap_init(&a->client))
        return true;
    aggregate_free(a);
    return false;
}

/* aggregate_free and aggregate_clear: one line per count map. */
void aggregate_free(struct aggregate *a)
{
    countmap_free(&a->status);
    countmap_free(&a->method);
    countmap_free(&a->path);
    countmap_free(&a->minute);
    countmap_free(&a->client);
}

void aggregate_clear(struct aggregate *a)
{
    countmap_clear(&a->status);
    countmap_clear(&a->method);
    countmap_clear(&a->path);
    countmap_clear(&a->minute);
    countmap_clear(&a->client);
    a->lines = a->malformed = 0;
}

static bool count_line(struct aggregate *a, const char *line, size_t len)
{
    struct log_record r;
    a->lines++;
    if (!logparse_line(line, len, &r)) {
        a->malformed++;
        return true;
    }
    return countmap_add(&a->status, r.status, 3, r.bytes) &&
           countmap_add(&a->method, r.method, r.method_len, r.bytes) &&
           countmap_add(&a->path, r.path, r.path_len, r.bytes) &&
           countmap_add(&a->minute, r.minute, LOGPARSE_MINUTE_LEN, r.bytes) &&
           countmap_add(&a->client, r.client, r.client_len, r.bytes);
}

bool aggregate_batch(struct aggregate *a, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        const char *line = data + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        /* Empty lines are not log lines (a trailing newline, say). */
        if (n && !count_line(a, line, n))
            return false;
        off += n + 1;
    }
    return true;
}

void aggregate_unreadable_item(struct aggregate *a)
{
    a->lines++;
    a->malformed++;
}
