/*
 * Records: the typed changes that are the only way the data model changes
 * (docs/design.md "Records and the log"). A method decides and builds one;
 * state_apply() (state.c) applies it, the same function a replay uses; a
 * record log (record_log.h) receives it. A record is plain values: names,
 * numbers and slices of msgpack, valid while the request or file they point
 * into is, so the journal can write and read them without knowing objects.
 */
#ifndef QMGR_SERVER_RECORD_H
#define QMGR_SERVER_RECORD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mp.h"

struct block;

/* The numbers are those of the journal file: never renumber. */
enum record_type {
    REC_PUT = 1,          /* name, item */
    REC_TAKE = 2,         /* name, owner, n: n items off the head, leased to owner (0: gone) */
    REC_TASK_DONE = 3,    /* name, owner, n */
    REC_RETURN = 4,       /* owner: its leases go back to the heads of their queues */
    REC_PURGE = 5,        /* name */
    REC_BUF_SET = 6,      /* name, key, value */
    REC_BUF_DEL = 7,      /* name, key */
    REC_BUF_CLEAR = 8,    /* name */
    REC_QUEUE_META = 9,   /* name, meta: unfinished, puts, gets, redelivered (snapshots) */
    REC_BUF_SET_MANY = 10, /* name, map {key: value} (journals of earlier releases) */
    REC_BUF_INCR = 11,    /* name, key, number */
    REC_BUF_UPDATE = 12,  /* name, map {key: number delta}: all or nothing */
};
#define REC_TYPE_MIN REC_PUT
#define REC_TYPE_MAX REC_BUF_UPDATE

enum queue_meta { META_UNFINISHED, META_PUTS, META_GETS, META_REDELIVERED, META_FIELDS };

struct record {
    enum record_type type;
    const char *name; /* the queue or buf */
    size_t name_len;
    uint64_t owner;
    uint64_t n;
    struct mp_slice value; /* PUT: the item; BUF_SET: the msgpack value */
    /* PUT: the block (block.h) value lies in, which the queue may keep a
     * reference to instead of a copy; NULL: value is copied. */
    struct block *value_block;
    const char *key;
    size_t key_len;
    bool value_is_number; /* BUF_SET: number holds the value, not value */
    uint32_t npairs;         /* BUF_SET_MANY, BUF_UPDATE */
    union {
        struct mp_number number; /* BUF_INCR: the delta; BUF_SET: the value */
        struct mp_reader map;    /* BUF_SET_MANY, BUF_UPDATE: the pairs, checked */
        uint64_t meta[META_FIELDS]; /* QUEUE_META */
    };
};

/* Bytes a record adds beyond its names and values when encoded, at most:
 * what a log charges against max_memory before the change is made. */
#define RECORD_ENCODED_OVERHEAD 16

/* Writes r as one msgpack array [type, fields...]. */
void record_encode(msgpack_packer *pk, const struct record *r);
/* Reads one encoded record; its slices point into payload. False (why set)
 * when it is not a record this daemon writes. */
bool record_decode(const uint8_t *payload, size_t len, struct record *r, const char **why);

/* Where a snapshot or a replay sends records, one at a time. False stops. */
typedef bool record_fn(void *ctx, const struct record *r);

#endif
