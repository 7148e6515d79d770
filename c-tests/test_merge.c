/*
 * test_merge.c - bc_merge, the merge options, auto-merge and hint files:
 *   - bad arguments: bc_merge(NULL), a read-only handle, bc_options_set_merge_trigger and
 *     bc_options_set_auto_merge with NULL / out-of-range values; a merge of an empty store;
 *   - a fragmented store (many overwrites and deletes, 4 KiB files): the stats before and after
 *     a merge (merges, sealed_dead_bytes, live_bytes, keys, reclaimed_bytes, total_bytes), the
 *     data files on disk against live_bytes, every value before and after close/reopen, a reopen
 *     that reads only hint files, no merge leftovers in the directory, one hint per data file;
 *   - deleted keys stay deleted through rounds of put/delete/merge/close/reopen;
 *   - auto-merge: fires above its fragmentation trigger, not below it, never when off; bc_close
 *     stops it promptly;
 *   - merges from two threads while a third writes and reads back its own writes and a fourth
 *     folds a fixed key set (each fixed key exactly once per fold);
 *   - a fold callback that merges the same handle (no deadlock, every key still visited once);
 *   - a damaged and a missing hint file: the two data files are scanned, every key is right.
 *
 * A watchdog (alarm) turns a deadlock into a failure naming the phase it hung in.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define U(x) ((unsigned long long)(x))
#define SMALL_FILE 4096
#define HEADER_BYTES 24 /* data file header (docs/FORMAT.md) */

/* ---- watchdog ------------------------------------------------------------------------------- */

static const char *volatile phase = "start";

static void on_alarm(int sig)
{
    (void)sig;
    const char *p = phase != NULL ? phase : "end";
    static const char msg[] = "test_merge: watchdog: no progress for 60 s (deadlock?) in phase: ";
    ssize_t r = write(2, msg, sizeof msg - 1);
    r = write(2, p, strlen(p));
    r = write(2, "\n", 1);
    (void)r;
    _exit(1);
}

static double now_s(void);

/* Names the phase for the watchdog and prints how long the previous one took. */
static void set_phase(const char *p)
{
    static double started;
    double t = now_s();
    if (started > 0)
        printf("    (%.2f s)\n", t - started);
    started = t;
    phase = p;
    if (p != NULL)
        printf("  %s\n", p);
    fflush(stdout);
    alarm(60);
}

/* ---- small helpers -------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bc_stats stats(bc_db *db)
{
    bc_stats st;
    memset(&st, 0xEE, sizeof st);
    CHECK_OK(bc_stats_get(db, &st));
    return st;
}

static void print_stats(const char *when, const bc_stats *s)
{
    printf("    %-26s keys=%llu files=%llu total=%llu live=%llu dead=%llu sealed_live=%llu "
           "sealed_dead=%llu merges=%llu reclaimed=%llu hints=%llu scanned=%llu\n",
           when, U(s->keys), U(s->data_files), U(s->total_bytes), U(s->live_bytes),
           U(s->dead_bytes), U(s->sealed_live_bytes), U(s->sealed_dead_bytes), U(s->merges),
           U(s->reclaimed_bytes), U(s->hint_files_loaded), U(s->data_files_scanned));
}

static bc_options *small_files(void)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new returned NULL");
    CHECK_OK(bc_options_set_max_file_size(o, SMALL_FILE));
    return o;
}

static bc_db *open_db(const char *dir, const bc_options *o)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    CHECK(db != NULL, "bc_open returned BC_OK with a NULL handle");
    return db;
}

/* ---- a model of a key set: state[i] is the round of key i's value, or -1 when absent -------- */

#define MAX_MODEL 512

struct model {
    const char *prefix;
    int n;
    int state[MAX_MODEL];
};

static size_t model_key(char *buf, size_t cap, const struct model *m, int i)
{
    return (size_t)snprintf(buf, cap, "%s-%04d", m->prefix, i);
}

/* "<prefix> <i> round <r>:" then filler that depends on i and r, 40..69 bytes in all, so a value
 * from the wrong key or the wrong round is noticed. */
static size_t model_val(uint8_t *buf, size_t cap, const struct model *m, int i, int r)
{
    size_t want = 40 + (size_t)(i % 30);
    size_t n = (size_t)snprintf((char *)buf, cap, "%s %d round %d:", m->prefix, i, r);
    for (; n < want && n < cap; n++)
        buf[n] = (uint8_t)('a' + (i * 7 + r * 3 + (int)n) % 26);
    return n;
}

static void model_init(struct model *m, const char *prefix, int n)
{
    CHECK(n <= MAX_MODEL, "model too large");
    m->prefix = prefix;
    m->n = n;
    for (int i = 0; i < n; i++)
        m->state[i] = -1;
}

static void model_put(bc_db *db, struct model *m, int i, int r)
{
    char k[64];
    uint8_t v[128];
    size_t kl = model_key(k, sizeof k, m, i);
    size_t vl = model_val(v, sizeof v, m, i, r);
    int rc = bc_put(db, B(k), kl, v, vl);
    CHECK(rc == BC_OK, "bc_put(%s, round %d) returned %d (%s)", k, r, rc, bc_status_str(rc));
    m->state[i] = r;
}

static void model_delete(bc_db *db, struct model *m, int i)
{
    char k[64];
    size_t kl = model_key(k, sizeof k, m, i);
    int rc = bc_delete(db, B(k), kl);
    int want = m->state[i] >= 0 ? BC_OK : BC_NOT_FOUND;
    CHECK(rc == want, "bc_delete(%s) returned %d (%s), expected %d", k, rc, bc_status_str(rc),
          want);
    m->state[i] = -1;
}

static uint64_t model_live(const struct model *m)
{
    uint64_t n = 0;
    for (int i = 0; i < m->n; i++)
        n += m->state[i] >= 0;
    return n;
}

