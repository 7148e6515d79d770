/*
 * bench.c - db_bench-style comparison of bitcask with LMDB, LevelDB, RocksDB, Kyoto Cabinet,
 * Tkrzw and SQLite, each driven through its own C API.
 *
 * One source, one binary per store: the Makefile compiles this file once per store with
 * -DBACKEND_<NAME> and links only that store's library, so every store runs in its own process
 * with nothing of the others loaded. run.sh runs the binaries one after the other.
 *
 * Usage: bench_<store> --keys N --dir DIR [--sync-ops K] [--batch B]
 *        bench_<store> --keys N --dir DIR --mode scale-fill|scale-read [--reads R] [--max-secs S]
 *                      [--join-cgroup FILE]
 *   (the scale modes are scale.sh's subset: fill, memory and sampled random reads; see below)
 *   DIR must not exist or be empty; the store lives in DIR/db, the synced-put stores in
 *   DIR/sync1 and DIR/sync4, compacted copies (LMDB, Kyoto) in DIR/compact.
 * Output: one JSON object per line on stdout (results), progress on stderr.
 *
 * Workload (identical for every store):
 *   key(i)   = 16 ASCII hex digits of a bijective 64-bit mix of i: unique, random-looking.
 *   value(i,v) = 100 pseudo-random bytes derived from (i, version v): every read is verified.
 *   fill       : keys 0..N-1 in a shuffled order (fixed seed), version 0, no sync.
 *   read1      : every key once, another fixed shuffle, value verified, 1 thread.
 *   read2      : 2 threads, each reads every key in its own shuffle; total ops / wall time.
 *   absent     : N lookups of keys N..2N-1 (never written); each must be "not found".
 *   overwrite  : all N keys again in another shuffle, version 1, no sync.
 *   sync1/4    : on fresh stores opened in the synced configuration, 1 or 4 threads each do
 *                K puts of new keys (2N + ...), every put durable before it returns.
 *   reopen     : close, then time open + one verified get; median of 3 (after the overwrite,
 *                and again after the compaction).
 *   disk       : sum of file sizes under the store directory after overwrite / compaction.
 *   memory     : RSS (and anonymous RSS, and malloc in-use) growth from before open to after
 *                fill, divided by N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define KLEN 16
#define VLEN 100
#define VCAP 256

static uint64_t N = 1000000;
static uint64_t SYNC_OPS = 2000;
static uint64_t BATCH = 1000;   /* puts per transaction for the transactional stores (LMDB, SQLite) */
static const char *ROOT;
static int cold_reads;          /* scale-read mode: the store is larger than the cache it may use */

/* ------------------------------------------------------------------ utilities */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: FATAL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64 finaliser: a bijection on 64-bit integers */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void make_key(uint64_t idx, uint8_t out[KLEN]) {
    static const char hex[] = "0123456789abcdef";
    uint64_t h = mix64(idx + 0x2545F4914F6CDD1DULL);
    for (int i = 15; i >= 0; i--) {
        out[i] = (uint8_t)hex[h & 15];
        h >>= 4;
    }
}

static inline void make_value(uint64_t idx, uint32_t version, uint8_t out[VLEN]) {
    uint64_t s = mix64(idx * 8 + version + 0x9E3779B97F4A7C15ULL);
    for (int i = 0; i < VLEN; i += 8) {
        s += 0x9E3779B97F4A7C15ULL;
        uint64_t z = mix64(s);
        int n = VLEN - i < 8 ? VLEN - i : 8;
        memcpy(out + i, &z, (size_t)n);
    }
}

static void shuffle(uint32_t *a, uint64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (uint64_t i = 0; i < n; i++) a[i] = (uint32_t)i;
    for (uint64_t i = n - 1; i > 0; i--) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;  /* xorshift64* */
        uint64_t r = (s * 0x2545F4914F6CDD1DULL) >> 11;
        uint64_t j = r % (i + 1);
        uint32_t t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

static void mkdir_p(const char *p) {
    if (mkdir(p, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", p, strerror(errno));
}

static uint64_t du_size, du_alloc;
static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)path; (void)f;
    if (flag == FTW_F) { du_size += (uint64_t)st->st_size; du_alloc += (uint64_t)st->st_blocks * 512; }
    return 0;
}
static void disk_usage(const char *dir, uint64_t *size, uint64_t *alloc) {
    du_size = du_alloc = 0;
    if (nftw(dir, du_cb, 16, FTW_PHYS) != 0) die("nftw %s: %s", dir, strerror(errno));
    *size = du_size;
    if (alloc) *alloc = du_alloc;
}

/* Page cache of the files under a directory: counts the resident bytes (mincore) and, with
 * pc_drop set, asks the kernel to drop them (POSIX_FADV_DONTNEED; pages a store has mapped or
 * dirtied stay). */
static uint64_t pc_bytes;
static int pc_drop;
static int pc_cb(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_size == 0) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    long pg = sysconf(_SC_PAGESIZE);
    size_t pages = ((size_t)st->st_size + pg - 1) / pg;
    void *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(pages);
    if (m != MAP_FAILED && vec && mincore(m, (size_t)st->st_size, vec) == 0)
        for (size_t i = 0; i < pages; i++) pc_bytes += (vec[i] & 1) ? (uint64_t)pg : 0;
    free(vec);
    if (m != MAP_FAILED) munmap(m, (size_t)st->st_size);
    if (pc_drop) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}
static uint64_t page_cache(const char *dir, int drop) {
    pc_bytes = 0;
    pc_drop = drop;
    if (nftw(dir, pc_cb, 16, FTW_PHYS) != 0) die("nftw %s: %s", dir, strerror(errno));
    return pc_bytes;
}

typedef struct { uint64_t rss, anon, heap; } memsnap;
static memsnap mem_now(void) {
    memsnap m = {0, 0, 0};
    long pg = sysconf(_SC_PAGESIZE);
    unsigned long size, res, shared;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%lu %lu %lu", &size, &res, &shared) != 3) die("read /proc/self/statm");
    fclose(f);
    m.rss = (uint64_t)res * pg;
    m.anon = (uint64_t)(res - shared) * pg;   /* resident minus file-backed/shmem = RssAnon */
    struct mallinfo2 mi = mallinfo2();
    m.heap = mi.uordblks + mi.hblkhd;         /* in-use arena chunks + mmapped chunks */
    return m;
}

static const char *STORE;
static void emit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("{\"store\":\"%s\",", STORE);
    vprintf(fmt, ap);
    printf("}\n");
    fflush(stdout);
    va_end(ap);
}
static void emit_ops(const char *test, uint64_t ops, double secs, int threads) {
    /* us_per_op is the mean latency seen by one thread: threads * wall time / ops */
    emit("\"test\":\"%s\",\"ops\":%llu,\"threads\":%d,\"secs\":%.6f,\"ops_per_sec\":%.1f,\"us_per_op\":%.4f",
         test, (unsigned long long)ops, threads, secs, ops / secs, secs * 1e6 * threads / ops);
    fprintf(stderr, "  %-22s %12.0f ops/s %10.3f us/op  (%.2f s)\n", test, ops / secs,
            secs * 1e6 * threads / ops, secs);
}

