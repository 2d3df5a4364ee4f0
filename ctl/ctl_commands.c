/* qmgrctl's one-shot commands. Each prints a table for people or, with
 * --json, one JSON document. Every run_* is the same few steps (its
 * arguments, its call, a failure reported by ctl_fail, then JSON or a
 * table) over its own call and printer; they are written out rather than
 * table-driven so that each command reads top to bottom. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"

/* Parses the common options only; positional arguments are argv[optind..]. */
static int no_own_options(struct ctl *ctl, int argc, char **argv)
{
    int opt;
    while ((opt = ctl_getopt(ctl, argc, argv, "", NULL)) != -1)
        return opt == CTL_STOP ? CTL_STOP : ctl_usage_error(ctl, "bad option");
    return 0;
}

static int check_arg_count(const struct ctl *ctl, int argc, int min, int max)
{
    int n = argc - optind;
    if (n < min)
        return ctl_usage_error(ctl, "missing argument");
    if (n > max)
        return ctl_usage_error(ctl, "too many arguments");
    return CTL_EXIT_OK;
}

/* Options, then the positional argument count, then the connection. */
static int start(struct ctl *ctl, int argc, char **argv, int min, int max)
{
    int rc = no_own_options(ctl, argc, argv);
    if (rc == CTL_STOP)
        return ctl->exit == CTL_EXIT_OK ? -1 : ctl->exit;
    if (rc)
        return rc;
    rc = check_arg_count(ctl, argc, min, max);
    return rc ? rc : ctl_connect(ctl);
}

/* start() returns -1 after --help: the command is done, successfully. */
#define START_OR_RETURN(ctl, argc, argv, min, max)         \
    do {                                                   \
        int start_rc = start(ctl, argc, argv, min, max);   \
        if (start_rc)                                      \
            return start_rc < 0 ? CTL_EXIT_OK : start_rc;  \
    } while (0)

char *map_cell(const qmgr_map *map, const char *key)
{
    const qmgr_value *v = qmgr_map_find(map, key);
    if (!v)
        return strdup("-");
    if (v->type == QMGR_STR)
        return strndup(v->data, v->len);
    return render_to_string(v->raw, v->rawlen, RENDER_TEXT);
}

double map_number(const qmgr_map *map, const char *key)
{
    const qmgr_value *v = qmgr_map_find(map, key);
    if (!v || (v->type != QMGR_INT && v->type != QMGR_UINT && v->type != QMGR_FLOAT))
        return NAN;
    return v->f;
}

static void add_cell(struct table *t, const qmgr_map *map, const char *key)
{
    char *cell = map_cell(map, key);
    table_add(t, cell ? cell : "?");
    free(cell);
}

static void print_json_items(const qmgr_items *items)
{
    putchar('[');
    for (size_t i = 0; i < items->count; i++) {
        if (i)
            fputs(", ", stdout);
        render_value(stdout, items->item[i].raw, items->item[i].rawlen, RENDER_JSON);
    }
    puts("]");
}

/* ---- status ---- */

static void print_status_head(const qmgr_map *stats)
{
    char uptime[32], memory[32], max_memory[32], rss[32];
    char *version = map_cell(stats, "version");
    format_duration(uptime, sizeof uptime, map_number(stats, "uptime_s"));
    format_bytes(memory, sizeof memory, map_number(stats, "memory_bytes"));
    format_bytes(max_memory, sizeof max_memory, map_number(stats, "max_memory"));
    format_bytes(rss, sizeof rss, map_number(stats, "rss_bytes"));
    printf("qmgrd %s, pid %.0f, up %s\n", version ? version : "?", map_number(stats, "pid"),
           uptime);
    printf("connections %.0f (%.0f since start), ops %.0f, memory %s of %s (rss %s)\n\n",
           map_number(stats, "connections"), map_number(stats, "connections_total"),
           map_number(stats, "ops"), memory, max_memory, rss);
    free(version);
}

static const char *const MEMBER_HEADERS[] = {"FRONTEND", "ADDRESS", "ALIVE", ""};
#define MEMBER_COLUMNS (sizeof MEMBER_HEADERS / sizeof MEMBER_HEADERS[0])

