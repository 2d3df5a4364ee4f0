/*
 * Connection lifecycle: creating, opening (address, key, handshake),
 * reconnecting with backoff, options, closing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/internal.h"
#include "client/wait.h"

int conn_fail(struct qmgr_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return code;
}

int qmgr_create(qmgr_conn **out)
{
    if (!out)
        return QMGR_EINVAL;
    struct qmgr_conn *c = calloc(1, sizeof *c);
    *out = c;
    if (!c)
        return QMGR_ECLIENTMEM;
    c->fd = -1;
    c->io_timeout = DEFAULT_IO_TIMEOUT;
    c->max_frame = DEFAULT_MAX_FRAME;
    c->next_msgid = 1;
    TAILQ_INIT(&c->in_flight);
    TAILQ_INIT(&c->ready);
    TAILQ_INIT(&c->taken);
    return QMGR_OK;
}

void qmgr_close(qmgr_conn *c)
{
    if (!c)
        return;
    wire_drop(c, QMGR_ECONN, "connection closed");
    pipeline_release(c);
    bytes_free(&c->out);
    bytes_free(&c->in);
    authkey_free(&c->key);
    tls_free(c);
    free(c->addr);
    free(c);
}

const char *qmgr_last_error(const qmgr_conn *c)
{
    return c ? c->error : "no connection";
}

/* Socket, then handshake, to one address. */
static int connect_to(struct qmgr_conn *c, const char *addr)
{
    int fd;
    int rc = address_connect(addr, c->io_timeout, &fd, c->error, sizeof c->error);
    if (rc)
        return rc;
    c->fd = fd;
    c->recv_timeout = 0;
    bool tls;
    char host[256];
    address_strip_tls(addr, &tls);
    if (tls) {
        if (!address_host(addr, host, sizeof host)) {
            wire_drop(c, QMGR_EINVAL, "tls:// needs host:port");
            return conn_fail(c, QMGR_EINVAL, "bad address \"%s\": tls:// needs host:port", addr);
        }
        rc = tls_start(c, host);
        if (rc)
            return rc;
    }
    return auth_handshake(c);
}

/* One attempt: every address of the list in turn, beginning with the
 * first-th, until one answers. Only a refused or lost connection moves on
 * to the next: a wrong key is wrong at every front end. */
static int connect_once(struct qmgr_conn *c, size_t first)
{
    wire_drop(c, QMGR_ECONN, "reconnecting");
    size_t n = address_count(c->addr);
    int rc = QMGR_ECONN;
    for (size_t k = 0; k < n && rc == QMGR_ECONN; k++) {
        size_t i = (first + k) % n;
        char one[ADDRESS_MAX];
        if (!address_at(c->addr, i, one, sizeof one))
            return conn_fail(c, QMGR_EINVAL, "bad address list \"%s\"", c->addr);
        rc = connect_to(c, one);
        if (rc == QMGR_OK)
            c->addr_index = i;
    }
    if (rc == QMGR_ECONN && n > 1) {
        char last[sizeof c->error];
        memcpy(last, c->error, sizeof last);
        conn_fail(c, rc, "none of the %zu addresses answered; the last: %.400s", n, last);
    }
    return rc;
}

/* Reconnects begin after the address connected to last: failover. */
static size_t next_address(const struct qmgr_conn *c)
{
    return c->addr_index + 1;
}

int qmgr_reconnect(qmgr_conn *c)
{
    if (!c)
        return QMGR_EINVAL;
    if (!c->addr)
        return conn_fail(c, QMGR_EINVAL, "qmgr_reconnect: never opened");
    return connect_once(c, next_address(c));
}

static unsigned next_backoff(unsigned ms)
{
    return ms >= MAX_BACKOFF_MS / 2 ? MAX_BACKOFF_MS : ms * 2;
}

/* Authentication failures and bad addresses will not get better by trying
 * again; only a refused or lost connection does. */
static int reconnect_with_backoff(struct qmgr_conn *c)
{
    unsigned delay = c->backoff_ms;
    int rc = QMGR_ECONN;
    for (int attempt = 0; c->reconnect_attempts < 0 || attempt < c->reconnect_attempts;
         attempt++) {
        if (attempt > 0) {
            wait_ms(delay);
            delay = next_backoff(delay);
        }
        rc = connect_once(c, next_address(c));
        if (rc != QMGR_ECONN)
            return rc;
    }
    return rc;
}

int conn_ensure_open(struct qmgr_conn *c)
{
    if (c->fd >= 0)
        return QMGR_OK;
    if (!c->addr)
        return conn_fail(c, QMGR_EINVAL, "not connected: call qmgr_open first");
    if (c->reconnect_attempts == 0)
        return conn_fail(c, QMGR_ECONN,
                         "not connected: the connection was lost and reconnect is off");
    return reconnect_with_backoff(c);
}

