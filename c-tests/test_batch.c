/*
 * test_batch.c - bc_batch_* and bc_write:
 *   - bad arguments to every batch call (NULL batch, empty key, NULL pointer with a length, keys
 *     over 1 MiB), NULL-tolerant bc_batch_clear / bc_batch_free, bc_write with a NULL db or
 *     batch; a rejected call leaves the batch as it was;
 *   - an empty batch is a no-op; puts and deletes apply in order (put+delete = absent,
 *     delete+put = present, the last put wins); the batch is unchanged by bc_write and can be
 *     written again; bc_batch_clear empties it for reuse; the result survives a reopen;
 *   - all or nothing: one value over the store's max_value_size (or one key over max_key_size)
 *     and bc_write returns BC_E_TOO_LARGE with nothing written; a read-only store refuses;
 *   - a batch of 2000 x 4 KiB values; one bc_write of 100 ops under BC_SYNC_ALWAYS is one fsync;
 *   - a folding / scanning / iterating reader never sees part of a batch while a writer keeps
 *     writing batches that set a0..a9 to the same round number;
 *   - torn batch: the data file cut at every byte offset inside the last batch reopens with the
 *     whole batch absent (all its keys at their old values) and earlier data intact; at full
 *     length the whole batch is there.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define U(x) ((unsigned long long)(x))

static bc_stats stats(bc_db *db)
{
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    return st;
}

static bc_batch *new_batch(void)
{
    bc_batch *b = bc_batch_new();
    CHECK(b != NULL, "bc_batch_new returned NULL");
    return b;
}

static off_t file_size(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_size;
}

/* ---- bad arguments ------------------------------------------------------------------------- */

