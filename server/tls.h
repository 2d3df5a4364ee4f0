/*
 * TLS for tls:// listeners (docs/tls.md): OpenSSL in non-blocking mode on
 * the loop's own sockets. The context holds the certificate, key and client
 * CA; a reload makes a new one, and connections keep the one they began
 * with (OpenSSL counts the references).
 */
#ifndef QMGR_SERVER_TLS_H
#define QMGR_SERVER_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/* What a TLS step needs before it can go on. */
enum tls_io {
    TLS_IO_DONE,       /* finished (a read or write moved *n bytes) */
    TLS_IO_WANT_READ,  /* the socket must be readable first */
    TLS_IO_WANT_WRITE, /* the socket must be writable first */
    TLS_IO_CLOSED,     /* the peer closed the connection */
    TLS_IO_FAILED,     /* a TLS or socket error: tls_error_string() says which */
};

/* A server context from c's tls_cert, tls_key and tls_ca; NULL with why in err. */
SSL_CTX *tls_context_new(const struct config *c, char *err, size_t errlen);
/* A server-side session on fd, or NULL. */
SSL *tls_session_new(SSL_CTX *ctx, int fd);
enum tls_io tls_handshake(SSL *ssl);
/* Reads up to n bytes: the records OpenSSL holds, with one read of the socket. */
enum tls_io tls_read(SSL *ssl, void *p, size_t n, size_t *got);
enum tls_io tls_write(SSL *ssl, const void *p, size_t n, size_t *put);
/* Sends close_notify if it can at once, then frees the session. */
void tls_session_free(SSL *ssl);

#endif
