/*
 * uthash, configured so that running out of memory is an error the caller
 * sees, never an exit: in its non-fatal mode a failed insertion is rolled
 * back and leaves the element's handle with no table (HASH_ADDED). Every
 * file of the daemon includes uthash through here.
 */
#ifndef QMGR_SERVER_HASH_H
#define QMGR_SERVER_HASH_H

#include <stddef.h>

/* malloc, unless a test makes it fail (the seam for uthash's allocations). */
extern void *(*hash_malloc)(size_t size);

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(size) hash_malloc(size)
#include <uthash.h>

/* Whether the last HASH_ADD of elt through handle hh went in. */
#define HASH_ADDED(hh, elt) ((elt)->hh.tbl != NULL)

#endif
