/* proto/handshake: the server and client state machines against each other,
 * against impostors and legacy (Python 3.11) peers, and against HMAC values
 * computed with Python's hmac module. */
#include <check.h>
#include <nettle/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/handshake.h"

#define PREFIX_LEN (sizeof(HS_DIGEST_PREFIX) - 1)
#define CHALLENGE_LEN (sizeof(HS_CHALLENGE) - 1)

struct key {
    uint8_t bytes[100];
    size_t len;
};

/* The keys of the known-answer vectors: 5, 32 and 100 bytes. */
static struct key test_key(size_t len)
{
    struct key k = {.len = len};
    if (len == 5)
        memcpy(k.bytes, "s3cr3", 5);
    for (size_t i = 0; len == 32 && i < len; i++)
        k.bytes[i] = (uint8_t)i;
    for (size_t i = 0; len == 100 && i < len; i++)
        k.bytes[i] = (uint8_t)(i * 7 + 3);
    return k;
}

static const size_t key_lengths[] = {5, 32, 100};
#define N_KEYS (sizeof key_lengths / sizeof key_lengths[0])

/* The nonces of the known-answer vectors. */
static void test_nonce40(uint8_t n[40])
{
    for (size_t i = 0; i < 40; i++)
        n[i] = (uint8_t)(0xa0 + i);
}

static void test_nonce20(uint8_t n[20])
{
    for (size_t i = 0; i < 20; i++)
        n[i] = (uint8_t)(0x40 + 3 * i);
}

/* Computed with /usr/bin/python3:
 *   hmac.new(key, b'{sha256}' + nonce40, 'sha256').hexdigest()
 *   hmac.new(key, nonce20, 'md5').hexdigest() */
static const char *const kat_sha256[] = {
    "ffc92b10c16601bc942d0801e90273ff12b0d4cd3a65bd59aae48e13a5978943",
    "215f3e81e0759d0d3acde26feaea53c97f5494c451bea9581a541ca9455806c9",
    "ac8bf3d38df6311e7f28095da831054828eb15dfca5b07b2a826b44facd09e1f",
};
static const char *const kat_md5[] = {
    "2692fb773fbfe50fc74d53a076cbc4b1",
    "9c79a80963afb141dd94d73e5f17e3dc",
    "c24648f61601d247d2adb54024d87c13",
};

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static size_t cat(uint8_t *out, const char *s, const uint8_t *p, size_t n)
{
    size_t len = strlen(s);
    memcpy(out, s, len);
    memcpy(out + len, p, n);
    return len + n;
}

static bool payload_is(const uint8_t *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static void md5_mac(uint8_t out[HS_MD5_MAC_SIZE], const struct key *k, const uint8_t *msg,
                    size_t len)
{
    struct hmac_md5_ctx ctx;
    hmac_md5_set_key(&ctx, k->len, k->bytes);
    hmac_md5_update(&ctx, len, msg);
    hmac_md5_digest(&ctx, HS_MD5_MAC_SIZE, out);
}

/* Feeding from a copy of exactly len bytes, so that ASan catches overreads. */
static enum hs_status server_feed(struct hs_server *s, const void *in, size_t len, uint8_t *out,
                                  size_t *outlen, const char **why)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, in, len);
    *outlen = HS_MAX_PAYLOAD + 1;
    enum hs_status st = hs_server_feed(s, copy, len, out, outlen, why);
    free(copy);
    ck_assert_uint_le(*outlen, HS_MAX_PAYLOAD);
    ck_assert((st == HS_FAIL) == (*why != NULL));
    return st;
}

static enum hs_status client_feed(struct hs_client *c, const void *in, size_t len, uint8_t *out,
                                  size_t *outlen, const char **why)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, in, len);
    *outlen = HS_MAX_PAYLOAD + 1;
    enum hs_status st = hs_client_feed(c, copy, len, out, outlen, why);
    free(copy);
    ck_assert_uint_le(*outlen, HS_MAX_PAYLOAD);
    ck_assert((st == HS_FAIL) == (*why != NULL));
    return st;
}

