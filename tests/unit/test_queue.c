/* Queue semantics of docs/protocol.md, with hooks that record what the server would answer. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "server/block.h"
#include "server/objects.h"

/* What the fake server saw: getters served (with the items they took), putters and joiners done. */
struct seen {
    int getters_served;
    int putters_done;
    int joiners_done;
    uint8_t taken[64];
    int ntaken;
    struct lease_owner *leases; /* where getters' leases go */
};
static struct seen rec;

static void sink(void *ctx, const uint8_t *item, size_t len, struct block *block)
{
    (void)ctx;
    ck_assert_ptr_null(block);
    ck_assert_uint_eq(len, 1); /* positive fixints only in these tests */
    rec.taken[rec.ntaken++] = item[0];
}

static void on_getter_ready(struct waiter *w)
{
    rec.getters_served++;
    queue_take(w->queue, w->many ? w->max_items : 1, rec.leases, sink, NULL);
}

/* What the state does for a parked putter (waiting.c), without records. */
static enum feed_result on_putter_ready(struct waiter *w)
{
    struct queue *q = w->queue;
    bool moved = false;
    while (w->pending_off < w->pending.len && queue_has_room(q)) {
        uint8_t item = w->pending.data[w->pending_off];
        q->memory->used -= 1; /* counted while parked */
        ck_assert_int_eq(queue_put(q, &item, 1, NULL), PROTO_OK);
        w->pending_off++;
        w->put_done++;
        moved = true;
    }
    if (!moved)
        return FEED_NONE;
    if (w->pending_off < w->pending.len)
        return FEED_SOME;
    queue_unpark(w);
    rec.putters_done++;
    return FEED_ALL;
}

static void on_joiner_done(struct waiter *w)
{
    (void)w;
    rec.joiners_done++;
}

static const struct queue_hooks hooks = {on_getter_ready, on_putter_ready, on_joiner_done};
static struct memory memory;

/* Returns owner's leases and serves the queues they went back to. */
static void return_leases(struct lease_owner *owner)
{
    struct queue_set touched;
    queue_set_init(&touched);
    queue_return_leases(owner, &touched);
    queue_set_serve(&touched);
}

static struct queue *make_queue(uint64_t maxsize, bool redeliver)
{
    memset(&rec, 0, sizeof rec);
    memory.used = 0;
    memory.max = 1 << 20;
    return queue_new("q", maxsize, redeliver, &memory, &hooks);
}

static void put_fixint(struct queue *q, uint8_t v)
{
    ck_assert_int_eq(queue_put(q, &v, 1, NULL), PROTO_OK);
}

static uint8_t take_one(struct queue *q, struct lease_owner *leases)
{
    int before = rec.ntaken;
    ck_assert(queue_take(q, 1, leases, sink, NULL));
    ck_assert_int_eq(rec.ntaken, before + 1);
    return rec.taken[before];
}

START_TEST(fifo_and_counts)
{
    struct queue *q = make_queue(0, false);
    for (uint8_t i = 1; i <= 5; i++)
        put_fixint(q, i);
    ck_assert_uint_eq(q->items.count, 5);
    ck_assert_uint_eq(q->unfinished, 5);
    ck_assert_uint_eq(take_one(q, NULL), 1);
    int before = rec.ntaken;
    ck_assert(queue_take(q, 10, NULL, sink, NULL));
    ck_assert_int_eq(rec.ntaken - before, 4);
    ck_assert_uint_eq(q->puts, 5);
    ck_assert_uint_eq(q->gets, 5);
    ck_assert_uint_eq(memory.used, 0);
    queue_free(q);
}
END_TEST

START_TEST(bounded_has_room)
{
    struct queue *q = make_queue(2, false);
    ck_assert(queue_has_room(q));
    put_fixint(q, 1);
    put_fixint(q, 2);
    ck_assert(!queue_has_room(q));
    take_one(q, NULL);
    ck_assert(queue_has_room(q));
    queue_free(q);
}
END_TEST