static void test_bad_arguments(const char *root)
{
    bc_db *db;
    CHECK_OK(bc_open(path_in(root, "args"), NULL, &db));
    CHECK_OK(bc_put(db, B("keep"), 4, B("kept"), 4));
    bc_batch *b = new_batch();

    CHECK_RC(bc_batch_put(NULL, B("k"), 1, B("v"), 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_batch_put: ");
    CHECK_RC(bc_batch_put(b, B("k"), 0, B("v"), 1), BC_E_INVALID);  /* empty key */
    CHECK_RC(bc_batch_put(b, NULL, 0, B("v"), 1), BC_E_INVALID);    /* empty key, NULL */
    CHECK_RC(bc_batch_put(b, NULL, 3, B("v"), 1), BC_E_INVALID);    /* NULL key, length 3 */
    CHECK_RC(bc_batch_put(b, B("k"), 1, NULL, 5), BC_E_INVALID);    /* NULL value, length 5 */
    CHECK_RC(bc_batch_put(NULL, NULL, 0, NULL, 0), BC_E_INVALID);
    CHECK_RC(bc_batch_delete(NULL, B("k"), 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_batch_delete: ");
    CHECK_RC(bc_batch_delete(b, B("k"), 0), BC_E_INVALID);
    CHECK_RC(bc_batch_delete(b, NULL, 0), BC_E_INVALID);
    CHECK_RC(bc_batch_delete(b, NULL, 2), BC_E_INVALID);

    /* Keys: 1 MiB is the batch's own limit; one byte more is BC_E_TOO_LARGE right away. */
    size_t mib = 1048576;
    uint8_t *huge = malloc(mib + 1);
    CHECK(huge != NULL, "out of memory");
    memset(huge, 'h', mib + 1);
    CHECK_RC(bc_batch_put(b, huge, mib + 1, B("v"), 1), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_batch_put: ");
    CHECK_RC(bc_batch_delete(b, huge, mib + 1), BC_E_TOO_LARGE);

    bc_batch_clear(NULL);
    bc_batch_free(NULL);
    CHECK_RC(bc_write(NULL, b), BC_E_INVALID);
    CHECK_ERR_MSG("bc_write: ");
    CHECK_RC(bc_write(db, NULL), BC_E_INVALID);
    CHECK_RC(bc_write(NULL, NULL), BC_E_INVALID);

    /* Every call above was rejected, so the batch is still empty: writing it changes nothing. */
    const char *data = last_data_file(path_in(root, "args"));
    off_t size0 = file_size(data);
    bc_stats s0 = stats(db);
    CHECK_OK(bc_write(db, b));
    bc_stats s1 = stats(db);
    CHECK(file_size(data) == size0, "an empty bc_write grew the data file from %lld to %lld bytes",
          (long long)size0, (long long)file_size(data));
    CHECK(s1.keys == s0.keys && s1.total_bytes == s0.total_bytes && s1.live_bytes == s0.live_bytes &&
              s1.dead_bytes == s0.dead_bytes,
          "an empty bc_write changed the stats (keys %llu -> %llu, total %llu -> %llu)",
          U(s0.keys), U(s1.keys), U(s0.total_bytes), U(s1.total_bytes));
    CHECK_RC(bc_contains(db, B("k"), 1), BC_NOT_FOUND);
    CHECK_VALUE(db, "keep", 4, "kept", 4);

    /* A fresh empty batch too. */
    bc_batch *empty = new_batch();
    CHECK_OK(bc_write(db, empty));
    CHECK(file_size(data) == size0, "an empty batch wrote bytes");
    bc_batch_free(empty);

    /* A key of exactly 1 MiB is accepted by the batch; the store (64 KiB keys) refuses it at
     * bc_write, and nothing of the batch is written. */
    CHECK_OK(bc_batch_put(b, B("small"), 5, B("s"), 1));
    CHECK_OK(bc_batch_put(b, huge, mib, B("v"), 1));
    CHECK_RC(bc_write(db, b), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_write: ");
    CHECK_RC(bc_contains(db, B("small"), 5), BC_NOT_FOUND);
    CHECK(file_size(data) == size0, "a refused bc_write wrote bytes");
    free(huge);

    /* Valid odd cases: an empty value ((NULL, 0) and (ptr, 0)), keys with NUL and 0xff. */
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("e1"), 2, NULL, 0));
    CHECK_OK(bc_batch_put(b, B("e2"), 2, B("x"), 0));
    CHECK_OK(bc_batch_put(b, B("\0\xff\0"), 3, B("v\0v"), 3));
    CHECK_OK(bc_batch_delete(b, B("\xff"), 1)); /* absent: a tombstone anyway */
    CHECK_OK(bc_write(db, b));
    CHECK_VALUE(db, "e1", 2, "", 0);
    CHECK_VALUE(db, "e2", 2, "", 0);
    CHECK_VALUE(db, "\0\xff\0", 3, "v\0v", 3);
    CHECK_RC(bc_contains(db, B("\xff"), 1), BC_NOT_FOUND);
    CHECK(stats(db).keys == 4, "keys %llu, expected 4", U(stats(db).keys));

    bc_batch_free(b);
    CHECK_OK(bc_close(db));
}

/* ---- order, reuse, rewrite --------------------------------------------------------------------- */

static void check_order_state(bc_db *db)
{
    CHECK_ABSENT(db, "k1", 2);              /* put then delete */
    CHECK_VALUE(db, "k2", 2, "v2", 2);      /* delete then put */
    CHECK_VALUE(db, "x1", 2, "second", 6);  /* the last of two puts */
    CHECK_ABSENT(db, "x2", 2);              /* existed, deleted */
    CHECK_VALUE(db, "k3", 2, "", 0);        /* empty value */
    CHECK_ABSENT(db, "k4", 2);              /* deleted, never existed */
    CHECK_VALUE(db, "x3", 2, "untouched", 9);
}

static void test_order_and_reuse(const char *root)
{
    const char *dir = path_in(root, "order");
    bc_db *db;
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_OK(bc_put(db, B("x1"), 2, B("old"), 3));
    CHECK_OK(bc_put(db, B("x2"), 2, B("old"), 3));
    CHECK_OK(bc_put(db, B("x3"), 2, B("untouched"), 9));

    bc_batch *b = new_batch();
    CHECK_OK(bc_batch_put(b, B("k1"), 2, B("v1"), 2));
    CHECK_OK(bc_batch_delete(b, B("k1"), 2));
    CHECK_OK(bc_batch_delete(b, B("k2"), 2));
    CHECK_OK(bc_batch_put(b, B("k2"), 2, B("v2"), 2));
    CHECK_OK(bc_batch_put(b, B("x1"), 2, B("first"), 5));
    CHECK_OK(bc_batch_put(b, B("x1"), 2, B("second"), 6));
    CHECK_OK(bc_batch_delete(b, B("x2"), 2));
    CHECK_OK(bc_batch_put(b, B("k3"), 2, NULL, 0));
    CHECK_OK(bc_batch_delete(b, B("k4"), 2));
    CHECK_OK(bc_write(db, b));
    check_order_state(db);
    CHECK(stats(db).keys == 4, "keys %llu, expected 4 (k2 x1 k3 x3)", U(stats(db).keys));

    /* bc_write left the batch as it was: change the keys, write it again, same result. */
    CHECK_OK(bc_put(db, B("k1"), 2, B("zzz"), 3));
    CHECK_OK(bc_put(db, B("x2"), 2, B("back"), 4));
    CHECK_OK(bc_delete(db, B("k2"), 2));
    CHECK_OK(bc_put(db, B("x1"), 2, B("other"), 5));
    CHECK_OK(bc_write(db, b));
    check_order_state(db);

    /* The order holds after a reopen (the log is replayed record by record). */
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_open(dir, NULL, &db));
    check_order_state(db);

    /* Reuse after clear: only the new operations are applied. */
    CHECK_OK(bc_put(db, B("k1"), 2, B("keep"), 4));
    bc_batch_clear(b);
    CHECK_OK(bc_write(db, b)); /* empty now */
    CHECK_VALUE(db, "k1", 2, "keep", 4);
    CHECK_OK(bc_batch_put(b, B("c1"), 2, B("after clear"), 11));
    CHECK_OK(bc_batch_delete(b, B("x3"), 2));
    CHECK_OK(bc_write(db, b));
    CHECK_VALUE(db, "c1", 2, "after clear", 11);
    CHECK_ABSENT(db, "x3", 2);
    CHECK_VALUE(db, "k1", 2, "keep", 4);
    CHECK_VALUE(db, "k2", 2, "v2", 2);
    CHECK_VALUE(db, "x1", 2, "second", 6);
    /* Clear, then reuse many times (the memory is kept; contents must not leak across). */
    for (int round = 0; round < 50; round++) {
        bc_batch_clear(b);
        char k[16], v[32];
        int kl = snprintf(k, sizeof k, "r%d", round % 5);
        int vl = snprintf(v, sizeof v, "round %d", round);
        CHECK_OK(bc_batch_put(b, B(k), (size_t)kl, B(v), (size_t)vl));
        CHECK_OK(bc_write(db, b));
        CHECK_VALUE(db, k, (size_t)kl, v, (size_t)vl);
    }
    for (int i = 0; i < 5; i++) {
        char k[16], v[32];
        int kl = snprintf(k, sizeof k, "r%d", i);
        int vl = snprintf(v, sizeof v, "round %d", 45 + i);
        CHECK_VALUE(db, k, (size_t)kl, v, (size_t)vl);
    }
    bc_batch_free(b);
    CHECK_OK(bc_close(db));
}

/* ---- all or nothing, read-only ---------------------------------------------------------------- */

static void check_y_unchanged(bc_db *db, const char *when)
{
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        int kl = snprintf(k, sizeof k, "y%d", i), vl = snprintf(v, sizeof v, "pre-%d", i);
        uint8_t buf[256];
        size_t n = 0;
        int rc = bc_get_into(db, B(k), (size_t)kl, buf, sizeof buf, &n);
        CHECK(rc == BC_OK && n == (size_t)vl && memcmp(buf, v, n) == 0,
              "%s: key %s should still be \"%s\" (bc_get_into returned %d, %zu bytes)", when, k, v,
              rc, n);
    }
    CHECK_RC(bc_contains(db, B("ynew"), 4), BC_NOT_FOUND);
}

static void test_all_or_nothing(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "limits");
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_value_size(o, 100));
    CHECK_OK(bc_options_set_max_key_size(o, 32));
    bc_db *db;
    CHECK_OK(bc_open(dir, o, &db));
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        int kl = snprintf(k, sizeof k, "y%d", i), vl = snprintf(v, sizeof v, "pre-%d", i);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, B(v), (size_t)vl));
    }
    const char *data = last_data_file(dir);
    off_t size0 = file_size(data);
    bc_stats s0 = stats(db);

    uint8_t big[101];
    memset(big, 'B', sizeof big);
    bc_batch *b = new_batch();
    CHECK_OK(bc_batch_put(b, B("y0"), 2, B("new"), 3));
    CHECK_OK(bc_batch_delete(b, B("y1"), 2));
    CHECK_OK(bc_batch_put(b, B("ynew"), 4, B("n"), 1));
    CHECK_OK(bc_batch_put(b, B("y2"), 2, big, 101)); /* one byte over max_value_size */
    CHECK_OK(bc_batch_put(b, B("y3"), 2, B("new"), 3));
    CHECK_RC(bc_write(db, b), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_write: ");
    check_y_unchanged(db, "after a batch with a value over max_value_size");
    bc_stats s1 = stats(db);
    CHECK(file_size(data) == size0 && s1.total_bytes == s0.total_bytes && s1.keys == s0.keys,
          "a refused batch changed the store: file %lld -> %lld bytes, keys %llu -> %llu",
          (long long)size0, (long long)file_size(data), U(s0.keys), U(s1.keys));

    /* The same with the bad value first, and with a key over max_key_size in a delete. */
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("y4"), 2, big, 101));
    CHECK_OK(bc_batch_put(b, B("y0"), 2, B("new"), 3));
    CHECK_RC(bc_write(db, b), BC_E_TOO_LARGE);
    check_y_unchanged(db, "after a batch whose first value is too large");
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("y0"), 2, B("new"), 3));
    CHECK_OK(bc_batch_delete(b, B("y1"), 2));
    CHECK_OK(bc_batch_delete(b, B("0123456789abcdef0123456789abcdef+"), 33));
    CHECK_RC(bc_write(db, b), BC_E_TOO_LARGE);
    check_y_unchanged(db, "after a batch with a 33-byte key (max 32)");
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("0123456789abcdef0123456789abcdef+"), 33, B("v"), 1));
    CHECK_OK(bc_batch_put(b, B("ynew"), 4, B("n"), 1));
    CHECK_RC(bc_write(db, b), BC_E_TOO_LARGE);
    check_y_unchanged(db, "after a batch with a 33-byte key in a put");
    CHECK(file_size(data) == size0, "refused batches wrote %lld bytes",
          (long long)(file_size(data) - size0));

    /* At the limits exactly: accepted. */
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("0123456789abcdef0123456789abcdef"), 32, big, 100));
    CHECK_OK(bc_batch_put(b, B("y0"), 2, B("new"), 3));
    CHECK_OK(bc_write(db, b));
    CHECK_VALUE(db, "0123456789abcdef0123456789abcdef", 32, big, 100);
    CHECK_VALUE(db, "y0", 2, "new", 3);
    CHECK_OK(bc_close(db));

    /* Read-only: refused, nothing changes. */
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("y1"), 2, B("ro"), 2));
    CHECK_OK(bc_batch_delete(b, B("y2"), 2));
    CHECK_RC(bc_write(db, b), BC_E_READ_ONLY);
    CHECK_ERR_MSG("bc_write: ");
    CHECK_VALUE(db, "y1", 2, "pre-1", 5);
    CHECK_VALUE(db, "y2", 2, "pre-2", 5);
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_VALUE(db, "y1", 2, "pre-1", 5);
    CHECK_VALUE(db, "y2", 2, "pre-2", 5);
    CHECK_OK(bc_close(db));
    bc_batch_free(b);
}

