#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t crc32c(const void *p, size_t len)
{
    /* ISA-L takes an int length and leaves out the final inversion. */
    const unsigned char *bytes = p;
    uint32_t crc = 0xffffffffu;
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        crc = crc32_iscsi((unsigned char *)bytes, chunk, crc);
        bytes += chunk;
        len -= (size_t)chunk;
    }
    return crc ^ 0xffffffffu;
}
