/*
 * libqmgr-client against a fake daemon: a thread on a Unix socket that does
 * the real server handshake (proto/handshake) and then answers with scripted
 * frames, well-formed or hostile. A bad server must give QMGR_EPROTO (or
 * QMGR_ECONN, QMGR_EAUTH), never a crash, a hang or an out-of-bounds read.
 */
#include <check.h>
#include <errno.h>
#include <msgpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "proto/frame.h"
#include "proto/handshake.h"
#include "proto/rpc.h"
#include "qmgr.h"

#define KEY "fake-daemon-key"
#define KEYLEN (sizeof KEY - 1)

/* ---- The fake daemon ---- */

struct fake;
typedef void (*fake_script)(struct fake *f, int conn_index, int fd);

struct fake {
    char dir[64];
    char path[128];
    char addr[140];
    int listen_fd;
    int connections; /* accepted one after the other, each run by script */
    fake_script script;
    pthread_t thread;
    /* Shared with the test: */
    atomic_int requests[8]; /* per connection */
    atomic_int puts;
    const uint8_t *result; /* a scripted result or frame */
    size_t result_len;
    double delay; /* seconds before answering */
    bool raw_frame;
};

static bool write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_all(int fd, void *p, size_t len)
{
    uint8_t *b = p;
    while (len > 0) {
        ssize_t n = recv(fd, b, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_frame(int fd, const void *payload, size_t len)
{
    uint8_t head[FRAME_HEADER_SIZE];
    frame_write_be32(head, (uint32_t)len);
    return write_all(fd, head, sizeof head) && write_all(fd, payload, len);
}

/* A malloc'd frame payload, or NULL at EOF. */
static uint8_t *read_frame(int fd, size_t *len)
{
    uint8_t head[FRAME_HEADER_SIZE];
    if (!read_all(fd, head, sizeof head))
        return NULL;
    *len = frame_read_be32(head);
    uint8_t *p = malloc(*len ? *len : 1);
    if (p && !read_all(fd, p, *len)) {
        free(p);
        return NULL;
    }
    return p;
}

static bool server_handshake(int fd, const char *key)
{
    struct hs_server hs;
    uint8_t out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why;
    hs_server_init(&hs, (const uint8_t *)key, strlen(key), false);
    outlen = hs_server_start(&hs, out);
    if (!send_frame(fd, out, outlen))
        return false;
    for (;;) {
        size_t len;
        uint8_t *in = read_frame(fd, &len);
        if (!in)
            return false;
        enum hs_status st = hs_server_feed(&hs, in, len, out, &outlen, &why);
        free(in);
        if (outlen && !send_frame(fd, out, outlen))
            return false;
        if (st != HS_CONTINUE)
            return st == HS_DONE;
    }
}

struct request {
    uint8_t *frame;
    struct rpc_request rpc;
    char method[64];
};

static bool read_request(int fd, struct request *r)
{
    size_t len;
    enum rpc_kind kind;
    const char *why;
    r->frame = read_frame(fd, &len);
    if (!r->frame)
        return false;
    ck_assert_msg(rpc_decode_request(r->frame, len, &r->rpc, &kind, &why), "%s", why);
    snprintf(r->method, sizeof r->method, "%.*s", (int)r->rpc.method_len, r->rpc.method);
    return true;
}

static void reply_raw_result(int fd, uint32_t msgid, const void *result, size_t len)
{
    struct bytes out = {0};
    msgpack_packer pk;
    size_t start = rpc_frame_begin_ok(&out, msgid);
    rpc_packer_init(&pk, &out);
    rpc_pack_raw(&pk, result, len);
    rpc_frame_end(&out, start);
    write_all(fd, out.data, out.len);
    bytes_free(&out);
}

static void reply_error(int fd, uint32_t msgid, int code, const char *message)
{
    struct bytes out = {0};
    msgpack_packer pk;
    size_t start = rpc_frame_begin(&out);
    rpc_packer_init(&pk, &out);
    rpc_pack_response_error(&pk, msgid, code, message);
    rpc_frame_end(&out, start);
    write_all(fd, out.data, out.len);
    bytes_free(&out);
}

static const uint8_t PONG[] = {0xa4, 'p', 'o', 'n', 'g'};
static const uint8_t NIL[] = {0xc0};
static const uint8_t SEVEN[] = {0x07};

/* {"name": <first param, or accessed>, "type": type} */
static void reply_descriptor(int fd, struct request *r, const char *type, const char *accessed)
{
    const char *name = accessed;
    uint32_t len = (uint32_t)strlen(accessed);
    if (r->rpc.nparams == 1)
        ck_assert(mp_read_str(&r->rpc.params, &name, &len));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, name, len);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, type, strlen(type));
    reply_raw_result(fd, r->rpc.msgid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static bool is_lookup(const struct request *r)
{
    return strcmp(r->method, "lookup") == 0 || strncmp(r->method, "get_", 4) == 0;
}

/* Answers whatever comes in, well: lookups as queues, pings, counts. */
static void answer_well(int fd, struct request *r)
{
    if (is_lookup(r))
        reply_descriptor(fd, r, "queue", "line_queue");
    else if (strcmp(r->method, "ping") == 0)
        reply_raw_result(fd, r->rpc.msgid, PONG, sizeof PONG);
    else if (strcmp(r->method, "queue.qsize") == 0)
        reply_raw_result(fd, r->rpc.msgid, SEVEN, sizeof SEVEN);
    else
        reply_raw_result(fd, r->rpc.msgid, NIL, sizeof NIL);
}

static void serve_well_until_eof(int fd)
{
    struct request r;
    while (read_request(fd, &r)) {
        answer_well(fd, &r);
        free(r.frame);
    }
}

static void drain_until_eof(int fd)
{
    uint8_t buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0)
        ;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    for (int i = 0; i < f->connections; i++) {
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        f->script(f, i, fd);
        close(fd);
    }
    /* Later connects are refused rather than left waiting in the backlog. */
    close(f->listen_fd);
    return NULL;
}

static void fake_start(struct fake *f, fake_script script, int connections)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/qmgr-client-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sock", f->dir);
    snprintf(f->addr, sizeof f->addr, "unix:%s", f->path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, f->path);
    ck_assert_int_eq(bind(f->listen_fd, (struct sockaddr *)&sun, sizeof sun), 0);
    ck_assert_int_eq(listen(f->listen_fd, 8), 0);
    f->script = script;
    f->connections = connections;
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    pthread_join(f->thread, NULL);
    unlink(f->path);
    rmdir(f->dir);
}

static qmgr_conn *connect_to(struct fake *f)
{
    qmgr_conn *c;
    int rc = qmgr_connect(f->addr, KEY, KEYLEN, &c);
    ck_assert_msg(rc == QMGR_OK, "connect: %s", qmgr_strerror(rc));
    return c;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---- handshake ---- */

static void script_serve_well(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    if (server_handshake(fd, KEY))
        serve_well_until_eof(fd);
}

/* Upper bounds on elapsed time stretch with the run's slowdown (3 under
 * ASan, 10 under valgrind: QMGRTEST_TIMEOUT_SCALE); lower bounds do not. */
static double timeout_scale(void)
{
    const char *s = getenv("QMGRTEST_TIMEOUT_SCALE");
    double v = s ? atof(s) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

START_TEST(connect_and_ping)
{
    struct fake f;
    fake_start(&f, script_serve_well, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

static void script_other_key(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    server_handshake(fd, "another key");
}

START_TEST(wrong_key_is_eauth)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_other_key, 1);
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open(c, f.addr, KEY, KEYLEN), QMGR_EAUTH);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "rejected"));
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

/* Accepts any answer to its challenge, then cannot prove it knows the key. */
static void script_impostor(struct fake *f, int i, int fd)
{
    (void)i;
    uint8_t challenge[sizeof HS_CHALLENGE - 1 + sizeof HS_DIGEST_PREFIX - 1 + HS_NONCE_SIZE];
    uint8_t response[sizeof HS_DIGEST_PREFIX - 1 + HS_MAC_SIZE] = {0};
    memcpy(challenge, HS_CHALLENGE HS_DIGEST_PREFIX, sizeof HS_CHALLENGE - 1 + sizeof HS_DIGEST_PREFIX - 1);
    memset(challenge + sizeof challenge - HS_NONCE_SIZE, 7, HS_NONCE_SIZE);
    memcpy(response, HS_DIGEST_PREFIX, sizeof HS_DIGEST_PREFIX - 1);
    size_t len;
    send_frame(fd, challenge, sizeof challenge);
    free(read_frame(fd, &len));
    send_frame(fd, HS_WELCOME, sizeof HS_WELCOME - 1);
    free(read_frame(fd, &len));
    send_frame(fd, response, sizeof response);
    uint8_t *verdict = read_frame(fd, &len);
    if (verdict && len == sizeof HS_FAILURE - 1 && memcmp(verdict, HS_FAILURE, len) == 0)
        atomic_fetch_add(&f->requests[0], 1);
    free(verdict);
}

START_TEST(server_without_key_is_eauth)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_impostor, 1);
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open(c, f.addr, KEY, KEYLEN), QMGR_EAUTH);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "does not hold the authkey"));
    qmgr_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.requests[0]), 1); /* we told it #FAILURE# */
}
END_TEST