START_TEST(task_done_and_purge)
{
    struct queue *q = make_queue(0, false);
    put_fixint(q, 1);
    put_fixint(q, 2);
    ck_assert_int_eq(queue_task_done(q, 3, NULL), PROTO_EVALUE);
    ck_assert_uint_eq(q->unfinished, 2);
    ck_assert_int_eq(queue_task_done(q, 1, NULL), PROTO_OK);
    ck_assert_uint_eq(q->unfinished, 1);
    put_fixint(q, 3);
    ck_assert_uint_eq(queue_purge(q), 3);
    ck_assert_uint_eq(q->items.count, 0);
    ck_assert_uint_eq(q->unfinished, 0);
    queue_free(q);
}
END_TEST

START_TEST(getters_served_in_arrival_order)
{
    struct queue *q = make_queue(0, false);
    struct waiter g1 = {.kind = WAIT_GET}, g2 = {.kind = WAIT_GET, .many = true, .max_items = 5};
    queue_park(q, &g1);
    queue_park(q, &g2);
    ck_assert_uint_eq(q->ngetters, 2);
    put_fixint(q, 7);
    put_fixint(q, 8);
    put_fixint(q, 9);
    queue_serve(q);
    /* g1 takes 7; g2 (get_many of 5) takes what is left. */
    ck_assert_int_eq(rec.getters_served, 2);
    ck_assert_int_eq(rec.ntaken, 3);
    ck_assert_uint_eq(rec.taken[0], 7);
    ck_assert_uint_eq(rec.taken[1], 8);
    ck_assert_uint_eq(rec.taken[2], 9);
    ck_assert_uint_eq(q->ngetters, 0);
    queue_free(q);
}
END_TEST

START_TEST(unparked_getter_is_not_served)
{
    struct queue *q = make_queue(0, false);
    struct waiter g1 = {.kind = WAIT_GET}, g2 = {.kind = WAIT_GET};
    queue_park(q, &g1);
    queue_park(q, &g2);
    queue_unpark(&g1); /* its client went away */
    put_fixint(q, 4);
    queue_serve(q);
    ck_assert_int_eq(rec.getters_served, 1);
    ck_assert_uint_eq(q->ngetters, 0);
    ck_assert_uint_eq(q->items.count, 0);
    queue_free(q);
}
END_TEST

static void park_putter(struct queue *q, struct waiter *w, const uint8_t *items, size_t n)
{
    memset(w, 0, sizeof *w);
    w->kind = WAIT_PUT;
    w->many = n > 1;
    ck_assert(bytes_append(&w->pending, items, n));
    queue_park(q, w);
}

START_TEST(putters_fill_room_in_order)
{
    struct queue *q = make_queue(1, false);
    put_fixint(q, 1);
    struct waiter p1, p2;
    const uint8_t a[] = {2, 3}, b[] = {4};
    park_putter(q, &p1, a, sizeof a);
    park_putter(q, &p2, b, sizeof b);
    ck_assert_uint_eq(q->nputters, 2);
    ck_assert_uint_eq(memory.used, 4);
    take_one(q, NULL); /* room for one: p1's first item */
    queue_serve(q);
    ck_assert_uint_eq(p1.put_done, 1);
    ck_assert_int_eq(rec.putters_done, 0);
    ck_assert_uint_eq(take_one(q, NULL), 2);
    queue_serve(q);
    ck_assert_int_eq(rec.putters_done, 1); /* p1 finished with 3 */
    ck_assert_uint_eq(take_one(q, NULL), 3);
    queue_serve(q);
    ck_assert_int_eq(rec.putters_done, 2);
    ck_assert_uint_eq(take_one(q, NULL), 4);
    ck_assert_uint_eq(q->nputters, 0);
    ck_assert_uint_eq(q->unfinished, 4);
    ck_assert_uint_eq(memory.used, 0);
    bytes_free(&p1.pending);
    bytes_free(&p2.pending);
    queue_free(q);
}
END_TEST

