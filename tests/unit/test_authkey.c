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

/* ---- perms ------------------------------------------------------------- */

#define KEY "/etc/qmgr/authkey"
#define CRED_DIR "/run/credentials/qmgrd.service"

static enum authkey_perms judge(mode_t mode, uid_t owner, uid_t uid, char *msg, size_t msglen)
{
    return authkey_check_perms(KEY, S_IFREG | mode, owner, uid, msg, msglen);
}

static void expect_verdict(mode_t mode, uid_t owner, enum authkey_perms want, const char *needle)
{
    char msg[1024];
    enum authkey_perms got = judge(mode, owner, 1000, msg, sizeof msg);
    ck_assert_msg(got == want, "mode %04o owner %u: verdict %d, not %d ('%s')", (unsigned)mode,
                  (unsigned)owner, got, want, msg);
    if (want == AUTHKEY_PERMS_OK)
        ck_assert_str_eq(msg, "");
    else
        ck_assert_msg(strncmp(msg, KEY ": ", strlen(KEY ": ")) == 0 && strstr(msg, needle),
                      "expected '%s' after the path in '%s'", needle, msg);
}

START_TEST(private_modes_pass)
{
    expect_verdict(0600, 1000, AUTHKEY_PERMS_OK, "");
    expect_verdict(0400, 1000, AUTHKEY_PERMS_OK, "");
    expect_verdict(0700, 1000, AUTHKEY_PERMS_OK, "");
    expect_verdict(0600, 0, AUTHKEY_PERMS_OK, ""); /* root's file, read by a service user */
}
END_TEST

START_TEST(open_modes_warn_with_the_fix)
{
    expect_verdict(0640, 1000, AUTHKEY_PERMS_WARN, "permissions 0640 are too open");
    expect_verdict(0644, 1000, AUTHKEY_PERMS_WARN, "permissions 0644 are too open");
    expect_verdict(0604, 1000, AUTHKEY_PERMS_WARN, "(fix: chmod 600 " KEY ")");
    expect_verdict(0601, 1000, AUTHKEY_PERMS_WARN, "permissions 0601");
    /* group-writable warns but is not refused (see authkey.c) */
    expect_verdict(0660, 1000, AUTHKEY_PERMS_WARN, "permissions 0660 are too open");
    expect_verdict(0620, 1000, AUTHKEY_PERMS_WARN, "permissions 0620 are too open");
}
END_TEST

START_TEST(others_writable_refused)
{
    expect_verdict(0602, 1000, AUTHKEY_PERMS_REFUSE, "permissions 0602 let others write");
    expect_verdict(0666, 1000, AUTHKEY_PERMS_REFUSE, "permissions 0666 let others write");
    expect_verdict(0777, 1000, AUTHKEY_PERMS_REFUSE, "refused (fix: chmod 600 " KEY ")");
    expect_verdict(02602, 0, AUTHKEY_PERMS_REFUSE, "permissions 2602");
}
END_TEST

START_TEST(foreign_owner_warns)
{
    expect_verdict(0600, 1234, AUTHKEY_PERMS_WARN,
                   "owned by uid 1234, neither this process's uid 1000 nor root");
    expect_verdict(0600, 1234, AUTHKEY_PERMS_WARN, "(fix: chown 1000 " KEY ")");

    char msg[1024];
    ck_assert_int_eq(judge(0640, 1234, 1000, msg, sizeof msg), AUTHKEY_PERMS_WARN);
    ck_assert_msg(strstr(msg, "permissions 0640 are too open") &&
                      strstr(msg, "chmod 600 " KEY "); " KEY ": the authkey is owned by uid 1234"),
                  "both problems expected in '%s'", msg);
}
END_TEST

START_TEST(messages_truncate_safely)
{
    char msg[16];
    ck_assert_int_eq(judge(0640, 1234, 1000, msg, sizeof msg), AUTHKEY_PERMS_WARN);
    ck_assert_uint_eq(strlen(msg), sizeof msg - 1);
    ck_assert_mem_eq(msg, KEY, sizeof msg - 1);
    ck_assert_int_eq(judge(0666, 1000, 1000, msg, sizeof msg), AUTHKEY_PERMS_REFUSE);
    ck_assert_uint_eq(strlen(msg), sizeof msg - 1);
}
END_TEST

