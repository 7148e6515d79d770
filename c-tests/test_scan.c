/*
 * test_scan.c - ordered reads: bc_scan, bc_scan_prefix and the bc_iter_* pull iterator.
 *   - binary keys (0x00, 0xff, keys that are prefixes of each other: "a", "a\0", "ab", ...)
 *     written in a shuffled order, some overwritten, some deleted: every full scan visits the
 *     live keys in unsigned byte order (memcmp, the shorter first on a tie) with their values;
 *   - [start, end): every pair of bounds from a list of keys, non-keys, the empty key and NULL
 *     (open), so start inclusive, end exclusive, open ends, empty ranges and start > end (BC_OK,
 *     nothing visited) are all covered; prefixes containing 0x00 and 0xff, empty prefixes;
 *   - a callback that stops (BC_STOPPED after exactly N calls), NULL fn, NULL db, a NULL bound
 *     or prefix with a non-zero length (BC_E_INVALID, no call); a callback that puts, deletes
 *     and gets on the same handle (the visited key set stays the one of the start);
 *   - iterators: bad arguments, every key in order, BC_NOT_FOUND at the end and after, NULL
 *     out-parameters, a snapshot unchanged by later overwrites/deletes/inserts, several open at
 *     once, one per thread in 3 threads that write meanwhile, and a merge (small files) while one
 *     is open: it still yields its snapshot, and bc_iter_free lets the merged-away files go.
 */
#include "check.h"

#include <pthread.h>

#define U(x) ((unsigned long long)(x))
#define MAXK 16
#define MAXV 64
#define MAXN 256

/* ---- keys, values and the model of the store ------------------------------------------------ */

struct entry {
    uint8_t key[MAXK];
    size_t klen;
    uint8_t val[MAXV];
    size_t vlen;
    int live;
};

typedef struct {
    struct entry e[MAXN];
    size_t n;
} model_t;

static model_t model; /* what the store holds now */

struct bytes {
    const uint8_t *p;
    size_t n;
};
#define S(lit) {(const uint8_t *)(lit), sizeof(lit) - 1}

/* Keys that sort in tricky ways. A hex escape is closed by ending the literal ("\xff" "a"). */
static const struct bytes special[] = {
    S("a"),        S("a\0"),        S("a\0\0"),       S("a\0b"),         S("a\x01"),
    S("a\x7f"),    S("a\x80"),      S("a\xff"),       S("a\xff\xff"),    S("ab"),
    S("abc"),      S("ab\0"),       S("b"),           S("\0"),           S("\0\0"),
    S("\0\x01"),   S("\0\xff"),     S("\x01"),        S("\x7f"),         S("\x80"),
    S("\xff"),     S("\xff\0"),     S("\xff\xff"),    S("\xff\xff\xff"), S("\xfe\xff"),
    S("p\0\xff"),  S("p\0\xff\0"),  S("p\0\xff\xff"), S("p\0\xff" "a"),  S("p\0\xfe"),
    S("p\0"),      S("p\x01\xff"),  S("p"),           S("k05"),          S("k0"),
};
#define NSPECIAL (sizeof special / sizeof special[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static size_t model_find(const model_t *m, const uint8_t *k, size_t kl)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].klen == kl && memcmp(m->e[i].key, k, kl) == 0)
            return i;
    return SIZE_MAX;
}

static void model_add_key(const uint8_t *k, size_t kl)
{
    CHECK(kl > 0 && kl <= MAXK && model.n < MAXN, "model key");
    if (model_find(&model, k, kl) != SIZE_MAX)
        return;
    struct entry *e = &model.e[model.n++];
    memcpy(e->key, k, kl);
    e->klen = kl;
    e->live = 0;
}

/* Value of entry i in generation gen: unique, of varying length, with a NUL and a 0xff inside. */
static void make_val(struct entry *e, size_t i, int gen)
{
    int n = snprintf((char *)e->val, MAXV, "v%zu.g%d", i, gen);
    size_t len = (size_t)n;
    e->val[len++] = 0;
    e->val[len++] = 0xff;
    for (size_t j = 0; j < (i * 7 + (size_t)gen) % 30; j++)
        e->val[len++] = (uint8_t)('a' + (j + i) % 26);
    e->vlen = len;
}

static void model_put(bc_db *db, size_t i, int gen)
{
    struct entry *e = &model.e[i];
    make_val(e, i, gen);
    e->live = 1;
    CHECK_OK(bc_put(db, e->key, e->klen, e->val, e->vlen));
}

static void model_del(bc_db *db, size_t i)
{
    struct entry *e = &model.e[i];
    CHECK_RC(bc_delete(db, e->key, e->klen), e->live ? BC_OK : BC_NOT_FOUND);
    e->live = 0;
}

static const char *hex(const uint8_t *p, size_t n)
{
    static char bufs[8][3 * MAXK + 40];
    static unsigned next;
    char *b = bufs[next++ % 8];
    size_t o = 0;
    b[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < sizeof bufs[0]; i++)
        o += (size_t)sprintf(b + o, (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') ? "%c" : "\\x%02x",
                             p[i]);
    b[o++] = '"';
    b[o] = '\0';
    return b;
}

/* ---- expected visits --------------------------------------------------------------------------- */

struct filter {
    int kind; /* 0 all, 1 range, 2 prefix */
    const uint8_t *s, *e;
    size_t sl, el;
    const uint8_t *pre;
    size_t pl;
};

static int passes(const struct filter *f, const struct entry *x)
{
    if (f->kind == 1)
        return (f->s == NULL || key_cmp(x->key, x->klen, f->s, f->sl) >= 0) &&
               (f->e == NULL || key_cmp(x->key, x->klen, f->e, f->el) < 0);
    if (f->kind == 2)
        return x->klen >= f->pl && (f->pl == 0 || memcmp(x->key, f->pre, f->pl) == 0);
    return 1;
}

static const model_t *sort_model;
static int by_key(const void *a, const void *b)
{
    const struct entry *x = &sort_model->e[*(const size_t *)a];
    const struct entry *y = &sort_model->e[*(const size_t *)b];
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* Indices of the live entries of m that pass f, in ascending key order. */
static size_t expected(const model_t *m, const struct filter *f, size_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].live && passes(f, &m->e[i]))
            out[n++] = i;
    sort_model = m;
    qsort(out, n, sizeof *out, by_key);
    return n;
}

