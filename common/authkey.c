#include "common/authkey.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GENERATED_KEY_BYTES 32

static bool sodium_ready(void)
{
    return sodium_init() >= 0;
}

static bool fail_errno(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s: %s", path, what, strerror(errno));
    return false;
}

/* Reads up to max bytes; *len > max tells that the file holds more. */
static bool read_capped(int fd, uint8_t *buf, size_t max, size_t *len)
{
    size_t total = 0;
    while (total <= max) {
        ssize_t n = read(fd, buf + total, max + 1 - total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            break;
        total += (size_t)n;
    }
    *len = total;
    return true;
}

/*
 * Others-writable is refused: any local user could put in a key they know and
 * then pass for the daemon to its clients, or for a client to the daemon.
 * Group-writable is only warned about: the group is one the operator chose,
 * its members can usually read the key and so act as either side already,
 * and refusing would stop daemons whose key got 0660/0664 from a umask of 002
 * (user private groups) at the first start after an upgrade.
 */
#define REFUSED_BITS S_IWOTH

/* systemd writes a credential 0400, root-owned, and lets the service's user
 * read it through an ACL whose mask stat shows as group bits (0440); only the
 * unit can enter that directory and no chmod applies, so those bits are fine. */
static bool is_systemd_credential(const char *path)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    size_t n = dir ? strlen(dir) : 0;
    return n > 0 && strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0' &&
           !strchr(path + n + 1, '/');
}

