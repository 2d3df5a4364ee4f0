/*
 * A blocking call is a send, a wait for its msgid and a result: the same
 * path pipelined callers take by hand. rc is the send's return code.
 */
#include <string.h>

#include "client/internal.h"

static int wait_for(struct qmgr_conn *c, int rc, uint32_t msgid, qmgr_reply **r)
{
    return rc ? rc : qmgr_wait(c, msgid, r);
}

int call_nil(struct qmgr_conn *c, int rc, uint32_t msgid)
{
    qmgr_reply *r;
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_nil(r);
}

int call_count(struct qmgr_conn *c, int rc, uint32_t msgid, uint64_t *n)
{
    qmgr_reply *r;
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_count(r, n);
}

int call_number(struct qmgr_conn *c, int rc, uint32_t msgid, qmgr_number *n)
{
    qmgr_reply *r;
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_number(r, n);
}

int call_items(struct qmgr_conn *c, int rc, uint32_t msgid, qmgr_items *out)
{
    qmgr_reply *r;
    memset(out, 0, sizeof *out);
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_items(r, out);
}

int call_map(struct qmgr_conn *c, int rc, uint32_t msgid, qmgr_map *out)
{
    qmgr_reply *r;
    memset(out, 0, sizeof *out);
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_map(r, out);
}

int call_queue_info(struct qmgr_conn *c, int rc, uint32_t msgid, qmgr_queue_info *st)
{
    qmgr_reply *r;
    memset(st, 0, sizeof *st);
    rc = wait_for(c, rc, msgid, &r);
    return rc ? rc : qmgr_result_queue_stat(r, st);
}
