/*
 * test_fold.c - bc_fold and bc_fold_keys: each live key exactly once with its value, log order,
 * early stop, bad arguments, and callbacks that read and write the same handle mid-fold.
 */
#include "check.h"

#define NKEYS 1000

/* Keys are "key-<i>" and values "val-<i>-" followed by i % 50 filler bytes, so a wrong pairing
 * or a truncated value shows up. */
static size_t make_key(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "key-%d", i);
}

static size_t make_val(char *buf, size_t cap, int i)
{
    size_t n = (size_t)snprintf(buf, cap, "val-%d-", i);
    for (int j = 0; j < i % 50; j++)
        buf[n++] = (char)('a' + (i + j) % 26);
    return n;
}

/* Parses "key-<i>"; returns -1 for anything else. */
static int key_index(const uint8_t *key, size_t klen)
{
    char tmp[32];
    if (klen < 5 || klen >= sizeof tmp || memcmp(key, "key-", 4) != 0)
        return -1;
    memcpy(tmp, key, klen);
    tmp[klen] = '\0';
    char *end;
    long i = strtol(tmp + 4, &end, 10);
    return (*end == '\0' && i >= 0 && i < NKEYS) ? (int)i : -1;
}

struct visit {
    bc_db *db;
    int seen[NKEYS];
    int calls;
    int stop_after; /* return non-zero on this call (1-based); 0 = never */
    int stop_value;
    int bad;        /* a problem noticed inside the callback (reported after the fold) */
    char bad_msg[256];
};

static void note_bad(struct visit *v, const char *msg, int i)
{
    if (!v->bad) {
        v->bad = 1;
        snprintf(v->bad_msg, sizeof v->bad_msg, "%s (key index %d, call %d)", msg, i, v->calls);
    }
}

static int count_value(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct visit *v = ctx;
    v->calls++;
    int i = key_index(key, klen);
    if (i < 0) {
        note_bad(v, "fold visited an unexpected key", i);
        return 0;
    }
    v->seen[i]++;
    char want[128];
    size_t wl = make_val(want, sizeof want, i);
    if (vlen != wl || memcmp(val, want, wl) != 0)
        note_bad(v, "fold passed the wrong value", i);
    return v->stop_after != 0 && v->calls == v->stop_after ? v->stop_value : 0;
}

static int count_key(void *ctx, const uint8_t *key, size_t klen)
{
    struct visit *v = ctx;
    v->calls++;
    int i = key_index(key, klen);
    if (i < 0) {
        note_bad(v, "fold_keys visited an unexpected key", i);
        return 0;
    }
    v->seen[i]++;
    return v->stop_after != 0 && v->calls == v->stop_after ? v->stop_value : 0;
}

static void fill(bc_db *db)
{
    char k[32], val[128];
    for (int i = 0; i < NKEYS; i++) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(val, sizeof val, i);
        CHECK_OK(bc_put(db, B(k), kl, B(val), vl));
    }
    /* Overwrite every 7th with the same value (so it moves to the end of the log) and delete
     * every 10th: neither may be visited twice, deleted keys not at all. */
    for (int i = 0; i < NKEYS; i += 7) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(val, sizeof val, i);
        CHECK_OK(bc_put(db, B(k), kl, B(val), vl));
    }
    for (int i = 0; i < NKEYS; i += 10) {
        size_t kl = make_key(k, sizeof k, i);
        CHECK_OK(bc_delete(db, B(k), kl));
    }
}

static void check_each_live_once(struct visit *v, const char *what)
{
    CHECK(!v->bad, "%s: %s", what, v->bad_msg);
    int live = 0;
    for (int i = 0; i < NKEYS; i++) {
        int want = i % 10 == 0 ? 0 : 1;
        live += want;
        CHECK(v->seen[i] == want, "%s visited key-%d %d times, expected %d", what, i, v->seen[i],
              want);
    }
    CHECK(v->calls == live, "%s made %d calls for %d live keys", what, v->calls, live);
}

static void test_each_key_once(bc_db *db)
{
    static struct visit v;
    memset(&v, 0, sizeof v);
    CHECK_OK(bc_fold(db, count_value, &v));
    check_each_live_once(&v, "bc_fold");

    memset(&v, 0, sizeof v);
    CHECK_OK(bc_fold_keys(db, count_key, &v));
    check_each_live_once(&v, "bc_fold_keys");
}