static void add_member_row(struct table *t, const qmgr_value *v)
{
    qmgr_map m;
    if (qmgr_map_parse(v->raw, v->rawlen, &m))
        return;
    const qmgr_value *alive = qmgr_map_find(&m, "alive");
    const qmgr_value *self = qmgr_map_find(&m, "self");
    add_cell(t, &m, "id");
    add_cell(t, &m, "address");
    table_add(t, alive && alive->type == QMGR_BOOL && alive->i ? "yes" : "no");
    table_add(t, self && self->type == QMGR_BOOL && self->i ? "(this one)" : "");
    qmgr_map_free(&m);
}

/* Cluster mode: the front end that answered, and every member. */
static void print_cluster(const qmgr_map *stats)
{
    const qmgr_value *members = qmgr_map_find(stats, "members");
    qmgr_items list;
    if (!members || members->type != QMGR_ARRAY || qmgr_items_parse(members->raw, members->rawlen, &list))
        return;
    char *server = map_cell(stats, "jetstream_server");
    printf("cluster: front end %.0f, log position %.0f, %.0f of %zu members alive, via %s\n\n",
           map_number(stats, "frontend"), map_number(stats, "log_applied"),
           map_number(stats, "members_alive"), list.count, server ? server : "?");
    free(server);
    struct table t;
    table_init(&t, MEMBER_COLUMNS, MEMBER_HEADERS);
    for (size_t i = 0; i < list.count; i++)
        add_member_row(&t, &list.item[i]);
    table_print(&t, stdout);
    table_free(&t);
    putchar('\n');
    qmgr_items_free(&list);
}

static const char *const OBJECT_HEADERS[] = {
    "NAME", "TYPE", ">SIZE", ">MAXSIZE", ">UNFINISHED", ">BYTES",
    ">GETTERS", ">PUTTERS", ">PUTS", ">GETS", ">REDELIVERED",
};
#define OBJECT_COLUMNS (sizeof OBJECT_HEADERS / sizeof OBJECT_HEADERS[0])

/* One row per object; a buf has a length and nothing else. */
static void print_objects_table(const qmgr_items *objects)
{
    static const char *const queue_fields[] = {"maxsize", "unfinished", "bytes", "getters",
                                               "putters", "puts", "gets", "redelivered"};
    struct table t;
    table_init(&t, OBJECT_COLUMNS, OBJECT_HEADERS);
    for (size_t i = 0; i < objects->count; i++) {
        qmgr_map d;
        if (qmgr_map_parse(objects->item[i].raw, objects->item[i].rawlen, &d))
            continue;
        bool is_queue = !qmgr_map_find(&d, "len");
        add_cell(&t, &d, "name");
        add_cell(&t, &d, "type");
        add_cell(&t, &d, is_queue ? "size" : "len");
        for (size_t f = 0; f < sizeof queue_fields / sizeof queue_fields[0]; f++)
            add_cell(&t, &d, is_queue ? queue_fields[f] : "-");
        qmgr_map_free(&d);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static int run_status(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 0, 0);
    qmgr_map stats;
    qmgr_items objects;
    int rc = qmgr_stats(ctl->conn, &stats);
    if (rc)
        return ctl_fail(ctl, rc, "stats");
    rc = qmgr_objects(ctl->conn, &objects);
    if (rc) {
        qmgr_map_free(&stats);
        return ctl_fail(ctl, rc, "objects");
    }
    if (ctl->json) {
        fputs("{\"stats\": ", stdout);
        render_map_json(stdout, &stats);
        fputs(", \"objects\": ", stdout);
        print_json_items(&objects);
        puts("}");
    } else {
        print_status_head(&stats);
        print_cluster(&stats);
        print_objects_table(&objects);
    }
    qmgr_map_free(&stats);
    qmgr_items_free(&objects);
    return CTL_EXIT_OK;
}

/* ---- ls, stat ---- */

static void print_ls_json(const qmgr_items *objects)
{
    static const char *const fields[] = {"name", "type", "accessor"};
    putchar('[');
    for (size_t i = 0; i < objects->count; i++) {
        qmgr_map d;
        if (qmgr_map_parse(objects->item[i].raw, objects->item[i].rawlen, &d))
            continue;
        fputs(i ? ", {" : "{", stdout);
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            const qmgr_value *v = qmgr_map_find(&d, fields[f]);
            printf("%s\"%s\": ", f ? ", " : "", fields[f]);
            if (v)
                render_value(stdout, v->raw, v->rawlen, RENDER_JSON);
            else
                fputs("null", stdout);
        }
        putchar('}');
        qmgr_map_free(&d);
    }
    puts("]");
}

