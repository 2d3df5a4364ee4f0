/* Cluster mode: this front end as a replica of the log (see cluster.h). */
#include "cluster.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cluster_internal.h"
#include "cluster_input.h"
#include "common/clock.h"
#include "jetstream.h"
#include "proto/frame.h"
#include "server.h"

static struct log_ratelimit publish_log = LOG_RATELIMIT_INIT(10.0, 3);

/* ---- appending inputs ------------------------------------------------- */

static size_t message_len(const struct cluster *cl)
{
    return cl->batch.len - cl->message_start - FRAME_HEADER_SIZE;
}

static void seal_message(struct cluster *cl)
{
    frame_write_be32(cl->batch.data + cl->message_start, (uint32_t)message_len(cl));
}

/* Room for an input of about len bytes: a new message when this one would
 * grow past what a publish takes. False when out of memory. */
static bool make_room_for(struct cluster *cl, size_t len)
{
    size_t max = jetstream_max_message(cl->js);
    bool open = cl->batch.len > 0;
    if (open && message_len(cl) + len <= max && cl->message_frontend == cl->id)
        return true;
    if (open)
        seal_message(cl);
    cl->message_start = cl->batch.len;
    static const uint8_t placeholder[FRAME_HEADER_SIZE];
    if (!bytes_append(&cl->batch, placeholder, sizeof placeholder))
        return false;
    cl->message_frontend = cl->id;
    cluster_header_pack(&cl->packer, cl->id, cl->id ? ++cl->message_number : 0);
    return !cl->batch.failed;
}

static void append(struct cluster *cl, enum cluster_input_kind kind, uint64_t id, double time,
                   uint64_t arg, const uint8_t *data, size_t len)
{
    if (!make_room_for(cl, len + CLUSTER_INPUT_OVERHEAD)) {
        log_err("cluster: out of memory for an input to the log");
        return;
    }
    struct cluster_input in = {
        .kind = kind, .id = id, .time = time, .arg = arg, .data = data, .len = len};
    cluster_input_pack(&cl->packer, &in);
}

/* A join's data: the front end's address, then a 0 byte and its
 * fingerprint in 8 bytes, big-endian (joins without them are older). */
#define JOIN_FINGERPRINT_SIZE 8

static void send_join(struct cluster *cl)
{
    const char *addr = cl->srv->listen_addr;
    size_t len = strlen(addr);
    uint8_t data[sizeof cl->srv->listen_addr + 1 + JOIN_FINGERPRINT_SIZE];
    memcpy(data, addr, len);
    data[len] = 0;
    for (int i = 0; i < JOIN_FINGERPRINT_SIZE; i++)
        data[len + 1 + i] = (uint8_t)(cl->fingerprint >> (56 - 8 * i));
    randombytes_buf(&cl->join_nonce, sizeof cl->join_nonce);
    append(cl, CIN_JOIN, 0, cl->srv->now, cl->join_nonce, data, len + 1 + JOIN_FINGERPRINT_SIZE);
}

/* The address's length in a join's data, and the fingerprint after it. */
static size_t read_join(const uint8_t *data, size_t len, uint64_t *fingerprint)
{
    const uint8_t *end = memchr(data, 0, len);
    *fingerprint = 0;
    if (!end || (size_t)(data + len - end) != 1 + JOIN_FINGERPRINT_SIZE)
        return len;
    for (int i = 1; i <= JOIN_FINGERPRINT_SIZE; i++)
        *fingerprint = *fingerprint << 8 | end[i];
    return (size_t)(end - data);
}

void cluster_end_turn(struct cluster *cl)
{
    if (cl->batch.len == 0 || jetstream_publishing(cl->js))
        return;
    seal_message(cl);
    jetstream_publish(cl->js, &cl->batch);
    cl->message_start = 0;
    cl->heartbeat_sending = cl->heartbeat_queued;
    cl->heartbeat_queued = false;
}

/* ---- the replica's sessions ------------------------------------------- */

static struct replica *find_replica(struct cluster *cl, uint64_t id)
{
    struct replica *r;
    HASH_FIND(hh, cl->replicas, &id, sizeof id, r);
    return r;
}

