/*
 * test_expiry.c - bc_put_ttl and bc_options_set_expiry_secs:
 *   - bad arguments: NULL options, ttl 0 (BC_E_INVALID, nothing stored), NULL db, empty key;
 *   - a key put with ttl 1 is visible at once; about 2 s later it is absent to bc_get,
 *     bc_get_into, bc_contains, bc_delete (BC_NOT_FOUND), bc_fold, bc_fold_keys, bc_scan,
 *     bc_scan_prefix and iterators (also one opened before it expired), and stays absent after
 *     close/reopen and after bc_merge; bc_put after bc_put_ttl makes a key permanent again and
 *     bc_put_ttl after bc_put makes it expire; a long ttl survives;
 *   - the bytes of expired records: after a reopen live_bytes excludes them and dead_bytes
 *     counts them; a merge then reclaims them (dead_bytes 0, total_bytes smaller);
 *   - store-wide expiry 1 s: keys written by bc_put and bc_write vanish, also across reopens with
 *     the same option (also for a store closed before its keys expired); a sooner per-key ttl
 *     beats a later store-wide expiry and a sooner store-wide expiry beats a longer ttl.
 * All the waiting is one sleep of about 2 s (plus at most 0.5 s to start at a second boundary,
 * so the "visible at once" checks cannot straddle the expiry second).
 */
#include "check.h"

#define U(x) ((unsigned long long)(x))

struct kv {
    const char *k;
    const char *v;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    for (;;) {
        double left = t - wall_now();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static bc_stats stats(bc_db *db)
{
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    return st;
}

static bc_db *open_store(const char *dir, uint32_t expiry_secs)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_expiry_secs(o, expiry_secs));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    return db;
}

static void put(bc_db *db, const char *k, const char *v)
{
    CHECK_OK(bc_put(db, B(k), strlen(k), B(v), strlen(v)));
}

static void put_ttl(bc_db *db, const char *k, const char *v, uint32_t ttl)
{
    CHECK_OK(bc_put_ttl(db, B(k), strlen(k), B(v), strlen(v), ttl));
}

/* ---- the key set every read path sees ------------------------------------------------------- */

#define MAXSEEN 64

struct seen {
    char k[MAXSEEN][32];
    char v[MAXSEEN][32];
    int n;
    int overflow;
};

static int seen_kv(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct seen *s = ctx;
    if (s->n >= MAXSEEN || kl >= 32 || vl >= 32) {
        s->overflow = 1;
        return 0;
    }
    memcpy(s->k[s->n], k, kl);
    s->k[s->n][kl] = '\0';
    if (vl > 0) /* v is NULL for keys only; memcpy(_, NULL, 0) is still undefined */
        memcpy(s->v[s->n], v, vl);
    s->v[s->n][vl] = '\0';
    s->n++;
    return 0;
}

