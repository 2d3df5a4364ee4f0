#include "common/log.h"

#include "common/clock.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* stderr goes to a temporary file while a test looks at what was logged. */
static int saved_stderr = -1;
static int capture_fd = -1;
static char captured[16384];

static void capture_start(void)
{
    char path[] = "/tmp/qmgr-test-log-XXXXXX";
    capture_fd = mkstemp(path);
    ck_assert_int_ge(capture_fd, 0);
    unlink(path);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_eq(dup2(capture_fd, STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr; returns what was logged since capture_start(). */
static const char *capture_end(void)
{
    ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
    close(saved_stderr);
    ssize_t n = pread(capture_fd, captured, sizeof captured - 1, 0);
    ck_assert_int_ge(n, 0);
    captured[n] = '\0';
    close(capture_fd);
    return captured;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void setup(void)
{
    unsetenv("JOURNAL_STREAM");
    log_init("qtest");
    log_set_level(LOG_DEBUG);
}

/* ---- levels ------------------------------------------------------------ */

START_TEST(level_names_parse)
{
    static const struct {
        const char *name;
        int priority;
    } names[] = {
        {"err", LOG_ERR},       {"error", LOG_ERR},   {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
        {"notice", LOG_NOTICE}, {"info", LOG_INFO},   {"debug", LOG_DEBUG},     {"INFO", LOG_INFO},
        {"Debug", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int priority = -1;
        ck_assert_msg(log_level_parse(names[i].name, &priority), "%s", names[i].name);
        ck_assert_int_eq(priority, names[i].priority);
    }
    static const char *const bad[] = {"", "verbose", "errors", "inf", "crit", "6", " info"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int priority = -1;
        ck_assert_msg(!log_level_parse(bad[i], &priority), "%s", bad[i]);
        ck_assert_int_eq(priority, -1);
    }
}
END_TEST

START_TEST(level_filters)
{
    log_set_level(LOG_WARNING);
    ck_assert(log_enabled(LOG_ERR));
    ck_assert(log_enabled(LOG_WARNING));
    ck_assert(!log_enabled(LOG_NOTICE));
    ck_assert(!log_enabled(LOG_DEBUG));

    capture_start();
    log_info("hidden");
    log_debug("hidden");
    log_notice("hidden");
    log_warn("shown warning");
    log_err("shown error");
    const char *out = capture_end();
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_nonnull(strstr(out, "shown warning"));
    ck_assert_ptr_nonnull(strstr(out, "shown error"));

    log_set_level(LOG_DEBUG);
    ck_assert(log_enabled(LOG_DEBUG));
}
END_TEST

START_TEST(errno_preserved)
{
    capture_start();
    errno = EAGAIN;
    log_info("something %d", 1);
    ck_assert_int_eq(errno, EAGAIN);
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 1);
    errno = EPIPE;
    log_write_limited(&rl, LOG_INFO, "x");
    log_write_limited(&rl, LOG_INFO, "x");
    ck_assert_int_eq(errno, EPIPE);
    capture_end();
}
END_TEST

/* ---- format ------------------------------------------------------------ */

static void expect_match(const char *text, const char *pattern)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "'%s' does not match /%s/", text, pattern);
}

START_TEST(plain_format)
{
    char pattern[256];
    capture_start();
    log_info("hello %d", 42);
    const char *out = capture_end();
    snprintf(pattern, sizeof pattern,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z qtest\\[%ld\\] INFO hello 42\n$",
             (long)getpid());
    expect_match(out, pattern);

    /* the date is today's, in UTC */
    char today[16];
    time_t now = time(NULL);
    strftime(today, sizeof today, "%Y-%m-%dT", gmtime(&now));
    ck_assert_msg(strncmp(out, today, strlen(today)) == 0, "%s", out);
}
END_TEST

START_TEST(plain_level_names)
{
    capture_start();
    log_err("a");
    log_warn("b");
    log_notice("c");
    log_debug("d");
    const char *out = capture_end();
    expect_match(out, "^[^\n]*\\] ERROR a\n[^\n]*\\] WARNING b\n[^\n]*\\] NOTICE c\n[^\n]*\\] DEBUG d\n$");
}
END_TEST

static void set_journal_stream_to(int fd)
{
    struct stat st;
    char value[64];
    ck_assert_int_eq(fstat(fd, &st), 0);
    snprintf(value, sizeof value, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    setenv("JOURNAL_STREAM", value, 1);
}

START_TEST(journal_format)
{
    capture_start();
    set_journal_stream_to(STDERR_FILENO);
    log_init("qtest");
    log_err("broken %s", "pipe");
    log_warn("w");
    log_notice("n");
    log_info("hello");
    log_debug("d");
    const char *out = capture_end();
    ck_assert_str_eq(out, "<3>broken pipe\n<4>w\n<5>n\n<6>hello\n<7>d\n");
}
END_TEST

/* JOURNAL_STREAM is inherited; it counts only when it names our stderr. */
START_TEST(journal_stream_elsewhere)
{
    static const char *const values[] = {"1:1", "garbage", "", "12:34:56"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        setenv("JOURNAL_STREAM", values[i], 1);
        log_init("qtest");
        capture_start();
        log_info("hello");
        const char *out = capture_end();
        ck_assert_msg(out[0] != '<' && strstr(out, " qtest[") && strstr(out, " INFO hello\n"),
                      "JOURNAL_STREAM=%s gave '%s'", values[i], out);
    }
}
END_TEST

START_TEST(long_message_truncated)
{
    static char big[5000];
    memset(big, 'x', sizeof big - 1);
    capture_start();
    log_info("%s", big);
    log_info("next");
    const char *out = capture_end();
    const char *first_end = strchr(out, '\n');
    ck_assert_ptr_nonnull(first_end);
    size_t first_len = (size_t)(first_end - out) + 1;
    ck_assert_uint_le(first_len, 2048);
    ck_assert_uint_ge(first_len, 2000);
    ck_assert_mem_eq(first_end - 3, "...", 3);
    ck_assert_str_eq(first_end + 1 + strlen(first_end + 1) - 5, "next\n");
    ck_assert_int_eq(count_lines(out), 2);
}
END_TEST

START_TEST(control_characters_replaced)
{
    capture_start();
    log_info("a\nb\rc\td\x7f" "e\x1b[31m");
    const char *out = capture_end();
    ck_assert_int_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, " INFO a?b?c\td?e?[31m\n"));
}
END_TEST

/* Lines from several processes sharing one pipe never interleave. */
START_TEST(lines_are_atomic)
{
    enum { WRITERS = 4, LINES = 300, WIDTH = 1500 };
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    for (int w = 0; w < WRITERS; w++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            static char text[WIDTH + 1];
            memset(text, 'a' + w, WIDTH);
            close(fds[0]);
            dup2(fds[1], STDERR_FILENO);
            for (int i = 0; i < LINES; i++)
                log_info("%s", text);
            _exit(0);
        }
    }
    close(fds[1]);

    FILE *in = fdopen(fds[0], "r");
    static char line[4 * WIDTH];
    int lines = 0;
    while (fgets(line, sizeof line, in)) {
        const char *msg = strstr(line, " INFO ");
        ck_assert_ptr_nonnull(msg);
        msg += 6;
        ck_assert_uint_eq(strspn(msg, (char[]){msg[0], 0}), WIDTH);
        ck_assert_str_eq(msg + WIDTH, "\n");
        lines++;
    }
    fclose(in);
    while (wait(NULL) > 0)
        ;
    ck_assert_int_eq(lines, WRITERS * LINES);
}
END_TEST

/* ---- rate limit -------------------------------------------------------- */

START_TEST(burst_then_suppressed)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 3);
    capture_start();
    for (int i = 0; i < 10; i++)
        log_write_limited(&rl, LOG_WARNING, "bad peer %d", i);
    const char *out = capture_end();
    ck_assert_int_eq(count_lines(out), 3);
    ck_assert_ptr_nonnull(strstr(out, "bad peer 2\n"));
    ck_assert_ptr_null(strstr(out, "bad peer 3"));
    ck_assert_uint_eq(rl.emitted, 3);
    ck_assert_uint_eq(rl.suppressed, 7);
}
END_TEST