/* A whole exchange between a server and a client, frames recorded. */
struct exchange {
    enum hs_status server, client;
    const char *server_why, *client_why;
    bool server_rejected;
    uint8_t frame[8][HS_MAX_PAYLOAD];
    size_t len[8];
    int frames;
    /* The receiving side's state just before frame i reached it. */
    struct hs_server server_before[8];
    struct hs_client client_before[8];
};

static void run_exchange(const struct key *server_key, bool legacy_md5,
                         const struct key *client_key, struct exchange *x)
{
    struct hs_server s;
    struct hs_client c;
    hs_server_init(&s, server_key->bytes, server_key->len, legacy_md5);
    hs_client_init(&c, client_key->bytes, client_key->len);
    memset(x, 0, sizeof *x);
    x->server = x->client = HS_CONTINUE;
    x->len[0] = hs_server_start(&s, x->frame[0]);
    x->frames = 1;
    /* Each frame goes to the other side, until a side has nothing to send. */
    for (bool to_client = true; x->len[x->frames - 1] > 0; to_client = !to_client) {
        ck_assert_int_lt(x->frames, 8);
        const uint8_t *in = x->frame[x->frames - 1];
        size_t inlen = x->len[x->frames - 1];
        uint8_t *out = x->frame[x->frames];
        size_t *outlen = &x->len[x->frames];
        if (to_client) {
            x->client_before[x->frames - 1] = c;
            x->client = client_feed(&c, in, inlen, out, outlen, &x->client_why);
        } else {
            x->server_before[x->frames - 1] = s;
            x->server = server_feed(&s, in, inlen, out, outlen, &x->server_why);
        }
        x->frames++;
    }
    x->frames--; /* the last, empty, reply */
    x->server_rejected = c.server_rejected;
}

START_TEST(same_key_both_done)
{
    struct key k = test_key(key_lengths[_i % N_KEYS]);
    struct exchange x;
    run_exchange(&k, _i >= (int)N_KEYS, &k, &x);
    ck_assert_msg(x.server == HS_DONE, "server: %s", x.server_why);
    ck_assert_msg(x.client == HS_DONE, "client: %s", x.client_why);
    ck_assert_int_eq(x.frames, 6);
    ck_assert(!x.server_rejected);
    for (int f = 0; f < 6; f += 3) { /* the two challenges */
        ck_assert_uint_eq(x.len[f], CHALLENGE_LEN + PREFIX_LEN + HS_NONCE_SIZE);
        ck_assert(memcmp(x.frame[f], HS_CHALLENGE HS_DIGEST_PREFIX, CHALLENGE_LEN + PREFIX_LEN) ==
                  0);
    }
    for (int f = 1; f < 6; f += 3) { /* the two answers */
        ck_assert_uint_eq(x.len[f], PREFIX_LEN + HS_MAC_SIZE);
        ck_assert(memcmp(x.frame[f], HS_DIGEST_PREFIX, PREFIX_LEN) == 0);
    }
    ck_assert(payload_is(x.frame[2], x.len[2], HS_WELCOME));
    ck_assert(payload_is(x.frame[5], x.len[5], HS_WELCOME));
}
END_TEST

START_TEST(nonces_are_fresh)
{
    struct key k = test_key(32);
    struct exchange a, b;
    run_exchange(&k, false, &k, &a);
    run_exchange(&k, false, &k, &b);
    ck_assert(memcmp(a.frame[0], b.frame[0], a.len[0]) != 0);
    ck_assert(memcmp(a.frame[3], b.frame[3], a.len[3]) != 0);
    ck_assert(memcmp(a.frame[0] + CHALLENGE_LEN, a.frame[3] + CHALLENGE_LEN,
                     PREFIX_LEN + HS_NONCE_SIZE) != 0);
}
END_TEST

