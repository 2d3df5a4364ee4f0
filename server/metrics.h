/*
 * The Prometheus endpoint (metrics_listen; docs/metrics.md): GET /metrics
 * in the text exposition format 0.0.4 and GET /healthz, over plain HTTP,
 * served by libevent's evhttp on the daemon's own loop. It only reads the
 * server: a scrape changes nothing a client can see.
 */
#ifndef QMGR_SERVER_METRICS_H
#define QMGR_SERVER_METRICS_H

#include <event2/buffer.h>
#include <stdbool.h>

#include "common/config.h"

struct server;

/* metrics.c: the endpoint. */
/* Binds config.metrics_listen and serves it (nothing to do when it is
 * unset). False, with the reason logged, when it cannot: the daemon must
 * not start without the metrics it was asked for. */
bool metrics_open(struct server *srv);
void metrics_close(struct server *srv);
/* A reload does not move the endpoint: says so when fresh asks it to. */
void metrics_check_reload(const struct server *srv, const struct config *fresh);

/* metrics_text.c: the exposition itself. Appends every metric of srv to
 * out; start_time is the daemon's start in seconds since the epoch. False
 * when out of memory (out then holds part of it). */
bool metrics_write(struct evbuffer *out, const struct server *srv, double start_time);

#endif