static void print_ls_table(const qmgr_items *objects)
{
    static const char *const headers[] = {"NAME", "TYPE", "ACCESSOR"};
    struct table t;
    table_init(&t, 3, headers);
    for (size_t i = 0; i < objects->count; i++) {
        qmgr_map d;
        if (qmgr_map_parse(objects->item[i].raw, objects->item[i].rawlen, &d))
            continue;
        for (size_t f = 0; f < 3; f++) {
            static const char *const fields[] = {"name", "type", "accessor"};
            add_cell(&t, &d, fields[f]);
        }
        qmgr_map_free(&d);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static int run_ls(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 0, 0);
    qmgr_items objects;
    int rc = qmgr_objects(ctl->conn, &objects);
    if (rc)
        return ctl_fail(ctl, rc, "objects");
    if (ctl->json)
        print_ls_json(&objects);
    else
        print_ls_table(&objects);
    qmgr_items_free(&objects);
    return CTL_EXIT_OK;
}

static bool name_is(const qmgr_map *d, const char *name)
{
    const qmgr_value *v = qmgr_map_find(d, "name");
    return v && v->type == QMGR_STR && v->len == strlen(name) && memcmp(v->data, name, v->len) == 0;
}

static void print_map_table(const qmgr_map *m)
{
    static const char *const headers[] = {"FIELD", "VALUE"};
    struct table t;
    table_init(&t, 2, headers);
    for (size_t i = 0; i < m->count; i++) {
        const qmgr_value *v = &m->entry[i].value;
        table_addf(&t, "%.*s", (int)m->entry[i].keylen, m->entry[i].key);
        char *cell = v->type == QMGR_STR ? strndup(v->data, v->len)
                                         : render_to_string(v->raw, v->rawlen, RENDER_TEXT);
        table_add(&t, cell ? cell : "?");
        free(cell);
    }
    table_print(&t, stdout);
    table_free(&t);
}

/* The object's descriptor with its statistics, from `objects`. */
static int run_stat(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 1, 1);
    const char *name = argv[optind];
    qmgr_items objects;
    int rc = qmgr_objects(ctl->conn, &objects);
    if (rc)
        return ctl_fail(ctl, rc, "objects");
    int exit_code = CTL_EXIT_FAILED;
    for (size_t i = 0; i < objects.count && exit_code; i++) {
        qmgr_map d;
        if (qmgr_map_parse(objects.item[i].raw, objects.item[i].rawlen, &d))
            continue;
        if (name_is(&d, name)) {
            if (ctl->json) {
                render_map_json(stdout, &d);
                putchar('\n');
            } else {
                print_map_table(&d);
            }
            exit_code = CTL_EXIT_OK;
        }
        qmgr_map_free(&d);
    }
    qmgr_items_free(&objects);
    if (exit_code)
        fprintf(stderr, "qmgrctl: stat %s: no object of that name (ENOENT)\n", name);
    return exit_code;
}

/* ---- put, get, peek, purge ---- */

static int open_queue(struct ctl *ctl, const char *name, qmgr_queue **q)
{
    int rc = qmgr_queue_open(ctl->conn, name, q);
    if (!rc)
        return CTL_EXIT_OK;
    char what[300];
    snprintf(what, sizeof what, "queue %s", name);
    return ctl_fail(ctl, rc, what);
}

/* VALUE, or standard input for "-"; NUL-terminated, malloc'd. */
static char *read_value(const char *arg, size_t *len)
{
    if (strcmp(arg, "-") != 0) {
        *len = strlen(arg);
        return strdup(arg);
    }
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    if (!mem)
        return NULL;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    *len = size;
    return buf;
}

