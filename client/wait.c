#include "client/wait.h"

#include <errno.h>
#include <poll.h>
#include <time.h>

#include "common/clock.h"

/* Milliseconds until deadline for poll(), rounded up so we never wake early
 * and spin. */
static int poll_timeout_ms(double deadline)
{
    if (deadline < 0)
        return -1;
    double left = deadline - clock_now();
    if (left <= 0)
        return 0;
    if (left > 86400.0)
        return 86400 * 1000;
    return (int)(left * 1000.0) + 1;
}

int wait_fd(int fd, short events, double deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int rc = poll(&p, 1, poll_timeout_ms(deadline));
        if (rc > 0)
            return p.revents;
        if (rc == 0) {
            if (poll_timeout_ms(deadline) == 0)
                return 0;
            continue; /* capped at a day: keep waiting */
        }
        if (errno != EINTR)
            return -1;
    }
}

void wait_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
