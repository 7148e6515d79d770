/*
 * test_recovery.c - what bc_open does with damaged files, and what bc_get does with a damaged
 * record:
 *   - garbage appended after the last record (a torn write): cut off, counted in
 *     truncated_bytes, everything before intact, new writes fine;
 *   - the last record cut in the middle: that record is gone (or its previous value is back),
 *     everything before intact;
 *   - one flipped byte inside a stored value: bc_get says BC_E_CORRUPT, never the wrong bytes;
 *   - a merge record (docs/FORMAT.md, "Merge files") naming an output file that is missing: the
 *     input it names is kept and served, bc_stats counts one incomplete merge, new files take
 *     ids above those the record names, and bc_merge retires the record.
 */
#include "check.h"

#define NKEYS 50

static size_t make_key(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "key-%03d", i);
}

/* Values are unique byte strings (so memmem finds exactly one of them in a file). */
static size_t make_val(char *buf, size_t cap, int i, const char *tag)
{
    return (size_t)snprintf(buf, cap, "<%s value number %03d, unique %08x>", tag, i,
                            (unsigned)(i * 2654435761u));
}

static void put_keys(bc_db *db, int from, int to, const char *tag)
{
    char k[32], v[96];
    for (int i = from; i < to; i++) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(v, sizeof v, i, tag);
        CHECK_OK(bc_put(db, B(k), kl, B(v), vl));
    }
}

static void check_keys(bc_db *db, int from, int to, const char *tag)
{
    char k[32], v[96];
    for (int i = from; i < to; i++) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(v, sizeof v, i, tag);
        CHECK_VALUE(db, k, kl, v, vl);
    }
}

static bc_stats stats(bc_db *db)
{
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    return st;
}

static off_t file_size(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_size;
}

static void append_bytes(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    CHECK(write(fd, bytes, len) == (ssize_t)len, "append to %s", path);
    close(fd);
}

/* After a reopen that cut a torn tail: writes work and survive one more clean reopen, which
 * finds nothing left to cut. */
static void check_writes_after_repair(const char *dir, bc_db **db, const char *tag)
{
    put_keys(*db, NKEYS, NKEYS + 10, tag);
    CHECK_OK(bc_close(*db));
    CHECK_OK(bc_open(dir, NULL, db));
    check_keys(*db, NKEYS, NKEYS + 10, tag);
    bc_stats st = stats(*db);
    CHECK(st.truncated_bytes == 0, "a clean reopen after the repair still cut %llu bytes",
          (unsigned long long)st.truncated_bytes);
    CHECK(st.corrupt_records == 0, "a clean reopen after the repair reports %llu corrupt records",
          (unsigned long long)st.corrupt_records);
}

static void test_garbage_tail(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "garbage");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    put_keys(db, 0, NKEYS, "a");
    CHECK_OK(bc_close(db));

    /* Seven bytes: fewer than the smallest record, so this can only be a torn write. */
    const char *last = last_data_file(dir);
    off_t before = file_size(last);
    const uint8_t garbage[7] = {0xAB, 0xCD, 0x01, 0x00, 0xFF, 0x10, 0x7F};
    append_bytes(last, garbage, sizeof garbage);

    CHECK_OK(bc_open(dir, NULL, &db));
    bc_stats st = stats(db);
    CHECK(st.truncated_bytes == sizeof garbage, "truncated_bytes is %llu, expected %zu",
          (unsigned long long)st.truncated_bytes, sizeof garbage);
    CHECK(st.keys == NKEYS, "%llu keys after the repair", (unsigned long long)st.keys);
    CHECK(file_size(last) == before, "the torn tail was not cut from %s", last);
    check_keys(db, 0, NKEYS, "a");
    check_writes_after_repair(dir, &db, "after-garbage");
    check_keys(db, 0, NKEYS, "a");
    CHECK_OK(bc_close(db));
}

