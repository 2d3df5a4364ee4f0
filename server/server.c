/* The event loop: signals, lifecycle (start, reload, graceful stop) and the
 * end-of-turn work that follows every pass of the loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "metrics.h"
#include "restore.h"
#include "server.h"

/* How long a stopping daemon waits for replies to drain before it closes
 * the connections that are still not reading. */
#define SHUTDOWN_GRACE_S 5

static void apply_limits(struct server *srv)
{
    srv->state.memory.max = srv->config.max_memory;
    srv->transport_memory.max = srv->config.max_memory;
    log_set_level(srv->config.log_level);
    journal_set_policy(srv->journal, srv->config.fsync);
}

static void notify_status(struct server *srv)
{
    char status[160];
    snprintf(status, sizeof status, "STATUS=%u connections, %llu ops, %s", srv->nconns,
             (unsigned long long)srv->counters.ops, srv->listen_addr);
    notify_send(status);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    log_warn("%u connections still had replies pending at shutdown; closed", srv->nconns);
    event_base_loopbreak(srv->base);
}

static void begin_shutdown(struct server *srv, int signo)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_notice("received %s; stopping", strsignal(signo));
    notify_send("STOPPING=1");
    server_unlisten(srv);
    /* In cluster mode the log ends this front end's sessions (answering
     * their parked requests ESHUTDOWN), so every replica does it at once. */
    if (srv->cluster)
        cluster_leave(srv->cluster);
    struct conn *c, *next;
    for (c = TAILQ_FIRST(&srv->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (srv->cluster && c->state == CONN_READY)
            continue;
        if (c->state == CONN_READY) {
            input_shutdown(&c->session, srv->now);
            conn_set_state(c, CONN_CLOSING); /* closed once its replies are out */
        } else {
            conn_close(c, NULL);
        }
    }
    struct timeval grace = {SHUTDOWN_GRACE_S, 0};
    event_base_once(srv->base, -1, EV_TIMEOUT, on_grace_over, srv, &grace);
}

/* New connections get the certificate and key read now; open ones keep
 * theirs. A pair that does not load leaves the running one in place. */
static void reload_tls(struct server *srv, const struct config *fresh)
{
    char err[512];
    if (!srv->tls_ctx)
        return;
    if (!fresh->tls_cert || !fresh->tls_key) {
        log_err("reload: tls_cert and tls_key are gone; keeping the running certificate");
        return;
    }
    SSL_CTX *ctx = tls_context_new(fresh, err, sizeof err);
    if (!ctx) {
        log_err("reload: keeping the running certificate: %s", err);
        return;
    }
    SSL_CTX_free(srv->tls_ctx);
    srv->tls_ctx = ctx;
    log_notice("reload: TLS certificate %s loaded", fresh->tls_cert);
}

static void reload(struct server *srv)
{
    if (!srv->config_path) {
        log_notice("SIGHUP: no configuration file to reload");
        return;
    }
    notify_send("RELOADING=1");
    char err[512];
    struct config fresh;
    config_init(&fresh);
    if (!config_load(&fresh, srv->config_path, err, sizeof err)) {
        log_err("reload refused, keeping the running configuration: %s", err);
        config_free(&fresh);
        notify_send("READY=1");
        return;
    }
    if (strcmp(fresh.listen, srv->config.listen) != 0)
        log_warn("reload: listen changed; it takes effect at the next start");
    reload_tls(srv, &fresh);
    metrics_check_reload(srv, &fresh);
    if (srv->cluster) {
        /* Objects and limits must be the same in every replica: they change
         * with a restart of every front end, not with one's reload. */
        log_set_level(fresh.log_level);
        srv->config.log_level = fresh.log_level;
        log_notice("reload: cluster mode: only log_level is reloaded");
        config_free(&fresh);
        notify_send("READY=1");
        return;
    }
    /* The address and key stay those the daemon started with. */
    free(fresh.listen);
    fresh.listen = strdup(srv->config.listen);
    if (!fresh.listen || !registry_apply(&srv->state.registry, fresh.objects, fresh.nobjects)) {
        log_err("reload: out of memory");
        config_free(&fresh);
        notify_send("READY=1");
        return;
    }
    config_free(&srv->config);
    srv->config = fresh;
    apply_limits(srv);
    log_notice("reloaded %s: %u objects", srv->config_path,
               HASH_CNT(hh, srv->state.registry.by_name));
    notify_send("READY=1");
}

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    struct server *srv = arg;
    srv->now = clock_now();
    if (signo == SIGHUP)
        reload(srv);
    else
        begin_shutdown(srv, (int)signo);
}