START_TEST(join_released_at_zero)
{
    struct queue *q = make_queue(0, false);
    put_fixint(q, 1);
    put_fixint(q, 2);
    struct waiter j = {.kind = WAIT_JOIN};
    queue_park(q, &j);
    take_one(q, NULL);
    take_one(q, NULL);
    ck_assert_int_eq(queue_task_done(q, 1, NULL), PROTO_OK);
    queue_serve(q);
    ck_assert_int_eq(rec.joiners_done, 0);
    ck_assert_int_eq(queue_task_done(q, 1, NULL), PROTO_OK);
    queue_serve(q);
    ck_assert_int_eq(rec.joiners_done, 1);
    queue_free(q);
}
END_TEST

START_TEST(leases_return_to_head_in_order)
{
    struct queue *q = make_queue(0, true);
    struct lease_owner leases;
    lease_owner_init(&leases, 1);
    for (uint8_t i = 1; i <= 4; i++)
        put_fixint(q, i);
    take_one(q, &leases);
    take_one(q, &leases);
    take_one(q, &leases);
    ck_assert_uint_eq(q->leased, 3);
    /* task_done settles the oldest lease (item 1). */
    ck_assert_int_eq(queue_task_done(q, 1, &leases), PROTO_OK);
    ck_assert_uint_eq(q->leased, 2);
    return_leases(&leases);
    ck_assert(TAILQ_EMPTY(&leases.groups));
    ck_assert_uint_eq(q->redelivered, 2);
    ck_assert_uint_eq(q->items.count, 3);
    ck_assert_uint_eq(take_one(q, NULL), 2);
    ck_assert_uint_eq(take_one(q, NULL), 3);
    ck_assert_uint_eq(take_one(q, NULL), 4);
    ck_assert_uint_eq(q->unfinished, 3);
    queue_free(q);
}
END_TEST

/* What a sink saw of an item kept in a block: its first byte and block. */
struct block_seen {
    uint8_t first[8];
    struct block *block[8];
    int n;
};

static void block_sink(void *ctx, const uint8_t *item, size_t len, struct block *block)
{
    struct block_seen *seen = ctx;
    ck_assert_uint_gt(len, 0);
    seen->first[seen->n] = item[0];
    seen->block[seen->n++] = block;
}

/* A block holding the fixints of values, which are its items. */
static struct block *fixint_block(const uint8_t *values, size_t n)
{
    uint8_t *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    memcpy(data, values, n);
    struct block *b = block_adopt(data, n);
    ck_assert_ptr_nonnull(b);
    return b;
}

START_TEST(items_in_a_block_are_leased_and_returned_by_reference)
{
    struct queue *q = make_queue(0, true);
    struct lease_owner leases;
    lease_owner_init(&leases, 1);
    /* Two fixints in one block (1, 2), and a copied one (3). */
    static const uint8_t values[] = {1, 2};
    struct block *b = fixint_block(values, 2);
    ck_assert_int_eq(queue_put(q, b->data, 1, b), PROTO_OK);
    ck_assert_int_eq(queue_put(q, b->data + 1, 1, b), PROTO_OK);
    put_fixint(q, 3);
    ck_assert_uint_eq(b->refs, 3);
    ck_assert_uint_eq(memory.used, 3);

    struct block_seen seen = {0};
    ck_assert(queue_take(q, 3, &leases, block_sink, &seen));
    ck_assert_int_eq(seen.n, 3);
    ck_assert(seen.first[0] == 1 && seen.block[0] == b);
    ck_assert(seen.first[1] == 2 && seen.block[1] == b);
    ck_assert(seen.first[2] == 3 && seen.block[2] == NULL);
    ck_assert_uint_eq(b->refs, 3); /* the queue's references became the leases' */

    return_leases(&leases);
    ck_assert_uint_eq(q->redelivered, 3);
    ck_assert_uint_eq(b->refs, 3);
    seen.n = 0;
    ck_assert(queue_take(q, 3, &leases, block_sink, &seen));
    ck_assert(seen.first[0] == 1 && seen.block[0] == b);
    ck_assert(seen.first[1] == 2 && seen.block[1] == b);
    ck_assert(seen.first[2] == 3 && seen.block[2] == NULL);

    ck_assert_int_eq(queue_task_done(q, 2, &leases), PROTO_OK);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_int_eq(queue_task_done(q, 1, &leases), PROTO_OK);
    ck_assert_uint_eq(memory.used, 0);
    block_unref(b);
    queue_free(q);
}
END_TEST

