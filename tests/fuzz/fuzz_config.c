/* Reads arbitrary bytes as a qmgrd configuration file, and as the values of
 * its options. The file is a memfd, so no iteration touches the disk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *config_file(void)
{
    static char path[64];
    if (!path[0]) {
        int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    return path;
}

static void write_config(const char *path, const uint8_t *data, size_t size)
{
    int fd = atoi(strrchr(path, '/') + 1);
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
}

static void parse_values(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size);
    uint64_t n;
    double d;
    bool b;
    if (!s)
        abort();
    if (config_parse_duration(s, &d) && !(d >= 0 && d <= CONFIG_DURATION_MAX))
        abort();
    config_parse_size(s, &n);
    config_parse_bool(s, &b);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = config_file();
    struct config c;
    char err[512];

    parse_values(data, size);
    write_config(path, data, size);
    config_init(&c);
    if (config_load(&c, path, err, sizeof err)) {
        /* what the daemon relies on after a successful load */
        if (c.nobjects == 0 || c.max_item > c.max_message || c.max_message < 1024 ||
            !(c.handshake_timeout > 0))
            abort();
        for (size_t i = 0; i < c.nobjects; i++)
            if (!c.objects[i].name || !c.objects[i].accessor)
                abort();
    } else if (strncmp(err, path, strlen(path)) != 0) {
        abort();
    }
    config_free(&c);
    return 0;
}