/* ---- size and syncs -------------------------------------------------------------------------- */

#define BIG_N 2000
#define BIG_V 4096

static void big_val(uint8_t *v, int i)
{
    for (int j = 0; j < BIG_V; j++)
        v[j] = (uint8_t)(i * 31 + j * 7 + (j >> 8));
}

static void test_big_batch(const char *root)
{
    const char *dir = path_in(root, "big");
    bc_db *db;
    CHECK_OK(bc_open(dir, NULL, &db));
    bc_batch *b = new_batch();
    uint8_t *v = malloc(BIG_V), *got = malloc(BIG_V);
    CHECK(v != NULL && got != NULL, "out of memory");
    char k[16];
    for (int i = 0; i < BIG_N; i++) {
        int kl = snprintf(k, sizeof k, "big%04d", i);
        big_val(v, i);
        CHECK_OK(bc_batch_put(b, B(k), (size_t)kl, v, BIG_V));
    }
    CHECK_OK(bc_write(db, b));
    bc_stats st = stats(db);
    CHECK(st.keys == BIG_N, "keys %llu after a %d-op batch", U(st.keys), BIG_N);
    CHECK(st.total_bytes >= (uint64_t)BIG_N * BIG_V, "total_bytes %llu", U(st.total_bytes));
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < BIG_N; i++) {
            int kl = snprintf(k, sizeof k, "big%04d", i);
            big_val(v, i);
            size_t n = 0;
            CHECK_OK(bc_get_into(db, B(k), (size_t)kl, got, BIG_V, &n));
            CHECK(n == BIG_V && memcmp(got, v, BIG_V) == 0, "%s: wrong value (pass %d)", k, pass);
        }
        if (pass == 0) {
            CHECK_OK(bc_close(db));
            CHECK_OK(bc_open(dir, NULL, &db));
        }
    }
    bc_batch_free(b);
    free(v);
    free(got);
    CHECK_OK(bc_close(db));
}