/* Every key of the model: present ones hold exactly their newest value (bc_get, bc_get_into,
 * bc_contains), absent ones are BC_NOT_FOUND everywhere. */
static void model_check(bc_db *db, const struct model *m, const char *when)
{
    char k[64];
    uint8_t want[128];
    for (int i = 0; i < m->n; i++) {
        size_t kl = model_key(k, sizeof k, m, i);
        uint8_t *val = (uint8_t *)&val;
        size_t vlen = 99;
        int rc = bc_get(db, B(k), kl, &val, &vlen);
        if (m->state[i] < 0) {
            CHECK(rc == BC_NOT_FOUND, "%s: deleted key %s: bc_get returned %d (%s) with %zu "
                  "bytes \"%.*s\", expected BC_NOT_FOUND", when, k, rc, bc_status_str(rc), vlen,
                  rc == BC_OK ? (int)vlen : 0, rc == BC_OK ? (const char *)val : "");
            CHECK(val == NULL && vlen == 0, "%s: bc_get of absent %s left out-params set", when,
                  k);
            CHECK_RC(bc_contains(db, B(k), kl), BC_NOT_FOUND);
            continue;
        }
        size_t wl = model_val(want, sizeof want, m, i, m->state[i]);
        CHECK(rc == BC_OK, "%s: key %s (round %d): bc_get returned %d (%s), expected BC_OK",
              when, k, m->state[i], rc, bc_status_str(rc));
        CHECK(vlen == wl && memcmp(val, want, wl) == 0,
              "%s: key %s: got \"%.*s\", expected \"%.*s\"", when, k, (int)vlen,
              (const char *)val, (int)wl, (const char *)want);
        bc_free(val);
        uint8_t buf[128];
        size_t n = 0;
        CHECK_OK(bc_get_into(db, B(k), kl, buf, sizeof buf, &n));
        CHECK(n == wl && memcmp(buf, want, wl) == 0, "%s: key %s: bc_get_into differs", when, k);
        CHECK_RC(bc_contains(db, B(k), kl), BC_OK);
    }
}

/* ---- the directory -------------------------------------------------------------------------- */

struct dir_info {
    uint64_t data, hints, data_bytes;
};

/* Checks that no merge leftover ("merge.tmp", "MERGED-*") is in `dir`; with `closed`, that every
 * data file has its hint and every hint its data file. */
static struct dir_info dir_check(const char *dir, int closed, const char *when)
{
    struct dir_info info = {0, 0, 0};
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir(%s): %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        CHECK(strcmp(name, "merge.tmp") != 0, "%s: merge.tmp left in the store directory", when);
        CHECK(strncmp(name, "MERGED-", 7) != 0, "%s: commit record %s left in the store", when,
              name);
        size_t len = strlen(name);
        char other[NAME_MAX + 1];
        if (is_data_file(name)) {
            info.data++;
            if (closed) {
                snprintf(other, sizeof other, "%.*s.hint", (int)(len - 5), name);
                CHECK(path_exists(path_in(dir, other)), "%s: closed store: %s has no %s", when,
                      name, other);
            }
        } else if (len > 5 && strcmp(name + len - 5, ".hint") == 0) {
            info.hints++;
            if (closed) {
                snprintf(other, sizeof other, "%.*s.data", (int)(len - 5), name);
                CHECK(path_exists(path_in(dir, other)), "%s: %s without its data file %s", when,
                      name, other);
            }
        }
    }
    closedir(d);
    count_data_files(dir, &info.data_bytes);
    if (closed)
        CHECK(info.data == info.hints, "%s: %llu data files but %llu hint files", when,
              U(info.data), U(info.hints));
    return info;
}

/* ---- 1. arguments --------------------------------------------------------------------------- */

