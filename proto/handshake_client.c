#include "handshake.h"

#include "handshake_mac.h"

void hs_client_init(struct hs_client *hs, const uint8_t *key, size_t keylen)
{
    hs->step = HS_CLIENT_WAIT_CHALLENGE;
    hs->key = key;
    hs->keylen = keylen;
    hs->server_rejected = false;
    hs_new_challenge_message(hs->message);
}

static enum hs_status client_fail(struct hs_client *hs, const char *reason, const char **why)
{
    hs->step = HS_CLIENT_FAILED;
    *why = reason;
    return HS_FAIL;
}

/* Step 1 -> 2. Only the sha256 form: a legacy server is refused. */
static enum hs_status client_answer(struct hs_client *hs, const uint8_t *in, size_t len,
                                    uint8_t *out, size_t *outlen, const char **why)
{
    const char *reason;
    if (!hs_answer_challenge(hs->key, hs->keylen, in, len, out, outlen, &reason))
        return client_fail(hs, reason, why);
    hs->step = HS_CLIENT_WAIT_WELCOME;
    return HS_CONTINUE;
}

/* Step 3 -> 4. */
static enum hs_status client_check_welcome(struct hs_client *hs, const uint8_t *in, size_t len,
                                           uint8_t *out, size_t *outlen, const char **why)
{
    if (hs_equals(in, len, HS_FAILURE)) {
        hs->server_rejected = true;
        return client_fail(hs, "server rejected our authkey", why);
    }
    if (!hs_equals(in, len, HS_WELCOME))
        return client_fail(hs, "expected #WELCOME# or #FAILURE# from the server", why);
    *outlen = hs_put_challenge(out, hs->message);
    hs->step = HS_CLIENT_WAIT_RESPONSE;
    return HS_CONTINUE;
}

size_t hs_client_challenge(const struct hs_client *hs, uint8_t *out)
{
    return hs_put_challenge(out, hs->message);
}

/* Step 5 -> 6. Like Python, tell the server before closing. */
static enum hs_status client_check_response(struct hs_client *hs, const uint8_t *in, size_t len,
                                            uint8_t *out, size_t *outlen, const char **why)
{
    if (!hs_response_verifies(hs->key, hs->keylen, hs->message, sizeof hs->message, in, len)) {
        *outlen = hs_put(out, HS_FAILURE);
        return client_fail(hs, "server does not hold the authkey", why);
    }
    *outlen = hs_put(out, HS_WELCOME);
    hs->step = HS_CLIENT_DONE;
    return HS_DONE;
}

/* The mirror of hs_server_feed: the same dispatch over the client's steps. */
enum hs_status hs_client_feed(struct hs_client *hs, const uint8_t *in, size_t len, uint8_t *out,
                              size_t *outlen, const char **why)
{
    *outlen = 0;
    *why = NULL;
    switch (hs->step) {
    case HS_CLIENT_WAIT_CHALLENGE: return client_answer(hs, in, len, out, outlen, why);
    case HS_CLIENT_WAIT_WELCOME: return client_check_welcome(hs, in, len, out, outlen, why);
    case HS_CLIENT_WAIT_RESPONSE: return client_check_response(hs, in, len, out, outlen, why);
    case HS_CLIENT_DONE:
    case HS_CLIENT_FAILED: break;
    }
    return client_fail(hs, "handshake already over", why);
}