static int put_value(struct ctl *ctl, const char *name, const char *text, size_t len,
                     enum value_type type, double timeout)
{
    msgpack_sbuffer sb;
    char err[256];
    msgpack_sbuffer_init(&sb);
    if (!value_pack(type, text, len, &sb, err, sizeof err)) {
        msgpack_sbuffer_destroy(&sb);
        return ctl_usage_error(ctl, "VALUE: %s", err);
    }
    qmgr_queue *q;
    int rc = open_queue(ctl, name, &q);
    if (!rc) {
        int put = qmgr_queue_put_raw(q, sb.data, sb.size, timeout);
        rc = put ? ctl_fail(ctl, put, "put") : CTL_EXIT_OK;
        qmgr_queue_close(q);
    }
    msgpack_sbuffer_destroy(&sb);
    if (!rc && ctl->json)
        puts("{\"ok\": true}");
    return rc;
}

static int run_put(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 'T'}, {"timeout", required_argument, NULL, 't'},
        {"str", no_argument, NULL, 'S'},        {"bin", no_argument, NULL, 'B'},
        {"hex", no_argument, NULL, 'X'},        {"int", no_argument, NULL, 'N'},
        {"float", no_argument, NULL, 'F'},      {0},
    };
    enum value_type type = VALUE_STR;
    double timeout = 0;
    int opt;
    while ((opt = ctl_getopt(ctl, argc, argv, "T:t:", opts)) != -1) {
        switch (opt) {
        case CTL_STOP: return ctl->exit;
        case 'T':
            if (!value_type_parse(optarg, &type))
                return ctl_usage_error(ctl, "unknown type '%s'", optarg);
            break;
        case 't':
            if (!ctl_parse_seconds(optarg, &timeout))
                return ctl_usage_error(ctl, "bad timeout '%s'", optarg);
            break;
        case 'S': type = VALUE_STR; break;
        case 'B': type = VALUE_BIN; break;
        case 'X': type = VALUE_HEX; break;
        case 'N': type = VALUE_INT; break;
        case 'F': type = VALUE_FLOAT; break;
        default: return ctl_usage_error(ctl, "bad option");
        }
    }
    int rc = check_arg_count(ctl, argc, 2, 2);
    if (rc || (rc = ctl_connect(ctl)) != 0)
        return rc;
    size_t len;
    char *text = read_value(argv[optind + 1], &len);
    if (!text)
        return ctl_fail(ctl, QMGR_ECLIENTMEM, "reading VALUE");
    rc = put_value(ctl, argv[optind], text, len, type, timeout);
    free(text);
    return rc;
}

static void print_item(const struct ctl *ctl, const qmgr_value *v, bool raw)
{
    if (raw && (v->type == QMGR_STR || v->type == QMGR_BIN)) {
        fwrite(v->data, 1, v->len, stdout);
        return;
    }
    render_value(stdout, v->raw, v->rawlen, ctl->json ? RENDER_JSON : RENDER_TEXT);
    putchar('\n');
}

/* Takes one item and marks it done, so a redeliver queue does not hand it
 * out again once qmgrctl disconnects. */
static int get_one(struct ctl *ctl, const char *name, double timeout, bool raw)
{
    qmgr_queue *q;
    qmgr_items items;
    int rc = open_queue(ctl, name, &q);
    if (rc)
        return rc;
    int got = qmgr_queue_get(q, timeout, &items);
    if (got) {
        qmgr_queue_close(q);
        return ctl_fail(ctl, got, "get");
    }
    print_item(ctl, &items.item[0], raw);
    qmgr_items_free(&items);
    int done = qmgr_queue_task_done(q, 1);
    qmgr_queue_close(q);
    return done ? ctl_fail(ctl, done, "task_done") : CTL_EXIT_OK;
}

