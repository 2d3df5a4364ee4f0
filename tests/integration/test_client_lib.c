/*
 * libqmgr-client against a real qmgrd: every call of qmgr.h, with its
 * timeouts and errors, pipelining, and reconnecting across a daemon restart.
 * Each test starts its own daemon ($QMGRD) on 127.0.0.1:0 with a temporary
 * config, and stops it with SIGTERM, expecting exit status 0.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "qmgr.h"

#define KEY "integration-test-key"
#define STARTUP_TIMEOUT 30.0

/* ---- A daemon per test ---- */

struct daemon {
    char dir[64];
    char conf[128];
    char keyfile[128];
    char log[128];
    char sock[128];
    char addr[160];
    int port;
    pid_t pid;
};

static struct daemon D;

static const char OBJECTS[] =
    "[queue line_queue]\nmaxsize = 200\nredeliver = on\n\n"
    "[queue small]\nmaxsize = 2\nredeliver = off\n\n"
    "[queue plain]\nredeliver = off\n\n"
    "[buf flow_buf]\naccessor = get_buf\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void daemon_configure(struct daemon *d, const char *listen)
{
    char text[2048];
    snprintf(text, sizeof text,
             "[qmgrd]\nlisten = %s\nstate_dir = %s\nauthkey_file = %s\nlog_level = info\n"
             "max_item = 64K\n\n%s",
             listen, d->dir, d->keyfile, OBJECTS);
    write_file(d->conf, text);
}

