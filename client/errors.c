/* Names and messages of the daemon's codes (docs/protocol.md) and the client's own. */
#include "client/internal.h"
#include "proto/errors.h"

const char *qmgr_strerror(int code)
{
    switch (code) {
    case QMGR_OK: return "success";
    case QMGR_ECONN: return "cannot connect to the daemon, or the connection was lost";
    case QMGR_EAUTH: return "authentication failed";
    case QMGR_EPROTO: return "the daemon broke the protocol";
    case QMGR_EINVAL: return "invalid argument";
    case QMGR_ECLIENTMEM: return "out of memory in the client";
    default: break;
    }
    if (code < 0 && code >= -PROTO_ERROR_MAX)
        return proto_error_message(-code);
    return code < 0 && code > QMGR_ECONN ? "unknown error from the daemon" : "unknown error code";
}

const char *qmgr_error_name(int code)
{
    switch (code) {
    case QMGR_OK: return "OK";
    case QMGR_ECONN: return "ECONN";
    case QMGR_EAUTH: return "EAUTH";
    case QMGR_EPROTO: return "EPROTO";
    case QMGR_EINVAL: return "EINVAL";
    case QMGR_ECLIENTMEM: return "ECLIENTMEM";
    default: break;
    }
    const char *name = code < 0 ? proto_error_name(-code) : NULL;
    return name ? name : "EUNKNOWN";
}