bool conn_should_retry(struct qmgr_conn *c, int sent, int rc, int *tries)
{
    /* Only a request lost in flight, and once: the retry's send reconnects
     * with the full backoff, and a failed reconnect is not tried again. */
    return c && sent == QMGR_OK && rc == QMGR_ECONN && c->reconnect_attempts != 0 &&
           (*tries)++ < 1;
}

/* Remembers where and with what key to connect, for reconnects too. */
static int set_target(struct qmgr_conn *c, const char *addr, struct authkey *key)
{
    char *copy = strdup(addr);
    if (!copy) {
        authkey_free(key);
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory");
    }
    free(c->addr);
    c->addr = copy;
    authkey_free(&c->key);
    c->key = *key;
    return QMGR_OK;
}

static int open_with_key(struct qmgr_conn *c, const char *addr, struct authkey *key)
{
    if (!address_valid(addr)) {
        authkey_free(key);
        return conn_fail(c, QMGR_EINVAL,
                         "bad address \"%s\": want host:port, [v6]:port or unix:/path, "
                         "or several separated by commas",
                         addr ? addr : "(null)");
    }
    int rc = set_target(c, addr, key);
    c->addr_index = 0;
    return rc ? rc : connect_once(c, 0);
}

static bool sodium_ready(void)
{
    return sodium_init() >= 0;
}

int qmgr_open(qmgr_conn *c, const char *addr, const void *key, size_t keylen)
{
    if (!c)
        return QMGR_EINVAL;
    if (!key || keylen == 0 || keylen > AUTHKEY_MAX_SIZE)
        return conn_fail(c, QMGR_EINVAL, "the authkey must be 1 to %d bytes", AUTHKEY_MAX_SIZE);
    if (!sodium_ready())
        return conn_fail(c, QMGR_ECLIENTMEM, "libsodium failed to initialise");
    struct authkey k = {0};
    if (!authkey_from_bytes(&k, key, keylen))
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory for the authkey");
    return open_with_key(c, addr, &k);
}

int qmgr_open_keyfile(qmgr_conn *c, const char *addr, const char *keyfile)
{
    if (!c)
        return QMGR_EINVAL;
    if (!keyfile)
        return conn_fail(c, QMGR_EINVAL, "no key file given");
    if (!sodium_ready())
        return conn_fail(c, QMGR_ECLIENTMEM, "libsodium failed to initialise");
    struct authkey k = {0};
    char err[256];
    if (!authkey_load(&k, keyfile, err, sizeof err))
        return conn_fail(c, QMGR_EAUTH, "%s", err);
    return open_with_key(c, addr, &k);
}

int qmgr_open_env(qmgr_conn *c)
{
    if (!c)
        return QMGR_EINVAL;
    qmgr_target t;
    int rc = qmgr_target_resolve(&t, NULL, NULL, NULL, c->error, sizeof c->error);
    if (!rc)
        rc = qmgr_open_target(c, &t);
    qmgr_target_free(&t);
    return rc;
}

/* qmgr_connect*: create, open, and on failure free everything. */
static int connected_or_freed(qmgr_conn *c, int rc, qmgr_conn **out)
{
    if (rc) {
        qmgr_close(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

int qmgr_connect(const char *addr, const void *key, size_t keylen, qmgr_conn **out)
{
    qmgr_conn *c;
    int rc = qmgr_create(&c);
    return rc ? rc : connected_or_freed(c, qmgr_open(c, addr, key, keylen), out);
}

int qmgr_connect_keyfile(const char *addr, const char *keyfile, qmgr_conn **out)
{
    qmgr_conn *c;
    int rc = qmgr_create(&c);
    return rc ? rc : connected_or_freed(c, qmgr_open_keyfile(c, addr, keyfile), out);
}

int qmgr_connect_env(qmgr_conn **out)
{
    qmgr_conn *c;
    int rc = qmgr_create(&c);
    return rc ? rc : connected_or_freed(c, qmgr_open_env(c), out);
}

int qmgr_set_timeout(qmgr_conn *c, double seconds)
{
    if (!c || !timeout_valid(seconds))
        return QMGR_EINVAL;
    c->io_timeout = seconds;
    return QMGR_OK;
}

int qmgr_set_reconnect(qmgr_conn *c, int max_attempts, unsigned initial_backoff_ms)
{
    if (!c || max_attempts < QMGR_RETRY_FOREVER)
        return QMGR_EINVAL;
    c->reconnect_attempts = max_attempts;
    c->backoff_ms = initial_backoff_ms;
    return QMGR_OK;
}

int qmgr_set_max_frame(qmgr_conn *c, size_t bytes)
{
    if (!c || bytes < 1024 || bytes > INT32_MAX)
        return QMGR_EINVAL;
    c->max_frame = bytes;
    return QMGR_OK;
}