static int seen_key(void *ctx, const uint8_t *k, size_t kl)
{
    return seen_kv(ctx, k, kl, NULL, 0);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* `s` holds exactly the keys of `want` (with their values when check_values), in ascending order
 * when ordered. */
static void compare_at(int line, const char *where, const char *how, const struct seen *s,
                       const struct kv *want, int n, int ordered, int check_values)
{
    if (s->overflow)
        check_fail(__FILE__, line, "%s: %s made too many calls", where, how);
    for (int i = 0; i < n; i++) {
        int found = -1;
        for (int j = 0; j < s->n; j++)
            if (strcmp(s->k[j], want[i].k) == 0)
                found = j;
        if (found < 0)
            check_fail(__FILE__, line, "%s: %s did not visit \"%s\"", where, how, want[i].k);
        if (ordered && found != i)
            check_fail(__FILE__, line, "%s: %s visited \"%s\" at position %d, expected %d", where,
                       how, want[i].k, found, i);
        if (check_values && strcmp(s->v[found], want[i].v) != 0)
            check_fail(__FILE__, line, "%s: %s gave \"%s\" = \"%s\", expected \"%s\"", where, how,
                       want[i].k, s->v[found], want[i].v);
    }
    if (s->n != n) {
        /* Name a key that should not be there (an expired one, most likely). */
        for (int j = 0; j < s->n; j++) {
            int ok = 0;
            for (int i = 0; i < n; i++)
                ok |= strcmp(s->k[j], want[i].k) == 0;
            if (!ok)
                check_fail(__FILE__, line, "%s: %s visited \"%s\", which should be absent", where,
                           how, s->k[j]);
        }
        check_fail(__FILE__, line, "%s: %s visited %d keys, expected %d", where, how, s->n, n);
    }
}

/* Every read path sees exactly the keys of `live` with their values. */
static void check_live_set_at(int line, const char *where, bc_db *db, const struct kv *live_in,
                              int n)
{
    struct kv live[MAXSEEN];
    CHECK(n <= MAXSEEN, "too many keys");
    if (n > 0)
        memcpy(live, live_in, (size_t)n * sizeof *live);
    qsort(live, (size_t)n, sizeof *live, cmp_kv);

    for (int i = 0; i < n; i++) {
        uint8_t *v = NULL;
        size_t vl = 0;
        int rc = bc_get(db, B(live[i].k), strlen(live[i].k), &v, &vl);
        if (rc != BC_OK || vl != strlen(live[i].v) || memcmp(v, live[i].v, vl) != 0)
            check_fail(__FILE__, line, "%s: bc_get(\"%s\") returned %d, %zu bytes; expected "
                                       "\"%s\"",
                       where, live[i].k, rc, vl, live[i].v);
        bc_free(v);
        if (bc_contains(db, B(live[i].k), strlen(live[i].k)) != BC_OK)
            check_fail(__FILE__, line, "%s: bc_contains(\"%s\") != BC_OK", where, live[i].k);
    }
    struct seen s;
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_fold(db, seen_kv, &s));
    compare_at(line, where, "bc_fold", &s, live, n, 0, 1);
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_fold_keys(db, seen_key, &s));
    compare_at(line, where, "bc_fold_keys", &s, live, n, 0, 0);
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, seen_kv, &s));
    compare_at(line, where, "bc_scan", &s, live, n, 1, 1);
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_scan_prefix(db, NULL, 0, seen_kv, &s));
    compare_at(line, where, "bc_scan_prefix", &s, live, n, 1, 1);
    memset(&s, 0, sizeof s);
    bc_iter *it = NULL;
    CHECK_OK(bc_iter_new(db, &it));
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    while ((rc = bc_iter_next(it, &k, &kl, &v, &vl)) == BC_OK)
        seen_kv(&s, k, kl, v, vl);
    CHECK_RC(rc, BC_NOT_FOUND);
    bc_iter_free(it);
    compare_at(line, where, "the iterator", &s, live, n, 1, 1);
}
#define CHECK_LIVE_SET(where, db, live, n) check_live_set_at(__LINE__, (where), (db), (live), (n))

