/*
 * test_bad_input.c - every exported function of bitcask.h with bad input: NULL for each pointer
 * argument in turn, zero, just-over-the-limit and absurd (SIZE_MAX) lengths, absurd option
 * values, an options object freed and replaced by a new one at the same variable, and the
 * NULL-safe destructor patterns the header allows. Each call must return the status the header
 * documents and, for an error, leave a fresh "<function>: <detail>" message in bc_last_error().
 *
 * Huge lengths are passed with pointers to small buffers on purpose: the library must refuse
 * them by length before touching a byte (the sanitizer and valgrind runs of this program would
 * report a read).
 */
#include "check.h"

static uint8_t small[16] = "0123456789abcdef";

/* Leaves a known message from a different function in bc_last_error(), so the check after the
 * next call proves that call set its own message rather than leaving an older one. */
static void reset_last_error(const char *fn)
{
    if (strcmp(fn, "bc_options_set_expiry_secs") != 0)
        CHECK_RC(bc_options_set_expiry_secs(NULL, 1), BC_E_INVALID);
    else
        CHECK_RC(bc_options_set_auto_merge(NULL, 1), BC_E_INVALID);
}

/* EXPECT_ERR(call, status, "bc_fn"): the call returns `status` (negative) and sets a message
 * that starts with "bc_fn: " and says something. */
#define EXPECT_ERR(call, want, fn)                                                                \
    do {                                                                                          \
        reset_last_error(fn);                                                                     \
        CHECK_RC(call, want);                                                                     \
        CHECK_ERR_MSG(fn ": ");                                                                   \
    } while (0)

static int fold_count(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(int *)ctx;
    return 0;
}

static int key_count(void *ctx, const uint8_t *k, size_t kl)
{
    (void)k, (void)kl;
    ++*(int *)ctx;
    return 0;
}

static void test_static_calls(void)
{
    CHECK(bc_version() != NULL && strcmp(bc_version(), BC_VERSION_STRING) == 0, "bc_version");
    const int codes[] = {INT_MIN, -1000, BC_E_PANIC - 1, BC_E_PANIC, BC_E_BUFFER, BC_E_TOO_LARGE,
                         BC_E_READ_ONLY, BC_E_LOCKED, BC_E_CORRUPT, BC_E_IO, BC_E_INVALID, BC_OK,
                         BC_NOT_FOUND, BC_STOPPED, BC_STOPPED + 1, INT_MAX};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = bc_status_str(codes[i]);
        CHECK(s != NULL && s[0] != '\0', "bc_status_str(%d) must be non-empty text", codes[i]);
    }
    CHECK(strcmp(bc_status_str(INT_MIN), "unknown status") == 0, "unknown code text");
    CHECK(bc_last_error() != NULL, "bc_last_error never returns NULL");
    /* The NULL-safe destructors, twice each (the header allows NULL any number of times). */
    for (int i = 0; i < 2; i++) {
        bc_free(NULL);
        bc_batch_free(NULL);
        bc_batch_clear(NULL);
        bc_iter_free(NULL);
        bc_options_free(NULL);
        CHECK_OK(bc_close(NULL));
    }
}

