/* CRC32C (Castagnoli), the checksum of journal records: ISA-L's
 * crc32_iscsi, which uses the CPU's crc32 instruction where there is one. */
#ifndef QMGR_COMMON_CRC32C_H
#define QMGR_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *p, size_t len);

#endif