static void json_str(char *dst, size_t cap, const char *src) {
    size_t j = 0;
    for (size_t i = 0; src[i] && j + 3 < cap; i++) {
        char c = src[i];
        if (c == '"' || c == '\\') dst[j++] = '\\';
        if (c == '\n') c = ' ';
        dst[j++] = c;
    }
    dst[j] = 0;
}

/* ------------------------------------------------------------------ backends
 * Each backend defines:
 *   BE_NAME, BE_CONFIG (text for the report)
 *   H  *be_open(const char *dir, int synced)      open/create the store in dir (dir exists)
 *   void be_close(H *)
 *   C  *be_thread_init(H *, int idx)              per-thread context (idx 0: main thread)
 *   void be_thread_done(H *, C *)
 *   void be_quiesce(H *, C *)                     end any read transaction the context holds
 *   void be_bulk_begin(H *, C *), be_bulk_end(H *, C *)   around every BATCH puts (fill/overwrite)
 *   void be_put(H *, C *, key, val)               a put inside bulk_begin/bulk_end
 *   void be_sync_put(H *, C *, key, val)          a put that is durable when it returns
 *   long be_get(H *, C *, key, buf, cap)          value length copied to buf, or -1 if absent
 *   void be_compact(H *, C *, const char *dir, const char *scratch, uint64_t *bytes, char *note)
 *   void be_report(H *, const char *label)        optional extra JSON (may do nothing)
 */

#if defined(BACKEND_BITCASK)
/* ================================================================ bitcask */
#include "bitcask.h"
#define BE_NAME "bitcask"
#define BE_CONFIG "bc_options_new() defaults (256 MiB files, BC_SYNC_NONE, no auto-merge) " \
                  "+ bc_options_set_expected_keys(N) (the keydir sized up front, as Kyoto " \
                  "Cabinet's bnum and Tkrzw's num_buckets size their hash tables); synced " \
                  "phases: bc_options_set_sync(BC_SYNC_ALWAYS); reads: bc_get_into; " \
                  "compaction: bc_merge"
typedef struct { bc_db *db; } H;
typedef void C;

static void bc_check(int rc, const char *what) {
    if (rc < 0) die("%s: %d %s: %s", what, rc, bc_status_str(rc), bc_last_error());
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    bc_options *o = bc_options_new();
    if (!o) die("bc_options_new");
    if (synced) bc_check(bc_options_set_sync(o, BC_SYNC_ALWAYS, 0), "bc_options_set_sync");
    bc_check(bc_options_set_expected_keys(o, N), "bc_options_set_expected_keys");
    bc_check(bc_open(dir, o, &h->db), "bc_open");
    bc_options_free(o);
    return h;
}
static void be_close(H *h) { bc_check(bc_close(h->db), "bc_close"); free(h); }
static C *be_thread_init(H *h, int idx) { (void)h; (void)idx; return NULL; }
static void be_thread_done(H *h, C *c) { (void)h; (void)c; }
static void be_quiesce(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_begin(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_end(H *h, C *c) { (void)h; (void)c; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)c;
    bc_check(bc_put(h->db, k, KLEN, v, VLEN), "bc_put");
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) { be_put(h, c, k, v); }
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    (void)c;
    size_t len = 0;
    int rc = bc_get_into(h->db, k, KLEN, buf, cap, &len);
    if (rc == BC_NOT_FOUND) return -1;
    bc_check(rc, "bc_get_into");
    return (long)len;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)c; (void)scratch;
    bc_check(bc_merge(h->db), "bc_merge");
    disk_usage(dir, bytes, NULL);
    strcpy(note, "bc_merge (in place)");
}
static void be_report(H *h, const char *label) {
    bc_stats s;
    bc_check(bc_stats_get(h->db, &s), "bc_stats_get");
    emit("\"test\":\"bitcask_stats\",\"label\":\"%s\",\"keys\":%llu,\"data_files\":%llu,"
         "\"total_bytes\":%llu,\"live_bytes\":%llu,\"dead_bytes\":%llu,\"syncs\":%llu,"
         "\"merges\":%llu,\"hint_files_loaded\":%llu,\"data_files_scanned\":%llu",
         label, (unsigned long long)s.keys, (unsigned long long)s.data_files,
         (unsigned long long)s.total_bytes, (unsigned long long)s.live_bytes,
         (unsigned long long)s.dead_bytes, (unsigned long long)s.syncs,
         (unsigned long long)s.merges, (unsigned long long)s.hint_files_loaded,
         (unsigned long long)s.data_files_scanned);
}

#elif defined(BACKEND_LMDB)
/* ================================================================ LMDB */
#include <lmdb.h>
#define BE_NAME "lmdb"
#define BE_CONFIG "mapsize max(1 GiB, 2000*N) bytes; flags MDB_NOTLS (+ MDB_NOSYNC outside the " \
                  "synced phases); one write txn per 1000 puts in fill/overwrite; a synced put is " \
                  "its own txn with default (full) sync; a read txn is renewed every 1000 gets; " \
                  "compaction: mdb_env_copy2(MDB_CP_COMPACT) to a new directory (LMDB never " \
                  "shrinks its file in place; freed pages are reused)"
typedef struct { MDB_env *env; MDB_dbi dbi; } H;
typedef struct { MDB_txn *r; int ractive; unsigned nreads; MDB_txn *w; } C;