static void test_sync_count(const char *root)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_ALWAYS, 0));
    bc_db *db;
    CHECK_OK(bc_open(path_in(root, "sync"), o, &db));
    bc_options_free(o);

    uint64_t s0 = stats(db).syncs;
    CHECK_OK(bc_put(db, B("one"), 3, B("1"), 1));
    uint64_t s1 = stats(db).syncs;
    CHECK(s1 == s0 + 1, "one bc_put under BC_SYNC_ALWAYS: syncs %llu -> %llu", U(s0), U(s1));

    bc_batch *b = new_batch();
    for (int i = 0; i < 100; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "s%03d", i);
        if (i % 10 == 9)
            CHECK_OK(bc_batch_delete(b, B(k), (size_t)kl - 1));
        else
            CHECK_OK(bc_batch_put(b, B(k), (size_t)kl, B(k), (size_t)kl));
    }
    CHECK_OK(bc_write(db, b));
    uint64_t s2 = stats(db).syncs;
    CHECK(s2 == s1 + 1, "one bc_write of 100 ops under BC_SYNC_ALWAYS: syncs %llu -> %llu "
                        "(expected exactly one more)",
          U(s1), U(s2));
    CHECK_OK(bc_write(db, b));
    CHECK(stats(db).syncs == s2 + 1, "a second bc_write: syncs %llu -> %llu", U(s2),
          U(stats(db).syncs));
    CHECK_VALUE(db, "s000", 4, "s000", 4);
    CHECK(stats(db).keys == 91, "keys %llu, expected 91", U(stats(db).keys));
    bc_batch_free(b);
    CHECK_OK(bc_close(db));
}

