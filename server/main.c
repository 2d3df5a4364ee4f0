/* qmgrd: flags, configuration, the authkey, then the event loop. */
#include <getopt.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server.h"

enum { OPT_CHECK_CONFIG = 256, OPT_VERSION, OPT_REPAIR_JOURNAL, OPT_DROP_UNCONFIGURED };

struct options {
    const char *config_path;
    const char *listen;
    const char *authkey_file;
    const char *state_dir;
    bool check_config;
    unsigned journal_flags; /* enum journal_replay_flags */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qmgrd [-c FILE] [-l ADDR] [-k KEYFILE] [-d STATE_DIR] [--check-config]\n"
            "             [--repair-journal] [--drop-unconfigured] [--version]\n"
            "  -c, --config FILE      read FILE (INI; see qmgrd.conf); default: built-in defaults\n"
            "  -l, --listen ADDR      host:port, [v6]:port or unix:/path (default %s)\n"
            "  -k, --authkey KEYFILE  the shared key (created, random, 0600, if missing)\n"
            "  -d, --state-dir DIR    where the default key file and the journal live\n"
            "      --check-config     check the configuration and exit\n"
            "      --repair-journal   a journal damaged before its end: keep it aside whole\n"
            "                         (qmgrd.journal.damaged-TIME) and start from the records\n"
            "                         before the damage\n"
            "      --drop-unconfigured  drop what the journal holds for objects the\n"
            "                         configuration no longer declares\n"
            "      --version          print the version and exit\n",
            CONFIG_DEFAULT_LISTEN);
}

/* 0: go on; otherwise the exit status + 1. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"authkey", required_argument, NULL, 'k'},
        {"state-dir", required_argument, NULL, 'd'},
        {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
        {"repair-journal", no_argument, NULL, OPT_REPAIR_JOURNAL},
        {"drop-unconfigured", no_argument, NULL, OPT_DROP_UNCONFIGURED},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:l:k:d:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config_path = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'k': o->authkey_file = optarg; break;
        case 'd': o->state_dir = optarg; break;
        case OPT_CHECK_CONFIG: o->check_config = true; break;
        case OPT_REPAIR_JOURNAL: o->journal_flags |= JOURNAL_REPAIR; break;
        case OPT_DROP_UNCONFIGURED: o->journal_flags |= JOURNAL_DROP_UNCONFIGURED; break;
        case OPT_VERSION: printf("qmgrd %s\n", QMGR_VERSION); return 1;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 3;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 3;
    }
    return 0;
}

static bool override(char **field, const char *value)
{
    if (!value)
        return true;
    char *copy = strdup(value);
    if (!copy)
        return false;
    free(*field);
    *field = copy;
    return true;
}

static bool load_config(struct config *cfg, const struct options *o)
{
    char err[512];
    config_init(cfg);
    if (o->config_path) {
        if (!config_load(cfg, o->config_path, err, sizeof err)) {
            fprintf(stderr, "qmgrd: %s\n", err);
            return false;
        }
    } else {
        config_add_default_objects(cfg);
    }
    if (!override(&cfg->listen, o->listen) || !override(&cfg->authkey_file, o->authkey_file) ||
        !override(&cfg->state_dir, o->state_dir)) {
        fprintf(stderr, "qmgrd: out of memory\n");
        return false;
    }
    return true;
}

static bool load_authkey(struct authkey *key, const struct config *cfg)
{
    char err[512], warning[1024] = "";
    bool created = false;
    char *path = config_authkey_path(cfg);
    bool ok = path && authkey_create_if_missing(path, &created, err, sizeof err) &&
              authkey_load_warn(key, path, warning, sizeof warning, err, sizeof err);
    if (!path)
        log_err("out of memory");
    else if (!ok)
        log_err("authkey: %s", err);
    else if (created)
        log_notice("created a new random authkey in %s (clients need it)", path);
    /* As OpenSSH does for a private key: loud, but the key is still used. */
    if (ok && warning[0])
        log_warn("authkey: %s", warning);
    free(path);
    return ok;
}

/* Room for max_connections descriptors, as far as the hard limit allows. */
static void raise_fd_limit(uint64_t max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_connections + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("open files limited to %llu: fewer than max_connections can connect",
                 (unsigned long long)rl.rlim_cur);
}

/* glibc's malloc maps every block over a threshold that follows the largest
 * block freed, and gives the top of its heap back to the kernel past twice
 * that. With batches of a few hundred KiB moving through, each one was then
 * faulted in afresh: about a fifth of the daemon's CPU in the pipeline. Fixed
 * limits keep a few MiB of freed blocks for the next batch, as jemalloc does
 * for Redis. */
static void keep_freed_blocks(void)
{
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
}

int main(int argc, char **argv)
{
    struct options opts = {0};
    log_init("qmgrd");
    int rc = parse_options(argc, argv, &opts);
    if (rc)
        return rc - 1;
    struct config cfg;
    if (!load_config(&cfg, &opts)) {
        config_free(&cfg);
        return 1;
    }
    if (opts.check_config) {
        printf("%s: configuration OK (%zu objects)\n",
               opts.config_path ? opts.config_path : "defaults", cfg.nobjects);
        config_free(&cfg);
        return 0;
    }
    log_set_level(cfg.log_level);
    if (sodium_init() < 0) {
        log_err("libsodium failed to initialise");
        config_free(&cfg);
        return 1;
    }
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv || !load_authkey(&srv->key, &cfg)) {
        free(srv);
        config_free(&cfg);
        return 1;
    }
    raise_fd_limit(cfg.max_connections);
    keep_freed_blocks();
    srv->journal_flags = opts.journal_flags;
    rc = server_init(srv, &cfg, opts.config_path) ? server_run(srv) : 1;
    server_free(srv);
    free(srv);
    return rc;
}