static const struct filter ALL = {0, NULL, NULL, 0, 0, NULL, 0};

/* ---- a callback that records what it sees -------------------------------------------------- */

struct rec {
    uint8_t k[MAXK + 32];
    size_t kl;
    uint8_t v[MAXV];
    size_t vl;
};

struct seen {
    struct rec r[2 * MAXN];
    size_t n;
    size_t stop_at; /* return non-zero on this call (1-based); 0 = never */
    int overflow;
};

static struct seen seen;

static void seen_reset(size_t stop_at)
{
    seen.n = 0;
    seen.stop_at = stop_at;
    seen.overflow = 0;
}

static void record(struct seen *s, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    if (s->n >= 2 * MAXN || kl > sizeof s->r[0].k || vl > MAXV) {
        s->overflow = 1;
        return;
    }
    struct rec *r = &s->r[s->n++];
    memcpy(r->k, k, kl);
    r->kl = kl;
    if (vl > 0)
        memcpy(r->v, v, vl);
    r->vl = vl;
}

static int collect(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct seen *s = ctx;
    record(s, k, kl, v, vl);
    return s->stop_at != 0 && s->n == s->stop_at;
}

/* The recorded visits are exactly m's entries exp[0..nexp), in that order, with their values. */
static void check_seen_at(int line, const char *what, const struct seen *s, const model_t *m,
                          const size_t *exp, size_t nexp)
{
    if (s->overflow)
        check_fail(__FILE__, line, "%s: the callback got more calls than possible", what);
    size_t n = s->n < nexp ? s->n : nexp;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &m->e[exp[i]];
        const struct rec *r = &s->r[i];
        if (r->kl != e->klen || memcmp(r->k, e->key, e->klen) != 0)
            check_fail(__FILE__, line, "%s: visit %zu was key %s, expected %s", what, i,
                       hex(r->k, r->kl), hex(e->key, e->klen));
        if (r->vl != e->vlen || memcmp(r->v, e->val, e->vlen) != 0)
            check_fail(__FILE__, line, "%s: key %s came with value %s (%zu bytes), expected %s",
                       what, hex(r->k, r->kl), hex(r->v, r->vl < MAXK ? r->vl : MAXK), r->vl,
                       hex(e->val, e->vlen < MAXK ? e->vlen : MAXK));
    }
    if (s->n != nexp)
        check_fail(__FILE__, line, "%s: %zu keys visited, expected %zu (next expected: %s, next "
                                   "got: %s)",
                   what, s->n, nexp, nexp > n ? hex(m->e[exp[n]].key, m->e[exp[n]].klen) : "-",
                   s->n > n ? hex(s->r[n].k, s->r[n].kl) : "-");
}
#define CHECK_SEEN(what, m, exp, nexp) check_seen_at(__LINE__, (what), &seen, (m), (exp), (nexp))

/* ---- setup ------------------------------------------------------------------------------------ */

static void build_keys(void)
{
    for (size_t i = 0; i < NSPECIAL; i++)
        model_add_key(special[i].p, special[i].n);
    char k[MAXK];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(k, sizeof k, "k%03d", i);
        model_add_key(B(k), (size_t)n);
    }
    /* Random binary keys of 1..4 bytes, heavy on 0x00 and 0xff. */
    while (model.n < 200) {
        uint8_t b[4];
        size_t len = 1 + rnd() % 4;
        for (size_t j = 0; j < len; j++) {
            uint32_t r = rnd() % 4;
            b[j] = r == 0 ? 0x00 : r == 1 ? 0xff : (uint8_t)rnd();
        }
        model_add_key(b, len);
    }
}

/* Writes every key in a shuffled order, overwrites a third, deletes every 7th. */
static void fill(bc_db *db)
{
    size_t order[MAXN];
    for (size_t i = 0; i < model.n; i++)
        order[i] = i;
    for (size_t i = model.n - 1; i > 0; i--) {
        size_t j = rnd() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < model.n; i++)
        model_put(db, order[i], 0);
    for (size_t i = 0; i < model.n; i += 3)
        model_put(db, order[i], 1);
    for (size_t i = 0; i < model.n; i += 7)
        model_del(db, order[i]);
    /* A deleted key whose neighbours stay: "a\0" and "p\0\xff" must be skipped by every scan. */
    model_del(db, model_find(&model, B("a\0"), 2));
    model_del(db, model_find(&model, B("p\0\xff"), 3));
    /* ... and these are live whatever the shuffle did. */
    static const struct bytes keep[] = {S("a"), S("ab"), S("p\0\xff\0"), S("p\0\xff\xff"),
                                        S("p\0\xff" "a")};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        model_put(db, model_find(&model, keep[i].p, keep[i].n), 2);
    size_t live = 0;
    for (size_t i = 0; i < model.n; i++)
        live += (size_t)model.e[i].live;
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.keys == live, "stats.keys %llu, model %zu", U(st.keys), live);
}