/* Single-key reads and the narrow scans say each key is absent. */
static void check_gone_at(int line, const char *where, bc_db *db, const char *const *keys, int n)
{
    for (int i = 0; i < n; i++) {
        const char *k = keys[i];
        size_t kl = strlen(k);
        uint8_t *v = (uint8_t *)&v;
        size_t vl = 99;
        int rc = bc_get(db, B(k), kl, &v, &vl);
        if (rc != BC_NOT_FOUND || v != NULL || vl != 0)
            check_fail(__FILE__, line, "%s: bc_get(\"%s\") of an expired key returned %d with %zu "
                                       "bytes, expected BC_NOT_FOUND, NULL, 0",
                       where, k, rc, vl);
        uint8_t buf[64];
        vl = 99;
        rc = bc_get_into(db, B(k), kl, buf, sizeof buf, &vl);
        if (rc != BC_NOT_FOUND || vl != 0)
            check_fail(__FILE__, line, "%s: bc_get_into(\"%s\") of an expired key returned %d, "
                                       "vlen %zu",
                       where, k, rc, vl);
        vl = 99;
        rc = bc_get_into(db, B(k), kl, NULL, 0, &vl);
        if (rc != BC_NOT_FOUND || vl != 0)
            check_fail(__FILE__, line, "%s: bc_get_into(\"%s\", NULL, 0) of an expired key "
                                       "returned %d, vlen %zu",
                       where, k, rc, vl);
        rc = bc_contains(db, B(k), kl);
        if (rc != BC_NOT_FOUND)
            check_fail(__FILE__, line, "%s: bc_contains(\"%s\") of an expired key returned %d",
                       where, k, rc);
        struct seen s;
        memset(&s, 0, sizeof s);
        CHECK_OK(bc_scan_prefix(db, B(k), kl, seen_kv, &s));
        if (s.n != 0)
            check_fail(__FILE__, line, "%s: bc_scan_prefix(\"%s\") visited \"%s\"", where, k,
                       s.k[0]);
        char end[40];
        snprintf(end, sizeof end, "%s", k);
        memset(&s, 0, sizeof s);
        CHECK_OK(bc_scan(db, B(k), kl, B(end), kl + 1, seen_kv, &s)); /* [k, k"\0") */
        if (s.n != 0)
            check_fail(__FILE__, line, "%s: bc_scan([\"%s\", \"%s\\0\")) visited \"%s\"", where, k,
                       k, s.k[0]);
    }
}
#define CHECK_GONE(where, db, keys, n) check_gone_at(__LINE__, (where), (db), (keys), (n))

/* ---- the test ---------------------------------------------------------------------------------- */