/* ---- readers never see part of a batch ---------------------------------------------------------- */

#define NA 10

static atomic_int writer_done;

struct writer {
    bc_db *db;
    int rounds;
    char err[256];
};

static void *batch_writer(void *arg)
{
    struct writer *w = arg;
    bc_batch *b = bc_batch_new();
    if (b == NULL) {
        snprintf(w->err, sizeof w->err, "bc_batch_new returned NULL");
        atomic_store(&writer_done, 1);
        return NULL;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int round = 1;; round++) {
        bc_batch_clear(b);
        char v[48];
        /* The value length changes with the round, so a mix of rounds cannot look alike. */
        int vl = snprintf(v, sizeof v, "round %d%.*s", round, round % 17, "++++++++++++++++++");
        for (int i = 0; i < NA; i++) {
            char k[4] = {'a', (char)('0' + i), 0, 0};
            int rc = bc_batch_put(b, B(k), 2, B(v), (size_t)vl);
            if (rc == BC_OK && i == 4)
                rc = bc_batch_delete(b, B("junk"), 4);
            if (rc != BC_OK) {
                snprintf(w->err, sizeof w->err, "bc_batch_put returned %d", rc);
                goto out;
            }
        }
        int rc = bc_write(w->db, b);
        if (rc != BC_OK) {
            snprintf(w->err, sizeof w->err, "bc_write returned %d in round %d", rc, round);
            goto out;
        }
        w->rounds = round;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (el > 0.6 && round >= 200)
            break;
    }
out:
    bc_batch_free(b);
    atomic_store(&writer_done, 1);
    return NULL;
}

struct view {
    int n[NA];         /* how often each of a0..a9 was seen */
    char val[NA][48];
    size_t len[NA];
    int other;         /* keys that are not a0..a9 */
};

static int view_cb(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct view *s = ctx;
    if (kl == 2 && k[0] == 'a' && k[1] >= '0' && k[1] <= '9' && vl < 48) {
        int i = k[1] - '0';
        s->n[i]++;
        memcpy(s->val[i], v, vl);
        s->len[i] = vl;
    } else {
        s->other++;
    }
    return 0;
}

/* Returns 0 if the view holds a0..a9 once each with one value, else writes why into err. */
static int view_ok(const struct view *s, char *err, size_t cap, const char *how)
{
    for (int i = 0; i < NA; i++) {
        if (s->n[i] != 1) {
            snprintf(err, cap, "%s saw a%d %d times", how, i, s->n[i]);
            return -1;
        }
        if (s->len[i] != s->len[0] || memcmp(s->val[i], s->val[0], s->len[0]) != 0) {
            snprintf(err, cap, "%s saw a partial batch: a0 = \"%.*s\" but a%d = \"%.*s\"", how,
                     (int)s->len[0], s->val[0], i, (int)s->len[i], s->val[i]);
            return -1;
        }
    }
    if (s->other != 0) {
        snprintf(err, cap, "%s saw %d unexpected keys", how, s->other);
        return -1;
    }
    return 0;
}

