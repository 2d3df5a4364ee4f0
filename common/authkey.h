/* The shared secret of the handshake, kept in a file readable only by its owner. */
#ifndef QMGR_COMMON_AUTHKEY_H
#define QMGR_COMMON_AUTHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AUTHKEY_MAX_SIZE 4096

struct authkey {
    uint8_t *bytes; /* sodium_malloc'd */
    size_t len;
};

/* Reads the key file, stripping one trailing '\n'. An empty key is an error,
 * and so is a file others can write (see authkey_check_perms). */
bool authkey_load(struct authkey *k, const char *path, char *err, size_t errlen);
/* authkey_load that also writes into warning the permission warning of the
 * file it read ("" if none), judged on the descriptor it read from. */
bool authkey_load_warn(struct authkey *k, const char *path, char *warning, size_t warnlen,
                       char *err, size_t errlen);

enum authkey_perms { AUTHKEY_PERMS_OK, AUTHKEY_PERMS_WARN, AUTHKEY_PERMS_REFUSE };
/*
 * Judges a key file of this mode and owner read by a process running as uid,
 * and describes the problem and its fix in msg ("" if OK). REFUSE: others can
 * write it. WARN: any group or other permission bit (except the group bits of
 * a systemd credential, a file directly in $CREDENTIALS_DIRECTORY), or an
 * owner that is neither uid nor root.
 */
enum authkey_perms authkey_check_perms(const char *path, mode_t mode, uid_t owner, uid_t uid,
                                       char *msg, size_t msglen);
/* Copies key bytes given directly (e.g. by a client program). */
bool authkey_from_bytes(struct authkey *k, const void *p, size_t len);
/* Creates the file with 32 random bytes as 64 hex digits and '\n', mode 0600,
 * if it does not exist; *created tells whether it did. */
bool authkey_create_if_missing(const char *path, bool *created, char *err, size_t errlen);
/* Wipes and frees. */
void authkey_free(struct authkey *k);

#endif
