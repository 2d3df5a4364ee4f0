/*
 * Daemon addresses ("host:port", "[v6]:port", "unix:/path"), lists of them
 * separated by commas (the front ends of a cluster, tried in turn), and
 * connecting a socket to one within a deadline.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/internal.h"
#include "common/address.h"
#include "client/wait.h"
#include "common/clock.h"

#define UNIX_PREFIX "unix:"

struct address {
    bool tls;
    bool is_unix;
    char host[256];
    char port[8];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static bool copy_bounded(char *dst, size_t cap, const char *src, size_t len)
{
    if (len == 0 || len >= cap)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

static bool port_valid(const char *s)
{
    if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
        return false;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

static bool parse_inet(const char *addr, struct address *a)
{
    const char *colon;
    const char *host = addr;
    size_t hostlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return false;
        host = addr + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return false;
        hostlen = (size_t)(colon - addr);
        /* An IPv6 address needs its brackets, or the port is ambiguous. */
        if (memchr(addr, ':', hostlen))
            return false;
    }
    return copy_bounded(a->host, sizeof a->host, host, hostlen) &&
           copy_bounded(a->port, sizeof a->port, colon + 1, strlen(colon + 1)) &&
           port_valid(a->port);
}

static bool parse_address(const char *addr, struct address *a)
{
    memset(a, 0, sizeof *a);
    addr = address_strip_tls(addr, &a->tls);
    if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
        const char *path = addr + strlen(UNIX_PREFIX);
        a->is_unix = true;
        return copy_bounded(a->path, sizeof a->path, path, strlen(path));
    }
    return parse_inet(addr, a);
}

bool address_host(const char *addr, char *host, size_t size)
{
    struct address a;
    if (!parse_address(addr, &a) || a.is_unix || strlen(a.host) >= size)
        return false;
    strcpy(host, a.host);
    return true;
}

bool address_valid(const char *list)
{
    if (!list)
        return false;
    char one[ADDRESS_MAX];
    struct address a;
    for (size_t i = 0, n = address_count(list); i < n; i++)
        if (!address_at(list, i, one, sizeof one) || !parse_address(one, &a))
            return false;
    return true;
}

/* Finishes a connect() a signal interrupted: 0, or an errno value. */
static int finish_connect(int fd, double deadline)
{
    int rc = wait_fd(fd, POLLOUT, deadline);
    if (rc == 0)
        return ETIMEDOUT;
    if (rc < 0)
        return errno;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

/* A blocking connect() waits at most SO_SNDTIMEO on Linux: the deadline
 * costs one system call, where a non-blocking connect costs four. */
static int bound_connect_wait(int fd, double deadline)
{
    if (deadline < 0)
        return 0;
    double left = deadline - clock_now();
    struct timeval tv = clock_timeval(left > 1e-3 ? left : 1e-3);
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ? errno : 0;
}

/* 0 with *fd connected, or an errno value. The socket blocks, and the
 * calls that must not wait say so (wire.c). */
static int connect_sockaddr(const struct sockaddr *sa, socklen_t salen, double deadline, int *fd)
{
    int s = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    int err = bound_connect_wait(s, deadline);
    if (!err && connect(s, sa, salen) < 0) {
        err = errno;
        if (err == EINPROGRESS || err == EAGAIN) /* SO_SNDTIMEO ran out (TCP, unix) */
            err = ETIMEDOUT;
        else if (err == EINTR) /* the connect goes on: wait for it */
            err = finish_connect(s, deadline);
    }
    if (err) {
        close(s);
        return err;
    }
    if (sa->sa_family != AF_UNIX) {
        /* Requests are single small frames: do not let Nagle hold them back. */
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    *fd = s;
    return 0;
}

static int connect_unix(const struct address *a, double deadline, int *fd, char *err,
                        size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
    int e = connect_sockaddr((struct sockaddr *)&sun, sizeof sun, deadline, fd);
    if (!e)
        return QMGR_OK;
    snprintf(err, errlen, "cannot connect to unix:%s: %s", a->path, strerror(e));
    return QMGR_ECONN;
}

static int connect_inet(const struct address *a, double deadline, int *fd, char *err,
                        size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list;
    int gai = getaddrinfo(a->host, a->port, &hints, &list);
    if (gai) {
        snprintf(err, errlen, "cannot resolve %s: %s", a->host, gai_strerror(gai));
        return QMGR_ECONN;
    }
    int e = ENOENT;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        e = connect_sockaddr(ai->ai_addr, ai->ai_addrlen, deadline, fd);
        if (!e)
            break;
    }
    freeaddrinfo(list);
    if (!e)
        return QMGR_OK;
    snprintf(err, errlen, "cannot connect to %s:%s: %s", a->host, a->port, strerror(e));
    return QMGR_ECONN;
}

int address_connect(const char *addr, double timeout, int *fd, char *err, size_t errlen)
{
    struct address a;
    if (!parse_address(addr, &a) || (a.tls && a.is_unix)) {
        snprintf(err, errlen, "bad address \"%s\": want host:port, [v6]:port or unix:/path", addr);
        return QMGR_EINVAL;
    }
    double deadline = timeout < 0 ? -1 : clock_now() + timeout;
    if (a.is_unix)
        return connect_unix(&a, deadline, fd, err, errlen);
    return connect_inet(&a, deadline, fd, err, errlen);
}