/* ---- scans ------------------------------------------------------------------------------------ */

static void test_empty_store(bc_db *db)
{
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, collect, &seen));
    CHECK(seen.n == 0, "bc_scan of an empty store made %zu calls", seen.n);
    CHECK_OK(bc_scan_prefix(db, NULL, 0, collect, &seen));
    CHECK(seen.n == 0, "bc_scan_prefix of an empty store made %zu calls", seen.n);
    bc_iter *it = NULL;
    CHECK_OK(bc_iter_new(db, &it));
    CHECK(it != NULL, "bc_iter_new gave BC_OK and NULL");
    const uint8_t *k, *v;
    size_t kl, vl;
    CHECK_RC(bc_iter_next(it, &k, &kl, &v, &vl), BC_NOT_FOUND);
    bc_iter_free(it);
}

static void test_full_scan(bc_db *db)
{
    size_t exp[MAXN];
    size_t n = expected(&model, &ALL, exp);
    CHECK(n > 100, "the model has %zu live keys", n);

    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan(NULL, NULL)", &model, exp, n);

    /* The empty key as the start bound is the smallest key: the same as an open start. */
    seen_reset(0);
    CHECK_OK(bc_scan(db, B("x"), 0, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan(empty key, NULL)", &model, exp, n);

    seen_reset(0);
    CHECK_OK(bc_scan_prefix(db, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan_prefix(NULL, 0)", &model, exp, n);
    seen_reset(0);
    CHECK_OK(bc_scan_prefix(db, B("x"), 0, collect, &seen));
    CHECK_SEEN("bc_scan_prefix(ptr, 0)", &model, exp, n);

    /* Spot checks of the order rules independent of the model's comparator. */
    for (size_t i = 1; i < seen.n; i++) {
        const struct rec *a = &seen.r[i - 1], *b = &seen.r[i];
        size_t m = a->kl < b->kl ? a->kl : b->kl;
        int c = memcmp(a->k, b->k, m);
        CHECK(c < 0 || (c == 0 && a->kl < b->kl), "keys %s and %s out of order", hex(a->k, a->kl),
              hex(b->k, b->kl));
    }
}

/* Every pair of bounds from a list: keys, non-keys, the empty key and NULL (open). */
static void test_ranges(bc_db *db)
{
    static const struct bytes bounds[] = {
        {NULL, 0}, S(""),      S("\0"),     S("\0\0\0"),  S("a"),        S("a\0"), S("a\0\x01"),
        S("ab"),   S("a\xff"), S("k050"),   S("k0505"),   S("p\0\xff"),  S("\xff"), S("\xff\xff"),
        S("\xff\xff\xff\xff"),
    };
    size_t nb = sizeof bounds / sizeof bounds[0];
    size_t exp[MAXN];
    int empty_ranges = 0, reversed = 0;
    for (size_t i = 0; i < nb; i++) {
        for (size_t j = 0; j < nb; j++) {
            struct filter f = {1, bounds[i].p, bounds[j].p, bounds[i].n, bounds[j].n, NULL, 0};
            size_t n = expected(&model, &f, exp);
            char what[160];
            snprintf(what, sizeof what, "bc_scan([%s, %s))",
                     bounds[i].p ? hex(bounds[i].p, bounds[i].n) : "NULL",
                     bounds[j].p ? hex(bounds[j].p, bounds[j].n) : "NULL");
            seen_reset(0);
            CHECK_OK(bc_scan(db, bounds[i].p, bounds[i].n, bounds[j].p, bounds[j].n, collect,
                             &seen));
            CHECK_SEEN(what, &model, exp, n);
            if (n == 0)
                empty_ranges++;
            if (bounds[i].p && bounds[j].p &&
                key_cmp(bounds[i].p, bounds[i].n, bounds[j].p, bounds[j].n) > 0)
                reversed++;
        }
    }
    CHECK(empty_ranges > 10 && reversed > 10, "the bound list covers too little");

    /* Named cases, so a failure above has a simple twin here. */
    size_t ia = model_find(&model, B("a"), 1), iab = model_find(&model, B("ab"), 2);
    CHECK(model.e[ia].live && model.e[iab].live, "keys \"a\" and \"ab\" should be live");
    seen_reset(0);
    CHECK_OK(bc_scan(db, B("a"), 1, B("ab"), 2, collect, &seen));
    CHECK(seen.n >= 1 && seen.r[0].kl == 1 && seen.r[0].k[0] == 'a',
          "bc_scan([\"a\", \"ab\")) must start with \"a\" (start is inclusive)");
    for (size_t i = 0; i < seen.n; i++)
        CHECK(!(seen.r[i].kl == 2 && memcmp(seen.r[i].k, "ab", 2) == 0),
              "bc_scan([\"a\", \"ab\")) visited \"ab\" (end is exclusive)");
    seen_reset(0);
    CHECK_OK(bc_scan(db, B("ab"), 2, B("ab"), 2, collect, &seen));
    CHECK(seen.n == 0, "bc_scan([\"ab\", \"ab\")) visited %zu keys", seen.n);
    seen_reset(0);
    CHECK_OK(bc_scan(db, B("b"), 1, B("a"), 1, collect, &seen));
    CHECK(seen.n == 0, "bc_scan([\"b\", \"a\")) (start > end) visited %zu keys", seen.n);
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, B(""), 0, collect, &seen));
    CHECK(seen.n == 0, "bc_scan([NULL, empty key)) visited %zu keys", seen.n);
}

static void test_prefixes(bc_db *db)
{
    static const struct bytes prefixes[] = {
        S("a"),   S("a\0"),  S("a\xff"), S("ab"),      S("\0"),     S("\0\xff"), S("\xff"),
        S("\xff\xff"), S("p"), S("p\0"), S("p\0\xff"), S("p\0\xff\xff"), S("k0"), S("k05"),
        S("k099"), S("zzz"), S("\xff\xff\xff\xff"),
    };
    size_t np = sizeof prefixes / sizeof prefixes[0];
    size_t exp[MAXN];
    int some = 0;
    for (size_t i = 0; i < np; i++) {
        struct filter f = {2, NULL, NULL, 0, 0, prefixes[i].p, prefixes[i].n};
        size_t n = expected(&model, &f, exp);
        char what[96];
        snprintf(what, sizeof what, "bc_scan_prefix(%s)", hex(prefixes[i].p, prefixes[i].n));
        seen_reset(0);
        CHECK_OK(bc_scan_prefix(db, prefixes[i].p, prefixes[i].n, collect, &seen));
        CHECK_SEEN(what, &model, exp, n);
        some += n > 1;
    }
    CHECK(some >= 8, "too few prefixes match several keys");
    /* "p\0\xff" itself was deleted; its extensions are live. */
    seen_reset(0);
    CHECK_OK(bc_scan_prefix(db, B("p\0\xff"), 3, collect, &seen));
    CHECK(seen.n == 3, "bc_scan_prefix(\"p\\0\\xff\") visited %zu keys, expected 3", seen.n);
}

static void test_stop_and_bad_arguments(bc_db *db)
{
    size_t exp[MAXN];
    size_t n = expected(&model, &ALL, exp);
    size_t stops[] = {1, 3, n};
    for (size_t i = 0; i < 3; i++) {
        seen_reset(stops[i]);
        CHECK_RC(bc_scan(db, NULL, 0, NULL, 0, collect, &seen), BC_STOPPED);
        CHECK(seen.n == stops[i], "bc_scan stopping at call %zu made %zu calls", stops[i], seen.n);
        CHECK_SEEN("bc_scan stopped early", &model, exp, stops[i]);
    }
    struct filter f = {2, NULL, NULL, 0, 0, B("k0"), 2};
    size_t np = expected(&model, &f, exp);
    CHECK(np > 5, "prefix k0 matches %zu keys", np);
    seen_reset(2);
    CHECK_RC(bc_scan_prefix(db, B("k0"), 2, collect, &seen), BC_STOPPED);
    CHECK_SEEN("bc_scan_prefix stopped after 2", &model, exp, 2);
    seen_reset(np);
    CHECK_RC(bc_scan_prefix(db, B("k0"), 2, collect, &seen), BC_STOPPED);
    CHECK(seen.n == np, "bc_scan_prefix stopping on its last key made %zu calls", seen.n);

    seen_reset(0);
    CHECK_RC(bc_scan(db, NULL, 0, NULL, 0, NULL, &seen), BC_E_INVALID);
    CHECK_ERR_MSG("bc_scan: ");
    CHECK_RC(bc_scan(NULL, NULL, 0, NULL, 0, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan(db, NULL, 1, NULL, 0, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan(db, NULL, 0, NULL, 2, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan(db, NULL, 3, B("b"), 1, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan(db, B("a"), 1, NULL, 1, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan_prefix(db, B("a"), 1, NULL, &seen), BC_E_INVALID);
    CHECK_ERR_MSG("bc_scan_prefix: ");
    CHECK_RC(bc_scan_prefix(NULL, B("a"), 1, collect, &seen), BC_E_INVALID);
    CHECK_RC(bc_scan_prefix(db, NULL, 1, collect, &seen), BC_E_INVALID);
    CHECK(seen.n == 0, "a rejected scan called the callback %zu times", seen.n);
}

/* A callback that writes: at visit i it gets the current key (deleted when i is odd), deletes
 * the next key when i is even, and puts a new key sorting right after the current one. */
struct reentrant {
    bc_db *db;
    const model_t *m;
    const size_t *exp;
    size_t nexp;
    char err[300];
};

static int reentrant_cb(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct reentrant *r = ctx;
    size_t i = seen.n;
    record(&seen, k, kl, v, vl);
    if (r->err[0] != '\0' || i >= r->nexp)
        return 0;
    const struct entry *cur = &r->m->e[r->exp[i]];
    uint8_t *got = NULL;
    size_t gl = 0;
    int rc = bc_get(r->db, cur->key, cur->klen, &got, &gl);
    int want = (i % 2 == 1) ? BC_NOT_FOUND : BC_OK;
    if (rc != want)
        snprintf(r->err, sizeof r->err, "bc_get of %s inside the callback returned %d, expected %d",
                 hex(cur->key, cur->klen), rc, want);
    else if (rc == BC_OK && (gl != cur->vlen || memcmp(got, cur->val, gl) != 0))
        snprintf(r->err, sizeof r->err, "bc_get of %s inside the callback: wrong value",
                 hex(cur->key, cur->klen));
    bc_free(got);
    if (i % 2 == 0 && i + 1 < r->nexp) {
        const struct entry *next = &r->m->e[r->exp[i + 1]];
        rc = bc_delete(r->db, next->key, next->klen);
        if (rc != BC_OK && r->err[0] == '\0')
            snprintf(r->err, sizeof r->err, "bc_delete of %s inside the callback returned %d",
                     hex(next->key, next->klen), rc);
    }
    uint8_t nk[MAXK + 16];
    memcpy(nk, cur->key, cur->klen);
    memcpy(nk + cur->klen, "\x01new", 4);
    rc = bc_put(r->db, nk, cur->klen + 4, B("fresh"), 5);
    if (rc != BC_OK && r->err[0] == '\0')
        snprintf(r->err, sizeof r->err, "bc_put inside the callback returned %d", rc);
    return 0;
}

static void test_reentrant(bc_db *db)
{
    size_t exp[MAXN];
    size_t n = expected(&model, &ALL, exp);
    struct reentrant r = {db, &model, exp, n, ""};
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, reentrant_cb, &r));
    CHECK(r.err[0] == '\0', "%s", r.err);
    /* Deleted-before-visited keys are still visited (the key set is fixed at the start); the
     * keys put by the callback are not. */
    CHECK_SEEN("bc_scan with a writing callback", &model, exp, n);

    /* The writes happened. Then undo them. */
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &model.e[exp[i]];
        uint8_t nk[MAXK + 16];
        memcpy(nk, e->key, e->klen);
        memcpy(nk + e->klen, "\x01new", 4);
        CHECK_VALUE(db, nk, e->klen + 4, "fresh", 5);
        CHECK_OK(bc_delete(db, nk, e->klen + 4));
        if (i % 2 == 1) {
            CHECK_RC(bc_contains(db, e->key, e->klen), BC_NOT_FOUND);
            CHECK_OK(bc_put(db, e->key, e->klen, e->val, e->vlen));
        } else {
            CHECK_VALUE(db, e->key, e->klen, e->val, e->vlen);
        }
    }

    /* A prefix scan whose callback keeps adding keys inside the prefix: it still ends, with the
     * start's key set. */
    struct filter f = {2, NULL, NULL, 0, 0, B("k0"), 2};
    size_t np = expected(&model, &f, exp);
    struct reentrant r2 = {db, &model, exp, np, ""};
    seen_reset(0);
    CHECK_OK(bc_scan_prefix(db, B("k0"), 2, reentrant_cb, &r2));
    CHECK(r2.err[0] == '\0', "%s", r2.err);
    CHECK_SEEN("bc_scan_prefix with a writing callback", &model, exp, np);
    for (size_t i = 0; i < np; i++) {
        const struct entry *e = &model.e[exp[i]];
        uint8_t nk[MAXK + 16];
        memcpy(nk, e->key, e->klen);
        memcpy(nk + e->klen, "\x01new", 4);
        CHECK_OK(bc_delete(db, nk, e->klen + 4));
        if (i % 2 == 1)
            CHECK_OK(bc_put(db, e->key, e->klen, e->val, e->vlen));
    }
    size_t all[MAXN];
    size_t na = expected(&model, &ALL, all);
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan after undoing the callback's writes", &model, all, na);
}

/* ---- iterators -------------------------------------------------------------------------------- */

/* Reads `count` entries (all remaining when count is SIZE_MAX) and compares them with m's entries
 * exp[*pos ...]; at the end also checks BC_NOT_FOUND, twice, with cleared outputs. */
static void iter_expect_at(int line, const char *what, bc_iter *it, const model_t *m,
                           const size_t *exp, size_t nexp, size_t *pos, size_t count)
{
    while (count > 0 && *pos < nexp) {
        const uint8_t *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        int rc = bc_iter_next(it, &k, &kl, &v, &vl);
        const struct entry *e = &m->e[exp[*pos]];
        if (rc != BC_OK)
            check_fail(__FILE__, line, "%s: bc_iter_next at entry %zu of %zu returned %d (%s); "
                                       "expected key %s",
                       what, *pos, nexp, rc, bc_status_str(rc), hex(e->key, e->klen));
        if (k == NULL || kl != e->klen || memcmp(k, e->key, kl) != 0)
            check_fail(__FILE__, line, "%s: entry %zu is key %s, expected %s", what, *pos,
                       k ? hex(k, kl) : "NULL", hex(e->key, e->klen));
        if (v == NULL || vl != e->vlen || memcmp(v, e->val, vl) != 0)
            check_fail(__FILE__, line, "%s: key %s has a %zu-byte value %s, expected %s", what,
                       hex(e->key, e->klen), vl, v ? hex(v, vl < MAXK ? vl : MAXK) : "NULL",
                       hex(e->val, e->vlen < MAXK ? e->vlen : MAXK));
        (*pos)++;
        if (count != SIZE_MAX)
            count--;
    }
    if (*pos == nexp && count == SIZE_MAX) {
        for (int i = 0; i < 2; i++) {
            const uint8_t *k = B("junk"), *v = B("junk");
            size_t kl = 9, vl = 9;
            int rc = bc_iter_next(it, &k, &kl, &v, &vl);
            if (rc != BC_NOT_FOUND)
                check_fail(__FILE__, line, "%s: bc_iter_next after the last entry returned %d "
                                           "(%s), key %s, expected BC_NOT_FOUND",
                           what, rc, bc_status_str(rc), rc == BC_OK ? hex(k, kl) : "-");
            if (k != NULL || kl != 0 || v != NULL || vl != 0)
                check_fail(__FILE__, line, "%s: BC_NOT_FOUND left non-NULL / non-zero outputs",
                           what);
        }
    }
}
#define ITER_EXPECT(what, it, m, exp, nexp, pos, count)                                           \
    iter_expect_at(__LINE__, (what), (it), (m), (exp), (nexp), (pos), (count))

static void test_iter_basics(bc_db *db)
{
    bc_iter *it = (bc_iter *)&it; /* junk that must be overwritten */
    CHECK_RC(bc_iter_new(NULL, &it), BC_E_INVALID);
    CHECK(it == NULL, "bc_iter_new(NULL, &it) must set it = NULL");
    CHECK_ERR_MSG("bc_iter_new: ");
    CHECK_RC(bc_iter_new(db, NULL), BC_E_INVALID);
    bc_iter_free(NULL);

    size_t exp[MAXN];
    size_t n = expected(&model, &ALL, exp);
    CHECK_OK(bc_iter_new(db, &it));
    CHECK(it != NULL, "bc_iter_new returned BC_OK and NULL");

    /* NULL arguments: BC_E_INVALID, the other outputs cleared, and nothing consumed. */
    const uint8_t *k, *v;
    size_t kl, vl;
#define JUNK() (k = B("junk"), v = B("junk"), kl = 4, vl = 4)
    JUNK();
    CHECK_RC(bc_iter_next(NULL, &k, &kl, &v, &vl), BC_E_INVALID);
    CHECK(k == NULL && kl == 0 && v == NULL && vl == 0, "bc_iter_next(NULL, ...) left outputs");
    CHECK_ERR_MSG("bc_iter_next: ");
    JUNK();
    CHECK_RC(bc_iter_next(it, NULL, &kl, &v, &vl), BC_E_INVALID);
    CHECK(kl == 0 && v == NULL && vl == 0, "bc_iter_next(it, NULL key, ...) left outputs");
    JUNK();
    CHECK_RC(bc_iter_next(it, &k, NULL, &v, &vl), BC_E_INVALID);
    CHECK(k == NULL && v == NULL && vl == 0, "bc_iter_next(it, NULL klen, ...) left outputs");
    JUNK();
    CHECK_RC(bc_iter_next(it, &k, &kl, NULL, &vl), BC_E_INVALID);
    CHECK(k == NULL && kl == 0 && vl == 0, "bc_iter_next(it, NULL val, ...) left outputs");
    JUNK();
    CHECK_RC(bc_iter_next(it, &k, &kl, &v, NULL), BC_E_INVALID);
    CHECK(k == NULL && kl == 0 && v == NULL, "bc_iter_next(it, NULL vlen) left outputs");
    CHECK_RC(bc_iter_next(it, NULL, NULL, NULL, NULL), BC_E_INVALID);
#undef JUNK

    size_t pos = 0;
    ITER_EXPECT("full iteration after rejected calls", it, &model, exp, n, &pos, SIZE_MAX);
    bc_iter_free(it);

    /* A fresh one over the same state, with values checked against bc_get too. */
    CHECK_OK(bc_iter_new(db, &it));
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(bc_iter_next(it, &k, &kl, &v, &vl));
        uint8_t kcopy[MAXK], vcopy[MAXV];
        CHECK(kl <= MAXK && vl <= MAXV, "entry too large");
        memcpy(kcopy, k, kl);
        memcpy(vcopy, v, vl);
        CHECK_VALUE(db, kcopy, kl, vcopy, vl);
    }
    CHECK_RC(bc_iter_next(it, &k, &kl, &v, &vl), BC_NOT_FOUND);
    bc_iter_free(it);
}

/* Changes a third of the live keys, deletes a sixth, adds and revives some: returns how many. */
static size_t churn(bc_db *db, int gen)
{
    size_t changes = 0;
    for (size_t i = 0; i < model.n; i++) {
        uint32_t r = rnd() % 6;
        if (model.e[i].live && r < 2) {
            model_put(db, i, gen);
            changes++;
        } else if (model.e[i].live && r == 2) {
            model_del(db, i);
            changes++;
        } else if (!model.e[i].live && r < 3) {
            model_put(db, i, gen);
            changes++;
        }
    }
    return changes;
}

static model_t snap_a, snap_b, snap_c;

static void test_iter_snapshots(bc_db *db)
{
    static size_t ea[MAXN], eb[MAXN], ec[MAXN];
    bc_iter *a, *b, *c;

    snap_a = model;
    size_t na = expected(&snap_a, &ALL, ea);
    CHECK_OK(bc_iter_new(db, &a));
    size_t pa = 0;
    ITER_EXPECT("iterator a, first part", a, &snap_a, ea, na, &pa, 20);

    /* Overwrites, deletes and new keys after bc_iter_new (new keys also sort before and after
     * the entries already read), and a second iterator. */
    CHECK(churn(db, 10) > 50, "churn changed too little");
    CHECK_OK(bc_put(db, B("\0\0\0\0new"), 7, B("x"), 1));
    CHECK_OK(bc_put(db, B("zz-new"), 6, B("x"), 1));
    model_add_key(B("\0\0\0\0new"), 7);
    model.e[model.n - 1].live = 1;
    memcpy(model.e[model.n - 1].val, "x", 1);
    model.e[model.n - 1].vlen = 1;
    model_add_key(B("zz-new"), 6);
    model.e[model.n - 1].live = 1;
    memcpy(model.e[model.n - 1].val, "x", 1);
    model.e[model.n - 1].vlen = 1;
    snap_b = model;
    size_t nb = expected(&snap_b, &ALL, eb);
    CHECK_OK(bc_iter_new(db, &b));
    size_t pb = 0;
    ITER_EXPECT("iterator b, first part", b, &snap_b, eb, nb, &pb, 7);

    CHECK(churn(db, 11) > 50, "churn changed too little");
    snap_c = model;
    size_t nc = expected(&snap_c, &ALL, ec);
    CHECK_OK(bc_iter_new(db, &c));
    size_t pc = 0;

    /* Interleaved, with more changes every few steps. */
    int gen = 12;
    while (pa < na || pb < nb || pc < nc) {
        ITER_EXPECT("iterator a", a, &snap_a, ea, na, &pa, 5);
        ITER_EXPECT("iterator b", b, &snap_b, eb, nb, &pb, 3);
        ITER_EXPECT("iterator c", c, &snap_c, ec, nc, &pc, 4);
        if (rnd() % 4 == 0)
            churn(db, gen++);
    }
    ITER_EXPECT("iterator a at its end", a, &snap_a, ea, na, &pa, SIZE_MAX);
    ITER_EXPECT("iterator b at its end", b, &snap_b, eb, nb, &pb, SIZE_MAX);
    ITER_EXPECT("iterator c at its end", c, &snap_c, ec, nc, &pc, SIZE_MAX);
    bc_iter_free(b);
    bc_iter_free(a);
    bc_iter_free(c);

    /* A new iterator and a scan see the current state. */
    size_t en[MAXN];
    size_t nn = expected(&model, &ALL, en);
    bc_iter *d;
    CHECK_OK(bc_iter_new(db, &d));
    size_t pd = 0;
    ITER_EXPECT("iterator after the changes", d, &model, en, nn, &pd, SIZE_MAX);
    bc_iter_free(d);
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan after the changes", &model, en, nn);
}

/* ---- one iterator per thread ------------------------------------------------------------------ */

#define NTHREADS 3
static model_t snap_t;
static size_t exp_t[MAXN];
static size_t nexp_t;
static pthread_barrier_t barrier;

struct iter_worker {
    bc_db *db;
    int id;
    size_t visited;
    char err[300];
};

static void new_value(uint8_t *buf, size_t *len, int id, size_t i)
{
    *len = (size_t)snprintf((char *)buf, MAXV, "thread %d wrote %zu", id, i);
}

static void *iter_thread(void *arg)
{
    struct iter_worker *w = arg;
    bc_iter *it = NULL;
    int rc = bc_iter_new(w->db, &it);
    pthread_barrier_wait(&barrier); /* every snapshot is taken before anyone writes */
    if (rc != BC_OK) {
        snprintf(w->err, sizeof w->err, "bc_iter_new returned %d", rc);
        return NULL;
    }
    size_t mine = 0;
    for (size_t pos = 0; pos <= nexp_t; pos++) {
        /* Overwrite one of this thread's keys (index % NTHREADS == id) every few steps. */
        if (pos % 3 == 0) {
            while (mine < snap_t.n && (mine % NTHREADS != (size_t)w->id || !snap_t.e[mine].live))
                mine++;
            if (mine < snap_t.n) {
                uint8_t v[MAXV];
                size_t vl;
                new_value(v, &vl, w->id, mine);
                rc = bc_put(w->db, snap_t.e[mine].key, snap_t.e[mine].klen, v, vl);
                if (rc != BC_OK) {
                    snprintf(w->err, sizeof w->err, "bc_put returned %d", rc);
                    break;
                }
                mine++;
            }
        }
        const uint8_t *k, *v;
        size_t kl, vl;
        rc = bc_iter_next(it, &k, &kl, &v, &vl);
        if (pos == nexp_t) {
            if (rc != BC_NOT_FOUND)
                snprintf(w->err, sizeof w->err, "bc_iter_next after %zu entries returned %d", pos,
                         rc);
            break;
        }
        const struct entry *e = &snap_t.e[exp_t[pos]];
        if (rc != BC_OK) {
            snprintf(w->err, sizeof w->err, "bc_iter_next at entry %zu returned %d", pos, rc);
            break;
        }
        if (kl != e->klen || memcmp(k, e->key, kl) != 0 || vl != e->vlen ||
            memcmp(v, e->val, vl) != 0) {
            snprintf(w->err, sizeof w->err, "entry %zu is %s = %s, expected %s = %s", pos,
                     hex(k, kl), hex(v, vl < MAXK ? vl : MAXK), hex(e->key, e->klen),
                     hex(e->val, e->vlen < MAXK ? e->vlen : MAXK));
            break;
        }
        w->visited++;
    }
    bc_iter_free(it);
    /* The rest of this thread's keys. */
    for (; mine < snap_t.n && w->err[0] == '\0'; mine++) {
        if (mine % NTHREADS != (size_t)w->id || !snap_t.e[mine].live)
            continue;
        uint8_t v[MAXV];
        size_t vl;
        new_value(v, &vl, w->id, mine);
        rc = bc_put(w->db, snap_t.e[mine].key, snap_t.e[mine].klen, v, vl);
        if (rc != BC_OK)
            snprintf(w->err, sizeof w->err, "bc_put returned %d", rc);
    }
    return NULL;
}

static void test_iter_threads(bc_db *db)
{
    snap_t = model;
    nexp_t = expected(&snap_t, &ALL, exp_t);
    CHECK(pthread_barrier_init(&barrier, NULL, NTHREADS) == 0, "pthread_barrier_init");
    pthread_t th[NTHREADS];
    struct iter_worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].db = db;
        w[i].id = i;
        CHECK(pthread_create(&th[i], NULL, iter_thread, &w[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(w[i].err[0] == '\0', "iterator thread %d: %s", i, w[i].err);
        CHECK(w[i].visited == nexp_t, "iterator thread %d read %zu of %zu entries", i,
              w[i].visited, nexp_t);
    }
    /* Every live key was overwritten by its thread; the store has the new values. */
    for (size_t i = 0; i < model.n; i++) {
        if (!model.e[i].live)
            continue;
        new_value(model.e[i].val, &model.e[i].vlen, (int)(i % NTHREADS), i);
    }
    size_t exp[MAXN];
    size_t n = expected(&model, &ALL, exp);
    seen_reset(0);
    CHECK_OK(bc_scan(db, NULL, 0, NULL, 0, collect, &seen));
    CHECK_SEEN("bc_scan after the iterator threads", &model, exp, n);
}

/* ---- an iterator across a merge ------------------------------------------------------------- */

#define MKEYS 1500

static void merge_val(char *buf, size_t cap, int i, int gen)
{
    snprintf(buf, cap, "merge value %04d generation %d ........................", i, gen);
}

/* Names of the *.data files in dir, as one newline-separated string (malloc'd). */
static char *data_names(const char *dir)
{
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    CHECK(s != NULL, "out of memory");
    s[0] = '\0';
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_data_file(e->d_name))
            continue;
        size_t n = strlen(e->d_name);
        CHECK(len + n + 2 < cap, "too many data files");
        memcpy(s + len, e->d_name, n);
        len += n;
        s[len++] = '\n';
        s[len] = '\0';
    }
    closedir(d);
    return s;
}

static void test_iter_across_merge(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "merge");
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_max_file_size(o, 4096));
    bc_db *db;
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);

    char k[32], v[96];
    for (int gen = 1; gen <= 2; gen++) {
        for (int i = 0; i < MKEYS; i++) {
            int kl = snprintf(k, sizeof k, "m%04d", i);
            merge_val(v, sizeof v, i, gen);
            CHECK_OK(bc_put(db, B(k), (size_t)kl, B(v), strlen(v)));
        }
    }
    bc_iter *it;
    CHECK_OK(bc_iter_new(db, &it));
    int pos = 0;
    const uint8_t *ik, *iv;
    size_t ikl, ivl;
