/*
 * Address lists, as `listen`, `-a` and QMGR_ADDR take them: addresses
 * separated by commas, blanks around each ignored. An address is
 * "host:port", "[v6]:port" or "unix:/path", optionally prefixed "tls://"
 * (docs/tls.md). Only splitting and the prefix live here; the daemon binds
 * and the library connects.
 */
#ifndef QMGR_COMMON_ADDRESS_H
#define QMGR_COMMON_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest single address (a Unix socket path plus "tls://unix:"). */
#define ADDRESS_MAX 300
#define ADDRESS_TLS_PREFIX "tls://"

/* How many addresses a list holds (1 for a single address). */
size_t address_count(const char *list);
/* Copies the i-th address of list, without the blanks around it, into out;
 * false if there is none, it is empty or it does not fit in size bytes. */
bool address_at(const char *list, size_t i, char *out, size_t size);
/* The address without its "tls://" prefix; *tls says whether it had one. */
const char *address_strip_tls(const char *addr, bool *tls);

#endif
