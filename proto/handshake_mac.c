#include "handshake_mac.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* HMAC-SHA256 with a key of any length, like Python's hmac.new(key, msg, 'sha256'). */
static void hmac_sha256(uint8_t mac[HS_MAC_SIZE], const uint8_t *key, size_t keylen,
                        const uint8_t *msg, size_t len)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

bool hs_answer_challenge(const uint8_t *key, size_t keylen, const uint8_t *in, size_t len,
                         uint8_t *out, size_t *outlen, const char **why)
{
    if (!hs_has_prefix(in, len, HS_CHALLENGE)) {
        *why = "expected a challenge";
        return false;
    }
    const uint8_t *message = in + HS_CHALLENGE_LEN;
    size_t message_len = len - HS_CHALLENGE_LEN;
    if (!hs_has_prefix(message, message_len, "{")) {
        *why = "challenge without a digest name";
        return false;
    }
    if (!hs_has_prefix(message, message_len, HS_DIGEST_PREFIX)) {
        *why = "unsupported digest in challenge";
        return false;
    }
    size_t nonce_len = message_len - HS_PREFIX_LEN;
    if (nonce_len < HS_MIN_PEER_NONCE || nonce_len > HS_MAX_PEER_NONCE) {
        *why = "challenge nonce of unexpected length";
        return false;
    }
    size_t n = hs_put(out, HS_DIGEST_PREFIX);
    hmac_sha256(out + n, key, keylen, message, message_len);
    *outlen = n + HS_MAC_SIZE;
    return true;
}

bool hs_response_verifies(const uint8_t *key, size_t keylen, const uint8_t *message,
                          size_t message_len, const uint8_t *in, size_t len)
{
    if (len != HS_PREFIX_LEN + HS_MAC_SIZE || !hs_has_prefix(in, len, HS_DIGEST_PREFIX))
        return false;
    uint8_t expected[HS_MAC_SIZE];
    hmac_sha256(expected, key, keylen, message, message_len);
    bool ok = crypto_verify_32(in + HS_PREFIX_LEN, expected) == 0;
    sodium_memzero(expected, sizeof expected);
    return ok;
}

void hs_new_challenge_message(uint8_t message[HS_MESSAGE_SIZE])
{
    /* sodium_init() is idempotent and thread-safe; calling it here spares
     * every program that links the handshake from having to. It fails only
     * without an entropy source, when no nonce can be made at all. */
    if (sodium_init() < 0)
        abort();
    memcpy(message, HS_DIGEST_PREFIX, HS_PREFIX_LEN);
    randombytes_buf(message + HS_PREFIX_LEN, HS_NONCE_SIZE);
}

bool hs_has_prefix(const uint8_t *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

size_t hs_put(uint8_t *out, const char *s)
{
    size_t n = strlen(s);
    memcpy(out, s, n);
    return n;
}

size_t hs_put_challenge(uint8_t *out, const uint8_t message[HS_MESSAGE_SIZE])
{
    size_t n = hs_put(out, HS_CHALLENGE);
    memcpy(out + n, message, HS_MESSAGE_SIZE);
    return n + HS_MESSAGE_SIZE;
}

bool hs_equals(const uint8_t *p, size_t len, const char *s)
{
    return len == strlen(s) && hs_has_prefix(p, len, s);
}