static void test_stop_early(bc_db *db)
{
    /* Any non-zero return stops, after exactly that call. */
    const int stops[] = {1, -1, 42};
    for (int s = 0; s < 3; s++) {
        static struct visit v;
        memset(&v, 0, sizeof v);
        v.stop_after = 5 + s;
        v.stop_value = stops[s];
        CHECK_RC(bc_fold(db, count_value, &v), BC_STOPPED);
        CHECK(v.calls == 5 + s, "bc_fold stopped after %d calls, expected %d", v.calls, 5 + s);
        CHECK(!v.bad, "bc_fold: %s", v.bad_msg);

        memset(&v, 0, sizeof v);
        v.stop_after = 5 + s;
        v.stop_value = stops[s];
        CHECK_RC(bc_fold_keys(db, count_key, &v), BC_STOPPED);
        CHECK(v.calls == 5 + s, "bc_fold_keys stopped after %d calls, expected %d", v.calls,
              5 + s);
    }
    /* Stopping on the very last key is still BC_STOPPED. */
    static struct visit v;
    memset(&v, 0, sizeof v);
    v.stop_after = NKEYS - NKEYS / 10;
    v.stop_value = 1;
    CHECK_RC(bc_fold(db, count_value, &v), BC_STOPPED);
    CHECK(v.calls == v.stop_after, "bc_fold made %d calls", v.calls);
}

static void test_bad_arguments(bc_db *db)
{
    struct visit v;
    memset(&v, 0, sizeof v);
    CHECK_RC(bc_fold(db, NULL, &v), BC_E_INVALID);
    CHECK_ERR_MSG("bc_fold: ");
    CHECK_RC(bc_fold_keys(db, NULL, &v), BC_E_INVALID);
    CHECK_ERR_MSG("bc_fold_keys: ");
    CHECK_RC(bc_fold(NULL, count_value, &v), BC_E_INVALID);
    CHECK_RC(bc_fold_keys(NULL, count_key, &v), BC_E_INVALID);
    CHECK(v.calls == 0, "a refused fold called the callback");
}

/* ---- log order ------------------------------------------------------------------------------ */

struct order {
    char got[8][8];
    char vals[8][8];
    int n;
};

static int record_order(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen)
{
    struct order *o = ctx;
    if (o->n < 8) {
        snprintf(o->got[o->n], sizeof o->got[0], "%.*s", (int)klen, (const char *)key);
        snprintf(o->vals[o->n], sizeof o->vals[0], "%.*s", (int)vlen, (const char *)val);
    }
    o->n++;
    return 0;
}

static void test_log_order(const char *root)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "order"), NULL, &db));
    CHECK_OK(bc_put(db, B("k1"), 2, B("a"), 1));
    CHECK_OK(bc_put(db, B("k2"), 2, B("b"), 1));
    CHECK_OK(bc_put(db, B("k3"), 2, B("c"), 1));
    CHECK_OK(bc_put(db, B("k1"), 2, B("d"), 1));
    /* Twice: before and after a reopen (which rebuilds the index from the log). */
    for (int round = 0; round < 2; round++) {
        struct order o;
        memset(&o, 0, sizeof o);
        CHECK_OK(bc_fold(db, record_order, &o));
        CHECK(o.n == 3, "fold made %d calls, expected 3", o.n);
        CHECK(strcmp(o.got[0], "k2") == 0 && strcmp(o.got[1], "k3") == 0 &&
                  strcmp(o.got[2], "k1") == 0,
              "fold order is %s,%s,%s; expected log order k2,k3,k1", o.got[0], o.got[1],
              o.got[2]);
        CHECK(strcmp(o.vals[0], "b") == 0 && strcmp(o.vals[1], "c") == 0 &&
                  strcmp(o.vals[2], "d") == 0,
              "fold values are %s,%s,%s; expected b,c,d", o.vals[0], o.vals[1], o.vals[2]);
        CHECK_OK(bc_close(db));
        CHECK_OK(bc_open(path_in(root, "order"), NULL, &db));
    }
    CHECK_OK(bc_close(db));

    /* An empty store: no calls, BC_OK. */
    CHECK_OK(bc_open(path_in(root, "empty"), NULL, &db));
    struct order o;
    memset(&o, 0, sizeof o);
    CHECK_OK(bc_fold(db, record_order, &o));
    CHECK(o.n == 0, "fold over an empty store made %d calls", o.n);
    CHECK_OK(bc_close(db));
}

/* ---- callbacks that use the handle ---------------------------------------------------------- */

