/*
 * Reading the journal at start: each record is decoded into plain values
 * and handed to the caller (state_restore() in restore.c applies them).
 * Where the good records end is decided here: a torn tail is cut (through
 * the journal's io seam), damage with intact records after it refuses the
 * start unless told to repair.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/log.h"
#include "journal.h"

struct decode_ctx {
    record_fn *apply;
    void *ctx;
};

static bool decode_and_apply(void *ctx, const uint8_t *payload, size_t len)
{
    struct decode_ctx *d = ctx;
    struct record r;
    const char *why;
    return record_decode(payload, len, &r, &why) && d->apply(d->ctx, &r);
}

/* --repair-journal: the whole file is kept, the journal goes on from the
 * records before the damage. */
static bool repair(struct journal *j, const uint8_t *image, size_t good, const char *why,
                   const struct journal_rest *rest, char *err, size_t errlen)
{
    char kept[PATH_MAX];
    if (!journal_keep_damaged(j, image, good, kept, sizeof kept)) {
        snprintf(err, errlen, "%s: cannot keep the damaged journal aside to repair it: %s",
                 journal_path(j), strerror(errno));
        return false;
    }
    log_warn("journal %s: %s at offset %zu; --repair-journal: kept the whole damaged file "
             "as %s and went on from the %zu bytes before the damage; the %zu bytes after "
             "it, with %llu intact records, are not replayed",
             journal_path(j), why, good, kept, good, rest->bytes,
             (unsigned long long)rest->records);
    return true;
}

/*
 * Where the good records end: at the end (clean); before a torn tail, with
 * no intact record after it (what a crash leaves: it is cut); or before
 * damage with intact records after it, which a cut would silently lose: the
 * start is refused, leaving the file as it is, unless repairing.
 */
static bool check_end(const struct journal *j, const uint8_t *image, size_t size, size_t good,
                      const char *why, unsigned flags, struct journal_rest *rest, char *err,
                      size_t errlen)
{
    *rest = (struct journal_rest){0};
    if (good == 0) {
        snprintf(err, errlen, "%s: %s; move it away to start empty", journal_path(j), why);
        return false;
    }
    if (good < size)
        journal_scan_rest(image, size, good, rest);
    if (rest->records == 0 || (flags & JOURNAL_REPAIR))
        return true;
    snprintf(err, errlen,
             "%s: %s at offset %zu, but the %zu bytes from there hold %llu intact records "
             "(the first at offset %zu): the journal is damaged inside, not torn at its end, "
             "and was left as it is. To start from the %zu bytes before the damage, dropping "
             "what follows, start once with --repair-journal (it keeps the whole file aside); "
             "or restore the state directory from a backup",
             journal_path(j), why, good, rest->bytes, (unsigned long long)rest->records,
             rest->first, good);
    return false;
}

/* Makes the file end where the good records do, once nothing refuses. */
static bool end_at_good(struct journal *j, const uint8_t *image, size_t size, size_t good,
                        const char *why, const struct journal_rest *rest, char *err,
                        size_t errlen)
{
    if (good == size)
        return true;
    if (rest->records == 0)
        return journal_cut_tail(j, good, size, why, err, errlen);
    return repair(j, image, good, why, rest, err, errlen);
}


static void unmap(struct journal_image *img)
{
    if (img->data)
        munmap((void *)img->data, img->size);
    img->data = NULL;
}

bool journal_read(struct journal *j, unsigned flags, record_fn *apply, void *ctx,
                  struct journal_image *img, char *err, size_t errlen)
{
    *img = (struct journal_image){0};
    journal_discard_unwritten(j);
    struct stat st;
    if (fstat(journal_fd(j), &st) != 0) {
        snprintf(err, errlen, "%s: %s", journal_path(j), strerror(errno));
        return false;
    }
    img->size = (size_t)st.st_size;
    const uint8_t *data = mmap(NULL, img->size, PROT_READ, MAP_PRIVATE, journal_fd(j), 0);
    if (data == MAP_FAILED) {
        snprintf(err, errlen, "%s: %s", journal_path(j), strerror(errno));
        return false;
    }
    img->data = data;
    struct decode_ctx d = {apply, ctx};
    img->good = journal_scan(img->data, img->size, decode_and_apply, &d, &img->why);
    if (!check_end(j, img->data, img->size, img->good, img->why, flags, &img->rest, err,
                   errlen)) {
        unmap(img);
        return false;
    }
    return true;
}

bool journal_finish_read(struct journal *j, struct journal_image *img, char *err, size_t errlen)
{
    bool ok = end_at_good(j, img->data, img->size, img->good, img->why, &img->rest, err, errlen);
    unmap(img);
    return ok;
}

void journal_abandon_read(struct journal_image *img)
{
    unmap(img);
}
