/* OpenSSL's reason for a failed TLS step, for both sides' messages. */
#ifndef QMGR_PROTO_TLS_ERROR_H
#define QMGR_PROTO_TLS_ERROR_H

#include <stddef.h>

/* The last OpenSSL error of this thread, or the socket's errno when OpenSSL
 * has none (a reset, an end of file); clears OpenSSL's queue. Returns buf. */
const char *tls_error_string(char *buf, size_t len);

#endif
