/* The link to JetStream (see jetstream.h). */
#include "jetstream.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "log_codec.h"
#include "proto/frame.h"

/* How long one publish waits for the stream's answer before it is sent
 * again (with the same id). */
#define PUBLISH_WAIT_MS 1000
#define PUBLISH_RETRY_MS 100
/* Room left in a message for the headers a JetStream publish adds. */
#define HEADER_ROOM 512
/* The window in which the stream drops a message id it already holds. */
#define DUPLICATE_WINDOW_NS (120 * 1000000000LL)
/* How often the stream's consumer proves it is alive: its loss is noticed,
 * and the consumer made again, after a few of these. */
#define CONSUMER_HEARTBEAT_NS (1000000000LL)

struct jetstream {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    char *stream;
    char *subject;
    char *snap_stream;  /* <stream>_SNAP: the newest snapshot */
    char *snap_data;    /* its chunks */
    char *snap_meta;    /* "position first-chunk-sequence chunks", after the chunks */
    uint64_t replicas;
    bool compress;      /* jetstream_compress */
    ZSTD_CCtx *cctx;    /* the publisher thread's, as is packed */
    struct bytes packed; /* a message compressed */
    int wake_fd;
    uint64_t nonce; /* message ids of this process: <nonce>.<n> */
    atomic_uint_fast64_t published; /* n, counted by two threads */
    size_t max_message;

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t cond;
    pthread_t publisher;
    bool publisher_started;
    pthread_t snapshotter;
    bool snapshotter_started;
    bool stopping;
    bool publishing;
    struct bytes sending;
    bool snapshotting;
    struct bytes snapshot;
    uint64_t snapshot_seq;
    natsMsg **delivered;
    size_t ndelivered, delivered_cap;
    char error[256];
};

static void wake(struct jetstream *js)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(js->wake_fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

static void set_error(struct jetstream *js, const char *what, natsStatus s, jsErrCode jerr)
{
    pthread_mutex_lock(&js->lock);
    snprintf(js->error, sizeof js->error, "%s: %s (JetStream error %d)", what,
             natsStatus_GetText(s), (int)jerr);
    pthread_mutex_unlock(&js->lock);
}

/* Waits ms or until the link stops; false when it stops. */
static bool pause_unless_stopping(struct jetstream *js, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&js->lock);
    while (!js->stopping && pthread_cond_timedwait(&js->cond, &js->lock, &until) == 0)
        ;
    bool go_on = !js->stopping;
    pthread_mutex_unlock(&js->lock);
    return go_on;
}

/* Publishes to subject of stream until it has the message (its sequence
 * in *seq, if seq is set); false only when the link stops. */
static bool publish_to(struct jetstream *js, const char *stream, const char *subject,
                       const uint8_t *data, size_t len, uint64_t *seq)
{
    char id[64];
    snprintf(id, sizeof id, "%016" PRIx64 ".%" PRIu64, js->nonce,
             (uint64_t)atomic_fetch_add(&js->published, 1) + 1);
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MsgId = id;
    o.ExpectStream = stream;
    o.MaxWait = PUBLISH_WAIT_MS;
    for (;;) {
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(&ack, js->js, subject, data, (int)len, &o, &jerr);
        if (s == NATS_OK) {
            if (seq)
                *seq = ack->Sequence;
            jsPubAck_Destroy(ack);
            return true;
        }
        set_error(js, stream == js->stream ? "publishing to the log" : "publishing a snapshot",
                  s, jerr);
        if (!pause_unless_stopping(js, PUBLISH_RETRY_MS))
            return false;
    }
}

static void publish_batch(struct jetstream *js, const struct bytes *batch)
{
    size_t off = 0;
    while (off + FRAME_HEADER_SIZE <= batch->len) {
        size_t len = frame_read_be32(batch->data + off);
        off += FRAME_HEADER_SIZE;
        const uint8_t *msg = batch->data + off;
        bool packed = js->compress && log_codec_encode(js->cctx, msg, len, &js->packed);
        if (!publish_to(js, js->stream, js->subject, packed ? js->packed.data : msg,
                        packed ? js->packed.len : len, NULL))
            return;
        off += len;
    }
}