/* systemd shows its credential as 0440 (an ACL mask); only other bits count there. */
START_TEST(systemd_credential_group_bits_pass)
{
    char msg[1024];
    ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", CRED_DIR, 1), 0);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/authkey", 0440, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_OK);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/authkey", 0444, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_WARN);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/authkey", 0442, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_REFUSE);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/sub/authkey", 0440, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_WARN);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "2/authkey", 0440, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_WARN);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/", 0440, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_WARN);
    ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
    ck_assert_int_eq(authkey_check_perms(CRED_DIR "/authkey", 0440, 0, 1000, msg, sizeof msg),
                     AUTHKEY_PERMS_WARN);
}
END_TEST

static void write_key_with_mode(mode_t mode)
{
    write_file(key_path, "secret\n", 7);
    ck_assert_int_eq(chmod(key_path, mode), 0);
}

static void expect_load_warning(const char *needle)
{
    struct authkey k;
    char warning[512] = "x", err[256] = "";
    ck_assert_msg(authkey_load_warn(&k, key_path, warning, sizeof warning, err, sizeof err), "%s",
                  err);
    ck_assert_uint_eq(k.len, 6);
    ck_assert_mem_eq(k.bytes, "secret", 6);
    authkey_free(&k);
    if (!needle)
        ck_assert_str_eq(warning, "");
    else
        ck_assert_msg(strncmp(warning, key_path, strlen(key_path)) == 0 && strstr(warning, needle),
                      "expected '%s' in '%s'", needle, warning);
}

START_TEST(load_warns_on_open_modes)
{
    write_key_with_mode(0600);
    expect_load_warning(NULL);
    write_key_with_mode(0640);
    expect_load_warning("permissions 0640 are too open");
    write_key_with_mode(0660);
    expect_load_warning("permissions 0660 are too open");
    expect_key("secret\n", 7, "secret", 6); /* the quiet form loads it too */
}
END_TEST

START_TEST(load_refuses_others_writable)
{
    write_key_with_mode(0602);
    expect_load_error(key_path, "permissions 0602 let others write the authkey");
    write_key_with_mode(0666);
    expect_load_error(key_path, "refused (fix: chmod 600 ");

    struct authkey k;
    char warning[512] = "x", err[256] = "";
    ck_assert(!authkey_load_warn(&k, key_path, warning, sizeof warning, err, sizeof err));
    ck_assert_ptr_null(k.bytes);
    ck_assert_str_eq(warning, "");
    ck_assert_msg(strstr(err, "permissions 0666 let others write"), "%s", err);
}
END_TEST

START_TEST(load_warns_on_foreign_owner)
{
    if (geteuid() != 0) /* only root can give a file away */
        return;
    write_key_with_mode(0600);
    ck_assert_int_eq(chown(key_path, 65534, (gid_t)-1), 0);
    expect_load_warning(
        "the authkey is owned by uid 65534, neither this process's uid 0 nor root");
}
END_TEST

START_TEST(created_key_loads_without_warning)
{
    char err[256] = "";
    bool created = false;
    umask(0);
    ck_assert_msg(authkey_create_if_missing(key_path, &created, err, sizeof err), "%s", err);
    ck_assert(created);

    struct authkey k;
    char warning[512] = "x";
    ck_assert_msg(authkey_load_warn(&k, key_path, warning, sizeof warning, err, sizeof err), "%s",
                  err);
    ck_assert_str_eq(warning, "");
    authkey_free(&k);
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

    tc = tcase_create("perms");
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, private_modes_pass);
    tcase_add_test(tc, open_modes_warn_with_the_fix);
    tcase_add_test(tc, others_writable_refused);
    tcase_add_test(tc, foreign_owner_warns);
    tcase_add_test(tc, messages_truncate_safely);
    tcase_add_test(tc, systemd_credential_group_bits_pass);
    tcase_add_test(tc, load_warns_on_open_modes);
    tcase_add_test(tc, load_refuses_others_writable);
    tcase_add_test(tc, load_warns_on_foreign_owner);
    tcase_add_test(tc, created_key_loads_without_warning);
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