START_TEST(window_reopens_with_count)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 2);
    capture_start();
    for (int i = 0; i < 5; i++)
        log_write_limited(&rl, LOG_WARNING, "first %d", i);
    rl.window_start -= 61; /* as if a minute had passed */
    log_write_limited(&rl, LOG_WARNING, "later");
    const char *out = capture_end();
    ck_assert_int_eq(count_lines(out), 4);
    const char *summary = strstr(out, " WARNING 3 similar messages suppressed\n");
    ck_assert_ptr_nonnull(summary);
    const char *later = strstr(out, " WARNING later\n");
    ck_assert_ptr_nonnull(later);
    ck_assert(summary < later);
    ck_assert_uint_eq(rl.suppressed, 0);
    ck_assert_uint_eq(rl.emitted, 1);
}
END_TEST

START_TEST(quiet_window_has_no_summary)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 2);
    capture_start();
    log_write_limited(&rl, LOG_WARNING, "one");
    log_write_limited(&rl, LOG_WARNING, "two");
    rl.window_start -= 61;
    log_write_limited(&rl, LOG_WARNING, "three");
    const char *out = capture_end();
    ck_assert_int_eq(count_lines(out), 3);
    ck_assert_ptr_null(strstr(out, "suppressed"));
}
END_TEST

