#include "report.h"

#include <sqlite3.h>
#include <string.h>

/*
 * One dimension's rows: the name between "<dim>:" and ":req", its requests
 * and (when kept) its bytes. The key range makes the primary key do the
 * work; GLOB checks the suffix.
 */
static const char DIMENSION_SQL[] =
    "SELECT substr(r.key, length(?1) + 1, length(r.key) - length(?1) - 4) AS name,"
    "       r.value AS req,"
    "       coalesce((SELECT b.value FROM counters b"
    "         WHERE b.key = substr(r.key, 1, length(r.key) - 4) || ':bytes'), 0) AS bytes"
    "  FROM counters r"
    " WHERE r.key >= ?1 AND r.key < ?2 AND r.key GLOB '*:req' AND name <> ?3"
    " ORDER BY req DESC, name LIMIT ?4";

struct dimension {
    const char *title;
    const char *prefix; /* "path:" */
    const char *upper;  /* the prefix with its ':' made ';': the end of the range */
    bool bytes;
};

static const struct dimension DIMENSIONS[] = {
    {"statuses", "status:", "status;", true},
    {"methods", "method:", "method;", true},
    {"paths", "path:", "path;", true},
    {"clients", "client:", "client;", false},
    {"busiest minutes", "minute:", "minute;", true},
};

static bool failed(sqlite3 *db, const char *what, const char *prog)
{
    fprintf(stderr, "%s: database: %s: %s\n", prog, what, db ? sqlite3_errmsg(db) : "out of memory");
    return false;
}

static sqlite3 *open_read_only(const char *path, const char *prog)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 10000) == SQLITE_OK)
        return db;
    failed(db, path, prog);
    sqlite3_close(db);
    return NULL;
}

static void print_value(FILE *out, sqlite3_stmt *st, int col, int width)
{
    if (sqlite3_column_type(st, col) == SQLITE_FLOAT)
        fprintf(out, " %*.2f", width, sqlite3_column_double(st, col));
    else
        fprintf(out, " %*lld", width, (long long)sqlite3_column_int64(st, col));
}

/* A scalar: the value of one key (0 if absent). */
static long long counter(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st;
    long long v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void print_totals(sqlite3 *db, FILE *out)
{
    long long lines = counter(db, "lines"), malformed = counter(db, "malformed");
    fprintf(out, "lines      %lld\nmalformed  %lld", lines, malformed);
    if (lines > 0)
        fprintf(out, " (%.4f%%)", 100.0 * (double)malformed / (double)lines);
    fputs("\n", out);
}

static bool print_dimension(sqlite3 *db, const struct dimension *d, unsigned top, FILE *out,
                            const char *prog)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, DIMENSION_SQL, -1, &st, NULL) != SQLITE_OK)
        return failed(db, d->title, prog);
    bool ok = sqlite3_bind_text(st, 1, d->prefix, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_text(st, 2, d->upper, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_text(st, 3, "(other)", -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_int(st, 4, (int)top) == SQLITE_OK;
    fprintf(out, "\n%-40s %14s%s\n", d->title, "requests", d->bytes ? "            bytes" : "");
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fprintf(out, "  %-38.38s", (const char *)sqlite3_column_text(st, 0));
        print_value(out, st, 1, 14);
        if (d->bytes)
            print_value(out, st, 2, 16);
        fputs("\n", out);
    }
    ok = ok && rc == SQLITE_DONE;
    if (!ok)
        failed(db, d->title, prog);
    sqlite3_finalize(st);
    return ok;
}

static void print_other_clients(sqlite3 *db, FILE *out)
{
    long long other = counter(db, "client:(other):req");
    if (other)
        fprintf(out, "  %-38s %14lld\n", "(outside each batch's top N)", other);
}

bool report_print(const char *db_path, unsigned top, FILE *out, const char *prog)
{
    sqlite3 *db = open_read_only(db_path, prog);
    if (!db)
        return false;
    print_totals(db, out);
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof DIMENSIONS / sizeof *DIMENSIONS; i++) {
        ok = print_dimension(db, &DIMENSIONS[i], top, out, prog);
        if (ok && strcmp(DIMENSIONS[i].prefix, "client:") == 0)
            print_other_clients(db, out);
    }
    sqlite3_close(db);
    return ok;
}

int report_get(const char *db_path, const char *key, FILE *out, const char *prog)
{
    sqlite3 *db = open_read_only(db_path, prog);
    if (!db)
        return 2;
    sqlite3_stmt *st;
    int result = 2;
    if (sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        failed(db, key, prog);
        sqlite3_close(db);
        return 2;
    }
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fprintf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
        result = 0;
    } else if (rc == SQLITE_DONE) {
        result = 1;
    } else {
        failed(db, key, prog);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return result;
}
