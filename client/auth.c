/*
 * The client side of the handshake (docs/protocol.md §2): proto/handshake.c
 * decides, this file does the I/O. Both MACs are checked: the daemon must
 * prove it holds the key too.
 */
#include "client/internal.h"
#include "common/clock.h"
#include "proto/frame.h"
#include "proto/handshake.h"

static int handshake_failed(struct qmgr_conn *c, const struct hs_client *hs,
                            enum hs_client_step step, const char *why)
{
    int code;
    if (hs->server_rejected) {
        code = QMGR_EAUTH;
        conn_fail(c, code, "the daemon rejected our authkey (#FAILURE#): the keys differ");
    } else if (step == HS_CLIENT_WAIT_RESPONSE) {
        code = QMGR_EAUTH;
        conn_fail(c, code, "the server does not hold the authkey (%s)", why);
    } else {
        code = QMGR_EPROTO;
        conn_fail(c, code, "bad handshake from the daemon: %s", why);
    }
    wire_drop(c, code, c->error);
    return code;
}

static int queue_payload(struct qmgr_conn *c, const uint8_t *p, size_t len)
{
    if (!wire_queue_frame(c, p, len)) {
        conn_fail(c, QMGR_ECLIENTMEM, "out of memory in the handshake");
        wire_drop(c, QMGR_ECLIENTMEM, c->error);
        return QMGR_ECLIENTMEM;
    }
    return QMGR_OK;
}

/* Sends what the step just fed hands back. Our challenge (step 4) goes
 * with our answer (step 2), not after the daemon's #WELCOME#: a round trip
 * less for every connection, the same frames in the same order. */
static int send_step(struct qmgr_conn *c, const struct hs_client *hs, enum hs_client_step step,
                     const uint8_t *out, size_t outlen)
{
    if (step == HS_CLIENT_WAIT_WELCOME || outlen == 0)
        return QMGR_OK; /* step 3 hands back step 4, which went already */
    int rc = queue_payload(c, out, outlen);
    if (rc == QMGR_OK && hs->step == HS_CLIENT_WAIT_WELCOME) {
        uint8_t challenge[HS_MAX_PAYLOAD];
        rc = queue_payload(c, challenge, hs_client_challenge(hs, challenge));
    }
    return rc ? rc : wire_flush(c);
}

int auth_handshake(struct qmgr_conn *c)
{
    struct hs_client hs;
    uint8_t in[FRAME_MAX_PREAUTH];
    uint8_t out[HS_MAX_PAYLOAD];
    double deadline = c->io_timeout < 0 ? -1 : clock_now() + c->io_timeout;
    hs_client_init(&hs, c->key.bytes, c->key.len);
    for (;;) {
        size_t len, outlen;
        const char *why;
        int rc = wire_read_small_frame(c, deadline, in, sizeof in, &len);
        if (rc)
            return rc;
        enum hs_client_step step = hs.step;
        enum hs_status st = hs_client_feed(&hs, in, len, out, &outlen, &why);
        /* On failure too: after a bad server MAC the daemon is told #FAILURE#. */
        if ((rc = send_step(c, &hs, step, out, outlen)) != QMGR_OK && st != HS_FAIL)
            return rc;
        if (st == HS_FAIL)
            return handshake_failed(c, &hs, step, why);
        if (st == HS_DONE) {
            c->authenticated = true;
            return QMGR_OK;
        }
    }
}