static struct replica *add_replica(struct cluster *cl, uint64_t id, struct session *s, bool local)
{
    struct replica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = id;
    r->session = s;
    r->local = local;
    HASH_ADD(hh, cl->replicas, id, sizeof r->id, r);
    return r;
}

struct replica *cluster_add_remote(struct cluster *cl, uint64_t id)
{
    struct session *s = malloc(sizeof *s);
    if (!s || !session_init(s, &cl->srv->state, id)) {
        free(s);
        return NULL;
    }
    s->remote = true;
    struct replica *r = add_replica(cl, id, s, false);
    if (!r) {
        input_close(s, cl->srv->now);
        session_free(s);
        free(s);
    }
    return r;
}

/* The session ended in the log: its replica goes. */
static void end_replica(struct cluster *cl, struct replica *r, double time)
{
    struct session *s = r->session;
    HASH_DEL(cl->replicas, r);
    bool local = r->local;
    free(r);
    input_close(s, time);
    if (local) {
        conn_session_ended(s);
    } else {
        session_free(s);
        free(s);
    }
}

bool cluster_attach(struct cluster *cl, struct session *s)
{
    return add_replica(cl, s->id, s, true) != NULL;
}

bool cluster_detach(struct cluster *cl, struct session *s, double now)
{
    struct replica *r = find_replica(cl, s->id);
    if (!r)
        return false;
    append(cl, CIN_CLOSE, s->id, now, 0, NULL, 0);
    return true;
}

uint64_t cluster_new_session_id(struct cluster *cl)
{
    return cl->id << CLUSTER_SESSION_BITS | ++cl->next_session;
}

uint64_t cluster_frontend_id(const struct cluster *cl)
{
    return cl->id;
}

uint64_t cluster_log_applied(const struct cluster *cl)
{
    return cl->applied;
}

bool cluster_request(struct cluster *cl, struct session *s, const uint8_t *frame, size_t len,
                     double now)
{
    if (len + CLUSTER_INPUT_OVERHEAD > jetstream_max_message(cl->js))
        return false;
    s->log_pending += len;
    append(cl, CIN_REQUEST, s->id, now, 0, frame, len);
    return true;
}

void cluster_expire(struct cluster *cl, struct session *s, uint64_t waiter_id, double now)
{
    append(cl, CIN_EXPIRE, s->id, now, waiter_id, NULL, 0);
}

void cluster_suspend(struct cluster *cl, struct session *s, double now)
{
    append(cl, CIN_SUSPEND, s->id, now, 0, NULL, 0);
}

void cluster_resume(struct cluster *cl, struct session *s, double now)
{
    append(cl, CIN_RESUME, s->id, now, 0, NULL, 0);
}

/* ---- members ---------------------------------------------------------- */

static struct member *find_member(struct cluster *cl, uint64_t id)
{
    struct member *m;
    HASH_FIND(hh, cl->members, &id, sizeof id, m);
    return m;
}

static struct member *live_member(struct cluster *cl, uint64_t id)
{
    struct member *m = find_member(cl, id);
    return m && !m->dead ? m : NULL;
}

struct member *cluster_add_member(struct cluster *cl, uint64_t id, const uint8_t *addr, size_t len)
{
    struct member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->id = id;
    size_t n = len < sizeof m->address - 1 ? len : sizeof m->address - 1;
    memcpy(m->address, addr, n);
    m->next_number = 1;
    m->last_heard = cl->srv->now;
    HASH_ADD(hh, cl->members, id, sizeof m->id, m);
    return m;
}

bool cluster_hold(struct member *m, uint64_t number, const uint8_t *p, size_t len)
{
    struct held_message **at = &m->held;
    while (*at && (*at)->number < number)
        at = &(*at)->next;
    if (*at && (*at)->number == number)
        return true; /* a copy */
    struct held_message *h = malloc(sizeof *h + len);
    if (!h)
        return false;
    h->number = number;
    h->len = len;
    memcpy(h->data, p, len);
    h->next = *at;
    *at = h;
    return true;
}

static void drop_held(struct member *m)
{
    struct held_message *h;
    while ((h = m->held)) {
        m->held = h->next;
        free(h);
    }
}