START_TEST(client_with_wrong_key_is_rejected)
{
    struct key server_key = test_key(key_lengths[_i]);
    struct key client_key = test_key(key_lengths[(_i + 1) % N_KEYS]);
    struct exchange x;
    run_exchange(&server_key, true, &client_key, &x);
    ck_assert_int_eq(x.server, HS_FAIL);
    ck_assert_str_eq(x.server_why, "wrong authkey digest");
    ck_assert_int_eq(x.frames, 3);
    ck_assert(payload_is(x.frame[2], x.len[2], HS_FAILURE));
    ck_assert_int_eq(x.client, HS_FAIL);
    ck_assert(x.server_rejected);
}
END_TEST

/* A fake server: it lets the client through step 3 without checking, then
 * answers step 4 with an HMAC under answer_key (computed by a second client,
 * whose step-2 answer is exactly a step-5 answer). Returns the client's
 * status after step 5. */
static enum hs_status client_vs_fake_server(const struct key *client_key,
                                            const struct key *answer_key, bool flip_bit,
                                            struct hs_client *c, uint8_t *out, size_t *outlen,
                                            const char **why)
{
    uint8_t frame[HS_MAX_PAYLOAD], nonce[40];
    size_t len;
    test_nonce40(nonce);
    hs_client_init(c, client_key->bytes, client_key->len);
    len = cat(frame, HS_CHALLENGE HS_DIGEST_PREFIX, nonce, sizeof nonce);
    ck_assert_int_eq(client_feed(c, frame, len, out, outlen, why), HS_CONTINUE);
    ck_assert_int_eq(client_feed(c, HS_WELCOME, strlen(HS_WELCOME), frame, &len, why),
                     HS_CONTINUE);

    struct hs_client impostor;
    uint8_t answer[HS_MAX_PAYLOAD];
    size_t answer_len;
    hs_client_init(&impostor, answer_key->bytes, answer_key->len);
    ck_assert_int_eq(client_feed(&impostor, frame, len, answer, &answer_len, why), HS_CONTINUE);
    if (flip_bit)
        answer[answer_len - 1] ^= 1;
    return client_feed(c, answer, answer_len, out, outlen, why);
}

START_TEST(server_without_key_is_detected)
{
    struct key right = test_key(key_lengths[_i]);
    struct key wrong = test_key(key_lengths[(_i + 1) % N_KEYS]);
    struct hs_client c;
    uint8_t out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;

    ck_assert_int_eq(client_vs_fake_server(&right, &wrong, false, &c, out, &outlen, &why), HS_FAIL);
    ck_assert_str_eq(why, "server does not hold the authkey");
    ck_assert(!c.server_rejected);
    ck_assert(payload_is(out, outlen, HS_FAILURE));

    ck_assert_int_eq(client_vs_fake_server(&right, &right, true, &c, out, &outlen, &why), HS_FAIL);
    ck_assert(!c.server_rejected);

    /* The same fake server holding the right key passes: the failures above
     * come from the MAC alone. */
    ck_assert_int_eq(client_vs_fake_server(&right, &right, false, &c, out, &outlen, &why), HS_DONE);
    ck_assert(payload_is(out, outlen, HS_WELCOME));
}
END_TEST

START_TEST(server_refuses_stale_answer)
{
    struct key k = test_key(32);
    struct hs_server s;
    uint8_t out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    struct exchange x;
    run_exchange(&k, false, &k, &x); /* an answer to another server's challenge */
    hs_server_init(&s, k.bytes, k.len, false);
    (void)hs_server_start(&s, out);
    ck_assert_int_eq(server_feed(&s, x.frame[1], x.len[1], out, &outlen, &why), HS_FAIL);
    ck_assert(payload_is(out, outlen, HS_FAILURE));
}
END_TEST

/* --- legacy (Python 3.11) ------------------------------------------------- */

/* A Python 3.11 client: raw HMAC-MD5 answers, a 20-byte challenge. */
static enum hs_status legacy_client_step2(struct hs_server *s, const struct key *k, uint8_t *out,
                                          size_t *outlen, const char **why)
{
    uint8_t challenge[HS_MAX_PAYLOAD], mac[HS_MD5_MAC_SIZE];
    size_t len = hs_server_start(s, challenge);
    ck_assert(len > CHALLENGE_LEN);
    md5_mac(mac, k, challenge + CHALLENGE_LEN, len - CHALLENGE_LEN);
    return server_feed(s, mac, sizeof mac, out, outlen, why);
}