struct reader {
    bc_db *db;
    int folds, scans, iters, changes;
    char err[256];
};

static void *batch_reader(void *arg)
{
    struct reader *r = arg;
    char last[48] = "";
    while (!atomic_load(&writer_done) && r->err[0] == '\0') {
        struct view s;
        memset(&s, 0, sizeof s);
        int kind = (r->folds + r->scans + r->iters) % 4;
        const char *how;
        int rc;
        if (kind <= 1) {
            how = "bc_fold";
            rc = bc_fold(r->db, view_cb, &s);
            r->folds++;
        } else if (kind == 2) {
            how = "bc_scan_prefix";
            rc = bc_scan_prefix(r->db, B("a"), 1, view_cb, &s);
            r->scans++;
        } else {
            how = "bc_iter";
            bc_iter *it = NULL;
            rc = bc_iter_new(r->db, &it);
            const uint8_t *k, *v;
            size_t kl, vl;
            while (rc == BC_OK && (rc = bc_iter_next(it, &k, &kl, &v, &vl)) == BC_OK)
                view_cb(&s, k, kl, v, vl);
            if (rc == BC_NOT_FOUND)
                rc = BC_OK;
            bc_iter_free(it);
            r->iters++;
        }
        if (rc != BC_OK) {
            snprintf(r->err, sizeof r->err, "%s returned %d", how, rc);
            break;
        }
        if (view_ok(&s, r->err, sizeof r->err, how) != 0)
            break;
        if (s.len[0] != strlen(last) || memcmp(s.val[0], last, s.len[0]) != 0) {
            r->changes++;
            memcpy(last, s.val[0], s.len[0]);
            last[s.len[0]] = '\0';
        }
    }
    return NULL;
}

static void test_readers_see_whole_batches(const char *root)
{
    bc_db *db;
    CHECK_OK(bc_open(path_in(root, "atomic"), NULL, &db));
    bc_batch *b = new_batch();
    for (int i = 0; i < NA; i++) {
        char k[4] = {'a', (char)('0' + i), 0, 0};
        CHECK_OK(bc_batch_put(b, B(k), 2, B("round 0"), 7));
    }
    CHECK_OK(bc_write(db, b));
    bc_batch_free(b);

    atomic_store(&writer_done, 0);
    struct writer w;
    struct reader r;
    memset(&w, 0, sizeof w);
    memset(&r, 0, sizeof r);
    w.db = r.db = db;
    pthread_t tw, tr;
    CHECK(pthread_create(&tr, NULL, batch_reader, &r) == 0, "pthread_create");
    CHECK(pthread_create(&tw, NULL, batch_writer, &w) == 0, "pthread_create");
    CHECK(pthread_join(tw, NULL) == 0, "pthread_join");
    CHECK(pthread_join(tr, NULL) == 0, "pthread_join");
    printf("  concurrent batches: %d rounds written; %d folds, %d prefix scans, %d iterations, "
           "%d distinct rounds seen\n",
           w.rounds, r.folds, r.scans, r.iters, r.changes);
    CHECK(w.err[0] == '\0', "writer: %s", w.err);
    CHECK(r.err[0] == '\0', "reader: %s", r.err);
    CHECK(r.folds >= 10 && r.changes >= 3,
          "the reader overlapped too little with the writer (%d folds, %d rounds seen)", r.folds,
          r.changes);
    /* The end state: the last round everywhere. */
    struct view s;
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_fold(db, view_cb, &s));
    char err[256];
    CHECK(view_ok(&s, err, sizeof err, "final bc_fold") == 0, "%s", err);
    char want[48];
    int wl = snprintf(want, sizeof want, "round %d%.*s", w.rounds, w.rounds % 17,
                      "++++++++++++++++++");
    CHECK(s.len[0] == (size_t)wl && memcmp(s.val[0], want, (size_t)wl) == 0,
          "final value \"%.*s\", expected \"%s\"", (int)s.len[0], s.val[0], want);
    CHECK_OK(bc_close(db));
}

/* ---- torn batch ------------------------------------------------------------------------------- */

