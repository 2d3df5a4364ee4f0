#include "common/config.h"
#include "common/address.h"
#include "common/array.h"
#include "proto/methods.h"
#include "common/paths.h"

#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)
/* A frame's length is a signed 32-bit number (docs/protocol.md §1). */
#define MAX_MESSAGE_LIMIT UINT64_C(2147483647)
#define MIN_MESSAGE_LIMIT 1024

/* ---- values ------------------------------------------------------------ */

/* Reads decimal digits (at least one); *end points after them. */
static bool parse_digits(const char *s, uint64_t *out, const char **end)
{
    uint64_t n = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    *end = p;
    return p != s;
}

static char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return (char *)s;
}

bool config_parse_size(const char *s, uint64_t *out)
{
    static const char units[] = "KMGT";
    uint64_t n;
    const char *p;
    unsigned shift = 0;

    if (!parse_digits(s, &n, &p))
        return false;
    p = skip_blanks(p);
    const char *unit = *p ? strchr(units, toupper((unsigned char)*p)) : NULL;
    if (unit) {
        shift = 10 * (unsigned)(unit - units + 1);
        p++;
        if (tolower((unsigned char)*p) == 'i' && tolower((unsigned char)p[1]) == 'b')
            p++;
    }
    if (tolower((unsigned char)*p) == 'b')
        p++;
    if (*p != '\0' || n > (UINT64_MAX >> shift))
        return false;
    *out = n << shift;
    return true;
}

/* Reads "12", "12.5": at least one digit before a '.', and one after it. */
static bool parse_decimal(const char *s, double *out, const char **end)
{
    uint64_t whole;
    const char *p;
    if (!parse_digits(s, &whole, &p))
        return false;
    double value = (double)whole;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        for (double scale = 0.1; isdigit((unsigned char)*p); p++, scale /= 10)
            value += (*p - '0') * scale;
    }
    *out = value;
    *end = p;
    return true;
}

bool config_parse_duration(const char *s, double *out)
{
    static const struct {
        const char *suffix;
        double seconds;
    } units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
    double value;
    const char *p;

    if (!parse_decimal(s, &value, &p))
        return false;
    p = skip_blanks(p);
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            value *= units[i].seconds;
            if (!(value <= CONFIG_DURATION_MAX))
                return false;
            *out = value;
            return true;
        }
    }
    return false;
}

bool config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static bool parse_count(const char *s, uint64_t *out)
{
    const char *end;
    return parse_digits(s, out, &end) && *end == '\0';
}

static bool parse_store(const char *s, enum store_kind *out)
{
    if (strcasecmp(s, "memory") == 0)
        *out = STORE_MEMORY;
    else if (strcasecmp(s, "jetstream") == 0)
        *out = STORE_JETSTREAM;
    else
        return false;
    return true;
}

static bool parse_fsync(const char *s, enum fsync_policy *out)
{
    static const struct {
        const char *name;
        enum fsync_policy policy;
    } policies[] = {{"always", FSYNC_ALWAYS}, {"everysec", FSYNC_EVERYSEC}, {"no", FSYNC_NO}};
    for (size_t i = 0; i < ARRAY_LEN(policies); i++) {
        if (strcasecmp(s, policies[i].name) == 0) {
            *out = policies[i].policy;
            return true;
        }
    }
    return false;
}

static bool has_blank_or_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f)
            return true;
    }
    return false;
}

/* NULL if the name can name an object or a method, else why not. */
static const char *name_problem(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "is empty";
    if (len > CONFIG_NAME_MAX)
        return "is longer than 200 bytes";
    if (has_blank_or_control(name, len))
        return "contains whitespace or a control character";
    return NULL;
}

static bool is_port(const char *s)
{
    uint64_t port;
    return strlen(s) <= 5 && parse_count(s, &port) && port <= 65535;
}

/* host:port, [v6]:port or unix:/path; the listener resolves the host later. */
static bool is_address(const char *s)
{
    if (strncmp(s, "unix:", 5) == 0) {
        size_t len = strlen(s + 5);
        return len > 0 && len < sizeof(((struct sockaddr_un *)NULL)->sun_path);
    }
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !is_port(colon + 1))
        return false;
    size_t host_len = (size_t)(colon - s);
    if (has_blank_or_control(s, host_len))
        return false;
    if (s[0] == '[')
        return host_len > 2 && s[host_len - 1] == ']' && !memchr(s + 1, ']', host_len - 2);
    return !memchr(s, ':', host_len) && !memchr(s, '[', host_len) && !memchr(s, ']', host_len);
}

