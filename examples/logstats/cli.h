/*
 * Small helpers the three logstats programs share: the option loop, option
 * values, the monotonic clock, and a "stop" flag set by SIGTERM/SIGINT.
 */
#ifndef LOGSTATS_CLI_H
#define LOGSTATS_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "endpoint.h"

/* What every program's command line has beside its own options. The
 * programs' option tables and switch cases are alike in shape only: each
 * lists its own options. */
struct cli {
    const char *prog;
    void (*usage)(FILE *out);
    struct endpoint *ep;  /* takes -a, -k, -c */
    bool takes_arguments; /* else an argument after the options is a usage error */
};

/* cli_getopt's results that are not one of the program's options. */
enum { CLI_END = -1, CLI_HELP = -2, CLI_USAGE = -3 };

/*
 * getopt_long over shortopts/longopts, which list the endpoint options
 * ("a:k:c:", ENDPOINT_LONG_OPTIONS) and -h/--help besides the program's own.
 * Returns the next option of the program's own, or: CLI_END when all are
 * read (and no argument is left, unless the program takes some); CLI_HELP once -h printed the usage;
 * CLI_USAGE after reporting an unknown option or a stray argument.
 */
int cli_getopt(const struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* What parse_options returns for a cli_getopt result below 0: 0 at the end,
 * -1 after --help, 2 for a usage error. */
int cli_parse_result(int rc);
/* Reports a bad option value; returns 2. */
int cli_bad_value(const struct cli *cli, const char *opt, const char *value);

/* An unsigned decimal in [min, max]; false (and *out untouched) otherwise. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Seconds as a finite, non-negative decimal ("2", "0.25"). */
bool cli_parse_seconds(const char *s, double *out);

/* Seconds on the monotonic clock: for rates and deadlines, never for dates. */
double cli_now(void);

/* Set once SIGTERM or SIGINT arrives (after cli_catch_stop_signals). */
extern volatile sig_atomic_t cli_stop_requested;
/* Installs handlers that only set cli_stop_requested, without SA_RESTART
 * so that sleeps and waits of our own return early. */
bool cli_catch_stop_signals(void);

#endif