static void test_options(const char *root)
{
    /* Every setter with a NULL object. */
    EXPECT_ERR(bc_options_set_max_file_size(NULL, 1 << 20), BC_E_INVALID,
               "bc_options_set_max_file_size");
    EXPECT_ERR(bc_options_set_sync(NULL, BC_SYNC_NONE, 0), BC_E_INVALID, "bc_options_set_sync");
    EXPECT_ERR(bc_options_set_read_only(NULL, 0), BC_E_INVALID, "bc_options_set_read_only");
    EXPECT_ERR(bc_options_set_create_if_missing(NULL, 1), BC_E_INVALID,
               "bc_options_set_create_if_missing");
    EXPECT_ERR(bc_options_set_max_key_size(NULL, 8), BC_E_INVALID, "bc_options_set_max_key_size");
    EXPECT_ERR(bc_options_set_max_value_size(NULL, 8), BC_E_INVALID,
               "bc_options_set_max_value_size");
    EXPECT_ERR(bc_options_set_max_open_files(NULL, 8), BC_E_INVALID,
               "bc_options_set_max_open_files");
    EXPECT_ERR(bc_options_set_merge_trigger(NULL, 50, 0), BC_E_INVALID,
               "bc_options_set_merge_trigger");
    EXPECT_ERR(bc_options_set_auto_merge(NULL, 1), BC_E_INVALID, "bc_options_set_auto_merge");
    EXPECT_ERR(bc_options_set_expiry_secs(NULL, 1), BC_E_INVALID, "bc_options_set_expiry_secs");
    EXPECT_ERR(bc_options_set_mmap_writes(NULL, 1), BC_E_INVALID, "bc_options_set_mmap_writes");
    EXPECT_ERR(bc_options_set_compact_hints(NULL, 1), BC_E_INVALID, "bc_options_set_compact_hints");
    EXPECT_ERR(bc_options_set_expected_keys(NULL, 1), BC_E_INVALID, "bc_options_set_expected_keys");

    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    /* Out-of-range values, including negative numbers converted to unsigned. */
    const uint64_t bad_file_sizes[] = {0, 1, 255, (uint64_t)4294967295u + 1, UINT64_MAX,
                                       (uint64_t)-256};
    for (size_t i = 0; i < sizeof bad_file_sizes / sizeof bad_file_sizes[0]; i++)
        EXPECT_ERR(bc_options_set_max_file_size(o, bad_file_sizes[i]), BC_E_INVALID,
                   "bc_options_set_max_file_size");
    const int bad_modes[] = {-1, 3, 100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++)
        EXPECT_ERR(bc_options_set_sync(o, bad_modes[i], 10), BC_E_INVALID, "bc_options_set_sync");
    EXPECT_ERR(bc_options_set_sync(o, BC_SYNC_INTERVAL, 0), BC_E_INVALID, "bc_options_set_sync");
    const uint32_t bad_key_sizes[] = {0, 1048577, UINT32_MAX, (uint32_t)-1};
    for (size_t i = 0; i < sizeof bad_key_sizes / sizeof bad_key_sizes[0]; i++)
        EXPECT_ERR(bc_options_set_max_key_size(o, bad_key_sizes[i]), BC_E_INVALID,
                   "bc_options_set_max_key_size");
    EXPECT_ERR(bc_options_set_max_value_size(o, 3221225473u), BC_E_INVALID,
               "bc_options_set_max_value_size");
    EXPECT_ERR(bc_options_set_max_value_size(o, UINT64_MAX), BC_E_INVALID,
               "bc_options_set_max_value_size");
    const uint32_t bad_files[] = {0, 1048577, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++)
        EXPECT_ERR(bc_options_set_max_open_files(o, bad_files[i]), BC_E_INVALID,
                   "bc_options_set_max_open_files");
    EXPECT_ERR(bc_options_set_merge_trigger(o, 101, 0), BC_E_INVALID,
               "bc_options_set_merge_trigger");
    EXPECT_ERR(bc_options_set_merge_trigger(o, UINT32_MAX, UINT64_MAX), BC_E_INVALID,
               "bc_options_set_merge_trigger");

    /* The edges that are valid, and booleans given as any non-zero int. */
    CHECK_OK(bc_options_set_max_file_size(o, 256));
    CHECK_OK(bc_options_set_max_file_size(o, 4294967295u));
    CHECK_OK(bc_options_set_max_value_size(o, 0));
    CHECK_OK(bc_options_set_max_value_size(o, 3221225472u));
    CHECK_OK(bc_options_set_max_key_size(o, 1));
    CHECK_OK(bc_options_set_max_key_size(o, 1048576));
    CHECK_OK(bc_options_set_max_open_files(o, 1));
    CHECK_OK(bc_options_set_merge_trigger(o, 0, 0));
    CHECK_OK(bc_options_set_merge_trigger(o, 100, UINT64_MAX));
    CHECK_OK(bc_options_set_expiry_secs(o, UINT32_MAX));
    CHECK_OK(bc_options_set_expiry_secs(o, 0));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_INTERVAL, UINT32_MAX));
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_NONE, 0));
    CHECK_OK(bc_options_set_auto_merge(o, INT_MIN));
    CHECK_OK(bc_options_set_auto_merge(o, 0));
    CHECK_OK(bc_options_set_create_if_missing(o, -1));

    /* A refused value leaves the previous one: max_key_size 4 stays after refused 0 and 2^20+1. */
    CHECK_OK(bc_options_set_max_key_size(o, 4));
    EXPECT_ERR(bc_options_set_max_key_size(o, 0), BC_E_INVALID, "bc_options_set_max_key_size");
    EXPECT_ERR(bc_options_set_max_key_size(o, 1048577), BC_E_INVALID,
               "bc_options_set_max_key_size");
    /* read_only with -1 (non-zero = on). */
    CHECK_OK(bc_options_set_read_only(o, -1));
    char dir[PATH_MAX];
    join_path(dir, root, "opts");
    bc_db *db = NULL;
    /* A read-only open of a missing store fails; create it read-write first. */
    CHECK_OK(bc_options_set_read_only(o, 0));
    CHECK_OK(bc_open(dir, o, &db));
    EXPECT_ERR(bc_put(db, B("12345"), 5, B("v"), 1), BC_E_TOO_LARGE, "bc_put");
    CHECK_OK(bc_put(db, B("1234"), 4, B("v"), 1));
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_options_set_read_only(o, -1));
    CHECK_OK(bc_open(dir, o, &db));
    EXPECT_ERR(bc_put(db, B("k"), 1, B("v"), 1), BC_E_READ_ONLY, "bc_put");
    CHECK_OK(bc_close(db));

    /* Freed, then replaced by a new object at the same variable (allocators reuse the block):
     * the new one has every default, nothing of the old settings. */
    bc_options_free(o);
    o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_open(dir, o, &db));
    CHECK_OK(bc_put(db, B("123456789"), 9, B("v"), 1)); /* writable, key limit back to 64 KiB */
    CHECK_VALUE(db, "1234", 4, "v", 1);
    CHECK_OK(bc_close(db));
    bc_options_free(o);

    /* Options freed after a successful open do not affect the open store. */
    o = bc_options_new();
    CHECK_OK(bc_options_set_max_key_size(o, 2));
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    o = bc_options_new();
    CHECK_OK(bc_options_set_max_key_size(o, 1048576));
    EXPECT_ERR(bc_put(db, B("abc"), 3, B("v"), 1), BC_E_TOO_LARGE, "bc_put");
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

