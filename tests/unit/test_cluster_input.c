/* cluster_input: the inputs of a cluster's log, packed and read back. */
#include <check.h>
#include <string.h>

#include "proto/rpc.h"
#include "server/cluster_input.h"

static void pack_all(struct bytes *out, const struct cluster_input *ins, size_t n)
{
    msgpack_packer pk;
    rpc_packer_init(&pk, out);
    for (size_t i = 0; i < n; i++)
        cluster_input_pack(&pk, &ins[i]);
}

START_TEST(every_kind_reads_back)
{
    static const uint8_t frame[] = {0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x90};
    const char *addr = "127.0.0.1:50002";
    const struct cluster_input ins[] = {
        {CIN_JOIN, 0, 1.5, 0xfeedface12345678u, (const uint8_t *)addr, strlen(addr)},
        {CIN_REQUEST, (UINT64_C(7) << 32) | 3, 2.25, 0, frame, sizeof frame},
        {CIN_EXPIRE, (UINT64_C(7) << 32) | 3, 3.0, 42, NULL, 0},
        {CIN_CLOSE, (UINT64_C(7) << 32) | 3, 3.5, 0, NULL, 0},
        {CIN_SUSPEND, (UINT64_C(7) << 32) | 4, 4.0, 0, NULL, 0},
        {CIN_RESUME, (UINT64_C(7) << 32) | 4, 4.5, 0, NULL, 0},
        {CIN_HEARTBEAT, 7, 5.0, 0, NULL, 0},
        {CIN_DEAD, 9, 6.0, 7, NULL, 0},
    };
    struct bytes out = {0};
    pack_all(&out, ins, sizeof ins / sizeof ins[0]);
    struct mp_reader r;
    mp_reader_init(&r, out.data, out.len);
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        struct cluster_input in;
        ck_assert_int_eq(cluster_input_next(&r, &in), 1);
        ck_assert_int_eq(in.kind, ins[i].kind);
        ck_assert_uint_eq(in.id, ins[i].id);
        ck_assert_double_eq(in.time, ins[i].time);
        ck_assert_uint_eq(in.arg, ins[i].arg);
        ck_assert_uint_eq(in.len, ins[i].len);
        ck_assert(in.len == 0 || memcmp(in.data, ins[i].data, in.len) == 0);
    }
    struct cluster_input end;
    ck_assert_int_eq(cluster_input_next(&r, &end), 0);
    ck_assert_uint_eq(cluster_frontend_of(ins[1].id), 7);
    bytes_free(&out);
}
END_TEST

START_TEST(not_an_input_skips_the_rest)
{
    const struct cluster_input good = {CIN_HEARTBEAT, 3, 1.0, 0, NULL, 0};
    struct bytes out = {0};
    pack_all(&out, &good, 1);
    /* An unknown kind, then a heartbeat that must not be read. */
    const uint8_t bad[] = {0x95, 0x09, 0x01, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xc4, 0x00};
    bytes_append(&out, bad, sizeof bad);
    pack_all(&out, &good, 1);
    struct mp_reader r;
    struct cluster_input in;
    mp_reader_init(&r, out.data, out.len);
    ck_assert_int_eq(cluster_input_next(&r, &in), 1);
    ck_assert_int_eq(cluster_input_next(&r, &in), -1);
    ck_assert_uint_eq(mp_reader_left(&r), 0);
    ck_assert_int_eq(cluster_input_next(&r, &in), 0);
    bytes_free(&out);
}
END_TEST

START_TEST(truncated_input_is_refused)
{
    const struct cluster_input in0 = {CIN_EXPIRE, 5, 1.0, 9, NULL, 0};
    struct bytes out = {0};
    pack_all(&out, &in0, 1);
    for (size_t cut = 1; cut < out.len; cut++) {
        struct mp_reader r;
        struct cluster_input in;
        mp_reader_init(&r, out.data, cut);
        ck_assert_int_eq(cluster_input_next(&r, &in), -1);
    }
    bytes_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_input");
    TCase *tc = tcase_create("cluster_input");
    tcase_add_test(tc, every_kind_reads_back);
    tcase_add_test(tc, not_an_input_skips_the_rest);
    tcase_add_test(tc, truncated_input_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
