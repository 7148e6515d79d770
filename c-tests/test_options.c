/*
 * test_options.c - every bc_options setter with valid, boundary and invalid values, and proof
 * that each setting takes effect in the stores opened with it.
 */
#include "check.h"

static bc_options *new_options(void)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new() returned NULL");
    return o;
}

/* ---- setters: ranges and NULL handles ------------------------------------------------------- */

static void test_setter_ranges(void)
{
    bc_options_free(NULL); /* a harmless no-op */
    bc_options *o = new_options();

    /* max_file_size: 256 ..= 4294967295 */
    CHECK_RC(bc_options_set_max_file_size(NULL, 1024), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_max_file_size: ");
    CHECK_RC(bc_options_set_max_file_size(o, 0), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_max_file_size: ");
    CHECK_RC(bc_options_set_max_file_size(o, 255), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_file_size(o, 4294967296ULL), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_file_size(o, UINT64_MAX), BC_E_INVALID);
    CHECK_OK(bc_options_set_max_file_size(o, 256));
    CHECK_OK(bc_options_set_max_file_size(o, 4294967295ULL));
    CHECK_OK(bc_options_set_max_file_size(o, 256ULL << 20));

    /* sync: three modes; an interval >= 1 only matters (and is only checked) for INTERVAL */
    CHECK_RC(bc_options_set_sync(NULL, BC_SYNC_NONE, 0), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_sync: ");
    CHECK_RC(bc_options_set_sync(o, 3, 10), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_sync: ");
    CHECK_RC(bc_options_set_sync(o, -1, 10), BC_E_INVALID);
    CHECK_RC(bc_options_set_sync(o, INT_MAX, 10), BC_E_INVALID);
    CHECK_RC(bc_options_set_sync(o, BC_SYNC_INTERVAL, 0), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_sync: ");
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_INTERVAL, 1));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_INTERVAL, UINT32_MAX));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_NONE, 0));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_ALWAYS, 0));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_ALWAYS, 123));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_NONE, 0));

    /* expected_keys: 0 ..= 4294967296 */
    CHECK_RC(bc_options_set_expected_keys(NULL, 10), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_expected_keys: ");
    CHECK_RC(bc_options_set_expected_keys(o, 4294967297ULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_expected_keys: ");
    CHECK_RC(bc_options_set_expected_keys(o, UINT64_MAX), BC_E_INVALID);
    CHECK_OK(bc_options_set_expected_keys(o, 4294967296ULL));
    CHECK_OK(bc_options_set_expected_keys(o, 0));

    /* booleans: any int */
    CHECK_RC(bc_options_set_read_only(NULL, 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_read_only: ");
    CHECK_OK(bc_options_set_read_only(o, 42));
    CHECK_OK(bc_options_set_read_only(o, -1));
    CHECK_OK(bc_options_set_read_only(o, 0));
    CHECK_RC(bc_options_set_create_if_missing(NULL, 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_create_if_missing: ");
    CHECK_OK(bc_options_set_create_if_missing(o, 0));
    CHECK_OK(bc_options_set_create_if_missing(o, 7));

    /* max_key_size: 1 ..= 1048576 */
    CHECK_RC(bc_options_set_max_key_size(NULL, 16), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_max_key_size: ");
    CHECK_RC(bc_options_set_max_key_size(o, 0), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_key_size(o, 1048577), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_key_size(o, UINT32_MAX), BC_E_INVALID);
    CHECK_OK(bc_options_set_max_key_size(o, 1));
    CHECK_OK(bc_options_set_max_key_size(o, 1048576));

    /* max_value_size: 0 ..= 3 GiB */
    CHECK_RC(bc_options_set_max_value_size(NULL, 16), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_max_value_size: ");
    CHECK_RC(bc_options_set_max_value_size(o, 3221225473ULL), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_value_size(o, UINT64_MAX), BC_E_INVALID);
    CHECK_OK(bc_options_set_max_value_size(o, 0));
    CHECK_OK(bc_options_set_max_value_size(o, 3221225472ULL));

    /* max_open_files: 1 ..= 1048576 */
    CHECK_RC(bc_options_set_max_open_files(NULL, 8), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_max_open_files: ");
    CHECK_RC(bc_options_set_max_open_files(o, 0), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_open_files(o, 1048577), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_open_files(o, UINT32_MAX), BC_E_INVALID);
    CHECK_OK(bc_options_set_max_open_files(o, 1));
    CHECK_OK(bc_options_set_max_open_files(o, 1048576));

    bc_options_free(o);
}

/* ---- settings take effect ------------------------------------------------------------------- */

static void test_key_and_value_limits(const char *root)
{
    bc_options *o = new_options();
    CHECK_OK(bc_options_set_max_key_size(o, 4));
    CHECK_OK(bc_options_set_max_value_size(o, 8));
    /* A rejected value leaves the earlier setting in place. */
    CHECK_RC(bc_options_set_max_key_size(o, 0), BC_E_INVALID);
    CHECK_RC(bc_options_set_max_value_size(o, UINT64_MAX), BC_E_INVALID);

    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "limits"), o, &db));
    /* The handle copied the options: changing or freeing them now has no effect on it. */
    CHECK_OK(bc_options_set_max_key_size(o, 100));
    bc_options_free(o);

    CHECK_OK(bc_put(db, B("abcd"), 4, B("12345678"), 8));
    CHECK_VALUE(db, "abcd", 4, "12345678", 8);
    CHECK_RC(bc_put(db, B("abcde"), 5, B("v"), 1), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_put: ");
    CHECK_RC(bc_put(db, B("abcd"), 4, B("123456789"), 9), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_put: ");
    CHECK_VALUE(db, "abcd", 4, "12345678", 8); /* the refused put changed nothing */
    uint8_t *v;
    size_t vlen;
    CHECK_RC(bc_get(db, B("abcde"), 5, &v, &vlen), BC_E_TOO_LARGE);
    CHECK_RC(bc_get_into(db, B("abcde"), 5, NULL, 0, &vlen), BC_E_TOO_LARGE);
    CHECK_RC(bc_contains(db, B("abcde"), 5), BC_E_TOO_LARGE);
    CHECK_RC(bc_delete(db, B("abcde"), 5), BC_E_TOO_LARGE);
    CHECK_OK(bc_close(db));

    /* max_value_size 0: only empty values. */
    o = new_options();
    CHECK_OK(bc_options_set_max_value_size(o, 0));
    CHECK_OK(bc_open(path_in(root, "limits0"), o, &db));
    bc_options_free(o);
    CHECK_OK(bc_put(db, B("k"), 1, NULL, 0));
    CHECK_VALUE(db, "k", 1, "", 0);
    CHECK_RC(bc_put(db, B("k"), 1, B("x"), 1), BC_E_TOO_LARGE);
    CHECK_OK(bc_close(db));
}

static void test_max_file_size(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "small-files");
    bc_options *o = new_options();
    CHECK_OK(bc_options_set_max_file_size(o, 256));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);

    /* 40 records of ~115 bytes, at most two per 256-byte file: at least 20 files. */
    char key[16];
    uint8_t val[100];
    for (int i = 0; i < 40; i++) {
        int klen = snprintf(key, sizeof key, "key-%02d", i);
        memset(val, 'a' + i % 26, sizeof val);
        CHECK_OK(bc_put(db, B(key), (size_t)klen, val, sizeof val));
    }
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.data_files >= 20, "40 puts of ~115 bytes with max_file_size 256 made only %" PRIu64
          " data files", st.data_files);
    uint64_t on_disk = 0;
    uint64_t files = count_data_files(dir, &on_disk);
    CHECK(files == st.data_files, "bc_stats says %" PRIu64 " data files, the directory has %" PRIu64,
          st.data_files, files);

    /* A record bigger than max_file_size is still accepted. */
    uint8_t big[1000];
    memset(big, 'Z', sizeof big);
    CHECK_OK(bc_put(db, B("big"), 3, big, sizeof big));
    CHECK_VALUE(db, "big", 3, big, sizeof big);
    for (int i = 0; i < 40; i++) {
        int klen = snprintf(key, sizeof key, "key-%02d", i);
        memset(val, 'a' + i % 26, sizeof val);
        CHECK_VALUE(db, key, (size_t)klen, val, sizeof val);
    }
    CHECK_OK(bc_close(db));

    /* max_open_files 1: reads that alternate between files still work. */
    o = new_options();
    CHECK_OK(bc_options_set_max_open_files(o, 1));
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i += 7) {
            int klen = snprintf(key, sizeof key, "key-%02d", i);
            memset(val, 'a' + i % 26, sizeof val);
            CHECK_VALUE(db, key, (size_t)klen, val, sizeof val);
        }
    CHECK_VALUE(db, "big", 3, big, sizeof big);
    CHECK_OK(bc_close(db));
}

/* Sizes and modification times of every file in `dir`, to prove a read-only handle wrote
 * nothing. */
static void snapshot_dir(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    size_t used = 0;
    out[0] = '\0';
    struct dirent *e;
    /* readdir order is stable for an unchanged directory, which is all we compare. */
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char path[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        join_path(path, dir, e->d_name);
        CHECK(stat(path, &st) == 0, "stat %s", path);
        int n = snprintf(out + used, cap - used, "%s:%lld:%lld.%09ld;", e->d_name,
                         (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        CHECK(n > 0 && (size_t)n < cap - used, "snapshot buffer too small");
        used += (size_t)n;
    }
    closedir(d);
}

static void test_read_only(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "ro");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_OK(bc_put(db, B("k1"), 2, B("v1"), 2));
    CHECK_OK(bc_put(db, B("k2"), 2, B("v2"), 2));
    CHECK_OK(bc_close(db));

    char before[4096], after[4096];
    snapshot_dir(dir, before, sizeof before);

    bc_options *o = new_options();
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_OK(bc_open(dir, o, &db));
    CHECK_VALUE(db, "k1", 2, "v1", 2);
    CHECK_OK(bc_contains(db, B("k2"), 2));
    CHECK_RC(bc_put(db, B("k3"), 2, B("v3"), 2), BC_E_READ_ONLY);
    CHECK_ERR_MSG("bc_put: ");
    CHECK_RC(bc_put(db, B("k1"), 2, B("new"), 3), BC_E_READ_ONLY);
    CHECK_RC(bc_delete(db, B("k1"), 2), BC_E_READ_ONLY);
    CHECK_ERR_MSG("bc_delete: ");
    CHECK_OK(bc_sync(db)); /* a no-op on a read-only handle */
    CHECK_VALUE(db, "k1", 2, "v1", 2);
    CHECK_ABSENT(db, "k3", 2);
    CHECK_OK(bc_close(db));
    bc_options_free(o);

    snapshot_dir(dir, after, sizeof after);
    CHECK(strcmp(before, after) == 0, "a read-only handle changed the store:\n  before %s\n  after  %s",
          before, after);
}

static void test_create_if_missing(const char *root)
{
    bc_options *o = new_options();
    CHECK_OK(bc_options_set_create_if_missing(o, 0));
    char dir[PATH_MAX];
    join_path(dir, root, "not-created");
    bc_db *db = (bc_db *)(void *)o; /* junk, must be overwritten */
    int rc = bc_open(dir, o, &db);
    CHECK(rc < 0, "create_if_missing off on a missing dir returned %d (%s)", rc, bc_status_str(rc));
    CHECK_RC(rc, BC_E_IO); /* the header names BC_E_IO for this case */
    CHECK_ERR_MSG("bc_open: ");
    CHECK(db == NULL, "failed bc_open must set *out = NULL");
    CHECK(!path_exists(dir), "create_if_missing off, yet %s was created", dir);

    /* With it on, only the last component is created: a missing parent is an error. */
    CHECK_OK(bc_options_set_create_if_missing(o, 1));
    const char *deep = path_in(root, "no-parent/store");
    rc = bc_open(deep, o, &db);
    CHECK(rc < 0, "opening %s with a missing parent returned %d", deep, rc);
    CHECK(!path_exists(path_in(root, "no-parent")), "bc_open created the missing parent");

    /* And the ordinary case: created, and usable. */
    CHECK_OK(bc_open(dir, o, &db));
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "create_if_missing on did not create %s",
          dir);
    CHECK_OK(bc_close(db));

    /* With it off, an existing store opens fine. */
    CHECK_OK(bc_options_set_create_if_missing(o, 0));
    CHECK_OK(bc_open(dir, o, &db));
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

static void test_sync_modes(const char *root)
{
    const struct {
        const char *name;
        int mode;
        uint32_t interval;
    } modes[] = {{"sync-none", BC_SYNC_NONE, 0},
                 {"sync-always", BC_SYNC_ALWAYS, 0},
                 {"sync-interval", BC_SYNC_INTERVAL, 5}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char dir[PATH_MAX];
        join_path(dir, root, modes[m].name);
        bc_options *o = new_options();
        CHECK_OK(bc_options_set_sync(o, modes[m].mode, modes[m].interval));
        bc_db *db = NULL;
        CHECK_OK(bc_open(dir, o, &db));
        char key[16];
        for (int i = 0; i < 50; i++) {
            int klen = snprintf(key, sizeof key, "k-%d", i);
            CHECK_OK(bc_put(db, B(key), (size_t)klen, B(modes[m].name), strlen(modes[m].name)));
        }
        CHECK_OK(bc_delete(db, B("k-0"), 3));
        if (modes[m].mode == BC_SYNC_INTERVAL) {
            /* Give the background syncer a few rounds while the handle is open. */
            struct timespec ts = {0, 30 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        CHECK_OK(bc_sync(db));
        CHECK_OK(bc_close(db));

        CHECK_OK(bc_open(dir, o, &db));
        bc_options_free(o);
        CHECK_ABSENT(db, "k-0", 3);
        for (int i = 1; i < 50; i++) {
            int klen = snprintf(key, sizeof key, "k-%d", i);
            CHECK_VALUE(db, key, (size_t)klen, modes[m].name, strlen(modes[m].name));
        }
        CHECK_OK(bc_close(db));
    }
}

/* A store opened expecting more keys than it gets, and one expecting fewer than it already holds,
 * both keep every key (the sizing itself is checked in the Rust tests: no rehash during a fill). */
static void test_expected_keys(const char *root)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/expected", root);
    bc_options *o = new_options();
    CHECK_OK(bc_options_set_expected_keys(o, 100000));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        CHECK_OK(bc_put(db, (const uint8_t *)key, (size_t)n, (const uint8_t *)key, (size_t)n));
    }
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_options_set_expected_keys(o, 10));
    CHECK_OK(bc_open(dir, o, &db));
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        uint8_t *val = NULL;
        size_t vlen = 0;
        CHECK_OK(bc_get(db, (const uint8_t *)key, (size_t)n, &val, &vlen));
        CHECK(val != NULL && vlen == (size_t)n && memcmp(val, key, vlen) == 0, "value of %s", key);
        bc_free(val);
    }
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

int main(void)
{
    const char *root = test_tmpdir("options");
    test_setter_ranges();
    test_key_and_value_limits(root);
    test_max_file_size(root);
    test_read_only(root);
    test_create_if_missing(root);
    test_sync_modes(root);
    test_expected_keys(root);
    printf("test_options: ok\n");
    return 0;
}
