/*
 * qmgrctl: inspect and operate a running qmgrd.
 *
 *   qmgrctl [-a ADDR | -s SOCKET] [-k KEYFILE | -c CONF] [--json] COMMAND [ARGS]
 *
 * This file holds what every command shares: options, finding the daemon
 * and its key, error reporting and exit codes. The commands are in
 * ctl_commands.c and ctl_watch.c.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define DEFAULT_IO_TIMEOUT 10.0
#define MAX_OPTIONS 32

static const char COMMON_SHORTOPTS[] = "a:s:k:c:h";
/* Long options without a letter. */
enum { OPT_TLS_CA = 0x100, OPT_TLS_CERT, OPT_TLS_KEY };
static const struct option COMMON_LONGOPTS[] = {
    {"addr", required_argument, NULL, 'a'},
    {"socket", required_argument, NULL, 's'},
    {"keyfile", required_argument, NULL, 'k'},
    {"config", required_argument, NULL, 'c'},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"io-timeout", required_argument, NULL, 'I'},
    {"json", no_argument, NULL, 'J'},
    {"help", no_argument, NULL, 'h'},
};

static const char COMMON_HELP[] =
    "Connection (any command, before or after it):\n"
    "  -a, --addr ADDR        the daemon: host:port, [v6]:port, tls://host:port or\n"
    "                         unix:/path, or several, comma-separated: the first\n"
    "                         that answers\n"
    "  -s, --socket PATH      the daemon's Unix socket (same as -a unix:PATH)\n"
    "  -k, --keyfile FILE     the authkey file\n"
    "  -c, --config FILE      the daemon's config: its listen address and authkey\n"
    "      --tls-ca FILE      for tls:// addresses: trust this CA (PEM; default\n"
    "                         $QMGR_TLS_CA, else the system's CAs)\n"
    "      --tls-cert FILE, --tls-key FILE\n"
    "                         a client certificate and its key, for a daemon that\n"
    "                         asks for one (default $QMGR_TLS_CERT, $QMGR_TLS_KEY)\n"
    "      --io-timeout SECS  give up on an unresponsive daemon (default 10)\n"
    "      --json             print JSON for scripts\n"
    "  -h, --help             this help\n"
    "Without -a/-s/-k, -c gives the address and key; else $QMGR_ADDR and\n"
    "$QMGR_AUTHKEY_FILE; else 127.0.0.1:50002 and the daemon's default key file.\n"
    "\n"
    "Exit status: 0 done, 1 the operation failed (no such object, empty queue, ...),\n"
    "2 bad command line, 3 cannot connect or authenticate.\n";

static void print_main_help(FILE *out)
{
    fputs("usage: qmgrctl [OPTIONS] COMMAND [ARGS]\n\n"
          "Inspect and operate a running qmgrd.\n\nCommands:\n",
          out);
    for (const struct ctl_command *c = ctl_commands; c->name; c++)
        fprintf(out, "  %-24s %s\n", c->usage, c->summary);
    fputs("\n`qmgrctl COMMAND --help` describes a command.\n\n", out);
    fputs(COMMON_HELP, out);
}

static void print_command_help(const struct ctl_command *c)
{
    printf("usage: qmgrctl [OPTIONS] %s\n\n%s\n%s\n", c->usage, c->summary, c->help);
    fputs(COMMON_HELP, stdout);
}

int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
    va_list ap;
    fputs("qmgrctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (ctl->command)
        fprintf(stderr, "\nTry 'qmgrctl %s --help'.\n", ctl->command->name);
    else
        fputs("\nTry 'qmgrctl --help'.\n", stderr);
    return CTL_EXIT_USAGE;
}

bool ctl_parse_seconds(const char *s, double *out)
{
    if (strcmp(s, "forever") == 0) {
        *out = QMGR_FOREVER;
        return true;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 1e9)
        return false;
    *out = v;
    return true;
}

static int stop(struct ctl *ctl, int exit_code)
{
    ctl->exit = exit_code;
    return CTL_STOP;
}

static int common_option(struct ctl *ctl, int opt)
{
    static char socket_addr[PATH_MAX + sizeof "unix:"];
    switch (opt) {
    case 'a': ctl->addr = optarg; return 0;
    case 's':
        snprintf(socket_addr, sizeof socket_addr, "unix:%s", optarg);
        ctl->addr = socket_addr;
        return 0;
    case 'k': ctl->keyfile = optarg; return 0;
    case 'c': ctl->config = optarg; return 0;
    case OPT_TLS_CA: ctl->tls_ca = optarg; return 0;
    case OPT_TLS_CERT: ctl->tls_cert = optarg; return 0;
    case OPT_TLS_KEY: ctl->tls_key = optarg; return 0;
    case 'I':
        if (!ctl_parse_seconds(optarg, &ctl->io_timeout))
            return stop(ctl, ctl_usage_error(ctl, "bad --io-timeout '%s'", optarg));
        return 0;
    case 'J': ctl->json = true; return 0;
    case 'h':
        if (ctl->command)
            print_command_help(ctl->command);
        else
            print_main_help(stdout);
        return stop(ctl, CTL_EXIT_OK);
    default: break;
    }
    return stop(ctl, ctl_usage_error(ctl, "bad option"));
}

