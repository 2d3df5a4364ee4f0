/*
 * qmgrctl watch: a view of the daemon refreshed every interval, like top.
 * On a terminal each frame replaces the last; otherwise (or with --json,
 * one JSON document per line) frames follow each other, so the output can
 * be logged or tested.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "common/clock.h"

#define CLEAR_SCREEN "\033[H\033[2J"

const char ctl_watch_help[] =
    "Each frame shows the daemon's connections, memory and ops per second, and per\n"
    "object its size and, for queues, puts and gets per second since the last frame.\n"
    "  -i, --interval SECS  time between frames (default 1)\n"
    "  -n, --iterations N   stop after N frames (default: until interrupted)\n"
    "With --json each frame is one line: {\"time\": ..., \"stats\": {...},\n"
    "\"objects\": [...], \"rates\": {...}} (rates are null in the first frame).\n"
    "A lost connection is retried a few times, then watch exits 3.\n";

/* What rates are computed from: the previous frame's counters. */
struct counters {
    double at;
    double ops;
    size_t n;
    char **names;
    double *puts;
    double *gets;
};

struct frame {
    qmgr_map stats;
    qmgr_items objects;
    qmgr_map *object; /* parsed views of objects */
    double at;
};

static void counters_free(struct counters *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    free(c->puts);
    free(c->gets);
    memset(c, 0, sizeof *c);
}

static void frame_free(struct frame *f)
{
    for (size_t i = 0; f->object && i < f->objects.count; i++)
        qmgr_map_free(&f->object[i]);
    free(f->object);
    qmgr_map_free(&f->stats);
    qmgr_items_free(&f->objects);
    memset(f, 0, sizeof *f);
}

static int frame_fetch(struct ctl *ctl, struct frame *f)
{
    memset(f, 0, sizeof *f);
    int rc = qmgr_stats(ctl->conn, &f->stats);
    if (!rc)
        rc = qmgr_objects(ctl->conn, &f->objects);
    if (rc) {
        frame_free(f);
        return ctl_fail(ctl, rc, "watch");
    }
    f->at = clock_now();
    f->object = calloc(f->objects.count + 1, sizeof *f->object);
    for (size_t i = 0; f->object && i < f->objects.count; i++)
        qmgr_map_parse(f->objects.item[i].raw, f->objects.item[i].rawlen, &f->object[i]);
    return f->object ? CTL_EXIT_OK : ctl_fail(ctl, QMGR_ECLIENTMEM, "watch");
}

static void counters_take(struct counters *c, const struct frame *f)
{
    counters_free(c);
    c->at = f->at;
    c->ops = map_number(&f->stats, "ops");
    c->n = f->objects.count;
    c->names = calloc(c->n + 1, sizeof *c->names);
    c->puts = calloc(c->n + 1, sizeof *c->puts);
    c->gets = calloc(c->n + 1, sizeof *c->gets);
    if (!c->names || !c->puts || !c->gets) {
        counters_free(c);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->names[i] = map_cell(&f->object[i], "name");
        c->puts[i] = map_number(&f->object[i], "puts");
        c->gets[i] = map_number(&f->object[i], "gets");
    }
}

/* Per second since the previous frame; NAN when there is none. */
static double rate(double now, double before, double dt)
{
    return dt > 0 && !isnan(now) && !isnan(before) ? (now - before) / dt : NAN;
}

static size_t previous_index(const struct counters *c, const char *name)
{
    for (size_t i = 0; name && i < c->n; i++)
        if (c->names[i] && strcmp(c->names[i], name) == 0)
            return i;
    return SIZE_MAX;
}

static void object_rates(const struct counters *prev, const qmgr_map *obj, double at,
                         double *puts, double *gets)
{
    char *name = map_cell(obj, "name");
    size_t i = previous_index(prev, name);
    free(name);
    double dt = at - prev->at;
    *puts = i == SIZE_MAX ? NAN : rate(map_number(obj, "puts"), prev->puts[i], dt);
    *gets = i == SIZE_MAX ? NAN : rate(map_number(obj, "gets"), prev->gets[i], dt);
}

static void format_rate(char *buf, size_t size, double r)
{
    if (isnan(r))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.0f", r);
}

static void add_rate(struct table *t, double r)
{
    char buf[32];
    format_rate(buf, sizeof buf, r);
    table_add(t, buf);
}

static void print_frame_head(const struct frame *f, const struct counters *prev)
{
    char uptime[32], memory[32], ops[32];
    format_duration(uptime, sizeof uptime, map_number(&f->stats, "uptime_s"));
    format_bytes(memory, sizeof memory, map_number(&f->stats, "memory_bytes"));
    format_rate(ops, sizeof ops, rate(map_number(&f->stats, "ops"), prev->ops, f->at - prev->at));
    char *version = map_cell(&f->stats, "version");
    printf("qmgrd %s, up %s, connections %.0f, memory %s, ops/s %s\n\n", version ? version : "?",
           uptime, map_number(&f->stats, "connections"), memory, ops);
    free(version);
}

