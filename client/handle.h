/* Object handles shared by queue.c and buf.c. */
#ifndef QMGR_CLIENT_HANDLE_H
#define QMGR_CLIENT_HANDLE_H

#include "client/internal.h"

/* Looks up an object of the given type ("queue"/"buf") by name (method
 * "lookup") or, with name NULL, through an accessor method, and fills h. */
int handle_open(struct qmgr_conn *c, const char *method, const char *name, const char *type,
                struct handle *h);
void handle_release(struct handle *h);
/* Records a bad argument on h's connection: QMGR_EINVAL. */
int handle_invalid(const struct handle *h, const char *what);
/* Begins a request whose first param is h's name; nparams counts it, and
 * params_size is the size of the others. */
int handle_begin(const struct handle *h, struct request *req, const char *method,
                 uint32_t nparams, size_t params_size);

#endif