static bool is_host_port(const char *s)
{
    return strncmp(s, "unix:", 5) != 0 && is_address(s);
}

/* Addresses separated by commas, each optionally tls://. */
static bool is_listen_list(const char *s)
{
    char one[ADDRESS_MAX];
    for (size_t i = 0, n = address_count(s); i < n; i++) {
        bool tls;
        if (!address_at(s, i, one, sizeof one) || !is_address(address_strip_tls(one, &tls)))
            return false;
    }
    return true;
}

bool config_has_tls_listener(const struct config *c)
{
    char one[ADDRESS_MAX];
    bool tls = false;
    for (size_t i = 0, n = address_count(c->listen); i < n && !tls; i++)
        if (address_at(c->listen, i, one, sizeof one))
            address_strip_tls(one, &tls);
    return tls;
}

/* ---- memory ------------------------------------------------------------ */

/* The configuration is read at start and on reload; there is nothing sensible
 * to fall back to without memory for a few strings. */
static void *check_alloc(void *p)
{
    if (!p) {
        log_err("out of memory reading the configuration");
        abort();
    }
    return p;
}

static char *dup_string(const char *s)
{
    return check_alloc(strdup(s));
}

static char *join_strings(const char *a, const char *b)
{
    size_t len = strlen(a) + strlen(b) + 1;
    char *s = check_alloc(malloc(len));
    snprintf(s, len, "%s%s", a, b);
    return s;
}

static void replace_string(char **field, const char *value)
{
    free(*field);
    *field = dup_string(value);
}

/* ---- defaults ---------------------------------------------------------- */

char *config_default_state_dir(void)
{
    return check_alloc(paths_default_state_dir());
}

char *config_authkey_path(const struct config *c)
{
    if (c->authkey_file)
        return dup_string(c->authkey_file);
    char *state_dir = c->state_dir ? NULL : config_default_state_dir();
    char *path = check_alloc(paths_authkey_in(c->state_dir ? c->state_dir : state_dir));
    free(state_dir);
    return path;
}

void config_init(struct config *c)
{
    *c = (struct config){
        .listen = dup_string(CONFIG_DEFAULT_LISTEN),
        .authkey_file = NULL,
        .state_dir = config_default_state_dir(),
        .journal = false,
        .fsync = FSYNC_EVERYSEC,
        .journal_compact_min = 64 * MIB,
        .max_connections = 10000,
        .max_message = 64 * MIB,
        .max_item = 16 * MIB,
        .max_memory = 1024 * MIB,
        .max_output = 8 * MIB,
        .max_waiters = 1024,
        .max_handshakes = 0,
        .handshake_timeout = 5,
        .log_level = LOG_INFO,
        .auth_legacy_md5 = false,
        .store = STORE_MEMORY,
        .jetstream_servers = dup_string(CONFIG_DEFAULT_JETSTREAM_SERVERS),
        .jetstream_stream = dup_string(CONFIG_DEFAULT_JETSTREAM_STREAM),
        .jetstream_replicas = 3,
        .jetstream_timeout = 10,
        .jetstream_compress = true,
        .frontend_timeout = 5,
        .snapshot_every = 100000,
    };
}

static struct object_config *add_object(struct config *c, enum object_type type, const char *name)
{
    c->objects = check_alloc(realloc(c->objects, (c->nobjects + 1) * sizeof *c->objects));
    struct object_config *o = &c->objects[c->nobjects++];
    *o = (struct object_config){.name = dup_string(name), .type = type};
    return o;
}

void config_add_default_objects(struct config *c)
{
    struct object_config *q = add_object(c, OBJECT_QUEUE, "line_queue");
    q->accessor = dup_string("get_line_queue");
    q->maxsize = 200;
    q->redeliver = true;
    struct object_config *b = add_object(c, OBJECT_BUF, "flow_buf");
    b->accessor = dup_string("get_buf");
}

void config_free(struct config *c)
{
    free(c->listen);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_ca);
    free(c->metrics_listen);
    free(c->authkey_file);
    free(c->state_dir);
    free(c->jetstream_servers);
    free(c->jetstream_stream);
    for (size_t i = 0; i < c->nobjects; i++) {
        free(c->objects[i].name);
        free(c->objects[i].accessor);
    }
    free(c->objects);
    *c = (struct config){0};
}

