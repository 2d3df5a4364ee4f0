/*
 * Finding the daemon the way every qmgr client does: -a ADDR, -k KEYFILE,
 * -c CONF (the daemon's own config: its listen address and authkey), else
 * $QMGR_ADDR / $QMGR_AUTHKEY_FILE, else the library's defaults.
 */
#ifndef LOGSTATS_ENDPOINT_H
#define LOGSTATS_ENDPOINT_H

#include <stdbool.h>

#include "qmgr.h"

struct endpoint {
    const char *addr;    /* -a */
    const char *keyfile; /* -k */
    const char *config;  /* -c */
};

#define ENDPOINT_USAGE                                                              \
    "  -a, --addr ADDR        the daemon: host:port, [v6]:port or unix:/path, or\n"  \
    "                         several, comma-separated: the first that answers\n"     \
    "  -k, --keyfile FILE     the authkey file\n"                                  \
    "  -c, --config FILE      the daemon's config: its listen address and authkey\n" \
    "  (else $QMGR_ADDR, $QMGR_AUTHKEY_FILE, then the defaults of qmgrd)\n"

/* getopt_long entries for the three options; `val` is 'a', 'k', 'c'. */
#define ENDPOINT_LONG_OPTIONS                                                        \
    {"addr", required_argument, NULL, 'a'}, {"keyfile", required_argument, NULL, 'k'}, \
        {"config", required_argument, NULL, 'c'}

/* Takes option opt ('a', 'k' or 'c'); false if it is none of them. */
bool endpoint_option(struct endpoint *e, int opt, const char *arg);

/*
 * Resolves the endpoint into $QMGR_ADDR and $QMGR_AUTHKEY_FILE (so that
 * processes forked afterwards connect alike), once per process, before
 * connecting. Prints the reason and returns false on a bad -c file.
 */
bool endpoint_resolve(const struct endpoint *e, const char *prog);

/* Connects and authenticates; prints why not (naming prog) and returns the
 * QMGR_E* code on failure. */
int endpoint_connect(const char *prog, qmgr_conn **out);

#endif
