/*
 * The state is a function of its inputs: two independent states driven by
 * one sequence of inputs (requests, parked gets and puts, a timeout, a
 * closed session with leases, backpressure) reach the same objects, leases
 * and parked requests, and give the same replies, byte for byte. A third
 * state given one input at another time ends elsewhere, so the comparison
 * can fail.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "server/state.h"

enum { A, B, C, SESSIONS };

struct world {
    struct state st;
    struct session s[SESSIONS];
    int timers; /* started, as the program around the state would */
};

static struct config config;

static void no_reply(struct session *s)
{
    (void)s;
}

static bool count_timer(struct state *st, struct waiter *w, double timeout)
{
    (void)w;
    (void)timeout;
    ((struct world *)st->env_ctx)->timers++;
    return true;
}

static void no_timer_stop(struct waiter *w)
{
    (void)w;
}

static const struct state_env env = {no_reply, count_timer, no_timer_stop};

static void world_init(struct world *w)
{
    static const struct object_config objs[] = {
        {.name = "jobs", .type = OBJECT_QUEUE, .accessor = "get_jobs", .maxsize = 2,
         .redeliver = true},
        {.name = "plain", .type = OBJECT_QUEUE, .accessor = "get_plain"},
        {.name = "counts", .type = OBJECT_BUF, .accessor = "get_counts"},
    };
    if (!config.listen)
        config_init(&config);
    memset(w, 0, sizeof *w);
    state_init(&w->st, &config, &env, w);
    ck_assert(registry_apply(&w->st.registry, objs, 3));
    for (int i = 0; i < SESSIONS; i++)
        ck_assert(session_init(&w->s[i], &w->st, 10 + (uint64_t)i));
}

static void world_free(struct world *w)
{
    for (int i = 0; i < SESSIONS; i++) {
        input_close(&w->s[i], 100);
        session_free(&w->s[i]);
    }
    state_free(&w->st);
}

/* One request, built as a client would send it. */
struct request {
    struct bytes frame;
    msgpack_packer pk;
};

static msgpack_packer *request_begin(struct request *r, uint32_t msgid, const char *method,
                                     uint32_t nparams)
{
    memset(r, 0, sizeof *r);
    rpc_packer_init(&r->pk, &r->frame);
    rpc_pack_request_head(&r->pk, msgid, method, nparams);
    return &r->pk;
}

static void request_send(struct request *r, struct world *worlds, int nworlds, int who,
                         double now)
{
    struct rpc_request req;
    enum rpc_kind kind;
    const char *why;
    ck_assert(!r->frame.failed);
    ck_assert_msg(rpc_decode_request(r->frame.data, r->frame.len, &req, &kind, &why), "%s", why);
    for (int i = 0; i < nworlds; i++)
        input_request(&worlds[i].s[who], &req, now);
    bytes_free(&r->frame);
}

static void put_many(struct world *w, int n, int who, uint32_t msgid, const char *queue,
                     const int *items, uint32_t count, double timeout, double now)
{
    struct request r;
    msgpack_packer *pk = request_begin(&r, msgid, "queue.put_many", 3);
    rpc_pack_cstr(pk, queue);
    msgpack_pack_array(pk, count);
    for (uint32_t i = 0; i < count; i++)
        msgpack_pack_int(pk, items[i]);
    msgpack_pack_double(pk, timeout);
    request_send(&r, w, n, who, now);
}

static void get(struct world *w, int n, int who, uint32_t msgid, const char *method,
                const char *queue, uint32_t max, double timeout, double now)
{
    struct request r;
    bool many = strcmp(method, "queue.get_many") == 0;
    msgpack_packer *pk = request_begin(&r, msgid, method, many ? 3 : 2);
    rpc_pack_cstr(pk, queue);
    if (many)
        msgpack_pack_uint32(pk, max);
    msgpack_pack_double(pk, timeout);
    request_send(&r, w, n, who, now);
}

