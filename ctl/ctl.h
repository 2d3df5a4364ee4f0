/* qmgrctl: what its files share. */
#ifndef QMGR_CLIENT_CTL_H
#define QMGR_CLIENT_CTL_H

#include <getopt.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "client/qmgr.h"

/* Exit codes scripts can trust. */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILED = 1,  /* the operation failed: empty queue, no such object, ... */
    CTL_EXIT_USAGE = 2,   /* bad command line */
    CTL_EXIT_CONNECT = 3, /* cannot connect or authenticate */
};

struct ctl {
    bool json;
    const char *addr;
    const char *keyfile;
    const char *config;
    const char *tls_ca, *tls_cert, *tls_key; /* NULL: the library's defaults */
    double io_timeout;
    const struct ctl_command *command;
    qmgr_conn *conn;
    int exit; /* set when ctl_getopt returns CTL_STOP */
};

struct ctl_command {
    const char *name;
    const char *usage;   /* after "qmgrctl [OPTIONS] " */
    const char *summary; /* one line, for the command list */
    const char *help;    /* the rest of `qmgrctl NAME --help` */
    int (*run)(struct ctl *ctl, int argc, char **argv);
};

extern const struct ctl_command ctl_commands[];

/* ---- qmgrctl.c ---- */

/* Returned by ctl_getopt when the command must end with ctl->exit (after
 * --help, or a usage error already reported). */
#define CTL_STOP 0x10000

/* getopt_long over the command's own options (shortopts/longopts, may be
 * empty) plus the common ones (connection options, --json, --help). */
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* Reports a bad command line; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Connects (once) as the options, config and environment say. */
int ctl_connect(struct ctl *ctl);
/* Reports a failed library call about `what` and returns the exit code it
 * maps to. */
int ctl_fail(const struct ctl *ctl, int rc, const char *what);
/* Parses seconds for a timeout: a number >= 0, or "forever". */
bool ctl_parse_seconds(const char *s, double *out);

/* ---- ctl_commands.c, ctl_watch.c ---- */

/* The value of key in a map as text for a table cell (malloc'd), "-" when
 * absent. */
char *map_cell(const qmgr_map *map, const char *key);
/* A numeric field, or NAN when absent or not a number. */
double map_number(const qmgr_map *map, const char *key);
int ctl_run_watch(struct ctl *ctl, int argc, char **argv);
extern const char ctl_watch_help[];

/* ---- ctl_render.c: values for people (JSON-like text) and for scripts (JSON) ---- */

enum render_mode { RENDER_TEXT, RENDER_JSON };

/* Writes one msgpack value. Text: strings quoted, bins as b"printable" or
 * 0x<hex>. JSON: bins that are printable UTF-8 as strings, others as
 * {"hex": "..."}; NaN and infinities as null. */
void render_value(FILE *out, const void *raw, size_t len, enum render_mode mode);
/* The same into a malloc'd string (for table cells); NULL on OOM. */
char *render_to_string(const void *raw, size_t len, enum render_mode mode);
/* A map as a JSON object / text lines. */
void render_map_json(FILE *out, const qmgr_map *map);
/* A C string as a JSON string. */
void render_json_string(FILE *out, const char *s, size_t len);
/* 1536 -> "1.5 KiB". */
void format_bytes(char *buf, size_t size, double bytes);
/* 3725 -> "1h02m05s". */
void format_duration(char *buf, size_t size, double seconds);

/* ---- ctl_table.c: aligned columns ---- */

struct table {
    size_t ncols;
    char **cells; /* row-major, malloc'd strings */
    size_t ncells;
    size_t cap;
    unsigned right; /* bit i: column i is right-aligned */
};

/* headers: ncols column names; a name starting with '>' is right-aligned. */
void table_init(struct table *t, size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *cell);
void table_addf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* ---- ctl_value.c: VALUE arguments to msgpack ---- */

enum value_type { VALUE_STR, VALUE_BIN, VALUE_HEX, VALUE_INT, VALUE_FLOAT, VALUE_JSON };

bool value_type_parse(const char *name, enum value_type *type);
/* Packs text as one msgpack value into sb; false with a reason in err. */
bool value_pack(enum value_type type, const char *text, size_t len, msgpack_sbuffer *sb,
                char *err, size_t errlen);

#endif
