/*
 * TLS to "tls://" addresses (docs/tls.md): OpenSSL on the connection's
 * socket, which stays as wire.c uses it for plain connections: blocking,
 * with a read that waits only when asked to (bounded by SO_RCVTIMEO) and
 * writes that never wait (wire.c polls), through a socket BIO of our own.
 * The daemon's certificate must chain to the CA given (qmgr_set_tls,
 * $QMGR_TLS_CA, else the system's) and name the address's host.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/internal.h"
#include "client/wait.h"
#include "common/clock.h"
#include "proto/tls_error.h"

static const char *option_or_env(const char *option, const char *env)
{
    return option ? option : env_value(env);
}

static int replace_path(char **field, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        return QMGR_ECLIENTMEM;
    free(*field);
    *field = copy;
    return QMGR_OK;
}

int qmgr_set_tls(qmgr_conn *c, const char *ca_file, const char *cert_file, const char *key_file)
{
    if (!c || (cert_file == NULL) != (key_file == NULL))
        return QMGR_EINVAL;
    struct tls_client *t = &c->tls;
    if (replace_path(&t->ca, ca_file) || replace_path(&t->cert, cert_file) ||
        replace_path(&t->key, key_file))
        return conn_fail(c, QMGR_ECLIENTMEM, "out of memory");
    /* The next connection builds its context from these. */
    SSL_CTX_free(t->ctx);
    t->ctx = NULL;
    return QMGR_OK;
}

static int context_failed(struct qmgr_conn *c, SSL_CTX *ctx, const char *what, const char *path)
{
    char why[256];
    tls_error_string(why, sizeof why);
    SSL_CTX_free(ctx);
    return conn_fail(c, QMGR_EINVAL, "TLS: %s %s: %s", what, path ? path : "", why);
}

static int load_client_certificate(struct qmgr_conn *c, SSL_CTX *ctx)
{
    const char *cert = option_or_env(c->tls.cert, "QMGR_TLS_CERT");
    const char *key = option_or_env(c->tls.key, "QMGR_TLS_KEY");
    if (!cert && !key)
        return QMGR_OK;
    if (!cert || !key)
        return context_failed(c, ctx, "a client certificate needs its key, and a key its certificate:",
                              cert ? cert : key);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return context_failed(c, ctx, "cannot load the client certificate", cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return context_failed(c, ctx, "cannot load the client key", key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return context_failed(c, ctx, "the client key does not match", cert);
    return QMGR_OK;
}

static int make_context(struct qmgr_conn *c)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return context_failed(c, NULL, "cannot create a context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* One read(2) for every record that came; tls_recv drains what it holds. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const char *ca = option_or_env(c->tls.ca, "QMGR_TLS_CA");
    if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
           : SSL_CTX_set_default_verify_paths(ctx) != 1)
        return context_failed(c, ctx, "cannot load the CA", ca ? ca : "of the system");
    int rc = load_client_certificate(c, ctx);
    if (rc)
        return rc;
    c->tls.ctx = ctx;
    return QMGR_OK;
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* OpenSSL writes with write(2), which raises SIGPIPE on a closed socket;
 * the library promises never to (qmgr.h). Writes never wait, as wire.c's. */
static int write_nosignal(BIO *b, const char *data, int len)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, data, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && would_block())
        BIO_set_retry_write(b);
    return (int)n;
}

/* A read waits (up to SO_RCVTIMEO) only while tls.wait_on_read is set:
 * one system call for a reply, as on a plain socket. */
static int read_flagged(BIO *b, char *buf, int len)
{
    const struct tls_client *t = BIO_get_data(b);
    int fd = -1;
    BIO_get_fd(b, &fd);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, buf, (size_t)len, t->wait_on_read ? 0 : MSG_DONTWAIT);
    if (n < 0 && would_block())
        BIO_set_retry_read(b);
    return (int)n;
}

static BIO_METHOD *socket_method(void)
{
    const BIO_METHOD *base = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "qmgr socket");
    if (!m)
        return NULL;
    BIO_meth_set_write(m, write_nosignal);
    BIO_meth_set_read(m, read_flagged);
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
}

/* The certificate must name host: an IP address as such, else a DNS name. */
static bool expect_host(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1)
        return true;
    return SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
}

static int session_failed(struct qmgr_conn *c, const char *why)
{
    conn_fail(c, QMGR_ECLIENTMEM, "TLS: %s", why);
    wire_drop(c, QMGR_ECLIENTMEM, c->error);
    return QMGR_ECLIENTMEM;
}

static int new_session(struct qmgr_conn *c, const char *host)
{
    struct tls_client *t = &c->tls;
    if (!t->bio_method && !(t->bio_method = socket_method()))
        return session_failed(c, "out of memory");
    BIO *bio = BIO_new(t->bio_method);
    t->ssl = SSL_new(t->ctx);
    if (!bio || !t->ssl) {
        BIO_free(bio);
        return session_failed(c, "out of memory");
    }
    BIO_set_fd(bio, c->fd, BIO_NOCLOSE);
    BIO_set_data(bio, t);
    t->wait_on_read = false;
    SSL_set_bio(t->ssl, bio, bio);
    SSL_set_connect_state(t->ssl);
    if (!expect_host(t->ssl, host))
        return session_failed(c, "cannot set the host name to verify");
    return QMGR_OK;
}

