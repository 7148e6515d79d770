/*
 * test_stats.c - bc_stats_get: how keys, data_files, total_bytes, live_bytes and dead_bytes move
 * with puts, overwrites and deletes, that total_bytes matches the files on disk, and that a
 * reopen recomputes the same numbers.
 */
#include "check.h"

static bc_stats stats(bc_db *db)
{
    bc_stats st;
    memset(&st, 0xEE, sizeof st);
    CHECK_OK(bc_stats_get(db, &st));
    return st;
}

#define U(x) ((unsigned long long)(x))

static void print_stats(const char *when, const bc_stats *s)
{
    printf("  %-22s keys=%llu files=%llu total=%llu live=%llu dead=%llu\n", when, U(s->keys),
           U(s->data_files), U(s->total_bytes), U(s->live_bytes), U(s->dead_bytes));
}

/* total_bytes is the size of every data file, headers included: compare with the directory.
 * While the store is open, the active file may be longer on disk than its records by the space
 * reserved ahead of appends (at most BC_RESERVE); after close the two agree exactly. */
#define BC_RESERVE (8u << 20)
static void check_total_against_disk(const char *dir, const bc_stats *s, int open)
{
    uint64_t bytes = 0;
    uint64_t files = count_data_files(dir, &bytes);
    CHECK(files == s->data_files, "data_files is %llu, the directory has %llu", U(s->data_files),
          U(files));
    if (open) {
        CHECK(bytes >= s->total_bytes && bytes - s->total_bytes <= BC_RESERVE,
              "total_bytes is %llu, the data files hold %llu (more than the reserve apart)",
              U(s->total_bytes), U(bytes));
    } else {
        CHECK(bytes == s->total_bytes, "total_bytes was %llu, the closed data files hold %llu",
              U(s->total_bytes), U(bytes));
    }
    CHECK(s->live_bytes + s->dead_bytes <= s->total_bytes,
          "live %llu + dead %llu exceed total %llu", U(s->live_bytes), U(s->dead_bytes),
          U(s->total_bytes));
}

static void check_total_matches_disk(const char *dir, const bc_stats *s)
{
    check_total_against_disk(dir, s, 1);
}

