#include "proto/tls_error.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

const char *tls_error_string(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "the connection was closed");
    ERR_clear_error();
    return buf;
}