static void call_queue_count(struct world *w, int n, int who, uint32_t msgid, const char *method,
                             const char *queue, uint64_t count, double now)
{
    struct request r;
    msgpack_packer *pk = request_begin(&r, msgid, method, 2);
    rpc_pack_cstr(pk, queue);
    if (strcmp(method, "queue.join") == 0)
        msgpack_pack_double(pk, (double)count);
    else
        msgpack_pack_uint64(pk, count);
    request_send(&r, w, n, who, now);
}

static void send_incr(struct world *w, int n, int who, uint32_t msgid, const char *key,
                     double delta, double now)
{
    struct request r;
    msgpack_packer *pk = request_begin(&r, msgid, "buf.incr", 3);
    rpc_pack_cstr(pk, "counts");
    rpc_pack_cstr(pk, key);
    msgpack_pack_double(pk, delta);
    request_send(&r, w, n, who, now);
}

static void send_update(struct world *w, int n, int who, uint32_t msgid, double now)
{
    struct request r;
    msgpack_packer *pk = request_begin(&r, msgid, "buf.update", 2);
    rpc_pack_cstr(pk, "counts");
    msgpack_pack_map(pk, 2);
    rpc_pack_cstr(pk, "x");
    msgpack_pack_int(pk, 1);
    rpc_pack_cstr(pk, "y");
    msgpack_pack_int(pk, 3);
    request_send(&r, w, n, who, now);
}

/* The id of who's oldest parked request (the same in every world). */
static uint64_t oldest_waiter(const struct world *w, int who)
{
    const struct waiter *first = TAILQ_FIRST(&w->s[who].waiters);
    ck_assert_ptr_nonnull(first);
    return first->id;
}

/*
 * The sequence, on nworlds worlds at once; late_timeout moves the
 * timeout of C's parked get after the put that would have served it.
 */
static void drive(struct world *w, int n, bool late_timeout)
{
    const int four[] = {1, 2, 3, 4}, one[] = {9};
    get(w, n, B, 1, "queue.get", "jobs", 1, 5, 1.0);      /* parks */
    get(w, n, C, 1, "queue.get", "plain", 1, 2, 1.1);     /* parks, times out below */
    put_many(w, n, A, 1, "jobs", four, 4, 10, 1.2); /* B gets 1, 2 queued, 3 and 4 park */
    call_queue_count(w, n, A, 2, "queue.join", "jobs", 30, 1.3); /* parks */
    get(w, n, B, 2, "queue.get_many", "jobs", 2, 0, 1.4); /* 2; then 3 and 4 go in */
    if (!late_timeout)
        for (int i = 0; i < n; i++)
            input_expire(&w[i].s[C], oldest_waiter(&w[i], C), 3.1);
    put_many(w, n, A, 3, "plain", one, 1, 0, 3.2);
    if (late_timeout)
        for (int i = 0; i < n; i++)
            if (!TAILQ_EMPTY(&w[i].s[C].waiters))
                input_expire(&w[i].s[C], oldest_waiter(&w[i], C), 3.3);
    send_incr(w, n, B, 3, "x", 0.5, 3.4);
    send_update(w, n, A, 4, 3.5);
    get(w, n, C, 2, "queue.get_many", "jobs", 10, 0, 3.6); /* 3 and 4 */
    for (int i = 0; i < n; i++)
        input_suspend(&w[i].s[C], 3.7);
    get(w, n, C, 3, "queue.get", "jobs", 1, 5, 3.8); /* parks, out of line */
    for (int i = 0; i < n; i++)
        input_close(&w[i].s[B], 3.9); /* 1 and 2 go back to the head, undelivered */
    for (int i = 0; i < n; i++)
        input_resume(&w[i].s[C], 4.0); /* C now gets 1: a redelivery */
    get(w, n, C, 4, "queue.get_many", "jobs", 10, 0, 4.1); /* 2 */
    call_queue_count(w, n, C, 5, "queue.task_done", "jobs", 4, 4.2); /* join answered */
}