#define T_BIG 300
static uint8_t t4_big[T_BIG];

/* One key's value against what it should be (want NULL: absent); `off` names the case. */
static void expect_key(bc_db *db, const char *k, const void *want, size_t wl, long off)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = bc_get(db, B(k), strlen(k), &v, &vl);
    if (want == NULL) {
        CHECK(rc == BC_NOT_FOUND, "file cut at offset %ld: key %s should be absent, bc_get "
                                  "returned %d with %zu bytes \"%.*s\"",
              off, k, rc, vl, (int)(vl < 40 ? vl : 40), v ? (const char *)v : "");
    } else {
        CHECK(rc == BC_OK && vl == wl && memcmp(v, want, wl) == 0,
              "file cut at offset %ld: key %s should be \"%.*s\", bc_get returned %d with %zu "
              "bytes \"%.*s\"",
              off, k, (int)(wl < 40 ? wl : 40), (const char *)want, rc, vl,
              (int)(vl < 40 ? vl : 40), v ? (const char *)v : "");
    }
    bc_free(v);
}

static void expect_early(bc_db *db, long off)
{
    for (int i = 0; i < 22; i++) {
        if (i == 5)
            continue; /* e05 is deleted by the batch: expect_pre_batch / expect_post_batch */
        char k[16], v[32];
        snprintf(k, sizeof k, "e%02d", i);
        int vl = snprintf(v, sizeof v, "early value %d", i);
        expect_key(db, k, v, (size_t)vl, off);
    }
}

static void expect_pre_batch(bc_db *db, long off)
{
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "t%d", i);
        int vl = snprintf(v, sizeof v, "pre-%d", i);
        expect_key(db, k, v, (size_t)vl, off);
    }
    expect_key(db, "tnew", NULL, 0, off);
    expect_key(db, "e05", "early value 5", 13, off); /* the batch deletes it */
}

static void expect_post_batch(bc_db *db, long off)
{
    expect_key(db, "t0", "batch-0b", 8, off);
    expect_key(db, "t1", NULL, 0, off);
    expect_key(db, "t2", "batch-2", 7, off);
    expect_key(db, "t3", NULL, 0, off);
    expect_key(db, "t4", t4_big, T_BIG, off);
    expect_key(db, "tnew", "batch-new", 9, off);
    expect_key(db, "e05", NULL, 0, off);
}

/* Removes every entry of dir (not dir itself). */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        join_path(p, dir, e->d_name);
        rm_rf(p);
    }
    closedir(d);
}

static void write_prefix(const char *path, const uint8_t *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        CHECK(n > 0, "write %s: %s", path, strerror(errno));
        done += (size_t)n;
    }
    CHECK(close(fd) == 0, "close %s", path);
}

