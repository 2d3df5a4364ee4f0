/* buf semantics of docs/protocol.md: incr, all-or-nothing update, set/get/del. */
#include <check.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "server/objects.h"

static struct memory memory = {0, 1 << 22};

static struct mp_number int_delta(int64_t i)
{
    struct mp_number n = {.is_float = false, .i = i};
    return n;
}

static struct mp_number float_delta(double f)
{
    struct mp_number n = {.is_float = true, .f = f};
    return n;
}

static int incr(struct buf *b, const char *key, struct mp_number d, struct mp_number *out)
{
    return buf_incr(b, key, strlen(key), &d, out);
}

START_TEST(incr_int_starts_at_zero)
{
    struct buf *b = buf_new("b", &memory);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "k", int_delta(5), &r), PROTO_OK);
    ck_assert(!r.is_float);
    ck_assert_int_eq(r.i, 5);
    ck_assert_int_eq(incr(b, "k", int_delta(-7), &r), PROTO_OK);
    ck_assert_int_eq(r.i, -2);
    ck_assert_uint_eq(buf_len(b), 1);
    buf_free(b);
    ck_assert_uint_eq(memory.used, 0);
}
END_TEST

START_TEST(incr_float_makes_float)
{
    struct buf *b = buf_new("b", &memory);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "k", int_delta(2), &r), PROTO_OK);
    ck_assert_int_eq(incr(b, "k", float_delta(0.5), &r), PROTO_OK);
    ck_assert(r.is_float);
    ck_assert_double_eq(r.f, 2.5);
    ck_assert_int_eq(incr(b, "k", int_delta(1), &r), PROTO_OK);
    ck_assert(r.is_float);
    ck_assert_double_eq(r.f, 3.5);
    buf_free(b);
}
END_TEST

START_TEST(incr_overflow_is_erange_and_unchanged)
{
    struct buf *b = buf_new("b", &memory);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "k", int_delta(INT64_MAX), &r), PROTO_OK);
    ck_assert_int_eq(incr(b, "k", int_delta(1), &r), PROTO_ERANGE);
    ck_assert_int_eq(incr(b, "m", int_delta(INT64_MIN), &r), PROTO_OK);
    ck_assert_int_eq(incr(b, "m", int_delta(-1), &r), PROTO_ERANGE);
    const struct buf_entry *e = buf_find(b, "k", 1);
    ck_assert_int_eq(e->v.i, INT64_MAX);
    buf_free(b);
}
END_TEST

/* Packs {k: v, ...} with msgpack-c; ints when is_int, else strings. */
static struct mp_reader pack_map(msgpack_sbuffer *sb, const char **keys, const int64_t *vals,
                                 const bool *is_int, uint32_t n)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, keys[i], strlen(keys[i]));
        if (is_int[i])
            msgpack_pack_int64(&pk, vals[i]);
        else
            msgpack_pack_str_with_body(&pk, "x", 1);
    }
    struct mp_reader r;
    uint32_t count;
    mp_reader_init(&r, sb->data, sb->size);
    ck_assert(mp_read_map(&r, &count));
    ck_assert_uint_eq(count, n);
    return r;
}

START_TEST(update_applies_all)
{
    struct buf *b = buf_new("b", &memory);
    msgpack_sbuffer sb;
    const char *keys[] = {"a", "b", "a"};
    const int64_t vals[] = {1, 2, 3};
    const bool ints[] = {true, true, true};
    ck_assert_int_eq(buf_update(b, pack_map(&sb, keys, vals, ints, 3), 3), PROTO_OK);
    ck_assert_int_eq(buf_find(b, "a", 1)->v.i, 4);
    ck_assert_int_eq(buf_find(b, "b", 1)->v.i, 2);
    msgpack_sbuffer_destroy(&sb);
    buf_free(b);
}
END_TEST

START_TEST(update_bad_delta_changes_nothing)
{
    struct buf *b = buf_new("b", &memory);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "a", int_delta(10), &r), PROTO_OK);
    uint64_t used = memory.used;
    msgpack_sbuffer sb;
    const char *keys[] = {"a", "new", "c"};
    const int64_t vals[] = {1, 2, 0};
    const bool ints[] = {true, true, false};
    ck_assert_int_eq(buf_update(b, pack_map(&sb, keys, vals, ints, 3), 3), PROTO_EBADREQ);
    ck_assert_int_eq(buf_find(b, "a", 1)->v.i, 10);
    ck_assert_ptr_null(buf_find(b, "new", 3));
    ck_assert_uint_eq(buf_len(b), 1);
    ck_assert_uint_eq(memory.used, used);
    msgpack_sbuffer_destroy(&sb);
    buf_free(b);
}
END_TEST