/* Appends "; " and a formatted text to the message in msg. */
static void append(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *msg, size_t msglen, const char *fmt, ...)
{
    size_t used = strlen(msg);
    if (used > 0 && used + 2 < msglen) {
        memcpy(msg + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, msglen - used, fmt, ap);
    va_end(ap);
}

enum authkey_perms authkey_check_perms(const char *path, mode_t mode, uid_t owner, uid_t uid,
                                       char *msg, size_t msglen)
{
    unsigned perms = (unsigned)(mode & 07777);
    mode_t warned = is_systemd_credential(path) ? S_IRWXO : S_IRWXG | S_IRWXO;

    msg[0] = '\0';
    if (mode & REFUSED_BITS) {
        snprintf(msg, msglen,
                 "%s: permissions %04o let others write the authkey, so anyone could replace it: "
                 "refused (fix: chmod 600 %s)",
                 path, perms, path);
        return AUTHKEY_PERMS_REFUSE;
    }
    if (mode & warned)
        append(msg, msglen,
               "%s: permissions %04o are too open: the authkey should be accessible by its owner "
               "only (fix: chmod 600 %s)",
               path, perms, path);
    if (owner != uid && owner != 0)
        append(msg, msglen,
               "%s: the authkey is owned by uid %lu, neither this process's uid %lu nor root, and "
               "its owner can change it (fix: chown %lu %s)",
               path, (unsigned long)owner, (unsigned long)uid, (unsigned long)uid, path);
    return msg[0] ? AUTHKEY_PERMS_WARN : AUTHKEY_PERMS_OK;
}

/* Judges the opened file itself (fstat), so what is read is what was checked. */
static bool perms_acceptable(int fd, const char *path, char *warning, size_t warnlen, char *err,
                             size_t errlen)
{
    struct stat st;
    char msg[1024];
    if (fstat(fd, &st) != 0)
        return fail_errno(err, errlen, path, "cannot stat the authkey");
    enum authkey_perms verdict =
        authkey_check_perms(path, st.st_mode, st.st_uid, geteuid(), msg, sizeof msg);
    if (verdict == AUTHKEY_PERMS_REFUSE) {
        snprintf(err, errlen, "%s", msg);
        return false;
    }
    if (verdict == AUTHKEY_PERMS_WARN)
        snprintf(warning, warnlen, "%s", msg);
    return true;
}

bool authkey_load_warn(struct authkey *k, const char *path, char *warning, size_t warnlen,
                       char *err, size_t errlen)
{
    *k = (struct authkey){0};
    warning[0] = '\0';
    if (!sodium_ready()) {
        snprintf(err, errlen, "%s: libsodium failed to initialise", path);
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(err, errlen, path, "cannot open the authkey");
    if (!perms_acceptable(fd, path, warning, warnlen, err, errlen)) {
        close(fd);
        return false;
    }

    uint8_t *buf = sodium_malloc(AUTHKEY_MAX_SIZE + 1);
    size_t len = 0;
    bool ok = buf && read_capped(fd, buf, AUTHKEY_MAX_SIZE, &len);
    if (!ok)
        fail_errno(err, errlen, path, "cannot read the authkey");
    close(fd);

    if (ok && len > 0 && buf[len - 1] == '\n')
        len--;
    if (ok && len > AUTHKEY_MAX_SIZE) {
        snprintf(err, errlen, "%s: the authkey is longer than %d bytes", path, AUTHKEY_MAX_SIZE);
        ok = false;
    } else if (ok && len == 0) {
        snprintf(err, errlen, "%s: the authkey is empty", path);
        ok = false;
    }
    if (!ok) {
        sodium_free(buf);
        return false;
    }
    k->bytes = buf;
    k->len = len;
    return true;
}

/* Libraries do not print, so the quiet form drops the warning; refusals stay. */
bool authkey_load(struct authkey *k, const char *path, char *err, size_t errlen)
{
    char ignored[1];
    return authkey_load_warn(k, path, ignored, sizeof ignored, err, errlen);
}

bool authkey_from_bytes(struct authkey *k, const void *p, size_t len)
{
    *k = (struct authkey){0};
    if (len == 0 || len > AUTHKEY_MAX_SIZE || !sodium_ready())
        return false;
    k->bytes = sodium_malloc(len);
    if (!k->bytes)
        return false;
    memcpy(k->bytes, p, len);
    k->len = len;
    return true;
}

void authkey_free(struct authkey *k)
{
    sodium_free(k->bytes);
    *k = (struct authkey){0};
}

/* mkdir -p for the directories above path, each new one mode 0700. */
static bool make_parent_dirs(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (!dir) {
        snprintf(err, errlen, "%s: out of memory", path);
        return false;
    }
    bool ok = true;
    for (char *slash = strchr(dir + 1, '/'); ok && slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            ok = fail_errno(err, errlen, dir, "cannot create the directory");
        *slash = '/';
    }
    free(dir);
    return ok;
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* 32 random bytes as hex and '\n': printable, so any client can read it. */
static bool write_new_key(int fd)
{
    uint8_t key[GENERATED_KEY_BYTES];
    char text[2 * GENERATED_KEY_BYTES + 2];

    randombytes_buf(key, sizeof key);
    sodium_bin2hex(text, sizeof text, key, sizeof key);
    sodium_memzero(key, sizeof key);
    text[2 * GENERATED_KEY_BYTES] = '\n';
    bool ok = fchmod(fd, 0600) == 0 && write_all(fd, text, sizeof text - 1) && fsync(fd) == 0;
    sodium_memzero(text, sizeof text);
    return ok;
}

static void sync_parent_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/*
 * The key is written to a temporary file and then linked into place, so the
 * file appears complete or not at all: a process that loses the race (EEXIST)
 * or starts in the meantime never reads a half-written key, and an existing
 * key is never replaced.
 */
bool authkey_create_if_missing(const char *path, bool *created, char *err, size_t errlen)
{
    *created = false;
    if (access(path, F_OK) == 0)
        return true;
    if (!sodium_ready()) {
        snprintf(err, errlen, "%s: libsodium failed to initialise", path);
        return false;
    }
    if (!make_parent_dirs(path, err, errlen))
        return false;

    size_t tmp_len = strlen(path) + sizeof ".XXXXXX";
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return false;
    }
    snprintf(tmp, tmp_len, "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    bool ok = fd >= 0;
    if (!ok) {
        fail_errno(err, errlen, path, "cannot create the authkey");
    } else {
        if (!write_new_key(fd))
            ok = fail_errno(err, errlen, tmp, "cannot write the authkey");
        close(fd);
        if (ok && link(tmp, path) == 0)
            *created = true;
        else if (ok && errno != EEXIST)
            ok = fail_errno(err, errlen, path, "cannot create the authkey");
        unlink(tmp);
    }
    free(tmp);
    if (*created)
        sync_parent_dir(path);
    return ok;
}
