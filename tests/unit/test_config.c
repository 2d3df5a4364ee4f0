#include "common/config.h"

#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)

static char conf_path[64];

static void make_conf_path(void)
{
    strcpy(conf_path, "/tmp/qmgr-test-config-XXXXXX");
    int fd = mkstemp(conf_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void remove_conf(void)
{
    unlink(conf_path);
}

static void write_conf_bytes(const char *text, size_t len)
{
    FILE *f = fopen(conf_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_conf(const char *text)
{
    write_conf_bytes(text, strlen(text));
}

/* Loads text over a fresh config; err gets the message on failure. */
static bool load_text(struct config *c, const char *text, char *err, size_t errlen)
{
    write_conf(text);
    config_init(c);
    err[0] = '\0';
    return config_load(c, conf_path, err, errlen);
}

static void load_ok(struct config *c, const char *text)
{
    char err[512];
    ck_assert_msg(load_text(c, text, err, sizeof err), "refused: %s\n--- config:\n%s", err, text);
}

static void expect_error(const char *text, size_t len, int line, const char *reason)
{
    struct config c;
    char err[512], prefix[128];

    write_conf_bytes(text, len);
    config_init(&c);
    ck_assert_msg(!config_load(&c, conf_path, err, sizeof err), "accepted:\n%s", text);
    snprintf(prefix, sizeof prefix, "%s:%d: ", conf_path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "expected line %d, got '%s'\n--- config:\n%s",
                  line, err, text);
    ck_assert_msg(strstr(err, reason), "expected '%s' in '%s'", reason, err);
    config_free(&c);
}

static void expect_refused(const char *text, int line, const char *reason)
{
    expect_error(text, strlen(text), line, reason);
}

/* ---- values ------------------------------------------------------------ */

static const struct {
    const char *text;
    uint64_t bytes;
} good_sizes[] = {
    {"0", 0},
    {"123", 123},
    {"123B", 123},
    {"1K", 1024},
    {"16k", 16384},
    {"64M", 64 * MIB},
    {"64MB", 64 * MIB},
    {"64MiB", 64 * MIB},
    {"64mib", 64 * MIB},
    {"64 M", 64 * MIB},
    {"1G", 1024 * MIB},
    {"2T", UINT64_C(2) << 40},
    {"16777215T", UINT64_C(16777215) << 40},
    {"18446744073709551615", UINT64_MAX},
    {"007", 7},
};

START_TEST(size_accepted)
{
    uint64_t n = 1;
    ck_assert_msg(config_parse_size(good_sizes[_i].text, &n), "refused '%s'", good_sizes[_i].text);
    ck_assert_uint_eq(n, good_sizes[_i].bytes);
}
END_TEST

static const char *const bad_sizes[] = {
    "", "K", "-1", "+1", " 1", "1.5G", "1X", "1KK", "1iB", "1Ki", "1KiBB", "1BB", "0x10",
    "99999999999T", "16777216T", "18446744073709551616", "18014398509481984K",
};

START_TEST(size_refused)
{
    uint64_t n = 77;
    ck_assert_msg(!config_parse_size(bad_sizes[_i], &n), "accepted '%s'", bad_sizes[_i]);
    ck_assert_uint_eq(n, 77);
}
END_TEST

static const struct {
    const char *text;
    double seconds;
} good_durations[] = {
    {"5s", 5},       {"250ms", 0.25}, {"2m", 120}, {"1h", 3600},     {"1.5", 1.5},
    {"1.5s", 1.5},   {"0", 0},        {"7", 7},    {"0.001", 0.001}, {"10 s", 10},
    {"1000000000", 1e9},
};

START_TEST(duration_accepted)
{
    double d = -1;
    ck_assert_msg(config_parse_duration(good_durations[_i].text, &d), "refused '%s'", good_durations[_i].text);
    ck_assert_double_eq_tol(d, good_durations[_i].seconds, 1e-9);
}
END_TEST

static const char *const bad_durations[] = {
    "", "s", "-1", "-1s", "5x", "5sec", "1.", ".5", "1e3", "inf", "nan", "5S", "1,5",
    "1000000001", "277778h", "99999999999999999999",
};

START_TEST(duration_refused)
{
    double d = 77;
    ck_assert_msg(!config_parse_duration(bad_durations[_i], &d), "accepted '%s'", bad_durations[_i]);
    ck_assert_double_eq(d, 77);
}
END_TEST

START_TEST(bools)
{
    static const char *const yes[] = {"on", "yes", "true", "1", "ON", "Yes", "TRUE"};
    static const char *const no[] = {"off", "no", "false", "0", "OFF", "No", "False"};
    static const char *const neither[] = {"", "2", "onn", "y", "n", "enable", " on"};
    bool b;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        b = false;
        ck_assert_msg(config_parse_bool(yes[i], &b) && b, "'%s'", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        b = true;
        ck_assert_msg(config_parse_bool(no[i], &b) && !b, "'%s'", no[i]);
    }
    for (size_t i = 0; i < sizeof neither / sizeof neither[0]; i++) {
        b = true;
        ck_assert_msg(!config_parse_bool(neither[i], &b) && b, "'%s'", neither[i]);
    }
}
END_TEST

/* ---- defaults ---------------------------------------------------------- */

static void check_defaults(const struct config *c)
{
    char *state_dir = config_default_state_dir();
    ck_assert_str_eq(c->listen, "127.0.0.1:50002");
    ck_assert_ptr_null(c->authkey_file);
    ck_assert_ptr_null(c->tls_cert);
    ck_assert_ptr_null(c->tls_key);
    ck_assert_ptr_null(c->tls_ca);
    ck_assert_ptr_null(c->metrics_listen);
    ck_assert(!config_has_tls_listener(c));
    ck_assert_str_eq(c->state_dir, state_dir);
    ck_assert(!c->journal);
    ck_assert_int_eq(c->fsync, FSYNC_EVERYSEC);
    ck_assert_uint_eq(c->max_connections, 10000);
    ck_assert_uint_eq(c->max_message, 64 * MIB);
    ck_assert_uint_eq(c->max_item, 16 * MIB);
    ck_assert_uint_eq(c->max_memory, 1024 * MIB);
    ck_assert_uint_eq(c->max_output, 8 * MIB);
    ck_assert_double_eq(c->handshake_timeout, 5);
    ck_assert_int_eq(c->log_level, LOG_INFO);
    ck_assert(!c->auth_legacy_md5);
    ck_assert_int_eq(c->store, STORE_MEMORY);
    ck_assert_str_eq(c->jetstream_servers, "nats://127.0.0.1:4222");
    ck_assert_str_eq(c->jetstream_stream, "QMGR_LOG");
    ck_assert_uint_eq(c->jetstream_replicas, 3);
    ck_assert_double_eq(c->jetstream_timeout, 10);
    ck_assert(c->jetstream_compress);
    ck_assert_double_eq(c->frontend_timeout, 5);
    ck_assert_uint_eq(c->snapshot_every, 100000);
    free(state_dir);
}

static void check_default_objects(const struct config *c)
{
    ck_assert_uint_eq(c->nobjects, 2);
    ck_assert_str_eq(c->objects[0].name, "line_queue");
    ck_assert_int_eq(c->objects[0].type, OBJECT_QUEUE);
    ck_assert_str_eq(c->objects[0].accessor, "get_line_queue");
    ck_assert_uint_eq(c->objects[0].maxsize, 200);
    ck_assert(c->objects[0].redeliver);
    ck_assert_str_eq(c->objects[1].name, "flow_buf");
    ck_assert_int_eq(c->objects[1].type, OBJECT_BUF);
    ck_assert_str_eq(c->objects[1].accessor, "get_buf");
}

START_TEST(init_defaults)
{
    struct config c;
    config_init(&c);
    check_defaults(&c);
    ck_assert_uint_eq(c.nobjects, 0);
    ck_assert_ptr_null(c.objects);
    config_free(&c);
    ck_assert_ptr_null(c.listen);
    ck_assert_ptr_null(c.state_dir);
    config_free(&c); /* a freed config can be freed again */
}
END_TEST

START_TEST(default_objects_added)
{
    struct config c;
    config_init(&c);
    config_add_default_objects(&c);
    check_default_objects(&c);
    config_free(&c);
}
END_TEST

START_TEST(empty_file_gives_defaults)
{
    struct config c;
    load_ok(&c, "");
    check_defaults(&c);
    check_default_objects(&c);
    config_free(&c);
}
END_TEST

START_TEST(file_without_objects_gets_default_objects)
{
    struct config c;
    load_ok(&c, "; nothing but a comment\n[qmgrd]\nlisten = 127.0.0.1:6000\n");
    ck_assert_str_eq(c.listen, "127.0.0.1:6000");
    check_default_objects(&c);
    config_free(&c);
}
END_TEST

START_TEST(file_objects_replace_default_objects)
{
    struct config c;
    load_ok(&c, "[buf counts]\n");
    ck_assert_uint_eq(c.nobjects, 1);
    ck_assert_str_eq(c.objects[0].name, "counts");
    ck_assert_int_eq(c.objects[0].type, OBJECT_BUF);
    ck_assert_str_eq(c.objects[0].accessor, "get_counts");
    config_free(&c);
}
END_TEST

/* ---- every option ------------------------------------------------------ */

START_TEST(every_option)
{
    struct config c;
    load_ok(&c, "[qmgrd]\n"
                "listen = tls://[::1]:6001 , 127.0.0.1:6002,unix:/run/q.sock\n"
                "tls_cert = /etc/qmgr/cert.pem\n"
                "tls_key = /etc/qmgr/key.pem\n"
                "tls_ca = /etc/qmgr/ca.pem\n"
                "metrics_listen = 127.0.0.1:9650\n"
                "authkey_file = /etc/qmgr/key\n"
                "state_dir = /srv/qmgr\n"
                "fsync = always\n"
                "max_connections = 12\n"
                "max_message = 2K\n"
                "max_item = 1500\n"
                "max_memory = 3G\n"
                "max_output = 128KiB\n"
                "handshake_timeout = 250ms\n"
                "log_level = debug\n"
                "auth_legacy_md5 = yes\n"
                "store = jetstream\n"
                "jetstream_servers = nats://a:1, nats://b:2\n"
                "jetstream_stream = Q_LOG-2\n"
                "jetstream_replicas = 5\n"
                "jetstream_timeout = 3s\n"
                "jetstream_compress = off\n"
                "frontend_timeout = 1500ms\n"
                "snapshot_every = 42\n"
                "[queue jobs]\n"
                "maxsize = 7\n"
                "redeliver = true\n"
                "accessor = jobs_please\n"
                "[queue plain]\n"
                "[buf totals]\n"
                "accessor = get_totals_buf\n"
                "[buf empty]\n");
    ck_assert_str_eq(c.listen, "tls://[::1]:6001 , 127.0.0.1:6002,unix:/run/q.sock");
    ck_assert(config_has_tls_listener(&c));
    ck_assert_str_eq(c.tls_cert, "/etc/qmgr/cert.pem");
    ck_assert_str_eq(c.tls_key, "/etc/qmgr/key.pem");
    ck_assert_str_eq(c.tls_ca, "/etc/qmgr/ca.pem");
    ck_assert_str_eq(c.metrics_listen, "127.0.0.1:9650");
    ck_assert_str_eq(c.authkey_file, "/etc/qmgr/key");
    ck_assert_str_eq(c.state_dir, "/srv/qmgr");
    ck_assert_int_eq(c.fsync, FSYNC_ALWAYS);
    ck_assert_uint_eq(c.max_connections, 12);
    ck_assert_uint_eq(c.max_message, 2048);
    ck_assert_uint_eq(c.max_item, 1500);
    ck_assert_uint_eq(c.max_memory, UINT64_C(3) << 30);
    ck_assert_uint_eq(c.max_output, 128 * 1024);
    ck_assert_double_eq_tol(c.handshake_timeout, 0.25, 1e-12);
    ck_assert_int_eq(c.log_level, LOG_DEBUG);
    ck_assert(c.auth_legacy_md5);
    ck_assert_int_eq(c.store, STORE_JETSTREAM);
    ck_assert_str_eq(c.jetstream_servers, "nats://a:1, nats://b:2");
    ck_assert_str_eq(c.jetstream_stream, "Q_LOG-2");
    ck_assert_uint_eq(c.jetstream_replicas, 5);
    ck_assert_double_eq(c.jetstream_timeout, 3);
    ck_assert(!c.jetstream_compress);
    ck_assert_double_eq_tol(c.frontend_timeout, 1.5, 1e-12);
    ck_assert_uint_eq(c.snapshot_every, 42);

    ck_assert_uint_eq(c.nobjects, 4);
    ck_assert_str_eq(c.objects[0].name, "jobs");
    ck_assert_int_eq(c.objects[0].type, OBJECT_QUEUE);
    ck_assert_uint_eq(c.objects[0].maxsize, 7);
    ck_assert(c.objects[0].redeliver);
    ck_assert_str_eq(c.objects[0].accessor, "jobs_please");
    ck_assert_str_eq(c.objects[1].name, "plain");
    ck_assert_int_eq(c.objects[1].type, OBJECT_QUEUE);
    ck_assert_uint_eq(c.objects[1].maxsize, 0);
    ck_assert(!c.objects[1].redeliver);
    ck_assert_str_eq(c.objects[1].accessor, "get_plain");
    ck_assert_str_eq(c.objects[2].name, "totals");
    ck_assert_int_eq(c.objects[2].type, OBJECT_BUF);
    ck_assert_str_eq(c.objects[2].accessor, "get_totals_buf");
    ck_assert_str_eq(c.objects[3].name, "empty");
    ck_assert_int_eq(c.objects[3].type, OBJECT_BUF);
    ck_assert_str_eq(c.objects[3].accessor, "get_empty");
    config_free(&c);
}
END_TEST

START_TEST(other_values)
{
    struct config c;
    load_ok(&c, "[qmgrd]\nlisten = unix:/run/qmgr/qmgrd.sock\nfsync = no\njournal = off\n"
                "log_level = warn\nhandshake_timeout = 2m\nmax_message = 2147483647\n");
    ck_assert_str_eq(c.listen, "unix:/run/qmgr/qmgrd.sock");
    ck_assert_int_eq(c.fsync, FSYNC_NO);
    ck_assert(!c.journal);
    ck_assert_int_eq(c.log_level, LOG_WARNING);
    ck_assert_double_eq(c.handshake_timeout, 120);
    ck_assert_uint_eq(c.max_message, 2147483647);
    config_free(&c);

    load_ok(&c, "[qmgrd]\nfsync = everysec\nlog_level = err\nmax_message = 1024\nmax_item = 1K\n"
                "journal = on\nstore = memory\n"
                "listen = localhost:0\n[queue q]\nmaxsize = 18446744073709551615\nredeliver = off\n");
    ck_assert_int_eq(c.fsync, FSYNC_EVERYSEC);
    ck_assert(c.journal);
    ck_assert_int_eq(c.store, STORE_MEMORY);
    ck_assert_int_eq(c.log_level, LOG_ERR);
    ck_assert_uint_eq(c.max_message, 1024);
    ck_assert_uint_eq(c.max_item, 1024);
    ck_assert_str_eq(c.listen, "localhost:0");
    ck_assert_uint_eq(c.objects[0].maxsize, UINT64_MAX);
    ck_assert(!c.objects[0].redeliver);
    config_free(&c);

    load_ok(&c, "[qmgrd]\nlog_level = notice\nlisten = 0.0.0.0:65535\n");
    ck_assert_int_eq(c.log_level, LOG_NOTICE);
    ck_assert_str_eq(c.listen, "0.0.0.0:65535");
    config_free(&c);
}
END_TEST

START_TEST(lenient_syntax)
{
    struct config c;
    /* BOM, CRLF, comments of both kinds, inline comments, indentation, ':' as
     * separator, blanks inside a section header */
    load_ok(&c, "\xEF\xBB\xBF[qmgrd] ; the daemon\r\n"
                "# comment\r\n"
                "   max_connections = 5 ; inline\r\n"
                "\tlisten: 127.0.0.1:7000\r\n"
                "\r\n"
                "[  queue   spaced  ]\r\n"
                "  maxsize=9\r\n"
                "[buf b] # comment\n"
                "accessor = x;y\n");
    ck_assert_uint_eq(c.max_connections, 5);
    ck_assert_str_eq(c.listen, "127.0.0.1:7000");
    ck_assert_uint_eq(c.nobjects, 2);
    ck_assert_str_eq(c.objects[0].name, "spaced");
    ck_assert_uint_eq(c.objects[0].maxsize, 9);
    ck_assert_str_eq(c.objects[1].accessor, "x;y");
    config_free(&c);
}
END_TEST

START_TEST(repeated_qmgrd_section_merges)
{
    struct config c;
    load_ok(&c, "[qmgrd]\nmax_connections = 5\n[queue a]\n[qmgrd]\nmax_memory = 1M\n");
    ck_assert_uint_eq(c.max_connections, 5);
    ck_assert_uint_eq(c.max_memory, MIB);
    ck_assert_uint_eq(c.nobjects, 1);
    config_free(&c);
}
END_TEST

START_TEST(long_object_names)
{
    /* "[queue " + name + "]" must fit libinih's 199-character lines */
    char text[512], name[192];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    struct config c;
    snprintf(text, sizeof text, "[queue %s]\n", name);
    load_ok(&c, text);
    ck_assert_str_eq(c.objects[0].name, name);
    ck_assert_uint_eq(strlen(c.objects[0].accessor), 4 + strlen(name));
    config_free(&c);
}
END_TEST

START_TEST(example_conf_has_the_defaults)
{
    struct config c;
    char err[512];
    config_init(&c);
    ck_assert_msg(config_load(&c, QMGR_EXAMPLE_CONF, err, sizeof err), "%s", err);
    check_defaults(&c);
    check_default_objects(&c);
    config_free(&c);
}
END_TEST

START_TEST(load_replaces_and_failure_keeps)
{
    struct config c;
    char err[512];
    load_ok(&c, "[qmgrd]\nmax_connections = 5\n[queue a]\n");
    write_conf("[qmgrd]\nmax_connections = 6\n[queue b]\n[queue c]\n");
    ck_assert(config_load(&c, conf_path, err, sizeof err));
    ck_assert_uint_eq(c.max_connections, 6);
    ck_assert_uint_eq(c.nobjects, 2);
    ck_assert_str_eq(c.objects[1].name, "c");

    write_conf("[qmgrd]\nmax_connections = 7\nbogus = 1\n");
    ck_assert(!config_load(&c, conf_path, err, sizeof err));
    ck_assert_uint_eq(c.max_connections, 6);
    ck_assert_uint_eq(c.nobjects, 2);
    ck_assert_str_eq(c.objects[0].name, "b");
    config_free(&c);
}
END_TEST

START_TEST(zeroed_config_can_be_loaded)
{
    struct config c = {0};
    char err[512];
    write_conf("[queue q]\n");
    ck_assert_msg(config_load(&c, conf_path, err, sizeof err), "%s", err);
    ck_assert_str_eq(c.listen, CONFIG_DEFAULT_LISTEN);
    config_free(&c);
}
END_TEST

/* ---- refusals ---------------------------------------------------------- */

static const struct {
    const char *text;
    int line;
    const char *reason;
} refusals[] = {
    /* sections */
    {"[qmgrd]\n[foo]\n", 2, "unknown section [foo]"},
    {"\n[qmgr]\n", 2, "unknown section [qmgr]"},
    {"[queues a]\n", 1, "unknown section [queues a]"},
    {"[queue]\n", 1, "section [queue] needs a name"},
    {"[qmgrd]\n[queue ]\n", 2, "section [queue] needs a name"},
    {"[buf]\n", 1, "section [buf] needs a name"},
    {"[qmgrd]\n[qmgrd\n", 2, "malformed section header"},
    {"[qmgrd] junk\n", 1, "malformed section header"},
    {"[]\n", 1, "unknown section []"},
    {"[queue a b]\n", 1, "queue name 'a b' contains whitespace"},
    {"[buf a\tb]\n", 1, "buf name 'a\tb' contains whitespace"},
    {"[queue a\x01]\n", 1, "contains whitespace or a control character"},
    {"[queue a\x7f]\n", 1, "contains whitespace or a control character"},
    {"[queue a]\n[queue b]\n\n[queue a]\n", 4, "duplicate object name 'a' (first declared on line 1)"},
    {"[queue a]\n[buf a]\n", 2, "duplicate object name 'a' (first declared on line 1)"},
    /* keys */
    {"listen = 127.0.0.1:1\n", 1, "key 'listen' before any section"},
    {"[qmgrd]\nlisten = 127.0.0.1:1\nmaxsize = 3\n", 3, "unknown key 'maxsize' in [qmgrd]"},
    {"[queue q]\naccessorx = a\n", 2, "unknown key 'accessorx' in [queue q]"},
    {"[buf b]\nmaxsize = 3\n", 2, "unknown key 'maxsize' in [buf b]"},
    {"[buf b]\nredeliver = on\n", 2, "unknown key 'redeliver' in [buf b]"},
    {"[qmgrd]\nListen = 127.0.0.1:1\n", 2, "unknown key 'Listen'"},
    {"[qmgrd]\n= 5\n", 2, "unknown key ''"},
    {"[qmgrd]\nlisten = 127.0.0.1:1\n\nlisten = 127.0.0.1:2\n", 4, "listen is already set on line 2"},
    {"[qmgrd]\njournal = on\n[qmgrd]\njournal = off\n", 4, "journal is already set on line 2"},
    {"[queue q]\nmaxsize = 1\nmaxsize = 2\n", 3, "maxsize is already set on line 2"},
    /* syntax */
    {"[qmgrd]\nlisten\n", 2, "syntax error"},
    {"[qmgrd]\n  maxsize\n", 2, "syntax error"},
    {"[qmgrd]\nmax_connections = 5\n  6\n", 3, "syntax error"},
    /* line numbers agree with libinih's further down the file */
    {"; 1\n; 2\n[qmgrd]\n\n# 5\nlisten = 127.0.0.1:1\nbogus = 1\n", 7, "unknown key 'bogus'"},
    {"; 1\n; 2\n[qmgrd]\n\n# 5\nlisten = 127.0.0.1:1\nnonsense\n", 7, "syntax error"},
    {"[qmgrd]\n;2\n;3\n;4\n;5\n;6\n;7\n;8\n;9\n;10\n[foo]\n", 11, "unknown section [foo]"},
    {"[qmgrd]\n\n\n\n\n\nnonsense\n\nbogus = 1\n", 7, "syntax error"},
    {"[qmgrd]\n\n\n\n\n\nbogus = 1\n\nnonsense\n", 7, "unknown key 'bogus'"},
    /* the first error wins */
    {"[qmgrd]\nnonsense\nbogus = 1\n", 2, "syntax error"},
    {"[qmgrd]\nbogus = 1\nnonsense\n", 2, "unknown key 'bogus'"},
    {"[qmgrd]\nbogus = 1\n[foo]\n", 2, "unknown key 'bogus'"},
    {"[qmgrd]\nbogus = 1\nlisten = x\n", 2, "unknown key 'bogus'"},
    {"[foo]\nlisten = x\n", 1, "unknown section [foo]"},
    {"[qmgrd]\nmax_item = 1G\nbogus = 1\n", 3, "unknown key 'bogus'"},
    /* values of [qmgrd] */
    {"[qmgrd]\nlisten =\n", 2, "listen: '' is not host:port"},
    {"[qmgrd]\nlisten = localhost\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = localhost:\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = :50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = localhost:65536\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = localhost:000080\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = localhost:http\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = localhost:-1\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = ::1:50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = [::1:50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = 127.0.0.1:1,\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = tls://\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = tcp://127.0.0.1:1\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = 127.0.0.1:1, tls://127.0.0.1:2\n", 2,
     "listen has a tls:// address: tls_cert and tls_key must be set"},
    {"[qmgrd]\nlisten = tls://127.0.0.1:2\ntls_cert = /c\n", 2, "tls_cert and tls_key must be set"},
    {"[qmgrd]\ntls_cert = /c\n", 2, "tls_cert and tls_key go together"},
    {"[qmgrd]\n\ntls_key = /k\n", 3, "tls_cert and tls_key go together"},
    {"[qmgrd]\nmetrics_listen = unix:/tmp/m\n", 2, "metrics_listen: 'unix:/tmp/m' is not host:port or [v6]:port"},
    {"[qmgrd]\nmetrics_listen = 9650\n", 2, "is not host:port or [v6]:port"},
    {"[qmgrd]\nlisten = []:50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = [::1]]:50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = my host:50002\n", 2, "is not host:port"},
    {"[qmgrd]\nlisten = unix:\n", 2, "is not host:port"},
    {"[qmgrd]\nauthkey_file =\n", 2, "authkey_file: '' is not a path"},
    {"[qmgrd]\nstate_dir =\n", 2, "state_dir: '' is not a path"},
    {"[qmgrd]\njournal = maybe\n", 2, "journal: 'maybe' is not on/off"},
    {"[qmgrd]\njournal = /var/lib/qmgr/journal\n", 2, "journal: '/var/lib/qmgr/journal' is not on/off"},
    {"[qmgrd]\nauth_legacy_md5 = 2\n", 2, "auth_legacy_md5: '2' is not on/off"},
    {"[qmgrd]\nfsync = sometimes\n", 2, "fsync: 'sometimes' is not always, everysec or no"},
    {"[qmgrd]\nfsync =\n", 2, "fsync: '' is not always"},
    {"[qmgrd]\nstore = disk\n", 2, "store: 'disk' is not memory or jetstream"},
    {"[qmgrd]\njetstream_stream = a.b\n", 2, "jetstream_stream: 'a.b' is not a stream name"},
    {"[qmgrd]\njetstream_stream = a*\n", 2, "is not a stream name"},
    {"[qmgrd]\njetstream_servers = ,\n", 2, "jetstream_servers: ',' is not nats://host:port URLs"},
    {"[qmgrd]\njetstream_replicas = 0\n", 2, "jetstream_replicas: must be at least 1 (got 0)"},
    {"[qmgrd]\njetstream_replicas = 6\n", 2, "jetstream_replicas: must be at most 5 (got 6)"},
    {"[qmgrd]\nfrontend_timeout = 0\n", 2, "frontend_timeout: must be more than 0"},
    {"[qmgrd]\nsnapshot_every = 0\n", 2, "snapshot_every: must be at least 1 (got 0)"},
    {"[qmgrd]\nstore = jetstream\njournal = on\n", 3, "journal = on does not go with store = jetstream"},
    {"[qmgrd]\nmax_connections = 0\n", 2, "max_connections: must be at least 1 (got 0)"},
    {"[qmgrd]\nmax_connections = 10k\n", 2, "max_connections: '10k' is not a whole number"},
    {"[qmgrd]\nmax_connections = -1\n", 2, "max_connections: '-1' is not a whole number"},
    {"[qmgrd]\nmax_connections = 99999999999999999999\n", 2, "is not a whole number"},
    {"[qmgrd]\nmax_message = 1023\n", 2, "max_message: must be at least 1024 (got 1023)"},
    {"[qmgrd]\nmax_message = 2G\n", 2, "max_message: must be at most 2147483647 (got 2147483648)"},
    {"[qmgrd]\nmax_message = 64X\n", 2, "max_message: '64X' is not a size"},
    {"[qmgrd]\nmax_item = 0\n", 2, "max_item: must be at least 1"},
    {"[qmgrd]\nmax_item = 1.5M\n", 2, "max_item: '1.5M' is not a size"},
    {"[qmgrd]\nmax_memory = 0\n", 2, "max_memory: must be at least 1"},
    {"[qmgrd]\nmax_memory = 99999999999T\n", 2, "max_memory: '99999999999T' is not a size"},
    {"[qmgrd]\nmax_output = 0\n", 2, "max_output: must be at least 1"},
    {"[qmgrd]\nmax_output = lots\n", 2, "max_output: 'lots' is not a size"},
    {"[qmgrd]\nhandshake_timeout = 0\n", 2, "handshake_timeout: must be more than 0"},
    {"[qmgrd]\nhandshake_timeout = 0s\n", 2, "handshake_timeout: must be more than 0"},
    {"[qmgrd]\nhandshake_timeout = 0.0ms\n", 2, "handshake_timeout: must be more than 0"},
    {"[qmgrd]\nhandshake_timeout = -5s\n", 2, "handshake_timeout: '-5s' is not a duration"},
    {"[qmgrd]\nhandshake_timeout = 5 seconds\n", 2, "handshake_timeout: '5 seconds' is not a duration"},
    {"[qmgrd]\nlog_level = verbose\n", 2, "log_level: 'verbose' is not err, warning"},
    /* limits checked together, at the line of the key that breaks them */
    {"[qmgrd]\nmax_message = 1M\nmax_item = 2M\n", 3, "max_item (2097152) must not exceed max_message (1048576)"},
    {"[qmgrd]\nmax_item = 2M\n\nmax_message = 1M\n", 2, "max_item (2097152) must not exceed max_message"},
    {"[qmgrd]\n\nmax_message = 8M\n", 3, "max_item (16777216) must not exceed max_message (8388608)"},
    {"[qmgrd]\nmax_item = 65M\n", 2, "max_item (68157440) must not exceed max_message (67108864)"},
    /* values of objects */
    {"[queue q]\nmaxsize = -1\n", 2, "maxsize: '-1' is not a whole number"},
    {"[queue q]\nmaxsize = 1K\n", 2, "maxsize: '1K' is not a whole number"},
    {"[queue q]\nredeliver = sure\n", 2, "redeliver: 'sure' is not on/off"},
    {"[queue q]\naccessor =\n", 2, "accessor: '' is not a name"},
    {"[queue q]\naccessor = get q\n", 2, "accessor: 'get q' is not a name"},
    /* accessors are methods */
    {"[queue q]\naccessor = ping\n", 2, "accessor 'ping' of queue q clashes with a built-in method"},
    {"[buf b]\n\naccessor = lookup\n", 3, "accessor 'lookup' of buf b clashes with a built-in method"},
    {"[queue q]\naccessor = objects\n", 2, "clashes with a built-in method"},
    {"[queue q]\naccessor = stats\n", 2, "clashes with a built-in method"},
    {"[queue q]\naccessor = clients\n", 2, "clashes with a built-in method"},
    {"[queue q]\naccessor = queue.put\n", 2, "accessor 'queue.put' of queue q clashes"},
    {"[queue q]\naccessor = queue.\n", 2, "clashes with a built-in method"},
    {"[buf b]\naccessor = buf.anything\n", 2, "accessor 'buf.anything' of buf b clashes"},
    {"[queue a]\naccessor = shared\n[buf b]\naccessor = shared\n", 4,
     "accessor 'shared' of buf b is already the accessor of queue a (line 2)"},
    {"[queue a]\naccessor = get_b\n[queue b]\n", 3,
     "accessor 'get_b' of queue b is already the accessor of queue a (line 2)"},
    {"[queue a]\n[queue b]\naccessor = get_a\n", 3,
     "accessor 'get_a' of queue b is already the accessor of queue a (line 1)"},
    /* the error in a section is found when it closes, before later lines */
    {"[queue q]\naccessor = ping\n[queue r]\nbogus = 1\n", 2, "clashes with a built-in method"},
    {"[queue q]\naccessor = ping\n[queue q]\n", 2, "clashes with a built-in method"},
    {"[queue q]\naccessor = ping\n[foo]\n", 2, "clashes with a built-in method"},
};

START_TEST(refused)
{
    expect_refused(refusals[_i].text, refusals[_i].line, refusals[_i].reason);
}
END_TEST

START_TEST(refused_line_too_long)
{
    char text[600];
    char name[201];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(text, sizeof text, "[qmgrd]\n; %s\n", name);
    expect_refused(text, 2, "line longer than 199 characters");
    snprintf(text, sizeof text, "[qmgrd]\n[queue %s]\n", name);
    expect_refused(text, 2, "line longer than 199 characters");
    /* the rest of a long line is not read as another line */
    snprintf(text, sizeof text, "[qmgrd]\nstate_dir = /%s/bogus = 1\n", name);
    expect_refused(text, 2, "line longer than 199 characters");
}
END_TEST

/* sun_path holds 107 bytes and a NUL */
START_TEST(unix_socket_path_length)
{
    char text[256], path[109];
    struct config c;
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[107] = '\0';
    snprintf(text, sizeof text, "[qmgrd]\nlisten = unix:%s\n", path);
    load_ok(&c, text);
    ck_assert_uint_eq(strlen(c.listen), 5 + 107);
    config_free(&c);
    path[107] = 'p';
    path[108] = '\0';
    snprintf(text, sizeof text, "[qmgrd]\nlisten = unix:%s\n", path);
    expect_refused(text, 2, "is not host:port, [v6]:port or unix:/path");
}
END_TEST

START_TEST(refused_nul_byte)
{
    static const char text[] = "[qmgrd]\nlisten = a\0b:1\n";
    expect_error(text, sizeof text - 1, 2, "NUL byte in line");
}
END_TEST

START_TEST(refused_unreadable_files)
{
    struct config c;
    char err[512], expected[512];
    config_init(&c);

    ck_assert(!config_load(&c, "/nonexistent/qmgrd.conf", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/qmgrd.conf: No such file or directory");

    ck_assert(!config_load(&c, "/tmp", err, sizeof err));
    ck_assert_str_eq(err, "/tmp: Is a directory");

    unlink(conf_path);
    ck_assert(!config_load(&c, conf_path, err, sizeof err));
    snprintf(expected, sizeof expected, "%s: No such file or directory", conf_path);
    ck_assert_str_eq(err, expected);
    check_defaults(&c);
    config_free(&c);
}
END_TEST

START_TEST(error_message_truncated_to_errlen)
{
    struct config c;
    char err[8];
    memset(err, 'x', sizeof err);
    ck_assert(!load_text(&c, "[foo]\n", err, sizeof err));
    ck_assert_uint_eq(strlen(err), sizeof err - 1);
    config_free(&c);
}
END_TEST

/* ---- paths ------------------------------------------------------------- */

/* The non-root branches need a non-root effective uid. */
static void become_nobody(void)
{
    if (geteuid() == 0)
        ck_assert_int_eq(seteuid(65534), 0);
}

/* LeakSanitizer cannot inspect the process at exit under another euid. */
static void restore_euid(void)
{
    ck_assert_int_eq(seteuid(getuid()), 0);
}

static void check_state_dir(const char *expected)
{
    char *dir = config_default_state_dir();
    ck_assert_str_eq(dir, expected);
    free(dir);
}

START_TEST(state_dir_from_systemd)
{
    setenv("STATE_DIRECTORY", "/var/lib/qmgr", 1);
    check_state_dir("/var/lib/qmgr");
    setenv("STATE_DIRECTORY", "/var/lib/first:/var/lib/second", 1);
    check_state_dir("/var/lib/first");
    become_nobody();
    setenv("STATE_DIRECTORY", "/srv/state", 1);
    check_state_dir("/srv/state");
}
END_TEST

START_TEST(state_dir_for_root)
{
    unsetenv("STATE_DIRECTORY");
    setenv("XDG_STATE_HOME", "/xdg", 1);
    if (geteuid() == 0)
        check_state_dir("/var/lib/qmgr");
}
END_TEST

START_TEST(state_dir_for_users)
{
    setenv("STATE_DIRECTORY", "", 1); /* empty counts as unset */
    setenv("HOME", "/home/u", 1);
    become_nobody();
    setenv("XDG_STATE_HOME", "/xdg/state", 1);
    check_state_dir("/xdg/state/qmgr");
    setenv("XDG_STATE_HOME", "relative/state", 1);
    check_state_dir("/home/u/.local/state/qmgr");
    unsetenv("XDG_STATE_HOME");
    check_state_dir("/home/u/.local/state/qmgr");
    unsetenv("HOME");
    char expected[512];
    snprintf(expected, sizeof expected, "%s/.local/state/qmgr", getpwuid(getuid())->pw_dir);
    check_state_dir(expected);
}
END_TEST

static void check_authkey_path(const struct config *c, const char *expected)
{
    char *path = config_authkey_path(c);
    ck_assert_str_eq(path, expected);
    free(path);
}

START_TEST(authkey_path)
{
    struct config c;
    unsetenv("CREDENTIALS_DIRECTORY");
    setenv("STATE_DIRECTORY", "/run/default-state", 1);
    config_init(&c);
    check_authkey_path(&c, "/run/default-state/authkey");
    free(c.state_dir);
    c.state_dir = strdup("/srv/qmgr");
    check_authkey_path(&c, "/srv/qmgr/authkey");
    setenv("CREDENTIALS_DIRECTORY", "", 1);
    check_authkey_path(&c, "/srv/qmgr/authkey");
    setenv("CREDENTIALS_DIRECTORY", "/run/credentials/qmgrd.service", 1);
    check_authkey_path(&c, "/run/credentials/qmgrd.service/authkey");
    c.authkey_file = strdup("/etc/qmgr/key");
    check_authkey_path(&c, "/etc/qmgr/key");
    free(c.authkey_file);
    c.authkey_file = NULL;
    unsetenv("CREDENTIALS_DIRECTORY");
    free(c.state_dir);
    c.state_dir = NULL;
    check_authkey_path(&c, "/run/default-state/authkey");
    config_free(&c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("values");
    tcase_add_loop_test(tc, size_accepted, 0, sizeof good_sizes / sizeof good_sizes[0]);
    tcase_add_loop_test(tc, size_refused, 0, sizeof bad_sizes / sizeof bad_sizes[0]);
    tcase_add_loop_test(tc, duration_accepted, 0, sizeof good_durations / sizeof good_durations[0]);
    tcase_add_loop_test(tc, duration_refused, 0, sizeof bad_durations / sizeof bad_durations[0]);
    tcase_add_test(tc, bools);
    suite_add_tcase(s, tc);

    tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, make_conf_path, remove_conf);
    tcase_add_test(tc, init_defaults);
    tcase_add_test(tc, default_objects_added);
    tcase_add_test(tc, empty_file_gives_defaults);
    tcase_add_test(tc, file_without_objects_gets_default_objects);
    tcase_add_test(tc, file_objects_replace_default_objects);
    tcase_add_test(tc, example_conf_has_the_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_add_checked_fixture(tc, make_conf_path, remove_conf);
    tcase_add_test(tc, every_option);
    tcase_add_test(tc, other_values);
    tcase_add_test(tc, lenient_syntax);
    tcase_add_test(tc, repeated_qmgrd_section_merges);
    tcase_add_test(tc, long_object_names);
    tcase_add_test(tc, load_replaces_and_failure_keeps);
    tcase_add_test(tc, zeroed_config_can_be_loaded);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, make_conf_path, remove_conf);
    tcase_add_loop_test(tc, refused, 0, sizeof refusals / sizeof refusals[0]);
    tcase_add_test(tc, refused_line_too_long);
    tcase_add_test(tc, unix_socket_path_length);
    tcase_add_test(tc, refused_nul_byte);
    tcase_add_test(tc, refused_unreadable_files);
    tcase_add_test(tc, error_message_truncated_to_errlen);
    suite_add_tcase(s, tc);

    tc = tcase_create("paths");
    tcase_add_checked_fixture(tc, NULL, restore_euid);
    tcase_add_test(tc, state_dir_from_systemd);
    tcase_add_test(tc, state_dir_for_root);
    tcase_add_test(tc, state_dir_for_users);
    tcase_add_test(tc, authkey_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
