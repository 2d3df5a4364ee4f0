#include "common/authkey.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char key_path[128];

static void make_dir(void)
{
    strcpy(dir, "/tmp/qmgr-test-authkey-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(key_path, sizeof key_path, "%s/authkey", dir);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[512];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    closedir(d);
    rmdir(path);
}

static void remove_dir(void)
{
    remove_tree(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static size_t read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    return n;
}

static void expect_key(const void *content, size_t len, const void *key, size_t key_len)
{
    struct authkey k;
    char err[256] = "";
    write_file(key_path, content, len);
    ck_assert_msg(authkey_load(&k, key_path, err, sizeof err), "%s", err);
    ck_assert_uint_eq(k.len, key_len);
    ck_assert_mem_eq(k.bytes, key, key_len);
    authkey_free(&k);
    ck_assert_ptr_null(k.bytes);
    ck_assert_uint_eq(k.len, 0);
}

static void expect_load_error(const char *path, const char *reason)
{
    struct authkey k;
    char err[256] = "";
    ck_assert_msg(!authkey_load(&k, path, err, sizeof err), "loaded %s", path);
    ck_assert_ptr_null(k.bytes);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "error '%s' does not name %s", err, path);
    ck_assert_msg(strstr(err, reason), "expected '%s' in '%s'", reason, err);
}

/* ---- load -------------------------------------------------------------- */

START_TEST(strips_one_newline)
{
    expect_key("secret\n", 7, "secret", 6);
    expect_key("secret", 6, "secret", 6);
    expect_key("secret\n\n", 8, "secret\n", 7);
    expect_key("secret\r\n", 8, "secret\r", 7);
    expect_key(" secret \n", 9, " secret ", 8);
    expect_key("\n\n", 2, "\n", 1);
}
END_TEST

START_TEST(binary_key)
{
    static const unsigned char key[] = {0, 1, 2, 0xff, '\n', 0};
    expect_key(key, sizeof key, key, sizeof key);
}
END_TEST

START_TEST(size_cap)
{
    static char big[AUTHKEY_MAX_SIZE + 2];
    memset(big, 'k', sizeof big);
    expect_key(big, AUTHKEY_MAX_SIZE, big, AUTHKEY_MAX_SIZE);
    big[AUTHKEY_MAX_SIZE] = '\n';
    expect_key(big, AUTHKEY_MAX_SIZE + 1, big, AUTHKEY_MAX_SIZE);

    big[AUTHKEY_MAX_SIZE] = 'k';
    write_file(key_path, big, AUTHKEY_MAX_SIZE + 1);
    expect_load_error(key_path, "longer than 4096 bytes");
    big[AUTHKEY_MAX_SIZE + 1] = '\n';
    write_file(key_path, big, AUTHKEY_MAX_SIZE + 2);
    expect_load_error(key_path, "longer than 4096 bytes");
}
END_TEST

START_TEST(huge_file_refused)
{
    static char block[1 << 16];
    FILE *f = fopen(key_path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(fwrite(block, 1, sizeof block, f), sizeof block);
    fclose(f);
    expect_load_error(key_path, "longer than 4096 bytes");
}
END_TEST

START_TEST(empty_key_refused)
{
    write_file(key_path, "", 0);
    expect_load_error(key_path, "the authkey is empty");
    write_file(key_path, "\n", 1);
    expect_load_error(key_path, "the authkey is empty");
}
END_TEST

START_TEST(unreadable_refused)
{
    expect_load_error(key_path, "No such file or directory");
    expect_load_error(dir, "Is a directory");
}
END_TEST

/* ---- from_bytes -------------------------------------------------------- */

START_TEST(copies_bytes)
{
    char source[] = "abc";
    struct authkey k;
    ck_assert(authkey_from_bytes(&k, source, 3));
    source[0] = 'X';
    ck_assert_uint_eq(k.len, 3);
    ck_assert_mem_eq(k.bytes, "abc", 3);
    authkey_free(&k);
    ck_assert_ptr_null(k.bytes);
    authkey_free(&k); /* a freed key can be freed again */
}
END_TEST

START_TEST(refuses_empty_and_oversized)
{
    static char big[AUTHKEY_MAX_SIZE + 1];
    struct authkey k;
    ck_assert(!authkey_from_bytes(&k, "", 0));
    ck_assert_ptr_null(k.bytes);
    ck_assert(!authkey_from_bytes(&k, big, sizeof big));
    ck_assert_ptr_null(k.bytes);
    ck_assert(authkey_from_bytes(&k, big, AUTHKEY_MAX_SIZE));
    ck_assert_uint_eq(k.len, AUTHKEY_MAX_SIZE);
    authkey_free(&k);
}
END_TEST

/* ---- create ------------------------------------------------------------ */

static void check_generated_key(const char *path)
{
    char text[256];
    size_t n = read_file(path, text, sizeof text);
    ck_assert_uint_eq(n, 65);
    ck_assert_int_eq(text[64], '\n');
    for (int i = 0; i < 64; i++)
        ck_assert_msg(strchr("0123456789abcdef", text[i]) && text[i], "not lowercase hex: '%.65s'", text);

    struct authkey k;
    char err[256];
    ck_assert_msg(authkey_load(&k, path, err, sizeof err), "%s", err);
    ck_assert_uint_eq(k.len, 64);
    ck_assert_mem_eq(k.bytes, text, 64);
    authkey_free(&k);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static int entries_in(const char *path)
{
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(creates_key_and_directories)
{
    char path[320], parent[128], err[256] = "";
    bool created = false;
    snprintf(parent, sizeof parent, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/authkey", parent);
    umask(0); /* the modes must not depend on the umask */

    ck_assert_msg(authkey_create_if_missing(path, &created, err, sizeof err), "%s", err);
    ck_assert(created);
    ck_assert_uint_eq(mode_of(path), 0600);
    ck_assert_uint_eq(mode_of(parent), 0700);
    ck_assert_uint_eq(entries_in(parent), 1); /* no temporary file left */
    check_generated_key(path);
}
END_TEST

START_TEST(existing_key_kept)
{
    char err[256] = "", text[64];
    bool created = true;
    write_file(key_path, "mine\n", 5);
    ck_assert_msg(authkey_create_if_missing(key_path, &created, err, sizeof err), "%s", err);
    ck_assert(!created);
    ck_assert_uint_eq(read_file(key_path, text, sizeof text), 5);
    ck_assert_mem_eq(text, "mine\n", 5);
}
END_TEST

START_TEST(mode_ignores_umask)
{
    char err[256];
    bool created;
    umask(0277);
    ck_assert_msg(authkey_create_if_missing(key_path, &created, err, sizeof err), "%s", err);
    ck_assert(created);
    ck_assert_uint_eq(mode_of(key_path), 0600);
}
END_TEST

/* A key an administrator put in a read-only directory is used as it is. */
START_TEST(existing_key_in_read_only_dir)
{
    char err[256] = "";
    bool created = true;
    write_file(key_path, "given\n", 6);
    ck_assert_int_eq(chmod(key_path, 0644), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    if (geteuid() == 0) /* root writes anywhere */
        ck_assert_int_eq(seteuid(65534), 0);
    ck_assert_msg(authkey_create_if_missing(key_path, &created, err, sizeof err), "%s", err);
    ck_assert(!created);
    ck_assert_int_eq(seteuid(getuid()), 0);
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

START_TEST(keys_are_random)
{
    char other[256], a[65], b[65], err[256];
    bool created;
    snprintf(other, sizeof other, "%s/other", dir);
    ck_assert(authkey_create_if_missing(key_path, &created, err, sizeof err) && created);
    ck_assert(authkey_create_if_missing(other, &created, err, sizeof err) && created);
    read_file(key_path, a, sizeof a);
    read_file(other, b, sizeof b);
    ck_assert_int_ne(memcmp(a, b, 64), 0);
}
END_TEST

START_TEST(create_error_reported)
{
    char path[256], err[256] = "";
    bool created = true;
    write_file(key_path, "x", 1);
    snprintf(path, sizeof path, "%s/authkey/inner", dir); /* parent is a file */
    ck_assert(!authkey_create_if_missing(path, &created, err, sizeof err));
    ck_assert(!created);
    ck_assert_msg(strstr(err, "Not a directory"), "%s", err);
    ck_assert_msg(strstr(err, dir), "%s", err);
}
END_TEST

/* Processes racing to create the key: one wins, every one then reads a whole key. */
START_TEST(concurrent_creation)
{
    enum { RACERS = 8 };
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char err[256];
            bool created = false;
            struct authkey k;
            if (!authkey_create_if_missing(key_path, &created, err, sizeof err))
                _exit(10);
            if (!authkey_load(&k, key_path, err, sizeof err) || k.len != 64)
                _exit(11);
            _exit(created ? 1 : 0);
        }
    }
    int winners = 0;
    for (int i = 0; i < RACERS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_le(WEXITSTATUS(status), 1);
        winners += WEXITSTATUS(status);
    }
    ck_assert_int_eq(winners, 1);
    ck_assert_int_eq(entries_in(dir), 1);
    check_generated_key(key_path);
}
END_TEST

static Suite *authkey_suite(void)
{
    Suite *s = suite_create("authkey");
    TCase *tc;

    tc = tcase_create("load");
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, strips_one_newline);
    tcase_add_test(tc, binary_key);
    tcase_add_test(tc, size_cap);
    tcase_add_test(tc, huge_file_refused);
    tcase_add_test(tc, empty_key_refused);
    tcase_add_test(tc, unreadable_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("from_bytes");
    tcase_add_test(tc, copies_bytes);
    tcase_add_test(tc, refuses_empty_and_oversized);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, creates_key_and_directories);
    tcase_add_test(tc, existing_key_kept);
    tcase_add_test(tc, mode_ignores_umask);
    tcase_add_test(tc, existing_key_in_read_only_dir);
    tcase_add_test(tc, keys_are_random);
    tcase_add_test(tc, create_error_reported);
    tcase_add_test(tc, concurrent_creation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(authkey_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