static void script_garbage_challenge(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    send_frame(fd, "hello there", 11);
    drain_until_eof(fd);
}

START_TEST(garbage_challenge_is_eproto)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_garbage_challenge, 1);
    ck_assert_int_eq(qmgr_connect(f.addr, KEY, KEYLEN, &c), QMGR_EPROTO);
    ck_assert_ptr_null(c);
    fake_stop(&f);
}
END_TEST

static void script_oversized_preauth(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    uint8_t big[1000] = {0};
    send_frame(fd, big, sizeof big);
    drain_until_eof(fd);
}

START_TEST(oversized_preauth_frame_is_eproto)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_oversized_preauth, 1);
    ck_assert_int_eq(qmgr_connect(f.addr, KEY, KEYLEN, &c), QMGR_EPROTO);
    fake_stop(&f);
}
END_TEST

static void script_close_at_once(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    (void)fd;
}

START_TEST(close_in_handshake_is_econn)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_close_at_once, 1);
    ck_assert_int_eq(qmgr_connect(f.addr, KEY, KEYLEN, &c), QMGR_ECONN);
    fake_stop(&f);
}
END_TEST

static void script_silent(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    drain_until_eof(fd);
}

START_TEST(silent_server_times_out)
{
    struct fake f;
    qmgr_conn *c;
    fake_start(&f, script_silent, 1);
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_set_timeout(c, 0.2), QMGR_OK);
    double t0 = clock_now();
    ck_assert_int_eq(qmgr_open(c, f.addr, KEY, KEYLEN), QMGR_ECONN);
    double took = clock_now() - t0;
    ck_assert_msg(took >= 0.15 && took < 3 * timeout_scale(), "took %f s", took);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "timeout"));
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(nobody_listening_is_econn)
{
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect("unix:/nonexistent/qmgr.sock", KEY, KEYLEN, &c), QMGR_ECONN);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(bad_addresses_are_einval)
{
    static const char *const bad[] = {
        "", "localhost", "localhost:", ":50002", "host:0", "host:65536", "host:12x",
        "::1:50002", "[::1]", "[::1]50002", "unix:", "[]:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qmgr_conn *c;
        ck_assert_msg(qmgr_connect(bad[i], KEY, KEYLEN, &c) == QMGR_EINVAL, "%s", bad[i]);
    }
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect("127.0.0.1:1", "", 0, &c), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_connect_keyfile("127.0.0.1:1", "/nonexistent/key", &c), QMGR_EAUTH);
}
END_TEST

