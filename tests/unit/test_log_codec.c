/* The encodings of a cluster's log messages (server/log_codec.h): what
 * shrinks is compressed and reads back the same, what does not is stored as
 * it is, and a damaged or oversized compressed message is refused. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/log_codec.h"

static ZSTD_CCtx *cctx;
static ZSTD_DCtx *dctx;

static void setup(void)
{
    cctx = ZSTD_createCCtx();
    dctx = ZSTD_createDCtx();
    ck_assert(cctx && dctx);
}

static void teardown(void)
{
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
}

/* Access-log-like text: repetitive, as the pipeline's batches are. */
static uint8_t *log_lines(size_t *len)
{
    static const char line[] = "10.0.0.7 - - [23/Nov/2026:10:00:00 +0000] \"GET /api/v1/items "
                               "HTTP/1.1\" 200 512 \"-\" \"curl/7.88\"\n";
    size_t n = 400 * (sizeof line - 1);
    uint8_t *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < 400; i++)
        memcpy(p + i * (sizeof line - 1), line, sizeof line - 1);
    p[0] = 0x92; /* a msgpack array first, as a message's header is */
    *len = n;
    return p;
}

START_TEST(compressible_message_round_trips)
{
    size_t len;
    uint8_t *msg = log_lines(&len);
    struct bytes packed = {0}, back = {0};
    ck_assert(log_codec_encode(cctx, msg, len, &packed));
    ck_assert_uint_eq(packed.data[0], LOG_CODEC_ZSTD);
    ck_assert_uint_lt(packed.len, len / 4);
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(log_codec_decode(dctx, packed.data, packed.len, len, &back, &p, &n),
                     LOG_CODEC_OK);
    ck_assert_uint_eq(n, len);
    ck_assert_mem_eq(p, msg, len);
    bytes_free(&packed);
    bytes_free(&back);
    free(msg);
}
END_TEST

START_TEST(small_or_incompressible_message_stays_as_it_is)
{
    struct bytes packed = {0};
    uint8_t small[LOG_CODEC_MIN_BYTES - 1];
    memset(small, 'a', sizeof small);
    ck_assert(!log_codec_encode(cctx, small, sizeof small, &packed));
    uint8_t noise[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (uint8_t)x;
    }
    ck_assert(!log_codec_encode(cctx, noise, sizeof noise, &packed));
    /* Stored as it is, it reads as itself, in place. */
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(log_codec_decode(dctx, noise, sizeof noise, 1, &packed, &p, &n), LOG_CODEC_OK);
    ck_assert_ptr_eq(p, noise);
    ck_assert_uint_eq(n, sizeof noise);
    bytes_free(&packed);
}
END_TEST

START_TEST(damaged_or_oversized_compressed_message_is_refused)
{
    size_t len;
    uint8_t *msg = log_lines(&len);
    struct bytes packed = {0}, back = {0};
    ck_assert(log_codec_encode(cctx, msg, len, &packed));
    const uint8_t *p;
    size_t n;
    /* Larger than the cap. */
    ck_assert_int_eq(log_codec_decode(dctx, packed.data, packed.len, len - 1, &back, &p, &n),
                     LOG_CODEC_DAMAGED);
    /* Cut short, at every length. */
    for (size_t cut = 1; cut < packed.len; cut++)
        ck_assert_int_eq(log_codec_decode(dctx, packed.data, cut, len, &back, &p, &n),
                         LOG_CODEC_DAMAGED);
    /* With trailing bytes. */
    ck_assert(bytes_reserve(&packed, 1));
    packed.data[packed.len++] = 0;
    ck_assert_int_eq(log_codec_decode(dctx, packed.data, packed.len, len, &back, &p, &n),
                     LOG_CODEC_DAMAGED);
    /* The mark alone. */
    static const uint8_t mark = LOG_CODEC_ZSTD;
    ck_assert_int_eq(log_codec_decode(dctx, &mark, 1, len, &back, &p, &n), LOG_CODEC_DAMAGED);
    bytes_free(&packed);
    bytes_free(&back);
    free(msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log_codec");
    TCase *tc = tcase_create("log_codec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, compressible_message_round_trips);
    tcase_add_test(tc, small_or_incompressible_message_stays_as_it_is);
    tcase_add_test(tc, damaged_or_oversized_compressed_message_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