static void purge(struct jetstream *js, const char *stream, const char *subject, uint64_t below,
                  uint64_t keep)
{
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject;
    o.Stream.Purge.Sequence = below;
    o.Stream.Purge.Keep = keep;
    jsErrCode jerr = 0;
    natsStatus s = js_PurgeStream(js->js, stream, &o, &jerr);
    if (s != NATS_OK)
        set_error(js, "purging what a snapshot replaced", s, jerr);
}

/* The snapshot's chunks, then its meta message naming them; then what it
 * replaced goes: older chunks and the log up to its position. */
static void publish_chunks(struct jetstream *js, const struct bytes *snap, uint64_t position)
{
    size_t chunk = js->max_message, count = snap->len ? (snap->len + chunk - 1) / chunk : 1;
    uint64_t first = 0, seq;
    for (size_t i = 0; i < count; i++) {
        size_t off = i * chunk, len = snap->len - off < chunk ? snap->len - off : chunk;
        if (!publish_to(js, js->snap_stream, js->snap_data, snap->data + off, len, &seq))
            return;
        if (i == 0)
            first = seq;
    }
    char meta[96];
    int n = snprintf(meta, sizeof meta, "%" PRIu64 " %" PRIu64 " %zu", position, first, count);
    if (!publish_to(js, js->snap_stream, js->snap_meta, (const uint8_t *)meta, (size_t)n, NULL))
        return;
    purge(js, js->snap_stream, js->snap_data, first, 0);
    purge(js, js->snap_stream, js->snap_meta, 0, 1);
    purge(js, js->stream, js->subject, position + 1, 0);
}

/* The snapshot as the stream keeps it: compressed as a log message is
 * (log_codec.h), with a context of its own (snapshots are rare), or as it
 * is. */
static const struct bytes *stored_snapshot(struct jetstream *js, const struct bytes *snap,
                                           struct bytes *packed)
{
    ZSTD_CCtx *cctx = js->compress ? ZSTD_createCCtx() : NULL;
    bool compressed = cctx && log_codec_encode(cctx, snap->data, snap->len, packed);
    ZSTD_freeCCtx(cctx);
    return compressed ? packed : snap;
}

static void publish_snapshot(struct jetstream *js, const struct bytes *image, uint64_t position)
{
    struct bytes packed = {0};
    const struct bytes *snap = stored_snapshot(js, image, &packed);
    publish_chunks(js, snap, position);
    bytes_free(&packed);
}

static void *publisher_main(void *arg)
{
    struct jetstream *js = arg;
    pthread_mutex_lock(&js->lock);
    for (;;) {
        while (!js->stopping && !js->publishing)
            pthread_cond_wait(&js->cond, &js->lock);
        if (js->stopping)
            break;
        pthread_mutex_unlock(&js->lock);
        publish_batch(js, &js->sending);
        pthread_mutex_lock(&js->lock);
        js->sending.len = 0;
        js->publishing = false;
        wake(js);
    }
    pthread_mutex_unlock(&js->lock);
    return NULL;
}

/* Snapshots have a thread of their own, so that writing a large one does
 * not hold the log up. */
static void *snapshotter_main(void *arg)
{
    struct jetstream *js = arg;
    pthread_mutex_lock(&js->lock);
    for (;;) {
        while (!js->stopping && !js->snapshotting)
            pthread_cond_wait(&js->cond, &js->lock);
        if (js->stopping)
            break;
        pthread_mutex_unlock(&js->lock);
        publish_snapshot(js, &js->snapshot, js->snapshot_seq);
        pthread_mutex_lock(&js->lock);
        bytes_free(&js->snapshot);
        js->snapshotting = false;
    }
    pthread_mutex_unlock(&js->lock);
    return NULL;
}

static bool start_threads(struct jetstream *js)
{
    js->publisher_started = pthread_create(&js->publisher, NULL, publisher_main, js) == 0;
    js->snapshotter_started =
        js->publisher_started && pthread_create(&js->snapshotter, NULL, snapshotter_main, js) == 0;
    return js->snapshotter_started;
}

bool jetstream_publish_snapshot(struct jetstream *js, struct bytes *snap, uint64_t position)
{
    pthread_mutex_lock(&js->lock);
    bool idle = !js->snapshotting;
    if (idle) {
        js->snapshot = *snap;
        *snap = (struct bytes){0};
        js->snapshot_seq = position;
        js->snapshotting = true;
        pthread_cond_broadcast(&js->cond);
    }
    pthread_mutex_unlock(&js->lock);
    return idle;
}