/* ---- the options ------------------------------------------------------- */

enum value_kind {
    V_LISTEN, V_HOST_PORT, V_PATH, V_NAME, V_BOOL, V_FSYNC, V_COUNT, V_SIZE, V_TIMEOUT, V_LOG_LEVEL, V_STORE,
    V_URLS, V_STREAM
};

struct option {
    const char *name;
    enum value_kind kind;
    size_t offset; /* of the field, in struct config or struct object_config */
    uint64_t min, max; /* V_COUNT and V_SIZE */
    bool queue_only;
};

enum main_option {
    OPT_LISTEN, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA, OPT_METRICS_LISTEN, OPT_AUTHKEY_FILE, OPT_STATE_DIR, OPT_JOURNAL, OPT_FSYNC, OPT_JOURNAL_COMPACT_MIN,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_MESSAGE, OPT_MAX_ITEM, OPT_MAX_MEMORY, OPT_MAX_OUTPUT, OPT_MAX_WAITERS, OPT_MAX_HANDSHAKES, OPT_HANDSHAKE_TIMEOUT,
    OPT_LOG_LEVEL, OPT_AUTH_LEGACY_MD5, OPT_STORE, OPT_JETSTREAM_SERVERS, OPT_JETSTREAM_STREAM,
    OPT_JETSTREAM_REPLICAS, OPT_JETSTREAM_TIMEOUT, OPT_JETSTREAM_COMPRESS, OPT_FRONTEND_TIMEOUT,
    OPT_SNAPSHOT_EVERY, MAIN_OPTION_COUNT
};

#define MAIN(field) offsetof(struct config, field)
static const struct option main_options[MAIN_OPTION_COUNT] = {
    [OPT_LISTEN] = {"listen", V_LISTEN, MAIN(listen), 0, 0, false},
    [OPT_TLS_CERT] = {"tls_cert", V_PATH, MAIN(tls_cert), 0, 0, false},
    [OPT_TLS_KEY] = {"tls_key", V_PATH, MAIN(tls_key), 0, 0, false},
    [OPT_TLS_CA] = {"tls_ca", V_PATH, MAIN(tls_ca), 0, 0, false},
    [OPT_METRICS_LISTEN] = {"metrics_listen", V_HOST_PORT, MAIN(metrics_listen), 0, 0, false},
    [OPT_AUTHKEY_FILE] = {"authkey_file", V_PATH, MAIN(authkey_file), 0, 0, false},
    [OPT_STATE_DIR] = {"state_dir", V_PATH, MAIN(state_dir), 0, 0, false},
    [OPT_JOURNAL] = {"journal", V_BOOL, MAIN(journal), 0, 0, false},
    [OPT_FSYNC] = {"fsync", V_FSYNC, MAIN(fsync), 0, 0, false},
    [OPT_JOURNAL_COMPACT_MIN] = {"journal_compact_min", V_SIZE, MAIN(journal_compact_min), 0, UINT64_MAX, false},
    [OPT_MAX_CONNECTIONS] = {"max_connections", V_COUNT, MAIN(max_connections), 1, UINT64_MAX, false},
    [OPT_MAX_MESSAGE] = {"max_message", V_SIZE, MAIN(max_message), MIN_MESSAGE_LIMIT, MAX_MESSAGE_LIMIT, false},
    [OPT_MAX_ITEM] = {"max_item", V_SIZE, MAIN(max_item), 1, UINT64_MAX, false},
    [OPT_MAX_MEMORY] = {"max_memory", V_SIZE, MAIN(max_memory), 1, UINT64_MAX, false},
    [OPT_MAX_OUTPUT] = {"max_output", V_SIZE, MAIN(max_output), 1, UINT64_MAX, false},
    [OPT_MAX_WAITERS] = {"max_waiters", V_COUNT, MAIN(max_waiters), 1, UINT32_MAX, false},
    [OPT_MAX_HANDSHAKES] = {"max_handshakes", V_COUNT, MAIN(max_handshakes), 0, UINT32_MAX, false},
    [OPT_HANDSHAKE_TIMEOUT] = {"handshake_timeout", V_TIMEOUT, MAIN(handshake_timeout), 0, 0, false},
    [OPT_LOG_LEVEL] = {"log_level", V_LOG_LEVEL, MAIN(log_level), 0, 0, false},
    [OPT_AUTH_LEGACY_MD5] = {"auth_legacy_md5", V_BOOL, MAIN(auth_legacy_md5), 0, 0, false},
    [OPT_STORE] = {"store", V_STORE, MAIN(store), 0, 0, false},
    [OPT_JETSTREAM_SERVERS] = {"jetstream_servers", V_URLS, MAIN(jetstream_servers), 0, 0, false},
    [OPT_JETSTREAM_STREAM] = {"jetstream_stream", V_STREAM, MAIN(jetstream_stream), 0, 0, false},
    /* JetStream allows 1 to 5 replicas. */
    [OPT_JETSTREAM_REPLICAS] = {"jetstream_replicas", V_COUNT, MAIN(jetstream_replicas), 1, 5, false},
    [OPT_JETSTREAM_TIMEOUT] = {"jetstream_timeout", V_TIMEOUT, MAIN(jetstream_timeout), 0, 0, false},
    [OPT_JETSTREAM_COMPRESS] = {"jetstream_compress", V_BOOL, MAIN(jetstream_compress), 0, 0, false},
    [OPT_FRONTEND_TIMEOUT] = {"frontend_timeout", V_TIMEOUT, MAIN(frontend_timeout), 0, 0, false},
    [OPT_SNAPSHOT_EVERY] = {"snapshot_every", V_COUNT, MAIN(snapshot_every), 1, UINT64_MAX, false},
};
#undef MAIN

