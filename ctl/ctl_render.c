/*
 * Showing msgpack values: as JSON for --json (always valid JSON, whatever
 * the bytes), or as JSON-like text for people, where a bin is b"text" when
 * it is printable and 0x<hex> otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

/* Length of the valid UTF-8 sequence at p, or 0 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence(const uint8_t *p, size_t left)
{
    uint8_t b = p[0];
    size_t n;
    uint32_t min;
    uint32_t cp;
    if (b < 0x80)
        return 1;
    if ((b & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = b & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Printable: valid UTF-8 with no control characters but tab and newlines. */
static bool printable(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(p + i, len - i);
        if (n == 0)
            return false;
        if (n == 1 && ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f))
            return false;
        i += n;
    }
    return true;
}

/* A JSON string body: invalid UTF-8 becomes U+FFFD, so the output is always
 * valid JSON. */
static void write_escaped(FILE *out, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        uint8_t b = p[i];
        if (n > 1)
            fwrite(p + i, 1, n, out);
        else if (b == '"' || b == '\\')
            fprintf(out, "\\%c", b);
        else if (b == '\n')
            fputs("\\n", out);
        else if (b == '\t')
            fputs("\\t", out);
        else if (b == '\r')
            fputs("\\r", out);
        else if (b < 0x20 || b == 0x7f)
            fprintf(out, "\\u%04x", b);
        else
            fputc(b, out);
        i += n;
    }
}

void render_json_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    write_escaped(out, (const uint8_t *)s, len);
    fputc('"', out);
}

static void write_hex(FILE *out, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%02x", p[i]);
}

static void render_bin(FILE *out, const uint8_t *p, size_t len, enum render_mode mode)
{
    bool text = printable(p, len);
    if (mode == RENDER_JSON && text) {
        render_json_string(out, (const char *)p, len);
    } else if (mode == RENDER_JSON) {
        fputs("{\"hex\": \"", out);
        write_hex(out, p, len);
        fputs("\"}", out);
    } else if (text) {
        fputc('b', out);
        render_json_string(out, (const char *)p, len);
    } else {
        fputs("0x", out);
        write_hex(out, p, len);
    }
}

/* The shortest decimal that reads back as the same double. */
static void render_float(FILE *out, double f, enum render_mode mode)
{
    if (!isfinite(f)) {
        if (mode == RENDER_JSON)
            fputs("null", out);
        else
            fputs(isnan(f) ? "nan" : f > 0 ? "inf" : "-inf", out);
        return;
    }
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    /* Keep it a float to the reader: 2.0, not 2. */
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    fputs(buf, out);
}

static void render_ext(FILE *out, const msgpack_object_ext *ext, enum render_mode mode)
{
    fprintf(out, mode == RENDER_JSON ? "{\"ext\": %d, \"hex\": \"" : "ext(%d, 0x", ext->type);
    write_hex(out, (const uint8_t *)ext->ptr, ext->size);
    fputs(mode == RENDER_JSON ? "\"}" : ")", out);
}

static void render_object(FILE *out, const msgpack_object *o, enum render_mode mode);
static char *render_text(const msgpack_object *o, const void *raw, size_t len,
                         enum render_mode mode);

/* JSON object keys must be strings: any other key is rendered, then quoted. */
static void render_key(FILE *out, const msgpack_object *key, enum render_mode mode)
{
    if (mode == RENDER_TEXT || key->type == MSGPACK_OBJECT_STR) {
        render_object(out, key, mode);
        return;
    }
    char *text = render_text(key, NULL, 0, RENDER_JSON);
    render_json_string(out, text ? text : "?", text ? strlen(text) : 1);
    free(text);
}

static void render_map(FILE *out, const msgpack_object_map *map, enum render_mode mode)
{
    fputc('{', out);
    for (uint32_t i = 0; i < map->size; i++) {
        if (i)
            fputs(", ", out);
        render_key(out, &map->ptr[i].key, mode);
        fputs(": ", out);
        render_object(out, &map->ptr[i].val, mode);
    }
    fputc('}', out);
}

static void render_array(FILE *out, const msgpack_object_array *array, enum render_mode mode)
{
    fputc('[', out);
    for (uint32_t i = 0; i < array->size; i++) {
        if (i)
            fputs(", ", out);
        render_object(out, &array->ptr[i], mode);
    }
    fputc(']', out);
}

static void render_object(FILE *out, const msgpack_object *o, enum render_mode mode)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", out); return;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", out); return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "%llu", (unsigned long long)o->via.u64);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(out, "%lld", (long long)o->via.i64); return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: render_float(out, o->via.f64, mode); return;
    case MSGPACK_OBJECT_STR: render_json_string(out, o->via.str.ptr, o->via.str.size); return;
    case MSGPACK_OBJECT_BIN:
        render_bin(out, (const uint8_t *)o->via.bin.ptr, o->via.bin.size, mode);
        return;
    case MSGPACK_OBJECT_ARRAY: render_array(out, &o->via.array, mode); return;
    case MSGPACK_OBJECT_MAP: render_map(out, &o->via.map, mode); return;
    case MSGPACK_OBJECT_EXT: render_ext(out, &o->via.ext, mode); return;
    }
    fputs(mode == RENDER_JSON ? "null" : "?", out);
}

/* The values come from the library's results, which checked that each is
 * one well-formed msgpack value; whatever msgpack-c still refuses (nesting
 * deeper than it unpacks) is shown as unknown. */
void render_value(FILE *out, const void *raw, size_t len, enum render_mode mode)
{
    msgpack_unpacked value;
    msgpack_unpacked_init(&value);
    if (msgpack_unpack_next(&value, raw, len, NULL) == MSGPACK_UNPACK_SUCCESS)
        render_object(out, &value.data, mode);
    else
        fputs(mode == RENDER_JSON ? "null" : "?", out);
    msgpack_unpacked_destroy(&value);
}

/* o rendered into a malloc'd string, or with o NULL the value raw. */
static char *render_text(const msgpack_object *o, const void *raw, size_t len,
                         enum render_mode mode)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out)
        return NULL;
    if (o)
        render_object(out, o, mode);
    else
        render_value(out, raw, len, mode);
    fclose(out);
    return buf;
}

char *render_to_string(const void *raw, size_t len, enum render_mode mode)
{
    return render_text(NULL, raw, len, mode);
}

void render_map_json(FILE *out, const qmgr_map *map)
{
    fputc('{', out);
    for (size_t i = 0; i < map->count; i++) {
        if (i)
            fputs(", ", out);
        render_json_string(out, map->entry[i].key, map->entry[i].keylen);
        fputs(": ", out);
        render_value(out, map->entry[i].value.raw, map->entry[i].value.rawlen, RENDER_JSON);
    }
    fputc('}', out);
}

void format_bytes(char *buf, size_t size, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f B", bytes);
    else
        snprintf(buf, size, "%.1f %s", bytes, units[u]);
}

void format_duration(char *buf, size_t size, double seconds)
{
    unsigned long long s = seconds > 0 ? (unsigned long long)seconds : 0;
    unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d)
        snprintf(buf, size, "%llud%02lluh%02llum", d, h, m);
    else if (h)
        snprintf(buf, size, "%lluh%02llum%02llus", h, m, sec);
    else if (m)
        snprintf(buf, size, "%llum%02llus", m, sec);
    else
        snprintf(buf, size, "%.1fs", seconds > 0 ? seconds : 0);
}
