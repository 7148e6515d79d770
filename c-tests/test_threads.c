/*
 * test_threads.c - one bc_db shared by many pthreads:
 *   - 8 threads each put / get / overwrite / delete their own key range while all of them keep
 *     reading a shared, pre-written key set; afterwards every key has its expected value;
 *   - 4 writer threads under BC_SYNC_ALWAYS (group commit) and a reader; all writes land.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define NTHREADS 8
#define PER_THREAD 400
#define NSHARED 64

struct worker {
    bc_db *db;
    int id;
    char err[256]; /* first failure, reported by main (CHECK would exit mid-run) */
};

static size_t own_key(char *buf, size_t cap, int t, int i)
{
    return (size_t)snprintf(buf, cap, "t%d-key-%d", t, i);
}

static size_t own_val(char *buf, size_t cap, int t, int i, int round)
{
    return (size_t)snprintf(buf, cap, "value of t%d/%d, round %d", t, i, round);
}

static size_t shared_val(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "shared value %d, never changes", i);
}

/* Records a failure message once and tells the caller to stop. */
#define FAIL(w, ...)                                                                              \
    do {                                                                                          \
        if ((w)->err[0] == '\0') {                                                                \
            int fail_n_ = snprintf((w)->err, sizeof (w)->err, "thread %d, line %d: ", (w)->id,    \
                                   __LINE__);                                                     \
            snprintf((w)->err + fail_n_, sizeof (w)->err - (size_t)fail_n_, __VA_ARGS__);         \
        }                                                                                         \
        return NULL;                                                                              \
    } while (0)

/* Reads one key and compares it; returns 0 on a match. */
static int read_equals(bc_db *db, const char *k, size_t kl, const char *want, size_t wl)
{
    uint8_t buf[128];
    size_t n = 0;
    int rc = bc_get_into(db, B(k), kl, buf, sizeof buf, &n);
    if (rc != BC_OK)
        return rc;
    return n == wl && memcmp(buf, want, wl) == 0 ? 0 : 100;
}

static void *mixed_worker(void *arg)
{
    struct worker *w = arg;
    char k[64], v[128], sv[128], sk[32];
    for (int i = 0; i < PER_THREAD; i++) {
        size_t kl = own_key(k, sizeof k, w->id, i);
        size_t vl = own_val(v, sizeof v, w->id, i, 0);
        if (bc_put(w->db, B(k), kl, B(v), vl) != BC_OK)
            FAIL(w, "put %s: %s", k, bc_last_error());
        if (read_equals(w->db, k, kl, v, vl) != 0)
            FAIL(w, "read-your-write of %s", k);

        /* A shared key, read by everyone all the time. */
        int s = (i * 7 + w->id) % NSHARED;
        size_t skl = (size_t)snprintf(sk, sizeof sk, "shared-%d", s);
        size_t svl = shared_val(sv, sizeof sv, s);
        int rc = read_equals(w->db, sk, skl, sv, svl);
        if (rc != 0)
            FAIL(w, "shared key %s read %d", sk, rc);

        /* Every 3rd own key: overwrite an earlier one; every 5th: delete an earlier one. */
        if (i % 3 == 0 && i > 0) {
            kl = own_key(k, sizeof k, w->id, i - 1);
            vl = own_val(v, sizeof v, w->id, i - 1, 1);
            if (bc_put(w->db, B(k), kl, B(v), vl) != BC_OK)
                FAIL(w, "overwrite %s: %s", k, bc_last_error());
        }
        if (i % 5 == 0 && i > 1) {
            kl = own_key(k, sizeof k, w->id, i - 2);
            rc = bc_delete(w->db, B(k), kl);
            if (rc != BC_OK)
                FAIL(w, "delete %s returned %d", k, rc);
            if (bc_contains(w->db, B(k), kl) != BC_NOT_FOUND)
                FAIL(w, "%s still there after its delete", k);
        }
    }
    return NULL;
}

/* What a key of thread t, index i should hold after mixed_worker ran: -1 deleted, else the
 * round of its value. Mirrors the loop above. */
static int expected_round(int i)
{
    if (i + 2 < PER_THREAD && (i + 2) % 5 == 0 && i + 2 > 1)
        return -1;
    if (i + 1 < PER_THREAD && (i + 1) % 3 == 0 && i + 1 > 0)
        return 1;
    return 0;
}

static void check_final(bc_db *db)
{
    char k[64], v[128];
    uint64_t live = NSHARED;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            size_t kl = own_key(k, sizeof k, t, i);
            int round = expected_round(i);
            if (round < 0) {
                CHECK_ABSENT(db, k, kl);
            } else {
                size_t vl = own_val(v, sizeof v, t, i, round);
                CHECK_VALUE(db, k, kl, v, vl);
                live++;
            }
        }
    for (int s = 0; s < NSHARED; s++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "shared-%d", s);
        size_t vl = shared_val(v, sizeof v, s);
        CHECK_VALUE(db, k, kl, v, vl);
    }
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.keys == live, "stats say %llu keys, expected %llu", (unsigned long long)st.keys,
          (unsigned long long)live);
}

