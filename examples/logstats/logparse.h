/*
 * One access-log line in nginx's "combined" (or "common") format, cut into
 * the fields the statistics need. Nothing is copied: the fields point into
 * the line.
 *
 * The rules (tests/integration/test_logstats.py recounts logs by the same
 * rules, independently):
 *   CLIENT SP ... "[" DD/Mon/YYYY:HH:MM:SS SP ±ZZZZ "]" SP '"' REQUEST '"' SP
 *   STATUS SP SIZE [SP anything]
 * - CLIENT: the bytes before the first space (not empty).
 * - the time: exactly that shape, with a known month name; the minute is
 *   taken as logged (in the log's own time zone).
 * - REQUEST: up to the next '"' (nginx escapes quotes inside it); METHOD SP
 *   TARGET [SP ...], both not empty. The path is TARGET up to a '?', cut at
 *   LOGPARSE_PATH_MAX bytes.
 * - STATUS: three digits. SIZE: 1 to 18 digits, or "-" for 0.
 * - one trailing '\r' is ignored; a NUL byte in CLIENT, METHOD or the path
 *   makes the line malformed (keys are C strings).
 */
#ifndef LOGSTATS_LOGPARSE_H
#define LOGSTATS_LOGPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGPARSE_PATH_MAX 256
/* "25/Nov/2026:04:51": the minute as it appears in the line. */
#define LOGPARSE_MINUTE_LEN 17

struct log_record {
    const char *client;
    size_t client_len;
    const char *minute; /* LOGPARSE_MINUTE_LEN bytes */
    const char *method;
    size_t method_len;
    const char *path;
    size_t path_len;
    const char *status; /* 3 digits */
    uint64_t bytes;
};

/* false when the line is malformed. */
bool logparse_line(const char *line, size_t len, struct log_record *r);

/* "Jan".."Dec" -> 1..12; 0 for anything else. */
int logparse_month(const char *abbr);

#endif