START_TEST(update_overflow_rolls_back)
{
    struct buf *b = buf_new("b", &memory);
    msgpack_sbuffer sb;
    const char *keys[] = {"x", "y", "y"};
    const int64_t vals[] = {5, INT64_MAX, 1};
    const bool ints[] = {true, true, true};
    ck_assert_int_eq(buf_update(b, pack_map(&sb, keys, vals, ints, 3), 3), PROTO_ERANGE);
    ck_assert_uint_eq(buf_len(b), 0);
    msgpack_sbuffer_destroy(&sb);
    buf_free(b);
}
END_TEST

START_TEST(update_on_non_number_is_enotnum)
{
    struct buf *b = buf_new("b", &memory);
    const uint8_t str[] = {0xa2, 'h', 'i'};
    struct mp_slice v = {str, sizeof str};
    ck_assert_int_eq(buf_set(b, "s", 1, &v), PROTO_OK);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "s", int_delta(1), &r), PROTO_ENOTNUM);
    msgpack_sbuffer sb;
    const char *keys[] = {"t", "s"};
    const int64_t vals[] = {1, 1};
    const bool ints[] = {true, true};
    ck_assert_int_eq(buf_update(b, pack_map(&sb, keys, vals, ints, 2), 2), PROTO_ENOTNUM);
    ck_assert_ptr_null(buf_find(b, "t", 1));
    msgpack_sbuffer_destroy(&sb);
    buf_free(b);
}
END_TEST

START_TEST(set_get_del_values)
{
    struct buf *b = buf_new("b", &memory);
    const uint8_t arr[] = {0x92, 0x01, 0xa1, 'z'};
    const uint8_t num[] = {0xcd, 0x01, 0x00}; /* 256 as uint16 */
    struct mp_slice v = {arr, sizeof arr}, n = {num, sizeof num};
    ck_assert_int_eq(buf_set(b, "raw", 3, &v), PROTO_OK);
    ck_assert_int_eq(buf_set(b, "num", 3, &n), PROTO_OK);
    const struct buf_entry *e = buf_find(b, "raw", 3);
    ck_assert_int_eq(e->kind, BUF_RAW);
    ck_assert_uint_eq(e->v.raw.len, sizeof arr);
    ck_assert(memcmp(e->v.raw.p, arr, sizeof arr) == 0);
    e = buf_find(b, "num", 3);
    ck_assert_int_eq(e->kind, BUF_INT);
    ck_assert_int_eq(e->v.i, 256);
    /* Overwrite raw with a number: incr then works on it. */
    ck_assert_int_eq(buf_set(b, "raw", 3, &n), PROTO_OK);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "raw", int_delta(1), &r), PROTO_OK);
    ck_assert_int_eq(r.i, 257);
    ck_assert_int_eq(buf_del(b, "raw", 3), PROTO_OK);
    ck_assert_int_eq(buf_del(b, "raw", 3), PROTO_ENOKEY);
    buf_clear(b);
    ck_assert_uint_eq(buf_len(b), 0);
    ck_assert_uint_eq(memory.used, 0);
    buf_free(b);
}
END_TEST

static void *refuse_allocation(size_t size)
{
    (void)size;
    return NULL;
}

/* Bucket expansion happens past 10 items per bucket on average: with 32
 * initial buckets, adding a few hundred keys is sure to need one. */
START_TEST(hash_out_of_memory_is_enomem_not_exit)
{
    struct memory big = {0, UINT64_MAX};
    struct buf *b = buf_new("b", &big);
    struct mp_number r;
    hash_malloc = refuse_allocation;
    ck_assert_int_eq(incr(b, "first", int_delta(1), &r), PROTO_ENOMEM);
    ck_assert_uint_eq(buf_len(b), 0);
    hash_malloc = malloc;
    ck_assert_int_eq(incr(b, "first", int_delta(1), &r), PROTO_OK);
    char key[16];
    int refused = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        hash_malloc = i >= 300 ? refuse_allocation : malloc;
        int rc = incr(b, key, int_delta(1), &r);
        ck_assert(rc == PROTO_OK || rc == PROTO_ENOMEM);
        refused += rc == PROTO_ENOMEM;
    }
    hash_malloc = malloc;
    ck_assert_int_gt(refused, 0);
    ck_assert_uint_eq(buf_len(b), 1 + 2000 - (uint64_t)refused);
    /* Every key that went in can still be found. */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_ptr_nonnull(buf_find(b, key, strlen(key)));
    }
    buf_free(b);
    ck_assert_uint_eq(big.used, 0);
}
END_TEST