/* A member the log has not heard from for frontend_timeout before time
 * (every front end's clock, as the log has them) is gone, though no one was
 * left to declare it dead: every front end killed at once, say. */
static bool gone_before(const struct cluster *cl, const struct member *m, double time)
{
    return m->last_time > 0 && m->last_time + cl->srv->config.frontend_timeout < time;
}

/* Applying our own join: a live member with other objects or limits means
 * this front end would build another state from the same log, so it leaves
 * at once (the log has its dead) and qmgrd exits with an error. */
static bool refuse_other_state(struct cluster *cl, struct member *self, double time)
{
    for (const struct member *m = cl->members; m; m = m->hh.next) {
        if (m == self || m->dead || !m->fingerprint || m->fingerprint == cl->fingerprint ||
            gone_before(cl, m, time))
            continue;
        log_err("cluster: front end %" PRIu64 " (%s) serves other objects or limits than this "
                "one's configuration (fingerprint %016" PRIx64 ", ours %016" PRIx64 "): every "
                "front end needs the same [queue] and [buf] sections, max_item, max_memory and "
                "max_waiters; leaving",
                m->id, m->address, m->fingerprint, cl->fingerprint);
        cl->refused = true;
        cluster_leave(cl);
        return true;
    }
    return false;
}

static void apply_join(struct cluster *cl, uint64_t seq, const struct cluster_input *in)
{
    if (seq >> CLUSTER_SESSION_BITS) {
        log_err("cluster: log position %" PRIu64 " is past what front end ids can name", seq);
        return;
    }
    uint64_t fingerprint;
    size_t addr_len = read_join(in->data, in->len, &fingerprint);
    struct member *m = cluster_add_member(cl, seq, in->data, addr_len);
    if (!m) {
        log_err("cluster: out of memory for a member");
        return;
    }
    m->fingerprint = fingerprint;
    m->last_time = in->time;
    if (cl->id == 0 && in->arg == cl->join_nonce) {
        cl->id = seq;
        cl->next_session = 0;
        cl->message_number = 0;
        if (refuse_other_state(cl, m, in->time))
            return;
        log_notice("cluster: joined as front end %" PRIu64 " (log position %" PRIu64 ")", seq, seq);
        server_cluster_joined(cl->srv);
    } else {
        log_info("cluster: front end %" PRIu64 " (%s) joined", seq, m->address);
    }
}

/* Every session of front end id ends, in every replica at the same point;
 * when it stops on its own, parked requests are answered ESHUTDOWN first,
 * as a single daemon's are. */
static void end_sessions_of(struct cluster *cl, uint64_t id, double time, bool shutdown)
{
    struct replica *r, *tmp;
    HASH_ITER(hh, cl->replicas, r, tmp) {
        if (cluster_frontend_of(r->id) != id)
            continue;
        if (shutdown)
            input_shutdown(r->session, time);
        end_replica(cl, r, time);
    }
}

/* Declared dead by the log: this front end's connections end, and it
 * joins again under a new id (the log decides, so no two front ends ever
 * act for one id). */
/* This front end's id is over: what it had still to append under it goes,
 * and it serves nobody until it joins again. */
static void drop_own_id(struct cluster *cl)
{
    cl->id = 0;
    cl->heartbeat_queued = false;
    cl->batch.len = 0;
    server_cluster_left(cl->srv);
}

static void join_again_unless_leaving(struct cluster *cl)
{
    if (!cl->leaving)
        send_join(cl);
}

static void rejoin(struct cluster *cl)
{
    log_err("cluster: the log says this front end (%" PRIu64 ") is dead; its clients are "
            "disconnected and it joins again",
            cl->id);
    drop_own_id(cl);
    join_again_unless_leaving(cl);
}

static void free_member(struct cluster *cl, struct member *m)
{
    HASH_DEL(cl->members, m);
    drop_held(m);
    free(m);
}

/* A dead member is kept only to be shown (stats, qmgrctl status): an id is
 * a log position and never comes back, and inputs under an id no member
 * has are dropped as a dead one's are. So the oldest are forgotten, after
 * each message of the log (never while one of theirs is being applied), at
 * the same point in every replica. */
#define DEAD_MEMBERS_KEPT 16

