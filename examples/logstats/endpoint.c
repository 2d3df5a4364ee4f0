#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"

bool endpoint_option(struct endpoint *e, int opt, const char *arg)
{
    switch (opt) {
    case 'a': e->addr = arg; return true;
    case 'k': e->keyfile = arg; return true;
    case 'c': e->config = arg; return true;
    default: return false;
    }
}

/* The daemon's config supplies what the flags did not. */
static bool apply_config(const struct endpoint *e, const char *prog)
{
    struct qm_config cfg;
    char err[512];
    config_init(&cfg);
    if (!config_load(&cfg, e->config, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        config_free(&cfg);
        return false;
    }
    char *keyfile = e->keyfile ? NULL : config_authkey_path(&cfg);
    bool ok = (e->addr || setenv("QMGR_ADDR", cfg.listen, 1) == 0) &&
              (e->keyfile || (keyfile && setenv("QMGR_AUTHKEY_FILE", keyfile, 1) == 0));
    if (!ok)
        fprintf(stderr, "%s: out of memory reading %s\n", prog, e->config);
    free(keyfile);
    config_free(&cfg);
    return ok;
}

bool endpoint_resolve(const struct endpoint *e, const char *prog)
{
    if ((e->addr && setenv("QMGR_ADDR", e->addr, 1) != 0) ||
        (e->keyfile && setenv("QMGR_AUTHKEY_FILE", e->keyfile, 1) != 0)) {
        fprintf(stderr, "%s: out of memory for the environment\n", prog);
        return false;
    }
    return !e->config || apply_config(e, prog);
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
