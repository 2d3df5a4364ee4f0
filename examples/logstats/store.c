#include "store.h"

#include <stdio.h>
#include <string.h>

static const char SCHEMA[] =
    "PRAGMA journal_mode = WAL;"
    /* A committed drain is gone from the daemon: it must survive power loss. */
    "PRAGMA synchronous = FULL;"
    "CREATE TABLE IF NOT EXISTS counters ("
    "  key TEXT PRIMARY KEY,"
    "  value NOT NULL" /* no type: integers stay integers, a float stays a float */
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS drains ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  keys INTEGER NOT NULL,"
    "  lines INTEGER NOT NULL"
    ");";

static const char UPSERT[] = "INSERT INTO counters (key, value) VALUES (?1, ?2) "
                             "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value";
static const char LOG_DRAIN[] = "INSERT INTO drains (keys, lines) VALUES (?1, ?2)";

static bool sql_failed(const struct store *s, const char *what, const char *prog)
{
    fprintf(stderr, "%s: database: %s: %s\n", prog, what,
            s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return false;
}

bool store_open(struct store *s, const char *path, const char *prog)
{
    memset(s, 0, sizeof *s);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        return sql_failed(s, path, prog);
    if (sqlite3_busy_timeout(s->db, 10000) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        return sql_failed(s, "creating the tables", prog);
    if (sqlite3_prepare_v2(s->db, UPSERT, -1, &s->upsert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, LOG_DRAIN, -1, &s->log_drain, NULL) != SQLITE_OK)
        return sql_failed(s, "preparing statements", prog);
    return true;
}

void store_close(struct store *s)
{
    sqlite3_finalize(s->upsert);
    sqlite3_finalize(s->log_drain);
    sqlite3_close(s->db);
    memset(s, 0, sizeof *s);
}

static int bind_number(sqlite3_stmt *st, int col, const qmgr_value *v)
{
    if (v->type == QMGR_INT)
        return sqlite3_bind_int64(st, col, v->i);
    if (v->type == QMGR_FLOAT)
        return sqlite3_bind_double(st, col, v->f);
    return SQLITE_MISMATCH; /* buf integers are int64: QMGR_UINT cannot be a count */
}

static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static bool add_entry(struct store *s, const qmgr_entry *e, size_t *skipped)
{
    if (bind_number(s->upsert, 2, &e->value) != SQLITE_OK) {
        sqlite3_clear_bindings(s->upsert);
        ++*skipped;
        return true;
    }
    return sqlite3_bind_text(s->upsert, 1, e->key, (int)e->keylen, SQLITE_STATIC) == SQLITE_OK &&
           step_once(s->upsert) == SQLITE_OK;
}

static bool log_drain(struct store *s, const qmgr_map *m)
{
    const qmgr_value *lines = qmgr_map_find(m, "lines");
    return sqlite3_bind_int64(s->log_drain, 1, (sqlite3_int64)m->count) == SQLITE_OK &&
           sqlite3_bind_int64(s->log_drain, 2,
                              lines && lines->type == QMGR_INT ? lines->i : 0) == SQLITE_OK &&
           step_once(s->log_drain) == SQLITE_OK;
}

bool store_add(struct store *s, const qmgr_map *m, size_t *skipped, const char *prog)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_failed(s, "begin", prog);
    bool ok = true;
    for (size_t i = 0; ok && i < m->count; i++)
        ok = m->entry[i].keylen <= INT32_MAX && add_entry(s, &m->entry[i], skipped);
    ok = ok && log_drain(s, m);
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return true;
    sql_failed(s, "adding a drain", prog);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}
