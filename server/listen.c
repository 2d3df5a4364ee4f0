/* Binding the listening sockets: host:port, [v6]:port or unix:/path, each
 * plain or tls://. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/address.h"
#include "server.h"

#define LISTEN_BACKLOG 1024
#define UNIX_PREFIX "unix:"

void server_accepting(struct server *srv, bool on)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        if (on)
            event_add(srv->listeners[i].ev, NULL);
        else
            event_del(srv->listeners[i].ev);
    }
}

static void on_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    /* A front end of a cluster accepts only while it is a member. */
    bool member = !srv->cluster || cluster_frontend_id(srv->cluster) != 0;
    if (!srv->stopping && member)
        server_accepting(srv, true);
}

/* Out of file descriptors: stop accepting for a moment instead of spinning
 * on a listener that stays readable. */
static void accept_failed(struct server *srv, int err)
{
    static struct log_ratelimit accept_log = LOG_RATELIMIT_INIT(10.0, 5);
    log_write_limited(&accept_log, LOG_WARNING, "accept: %s", strerror(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        struct timeval pause = {0, 200000};
        server_accepting(srv, false);
        event_base_once(srv->base, -1, EV_TIMEOUT, on_resume_accepting, srv, &pause);
    }
}

/* One connection per readiness, as memcached and beanstalkd do: the
 * listener stays readable while more wait, and the common case of one
 * saves the accept() that would only say EAGAIN. */
static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct listener *l = arg;
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd >= 0) {
        conn_accept(l, cfd, (struct sockaddr *)&peer);
        return;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        accept_failed(l->srv, errno);
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

static void describe_bound_socket(int fd, char *bound, size_t boundlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf(bound, boundlen, "?");
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        format_sockaddr(bound, boundlen, (struct sockaddr *)&ss);
}

int listen_tcp(const char *what, const char *addr, int backlog, char *bound, size_t boundlen)
{
    char buf[256];
    char *host, *port;
    snprintf(buf, sizeof buf, "%s", addr);
    if (!split_host_port(buf, &host, &port)) {
        log_err("%s: cannot parse address '%s' (host:port or [v6]:port)", what, addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        log_err("%s: %s: %s", what, addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            log_err("%s: bind %s: %s", what, addr, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0)
        describe_bound_socket(fd, bound, boundlen);
    return fd;
}

static int listen_tcp_listener(struct listener *l, const char *listen_addr)
{
    char bound[sizeof l->addr - sizeof ADDRESS_TLS_PREFIX];
    int fd = listen_tcp("listen", listen_addr, LISTEN_BACKLOG, bound, sizeof bound);
    if (fd >= 0)
        snprintf(l->addr, sizeof l->addr, "%s%s", l->tls ? ADDRESS_TLS_PREFIX : "", bound);
    return fd;
}

static int listen_unix(struct listener *l, const char *path)
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
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        log_err("listen: %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(l->addr, sizeof l->addr, "%sunix:%s", l->tls ? ADDRESS_TLS_PREFIX : "", path);
    return fd;
}

static bool listen_on(struct listener *l, const char *addr)
{
    bool is_unix = strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0;
    int fd = is_unix ? listen_unix(l, addr + strlen(UNIX_PREFIX)) : listen_tcp_listener(l, addr);
    if (fd < 0)
        return false;
    l->ev = event_new(l->srv->base, fd, EV_READ | EV_PERSIST, on_accept, l);
    if (!l->ev || event_add(l->ev, NULL) != 0) {
        if (l->ev)
            event_free(l->ev);
        close(fd);
        return false;
    }
    log_notice("listening on %s", l->addr);
    return true;
}

static bool add_listener(struct server *srv, const char *addr)
{
    struct listener *l = &srv->listeners[srv->nlisteners];
    *l = (struct listener){.srv = srv};
    const char *plain = address_strip_tls(addr, &l->tls);
    if (l->tls && !srv->tls_ctx) {
        log_err("listen: %s needs tls_cert and tls_key", addr);
        return false;
    }
    if (!listen_on(l, plain))
        return false;
    srv->nlisteners++;
    return true;
}

bool server_listen(struct server *srv)
{
    const char *list = srv->config.listen;
    size_t n = address_count(list);
    if (n > MAX_LISTENERS) {
        log_err("listen: %zu addresses; at most %d", n, MAX_LISTENERS);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char one[ADDRESS_MAX];
        if (!address_at(list, i, one, sizeof one)) {
            log_err("listen: cannot parse '%s' (host:port, [v6]:port or unix:/path, each "
                    "optionally tls://, separated by commas)", list);
            return false;
        }
        if (!add_listener(srv, one))
            return false;
    }
    snprintf(srv->listen_addr, sizeof srv->listen_addr, "%s", srv->listeners[0].addr);
    return true;
}

static void unlink_socket_file(const char *addr)
{
    bool tls;
    const char *plain = address_strip_tls(addr, &tls);
    if (strncmp(plain, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
        unlink(plain + strlen(UNIX_PREFIX));
}

void server_unlisten(struct server *srv)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        int fd = event_get_fd(srv->listeners[i].ev);
        event_free(srv->listeners[i].ev);
        close(fd);
        unlink_socket_file(srv->listeners[i].addr);
    }
    srv->nlisteners = 0;
}