static natsStatus get_message(struct jetstream *js, const char *subject, uint64_t seq,
                              natsMsg **msg, char *err, size_t errlen)
{
    jsErrCode jerr = 0;
    natsStatus s = subject ? js_GetLastMsg(msg, js->js, js->snap_stream, subject, NULL, &jerr)
                           : js_GetMsg(msg, js->js, js->snap_stream, seq, NULL, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND)
        snprintf(err, errlen, "cannot read the snapshot of %s: %s (JetStream error %d)",
                 js->stream, natsStatus_GetText(s), (int)jerr);
    return s;
}

/* Whether the snapshot stream holds anything, asked again while a stream
 * just created (by another front end, maybe) has no leader yet. */
static bool snapshot_stream_holds_one(struct jetstream *js, char *err, size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetStreamInfo(&si, js->js, js->snap_stream, NULL, &jerr);
        if (s == NATS_OK) {
            bool any = si->State.Msgs > 0;
            jsStreamInfo_Destroy(si);
            return any;
        }
        if (attempt >= 3 || (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS)) {
            snprintf(err, errlen, "cannot look up stream %s: %s (JetStream error %d)",
                     js->snap_stream, natsStatus_GetText(s), (int)jerr);
            return false;
        }
    }
}

bool jetstream_load_snapshot(struct jetstream *js, struct bytes *out, uint64_t *position,
                             char *err, size_t errlen)
{
    natsMsg *meta = NULL;
    uint64_t first = 0;
    size_t count = 0;
    *position = 0;
    if (!snapshot_stream_holds_one(js, err, errlen))
        return !*err;
    natsStatus s = get_message(js, js->snap_meta, 0, &meta, err, errlen);
    if (s == NATS_NOT_FOUND)
        return true;
    if (s != NATS_OK)
        return false;
    char text[96];
    int len = natsMsg_GetDataLength(meta);
    snprintf(text, sizeof text, "%.*s", len < 95 ? len : 95, natsMsg_GetData(meta));
    natsMsg_Destroy(meta);
    if (sscanf(text, "%" SCNu64 " %" SCNu64 " %zu", position, &first, &count) != 3 || !count) {
        snprintf(err, errlen, "the snapshot's meta message '%s' is malformed", text);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        natsMsg *m = NULL;
        if (get_message(js, NULL, first + i, &m, err, errlen) != NATS_OK) {
            if (!*err)
                snprintf(err, errlen, "chunk %zu of the snapshot at %" PRIu64 " is missing", i,
                         *position);
            return false;
        }
        bool ok = bytes_append(out, (const uint8_t *)natsMsg_GetData(m),
                               (size_t)natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
        if (!ok) {
            snprintf(err, errlen, "out of memory reading the snapshot");
            return false;
        }
    }
    return true;
}

bool jetstream_publishing(struct jetstream *js)
{
    pthread_mutex_lock(&js->lock);
    bool busy = js->publishing;
    pthread_mutex_unlock(&js->lock);
    return busy;
}

void jetstream_publish(struct jetstream *js, struct bytes *batch)
{
    pthread_mutex_lock(&js->lock);
    struct bytes empty = js->sending;
    js->sending = *batch;
    *batch = empty;
    batch->len = 0;
    js->publishing = true;
    pthread_cond_broadcast(&js->cond);
    pthread_mutex_unlock(&js->lock);
}

/* On a nats.c thread: the message waits for the loop. */
static void on_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    struct jetstream *js = closure;
    pthread_mutex_lock(&js->lock);
    if (js->ndelivered == js->delivered_cap) {
        size_t cap = js->delivered_cap ? 2 * js->delivered_cap : 256;
        natsMsg **grown = realloc(js->delivered, cap * sizeof *grown);
        if (!grown) {
            /* A gap the ordered consumer cannot see: this replica would
             * part from the others, so it stops instead. */
            fprintf(stderr, "qmgrd: out of memory holding the log's messages; exiting\n");
            _exit(1);
        }
        js->delivered = grown;
        js->delivered_cap = cap;
    }
    js->delivered[js->ndelivered++] = msg;
    bool first = js->ndelivered == 1;
    pthread_mutex_unlock(&js->lock);
    if (first)
        wake(js);
}