static void add_object_row(struct table *t, const qmgr_map *o, const struct counters *prev,
                           double at)
{
    bool is_queue = !qmgr_map_find(o, "len");
    const char *fields[] = {"name", "type", is_queue ? "size" : "len", "maxsize", "unfinished",
                            "getters", "putters"};
    for (size_t c = 0; c < sizeof fields / sizeof fields[0]; c++) {
        char *cell = map_cell(o, fields[c]);
        table_add(t, cell ? cell : "?");
        free(cell);
    }
    double puts = NAN, gets = NAN;
    if (is_queue)
        object_rates(prev, o, at, &puts, &gets);
    add_rate(t, puts);
    add_rate(t, gets);
}

static void print_frame_text(const struct frame *f, const struct counters *prev)
{
    static const char *const headers[] = {"NAME", "TYPE", ">SIZE", ">MAXSIZE", ">UNFINISHED",
                                          ">GETTERS", ">PUTTERS", ">PUTS/S", ">GETS/S"};
    print_frame_head(f, prev);
    struct table t;
    table_init(&t, sizeof headers / sizeof headers[0], headers);
    for (size_t i = 0; i < f->objects.count; i++)
        add_object_row(&t, &f->object[i], prev, f->at);
    table_print(&t, stdout);
    table_free(&t);
}

static void print_json_number(double v)
{
    if (isnan(v))
        fputs("null", stdout);
    else
        printf("%.3f", v);
}

static void print_frame_json(const struct frame *f, const struct counters *prev)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    printf("{\"time\": %.3f, \"stats\": ", (double)now.tv_sec + (double)now.tv_nsec / 1e9);
    render_map_json(stdout, &f->stats);
    fputs(", \"objects\": [", stdout);
    for (size_t i = 0; i < f->objects.count; i++) {
        if (i)
            fputs(", ", stdout);
        render_map_json(stdout, &f->object[i]);
    }
    fputs("], \"rates\": ", stdout);
    if (prev->at == 0) {
        puts("null}");
        return;
    }
    fputs("{\"ops_per_s\": ", stdout);
    print_json_number(rate(map_number(&f->stats, "ops"), prev->ops, f->at - prev->at));
    fputs(", \"objects\": {", stdout);
    for (size_t i = 0; i < f->objects.count; i++) {
        const qmgr_value *name = qmgr_map_find(&f->object[i], "name");
        double puts, gets;
        object_rates(prev, &f->object[i], f->at, &puts, &gets);
        if (i)
            fputs(", ", stdout);
        render_json_string(stdout, name && name->type == QMGR_STR ? name->data : "?",
                           name && name->type == QMGR_STR ? name->len : 1);
        fputs(": {\"puts_per_s\": ", stdout);
        print_json_number(puts);
        fputs(", \"gets_per_s\": ", stdout);
        print_json_number(gets);
        putchar('}');
    }
    puts("}}}");
}

static void sleep_until(double when)
{
    double left = when - clock_now();
    if (left <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int watch_loop(struct ctl *ctl, double interval, unsigned long iterations)
{
    bool tty = isatty(STDOUT_FILENO) && !ctl->json;
    struct counters prev = {0};
    int rc = CTL_EXIT_OK;
    for (unsigned long i = 0; iterations == 0 || i < iterations; i++) {
        double started = clock_now();
        struct frame f;
        if ((rc = frame_fetch(ctl, &f)) != 0)
            break;
        if (tty)
            fputs(CLEAR_SCREEN, stdout);
        else if (i > 0 && !ctl->json)
            putchar('\n');
        if (ctl->json)
            print_frame_json(&f, &prev);
        else
            print_frame_text(&f, &prev);
        fflush(stdout);
        counters_take(&prev, &f);
        frame_free(&f);
        if (iterations == 0 || i + 1 < iterations)
            sleep_until(started + interval);
    }
    counters_free(&prev);
    return rc;
}

int ctl_run_watch(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"interval", required_argument, NULL, 'i'}, {"iterations", required_argument, NULL, 'n'}, {0}};
    double interval = 1.0;
    unsigned long iterations = 0;
    int opt;
    char *end;
    while ((opt = ctl_getopt(ctl, argc, argv, "i:n:", opts)) != -1) {
        switch (opt) {
        case CTL_STOP: return ctl->exit;
        case 'i':
            if (!ctl_parse_seconds(optarg, &interval) || interval < 0.01 || interval == QMGR_FOREVER)
                return ctl_usage_error(ctl, "bad interval '%s'", optarg);
            break;
        case 'n':
            iterations = strtoul(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-' || iterations == 0)
                return ctl_usage_error(ctl, "bad iteration count '%s'", optarg);
            break;
        default: return ctl_usage_error(ctl, "bad option");
        }
    }
    if (optind != argc)
        return ctl_usage_error(ctl, "watch takes no arguments");
    int rc = ctl_connect(ctl);
    if (rc)
        return rc;
    /* A long-running view rides out a daemon restart. */
    qmgr_set_reconnect(ctl->conn, 5, 200);
    return watch_loop(ctl, interval, iterations);
}
