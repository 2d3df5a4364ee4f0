/*
 * Logging to stderr. Under systemd (JOURNAL_STREAM set) each line starts with
 * its syslog priority, "<6>", so journald keeps the level; otherwise with a
 * UTC timestamp and the level's name.
 */
#ifndef QMGR_COMMON_LOG_H
#define QMGR_COMMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_init(const char *ident);
void log_set_level(int priority); /* LOG_ERR .. LOG_DEBUG */
bool log_level_parse(const char *name, int *priority);
bool log_enabled(int priority);
void log_write(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_write(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_write(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

/*
 * At most `burst` lines per `interval_s`; the first line after a quiet spell
 * reports how many were suppressed. Used for lines a peer can trigger at will
 * (failed handshakes, garbage), so an attacker cannot flood the log.
 */
struct log_ratelimit {
    double interval_s;
    unsigned burst;
    double window_start;
    unsigned emitted;
    unsigned long suppressed;
};
#define LOG_RATELIMIT_INIT(interval, n) {(interval), (n), 0, 0, 0}

void log_write_limited(struct log_ratelimit *rl, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The clock rate limits read (clock_now by default; NULL restores it), so a
 * test can move time instead of waiting for it. */
void log_set_clock(double (*now)(void));

#endif