static void test_open_close(const char *root)
{
    bc_db *db = (bc_db *)(void *)small;
    EXPECT_ERR(bc_open(NULL, NULL, &db), BC_E_INVALID, "bc_open");
    CHECK(db == NULL, "*out cleared");
    EXPECT_ERR(bc_open(path_in(root, "x"), NULL, NULL), BC_E_INVALID, "bc_open");
    EXPECT_ERR(bc_open(NULL, NULL, NULL), BC_E_INVALID, "bc_open");
    EXPECT_ERR(bc_open("", NULL, &db), BC_E_INVALID, "bc_open");
    /* A path that is a regular file. */
    char file[PATH_MAX];
    join_path(file, root, "plain-file");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL, "fopen");
    fclose(f);
    EXPECT_ERR(bc_open(file, NULL, &db), BC_E_INVALID, "bc_open");
    CHECK(db == NULL, "*out cleared");
    /* A path far longer than PATH_MAX. */
    size_t n = 3 * PATH_MAX;
    char *longpath = malloc(n + 1);
    CHECK(longpath != NULL, "malloc");
    memset(longpath, 'a', n);
    longpath[0] = '/';
    longpath[n] = '\0';
    reset_last_error("bc_open");
    int rc = bc_open(longpath, NULL, &db);
    CHECK(rc == BC_E_IO || rc == BC_E_INVALID, "bc_open of an overlong path: %d", rc);
    CHECK_ERR_MSG("bc_open: ");
    CHECK(db == NULL, "*out cleared");
    free(longpath);

    /* Open, close, reopen the same directory many times: the lock is released each time. */
    for (int i = 0; i < 5; i++) {
        CHECK_OK(bc_open(path_in(root, "reopen"), NULL, &db));
        CHECK_OK(bc_close(db));
    }
}