static void forget_oldest_dead(struct cluster *cl)
{
    for (;;) {
        struct member *oldest = NULL;
        unsigned dead = 0;
        for (struct member *m = cl->members; m; m = m->hh.next) {
            if (!m->dead)
                continue;
            dead++;
            if (!oldest || m->id < oldest->id)
                oldest = m;
        }
        if (dead <= DEAD_MEMBERS_KEPT)
            return;
        free_member(cl, oldest);
    }
}

static void apply_dead(struct cluster *cl, const struct cluster_input *in)
{
    struct member *m = live_member(cl, in->id);
    if (!m)
        return;
    m->dead = true;
    drop_held(m);
    log_notice("cluster: front end %" PRIu64 " (%s) is dead (reported by %" PRIu64 ")", m->id,
               m->address, in->arg);
    end_sessions_of(cl, m->id, in->time, in->arg == m->id);
    if (m->id == cl->id)
        rejoin(cl);
}

static void heard_from(struct cluster *cl, struct member *m)
{
    m->missed = 0;
    m->last_heard = cl->srv->now;
}

/* A heartbeat of this front end counts one more missed for every other:
 * liveness is judged in the log's time, so a replica that lags behind
 * never declares the others dead for its own delay. */
static void count_missed_heartbeats(struct cluster *cl, double time)
{
    struct member *m, *tmp;
    HASH_ITER(hh, cl->members, m, tmp) {
        if (m->dead || m->id == cl->id || m->dead_reported)
            continue;
        if (++m->missed < cl->beats_per_timeout ||
            cl->srv->now - m->last_heard < cl->srv->config.frontend_timeout)
            continue;
        m->dead_reported = true;
        log_warn("cluster: no word from front end %" PRIu64 " (%s) for frontend_timeout; "
                 "reporting it dead",
                 m->id, m->address);
        append(cl, CIN_DEAD, m->id, time, cl->id, NULL, 0);
    }
}

/* ---- applying the log ------------------------------------------------- */

static void apply_request(struct session *s, const struct cluster_input *in)
{
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why = NULL;
    /* The front end that appended it checked it already. */
    if (rpc_decode_request(in->data, in->len, &req, &kind, &why) && kind == RPC_REQUEST)
        input_request(s, &req, in->time);
}

static void apply_session_input(struct cluster *cl, const struct cluster_input *in)
{
    struct member *m = live_member(cl, cluster_frontend_of(in->id));
    if (!m)
        return; /* appended by a front end after it was declared dead */
    heard_from(cl, m);
    struct replica *r = find_replica(cl, in->id);
    if (!r && in->kind == CIN_REQUEST)
        r = cluster_add_remote(cl, in->id);
    if (!r)
        return;
    struct session *s = r->session;
    switch (in->kind) {
    case CIN_REQUEST:
        if (r->local) {
            s->log_pending -= in->len < s->log_pending ? in->len : s->log_pending;
            conn_inputs_applied(s);
        }
        apply_request(s, in);
        break;
    case CIN_EXPIRE:
        input_expire(s, in->arg, in->time);
        break;
    case CIN_CLOSE:
        end_replica(cl, r, in->time);
        break;
    case CIN_SUSPEND:
        input_suspend(s, in->time);
        break;
    case CIN_RESUME:
        input_resume(s, in->time);
        break;
    default:
        break;
    }
}

static void apply_input(struct cluster *cl, uint64_t seq, const struct cluster_input *in)
{
    struct member *m;
    switch (in->kind) {
    case CIN_JOIN:
        apply_join(cl, seq, in);
        break;
    case CIN_HEARTBEAT:
        if ((m = live_member(cl, in->id)))
            heard_from(cl, m);
        if (m && in->id == cl->id)
            count_missed_heartbeats(cl, in->time);
        break;
    case CIN_DEAD:
        apply_dead(cl, in);
        break;
    default:
        apply_session_input(cl, in);
        break;
    }
}

static bool writes_snapshots(const struct cluster *cl)
{
    if (!cl->id)
        return false;
    for (const struct member *m = cl->members; m; m = m->hh.next)
        if (!m->dead && m->id < cl->id)
            return false;
    return true;
}

