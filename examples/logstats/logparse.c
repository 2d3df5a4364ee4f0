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

int logparse_month(const char *abbr)
{
    static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (memcmp(abbr, MONTHS + 3 * i, 3) == 0)
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

/* METHOD SP TARGET [SP ...] in req[0..len). */
static bool parse_request(const char *req, size_t len, struct log_record *r)
{
    const char *end = req + len;
    const char *sp = memchr(req, ' ', len);
    if (!sp || sp == req)
        return false;
    const char *target = sp + 1;
    const char *target_end = memchr(target, ' ', (size_t)(end - target));
    if (!target_end)
        target_end = end;
    if (target_end == target)
        return false;
    const char *query = memchr(target, '?', (size_t)(target_end - target));
    size_t path_len = (size_t)((query ? query : target_end) - target);
    r->method = req;
    r->method_len = (size_t)(sp - req);
    r->path = target;
    r->path_len = path_len < LOGPARSE_PATH_MAX ? path_len : LOGPARSE_PATH_MAX;
    return true;
}

/* STATUS SP SIZE [SP ...] in p[0..len). */
static bool parse_status_size(const char *p, size_t len, struct log_record *r)
{
    if (len < 5 || !digits(p, 3) || p[3] != ' ')
        return false;
    r->status = p;
    const char *s = p + 4, *end = p + len;
    const char *size_end = memchr(s, ' ', (size_t)(end - s));
    if (!size_end)
        size_end = end;
    size_t n = (size_t)(size_end - s);
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

static bool has_nul(const char *p, size_t n)
{
    return memchr(p, '\0', n) != NULL;
}

bool logparse_line(const char *line, size_t len, struct log_record *r)
{
    if (len && line[len - 1] == '\r')
        len--;
    const char *end = line + len;
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line)
        return false;
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
    r->client_len = (size_t)(sp - line);
    r->minute = lb + 1;
    return !has_nul(r->client, r->client_len) && !has_nul(r->method, r->method_len) &&
           !has_nul(r->path, r->path_len);
}
