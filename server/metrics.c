/*
 * The metrics endpoint: libevent's evhttp on the daemon's loop, bound to
 * metrics_listen. GET /metrics and GET /healthz are answered, any other
 * path 404 and any other method on them 405. A request is bounded in
 * header and body bytes, and a connection in idle time. Their number is
 * not bounded: libevent 2.1 has no evhttp_set_max_connections (2.2 has)
 * and tells nobody when it frees a connection, so none can be counted.
 * Hence docs/metrics.md: keep the port on loopback or a monitoring network.
 */
#include <errno.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "metrics.h"
#include "server.h"

#define METRICS_BACKLOG 64
/* For a request to arrive, or a reply to be read; Prometheus' default
 * scrape timeout is 10 s as well. */
#define METRICS_TIMEOUT_S 10
#define METRICS_MAX_HEADERS (8 * 1024)
/* No request here has a body: a short one is read only so that a POST is
 * answered 405 rather than 413. */
#define METRICS_MAX_BODY 1024
/* How long accepting pauses when accept() fails for want of descriptors. */
#define ACCEPT_PAUSE_US 200000

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_TEXT "text/plain; charset=utf-8"

/* Every method evhttp parses: it answers those not allowed 501 itself,
 * and these paths answer 405. */
#define EVERY_HTTP_METHOD                                                                        \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |    \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

struct metrics {
    struct server *srv;
    struct evhttp *http;
    double start_time; /* seconds since the epoch */
    char addr[128];    /* as bound */
};

static struct log_ratelimit accept_log = LOG_RATELIMIT_INIT(10.0, 5);

static double realtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *body = evbuffer_new();
    if (!body || evbuffer_add(body, text, strlen(text)) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          CONTENT_TYPE_TEXT);
        evhttp_send_reply(req, code, reason, body);
    }
    if (body)
        evbuffer_free(body);
}

/* The whole body is built in one buffer, then handed to evhttp. */
static void serve_metrics(struct metrics *m, struct evhttp_request *req)
{
    struct evbuffer *body = evbuffer_new();
    if (!body || !metrics_write(body, m->srv, m->start_time)) {
        log_warn("metrics: out of memory for a scrape");
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          CONTENT_TYPE_METRICS);
        evhttp_send_reply(req, HTTP_OK, "OK", body);
    }
    if (body)
        evbuffer_free(body);
}

static const char *request_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    return path ? path : "";
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    const char *path = request_path(req);
    bool is_metrics = strcmp(path, "/metrics") == 0;
    if (!is_metrics && strcmp(path, "/healthz") != 0) {
        reply_text(req, HTTP_NOTFOUND, "Not Found", "not found: try /metrics\n");
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        reply_text(req, HTTP_BADMETHOD, "Method Not Allowed", "only GET\n");
    } else if (is_metrics) {
        serve_metrics(m, req);
    } else {
        reply_text(req, HTTP_OK, "OK", "ok\n");
    }
}

static void on_accept_pause_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

/* Out of descriptors: the pending connection stays, so the listener stays
 * readable; it pauses rather than spinning. evhttp owns the listener's
 * context, so the pause knows only the listener, which is freed only
 * after the loop (a pause still pending then never ends). */
static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_write_limited(&accept_log, LOG_WARNING, "metrics: accept: %s",
                      evutil_socket_error_to_string(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        struct timeval pause = {0, ACCEPT_PAUSE_US};
        evconnlistener_disable(listener);
        event_base_once(evconnlistener_get_base(listener), -1, EV_TIMEOUT, on_accept_pause_over,
                        listener, &pause);
    }
}

/* evhttp on the listening socket fd, which is closed with it (or at once
 * when this fails). */
static bool start_http(struct metrics *m, int fd)
{
    struct evconnlistener *listener = evconnlistener_new(
        m->srv->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!listener) {
        close(fd);
        return false;
    }
    m->http = evhttp_new(m->srv->base);
    if (!m->http) {
        evconnlistener_free(listener);
        return false;
    }
    evhttp_set_allowed_methods(m->http, EVERY_HTTP_METHOD);
    evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
    evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
    evhttp_set_gencb(m->http, on_request, m);
    if (!evhttp_bind_listener(m->http, listener)) {
        evconnlistener_free(listener);
        return false;
    }
    evconnlistener_set_error_cb(listener, on_accept_error);
    return true;
}

bool metrics_open(struct server *srv)
{
    const char *addr = srv->config.metrics_listen;
    if (!addr)
        return true;
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        log_err("metrics: out of memory");
        return false;
    }
    m->srv = srv;
    m->start_time = realtime_now() - (clock_now() - srv->started);
    srv->metrics = m;
    int fd = listen_tcp("metrics_listen", addr, METRICS_BACKLOG, m->addr, sizeof m->addr);
    if (fd < 0)
        return false;
    if (!start_http(m, fd)) {
        log_err("metrics: out of memory serving HTTP on %s", m->addr);
        return false;
    }
    log_notice("metrics: serving http://%s/metrics", m->addr);
    return true;
}

void metrics_close(struct server *srv)
{
    struct metrics *m = srv->metrics;
    if (!m)
        return;
    srv->metrics = NULL;
    if (m->http)
        evhttp_free(m->http);
    free(m);
}

static bool same_setting(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void metrics_check_reload(const struct server *srv, const struct config *fresh)
{
    if (!same_setting(srv->config.metrics_listen, fresh->metrics_listen))
        log_warn("reload: metrics_listen changed; it takes effect at the next start");
}