static void test_arguments(const char *root)
{
    set_phase("arguments");
    CHECK_RC(bc_merge(NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_merge: ");

    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_RC(bc_options_set_merge_trigger(NULL, 60, 1000), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_merge_trigger: ");
    CHECK_RC(bc_options_set_merge_trigger(o, 101, 1000), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_merge_trigger: ");
    CHECK_RC(bc_options_set_merge_trigger(o, UINT32_MAX, 1000), BC_E_INVALID);
    CHECK_OK(bc_options_set_merge_trigger(o, 0, 0));
    CHECK_OK(bc_options_set_merge_trigger(o, 100, UINT64_MAX));
    CHECK_OK(bc_options_set_merge_trigger(o, 60, 536870912));
    CHECK_RC(bc_options_set_auto_merge(NULL, 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_options_set_auto_merge: ");
    CHECK_RC(bc_options_set_auto_merge(NULL, 0), BC_E_INVALID);
    CHECK_OK(bc_options_set_auto_merge(o, 1));
    CHECK_OK(bc_options_set_auto_merge(o, 0));
    CHECK_OK(bc_options_set_auto_merge(o, -7)); /* any non-zero is on */
    bc_options_free(o);

    /* A merge of an empty store succeeds and leaves it empty. */
    char dir[PATH_MAX];
    join_path(dir, root, "empty");
    bc_db *db = open_db(dir, NULL);
    CHECK_OK(bc_merge(db));
    CHECK_OK(bc_merge(db));
    bc_stats s = stats(db);
    CHECK(s.keys == 0 && s.live_bytes == 0 && s.dead_bytes == 0,
          "an empty store after merge has keys/live/dead %llu/%llu/%llu", U(s.keys),
          U(s.live_bytes), U(s.dead_bytes));
    dir_check(dir, 0, "empty store merged");
    CHECK_OK(bc_put(db, B("k"), 1, B("v"), 1));
    CHECK_OK(bc_put(db, B("k"), 1, B("v2"), 2));
    CHECK_OK(bc_close(db));
    dir_check(dir, 1, "empty store closed");

    /* A read-only handle refuses to merge and changes nothing. */
    o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_OK(bc_options_set_auto_merge(o, 1)); /* ignored for read-only handles */
    CHECK_OK(bc_options_set_merge_trigger(o, 0, 0));
    db = open_db(dir, o);
    bc_options_free(o);
    uint64_t bytes_before = 0, bytes_after = 0;
    uint64_t files_before = count_data_files(dir, &bytes_before);
    CHECK_RC(bc_merge(db), BC_E_READ_ONLY);
    CHECK_ERR_MSG("bc_merge: ");
    sleep_ms(300); /* an auto-merge thread (which must not exist) would have run by now */
    CHECK_VALUE(db, "k", 1, "v2", 2);
    s = stats(db);
    CHECK(s.merges == 0, "a read-only handle counts %llu merges", U(s.merges));
    CHECK_OK(bc_close(db));
    uint64_t files_after = count_data_files(dir, &bytes_after);
    CHECK(files_after == files_before && bytes_after == bytes_before,
          "a read-only handle changed the data files (%llu files/%llu bytes -> %llu/%llu)",
          U(files_before), U(bytes_before), U(files_after), U(bytes_after));
}

/* ---- 2. a fragmented store ------------------------------------------------------------------ */

#define MAIN_KEYS 300
#define MAIN_ROUNDS 6

static struct model main_model;

static void test_fragmented(const char *dir)
{
    set_phase("fragmented store: writes");
    struct model *m = &main_model;
    model_init(m, "main", MAIN_KEYS);
    bc_options *o = small_files();
    bc_db *db = open_db(dir, o);

    for (int r = 0; r < MAIN_ROUNDS; r++)
        for (int i = 0; i < MAIN_KEYS; i++)
            model_put(db, m, i, r);
    for (int i = 0; i < MAIN_KEYS; i++)
        if (i % 3 == 0 || i % 7 == 1)
            model_delete(db, m, i);
    for (int i = 0; i < MAIN_KEYS; i += 9) /* deleted, then written again */
        model_put(db, m, i, MAIN_ROUNDS);

    bc_stats before = stats(db);
    print_stats("before merge", &before);
    CHECK(before.keys == model_live(m), "keys %llu, expected %llu", U(before.keys),
          U(model_live(m)));
    CHECK(before.dead_bytes > before.live_bytes,
          "after %d rounds of overwrites, dead_bytes %llu should exceed live_bytes %llu",
          MAIN_ROUNDS, U(before.dead_bytes), U(before.live_bytes));
    CHECK(before.sealed_dead_bytes > 0, "sealed_dead_bytes is 0 with %llu data files",
          U(before.data_files));
    CHECK(before.data_files >= 10, "only %llu data files of %d bytes", U(before.data_files),
          SMALL_FILE);
    CHECK(before.merges == 0, "merges %llu before any merge", U(before.merges));
    model_check(db, m, "before merge");

    set_phase("fragmented store: merge");
    CHECK_OK(bc_merge(db));
    bc_stats after = stats(db);
    print_stats("after merge", &after);
    CHECK(after.merges == 1, "merges is %llu after one bc_merge", U(after.merges));
    CHECK(after.sealed_dead_bytes == 0, "sealed_dead_bytes is %llu right after a merge",
          U(after.sealed_dead_bytes));
    CHECK(after.dead_bytes == 0, "dead_bytes is %llu right after a merge with no write since",
          U(after.dead_bytes));
    CHECK(after.live_bytes == before.live_bytes, "live_bytes changed in the merge: %llu -> %llu",
          U(before.live_bytes), U(after.live_bytes));
    CHECK(after.keys == before.keys, "keys changed in the merge: %llu -> %llu", U(before.keys),
          U(after.keys));
    CHECK(after.reclaimed_bytes > 0, "reclaimed_bytes is 0 after merging %llu dead bytes",
          U(before.dead_bytes));
    CHECK(after.total_bytes < before.total_bytes, "total_bytes did not shrink: %llu -> %llu",
          U(before.total_bytes), U(after.total_bytes));
    CHECK(after.reclaimed_bytes <= before.total_bytes - after.total_bytes + HEADER_BYTES,
          "reclaimed_bytes %llu exceeds the shrink of total_bytes %llu -> %llu",
          U(after.reclaimed_bytes), U(before.total_bytes), U(after.total_bytes));
    CHECK(after.reclaimed_bytes + HEADER_BYTES >= before.total_bytes - after.total_bytes,
          "reclaimed_bytes %llu is far below the shrink of total_bytes %llu -> %llu",
          U(after.reclaimed_bytes), U(before.total_bytes), U(after.total_bytes));

    struct dir_info di = dir_check(dir, 0, "after merge");
    printf("    on disk: %llu data files, %llu bytes, %llu hints\n", U(di.data), U(di.data_bytes),
           U(di.hints));
    CHECK(di.data == after.data_files, "stats say %llu data files, the directory has %llu",
          U(after.data_files), U(di.data));
    CHECK(di.data_bytes == after.total_bytes, "stats say total %llu, the data files hold %llu",
          U(after.total_bytes), U(di.data_bytes));
    CHECK(di.data_bytes >= after.live_bytes, "%llu bytes of data files hold %llu live bytes",
          U(di.data_bytes), U(after.live_bytes));
    CHECK(di.data_bytes <= after.live_bytes + after.live_bytes / 5 + HEADER_BYTES * di.data,
          "after a merge the %llu data files hold %llu bytes for %llu live bytes (more than "
          "20%% + headers)",
          U(di.data), U(di.data_bytes), U(after.live_bytes));
    model_check(db, m, "after merge");

    set_phase("fragmented store: reopen");
    CHECK_OK(bc_close(db));
    di = dir_check(dir, 1, "merged store closed");
    db = open_db(dir, o);
    bc_stats re = stats(db);
    print_stats("reopened", &re);
    CHECK(re.data_files_scanned == 0, "a reopen after merge + close scanned %llu data files",
          U(re.data_files_scanned));
    CHECK(re.hint_files_loaded > 0, "a reopen after merge + close loaded no hint file");
    CHECK(re.hint_files_loaded == re.data_files,
          "%llu hint files loaded for %llu data files (with 0 scanned)",
          U(re.hint_files_loaded), U(re.data_files));
    CHECK(re.keys == after.keys && re.live_bytes == after.live_bytes,
          "reopen from hints: keys/live %llu/%llu, before close %llu/%llu", U(re.keys),
          U(re.live_bytes), U(after.keys), U(after.live_bytes));
    CHECK(re.dead_bytes == 0, "reopen after merge: dead_bytes %llu", U(re.dead_bytes));
    CHECK(re.corrupt_records == 0 && re.truncated_bytes == 0, "reopen after merge reports damage");
    model_check(db, m, "reopened after merge");

    /* Writes after the reopen (appended to the file that carried a hint) and another merge. */
    for (int i = 1; i < MAIN_KEYS; i += 5)
        model_put(db, m, i, MAIN_ROUNDS + 1);
    model_delete(db, m, 2);
    model_check(db, m, "written after reopen");
    CHECK_OK(bc_merge(db));
    model_check(db, m, "second merge");
    CHECK(stats(db).merges == 1, "merges counts this handle's merges only");
    CHECK_OK(bc_close(db));
    dir_check(dir, 1, "second merge closed");
    db = open_db(dir, o);
    re = stats(db);
    CHECK(re.data_files_scanned == 0, "reopen after the second merge scanned %llu files",
          U(re.data_files_scanned));
    model_check(db, m, "reopened after second merge");
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

/* ---- 3. damaged and missing hints (on the store of test 2) ---------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_bad_hints(const char *dir)
{
    set_phase("damaged and missing hints");
    /* Hints of data files that hold records, by name. */
    char *names[1024];
    int n = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir(%s): %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".hint") != 0)
            continue;
        char data[NAME_MAX + 1];
        snprintf(data, sizeof data, "%.*s.data", (int)(len - 5), e->d_name);
        struct stat st;
        CHECK(stat(path_in(dir, data), &st) == 0, "stat %s", data);
        if (st.st_size <= HEADER_BYTES)
            continue;
        CHECK(n < 1024, "too many hint files");
        names[n] = strdup(e->d_name);
        CHECK(names[n] != NULL, "strdup");
        n++;
    }
    closedir(d);
    CHECK(n >= 2, "need two hint files of non-empty data files, found %d", n);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);

    /* Flip one byte in the middle of the first hint file. */
    char path[PATH_MAX];
    join_path(path, dir, names[0]);
    size_t len = 0;
    uint8_t *buf = read_file(path, &len);
    CHECK(len > 0, "%s is empty", path);
    buf[len / 2] ^= 0x5A;
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    write_full(fd, buf, len);
    close(fd);
    free(buf);
    /* Delete the second. */
    join_path(path, dir, names[1]);
    CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
    printf("    corrupted %s, deleted %s\n", names[0], names[1]);
    for (int i = 0; i < n; i++)
        free(names[i]);

    bc_options *o = small_files();
    bc_db *db = open_db(dir, o);
    bc_options_free(o);
    bc_stats s = stats(db);
    print_stats("reopened with bad hints", &s);
    CHECK(s.data_files_scanned == 2,
          "one damaged and one missing hint: %llu data files scanned, expected 2",
          U(s.data_files_scanned));
    CHECK(s.hint_files_loaded + 2 == s.data_files, "%llu hints loaded for %llu data files",
          U(s.hint_files_loaded), U(s.data_files));
    CHECK(s.keys == model_live(&main_model), "keys %llu, expected %llu", U(s.keys),
          U(model_live(&main_model)));
    CHECK(s.corrupt_records == 0, "a damaged hint counted %llu corrupt records",
          U(s.corrupt_records));
    model_check(db, &main_model, "reopened with a damaged and a missing hint");
    CHECK_OK(bc_close(db));
}

/* ---- 4. deleted keys stay deleted ----------------------------------------------------------- */

#define ROUND_KEYS 100
#define ROUNDS 5

static void test_deletes_stay(const char *root)
{
    set_phase("deleted keys stay deleted");
    char dir[PATH_MAX];
    join_path(dir, root, "rounds");
    bc_options *o = small_files();
    static struct model m;
    model_init(&m, "rnd", ROUND_KEYS);
    bc_db *db = open_db(dir, o);
    for (int r = 0; r < ROUNDS; r++) {
        /* Two overwrites of every key not deleted yet, then delete a tenth of the keys. */
        for (int w = 0; w < 2; w++)
            for (int i = 0; i < ROUND_KEYS; i++)
                if (i % 10 >= r)
                    model_put(db, &m, i, r * 2 + w);
        for (int i = r; i < ROUND_KEYS; i += 10)
            model_delete(db, &m, i);
        model_check(db, &m, "round: deleted");
        /* The tombstones (in the active file) must hide the merged copies after a reopen... */
        CHECK_OK(bc_close(db));
        db = open_db(dir, o);
        model_check(db, &m, "round: reopened before merge");
        /* ...and a merge drops the tombstones and the values they hid. */
        CHECK_OK(bc_merge(db));
        model_check(db, &m, "round: merged");
        bc_stats s = stats(db);
        CHECK(s.keys == model_live(&m), "round %d: keys %llu after merge, expected %llu", r,
              U(s.keys), U(model_live(&m)));
        CHECK(s.sealed_dead_bytes == 0, "round %d: sealed_dead_bytes %llu after merge", r,
              U(s.sealed_dead_bytes));
        CHECK_OK(bc_close(db));
        dir_check(dir, 1, "round: merged and closed");
        db = open_db(dir, o);
        model_check(db, &m, "round: reopened after merge");
        s = stats(db);
        CHECK(s.keys == model_live(&m), "round %d: keys %llu after reopen, expected %llu", r,
              U(s.keys), U(model_live(&m)));
    }
    /* A merge with no tombstone left, then a final reopen. */
    CHECK_OK(bc_merge(db));
    CHECK_OK(bc_close(db));
    db = open_db(dir, o);
    model_check(db, &m, "rounds: final");
    CHECK(model_live(&m) == ROUND_KEYS / 2, "model: %llu keys left", U(model_live(&m)));
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

/* ---- 5. auto-merge -------------------------------------------------------------------------- */

#define AUTO_KEYS 100

/* `rounds` writes of every key: (rounds-1)/rounds of the written bytes end up dead. */
static bc_db *fragment(const char *dir, const bc_options *o, struct model *m, const char *prefix,
                       int rounds)
{
    model_init(m, prefix, AUTO_KEYS);
    bc_db *db = open_db(dir, o);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < AUTO_KEYS; i++)
            model_put(db, m, i, r);
    return db;
}

static void test_auto_merge(const char *root)
{
    static struct model m;
    char dir[PATH_MAX];

    /* On, trigger 50%: 5 writes of each key leave ~80% of the sealed bytes dead. */
    set_phase("auto-merge on, above the trigger");
    join_path(dir, root, "auto-on");
    bc_options *o = small_files();
    CHECK_OK(bc_options_set_auto_merge(o, 1));
    CHECK_OK(bc_options_set_merge_trigger(o, 50, UINT64_MAX));
    bc_db *db = fragment(dir, o, &m, "auto", 5);
    double t0 = now_s();
    bc_stats s = stats(db);
    print_stats("auto: written", &s);
    while (s.merges < 1 && now_s() - t0 < 10.0) {
        sleep_ms(50);
        s = stats(db);
    }
    print_stats("auto: polled", &s);
    printf("    auto-merge after %.2f s\n", now_s() - t0);
    CHECK(s.merges >= 1, "auto-merge (trigger 50%%) did not merge within 10 s of writes that "
          "left ~80%% of the sealed bytes dead");
    CHECK(s.reclaimed_bytes > 0, "an auto-merge reclaimed nothing");
    CHECK(s.keys == AUTO_KEYS, "keys %llu after auto-merge", U(s.keys));
    model_check(db, &m, "after auto-merge");
    /* More writes while the background thread runs, then a prompt close. */
    for (int i = 0; i < AUTO_KEYS; i += 2)
        model_put(db, &m, i, 10);
    model_check(db, &m, "written after auto-merge");
    double c0 = now_s();
    CHECK_OK(bc_close(db));
    double close_s = now_s() - c0;
    printf("    bc_close with auto-merge: %.3f s\n", close_s);
    CHECK(close_s < 2.0, "bc_close with auto-merge on took %.2f s", close_s);
    db = open_db(dir, NULL);
    model_check(db, &m, "auto-merge store reopened");
    CHECK_OK(bc_close(db));
    bc_options_free(o);

    /* On, trigger 90%: 2 writes of each key leave ~50% dead, below it: no merge. */
    set_phase("auto-merge on, below the trigger");
    join_path(dir, root, "auto-below");
    o = small_files();
    CHECK_OK(bc_options_set_auto_merge(o, 1));
    CHECK_OK(bc_options_set_merge_trigger(o, 90, UINT64_MAX));
    db = fragment(dir, o, &m, "below", 2);
    sleep_ms(500);
    s = stats(db);
    print_stats("auto below trigger", &s);
    CHECK(s.sealed_dead_bytes > 0 &&
              s.sealed_dead_bytes * 100 < 90 * (s.sealed_dead_bytes + s.sealed_live_bytes),
          "the workload should be below a 90%% trigger (sealed live %llu, dead %llu)",
          U(s.sealed_live_bytes), U(s.sealed_dead_bytes));
    CHECK(s.merges == 0, "auto-merge merged %llu times below its 90%% trigger", U(s.merges));
    model_check(db, &m, "below the trigger");
    CHECK_OK(bc_close(db));
    bc_options_free(o);

    /* Off (the default): the workload of the first case does not merge. */
    set_phase("auto-merge off");
    join_path(dir, root, "auto-off");
    o = small_files();
    db = fragment(dir, o, &m, "off", 5);
    sleep_ms(500);
    s = stats(db);
    print_stats("auto off", &s);
    CHECK(s.merges == 0, "with auto-merge off (default) the store merged %llu times",
          U(s.merges));
    CHECK(s.sealed_dead_bytes > 0, "no sealed dead bytes: the workload proves nothing");
    model_check(db, &m, "auto-merge off");
    CHECK_OK(bc_close(db));
    bc_options_free(o);
}

/* ---- 6. merges under concurrent writes and folds -------------------------------------------- */

#define FIXED_KEYS 100
#define WKEYS 64
#define MERGES 6

static size_t fixed_key(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "fixed-%03d", i);
}

static size_t fixed_val(char *buf, size_t cap, int i)
{
    size_t n = (size_t)snprintf(buf, cap, "fixed value %d|", i);
    for (; n < 48 + (size_t)(i % 20) && n < cap; n++)
        buf[n] = (char)('A' + (i + (int)n) % 26);
    return n;
}

static size_t wr_key(char *buf, size_t cap, int k)
{
    return (size_t)snprintf(buf, cap, "wr-%02d", k);
}

static size_t wr_val(char *buf, size_t cap, int k, long iter)
{
    size_t n = (size_t)snprintf(buf, cap, "writer key %d iteration %ld|", k, iter);
    for (; n < 60 && n < cap; n++)
        buf[n] = (char)('a' + (k + iter + (long)n) % 26);
    return n;
}

struct shared {
    bc_db *db;
    atomic_int stop;
    atomic_long writer_iters;
    atomic_long folds;
    long wstate[WKEYS]; /* writer's model: iteration of each key's value, -1 absent */
    char werr[512];
    char ferr[512];
};

#define TFAIL(buf, ...)                                                                           \
    do {                                                                                          \
        snprintf((buf), sizeof(buf), __VA_ARGS__);                                                \
        return NULL;                                                                              \
    } while (0)

/* Reads key k and compares it with the writer's model; 0 when right, else fills msg. */
static int wr_matches(bc_db *db, const struct shared *sh, int k, char *msg, size_t cap)
{
    char key[32], want[128];
    uint8_t buf[128];
    size_t kl = wr_key(key, sizeof key, k);
    size_t n = 0;
    int rc = bc_get_into(db, B(key), kl, buf, sizeof buf, &n);
    if (sh->wstate[k] < 0) {
        if (rc != BC_NOT_FOUND) {
            snprintf(msg, cap, "%s was deleted, bc_get_into returned %d (%s)", key, rc,
                     bc_status_str(rc));
            return -1;
        }
        return 0;
    }
    size_t wl = wr_val(want, sizeof want, k, sh->wstate[k]);
    if (rc != BC_OK || n != wl || memcmp(buf, want, wl) != 0) {
        snprintf(msg, cap, "%s: bc_get_into returned %d (%s) with \"%.*s\", expected \"%s\"", key,
                 rc, bc_status_str(rc), rc == BC_OK ? (int)n : 0, (const char *)buf, want);
        return -1;
    }
    return 0;
}

static void *writer_thread(void *arg)
{
    struct shared *sh = arg;
    char key[32], val[128], msg[400];
    for (long it = 0;; it++) {
        if (atomic_load(&sh->stop) && it >= 1000)
            break;
        int k = (int)(it % WKEYS);
        size_t kl = wr_key(key, sizeof key, k);
        if (it % 11 == 10) {
            int rc = bc_delete(sh->db, B(key), kl);
            int want = sh->wstate[k] >= 0 ? BC_OK : BC_NOT_FOUND;
            if (rc != want)
                TFAIL(sh->werr, "iteration %ld: bc_delete(%s) returned %d (%s), expected %d", it,
                      key, rc, bc_status_str(rc), want);
            sh->wstate[k] = -1;
        } else {
            size_t vl = wr_val(val, sizeof val, k, it);
            int rc = bc_put(sh->db, B(key), kl, B(val), vl);
            if (rc != BC_OK)
                TFAIL(sh->werr, "iteration %ld: bc_put(%s) returned %d (%s): %s", it, key, rc,
                      bc_status_str(rc), bc_last_error());
            sh->wstate[k] = it;
        }
        /* Read-your-writes: the key just written, and an older one (maybe moved by a merge). */
        if (wr_matches(sh->db, sh, k, msg, sizeof msg) != 0)
            TFAIL(sh->werr, "iteration %ld, just written: %s", it, msg);
        if (wr_matches(sh->db, sh, (int)((it * 7 + 3) % WKEYS), msg, sizeof msg) != 0)
            TFAIL(sh->werr, "iteration %ld, older write: %s", it, msg);
        atomic_store(&sh->writer_iters, it + 1);
    }
    return NULL;
}

struct fold_count {
    int fixed[FIXED_KEYS];
    int wr[WKEYS];
    int others;
    int bad_values;
    char bad[256];
};

static int count_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct fold_count *fc = ctx;
    char tmp[32];
    if (klen >= sizeof tmp) {
        fc->others++;
        return 0;
    }
    memcpy(tmp, key, klen);
    tmp[klen] = '\0';
    if (klen == 9 && strncmp(tmp, "fixed-", 6) == 0) {
        int i = atoi(tmp + 6);
        char want[128];
        size_t wl = fixed_val(want, sizeof want, i);
        if (i < 0 || i >= FIXED_KEYS) {
            fc->others++;
        } else {
            fc->fixed[i]++;
            if (vlen != wl || memcmp(val, want, wl) != 0) {
                if (fc->bad_values++ == 0)
                    snprintf(fc->bad, sizeof fc->bad, "%s: fold gave %zu bytes \"%.*s\"", tmp,
                             vlen, (int)(vlen > 80 ? 80 : vlen), (const char *)val);
            }
        }
    } else if (klen == 5 && strncmp(tmp, "wr-", 3) == 0) {
        int k = atoi(tmp + 3);
        if (k < 0 || k >= WKEYS)
            fc->others++;
        else
            fc->wr[k]++;
        /* A writer value must at least be a writer value of this key. */
        char prefix[40];
        int pl = snprintf(prefix, sizeof prefix, "writer key %d iteration ", k);
        if (vlen < (size_t)pl || memcmp(val, prefix, (size_t)pl) != 0) {
            if (fc->bad_values++ == 0)
                snprintf(fc->bad, sizeof fc->bad, "%s: fold gave \"%.*s\"", tmp,
                         (int)(vlen > 80 ? 80 : vlen), (const char *)val);
        }
    } else {
        fc->others++;
    }
    return 0;
}

