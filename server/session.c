/* Sessions: a client's part in the state (see state.h). */
#include "state.h"

#include <string.h>

bool session_init(struct session *s, struct state *st, uint64_t id)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    s->st = st;
    TAILQ_INIT(&s->waiters);
    lease_owner_init(&s->leases, id);
    rpc_packer_init(&s->packer, &s->out);
    /* Records name owners by id: a TAKE for this session finds its leases. */
    HASH_ADD(hh, st->owners, id, sizeof s->leases.id, &s->leases);
    return HASH_ADDED(hh, &s->leases);
}

void session_free(struct session *s)
{
    bytes_free(&s->out);
}

void session_sent(struct session *s, size_t n)
{
    s->out_off += n;
    if (s->out_off < s->out.len)
        return;
    s->out.len = s->out_off = 0;
}

uint64_t session_delivery_budget(const struct session *s)
{
    const struct config *config = s->st->config;
    uint64_t frame = config->max_message - REPLY_ENVELOPE;
    if (s->st->replicated)
        return frame;
    uint64_t pending = session_output_pending(s);
    uint64_t room = pending < config->max_output ? config->max_output - pending : 0;
    return room < frame ? room : frame;
}
