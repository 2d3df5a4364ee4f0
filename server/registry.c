/* Named objects from the configuration, found by name and by accessor. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "objects.h"

void registry_init(struct registry *r, struct memory *memory, const struct queue_hooks *hooks)
{
    memset(r, 0, sizeof *r);
    r->memory = memory;
    r->hooks = hooks;
}

struct object *registry_find(struct registry *r, const char *name, size_t len)
{
    struct object *o = r->recent;
    if (o && o->hh.keylen == len && memcmp(o->hh.key, name, len) == 0)
        return o;
    HASH_FIND(hh, r->by_name, name, len, o);
    if (o)
        r->recent = o;
    return o;
}

/* Takes o out of both tables (the caller frees it). */
static void registry_unlink(struct registry *r, struct object *o)
{
    HASH_DELETE(hh, r->by_name, o);
    HASH_DELETE(hh_accessor, r->by_accessor, o);
    if (r->recent == o)
        r->recent = NULL;
}

struct object *registry_find_accessor(const struct registry *r, const char *name, size_t len)
{
    struct object *o;
    HASH_FIND(hh_accessor, r->by_accessor, name, len, o);
    return o;
}

static bool object_idle(const struct object *o)
{
    if (o->type == OBJECT_BUF)
        return buf_len(o->u.buf) == 0;
    const struct queue *q = o->u.queue;
    return q->items.count == 0 && q->unfinished == 0 && q->leased == 0 && q->nsuspended == 0 &&
           TAILQ_EMPTY(&q->getters) && TAILQ_EMPTY(&q->putters) && TAILQ_EMPTY(&q->joiners);
}

static void object_free(struct object *o)
{
    if (o->type == OBJECT_QUEUE)
        queue_free(o->u.queue);
    else
        buf_free(o->u.buf);
    free(o->name);
    free(o->accessor);
    free(o);
}

static struct object *object_new(struct registry *r, const struct object_config *oc)
{
    struct object *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->type = oc->type;
    o->name = strdup(oc->name);
    o->accessor = strdup(oc->accessor);
    if (oc->type == OBJECT_QUEUE)
        o->u.queue = queue_new(oc->name, oc->maxsize, oc->redeliver, r->memory, r->hooks);
    else
        o->u.buf = buf_new(oc->name, r->memory);
    if (!o->name || !o->accessor || !o->u.queue) {
        object_free(o);
        return NULL;
    }
    return o;
}

static void set_accessor(struct registry *r, struct object *o, const char *accessor)
{
    if (strcmp(o->accessor, accessor) == 0)
        return;
    char *copy = strdup(accessor);
    if (!copy)
        return;
    HASH_DELETE(hh_accessor, r->by_accessor, o);
    free(o->accessor);
    o->accessor = copy;
    HASH_ADD_KEYPTR(hh_accessor, r->by_accessor, o->accessor, strlen(o->accessor), o);
    if (!HASH_ADDED(hh_accessor, o))
        log_err("reload: out of memory; %s has no accessor method until the next reload", o->name);
}

static void update_object(struct registry *r, struct object *o, const struct object_config *oc)
{
    if (o->type != oc->type) {
        log_warn("reload: %s keeps its type; remove it while empty to change it", o->name);
        return;
    }
    set_accessor(r, o, oc->accessor);
    if (o->type == OBJECT_QUEUE) {
        o->u.queue->maxsize = oc->maxsize;
        o->u.queue->redeliver = oc->redeliver;
        queue_serve(o->u.queue);
    }
}

static bool listed(const struct object *o, const struct object_config *objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(objs[i].name, o->name) == 0)
            return true;
    return false;
}

static void drop_unlisted(struct registry *r, const struct object_config *objs, size_t n)
{
    struct object *o, *tmp;
    HASH_ITER(hh, r->by_name, o, tmp)
    {
        if (listed(o, objs, n))
            continue;
        if (!object_idle(o)) {
            log_warn("reload: %s is no longer configured but is not empty; kept", o->name);
            continue;
        }
        log_info("reload: removed %s", o->name);
        registry_unlink(r, o);
        object_free(o);
    }
}

static bool registry_add(struct registry *r, struct object *o)
{
    HASH_ADD_KEYPTR(hh, r->by_name, o->name, strlen(o->name), o);
    if (!HASH_ADDED(hh, o)) {
        object_free(o);
        return false;
    }
    HASH_ADD_KEYPTR(hh_accessor, r->by_accessor, o->accessor, strlen(o->accessor), o);
    if (!HASH_ADDED(hh_accessor, o)) {
        HASH_DELETE(hh, r->by_name, o);
        object_free(o);
        return false;
    }
    return true;
}

struct object *registry_add_object(struct registry *r, const struct object_config *oc)
{
    struct object *o = object_new(r, oc);
    return o && registry_add(r, o) ? o : NULL;
}

bool registry_copy_objects(struct registry *to, const struct registry *from)
{
    for (const struct object *o = from->by_name; o; o = o->hh.next) {
        struct object_config oc = {.name = o->name, .type = o->type, .accessor = o->accessor};
        if (o->type == OBJECT_QUEUE) {
            oc.maxsize = o->u.queue->maxsize;
            oc.redeliver = o->u.queue->redeliver;
        }
        if (!registry_add_object(to, &oc))
            return false;
    }
    return true;
}

bool registry_apply(struct registry *r, const struct object_config *objs, size_t n)
{
    drop_unlisted(r, objs, n);
    for (size_t i = 0; i < n; i++) {
        struct object *o = registry_find(r, objs[i].name, strlen(objs[i].name));
        if (o) {
            update_object(r, o, &objs[i]);
            continue;
        }
        if (registry_find_accessor(r, objs[i].accessor, strlen(objs[i].accessor))) {
            log_warn("%s: accessor %s is taken; object not added", objs[i].name, objs[i].accessor);
            continue;
        }
        o = object_new(r, &objs[i]);
        if (!o || !registry_add(r, o))
            return false;
    }
    return true;
}

void registry_free(struct registry *r)
{
    struct object *o, *tmp;
    HASH_ITER(hh, r->by_name, o, tmp)
    {
        registry_unlink(r, o);
        object_free(o);
    }
}