static void *refuse_allocation(size_t size)
{
    (void)size;
    return NULL;
}

/* A dead worker's items are never lost for want of memory: with no
 * segment to be had, each returned lease's own allocation holds its item. */
START_TEST(leases_return_when_nothing_can_be_allocated)
{
    struct queue *q = make_queue(0, true);
    struct lease_owner leases;
    lease_owner_init(&leases, 1);
    static const uint8_t values[] = {1};
    struct block *b = fixint_block(values, 1);
    ck_assert_int_eq(queue_put(q, b->data, 1, b), PROTO_OK);
    put_fixint(q, 2);
    struct block_seen seen = {0};
    ck_assert(queue_take(q, 2, &leases, block_sink, &seen));
    put_fixint(q, 3); /* the head segment, full at its front */
    uint64_t used = memory.used;

    itemq_malloc = refuse_allocation;
    return_leases(&leases);
    itemq_malloc = malloc;
    ck_assert_uint_eq(q->redelivered, 2);
    ck_assert_uint_eq(q->items.count, 3);
    ck_assert_uint_eq(memory.used, used - 2 * LEASE_OVERHEAD);
    ck_assert_uint_eq(b->refs, 2);
    seen.n = 0;
    ck_assert(queue_take(q, 3, NULL, block_sink, &seen));
    ck_assert(seen.first[0] == 1 && seen.block[0] == b);
    ck_assert(seen.first[1] == 2 && seen.block[1] == NULL);
    ck_assert(seen.first[2] == 3 && seen.block[2] == NULL);
    ck_assert_uint_eq(b->refs, 1);
    block_unref(b);
    queue_free(q);
}
END_TEST

START_TEST(purge_drops_the_references_of_a_block)
{
    struct queue *q = make_queue(0, false);
    static const uint8_t nine = 9;
    struct block *b = fixint_block(&nine, 1);
    ck_assert_int_eq(queue_put(q, b->data, 1, b), PROTO_OK);
    ck_assert_int_eq(queue_put(q, b->data, 1, b), PROTO_OK);
    ck_assert_uint_eq(b->refs, 3);
    ck_assert_uint_eq(queue_purge(q), 2);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(memory.used, 0);
    block_unref(b);
    queue_free(q);
}
END_TEST

START_TEST(task_done_cannot_settle_another_owners_lease)
{
    struct queue *q = make_queue(0, true);
    struct lease_owner holder, other;
    lease_owner_init(&holder, 1);
    lease_owner_init(&other, 2);
    put_fixint(q, 1);
    put_fixint(q, 2);
    take_one(q, &holder);
    /* One item is queued, one is out with holder: other may mark one done
     * (the queued one, as Python allows), not two. */
    ck_assert_int_eq(queue_task_done(q, 2, &other), PROTO_EVALUE);
    ck_assert_int_eq(queue_task_done(q, 1, &other), PROTO_OK);
    ck_assert_int_eq(queue_task_done(q, 1, &other), PROTO_EVALUE);
    ck_assert_uint_eq(q->unfinished, 1);
    ck_assert_int_eq(queue_task_done(q, 1, &holder), PROTO_OK);
    ck_assert_uint_eq(q->unfinished, 0);
    ck_assert_uint_eq(q->leased, 0);
    queue_free(q);
}
END_TEST