/*
 * The disk refused this turn's changes, which are already in memory and
 * must never be seen: not acknowledged, not handed out. The daemon does
 * what a crash and restart would, in place: every connection is closed (so
 * nothing of this turn is answered) and the objects are rebuilt from the
 * journal, which holds exactly what was acknowledged. Changes are then
 * refused until the journal can be rewritten; reads go on.
 */
static void reload_from_journal(struct server *srv)
{
    char err[1024] = "out of memory";
    uint64_t max_owner;
    log_err("journal: reloading the last recorded state; every client is disconnected");
    server_drop_clients(srv);
    bool copied = state_empty_objects(&srv->state);
    srv->state.log = NULL;
    /* The replay drops what closing appended. */
    if (!copied || !state_restore(&srv->state, srv->journal,
                                  srv->journal_flags & JOURNAL_DROP_UNCONFIGURED, &max_owner,
                                  err, sizeof err)) {
        /* Serving a state that is not the recorded one would be worse. */
        log_err("journal: cannot reload the recorded state (%s); exiting", err);
        exit(1);
    }
    srv->state.log = journal_log(srv->journal);
}

/* Group commit: everything this turn changed goes to the journal (and, with
 * fsync = always, to disk) before any reply of this turn is written. */
static void commit_journal(struct server *srv)
{
    if (!journal_commit(srv->journal))
        reload_from_journal(srv);
}

void server_drop_clients(struct server *srv)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&srv->conns)))
        conn_close(c, NULL);
    while ((c = TAILQ_FIRST(&srv->closed_list))) {
        TAILQ_REMOVE(&srv->closed_list, c, link);
        conn_free(c);
    }
}

/* The end of a loop turn: what every event of the turn produced is
 * committed together, then written out. */
static void finish_turn(struct server *srv)
{
    struct conn *c;
    srv->now = clock_now();
    commit_journal(srv);
    if (srv->cluster)
        cluster_end_turn(srv->cluster);
    while ((c = TAILQ_FIRST(&srv->flush_list))) {
        TAILQ_REMOVE(&srv->flush_list, c, flush_link);
        c->flush_queued = false;
        conn_flush(c);
    }
    while ((c = TAILQ_FIRST(&srv->closed_list))) {
        TAILQ_REMOVE(&srv->closed_list, c, link);
        conn_free(c);
    }
}

/* A stopping front end of a cluster also waits for the log to end it. */
static bool loop_is_over(struct server *srv)
{
    return event_base_got_break(srv->base) ||
           (srv->stopping && srv->nconns == 0 &&
            (!srv->cluster || cluster_frontend_id(srv->cluster) == 0));
}

/* Redis's beforeSleep: each pass of the loop waits once, runs every event
 * that is ready, then finishes the turn (one journal commit, one write per
 * client) before it waits again. */
static int run_turns(struct server *srv)
{
    for (;;) {
        int rc = event_base_loop(srv->base, EVLOOP_ONCE);
        if (rc < 0)
            return rc;
        finish_turn(srv);
        if (rc == 1 || loop_is_over(srv))
            return 0;
    }
}

static bool snapshot_state(void *ctx, record_fn *emit, void *emit_ctx)
{
    const struct server *srv = ctx;
    return state_snapshot(&srv->state, emit, emit_ctx);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    srv->now = clock_now();
    /* A compaction forks a snapshot of memory: what this turn changed must
     * be in the file first, or the records would be in both. */
    commit_journal(srv);
    journal_tick(srv->journal, snapshot_state, srv);
    notify_status(srv);
}

static bool start_tick(struct server *srv)
{
    struct timeval second = {1, 0};
    srv->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, srv);
    return srv->tick && event_add(srv->tick, &second) == 0;
}

/* Replays the journal into the configured objects, then rewrites it as a
 * snapshot so it starts compact and names no owner of the previous run.
 * A full disk does not stop the start: with no room for a snapshot the
 * journal goes on as it is, after what the replay did at its end (its
 * backlog), and is compacted later. */
static bool open_journal(struct server *srv)
{
    char err[1024];
    uint64_t max_owner;
    if (!srv->config.journal)
        return true;
    srv->journal = journal_open(srv->config.state_dir, srv->config.fsync, NULL, err, sizeof err);
    if (!srv->journal ||
        !state_restore(&srv->state, srv->journal, srv->journal_flags, &max_owner, err,
                       sizeof err)) {
        log_err("journal: %s", err);
        return false;
    }
    journal_set_compact_min(srv->journal, srv->config.journal_compact_min);
    /* Owners the file names are not this run's connections. */
    if (srv->next_conn_id < max_owner)
        srv->next_conn_id = max_owner;
    if (!journal_rewrite_now(srv->journal, snapshot_state, srv)) {
        log_warn("journal: starting on the journal as it is, without a snapshot; it is "
                 "compacted when the disk has room");
        journal_commit(srv->journal);
    }
    srv->state.log = journal_log(srv->journal);
    return true;
}

