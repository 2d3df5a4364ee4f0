/* Frames from the input fed to hs_server and to hs_client, optionally after
 * a few honest steps, so that every step of both machines meets them.
 *
 * Input: one flags byte (bit 0: legacy_md5; bits 1-2: how many honest
 * steps run first, 0..2), then frames, each a length byte and that many
 * bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/handshake.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const uint8_t key[] = "fuzzing authkey";
#define KEYLEN (sizeof key - 1)

struct frames {
    const uint8_t *p;
    size_t left;
};

/* The next frame, copied to a buffer of its exact size so that ASan sees any
 * read past it; NULL at the end of the input. */
static uint8_t *next_frame(struct frames *f, size_t *len)
{
    if (f->left == 0)
        return NULL;
    *len = f->p[0];
    if (*len > f->left - 1)
        *len = f->left - 1;
    uint8_t *copy = malloc(*len ? *len : 1);
    CHECK(copy);
    memcpy(copy, f->p + 1, *len);
    f->p += 1 + *len;
    f->left -= 1 + *len;
    return copy;
}

static void check_result(enum hs_status st, size_t outlen, const char *why)
{
    CHECK(outlen <= HS_MAX_PAYLOAD);
    CHECK((st == HS_FAIL) == (why != NULL));
}

static enum hs_status feed_server(struct hs_server *s, const uint8_t *in, size_t len,
                                  uint8_t *out, size_t *outlen)
{
    const char *why;
    enum hs_status st = hs_server_feed(s, in, len, out, outlen, &why);
    check_result(st, *outlen, why);
    return st;
}

static enum hs_status feed_client(struct hs_client *c, const uint8_t *in, size_t len,
                                  uint8_t *out, size_t *outlen)
{
    const char *why;
    enum hs_status st = hs_client_feed(c, in, len, out, outlen, &why);
    check_result(st, *outlen, why);
    return st;
}

/* Honest steps between a real client and the server under test:
 * 1 gets the server past step 3, 2 past step 5 (the input then plays step 6). */
static void server_honest_steps(struct hs_server *s, unsigned steps)
{
    struct hs_client c;
    uint8_t a[HS_MAX_PAYLOAD], b[HS_MAX_PAYLOAD];
    size_t alen, blen;
    hs_client_init(&c, key, KEYLEN);
    alen = hs_server_start(s, a);
    if (steps == 0)
        return;
    CHECK(feed_client(&c, a, alen, b, &blen) == HS_CONTINUE);
    CHECK(feed_server(s, b, blen, a, &alen) == HS_CONTINUE);
    if (steps == 1)
        return;
    CHECK(feed_client(&c, a, alen, b, &blen) == HS_CONTINUE);
    CHECK(feed_server(s, b, blen, a, &alen) == HS_CONTINUE);
}

/* Honest steps between a real server and the client under test:
 * 1 gets the client past step 2, 2 past step 4 (the input then plays step 5). */
static void client_honest_steps(struct hs_client *c, bool legacy_md5, unsigned steps)
{
    struct hs_server s;
    uint8_t a[HS_MAX_PAYLOAD], b[HS_MAX_PAYLOAD];
    size_t alen, blen;
    if (steps == 0)
        return;
    hs_server_init(&s, key, KEYLEN, legacy_md5);
    alen = hs_server_start(&s, a);
    CHECK(feed_client(c, a, alen, b, &blen) == HS_CONTINUE);
    if (steps == 1)
        return;
    CHECK(feed_server(&s, b, blen, a, &alen) == HS_CONTINUE);
    CHECK(feed_client(c, a, alen, b, &blen) == HS_CONTINUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const bool legacy_md5 = data[0] & 1;
    const unsigned honest = (data[0] >> 1) % 3;
    struct hs_server s;
    struct hs_client c;
    enum hs_status server = HS_CONTINUE, client = HS_CONTINUE;
    struct frames f = {data + 1, size - 1};
    uint8_t out[HS_MAX_PAYLOAD];
    size_t outlen, len;
    uint8_t *frame;

    hs_server_init(&s, key, KEYLEN, legacy_md5);
    hs_client_init(&c, key, KEYLEN);
    server_honest_steps(&s, honest);
    client_honest_steps(&c, legacy_md5, honest);
    while ((server == HS_CONTINUE || client == HS_CONTINUE) && (frame = next_frame(&f, &len))) {
        if (server == HS_CONTINUE)
            server = feed_server(&s, frame, len, out, &outlen);
        if (client == HS_CONTINUE)
            client = feed_client(&c, frame, len, out, &outlen);
        free(frame);
    }
    /* The server authenticates the client at step 2 and the client the
     * server at step 5, each by a MAC over its own fresh nonce, which no
     * input holds: only a server whose step 2 was honest may finish. */
    CHECK(server != HS_DONE || honest >= 1);
    CHECK(client != HS_DONE);
    return 0;
}