#define NEXT_IS(i_, gen_)                                                                         \
    do {                                                                                          \
        int nk_ = snprintf(k, sizeof k, "m%04d", (i_));                                           \
        merge_val(v, sizeof v, (i_), (gen_));                                                     \
        CHECK_OK(bc_iter_next(it, &ik, &ikl, &iv, &ivl));                                         \
        CHECK(ikl == (size_t)nk_ && memcmp(ik, k, ikl) == 0, "across merge: entry %d is %s", (i_), \
              hex(ik, ikl));                                                                      \
        CHECK(ivl == strlen(v) && memcmp(iv, v, ivl) == 0,                                        \
              "across merge: key %s has a value of generation != %d", k, (gen_));                 \
    } while (0)
    for (; pos < 100; pos++)
        NEXT_IS(pos, 2);

    /* Overwrite everything, delete every 5th key, merge. */
    for (int i = 0; i < MKEYS; i++) {
        int kl = snprintf(k, sizeof k, "m%04d", i);
        merge_val(v, sizeof v, i, 3);
        CHECK_OK(bc_put(db, B(k), (size_t)kl, B(v), strlen(v)));
        if (i % 5 == 0)
            CHECK_OK(bc_delete(db, B(k), (size_t)kl));
    }
    char *before = data_names(dir);
    uint64_t files_before = count_data_files(dir, NULL);
    CHECK(files_before > 20, "only %llu data files with 4 KiB files", U(files_before));
    CHECK_OK(bc_merge(db));
    uint64_t files_open = count_data_files(dir, NULL);
    bc_stats st;
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.merges == 1, "stats.merges %llu", U(st.merges));

    /* The rest of the snapshot, from files the merge replaced. */
    for (; pos < MKEYS; pos++)
        NEXT_IS(pos, 2);
    CHECK_RC(bc_iter_next(it, &ik, &ikl, &iv, &ivl), BC_NOT_FOUND);