void jetstream_take(struct jetstream *js, jetstream_msg_fn *fn, void *ctx)
{
    uint64_t count;
    while (read(js->wake_fd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&js->lock);
    natsMsg **msgs = js->delivered;
    size_t n = js->ndelivered;
    js->delivered = NULL;
    js->ndelivered = js->delivered_cap = 0;
    pthread_mutex_unlock(&js->lock);
    for (size_t i = 0; i < n; i++) {
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, msgs[i]) == NATS_OK) {
            fn(ctx, meta->Sequence.Stream, (const uint8_t *)natsMsg_GetData(msgs[i]),
               (size_t)natsMsg_GetDataLength(msgs[i]));
            jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(msgs[i]);
    }
    free(msgs);
}

bool jetstream_subscribe(struct jetstream *js, uint64_t seq, char *err, size_t errlen)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = js->stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = seq;
    so.Config.Heartbeat = CONSUMER_HEARTBEAT_NS;
    jsErrCode jerr = 0;
    natsStatus s = js_Subscribe(&js->sub, js->js, js->subject, on_message, js, NULL, &so, &jerr);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(js->sub, -1, -1);
    if (s != NATS_OK) {
        snprintf(err, errlen, "cannot read stream %s: %s (JetStream error %d)", js->stream,
                 natsStatus_GetText(s), (int)jerr);
        return false;
    }
    return true;
}

#define READY_WAIT_TIMEOUTS 3
#define READY_PAUSE_S 0.5

/* Sleeps READY_PAUSE_S unless that would pass the deadline (then false). */
static bool pause_before_trying_again(double deadline)
{
    if (clock_now() + READY_PAUSE_S > deadline)
        return false;
    nanosleep(&(struct timespec){0, (long)(READY_PAUSE_S * 1e9)}, NULL);
    return true;
}

/* nats.c takes the servers as an array; the config has them comma-separated. */
static natsStatus set_servers(natsOptions *o, const char *list, char *err, size_t errlen)
{
    char *copy = strdup(list);
    const char *urls[64];
    int n = 0;
    if (!copy)
        return NATS_NO_MEMORY;
    for (char *save = NULL, *tok = strtok_r(copy, ", \t", &save); tok && n < 64;
         tok = strtok_r(NULL, ", \t", &save))
        urls[n++] = tok;
    natsStatus s = natsOptions_SetServers(o, urls, n);
    if (s != NATS_OK)
        snprintf(err, errlen, "jetstream_servers '%s': %s", list, natsStatus_GetText(s));
    free(copy);
    return s;
}

