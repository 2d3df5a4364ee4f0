/* The journal: record framing, torn and corrupt tails, replay, and failing disks. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "proto/errors.h"
#include "server/journal.h"
#include "server/restore.h"
#include "server/state.h"

static char dir[64];
static char path[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/qmgr-journal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, JOURNAL_FILE);
}

static void remove_dir(void)
{
    char tmp[160];
    unlink(path);
    snprintf(tmp, sizeof tmp, "%s/%s.rewrite", dir, JOURNAL_FILE);
    unlink(tmp);
    rmdir(dir);
}

static struct journal *open_journal(enum fsync_policy policy, const struct journal_io *io)
{
    char err[256];
    struct journal *j = journal_open(dir, policy, io, err, sizeof err);
    ck_assert_msg(j != NULL, "%s", err);
    return j;
}

static uint8_t *read_file(size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*len ? *len : 1);
    ck_assert_uint_eq(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

static bool count_record(void *ctx, const uint8_t *payload, size_t len)
{
    (void)payload;
    (void)len;
    (*(int *)ctx)++;
    return true;
}

/* Appends a PUT to q, as state_apply() would after making it. */
static void log_put(struct journal *j, const uint8_t *item, size_t len)
{
    struct record r = {.type = REC_PUT, .name = "q", .name_len = 1, .value = {item, len}};
    record_log_append(journal_log(j), &r);
}

static const char *refusal(struct journal *j)
{
    return record_log_refusal(journal_log(j));
}

static const uint8_t item_a[] = {0xa1, 'a'};
static const uint8_t item_b[] = {0xc4, 0x02, 0x00, 0x01};

static void write_three_puts(void)
{
    struct journal *j = open_journal(FSYNC_ALWAYS, NULL);
    log_put(j, item_a, sizeof item_a);
    log_put(j, item_b, sizeof item_b);
    ck_assert(journal_commit(j));
    log_put(j, item_a, sizeof item_a);
    ck_assert(journal_commit(j));
    journal_close(j);
}

START_TEST(records_are_framed_with_length_and_crc)
{
    make_dir();
    write_three_puts();
    size_t len;
    uint8_t *image = read_file(&len);
    ck_assert(memcmp(image, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) == 0);
    const uint8_t *rec = image + strlen(JOURNAL_MAGIC);
    uint32_t rlen = (uint32_t)rec[0] << 24 | rec[1] << 16 | rec[2] << 8 | rec[3];
    uint32_t crc = (uint32_t)rec[4] << 24 | rec[5] << 16 | rec[6] << 8 | rec[7];
    ck_assert_uint_eq(crc, crc32c(rec + 8, rlen));
    int n = 0;
    const char *why;
    ck_assert_uint_eq(journal_scan(image, len, count_record, &n, &why), len);
    ck_assert_int_eq(n, 3);
    ck_assert_ptr_null(why);
    free(image);
    remove_dir();
}
END_TEST

START_TEST(every_torn_tail_stops_at_the_last_whole_record)
{
    make_dir();
    write_three_puts();
    size_t len;
    uint8_t *image = read_file(&len);
    int n = 0;
    const char *why;
    /* Where the second record ends: scan a copy holding two records. */
    size_t two = 0;
    for (size_t cut = len - 1; cut > strlen(JOURNAL_MAGIC); cut--) {
        n = 0;
        size_t good = journal_scan(image, cut, count_record, &n, &why);
        /* A cut on a record boundary leaves no tail; any other cut does. */
        ck_assert_int_eq(why != NULL, good < cut);
        ck_assert_int_lt(n, 3);
        if (!two && n == 2)
            two = good;
        ck_assert(good <= cut);
    }
    ck_assert_uint_gt(two, strlen(JOURNAL_MAGIC));
    free(image);
    remove_dir();
}
END_TEST

START_TEST(a_flipped_bit_fails_the_checksum)
{
    make_dir();
    write_three_puts();
    size_t len;
    uint8_t *image = read_file(&len);
    image[len - 1] ^= 0x01;
    int n = 0;
    const char *why;
    size_t good = journal_scan(image, len, count_record, &n, &why);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(why, "record checksum mismatch");
    ck_assert_uint_lt(good, len);
    free(image);
    remove_dir();
}
END_TEST

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
static struct config config;