static void mdb_check(int rc, const char *what) {
    if (rc != MDB_SUCCESS) die("%s: %s", what, mdb_strerror(rc));
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    mdb_check(mdb_env_create(&h->env), "mdb_env_create");
    size_t map = N * 2000;
    if (map < (1ULL << 30)) map = 1ULL << 30;
    mdb_check(mdb_env_set_mapsize(h->env, map), "mdb_env_set_mapsize");
    /* MDB_NORDAHEAD is what LMDB's docs suggest for random reads of a database larger than
     * the memory it may use, i.e. scale-read (bitcask advises its maps MADV_RANDOM itself) */
    unsigned flags = MDB_NOTLS | (synced ? 0 : MDB_NOSYNC) | (cold_reads ? MDB_NORDAHEAD : 0);
    mdb_check(mdb_env_open(h->env, dir, flags, 0644), "mdb_env_open");
    MDB_txn *t;
    mdb_check(mdb_txn_begin(h->env, NULL, 0, &t), "mdb_txn_begin");
    mdb_check(mdb_dbi_open(t, NULL, 0, &h->dbi), "mdb_dbi_open");
    mdb_check(mdb_txn_commit(t), "mdb_txn_commit");
    return h;
}
static void be_close(H *h) { mdb_env_close(h->env); free(h); }
static C *be_thread_init(H *h, int idx) {
    (void)idx;
    C *c = calloc(1, sizeof *c);
    mdb_check(mdb_txn_begin(h->env, NULL, MDB_RDONLY, &c->r), "mdb_txn_begin(rdonly)");
    mdb_txn_reset(c->r);
    return c;
}
static void be_quiesce(H *h, C *c) {
    (void)h;
    if (c->ractive) { mdb_txn_reset(c->r); c->ractive = 0; }
}
static void be_thread_done(H *h, C *c) { be_quiesce(h, c); mdb_txn_abort(c->r); free(c); }
static void be_bulk_begin(H *h, C *c) {
    be_quiesce(h, c);
    mdb_check(mdb_txn_begin(h->env, NULL, 0, &c->w), "mdb_txn_begin");
}
static void be_bulk_end(H *h, C *c) { (void)h; mdb_check(mdb_txn_commit(c->w), "mdb_txn_commit"); c->w = NULL; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    MDB_val kv = {KLEN, (void *)k}, vv = {VLEN, (void *)v};
    mdb_check(mdb_put(c->w, h->dbi, &kv, &vv, 0), "mdb_put");
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    be_bulk_begin(h, c);
    be_put(h, c, k, v);
    be_bulk_end(h, c);
}
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    if (!c->ractive) {
        mdb_check(mdb_txn_renew(c->r), "mdb_txn_renew");
        c->ractive = 1;
        c->nreads = 0;
    }
    MDB_val kv = {KLEN, (void *)k}, vv;
    int rc = mdb_get(c->r, h->dbi, &kv, &vv);
    long ret;
    if (rc == MDB_NOTFOUND) ret = -1;
    else {
        mdb_check(rc, "mdb_get");
        if (vv.mv_size > cap) die("value too large");
        memcpy(buf, vv.mv_data, vv.mv_size);
        ret = (long)vv.mv_size;
    }
    if (++c->nreads >= 1000) be_quiesce(h, c);
    return ret;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)dir;
    be_quiesce(h, c);
    mkdir_p(scratch);
    mdb_check(mdb_env_copy2(h->env, scratch, MDB_CP_COMPACT), "mdb_env_copy2");
    disk_usage(scratch, bytes, NULL);
    strcpy(note, "size of mdb_env_copy2(MDB_CP_COMPACT) copy; the live file does not shrink");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#elif defined(BACKEND_LEVELDB)
/* ================================================================ LevelDB */
#include <leveldb/c.h>
#define BE_NAME "leveldb"
#define BE_CONFIG "create_if_missing; compression off; write_buffer_size 64 MiB; LRU block " \
                  "cache 256 MiB; bloom filter 10 bits/key; other options default (4 KiB blocks, " \
                  "2 MiB files, max_open_files 1000); synced phases: leveldb_writeoptions_set_sync(1); " \
                  "compaction: leveldb_compact_range(NULL, NULL)"
typedef struct {
    leveldb_t *db;
    leveldb_options_t *o;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *fp;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
} H;
typedef void C;
static void ldb_check(char *err, const char *what) {
    if (err) die("%s: %s", what, err);
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    h->o = leveldb_options_create();
    leveldb_options_set_create_if_missing(h->o, 1);
    leveldb_options_set_compression(h->o, leveldb_no_compression);
    leveldb_options_set_write_buffer_size(h->o, 64 << 20);
    h->cache = leveldb_cache_create_lru(256 << 20);
    leveldb_options_set_cache(h->o, h->cache);
    h->fp = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(h->o, h->fp);
    h->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->wo, synced ? 1 : 0);
    h->ro = leveldb_readoptions_create();
    char *err = NULL;
    h->db = leveldb_open(h->o, dir, &err);
    ldb_check(err, "leveldb_open");
    return h;
}
static void be_close(H *h) {
    leveldb_close(h->db);
    leveldb_options_destroy(h->o);
    leveldb_cache_destroy(h->cache);
    leveldb_filterpolicy_destroy(h->fp);
    leveldb_writeoptions_destroy(h->wo);
    leveldb_readoptions_destroy(h->ro);
    free(h);
}
static C *be_thread_init(H *h, int idx) { (void)h; (void)idx; return NULL; }
static void be_thread_done(H *h, C *c) { (void)h; (void)c; }
static void be_quiesce(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_begin(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_end(H *h, C *c) { (void)h; (void)c; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)c;
    char *err = NULL;
    leveldb_put(h->db, h->wo, (const char *)k, KLEN, (const char *)v, VLEN, &err);
    ldb_check(err, "leveldb_put");
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) { be_put(h, c, k, v); }
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    (void)c;
    char *err = NULL;
    size_t len = 0;
    char *v = leveldb_get(h->db, h->ro, (const char *)k, KLEN, &len, &err);
    ldb_check(err, "leveldb_get");
    if (!v) return -1;
    if (len > cap) die("value too large");
    memcpy(buf, v, len);
    leveldb_free(v);
    return (long)len;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)c; (void)scratch;
    leveldb_compact_range(h->db, NULL, 0, NULL, 0);
    disk_usage(dir, bytes, NULL);
    strcpy(note, "leveldb_compact_range over all keys (in place)");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#elif defined(BACKEND_ROCKSDB)
/* ================================================================ RocksDB */
#include <rocksdb/c.h>
#define BE_NAME "rocksdb"
#define BE_CONFIG "create_if_missing; compression off (all levels); write_buffer_size 64 MiB; " \
                  "IncreaseParallelism(2), max_background_jobs 2; level_compaction_dynamic_level_bytes; " \
                  "bytes_per_sync 1 MiB; block-based table: format_version 5, 4 KiB blocks, LRU " \
                  "block cache 256 MiB, cache_index_and_filter_blocks + pin L0, full bloom filter " \
                  "10 bits/key, data-block hash index (ratio 0.75); memtable whole-key bloom " \
                  "(prefix_bloom_size_ratio 0.02) - i.e. the basic tuning guide plus " \
                  "OptimizeForPointLookup's settings; synced phases: rocksdb_writeoptions_set_sync(1); " \
                  "reads: rocksdb_get_pinned; compaction: rocksdb_compact_range_opt(all, bottommost kForce)"
