#include "logread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_SIZE ((size_t)1 << 20)

void logread_init(struct logread *r, char *const *paths, size_t npaths)
{
    memset(r, 0, sizeof *r);
    r->paths = paths;
    r->npaths = npaths;
    r->fd = -1;
}

void logread_free(struct logread *r)
{
    if (r->fd > STDIN_FILENO)
        close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
}

/* Opens the next input; 1 if there is one, 0 at the end, -1 on error. */
static int open_next(struct logread *r, const char *prog)
{
    if (r->npaths == 0 && r->next == 0) {
        r->next = 1;
        r->name = "<stdin>";
        r->fd = STDIN_FILENO;
        return 1;
    }
    if (r->next >= r->npaths)
        return 0;
    r->name = r->paths[r->next++];
    if (strcmp(r->name, "-") == 0) {
        r->name = "<stdin>";
        r->fd = STDIN_FILENO;
        return 1;
    }
    r->fd = open(r->name, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, r->name, strerror(errno));
        return -1;
    }
    return 1;
}

/* Reads more of the current input after what is buffered; returns bytes
 * read (0 at its end) or -1 on error. */
static ssize_t read_more(struct logread *r, const char *prog)
{
    if (r->off) { /* keep only the partial line */
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->cap - r->len < READ_SIZE) {
        size_t cap = r->cap ? r->cap * 2 : READ_SIZE;
        while (cap - r->len < READ_SIZE)
            cap *= 2;
        char *p = realloc(r->buf, cap);
        if (!p) {
            fprintf(stderr, "%s: out of memory reading %s\n", prog, r->name);
            return -1;
        }
        r->buf = p;
        r->cap = cap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n >= 0) {
            r->len += (size_t)n;
            return n;
        }
        if (errno != EINTR) {
            fprintf(stderr, "%s: %s: %s\n", prog, r->name, strerror(errno));
            return -1;
        }
    }
}

static bool add_line(struct batch *b, const char *line, size_t len, const char *prog)
{
    if (len == 0 || batch_add_line(b, line, len))
        return true;
    fprintf(stderr, "%s: out of memory for a batch\n", prog);
    return false;
}

long logread_fill(struct logread *r, struct batch *b, size_t max_lines, size_t max_bytes,
                  const char *prog)
{
    size_t before = b->lines;
    while (b->lines - before < max_lines && b->len < max_bytes) {
        if (r->fd < 0) {
            int rc = open_next(r, prog);
            if (rc <= 0)
                return rc < 0 ? -1 : (long)(b->lines - before);
        }
        char *start = r->buf + r->off;
        char *nl = r->len > r->off ? memchr(start, '\n', r->len - r->off) : NULL;
        if (nl) {
            r->off += (size_t)(nl - start) + 1;
            if (!add_line(b, start, (size_t)(nl - start), prog))
                return -1;
            continue;
        }
        ssize_t got = read_more(r, prog);
        if (got < 0)
            return -1;
        if (got == 0) { /* end of this input: its last line may lack a newline */
            if (!add_line(b, r->buf + r->off, r->len - r->off, prog))
                return -1;
            r->off = r->len = 0;
            if (r->fd > STDIN_FILENO)
                close(r->fd);
            r->fd = -1;
        }
    }
    return (long)(b->lines - before);
}