enum object_option { OPT_MAXSIZE, OPT_REDELIVER, OPT_ACCESSOR, OBJECT_OPTION_COUNT };

#define OBJ(field) offsetof(struct object_config, field)
static const struct option object_options[OBJECT_OPTION_COUNT] = {
    [OPT_MAXSIZE] = {"maxsize", V_COUNT, OBJ(maxsize), 0, UINT64_MAX, true},
    [OPT_REDELIVER] = {"redeliver", V_BOOL, OBJ(redeliver), 0, 0, true},
    [OPT_ACCESSOR] = {"accessor", V_NAME, OBJ(accessor), 0, 0, false},
};
#undef OBJ

static const char *const builtin_methods[] = {QMGR_METHODS(QMGR_METHOD_NAME)};
/* Names a later release may give methods of its own. */
static const char *const builtin_prefixes[] = {"queue.", "buf."};

/* ---- the parser -------------------------------------------------------- */

enum section_kind { SECTION_NONE, SECTION_MAIN, SECTION_OBJECT };

/* Lines (0 = not set) where an object and its keys were declared. */
struct object_lines {
    int section;
    int keys[OBJECT_OPTION_COUNT];
};

struct parser {
    FILE *file;
    struct config *config;
    int lineno;
    enum section_kind section; /* SECTION_OBJECT: the last of config->objects */
    int main_lines[MAIN_OPTION_COUNT];
    struct object_lines *object_lines; /* parallel to config->objects */
    int read_errno;
    int error_line; /* of the first error, where parsing stops; 0: none yet */
    char error[320];
};

static const char *type_name(enum object_type type)
{
    return type == OBJECT_QUEUE ? "queue" : "buf";
}

static int fail_at(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the error; returns 0, libinih's "stop" for a handler. */
static int fail_at(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    p->error_line = line;
    return 0;
}

static struct object_config *current_object(struct parser *p)
{
    return &p->config->objects[p->config->nobjects - 1];
}

static int accessor_line(const struct parser *p, size_t i)
{
    const struct object_lines *l = &p->object_lines[i];
    return l->keys[OPT_ACCESSOR] ? l->keys[OPT_ACCESSOR] : l->section;
}

static bool is_builtin_method(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(builtin_methods); i++)
        if (strcmp(name, builtin_methods[i]) == 0)
            return true;
    for (size_t i = 0; i < ARRAY_LEN(builtin_prefixes); i++)
        if (strncmp(name, builtin_prefixes[i], strlen(builtin_prefixes[i])) == 0)
            return true;
    return false;
}

/* Accessors are methods: each must be unique and must not shadow a built-in. */
static void check_accessor(struct parser *p, size_t i)
{
    const struct object_config *o = &p->config->objects[i];
    int line = accessor_line(p, i);
    if (is_builtin_method(o->accessor)) {
        fail_at(p, line, "accessor '%s' of %s %s clashes with a built-in method", o->accessor,
                type_name(o->type), o->name);
        return;
    }
    for (size_t j = 0; j < i; j++) {
        const struct object_config *other = &p->config->objects[j];
        if (strcmp(o->accessor, other->accessor) == 0) {
            fail_at(p, line, "accessor '%s' of %s %s is already the accessor of %s %s (line %d)",
                    o->accessor, type_name(o->type), o->name, type_name(other->type), other->name,
                    accessor_line(p, j));
            return;
        }
    }
}

