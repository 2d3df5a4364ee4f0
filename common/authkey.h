/* The shared secret of the handshake, kept in a file readable only by its owner. */
#ifndef QMGR_COMMON_AUTHKEY_H
#define QMGR_COMMON_AUTHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTHKEY_MAX_SIZE 4096

struct authkey {
    uint8_t *bytes; /* sodium_malloc'd */
    size_t len;
};

/* Reads the key file, stripping one trailing '\n'. An empty key is an error. */
bool authkey_load(struct authkey *k, const char *path, char *err, size_t errlen);
/* Copies key bytes given directly (e.g. by a client program). */
bool authkey_from_bytes(struct authkey *k, const void *p, size_t len);
/* Creates the file with 32 random bytes as 64 hex digits and '\n', mode 0600,
 * if it does not exist; *created tells whether it did. */
bool authkey_create_if_missing(const char *path, bool *created, char *err, size_t errlen);
/* Wipes and frees. */
void authkey_free(struct authkey *k);

#endif
