/*
 * docs/protocol.md and the code say the same, both ways: every method row of
 * the document is a method of proto/methods.h (QMGR_METHODS) and every method
 * has a row; every error row has the number and name of proto/errors.h and
 * every code 0..PROTO_ERROR_MAX a row. The rule is at the top of the document:
 * a method row is a line starting "| `<method>` |", an error row a line
 * starting "| <number> | `<NAME>` |".
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/methods.h"

#define MAX_ROWS 128

#define METHOD_NAME(name, id, params, changes) name,
static const char *const code_methods[] = {QMGR_METHODS(METHOD_NAME)};
#undef METHOD_NAME
#define CODE_METHODS (sizeof code_methods / sizeof code_methods[0])

struct doc {
    char methods[MAX_ROWS][64];
    int method_lines[MAX_ROWS];
    int nmethods;
    int codes[MAX_ROWS];
    char names[MAX_ROWS][32];
    int code_lines[MAX_ROWS];
    int ncodes;
};

/* "| `queue.put` |": the whole first cell, so "| `get_<name>` (accessor) |" is not one. */
static void read_method_row(struct doc *d, const char *line, int lineno)
{
    char name[64];
    int end = 0;
    if (sscanf(line, "| `%63[a-z_.]` |%n", name, &end) == 1 && end > 0) {
        ck_assert_msg(d->nmethods < MAX_ROWS, "docs/protocol.md: too many method rows");
        strcpy(d->methods[d->nmethods], name);
        d->method_lines[d->nmethods++] = lineno;
    }
}

/* "| 1 | `ENOENT` |". */
static void read_error_row(struct doc *d, const char *line, int lineno)
{
    int code;
    char name[32];
    int end = 0;
    if (sscanf(line, "| %d | `%31[A-Z]` |%n", &code, name, &end) == 2 && end > 0) {
        ck_assert_msg(d->ncodes < MAX_ROWS, "docs/protocol.md: too many error rows");
        d->codes[d->ncodes] = code;
        strcpy(d->names[d->ncodes], name);
        d->code_lines[d->ncodes++] = lineno;
    }
}

static void read_doc(struct doc *d, const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    memset(d, 0, sizeof *d);
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        read_method_row(d, line, lineno);
        read_error_row(d, line, lineno);
    }
    fclose(f);
}

static int doc_method_rows(const struct doc *d, const char *name)
{
    int n = 0;
    for (int i = 0; i < d->nmethods; i++)
        n += strcmp(d->methods[i], name) == 0;
    return n;
}

static bool code_has_method(const char *name)
{
    for (size_t i = 0; i < CODE_METHODS; i++)
        if (strcmp(code_methods[i], name) == 0)
            return true;
    return false;
}

START_TEST(every_method_both_ways)
{
    struct doc d;
    read_doc(&d, QMGR_PROTOCOL_MD);
    for (size_t i = 0; i < CODE_METHODS; i++) {
        int rows = doc_method_rows(&d, code_methods[i]);
        ck_assert_msg(rows > 0, "method %s (proto/methods.h) has no row in docs/protocol.md",
                      code_methods[i]);
        ck_assert_msg(rows == 1, "method %s has %d rows in docs/protocol.md", code_methods[i],
                      rows);
    }
    for (int i = 0; i < d.nmethods; i++)
        ck_assert_msg(code_has_method(d.methods[i]),
                      "docs/protocol.md line %d has a row for method %s, which proto/methods.h "
                      "does not have",
                      d.method_lines[i], d.methods[i]);
}
END_TEST

START_TEST(every_error_code_both_ways)
{
    struct doc d;
    read_doc(&d, QMGR_PROTOCOL_MD);
    for (int i = 0; i < d.ncodes; i++) {
        const char *name = proto_error_name(d.codes[i]);
        ck_assert_msg(name != NULL,
                      "docs/protocol.md line %d has a row for code %d (%s), which proto/errors.h "
                      "does not have",
                      d.code_lines[i], d.codes[i], d.names[i]);
        ck_assert_msg(strcmp(name, d.names[i]) == 0,
                      "docs/protocol.md line %d: code %d is %s in proto/errors.h, %s in the doc",
                      d.code_lines[i], d.codes[i], name, d.names[i]);
    }
    for (int code = 0; code <= PROTO_ERROR_MAX; code++) {
        int rows = 0;
        for (int i = 0; i < d.ncodes; i++)
            rows += d.codes[i] == code;
        ck_assert_msg(rows > 0, "error code %d (%s) has no row in docs/protocol.md", code,
                      proto_error_name(code));
        ck_assert_msg(rows == 1, "error code %d (%s) has %d rows in docs/protocol.md", code,
                      proto_error_name(code), rows);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protocol_doc");
    TCase *tc = tcase_create("doc");
    tcase_add_test(tc, every_method_both_ways);
    tcase_add_test(tc, every_error_code_both_ways);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