/* Every call that takes (db, key, klen) with a bad key, on a store with max_key_size 8 and
 * max_value_size 16 so that "just over the limit" is cheap. */
static void test_keys_and_values(bc_db *db)
{
    uint8_t *val = NULL;
    size_t vlen = 0;
    uint8_t buf[32];
    uint8_t over_key[9] = "123456789";
    uint8_t over_val[17] = {0};

    /* NULL handle. */
    EXPECT_ERR(bc_put(NULL, B("k"), 1, B("v"), 1), BC_E_INVALID, "bc_put");
    EXPECT_ERR(bc_put_ttl(NULL, B("k"), 1, B("v"), 1, 10), BC_E_INVALID, "bc_put_ttl");
    EXPECT_ERR(bc_get(NULL, B("k"), 1, &val, &vlen), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get_into(NULL, B("k"), 1, buf, sizeof buf, &vlen), BC_E_INVALID, "bc_get_into");
    EXPECT_ERR(bc_delete(NULL, B("k"), 1), BC_E_INVALID, "bc_delete");
    EXPECT_ERR(bc_contains(NULL, B("k"), 1), BC_E_INVALID, "bc_contains");

    /* NULL key with a non-zero length; the empty key (NULL, 0) and (ptr, 0). */
    EXPECT_ERR(bc_put(db, NULL, 1, B("v"), 1), BC_E_INVALID, "bc_put");
    EXPECT_ERR(bc_put(db, NULL, 0, B("v"), 1), BC_E_INVALID, "bc_put");
    EXPECT_ERR(bc_put(db, B("k"), 0, B("v"), 1), BC_E_INVALID, "bc_put");
    EXPECT_ERR(bc_put_ttl(db, NULL, 1, B("v"), 1, 10), BC_E_INVALID, "bc_put_ttl");
    EXPECT_ERR(bc_put_ttl(db, B("k"), 0, B("v"), 1, 10), BC_E_INVALID, "bc_put_ttl");
    EXPECT_ERR(bc_get(db, NULL, 1, &val, &vlen), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get(db, B("k"), 0, &val, &vlen), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get_into(db, NULL, 1, buf, sizeof buf, &vlen), BC_E_INVALID, "bc_get_into");
    EXPECT_ERR(bc_get_into(db, NULL, 0, buf, sizeof buf, &vlen), BC_E_INVALID, "bc_get_into");
    EXPECT_ERR(bc_delete(db, NULL, 1), BC_E_INVALID, "bc_delete");
    EXPECT_ERR(bc_delete(db, B("k"), 0), BC_E_INVALID, "bc_delete");
    EXPECT_ERR(bc_contains(db, NULL, 1), BC_E_INVALID, "bc_contains");
    EXPECT_ERR(bc_contains(db, NULL, 0), BC_E_INVALID, "bc_contains");

    /* NULL value with a non-zero length; (NULL, 0) is the empty value and is stored. */
    EXPECT_ERR(bc_put(db, B("k"), 1, NULL, 1), BC_E_INVALID, "bc_put");
    EXPECT_ERR(bc_put_ttl(db, B("k"), 1, NULL, 1, 10), BC_E_INVALID, "bc_put_ttl");
    CHECK_ABSENT(db, "k", 1);
    CHECK_OK(bc_put(db, B("k"), 1, NULL, 0));
    CHECK_VALUE(db, "k", 1, "", 0);

    /* NULL out-parameters. */
    EXPECT_ERR(bc_get(db, B("k"), 1, NULL, &vlen), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get(db, B("k"), 1, &val, NULL), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get(db, B("k"), 1, NULL, NULL), BC_E_INVALID, "bc_get");
    EXPECT_ERR(bc_get_into(db, B("k"), 1, buf, sizeof buf, NULL), BC_E_INVALID, "bc_get_into");
    EXPECT_ERR(bc_get_into(db, B("k"), 1, NULL, 1, &vlen), BC_E_INVALID, "bc_get_into");
    EXPECT_ERR(bc_get_into(db, B("k"), 1, NULL, SIZE_MAX, &vlen), BC_E_INVALID, "bc_get_into");
    /* (NULL, 0) asks for the size: the empty value fits, a longer one is BC_E_BUFFER. */
    CHECK_OK(bc_get_into(db, B("k"), 1, NULL, 0, &vlen));
    CHECK(vlen == 0, "empty value length %zu", vlen);
    CHECK_OK(bc_put(db, B("k"), 1, B("value"), 5));
    EXPECT_ERR(bc_get_into(db, B("k"), 1, NULL, 0, &vlen), BC_E_BUFFER, "bc_get_into");
    CHECK(vlen == 5, "bc_get_into must report the size needed, got %zu", vlen);
    /* A huge capacity with a real buffer only says how much room there is; nothing past the
     * value is written. */
    buf[5] = 0xEE;
    CHECK_OK(bc_get_into(db, B("k"), 1, buf, SIZE_MAX, &vlen));
    CHECK(vlen == 5 && memcmp(buf, "value", 5) == 0 && buf[5] == 0xEE, "bc_get_into huge cap");

    /* Keys just over the store's limit, and absurd lengths with a short buffer. */
    const size_t huge[] = {9, 1048577, (size_t)1 << 40, SIZE_MAX / 2 + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        const uint8_t *k = huge[i] == 9 ? over_key : small;
        EXPECT_ERR(bc_put(db, k, huge[i], B("v"), 1), BC_E_TOO_LARGE, "bc_put");
        EXPECT_ERR(bc_put_ttl(db, k, huge[i], B("v"), 1, 10), BC_E_TOO_LARGE, "bc_put_ttl");
        val = small;
        vlen = 7;
        EXPECT_ERR(bc_get(db, k, huge[i], &val, &vlen), BC_E_TOO_LARGE, "bc_get");
        CHECK(val == NULL && vlen == 0, "bc_get must clear its outputs");
        EXPECT_ERR(bc_get_into(db, k, huge[i], buf, sizeof buf, &vlen), BC_E_TOO_LARGE,
                   "bc_get_into");
        EXPECT_ERR(bc_delete(db, k, huge[i]), BC_E_TOO_LARGE, "bc_delete");
        EXPECT_ERR(bc_contains(db, k, huge[i]), BC_E_TOO_LARGE, "bc_contains");
    }
    /* The limit itself is fine. */
    CHECK_OK(bc_put(db, over_key, 8, B("v"), 1));
    CHECK_VALUE(db, over_key, 8, "v", 1);

    /* Values just over the limit, and absurd lengths. */
    const size_t huge_vals[] = {17, (size_t)3221225472u + 1, (size_t)1 << 40, SIZE_MAX};
    for (size_t i = 0; i < sizeof huge_vals / sizeof huge_vals[0]; i++) {
        const uint8_t *v = huge_vals[i] == 17 ? over_val : small;
        EXPECT_ERR(bc_put(db, B("k"), 1, v, huge_vals[i]), BC_E_TOO_LARGE, "bc_put");
        EXPECT_ERR(bc_put_ttl(db, B("k"), 1, v, huge_vals[i], 10), BC_E_TOO_LARGE, "bc_put_ttl");
        /* NULL with a huge length: either documented status, never a crash. */
        reset_last_error("bc_put");
        int rc = bc_put(db, B("k"), 1, NULL, huge_vals[i]);
        CHECK(rc == BC_E_INVALID || rc == BC_E_TOO_LARGE, "bc_put(NULL, huge): %d", rc);
        CHECK_ERR_MSG("bc_put: ");
    }
    CHECK_OK(bc_put(db, B("k"), 1, over_val, 16));
    CHECK_VALUE(db, "k", 1, over_val, 16);

    /* TTL 0 is refused; the largest TTL is accepted (the key lives until 2106). */
    EXPECT_ERR(bc_put_ttl(db, B("t"), 1, B("v"), 1, 0), BC_E_INVALID, "bc_put_ttl");
    CHECK_ABSENT(db, "t", 1);
    CHECK_OK(bc_put_ttl(db, B("t"), 1, B("v"), 1, UINT32_MAX));
    CHECK_VALUE(db, "t", 1, "v", 1);

    /* Nothing refused above was stored. */
    int n = 0;
    CHECK_OK(bc_fold_keys(db, key_count, &n));
    CHECK(n == 3, "expected the 3 accepted keys, found %d", n);
}

