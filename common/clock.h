#ifndef QMGR_COMMON_CLOCK_H
#define QMGR_COMMON_CLOCK_H

#include <sys/time.h>
#include <time.h>

/* Seconds on the monotonic clock: for timeouts and rates, never for dates. */
static inline double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* seconds (>= 0) as a timeval, for timers. */
static inline struct timeval clock_timeval(double seconds)
{
    time_t whole = (time_t)seconds;
    return (struct timeval){whole, (suseconds_t)((seconds - (double)whole) * 1e6)};
}

#endif