static void state_with(struct state *st, const struct object_config *objs, size_t n)
{
    if (!config.listen)
        config_init(&config); /* once: every state of these tests shares it */
    state_init(st, &config, &env, NULL);
    st->memory.max = 1 << 20;
    ck_assert(registry_apply(&st->registry, objs, n));
}

static void state_with_objects(struct state *st)
{
    struct object_config objs[] = {
        {.name = "q", .type = OBJECT_QUEUE, .accessor = "get_q", .redeliver = true},
        {.name = "b", .type = OBJECT_BUF, .accessor = "get_b"},
    };
    state_with(st, objs, 2);
}

static bool restore(struct state *st, struct journal *j, unsigned flags, char *err, size_t len)
{
    uint64_t max_owner;
    return state_restore(st, j, flags, &max_owner, err, len);
}

static int apply(struct state *st, struct record r)
{
    r.name_len = strlen(r.name);
    return state_apply(st, &r, NULL, NULL);
}

START_TEST(replay_restores_queues_leases_and_bufs)
{
    make_dir();
    struct state st;
    state_with_objects(&st);
    struct journal *j = open_journal(FSYNC_NO, NULL);
    st.log = journal_log(j);
    for (uint8_t i = 0; i < 4; i++)
        ck_assert_int_eq(apply(&st, (struct record){.type = REC_PUT, .name = "q",
                                                    .value = {&i, 1}}),
                         PROTO_OK);
    /* 0 and 1 leased to owner 7, then 0 settled. */
    ck_assert_int_eq(apply(&st, (struct record){.type = REC_TAKE, .name = "q", .owner = 7, .n = 2}),
                     PROTO_OK);
    ck_assert_int_eq(
        apply(&st, (struct record){.type = REC_TASK_DONE, .name = "q", .owner = 7, .n = 1}), PROTO_OK);
    ck_assert_int_eq(apply(&st, (struct record){.type = REC_BUF_INCR, .name = "b", .key = "k",
                                                .key_len = 1, .number = {.i = 5}}),
                     PROTO_OK);
    ck_assert(journal_commit(j));
    /* The "crash": the worker never returned its lease. */
    st.log = NULL;
    journal_close(j);
    struct state st2;
    state_with_objects(&st2);
    j = open_journal(FSYNC_NO, NULL);
    char err[256];
    ck_assert_msg(restore(&st2, j, 0, err, sizeof err), "%s", err);
    struct queue *q2 = registry_find(&st2.registry, "q", 1)->u.queue;
    ck_assert_uint_eq(q2->items.count, 3); /* 1 back at the head, then 2 and 3 */
    ck_assert_uint_eq(q2->unfinished, 3);
    ck_assert_uint_eq(q2->redelivered, 1);
    struct mp_slice head;
    ck_assert(itemq_front(&q2->items, &head));
    ck_assert_uint_eq(head.p[0], 1);
    const struct buf_entry *e = buf_find(registry_find(&st2.registry, "b", 1)->u.buf, "k", 1);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->v.i, 5);
    journal_close(j);
    state_free(&st);
    state_free(&st2);
    remove_dir();
}
END_TEST

START_TEST(replay_cuts_a_torn_tail_from_the_file)
{
    make_dir();
    write_three_puts();
    size_t len;
    uint8_t *image = read_file(&len);
    free(image);
    ck_assert_int_eq(truncate(path, (off_t)(len - 1)), 0);
    struct state st;
    state_with_objects(&st);
    struct journal *j = open_journal(FSYNC_NO, NULL);
    char err[256];
    ck_assert(restore(&st, j, 0, err, sizeof err));
    ck_assert_uint_eq(registry_find(&st.registry, "q", 1)->u.queue->items.count, 2);
    struct stat file;
    ck_assert_int_eq(stat(path, &file), 0);
    ck_assert_uint_lt((uint64_t)file.st_size, len - 1);
    journal_close(j);
    state_free(&st);
    remove_dir();
}
END_TEST

static void write_image(const uint8_t *image, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(image, 1, len, f), len);
    fclose(f);
}