START_TEST(disabled_level_not_counted)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(60, 1);
    log_set_level(LOG_WARNING);
    capture_start();
    for (int i = 0; i < 5; i++)
        log_write_limited(&rl, LOG_INFO, "quiet");
    const char *out = capture_end();
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(rl.suppressed, 0);
    ck_assert_uint_eq(rl.emitted, 0);
}
END_TEST

static double fake_now;

static double fake_clock(void)
{
    return fake_now;
}

START_TEST(window_on_the_clock)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT(0.05, 1);
    log_set_clock(fake_clock);
    fake_now = 100.0;
    capture_start();
    log_write_limited(&rl, LOG_WARNING, "a");
    fake_now += 0.049; /* still inside the window */
    log_write_limited(&rl, LOG_WARNING, "b");
    ck_assert_uint_eq(rl.suppressed, 1);
    fake_now += 0.001; /* the window is over */
    log_write_limited(&rl, LOG_WARNING, "c");
    const char *out = capture_end();
    log_set_clock(NULL);
    ck_assert_int_eq(count_lines(out), 3);
    ck_assert_ptr_nonnull(strstr(out, " 1 similar messages suppressed\n"));
    ck_assert_ptr_null(strstr(out, " b\n"));
    ck_assert_ptr_nonnull(strstr(out, " c\n"));
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc;

    tc = tcase_create("levels");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, level_names_parse);
    tcase_add_test(tc, level_filters);
    tcase_add_test(tc, errno_preserved);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, plain_format);
    tcase_add_test(tc, plain_level_names);
    tcase_add_test(tc, journal_format);
    tcase_add_test(tc, journal_stream_elsewhere);
    tcase_add_test(tc, long_message_truncated);
    tcase_add_test(tc, control_characters_replaced);
    tcase_add_test(tc, lines_are_atomic);
    suite_add_tcase(s, tc);

    tc = tcase_create("ratelimit");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, burst_then_suppressed);
    tcase_add_test(tc, window_reopens_with_count);
    tcase_add_test(tc, quiet_window_has_no_summary);
    tcase_add_test(tc, disabled_level_not_counted);
    tcase_add_test(tc, window_on_the_clock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
