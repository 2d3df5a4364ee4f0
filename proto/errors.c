#include "errors.h"

#include <stddef.h>

static const struct {
    const char *name;
    const char *message;
} error_table[] = {
    [QM_OK] = {"OK", "success"},
    [QM_ENOENT] = {"ENOENT", "no object of that name"},
    [QM_ETYPE] = {"ETYPE", "the object is of another type"},
    [QM_EFULL] = {"EFULL", "queue full"},
    [QM_EEMPTY] = {"EEMPTY", "queue empty"},
    [QM_ETIMEOUT] = {"ETIMEOUT", "join timed out"},
    [QM_EBADREQ] = {"EBADREQ", "params of the wrong number or type"},
    [QM_ENOMETHOD] = {"ENOMETHOD", "unknown method"},
    [QM_ETOOBIG] = {"ETOOBIG", "item over max_item"},
    [QM_ENOMEM] = {"ENOMEM", "max_memory would be exceeded"},
    [QM_EVALUE] = {"EVALUE", "task_done called more times than items were put"},
    [QM_ENOKEY] = {"ENOKEY", "no such key"},
    [QM_ENOTNUM] = {"ENOTNUM", "value is not a number"},
    [QM_ERANGE] = {"ERANGE", "integer overflow"},
    [QM_ESHUTDOWN] = {"ESHUTDOWN", "the daemon is shutting down"},
};

const char *qm_error_name(int code)
{
    if (code < 0 || code > QM_ERROR_MAX)
        return NULL;
    return error_table[code].name;
}

const char *qm_error_message(int code)
{
    if (code < 0 || code > QM_ERROR_MAX)
        return "unknown error";
    return error_table[code].message;
}