/* Every snapshot_every messages of the log, the live front end with the
 * lowest id snapshots its replica; the log decides who, so exactly one does. */
static void maybe_snapshot(struct cluster *cl)
{
    if (cl->applied % cl->srv->config.snapshot_every != 0 || !writes_snapshots(cl))
        return;
    struct bytes snap = {0};
    if (!cluster_snapshot_encode(cl, &snap)) {
        log_err("cluster: out of memory for a snapshot at log position %" PRIu64, cl->applied);
        bytes_free(&snap);
        return;
    }
    size_t len = snap.len;
    if (jetstream_publish_snapshot(cl->js, &snap, cl->applied))
        log_info("cluster: snapshot at log position %" PRIu64 " (%zu bytes)", cl->applied, len);
    else
        log_warn("cluster: the previous snapshot is still being written; none at %" PRIu64,
                 cl->applied);
    bytes_free(&snap);
}

/* The inputs of a message of member m (NULL: of a front end not joined yet). */
static void apply_inputs(struct cluster *cl, uint64_t seq, struct member *m, struct mp_reader *r)
{
    struct cluster_input in;
    int rc;
    while ((rc = cluster_input_next(r, &in)) > 0) {
        if (m && in.time > m->last_time)
            m->last_time = in.time;
        apply_input(cl, seq, &in);
    }
    if (rc < 0)
        log_warn("cluster: log message %" PRIu64 " holds something that is not an input; "
                 "the rest of it is skipped",
                 seq);
}

/* A front end's messages apply in the order it numbered them, each once. */
static void apply_in_order(struct cluster *cl, uint64_t seq, uint64_t frontend, uint64_t number,
                           struct mp_reader *r)
{
    struct member *m = live_member(cl, frontend);
    if (!m || number < m->next_number)
        return; /* from a front end declared dead, or a copy */
    heard_from(cl, m); /* its messages reach the log: it lives, even while one is missing */
    if (number > m->next_number) {
        if (!cluster_hold(m, number, r->p, mp_reader_left(r)))
            log_err("cluster: out of memory holding message %" PRIu64 " of front end %" PRIu64,
                    number, frontend);
        return;
    }
    m->next_number++;
    apply_inputs(cl, seq, m, r);
    struct held_message *h;
    while (!m->dead && (h = m->held) && h->number == m->next_number) {
        struct mp_reader held;
        m->held = h->next;
        m->next_number++;
        mp_reader_init(&held, h->data, h->len);
        apply_inputs(cl, seq, m, &held);
        free(h);
    }
}

/* What a snapshot decompressed may take: the state it holds is within
 * max_memory, and its sessions and waiters beside. */
static size_t snapshot_max(const struct cluster *cl)
{
    uint64_t max = 2 * cl->srv->config.max_memory + (64u << 20);
    return max < SIZE_MAX / 2 ? (size_t)max : SIZE_MAX / 2;
}

/* A snapshot as the stream keeps it, into the replica. */
static bool load_stored_snapshot(struct cluster *cl, const struct bytes *stored, char *err,
                                 size_t errlen)
{
    struct bytes plain = {0};
    const uint8_t *p;
    size_t len;
    enum log_codec_result rc =
        log_codec_decode(cl->dctx, stored->data, stored->len, snapshot_max(cl), &plain, &p, &len);
    bool ok = rc == LOG_CODEC_OK && cluster_snapshot_load(cl, p, len, err, errlen);
    if (rc != LOG_CODEC_OK)
        snprintf(err, errlen, "the snapshot is %s",
                 rc == LOG_CODEC_DAMAGED ? "damaged (compressed)" : "too large for memory");
    bytes_free(&plain);
    return ok;
}

/* The newest snapshot, if any: the replica then applies the log after it. */
static bool load_snapshot(struct cluster *cl, char *err, size_t errlen)
{
    struct bytes snap = {0};
    uint64_t position;
    bool ok = jetstream_load_snapshot(cl->js, &snap, &position, err, errlen) &&
              (position == 0 || load_stored_snapshot(cl, &snap, err, errlen));
    if (ok && position)
        log_notice("cluster: loaded the snapshot at log position %" PRIu64 " (%zu bytes stored)",
                   position, snap.len);
    bytes_free(&snap);
    return ok;
}