static void test_iteration(bc_db *db)
{
    int n = 0;
    EXPECT_ERR(bc_fold(NULL, fold_count, &n), BC_E_INVALID, "bc_fold");
    EXPECT_ERR(bc_fold(db, NULL, &n), BC_E_INVALID, "bc_fold");
    EXPECT_ERR(bc_fold_keys(NULL, key_count, &n), BC_E_INVALID, "bc_fold_keys");
    EXPECT_ERR(bc_fold_keys(db, NULL, &n), BC_E_INVALID, "bc_fold_keys");
    /* A NULL ctx is the callback's business, not an error. */
    CHECK_OK(bc_fold(db, fold_count, &n));
    CHECK(n == 3, "fold visited %d keys", n);

    EXPECT_ERR(bc_scan(NULL, NULL, 0, NULL, 0, fold_count, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, NULL, 0, NULL, 0, NULL, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, NULL, 1, NULL, 0, fold_count, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, NULL, 0, NULL, 1, fold_count, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, NULL, SIZE_MAX, NULL, 0, fold_count, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, small, SIZE_MAX, NULL, 0, fold_count, &n), BC_E_INVALID, "bc_scan");
    EXPECT_ERR(bc_scan(db, NULL, 0, small, SIZE_MAX, fold_count, &n), BC_E_INVALID, "bc_scan");
    /* Bounds longer than any key are fine: they are compared, not stored. */
    uint8_t *wide = calloc(1, 2 << 20);
    CHECK(wide != NULL, "calloc");
    memset(wide, 0xFF, 2 << 20);
    n = 0;
    CHECK_OK(bc_scan(db, NULL, 0, wide, 2 << 20, fold_count, &n));
    CHECK(n == 3, "scan below an all-0xFF bound visited %d", n);
    n = 0;
    CHECK_OK(bc_scan(db, wide, 2 << 20, NULL, 0, fold_count, &n));
    CHECK(n == 0, "scan above an all-0xFF bound visited %d", n);
    /* start > end is an empty range, not an error. */
    n = 0;
    CHECK_OK(bc_scan(db, B("z"), 1, B("a"), 1, fold_count, &n));
    CHECK(n == 0, "an inverted range visited %d", n);

    EXPECT_ERR(bc_scan_prefix(NULL, NULL, 0, fold_count, &n), BC_E_INVALID, "bc_scan_prefix");
    EXPECT_ERR(bc_scan_prefix(db, NULL, 0, NULL, &n), BC_E_INVALID, "bc_scan_prefix");
    EXPECT_ERR(bc_scan_prefix(db, NULL, 1, fold_count, &n), BC_E_INVALID, "bc_scan_prefix");
    EXPECT_ERR(bc_scan_prefix(db, NULL, SIZE_MAX, fold_count, &n), BC_E_INVALID,
               "bc_scan_prefix");
    EXPECT_ERR(bc_scan_prefix(db, small, SIZE_MAX, fold_count, &n), BC_E_INVALID,
               "bc_scan_prefix");
    n = 0;
    CHECK_OK(bc_scan_prefix(db, wide, 2 << 20, fold_count, &n));
    CHECK(n == 0, "a prefix longer than every key matched %d", n);
    free(wide);

    bc_iter *it = (bc_iter *)(void *)small;
    EXPECT_ERR(bc_iter_new(NULL, &it), BC_E_INVALID, "bc_iter_new");
    CHECK(it == NULL, "bc_iter_new must clear *out on failure");
    EXPECT_ERR(bc_iter_new(db, NULL), BC_E_INVALID, "bc_iter_new");
    CHECK_OK(bc_iter_new(db, &it));
    const uint8_t *k = small, *v = small;
    size_t kl = 7, vl = 7;
    EXPECT_ERR(bc_iter_next(NULL, &k, &kl, &v, &vl), BC_E_INVALID, "bc_iter_next");
    CHECK(k == NULL && kl == 0 && v == NULL && vl == 0, "bc_iter_next must clear outputs");
    EXPECT_ERR(bc_iter_next(it, NULL, &kl, &v, &vl), BC_E_INVALID, "bc_iter_next");
    EXPECT_ERR(bc_iter_next(it, &k, NULL, &v, &vl), BC_E_INVALID, "bc_iter_next");
    EXPECT_ERR(bc_iter_next(it, &k, &kl, NULL, &vl), BC_E_INVALID, "bc_iter_next");
    EXPECT_ERR(bc_iter_next(it, &k, &kl, &v, NULL), BC_E_INVALID, "bc_iter_next");
    /* The failed calls did not advance it: all 3 entries are still there. */
    n = 0;
    while (bc_iter_next(it, &k, &kl, &v, &vl) == BC_OK)
        n++;
    CHECK(n == 3, "iterator yielded %d entries after the bad calls", n);
    CHECK_RC(bc_iter_next(it, &k, &kl, &v, &vl), BC_NOT_FOUND);
    CHECK_RC(bc_iter_next(it, &k, &kl, &v, &vl), BC_NOT_FOUND);
    bc_iter_free(it);
}

