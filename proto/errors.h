/* Error codes of docs/protocol.md ("Errors"), shared by the daemon and clients. */
#ifndef QMGR_PROTO_ERRORS_H
#define QMGR_PROTO_ERRORS_H

enum qm_error {
    QM_OK = 0,
    QM_ENOENT = 1,
    QM_ETYPE = 2,
    QM_EFULL = 3,
    QM_EEMPTY = 4,
    QM_ETIMEOUT = 5,
    QM_EBADREQ = 6,
    QM_ENOMETHOD = 7,
    QM_ETOOBIG = 8,
    QM_ENOMEM = 9,
    QM_EVALUE = 10,
    QM_ENOKEY = 11,
    QM_ENOTNUM = 12,
    QM_ERANGE = 13,
    QM_ESHUTDOWN = 14,
};
#define QM_ERROR_MAX QM_ESHUTDOWN

/* "ENOENT" etc., or NULL for a code outside the table. */
const char *qm_error_name(int code);
/* The default human message for a code ("no object of that name"). */
const char *qm_error_message(int code);

#endif