static void close_section(struct parser *p)
{
    if (p->section == SECTION_OBJECT) {
        struct object_config *o = current_object(p);
        if (!o->accessor)
            o->accessor = join_strings("get_", o->name);
        check_accessor(p, p->config->nobjects - 1);
    }
    p->section = SECTION_NONE;
}

static void open_object(struct parser *p, enum object_type type, const char *name)
{
    const char *problem = name_problem(name);
    if (problem) {
        fail_at(p, p->lineno, "%s name '%s' %s", type_name(type), name, problem);
        return;
    }
    for (size_t i = 0; i < p->config->nobjects; i++) {
        if (strcmp(p->config->objects[i].name, name) == 0) {
            fail_at(p, p->lineno, "duplicate object name '%s' (first declared on line %d)", name,
                    p->object_lines[i].section);
            return;
        }
    }
    size_t n = p->config->nobjects + 1;
    p->object_lines = check_alloc(realloc(p->object_lines, n * sizeof *p->object_lines));
    p->object_lines[n - 1] = (struct object_lines){.section = p->lineno};
    add_object(p->config, type, name);
    p->section = SECTION_OBJECT;
}

static bool parse_object_type(const char *word, size_t len, enum object_type *type)
{
    if (len == 5 && strncmp(word, "queue", len) == 0)
        *type = OBJECT_QUEUE;
    else if (len == 3 && strncmp(word, "buf", len) == 0)
        *type = OBJECT_BUF;
    else
        return false;
    return true;
}

/* "qmgrd", "queue NAME" or "buf NAME", trimmed. */
static void open_section(struct parser *p, const char *title)
{
    enum object_type type;
    size_t type_len = strcspn(title, " \t");
    const char *name = skip_blanks(title + type_len);

    if (strcmp(title, "qmgrd") == 0)
        p->section = SECTION_MAIN;
    else if (!parse_object_type(title, type_len, &type))
        fail_at(p, p->lineno, "unknown section [%s] (expected [qmgrd], [queue NAME] or [buf NAME])", title);
    else if (*name == '\0')
        fail_at(p, p->lineno, "section [%s] needs a name: [%s NAME]", title, title);
    else
        open_object(p, type, name);
}

static void trim_end(char *s)
{
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
}

/* "[title]", optionally followed by a comment. */
static void parse_section_header(struct parser *p, char *line)
{
    close_section(p);
    if (p->error_line)
        return;
    trim_end(line);
    char *end = strchr(line, ']');
    const char *rest = end ? skip_blanks(end + 1) : NULL;
    if (!end || (*rest && *rest != ';' && *rest != '#')) {
        fail_at(p, p->lineno, "malformed section header (expected [qmgrd], [queue NAME] or [buf NAME])");
        return;
    }
    *end = '\0';
    char *title = skip_blanks(line + 1);
    trim_end(title);
    open_section(p, title);
}

/* Reads one line into buf (leading blanks and the '\n' left out), truncated
 * to size - 1 bytes. Returns its full length; *consumed is 0 at end of file. */
static size_t read_raw_line(struct parser *p, char *buf, size_t size, size_t *consumed)
{
    size_t len = 0;
    int c;
    *consumed = 0;
    while ((c = getc(p->file)) != EOF) {
        ++*consumed;
        if (c == '\n')
            break;
        if (len == 0 && (c == ' ' || c == '\t'))
            continue;
        if (len < size - 1)
            buf[len] = (char)c;
        len++;
    }
    if (c == EOF && ferror(p->file) && !p->read_errno)
        p->read_errno = errno ? errno : EIO;
    buf[len < size - 1 ? len : size - 1] = '\0';
    return len;
}

static void skip_utf8_bom(char *line)
{
    if (strncmp(line, "\xEF\xBB\xBF", 3) == 0)
        memmove(line, line + 3, strlen(line + 3) + 1);
}