/* ---- hostile replies ---- */

/* Answers the first request that is not a lookup with f->result (a result
 * wrapped in a response, or a whole frame), then everything else well. */
static void script_hostile(struct fake *f, int i, int fd)
{
    (void)i;
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    bool sent = false;
    while (read_request(fd, &r)) {
        if (sent || is_lookup(&r)) {
            answer_well(fd, &r);
        } else if (f->raw_frame) {
            write_all(fd, f->result, f->result_len);
            sent = true;
        } else {
            reply_raw_result(fd, r.rpc.msgid, f->result, f->result_len);
            sent = true;
        }
        free(r.frame);
        if (sent && f->raw_frame)
            return; /* and close: some frames are cut short on purpose */
    }
}

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

struct hostile_frame {
    const char *what;
    const uint8_t *bytes; /* the whole frame, header included */
    size_t len;
    int expect;
};

/* The first request is ping, msgid 1. */
static const struct hostile_frame hostile_frames[] = {
    {"not an array", BYTES(0, 0, 0, 1, 0xc0), QMGR_EPROTO},
    {"empty frame", BYTES(0, 0, 0, 0), QMGR_EPROTO},
    {"truncated message", BYTES(0, 0, 0, 3, 0x94, 0x01, 0x01), QMGR_EPROTO},
    {"trailing bytes", BYTES(0, 0, 0, 10, 0x94, 1, 1, 0xc0, 0xa4, 'p', 'o', 'n', 'g', 0xc0), QMGR_EPROTO},
    {"a request, not a response", BYTES(0, 0, 0, 9, 0x94, 0, 1, 0xa4, 'p', 'i', 'n', 'g', 0x90), QMGR_EPROTO},
    {"unknown msgid", BYTES(0, 0, 0, 11, 0x94, 1, 0xcd, 0x12, 0x34, 0xc0, 0xa4, 'p', 'o', 'n', 'g'), QMGR_EPROTO},
    {"msgid is a string", BYTES(0, 0, 0, 10, 0x94, 1, 0xa1, 'x', 0xc0, 0xa4, 'p', 'o', 'n', 'g'), QMGR_EPROTO},
    {"array bomb", BYTES(0, 0, 0, 9, 0x94, 1, 1, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff), QMGR_EPROTO},
    {"map bomb", BYTES(0, 0, 0, 9, 0x94, 1, 1, 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff), QMGR_EPROTO},
    {"str bomb", BYTES(0, 0, 0, 9, 0x94, 1, 1, 0xc0, 0xdb, 0xff, 0xff, 0xff, 0xff), QMGR_EPROTO},
    {"0xc1", BYTES(0, 0, 0, 5, 0x94, 1, 1, 0xc0, 0xc1), QMGR_EPROTO},
    {"error code 0", BYTES(0, 0, 0, 8, 0x94, 1, 1, 0x92, 0x00, 0xa1, 'x', 0xc0), QMGR_EPROTO},
    {"error is a string", BYTES(0, 0, 0, 8, 0x94, 1, 1, 0xa3, 'b', 'a', 'd', 0xc0), QMGR_EPROTO},
    {"error message is an int", BYTES(0, 0, 0, 7, 0x94, 1, 1, 0x92, 0x04, 0x05, 0xc0), QMGR_EPROTO},
    {"five elements", BYTES(0, 0, 0, 6, 0x95, 1, 1, 0xc0, 0xc0, 0xc0), QMGR_EPROTO},
    {"negative frame length", BYTES(0xff, 0xff, 0xff, 0xfe, 0x94), QMGR_EPROTO},
    {"frame over the limit", BYTES(0x7f, 0xff, 0xff, 0xff, 0x94), QMGR_EPROTO},
    {"cut short, then EOF", BYTES(0, 0, 0, 16, 0x94, 1, 1), QMGR_ECONN},
    {"big frame cut short, then EOF", BYTES(0, 0x20, 0, 0, 0x94, 1, 1, 0xc0, 0xc6, 0, 0x1f), QMGR_ECONN},
    {"header cut short, then EOF", BYTES(0, 0), QMGR_ECONN},
};