START_TEST(legacy_client_accepted_when_enabled)
{
    struct key k = test_key(key_lengths[_i]);
    struct hs_server s;
    uint8_t out[HS_MAX_PAYLOAD], frame[HS_MAX_PAYLOAD], nonce[20], want[HS_MD5_MAC_SIZE];
    size_t outlen;
    const char *why = NULL;
    hs_server_init(&s, k.bytes, k.len, true);
    ck_assert_int_eq(legacy_client_step2(&s, &k, out, &outlen, &why), HS_CONTINUE);
    ck_assert(payload_is(out, outlen, HS_WELCOME));

    test_nonce20(nonce);
    nonce[0] = '{'; /* Python tells the legacy form by length, not by the brace */
    size_t len = cat(frame, HS_CHALLENGE, nonce, sizeof nonce);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_CONTINUE);
    md5_mac(want, &k, nonce, sizeof nonce);
    ck_assert_uint_eq(outlen, HS_MD5_MAC_SIZE);
    ck_assert(memcmp(out, want, sizeof want) == 0);
    ck_assert_int_eq(server_feed(&s, HS_WELCOME, strlen(HS_WELCOME), out, &outlen, &why), HS_DONE);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

START_TEST(legacy_client_refused_when_disabled)
{
    struct key k = test_key(key_lengths[_i]);
    struct hs_server s;
    uint8_t out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    hs_server_init(&s, k.bytes, k.len, false);
    ck_assert_int_eq(legacy_client_step2(&s, &k, out, &outlen, &why), HS_FAIL);
    ck_assert(payload_is(out, outlen, HS_FAILURE));
    ck_assert_ptr_nonnull(strstr(why, "legacy"));
}
END_TEST

START_TEST(legacy_client_with_wrong_key)
{
    struct key server_key = test_key(32), client_key = test_key(5);
    struct hs_server s;
    uint8_t out[HS_MAX_PAYLOAD], challenge[HS_MAX_PAYLOAD], mac[HS_MD5_MAC_SIZE];
    size_t outlen;
    const char *why = NULL;
    hs_server_init(&s, server_key.bytes, server_key.len, true);
    size_t len = hs_server_start(&s, challenge);
    md5_mac(mac, &client_key, challenge + CHALLENGE_LEN, len - CHALLENGE_LEN);
    ck_assert_int_eq(server_feed(&s, mac, sizeof mac, out, &outlen, &why), HS_FAIL);
    ck_assert(payload_is(out, outlen, HS_FAILURE));
}
END_TEST

/* Takes a fresh server through steps 1-3 with a real client. */
static void server_past_step3(struct hs_server *s, const struct key *k, bool legacy_md5)
{
    struct hs_client c;
    uint8_t challenge[HS_MAX_PAYLOAD], answer[HS_MAX_PAYLOAD], out[HS_MAX_PAYLOAD];
    size_t answer_len, outlen;
    const char *why;
    hs_server_init(s, k->bytes, k->len, legacy_md5);
    hs_client_init(&c, k->bytes, k->len);
    size_t len = hs_server_start(s, challenge);
    ck_assert_int_eq(client_feed(&c, challenge, len, answer, &answer_len, &why), HS_CONTINUE);
    ck_assert_int_eq(server_feed(s, answer, answer_len, out, &outlen, &why), HS_CONTINUE);
    ck_assert(payload_is(out, outlen, HS_WELCOME));
}

START_TEST(legacy_challenge_refused_when_disabled)
{
    struct key k = test_key(32);
    struct hs_server s;
    uint8_t frame[HS_MAX_PAYLOAD], nonce[20], out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    test_nonce20(nonce);
    size_t len = cat(frame, HS_CHALLENGE, nonce, sizeof nonce);
    server_past_step3(&s, &k, false);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_FAIL);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_ptr_nonnull(strstr(why, "legacy"));
}
END_TEST

/* --- known answers ------------------------------------------------------ */

