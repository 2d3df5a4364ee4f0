#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t cli_stop_requested;

int cli_getopt(const struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (endpoint_option(cli->ep, c, optarg))
            continue;
        if (c == 'h') {
            cli->usage(stdout);
            return CLI_HELP;
        }
        if (c == '?' || c == ':') {
            cli->usage(stderr);
            return CLI_USAGE;
        }
        return c;
    }
    if (optind < argc && !cli->takes_arguments) {
        fprintf(stderr, "%s: unexpected argument: %s\n", cli->prog, argv[optind]);
        return CLI_USAGE;
    }
    return CLI_END;
}

int cli_parse_result(int rc)
{
    return rc == CLI_END ? 0 : rc == CLI_HELP ? -1 : 2;
}

int cli_bad_value(const struct cli *cli, const char *opt, const char *value)
{
    fprintf(stderr, "%s: bad value for %s: %s\n", cli->prog, opt, value);
    return 2;
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false; /* strtoull would accept "-1" and " 1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_seconds(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_stop(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

bool cli_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_stop;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGTERM, &sa, NULL) == 0 && sigaction(SIGINT, &sa, NULL) == 0;
}
