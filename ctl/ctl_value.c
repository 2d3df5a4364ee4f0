/*
 * `qmgrctl put` values: the VALUE argument as a str (the default), bin, bin
 * from hex digits, int, float, or any JSON value, packed as one msgpack
 * value. The JSON reader is strict (RFC 8259) and bounded in depth.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

#define JSON_MAX_DEPTH 32

static const struct {
    const char *name;
    enum value_type type;
} type_names[] = {
    {"str", VALUE_STR}, {"bin", VALUE_BIN},     {"hex", VALUE_HEX},
    {"int", VALUE_INT}, {"float", VALUE_FLOAT}, {"json", VALUE_JSON},
};

bool value_type_parse(const char *name, enum value_type *type)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(name, type_names[i].name) == 0) {
            *type = type_names[i].type;
            return true;
        }
    }
    return false;
}

static bool fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return false;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool pack_hex(msgpack_packer *pk, const char *text, size_t len, char *err, size_t errlen)
{
    if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text += 2, len -= 2;
    if (len % 2)
        return fail(err, errlen, "odd number of hex digits");
    uint8_t *bytes = malloc(len / 2 + 1);
    if (!bytes)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            return fail(err, errlen, "not a hex digit");
        }
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    msgpack_pack_bin_with_body(pk, bytes, len / 2);
    free(bytes);
    return true;
}

static bool pack_int(msgpack_packer *pk, const char *text, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end)
        return fail(err, errlen, "not a 64-bit integer");
    msgpack_pack_int64(pk, v);
    return true;
}

static bool pack_float(msgpack_packer *pk, const char *text, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end)
        return fail(err, errlen, "not a number");
    msgpack_pack_double(pk, v);
    return true;
}

/* ---- JSON ---- */

struct json {
    const char *p;
    const char *end;
    msgpack_packer *pk;
    msgpack_sbuffer scratch; /* decoded string bytes */
    const char *error;
};

static void skip_space(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool json_fail(struct json *j, const char *why)
{
    if (!j->error)
        j->error = why;
    return false;
}

static bool literal(struct json *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return json_fail(j, "unknown literal");
    j->p += n;
    return true;
}

static bool hex4(struct json *j, uint32_t *v)
{
    *v = 0;
    if (j->end - j->p < 4)
        return json_fail(j, "short \\u escape");
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(*j->p++);
        if (d < 0)
            return json_fail(j, "bad \\u escape");
        *v = *v << 4 | (uint32_t)d;
    }
    return true;
}