typedef struct {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_block_based_table_options_t *t;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
} H;
typedef void C;
static void rdb_check(char *err, const char *what) {
    if (err) die("%s: %s", what, err);
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    h->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->o, 1);
    rocksdb_options_increase_parallelism(h->o, 2);
    rocksdb_options_set_max_background_jobs(h->o, 2);
    rocksdb_options_set_compression(h->o, rocksdb_no_compression);
    rocksdb_options_set_bottommost_compression(h->o, rocksdb_no_compression);
    rocksdb_options_set_write_buffer_size(h->o, 64 << 20);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(h->o, 1);
    rocksdb_options_set_bytes_per_sync(h->o, 1 << 20);
    rocksdb_options_set_memtable_whole_key_filtering(h->o, 1);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(h->o, 0.02);
    h->t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_format_version(h->t, 5);
    rocksdb_block_based_options_set_block_size(h->t, 4096);
    h->cache = rocksdb_cache_create_lru(256 << 20);
    rocksdb_block_based_options_set_block_cache(h->t, h->cache);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(h->t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(h->t, 1);
    rocksdb_block_based_options_set_filter_policy(h->t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_data_block_index_type(
        h->t, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
    rocksdb_block_based_options_set_data_block_hash_ratio(h->t, 0.75);
    rocksdb_options_set_block_based_table_factory(h->o, h->t);
    h->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wo, synced ? 1 : 0);
    h->ro = rocksdb_readoptions_create();
    char *err = NULL;
    h->db = rocksdb_open(h->o, dir, &err);
    rdb_check(err, "rocksdb_open");
    return h;
}
static void be_close(H *h) {
    rocksdb_close(h->db);
    rocksdb_writeoptions_destroy(h->wo);
    rocksdb_readoptions_destroy(h->ro);
    rocksdb_options_destroy(h->o);
    rocksdb_block_based_options_destroy(h->t);
    rocksdb_cache_destroy(h->cache);
    free(h);
}
static C *be_thread_init(H *h, int idx) { (void)h; (void)idx; return NULL; }
static void be_thread_done(H *h, C *c) { (void)h; (void)c; }
static void be_quiesce(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_begin(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_end(H *h, C *c) { (void)h; (void)c; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)c;
    char *err = NULL;
    rocksdb_put(h->db, h->wo, (const char *)k, KLEN, (const char *)v, VLEN, &err);
    rdb_check(err, "rocksdb_put");
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) { be_put(h, c, k, v); }
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    (void)c;
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(h->db, h->ro, (const char *)k, KLEN, &err);
    rdb_check(err, "rocksdb_get_pinned");
    if (!ps) return -1;
    size_t len = 0;
    const char *v = rocksdb_pinnableslice_value(ps, &len);
    if (len > cap) die("value too large");
    memcpy(buf, v, len);
    rocksdb_pinnableslice_destroy(ps);
    return (long)len;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)c; (void)scratch;
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
    rocksdb_compact_range_opt(h->db, co, NULL, 0, NULL, 0);
    rocksdb_compactoptions_destroy(co);
    disk_usage(dir, bytes, NULL);
    strcpy(note, "rocksdb_compact_range_opt over all keys, bottommost kForce (in place)");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#elif defined(BACKEND_KYOTO)
/* ================================================================ Kyoto Cabinet */
#include <kclangc.h>
#define BE_NAME "kyoto"
#define BE_CONFIG "HashDB db.kch with tuning #bnum=2N#opts=l#msiz=max(64 MiB, 300*N) (buckets " \
                  "twice the records as the docs suggest, linear collision chains, memory map " \
                  "covering the file); synced phases: opened with KCOAUTOSYNC (every update is " \
                  "followed by a hard sync of the file); reads: kcdbgetbuf; compaction: the C API " \
                  "has no defrag call, so the store is rebuilt into a fresh file with kcdbmerge " \
                  "(same-size overwrites are done in place, so there is little to reclaim)"
typedef struct { KCDB *db; } H;
typedef void C;
static void kc_tuned_path(char *out, size_t cap, const char *dir) {
    uint64_t msiz = N * 300;
    if (msiz < (64ULL << 20)) msiz = 64ULL << 20;
    /* scale-read: no map, so reads go through pread. Kyoto gives its map no random-access
     * advice, so once the file outgrows the cache every miss faults in read_ahead_kb around the
     * record (490 vs 24,100 gets/s at 10M keys with 1 GiB of cache, bench/README.md) */
    if (cold_reads) msiz = 0;
    snprintf(out, cap, "%s/db.kch#bnum=%llu#opts=l#msiz=%llu", dir,
             (unsigned long long)(2 * N), (unsigned long long)msiz);
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    char p[8192];
    kc_tuned_path(p, sizeof p, dir);
    h->db = kcdbnew();
    if (!kcdbopen(h->db, p, KCOWRITER | KCOCREATE | (synced ? KCOAUTOSYNC : 0)))
        die("kcdbopen %s: %s", p, kcdbemsg(h->db));
    return h;
}
static void be_close(H *h) {
    if (!kcdbclose(h->db)) die("kcdbclose: %s", kcdbemsg(h->db));
    kcdbdel(h->db);
    free(h);
}
static C *be_thread_init(H *h, int idx) { (void)h; (void)idx; return NULL; }
static void be_thread_done(H *h, C *c) { (void)h; (void)c; }
static void be_quiesce(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_begin(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_end(H *h, C *c) { (void)h; (void)c; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)c;
    if (!kcdbset(h->db, (const char *)k, KLEN, (const char *)v, VLEN)) die("kcdbset: %s", kcdbemsg(h->db));
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) { be_put(h, c, k, v); }
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    (void)c;
    int32_t n = kcdbgetbuf(h->db, (const char *)k, KLEN, (char *)buf, cap);
    if (n < 0) {
        if (kcdbecode(h->db) == KCENOREC) return -1;
        die("kcdbgetbuf: %s", kcdbemsg(h->db));
    }
    return n;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)c; (void)dir;
    mkdir_p(scratch);
    char p[8192];
    kc_tuned_path(p, sizeof p, scratch);
    KCDB *dst = kcdbnew();
    if (!kcdbopen(dst, p, KCOWRITER | KCOCREATE | KCOTRUNCATE)) die("kcdbopen %s: %s", p, kcdbemsg(dst));
    KCDB *src[1] = {h->db};
    if (!kcdbmerge(dst, src, 1, KCMSET)) die("kcdbmerge: %s", kcdbemsg(dst));
    if (!kcdbclose(dst)) die("kcdbclose: %s", kcdbemsg(dst));
    kcdbdel(dst);
    disk_usage(scratch, bytes, NULL);
    strcpy(note, "size of a fresh copy built with kcdbmerge (no defrag in the C API)");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#elif defined(BACKEND_TKRZW)
/* ================================================================ Tkrzw */
#include <tkrzw_langc.h>
#define BE_NAME "tkrzw"
#define BE_CONFIG "HashDBM db.tkh opened with \"dbm=HashDBM,file=MemoryMapParallelFile," \
                  "num_buckets=2N\" (in-place update mode, the default; the parallel file class " \
                  "for multi-threaded use); synced phases: tkrzw_dbm_synchronize(hard=true) " \
                  "after each put (HashDBM has no sync-per-write option); reads: tkrzw_dbm_get; " \
                  "compaction: tkrzw_dbm_rebuild (in place)"
typedef struct { TkrzwDBM *db; } H;
typedef void C;
static H *be_open(const char *dir, int synced) {
    (void)synced;
    H *h = calloc(1, sizeof *h);
    char p[4096], params[256];
    snprintf(p, sizeof p, "%s/db.tkh", dir);
    snprintf(params, sizeof params, "dbm=HashDBM,file=MemoryMapParallelFile,num_buckets=%llu",
             (unsigned long long)(2 * N));
    h->db = tkrzw_dbm_open(p, true, params);
    if (!h->db) die("tkrzw_dbm_open %s: %s", p, tkrzw_get_last_status_message());
    return h;
}
static void be_close(H *h) {
    if (!tkrzw_dbm_close(h->db)) die("tkrzw_dbm_close: %s", tkrzw_get_last_status_message());
    free(h);
}
static C *be_thread_init(H *h, int idx) { (void)h; (void)idx; return NULL; }
static void be_thread_done(H *h, C *c) { (void)h; (void)c; }
static void be_quiesce(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_begin(H *h, C *c) { (void)h; (void)c; }
static void be_bulk_end(H *h, C *c) { (void)h; (void)c; }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)c;
    if (!tkrzw_dbm_set(h->db, (const char *)k, KLEN, (const char *)v, VLEN, true))
        die("tkrzw_dbm_set: %s", tkrzw_get_last_status_message());
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    be_put(h, c, k, v);
    if (!tkrzw_dbm_synchronize(h->db, true, NULL, NULL, ""))
        die("tkrzw_dbm_synchronize: %s", tkrzw_get_last_status_message());
}
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    (void)c;
    int32_t len = 0;
    char *v = tkrzw_dbm_get(h->db, (const char *)k, KLEN, &len);
    if (!v) {
        if (tkrzw_get_last_status_code() == TKRZW_STATUS_NOT_FOUND_ERROR) return -1;
        die("tkrzw_dbm_get: %s", tkrzw_get_last_status_message());
    }
    if ((size_t)len > cap) die("value too large");
    memcpy(buf, v, (size_t)len);
    free(v);
    return len;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)c; (void)scratch;
    if (!tkrzw_dbm_rebuild(h->db, "")) die("tkrzw_dbm_rebuild: %s", tkrzw_get_last_status_message());
    disk_usage(dir, bytes, NULL);
    strcpy(note, "tkrzw_dbm_rebuild (in place)");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#elif defined(BACKEND_SQLITE)
