#include "loggen.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A table string with its length, zero-padded to STR_CAP so that it can be
 * copied in whole 16-byte chunks: a variable-length memcpy of a few dozen
 * bytes costs more than the rest of a line.
 */
#define STR_CAP 128
#define CHUNK 16
struct str {
    uint8_t len;
    char s[STR_CAP];
};
#define S(lit) {sizeof(lit) - 1, lit}

/* A line: its fixed parts (client, time, separators, query, status, size)
 * and at most four table strings (method, path, referer, agent), plus the
 * overshoot of the last chunked copy. */
#define LINE_FIXED_MAX 160
_Static_assert(LINE_FIXED_MAX + 4 * STR_CAP + CHUNK <= LOGGEN_LINE_MAX,
               "a generated line may not fit LOGGEN_LINE_MAX");

#define HEAVY_CLIENTS 50
#define TAIL_CLIENTS 20000
/* Of every 5 requests, 2 come from the heavy hitters. */
#define HEAVY_SHARE_OF_5 2

enum method { GET, POST, HEAD, PUT, DELETE, OPTIONS, PATCH };
static const struct str METHODS[] = {S("GET"),    S("POST"),    S("HEAD"), S("PUT"),
                                     S("DELETE"), S("OPTIONS"), S("PATCH")};
/* Methods other than a path's usual one, 3% of the time. */
#define OTHER_METHOD_PER_1024 31
static const uint16_t OTHER_METHOD_WEIGHTS[] = {30, 0, 30, 10, 10, 15, 5};

enum profile { STATIC, PAGE, API, PROBE };

struct status_weight {
    const char code[4];
    uint16_t weight;
};
static const struct status_weight STATIC_STATUS[] = {
    {"200", 780}, {"304", 170}, {"404", 40}, {"206", 10}};
static const struct status_weight PAGE_STATUS[] = {
    {"200", 900}, {"301", 30}, {"302", 30}, {"404", 20}, {"500", 10}, {"503", 10}};
static const struct status_weight API_STATUS[] = {
    {"200", 850}, {"201", 50}, {"400", 30}, {"401", 30}, {"404", 10},
    {"429", 10},  {"500", 15}, {"502", 5}};
static const struct status_weight PROBE_STATUS[] = {{"404", 950}, {"403", 50}};
static const struct {
    const struct status_weight *s;
    size_t n;
} PROFILES[] = {
    [STATIC] = {STATIC_STATUS, sizeof STATIC_STATUS / sizeof *STATIC_STATUS},
    [PAGE] = {PAGE_STATUS, sizeof PAGE_STATUS / sizeof *PAGE_STATUS},
    [API] = {API_STATUS, sizeof API_STATUS / sizeof *API_STATUS},
    [PROBE] = {PROBE_STATUS, sizeof PROBE_STATUS / sizeof *PROBE_STATUS},
};

struct path_spec {
    struct str path;
    uint16_t weight;
    uint8_t method;
    uint8_t profile;
    uint8_t query; /* appends "?id=N": the worker must strip it */
    uint32_t size; /* typical body size of a 200 */
};
static const struct path_spec PATHS[] = {
    {S("/"), 120, GET, PAGE, 0, 14200},
    {S("/index.html"), 20, GET, PAGE, 0, 14200},
    {S("/products"), 60, GET, PAGE, 1, 28600},
    {S("/products/detail"), 70, GET, PAGE, 1, 33100},
    {S("/cart"), 25, GET, PAGE, 0, 9100},
    {S("/checkout"), 10, POST, PAGE, 0, 7300},
    {S("/blog"), 15, GET, PAGE, 1, 21800},
    {S("/about"), 6, GET, PAGE, 0, 8700},
    {S("/contact"), 4, GET, PAGE, 0, 6100},
    {S("/static/css/main.css"), 70, GET, STATIC, 0, 41200},
    {S("/static/css/vendor.css"), 30, GET, STATIC, 0, 88400},
    {S("/static/js/app.js"), 70, GET, STATIC, 0, 182300},
    {S("/static/js/vendor.js"), 40, GET, STATIC, 0, 411900},
    {S("/static/img/logo.png"), 55, GET, STATIC, 0, 8200},
    {S("/static/img/hero.jpg"), 30, GET, STATIC, 0, 241700},
    {S("/static/fonts/inter.woff2"), 25, GET, STATIC, 0, 31400},
    {S("/favicon.ico"), 35, GET, STATIC, 0, 1150},
    {S("/robots.txt"), 6, GET, STATIC, 0, 68},
    {S("/sitemap.xml"), 3, GET, STATIC, 0, 12900},
    {S("/api/v1/items"), 80, GET, API, 1, 2400},
    {S("/api/v1/items/search"), 45, GET, API, 1, 5200},
    {S("/api/v1/cart"), 40, GET, API, 0, 820},
    {S("/api/v1/cart/add"), 20, POST, API, 0, 310},
    {S("/api/v1/login"), 12, POST, API, 0, 290},
    {S("/api/v1/orders"), 10, POST, API, 0, 640},
    {S("/api/v1/user"), 25, GET, API, 0, 1100},
    {S("/api/v1/recommendations"), 30, GET, API, 1, 3900},
    {S("/api/v2/events"), 35, POST, API, 0, 2},
    {S("/health"), 20, GET, API, 0, 2},
    {S("/metrics"), 4, GET, API, 0, 7300},
    {S("/wp-login.php"), 4, POST, PROBE, 0, 0},
    {S("/.env"), 2, GET, PROBE, 0, 0},
    {S("/admin"), 2, GET, PROBE, 0, 0},
    {S("/phpmyadmin/index.php"), 1, GET, PROBE, 0, 0},
    {S("/.git/config"), 1, GET, PROBE, 0, 0},
};