static void test_cut_last_record(const char *root, int had_old_value)
{
    char dir[PATH_MAX];
    join_path(dir, root, had_old_value ? "cut-overwrite" : "cut-new");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    put_keys(db, 0, NKEYS, "a");
    if (had_old_value)
        CHECK_OK(bc_put(db, B("victim"), 6, B("old value"), 9));

    /* The victim's record is the last one in the log; cut it in the middle of its value. */
    uint8_t big[600];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    bc_stats s0 = stats(db);
    CHECK_OK(bc_put(db, B("victim"), 6, big, sizeof big));
    bc_stats s1 = stats(db);
    uint64_t rec = s1.total_bytes - s0.total_bytes;
    CHECK_OK(bc_close(db));

    const char *last = last_data_file(dir);
    off_t size = file_size(last);
    const off_t keep = 300; /* bytes of the victim's record that stay */
    CHECK(truncate(last, size - (off_t)rec + keep) == 0, "truncate %s: %s", last,
          strerror(errno));

    CHECK_OK(bc_open(dir, NULL, &db));
    bc_stats st = stats(db);
    CHECK(st.truncated_bytes == (uint64_t)keep,
          "truncated_bytes is %llu, expected the %lld bytes left of the cut record",
          (unsigned long long)st.truncated_bytes, (long long)keep);
    CHECK(file_size(last) == size - (off_t)rec, "the cut record's remains are still in %s", last);
    check_keys(db, 0, NKEYS, "a");
    if (had_old_value)
        CHECK_VALUE(db, "victim", 6, "old value", 9);
    else
        CHECK_ABSENT(db, "victim", 6);
    CHECK(st.keys == NKEYS + (had_old_value ? 1u : 0u), "%llu keys after the repair",
          (unsigned long long)st.keys);

    /* The key can be written again, and everything survives another reopen. */
    CHECK_OK(bc_put(db, B("victim"), 6, big, sizeof big));
    check_writes_after_repair(dir, &db, "after-cut");
    CHECK_VALUE(db, "victim", 6, big, sizeof big);
    check_keys(db, 0, NKEYS, "a");
    CHECK_OK(bc_close(db));
}

/* Flips one byte of `needle` (which must occur exactly once) inside the file, in place. */
static void flip_byte_of(const char *path, const char *needle, size_t nlen)
{
    size_t len;
    uint8_t *data = read_file(path, &len);
    uint8_t *hit = memmem(data, len, needle, nlen);
    CHECK(hit != NULL, "value \"%.*s\" not found in %s", (int)nlen, needle, path);
    CHECK(memmem(hit + 1, len - (size_t)(hit + 1 - data), needle, nlen) == NULL,
          "value occurs twice in %s", path);
    off_t at = (off_t)(hit - data) + (off_t)nlen / 2;
    uint8_t b = (uint8_t)(data[at] ^ 0x20);
    free(data);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    CHECK(pwrite(fd, &b, 1, at) == 1, "pwrite %s", path);
    close(fd);
}

struct fold_count {
    int calls;
    int saw_victim;
};

static int count_calls(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                       size_t vlen)
{
    struct fold_count *c = ctx;
    (void)val;
    (void)vlen;
    c->calls++;
    if (klen == 7 && memcmp(key, "key-010", 7) == 0)
        c->saw_victim = 1;
    return 0;
}

static void test_flipped_byte(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "flipped");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    put_keys(db, 0, NKEYS, "a");

    /* Damage key-010's value on disk while the store is open: the index still points at the
     * record, so the read must notice the bad checksum. */
    char k[32], v[96];
    size_t kl = make_key(k, sizeof k, 10), vl = make_val(v, sizeof v, 10, "a");
    CHECK_OK(bc_sync(db));
    flip_byte_of(last_data_file(dir), v, vl);

    uint8_t *got = (uint8_t *)v;
    size_t glen = 99;
    CHECK_RC(bc_get(db, B(k), kl, &got, &glen), BC_E_CORRUPT);
    CHECK_ERR_MSG("bc_get: ");
    CHECK(got == NULL && glen == 0, "BC_E_CORRUPT must return no bytes");
    uint8_t buf[128];
    memset(buf, '#', sizeof buf);
    glen = 99;
    CHECK_RC(bc_get_into(db, B(k), kl, buf, sizeof buf, &glen), BC_E_CORRUPT);
    CHECK(glen == 0, "BC_E_CORRUPT from bc_get_into must set *vlen = 0");
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == '#', "bc_get_into copied bytes of a corrupt record (byte %zu)", i);
    /* The key still exists (contains answers from memory). */
    CHECK_OK(bc_contains(db, B(k), kl));
    /* Every other key is fine. */
    check_keys(db, 0, 10, "a");
    check_keys(db, 11, NKEYS, "a");

    /* A fold skips the damaged key, visits the others, and says BC_E_CORRUPT. */
    struct fold_count c = {0, 0};
    CHECK_RC(bc_fold(db, count_calls, &c), BC_E_CORRUPT);
    CHECK(c.calls == NKEYS - 1 && !c.saw_victim, "fold over one damaged record made %d calls%s",
          c.calls, c.saw_victim ? " and passed the damaged one" : "");

    /* Overwriting the damaged key heals it. */
    CHECK_OK(bc_put(db, B(k), kl, B("healed"), 6));
    CHECK_VALUE(db, k, kl, "healed", 6);
    CHECK_OK(bc_close(db));

    /* The same damage found by a reopen: key-020 is damaged while the store is closed. The
     * record is in the middle of the log, so it is skipped and counted, or served as
     * BC_E_CORRUPT: never as wrong bytes. */
    kl = make_key(k, sizeof k, 20);
    vl = make_val(v, sizeof v, 20, "a");
    flip_byte_of(last_data_file(dir), v, vl);
    CHECK_OK(bc_open(dir, NULL, &db));
    bc_stats st = stats(db);
    got = NULL;
    int rc = bc_get(db, B(k), kl, &got, &glen);
    CHECK(rc == BC_E_CORRUPT || rc == BC_NOT_FOUND,
          "bc_get of a record damaged before the open returned %d (%s)", rc, bc_status_str(rc));
    CHECK(got == NULL, "a damaged record returned bytes");
    if (rc == BC_NOT_FOUND)
        CHECK(st.corrupt_records >= 1 && st.corrupt_bytes > 0,
              "the damaged record was dropped at open but not counted in bc_stats");
    CHECK(st.truncated_bytes == 0, "damage in the middle of the log was cut as a torn tail");
    check_keys(db, 0, 10, "a");
    check_keys(db, 11, 20, "a");
    check_keys(db, 21, NKEYS, "a");
    CHECK_VALUE(db, "key-010", 7, "healed", 6);
    CHECK_OK(bc_close(db));
}