/* ================================================================ SQLite */
#include <sqlite3.h>
#define BE_NAME "sqlite"
#define BE_CONFIG "table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID; journal_mode=WAL; " \
                  "synchronous=OFF outside the synced phases, FULL in them; cache_size=-262144 " \
                  "(256 MiB) per connection; busy_timeout 10 s; prepared statements (INSERT OR " \
                  "REPLACE / SELECT); one connection per thread (SQLITE_OPEN_NOMUTEX); fill and " \
                  "overwrite: one transaction per 1000 puts; synced puts: each its own " \
                  "(autocommit) transaction; reads: a read transaction per 1000 gets; " \
                  "compaction: VACUUM then wal_checkpoint(TRUNCATE)"
typedef struct C C;
typedef struct { char path[4096]; int synced; C *main; } H;
struct C {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *begin, *commit;
    int in_txn;
    unsigned nreads;
};
static void sq_check(sqlite3 *db, int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die("%s: %d %s", what, rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}
static void sq_exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die("sqlite3_exec(%s): %s", sql, err);
}
static C *sq_connect(H *h, int create) {
    C *c = calloc(1, sizeof *c);
    int rc = sqlite3_open_v2(h->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    sq_check(c->db, rc, "sqlite3_open_v2");
    sqlite3_busy_timeout(c->db, 10000);
    if (create) {
        sq_exec(c->db, "PRAGMA journal_mode=WAL");
        sq_exec(c->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    }
    sq_exec(c->db, h->synced ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
    sq_exec(c->db, "PRAGMA cache_size=-262144");
    sq_check(c->db, sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)", -1, &c->put, NULL), "prepare put");
    sq_check(c->db, sqlite3_prepare_v2(c->db, "SELECT v FROM kv WHERE k = ?", -1, &c->get, NULL), "prepare get");
    sq_check(c->db, sqlite3_prepare_v2(c->db, "BEGIN", -1, &c->begin, NULL), "prepare begin");
    sq_check(c->db, sqlite3_prepare_v2(c->db, "COMMIT", -1, &c->commit, NULL), "prepare commit");
    return c;
}
static void sq_disconnect(C *c) {
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->begin);
    sqlite3_finalize(c->commit);
    sq_check(c->db, sqlite3_close(c->db), "sqlite3_close");
    free(c);
}
static void sq_step(C *c, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    sq_check(c->db, rc, what);
    sqlite3_reset(s);
}
static H *be_open(const char *dir, int synced) {
    H *h = calloc(1, sizeof *h);
    snprintf(h->path, sizeof h->path, "%s/db.sqlite", dir);
    h->synced = synced;
    h->main = sq_connect(h, 1);
    return h;
}
static void be_close(H *h) { sq_disconnect(h->main); free(h); }
static C *be_thread_init(H *h, int idx) { return idx == 0 ? h->main : sq_connect(h, 0); }
static void be_quiesce(H *h, C *c) {
    (void)h;
    if (c->in_txn) { sq_step(c, c->commit, "COMMIT"); c->in_txn = 0; }
}
static void be_thread_done(H *h, C *c) {
    be_quiesce(h, c);
    if (c != h->main) sq_disconnect(c);
}
static void be_bulk_begin(H *h, C *c) { be_quiesce(h, c); sq_step(c, c->begin, "BEGIN"); c->in_txn = 1; }
static void be_bulk_end(H *h, C *c) { be_quiesce(h, c); }
static void be_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    (void)h;
    sqlite3_bind_blob(c->put, 1, k, KLEN, SQLITE_STATIC);
    sqlite3_bind_blob(c->put, 2, v, VLEN, SQLITE_STATIC);
    sq_step(c, c->put, "INSERT");
}
static void be_sync_put(H *h, C *c, const uint8_t *k, const uint8_t *v) {
    be_quiesce(h, c);
    be_put(h, c, k, v);   /* autocommit: one durable transaction per put */
}
static long be_get(H *h, C *c, const uint8_t *k, uint8_t *buf, size_t cap) {
    if (!c->in_txn) { sq_step(c, c->begin, "BEGIN"); c->in_txn = 1; c->nreads = 0; }
    sqlite3_bind_blob(c->get, 1, k, KLEN, SQLITE_STATIC);
    int rc = sqlite3_step(c->get);
    long ret;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(c->get, 0);
        const void *p = sqlite3_column_blob(c->get, 0);
        if ((size_t)n > cap) die("value too large");
        memcpy(buf, p, (size_t)n);
        ret = n;
    } else if (rc == SQLITE_DONE) {
        ret = -1;
    } else {
        sq_check(c->db, rc, "SELECT");
        ret = -1;
    }
    sqlite3_reset(c->get);
    if (++c->nreads >= 1000) be_quiesce(h, c);
    return ret;
}
static void be_compact(H *h, C *c, const char *dir, const char *scratch, uint64_t *bytes, char *note) {
    (void)scratch;
    be_quiesce(h, c);
    sq_exec(c->db, "VACUUM");
    sq_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    disk_usage(dir, bytes, NULL);
    strcpy(note, "VACUUM + wal_checkpoint(TRUNCATE) (in place)");
}
static void be_report(H *h, const char *label) { (void)h; (void)label; }