static void run_workers(bc_db *db, int n, void *(*fn)(void *), struct worker *ws)
{
    pthread_t th[NTHREADS];
    for (int t = 0; t < n; t++) {
        ws[t].db = db;
        ws[t].id = t;
        ws[t].err[0] = '\0';
        CHECK(pthread_create(&th[t], NULL, fn, &ws[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < n; t++)
        CHECK(pthread_join(th[t], NULL) == 0, "pthread_join");
    for (int t = 0; t < n; t++)
        CHECK(ws[t].err[0] == '\0', "%s", ws[t].err);
}

static void test_mixed(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "mixed");
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    /* Small files, so the threads also race over file rollover and the open-file cache. */
    CHECK_OK(bc_options_set_max_file_size(o, 16 * 1024));
    CHECK_OK(bc_options_set_max_open_files(o, 4));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    char k[32], v[128];
    for (int s = 0; s < NSHARED; s++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "shared-%d", s);
        size_t vl = shared_val(v, sizeof v, s);
        CHECK_OK(bc_put(db, B(k), kl, B(v), vl));
    }
    static struct worker ws[NTHREADS];
    run_workers(db, NTHREADS, mixed_worker, ws);
    check_final(db);
    CHECK_OK(bc_close(db));

    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    check_final(db);
    CHECK_OK(bc_close(db));
}

/* ---- BC_SYNC_ALWAYS with concurrent writers ------------------------------------------------- */

#define SYNC_WRITERS 4
#define SYNC_PUTS 150

static atomic_int writers_done;

static void *sync_writer(void *arg)
{
    struct worker *w = arg;
    char k[64], v[128];
    for (int i = 0; i < SYNC_PUTS; i++) {
        size_t kl = own_key(k, sizeof k, w->id, i), vl = own_val(v, sizeof v, w->id, i, 7);
        if (bc_put(w->db, B(k), kl, B(v), vl) != BC_OK)
            FAIL(w, "put %s under BC_SYNC_ALWAYS: %s", k, bc_last_error());
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Reads while the writers wait for fsyncs: reads must not fail (and the header promises they
 * do not wait for the disk). */
static void *sync_reader(void *arg)
{
    struct worker *w = arg;
    char v[128];
    size_t vl = own_val(v, sizeof v, -1, 0, 0);
    while (atomic_load(&writers_done) < SYNC_WRITERS)
        if (read_equals(w->db, "fixed", 5, v, vl) != 0)
            FAIL(w, "reading a fixed key during synced writes failed");
    return NULL;
}

static void test_sync_always_writers(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "sync-always");
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_ALWAYS, 0));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    char v[128];
    size_t vl = own_val(v, sizeof v, -1, 0, 0);
    CHECK_OK(bc_put(db, B("fixed"), 5, B(v), vl));

    static struct worker ws[SYNC_WRITERS + 1];
    pthread_t reader;
    ws[SYNC_WRITERS].db = db;
    ws[SYNC_WRITERS].id = SYNC_WRITERS;
    CHECK(pthread_create(&reader, NULL, sync_reader, &ws[SYNC_WRITERS]) == 0, "pthread_create");
    run_workers(db, SYNC_WRITERS, sync_writer, ws);
    CHECK(pthread_join(reader, NULL) == 0, "pthread_join");
    CHECK(ws[SYNC_WRITERS].err[0] == '\0', "%s", ws[SYNC_WRITERS].err);
    /* Group commit: overlapping writers share fsyncs, so there are fewer than writes. */
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    const uint64_t writes = 1 + SYNC_WRITERS * SYNC_PUTS;
    printf("  BC_SYNC_ALWAYS: %llu writes, %llu fsyncs\n", (unsigned long long)writes,
           (unsigned long long)st.syncs);
    CHECK(st.syncs >= 1 && st.syncs < writes, "%llu fsyncs for %llu synced writes from %d threads",
          (unsigned long long)st.syncs, (unsigned long long)writes, SYNC_WRITERS);
    CHECK_OK(bc_close(db));

    CHECK_OK(bc_open(dir, NULL, &db));
    char k[64];
    for (int t = 0; t < SYNC_WRITERS; t++)
        for (int i = 0; i < SYNC_PUTS; i++) {
            size_t kl = own_key(k, sizeof k, t, i);
            vl = own_val(v, sizeof v, t, i, 7);
            CHECK_VALUE(db, k, kl, v, vl);
        }
    CHECK_OK(bc_close(db));
}

int main(void)
{
    const char *root = test_tmpdir("threads");
    test_mixed(root);
    test_sync_always_writers(root);
    printf("test_threads: ok\n");
    return 0;
}