START_TEST(hostile_frame_is_refused)
{
    const struct hostile_frame *h = &hostile_frames[_i];
    struct fake f;
    fake_start(&f, script_hostile, 1);
    f.result = h->bytes;
    f.result_len = h->len;
    f.raw_frame = true;
    qmgr_conn *c = connect_to(&f);
    int rc = qmgr_ping(c);
    ck_assert_msg(rc == h->expect, "%s: got %s (%s)", h->what, qmgr_strerror(rc), qmgr_last_error(c));
    /* The connection is gone, and stays gone without reconnect. */
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

struct hostile_result {
    const char *what;
    const uint8_t *bytes;
    size_t len;
};

/* Well-formed frames whose result does not fit the call: the call fails,
 * the connection stays. */
static const struct hostile_result bad_stats[] = {
    {"nil", BYTES(0xc0)},
    {"an array", BYTES(0x91, 0x01)},
    {"an int key", BYTES(0x81, 0x01, 0x02)},
    {"a bin key", BYTES(0x81, 0xc4, 0x01, 'k', 0x02)},
};

START_TEST(malformed_stats_is_eproto)
{
    const struct hostile_result *h = &bad_stats[_i];
    struct fake f;
    qmgr_map m;
    fake_start(&f, script_hostile, 1);
    f.result = h->bytes;
    f.result_len = h->len;
    qmgr_conn *c = connect_to(&f);
    ck_assert_msg(qmgr_stats(c, &m) == QMGR_EPROTO, "%s", h->what);
    ck_assert_uint_eq(m.count, 0);
    qmgr_map_free(&m);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

static const struct hostile_result bad_qsize[] = {
    {"nil", BYTES(0xc0)},
    {"negative", BYTES(0xff)},
    {"a float", BYTES(0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0)},
    {"a string", BYTES(0xa1, '7')},
};

START_TEST(malformed_count_is_eproto)
{
    const struct hostile_result *h = &bad_qsize[_i];
    struct fake f;
    qmgr_queue *q;
    uint64_t n = 99;
    fake_start(&f, script_hostile, 1);
    f.result = h->bytes;
    f.result_len = h->len;
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_msg(qmgr_queue_qsize(q, &n) == QMGR_EPROTO, "%s", h->what);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

static const struct hostile_result bad_queue_stat[] = {
    {"a field is a string", BYTES(0x81, 0xa4, 's', 'i', 'z', 'e', 0xa1, '1')},
    {"a field is negative", BYTES(0x81, 0xa4, 's', 'i', 'z', 'e', 0xff)},
    {"not a map", BYTES(0x90)},
};

START_TEST(malformed_queue_stat_is_eproto)
{
    const struct hostile_result *h = &bad_queue_stat[_i];
    struct fake f;
    qmgr_queue *q;
    qmgr_queue_info st;
    fake_start(&f, script_hostile, 1);
    f.result = h->bytes;
    f.result_len = h->len;
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_msg(qmgr_queue_stat(q, &st) == QMGR_EPROTO, "%s", h->what);
    ck_assert_uint_eq(st.size, 0);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(unknown_fields_and_missing_ones_are_fine)
{
    /* {"size": 3, "future": [1]} */
    static const uint8_t stat[] = {0x82, 0xa4, 's', 'i', 'z', 'e', 0x03,
                                   0xa6, 'f', 'u', 't', 'u', 'r', 'e', 0x91, 0x01};
    struct fake f;
    qmgr_queue *q;
    qmgr_queue_info st;
    fake_start(&f, script_hostile, 1);
    f.result = stat;
    f.result_len = sizeof stat;
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_stat(q, &st), QMGR_OK);
    ck_assert_uint_eq(st.size, 3);
    ck_assert_uint_eq(st.puts, 0);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

/* ---- lookups and errors ---- */

static void script_lookup_types(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    while (read_request(fd, &r)) {
        const char *name = NULL;
        uint32_t len = 0;
        struct mp_reader params = r.rpc.params;
        if (r.rpc.nparams == 1)
            mp_read_str(&params, &name, &len);
        if (strcmp(r.method, "get_missing") == 0)
            reply_error(fd, r.rpc.msgid, 7, "unknown method get_missing");
        else if (name && len == 7 && memcmp(name, "nothing", 7) == 0)
            reply_error(fd, r.rpc.msgid, 1, "no object named nothing");
        else if (strcmp(r.method, "get_buf") == 0 || (name && len == 8 && memcmp(name, "flow_buf", 8) == 0))
            reply_descriptor(fd, &r, "buf", "flow_buf");
        else if (strcmp(r.method, "queue.put") == 0)
            reply_error(fd, r.rpc.msgid, 3, "queue line_queue is full");
        else if (strcmp(r.method, "queue.join") == 0)
            reply_error(fd, r.rpc.msgid, 42, "a code from the future");
        else
            answer_well(fd, &r);
        free(r.frame);
    }
}

START_TEST(lookup_errors)
{
    struct fake f;
    qmgr_queue *q;
    qmgr_buf *b;
    fake_start(&f, script_lookup_types, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "nothing", &q), QMGR_ENOENT);
    ck_assert_ptr_null(q);
    ck_assert_str_eq(qmgr_last_error(c), "no object named nothing");
    ck_assert_int_eq(qmgr_queue_open(c, "flow_buf", &q), QMGR_ETYPE);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "is a buf, not a queue"));
    ck_assert_int_eq(qmgr_buf_open(c, "line_queue", &b), QMGR_ETYPE);
    ck_assert_int_eq(qmgr_queue_open_accessor(c, "get_missing", &q), QMGR_ENOMETHOD);
    ck_assert_int_eq(qmgr_buf_open_accessor(c, "get_buf", &b), QMGR_OK);
    ck_assert_str_eq(qmgr_buf_name(b), "flow_buf");
    ck_assert_int_eq(qmgr_queue_open_accessor(c, "get_line_queue", &q), QMGR_OK);
    ck_assert_str_eq(qmgr_queue_name(q), "line_queue");
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, 0), QMGR_EFULL);
    ck_assert_str_eq(qmgr_last_error(c), "queue line_queue is full");
    ck_assert_int_eq(qmgr_queue_join(q, 0), -42);
    ck_assert_str_eq(qmgr_strerror(-42), "unknown error from the daemon");
    qmgr_queue_close(q);
    qmgr_buf_close(b);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(bad_arguments_are_einval)
{
    struct fake f;
    qmgr_queue *q;
    qmgr_items items;
    uint32_t id;
    static const uint8_t two_values[] = {0x01, 0x02};
    static const uint8_t cut[] = {0x92, 0x01};
    fake_start(&f, script_serve_well, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, -2.0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, 0.0 / 0.0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_put(q, NULL, 1, 0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_put_raw(q, two_values, sizeof two_values, 0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_put_raw(q, cut, sizeof cut, 0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_get_many(q, 0, 0, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_task_done(q, 0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_queue_put(NULL, "x", 1, 0), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_wait(c, 12345, NULL), QMGR_EINVAL);
    qmgr_reply *r;
    ck_assert_int_eq(qmgr_wait(c, 12345, &r), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_EINVAL);
    /* A result of the wrong kind is refused (and the reply freed). */
    ck_assert_int_eq(qmgr_send_ping(c, &id), QMGR_OK);
    ck_assert_int_eq(qmgr_wait(c, id, &r), QMGR_OK);
    ck_assert_int_eq(qmgr_result_items(r, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_set_timeout(c, -3), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_set_max_frame(c, 10), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK); /* nothing above broke the connection */
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

/* ---- pipelining ---- */

/* Reads three requests, answers them 3, 1, 2. */
static void script_out_of_order(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    struct request r[3];
    if (!server_handshake(fd, KEY))
        return;
    for (int k = 0; k < 3; k++)
        ck_assert(read_request(fd, &r[k]));
    static const int order[] = {2, 0, 1};
    for (int k = 0; k < 3; k++)
        reply_raw_result(fd, r[order[k]].rpc.msgid, PONG, sizeof PONG);
    for (int k = 0; k < 3; k++)
        free(r[k].frame);
    serve_well_until_eof(fd);
}

START_TEST(replies_out_of_order_are_matched)
{
    struct fake f;
    uint32_t id[3];
    qmgr_reply *r;
    fake_start(&f, script_out_of_order, 1);
    qmgr_conn *c = connect_to(&f);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(qmgr_send_ping(c, &id[k]), QMGR_OK);
    ck_assert_uint_eq(qmgr_in_flight(c), 3);
    ck_assert_int_eq(qmgr_wait(c, id[1], &r), QMGR_OK);
    ck_assert_uint_eq(qmgr_reply_msgid(r), id[1]);
    ck_assert_int_eq(qmgr_result_nil(r), QMGR_OK);
    /* The others came first; recv hands them out in arrival order. */
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
    ck_assert_uint_eq(qmgr_reply_msgid(r), id[2]);
    qmgr_reply_free(r);
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
    ck_assert_uint_eq(qmgr_reply_msgid(r), id[0]);
    ck_assert_int_eq(qmgr_reply_status(r), QMGR_OK);
    ck_assert_int_eq(qmgr_result_nil(r), QMGR_OK);
    ck_assert_uint_eq(qmgr_in_flight(c), 0);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

/* Reads five requests and closes without a word. */
static void script_read_five_and_close(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    for (int k = 0; k < 5 && read_request(fd, &r); k++)
        free(r.frame);
}

START_TEST(lost_connection_fails_every_request)
{
    struct fake f;
    uint32_t id;
    qmgr_reply *r;
    fake_start(&f, script_read_five_and_close, 1);
    qmgr_conn *c = connect_to(&f);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(qmgr_send_ping(c, &id), QMGR_OK);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
        ck_assert_int_eq(qmgr_reply_status(r), QMGR_ECONN);
        ck_assert_int_eq(qmgr_result_nil(r), QMGR_ECONN);
    }
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_send_ping(c, &id), QMGR_ECONN);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

/* Reads requests and answers none until EOF. */
static void script_never_answer(struct fake *f, int i, int fd)
{
    (void)i;
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    while (read_request(fd, &r)) {
        if (is_lookup(&r))
            answer_well(fd, &r);
        else if (f->delay > 0) {
            sleep_s(f->delay);
            reply_raw_result(fd, r.rpc.msgid, SEVEN, sizeof SEVEN);
        }
        free(r.frame);
    }
}

START_TEST(no_reply_within_io_timeout_is_econn)
{
    struct fake f;
    fake_start(&f, script_never_answer, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_set_timeout(c, 0.2), QMGR_OK);
    double t0 = clock_now();
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    double took = clock_now() - t0;
    ck_assert_msg(took >= 0.15 && took < 3 * timeout_scale(), "took %f s", took);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(request_timeout_extends_the_wait)
{
    struct fake f;
    qmgr_queue *q;
    qmgr_items items;
    fake_start(&f, script_never_answer, 1);
    f.delay = 0.5;
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_set_timeout(c, 0.2), QMGR_OK);
    /* The daemon may take the get's 1 s before it answers: no I/O timeout. */
    ck_assert_int_eq(qmgr_queue_get(q, 1.0, &items), QMGR_OK);
    ck_assert_uint_eq(items.count, 1);
    ck_assert_int_eq(items.item[0].type, QMGR_INT);
    ck_assert_int_eq(items.item[0].i, 7);
    qmgr_items_free(&items);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(reply_outlives_its_connection)
{
    struct fake f;
    uint32_t id;
    qmgr_reply *r;
    fake_start(&f, script_serve_well, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_send_ping(c, &id), QMGR_OK);
    ck_assert_int_eq(qmgr_send_ping(c, &id), QMGR_OK); /* left in flight */
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
    qmgr_close(c);
    ck_assert_int_eq(qmgr_result_nil(r), QMGR_OK);
    fake_stop(&f);
}
END_TEST

/* ---- big and many items ---- */

#define BIG_ITEM (3u << 20)

static void script_big_and_many(struct fake *f, int i, int fd)
{
    (void)f;
    (void)i;
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    while (read_request(fd, &r)) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (strcmp(r.method, "queue.get") == 0) {
            uint8_t *big = malloc(BIG_ITEM);
            for (size_t k = 0; k < BIG_ITEM; k++)
                big[k] = (uint8_t)(k * 31);
            msgpack_pack_bin_with_body(&pk, big, BIG_ITEM);
            free(big);
        } else if (strcmp(r.method, "queue.get_many") == 0) {
            msgpack_pack_array(&pk, 1000);
            for (int k = 0; k < 1000; k++)
                msgpack_pack_bin_with_body(&pk, &k, sizeof k);
        }
        if (sb.size)
            reply_raw_result(fd, r.rpc.msgid, sb.data, sb.size);
        else
            answer_well(fd, &r);
        msgpack_sbuffer_destroy(&sb);
        free(r.frame);
    }
}

START_TEST(big_item_arrives_whole)
{
    struct fake f;
    qmgr_queue *q;
    qmgr_items items;
    fake_start(&f, script_big_and_many, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(qmgr_queue_get(q, QMGR_FOREVER, &items), QMGR_OK);
        ck_assert_int_eq(items.item[0].type, QMGR_BIN);
        ck_assert_uint_eq(items.item[0].len, BIG_ITEM);
        const uint8_t *p = items.item[0].data;
        for (size_t k = 0; k < BIG_ITEM; k += 4099)
            ck_assert_uint_eq(p[k], (uint8_t)(k * 31));
        qmgr_items_free(&items);
        ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    }
    ck_assert_int_eq(qmgr_set_max_frame(c, 1 << 20), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_get(q, QMGR_FOREVER, &items), QMGR_EPROTO);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(many_items_in_one_reply)
{
    struct fake f;
    qmgr_queue *q;
    qmgr_items items;
    fake_start(&f, script_big_and_many, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_get_many(q, 1000, 1.0, &items), QMGR_OK);
    ck_assert_uint_eq(items.count, 1000);
    for (int k = 0; k < 1000; k++) {
        int v;
        ck_assert_uint_eq(items.item[k].len, sizeof v);
        memcpy(&v, items.item[k].data, sizeof v);
        ck_assert_int_eq(v, k);
    }
    qmgr_queue_close(q);
    qmgr_close(c); /* the items outlive the connection */
    ck_assert_int_eq(((const uint8_t *)items.item[999].raw)[0], 0xc4);
    qmgr_items_free(&items);
    fake_stop(&f);
}
END_TEST

/* ---- reconnect ---- */

/* Connection 0 answers the lookup, then drops the next request (counting
 * puts); connection 1 answers everything. */
static void script_drop_once(struct fake *f, int i, int fd)
{
    struct request r;
    if (!server_handshake(fd, KEY))
        return;
    while (read_request(fd, &r)) {
        atomic_fetch_add(&f->requests[i], 1);
        if (strcmp(r.method, "queue.put") == 0)
            atomic_fetch_add(&f->puts, 1);
        bool drop = i == 0 && !is_lookup(&r);
        if (!drop)
            answer_well(fd, &r);
        free(r.frame);
        if (drop)
            return;
    }
}

START_TEST(read_is_retried_after_reconnect)
{
    struct fake f;
    qmgr_queue *q;
    uint64_t n = 0;
    fake_start(&f, script_drop_once, 2);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_set_reconnect(c, 5, 10), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(atomic_load(&f.requests[1]), 1);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(put_is_never_repeated)
{
    struct fake f;
    qmgr_queue *q;
    fake_start(&f, script_drop_once, 2);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_set_reconnect(c, 5, 10), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_open(c, "line_queue", &q), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "item", 4, QMGR_FOREVER), QMGR_ECONN);
    ck_assert_int_eq(atomic_load(&f.puts), 1);
    /* The next call reconnects. */
    ck_assert_int_eq(qmgr_queue_put(q, "item", 4, QMGR_FOREVER), QMGR_OK);
    ck_assert_int_eq(atomic_load(&f.puts), 2);
    qmgr_queue_close(q);
    qmgr_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(reconnect_gives_up)
{
    struct fake f;
    fake_start(&f, script_drop_once, 1);
    qmgr_conn *c = connect_to(&f);
    ck_assert_int_eq(qmgr_set_reconnect(c, 3, 10), QMGR_OK);
    double t0 = clock_now();
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    fake_stop(&f); /* nobody listens any more */
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    double took = clock_now() - t0;
    ck_assert_msg(took >= 0.03 && took < 5 * timeout_scale(), "backoff took %f s", took);
    qmgr_close(c);
}
END_TEST

/* ---- values, with no daemon ---- */

START_TEST(parse_every_type)
{
    static const uint8_t list[] = {
        0x9b, 0x01, 0xfe, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, /* 1, -2, 2.5 */
        0xa1, 's', 0xc4, 0x02, 0x00, 0x01, 0xc0, 0xc3,       /* "s", bin, nil, true */
        0x91, 0x01, 0x81, 0xa1, 'a', 0x01,                   /* [1], {"a": 1} */
        0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 2^64 - 1 */
        0xd4, 0x05, 0x07,                                    /* ext 5 */
    };
    static const qmgr_type types[] = {QMGR_INT, QMGR_INT, QMGR_FLOAT, QMGR_STR, QMGR_BIN, QMGR_NIL,
                                      QMGR_BOOL, QMGR_ARRAY, QMGR_MAP, QMGR_UINT, QMGR_EXT};
    qmgr_items items;
    qmgr_map m;
    ck_assert_int_eq(qmgr_items_parse(list, sizeof list, &items), QMGR_OK);
    ck_assert_uint_eq(items.count, 11);
    for (size_t i = 0; i < items.count; i++)
        ck_assert_int_eq(items.item[i].type, types[i]);
    ck_assert_int_eq(items.item[1].i, -2);
    ck_assert_double_eq(items.item[2].f, 2.5);
    ck_assert_uint_eq(items.item[4].len, 2);
    ck_assert_int_eq(items.item[6].i, 1);
    ck_assert_uint_eq(items.item[7].len, 1);
    ck_assert_uint_eq(items.item[9].u, UINT64_MAX);
    ck_assert_uint_eq(items.item[10].rawlen, 3);
    ck_assert_int_eq(qmgr_map_parse(items.item[8].raw, items.item[8].rawlen, &m), QMGR_OK);
    ck_assert_int_eq(qmgr_map_find(&m, "a")->i, 1);
    ck_assert_ptr_null(qmgr_map_find(&m, "b"));
    ck_assert_ptr_null(qmgr_map_find(&m, ""));
    qmgr_map_free(&m);
    qmgr_items_free(&items);
    qmgr_items_free(&items); /* zeroed: harmless */
    qmgr_items_free(NULL);
    qmgr_map_free(NULL);
}
END_TEST

START_TEST(parse_refuses_malformed)
{
    static const uint8_t not_array[] = {0x01};
    static const uint8_t cut[] = {0x92, 0x01};
    static const uint8_t trailing[] = {0x91, 0x01, 0x02};
    static const uint8_t int_key[] = {0x81, 0x01, 0x02};
    static const uint8_t bomb[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bad_byte[] = {0x91, 0xc1};
    qmgr_items items;
    qmgr_map m;
    ck_assert_int_eq(qmgr_items_parse(not_array, sizeof not_array, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_items_parse(cut, sizeof cut, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_items_parse(trailing, sizeof trailing, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_items_parse(bomb, sizeof bomb, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_items_parse(bad_byte, sizeof bad_byte, &items), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_items_parse(NULL, 0, &items), QMGR_EINVAL);
    ck_assert_uint_eq(items.count, 0);
    ck_assert_int_eq(qmgr_map_parse(int_key, sizeof int_key, &m), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_map_parse(cut, sizeof cut, &m), QMGR_EINVAL);
    ck_assert_uint_eq(m.count, 0);
}
END_TEST

START_TEST(strerror_names_every_code)
{
    for (int code = QMGR_ESHUTDOWN; code <= QMGR_OK; code++)
        ck_assert_str_ne(qmgr_strerror(code), "unknown error code");
    static const int client[] = {QMGR_ECONN, QMGR_EAUTH, QMGR_EPROTO, QMGR_EINVAL, QMGR_ECLIENTMEM};
    for (size_t i = 0; i < sizeof client / sizeof client[0]; i++)
        for (size_t j = i + 1; j < sizeof client / sizeof client[0]; j++)
            ck_assert_str_ne(qmgr_strerror(client[i]), qmgr_strerror(client[j]));
    ck_assert_str_eq(qmgr_strerror(QMGR_ENOMEM), "max_memory would be exceeded");
    ck_assert_str_eq(qmgr_strerror(QMGR_ECLIENTMEM), "out of memory in the client");
    ck_assert_str_eq(qmgr_strerror(12345), "unknown error code");
    ck_assert_int_eq(qmgr_ping(NULL), QMGR_EINVAL);
    qmgr_close(NULL);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tv = tcase_create("values");
    tcase_add_test(tv, parse_every_type);
    tcase_add_test(tv, parse_refuses_malformed);
    tcase_add_test(tv, strerror_names_every_code);
    suite_add_tcase(s, tv);

    TCase *tc = tcase_create("handshake");
    tcase_add_test(tc, connect_and_ping);
    tcase_add_test(tc, wrong_key_is_eauth);
    tcase_add_test(tc, server_without_key_is_eauth);
    tcase_add_test(tc, garbage_challenge_is_eproto);
    tcase_add_test(tc, oversized_preauth_frame_is_eproto);
    tcase_add_test(tc, close_in_handshake_is_econn);
    tcase_add_test(tc, silent_server_times_out);
    tcase_add_test(tc, nobody_listening_is_econn);
    tcase_add_test(tc, bad_addresses_are_einval);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_loop_test(tc, hostile_frame_is_refused, 0,
                        sizeof hostile_frames / sizeof hostile_frames[0]);
    tcase_add_loop_test(tc, malformed_stats_is_eproto, 0, sizeof bad_stats / sizeof bad_stats[0]);
    tcase_add_loop_test(tc, malformed_count_is_eproto, 0, sizeof bad_qsize / sizeof bad_qsize[0]);
    tcase_add_loop_test(tc, malformed_queue_stat_is_eproto, 0,
                        sizeof bad_queue_stat / sizeof bad_queue_stat[0]);
    tcase_add_test(tc, unknown_fields_and_missing_ones_are_fine);
    suite_add_tcase(s, tc);

    tc = tcase_create("calls");
    tcase_add_test(tc, lookup_errors);
    tcase_add_test(tc, bad_arguments_are_einval);
    tcase_add_test(tc, big_item_arrives_whole);
    tcase_add_test(tc, many_items_in_one_reply);
    suite_add_tcase(s, tc);

    tc = tcase_create("pipeline");
    tcase_add_test(tc, replies_out_of_order_are_matched);
    tcase_add_test(tc, lost_connection_fails_every_request);
    tcase_add_test(tc, no_reply_within_io_timeout_is_econn);
    tcase_add_test(tc, request_timeout_extends_the_wait);
    tcase_add_test(tc, reply_outlives_its_connection);
    suite_add_tcase(s, tc);

    tc = tcase_create("reconnect");
    tcase_add_test(tc, read_is_retried_after_reconnect);
    tcase_add_test(tc, put_is_never_repeated);
    tcase_add_test(tc, reconnect_gives_up);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
