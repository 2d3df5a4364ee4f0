#include "handshake.h"

#include <nettle/hmac.h>
#include <sodium.h>

#include "handshake_mac.h"

/* The raw HMAC-MD5 that Python 3.11 and earlier use in both directions. */
static void hmac_md5_raw(uint8_t mac[HS_MD5_MAC_SIZE], const uint8_t *key, size_t keylen,
                         const uint8_t *msg, size_t len)
{
    struct hmac_md5_ctx ctx;
    hmac_md5_set_key(&ctx, keylen, key);
    hmac_md5_update(&ctx, len, msg);
    hmac_md5_digest(&ctx, HS_MD5_MAC_SIZE, mac);
    sodium_memzero(&ctx, sizeof ctx);
}

static bool legacy_response_verifies(const struct hs_server *hs, const uint8_t *in)
{
    uint8_t expected[HS_MD5_MAC_SIZE];
    hmac_md5_raw(expected, hs->key, hs->keylen, hs->message, sizeof hs->message);
    bool ok = crypto_verify_16(in, expected) == 0;
    sodium_memzero(expected, sizeof expected);
    return ok;
}

void hs_server_init(struct hs_server *hs, const uint8_t *key, size_t keylen, bool legacy_md5)
{
    hs->step = HS_SERVER_WAIT_RESPONSE;
    hs->key = key;
    hs->keylen = keylen;
    hs->legacy_md5 = legacy_md5;
    /* Made here rather than in start, so that no feed order can meet a
     * predictable challenge. */
    hs_new_challenge_message(hs->message);
}

size_t hs_server_start(struct hs_server *hs, uint8_t *out)
{
    return hs_put_challenge(out, hs->message);
}

static enum hs_status server_fail(struct hs_server *hs, const char *reason, const char **why)
{
    hs->step = HS_SERVER_FAILED;
    *why = reason;
    return HS_FAIL;
}

/* Why a step-2 response is refused, or NULL when it verifies. Python tells
 * the legacy form by its length alone. */
static const char *response_problem(const struct hs_server *hs, const uint8_t *in, size_t len)
{
    if (len == HS_MD5_MAC_SIZE) {
        if (!hs->legacy_md5)
            return "legacy md5 response refused (auth_legacy_md5 is off)";
        return legacy_response_verifies(hs, in) ? NULL : "wrong authkey digest (legacy md5)";
    }
    if (!hs_has_prefix(in, len, HS_DIGEST_PREFIX))
        return hs_has_prefix(in, len, "{") ? "unsupported digest in response"
                                           : "malformed digest response";
    if (len != HS_PREFIX_LEN + HS_MAC_SIZE)
        return "malformed digest response";
    if (!hs_response_verifies(hs->key, hs->keylen, hs->message, sizeof hs->message, in, len))
        return "wrong authkey digest";
    return NULL;
}

/* Step 2 -> 3. */
static enum hs_status server_check_response(struct hs_server *hs, const uint8_t *in, size_t len,
                                            uint8_t *out, size_t *outlen, const char **why)
{
    const char *problem = response_problem(hs, in, len);
    if (problem) {
        *outlen = hs_put(out, HS_FAILURE);
        return server_fail(hs, problem, why);
    }
    *outlen = hs_put(out, HS_WELCOME);
    hs->step = HS_SERVER_WAIT_CHALLENGE;
    return HS_CONTINUE;
}

/* Step 4 -> 5. A 20-byte challenge is the legacy form (Python also tells it
 * by its length); any other must name sha256. */
static enum hs_status server_answer(struct hs_server *hs, const uint8_t *in, size_t len,
                                    uint8_t *out, size_t *outlen, const char **why)
{
    const char *reason;
    if (hs_has_prefix(in, len, HS_CHALLENGE) &&
        len - HS_CHALLENGE_LEN == HS_LEGACY_NONCE_SIZE) {
        if (!hs->legacy_md5)
            return server_fail(hs, "legacy md5 challenge refused (auth_legacy_md5 is off)", why);
        hmac_md5_raw(out, hs->key, hs->keylen, in + HS_CHALLENGE_LEN, HS_LEGACY_NONCE_SIZE);
        *outlen = HS_MD5_MAC_SIZE;
    } else if (!hs_answer_challenge(hs->key, hs->keylen, in, len, out, outlen, &reason)) {
        return server_fail(hs, reason, why);
    }
    hs->step = HS_SERVER_WAIT_WELCOME;
    return HS_CONTINUE;
}

/* Step 6. */
static enum hs_status server_check_welcome(struct hs_server *hs, const uint8_t *in, size_t len,
                                           const char **why)
{
    if (hs_equals(in, len, HS_FAILURE))
        return server_fail(hs, "client rejected our digest", why);
    if (!hs_equals(in, len, HS_WELCOME))
        return server_fail(hs, "expected #WELCOME# from the client", why);
    hs->step = HS_SERVER_DONE;
    return HS_DONE;
}

enum hs_status hs_server_feed(struct hs_server *hs, const uint8_t *in, size_t len, uint8_t *out,
                              size_t *outlen, const char **why)
{
    *outlen = 0;
    *why = NULL;
    switch (hs->step) {
    case HS_SERVER_WAIT_RESPONSE: return server_check_response(hs, in, len, out, outlen, why);
    case HS_SERVER_WAIT_CHALLENGE: return server_answer(hs, in, len, out, outlen, why);
    case HS_SERVER_WAIT_WELCOME: return server_check_welcome(hs, in, len, why);
    case HS_SERVER_DONE:
    case HS_SERVER_FAILED: break;
    }
    return server_fail(hs, "handshake already over", why);
}