static void *fold_thread(void *arg)
{
    struct shared *sh = arg;
    static struct fold_count fc;
    for (long f = 0; !atomic_load(&sh->stop) || f < 3; f++) {
        memset(&fc, 0, sizeof fc);
        int rc = bc_fold(sh->db, count_cb, &fc);
        if (rc != BC_OK)
            TFAIL(sh->ferr, "fold %ld returned %d (%s): %s", f, rc, bc_status_str(rc),
                  bc_last_error());
        for (int i = 0; i < FIXED_KEYS; i++)
            if (fc.fixed[i] != 1)
                TFAIL(sh->ferr, "fold %ld visited fixed-%03d %d times, expected once", f, i,
                      fc.fixed[i]);
        for (int k = 0; k < WKEYS; k++)
            if (fc.wr[k] > 1)
                TFAIL(sh->ferr, "fold %ld visited wr-%02d %d times", f, k, fc.wr[k]);
        if (fc.others != 0)
            TFAIL(sh->ferr, "fold %ld visited %d unknown keys", f, fc.others);
        if (fc.bad_values != 0)
            TFAIL(sh->ferr, "fold %ld: %d wrong values, first: %s", f, fc.bad_values, fc.bad);
        atomic_store(&sh->folds, f + 1);
    }
    return NULL;
}

