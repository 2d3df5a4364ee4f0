/*
 * docs/protocol.md and the code say the same: every method row of its
 * "### Methods" table is in proto/methods.h and the other way round, and
 * every error row of "### Errors" has the code and name of proto/errors.h,
 * every code of it a row (the rule is at the top of the document).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/methods.h"

#define MAX_ROWS 64

static const char *const code_methods[] = {QMGR_METHODS(QMGR_METHOD_NAME)};
#define CODE_METHODS (sizeof code_methods / sizeof code_methods[0])

struct doc {
    char methods[MAX_ROWS][64];
    int nmethods;
    int codes[MAX_ROWS];
    char names[MAX_ROWS][32];
    int ncodes;
};

static void read_method_row(struct doc *d, const char *line)
{
    char name[64];
    int end = 0;
    /* "| `queue.put` |": the whole cell, so the accessor row (get_<name>) is not one. */
    if (sscanf(line, "| `%63[a-z_.]` |%n", name, &end) == 1 && end > 0 && d->nmethods < MAX_ROWS)
        strcpy(d->methods[d->nmethods++], name);
}

static void read_error_row(struct doc *d, const char *line)
{
    int code;
    char name[32];
    int end = 0;
    if (sscanf(line, "| %d | `%31[A-Z]` |%n", &code, name, &end) == 2 && end > 0 &&
        d->ncodes < MAX_ROWS) {
        d->codes[d->ncodes] = code;
        strcpy(d->names[d->ncodes++], name);
    }
}

static void read_doc(struct doc *d, const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    memset(d, 0, sizeof *d);
    enum { OTHER, METHODS, ERRORS } section = OTHER;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            section = strncmp(line, "### Methods", 11) == 0  ? METHODS
                      : strncmp(line, "### Errors", 10) == 0 ? ERRORS
                                                             : OTHER;
        else if (section == METHODS)
            read_method_row(d, line);
        else if (section == ERRORS)
            read_error_row(d, line);
    }
    fclose(f);
}

static bool doc_has_method(const struct doc *d, const char *name)
{
    for (int i = 0; i < d->nmethods; i++)
        if (strcmp(d->methods[i], name) == 0)
            return true;
    return false;
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
    ck_assert_int_gt(d.nmethods, 0);
    for (size_t i = 0; i < CODE_METHODS; i++)
        ck_assert_msg(doc_has_method(&d, code_methods[i]), "%s is not in docs/protocol.md",
                      code_methods[i]);
    for (int i = 0; i < d.nmethods; i++)
        ck_assert_msg(code_has_method(d.methods[i]),
                      "docs/protocol.md lists %s, which proto/methods.h does not have",
                      d.methods[i]);
    ck_assert_uint_eq((size_t)d.nmethods, CODE_METHODS);
}
END_TEST

START_TEST(every_error_code_both_ways)
{
    struct doc d;
    read_doc(&d, QMGR_PROTOCOL_MD);
    for (int i = 0; i < d.ncodes; i++) {
        const char *name = qm_error_name(d.codes[i]);
        ck_assert_msg(name != NULL && d.codes[i] != QM_OK,
                      "docs/protocol.md lists code %d, which proto/errors.h does not have",
                      d.codes[i]);
        ck_assert_msg(strcmp(name, d.names[i]) == 0, "code %d is %s in the code, %s in the doc",
                      d.codes[i], name, d.names[i]);
    }
    for (int code = QM_OK + 1; code <= QM_ERROR_MAX; code++) {
        bool found = false;
        for (int i = 0; i < d.ncodes; i++)
            found = found || d.codes[i] == code;
        ck_assert_msg(found, "code %d (%s) is not in docs/protocol.md", code, qm_error_name(code));
    }
    ck_assert_int_eq(d.ncodes, QM_ERROR_MAX);
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