START_TEST(update_undo_log_is_counted_against_max_memory)
{
    struct memory tight = {0, 1 << 20};
    struct buf *b = buf_new("b", &tight);
    /* 100 existing keys, then an update of all of them: the entries fit, the
     * undo log of the update (beyond the 64 kept on the stack) must fit too. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 100);
    char key[16];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        msgpack_pack_str(&pk, (size_t)n);
        msgpack_pack_str_body(&pk, key, (size_t)n);
        msgpack_pack_int(&pk, 1);
    }
    struct mp_reader map;
    mp_reader_init(&map, sb.data, sb.size);
    uint32_t npairs;
    ck_assert(mp_read_map(&map, &npairs));
    ck_assert_int_eq(buf_update(b, map, npairs), PROTO_OK);
    tight.max = tight.used + 64;
    ck_assert_int_eq(buf_update(b, map, npairs), PROTO_ENOMEM);
    struct mp_number r;
    ck_assert_int_eq(incr(b, "k5", int_delta(0), &r), PROTO_OK);
    ck_assert_int_eq(r.i, 1);
    tight.max = UINT64_MAX;
    ck_assert_int_eq(buf_update(b, map, npairs), PROTO_OK);
    msgpack_sbuffer_destroy(&sb);
    buf_free(b);
    ck_assert_uint_eq(tight.used, 0);
}
END_TEST

/* A map of n pairs "k<i % distinct>": i + 1, the pair at bad (if < n) with
 * an integer key instead. */
static struct mp_reader big_update(msgpack_sbuffer *sb, int n, int distinct, int bad,
                                   uint32_t *npairs)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (size_t)n);
    char key[16];
    for (int i = 0; i < n; i++) {
        if (i == bad) {
            msgpack_pack_int(&pk, i);
        } else {
            int len = snprintf(key, sizeof key, "k%d", i % distinct);
            msgpack_pack_str(&pk, (size_t)len);
            msgpack_pack_str_body(&pk, key, (size_t)len);
        }
        msgpack_pack_int(&pk, i + 1);
    }
    struct mp_reader map;
    mp_reader_init(&map, sb->data, sb->size);
    ck_assert(mp_read_map(&map, npairs));
    return map;
}

/* Keys are hashed ahead of the pair applied (buf.c's lookahead): a large
 * update, with new keys doubling the table under it, adds up exactly, and a
 * bad key far into the map still undoes all. */
START_TEST(large_update_with_keys_read_ahead)
{
    struct buf *b = buf_new("b", &memory);
    msgpack_sbuffer sb;
    uint32_t npairs;
    struct mp_reader map = big_update(&sb, 3000, 1000, -1, &npairs);
    ck_assert_int_eq(buf_update(b, map, npairs), PROTO_OK);
    msgpack_sbuffer_destroy(&sb);
    ck_assert_uint_eq(buf_len(b), 1000);
    char key[16];
    for (int k = 0; k < 1000; k++) {
        int len = snprintf(key, sizeof key, "k%d", k);
        /* pairs k, k + 1000 and k + 2000 added i + 1 each */
        ck_assert_int_eq(buf_find(b, key, (size_t)len)->v.i, 3 * k + 3003);
    }
    uint64_t used = memory.used;
    map = big_update(&sb, 3000, 1500, 2500, &npairs);
    ck_assert_int_eq(buf_update(b, map, npairs), PROTO_EBADREQ);
    msgpack_sbuffer_destroy(&sb);
    ck_assert_uint_eq(buf_len(b), 1000);
    ck_assert_int_eq(buf_find(b, "k7", 2)->v.i, 3 * 7 + 3003);
    ck_assert_uint_eq(memory.used, used);
    buf_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("incr");
    tcase_add_test(tc, incr_int_starts_at_zero);
    tcase_add_test(tc, incr_float_makes_float);
    tcase_add_test(tc, incr_overflow_is_erange_and_unchanged);
    suite_add_tcase(s, tc);
    tc = tcase_create("update");
    tcase_add_test(tc, update_applies_all);
    tcase_add_test(tc, update_bad_delta_changes_nothing);
    tcase_add_test(tc, update_overflow_rolls_back);
    tcase_add_test(tc, update_on_non_number_is_enotnum);
    tcase_add_test(tc, large_update_with_keys_read_ahead);
    suite_add_tcase(s, tc);
    tc = tcase_create("values");
    tcase_add_test(tc, set_get_del_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, hash_out_of_memory_is_enomem_not_exit);
    tcase_add_test(tc, update_undo_log_is_counted_against_max_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