static natsStatus make_options(natsOptions **o, const struct config *c, char *err,
                               size_t errlen)
{
    natsStatus s = natsOptions_Create(o);
    if (s == NATS_OK)
        s = set_servers(*o, c->jetstream_servers, err, errlen);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(*o, (int64_t)(c->jetstream_timeout * 1000));
    if (s == NATS_OK)
        s = natsOptions_SetName(*o, "qmgrd");
    /* Lost servers are retried for ever: the cluster decides what this
     * front end missed meanwhile (docs/cluster.md "Faults"). */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(*o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(*o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(*o, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(*o, 3);
    if (s != NATS_OK && !*err)
        snprintf(err, errlen, "NATS options: %s", natsStatus_GetText(s));
    return s;
}

/* A front end may start before the NATS servers it names (at boot, or with
 * them under one supervisor): refused connections are tried again until the
 * deadline, logged as "NATS is not up yet, trying again". */
static bool connect_servers(struct jetstream *js, const struct config *c, double deadline,
                            char *err, size_t errlen)
{
    natsOptions *o = NULL;
    natsStatus s = make_options(&o, c, err, errlen);
    double start = clock_now();
    while (s == NATS_OK) {
        s = natsConnection_Connect(&js->nc, o);
        if (s == NATS_OK)
            break;
        if (s == NATS_NO_SERVER && pause_before_trying_again(deadline)) {
            log_warn("cluster: cannot reach the NATS servers %s (%s); NATS is not up yet, "
                     "trying again",
                     c->jetstream_servers, natsStatus_GetText(s));
            s = NATS_OK;
            continue;
        }
        snprintf(err, errlen, "cannot reach the NATS servers %s within %.1fs: %s",
                 c->jetstream_servers, clock_now() - start, natsStatus_GetText(s));
    }
    natsOptions_Destroy(o);
    return s == NATS_OK;
}

/* What qmgrd needs of a stream; anything else an operator changed stays. */
static bool stream_matches(const jsStreamConfig *have, const char *name, const char **subjects,
                           int nsubjects, uint64_t replicas, char *err, size_t errlen)
{
    bool same_subjects = have->SubjectsLen == nsubjects;
    for (int i = 0; same_subjects && i < nsubjects; i++)
        same_subjects = strcmp(have->Subjects[i], subjects[i]) == 0;
    if (!same_subjects)
        snprintf(err, errlen, "stream %s exists but does not hold only the subject%s %s%s%s", name,
                 nsubjects > 1 ? "s" : "", subjects[0], nsubjects > 1 ? ", " : "",
                 nsubjects > 1 ? subjects[1] : "");
    else if (have->Replicas != (int64_t)replicas)
        snprintf(err, errlen, "stream %s exists with %" PRId64 " replicas, jetstream_replicas is %" PRIu64,
                 name, have->Replicas, replicas);
    else if (have->Retention != js_LimitsPolicy || have->MaxMsgs > 0 || have->MaxBytes > 0 ||
             have->MaxAge > 0)
        snprintf(err, errlen, "stream %s exists with limits that would drop inputs of the log",
                 name);
    else
        return true;
    return false;
}

/* While a NATS cluster is still electing its JetStream leader, its API does
 * not answer (the call times out, or finds no responders) or says it is
 * temporarily unavailable. */
static bool not_ready_yet(natsStatus s, jsErrCode jerr)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || jerr == JSClusterNotAvailErr;
}

/* One try at finding or making a stream; *again when it failed because
 * JetStream was not ready yet. */
static bool try_ensure_stream(struct jetstream *js, const char *name, const char **subjects,
                              int nsubjects, bool *again, char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    *again = false;
    natsStatus s = js_GetStreamInfo(&si, js->js, name, NULL, &jerr);
    if (s == NATS_OK) {
        bool ok = stream_matches(si->Config, name, subjects, nsubjects, js->replicas, err, errlen);
        jsStreamInfo_Destroy(si);
        return ok;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        *again = not_ready_yet(s, jerr);
        snprintf(err, errlen, "cannot look up stream %s: %s (JetStream error %d)", name,
                 natsStatus_GetText(s), (int)jerr);
        return false;
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = nsubjects;
    sc.Storage = js_FileStorage;
    sc.Replicas = (int64_t)js->replicas;
    sc.Duplicates = DUPLICATE_WINDOW_NS;
    s = js_AddStream(&si, js->js, &sc, NULL, &jerr);
    if (s != NATS_OK) {
        *again = not_ready_yet(s, jerr);
        snprintf(err, errlen, "cannot create stream %s (%" PRIu64 " replicas): %s (JetStream error %d)",
                 name, js->replicas, natsStatus_GetText(s), (int)jerr);
        return false;
    }
    jsStreamInfo_Destroy(si);
    return true;
}

/* A front end that starts while NATS or JetStream is not ready (with its
 * cluster, or after a restart of it) tries again rather than exit, for up to
 * READY_WAIT_TIMEOUTS times jetstream_timeout in all; a stream a timed-out
 * call did create is found by the next try's lookup. Anything else (a
 * refused config, a stream that does not match) is an answer, and final. */
static bool ensure_stream(struct jetstream *js, const char *name, const char **subjects,
                          int nsubjects, double deadline, char *err, size_t errlen)
{
    bool again;
    while (!try_ensure_stream(js, name, subjects, nsubjects, &again, err, errlen)) {
        if (!again || !pause_before_trying_again(deadline))
            return false;
        log_warn("cluster: %s; JetStream is not ready, trying again", err);
        err[0] = '\0';
    }
    return true;
}

static bool ensure_streams(struct jetstream *js, double deadline, char *err, size_t errlen)
{
    const char *log[] = {js->subject};
    const char *snap[] = {js->snap_data, js->snap_meta};
    return ensure_stream(js, js->stream, log, 1, deadline, err, errlen) &&
           ensure_stream(js, js->snap_stream, snap, 2, deadline, err, errlen);
}

static bool open_link(struct jetstream *js, const struct config *c, char *err, size_t errlen)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = (int64_t)(c->jetstream_timeout * 1000);
    double deadline = clock_now() + READY_WAIT_TIMEOUTS * c->jetstream_timeout;
    if (!connect_servers(js, c, deadline, err, errlen))
        return false;
    natsStatus s = natsConnection_JetStream(&js->js, js->nc, &jo);
    if (s != NATS_OK) {
        snprintf(err, errlen, "JetStream: %s", natsStatus_GetText(s));
        return false;
    }
    int64_t payload = natsConnection_GetMaxPayload(js->nc);
    js->max_message = payload > HEADER_ROOM ? (size_t)(payload - HEADER_ROOM) : 0;
    return ensure_streams(js, deadline, err, errlen);
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s%s", a, b, c);
    return s;
}

struct jetstream *jetstream_open(const struct config *c, char *err, size_t errlen)
{
    struct jetstream *js = calloc(1, sizeof *js);
    if (!js) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *err = '\0';
    js->wake_fd = -1;
    pthread_mutex_init(&js->lock, NULL);
    pthread_cond_init(&js->cond, NULL);
    randombytes_buf(&js->nonce, sizeof js->nonce);
    js->replicas = c->jetstream_replicas;
    js->compress = c->jetstream_compress;
    js->cctx = ZSTD_createCCtx();
    js->stream = strdup(c->jetstream_stream);
    js->subject = join3("qmgr.", c->jetstream_stream, "");
    js->snap_stream = join3("", c->jetstream_stream, "_SNAP");
    js->snap_data = join3("qmgr.", c->jetstream_stream, ".snap.data");
    js->snap_meta = join3("qmgr.", c->jetstream_stream, ".snap.meta");
    js->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!js->stream || !js->subject || !js->snap_stream || !js->snap_data || !js->snap_meta ||
        !js->cctx || js->wake_fd < 0) {
        snprintf(err, errlen, "out of memory or file descriptors");
        jetstream_close(js);
        return NULL;
    }
    if (!open_link(js, c, err, errlen) || !start_threads(js)) {
        if (!*err)
            snprintf(err, errlen, "cannot start the publisher threads");
        jetstream_close(js);
        return NULL;
    }
    return js;
}

void jetstream_close(struct jetstream *js)
{
    if (!js)
        return;
    pthread_mutex_lock(&js->lock);
    js->stopping = true;
    pthread_cond_broadcast(&js->cond);
    pthread_mutex_unlock(&js->lock);
    if (js->publisher_started)
        pthread_join(js->publisher, NULL);
    if (js->snapshotter_started)
        pthread_join(js->snapshotter, NULL);
    if (js->sub) {
        natsSubscription_Unsubscribe(js->sub);
        natsSubscription_Destroy(js->sub);
    }
    if (js->js)
        jsCtx_Destroy(js->js);
    if (js->nc) {
        natsConnection_Close(js->nc);
        natsConnection_Destroy(js->nc);
    }
    for (size_t i = 0; i < js->ndelivered; i++)
        natsMsg_Destroy(js->delivered[i]);
    free(js->delivered);
    bytes_free(&js->sending);
    bytes_free(&js->packed);
    ZSTD_freeCCtx(js->cctx);
    bytes_free(&js->snapshot);
    if (js->wake_fd >= 0)
        close(js->wake_fd);
    free(js->stream);
    free(js->subject);
    free(js->snap_stream);
    free(js->snap_data);
    free(js->snap_meta);
    pthread_cond_destroy(&js->cond);
    pthread_mutex_destroy(&js->lock);
    free(js);
}

int jetstream_wake_fd(const struct jetstream *js)
{
    return js->wake_fd;
}

size_t jetstream_max_message(const struct jetstream *js)
{
    return js->max_message;
}

bool jetstream_take_error(struct jetstream *js, char *buf, size_t len)
{
    pthread_mutex_lock(&js->lock);
    bool any = js->error[0] != '\0';
    if (any) {
        snprintf(buf, len, "%s", js->error);
        js->error[0] = '\0';
    }
    pthread_mutex_unlock(&js->lock);
    return any;
}

void jetstream_connected_url(struct jetstream *js, char *buf, size_t len)
{
    if (natsConnection_GetConnectedUrl(js->nc, buf, len) != NATS_OK || !*buf)
        snprintf(buf, len, "(not connected)");
}