/* A second thread merging at the same time as main: calls wait for each other, all succeed. */
#define MERGES2 3

struct merger {
    bc_db *db;
    int rcs[MERGES2];
    char err[256];
};

static void *merger_thread(void *arg)
{
    struct merger *mg = arg;
    for (int i = 0; i < MERGES2; i++) {
        mg->rcs[i] = bc_merge(mg->db);
        if (mg->rcs[i] != BC_OK && mg->err[0] == '\0')
            snprintf(mg->err, sizeof mg->err, "%s", bc_last_error());
        sleep_ms(20);
    }
    return NULL;
}

static void check_concurrent_final(bc_db *db, const struct shared *sh, const char *when)
{
    char key[32], val[128], msg[400];
    for (int i = 0; i < FIXED_KEYS; i++) {
        size_t kl = fixed_key(key, sizeof key, i), vl = fixed_val(val, sizeof val, i);
        CHECK_VALUE(db, key, kl, val, vl);
    }
    uint64_t live = FIXED_KEYS;
    for (int k = 0; k < WKEYS; k++) {
        CHECK(wr_matches(db, sh, k, msg, sizeof msg) == 0, "%s: %s", when, msg);
        live += sh->wstate[k] >= 0;
    }
    bc_stats s = stats(db);
    CHECK(s.keys == live, "%s: keys %llu, expected %llu", when, U(s.keys), U(live));
}

