/* The link to JetStream (see jetstream.h). */
#include "jetstream.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <sodium.h>

#include "proto/frame.h"

/* How long one publish waits for the stream's answer before it is sent
 * again (with the same id). */
#define PUBLISH_WAIT_MS 2000
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
    int wake_fd;
    uint64_t nonce; /* message ids of this process: <nonce>.<n> */
    uint64_t published;
    size_t max_message;

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t cond;
    pthread_t publisher;
    bool publisher_started;
    bool stopping;
    bool publishing;
    struct bytes sending;
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

static bool publish_one(struct jetstream *js, const uint8_t *data, size_t len)
{
    char id[64];
    snprintf(id, sizeof id, "%016" PRIx64 ".%" PRIu64, js->nonce, ++js->published);
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MsgId = id;
    o.ExpectStream = js->stream;
    o.MaxWait = PUBLISH_WAIT_MS;
    for (;;) {
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(&ack, js->js, js->subject, data, (int)len, &o, &jerr);
        if (s == NATS_OK) {
            jsPubAck_Destroy(ack);
            return true;
        }
        set_error(js, "publishing to the log", s, jerr);
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
        if (!publish_one(js, batch->data + off, len))
            return;
        off += len;
    }
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

static bool connect_servers(struct jetstream *js, const struct config *c, char *err, size_t errlen)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = set_servers(o, c->jetstream_servers, err, errlen);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, (int64_t)(c->jetstream_timeout * 1000));
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "qmgrd");
    /* Lost servers are retried for ever: the cluster decides what this
     * front end missed meanwhile (docs/cluster.md "Faults"). */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 3);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&js->nc, o);
        if (s != NATS_OK)
            snprintf(err, errlen, "cannot reach the NATS servers %s within %.1fs: %s",
                     c->jetstream_servers, c->jetstream_timeout, natsStatus_GetText(s));
    } else if (!*err) {
        snprintf(err, errlen, "NATS options: %s", natsStatus_GetText(s));
    }
    natsOptions_Destroy(o);
    return s == NATS_OK;
}

/* What qmgrd needs of the stream; anything else an operator changed stays. */
static bool stream_matches(const jsStreamConfig *have, const struct jetstream *js,
                           const struct config *c, char *err, size_t errlen)
{
    if (have->SubjectsLen != 1 || strcmp(have->Subjects[0], js->subject) != 0)
        snprintf(err, errlen, "stream %s exists but does not hold only the subject %s",
                 js->stream, js->subject);
    else if (have->Replicas != (int64_t)c->jetstream_replicas)
        snprintf(err, errlen, "stream %s exists with %" PRId64 " replicas, jetstream_replicas is %" PRIu64,
                 js->stream, have->Replicas, c->jetstream_replicas);
    else if (have->Retention != js_LimitsPolicy || have->MaxMsgs > 0 || have->MaxBytes > 0 ||
             have->MaxAge > 0)
        snprintf(err, errlen, "stream %s exists with limits that would drop inputs of the log",
                 js->stream);
    else
        return true;
    return false;
}

static bool ensure_stream(struct jetstream *js, const struct config *c, char *err, size_t errlen)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js->js, js->stream, NULL, &jerr);
    if (s == NATS_OK) {
        bool ok = stream_matches(si->Config, js, c, err, errlen);
        jsStreamInfo_Destroy(si);
        return ok;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
        snprintf(err, errlen, "cannot look up stream %s: %s (JetStream error %d)", js->stream,
                 natsStatus_GetText(s), (int)jerr);
        return false;
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {js->subject};
    sc.Name = js->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = (int64_t)c->jetstream_replicas;
    sc.Duplicates = DUPLICATE_WINDOW_NS;
    s = js_AddStream(&si, js->js, &sc, NULL, &jerr);
    if (s != NATS_OK) {
        snprintf(err, errlen, "cannot create stream %s (%" PRIu64 " replicas): %s (JetStream error %d)",
                 js->stream, c->jetstream_replicas, natsStatus_GetText(s), (int)jerr);
        return false;
    }
    jsStreamInfo_Destroy(si);
    return true;
}

static bool open_link(struct jetstream *js, const struct config *c, char *err, size_t errlen)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = (int64_t)(c->jetstream_timeout * 1000);
    if (!connect_servers(js, c, err, errlen))
        return false;
    natsStatus s = natsConnection_JetStream(&js->js, js->nc, &jo);
    if (s != NATS_OK) {
        snprintf(err, errlen, "JetStream: %s", natsStatus_GetText(s));
        return false;
    }
    int64_t payload = natsConnection_GetMaxPayload(js->nc);
    js->max_message = payload > HEADER_ROOM ? (size_t)(payload - HEADER_ROOM) : 0;
    return ensure_stream(js, c, err, errlen);
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
    js->stream = strdup(c->jetstream_stream);
    size_t sublen = strlen(c->jetstream_stream) + sizeof "qmgr.";
    js->subject = malloc(sublen);
    js->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!js->stream || !js->subject || js->wake_fd < 0) {
        snprintf(err, errlen, "out of memory or file descriptors");
        jetstream_close(js);
        return NULL;
    }
    snprintf(js->subject, sublen, "qmgr.%s", c->jetstream_stream);
    if (!open_link(js, c, err, errlen) ||
        pthread_create(&js->publisher, NULL, publisher_main, js) != 0) {
        if (!*err)
            snprintf(err, errlen, "cannot start the publisher thread");
        jetstream_close(js);
        return NULL;
    }
    js->publisher_started = true;
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
    if (js->wake_fd >= 0)
        close(js->wake_fd);
    free(js->stream);
    free(js->subject);
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
