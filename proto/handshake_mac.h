/* Pieces shared by both sides of the handshake (internal to proto/). */
#ifndef QMGR_PROTO_HANDSHAKE_MAC_H
#define QMGR_PROTO_HANDSHAKE_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"

#define HS_PREFIX_LEN (sizeof(HS_DIGEST_PREFIX) - 1)
#define HS_CHALLENGE_LEN (sizeof(HS_CHALLENGE) - 1)
#define HS_MESSAGE_SIZE (HS_PREFIX_LEN + HS_NONCE_SIZE)
/* Nonce lengths accepted in a peer's sha256 challenge (Python sends 40). */
#define HS_MIN_PEER_NONCE 20
#define HS_MAX_PEER_NONCE 200

/* Fills message with "{sha256}" and a fresh HS_NONCE_SIZE-byte nonce. */
void hs_new_challenge_message(uint8_t message[HS_MESSAGE_SIZE]);

/* Writes the payload "#CHALLENGE#" · message to out and returns its length. */
size_t hs_put_challenge(uint8_t *out, const uint8_t message[HS_MESSAGE_SIZE]);

/* The answer to a "#CHALLENGE#{sha256}" · nonce payload:
 * "{sha256}" · HMAC(K, "{sha256}" · nonce), written to out. False, with a
 * reason in *why, for a payload of any other shape. */
bool hs_answer_challenge(const uint8_t *key, size_t keylen, const uint8_t *in, size_t len,
                         uint8_t *out, size_t *outlen, const char **why);

/* True when in is "{sha256}" · HMAC(K, message); the MAC is compared in
 * constant time. */
bool hs_response_verifies(const uint8_t *key, size_t keylen, const uint8_t *message,
                          size_t message_len, const uint8_t *in, size_t len);

/* True when p[0..len) starts with the NUL-terminated prefix. */
bool hs_has_prefix(const uint8_t *p, size_t len, const char *prefix);

/* True when p[0..len) is exactly the NUL-terminated s. */
bool hs_equals(const uint8_t *p, size_t len, const char *s);

/* Writes s (without its NUL) to out and returns its length. */
size_t hs_put(uint8_t *out, const char *s);

#endif