#else
#error "define one of BACKEND_BITCASK, BACKEND_LMDB, BACKEND_LEVELDB, BACKEND_ROCKSDB, BACKEND_KYOTO, BACKEND_TKRZW, BACKEND_SQLITE"
#endif

/* ------------------------------------------------------------------ harness */

static void write_all(H *h, C *c, const uint32_t *order, uint32_t version) {
    uint8_t k[KLEN], v[VLEN];
    for (uint64_t i = 0; i < N; i += BATCH) {
        uint64_t end = i + BATCH < N ? i + BATCH : N;
        be_bulk_begin(h, c);
        for (uint64_t j = i; j < end; j++) {
            make_key(order[j], k);
            make_value(order[j], version, v);
            be_put(h, c, k, v);
        }
        be_bulk_end(h, c);
    }
}

static void verify_one(H *h, C *c, uint64_t idx, uint32_t version, const char *phase) {
    uint8_t k[KLEN], want[VLEN], got[VCAP];
    make_key(idx, k);
    make_value(idx, version, want);
    long n = be_get(h, c, k, got, sizeof got);
    if (n < 0) die("%s: key #%llu (%.16s) not found", phase, (unsigned long long)idx, (const char *)k);
    if (n != VLEN || memcmp(got, want, VLEN) != 0)
        die("%s: key #%llu (%.16s): wrong value (len %ld)", phase, (unsigned long long)idx, (const char *)k, n);
}

typedef struct {
    H *h;
    int idx;
    const uint32_t *order;      /* read phase: the keys to read */
    uint32_t version;
    uint64_t sync_base;         /* sync phase: first key index */
    pthread_barrier_t *bar;
    double t0, t1;
} worker;

static void *read_worker(void *arg) {
    worker *w = arg;
    C *c = be_thread_init(w->h, w->idx);
    pthread_barrier_wait(w->bar);
    w->t0 = now_s();
    for (uint64_t i = 0; i < N; i++) verify_one(w->h, c, w->order[i], w->version, "read");
    be_quiesce(w->h, c);
    w->t1 = now_s();
    be_thread_done(w->h, c);
    return NULL;
}

static void *sync_worker(void *arg) {
    worker *w = arg;
    C *c = be_thread_init(w->h, w->idx);
    uint8_t k[KLEN], v[VLEN];
    pthread_barrier_wait(w->bar);
    w->t0 = now_s();
    for (uint64_t i = 0; i < SYNC_OPS; i++) {
        make_key(w->sync_base + i, k);
        make_value(w->sync_base + i, 2, v);
        be_sync_put(w->h, c, k, v);
    }
    w->t1 = now_s();
    be_thread_done(w->h, c);
    return NULL;
}

/* Runs fn in nthreads threads (context idx 1..n, or 0 when alone); returns wall seconds from
 * the first start to the last end. */
static double run_threads(void *(*fn)(void *), worker *ws, int n) {
    pthread_t th[16];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        ws[i].bar = &bar;
        if (pthread_create(&th[i], NULL, fn, &ws[i]) != 0) die("pthread_create");
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    double t0 = ws[0].t0, t1 = ws[0].t1;
    for (int i = 1; i < n; i++) {
        if (ws[i].t0 < t0) t0 = ws[i].t0;
        if (ws[i].t1 > t1) t1 = ws[i].t1;
    }
    return t1 - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* close, then time open + one verified get, 3 times; emits the median in ms */
static H *reopen_test(H *h, C **cp, const char *dir, const char *test, const uint32_t *order, uint32_t version) {
    double ms[3], close_ms[3];
    for (int r = 0; r < 3; r++) {
        be_thread_done(h, *cp);
        double tc = now_s();
        be_close(h);
        close_ms[r] = (now_s() - tc) * 1e3;
        double t0 = now_s();
        h = be_open(dir, 0);
        *cp = be_thread_init(h, 0);
        verify_one(h, *cp, order[r * 7919 % N], version, test);
        ms[r] = (now_s() - t0) * 1e3;
        be_quiesce(h, *cp);
    }
    double s[3] = {ms[0], ms[1], ms[2]};
    qsort(s, 3, sizeof s[0], cmp_double);
    /* close_ms[0] is the close right after the phase before (the one that may flush or write
     * hints); the reopen median hides a one-time recovery cost, so the first reopen is kept too */
    emit("\"test\":\"%s\",\"ms_median\":%.3f,\"ms_first\":%.3f,\"ms_runs\":[%.3f,%.3f,%.3f],"
         "\"close_ms_first\":%.3f,\"close_ms_runs\":[%.3f,%.3f,%.3f]",
         test, s[1], ms[0], ms[0], ms[1], ms[2], close_ms[0], close_ms[0], close_ms[1], close_ms[2]);
    fprintf(stderr, "  %-22s %12.3f ms (median of %.3f %.3f %.3f; first close %.3f ms)\n", test, s[1],
            ms[0], ms[1], ms[2], close_ms[0]);
    return h;
}

static void sample_verify(H *h, C *c, const uint32_t *order, uint32_t version, const char *phase) {
    uint64_t n = N < 20000 ? N : 20000;
    for (uint64_t i = 0; i < n; i++) verify_one(h, c, order[(i * 104729) % N], version, phase);
    be_quiesce(h, c);
}

static void sync_phase(const char *name, int nthreads, uint64_t key_base) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", ROOT, name);
    mkdir_p(dir);
    H *h = be_open(dir, 1);
    worker ws[16];
    memset(ws, 0, sizeof ws);
    for (int t = 0; t < nthreads; t++) {
        ws[t].h = h;
        ws[t].idx = nthreads == 1 ? 0 : t + 1;
        ws[t].sync_base = key_base + (uint64_t)t * SYNC_OPS;
    }
    double secs = run_threads(sync_worker, ws, nthreads);
    emit_ops(name, SYNC_OPS * (uint64_t)nthreads, secs, nthreads);
    be_report(h, name);
    C *c = be_thread_init(h, 0);
    for (int t = 0; t < nthreads; t++)
        for (uint64_t i = 0; i < SYNC_OPS; i += 97) verify_one(h, c, ws[t].sync_base + i, 2, name);
    be_thread_done(h, c);
    be_close(h);
}