/*
 * libinih's line reader. libinih calls the handler only for key = value lines
 * and silently splits a line longer than its buffer, so the lines are read
 * here: numbered, checked, and section headers interpreted (an empty
 * [buf NAME] still declares an object). Leading blanks are dropped, so an
 * indented line is never taken as the continuation of a value.
 */
static char *read_config_line(char *buf, int size, void *stream)
{
    struct parser *p = stream;
    size_t consumed;

    if (p->error_line)
        return NULL;
    size_t len = read_raw_line(p, buf, (size_t)size, &consumed);
    if (consumed == 0) {
        close_section(p);
        return NULL;
    }
    p->lineno++;
    if (len > (size_t)size - 1) {
        fail_at(p, p->lineno, "line longer than %d characters", size - 1);
        return NULL;
    }
    if (memchr(buf, '\0', len)) {
        fail_at(p, p->lineno, "NUL byte in line");
        return NULL;
    }
    if (p->lineno == 1)
        skip_utf8_bom(buf);
    if (buf[0] == '[') {
        parse_section_header(p, buf);
        buf[0] = '\0'; /* libinih need not see it: the handler asks the parser for the section */
    }
    return buf;
}

static const char *const value_expectations[] = {
    [V_LISTEN] = "host:port, [v6]:port or unix:/path, each optionally tls://, separated by commas",
    [V_HOST_PORT] = "host:port or [v6]:port",
    [V_PATH] = "a path",
    [V_NAME] = "a name (1 to 200 bytes, no whitespace or control characters)",
    [V_BOOL] = "on/off, yes/no, true/false or 1/0",
    [V_FSYNC] = "always, everysec or no",
    [V_COUNT] = "a whole number",
    [V_SIZE] = "a size (4096, 512K, 64M, 1G)",
    [V_TIMEOUT] = "a duration (250ms, 5s, 2m, 1h)",
    [V_LOG_LEVEL] = "err, warning, notice, info or debug",
    [V_STORE] = "memory or jetstream",
    [V_URLS] = "nats://host:port URLs separated by commas",
    [V_STREAM] = "a stream name (letters, digits, '-' and '_', at most 200)",
};

/* JetStream's rule for stream names, kept to the characters every
 * subject and file name takes. */
