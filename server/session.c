/* Sessions: a client's part in the state (see state.h). */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include "block.h"

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

static void drop_all_refs(struct session *s)
{
    for (uint32_t i = s->refs_head; i < s->nrefs; i++)
        block_unref(s->refs[i].block);
    s->refs_head = s->nrefs = 0;
    s->ref_bytes = s->ref_off = 0;
}

void session_free(struct session *s)
{
    drop_all_refs(s);
    free(s->refs);
    s->refs = NULL;
    s->refs_cap = 0;
    bytes_free(&s->out);
}

/* Sends as much of the head ref as n covers; returns what it took. */
static size_t sent_of_head_ref(struct session *s, size_t n)
{
    struct out_ref *r = &s->refs[s->refs_head];
    size_t take = r->len - s->ref_off < n ? r->len - s->ref_off : n;
    s->ref_off += take;
    s->ref_bytes -= take;
    if (s->ref_off == r->len) {
        block_unref(r->block);
        s->refs_head++;
        s->ref_off = 0;
    }
    return take;
}

void session_sent(struct session *s, size_t n)
{
    while (n && session_has_refs(s)) {
        size_t at = s->refs[s->refs_head].at;
        if (s->out_off < at) {
            size_t take = at - s->out_off < n ? at - s->out_off : n;
            s->out_off += take;
            n -= take;
        } else {
            n -= sent_of_head_ref(s, n);
        }
    }
    s->out_off += n;
    if (s->out_off < s->out.len || session_has_refs(s))
        return;
    s->out.len = s->out_off = 0;
    s->refs_head = s->nrefs = 0;
}

bool session_add_ref(struct session *s, struct block *b, const uint8_t *p, size_t len)
{
    if (s->nrefs == s->refs_cap) {
        uint32_t cap = s->refs_cap ? 2 * s->refs_cap : 8;
        struct out_ref *grown = realloc(s->refs, cap * sizeof *grown);
        if (!grown)
            return false;
        s->refs = grown;
        s->refs_cap = cap;
    }
    block_ref(b);
    s->refs[s->nrefs++] = (struct out_ref){.at = s->out.len, .block = b, .p = p, .len = len};
    s->ref_bytes += len;
    return true;
}

size_t session_ref_bytes_after(const struct session *s, size_t at)
{
    size_t bytes = 0;
    for (uint32_t i = s->nrefs; i > s->refs_head && s->refs[i - 1].at > at; i--)
        bytes += s->refs[i - 1].len;
    return bytes;
}

void session_drop_refs_after(struct session *s, size_t at)
{
    /* A reply is taken back before any of it is sent: its refs are whole. */
    while (s->nrefs > s->refs_head && s->refs[s->nrefs - 1].at > at) {
        struct out_ref *r = &s->refs[--s->nrefs];
        s->ref_bytes -= r->len;
        block_unref(r->block);
    }
}

static void add_piece(struct iovec *iov, int *n, const uint8_t *p, size_t len)
{
    if (len)
        iov[(*n)++] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
}

int session_output_iov(const struct session *s, struct iovec *iov, int max)
{
    int n = 0;
    size_t off = s->out_off, ref_off = s->ref_off;
    uint32_t i = s->refs_head;
    for (; i < s->nrefs && n + 2 <= max; i++) {
        const struct out_ref *r = &s->refs[i];
        add_piece(iov, &n, s->out.data + off, r->at - off);
        add_piece(iov, &n, r->p + ref_off, r->len - ref_off);
        off = r->at;
        ref_off = 0;
    }
    if (i == s->nrefs && n < max)
        add_piece(iov, &n, s->out.data + off, s->out.len - off);
    return n;
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