static void drop_replicas_and_members(struct cluster *cl)
{
    struct replica *r, *rtmp;
    HASH_ITER(hh, cl->replicas, r, rtmp)
        end_replica(cl, r, cl->srv->now);
    struct member *m, *mtmp;
    HASH_ITER(hh, cl->members, m, mtmp)
        free_member(cl, m);
}

/* A newer snapshot purged inputs this replica had still to apply (it was
 * cut off, or too slow): it cannot catch up from the log, and serving on
 * would be wrong. It starts again from the newest snapshot, as a restarted
 * front end does, in this process: its clients are disconnected, the
 * replica is rebuilt from the snapshot, and it leaves under its old id (if
 * the others have not declared it dead yet) and joins under a new one. */
static void reload_from_snapshot(struct cluster *cl, uint64_t seq)
{
    struct server *srv = cl->srv;
    uint64_t old_id = cl->id;
    char err[512] = "";
    log_err("cluster: log positions %" PRIu64 " to %" PRIu64 " are gone (purged after a newer "
            "snapshot); every client is disconnected and this front end starts again from "
            "that snapshot",
            cl->applied + 1, seq - 1);
    drop_own_id(cl); /* every session of the snapshot is another front end's now */
    drop_replicas_and_members(cl);
    server_drop_clients(srv);
    cl->applied = 0;
    if (!state_empty_objects(&srv->state) || !load_snapshot(cl, err, sizeof err) ||
        cl->applied + 1 < seq) {
        /* Serving a state that is not the log's would be worse. */
        log_err("cluster: cannot start again from the newest snapshot (%s); exiting",
                *err ? err : "it is older than what is gone");
        exit(1);
    }
    if (live_member(cl, old_id))
        append(cl, CIN_DEAD, old_id, srv->now, old_id, NULL, 0);
    join_again_unless_leaving(cl);
}

static void apply_message(void *ctx, uint64_t seq, const uint8_t *data, size_t len)
{
    struct cluster *cl = ctx;
    if (seq <= cl->applied)
        return; /* a consumer made again may deliver some twice */
    if (seq != cl->applied + 1) {
        reload_from_snapshot(cl, seq);
        if (seq <= cl->applied)
            return;
    }
    switch (log_codec_decode(cl->dctx, data, len, 2 * jetstream_max_message(cl->js),
                             &cl->unpacked, &data, &len)) {
    case LOG_CODEC_OK:
        break;
    case LOG_CODEC_DAMAGED: /* every replica skips it alike */
        log_warn("cluster: log message %" PRIu64 " is damaged (compressed); skipped", seq);
        cl->applied = seq;
        return;
    case LOG_CODEC_NO_MEMORY:
        log_err("cluster: out of memory decompressing log message %" PRIu64 "; exiting, "
                "since this replica cannot apply the log",
                seq);
        exit(1);
    }
    struct mp_reader r;
    uint64_t frontend, number;
    mp_reader_init(&r, data, len);
    if (!cluster_header_read(&r, &frontend, &number))
        log_warn("cluster: log message %" PRIu64 " has no header; skipped", seq);
    else if (frontend == 0)
        apply_inputs(cl, seq, NULL, &r);
    else
        apply_in_order(cl, seq, frontend, number, &r);
    forget_oldest_dead(cl);
    cl->applied = seq;
    maybe_snapshot(cl);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cluster *cl = arg;
    cl->srv->now = clock_now();
    jetstream_take(cl->js, apply_message, cl);
    if (cl->leaving && cl->id == 0)
        event_base_loopbreak(cl->srv->base);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cluster *cl = arg;
    char err[256];
    cl->srv->now = clock_now();
    if (jetstream_take_error(cl->js, err, sizeof err))
        log_write_limited(&publish_log, LOG_WARNING, "cluster: %s; retrying", err);
    if (cl->heartbeat_sending && !jetstream_publishing(cl->js))
        cl->heartbeat_sending = false;
    if (cl->id && !cl->heartbeat_queued && !cl->heartbeat_sending) {
        cl->heartbeat_queued = true;
        append(cl, CIN_HEARTBEAT, cl->id, cl->srv->now, 0, NULL, 0);
    }
}