static void test_batches_and_admin(bc_db *db, const char *root)
{
    CHECK_ABSENT(db, "b1", 2);
    EXPECT_ERR(bc_batch_put(NULL, B("k"), 1, B("v"), 1), BC_E_INVALID, "bc_batch_put");
    EXPECT_ERR(bc_batch_delete(NULL, B("k"), 1), BC_E_INVALID, "bc_batch_delete");
    EXPECT_ERR(bc_write(NULL, NULL), BC_E_INVALID, "bc_write");
    EXPECT_ERR(bc_write(db, NULL), BC_E_INVALID, "bc_write");

    bc_batch *b = bc_batch_new();
    CHECK(b != NULL, "bc_batch_new");
    EXPECT_ERR(bc_write(NULL, b), BC_E_INVALID, "bc_write");
    EXPECT_ERR(bc_batch_put(b, NULL, 1, B("v"), 1), BC_E_INVALID, "bc_batch_put");
    EXPECT_ERR(bc_batch_put(b, NULL, 0, B("v"), 1), BC_E_INVALID, "bc_batch_put");
    EXPECT_ERR(bc_batch_put(b, B("k"), 1, NULL, 1), BC_E_INVALID, "bc_batch_put");
    EXPECT_ERR(bc_batch_delete(b, NULL, 1), BC_E_INVALID, "bc_batch_delete");
    EXPECT_ERR(bc_batch_delete(b, B("k"), 0), BC_E_INVALID, "bc_batch_delete");
    /* The format's limits (1 MiB keys, 3 GiB values) apply when adding. */
    uint8_t *mib = calloc(1, (1 << 20) + 1);
    CHECK(mib != NULL, "calloc");
    EXPECT_ERR(bc_batch_put(b, mib, (1 << 20) + 1, B("v"), 1), BC_E_TOO_LARGE, "bc_batch_put");
    EXPECT_ERR(bc_batch_delete(b, mib, (1 << 20) + 1), BC_E_TOO_LARGE, "bc_batch_delete");
    EXPECT_ERR(bc_batch_put(b, small, SIZE_MAX, B("v"), 1), BC_E_TOO_LARGE, "bc_batch_put");
    EXPECT_ERR(bc_batch_delete(b, small, SIZE_MAX), BC_E_TOO_LARGE, "bc_batch_delete");
    EXPECT_ERR(bc_batch_put(b, B("k"), 1, small, (size_t)3221225472u + 1), BC_E_TOO_LARGE,
               "bc_batch_put");
    EXPECT_ERR(bc_batch_put(b, B("k"), 1, small, SIZE_MAX), BC_E_TOO_LARGE, "bc_batch_put");
    /* Refused additions left the batch empty: writing it is a no-op. */
    CHECK_OK(bc_write(db, b));

    /* Within the format's limits but over the store's (8-byte keys, 16-byte values): the batch
     * is refused whole at bc_write and nothing of it is applied. */
    CHECK_OK(bc_batch_put(b, B("b1"), 2, B("v"), 1));
    CHECK_OK(bc_batch_put(b, mib, 9, B("v"), 1));
    EXPECT_ERR(bc_write(db, b), BC_E_TOO_LARGE, "bc_write");
    CHECK_ABSENT(db, "b1", 2);
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("b1"), 2, B("v"), 1));
    CHECK_OK(bc_batch_put(b, B("b2"), 2, mib, 17));
    EXPECT_ERR(bc_write(db, b), BC_E_TOO_LARGE, "bc_write");
    CHECK_ABSENT(db, "b1", 2);
    bc_batch_clear(b);
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("b1"), 2, NULL, 0));
    CHECK_OK(bc_write(db, b));
    CHECK_VALUE(db, "b1", 2, "", 0);
    CHECK_OK(bc_batch_delete(b, B("b1"), 2));
    CHECK_OK(bc_write(db, b));
    CHECK_ABSENT(db, "b1", 2);
    bc_batch_free(b);
    free(mib);

    bc_stats st;
    memset(&st, 0xAB, sizeof st);
    EXPECT_ERR(bc_stats_get(NULL, &st), BC_E_INVALID, "bc_stats_get");
    CHECK(st.keys == 0 && st.data_files == 0 && st.syncs == 0, "stats zeroed on failure");
    EXPECT_ERR(bc_stats_get(db, NULL), BC_E_INVALID, "bc_stats_get");
    EXPECT_ERR(bc_stats_get(NULL, NULL), BC_E_INVALID, "bc_stats_get");
    EXPECT_ERR(bc_sync(NULL), BC_E_INVALID, "bc_sync");
    EXPECT_ERR(bc_merge(NULL), BC_E_INVALID, "bc_merge");
    CHECK_OK(bc_sync(db));
    CHECK_OK(bc_merge(db));
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.keys == 3, "3 keys after the refused writes, got %" PRIu64, st.keys);

    /* Read-only handles refuse every write with BC_E_READ_ONLY and a message. */
    bc_options *o = bc_options_new();
    CHECK_OK(bc_options_set_read_only(o, 1));
    bc_db *ro = NULL;
    CHECK_OK(bc_open(path_in(root, "bad-input"), o, &ro));
    bc_options_free(o);
    EXPECT_ERR(bc_put(ro, B("k"), 1, B("v"), 1), BC_E_READ_ONLY, "bc_put");
    EXPECT_ERR(bc_put_ttl(ro, B("k"), 1, B("v"), 1, 5), BC_E_READ_ONLY, "bc_put_ttl");
    reset_last_error("bc_delete");
    int rc = bc_delete(ro, B("k"), 1);
    CHECK(rc == BC_E_READ_ONLY, "bc_delete on a read-only handle returned %d", rc);
    CHECK_ERR_MSG("bc_delete: ");
    EXPECT_ERR(bc_merge(ro), BC_E_READ_ONLY, "bc_merge");
    b = bc_batch_new();
    CHECK_OK(bc_batch_put(b, B("k"), 1, B("v"), 1));
    EXPECT_ERR(bc_write(ro, b), BC_E_READ_ONLY, "bc_write");
    bc_batch_free(b);
    CHECK_OK(bc_sync(ro));
    CHECK_OK(bc_close(ro));
}

int main(void)
{
    const char *root = test_tmpdir("bad-input");
    test_static_calls();
    test_options(root);
    test_open_close(root);

    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_key_size(o, 8));
    CHECK_OK(bc_options_set_max_value_size(o, 16));
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "bad-input"), o, &db));
    bc_options_free(o);
    test_keys_and_values(db);
    test_iteration(db);
    test_batches_and_admin(db, root);
    CHECK_OK(bc_close(db));
    printf("test_bad_input: ok\n");
    return 0;
}