static bool append_encoded(void *ctx, const struct record *r)
{
    msgpack_packer *pk = ctx;
    record_encode(pk, r);
    return true;
}

/* Everything the state holds that a snapshot can tell, and its counters. */
static void dump_state(const struct world *w, struct bytes *out)
{
    msgpack_packer pk;
    rpc_packer_init(&pk, out);
    ck_assert(state_snapshot(&w->st, append_encoded, &pk));
    for (const struct object *o = w->st.registry.by_name; o; o = o->hh.next) {
        if (o->type != OBJECT_QUEUE)
            continue;
        const struct queue *q = o->u.queue;
        uint64_t counters[] = {q->leased, q->ngetters, q->nputters, q->nsuspended};
        bytes_append(out, counters, sizeof counters);
    }
    bytes_append(out, &w->st.memory.used, sizeof w->st.memory.used);
    ck_assert(!out->failed);
}

static bool same_bytes(const struct bytes *a, const struct bytes *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static bool replies_contain_error(const struct session *s, int code)
{
    size_t off = 0;
    while (off + 4 <= s->out.len) {
        size_t len = (size_t)s->out.data[off] << 24 | (size_t)s->out.data[off + 1] << 16 |
                     (size_t)s->out.data[off + 2] << 8 | s->out.data[off + 3];
        struct rpc_response resp;
        const char *why;
        ck_assert(rpc_decode_response(s->out.data + off + 4, len, &resp, &why));
        if (resp.error_code == code)
            return true;
        off += 4 + len;
    }
    return false;
}

START_TEST(same_inputs_same_state_and_replies)
{
    struct world w[2];
    world_init(&w[0]);
    world_init(&w[1]);
    drive(w, 2, false);

    struct bytes d0 = {0}, d1 = {0};
    dump_state(&w[0], &d0);
    dump_state(&w[1], &d1);
    ck_assert(same_bytes(&d0, &d1));
    for (int i = 0; i < SESSIONS; i++) {
        ck_assert_uint_gt(w[0].s[i].out.len, 0);
        ck_assert_msg(same_bytes(&w[0].s[i].out, &w[1].s[i].out), "replies of session %d", i);
    }
    /* The sequence did what it says. */
    const struct queue *jobs = registry_find(&w[0].st.registry, "jobs", 4)->u.queue;
    ck_assert_uint_eq(jobs->puts, 4);
    ck_assert_uint_eq(jobs->redelivered, 2);
    ck_assert_uint_eq(jobs->unfinished, 0);
    ck_assert(TAILQ_EMPTY(&jobs->joiners));
    ck_assert(replies_contain_error(&w[0].s[C], PROTO_EEMPTY)); /* the timeout */
    ck_assert_int_eq(w[0].timers, w[1].timers);
    ck_assert_int_eq(w[0].timers, 5);

    bytes_free(&d0);
    bytes_free(&d1);
    world_free(&w[0]);
    world_free(&w[1]);
}
END_TEST

START_TEST(an_input_at_another_time_ends_elsewhere)
{
    struct world w[2];
    world_init(&w[0]);
    world_init(&w[1]);
    drive(&w[0], 1, false);
    drive(&w[1], 1, true);
    struct bytes d0 = {0}, d1 = {0};
    dump_state(&w[0], &d0);
    dump_state(&w[1], &d1);
    /* Served before its timeout, C's get took the item the other world kept. */
    ck_assert(!same_bytes(&d0, &d1));
    ck_assert(!same_bytes(&w[0].s[C].out, &w[1].s[C].out));
    bytes_free(&d0);
    bytes_free(&d1);
    world_free(&w[0]);
    world_free(&w[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("determinism");
    TCase *tc = tcase_create("replicas");
    tcase_add_test(tc, same_inputs_same_state_and_replies);
    tcase_add_test(tc, an_input_at_another_time_ends_elsewhere);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
