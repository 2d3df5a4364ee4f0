#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>

bool endpoint_option(struct endpoint *e, int opt, const char *arg)
{
    switch (opt) {
    case 'a': e->addr = arg; return true;
    case 'k': e->keyfile = arg; return true;
    case 'c': e->config = arg; return true;
    case ENDPOINT_TLS_CA: e->tls_ca = arg; return true;
    case ENDPOINT_TLS_CERT: e->tls_cert = arg; return true;
    case ENDPOINT_TLS_KEY: e->tls_key = arg; return true;
    default: return false;
    }
}

/* The library reads the TLS files from the environment, as the workers do. */
static bool export_file(const char *name, const char *path)
{
    return !path || setenv(name, path, 1) == 0;
}

bool endpoint_resolve(const struct endpoint *e, const char *prog)
{
    qmgr_target t;
    char err[512];
    int rc = qmgr_target_resolve(&t, e->addr, e->keyfile, e->config, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return false;
    }
    rc = qmgr_target_export(&t);
    qmgr_target_free(&t);
    if (!rc && !(export_file("QMGR_TLS_CA", e->tls_ca) && export_file("QMGR_TLS_CERT", e->tls_cert) &&
                 export_file("QMGR_TLS_KEY", e->tls_key)))
        rc = QMGR_ECLIENTMEM;
    if (rc)
        fprintf(stderr, "%s: out of memory for the environment\n", prog);
    return rc == QMGR_OK;
}

int endpoint_connect(const char *prog, qmgr_conn **out)
{
    qmgr_conn *c = NULL;
    int rc = qmgr_create(&c);
    if (rc == QMGR_OK)
        rc = qmgr_open_env(c);
    if (rc != QMGR_OK) {
        const char *addr = getenv("QMGR_ADDR");
        const char *why = c && *qmgr_last_error(c) ? qmgr_last_error(c) : qmgr_strerror(rc);
        /* The library's connect errors name the address already. */
        if (rc == QMGR_ECONN)
            fprintf(stderr, "%s: %s\n", prog, why);
        else
            fprintf(stderr, "%s: connect to %s: %s\n", prog,
                    addr && *addr ? addr : QMGR_DEFAULT_ADDR, why);
        qmgr_close(c);
        return rc;
    }
    *out = c;
    return QMGR_OK;
}