static void test_concurrent(const char *root)
{
    set_phase("merges under concurrent writes and folds");
    char dir[PATH_MAX];
    join_path(dir, root, "concurrent");
    bc_options *o = small_files();
    bc_db *db = open_db(dir, o);
    char key[32], val[128];
    /* The fixed keys, each written three times (the last value counts) so merges have work. */
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < FIXED_KEYS; i++) {
            size_t kl = fixed_key(key, sizeof key, i);
            size_t vl = w < 2 ? (size_t)snprintf(val, sizeof val, "old %d/%d", i, w)
                              : fixed_val(val, sizeof val, i);
            CHECK_OK(bc_put(db, B(key), kl, B(val), vl));
        }

    static struct shared sh;
    sh.db = db;
    atomic_init(&sh.stop, 0);
    atomic_init(&sh.writer_iters, 0);
    atomic_init(&sh.folds, 0);
    for (int k = 0; k < WKEYS; k++)
        sh.wstate[k] = -1;
    pthread_t writer, folder;
    CHECK(pthread_create(&writer, NULL, writer_thread, &sh) == 0, "pthread_create");
    CHECK(pthread_create(&folder, NULL, fold_thread, &sh) == 0, "pthread_create");

    /* Let both threads get going, then merge repeatedly while they run. */
    double t0 = now_s();
    while ((atomic_load(&sh.writer_iters) < 200 || atomic_load(&sh.folds) < 1) &&
           sh.werr[0] == '\0' && sh.ferr[0] == '\0' && now_s() - t0 < 10.0)
        sleep_ms(1);
    long iters0 = atomic_load(&sh.writer_iters), folds0 = atomic_load(&sh.folds);
    static struct merger mg;
    mg.db = db;
    pthread_t merger;
    CHECK(pthread_create(&merger, NULL, merger_thread, &mg) == 0, "pthread_create");
    int rcs[MERGES];
    for (int i = 0; i < MERGES; i++) {
        rcs[i] = bc_merge(db);
        if (rcs[i] != BC_OK)
            fprintf(stderr, "merge %d: %s\n", i, bc_last_error());
        sleep_ms(15);
    }
    CHECK(pthread_join(merger, NULL) == 0, "pthread_join");
    long iters1 = atomic_load(&sh.writer_iters), folds1 = atomic_load(&sh.folds);
    atomic_store(&sh.stop, 1);
    CHECK(pthread_join(writer, NULL) == 0, "pthread_join");
    CHECK(pthread_join(folder, NULL) == 0, "pthread_join");
    printf("    during %d merges: %ld writer iterations, %ld folds (in all %ld, %ld)\n",
           MERGES + MERGES2, iters1 - iters0, folds1 - folds0, atomic_load(&sh.writer_iters),
           atomic_load(&sh.folds));
    CHECK(sh.werr[0] == '\0', "writer thread: %s", sh.werr);
    CHECK(sh.ferr[0] == '\0', "fold thread: %s", sh.ferr);
    for (int i = 0; i < MERGES; i++)
        CHECK(rcs[i] == BC_OK, "bc_merge #%d during writes and folds returned %d (%s)", i, rcs[i],
              bc_status_str(rcs[i]));
    for (int i = 0; i < MERGES2; i++)
        CHECK(mg.rcs[i] == BC_OK, "bc_merge #%d of the second merging thread returned %d (%s): %s",
              i, mg.rcs[i], bc_status_str(mg.rcs[i]), mg.err);
    CHECK(iters1 > iters0, "the writer made no progress during the merges");
    bc_stats s = stats(db);
    print_stats("concurrent: end", &s);
    CHECK(s.merges == MERGES + MERGES2, "merges %llu after %d bc_merge calls", U(s.merges),
          MERGES + MERGES2);
    check_concurrent_final(db, &sh, "after concurrent merges");
    dir_check(dir, 0, "after concurrent merges");

    set_phase("concurrent: reopen");
    CHECK_OK(bc_close(db));
    dir_check(dir, 1, "concurrent store closed");
    db = open_db(dir, o);
    bc_options_free(o);
    s = stats(db);
    CHECK(s.data_files_scanned == 0, "reopen after concurrent merges scanned %llu files",
          U(s.data_files_scanned));
    check_concurrent_final(db, &sh, "concurrent store reopened");
    CHECK_OK(bc_close(db));
}