/* Offsets of the records of a journal image: offs[i], n of them. */
static size_t record_offsets(const uint8_t *image, size_t len, size_t *offs, size_t max)
{
    size_t n = 0;
    for (size_t off = strlen(JOURNAL_MAGIC); off + JOURNAL_RECORD_HEADER <= len && n < max;) {
        offs[n++] = off;
        off += JOURNAL_RECORD_HEADER + ((size_t)image[off] << 24 | (size_t)image[off + 1] << 16 |
                                        (size_t)image[off + 2] << 8 | image[off + 3]);
    }
    return n;
}

START_TEST(intact_records_after_damage_are_found_a_torn_tail_has_none)
{
    make_dir();
    write_three_puts();
    size_t len, offs[3];
    uint8_t *image = read_file(&len);
    ck_assert_uint_eq(record_offsets(image, len, offs, 3), 3);
    struct journal_rest rest;
    image[offs[1] + JOURNAL_RECORD_HEADER + 1] ^= 0x01; /* the middle record */
    journal_scan_rest(image, len, offs[1], &rest);
    ck_assert_uint_eq(rest.records, 1);
    ck_assert_uint_eq(rest.first, offs[2]);
    ck_assert_uint_eq(rest.bytes, len - offs[1]);
    journal_scan_rest(image, len - 1, offs[1], &rest); /* the last one torn too */
    ck_assert_uint_eq(rest.records, 0);
    journal_scan_rest(image, len, offs[2], &rest);
    ck_assert_uint_eq(rest.records, 0);
    free(image);
    remove_dir();
}
END_TEST

START_TEST(replay_refuses_damage_before_the_tail_and_changes_nothing)
{
    make_dir();
    write_three_puts();
    size_t len, offs[3];
    uint8_t *image = read_file(&len);
    ck_assert_uint_eq(record_offsets(image, len, offs, 3), 3);
    image[offs[0] + JOURNAL_RECORD_HEADER] ^= 0x40;
    write_image(image, len);
    struct state st;
    state_with_objects(&st);
    struct journal *j = open_journal(FSYNC_NO, NULL);
    char err[1024];
    ck_assert(!restore(&st, j, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "hold 2 intact records") && strstr(err, "--repair-journal"), "%s", err);
    journal_close(j);
    size_t after_len;
    uint8_t *after = read_file(&after_len);
    ck_assert_uint_eq(after_len, len);
    ck_assert(memcmp(after, image, len) == 0);
    free(after);
    free(image);
    state_free(&st);
    remove_dir();
}
END_TEST