static void test_bad_arguments(bc_db *db)
{
    CHECK_RC(bc_options_set_expiry_secs(NULL, 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_expiry_secs: ");
    CHECK_RC(bc_options_set_expiry_secs(NULL, 0), BC_E_INVALID);
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_expiry_secs(o, 0));
    CHECK_OK(bc_options_set_expiry_secs(o, 1));
    CHECK_OK(bc_options_set_expiry_secs(o, UINT32_MAX));
    bc_options_free(o);

    CHECK_RC(bc_put_ttl(db, B("zero"), 4, B("v"), 1, 0), BC_E_INVALID);
    CHECK_ERR_MSG("bc_put_ttl: ");
    CHECK_RC(bc_contains(db, B("zero"), 4), BC_NOT_FOUND);
    CHECK_RC(bc_put_ttl(NULL, B("k"), 1, B("v"), 1, 5), BC_E_INVALID);
    CHECK_RC(bc_put_ttl(db, B("k"), 0, B("v"), 1, 5), BC_E_INVALID);
    CHECK_RC(bc_put_ttl(db, NULL, 0, B("v"), 1, 5), BC_E_INVALID);
    CHECK_RC(bc_put_ttl(db, NULL, 2, B("v"), 1, 5), BC_E_INVALID);
    CHECK_RC(bc_put_ttl(db, B("k"), 1, NULL, 3, 5), BC_E_INVALID);
    CHECK_RC(bc_contains(db, B("k"), 1), BC_NOT_FOUND);
    /* Existing key, ttl 0: refused, and the old value stays permanent. */
    put(db, "zero", "kept");
    CHECK_RC(bc_put_ttl(db, B("zero"), 4, B("new"), 3, 0), BC_E_INVALID);
    CHECK_VALUE(db, "zero", 4, "kept", 4);
    CHECK_OK(bc_delete(db, B("zero"), 4));
}

int main(void)
{
    const char *root = test_tmpdir("expiry");
    char dir_a[PATH_MAX], dir_b[PATH_MAX], dir_c[PATH_MAX], dir_d[PATH_MAX];
    join_path(dir_a, root, "a");
    join_path(dir_b, root, "b");
    join_path(dir_c, root, "c");
    join_path(dir_d, root, "d");

    /* A: no store-wide expiry. Permanent keys first. */
    bc_db *a = open_store(dir_a, 0);
    test_bad_arguments(a);
    for (int i = 0; i < 5; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "p%d", i);
        snprintf(v, sizeof v, "perm-%d", i);
        put(a, k, v);
    }
    put_ttl(a, "perm", "perm-ttl", 1);
    put(a, "perm", "perm-final"); /* permanent again */
    put_ttl(a, "long", "long-lived", 3600);
    put_ttl(a, "zlong", "zlong-old", 1);
    put_ttl(a, "zlong", "zlong-new", 3600); /* a longer ttl replaces a shorter one */
    bc_db *b = open_store(dir_b, 1);
    bc_db *c = open_store(dir_c, 3600);
    bc_db *d = open_store(dir_d, 1);

    /* Start at the beginning of a wall-clock second, so the writes and the "visible at once"
     * checks below all happen in the second they were written (a 1 s expiry ends at the next
     * second boundary at the earliest). */
    double t = wall_now();
    if (t - (double)(time_t)t > 0.5)
        sleep_until((double)((time_t)t + 1) + 0.01);
    double t0 = wall_now();
    time_t sec0 = (time_t)t0;

    bc_stats s0 = stats(a);
    static const char *const ttl_keys[] = {"t0", "t1", "t2", "t3", "t4",
                                           "t5", "t6", "t7", "t8", "t9", "over"};
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "ttl-%d", i);
        put_ttl(a, ttl_keys[i], v, 1);
    }
    put(a, "over", "over-plain");
    put_ttl(a, "over", "over-ttl", 1); /* bc_put_ttl after bc_put: expires */
    bc_stats s1 = stats(a);

    static const struct kv a_before[] = {
        {"p0", "perm-0"}, {"p1", "perm-1"},   {"p2", "perm-2"},     {"p3", "perm-3"},
        {"p4", "perm-4"}, {"perm", "perm-final"}, {"long", "long-lived"}, {"zlong", "zlong-new"},
        {"t0", "ttl-0"},  {"t1", "ttl-1"},    {"t2", "ttl-2"},      {"t3", "ttl-3"},
        {"t4", "ttl-4"},  {"t5", "ttl-5"},    {"t6", "ttl-6"},      {"t7", "ttl-7"},
        {"t8", "ttl-8"},  {"t9", "ttl-9"},    {"over", "over-ttl"},
    };
    static const struct kv a_after[] = {
        {"p0", "perm-0"}, {"p1", "perm-1"},       {"p2", "perm-2"},       {"p3", "perm-3"},
        {"p4", "perm-4"}, {"perm", "perm-final"}, {"long", "long-lived"}, {"zlong", "zlong-new"},
    };
    const int n_before = (int)(sizeof a_before / sizeof a_before[0]);
    const int n_after = (int)(sizeof a_after / sizeof a_after[0]);
    CHECK_LIVE_SET("A at once", a, a_before, n_before);
    bc_iter *early_it = NULL;
    CHECK_OK(bc_iter_new(a, &early_it)); /* its snapshot holds the ttl keys */

    /* B: store-wide 1 s, through bc_put, bc_write and a longer bc_put_ttl. */
    put(b, "b0", "vb0");
    put(b, "b1", "vb1");
    put_ttl(b, "blong", "vblong", 3600);
    bc_batch *batch = bc_batch_new();
    CHECK(batch != NULL, "bc_batch_new");
    CHECK_OK(bc_batch_put(batch, B("bb0"), 3, B("vbb0"), 4));
    CHECK_OK(bc_batch_put(batch, B("bb1"), 3, B("vbb1"), 4));
    CHECK_OK(bc_write(b, batch));
    bc_batch_free(batch);
    static const struct kv b_before[] = {
        {"b0", "vb0"}, {"b1", "vb1"}, {"blong", "vblong"}, {"bb0", "vbb0"}, {"bb1", "vbb1"}};
    static const char *const b_keys[] = {"b0", "b1", "blong", "bb0", "bb1"};
    CHECK_LIVE_SET("B (expiry 1 s) at once", b, b_before, 5);

    /* C: store-wide 3600 s with a 1 s ttl key. */
    put_ttl(c, "c1", "vc1", 1);
    put(c, "c2", "vc2");
    static const struct kv c_before[] = {{"c1", "vc1"}, {"c2", "vc2"}};
    static const struct kv c_after[] = {{"c2", "vc2"}};
    CHECK_LIVE_SET("C at once", c, c_before, 2);

    /* D: store-wide 1 s, closed before its keys expire. */
    put(d, "d0", "vd0");
    put(d, "d1", "vd1");
    static const struct kv d_before[] = {{"d0", "vd0"}, {"d1", "vd1"}};
    static const char *const d_keys[] = {"d0", "d1"};
    CHECK_LIVE_SET("D (expiry 1 s) at once", d, d_before, 2);
    CHECK_OK(bc_close(d));

    double t1 = wall_now();
    printf("  writes and immediate checks: %.3f s after the second boundary\n", t1 - (double)sec0);
    CHECK((time_t)t1 == sec0, "the immediate checks took too long (%.3f s): they crossed the "
                              "second in which the 1 s keys may expire",
          t1 - t0);

    /* The one sleep: every 1 s expiry is over by sec0 + 2 (second granularity), with margin. */
    sleep_until((double)sec0 + 2.1);
    printf("  slept %.2f s in all\n", wall_now() - t);

    /* ---- A after expiry ---- */
    CHECK_GONE("A after expiry", a, ttl_keys, 11);
    CHECK_LIVE_SET("A after expiry", a, a_after, n_after);
    for (int i = 0; i < 5; i++)
        CHECK_RC(bc_delete(a, B(ttl_keys[i]), strlen(ttl_keys[i])), BC_NOT_FOUND);
    CHECK_RC(bc_delete(a, B("over"), 4), BC_NOT_FOUND);
    /* The iterator opened before: a key that expired before it is reached is skipped. */
    {
        struct seen s;
        memset(&s, 0, sizeof s);
        const uint8_t *k, *v;
        size_t kl, vl;
        int rc;
        while ((rc = bc_iter_next(early_it, &k, &kl, &v, &vl)) == BC_OK)
            seen_kv(&s, k, kl, v, vl);
        CHECK_RC(rc, BC_NOT_FOUND);
        struct kv sorted[MAXSEEN];
        memcpy(sorted, a_after, sizeof a_after);
        qsort(sorted, (size_t)n_after, sizeof *sorted, cmp_kv);
        compare_at(__LINE__, "A after expiry", "an iterator opened before the expiry", &s, sorted,
                   n_after, 1, 1);
        bc_iter_free(early_it);
    }
    bc_stats s2 = stats(a);

    /* Reopen: still gone (the expiry is in the records); their bytes count as dead. */
    CHECK_OK(bc_close(a));
    a = open_store(dir_a, 0);
    CHECK_GONE("A reopened", a, ttl_keys, 11);
    CHECK_LIVE_SET("A reopened", a, a_after, n_after);
    bc_stats s3 = stats(a);
    printf("  A: live/dead/total before the ttl writes %llu/%llu/%llu, after %llu/%llu/%llu, "
           "after expiry %llu/%llu/%llu, reopened %llu/%llu/%llu\n",
           U(s0.live_bytes), U(s0.dead_bytes), U(s0.total_bytes), U(s1.live_bytes),
           U(s1.dead_bytes), U(s1.total_bytes), U(s2.live_bytes), U(s2.dead_bytes),
           U(s2.total_bytes), U(s3.live_bytes), U(s3.dead_bytes), U(s3.total_bytes));
    uint64_t expiring = s1.live_bytes - s0.live_bytes; /* every record written in between */
    CHECK(expiring > 0 && s1.keys == s0.keys + 11, "the ttl writes added %llu live bytes, %llu keys",
          U(expiring), U(s1.keys - s0.keys));
    CHECK(s3.keys == (uint64_t)n_after, "reopened: stats.keys %llu, expected %d", U(s3.keys),
          n_after);
    CHECK(s3.live_bytes == s0.live_bytes,
          "reopened: live_bytes %llu, expected %llu (without the %llu bytes of expired records)",
          U(s3.live_bytes), U(s0.live_bytes), U(expiring));
    CHECK(s3.dead_bytes == s1.dead_bytes + expiring,
          "reopened: dead_bytes %llu, expected %llu + %llu bytes of expired records",
          U(s3.dead_bytes), U(s1.dead_bytes), U(expiring));

    /* Merge: they stay gone, their bytes are reclaimed. */
    CHECK_OK(bc_merge(a));
    CHECK_GONE("A after bc_merge", a, ttl_keys, 11);
    CHECK_LIVE_SET("A after bc_merge", a, a_after, n_after);
    bc_stats s4 = stats(a);
    CHECK(s4.live_bytes == s0.live_bytes, "after bc_merge: live_bytes %llu, expected %llu",
          U(s4.live_bytes), U(s0.live_bytes));
    CHECK(s4.dead_bytes == 0, "after bc_merge: dead_bytes %llu, expected 0", U(s4.dead_bytes));
    CHECK(s4.total_bytes + expiring <= s3.total_bytes,
          "after bc_merge: total_bytes %llu, before %llu: the %llu expired bytes were not "
          "reclaimed",
          U(s4.total_bytes), U(s3.total_bytes), U(expiring));
    CHECK_OK(bc_close(a));
    a = open_store(dir_a, 0);
    CHECK_GONE("A after bc_merge and reopen", a, ttl_keys, 11);
    CHECK_LIVE_SET("A after bc_merge and reopen", a, a_after, n_after);
    CHECK(stats(a).keys == (uint64_t)n_after, "stats.keys %llu", U(stats(a).keys));
    CHECK_OK(bc_close(a));

    /* ---- B: store-wide expiry ---- */
    CHECK_GONE("B (expiry 1 s) after expiry", b, b_keys, 5);
    CHECK_LIVE_SET("B (expiry 1 s) after expiry", b, NULL, 0);
    CHECK_RC(bc_delete(b, B("b0"), 2), BC_NOT_FOUND);
    CHECK_OK(bc_close(b));
    b = open_store(dir_b, 1);
    CHECK_GONE("B reopened with expiry 1 s", b, b_keys, 5);
    CHECK_LIVE_SET("B reopened with expiry 1 s", b, NULL, 0);
    CHECK(stats(b).keys == 0, "B reopened: stats.keys %llu", U(stats(b).keys));
    CHECK_OK(bc_merge(b));
    CHECK_GONE("B after bc_merge", b, b_keys, 5);
    bc_stats sb = stats(b);
    CHECK(sb.keys == 0 && sb.live_bytes == 0 && sb.dead_bytes == 0,
          "B after bc_merge: keys %llu live %llu dead %llu, expected 0 0 0", U(sb.keys),
          U(sb.live_bytes), U(sb.dead_bytes));
    CHECK_OK(bc_close(b));

    /* ---- C: the sooner per-key ttl wins ---- */
    static const char *const c_gone[] = {"c1"};
    CHECK_GONE("C after expiry", c, c_gone, 1);
    CHECK_LIVE_SET("C after expiry", c, c_after, 1);
    CHECK_OK(bc_close(c));
    c = open_store(dir_c, 3600);
    CHECK_GONE("C reopened", c, c_gone, 1);
    CHECK_LIVE_SET("C reopened", c, c_after, 1);
    CHECK_OK(bc_close(c));

    /* ---- D: closed before the expiry, reopened after it with the same option ---- */
    d = open_store(dir_d, 1);
    CHECK_GONE("D reopened after expiry", d, d_keys, 2);
    CHECK_LIVE_SET("D reopened after expiry", d, NULL, 0);
    CHECK(stats(d).keys == 0, "D reopened: stats.keys %llu", U(stats(d).keys));
    CHECK_OK(bc_close(d));

    printf("test_expiry: ok\n");
    return 0;
}