START_TEST(returned_leases_reach_parked_getter_oldest_first)
{
    struct queue *q = make_queue(0, true);
    struct lease_owner mine, theirs;
    lease_owner_init(&mine, 1);
    lease_owner_init(&theirs, 2);
    put_fixint(q, 1);
    put_fixint(q, 2);
    take_one(q, &mine);
    take_one(q, &mine);
    struct waiter g = {.kind = WAIT_GET};
    rec.leases = &theirs;
    queue_park(q, &g);
    return_leases(&mine);
    ck_assert_int_eq(rec.getters_served, 1);
    ck_assert_uint_eq(rec.taken[rec.ntaken - 1], 1);
    ck_assert_uint_eq(q->items.count, 1);
    return_leases(&theirs);
    queue_free(q);
}
END_TEST

START_TEST(put_refused_over_max_memory)
{
    struct queue *q = make_queue(0, false);
    memory.max = 2;
    put_fixint(q, 1);
    put_fixint(q, 2);
    uint8_t v = 3;
    ck_assert_int_eq(queue_put(q, &v, 1, NULL), PROTO_ENOMEM);
    ck_assert_uint_eq(q->items.count, 2);
    ck_assert_uint_eq(memory.used, 2);
    take_one(q, NULL);
    ck_assert_int_eq(queue_put(q, &v, 1, NULL), PROTO_OK);
    queue_free(q);
    ck_assert_uint_eq(memory.used, 0);
}
END_TEST

START_TEST(leases_are_settled_per_queue_and_counted)
{
    struct queue *a = make_queue(0, true);
    struct queue *b = queue_new("b", 0, true, &memory, &hooks);
    struct lease_owner owner;
    lease_owner_init(&owner, 1);
    for (uint8_t i = 1; i <= 3; i++) {
        put_fixint(a, i);
        put_fixint(b, (uint8_t)(10 + i));
    }
    take_one(a, &owner);
    take_one(b, &owner);
    take_one(a, &owner);
    take_one(b, &owner);
    ck_assert_uint_eq(queue_leases_held(a, &owner), 2);
    ck_assert_uint_eq(queue_leases_held(b, &owner), 2);
    /* Items stay counted while leased, and so does each lease's bookkeeping
     * (and the group of the second queue). */
    ck_assert_uint_ge(memory.used, 6 + 4 * LEASE_OVERHEAD);
    ck_assert_int_eq(queue_task_done(b, 2, &owner), PROTO_OK);
    ck_assert_uint_eq(queue_leases_held(b, &owner), 0);
    ck_assert_uint_eq(queue_leases_held(a, &owner), 2);
    ck_assert_uint_eq(b->leased, 0);
    ck_assert_int_eq(queue_task_done(a, 2, &owner), PROTO_OK);
    ck_assert(TAILQ_EMPTY(&owner.groups));
    /* Only the queued items are left. */
    ck_assert_uint_eq(memory.used, 2);
    queue_free(b);
    queue_free(a);
    ck_assert_uint_eq(memory.used, 0);
}
END_TEST

START_TEST(suspended_getter_is_skipped_and_rejoins_at_the_back)
{
    struct queue *q = make_queue(0, false);
    struct waiter first = {.kind = WAIT_GET}, second = {.kind = WAIT_GET};
    queue_park(q, &first);
    queue_park(q, &second);
    queue_suspend_getter(&first);
    ck_assert_uint_eq(q->ngetters, 1);
    ck_assert_uint_eq(q->nsuspended, 1);
    put_fixint(q, 7);
    queue_serve(q);
    ck_assert_int_eq(rec.getters_served, 1);
    ck_assert(first.suspended);
    queue_resume_getter(&first);
    ck_assert_uint_eq(q->nsuspended, 0);
    put_fixint(q, 8);
    queue_serve(q);
    ck_assert_int_eq(rec.getters_served, 2);
    ck_assert_uint_eq(rec.taken[1], 8);
    queue_free(q);
}
END_TEST