static int run_get(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'}, {"raw", no_argument, NULL, 'r'}, {0}};
    double timeout = 0;
    bool raw = false;
    int opt;
    while ((opt = ctl_getopt(ctl, argc, argv, "t:r", opts)) != -1) {
        switch (opt) {
        case CTL_STOP: return ctl->exit;
        case 't':
            if (!ctl_parse_seconds(optarg, &timeout))
                return ctl_usage_error(ctl, "bad timeout '%s'", optarg);
            break;
        case 'r': raw = true; break;
        default: return ctl_usage_error(ctl, "bad option");
        }
    }
    int rc = check_arg_count(ctl, argc, 1, 1);
    if (rc || (rc = ctl_connect(ctl)) != 0)
        return rc;
    return get_one(ctl, argv[optind], timeout, raw);
}

static bool parse_count(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || s[0] == '-' || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static void print_peeked(const struct ctl *ctl, const qmgr_items *items)
{
    if (ctl->json) {
        print_json_items(items);
        return;
    }
    static const char *const headers[] = {">#", "ITEM"};
    struct table t;
    table_init(&t, 2, headers);
    for (size_t i = 0; i < items->count; i++) {
        table_addf(&t, "%zu", i);
        char *cell = render_to_string(items->item[i].raw, items->item[i].rawlen, RENDER_TEXT);
        table_add(&t, cell ? cell : "?");
        free(cell);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static int run_peek(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 1, 2);
    uint32_t n = 10;
    if (argc - optind == 2 && !parse_count(argv[optind + 1], &n))
        return ctl_usage_error(ctl, "bad count '%s'", argv[optind + 1]);
    qmgr_queue *q;
    qmgr_items items;
    int rc = open_queue(ctl, argv[optind], &q);
    if (rc)
        return rc;
    int peeked = qmgr_queue_peek(q, n, &items);
    qmgr_queue_close(q);
    if (peeked)
        return ctl_fail(ctl, peeked, "peek");
    print_peeked(ctl, &items);
    qmgr_items_free(&items);
    return CTL_EXIT_OK;
}

static int run_purge(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 1, 1);
    qmgr_queue *q;
    uint64_t removed = 0;
    int rc = open_queue(ctl, argv[optind], &q);
    if (rc)
        return rc;
    int purged = qmgr_queue_purge(q, &removed);
    qmgr_queue_close(q);
    if (purged)
        return ctl_fail(ctl, purged, "purge");
    if (ctl->json)
        printf("{\"removed\": %llu}\n", (unsigned long long)removed);
    else
        printf("purged %llu item%s from %s\n", (unsigned long long)removed,
               removed == 1 ? "" : "s", argv[optind]);
    return CTL_EXIT_OK;
}

/* ---- drain, clients ---- */

static int run_drain(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 1, 1);
    qmgr_buf *b;
    qmgr_map m;
    int rc = qmgr_buf_open(ctl->conn, argv[optind], &b);
    if (rc) {
        char what[300];
        snprintf(what, sizeof what, "buf %s", argv[optind]);
        return ctl_fail(ctl, rc, what);
    }
    rc = qmgr_buf_drain(b, &m);
    qmgr_buf_close(b);
    if (rc)
        return ctl_fail(ctl, rc, "drain");
    if (ctl->json) {
        render_map_json(stdout, &m);
        putchar('\n');
    } else {
        static const char *const headers[] = {"KEY", "VALUE"};
        struct table t;
        table_init(&t, 2, headers);
        for (size_t i = 0; i < m.count; i++) {
            table_addf(&t, "%.*s", (int)m.entry[i].keylen, m.entry[i].key);
            char *cell = render_to_string(m.entry[i].value.raw, m.entry[i].value.rawlen, RENDER_TEXT);
            table_add(&t, cell ? cell : "?");
            free(cell);
        }
        table_print(&t, stdout);
        table_free(&t);
    }
    qmgr_map_free(&m);
    return CTL_EXIT_OK;
}

