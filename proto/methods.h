/*
 * The method table of docs/protocol.md, in one place: the daemon's dispatch
 * table, the configuration's check that an accessor does not shadow a
 * method, and the test that the document and the code agree all expand it.
 *
 * X(name, id, params, changes): the wire name, the C identifier (the
 * daemon's handler is m_<id>), the param spec (server/params.c) and whether
 * the method changes state (refused while the journal is failed).
 */
#ifndef QMGR_PROTO_METHODS_H
#define QMGR_PROTO_METHODS_H

#define QMGR_METHODS(X)                                   \
    X("ping", ping, "", false)                            \
    X("lookup", lookup, "s", false)                       \
    X("objects", objects, "", false)                      \
    X("stats", stats, "", false)                          \
    X("clients", clients, "", false)                      \
    X("queue.put", queue_put, "qv|t", true)               \
    X("queue.put_many", queue_put_many, "qa|t", true)     \
    X("queue.get", queue_get, "q|t", true)                \
    X("queue.get_many", queue_get_many, "qc|t", true)     \
    X("queue.task_done", queue_task_done, "q|c", true)    \
    X("queue.join", queue_join, "q|t", false)             \
    X("queue.qsize", queue_qsize, "q", false)             \
    X("queue.stat", queue_stat, "q", false)               \
    X("queue.peek", queue_peek, "q|u", false)             \
    X("queue.purge", queue_purge, "q", true)              \
    X("buf.incr", buf_incr, "bsn", true)                  \
    X("buf.update", buf_update, "bm", true)               \
    X("buf.set", buf_set, "bsv", true)                    \
    X("buf.get", buf_get, "bs", false)                    \
    X("buf.del", buf_del, "bs", true)                     \
    X("buf.len", buf_len, "b", false)                     \
    X("buf.items", buf_items, "b", false)                 \
    X("buf.drain", buf_drain, "b", true)                  \
    X("buf.clear", buf_clear, "b", true)

/* Every method name, for code that needs the names only. */
#define QMGR_METHOD_NAME(name, id, params, changes) name,

/* A method's row in the table (QMGR_METHOD_<id>), e.g. to index counters
 * by method; QMGR_METHOD_COUNT rows in all. */
#define QMGR_METHOD_INDEX(name, id, params, changes) QMGR_METHOD_##id,
enum qmgr_method_index { QMGR_METHODS(QMGR_METHOD_INDEX) QMGR_METHOD_COUNT };

#endif