#undef NEXT_IS
    bc_iter_free(it);

    uint64_t files_after = count_data_files(dir, NULL);
    char *after = data_names(dir);
    printf("  merge with an open iterator: %llu data files before, %llu after the merge, %llu "
           "after bc_iter_free\n",
           U(files_before), U(files_open), U(files_after));
    CHECK(files_after < files_open,
          "bc_iter_free removed no file: %llu data files while the iterator was open, %llu after",
          U(files_open), U(files_after));
    /* No file that existed before the merge is left. */
    for (char *line = before; *line != '\0';) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        CHECK(!path_exists(path_in(dir, line)),
              "%s (a pre-merge data file) still exists after the merge and bc_iter_free", line);
        line = nl + 1;
    }
    CHECK_OK(bc_stats_get(db, &st));
    CHECK(st.data_files == files_after, "stats.data_files %llu, on disk %llu", U(st.data_files),
          U(files_after));
    free(before);
    free(after);

    /* The store has the newest state. */
    for (int i = 0; i < MKEYS; i++) {
        int kl = snprintf(k, sizeof k, "m%04d", i);
        if (i % 5 == 0) {
            CHECK_RC(bc_contains(db, B(k), (size_t)kl), BC_NOT_FOUND);
        } else {
            merge_val(v, sizeof v, i, 3);
            CHECK_VALUE(db, k, (size_t)kl, v, strlen(v));
        }
    }
    CHECK_OK(bc_close(db));
}

int main(void)
{
    const char *root = test_tmpdir("scan");
    printf("test_scan: seed %llx\n", U(rng_state));
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    test_empty_store(db);
    build_keys();
    fill(db);
    test_full_scan(db);
    test_ranges(db);
    test_prefixes(db);
    test_stop_and_bad_arguments(db);
    test_reentrant(db);
    test_iter_basics(db);

    /* The same reads on a reopened store (values now come from older files / the hint path). */
    CHECK_OK(bc_close(db));
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    test_full_scan(db);
    test_prefixes(db);

    test_iter_snapshots(db);
    test_iter_threads(db);
    test_full_scan(db);
    CHECK_OK(bc_close(db));

    test_iter_across_merge(root);
    printf("test_scan: ok\n");
    return 0;
}
