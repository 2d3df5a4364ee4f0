/* Waiting for a socket with a deadline on the monotonic clock. */
#ifndef QMGR_CLIENT_WAIT_H
#define QMGR_CLIENT_WAIT_H

/* poll() for events until deadline (clock_now() seconds; < 0: forever),
 * resuming after signals. Returns the revents (> 0), 0 on timeout, or -1
 * with errno. */
int wait_fd(int fd, short events, double deadline);

/* Sleeps ms milliseconds, resuming after signals. */
void wait_ms(unsigned ms);

#endif