static void test_torn_batch(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "torn");
    for (int i = 0; i < T_BIG; i++)
        t4_big[i] = (uint8_t)('A' + i % 26);
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_file_size(o, 1u << 30)); /* one data file */
    bc_db *db;
    CHECK_OK(bc_open(dir, o, &db));
    for (int i = 0; i < 20; i++) {
        char k[16], v[32];
        int kl = snprintf(k, sizeof k, "e%02d", i);
        int vl = snprintf(v, sizeof v, "early value %d", i);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, B(v), (size_t)vl));
    }
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        int kl = snprintf(k, sizeof k, "t%d", i), vl = snprintf(v, sizeof v, "pre-%d", i);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, B(v), (size_t)vl));
    }
    /* An earlier batch, complete: it must survive every cut of the later one. */
    bc_batch *b = new_batch();
    CHECK_OK(bc_batch_put(b, B("e20"), 3, B("early value 20"), 14));
    CHECK_OK(bc_batch_put(b, B("e21"), 3, B("early value 21"), 14));
    CHECK_OK(bc_write(db, b));

    CHECK(count_data_files(dir, NULL) == 1, "expected one data file");
    char data[PATH_MAX];
    snprintf(data, sizeof data, "%s", last_data_file(dir));
    /* The file's record bytes (one data file, so the store's total_bytes): on disk it is longer
     * by the space reserved ahead of appends until close. */
    off_t start = (off_t)stats(db).total_bytes;
    CHECK(file_size(data) >= start, "the data file is shorter than its records");

    bc_batch_clear(b);
    CHECK_OK(bc_batch_put(b, B("t0"), 2, B("batch-0a"), 8));
    CHECK_OK(bc_batch_delete(b, B("t1"), 2));
    CHECK_OK(bc_batch_put(b, B("t2"), 2, B("batch-2"), 7));
    CHECK_OK(bc_batch_put(b, B("tnew"), 4, B("batch-new"), 9));
    CHECK_OK(bc_batch_delete(b, B("t3"), 2));
    CHECK_OK(bc_batch_put(b, B("t4"), 2, t4_big, T_BIG));
    CHECK_OK(bc_batch_delete(b, B("e05"), 3));
    CHECK_OK(bc_batch_put(b, B("t0"), 2, B("batch-0b"), 8));
    CHECK_OK(bc_write(db, b));
    bc_batch_free(b);
    off_t end = (off_t)stats(db).total_bytes;
    CHECK(count_data_files(dir, NULL) == 1, "expected one data file after the batch");
    CHECK(end > start + T_BIG, "the batch grew the file from %lld to %lld bytes", (long long)start,
          (long long)end);
    expect_post_batch(db, (long)end);
    CHECK_OK(bc_close(db));

    size_t full_len = 0;
    uint8_t *full = read_file(data, &full_len);
    CHECK(full_len == (size_t)end, "the data file is %zu bytes after close, %lld before",
          full_len, (long long)end);

    int reopened_with_writes = 0, bad_stats = 0;
    char first_bad[400] = "";
    for (off_t off = start; off <= end; off++) {
        /* A fresh directory holding the data file cut at `off` (no hint, no LOCK). */
        empty_dir(dir);
        write_prefix(data, full, (size_t)off);
        CHECK_OK(bc_open(dir, o, &db));
        expect_early(db, (long)off);
        if (off < end)
            expect_pre_batch(db, (long)off);
        else
            expect_post_batch(db, (long)off);
        bc_stats st = stats(db);
        CHECK(st.keys == (off < end ? 27u : 25u), "file cut at offset %lld: %llu keys",
              (long long)off, U(st.keys));
        /* A cut batch is a torn tail: all of it counts as truncated, none as corrupt. These are
         * collected over all offsets (so the data checks above run for every one) and reported
         * after the loop. */
        /* Trailing zero bytes of a cut record look exactly like reserved space, so they are cut
         * without being counted. */
        off_t torn_end = off;
        while (torn_end > start && full[torn_end - 1] == 0)
            torn_end--;
        uint64_t want_cut = off < end ? (uint64_t)(torn_end - start) : 0;
        if (st.truncated_bytes != want_cut || st.corrupt_records != 0 || st.corrupt_bytes != 0) {
            if (bad_stats++ == 0)
                snprintf(first_bad, sizeof first_bad,
                         "file cut at offset %lld (batch bytes %lld..%lld, cut %lld bytes into "
                         "it): truncated_bytes %llu (expected %llu), corrupt_records %llu, "
                         "corrupt_bytes %llu (expected 0 and 0)",
                         (long long)off, (long long)start, (long long)end,
                         (long long)(off - start), U(st.truncated_bytes), U(want_cut),
                         U(st.corrupt_records), U(st.corrupt_bytes));
        }
        /* Now and then: the repaired store takes writes and reopens the same. */
        if ((off - start) % 41 == 1 || off == end - 1) {
            CHECK_OK(bc_put(db, B("after"), 5, B("repair"), 6));
            CHECK_OK(bc_close(db));
            CHECK_OK(bc_open(dir, o, &db));
            expect_key(db, "after", "repair", 6, (long)off);
            expect_early(db, (long)off);
            if (off < end)
                expect_pre_batch(db, (long)off);
            reopened_with_writes++;
        }
        CHECK_OK(bc_close(db));
    }
    printf("  torn batch: %lld cut offsets checked (batch bytes %lld..%lld), %d with writes after\n",
           (long long)(end - start + 1), (long long)start, (long long)end, reopened_with_writes);
    CHECK(bad_stats == 0,
          "bc_stats after reopening a cut batch (the data itself was right at every offset; "
          "bc_last_error below is stale): wrong at %d of %lld offsets; the first: %s",
          bad_stats, (long long)(end - start + 1), first_bad);
    free(full);
    bc_options_free(o);
}

int main(void)
{
    const char *root = test_tmpdir("batch");
    test_bad_arguments(root);
    test_order_and_reuse(root);
    test_all_or_nothing(root);
    test_big_batch(root);
    test_sync_count(root);
    test_readers_see_whole_batches(root);
    test_torn_batch(root);
    printf("test_batch: ok\n");
    return 0;
}
