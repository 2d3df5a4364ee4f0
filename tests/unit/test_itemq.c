/* itemq: the packed FIFO under every queue. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/block.h"
#include "server/objects.h"

/* A msgpack bin8 item of n bytes (n < 256) filled with v. */
static size_t make_item(uint8_t *out, uint8_t n, uint8_t v)
{
    out[0] = 0xc4;
    out[1] = n;
    memset(out + 2, v, n);
    return (size_t)n + 2;
}

static uint8_t item_value(const struct mp_slice *s)
{
    return s->len > 2 ? s->p[2] : 0;
}

START_TEST(fifo_order_across_segments)
{
    struct itemq q = {0};
    uint8_t buf[300];
    /* 200-byte items: ~330 per 64 KiB segment, so 5000 span many. */
    for (int i = 0; i < 5000; i++) {
        size_t n = make_item(buf, 200, (uint8_t)i);
        ck_assert(itemq_push_back(&q, buf, n));
    }
    ck_assert_uint_eq(q.count, 5000);
    ck_assert_uint_eq(q.bytes, 5000 * 202);
    for (int i = 0; i < 5000; i++) {
        struct mp_slice s;
        ck_assert(itemq_front(&q, &s));
        ck_assert_uint_eq(s.len, 202);
        ck_assert_uint_eq(item_value(&s), (uint8_t)i);
        itemq_pop_front(&q, s.len);
    }
    struct mp_slice s;
    ck_assert(!itemq_front(&q, &s));
    ck_assert_uint_eq(q.bytes, 0);
    itemq_clear(&q);
}
END_TEST

START_TEST(big_item_gets_its_own_segment)
{
    struct itemq q = {0};
    size_t n = 200000;
    uint8_t *big = malloc(n + 5);
    big[0] = 0xc6;
    big[1] = 0;
    big[2] = (uint8_t)(n >> 16);
    big[3] = (uint8_t)(n >> 8);
    big[4] = (uint8_t)n;
    memset(big + 5, 7, n);
    uint8_t small[4];
    size_t sn = make_item(small, 2, 1);
    ck_assert(itemq_push_back(&q, small, sn));
    ck_assert(itemq_push_back(&q, big, n + 5));
    ck_assert(itemq_push_back(&q, small, sn));
    struct mp_slice s;
    ck_assert(itemq_front(&q, &s));
    ck_assert_uint_eq(s.len, sn);
    itemq_pop_front(&q, s.len);
    ck_assert(itemq_front(&q, &s));
    ck_assert_uint_eq(s.len, n + 5);
    ck_assert(memcmp(s.p, big, n + 5) == 0);
    itemq_pop_front(&q, s.len);
    ck_assert(itemq_front(&q, &s));
    ck_assert_uint_eq(s.len, sn);
    itemq_clear(&q);
    free(big);
}
END_TEST

/* itemq_return_front with a chunk of its own, as a returned lease brings
 * its allocation; true when the queue took the chunk. */
static bool return_front(struct itemq *q, struct block *b, const uint8_t *item, size_t len)
{
    size_t size = ITEMQ_CHUNK_SIZE(len, b != NULL);
    void *chunk = malloc(size);
    ck_assert_ptr_nonnull(chunk);
    bool taken = itemq_return_front(q, b, item, len, chunk, size);
    if (!taken)
        free(chunk);
    return taken;
}

static void *refuse_allocation(size_t size)
{
    (void)size;
    return NULL;
}

START_TEST(push_front_goes_first_in_order)
{
    struct itemq q = {0};
    uint8_t buf[16];
    for (int i = 10; i < 13; i++)
        ck_assert(itemq_push_back(&q, buf, make_item(buf, 3, (uint8_t)i)));
    /* Redelivery returns 1 then 2 (newest first, each to the head). */
    ck_assert(!return_front(&q, NULL, buf, make_item(buf, 3, 2)));
    ck_assert(!return_front(&q, NULL, buf, make_item(buf, 3, 1)));
    const uint8_t want[] = {1, 2, 10, 11, 12};
    for (size_t i = 0; i < sizeof want; i++) {
        struct mp_slice s;
        ck_assert(itemq_front(&q, &s));
        ck_assert_uint_eq(item_value(&s), want[i]);
        itemq_pop_front(&q, s.len);
    }
    ck_assert_uint_eq(q.count, 0);
    itemq_clear(&q);
}
END_TEST

START_TEST(push_front_on_empty_then_back)
{
    struct itemq q = {0};
    uint8_t buf[16];
    ck_assert(!return_front(&q, NULL, buf, make_item(buf, 1, 5)));
    ck_assert(itemq_push_back(&q, buf, make_item(buf, 1, 6)));
    struct mp_slice s;
    ck_assert(itemq_front(&q, &s));
    ck_assert_uint_eq(item_value(&s), 5);
    itemq_pop_front(&q, s.len);
    ck_assert(itemq_front(&q, &s));
    ck_assert_uint_eq(item_value(&s), 6);
    itemq_clear(&q);
}
END_TEST

START_TEST(iterate_without_removing)
{
    struct itemq q = {0};
    uint8_t buf[300];
    for (int i = 0; i < 1000; i++)
        ck_assert(itemq_push_back(&q, buf, make_item(buf, 250, (uint8_t)i)));
    struct itemq_iter it;
    struct mp_slice s;
    int seen = 0;
    itemq_iter_init(&q, &it);
    while (itemq_iter_next(&it, &s)) {
        ck_assert_uint_eq(item_value(&s), (uint8_t)seen);
        seen++;
    }
    ck_assert_int_eq(seen, 1000);
    ck_assert_uint_eq(q.count, 1000);
    itemq_clear(&q);
}
END_TEST

