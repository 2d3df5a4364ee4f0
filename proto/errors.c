#include "errors.h"

#include <stddef.h>

static const struct {
    const char *name;
    const char *message;
} error_table[] = {
    [PROTO_OK] = {"OK", "success"},
    [PROTO_ENOENT] = {"ENOENT", "no object of that name"},
    [PROTO_ETYPE] = {"ETYPE", "the object is of another type"},
    [PROTO_EFULL] = {"EFULL", "queue full"},
    [PROTO_EEMPTY] = {"EEMPTY", "queue empty"},
    [PROTO_ETIMEOUT] = {"ETIMEOUT", "join timed out"},
    [PROTO_EBADREQ] = {"EBADREQ", "params of the wrong number or type"},
    [PROTO_ENOMETHOD] = {"ENOMETHOD", "unknown method"},
    [PROTO_ETOOBIG] = {"ETOOBIG", "item over max_item"},
    [PROTO_ENOMEM] = {"ENOMEM", "max_memory would be exceeded"},
    [PROTO_EVALUE] = {"EVALUE", "task_done called more times than items were put"},
    [PROTO_ENOKEY] = {"ENOKEY", "no such key"},
    [PROTO_ENOTNUM] = {"ENOTNUM", "value is not a number"},
    [PROTO_ERANGE] = {"ERANGE", "integer overflow"},
    [PROTO_ESHUTDOWN] = {"ESHUTDOWN", "the daemon is shutting down"},
};

const char *proto_error_name(int code)
{
    if (code < 0 || code > PROTO_ERROR_MAX)
        return NULL;
    return error_table[code].name;
}

const char *proto_error_message(int code)
{
    if (code < 0 || code > PROTO_ERROR_MAX)
        return "unknown error";
    return error_table[code].message;
}