/* ---- 7. a fold callback that merges --------------------------------------------------------- */

#define CB_KEYS 200

struct merging_fold {
    bc_db *db;
    const struct model *m;
    int seen[CB_KEYS];
    int calls;
    int merge_rc[2];
    int merges_run;
    int bad;
    char bad_msg[256];
};

static int merging_cb(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                      size_t vlen)
{
    struct merging_fold *f = ctx;
    f->calls++;
    if ((f->calls == 1 || f->calls == 60) && f->merges_run < 2)
        f->merge_rc[f->merges_run++] = bc_merge(f->db);
    char tmp[32];
    int i = -1;
    if (klen < sizeof tmp && klen > 3 && memcmp(key, "cb-", 3) == 0) {
        memcpy(tmp, key, klen);
        tmp[klen] = '\0';
        i = atoi(tmp + 3);
    }
    if (i < 0 || i >= CB_KEYS) {
        if (!f->bad++)
            snprintf(f->bad_msg, sizeof f->bad_msg, "unexpected key of %zu bytes", klen);
        return 0;
    }
    f->seen[i]++;
    uint8_t want[128];
    size_t wl = f->m->state[i] >= 0 ? model_val(want, sizeof want, f->m, i, f->m->state[i]) : 0;
    if (f->m->state[i] < 0 || vlen != wl || memcmp(val, want, wl) != 0) {
        if (!f->bad++)
            snprintf(f->bad_msg, sizeof f->bad_msg, "cb-%04d: value \"%.*s\" (round %d)", i,
                     (int)vlen, (const char *)val, f->m->state[i]);
    }
    return 0;
}