/* Waits for "listening on ADDR" in the log; returns the line's address. */
static void wait_listening(struct daemon *d)
{
    double deadline = now() + STARTUP_TIMEOUT;
    while (now() < deadline) {
        char buf[8192] = "";
        FILE *f = fopen(d->log, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        char *at = strstr(buf, "listening on ");
        char *end = at ? strchr(at, '\n') : NULL;
        if (end) {
            at += strlen("listening on ");
            snprintf(d->addr, sizeof d->addr, "%.*s", (int)(end - at), at);
            char *colon = strrchr(d->addr, ':');
            d->port = strncmp(d->addr, "unix:", 5) == 0 ? 0 : atoi(colon + 1);
            return;
        }
        ck_assert_msg(waitpid(d->pid, NULL, WNOHANG) == 0, "qmgrd exited at start:\n%s", buf);
        sleep_s(0.01);
    }
    ck_abort_msg("qmgrd did not start listening");
}

static void daemon_start(struct daemon *d)
{
    write_file(d->log, ""); /* so the last daemon's lines are not read as this one's */
    d->pid = fork();
    ck_assert_int_ge(d->pid, 0);
    if (d->pid == 0) {
        /* Dies with the test, even when the test crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *log = freopen(d->log, "a", stderr);
        (void)log;
        const char *qmgrd = getenv("QMGRD");
        execl(qmgrd, qmgrd, "-c", d->conf, (char *)NULL);
        _exit(127);
    }
    wait_listening(d);
}

/* Waits for the daemon to exit; its exit status (128 + signal if killed). */
static int daemon_wait(struct daemon *d)
{
    int status = -1;
    if (d->pid <= 0)
        return 0;
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int daemon_stop(struct daemon *d)
{
    if (d->pid > 0)
        kill(d->pid, SIGTERM);
    return daemon_wait(d);
}

/* Restarts the daemon on the same address. */
static void daemon_restart(struct daemon *d)
{
    ck_assert_int_eq(daemon_stop(d), 0);
    daemon_configure(d, d->addr);
    daemon_start(d);
}

/* A daemon of its own directory, key and free port, started. */
static void daemon_create(struct daemon *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/qmgr-client-it.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->dir));
    snprintf(d->conf, sizeof d->conf, "%s/qmgrd.conf", d->dir);
    snprintf(d->keyfile, sizeof d->keyfile, "%s/key", d->dir);
    snprintf(d->log, sizeof d->log, "%s/qmgrd.log", d->dir);
    snprintf(d->sock, sizeof d->sock, "%s/qmgrd.sock", d->dir);
    write_file(d->keyfile, KEY "\n");
    chmod(d->keyfile, 0600);
    daemon_configure(d, "127.0.0.1:0");
    daemon_start(d);
}

static void daemon_destroy(struct daemon *d)
{
    int rc = daemon_stop(d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(rc == 0, "qmgrd exited with %d on SIGTERM", rc);
}

static void setup(void)
{
    daemon_create(&D);
}

static void teardown(void)
{
    daemon_destroy(&D);
}

static qmgr_conn *connect_daemon(void)
{
    qmgr_conn *c;
    int rc = qmgr_connect(D.addr, KEY, strlen(KEY), &c);
    ck_assert_msg(rc == QMGR_OK, "connect %s: %s", D.addr, qmgr_strerror(rc));
    return c;
}

static qmgr_queue *open_queue(qmgr_conn *c, const char *name)
{
    qmgr_queue *q;
    ck_assert_int_eq(qmgr_queue_open(c, name, &q), QMGR_OK);
    return q;
}

static qmgr_buf *open_buf(qmgr_conn *c, const char *name)
{
    qmgr_buf *b;
    ck_assert_int_eq(qmgr_buf_open(c, name, &b), QMGR_OK);
    return b;
}

static void assert_item(const qmgr_value *v, const char *bytes)
{
    ck_assert_int_eq(v->type, QMGR_BIN);
    ck_assert_uint_eq(v->len, strlen(bytes));
    ck_assert(memcmp(v->data, bytes, v->len) == 0);
}

/* ---- connect ---- */

/* Upper bounds on elapsed time stretch with the run's slowdown (3 under
 * ASan, 10 under valgrind: QMGRTEST_TIMEOUT_SCALE); lower bounds do not. */
static double timeout_scale(void)
{
    const char *s = getenv("QMGRTEST_TIMEOUT_SCALE");
    double v = s ? atof(s) : 1.0;
    return v >= 1.0 ? v : 1.0;
}

START_TEST(connect_by_key_keyfile_and_env)
{
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect_keyfile(D.addr, D.keyfile, &c), QMGR_OK);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
    setenv("QMGR_ADDR", D.addr, 1);
    setenv("QMGR_AUTHKEY_FILE", D.keyfile, 1);
    ck_assert_int_eq(qmgr_connect_env(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
}
END_TEST

START_TEST(wrong_key_is_eauth)
{
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open(c, D.addr, "not the key", 11), QMGR_EAUTH);
    ck_assert_ptr_nonnull(strstr(qmgr_last_error(c), "rejected"));
    /* The same connection object can try again with the right key. */
    ck_assert_int_eq(qmgr_open(c, D.addr, KEY, strlen(KEY)), QMGR_OK);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
}
END_TEST

START_TEST(nothing_listening_is_econn)
{
    qmgr_conn *c;
    char addr[64];
    int port = D.port;
    ck_assert_int_eq(daemon_stop(&D), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    ck_assert_int_eq(qmgr_connect(addr, KEY, strlen(KEY), &c), QMGR_ECONN);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(unix_socket)
{
    char listen[160];
    snprintf(listen, sizeof listen, "unix:%s", D.sock);
    ck_assert_int_eq(daemon_stop(&D), 0);
    daemon_configure(&D, listen);
    daemon_start(&D);
    ck_assert_str_eq(D.addr, listen);
    qmgr_conn *c = connect_daemon();
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
}
END_TEST

/* ---- queues ---- */

START_TEST(queue_handles_mirror_basemanager)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q;
    qmgr_buf *b;
    ck_assert_int_eq(qmgr_queue_open(c, "nothing", &q), QMGR_ENOENT);
    ck_assert_int_eq(qmgr_queue_open(c, "flow_buf", &q), QMGR_ETYPE);
    ck_assert_int_eq(qmgr_buf_open(c, "line_queue", &b), QMGR_ETYPE);
    ck_assert_int_eq(qmgr_queue_open_accessor(c, "get_nothing", &q), QMGR_ENOMETHOD);
    ck_assert_int_eq(qmgr_queue_open_accessor(c, "get_line_queue", &q), QMGR_OK);
    ck_assert_str_eq(qmgr_queue_name(q), "line_queue");
    qmgr_queue_close(q);
    ck_assert_int_eq(qmgr_buf_open_accessor(c, "get_buf", &b), QMGR_OK);
    ck_assert_str_eq(qmgr_buf_name(b), "flow_buf");
    ck_assert_int_eq(qmgr_queue_open_accessor(c, "get_buf", &q), QMGR_ETYPE);
    qmgr_buf_close(b);
    qmgr_close(c);
}
END_TEST

START_TEST(put_get_bytes_and_raw)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_items got;
    static const uint8_t structured[] = {0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xc0};
    ck_assert_int_eq(qmgr_queue_put(q, "line one", 8, QMGR_FOREVER), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "", 0, 0), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put_raw(q, structured, sizeof structured, 1.5), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_get(q, 0, &got), QMGR_OK);
    ck_assert_uint_eq(got.count, 1);
    assert_item(&got.item[0], "line one");
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_queue_get(q, 0, &got), QMGR_OK);
    assert_item(&got.item[0], "");
    qmgr_items_free(&got);
    /* What a client puts is byte for byte what a client gets. */
    ck_assert_int_eq(qmgr_queue_get(q, QMGR_FOREVER, &got), QMGR_OK);
    ck_assert_int_eq(got.item[0].type, QMGR_MAP);
    ck_assert_uint_eq(got.item[0].len, 2);
    ck_assert_uint_eq(got.item[0].rawlen, sizeof structured);
    ck_assert(memcmp(got.item[0].raw, structured, sizeof structured) == 0);
    qmgr_map m;
    ck_assert_int_eq(qmgr_map_parse(got.item[0].raw, got.item[0].rawlen, &m), QMGR_OK);
    ck_assert_int_eq(qmgr_map_find(&m, "a")->i, 1);
    ck_assert_int_eq(qmgr_map_find(&m, "b")->type, QMGR_ARRAY);
    qmgr_map_free(&m);
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_queue_task_done(q, 3), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(get_timeouts)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_items got;
    double t0 = now();
    ck_assert_int_eq(qmgr_queue_get(q, 0, &got), QMGR_EEMPTY);
    ck_assert_uint_eq(got.count, 0);
    ck_assert_msg(now() - t0 < 1.0 * timeout_scale(), "timeout 0 blocked");
    t0 = now();
    ck_assert_int_eq(qmgr_queue_get(q, 0.3, &got), QMGR_EEMPTY);
    double took = now() - t0;
    ck_assert_msg(took >= 0.25 && took < 5 * timeout_scale(), "get with timeout 0.3 took %f", took);
    ck_assert_int_eq(qmgr_queue_get_many(q, 5, 0.1, &got), QMGR_EEMPTY);
    ck_assert_str_eq(qmgr_strerror(QMGR_EEMPTY), "queue empty");
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(put_full_queue)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "small");
    qmgr_bytes items[] = {{"a", 1}, {"b", 1}, {"c", 1}};
    size_t nput = 99;
    ck_assert_int_eq(qmgr_queue_put_many(q, items, 3, 0.2, &nput), QMGR_OK);
    ck_assert_uint_eq(nput, 2);
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, 0), QMGR_EFULL);
    double t0 = now();
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, 0.3), QMGR_EFULL);
    ck_assert_msg(now() - t0 >= 0.25, "put did not wait");
    ck_assert_int_eq(qmgr_queue_put_many(q, items, 3, 0, &nput), QMGR_EFULL);
    ck_assert_uint_eq(nput, 0);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(batches_stat_peek_purge)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_bytes items[] = {{"one", 3}, {"two", 3}, {"three", 5}};
    static const uint8_t raw_int[] = {0x2a}, raw_str[] = {0xa2, 'h', 'i'};
    qmgr_bytes raws[] = {{raw_int, 1}, {raw_str, 3}};
    size_t nput;
    uint64_t n;
    qmgr_items got;
    qmgr_queue_info st;
    ck_assert_int_eq(qmgr_queue_put_many(q, items, 3, QMGR_FOREVER, &nput), QMGR_OK);
    ck_assert_uint_eq(nput, 3);
    ck_assert_int_eq(qmgr_queue_put_many_raw(q, raws, 2, QMGR_FOREVER, &nput), QMGR_OK);
    ck_assert_uint_eq(nput, 2);
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(qmgr_queue_peek(q, 2, &got), QMGR_OK);
    ck_assert_uint_eq(got.count, 2);
    assert_item(&got.item[0], "one");
    assert_item(&got.item[1], "two");
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_queue_get_many(q, 4, 0, &got), QMGR_OK);
    ck_assert_uint_eq(got.count, 4);
    assert_item(&got.item[2], "three");
    ck_assert_int_eq(got.item[3].type, QMGR_INT);
    ck_assert_int_eq(got.item[3].i, 42);
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_queue_stat(q, &st), QMGR_OK);
    ck_assert_uint_eq(st.size, 1);
    ck_assert_uint_eq(st.unfinished, 5);
    ck_assert_uint_eq(st.puts, 5);
    ck_assert_uint_eq(st.gets, 4);
    ck_assert_uint_eq(st.maxsize, 0);
    ck_assert_int_eq(qmgr_queue_purge(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 0);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(task_done_and_join)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_items got;
    ck_assert_int_eq(qmgr_queue_join(q, 0), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "job", 3, 0), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_join(q, 0.2), QMGR_ETIMEOUT);
    ck_assert_int_eq(qmgr_queue_get(q, 0, &got), QMGR_OK);
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_queue_task_done(q, 2), QMGR_EVALUE);
    ck_assert_int_eq(qmgr_queue_task_done(q, 1), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_join(q, QMGR_FOREVER), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(item_over_max_item_is_etoobig)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    size_t len = 128 * 1024;
    char *big = calloc(1, len);
    ck_assert_int_eq(qmgr_queue_put(q, big, len, 0), QMGR_ETOOBIG);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    free(big);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

/* ---- bufs ---- */

START_TEST(buf_counters)
{
    qmgr_conn *c = connect_daemon();
    qmgr_buf *b = open_buf(c, "flow_buf");
    qmgr_number n;
    double f;
    ck_assert_int_eq(qmgr_buf_incr(b, "hits", 5, &n), QMGR_OK);
    ck_assert(!n.is_float && n.i == 5);
    ck_assert_int_eq(qmgr_buf_incr(b, "hits", -2, &n), QMGR_OK);
    ck_assert_int_eq(n.i, 3);
    ck_assert_int_eq(qmgr_buf_incr_float(b, "hits", 0.5, &f), QMGR_OK);
    ck_assert_double_eq(f, 3.5);
    ck_assert_int_eq(qmgr_buf_incr(b, "hits", 1, &n), QMGR_OK);
    ck_assert(n.is_float && n.f == 4.5);
    qmgr_delta deltas[] = {{"a", {.i = 2}}, {"b", {.is_float = 1, .f = 0.25}}};
    ck_assert_int_eq(qmgr_buf_update(b, deltas, 2), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_update(b, deltas, 2), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_get_number(b, "a", &n), QMGR_OK);
    ck_assert_int_eq(n.i, 4);
    ck_assert_int_eq(qmgr_buf_get_number(b, "b", &n), QMGR_OK);
    ck_assert(n.is_float && n.f == 0.5);
    ck_assert_int_eq(qmgr_buf_incr(b, "big", INT64_MAX, NULL), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_incr(b, "big", 1, NULL), QMGR_ERANGE);
    ck_assert_int_eq(qmgr_buf_set(b, "text", "abc", 3), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_incr(b, "text", 1, NULL), QMGR_ENOTNUM);
    ck_assert_int_eq(qmgr_buf_get_number(b, "text", &n), QMGR_ENOTNUM);
    deltas[1].key = "text";
    ck_assert_int_eq(qmgr_buf_update(b, deltas, 2), QMGR_ENOTNUM);
    ck_assert_int_eq(qmgr_buf_get_number(b, "a", &n), QMGR_OK);
    ck_assert_int_eq(n.i, 4); /* all or nothing */
    qmgr_buf_close(b);
    qmgr_close(c);
}
END_TEST

START_TEST(buf_values_items_drain)
{
    qmgr_conn *c = connect_daemon();
    qmgr_buf *b = open_buf(c, "flow_buf");
    static const uint8_t list[] = {0x93, 0x01, 0x02, 0x03};
    qmgr_items got;
    qmgr_map m;
    uint64_t len;
    ck_assert_int_eq(qmgr_buf_set(b, "bytes", "\x00\x01", 2), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_set_raw(b, "list", list, sizeof list), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_incr(b, "n", 7, NULL), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_get(b, "bytes", &got), QMGR_OK);
    ck_assert_int_eq(got.item[0].type, QMGR_BIN);
    ck_assert_uint_eq(got.item[0].len, 2);
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_buf_get(b, "list", &got), QMGR_OK);
    ck_assert(got.item[0].rawlen == sizeof list && memcmp(got.item[0].raw, list, sizeof list) == 0);
    qmgr_items_free(&got);
    ck_assert_int_eq(qmgr_buf_get(b, "missing", &got), QMGR_ENOKEY);
    ck_assert_int_eq(qmgr_buf_len(b, &len), QMGR_OK);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(qmgr_buf_items(b, &m), QMGR_OK);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_int_eq(qmgr_map_find(&m, "n")->i, 7);
    qmgr_map_free(&m);
    ck_assert_int_eq(qmgr_buf_del(b, "bytes"), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_del(b, "bytes"), QMGR_ENOKEY);
    ck_assert_int_eq(qmgr_buf_drain(b, &m), QMGR_OK);
    ck_assert_uint_eq(m.count, 2);
    ck_assert_ptr_nonnull(qmgr_map_find(&m, "list"));
    qmgr_map_free(&m);
    ck_assert_int_eq(qmgr_buf_len(b, &len), QMGR_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(qmgr_buf_set(b, "x", "y", 1), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_clear(b), QMGR_OK);
    ck_assert_int_eq(qmgr_buf_len(b, &len), QMGR_OK);
    ck_assert_uint_eq(len, 0);
    qmgr_buf_close(b);
    qmgr_close(c);
}
END_TEST

/* ---- daemon-wide ---- */

START_TEST(stats_objects_clients)
{
    qmgr_conn *c = connect_daemon();
    qmgr_map m;
    qmgr_items list;
    ck_assert_int_eq(qmgr_stats(c, &m), QMGR_OK);
    static const char *const fields[] = {"version", "uptime_s", "connections", "memory_bytes", "ops"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ck_assert_msg(qmgr_map_find(&m, fields[i]), "stats has no %s", fields[i]);
    ck_assert_int_eq(qmgr_map_find(&m, "connections")->i, 1);
    qmgr_map_free(&m);
    ck_assert_int_eq(qmgr_objects(c, &list), QMGR_OK);
    ck_assert_uint_eq(list.count, 4);
    for (size_t i = 0; i < list.count; i++) {
        ck_assert_int_eq(qmgr_map_parse(list.item[i].raw, list.item[i].rawlen, &m), QMGR_OK);
        ck_assert_int_eq(qmgr_map_find(&m, "name")->type, QMGR_STR);
        ck_assert_int_eq(qmgr_map_find(&m, "type")->type, QMGR_STR);
        qmgr_map_free(&m);
    }
    qmgr_items_free(&list);
    ck_assert_int_eq(qmgr_clients(c, &list), QMGR_OK);
    ck_assert_uint_eq(list.count, 1);
    ck_assert_int_eq(list.item[0].type, QMGR_MAP);
    qmgr_items_free(&list);
    qmgr_close(c);
}
END_TEST

/* ---- pipelining ---- */

#define BURST 1000

START_TEST(pipelined_burst)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    static uint32_t ids[BURST];
    char item[32];
    for (int i = 0; i < BURST; i++) {
        int n = snprintf(item, sizeof item, "item %d", i);
        ck_assert_int_eq(qmgr_send_queue_put(q, item, (size_t)n, QMGR_FOREVER, &ids[i]), QMGR_OK);
    }
    ck_assert_uint_eq(qmgr_in_flight(c), BURST);
    for (int i = 0; i < BURST; i++) {
        qmgr_reply *r;
        ck_assert_int_eq(qmgr_wait(c, ids[i], &r), QMGR_OK);
        ck_assert_int_eq(qmgr_result_nil(r), QMGR_OK);
    }
    for (int i = 0; i < BURST; i++)
        ck_assert_int_eq(qmgr_send_queue_get(q, 0, &ids[i]), QMGR_OK);
    /* Collect in arrival order, then check every item came, in order. */
    for (int i = 0; i < BURST; i++) {
        qmgr_reply *r;
        qmgr_items got;
        ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
        ck_assert_uint_eq(qmgr_reply_msgid(r), ids[i]);
        ck_assert_int_eq(qmgr_result_items(r, &got), QMGR_OK);
        int n = snprintf(item, sizeof item, "item %d", i);
        ck_assert_uint_eq(got.item[0].len, (size_t)n);
        ck_assert(memcmp(got.item[0].data, item, (size_t)n) == 0);
        qmgr_items_free(&got);
    }
    ck_assert_uint_eq(qmgr_in_flight(c), 0);
    ck_assert_int_eq(qmgr_queue_task_done(q, BURST), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

#define LOOP_CONNS 3

/* qmgr_fd + qmgr_recv_nowait: parked gets on several connections, answered
 * as items arrive, collected by one poll() loop. */
START_TEST(one_poll_loop_drives_several_connections)
{
    qmgr_conn *c[LOOP_CONNS];
    qmgr_queue *q[LOOP_CONNS];
    uint32_t id[LOOP_CONNS];
    qmgr_reply *r;
    for (int i = 0; i < LOOP_CONNS; i++) {
        c[i] = connect_daemon();
        q[i] = open_queue(c[i], "plain");
        ck_assert_int_ge(qmgr_fd(c[i]), 0);
        ck_assert_int_eq(qmgr_recv_nowait(c[i], &r), QMGR_EINVAL); /* nothing in flight */
        ck_assert_int_eq(qmgr_send_queue_get(q[i], QMGR_FOREVER, &id[i]), QMGR_OK);
        ck_assert_int_eq(qmgr_recv_nowait(c[i], &r), QMGR_OK); /* flushes; the get is parked */
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(qmgr_fd(NULL), -1);
    qmgr_conn *producer = connect_daemon();
    qmgr_queue *pq = open_queue(producer, "plain");
    qmgr_bytes items[LOOP_CONNS] = {{"a", 1}, {"b", 1}, {"c", 1}};
    size_t put;
    ck_assert_int_eq(qmgr_queue_put_many(pq, items, LOOP_CONNS, 0, &put), QMGR_OK);
    ck_assert_uint_eq(put, LOOP_CONNS);
    bool seen[3] = {false, false, false};
    int answered = 0;
    double deadline = now() + 10;
    while (answered < LOOP_CONNS && now() < deadline) {
        struct pollfd pfd[LOOP_CONNS];
        for (int i = 0; i < LOOP_CONNS; i++)
            pfd[i] = (struct pollfd){.fd = qmgr_fd(c[i]), .events = POLLIN};
        ck_assert_int_ge(poll(pfd, LOOP_CONNS, 1000), 0);
        for (int i = 0; i < LOOP_CONNS; i++) {
            if (!pfd[i].revents || qmgr_in_flight(c[i]) == 0)
                continue;
            ck_assert_int_eq(qmgr_recv_nowait(c[i], &r), QMGR_OK);
            if (!r)
                continue;
            qmgr_items got;
            ck_assert_uint_eq(qmgr_reply_msgid(r), id[i]);
            ck_assert_int_eq(qmgr_result_items(r, &got), QMGR_OK);
            ck_assert_uint_eq(got.item[0].len, 1);
            int which = *(const char *)got.item[0].data - 'a';
            ck_assert(which >= 0 && which < 3 && !seen[which]);
            seen[which] = true;
            qmgr_items_free(&got);
            answered++;
        }
    }
    ck_assert_int_eq(answered, LOOP_CONNS);
    for (int i = 0; i < LOOP_CONNS; i++) {
        ck_assert_uint_eq(qmgr_in_flight(c[i]), 0);
        qmgr_queue_close(q[i]);
        qmgr_close(c[i]);
    }
    qmgr_queue_close(pq);
    qmgr_close(producer);
}
END_TEST

START_TEST(parked_get_does_not_hold_back_later_requests)
{
    qmgr_conn *c = connect_daemon();
    qmgr_conn *producer = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_queue *pq = open_queue(producer, "plain");
    uint32_t get_id, ping_id;
    qmgr_reply *r;
    qmgr_items got;
    ck_assert_int_eq(qmgr_send_queue_get(q, QMGR_FOREVER, &get_id), QMGR_OK);
    ck_assert_int_eq(qmgr_send_ping(c, &ping_id), QMGR_OK);
    ck_assert_int_eq(qmgr_recv(c, &r), QMGR_OK);
    ck_assert_uint_eq(qmgr_reply_msgid(r), ping_id);
    ck_assert_int_eq(qmgr_result_nil(r), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(pq, "late", 4, 0), QMGR_OK);
    ck_assert_int_eq(qmgr_wait(c, get_id, &r), QMGR_OK);
    ck_assert_int_eq(qmgr_result_items(r, &got), QMGR_OK);
    assert_item(&got.item[0], "late");
    qmgr_items_free(&got);
    qmgr_queue_close(q);
    qmgr_queue_close(pq);
    qmgr_close(producer);
    qmgr_close(c);
}
END_TEST

/* ---- reconnect ---- */

START_TEST(reconnect_across_restart)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    uint64_t n;
    ck_assert_int_eq(qmgr_set_reconnect(c, 20, 50), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "before", 6, 0), QMGR_OK);
    daemon_restart(&D);
    /* A read is sent again on a new connection, transparently. */
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 0); /* no journal: the restarted daemon starts empty */
    daemon_restart(&D);
    /* A put first finds the connection dead (the daemon may have taken it),
     * and says so; the next call reconnects. */
    int rc = qmgr_queue_put(q, "after", 5, 0);
    ck_assert_msg(rc == QMGR_ECONN || rc == QMGR_OK, "%s", qmgr_strerror(rc));
    ck_assert_int_eq(qmgr_queue_put(q, "after", 5, 0), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, rc == QMGR_OK ? 2 : 1);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(without_reconnect_the_caller_reconnects)
{
    qmgr_conn *c = connect_daemon();
    daemon_restart(&D);
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    ck_assert_int_eq(qmgr_ping(c), QMGR_ECONN);
    ck_assert_int_eq(qmgr_reconnect(c), QMGR_OK);
    ck_assert_int_eq(qmgr_ping(c), QMGR_OK);
    qmgr_close(c);
}
END_TEST

START_TEST(parked_get_at_shutdown_is_eshutdown)
{
    qmgr_conn *c = connect_daemon();
    qmgr_queue *q = open_queue(c, "plain");
    qmgr_items got;
    uint32_t id;
    qmgr_reply *r;
    qmgr_queue_info st;
    ck_assert_int_eq(qmgr_send_queue_get(q, QMGR_FOREVER, &id), QMGR_OK);
    ck_assert_int_eq(qmgr_flush(c), QMGR_OK);
    qmgr_conn *watcher = connect_daemon();
    qmgr_queue *wq = open_queue(watcher, "plain");
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(qmgr_queue_stat(wq, &st), QMGR_OK);
        if (st.getters == 1)
            break;
        sleep_s(0.01);
    }
    ck_assert_uint_eq(st.getters, 1);
    kill(D.pid, SIGTERM);
    ck_assert_int_eq(qmgr_wait(c, id, &r), QMGR_OK);
    ck_assert_int_eq(qmgr_result_items(r, &got), QMGR_ESHUTDOWN);
    ck_assert_int_eq(daemon_wait(&D), 0);
    qmgr_queue_close(wq);
    qmgr_close(watcher);
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

/* Each case starts its own daemon (setup) and may take a minute. */
/* ---- Address lists: the front ends of a cluster, or a standby ---- */

static struct daemon E; /* the second daemon of the failover cases */

static void setup_two(void)
{
    daemon_create(&D);
    daemon_create(&E);
}

static void teardown_two(void)
{
    daemon_destroy(&E);
    daemon_destroy(&D);
}

/* A loopback address nothing listens on: a port bound, then let go. */
static void dead_address(char *out, size_t size)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &len), 0);
    snprintf(out, size, "127.0.0.1:%d", ntohs(sin.sin_port));
    close(s);
}