START_TEST(client_answer_known)
{
    struct key k = test_key(key_lengths[_i]);
    struct hs_client c;
    uint8_t frame[HS_MAX_PAYLOAD], nonce[40], want[HS_MAX_PAYLOAD], out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    test_nonce40(nonce);
    size_t len = cat(frame, HS_CHALLENGE HS_DIGEST_PREFIX, nonce, sizeof nonce);
    memcpy(want, HS_DIGEST_PREFIX, PREFIX_LEN);
    size_t want_len = PREFIX_LEN + unhex(kat_sha256[_i], want + PREFIX_LEN);
    hs_client_init(&c, k.bytes, k.len);
    ck_assert_int_eq(client_feed(&c, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_uint_eq(outlen, want_len);
    ck_assert(memcmp(out, want, want_len) == 0);
}
END_TEST

START_TEST(server_answer_known)
{
    struct key k = test_key(key_lengths[_i]);
    struct hs_server s;
    uint8_t frame[HS_MAX_PAYLOAD], nonce[40], want[HS_MAX_PAYLOAD], out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    test_nonce40(nonce);
    size_t len = cat(frame, HS_CHALLENGE HS_DIGEST_PREFIX, nonce, sizeof nonce);
    memcpy(want, HS_DIGEST_PREFIX, PREFIX_LEN);
    size_t want_len = PREFIX_LEN + unhex(kat_sha256[_i], want + PREFIX_LEN);
    server_past_step3(&s, &k, false);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_uint_eq(outlen, want_len);
    ck_assert(memcmp(out, want, want_len) == 0);
}
END_TEST

START_TEST(server_legacy_answer_known)
{
    struct key k = test_key(key_lengths[_i]);
    struct hs_server s;
    uint8_t frame[HS_MAX_PAYLOAD], nonce[20], want[HS_MD5_MAC_SIZE], out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    test_nonce20(nonce);
    size_t len = cat(frame, HS_CHALLENGE, nonce, sizeof nonce);
    ck_assert_uint_eq(unhex(kat_md5[_i], want), sizeof want);
    server_past_step3(&s, &k, true);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_uint_eq(outlen, sizeof want);
    ck_assert(memcmp(out, want, sizeof want) == 0);
}
END_TEST

/* --- hostile input ------------------------------------------------------ */

START_TEST(server_refuses_bad_step2)
{
    static const struct {
        size_t len;
        const char *bytes;
    } bad[] = {
        {0, ""},
        {9, HS_WELCOME},
        {39, "{sha256}0123456789012345678901234567890"},
        {41, "{sha256}012345678901234567890123456789012"},
        {40, "{sha512}01234567890123456789012345678901"},
        {40, "0123456789012345678901234567890123456789"},
        {20, "01234567890123456789"},
    };
    struct key k = test_key(32);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_server s;
        uint8_t out[HS_MAX_PAYLOAD];
        size_t outlen;
        const char *why = NULL;
        hs_server_init(&s, k.bytes, k.len, true);
        (void)hs_server_start(&s, out);
        ck_assert_msg(server_feed(&s, bad[i].bytes, bad[i].len, out, &outlen, &why) == HS_FAIL,
                      "case %zu", i);
        ck_assert(payload_is(out, outlen, HS_FAILURE));
        ck_assert_int_eq(server_feed(&s, HS_WELCOME, 9, out, &outlen, &why), HS_FAIL);
    }
}
END_TEST

START_TEST(server_step4_shapes)
{
    static const struct {
        const char *head;
        size_t nonce_len;
        bool ok;
    } cases[] = {
        {HS_CHALLENGE HS_DIGEST_PREFIX, 40, true},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 20, true},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 200, true},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 19, false},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 201, false},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 0, false},
        {HS_CHALLENGE "{sha512}", 40, false},
        {HS_CHALLENGE "{md5}", 40, false},
        {HS_CHALLENGE "{sha256", 40, false},
        {HS_CHALLENGE, 40, false},
        {HS_CHALLENGE, 0, false},
        {"#CHALLENGE" HS_DIGEST_PREFIX, 40, false},
        {HS_WELCOME, 0, false},
    };
    struct key k = test_key(100);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hs_server s;
        uint8_t frame[HS_MAX_PAYLOAD], nonce[HS_MAX_PAYLOAD], out[HS_MAX_PAYLOAD];
        size_t outlen;
        const char *why = NULL;
        memset(nonce, 'n', sizeof nonce);
        size_t len = cat(frame, cases[i].head, nonce, cases[i].nonce_len);
        server_past_step3(&s, &k, false);
        enum hs_status st = server_feed(&s, frame, len, out, &outlen, &why);
        ck_assert_msg(st == (cases[i].ok ? HS_CONTINUE : HS_FAIL), "case %zu: %s", i, why);
        ck_assert_uint_eq(outlen, cases[i].ok ? PREFIX_LEN + HS_MAC_SIZE : 0);
    }
}
END_TEST