static void test_merge_in_fold(const char *root)
{
    set_phase("bc_merge inside a fold callback");
    char dir[PATH_MAX];
    join_path(dir, root, "fold-merge");
    bc_options *o = small_files();
    static struct model m;
    model_init(&m, "cb", CB_KEYS);
    bc_db *db = open_db(dir, o);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < CB_KEYS; i++)
            model_put(db, &m, i, r);
    for (int i = 0; i < CB_KEYS; i += 4)
        model_delete(db, &m, i);
    bc_stats before = stats(db);

    static struct merging_fold f;
    memset(&f, 0, sizeof f);
    f.db = db;
    f.m = &m;
    int rc = bc_fold(db, merging_cb, &f);
    CHECK(rc == BC_OK, "bc_fold whose callback merges returned %d (%s)", rc, bc_status_str(rc));
    CHECK(f.merges_run == 2, "the callback ran %d merges (the fold made %d calls)", f.merges_run,
          f.calls);
    CHECK(f.merge_rc[0] == BC_OK, "bc_merge in the fold callback (1st call) returned %d (%s)",
          f.merge_rc[0], bc_status_str(f.merge_rc[0]));
    CHECK(f.merge_rc[1] == BC_OK, "bc_merge in the fold callback (60th call) returned %d (%s)",
          f.merge_rc[1], bc_status_str(f.merge_rc[1]));
    CHECK(f.bad == 0, "fold with merges in its callback: %d bad visits, first: %s", f.bad,
          f.bad_msg);
    for (int i = 0; i < CB_KEYS; i++)
        CHECK(f.seen[i] == (m.state[i] >= 0 ? 1 : 0),
              "fold with merges in its callback visited cb-%04d %d times, expected %d", i,
              f.seen[i], m.state[i] >= 0 ? 1 : 0);
    CHECK((uint64_t)f.calls == model_live(&m), "%d fold calls for %llu keys", f.calls,
          U(model_live(&m)));

    bc_stats after = stats(db);
    print_stats("merged inside a fold", &after);
    CHECK(after.merges == 2, "merges %llu after two merges in a fold", U(after.merges));
    CHECK(after.total_bytes < before.total_bytes, "total_bytes %llu -> %llu",
          U(before.total_bytes), U(after.total_bytes));
    CHECK(after.live_bytes == before.live_bytes && after.keys == before.keys,
          "keys/live changed: %llu/%llu -> %llu/%llu", U(before.keys), U(before.live_bytes),
          U(after.keys), U(after.live_bytes));
    /* The fold is over: the files it kept alive are gone. */
    struct dir_info di = dir_check(dir, 0, "after the merging fold");
    CHECK(di.data == after.data_files && di.data_bytes == after.total_bytes,
          "after the fold the directory has %llu data files / %llu bytes, stats %llu / %llu",
          U(di.data), U(di.data_bytes), U(after.data_files), U(after.total_bytes));
    model_check(db, &m, "after the merging fold");

    /* A plain fold afterwards (merges_run == 2: the callback merges no more) sees the same. */
    memset(&f, 0, sizeof f);
    f.db = db;
    f.m = &m;
    f.merges_run = 2;
    CHECK_OK(bc_fold(db, merging_cb, &f));
    for (int i = 0; i < CB_KEYS; i++)
        CHECK(f.seen[i] == (m.state[i] >= 0 ? 1 : 0), "second fold: cb-%04d seen %d times", i,
              f.seen[i]);
    CHECK(f.bad == 0, "second fold: %s", f.bad_msg);

    CHECK_OK(bc_close(db));
    dir_check(dir, 1, "merging fold store closed");
    db = open_db(dir, o);
    bc_options_free(o);
    model_check(db, &m, "merging fold store reopened");
    CHECK_OK(bc_close(db));
}

/* --------------------------------------------------------------------------------------------- */

int main(void)
{
    signal(SIGALRM, on_alarm);
    double t0 = now_s();
    const char *root = test_tmpdir("merge");
    char main_dir[PATH_MAX];
    join_path(main_dir, root, "main");

    test_arguments(root);
    test_fragmented(main_dir);
    test_bad_hints(main_dir);
    test_deletes_stay(root);
    test_merge_in_fold(root);
    test_concurrent(root);
    test_auto_merge(root);

    set_phase(NULL);
    alarm(0);
    printf("test_merge: ok (%.2f s)\n", now_s() - t0);
    return 0;
}