int main(void)
{
    const char *root = test_tmpdir("stats");
    char dir[PATH_MAX];
    join_path(dir, root, "store");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));

    CHECK_RC(bc_stats_get(db, NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_stats_get: ");
    bc_stats st;
    CHECK_RC(bc_stats_get(NULL, &st), BC_E_INVALID);

    bc_stats s0 = stats(db);
    print_stats("fresh", &s0);
    CHECK(s0.keys == 0 && s0.live_bytes == 0 && s0.dead_bytes == 0,
          "a fresh store has keys/live/dead %llu/%llu/%llu", U(s0.keys), U(s0.live_bytes),
          U(s0.dead_bytes));
    CHECK(s0.corrupt_records == 0 && s0.corrupt_bytes == 0 && s0.truncated_bytes == 0,
          "a fresh store reports damage");
    check_total_matches_disk(dir, &s0);

    /* A first put: one key; live and total grow by the same amount (the record's size), which
     * is at least the key plus the value. */
    const char v1[] = "first value of k1"; /* 17 bytes */
    CHECK_OK(bc_put(db, B("k1"), 2, B(v1), 17));
    bc_stats s1 = stats(db);
    print_stats("put k1", &s1);
    uint64_t rec1 = s1.live_bytes - s0.live_bytes;
    CHECK(s1.keys == 1, "keys %llu after one put", U(s1.keys));
    CHECK(s1.data_files >= 1, "no data file after a put");
    CHECK(rec1 >= 2 + 17 && rec1 < 2 + 17 + 64, "a 2+17 byte put added %llu live bytes", U(rec1));
    CHECK(s1.dead_bytes == 0, "dead_bytes %llu after a single put", U(s1.dead_bytes));
    CHECK(s1.total_bytes - s0.total_bytes >= rec1,
          "total grew by %llu, less than the record's %llu bytes",
          U(s1.total_bytes - s0.total_bytes), U(rec1));
    check_total_matches_disk(dir, &s1);

    /* A second key of a different size: keys 2, live grows by its record. */
    CHECK_OK(bc_put(db, B("key-two"), 7, B("v2"), 2));
    bc_stats s2 = stats(db);
    print_stats("put key-two", &s2);
    uint64_t rec2 = s2.live_bytes - s1.live_bytes;
    CHECK(s2.keys == 2, "keys %llu after two puts", U(s2.keys));
    CHECK(rec2 >= 9 && rec2 < rec1, "key-two's record is %llu bytes (k1's is %llu)", U(rec2),
          U(rec1));
    CHECK(s2.total_bytes - s1.total_bytes == rec2, "total grew by %llu for a %llu-byte record",
          U(s2.total_bytes - s1.total_bytes), U(rec2));
    CHECK(s2.dead_bytes == 0, "dead_bytes %llu without overwrites", U(s2.dead_bytes));

    /* Overwrite k1 with a longer value: keys unchanged, dead grows by exactly the old record,
     * live by new minus old, total by the new record. */
    const char v1b[] = "the second, longer value of k1"; /* 30 bytes */
    CHECK_OK(bc_put(db, B("k1"), 2, B(v1b), 30));
    bc_stats s3 = stats(db);
    print_stats("overwrite k1", &s3);
    uint64_t rec1b = s3.total_bytes - s2.total_bytes;
    CHECK(s3.keys == 2, "keys %llu after an overwrite", U(s3.keys));
    CHECK(rec1b == rec1 + 13, "the 13-byte longer record of k1 is %llu bytes, the old %llu",
          U(rec1b), U(rec1));
    CHECK(s3.dead_bytes == s2.dead_bytes + rec1,
          "dead_bytes went %llu -> %llu, expected to grow by the old record's %llu bytes",
          U(s2.dead_bytes), U(s3.dead_bytes), U(rec1));
    CHECK(s3.live_bytes == s2.live_bytes - rec1 + rec1b, "live_bytes %llu after the overwrite",
          U(s3.live_bytes));
    check_total_matches_disk(dir, &s3);

    /* Delete key-two: one key fewer; its record and the tombstone both become dead. */
    CHECK_OK(bc_delete(db, B("key-two"), 7));
    bc_stats s4 = stats(db);
    print_stats("delete key-two", &s4);
    uint64_t tomb = s4.total_bytes - s3.total_bytes;
    CHECK(s4.keys == 1, "keys %llu after a delete", U(s4.keys));
    CHECK(tomb >= 7, "the tombstone for a 7-byte key is %llu bytes", U(tomb));
    CHECK(s4.live_bytes == s3.live_bytes - rec2, "live_bytes %llu after deleting a %llu-byte record",
          U(s4.live_bytes), U(rec2));
    CHECK(s4.dead_bytes == s3.dead_bytes + rec2 + tomb,
          "dead_bytes went %llu -> %llu, expected + record %llu + tombstone %llu",
          U(s3.dead_bytes), U(s4.dead_bytes), U(rec2), U(tomb));
    check_total_matches_disk(dir, &s4);

    /* bc_sync forces an fsync of what was written (BC_SYNC_NONE never syncs on its own). */
    bc_stats before_sync = stats(db);
    CHECK_OK(bc_sync(db));
    bc_stats after_sync = stats(db);
    CHECK(after_sync.syncs > before_sync.syncs, "bc_sync after writes did not count an fsync "
          "(syncs %llu -> %llu)", U(before_sync.syncs), U(after_sync.syncs));

    /* Deleting an absent key writes nothing. */
    CHECK_RC(bc_delete(db, B("key-two"), 7), BC_NOT_FOUND);
    bc_stats s5 = stats(db);
    CHECK(memcmp(&after_sync, &s5, sizeof s5) == 0, "a delete of an absent key changed the stats");

    /* An empty value is a real record and a real key. */
    CHECK_OK(bc_put(db, B("e"), 1, NULL, 0));
    bc_stats s6 = stats(db);
    CHECK(s6.keys == 2 && s6.live_bytes > s5.live_bytes, "an empty value did not count as a key");

    /* Many keys: the key count follows. */
    char k[32];
    for (int i = 0; i < 100; i++) {
        int kl = snprintf(k, sizeof k, "bulk-%d", i);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, B("v"), 1));
    }
    for (int i = 0; i < 100; i += 4) {
        int kl = snprintf(k, sizeof k, "bulk-%d", i);
        CHECK_OK(bc_delete(db, B(k), (size_t)kl));
    }
    bc_stats s7 = stats(db);
    print_stats("bulk", &s7);
    CHECK(s7.keys == 2 + 75, "keys %llu, expected 77", U(s7.keys));
    check_total_matches_disk(dir, &s7);
    CHECK_OK(bc_close(db));
    check_total_against_disk(dir, &s7, 0);

    /* A reopen replays the log to the same counters (and reports no damage). */
    CHECK_OK(bc_open(dir, NULL, &db));
    bc_stats s8 = stats(db);
    print_stats("reopened", &s8);
    CHECK(s8.keys == s7.keys && s8.data_files == s7.data_files &&
              s8.total_bytes == s7.total_bytes && s8.live_bytes == s7.live_bytes &&
              s8.dead_bytes == s7.dead_bytes,
          "the reopened store's counters differ from the ones before close");
    CHECK(s8.corrupt_records == 0 && s8.corrupt_bytes == 0 && s8.truncated_bytes == 0,
          "a cleanly closed store reports damage on reopen");
    CHECK_OK(bc_close(db));

    /* More data files with a small max_file_size: data_files follows the directory. */
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_file_size(o, 512));
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    uint8_t val[200];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 30; i++) {
        int kl = snprintf(k, sizeof k, "roll-%d", i);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, val, sizeof val));
    }
    bc_stats s9 = stats(db);
    print_stats("small files", &s9);
    CHECK(s9.data_files >= s8.data_files + 10, "30 200-byte puts with 512-byte files added only "
          "%llu files", U(s9.data_files - s8.data_files));
    check_total_matches_disk(dir, &s9);
    CHECK_OK(bc_close(db));
    check_total_against_disk(dir, &s9, 0);

    /* Appends without the memory map (bc_options_set_mmap_writes 0): no space is reserved, so
     * the data files on disk are exactly total_bytes even while open; with it (the default, on
     * this test's file system) the active file is longer by the reserve until close. */
    for (int mmap_on = 0; mmap_on <= 1; mmap_on++) {
        char sub[PATH_MAX];
        join_path(sub, root, mmap_on ? "mapped" : "pwrite");
        bc_options *m = bc_options_new();
        CHECK(m != NULL, "bc_options_new");
        CHECK_OK(bc_options_set_mmap_writes(m, mmap_on));
        CHECK_OK(bc_open(sub, m, &db));
        bc_options_free(m);
        for (int i = 0; i < 50; i++) {
            int kl = snprintf(k, sizeof k, "m-%d", i);
            CHECK_OK(bc_put(db, B(k), (size_t)kl, val, sizeof val));
        }
        bc_stats sm = stats(db);
        uint64_t on_disk = 0;
        count_data_files(sub, &on_disk);
        if (mmap_on)
            CHECK(on_disk > sm.total_bytes, "mmap appends: %llu bytes on disk, total %llu (no "
                  "reserve: is the test directory on ext4, XFS or tmpfs?)", U(on_disk),
                  U(sm.total_bytes));
        else
            CHECK(on_disk == sm.total_bytes, "pwrite appends: %llu bytes on disk, total %llu",
                  U(on_disk), U(sm.total_bytes));
        CHECK_OK(bc_close(db));
        check_total_against_disk(sub, &sm, 0);
        CHECK_OK(bc_open(sub, NULL, &db));
        uint8_t got[sizeof val];
        size_t glen = 0;
        CHECK_OK(bc_get_into(db, B("m-49"), 4, got, sizeof got, &glen));
        CHECK(glen == sizeof val && memcmp(got, val, sizeof val) == 0, "m-49 read back wrong");
        CHECK_OK(bc_close(db));
    }

    /* Hint kinds (bc_options_set_compact_hints): after a merge every record is live, and the
     * compact hint (1 bit per record) is far smaller than one listing 300 keys; both reopen
     * from the hint. */
    uint64_t hint_bytes[2] = {0, 0};
    for (int compact = 0; compact <= 1; compact++) {
        char sub[PATH_MAX];
        join_path(sub, root, compact ? "compact-hints" : "keyed-hints");
        bc_options *h = bc_options_new();
        CHECK(h != NULL, "bc_options_new");
        CHECK_OK(bc_options_set_compact_hints(h, compact));
        CHECK_OK(bc_open(sub, h, &db));
        for (int i = 0; i < 300; i++) {
            int kl = snprintf(k, sizeof k, "hint-key-%04d", i);
            CHECK_OK(bc_put(db, B(k), (size_t)kl, val, sizeof val));
        }
        CHECK_OK(bc_merge(db));
        CHECK_OK(bc_close(db));
        DIR *d = opendir(sub);
        CHECK(d != NULL, "opendir(%s)", sub);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n > 5 && strcmp(e->d_name + n - 5, ".hint") == 0) {
                char path[PATH_MAX];
                join_path(path, sub, e->d_name);
                struct stat st;
                CHECK(stat(path, &st) == 0, "stat %s", path);
                hint_bytes[compact] += (uint64_t)st.st_size;
            }
        }
        closedir(d);
        bc_options_set_compact_hints(h, !compact); /* what is written next, not what is read */
        CHECK_OK(bc_open(sub, h, &db));
        bc_options_free(h);
        bc_stats sh = stats(db);
        CHECK(sh.hint_files_loaded >= 1 && sh.data_files_scanned == 0,
              "compact=%d: %llu hints loaded, %llu files scanned", compact,
              U(sh.hint_files_loaded), U(sh.data_files_scanned));
        CHECK(sh.keys == 300, "compact=%d: %llu keys after reopen", compact, U(sh.keys));
        uint8_t got[sizeof val];
        size_t glen = 0;
        CHECK_OK(bc_get_into(db, B("hint-key-0299"), 13, got, sizeof got, &glen));
        CHECK(glen == sizeof val && memcmp(got, val, sizeof val) == 0, "hint-key-0299 wrong");
        CHECK_OK(bc_close(db));
    }
    /* 300 keys of 13 bytes: at least 27 bytes each with keys; 38 bytes + 8 per chunk compact. */
    CHECK(hint_bytes[0] >= 300 * 27 && hint_bytes[1] < 200,
          "hint bytes: %llu with keys, %llu compact", U(hint_bytes[0]), U(hint_bytes[1]));

    printf("test_stats: ok\n");
    return 0;
}
