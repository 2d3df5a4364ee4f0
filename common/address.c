#include "common/address.h"

#include <string.h>

size_t address_count(const char *list)
{
    size_t n = 1;
    for (const char *p = list; (p = strchr(p, ',')); p++)
        n++;
    return n;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

bool address_at(const char *list, size_t i, char *out, size_t size)
{
    const char *start = list;
    for (; i > 0; i--) {
        start = strchr(start, ',');
        if (!start)
            return false;
        start++;
    }
    size_t len = strcspn(start, ",");
    while (len && is_blank(*start)) {
        start++;
        len--;
    }
    while (len && is_blank(start[len - 1]))
        len--;
    if (len == 0 || len >= size)
        return false;
    memcpy(out, start, len);
    out[len] = '\0';
    return true;
}

const char *address_strip_tls(const char *addr, bool *tls)
{
    *tls = strncmp(addr, ADDRESS_TLS_PREFIX, strlen(ADDRESS_TLS_PREFIX)) == 0;
    return *tls ? addr + strlen(ADDRESS_TLS_PREFIX) : addr;
}
