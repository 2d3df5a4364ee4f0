/* Frames of docs/protocol.md §1: a 4-byte big-endian signed length, then the payload. */
#ifndef QMGR_PROTO_FRAME_H
#define QMGR_PROTO_FRAME_H

#include <stdint.h>

#define FRAME_HEADER_SIZE 4
/* Before authentication no frame may be longer than this. */
#define FRAME_MAX_PREAUTH 256

static inline uint32_t frame_read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void frame_write_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
