#include "common/log.h"

#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Below PIPE_BUF, so one write(2) to a pipe is atomic even with other writers. */
#define LOG_LINE_MAX 2048
#define LOG_TRUNCATED_MARK "..."

static struct {
    char ident[64];
    int level;
    bool journal;
} log_settings = {"qmgr", LOG_INFO, false};

static const char *const level_names[] = {
    "EMERG", "ALERT", "CRIT", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG",
};

/* JOURNAL_STREAM is "DEV:INODE" of the journal's stream; it is inherited by
 * children whose stderr may go elsewhere, so it counts only if it is stderr. */
static bool stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    uintmax_t dev, ino;
    char extra;
    struct stat st;

    if (!stream || sscanf(stream, "%ju:%ju%c", &dev, &ino, &extra) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void log_init(const char *ident)
{
    snprintf(log_settings.ident, sizeof log_settings.ident, "%s", ident);
    log_settings.journal = stderr_is_journal();
}

void log_set_level(int priority)
{
    log_settings.level = priority;
}

bool log_level_parse(const char *name, int *priority)
{
    static const struct {
        const char *name;
        int priority;
    } levels[] = {
        {"err", LOG_ERR},         {"error", LOG_ERR},   {"warning", LOG_WARNING},
        {"warn", LOG_WARNING},    {"notice", LOG_NOTICE}, {"info", LOG_INFO},
        {"debug", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(name, levels[i].name) == 0) {
            *priority = levels[i].priority;
            return true;
        }
    }
    return false;
}

bool log_enabled(int priority)
{
    return priority <= log_settings.level;
}

static size_t format_prefix(char *buf, size_t size, int priority)
{
    if (log_settings.journal)
        return (size_t)snprintf(buf, size, "<%d>", priority & 7);

    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, size - n, ".%03ldZ %s[%ld] %s ", now.tv_nsec / 1000000L,
                          log_settings.ident, (long)getpid(), level_names[priority & 7]);
    return n;
}

/* A message can carry peer-controlled text; a newline in it must not forge a line. */
static void replace_control_chars(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            s[i] = '?';
    }
}

static void write_line(const char *line, size_t len)
{
    ssize_t n;
    do
        n = write(STDERR_FILENO, line, len);
    while (n < 0 && errno == EINTR);
}

static void log_vformat(int priority, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t room = sizeof line - 1; /* keeps a byte for the '\n' */
    size_t len = format_prefix(line, room, priority);
    int n = vsnprintf(line + len, room - len, fmt, ap);
    size_t msg_len = n < 0 ? 0 : (size_t)n;

    if (msg_len >= room - len) {
        msg_len = room - len - 1;
        memcpy(line + room - sizeof LOG_TRUNCATED_MARK, LOG_TRUNCATED_MARK,
               sizeof LOG_TRUNCATED_MARK - 1);
    }
    replace_control_chars(line + len, msg_len);
    len += msg_len;
    line[len++] = '\n';
    write_line(line, len);
}

void log_write(int priority, const char *fmt, ...)
{
    if (!log_enabled(priority))
        return;
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vformat(priority, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

static double (*limit_clock)(void) = clock_now;

void log_set_clock(double (*now)(void))
{
    limit_clock = now ? now : clock_now;
}

void log_write_limited(struct log_ratelimit *rl, int priority, const char *fmt, ...)
{
    if (!log_enabled(priority))
        return;
    int saved_errno = errno;
    double now = limit_clock();

    if (now - rl->window_start >= rl->interval_s) {
        if (rl->suppressed)
            log_write(priority, "%lu similar messages suppressed", rl->suppressed);
        rl->window_start = now;
        rl->emitted = 0;
        rl->suppressed = 0;
    }
    if (rl->emitted >= rl->burst) {
        rl->suppressed++;
    } else {
        rl->emitted++;
        va_list ap;
        va_start(ap, fmt);
        log_vformat(priority, fmt, ap);
        va_end(ap);
    }
    errno = saved_errno;
}