START_TEST(count_fitting_bounds_a_reply_but_takes_one)
{
    struct queue *q = make_queue(0, false);
    for (uint8_t i = 1; i <= 10; i++)
        put_fixint(q, i);
    ck_assert_uint_eq(queue_count_fitting(q, 100, 1000), 10);
    ck_assert_uint_eq(queue_count_fitting(q, 4, 1000), 4);
    ck_assert_uint_eq(queue_count_fitting(q, 100, 3), 3);
    ck_assert_uint_eq(queue_count_fitting(q, 100, 0), 1);
    ck_assert_uint_eq(queue_head_bytes(q, 4, 100), 4);
    ck_assert_uint_eq(queue_head_bytes(q, 100, 0), 10);
    ck_assert_uint_le(queue_head_bytes(q, 9, 2), 4);
    queue_free(q);
}
END_TEST

/* registry_find remembers the last object found; an object a reload drops
 * must not be found through that memory. */
START_TEST(registry_forgets_a_dropped_object)
{
    struct memory mem = {.max = 1 << 20};
    struct registry r;
    registry_init(&r, &mem, &hooks);
    const struct object_config both[] = {
        {.name = (char *)"a", .type = OBJECT_QUEUE, .accessor = (char *)"get_a"},
        {.name = (char *)"b", .type = OBJECT_BUF, .accessor = (char *)"get_b"},
    };
    ck_assert(registry_apply(&r, both, 2));
    struct object *a = registry_find(&r, "a", 1);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(registry_find(&r, "a", 1), a);
    ck_assert_ptr_null(registry_find(&r, "ab", 2));
    ck_assert_ptr_null(registry_find(&r, "", 0));
    ck_assert_int_eq(registry_find(&r, "b", 1)->type, OBJECT_BUF);
    ck_assert_ptr_eq(registry_find(&r, "a", 1), a);
    ck_assert(registry_apply(&r, both + 1, 1)); /* "a" is idle: dropped */
    ck_assert_ptr_null(registry_find(&r, "a", 1));
    ck_assert_ptr_nonnull(registry_find(&r, "b", 1));
    registry_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue");
    TCase *tc;
    tc = tcase_create("basics");
    tcase_add_test(tc, fifo_and_counts);
    tcase_add_test(tc, bounded_has_room);
    tcase_add_test(tc, task_done_and_purge);
    suite_add_tcase(s, tc);
    tc = tcase_create("getters");
    tcase_add_test(tc, getters_served_in_arrival_order);
    tcase_add_test(tc, unparked_getter_is_not_served);
    suite_add_tcase(s, tc);
    tc = tcase_create("putters");
    tcase_add_test(tc, putters_fill_room_in_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("join");
    tcase_add_test(tc, join_released_at_zero);
    suite_add_tcase(s, tc);
    tc = tcase_create("leases");
    tcase_add_test(tc, leases_return_to_head_in_order);
    tcase_add_test(tc, returned_leases_reach_parked_getter_oldest_first);
    tcase_add_test(tc, task_done_cannot_settle_another_owners_lease);
    tcase_add_test(tc, leases_are_settled_per_queue_and_counted);
    tcase_add_test(tc, items_in_a_block_are_leased_and_returned_by_reference);
    tcase_add_test(tc, purge_drops_the_references_of_a_block);
    tcase_add_test(tc, leases_return_when_nothing_can_be_allocated);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, put_refused_over_max_memory);
    tcase_add_test(tc, count_fitting_bounds_a_reply_but_takes_one);
    suite_add_tcase(s, tc);
    tc = tcase_create("registry");
    tcase_add_test(tc, registry_forgets_a_dropped_object);
    suite_add_tcase(s, tc);
    tc = tcase_create("suspended");
    tcase_add_test(tc, suspended_getter_is_skipped_and_rejoins_at_the_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
