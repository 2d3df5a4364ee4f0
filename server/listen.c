/* Binding the listening socket: host:port, [v6]:port or unix:/path. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

#define LISTEN_BACKLOG 1024
#define UNIX_PREFIX "unix:"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    (void)l;
    struct server *srv = arg;
    conn_accept(srv, fd, addr, socklen);
}

static void on_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    /* A front end of a cluster accepts only while it is a member. */
    bool member = !srv->cluster || cluster_frontend_id(srv->cluster) != 0;
    if (srv->listener && !srv->stopping && member)
        evconnlistener_enable(srv->listener);
}

/* Out of file descriptors: stop accepting for a moment instead of spinning
 * on a listener that stays readable. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    static struct log_ratelimit accept_log = LOG_RATELIMIT_INIT(10.0, 5);
    struct server *srv = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_write_limited(&accept_log, LOG_WARNING, "accept: %s", evutil_socket_error_to_string(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        struct timeval pause = {0, 200000};
        evconnlistener_disable(l);
        event_base_once(srv->base, -1, EV_TIMEOUT, on_resume_accepting, srv, &pause);
    }
}

void format_sockaddr(char *out, size_t outlen, const struct sockaddr *addr)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unix");
    }
}

static void describe_bound(struct server *srv, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        format_sockaddr(srv->listen_addr, sizeof srv->listen_addr, (struct sockaddr *)&ss);
}

/* Splits "host:port" or "[v6]:port" in place. */
static bool split_host_port(char *addr, char **host, char **port)
{
    char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return false;
    *colon = '\0';
    *port = colon + 1;
    *host = addr;
    if (addr[0] == '[') {
        size_t n = strlen(addr);
        if (n < 2 || addr[n - 1] != ']')
            return false;
        addr[n - 1] = '\0';
        *host = addr + 1;
    }
    return **port != '\0';
}

static int bind_tcp(struct server *srv, const char *listen_addr)
{
    char buf[256];
    char *host, *port;
    snprintf(buf, sizeof buf, "%s", listen_addr);
    if (!split_host_port(buf, &host, &port)) {
        log_err("listen: cannot parse address '%s' (host:port, [v6]:port or unix:/path)",
                listen_addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        log_err("listen: %s: %s", listen_addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            log_err("listen: bind %s: %s", listen_addr, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0)
        describe_bound(srv, fd);
    return fd;
}

static int bind_unix(struct server *srv, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        log_err("listen: unix socket path too long: %s", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        log_err("listen: %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(srv->listen_addr, sizeof srv->listen_addr, "unix:%s", path);
    return fd;
}

bool server_listen(struct server *srv)
{
    const char *addr = srv->config.listen;
    bool is_unix = strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0;
    int fd = is_unix ? bind_unix(srv, addr + strlen(UNIX_PREFIX)) : bind_tcp(srv, addr);
    if (fd < 0)
        return false;
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        log_err("listen: %s: %s", addr, strerror(errno));
        close(fd);
        return false;
    }
    srv->listener = evconnlistener_new(srv->base, on_accept, srv,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!srv->listener) {
        close(fd);
        return false;
    }
    evconnlistener_set_error_cb(srv->listener, on_accept_error);
    log_notice("listening on %s", srv->listen_addr);
    return true;
}

void server_unlisten(struct server *srv)
{
    if (!srv->listener)
        return;
    evconnlistener_free(srv->listener);
    srv->listener = NULL;
    if (strncmp(srv->listen_addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
        unlink(srv->listen_addr + strlen(UNIX_PREFIX));
}
