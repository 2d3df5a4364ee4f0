/* Replays arbitrary bytes as a journal: nothing may crash, leak or hang, and
 * the file must end cut at a record boundary that scans cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "server/journal.h"
#include "server/restore.h"
#include "server/state.h"

static void no_reply(struct session *s)
{
    (void)s;
}

static bool no_timer(struct state *st, struct waiter *w, double timeout)
{
    (void)st;
    (void)w;
    (void)timeout;
    return false;
}

static void no_timer_stop(struct waiter *w)
{
    (void)w;
}

static const struct state_env env = {no_reply, no_timer, no_timer_stop};

static bool accept_record(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64];
    static char path[128];
    if (!dir[0]) {
        log_set_level(LOG_CRIT);
        snprintf(dir, sizeof dir, "/tmp/qmgr-fuzz-journal-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/%s", dir, JOURNAL_FILE);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    struct object_config objs[] = {
        {.name = "q", .type = OBJECT_QUEUE, .accessor = "get_q", .redeliver = true, .maxsize = 3},
        {.name = "b", .type = OBJECT_BUF, .accessor = "get_b"},
    };
    static struct config config;
    if (!config.listen)
        config_init(&config);
    struct state st;
    state_init(&st, &config, &env, NULL);
    st.memory.max = 1 << 24;
    if (!registry_apply(&st.registry, objs, 2))
        abort();
    char err[256];
    uint64_t max_owner;
    struct journal *j = journal_open(dir, FSYNC_NO, NULL, err, sizeof err);
    if (j && state_restore(&st, j, 0, &max_owner, err, sizeof err)) {
        /* What is left on disk must read back whole. */
        size_t n = (size_t)journal_size(j);
        uint8_t *image = malloc(n ? n : 1);
        FILE *g = fopen(path, "rb");
        if (!image || !g || fread(image, 1, n, g) != n)
            abort();
        fclose(g);
        const char *why;
        if (journal_scan(image, n, accept_record, NULL, &why) != n)
            abort();
        free(image);
    }
    journal_close(j);
    state_free(&st);
    unlink(path);
    return 0;
}
