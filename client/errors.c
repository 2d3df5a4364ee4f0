/* qmgr_strerror: the daemon's codes (docs/protocol.md) and the client's own. */
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
    if (code < 0 && code >= -QM_ERROR_MAX)
        return qm_error_message(-code);
    return code < 0 && code > QMGR_ECONN ? "unknown error from the daemon" : "unknown error code";
}
