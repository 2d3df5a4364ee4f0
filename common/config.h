/*
 * qmgrd's configuration (conf/qmgrd.conf lists every option): an INI
 * file read with libinih, sections [qmgrd], [queue NAME] and [buf NAME].
 * Clients (qmgrctl, the library) read the same file for the address and key.
 */
#ifndef QMGR_COMMON_CONFIG_H
#define QMGR_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:50002"
/* Longest object or accessor name, in bytes. */
#define CONFIG_NAME_MAX 200
/* Longest duration, in seconds (about 31 years): fits a time_t or int64 ms. */
#define CONFIG_DURATION_MAX 1e9

enum fsync_policy { FSYNC_ALWAYS, FSYNC_EVERYSEC, FSYNC_NO };
/* Where the state lives: this process (and its journal), or a JetStream
 * stream that several qmgrd front ends replicate (docs/cluster.md). */
enum store_kind { STORE_MEMORY, STORE_JETSTREAM };
#define CONFIG_DEFAULT_JETSTREAM_SERVERS "nats://127.0.0.1:4222"
#define CONFIG_DEFAULT_JETSTREAM_STREAM "QMGR_LOG"
enum object_type { OBJECT_QUEUE, OBJECT_BUF };

struct object_config {
    char *name;
    enum object_type type;
    char *accessor; /* method name; "get_<name>" unless configured */
    uint64_t maxsize; /* queue: 0 = unbounded */
    bool redeliver;   /* queue */
};

struct config {
    char *listen;       /* addresses separated by commas (common/address.h) */
    char *tls_cert;     /* PEM certificate chain of tls:// listeners; NULL: none */
    char *tls_key;      /* PEM private key of tls_cert */
    char *tls_ca;       /* NULL: no client certificates; else they are required */
    char *metrics_listen; /* host:port of GET /metrics; NULL: off */
    char *authkey_file; /* NULL: <state_dir>/authkey */
    char *state_dir;
    bool journal;
    enum fsync_policy fsync;
    uint64_t journal_compact_min; /* no compaction of a smaller journal */
    uint64_t max_connections;
    uint64_t max_message;
    uint64_t max_item;
    uint64_t max_memory;
    uint64_t max_output;      /* reply bytes pending for one connection before it stops being read */
    uint64_t max_waiters;     /* parked requests of one connection */
    uint64_t max_handshakes;  /* connections still in the handshake; 0: max_connections / 4 */
    double handshake_timeout; /* seconds */
    int log_level;            /* syslog priority */
    bool auth_legacy_md5;
    enum store_kind store;
    char *jetstream_servers;    /* comma-separated nats:// URLs */
    char *jetstream_stream;     /* the stream that holds the log */
    uint64_t jetstream_replicas; /* of the stream, when qmgrd creates it */
    double jetstream_timeout;   /* seconds to reach the servers at start */
    bool jetstream_compress;    /* log messages with zstd, when they shrink */
    double frontend_timeout;    /* seconds without a heartbeat before a front end is dead */
    uint64_t snapshot_every;    /* log messages between snapshots */
    struct object_config *objects;
    size_t nobjects;
};

/* True when one of the listen addresses is tls://. */
bool config_has_tls_listener(const struct config *c);

/* Fills in every default (conf/qmgrd.conf), with no objects. */
void config_init(struct config *c);
/* Reads an INI file over the defaults (not over c's current values). On error
 * returns false with "FILE:LINE: reason" ("FILE: reason" if it cannot be read)
 * in err and leaves c unchanged; on success frees c's old contents and replaces
 * them. c must be config_init'ed, loaded before, or zeroed. When the file
 * declares no objects, the default ones are added. Lines are at most 199
 * characters (libinih's buffer). */
bool config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Adds the default objects: queue line_queue (maxsize 200, redeliver on) and
 * buf flow_buf (accessor get_buf). */
void config_add_default_objects(struct config *c);
void config_free(struct config *c);

/* The state directory used when none is configured: $STATE_DIRECTORY (systemd),
 * /var/lib/qmgr for root, else $XDG_STATE_HOME/qmgr or ~/.local/state/qmgr.
 * Returns a malloc'd string. */
char *config_default_state_dir(void);
/* The authkey path a config implies: authkey_file, else
 * $CREDENTIALS_DIRECTORY/authkey when set, else <state_dir>/authkey. malloc'd. */
char *config_authkey_path(const struct config *c);

/* "64M", "16k", "1G", "123": bytes (K/M/G/T are powers of 1024, case does not
 * matter, "B" or "iB" may follow). False if malformed or above 2^64 - 1. */
bool config_parse_size(const char *s, uint64_t *out);
/* "5s", "250ms", "2m", "1h", "1.5": seconds, at most CONFIG_DURATION_MAX. */
bool config_parse_duration(const char *s, double *out);
/* on/off, yes/no, true/false, 1/0. */
bool config_parse_bool(const char *s, bool *out);

#endif
