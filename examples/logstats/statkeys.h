/*
 * The keys the workers add to the buf, and one batch's buf.update built from
 * its aggregate. Every value is an integer count:
 *
 *   lines                                 non-empty lines
 *   malformed                             lines that did not parse (logparse.h)
 *   status:200:req       status:200:bytes
 *   method:GET:req       method:GET:bytes
 *   path:/x:req          path:/x:bytes    the path without its query string
 *   minute:2026-11-25T04:51:req  ...:bytes  the minute as logged
 *   client:1.2.3.4:req                    the batch's top-N clients by requests
 *                                         (ties: the smaller address first)
 *   client:(other):req                    the batch's other requests
 *
 * Zero values are left out. Client counts are exact for a client whenever it
 * is in its batches' top N, which heavy hitters are; the client:* keys always
 * add up to the parsed lines.
 */
#ifndef LOGSTATS_STATKEYS_H
#define LOGSTATS_STATKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregate.h"
#include "qmgr.h"

#define STATKEYS_OTHER_CLIENTS "client:(other):req"

struct update {
    size_t top_clients;
    qmgr_delta *delta; /* owned: the update, n entries */
    size_t n, delta_cap;
    char *keys; /* owned: the key strings delta[] points to */
    size_t keys_len, keys_cap;
    const struct countmap_entry **rank; /* owned: scratch for the top N */
    size_t rank_cap;
};

void update_init(struct update *u, size_t top_clients);
/* Replaces u's deltas with those of a; false when out of memory. The deltas
 * stay valid until the next build or update_free. */
bool update_build(struct update *u, const struct aggregate *a);
void update_free(struct update *u);

#endif