static const struct str REFERERS[] = {
    S("-"), S("https://shop.example.com/"), S("https://shop.example.com/products"),
    S("https://www.google.com/"), S("https://www.bing.com/"), S("https://t.co/x1Y2z3")};
static const uint16_t REFERER_WEIGHTS[] = {500, 200, 150, 100, 30, 20};

static const struct str AGENTS[] = {
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/18.1 Safari/605.1.15"),
    S("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Mobile/15E148"),
    S("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    S("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    S("curl/8.4.0"),
    S("python-requests/2.32.3"),
    S("Go-http-client/1.1"),
};
static const uint16_t AGENT_WEIGHTS[] = {350, 200, 200, 80, 60, 40, 40, 30};

static const char MONTHS[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* splitmix64: tiny state, good statistics, the same stream on every machine. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n < 2^32, without a division. */
static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((rng_next(s) >> 32) * n) >> 32);
}

static unsigned pick(uint64_t *s, const struct loggen_table *t)
{
    return t->slot[rng_next(s) >> (64 - LOGGEN_PICK_BITS)];
}

/* Fills the slots in proportion to the weights, read with a stride so the
 * weights can stay in the tables they describe. */
static void table_build(struct loggen_table *t, const void *first_weight, size_t stride, size_t n)
{
    const size_t slots = sizeof t->slot;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += *(const uint16_t *)((const char *)first_weight + i * stride);
    uint64_t cum = 0;
    size_t filled = 0;
    for (size_t i = 0; i < n; i++) {
        cum += *(const uint16_t *)((const char *)first_weight + i * stride);
        size_t upto = (size_t)(cum * slots / total);
        while (filled < upto)
            t->slot[filled++] = (uint8_t)i;
    }
}

/* Writes v in decimal; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Copies s and returns the end of it; writes up to CHUNK - 1 bytes beyond,
 * which the rest of the line overwrites. */
static char *put_str(char *p, const struct str *s)
{
    for (size_t i = 0; i < s->len; i += CHUNK)
        memcpy(p + i, s->s + i, CHUNK);
    return p + s->len;
}

static char *put_2digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static void format_stamp(struct loggen *g, int64_t second)
{
    time_t t = (time_t)second;
    struct tm tm;
    gmtime_r(&t, &tm);
    char *p = put_2digits(g->stamp, tm.tm_mday);
    *p++ = '/';
    memcpy(p, MONTHS[tm.tm_mon], 3);
    p += 3;
    *p++ = '/';
    p = put_2digits(p, (tm.tm_year + 1900) / 100);
    p = put_2digits(p, (tm.tm_year + 1900) % 100);
    *p++ = ':';
    p = put_2digits(p, tm.tm_hour);
    *p++ = ':';
    p = put_2digits(p, tm.tm_min);
    *p++ = ':';
    p = put_2digits(p, tm.tm_sec);
    memcpy(p, " +0000", 6);
    g->stamp_second = second;
}

static void make_ip(uint64_t *s, struct loggen_ip *ip)
{
    unsigned first = 1 + rng_below(s, 223);
    if (first == 10 || first == 127)
        first++; /* keep clear of private and loopback ranges */
    char *p = put_u64(ip->s, first);
    for (int i = 0; i < 3; i++) {
        *p++ = '.';
        p = put_u64(p, rng_below(s, 256));
    }
    ip->len = (uint8_t)(p - ip->s);
}

