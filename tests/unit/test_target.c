/*
 * qmgr_target_resolve: where a client finds the daemon and its key, through
 * the public API only (qmgr.h, "Finding the daemon").
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmgr.h"

static char conf_path[64];

/* A clean environment: no QMGR_* and a known state directory. */
static void setup(void)
{
    unsetenv("QMGR_ADDR");
    unsetenv("QMGR_AUTHKEY_FILE");
    unsetenv("CREDENTIALS_DIRECTORY");
    setenv("STATE_DIRECTORY", "/srv/qmgr-state", 1);
    strcpy(conf_path, "/tmp/qmgr-test-target-XXXXXX");
    int fd = mkstemp(conf_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void teardown(void)
{
    unlink(conf_path);
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void resolve_ok(qmgr_target *t, const char *addr, const char *keyfile, const char *config)
{
    char err[256] = "";
    int rc = qmgr_target_resolve(t, addr, keyfile, config, err, sizeof err);
    ck_assert_msg(rc == QMGR_OK, "resolve: %d %s", rc, err);
}

START_TEST(defaults_without_anything)
{
    qmgr_target t;
    resolve_ok(&t, NULL, NULL, NULL);
    ck_assert_str_eq(t.addr, QMGR_DEFAULT_ADDR);
    ck_assert_str_eq(t.keyfile, "/srv/qmgr-state/authkey");
    qmgr_target_free(&t);
    ck_assert_ptr_null(t.addr);
}
END_TEST

START_TEST(environment_over_defaults)
{
    setenv("QMGR_ADDR", "unix:/run/q.sock", 1);
    setenv("QMGR_AUTHKEY_FILE", "/etc/q/key", 1);
    qmgr_target t;
    resolve_ok(&t, NULL, NULL, NULL);
    ck_assert_str_eq(t.addr, "unix:/run/q.sock");
    ck_assert_str_eq(t.keyfile, "/etc/q/key");
    qmgr_target_free(&t);
}
END_TEST

START_TEST(empty_environment_is_unset)
{
    setenv("QMGR_ADDR", "", 1);
    qmgr_target t;
    resolve_ok(&t, NULL, NULL, NULL);
    ck_assert_str_eq(t.addr, QMGR_DEFAULT_ADDR);
    qmgr_target_free(&t);
}
END_TEST

START_TEST(config_over_environment)
{
    setenv("QMGR_ADDR", "127.0.0.1:1", 1);
    setenv("QMGR_AUTHKEY_FILE", "/etc/q/key", 1);
    write_conf("[qmgrd]\nlisten = 127.0.0.1:6000\nauthkey_file = /etc/q/conf-key\n");
    qmgr_target t;
    resolve_ok(&t, NULL, NULL, conf_path);
    ck_assert_str_eq(t.addr, "127.0.0.1:6000");
    ck_assert_str_eq(t.keyfile, "/etc/q/conf-key");
    qmgr_target_free(&t);
}
END_TEST

START_TEST(config_key_from_its_state_dir)
{
    write_conf("[qmgrd]\nstate_dir = /var/lib/other\n");
    qmgr_target t;
    resolve_ok(&t, NULL, NULL, conf_path);
    ck_assert_str_eq(t.addr, "127.0.0.1:50002");
    ck_assert_str_eq(t.keyfile, "/var/lib/other/authkey");
    qmgr_target_free(&t);
}
END_TEST

START_TEST(flags_over_config_each_on_its_own)
{
    write_conf("[qmgrd]\nlisten = 127.0.0.1:6000\nauthkey_file = /etc/q/conf-key\n");
    qmgr_target t;
    resolve_ok(&t, "[::1]:7000", NULL, conf_path);
    ck_assert_str_eq(t.addr, "[::1]:7000");
    ck_assert_str_eq(t.keyfile, "/etc/q/conf-key");
    qmgr_target_free(&t);
    resolve_ok(&t, NULL, "/k", conf_path);
    ck_assert_str_eq(t.addr, "127.0.0.1:6000");
    ck_assert_str_eq(t.keyfile, "/k");
    qmgr_target_free(&t);
}
END_TEST

START_TEST(flags_alone_skip_a_broken_config)
{
    /* Nothing is left for the file to give, so it is not read. */
    write_conf("[qmgrd]\nlisten = nonsense\n");
    qmgr_target t;
    resolve_ok(&t, "127.0.0.1:9", "/k", conf_path);
    ck_assert_str_eq(t.addr, "127.0.0.1:9");
    qmgr_target_free(&t);
}
END_TEST

START_TEST(bad_config_names_file_and_line)
{
    write_conf("[qmgrd]\n\nlisten = nonsense\n");
    qmgr_target t = {(char *)"stale", (char *)"stale"};
    char err[256] = "";
    ck_assert_int_eq(qmgr_target_resolve(&t, NULL, NULL, conf_path, err, sizeof err), QMGR_EINVAL);
    ck_assert_ptr_null(t.addr);
    ck_assert_ptr_null(t.keyfile);
    char want[128];
    snprintf(want, sizeof want, "%s:3:", conf_path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "err: %s", err);
}
END_TEST

START_TEST(missing_config_is_an_error)
{
    qmgr_target t;
    char err[256] = "";
    ck_assert_int_eq(qmgr_target_resolve(&t, NULL, NULL, "/nonexistent/qmgrd.conf", err, sizeof err),
                     QMGR_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/qmgrd.conf"));
}
END_TEST

START_TEST(export_then_environment_agrees)
{
    qmgr_target t, again;
    resolve_ok(&t, "127.0.0.1:4242", "/some/key", NULL);
    ck_assert_int_eq(qmgr_target_export(&t), QMGR_OK);
    ck_assert_str_eq(getenv("QMGR_ADDR"), "127.0.0.1:4242");
    resolve_ok(&again, NULL, NULL, NULL);
    ck_assert_str_eq(again.addr, t.addr);
    ck_assert_str_eq(again.keyfile, t.keyfile);
    qmgr_target_free(&t);
    qmgr_target_free(&again);
}
END_TEST

START_TEST(unresolved_targets_refused)
{
    qmgr_target empty = {0};
    ck_assert_int_eq(qmgr_target_export(&empty), QMGR_EINVAL);
    ck_assert_int_eq(qmgr_target_resolve(NULL, NULL, NULL, NULL, NULL, 0), QMGR_EINVAL);
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open_target(c, &empty), QMGR_EINVAL);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "unresolved"));
    qmgr_close(c);
}
END_TEST

START_TEST(error_names)
{
    ck_assert_str_eq(qmgr_error_name(QMGR_ENOENT), "ENOENT");
    ck_assert_str_eq(qmgr_error_name(QMGR_ESHUTDOWN), "ESHUTDOWN");
    ck_assert_str_eq(qmgr_error_name(QMGR_ECONN), "ECONN");
    ck_assert_str_eq(qmgr_error_name(QMGR_ECLIENTMEM), "ECLIENTMEM");
    ck_assert_str_eq(qmgr_error_name(-15), "EUNKNOWN");
    ck_assert_str_eq(qmgr_error_name(7), "EUNKNOWN");
}
END_TEST

static Suite *target_suite(void)
{
    Suite *s = suite_create("target");
    TCase *tc = tcase_create("resolve");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_without_anything);
    tcase_add_test(tc, environment_over_defaults);
    tcase_add_test(tc, empty_environment_is_unset);
    tcase_add_test(tc, config_over_environment);
    tcase_add_test(tc, config_key_from_its_state_dir);
    tcase_add_test(tc, flags_over_config_each_on_its_own);
    tcase_add_test(tc, flags_alone_skip_a_broken_config);
    tcase_add_test(tc, bad_config_names_file_and_line);
    tcase_add_test(tc, missing_config_is_an_error);
    tcase_add_test(tc, export_then_environment_agrees);
    tcase_add_test(tc, unresolved_targets_refused);
    tcase_add_test(tc, error_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(target_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
