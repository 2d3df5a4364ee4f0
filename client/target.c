/*
 * Finding the daemon and its key: the one rule every qmgr program follows
 * (qmgr.h, "Finding the daemon"). The -c file is read with the daemon's own
 * parser (common/config.c), so a client accepts exactly the files qmgrd does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "common/config.h"
#include "common/paths.h"

const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *default_keyfile(void)
{
    char *dir = paths_default_state_dir();
    char *path = dir ? paths_authkey_in(dir) : NULL;
    free(dir);
    return path;
}

/* Fills what the flags left open from the daemon's config file. */
static int take_from_config(qmgr_target *t, const char *config, char *err, size_t errlen)
{
    struct config cfg;
    config_init(&cfg);
    if (!config_load(&cfg, config, err, errlen)) {
        config_free(&cfg);
        return QMGR_EINVAL;
    }
    if (!t->addr)
        t->addr = strdup(cfg.listen);
    if (!t->keyfile)
        t->keyfile = config_authkey_path(&cfg);
    config_free(&cfg);
    return t->addr && t->keyfile ? QMGR_OK : QMGR_ECLIENTMEM;
}

/* Fills what is still open from the environment, then the defaults. */
static int take_from_environment(qmgr_target *t)
{
    const char *addr = env_value("QMGR_ADDR");
    const char *keyfile = env_value("QMGR_AUTHKEY_FILE");
    if (!t->addr)
        t->addr = strdup(addr ? addr : QMGR_DEFAULT_ADDR);
    if (!t->keyfile)
        t->keyfile = keyfile ? strdup(keyfile) : default_keyfile();
    return t->addr && t->keyfile ? QMGR_OK : QMGR_ECLIENTMEM;
}

static char *dup_or_null(const char *s, int *rc)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        *rc = QMGR_ECLIENTMEM;
    return copy;
}

int qmgr_target_resolve(qmgr_target *t, const char *addr, const char *keyfile,
                        const char *config, char *err, size_t errlen)
{
    if (!t || (!err && errlen))
        return QMGR_EINVAL;
    int rc = QMGR_OK;
    *t = (qmgr_target){.addr = dup_or_null(addr, &rc), .keyfile = dup_or_null(keyfile, &rc)};
    if (!rc && config && (!t->addr || !t->keyfile))
        rc = take_from_config(t, config, err, errlen);
    if (!rc)
        rc = take_from_environment(t);
    if (rc == QMGR_ECLIENTMEM)
        snprintf(err, errlen, "out of memory");
    if (rc)
        qmgr_target_free(t);
    return rc;
}

void qmgr_target_free(qmgr_target *t)
{
    if (!t)
        return;
    free(t->addr);
    free(t->keyfile);
    *t = (qmgr_target){0};
}

int qmgr_target_export(const qmgr_target *t)
{
    if (!t || !t->addr || !t->keyfile)
        return QMGR_EINVAL;
    if (setenv("QMGR_ADDR", t->addr, 1) != 0 || setenv("QMGR_AUTHKEY_FILE", t->keyfile, 1) != 0)
        return QMGR_ECLIENTMEM;
    return QMGR_OK;
}

int qmgr_open_target(qmgr_conn *c, const qmgr_target *t)
{
    if (!c)
        return QMGR_EINVAL;
    if (!t || !t->addr || !t->keyfile)
        return conn_fail(c, QMGR_EINVAL, "qmgr_open_target: an unresolved target");
    return qmgr_open_keyfile(c, t->addr, t->keyfile);
}
