/* Error codes of docs/protocol.md ("Errors"), shared by the daemon and clients. */
#ifndef QMGR_PROTO_ERRORS_H
#define QMGR_PROTO_ERRORS_H

enum proto_error {
    PROTO_OK = 0,
    PROTO_ENOENT = 1,
    PROTO_ETYPE = 2,
    PROTO_EFULL = 3,
    PROTO_EEMPTY = 4,
    PROTO_ETIMEOUT = 5,
    PROTO_EBADREQ = 6,
    PROTO_ENOMETHOD = 7,
    PROTO_ETOOBIG = 8,
    PROTO_ENOMEM = 9,
    PROTO_EVALUE = 10,
    PROTO_ENOKEY = 11,
    PROTO_ENOTNUM = 12,
    PROTO_ERANGE = 13,
    PROTO_ESHUTDOWN = 14,
};
#define PROTO_ERROR_MAX PROTO_ESHUTDOWN

/* "ENOENT" etc., or NULL for a code outside the table. */
const char *proto_error_name(int code);
/* The default human message for a code ("no object of that name"). */
const char *proto_error_message(int code);

#endif