bool loggen_init(struct loggen *g, const struct loggen_options *opt)
{
    memset(g, 0, sizeof *g);
    g->opt = *opt;
    g->rng = opt->seed;
    g->ips = malloc((HEAVY_CLIENTS + TAIL_CLIENTS) * sizeof *g->ips);
    if (!g->ips)
        return false;
    for (size_t i = 0; i < HEAVY_CLIENTS + TAIL_CLIENTS; i++)
        make_ip(&g->rng, &g->ips[i]);
    uint16_t heavy_weights[HEAVY_CLIENTS];
    for (size_t i = 0; i < HEAVY_CLIENTS; i++)
        heavy_weights[i] = (uint16_t)(1000 / (i + 1)); /* Zipf-like */
    table_build(&g->heavy, heavy_weights, sizeof *heavy_weights, HEAVY_CLIENTS);
    table_build(&g->path, &PATHS[0].weight, sizeof *PATHS, sizeof PATHS / sizeof *PATHS);
    table_build(&g->referer, REFERER_WEIGHTS, sizeof *REFERER_WEIGHTS,
                sizeof REFERER_WEIGHTS / sizeof *REFERER_WEIGHTS);
    table_build(&g->agent, AGENT_WEIGHTS, sizeof *AGENT_WEIGHTS,
                sizeof AGENT_WEIGHTS / sizeof *AGENT_WEIGHTS);
    table_build(&g->other_method, OTHER_METHOD_WEIGHTS, sizeof *OTHER_METHOD_WEIGHTS,
                sizeof OTHER_METHOD_WEIGHTS / sizeof *OTHER_METHOD_WEIGHTS);
    for (size_t i = 0; i < sizeof PROFILES / sizeof *PROFILES; i++)
        table_build(&g->status[i], &PROFILES[i].s[0].weight, sizeof *PROFILES[i].s, PROFILES[i].n);
    format_stamp(g, opt->start);
    return true;
}

void loggen_free(struct loggen *g)
{
    free(g->ips);
    g->ips = NULL;
}

uint64_t loggen_remaining(const struct loggen *g)
{
    return g->opt.lines - g->made;
}

static const struct loggen_ip *pick_client(struct loggen *g)
{
    if (rng_below(&g->rng, 5) < HEAVY_SHARE_OF_5)
        return &g->ips[pick(&g->rng, &g->heavy)];
    return &g->ips[HEAVY_CLIENTS + rng_below(&g->rng, TAIL_CLIENTS)];
}

static unsigned pick_method(struct loggen *g, const struct path_spec *path)
{
    if (rng_below(&g->rng, 1024) < OTHER_METHOD_PER_1024)
        return pick(&g->rng, &g->other_method);
    return path->method;
}

/* The body size nginx would log for this answer. */
static uint64_t body_size(struct loggen *g, const struct path_spec *path, unsigned method,
                          const char *status)
{
    if (method == HEAD || memcmp(status, "304", 3) == 0)
        return 0;
    if (status[0] == '2') {
        uint64_t full = path->size / 2 + rng_below(&g->rng, path->size + 1);
        return status[2] == '6' ? full / 4 : full;
    }
    if (status[0] == '3')
        return 162 + rng_below(&g->rng, 20);
    return 150 + rng_below(&g->rng, 400);
}

/* One line at p, newline included; returns the end. */
static char *write_line(struct loggen *g, char *p)
{
    /* Evenly over [start, start + span): a span of 300 is five whole minutes. */
    int64_t second = g->opt.start + (int64_t)(g->made * g->opt.span / g->opt.lines);
    if (second != g->stamp_second)
        format_stamp(g, second);

    char *line = p;
    const struct loggen_ip *ip = pick_client(g);
    const struct path_spec *path = &PATHS[pick(&g->rng, &g->path)];
    unsigned method = pick_method(g, path);
    const char *status = PROFILES[path->profile].s[pick(&g->rng, &g->status[path->profile])].code;

    memcpy(p, ip, sizeof *ip); /* whole, like put_str: its len byte is overwritten */
    p += ip->len;
    memcpy(p, " - - [", 6);
    memcpy(p + 6, g->stamp, sizeof g->stamp);
    memcpy(p + 6 + sizeof g->stamp, "] \"", 3);
    p += 9 + sizeof g->stamp;
    p = put_str(p, &METHODS[method]);
    *p++ = ' ';
    p = put_str(p, &path->path);
    if (path->query) {
        memcpy(p, "?id=", 4);
        p = put_u64(p + 4, rng_below(&g->rng, 100000));
    }
    memcpy(p, " HTTP/1.1\" ", 11);
    p += 11;
    char *status_at = p;
    memcpy(p, status, 3);
    p[3] = ' ';
    p = put_u64(p + 4, body_size(g, path, method, status));
    memcpy(p, " \"", 2);
    p = put_str(p + 2, &REFERERS[pick(&g->rng, &g->referer)]);
    memcpy(p, "\" \"", 3);
    p = put_str(p + 3, &AGENTS[pick(&g->rng, &g->agent)]);
    *p++ = '"';

    /* A line cut short before its status, as a crash mid-write leaves one. */
    if (rng_below(&g->rng, 1000000) < g->opt.malformed_ppm)
        p = line + 1 + rng_below(&g->rng, (uint32_t)(status_at - line - 1));
    *p++ = '\n';
    g->made++;
    return p;
}

size_t loggen_fill(struct loggen *g, struct batch *b, size_t max_lines, size_t max_bytes)
{
    size_t n = 0;
    while (n < max_lines && b->len < max_bytes && g->made < g->opt.lines) {
        if (!batch_reserve(b, LOGGEN_LINE_MAX))
            break;
        char *end = write_line(g, b->data + b->len);
        b->len = (size_t)(end - b->data);
        b->lines++;
        n++;
    }
    return n;
}