static void print_clients_table(const qmgr_items *clients)
{
    static const char *const headers[] = {">ID", "PEER", ">SINCE", ">OPS", "WAITING_ON"};
    struct table t;
    table_init(&t, 5, headers);
    for (size_t i = 0; i < clients->count; i++) {
        qmgr_map m;
        char since[32];
        if (qmgr_map_parse(clients->item[i].raw, clients->item[i].rawlen, &m))
            continue;
        add_cell(&t, &m, "id");
        add_cell(&t, &m, "peer");
        format_duration(since, sizeof since, map_number(&m, "since_s"));
        table_add(&t, since);
        add_cell(&t, &m, "ops");
        const qmgr_value *w = qmgr_map_find(&m, "waiting_on");
        if (w && w->type == QMGR_NIL)
            table_add(&t, "-");
        else
            add_cell(&t, &m, "waiting_on");
        qmgr_map_free(&m);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static int run_clients(struct ctl *ctl, int argc, char **argv)
{
    START_OR_RETURN(ctl, argc, argv, 0, 0);
    qmgr_items clients;
    int rc = qmgr_clients(ctl->conn, &clients);
    if (rc)
        return ctl_fail(ctl, rc, "clients");
    if (ctl->json)
        print_json_items(&clients);
    else
        print_clients_table(&clients);
    qmgr_items_free(&clients);
    return CTL_EXIT_OK;
}

const struct ctl_command ctl_commands[] = {
    {"status", "status", "The daemon's version, uptime, connections, memory, and every object.",
     "One row per object: for a queue its size, limit, unfinished tasks, bytes, blocked\n"
     "getters and putters, and counts of puts, gets and redelivered items; for a buf its\n"
     "number of keys. --json prints {\"stats\": {...}, \"objects\": [...]}.\n",
     run_status},
    {"ls", "ls", "The objects: name, type and accessor method.",
     "--json prints [{\"name\": ..., \"type\": ..., \"accessor\": ...}, ...].\n", run_ls},
    {"stat", "stat NAME", "All the fields of one object (queue or buf).",
     "Exits 1 if there is no object NAME. --json prints the object's fields as a JSON object.\n",
     run_stat},
    {"put", "put QUEUE VALUE", "Puts one item into QUEUE.",
     "VALUE is sent as a msgpack str unless a type says otherwise; \"-\" reads it from\n"
     "standard input (write -- before a VALUE that starts with '-').\n"
     "  -T, --type TYPE     str (default), bin (the bytes of VALUE), hex (bin from hex\n"
     "                      digits), int, float, or json (any JSON value: objects become\n"
     "                      maps, arrays arrays, and so on)\n"
     "      --str, --bin, --hex, --int, --float   the same as -T str, ...\n"
     "  -t, --timeout SECS  wait up to SECS for room in a full queue (default 0: fail at\n"
     "                      once; \"forever\" waits without limit)\n"
     "Exits 1 if the queue stays full (EFULL) or does not exist.\n",
     run_put},
    {"get", "get QUEUE [-t SECS]", "Takes one item from QUEUE and prints it.",
     "The item is marked done (task_done), so it is gone for good even from a queue\n"
     "with redeliver = on. Strings print quoted, bins as b\"text\" or 0x<hex>; with\n"
     "--json as JSON (a bin that is not text as {\"hex\": \"...\"}).\n"
     "  -t, --timeout SECS  wait up to SECS for an item (default 0: do not wait;\n"
     "                      \"forever\" waits without limit)\n"
     "  -r, --raw           write a str or bin item's bytes as they are\n"
     "Exits 1 if the queue stays empty (EEMPTY) or does not exist.\n",
     run_get},
    {"peek", "peek QUEUE [N]", "Shows up to N items (default 10) from the head, not removed.",
     "--json prints a JSON array of the items.\n", run_peek},
    {"drain", "drain BUF", "Removes and prints every key of BUF, atomically.",
     "--json prints a JSON object.\n", run_drain},
    {"purge", "purge QUEUE", "Removes every item from QUEUE.",
     "--json prints {\"removed\": N}.\n", run_purge},
    {"clients", "clients", "The connected clients: id, address, age, ops, what they wait on.",
     "--json prints a JSON array of the daemon's client records.\n", run_clients},
    {"watch", "watch [-i SECS] [-n N]", "A live view of sizes and rates, refreshed like top.",
     ctl_watch_help, ctl_run_watch},
    {NULL, NULL, NULL, NULL, NULL},
};