/* ---- life ------------------------------------------------------------- */

static double heartbeat_period(const struct config *c)
{
    double p = c->frontend_timeout / HEARTBEATS_PER_TIMEOUT;
    return p < HEARTBEAT_MAX_S ? p : HEARTBEAT_MAX_S;
}

static bool start_events(struct cluster *cl)
{
    struct server *srv = cl->srv;
    double period = heartbeat_period(&srv->config);
    cl->beats_per_timeout = (uint32_t)ceil(srv->config.frontend_timeout / period);
    struct timeval tv = clock_timeval(period);
    cl->wake_ev = event_new(srv->base, jetstream_wake_fd(cl->js), EV_READ | EV_PERSIST, on_wake, cl);
    cl->heartbeat_ev = event_new(srv->base, -1, EV_PERSIST, on_heartbeat, cl);
    return cl->wake_ev && cl->heartbeat_ev && event_add(cl->wake_ev, NULL) == 0 &&
           event_add(cl->heartbeat_ev, &tv) == 0;
}

struct cluster *cluster_open(struct server *srv, char *err, size_t errlen)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    if (!cl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->srv = srv;
    cl->fingerprint = cluster_fingerprint(&srv->config);
    cl->dctx = ZSTD_createDCtx();
    if (!cl->dctx) {
        snprintf(err, errlen, "out of memory");
        free(cl);
        return NULL;
    }
    rpc_packer_init(&cl->packer, &cl->batch);
    cl->js = jetstream_open(&srv->config, err, errlen);
    if (!cl->js || !start_events(cl) || !load_snapshot(cl, err, errlen) ||
        !jetstream_subscribe(cl->js, cl->applied + 1, err, errlen)) {
        if (cl->js && !*err)
            snprintf(err, errlen, "cannot add the cluster's events to the loop");
        cluster_free(cl);
        return NULL;
    }
    send_join(cl);
    cluster_end_turn(cl);
    return cl;
}

bool cluster_refused(const struct cluster *cl)
{
    return cl->refused;
}

void cluster_leave(struct cluster *cl)
{
    cl->leaving = true;
    if (cl->id)
        append(cl, CIN_DEAD, cl->id, cl->srv->now, cl->id, NULL, 0);
    else
        event_base_loopbreak(cl->srv->base);
}

void cluster_free(struct cluster *cl)
{
    if (!cl)
        return;
    drop_replicas_and_members(cl);
    if (cl->wake_ev)
        event_free(cl->wake_ev);
    if (cl->heartbeat_ev)
        event_free(cl->heartbeat_ev);
    jetstream_close(cl->js);
    bytes_free(&cl->batch);
    bytes_free(&cl->unpacked);
    ZSTD_freeDCtx(cl->dctx);
    free(cl);
}

/* ---- stats ------------------------------------------------------------ */

void cluster_pack_stats(const struct cluster *cl, msgpack_packer *pk)
{
    uint32_t alive = 0, n = 0;
    const struct member *m;
    for (m = cl->members; m; m = m->hh.next) {
        n++;
        alive += !m->dead;
    }
    char url[256];
    jetstream_connected_url(cl->js, url, sizeof url);
    const struct pair rows[] = {
        PAIR_STR("store", "jetstream"),
        PAIR_UINT("frontend", cl->id),
        PAIR_UINT("log_applied", cl->applied),
        PAIR_STR("jetstream_server", url),
        PAIR_UINT("members_alive", alive),
    };
    _Static_assert(ARRAY_LEN(rows) + 1 == CLUSTER_STAT_ENTRIES, "CLUSTER_STAT_ENTRIES");
    pack_pair_rows(pk, rows, ARRAY_LEN(rows));
    rpc_pack_cstr(pk, "members");
    msgpack_pack_array(pk, n);
    for (m = cl->members; m; m = m->hh.next) {
        const struct pair row[] = {
            PAIR_UINT("id", m->id),
            PAIR_STR("address", m->address),
            PAIR_BOOL("alive", !m->dead),
            PAIR_BOOL("self", m->id == cl->id),
        };
        pack_pairs(pk, row, ARRAY_LEN(row));
    }
}
