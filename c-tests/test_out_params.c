/*
 * test_out_params.c - the header's convention "Output parameters are always written when
 * non-NULL: with the result on success, with NULL / 0 otherwise", checked for every call with an
 * out-parameter on every kind of failure, including when a *different* argument is the bad one.
 *
 * (Kept apart from test_basics so that a slip in this convention fails here, by name, without
 * hiding the behaviour checks there.)
 */
#include "check.h"

/* Something that is clearly not NULL, to prefill pointer out-parameters with. */
static uint8_t junk[4];

static void test_bc_open(const char *root)
{
    bc_db *db = (bc_db *)(void *)junk;
    CHECK_RC(bc_open(NULL, NULL, &db), BC_E_INVALID);
    CHECK(db == NULL, "bc_open(NULL dir) must set *out = NULL");
    db = (bc_db *)(void *)junk;
    CHECK_RC(bc_open("", NULL, &db), BC_E_INVALID);
    CHECK(db == NULL, "bc_open(\"\") must set *out = NULL");
    db = (bc_db *)(void *)junk;
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_create_if_missing(o, 0));
    CHECK(bc_open(path_in(root, "missing"), o, &db) < 0, "bc_open of a missing dir must fail");
    CHECK(db == NULL, "a failed bc_open must set *out = NULL");
    bc_options_free(o);
}

static void test_bc_get(bc_db *db)
{
    uint8_t *val;
    size_t vlen;

    /* vlen NULL: *val is still cleared. */
    val = junk;
    CHECK_RC(bc_get(db, B("k"), 1, &val, NULL), BC_E_INVALID);
    CHECK(val == NULL, "bc_get(key present, vlen NULL) must still set *val = NULL");
    /* val NULL: *vlen is still cleared. */
    vlen = 5;
    CHECK_RC(bc_get(db, B("k"), 1, NULL, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "bc_get(key present, val NULL) must still set *vlen = 0, got %zu", vlen);

    /* A bad handle or key: both cleared. */
    val = junk;
    vlen = 5;
    CHECK_RC(bc_get(NULL, B("k"), 1, &val, &vlen), BC_E_INVALID);
    CHECK(val == NULL && vlen == 0, "bc_get(NULL db) must clear *val and *vlen");
    val = junk;
    vlen = 5;
    CHECK_RC(bc_get(db, NULL, 0, &val, &vlen), BC_E_INVALID);
    CHECK(val == NULL && vlen == 0, "bc_get(empty key) must clear *val and *vlen");
    val = junk;
    vlen = 5;
    CHECK_RC(bc_get(db, junk, SIZE_MAX, &val, &vlen), BC_E_TOO_LARGE);
    CHECK(val == NULL && vlen == 0, "bc_get(huge key) must clear *val and *vlen");
}

static void test_bc_get_into(bc_db *db)
{
    uint8_t buf[8];
    size_t vlen;

    vlen = 5;
    CHECK_RC(bc_get_into(NULL, B("k"), 1, buf, sizeof buf, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "bc_get_into(NULL db) must set *vlen = 0");
    vlen = 5;
    CHECK_RC(bc_get_into(db, B("k"), 1, NULL, 3, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "bc_get_into(NULL buf, cap 3) must set *vlen = 0");
    vlen = 5;
    CHECK_RC(bc_get_into(db, NULL, 0, buf, sizeof buf, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "bc_get_into(empty key) must set *vlen = 0");
    vlen = 5;
    CHECK_RC(bc_get_into(db, junk, SIZE_MAX, buf, sizeof buf, &vlen), BC_E_TOO_LARGE);
    CHECK(vlen == 0, "bc_get_into(huge key) must set *vlen = 0");
}

static void test_bc_stats_get(void)
{
    bc_stats st;
    memset(&st, 0xAB, sizeof st);
    CHECK_RC(bc_stats_get(NULL, &st), BC_E_INVALID);
    const unsigned char *p = (const unsigned char *)&st;
    for (size_t i = 0; i < sizeof st; i++)
        CHECK(p[i] == 0, "bc_stats_get(NULL db) must zero *out, byte %zu is 0x%02x", i, p[i]);
}

int main(void)
{
    const char *root = test_tmpdir("out-params");
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    CHECK_OK(bc_put(db, B("k"), 1, B("value"), 5));

    test_bc_open(root);
    test_bc_get(db);
    test_bc_get_into(db);
    test_bc_stats_get();

    CHECK_OK(bc_close(db));
    printf("test_out_params: ok\n");
    return 0;
}
