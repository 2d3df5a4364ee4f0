#include "tls.h"

#include "proto/tls_error.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Client certificates and session resumption go together only with an id. */
static const unsigned char SESSION_ID_CONTEXT[] = "qmgrd";

/* Frees ctx and returns NULL, with why in err. */
static SSL_CTX *fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
    char why[256];
    snprintf(err, errlen, "%s %s: %s", what, path, tls_error_string(why, sizeof why));
    SSL_CTX_free(ctx);
    return NULL;
}

static bool require_client_certificates(SSL_CTX *ctx, const char *ca)
{
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return false;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return true;
}

SSL_CTX *tls_context_new(const struct config *c, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return fail(NULL, err, errlen, "TLS:", "cannot create a context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A client that exits without close_notify has simply closed: the frames
     * say whether anything was cut short. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes from a buffer that may move: session output grows. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, SESSION_ID_CONTEXT, sizeof SESSION_ID_CONTEXT - 1);
    /* One read(2) for all the records that came, not two per record; the
     * loop reads what OpenSSL holds next turn (SSL_has_pending). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* AES-128-GCM first (TLS 1.3's mandatory suite): the cheapest here. */
    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1)
        return fail(ctx, err, errlen, "tls_cert: cannot load", c->tls_cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1)
        return fail(ctx, err, errlen, "tls_key: cannot load", c->tls_key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(ctx, err, errlen, "tls_key does not match the certificate of", c->tls_cert);
    if (c->tls_ca && !require_client_certificates(ctx, c->tls_ca))
        return fail(ctx, err, errlen, "tls_ca: cannot load", c->tls_ca);
    return ctx;
}

SSL *tls_session_new(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

/* SSL_get_error needs an empty error queue before the call: every failure
 * empties it (tls_error_string), so reads and writes need not clear it. */
static enum tls_io outcome(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_IO_CLOSED;
    case SSL_ERROR_SYSCALL:
        /* errno 0: the peer closed the socket without a close_notify. */
        return errno == 0 && ERR_peek_error() == 0 ? TLS_IO_CLOSED : TLS_IO_FAILED;
    default:
        return TLS_IO_FAILED;
    }
}

enum tls_io tls_handshake(SSL *ssl)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    return rc == 1 ? TLS_IO_DONE : outcome(ssl, rc);
}

enum tls_io tls_read(SSL *ssl, void *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t one;
        errno = 0;
        int rc = SSL_read_ex(ssl, (char *)p + *got, n - *got, &one);
        if (rc != 1) {
            enum tls_io io = outcome(ssl, rc);
            /* What came before the end or the wait is handed over first. */
            return *got > 0 && io != TLS_IO_FAILED ? TLS_IO_DONE : io;
        }
        *got += one;
        /* Another call would only meet an empty socket: one more system call. */
        if (!SSL_has_pending(ssl))
            break;
    }
    return TLS_IO_DONE;
}

enum tls_io tls_write(SSL *ssl, const void *p, size_t n, size_t *put)
{
    errno = 0;
    int rc = SSL_write_ex(ssl, p, n, put);
    return rc == 1 ? TLS_IO_DONE : outcome(ssl, rc);
}

void tls_session_free(SSL *ssl)
{
    if (!ssl)
        return;
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}
