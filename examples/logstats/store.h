/*
 * The SQLite database the dumper adds drained counts into, so that totals
 * survive restarts of every process, the daemon included:
 *
 *   counters(key TEXT PRIMARY KEY, value)   the buf's keys (statkeys.h), summed
 *   drains(id, at, keys, lines)             one row per drain, for audit
 *
 * Each drain is one transaction: INSERT ... ON CONFLICT DO UPDATE SET
 * value = value + excluded.value for every key, plus its drains row.
 */
#ifndef LOGSTATS_STORE_H
#define LOGSTATS_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "qmgr.h"

struct store {
    sqlite3 *db;
    sqlite3_stmt *upsert, *log_drain;
};

/* Creates the database and its tables if needed; prints why not. */
bool store_open(struct store *s, const char *path, const char *prog);
/* Adds every number in m, all in one transaction (nothing on failure, which
 * is printed). Values that are not numbers are counted in *skipped. */
bool store_add(struct store *s, const qmgr_map *m, size_t *skipped, const char *prog);
void store_close(struct store *s);

#endif
