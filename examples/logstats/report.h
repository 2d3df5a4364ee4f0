/*
 * Reading the dumper's database (store.h): the report of --report, and one
 * counter for scripts (--get).
 */
#ifndef LOGSTATS_REPORT_H
#define LOGSTATS_REPORT_H

#include <stdbool.h>
#include <stdio.h>

/* Totals, then statuses, methods, the top paths, clients and busiest
 * minutes (top rows each). Prints why not and returns false on failure. */
bool report_print(const char *db_path, unsigned top, FILE *out, const char *prog);

/* Prints the value of one counter; 0 when found, 1 when the key is not
 * there, 2 when the database cannot be read. */
int report_get(const char *db_path, const char *key, FILE *out, const char *prog);

#endif