START_TEST(server_unsupported_digest_reason)
{
    struct key k = test_key(5);
    struct hs_server s;
    uint8_t frame[HS_MAX_PAYLOAD], nonce[40] = {0}, out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    size_t len = cat(frame, HS_CHALLENGE "{sha512}", nonce, sizeof nonce);
    server_past_step3(&s, &k, true);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_FAIL);
    ck_assert_str_eq(why, "unsupported digest in challenge");
}
END_TEST

START_TEST(server_step6_and_after)
{
    static const struct {
        size_t len;
        const char *bytes;
    } bad[] = {
        {8, "#WELCOME"}, {10, "#WELCOME#x"}, {9, HS_FAILURE}, {0, ""}, {9, "#welcome#"},
    };
    struct key k = test_key(32);
    uint8_t frame[HS_MAX_PAYLOAD], nonce[40] = {0}, out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    size_t len = cat(frame, HS_CHALLENGE HS_DIGEST_PREFIX, nonce, sizeof nonce);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_server s;
        server_past_step3(&s, &k, false);
        ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_CONTINUE);
        ck_assert_msg(server_feed(&s, bad[i].bytes, bad[i].len, out, &outlen, &why) == HS_FAIL,
                      "case %zu", i);
        ck_assert_uint_eq(outlen, 0);
    }
    struct hs_server s;
    server_past_step3(&s, &k, false);
    ck_assert_int_eq(server_feed(&s, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_int_eq(server_feed(&s, HS_WELCOME, 9, out, &outlen, &why), HS_DONE);
    ck_assert_int_eq(server_feed(&s, HS_WELCOME, 9, out, &outlen, &why), HS_FAIL);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

START_TEST(client_refuses_bad_frames)
{
    static const struct {
        const char *head;
        size_t nonce_len;
    } bad_challenges[] = {
        {HS_CHALLENGE, 20},                     /* a Python 3.11 server */
        {HS_CHALLENGE "{sha512}", 40},
        {HS_CHALLENGE, 48},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 19},
        {HS_CHALLENGE HS_DIGEST_PREFIX, 201},
        {HS_WELCOME, 0},
        {"", 0},
    };
    struct key k = test_key(32);
    uint8_t frame[HS_MAX_PAYLOAD], nonce[HS_MAX_PAYLOAD], out[HS_MAX_PAYLOAD];
    size_t outlen;
    const char *why = NULL;
    memset(nonce, 'n', sizeof nonce);
    for (size_t i = 0; i < sizeof bad_challenges / sizeof bad_challenges[0]; i++) {
        struct hs_client c;
        hs_client_init(&c, k.bytes, k.len);
        size_t len = cat(frame, bad_challenges[i].head, nonce, bad_challenges[i].nonce_len);
        ck_assert_msg(client_feed(&c, frame, len, out, &outlen, &why) == HS_FAIL, "case %zu", i);
        ck_assert_uint_eq(outlen, 0);
        ck_assert(!c.server_rejected);
    }

    /* Step 3: anything but the two words. */
    struct hs_client c;
    size_t len = cat(frame, HS_CHALLENGE HS_DIGEST_PREFIX, nonce, 40);
    hs_client_init(&c, k.bytes, k.len);
    ck_assert_int_eq(client_feed(&c, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_int_eq(client_feed(&c, "#WELCOME", 8, out, &outlen, &why), HS_FAIL);
    ck_assert(!c.server_rejected);
    ck_assert_int_eq(client_feed(&c, HS_WELCOME, 9, out, &outlen, &why), HS_FAIL);

    /* Step 5: a legacy-shaped answer. */
    hs_client_init(&c, k.bytes, k.len);
    ck_assert_int_eq(client_feed(&c, frame, len, out, &outlen, &why), HS_CONTINUE);
    ck_assert_int_eq(client_feed(&c, HS_WELCOME, 9, out, &outlen, &why), HS_CONTINUE);
    ck_assert_int_eq(client_feed(&c, nonce, HS_MD5_MAC_SIZE, out, &outlen, &why), HS_FAIL);
    ck_assert(payload_is(out, outlen, HS_FAILURE));
    ck_assert(!c.server_rejected);
}
END_TEST

/* Which prefixes of frame f of a (legacy-enabled) exchange are themselves
 * valid: a challenge cut short still carries a nonce of 20 bytes or more, and
 * cut to 20 bytes after "#CHALLENGE#" it is the legacy form. */
static bool prefix_is_valid(int f, size_t cut, size_t whole)
{
    const bool challenge = f == 0 || f == 3;
    if (cut == whole)
        return true;
    if (challenge && cut >= CHALLENGE_LEN + PREFIX_LEN + 20)
        return true;
    return f == 3 && cut == CHALLENGE_LEN + HS_LEGACY_NONCE_SIZE;
}

/* No other truncation of a valid frame is accepted, by either side. */
START_TEST(truncated_frames_fail)
{
    struct key k = test_key(32);
    struct exchange x;
    run_exchange(&k, true, &k, &x);
    ck_assert_int_eq(x.frames, 6);
    for (int f = 0; f < 6; f++) {
        for (size_t cut = 0; cut <= x.len[f]; cut++) {
            struct hs_server s = x.server_before[f];
            struct hs_client c = x.client_before[f];
            uint8_t out[HS_MAX_PAYLOAD];
            size_t outlen;
            const char *why = NULL;
            enum hs_status st = f % 2 == 0 ? client_feed(&c, x.frame[f], cut, out, &outlen, &why)
                                           : server_feed(&s, x.frame[f], cut, out, &outlen, &why);
            ck_assert_msg((st != HS_FAIL) == prefix_is_valid(f, cut, x.len[f]),
                          "frame %d cut at %zu: %s", f, cut, why ? why : "accepted");
        }
    }
}
END_TEST

static Suite *handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("mutual");
    tcase_add_loop_test(tc, same_key_both_done, 0, 2 * N_KEYS);
    tcase_add_test(tc, nonces_are_fresh);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrong_key");
    tcase_add_loop_test(tc, client_with_wrong_key_is_rejected, 0, N_KEYS);
    tcase_add_loop_test(tc, server_without_key_is_detected, 0, N_KEYS);
    tcase_add_test(tc, server_refuses_stale_answer);
    suite_add_tcase(s, tc);

    tc = tcase_create("legacy");
    tcase_add_loop_test(tc, legacy_client_accepted_when_enabled, 0, N_KEYS);
    tcase_add_loop_test(tc, legacy_client_refused_when_disabled, 0, N_KEYS);
    tcase_add_test(tc, legacy_client_with_wrong_key);
    tcase_add_test(tc, legacy_challenge_refused_when_disabled);
    suite_add_tcase(s, tc);

    tc = tcase_create("known_answers");
    tcase_add_loop_test(tc, client_answer_known, 0, N_KEYS);
    tcase_add_loop_test(tc, server_answer_known, 0, N_KEYS);
    tcase_add_loop_test(tc, server_legacy_answer_known, 0, N_KEYS);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, server_refuses_bad_step2);
    tcase_add_test(tc, server_step4_shapes);
    tcase_add_test(tc, server_unsupported_digest_reason);
    tcase_add_test(tc, server_step6_and_after);
    tcase_add_test(tc, client_refuses_bad_frames);
    tcase_add_test(tc, truncated_frames_fail);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(handshake_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
