#ifndef QMGR_COMMON_CLOCK_H
#define QMGR_COMMON_CLOCK_H

#include <time.h>

/* Seconds on the monotonic clock: for timeouts and rates, never for dates. */
static inline double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