static bool is_stream_name(const char *s)
{
    size_t len = strlen(s);
    return len > 0 && len <= CONFIG_NAME_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static bool is_valid_string(enum value_kind kind, const char *value)
{
    if (kind == V_LISTEN)
        return is_listen_list(value);
    if (kind == V_HOST_PORT)
        return is_host_port(value);
    if (kind == V_STREAM)
        return is_stream_name(value);
    if (kind == V_URLS)
        return strspn(value, " \t,") < strlen(value);
    if (kind == V_NAME)
        return name_problem(value) == NULL;
    return *value != '\0';
}

/* Stores the value in field if it is of the kind. */
static bool store_value(enum value_kind kind, const char *value, void *field)
{
    switch (kind) {
    case V_LISTEN:
    case V_HOST_PORT:
    case V_PATH:
    case V_NAME:
    case V_URLS:
    case V_STREAM:
        if (!is_valid_string(kind, value))
            return false;
        replace_string(field, value);
        return true;
    case V_BOOL:
        return config_parse_bool(value, field);
    case V_FSYNC:
        return parse_fsync(value, field);
    case V_COUNT:
        return parse_count(value, field);
    case V_SIZE:
        return config_parse_size(value, field);
    case V_TIMEOUT:
        return config_parse_duration(value, field);
    case V_LOG_LEVEL:
        return log_level_parse(value, field);
    case V_STORE:
        return parse_store(value, field);
    }
    return false;
}

static int check_range(struct parser *p, const struct option *opt, const void *field)
{
    if (opt->kind == V_TIMEOUT && *(const double *)field <= 0)
        return fail_at(p, p->lineno, "%s: must be more than 0", opt->name);
    if (opt->kind != V_COUNT && opt->kind != V_SIZE)
        return 1;
    uint64_t n = *(const uint64_t *)field;
    if (n < opt->min)
        return fail_at(p, p->lineno, "%s: must be at least %" PRIu64 " (got %" PRIu64 ")", opt->name,
                       opt->min, n);
    if (n > opt->max)
        return fail_at(p, p->lineno, "%s: must be at most %" PRIu64 " (got %" PRIu64 ")", opt->name,
                       opt->max, n);
    return 1;
}

/* Sets one key of a section; *line remembers where, to refuse setting it twice. */
static int set_option(struct parser *p, const struct option *opt, int *line, void *base, const char *value)
{
    void *field = (char *)base + opt->offset;
    if (*line)
        return fail_at(p, p->lineno, "%s is already set on line %d", opt->name, *line);
    if (!store_value(opt->kind, value, field))
        return fail_at(p, p->lineno, "%s: '%s' is not %s", opt->name, value, value_expectations[opt->kind]);
    if (!check_range(p, opt, field))
        return 0;
    *line = p->lineno;
    return 1;
}

static const struct option *find_option(const struct option *options, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static int handle_main_key(struct parser *p, const char *name, const char *value)
{
    const struct option *opt = find_option(main_options, MAIN_OPTION_COUNT, name);
    if (!opt)
        return fail_at(p, p->lineno, "unknown key '%s' in [qmgrd]", name);
    return set_option(p, opt, &p->main_lines[opt - main_options], p->config, value);
}

static int handle_object_key(struct parser *p, const char *name, const char *value)
{
    struct object_config *o = current_object(p);
    const struct option *opt = find_option(object_options, OBJECT_OPTION_COUNT, name);
    if (!opt || (opt->queue_only && o->type != OBJECT_QUEUE))
        return fail_at(p, p->lineno, "unknown key '%s' in [%s %s]", name, type_name(o->type), o->name);
    int *lines = p->object_lines[p->config->nobjects - 1].keys;
    return set_option(p, opt, &lines[opt - object_options], o, value);
}

/* libinih truncates long section names in `section`; the reader kept the real one. */
static int handle_key(void *user, const char *section, const char *name, const char *value)
{
    struct parser *p = user;
    (void)section;
    switch (p->section) {
    case SECTION_MAIN:
        return handle_main_key(p, name, value);
    case SECTION_OBJECT:
        return handle_object_key(p, name, value);
    case SECTION_NONE:
        break;
    }
    return fail_at(p, p->lineno, "key '%s' before any section", name);
}

static void check_limits(struct parser *p)
{
    const struct config *c = p->config;
    if (c->store == STORE_JETSTREAM && c->journal) {
        fail_at(p, p->main_lines[OPT_JOURNAL],
                "journal = on does not go with store = jetstream (the stream is the journal)");
        return;
    }
    if (config_has_tls_listener(c) && (!c->tls_cert || !c->tls_key)) {
        fail_at(p, p->main_lines[OPT_LISTEN],
                "listen has a tls:// address: tls_cert and tls_key must be set");
        return;
    }
    if ((c->tls_cert != NULL) != (c->tls_key != NULL)) {
        int line = c->tls_cert ? p->main_lines[OPT_TLS_CERT] : p->main_lines[OPT_TLS_KEY];
        fail_at(p, line, "tls_cert and tls_key go together");
        return;
    }
    if (c->max_item <= c->max_message)
        return;
    int item_line = p->main_lines[OPT_MAX_ITEM];
    fail_at(p, item_line ? item_line : p->main_lines[OPT_MAX_MESSAGE],
            "max_item (%" PRIu64 ") must not exceed max_message (%" PRIu64 ")", c->max_item, c->max_message);
}

/* Parses the open file into p->config; false with "FILE[:LINE]: reason" in err. */
static bool parse_file(struct parser *p, const char *path, char *err, size_t errlen)
{
    int syntax_line = ini_parse_stream(read_config_line, p, handle_key, p);
    if (p->read_errno) {
        snprintf(err, errlen, "%s: %s", path, strerror(p->read_errno));
        return false;
    }
    /* libinih reports the first line it could not parse or whose handler failed */
    if (syntax_line > 0 && (!p->error_line || syntax_line < p->error_line))
        fail_at(p, syntax_line, "syntax error (expected key = value, [section] or ; comment)");
    if (!p->error_line)
        check_limits(p);
    if (p->error_line) {
        snprintf(err, errlen, "%s:%d: %s", path, p->error_line, p->error);
        return false;
    }
    return true;
}

bool config_load(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    struct config loaded;
    config_init(&loaded);
    struct parser p = {.file = f, .config = &loaded};
    bool ok = parse_file(&p, path, err, errlen);
    fclose(f);
    free(p.object_lines);
    if (!ok) {
        config_free(&loaded);
        return false;
    }
    if (loaded.nobjects == 0)
        config_add_default_objects(&loaded);
    config_free(c);
    *c = loaded;
    return true;
}
