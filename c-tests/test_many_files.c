/*
 * test_many_files.c - a store of more than 1000 data files under a limit of 128 open file
 * descriptors: puts, gets from every file, a fold, close, reopen (recovery reads every file)
 * and the same again. The library must keep only max_open_files (default 64) read handles open.
 */
#include "check.h"

#include <sys/resource.h>

#define NKEYS 1100

static size_t make_key(char *buf, size_t cap, int i)
{
    return (size_t)snprintf(buf, cap, "file-key-%04d", i);
}

/* ~200-byte values: with max_file_size 256 each record needs a file of its own. */
static size_t make_val(uint8_t *buf, size_t cap, int i)
{
    size_t n = (size_t)snprintf((char *)buf, cap, "value %d:", i);
    for (; n < 200 && n < cap; n++)
        buf[n] = (uint8_t)('A' + (i + (int)n) % 26);
    return n;
}

struct fold_state {
    int seen[NKEYS];
    int calls;
    int bad;
};

static int check_entry(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                       size_t vlen)
{
    struct fold_state *s = ctx;
    s->calls++;
    char k[32];
    uint8_t v[256];
    int i = -1;
    if (klen == 13 && memcmp(key, "file-key-", 9) == 0) {
        /* The key is not NUL-terminated: copy its 4 digits before atoi reads them. */
        char digits[5] = {0};
        memcpy(digits, key + 9, 4);
        i = atoi(digits) % NKEYS;
    }
    if (i < 0 || make_key(k, sizeof k, i) != klen || memcmp(k, key, klen) != 0) {
        s->bad++;
        return 0;
    }
    size_t vl = make_val(v, sizeof v, i);
    if (vl != vlen || memcmp(v, val, vl) != 0)
        s->bad++;
    s->seen[i]++;
    return 0;
}

static void check_all(bc_db *db, const char *dir)
{
    char k[32];
    uint8_t v[256];
    /* Gets in an order that jumps between files, twice, so the open-file cache must evict. */
    for (int round = 0; round < 2; round++)
        for (int j = 0; j < NKEYS; j++) {
            int i = (j * 337) % NKEYS; /* 337 and 1100 are coprime: a permutation */
            size_t kl = make_key(k, sizeof k, i), vl = make_val(v, sizeof v, i);
            CHECK_VALUE(db, k, kl, v, vl);
        }

    static struct fold_state s;
    memset(&s, 0, sizeof s);
    CHECK_OK(bc_fold(db, check_entry, &s));
    CHECK(s.bad == 0 && s.calls == NKEYS, "fold: %d calls, %d wrong", s.calls, s.bad);
    for (int i = 0; i < NKEYS; i++)
        CHECK(s.seen[i] == 1, "fold visited key %d %d times", i, s.seen[i]);

    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    uint64_t files = count_data_files(dir, NULL);
    CHECK(st.data_files > 1000 && st.data_files == files,
          "bc_stats says %llu data files, the directory has %llu (expected > 1000)",
          (unsigned long long)st.data_files, (unsigned long long)files);
    CHECK(st.keys == NKEYS, "%llu keys", (unsigned long long)st.keys);
}

/* Open descriptors of this process right now. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the DIR itself */
}

int main(void)
{
    const char *root = test_tmpdir("many-files");
    char dir[PATH_MAX];
    join_path(dir, root, "store");

    /* Only the soft limit binds; the hard one stays (valgrind refuses to change it). */
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s", strerror(errno));
    rl.rlim_cur = 128;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit(RLIMIT_NOFILE, 128): %s",
          strerror(errno));
    int fds_before = open_fds();

    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_file_size(o, 256));
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    char k[32];
    uint8_t v[256];
    for (int i = 0; i < NKEYS; i++) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(v, sizeof v, i);
        CHECK_OK(bc_put(db, B(k), kl, v, vl));
    }
    check_all(db, dir);
    int fds_open = open_fds();
    CHECK(fds_open - fds_before <= 64 + 4, "the handle holds %d descriptors", fds_open - fds_before);
    CHECK_OK(bc_close(db));
    CHECK(open_fds() == fds_before, "bc_close left %d descriptors open", open_fds() - fds_before);

    /* Reopen: recovery scans every file, then the same checks. */
    CHECK_OK(bc_open(dir, o, &db));
    check_all(db, dir);
    /* New writes after the reopen land too. */
    CHECK_OK(bc_put(db, B("after-reopen"), 12, B("yes"), 3));
    CHECK_VALUE(db, "after-reopen", 12, "yes", 3);
    CHECK_OK(bc_close(db));

    /* A read-only handle with a single cached file reads them all as well. */
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_OK(bc_options_set_max_open_files(o, 1));
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    for (int i = 0; i < NKEYS; i += 10) {
        size_t kl = make_key(k, sizeof k, i), vl = make_val(v, sizeof v, i);
        CHECK_VALUE(db, k, kl, v, vl);
    }
    CHECK_OK(bc_close(db));
    printf("test_many_files: ok\n");
    return 0;
}