static void put_utf8(msgpack_sbuffer *sb, uint32_t cp)
{
    char buf[4];
    size_t n;
    if (cp < 0x80) {
        buf[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        buf[0] = (char)(0xc0 | cp >> 6), buf[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | cp >> 12), buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        buf[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        buf[0] = (char)(0xf0 | cp >> 18), buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        buf[2] = (char)(0x80 | (cp >> 6 & 0x3f)), buf[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    msgpack_sbuffer_write(sb, buf, n);
}

/* \uD83D\uDE00: a surrogate pair is one code point. */
static bool unicode_escape(struct json *j)
{
    uint32_t cp, low;
    if (!hex4(j, &cp))
        return false;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
            return json_fail(j, "unpaired surrogate");
        j->p += 2;
        if (!hex4(j, &low) || low < 0xdc00 || low > 0xdfff)
            return json_fail(j, "unpaired surrogate");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return json_fail(j, "unpaired surrogate");
    }
    put_utf8(&j->scratch, cp);
    return true;
}

static bool simple_escape(struct json *j, char c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = strchr(from, c);
    if (!hit || !c)
        return json_fail(j, "bad escape");
    msgpack_sbuffer_write(&j->scratch, to + (hit - from), 1);
    return true;
}

/* Decodes a string into j->scratch. */
static bool string_body(struct json *j)
{
    j->scratch.size = 0;
    j->p++; /* the opening quote */
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20)
            return json_fail(j, "control character in a string");
        if (c != '\\') {
            msgpack_sbuffer_write(&j->scratch, &c, 1);
            continue;
        }
        if (j->p == j->end)
            return json_fail(j, "unterminated string");
        c = *j->p++;
        if (c == 'u' ? !unicode_escape(j) : !simple_escape(j, c))
            return false;
    }
    if (j->p == j->end)
        return json_fail(j, "unterminated string");
    j->p++;
    return true;
}

static bool number(struct json *j)
{
    const char *start = j->p;
    bool is_float = false;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    while (j->p < j->end && strchr("0123456789.eE+-", *j->p)) {
        is_float |= *j->p == '.' || *j->p == 'e' || *j->p == 'E';
        j->p++;
    }
    char buf[64];
    size_t n = (size_t)(j->p - start);
    if (n == 0 || n >= sizeof buf)
        return json_fail(j, "bad number");
    memcpy(buf, start, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    if (!is_float) {
        long long v = strtoll(buf, &end, 10);
        if (!errno && *end == '\0') {
            msgpack_pack_int64(j->pk, v);
            return true;
        }
    }
    double d = strtod(buf, &end);
    if (*end || !isfinite(d))
        return json_fail(j, "bad number");
    msgpack_pack_double(j->pk, d);
    return true;
}

static bool json_value(struct json *j, int depth);

/* Containers are packed after they are read, since msgpack needs the count
 * first: each element goes to its own buffer, then they are spliced. */
static bool container(struct json *j, int depth, bool is_map)
{
    char close = is_map ? '}' : ']';
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer *outer = j->pk;
    msgpack_packer inner;
    msgpack_packer_init(&inner, &body, msgpack_sbuffer_write);
    j->pk = &inner;
    uint32_t n = 0;
    bool ok = true;
    j->p++;
    skip_space(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
    } else {
        for (;;) {
            skip_space(j);
            if (is_map) {
                ok = j->p < j->end && *j->p == '"' ? string_body(j) : json_fail(j, "object key is not a string");
                if (ok)
                    msgpack_pack_str_with_body(&inner, j->scratch.data, j->scratch.size);
                skip_space(j);
                ok = ok && (j->p < j->end && *j->p == ':' ? (j->p++, true) : json_fail(j, "expected ':'"));
            }
            ok = ok && json_value(j, depth + 1);
            if (!ok)
                break;
            n++;
            skip_space(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            ok = j->p < j->end && *j->p == close ? (j->p++, true) : json_fail(j, "expected ',' or a closing bracket");
            break;
        }
    }
    j->pk = outer;
    if (ok) {
        if (is_map)
            msgpack_pack_map(outer, n);
        else
            msgpack_pack_array(outer, n);
        outer->callback(outer->data, body.data, body.size);
    }
    msgpack_sbuffer_destroy(&body);
    return ok;
}

static bool json_value(struct json *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return json_fail(j, "nested too deeply");
    skip_space(j);
    if (j->p == j->end)
        return json_fail(j, "unexpected end");
    switch (*j->p) {
    case '{': return container(j, depth, true);
    case '[': return container(j, depth, false);
    case '"':
        if (!string_body(j))
            return false;
        msgpack_pack_str_with_body(j->pk, j->scratch.data, j->scratch.size);
        return true;
    case 't': msgpack_pack_true(j->pk); return literal(j, "true");
    case 'f': msgpack_pack_false(j->pk); return literal(j, "false");
    case 'n': msgpack_pack_nil(j->pk); return literal(j, "null");
    default: return number(j);
    }
}

static bool pack_json(msgpack_packer *pk, const char *text, size_t len, char *err, size_t errlen)
{
    struct json j = {.p = text, .end = text + len, .pk = pk};
    msgpack_sbuffer_init(&j.scratch);
    bool ok = json_value(&j, 0);
    skip_space(&j);
    if (ok && j.p != j.end)
        ok = json_fail(&j, "trailing characters");
    msgpack_sbuffer_destroy(&j.scratch);
    if (!ok)
        snprintf(err, errlen, "bad JSON at offset %zu: %s", (size_t)(j.p - text), j.error);
    return ok;
}

bool value_pack(enum value_type type, const char *text, size_t len, msgpack_sbuffer *sb,
                char *err, size_t errlen)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    switch (type) {
    case VALUE_STR: msgpack_pack_str_with_body(&pk, text, len); return true;
    case VALUE_BIN: msgpack_pack_bin_with_body(&pk, text, len); return true;
    case VALUE_HEX: return pack_hex(&pk, text, len, err, errlen);
    case VALUE_INT: return pack_int(&pk, text, err, errlen);
    case VALUE_FLOAT: return pack_float(&pk, text, err, errlen);
    case VALUE_JSON: return pack_json(&pk, text, len, err, errlen);
    }
    return fail(err, errlen, "unknown type");
}
