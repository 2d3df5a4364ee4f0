/*
 * The record log: where applied records go (docs/design.md "Records and the
 * log"). The file journal is one implementation (journal.c); a replicated
 * log is another. The data model never sees it: state_apply() hands it each
 * record after the change is made.
 */
#ifndef QMGR_SERVER_RECORD_LOG_H
#define QMGR_SERVER_RECORD_LOG_H

#include <stdint.h>

#include "record.h"

struct record_log;

struct record_log_ops {
    /* Takes one applied record; the log keeps its own copy. */
    void (*append)(struct record_log *log, const struct record *r);
    /* What `records` records of about `bytes` in names and values hold in
     * memory until the log has written them: the room a change must find in
     * max_memory before it is made. */
    uint64_t (*cost)(const struct record_log *log, uint64_t records, uint64_t bytes);
    /* Bytes of records taken and not yet written (part of memory_bytes). */
    uint64_t (*pending_bytes)(const struct record_log *log);
    /* NULL while the log takes changes; else why it cannot. */
    const char *(*refusal)(const struct record_log *log);
};

struct record_log {
    const struct record_log_ops *ops;
};

static inline void record_log_append(struct record_log *log, const struct record *r)
{
    if (log)
        log->ops->append(log, r);
}

static inline uint64_t record_log_cost(const struct record_log *log, uint64_t records,
                                       uint64_t bytes)
{
    return log ? log->ops->cost(log, records, bytes) : 0;
}

static inline uint64_t record_log_pending_bytes(const struct record_log *log)
{
    return log ? log->ops->pending_bytes(log) : 0;
}

static inline const char *record_log_refusal(const struct record_log *log)
{
    return log ? log->ops->refusal(log) : NULL;
}

#endif