static bool add_signals(struct server *srv)
{
    const int signos[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signos / sizeof signos[0]; i++) {
        srv->signals[i] = evsignal_new(srv->base, signos[i], on_signal, srv);
        if (!srv->signals[i] || evsignal_add(srv->signals[i], NULL) != 0)
            return false;
    }
    return true;
}

/* Cluster mode: connections wait in the backlog until the log has this
 * front end's join, so nothing is served from a replica still catching up. */
static bool open_cluster(struct server *srv)
{
    char err[512];
    srv->state.replicated = true;
    server_accepting(srv, false);
    srv->cluster = cluster_open(srv, err, sizeof err);
    if (!srv->cluster) {
        log_err("cluster: %s", err);
        return false;
    }
    log_info("cluster: reading the log of stream %s", srv->config.jetstream_stream);
    return true;
}

void server_cluster_joined(struct server *srv)
{
    server_accepting(srv, true);
    notify_send("READY=1");
}

void server_cluster_left(struct server *srv)
{
    struct conn *c, *next;
    server_accepting(srv, false);
    /* Ready connections were ended with their sessions; the rest have ids
     * of the old membership. */
    for (c = TAILQ_FIRST(&srv->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->state == CONN_HANDSHAKE)
            conn_close(c, NULL);
    }
}

static bool open_tls(struct server *srv)
{
    char err[512];
    if (!config_has_tls_listener(&srv->config))
        return true;
    srv->tls_ctx = tls_context_new(&srv->config, err, sizeof err);
    if (!srv->tls_ctx)
        log_err("%s", err);
    return srv->tls_ctx != NULL;
}

bool server_init(struct server *srv, struct config *config, const char *config_path)
{
    srv->config = *config;
    srv->config_path = config_path;
    srv->started = srv->now = clock_now();
    TAILQ_INIT(&srv->conns);
    TAILQ_INIT(&srv->flush_list);
    TAILQ_INIT(&srv->closed_list);
    TAILQ_INIT(&srv->handshaking);
    state_init(&srv->state, &srv->config, &server_state_env, srv);
    apply_limits(srv);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is a failed write, not a crash */
    srv->base = event_base_new();
    if (!srv->base) {
        log_err("cannot create the event loop");
        return false;
    }
    if (!registry_apply(&srv->state.registry, srv->config.objects, srv->config.nobjects)) {
        log_err("out of memory creating the objects");
        return false;
    }
    if (!open_journal(srv))
        return false;
    if (!add_signals(srv) || !start_tick(srv)) {
        log_err("cannot install signal handlers and timers");
        return false;
    }
    if (!open_tls(srv) || !server_listen(srv))
        return false;
    if (!metrics_open(srv))
        return false;
    return srv->config.store == STORE_MEMORY || open_cluster(srv);
}

int server_run(struct server *srv)
{
    if (!srv->cluster)
        notify_send("READY=1");
    notify_status(srv);
    log_info("ready: %u objects, max_connections %llu, max_memory %llu",
             HASH_CNT(hh, srv->state.registry.by_name),
             (unsigned long long)srv->config.max_connections,
             (unsigned long long)srv->config.max_memory);
    int rc = run_turns(srv);
    /* Once the loop is over nobody handles these: a second SIGTERM while
     * cleaning up must not turn a clean stop into a kill. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (rc < 0) {
        log_err("event loop failed");
        return 1;
    }
    if (srv->cluster && cluster_refused(srv->cluster)) {
        log_err("stopped: this front end's configuration does not match the cluster's");
        return 1;
    }
    log_notice("stopped");
    return 0;
}

void server_free(struct server *srv)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&srv->conns)))
        conn_close(c, NULL);
    cluster_free(srv->cluster);
    srv->cluster = NULL;
    finish_turn(srv);
    server_unlisten(srv);
    metrics_close(srv);
    journal_close(srv->journal);
    state_free(&srv->state);
    for (size_t i = 0; i < sizeof srv->signals / sizeof srv->signals[0]; i++)
        if (srv->signals[i])
            event_free(srv->signals[i]);
    if (srv->tick)
        event_free(srv->tick);
    if (srv->base)
        event_base_free(srv->base);
    SSL_CTX_free(srv->tls_ctx);
    authkey_free(&srv->key);
    config_free(&srv->config);
}
