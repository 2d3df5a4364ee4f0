/* Object handles (qmgr_queue, qmgr_buf): what queue_calls.c and buf_calls.c share. */
#ifndef QMGR_CLIENT_HANDLE_H
#define QMGR_CLIENT_HANDLE_H

#include "client/internal.h"

/* Looks up an object of the given type ("queue"/"buf") by name (method
 * "lookup") or, with name NULL, through an accessor method, and allocates
 * size bytes that begin with its handle (qmgr_queue, qmgr_buf). *out is
 * NULL on failure. */
int handle_new(struct qmgr_conn *c, const char *method, const char *name, const char *type,
               size_t size, struct handle **out);
/* Frees the name and the object the handle begins; NULL is a no-op. */
void handle_free(struct handle *h);
/* h's connection; NULL for a NULL handle. */
struct qmgr_conn *handle_conn(const struct handle *h);
/* Records a bad argument on h's connection: QMGR_EINVAL. */
int handle_invalid(const struct handle *h, const char *what);
/* Begins a request whose first param is h's name; nparams counts it, and
 * params_size is the size of the others. */
int handle_begin(const struct handle *h, struct request *req, const char *method,
                 uint32_t nparams, size_t params_size);
/* A read whose only param is h's name (qsize, stat, len, items, ...). */
struct read_request handle_read(const struct handle *h, const char *method,
                                enum reply_shape shape);

#endif
