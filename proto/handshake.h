/*
 * The mutual HMAC authkey handshake of Python's multiprocessing.connection
 * (docs/protocol.md §2), as pure state machines with no I/O: each side is fed one
 * complete frame payload at a time and hands back the payload to send, so the
 * daemon, the client library and the fuzzer drive the same code.
 */
#ifndef QMGR_PROTO_HANDSHAKE_H
#define QMGR_PROTO_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_CHALLENGE "#CHALLENGE#"
#define HS_WELCOME "#WELCOME#"
#define HS_FAILURE "#FAILURE#"
#define HS_DIGEST_PREFIX "{sha256}"
#define HS_NONCE_SIZE 40
#define HS_LEGACY_NONCE_SIZE 20
#define HS_MAC_SIZE 32
#define HS_MD5_MAC_SIZE 16
/* Every payload either side sends fits here. */
#define HS_MAX_PAYLOAD 256

enum hs_status {
    HS_CONTINUE, /* send *outlen bytes of out (if any), then wait for the next frame */
    HS_DONE,     /* authenticated; send out if *outlen > 0 */
    HS_FAIL,     /* send out if *outlen > 0 (#FAILURE#), then close; *why says why */
};

enum hs_server_step {
    HS_SERVER_WAIT_RESPONSE,  /* step 2 */
    HS_SERVER_WAIT_CHALLENGE, /* step 4 */
    HS_SERVER_WAIT_WELCOME,   /* step 6 */
    HS_SERVER_DONE,
    HS_SERVER_FAILED,
};

struct hs_server {
    enum hs_server_step step;
    const uint8_t *key;
    size_t keylen;
    bool legacy_md5;
    uint8_t message[sizeof(HS_DIGEST_PREFIX) - 1 + HS_NONCE_SIZE]; /* "{sha256}" · Rs */
};

/* key must outlive the handshake. */
void hs_server_init(struct hs_server *hs, const uint8_t *key, size_t keylen, bool legacy_md5);
/* Writes the step-1 challenge payload into out (HS_MAX_PAYLOAD bytes) and returns its length. */
size_t hs_server_start(struct hs_server *hs, uint8_t *out);
enum hs_status hs_server_feed(struct hs_server *hs, const uint8_t *in, size_t len, uint8_t *out,
                              size_t *outlen, const char **why);

/* The client side mirrors the server's: its own steps of the same exchange. */
enum hs_client_step {
    HS_CLIENT_WAIT_CHALLENGE, /* step 1 */
    HS_CLIENT_WAIT_WELCOME,   /* step 3 */
    HS_CLIENT_WAIT_RESPONSE,  /* step 5 */
    HS_CLIENT_DONE,
    HS_CLIENT_FAILED,
};

struct hs_client {
    enum hs_client_step step;
    const uint8_t *key;
    size_t keylen;
    bool server_rejected; /* step 3 was #FAILURE#: our key is wrong */
    uint8_t message[sizeof(HS_DIGEST_PREFIX) - 1 + HS_NONCE_SIZE]; /* "{sha256}" · Rc */
};

void hs_client_init(struct hs_client *hs, const uint8_t *key, size_t keylen);
/* Step 4's payload, the one step 3 hands back (HS_MAX_PAYLOAD bytes of
 * out), its length returned: a client may send it right after step 2
 * instead of after step 3. A server reads the frames in order either way,
 * and a round trip is saved. */
size_t hs_client_challenge(const struct hs_client *hs, uint8_t *out);
/* HS_FAIL with server_rejected == false after step 5 means the server does
 * not hold the authkey (EAUTH). */
enum hs_status hs_client_feed(struct hs_client *hs, const uint8_t *in, size_t len, uint8_t *out,
                              size_t *outlen, const char **why);

#endif