/* ------------------------------------------------------------------ scaling modes (scale.sh)
 * --mode scale-fill : fill N keys (same order as the full run), memory growth, R verified gets of
 *                     keys drawn uniformly at random (warm cache), close; the store stays in
 *                     DIR/db for a later scale-read.
 * --mode scale-read : open the existing DIR/db, then (if --join-cgroup FILE is given) write our
 *                     pid to FILE, then R verified random gets, each timed; --max-secs S stops
 *                     early after S seconds (the report says how many were done).
 * Joining the cgroup only after open is deliberate: cgroups (v1 without move_charge, and v2)
 * leave memory charged where it was allocated, so the limit then bounds the page cache the
 * reads can use and not the index a store builds at open (bitcask's keydir must be in RAM). */

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return (*s * 0x2545F4914F6CDD1DULL) >> 11;
}

static void emit_mem(const char *test, memsnap m) {
    emit("\"test\":\"%s\",\"rss\":%llu,\"anon\":%llu,\"malloc\":%llu", test, (unsigned long long)m.rss,
         (unsigned long long)m.anon, (unsigned long long)m.heap);
    fprintf(stderr, "  %-22s rss %.1f MB, anon %.1f MB\n", test, m.rss / 1e6, m.anon / 1e6);
}

static int scale_fill(const char *dbdir, uint64_t reads) {
    mkdir_p(dbdir);
    uint32_t *ord = malloc(N * sizeof *ord);
    if (!ord) die("out of memory");
    shuffle(ord, N, 11);    /* the full run's fill order */
    malloc_trim(0);
    memsnap m0 = mem_now();
    double t0 = now_s();
    H *h = be_open(dbdir, 0);
    C *c = be_thread_init(h, 0);
    write_all(h, c, ord, 0);
    emit_ops("fill", N, now_s() - t0, 1);
    memsnap m1 = mem_now();
    emit("\"test\":\"mem_after_fill\",\"rss_growth\":%lld,\"anon_growth\":%lld,\"malloc_growth\":%lld,"
         "\"rss_per_key\":%.2f,\"anon_per_key\":%.2f,\"malloc_per_key\":%.2f",
         (long long)(m1.rss - m0.rss), (long long)(m1.anon - m0.anon), (long long)(m1.heap - m0.heap),
         ((double)m1.rss - m0.rss) / N, ((double)m1.anon - m0.anon) / N, ((double)m1.heap - m0.heap) / N);
    fprintf(stderr, "  %-22s rss %+.1f B/key, anon %+.1f B/key, malloc %+.1f B/key\n", "mem_after_fill",
            ((double)m1.rss - m0.rss) / N, ((double)m1.anon - m0.anon) / N, ((double)m1.heap - m0.heap) / N);
    be_report(h, "after_fill");
    free(ord);
    uint64_t s = 0x5CA1AB1EULL;
    t0 = now_s();
    for (uint64_t i = 0; i < reads; i++) verify_one(h, c, next_rand(&s) % N, 0, "read_sample");
    be_quiesce(h, c);
    emit_ops("read_sample", reads, now_s() - t0, 1);
    be_thread_done(h, c);
    t0 = now_s();
    be_close(h);
    emit("\"test\":\"close\",\"secs\":%.3f", now_s() - t0);
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int scale_read(const char *dbdir, uint64_t reads, double max_secs, const char *cgroup_procs) {
    struct stat st;
    if (stat(dbdir, &st) != 0) die("scale-read: %s: %s (run --mode scale-fill first)", dbdir, strerror(errno));
    uint32_t *ns = malloc(reads * sizeof *ns);   /* per-get latency, ns (saturates at ~4 s) */
    if (!ns) die("out of memory");
    memset(ns, 0, reads * sizeof *ns);
    cold_reads = 1;
    double t0 = now_s();
    H *h = be_open(dbdir, 0);
    C *c = be_thread_init(h, 0);
    emit("\"test\":\"open\",\"secs\":%.3f", now_s() - t0);
    emit_mem("mem_after_open", mem_now());
    /* Whatever the open read into the page cache is charged to the group we are leaving, so it
     * would serve the reads outside the limit: drop it (bitcask's compact hints make an open
     * read every data file). */
    uint64_t cached_after_open = page_cache(dbdir, 1);
    uint64_t cached_after_drop = page_cache(dbdir, 0);
    emit("\"test\":\"cache_after_open\",\"bytes\":%llu,\"after_drop\":%llu",
         (unsigned long long)cached_after_open, (unsigned long long)cached_after_drop);
    fprintf(stderr, "  %-22s %12.1f MiB (%.1f MiB after dropping it)\n", "cached after open",
            cached_after_open / 1048576.0, cached_after_drop / 1048576.0);
    if (cgroup_procs) {
        FILE *f = fopen(cgroup_procs, "w");
        if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
            die("joining cgroup via %s: %s", cgroup_procs, strerror(errno));
    }
    uint64_t s = 0xC01DCAFEULL;
    double start = now_s(), prev = start;
    uint64_t want = reads;
    for (uint64_t i = 0; i < want; i++) {
        verify_one(h, c, next_rand(&s) % N, 0, "cold_read");
        double t = now_s();
        double d = (t - prev) * 1e9;
        ns[i] = d > 4e9 ? 4000000000u : (uint32_t)d;
        prev = t;
        if (max_secs > 0 && t - start >= max_secs) reads = i + 1;   /* time cap: stop here */
        if (reads < want) break;
    }
    be_quiesce(h, c);
    double secs = prev - start;
    qsort(ns, reads, sizeof *ns, cmp_u32);
    emit("\"test\":\"cold_read\",\"ops\":%llu,\"threads\":1,\"secs\":%.6f,\"ops_per_sec\":%.1f,"
         "\"us_per_op\":%.4f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,"
         "\"reads_wanted\":%llu,\"max_secs\":%.1f",
         (unsigned long long)reads, secs, reads / secs, secs * 1e6 / reads, ns[reads / 2] / 1e3,
         ns[reads * 99 / 100] / 1e3, ns[reads * 999 / 1000] / 1e3, ns[reads - 1] / 1e3,
         (unsigned long long)want, max_secs);
    fprintf(stderr, "  %-22s %12.0f ops/s %10.3f us/op  p99 %.1f us  (%.2f s)\n", "cold_read", reads / secs,
            secs * 1e6 / reads, ns[reads * 99 / 100] / 1e3, secs);
    emit_mem("mem_after_reads", mem_now());
    be_thread_done(h, c);
    be_close(h);
    free(ns);
    return 0;
}

int main(int argc, char **argv) {
    STORE = BE_NAME;
    const char *mode = "full", *cgroup_procs = NULL;
    uint64_t reads = 2000000;
    double max_secs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc) N = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) ROOT = argv[++i];
        else if (!strcmp(argv[i], "--sync-ops") && i + 1 < argc) SYNC_OPS = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) BATCH = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[++i];
        else if (!strcmp(argv[i], "--reads") && i + 1 < argc) reads = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--join-cgroup") && i + 1 < argc) cgroup_procs = argv[++i];
        else if (!strcmp(argv[i], "--max-secs") && i + 1 < argc) max_secs = strtod(argv[++i], NULL);
        else die("usage: %s --keys N --dir DIR [--sync-ops K] [--batch B] "
                 "[--mode full|scale-fill|scale-read] [--reads R] [--max-secs S] [--join-cgroup FILE]", argv[0]);
    }
    if (!ROOT || N < 10 || N > 0xFFFFFFFFULL / 4 || SYNC_OPS < 1 || BATCH < 1) die("bad arguments");
    if (strcmp(mode, "full") && strcmp(mode, "scale-fill") && strcmp(mode, "scale-read"))
        die("--mode must be full, scale-fill or scale-read, not '%s'", mode);
    if (reads < 1 || reads > 0xFFFFFFFFULL) die("--reads must be 1..4294967295");
    if ((cgroup_procs || max_secs != 0) && strcmp(mode, "scale-read"))
        die("--join-cgroup and --max-secs need --mode scale-read");
    if (!(max_secs >= 0 && max_secs < 1e6)) die("--max-secs must be 0 (no cap) .. 1e6");
    mkdir_p(ROOT);
    char dbdir[4096], scratch[4096], cfg[4096];
    snprintf(dbdir, sizeof dbdir, "%s/db", ROOT);
    snprintf(scratch, sizeof scratch, "%s/compact", ROOT);
    json_str(cfg, sizeof cfg, BE_CONFIG);
    emit("\"test\":\"meta\",\"keys\":%llu,\"key_bytes\":%d,\"value_bytes\":%d,\"sync_ops_per_thread\":%llu,"
         "\"batch\":%llu,\"mode\":\"%s\",\"config\":\"%s\"",
         (unsigned long long)N, KLEN, VLEN, (unsigned long long)SYNC_OPS, (unsigned long long)BATCH, mode, cfg);
    fprintf(stderr, "== %s: %llu keys in %s (%s)\n", BE_NAME, (unsigned long long)N, ROOT, mode);
    if (strcmp(mode, "full")) {
        int rc = !strcmp(mode, "scale-fill") ? scale_fill(dbdir, reads) : scale_read(dbdir, reads, max_secs, cgroup_procs);
        emit("\"test\":\"done\"");
        fprintf(stderr, "== %s done\n", BE_NAME);
        return rc;
    }
    mkdir_p(dbdir);

    /* all benchmark memory is allocated and touched before the baseline */
    uint32_t *ordA = malloc(N * sizeof *ordA), *ordB = malloc(N * sizeof *ordB);
    if (!ordA || !ordB) die("out of memory");
    shuffle(ordB, N, 2);    /* touches ordB */
    shuffle(ordA, N, 11);   /* fill order */
    malloc_trim(0);
    memsnap m0 = mem_now();

    double t0 = now_s();
    H *h = be_open(dbdir, 0);
    C *c = be_thread_init(h, 0);
    write_all(h, c, ordA, 0);
    double secs = now_s() - t0;
    emit_ops("fill", N, secs, 1);
    memsnap m1 = mem_now();
    emit("\"test\":\"mem_after_fill\",\"rss_growth\":%lld,\"anon_growth\":%lld,\"malloc_growth\":%lld,"
         "\"rss_per_key\":%.2f,\"anon_per_key\":%.2f,\"malloc_per_key\":%.2f",
         (long long)(m1.rss - m0.rss), (long long)(m1.anon - m0.anon), (long long)(m1.heap - m0.heap),
         ((double)m1.rss - m0.rss) / N, ((double)m1.anon - m0.anon) / N, ((double)m1.heap - m0.heap) / N);
    fprintf(stderr, "  %-22s rss %+.1f B/key, anon %+.1f B/key, malloc %+.1f B/key\n", "mem_after_fill",
            ((double)m1.rss - m0.rss) / N, ((double)m1.anon - m0.anon) / N, ((double)m1.heap - m0.heap) / N);
    be_report(h, "after_fill");

    /* random read, 1 thread */
    shuffle(ordA, N, 21);
    t0 = now_s();
    for (uint64_t i = 0; i < N; i++) verify_one(h, c, ordA[i], 0, "read1");
    be_quiesce(h, c);
    emit_ops("read1", N, now_s() - t0, 1);

    /* random read, 2 threads, each over all keys in its own order */
    shuffle(ordA, N, 31);
    shuffle(ordB, N, 32);
    {
        worker ws[2];
        memset(ws, 0, sizeof ws);
        ws[0] = (worker){.h = h, .idx = 1, .order = ordA, .version = 0};
        ws[1] = (worker){.h = h, .idx = 2, .order = ordB, .version = 0};
        emit_ops("read2", 2 * N, run_threads(read_worker, ws, 2), 2);
    }

    /* absent keys */
    {
        uint8_t k[KLEN], buf[VCAP];
        t0 = now_s();
        for (uint64_t i = 0; i < N; i++) {
            make_key(N + i, k);
            if (be_get(h, c, k, buf, sizeof buf) >= 0) die("absent key #%llu found", (unsigned long long)(N + i));
        }
        be_quiesce(h, c);
        emit_ops("absent", N, now_s() - t0, 1);
    }

    /* overwrite */
    shuffle(ordA, N, 41);
    t0 = now_s();
    write_all(h, c, ordA, 1);
    emit_ops("overwrite", N, now_s() - t0, 1);
    sample_verify(h, c, ordA, 1, "after overwrite");
    be_report(h, "after_overwrite");

    uint64_t bytes, alloc;
    disk_usage(dbdir, &bytes, &alloc);
    emit("\"test\":\"disk_after_overwrite\",\"bytes\":%llu,\"alloc_bytes\":%llu",
         (unsigned long long)bytes, (unsigned long long)alloc);
    fprintf(stderr, "  %-22s %12.1f MB\n", "disk_after_overwrite", bytes / 1e6);

    h = reopen_test(h, &c, dbdir, "reopen_after_overwrite", ordA, 1);
    be_report(h, "after_reopen");

    /* compaction */
    char note[256] = "";
    t0 = now_s();
    be_compact(h, c, dbdir, scratch, &bytes, note);
    secs = now_s() - t0;
    emit("\"test\":\"compact\",\"secs\":%.3f,\"note\":\"%s\"", secs, note);
    emit("\"test\":\"disk_after_compact\",\"bytes\":%llu", (unsigned long long)bytes);
    fprintf(stderr, "  %-22s %12.1f MB after %.2f s (%s)\n", "disk_after_compact", bytes / 1e6, secs, note);
    sample_verify(h, c, ordA, 1, "after compaction");
    be_report(h, "after_compact");

    h = reopen_test(h, &c, dbdir, "reopen_after_compact", ordA, 1);
    sample_verify(h, c, ordA, 1, "after reopen");
    be_thread_done(h, c);
    be_close(h);

    /* synced puts on fresh stores */
    sync_phase("sync1", 1, 2 * N);
    sync_phase("sync4", 4, 2 * N + SYNC_OPS);

    emit("\"test\":\"done\"");
    fprintf(stderr, "== %s done\n", BE_NAME);
    free(ordA);
    free(ordB);
    return 0;
}
