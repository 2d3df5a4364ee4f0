/* Aligned tables for people: columns as wide as their widest cell. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define COLUMN_GAP 2

static void *checked(void *p)
{
    if (!p) {
        fputs("qmgrctl: out of memory\n", stderr);
        exit(CTL_EXIT_FAILED);
    }
    return p;
}

void table_init(struct table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        bool right = headers[i][0] == '>';
        if (right)
            t->right |= 1u << i;
        table_add(t, headers[i] + right);
    }
}

void table_add(struct table *t, const char *cell)
{
    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->cells = checked(realloc(t->cells, t->cap * sizeof *t->cells));
    }
    t->cells[t->ncells++] = checked(strdup(cell));
}

void table_addf(struct table *t, const char *fmt, ...)
{
    char *cell;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cell, fmt, ap);
    va_end(ap);
    checked(n < 0 ? NULL : cell);
    table_add(t, cell);
    free(cell);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void table_print(const struct table *t, FILE *out)
{
    size_t *width = checked(calloc(t->ncols, sizeof *width));
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = width_of(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    for (size_t i = 0; i < t->ncells; i++) {
        size_t col = i % t->ncols;
        size_t pad = width[col] - width_of(t->cells[i]);
        bool last = col + 1 == t->ncols;
        if (t->right & (1u << col))
            fprintf(out, "%*s%s", (int)pad, "", t->cells[i]);
        else if (last)
            fputs(t->cells[i], out);
        else
            fprintf(out, "%s%*s", t->cells[i], (int)pad, "");
        if (last)
            fputc('\n', out);
        else
            fprintf(out, "%*s", COLUMN_GAP, "");
    }
    free(width);
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