/* A failed verification is the daemon not proving who it is: EAUTH, as a
 * wrong authkey, so the next address is not tried with the same doubt. */
static int handshake_failed(struct qmgr_conn *c, const char *host)
{
    char why[256];
    long verify = SSL_get_verify_result(c->tls.ssl);
    int code = QMGR_ECONN;
    if (verify != X509_V_OK) {
        code = QMGR_EAUTH;
        ERR_clear_error();
        conn_fail(c, code, "TLS: the certificate of %s is not trusted: %s", host,
                  X509_verify_cert_error_string(verify));
    } else {
        conn_fail(c, code, "TLS handshake with %s: %s", host, tls_error_string(why, sizeof why));
    }
    wire_drop(c, code, c->error);
    return code;
}

int tls_start(struct qmgr_conn *c, const char *host)
{
    if (!c->tls.ctx) {
        int rc = make_context(c);
        if (rc) {
            wire_drop(c, rc, c->error);
            return rc;
        }
    }
    int rc = new_session(c, host);
    if (rc)
        return rc;
    double deadline = c->io_timeout < 0 ? -1 : clock_now() + c->io_timeout;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int done = SSL_do_handshake(c->tls.ssl);
        if (done == 1)
            return QMGR_OK;
        int e = SSL_get_error(c->tls.ssl, done);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return handshake_failed(c, host);
        int ev = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (ev <= 0) {
            conn_fail(c, QMGR_ECONN, "TLS handshake with %s: %s", host,
                      ev == 0 ? "no answer within the I/O timeout" : strerror(errno));
            wire_drop(c, QMGR_ECONN, c->error);
            return QMGR_ECONN;
        }
    }
}

/* What the session needs before it can go on; 0 when it is finished or
 * failed (the caller drops the connection). */
static short wanted_events(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return POLLIN;
    case SSL_ERROR_WANT_WRITE:
        return POLLOUT;
    default:
        return 0;
    }
}

ssize_t tls_recv(struct qmgr_conn *c, void *p, size_t n, bool block, double deadline,
                 const char **why)
{
    size_t got = 0;
    for (;;) {
        size_t one;
        errno = 0; /* the error queue is empty: every failure empties it */
        c->tls.wait_on_read = block && got == 0;
        int rc = SSL_read_ex(c->tls.ssl, (char *)p + got, n - got, &one);
        if (rc == 1) {
            got += one;
            /* What OpenSSL holds is taken now: a caller may poll next. */
            if (got == n || !SSL_has_pending(c->tls.ssl))
                return (ssize_t)got;
            continue;
        }
        if (got > 0)
            return (ssize_t)got;
        short ev = wanted_events(c->tls.ssl, rc);
        if (ev == POLLIN)
            return 0; /* nothing yet, or SO_RCVTIMEO: the caller checks its deadline */
        if (!ev) {
            int e = SSL_get_error(c->tls.ssl, rc);
            bool closed = e == SSL_ERROR_ZERO_RETURN ||
                          (e == SSL_ERROR_SYSCALL && errno == 0 && ERR_peek_error() == 0);
            *why = closed ? NULL : tls_error_string(c->tls.why, sizeof c->tls.why);
            return -1;
        }
        /* A read that must write first (a key update): wait until it can. */
        int w = wait_fd(c->fd, POLLOUT, deadline);
        if (w == 0)
            return 0;
        if (w < 0) {
            *why = strerror(errno);
            return -1;
        }
    }
}

ssize_t tls_send(struct qmgr_conn *c, const void *p, size_t n, short *wait_for, const char **why)
{
    size_t put;
    errno = 0;
    int rc = SSL_write_ex(c->tls.ssl, p, n, &put);
    if (rc == 1)
        return (ssize_t)put;
    *wait_for = wanted_events(c->tls.ssl, rc);
    if (*wait_for)
        return 0;
    *why = tls_error_string(c->tls.why, sizeof c->tls.why);
    return -1;
}

void tls_end_session(struct qmgr_conn *c)
{
    if (!c->tls.ssl)
        return;
    /* close_notify, if it goes out at once: the daemon sees a clean end. */
    if (SSL_is_init_finished(c->tls.ssl))
        SSL_shutdown(c->tls.ssl);
    SSL_free(c->tls.ssl);
    ERR_clear_error();
    c->tls.ssl = NULL;
}

void tls_free(struct qmgr_conn *c)
{
    tls_end_session(c);
    SSL_CTX_free(c->tls.ctx);
    BIO_meth_free(c->tls.bio_method);
    free(c->tls.ca);
    free(c->tls.cert);
    free(c->tls.key);
    c->tls = (struct tls_client){0};
}
