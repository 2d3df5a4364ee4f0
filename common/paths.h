/*
 * Where the daemon keeps its state and authkey when nothing is configured.
 * The daemon and every client compute the same paths from the same
 * environment, so a client finds the key a daemon created on first start.
 * No dependencies (the client library uses it, and links no INI reader).
 */
#ifndef QMGR_COMMON_PATHS_H
#define QMGR_COMMON_PATHS_H

/* $STATE_DIRECTORY (systemd; the first entry when it lists several),
 * /var/lib/qmgr for root, else $XDG_STATE_HOME/qmgr or ~/.local/state/qmgr.
 * Returns a malloc'd string, NULL when out of memory. */
char *paths_default_state_dir(void);

/* The key file used when none is configured: $CREDENTIALS_DIRECTORY/authkey
 * when set (systemd LoadCredential=), else <state_dir>/authkey. malloc'd. */
char *paths_authkey_in(const char *state_dir);

#endif