static bool is_common(int opt)
{
    return opt == 'I' || opt == 'J' || opt == OPT_TLS_CA || opt == OPT_TLS_CERT ||
           opt == OPT_TLS_KEY || (opt < 0x100 && strchr(COMMON_SHORTOPTS, opt));
}

int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    static struct option all[MAX_OPTIONS];
    static char shorts[64];
    size_t n = 0;
    for (; longopts && longopts[n].name && n < MAX_OPTIONS / 2; n++)
        all[n] = longopts[n];
    for (size_t i = 0; i < sizeof COMMON_LONGOPTS / sizeof COMMON_LONGOPTS[0]; i++)
        all[n++] = COMMON_LONGOPTS[i];
    all[n] = (struct option){0};
    snprintf(shorts, sizeof shorts, "%s%s", shortopts, COMMON_SHORTOPTS);
    for (;;) {
        int opt = getopt_long(argc, argv, shorts, all, NULL);
        if (opt == -1)
            return -1;
        if (opt == '?' || opt == ':')
            return stop(ctl, ctl_usage_error(ctl, "bad command line"));
        if (!is_common(opt) || (opt < 0x100 && shortopts[0] && strchr(shortopts, opt)))
            return opt;
        int rc = common_option(ctl, opt);
        if (rc)
            return rc;
    }
}

static int exit_code_of(int rc)
{
    if (rc == QMGR_ECONN || rc == QMGR_EAUTH || rc == QMGR_EPROTO)
        return CTL_EXIT_CONNECT;
    return rc == QMGR_EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
}

int ctl_fail(const struct ctl *ctl, int rc, const char *what)
{
    const char *detail = ctl->conn ? qmgr_last_error(ctl->conn) : "";
    fprintf(stderr, "qmgrctl: %s: %s (%s)\n", what, detail[0] ? detail : qmgr_strerror(rc),
            qmgr_error_name(rc));
    return exit_code_of(rc);
}

static int open_connection(struct ctl *ctl, const qmgr_target *t)
{
    int rc = qmgr_create(&ctl->conn);
    if (!rc)
        rc = qmgr_set_timeout(ctl->conn, ctl->io_timeout);
    if (!rc && (ctl->tls_ca || ctl->tls_cert || ctl->tls_key))
        rc = qmgr_set_tls(ctl->conn, ctl->tls_ca, ctl->tls_cert, ctl->tls_key);
    if (rc == QMGR_EINVAL)
        return ctl_usage_error(ctl, "--tls-cert and --tls-key go together");
    if (!rc)
        rc = qmgr_open_target(ctl->conn, t);
    if (!rc)
        return CTL_EXIT_OK;
    /* The library's message names the address when it could not connect. */
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "connect to %s", t->addr);
    return ctl_fail(ctl, rc, rc == QMGR_ECONN ? "connect" : what);
}

int ctl_connect(struct ctl *ctl)
{
    if (ctl->conn)
        return CTL_EXIT_OK;
    qmgr_target t;
    char err[512];
    int rc = qmgr_target_resolve(&t, ctl->addr, ctl->keyfile, ctl->config, err, sizeof err);
    if (rc == QMGR_EINVAL)
        return ctl_usage_error(ctl, "%s", err);
    if (rc) {
        fprintf(stderr, "qmgrctl: %s\n", err);
        return CTL_EXIT_FAILED;
    }
    rc = open_connection(ctl, &t);
    qmgr_target_free(&t);
    return rc;
}

static const struct ctl_command *find_command(const char *name)
{
    for (const struct ctl_command *c = ctl_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static const struct option VERSION_OPTION[] = {{"version", no_argument, NULL, 'V'}, {0}};

int main(int argc, char **argv)
{
    struct ctl ctl = {.io_timeout = DEFAULT_IO_TIMEOUT};
    int opt;
    /* "+": global options end at the command's name. */
    while ((opt = ctl_getopt(&ctl, argc, argv, "+", VERSION_OPTION)) != -1) {
        if (opt == CTL_STOP)
            return ctl.exit;
        printf("qmgrctl %s\n", QMGR_VERSION);
        return CTL_EXIT_OK;
    }
    if (optind >= argc)
        return ctl_usage_error(&ctl, "no command given");
    ctl.command = find_command(argv[optind]);
    if (!ctl.command)
        return ctl_usage_error(&ctl, "unknown command '%s'", argv[optind]);
    int first = optind;
    optind = 0; /* a fresh getopt scan for the command's own options */
    int rc = ctl.command->run(&ctl, argc - first, argv + first);
    qmgr_close(ctl.conn);
    return rc;
}
