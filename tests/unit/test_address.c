/* Address lists (common/address.c): what listen, -a and QMGR_ADDR split into. */
#include "common/address.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(one_address)
{
    char out[ADDRESS_MAX];
    ck_assert_uint_eq(address_count("127.0.0.1:1"), 1);
    ck_assert(address_at("127.0.0.1:1", 0, out, sizeof out));
    ck_assert_str_eq(out, "127.0.0.1:1");
    ck_assert(!address_at("127.0.0.1:1", 1, out, sizeof out));
}
END_TEST

START_TEST(list_with_blanks)
{
    const char *list = " tls://[::1]:6001 ,127.0.0.1:6002,\tunix:/run/q.sock ";
    char out[ADDRESS_MAX];
    ck_assert_uint_eq(address_count(list), 3);
    ck_assert(address_at(list, 0, out, sizeof out));
    ck_assert_str_eq(out, "tls://[::1]:6001");
    ck_assert(address_at(list, 1, out, sizeof out));
    ck_assert_str_eq(out, "127.0.0.1:6002");
    ck_assert(address_at(list, 2, out, sizeof out));
    ck_assert_str_eq(out, "unix:/run/q.sock");
    ck_assert(!address_at(list, 3, out, sizeof out));
}
END_TEST

START_TEST(empty_elements_refused)
{
    char out[ADDRESS_MAX];
    ck_assert(!address_at("", 0, out, sizeof out));
    ck_assert(!address_at("a:1,", 1, out, sizeof out));
    ck_assert(!address_at("a:1, ,b:2", 1, out, sizeof out));
    ck_assert(address_at("a:1, ,b:2", 2, out, sizeof out));
    ck_assert_str_eq(out, "b:2");
}
END_TEST

START_TEST(too_long_refused)
{
    char small[6];
    ck_assert(address_at("ab:12", 0, small, sizeof small));
    ck_assert_str_eq(small, "ab:12");
    ck_assert(!address_at("abc:12", 0, small, sizeof small));
}
END_TEST

START_TEST(tls_prefix)
{
    bool tls = false;
    ck_assert_str_eq(address_strip_tls("tls://h:1", &tls), "h:1");
    ck_assert(tls);
    ck_assert_str_eq(address_strip_tls("h:1", &tls), "h:1");
    ck_assert(!tls);
    ck_assert_str_eq(address_strip_tls("tls:/h:1", &tls), "tls:/h:1");
    ck_assert(!tls);
    ck_assert_str_eq(address_strip_tls("TLS://h:1", &tls), "TLS://h:1");
    ck_assert(!tls);
}
END_TEST

static Suite *address_suite(void)
{
    Suite *s = suite_create("address");
    TCase *tc = tcase_create("lists");
    tcase_add_test(tc, one_address);
    tcase_add_test(tc, list_with_blanks);
    tcase_add_test(tc, empty_elements_refused);
    tcase_add_test(tc, too_long_refused);
    tcase_add_test(tc, tls_prefix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(address_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
