#include "logparse.h"

#include <string.h>

/* Offsets inside "[25/Nov/2026:04:51:07 +0000] \"" from the '['. */
#define TIME_LEN 26
#define AFTER_TIME (1 + TIME_LEN) /* the ']' */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return false;
    return true;
}

static uint32_t pack3(const char *p)
{
    return (uint32_t)(uint8_t)p[0] << 16 | (uint32_t)(uint8_t)p[1] << 8 | (uint8_t)p[2];
}

int logparse_month(const char *abbr)
{
#define M(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
    static const uint32_t MONTHS[12] = {
        M('J', 'a', 'n'), M('F', 'e', 'b'), M('M', 'a', 'r'), M('A', 'p', 'r'),
        M('M', 'a', 'y'), M('J', 'u', 'n'), M('J', 'u', 'l'), M('A', 'u', 'g'),
        M('S', 'e', 'p'), M('O', 'c', 't'), M('N', 'o', 'v'), M('D', 'e', 'c')};
#undef M
    uint32_t v = pack3(abbr);
    for (int i = 0; i < 12; i++)
        if (MONTHS[i] == v)
            return i + 1;
    return 0;
}

/* "DD/Mon/YYYY:HH:MM:SS ±ZZZZ" at t. */
static bool valid_time(const char *t)
{
    return digits(t, 2) && t[2] == '/' && logparse_month(t + 3) && t[6] == '/' &&
           digits(t + 7, 4) && t[11] == ':' && digits(t + 12, 2) && t[14] == ':' &&
           digits(t + 15, 2) && t[17] == ':' && digits(t + 18, 2) && t[20] == ' ' &&
           (t[21] == '+' || t[21] == '-') && digits(t + 22, 4);
}

/*
 * The short fields (client, method, target, size) are scanned here rather
 * than with memchr: they are a few bytes long, a call costs more, and the
 * same pass finds NUL bytes and the query string. Eight bytes at a time
 * (SWAR) where the machine is little-endian, then byte by byte.
 */
enum { STOP_SPACE = 1, STOP_NUL = 2, STOP_QUERY = 4 };
static const uint8_t BYTE_CLASS[256] = {[' '] = STOP_SPACE, ['\0'] = STOP_NUL, ['?'] = STOP_QUERY};

#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

/* The high bit of each zero byte of w; exact for the lowest one, which is
 * all scan_to looks at. */
static uint64_t zero_bytes(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* The offset of the first byte in p[0..n) of a class in stop, or n. */
static size_t scan_to(const char *p, size_t n, unsigned stop)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t w, hit = 0;
        memcpy(&w, p + i, sizeof w);
        if (stop & STOP_SPACE)
            hit |= zero_bytes(w ^ ONES * ' ');
        if (stop & STOP_NUL)
            hit |= zero_bytes(w);
        if (stop & STOP_QUERY)
            hit |= zero_bytes(w ^ ONES * '?');
        if (hit)
            return i + (size_t)__builtin_ctzll(hit) / 8;
    }
#endif
    while (i < n && !(BYTE_CLASS[(uint8_t)p[i]] & stop))
        i++;
    return i;
}

/* A field ended by a space: its length, or n if there is no space or a NUL
 * comes first. */
static size_t field_to_space(const char *p, size_t n)
{
    size_t i = scan_to(p, n, STOP_SPACE | STOP_NUL);
    return i < n && p[i] == ' ' ? i : n;
}

/* METHOD SP TARGET [SP ...] in req[0..len). */
static bool parse_request(const char *req, size_t len, struct log_record *r)
{
    size_t method = field_to_space(req, len);
    if (method == 0 || method == len)
        return false;
    const char *target = req + method + 1;
    size_t n = len - method - 1;
    if (n == 0 || target[0] == ' ')
        return false; /* no target */
    /* The path ends at '?' or ' '; a NUL before the key's cut makes the line
     * malformed (one after it is not part of the key). */
    size_t path = scan_to(target, n, STOP_SPACE | STOP_NUL | STOP_QUERY);
    if (path < n && target[path] == '\0' && path < LOGPARSE_PATH_MAX)
        return false;
    r->method = req;
    r->method_len = method;
    r->path = target;
    r->path_len = path < LOGPARSE_PATH_MAX ? path : LOGPARSE_PATH_MAX;
    return true;
}

/* STATUS SP SIZE [SP ...] in p[0..len). */
static bool parse_status_size(const char *p, size_t len, struct log_record *r)
{
    if (len < 5 || !digits(p, 3) || p[3] != ' ')
        return false;
    r->status = p;
    const char *s = p + 4;
    size_t n = scan_to(s, len - 4, STOP_SPACE);
    if (n == 1 && s[0] == '-') {
        r->bytes = 0;
        return true;
    }
    if (n == 0 || n > 18 || !digits(s, n))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    r->bytes = v;
    return true;
}

bool logparse_line(const char *line, size_t len, struct log_record *r)
{
    if (len && line[len - 1] == '\r')
        len--;
    const char *end = line + len;
    size_t client = field_to_space(line, len);
    if (client == 0 || client == len)
        return false;
    const char *sp = line + client;
    const char *lb = memchr(sp + 1, '[', (size_t)(end - sp - 1));
    if (!lb || end - lb < AFTER_TIME + 3 || !valid_time(lb + 1) || lb[AFTER_TIME] != ']' ||
        lb[AFTER_TIME + 1] != ' ' || lb[AFTER_TIME + 2] != '"')
        return false;
    const char *req = lb + AFTER_TIME + 3;
    const char *req_end = memchr(req, '"', (size_t)(end - req));
    if (!req_end || !parse_request(req, (size_t)(req_end - req), r))
        return false;
    if (end - req_end < 2 || req_end[1] != ' ' ||
        !parse_status_size(req_end + 2, (size_t)(end - req_end - 2), r))
        return false;
    r->client = line;
    r->client_len = client;
    r->minute = lb + 1;
    return true;
}