static uint64_t qsize_at(const char *addr, const char *queue)
{
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect(addr, KEY, strlen(KEY), &c), QMGR_OK);
    qmgr_queue *q = open_queue(c, queue);
    uint64_t n = 0;
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
    return n;
}

START_TEST(address_list_takes_the_first_that_answers)
{
    char dead[64], list[512];
    dead_address(dead, sizeof dead);
    snprintf(list, sizeof list, "%s,%s,%s", dead, E.addr, D.addr);
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect(list, KEY, strlen(KEY), &c), QMGR_OK);
    qmgr_queue *q = open_queue(c, "plain");
    ck_assert_int_eq(qmgr_queue_put(q, "x", 1, 0), QMGR_OK);
    qmgr_queue_close(q);
    qmgr_close(c);
    ck_assert_uint_eq(qsize_at(E.addr, "plain"), 1);
    ck_assert_uint_eq(qsize_at(D.addr, "plain"), 0);
}
END_TEST

START_TEST(reconnect_moves_to_the_next_address)
{
    char list[512];
    snprintf(list, sizeof list, "%s,%s", D.addr, E.addr);
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_connect(list, KEY, strlen(KEY), &c), QMGR_OK);
    ck_assert_int_eq(qmgr_set_reconnect(c, 5, 10), QMGR_OK);
    qmgr_queue *q = open_queue(c, "plain");
    ck_assert_int_eq(qmgr_queue_put(q, "on D", 4, 0), QMGR_OK);
    ck_assert_uint_eq(qsize_at(D.addr, "plain"), 1);
    /* Both alive: a reconnect still moves on, to E, and back round to D. */
    ck_assert_int_eq(qmgr_reconnect(c), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "on E", 4, 0), QMGR_OK);
    ck_assert_uint_eq(qsize_at(E.addr, "plain"), 1);
    ck_assert_int_eq(qmgr_reconnect(c), QMGR_OK);
    ck_assert_int_eq(qmgr_queue_put(q, "on D", 4, 0), QMGR_OK);
    ck_assert_uint_eq(qsize_at(D.addr, "plain"), 2);
    ck_assert_int_eq(daemon_stop(&D), 0);
    /* A read is sent again, and reaches the next address: E. */
    uint64_t n = 99;
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(qmgr_queue_put(q, "on E", 4, 0), QMGR_OK);
    ck_assert_uint_eq(qsize_at(E.addr, "plain"), 2);
    /* The list goes round: E gone, D back, and the next reconnect finds D. */
    daemon_configure(&D, D.addr);
    daemon_start(&D);
    ck_assert_int_eq(daemon_stop(&E), 0);
    ck_assert_int_eq(qmgr_queue_qsize(q, &n), QMGR_OK);
    ck_assert_uint_eq(n, 0); /* D restarted without a journal */
    qmgr_queue_close(q);
    qmgr_close(c);
}
END_TEST

