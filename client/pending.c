/*
 * The msgid table: finds the request a reply answers. msgids are handed out
 * in sequence, so masking the low bits spreads them perfectly; linear probing
 * with backward-shift deletion needs no tombstones. Since the msgids in
 * flight are consecutive they fill a dense run of slots, which a
 * backward-shift would walk on every removal: while no entry sits away from
 * its home slot there is nothing to shift, so removal just clears the slot.
 */
#include <stdlib.h>

#include "client/internal.h"

static size_t slot_of(const struct pending_table *t, uint32_t msgid)
{
    return msgid & (t->cap - 1);
}

static void insert_slot(struct pending_table *t, struct qmgr_reply *r)
{
    size_t home = slot_of(t, r->msgid);
    size_t i = home;
    while (t->slots[i])
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = r;
    t->displaced += i != home;
}

static bool grow(struct pending_table *t)
{
    size_t old_cap = t->cap;
    struct qmgr_reply **old = t->slots;
    size_t cap = old_cap ? old_cap * 2 : 64;
    struct qmgr_reply **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    t->slots = slots;
    t->cap = cap;
    t->displaced = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            insert_slot(t, old[i]);
    free(old);
    return true;
}

bool pending_add(struct pending_table *t, struct qmgr_reply *r)
{
    /* Keep the load under 1/2 so probes stay short. */
    if ((t->count + 1) * 2 > t->cap && !grow(t))
        return false;
    insert_slot(t, r);
    t->count++;
    return true;
}

static size_t find_slot(const struct pending_table *t, uint32_t msgid, bool *found)
{
    *found = false;
    if (!t->cap)
        return 0;
    size_t i = slot_of(t, msgid);
    while (t->slots[i]) {
        if (t->slots[i]->msgid == msgid) {
            *found = true;
            return i;
        }
        i = (i + 1) & (t->cap - 1);
    }
    return i;
}

struct qmgr_reply *pending_find(const struct pending_table *t, uint32_t msgid)
{
    bool found;
    size_t i = find_slot(t, msgid, &found);
    return found ? t->slots[i] : NULL;
}

/* True when home lies cyclically in (hole, i]: the entry at i may not move
 * back into the hole. */
static bool stays_put(size_t home, size_t hole, size_t i)
{
    if (hole <= i)
        return hole < home && home <= i;
    return hole < home || home <= i;
}

void pending_remove(struct pending_table *t, uint32_t msgid)
{
    bool found;
    size_t hole = find_slot(t, msgid, &found);
    if (!found)
        return;
    t->displaced -= slot_of(t, msgid) != hole;
    t->slots[hole] = NULL;
    t->count--;
    size_t mask = t->cap - 1;
    for (size_t i = (hole + 1) & mask; t->displaced && t->slots[i]; i = (i + 1) & mask) {
        size_t home = slot_of(t, t->slots[i]->msgid);
        if (stays_put(home, hole, i))
            continue;
        t->displaced -= home == hole;
        t->slots[hole] = t->slots[i];
        t->slots[i] = NULL;
        hole = i;
    }
}

void pending_free(struct pending_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = t->displaced = 0;
}