/* A block of three bin8 items of 200 bytes, valued 1, 2 and 3. */
static struct block *three_item_block(void)
{
    uint8_t *data = malloc(3 * 202);
    ck_assert_ptr_nonnull(data);
    for (uint8_t i = 0; i < 3; i++)
        make_item(data + i * 202, 200, (uint8_t)(i + 1));
    struct block *b = block_adopt(data, 3 * 202);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* A returned lease's item goes back even when no segment can be
 * allocated: the lease's own memory (here, the chunk) becomes the head. */
START_TEST(returned_items_kept_when_no_segment_can_be_allocated)
{
    struct itemq q = {0};
    struct block *b = three_item_block();
    uint8_t buf[16];
    ck_assert(itemq_push_back(&q, buf, make_item(buf, 3, 9))); /* head full at its front */
    itemq_malloc = refuse_allocation;
    ck_assert(return_front(&q, NULL, buf, make_item(buf, 3, 2)));
    /* Taken or not, as the room left in the last chunk decides. */
    return_front(&q, b, b->data, 202);
    return_front(&q, NULL, buf, make_item(buf, 5, 0));
    itemq_malloc = malloc;
    ck_assert_uint_eq(q.count, 4);
    ck_assert_uint_eq(q.bytes, 7 + 202 + 5 + 5); /* each with its 2-byte head */
    ck_assert_uint_eq(q.refs, 1);
    ck_assert_uint_eq(b->refs, 2);
    static const uint8_t want[] = {0, 1, 2, 9};
    for (size_t i = 0; i < sizeof want; i++) {
        struct mp_slice s;
        ck_assert(itemq_front(&q, &s));
        ck_assert_uint_eq(item_value(&s), want[i]);
        ck_assert(i == 1 ? itemq_front_block(&q) == b : itemq_front_block(&q) == NULL);
        itemq_pop_front(&q, s.len);
    }
    ck_assert_uint_eq(q.count, 0);
    ck_assert_uint_eq(b->refs, 1);
    itemq_clear(&q);
    block_unref(b);
}
END_TEST

START_TEST(references_mix_with_copies_in_order)
{
    struct itemq q = {0};
    struct block *b = three_item_block();
    uint8_t buf[300];
    ck_assert(itemq_push_back_ref(&q, b, b->data + 202, 202));          /* 2 */
    ck_assert(itemq_push_back(&q, buf, make_item(buf, 10, 4)));        /* 4 */
    ck_assert(itemq_push_back_ref(&q, b, b->data + 404, 202));          /* 3 */
    ck_assert(!return_front(&q, b, b->data, 202));                      /* 1 */
    ck_assert(!return_front(&q, NULL, buf, make_item(buf, 10, 0)));    /* 0 */
    ck_assert_uint_eq(b->refs, 4);
    ck_assert_uint_eq(q.refs, 3);
    ck_assert_uint_eq(q.count, 5);
    ck_assert_uint_eq(q.bytes, 3 * 202 + 2 * 12);

    static const uint8_t order[] = {0, 1, 2, 4, 3};
    static const bool in_block[] = {false, true, true, false, true};
    struct itemq_iter it;
    struct mp_slice s;
    itemq_iter_init(&q, &it);
    for (int i = 0; i < 5; i++) {
        ck_assert(itemq_iter_next(&it, &s));
        ck_assert_uint_eq(item_value(&s), order[i]);
        ck_assert(in_block[i] ? it.block == b : it.block == NULL);
        if (it.block)
            ck_assert(s.p >= b->data && s.p + s.len <= b->data + b->size);
    }
    ck_assert(!itemq_iter_next(&it, &s));

    for (int i = 0; i < 5; i++) {
        ck_assert(itemq_front(&q, &s));
        ck_assert_uint_eq(item_value(&s), order[i]);
        ck_assert(itemq_front_block(&q) == (in_block[i] ? b : NULL));
        itemq_pop_front(&q, s.len);
    }
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(q.refs, 0);
    ck_assert_uint_eq(q.bytes, 0);
    block_unref(b);
    itemq_clear(&q);
}
END_TEST

START_TEST(clear_drops_the_references)
{
    struct itemq q = {0};
    struct block *b = three_item_block();
    uint8_t buf[300];
    /* Enough references and copies to span several segments. */
    for (int i = 0; i < 4000; i++) {
        ck_assert(itemq_push_back_ref(&q, b, b->data + 202 * (i % 3), 202));
        ck_assert(itemq_push_back(&q, buf, make_item(buf, 100, 7)));
    }
    ck_assert_uint_eq(b->refs, 4001);
    itemq_clear(&q);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(q.count, 0);
    /* The last reference frees it (ASan and valgrind see a leak otherwise). */
    block_unref(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itemq");
    TCase *order = tcase_create("order");
    tcase_add_test(order, fifo_order_across_segments);
    tcase_add_test(order, big_item_gets_its_own_segment);
    suite_add_tcase(s, order);
    TCase *front = tcase_create("front");
    tcase_add_test(front, push_front_goes_first_in_order);
    tcase_add_test(front, push_front_on_empty_then_back);
    tcase_add_test(front, returned_items_kept_when_no_segment_can_be_allocated);
    suite_add_tcase(s, front);
    TCase *iterate = tcase_create("iterate");
    tcase_add_test(iterate, iterate_without_removing);
    suite_add_tcase(s, iterate);
    TCase *refs = tcase_create("references");
    tcase_add_test(refs, references_mix_with_copies_in_order);
    tcase_add_test(refs, clear_drops_the_references);
    suite_add_tcase(s, refs);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
