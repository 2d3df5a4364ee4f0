/*
 * A session's output with items sent by reference (session.c): the pieces
 * handed to writev are the reply bytes with each referenced item in its
 * place, however the transport's writes cut them; references taken back
 * with their reply are dropped; and a reply frame counts the bytes of its
 * referenced items in its length.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "server/block.h"
#include "server/state.h"

static void no_reply(struct session *sess)
{
    (void)sess;
}

static struct config config;
static const struct state_env env = {.reply_added = no_reply};
static struct state st;
static struct session s;
static struct block *blk;

static void setup(void)
{
    if (!config.listen)
        config_init(&config);
    state_init(&st, &config, &env, NULL);
    ck_assert(session_init(&s, &st, 1));
    s.refs_allowed = true;
    uint8_t *data = malloc(10);
    ck_assert_ptr_nonnull(data);
    memcpy(data, "0123456789", 10);
    blk = block_adopt(data, 10);
    ck_assert_ptr_nonnull(blk);
}

static void teardown(void)
{
    session_free(&s);
    ck_assert_uint_eq(blk->refs, 1);
    block_unref(blk);
    state_free(&st);
}

static void add_bytes(const char *text)
{
    ck_assert(bytes_append(&s.out, text, strlen(text)));
}

static void add_ref(size_t off, size_t len)
{
    ck_assert(session_add_ref(&s, blk, blk->data + off, len));
}

/* The pending output as the transport would send it, up to max pieces. */
static size_t gather(char *out, size_t cap, int max)
{
    struct iovec iov[16];
    int n = session_output_iov(&s, iov, max);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_le(len + iov[i].iov_len, cap);
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

/* "ab" [234] "cd" [56789] [0] "e": refs between bytes, back to back and at
 * the start of the tail. */
static const char STREAM[] = "ab234cd567890e";

static void build_stream(void)
{
    add_bytes("ab");
    add_ref(2, 3);
    add_bytes("cd");
    add_ref(5, 5);
    add_ref(0, 1);
    add_bytes("e");
}

START_TEST(pieces_put_each_item_in_its_place)
{
    build_stream();
    char got[64];
    size_t n = gather(got, sizeof got, 16);
    ck_assert_uint_eq(n, strlen(STREAM));
    ck_assert(memcmp(got, STREAM, n) == 0);
    ck_assert_uint_eq(session_output_pending(&s), strlen(STREAM));
    ck_assert_uint_eq(blk->refs, 4);
}
END_TEST

/* Every way of cutting the stream into writes of `step` bytes. */
START_TEST(writes_cut_anywhere_keep_the_order)
{
    size_t step = (size_t)_i + 1;
    build_stream();
    size_t total = strlen(STREAM), sent = 0;
    while (sent < total) {
        size_t n = total - sent < step ? total - sent : step;
        session_sent(&s, n);
        sent += n;
        char got[64];
        size_t left = gather(got, sizeof got, 16);
        ck_assert_uint_eq(left, total - sent);
        ck_assert(memcmp(got, STREAM + sent, left) == 0);
        ck_assert_uint_eq(session_output_pending(&s), total - sent);
    }
    ck_assert(!session_has_refs(&s));
    ck_assert_uint_eq(s.out.len, 0);
    ck_assert_uint_eq(blk->refs, 1);
}
END_TEST

START_TEST(few_pieces_give_a_prefix)
{
    build_stream();
    char got[64];
    size_t n = gather(got, sizeof got, 3);
    /* "ab", [234]: a piece of bytes goes with the ref after it, and the
     * tail never comes before refs it follows. */
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(got, STREAM, n) == 0);
}
END_TEST

START_TEST(a_reply_taken_back_drops_its_refs)
{
    add_bytes("ab");
    add_ref(0, 2);
    size_t frame_start = s.out.len;
    add_bytes("cd");
    add_ref(2, 4);
    add_ref(6, 4);
    ck_assert_uint_eq(session_ref_bytes_after(&s, frame_start), 8);
    session_drop_refs_after(&s, frame_start);
    ck_assert_uint_eq(session_ref_bytes_after(&s, frame_start), 0);
    ck_assert_uint_eq(blk->refs, 2);
    s.out.len = frame_start;
    char got[64];
    size_t n = gather(got, sizeof got, 16);
    ck_assert_uint_eq(n, 4);
    ck_assert(memcmp(got, "ab01", 4) == 0);
}
END_TEST

START_TEST(a_frame_counts_its_referenced_bytes)
{
    size_t start;
    reply_begin(&s, 7, &start);
    add_ref(0, 10);
    ck_assert(reply_end(&s, start));
    char got[64];
    size_t n = gather(got, sizeof got, 16);
    ck_assert_uint_eq(frame_read_be32((const uint8_t *)got), n - FRAME_HEADER_SIZE);
    ck_assert(memcmp(got + n - 10, "0123456789", 10) == 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("session_output");
    TCase *tc = tcase_create("refs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pieces_put_each_item_in_its_place);
    tcase_add_loop_test(tc, writes_cut_anywhere_keep_the_order, 0, 15);
    tcase_add_test(tc, few_pieces_give_a_prefix);
    tcase_add_test(tc, a_reply_taken_back_drops_its_refs);
    tcase_add_test(tc, a_frame_counts_its_referenced_bytes);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