START_TEST(repair_keeps_the_damaged_file_and_starts_from_the_good_part)
{
    make_dir();
    write_three_puts();
    size_t len, offs[3];
    uint8_t *image = read_file(&len);
    ck_assert_uint_eq(record_offsets(image, len, offs, 3), 3);
    image[offs[1] + JOURNAL_RECORD_HEADER + 1] ^= 0x01;
    write_image(image, len);
    struct state st;
    state_with_objects(&st);
    struct journal *j = open_journal(FSYNC_NO, NULL);
    char err[1024];
    ck_assert_msg(restore(&st, j, JOURNAL_REPAIR, err, sizeof err), "%s", err);
    ck_assert_uint_eq(registry_find(&st.registry, "q", 1)->u.queue->items.count, 1);
    ck_assert_uint_eq(journal_size(j), offs[1]);
    journal_close(j);
    struct stat file;
    ck_assert_int_eq(stat(path, &file), 0);
    ck_assert_uint_eq((uint64_t)file.st_size, offs[1]);
    /* The kept file: the only other one in the directory, all the bytes. */
    char cmd[256], kept[256] = "";
    snprintf(cmd, sizeof cmd, "ls %s/" JOURNAL_FILE ".damaged-*", dir);
    FILE *ls = popen(cmd, "r");
    ck_assert_ptr_nonnull(fgets(kept, sizeof kept, ls));
    pclose(ls);
    kept[strcspn(kept, "\n")] = '\0';
    FILE *f = fopen(kept, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t *copy = malloc(len + 1);
    ck_assert_uint_eq(fread(copy, 1, len + 1, f), len);
    fclose(f);
    ck_assert(memcmp(copy, image, len) == 0);
    unlink(kept);
    free(copy);
    free(image);
    state_free(&st);
    remove_dir();
}
END_TEST

START_TEST(replay_refuses_data_of_unconfigured_objects_unless_dropping)
{
    make_dir();
    write_three_puts();
    struct object_config other[] = {{.name = "b", .type = OBJECT_BUF, .accessor = "get_b"}};
    struct state st;
    state_with(&st, other, 1);
    struct journal *j = open_journal(FSYNC_NO, NULL);
    char err[1024];
    ck_assert(!restore(&st, j, 0, err, sizeof err));
    ck_assert_msg(strstr(err, "queue q (3 items)") && strstr(err, "--drop-unconfigured"), "%s", err);
    ck_assert_msg(restore(&st, j, JOURNAL_DROP_UNCONFIGURED, err, sizeof err), "%s", err);
    ck_assert_uint_eq(st.memory.used, 0);
    /* The drop is recorded: written by the next commit, it replays to nothing. */
    ck_assert(journal_commit(j));
    journal_close(j);
    j = open_journal(FSYNC_NO, NULL);
    ck_assert_msg(restore(&st, j, 0, err, sizeof err), "%s", err);
    journal_close(j);
    state_free(&st);
    remove_dir();
}
END_TEST

static ssize_t failing_write(int fd, const void *p, size_t n)
{
    /* Half gets through, then the disk is full. */
    if (n > 4) {
        ssize_t w = write(fd, p, n / 2);
        (void)w;
    }
    errno = ENOSPC;
    return -1;
}

static int working_fsync(int fd)
{
    return fdatasync(fd);
}

static int failing_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static ssize_t working_write(int fd, const void *p, size_t n)
{
    return write(fd, p, n);
}

START_TEST(failed_write_is_cut_and_marks_the_journal_failed)
{
    make_dir();
    struct journal_io full = {failing_write, working_fsync};
    journal_close(open_journal(FSYNC_ALWAYS, NULL));
    struct journal *j = open_journal(FSYNC_ALWAYS, &full);
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    log_put(j, item_a, sizeof item_a);
    ck_assert(!journal_commit(j));
    ck_assert_ptr_nonnull(refusal(j));
    ck_assert_str_eq(refusal(j), strerror(ENOSPC));
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    journal_close(j);
    remove_dir();
}
END_TEST

START_TEST(failed_fsync_under_always_is_a_failed_commit)
{
    make_dir();
    struct journal_io io = {working_write, failing_fsync};
    struct journal *j = journal_open(dir, FSYNC_ALWAYS, &io, (char[64]){0}, 64);
    /* Opening a new journal fsyncs its header: that fails too. */
    ck_assert_ptr_null(j);
    struct journal_io good = {working_write, working_fsync};
    j = open_journal(FSYNC_ALWAYS, &good);
    journal_close(j);
    j = open_journal(FSYNC_ALWAYS, &io);
    log_put(j, item_a, sizeof item_a);
    ck_assert(!journal_commit(j));
    ck_assert_ptr_nonnull(refusal(j));
    journal_close(j);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("records");
    tcase_add_test(tc, records_are_framed_with_length_and_crc);
    suite_add_tcase(s, tc);
    tc = tcase_create("torn");
    tcase_add_test(tc, every_torn_tail_stops_at_the_last_whole_record);
    tcase_add_test(tc, a_flipped_bit_fails_the_checksum);
    suite_add_tcase(s, tc);
    tc = tcase_create("replay");
    tcase_add_test(tc, replay_restores_queues_leases_and_bufs);
    tcase_add_test(tc, replay_cuts_a_torn_tail_from_the_file);
    tcase_add_test(tc, intact_records_after_damage_are_found_a_torn_tail_has_none);
    tcase_add_test(tc, replay_refuses_damage_before_the_tail_and_changes_nothing);
    tcase_add_test(tc, repair_keeps_the_damaged_file_and_starts_from_the_good_part);
    tcase_add_test(tc, replay_refuses_data_of_unconfigured_objects_unless_dropping);
    suite_add_tcase(s, tc);
    tc = tcase_create("faults");
    tcase_add_test(tc, failed_write_is_cut_and_marks_the_journal_failed);
    tcase_add_test(tc, failed_fsync_under_always_is_a_failed_commit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