/* On each visited key i: read it back, overwrite key i+1, delete key i+2, and add a brand-new
 * key. The fold must still visit exactly the keys live at its start, each with the value it had
 * then, and no new key. */
static int mutate_value(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen)
{
    struct visit *v = ctx;
    int rc = count_value(ctx, key, klen, val, vlen);
    int i = key_index(key, klen);
    if (i < 0)
        return rc;

    uint8_t *got = NULL;
    size_t glen = 0;
    int g = bc_get(v->db, key, klen, &got, &glen);
    /* The key may already have been deleted or overwritten by an earlier callback. */
    if (g != BC_OK && g != BC_NOT_FOUND)
        note_bad(v, "bc_get inside the fold callback failed", i);
    bc_free(got);

    char k[32];
    if (i + 1 < NKEYS) {
        size_t kl = make_key(k, sizeof k, i + 1);
        if (bc_put(v->db, B(k), kl, B("changed"), 7) != BC_OK)
            note_bad(v, "bc_put inside the fold callback failed", i);
    }
    if (i + 2 < NKEYS) {
        size_t kl = make_key(k, sizeof k, i + 2);
        int d = bc_delete(v->db, B(k), kl);
        if (d != BC_OK && d != BC_NOT_FOUND)
            note_bad(v, "bc_delete inside the fold callback failed", i);
    }
    char nk[32];
    int nkl = snprintf(nk, sizeof nk, "new-%d", i);
    if (bc_put(v->db, B(nk), (size_t)nkl, B("x"), 1) != BC_OK)
        note_bad(v, "bc_put of a new key inside the fold callback failed", i);
    bc_stats st;
    if (bc_stats_get(v->db, &st) != BC_OK || bc_contains(v->db, B(nk), (size_t)nkl) != BC_OK)
        note_bad(v, "bc_stats_get / bc_contains inside the fold callback failed", i);
    return rc;
}

static int mutate_key(void *ctx, const uint8_t *key, size_t klen)
{
    struct visit *v = ctx;
    int rc = count_key(ctx, key, klen);
    int i = key_index(key, klen);
    if (i < 0)
        return rc;
    char k[32];
    if (i + 1 < NKEYS) {
        size_t kl = make_key(k, sizeof k, i + 1);
        int d = bc_delete(v->db, B(k), kl);
        if (d != BC_OK && d != BC_NOT_FOUND)
            note_bad(v, "bc_delete inside the fold_keys callback failed", i);
    }
    char nk[32];
    int nkl = snprintf(nk, sizeof nk, "other-%d", i);
    if (bc_put(v->db, B(nk), (size_t)nkl, B("y"), 1) != BC_OK)
        note_bad(v, "bc_put inside the fold_keys callback failed", i);
    uint8_t *got = NULL;
    size_t glen = 0;
    if (bc_get(v->db, B(nk), (size_t)nkl, &got, &glen) != BC_OK || glen != 1)
        note_bad(v, "bc_get inside the fold_keys callback failed", i);
    bc_free(got);
    return rc;
}

static void test_callbacks_use_the_handle(const char *root)
{
    static struct visit v;
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "mutate"), NULL, &db));
    fill(db);
    memset(&v, 0, sizeof v);
    v.db = db;
    CHECK_OK(bc_fold(db, mutate_value, &v));
    check_each_live_once(&v, "bc_fold with a mutating callback");
    /* The callbacks' writes all happened. */
    CHECK_VALUE(db, "new-1", 5, "x", 1);
    CHECK_OK(bc_close(db));

    CHECK_OK(bc_open(path_in(root, "mutate-keys"), NULL, &db));
    fill(db);
    memset(&v, 0, sizeof v);
    v.db = db;
    CHECK_OK(bc_fold_keys(db, mutate_key, &v));
    check_each_live_once(&v, "bc_fold_keys with a mutating callback");
    CHECK_VALUE(db, "other-1", 7, "y", 1);
    CHECK_OK(bc_close(db));
}

int main(void)
{
    const char *root = test_tmpdir("fold");
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    fill(db);
    test_each_key_once(db);
    test_stop_early(db);
    test_bad_arguments(db);
    CHECK_OK(bc_close(db));

    /* The same on a reopened store, through a read-only handle. */
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_OK(bc_open(path_in(root, "store"), o, &db));
    bc_options_free(o);
    test_each_key_once(db);
    CHECK_OK(bc_close(db));

    test_log_order(root);
    test_callbacks_use_the_handle(root);
    printf("test_fold: ok\n");
    return 0;
}