START_TEST(address_list_all_dead_is_econn)
{
    char a[64], b[64], list[160];
    dead_address(a, sizeof a);
    dead_address(b, sizeof b);
    snprintf(list, sizeof list, "%s,%s", a, b);
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open(c, list, KEY, strlen(KEY)), QMGR_ECONN);
    ck_assert_msg(strstr(qmgr_last_error(c), "none of the 2 addresses answered"), "%s",
                  qmgr_last_error(c));
    qmgr_close(c);
}
END_TEST

START_TEST(address_list_wrong_key_stops_at_the_first)
{
    char list[512];
    snprintf(list, sizeof list, "%s,%s", D.addr, E.addr);
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    ck_assert_int_eq(qmgr_open(c, list, "wrong", 5), QMGR_EAUTH);
    qmgr_close(c);
}
END_TEST

START_TEST(address_list_syntax)
{
    static const char *const bad[] = {"", ",", "127.0.0.1:1,", ",127.0.0.1:1",
                                      "127.0.0.1:1,,127.0.0.1:2", "127.0.0.1:1,nonsense"};
    qmgr_conn *c;
    ck_assert_int_eq(qmgr_create(&c), QMGR_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(qmgr_open(c, bad[i], KEY, strlen(KEY)) == QMGR_EINVAL, "%s", bad[i]);
    qmgr_close(c);
}
END_TEST

static TCase *with_daemon(TCase *tc)
{
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

static Suite *client_integration_suite(void)
{
    Suite *s = suite_create("client-integration");
    TCase *tc;
    tc = with_daemon(tcase_create("connect"));
    tcase_add_test(tc, connect_by_key_keyfile_and_env);
    tcase_add_test(tc, wrong_key_is_eauth);
    tcase_add_test(tc, nothing_listening_is_econn);
    tcase_add_test(tc, unix_socket);
    suite_add_tcase(s, tc);
    tc = with_daemon(tcase_create("queue"));
    tcase_add_test(tc, queue_handles_mirror_basemanager);
    tcase_add_test(tc, put_get_bytes_and_raw);
    tcase_add_test(tc, get_timeouts);
    tcase_add_test(tc, put_full_queue);
    tcase_add_test(tc, batches_stat_peek_purge);
    tcase_add_test(tc, task_done_and_join);
    tcase_add_test(tc, item_over_max_item_is_etoobig);
    suite_add_tcase(s, tc);
    tc = with_daemon(tcase_create("buf"));
    tcase_add_test(tc, buf_counters);
    tcase_add_test(tc, buf_values_items_drain);
    suite_add_tcase(s, tc);
    tc = with_daemon(tcase_create("daemon"));
    tcase_add_test(tc, stats_objects_clients);
    suite_add_tcase(s, tc);
    tc = with_daemon(tcase_create("pipeline"));
    tcase_add_test(tc, pipelined_burst);
    tcase_add_test(tc, parked_get_does_not_hold_back_later_requests);
    tcase_add_test(tc, one_poll_loop_drives_several_connections);
    suite_add_tcase(s, tc);
    tc = with_daemon(tcase_create("reconnect"));
    tcase_add_test(tc, reconnect_across_restart);
    tcase_add_test(tc, without_reconnect_the_caller_reconnects);
    tcase_add_test(tc, parked_get_at_shutdown_is_eshutdown);
    suite_add_tcase(s, tc);
    tc = tcase_create("failover");
    tcase_add_checked_fixture(tc, setup_two, teardown_two);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, address_list_takes_the_first_that_answers);
    tcase_add_test(tc, reconnect_moves_to_the_next_address);
    tcase_add_test(tc, address_list_all_dead_is_econn);
    tcase_add_test(tc, address_list_wrong_key_stops_at_the_first);
    tcase_add_test(tc, address_list_syntax);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!getenv("QMGRD")) {
        fputs("QMGRD is not set: point it at the qmgrd binary\n", stderr);
        return EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(client_integration_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
