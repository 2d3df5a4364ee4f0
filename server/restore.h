/*
 * Restoring the state from the journal at start (and after a failed disk):
 * every record goes through state_apply(), the function requests use.
 * Nothing the file holds is dropped without a word: records after damage
 * that is not a torn tail, and data of objects the configuration no longer
 * declares, stop the start unless a flag (enum journal_replay_flags) says
 * what to do with them.
 */
#ifndef QMGR_SERVER_RESTORE_H
#define QMGR_SERVER_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "state.h"

/* Replays j into st, whose log must not be attached. Leases left open by
 * the previous run go back to the heads of their queues. What the restore
 * itself did beyond the file (the returned leases, dropped objects) becomes
 * the journal's backlog, written by the next commit or superseded by a
 * rewrite. *max_owner is the highest lease owner the file names: this run's
 * sessions must be above it. False with err set on refusal. */
bool state_restore(struct state *st, struct journal *j, unsigned flags, uint64_t *max_owner,
                   char *err, size_t errlen);

#endif