/* CRC-32 (IEEE), as docs/FORMAT.md specifies. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static size_t put_le(uint8_t *at, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        at[i] = (uint8_t)(v >> (8 * i));
    return bytes;
}

static void test_merge_record_without_its_output(const char *root)
{
    char dir[PATH_MAX], record[PATH_MAX];
    join_path(dir, root, "incomplete-merge");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    put_keys(db, 0, NKEYS, "kept");
    CHECK_OK(bc_close(db));
    CHECK(path_exists(path_in(dir, "0000000001.data")), "the store's one data file");

    /* Version 2: merge id 9, inputs [1], outputs [(9, 4096 bytes)]; file 9 does not exist. */
    uint8_t rec[64];
    size_t n = 0;
    memcpy(rec, "BCMERGE2", 8);
    n += 8;
    n += put_le(rec + n, 9, 4);
    n += put_le(rec + n, 1, 4);
    n += put_le(rec + n, 1, 4);
    n += put_le(rec + n, 1, 4);
    n += put_le(rec + n, 9, 4);
    n += put_le(rec + n, 4096, 8);
    n += put_le(rec + n, crc32_ieee(rec, n), 4);
    join_path(record, dir, "MERGED-9");
    int fd = open(record, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0, "create %s: %s", record, strerror(errno));
    write_full(fd, rec, n);
    close(fd);

    CHECK_OK(bc_open(dir, NULL, &db));
    check_keys(db, 0, NKEYS, "kept");
    bc_stats st = stats(db);
    CHECK(st.incomplete_merges == 1, "incomplete_merges = %llu, want 1",
          (unsigned long long)st.incomplete_merges);
    CHECK(path_exists(path_in(dir, "0000000001.data")), "the input is kept");
    CHECK(path_exists(record), "the record is kept");
    put_keys(db, NKEYS, NKEYS + 10, "after");
    CHECK(!path_exists(path_in(dir, "0000000009.data")), "no new file takes a named id");
    CHECK(path_exists(path_in(dir, "0000000010.data")), "the new active file is above them");
    CHECK_OK(bc_close(db));

    /* Read-only sees the same. */
    bc_options *ro = bc_options_new();
    CHECK(ro != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_read_only(ro, 1));
    CHECK_OK(bc_open(dir, ro, &db));
    check_keys(db, 0, NKEYS, "kept");
    check_keys(db, NKEYS, NKEYS + 10, "after");
    CHECK(stats(db).incomplete_merges == 1, "read-only open counts it too");
    CHECK_OK(bc_close(db));
    bc_options_free(ro);

    /* A merge rewrites the files and retires the record. */
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_OK(bc_merge(db));
    CHECK(stats(db).incomplete_merges == 0, "the merge retired the record");
    CHECK(!path_exists(record), "record deleted by the merge");
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_open(dir, NULL, &db));
    check_keys(db, 0, NKEYS, "kept");
    check_keys(db, NKEYS, NKEYS + 10, "after");
    CHECK(stats(db).incomplete_merges == 0, "nothing left after the merge");
    CHECK_OK(bc_close(db));
}

int main(void)
{
    const char *root = test_tmpdir("recovery");
    test_garbage_tail(root);
    test_cut_last_record(root, 0);
    test_cut_last_record(root, 1);
    test_flipped_byte(root);
    test_merge_record_without_its_output(root);
    printf("test_recovery: ok\n");
    return 0;
}
