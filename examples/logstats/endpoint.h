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
    const char *tls_ca, *tls_cert, *tls_key; /* --tls-ca, --tls-cert, --tls-key */
};

/* getopt values of the long options without a letter. */
enum { ENDPOINT_TLS_CA = 0x1000, ENDPOINT_TLS_CERT, ENDPOINT_TLS_KEY }; /* above the programs' own */

#define ENDPOINT_USAGE                                                              \
    "  -a, --addr ADDR        the daemon: host:port, [v6]:port, tls://host:port or\n" \
    "                         unix:/path, or several, comma-separated: the first\n" \
    "                         that answers\n"                                      \
    "  -k, --keyfile FILE     the authkey file\n"                                  \
    "  -c, --config FILE      the daemon's config: its listen address and authkey\n" \
    "  (else $QMGR_ADDR, $QMGR_AUTHKEY_FILE, then the defaults of qmgrd)\n"      \
    "      --tls-ca FILE      for tls:// addresses: the CA to trust ($QMGR_TLS_CA)\n" \
    "      --tls-cert FILE, --tls-key FILE\n"                                      \
    "                         a client certificate ($QMGR_TLS_CERT, $QMGR_TLS_KEY)\n"

/* getopt_long entries for the options; `val` is 'a', 'k', 'c' or ENDPOINT_TLS_*. */
#define ENDPOINT_LONG_OPTIONS                                                        \
    {"addr", required_argument, NULL, 'a'}, {"keyfile", required_argument, NULL, 'k'}, \
        {"config", required_argument, NULL, 'c'},                                    \
        {"tls-ca", required_argument, NULL, ENDPOINT_TLS_CA},                        \
        {"tls-cert", required_argument, NULL, ENDPOINT_TLS_CERT},                    \
        {"tls-key", required_argument, NULL, ENDPOINT_TLS_KEY}

/* Takes option opt ('a', 'k', 'c' or ENDPOINT_TLS_*); false if it is none of them. */
bool endpoint_option(struct endpoint *e, int opt, const char *arg);

/*
 * Resolves the endpoint into $QMGR_ADDR and $QMGR_AUTHKEY_FILE, and the TLS
 * files given into $QMGR_TLS_CA, $QMGR_TLS_CERT and $QMGR_TLS_KEY (so that
 * processes forked afterwards connect alike), once per process, before
 * connecting. Prints the reason and returns false on a bad -c file.
 */
bool endpoint_resolve(const struct endpoint *e, const char *prog);

/* Connects and authenticates; prints why not (naming prog) and returns the
 * QMGR_E* code on failure. */
int endpoint_connect(const char *prog, qmgr_conn **out);

#endif
