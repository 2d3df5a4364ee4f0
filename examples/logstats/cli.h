/*
 * Small helpers the three logstats programs share: option values, the
 * monotonic clock, and a "stop" flag set by SIGTERM/SIGINT.
 */
#ifndef LOGSTATS_CLI_H
#define LOGSTATS_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

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
