/*
 * test_basics.c - version, status strings, last-error, and the data calls (put, get, get_into,
 * delete, contains, sync, free) with good and bad arguments under the default limits.
 */
#include "check.h"

#include <pthread.h>

static const char *const STORE_NAME = "basics";

/* ---- bc_version, bc_status_str -------------------------------------------------------------- */

static void test_version_and_status_strings(void)
{
    const char *v = bc_version();
    CHECK(v != NULL, "bc_version() returned NULL");
    CHECK(strcmp(v, BC_VERSION_STRING) == 0, "bc_version() is \"%s\", header says \"%s\"", v,
          BC_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", BC_VERSION_MAJOR, BC_VERSION_MINOR,
             BC_VERSION_PATCH);
    CHECK(strcmp(expect, BC_VERSION_STRING) == 0, "BC_VERSION_* disagree with the string");

    const int known[] = {BC_OK,         BC_NOT_FOUND,   BC_STOPPED,     BC_E_INVALID,
                         BC_E_IO,       BC_E_CORRUPT,   BC_E_LOCKED,    BC_E_READ_ONLY,
                         BC_E_TOO_LARGE, BC_E_BUFFER,   BC_E_PANIC};
    const size_t n = sizeof known / sizeof known[0];
    const char *unknown = bc_status_str(12345);
    CHECK(unknown != NULL && unknown[0] != '\0', "bc_status_str(unknown) must be non-empty text");
    for (size_t i = 0; i < n; i++) {
        const char *s = bc_status_str(known[i]);
        CHECK(s != NULL && s[0] != '\0', "bc_status_str(%d) must be non-empty text", known[i]);
        CHECK(strcmp(s, unknown) != 0, "bc_status_str(%d) is the unknown-code text \"%s\"",
              known[i], s);
        /* Distinct texts, so a message really tells the codes apart. */
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s, bc_status_str(known[j])) != 0, "codes %d and %d share text \"%s\"",
                  known[i], known[j], s);
    }
    const int odd[] = {-9, 3, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = bc_status_str(odd[i]);
        CHECK(s != NULL && strcmp(s, unknown) == 0, "bc_status_str(%d) should be \"%s\"", odd[i],
              unknown);
    }
}

/* ---- bc_last_error -------------------------------------------------------------------------- */

/* A fresh thread has an empty message; its own failure does not touch other threads' text. */
static void *fresh_thread(void *arg)
{
    (void)arg;
    const char *m = bc_last_error();
    CHECK(m != NULL && m[0] == '\0', "a fresh thread's bc_last_error() is \"%s\", expected \"\"",
          m ? m : "(NULL)");
    CHECK_RC(bc_delete(NULL, B("k"), 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_delete: ");
    return NULL;
}

static void run_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

static void test_last_error(bc_db *db)
{
    /* main() calls this first, so the main thread has not failed yet either. */
    CHECK(strcmp(bc_last_error(), "") == 0, "bc_last_error() before any failure should be \"\"");
    CHECK_RC(bc_put(db, NULL, 0, B("v"), 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_put: ");
    char saved[512];
    snprintf(saved, sizeof saved, "%s", bc_last_error());

    /* Success and non-error statuses leave it unchanged. */
    CHECK_OK(bc_put(db, B("k"), 1, B("v"), 1));
    CHECK_RC(bc_delete(db, B("absent"), 6), BC_NOT_FOUND);
    CHECK(strcmp(bc_last_error(), saved) == 0, "a successful call changed bc_last_error()");

    /* Another thread's failure does not change this thread's text. */
    run_in_thread(fresh_thread, NULL);
    CHECK(strcmp(bc_last_error(), saved) == 0, "another thread's failure changed this thread's");

    /* Each failing call names itself. */
    uint8_t *val;
    size_t vlen;
    CHECK_RC(bc_get(db, B("k"), 1, NULL, &vlen), BC_E_INVALID);
    CHECK_ERR_MSG("bc_get: ");
    CHECK_RC(bc_get_into(db, B("k"), 1, NULL, 0, NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_get_into: ");
    CHECK_RC(bc_contains(db, NULL, 0), BC_E_INVALID);
    CHECK_ERR_MSG("bc_contains: ");
    CHECK_RC(bc_sync(NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_sync: ");
    CHECK_RC(bc_stats_get(db, NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_stats_get: ");
    CHECK_RC(bc_get(NULL, B("k"), 1, &val, &vlen), BC_E_INVALID);
    CHECK_ERR_MSG("bc_get: ");
}

/* ---- round trips ---------------------------------------------------------------------------- */

static void test_round_trips(bc_db *db)
{
    CHECK_OK(bc_put(db, B("alpha"), 5, B("one"), 3));
    CHECK_VALUE(db, "alpha", 5, "one", 3);
    CHECK_OK(bc_contains(db, B("alpha"), 5));

    /* Keys and values with NUL bytes are bytes, not C strings: "a\0b" and "a\0c" are distinct
     * and "a" (a prefix up to the NUL) is a third key. */
    const uint8_t k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k0[] = {0};
    const uint8_t v1[] = {0, 1, 0, 2, 0}, v2[] = {0};
    CHECK_OK(bc_put(db, k1, sizeof k1, v1, sizeof v1));
    CHECK_OK(bc_put(db, k2, sizeof k2, v2, sizeof v2));
    CHECK_OK(bc_put(db, k0, sizeof k0, k1, sizeof k1));
    CHECK_VALUE(db, k1, sizeof k1, v1, sizeof v1);
    CHECK_VALUE(db, k2, sizeof k2, v2, sizeof v2);
    CHECK_VALUE(db, k0, sizeof k0, k1, sizeof k1);
    CHECK_ABSENT(db, "a", 1);

    /* Every byte value in a key and a value. */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    CHECK_OK(bc_put(db, all, sizeof all, all, sizeof all));
    CHECK_VALUE(db, all, sizeof all, all, sizeof all);

    /* Overwrite: the newest value wins, also when it is shorter or longer. */
    CHECK_OK(bc_put(db, B("alpha"), 5, B("two-longer"), 10));
    CHECK_VALUE(db, "alpha", 5, "two-longer", 10);
    CHECK_OK(bc_put(db, B("alpha"), 5, B("3"), 1));
    CHECK_VALUE(db, "alpha", 5, "3", 1);

    /* Delete: present → BC_OK, then absent → BC_NOT_FOUND, and a new put revives the key. */
    CHECK_OK(bc_delete(db, B("alpha"), 5));
    CHECK_ABSENT(db, "alpha", 5);
    CHECK_RC(bc_delete(db, B("alpha"), 5), BC_NOT_FOUND);
    CHECK_RC(bc_delete(db, B("never-written"), 13), BC_NOT_FOUND);
    CHECK_ABSENT(db, "never-written", 13);
    CHECK_OK(bc_put(db, B("alpha"), 5, B("back"), 4));
    CHECK_VALUE(db, "alpha", 5, "back", 4);

    CHECK_OK(bc_sync(db));
}

static void test_empty_values(bc_db *db)
{
    /* (NULL, 0) and (ptr, 0) both store an empty value... */
    CHECK_OK(bc_put(db, B("empty-null"), 10, NULL, 0));
    CHECK_OK(bc_put(db, B("empty-ptr"), 9, B("ignored"), 0));
    const char *keys[] = {"empty-null", "empty-ptr"};
    for (int i = 0; i < 2; i++) {
        size_t klen = strlen(keys[i]);
        /* ...which exists, and reads back as a non-NULL pointer with length 0. */
        CHECK_OK(bc_contains(db, B(keys[i]), klen));
        uint8_t *val = NULL;
        size_t vlen = 77;
        CHECK_OK(bc_get(db, B(keys[i]), klen, &val, &vlen));
        CHECK(val != NULL, "an empty value must come back as a non-NULL pointer");
        CHECK(vlen == 0, "an empty value came back with length %zu", vlen);
        bc_free(val);
        /* The size query of bc_get_into answers BC_OK for an empty value. */
        vlen = 77;
        CHECK_OK(bc_get_into(db, B(keys[i]), klen, NULL, 0, &vlen));
        CHECK(vlen == 0, "bc_get_into size query of an empty value gave %zu", vlen);
    }
    /* An empty value replacing a real one, and the other way round. */
    CHECK_OK(bc_put(db, B("grow"), 4, B("data"), 4));
    CHECK_OK(bc_put(db, B("grow"), 4, NULL, 0));
    CHECK_VALUE(db, "grow", 4, "", 0);
    CHECK_OK(bc_put(db, B("grow"), 4, B("again"), 5));
    CHECK_VALUE(db, "grow", 4, "again", 5);
}

/* ---- bad arguments -------------------------------------------------------------------------- */

static void test_bad_arguments(bc_db *db)
{
    uint8_t *val;
    size_t vlen;
    uint8_t buf[8];

    /* NULL handle: every call says BC_E_INVALID (and clears its out-parameters). */
    CHECK_RC(bc_put(NULL, B("k"), 1, B("v"), 1), BC_E_INVALID);
    val = buf;
    vlen = 5;
    CHECK_RC(bc_get(NULL, B("k"), 1, &val, &vlen), BC_E_INVALID);
    CHECK(val == NULL && vlen == 0, "bc_get(NULL db) must clear *val and *vlen");
    vlen = 5;
    CHECK_RC(bc_get_into(NULL, B("k"), 1, buf, sizeof buf, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "bc_get_into(NULL db) must set *vlen = 0");
    CHECK_RC(bc_delete(NULL, B("k"), 1), BC_E_INVALID);
    CHECK_RC(bc_contains(NULL, B("k"), 1), BC_E_INVALID);
    CHECK_RC(bc_sync(NULL), BC_E_INVALID);

    /* Empty key, as (NULL, 0) and as (ptr, 0). */
    CHECK_RC(bc_put(db, NULL, 0, B("v"), 1), BC_E_INVALID);
    CHECK_ERR_MSG("bc_put: ");
    CHECK_RC(bc_put(db, B("k"), 0, B("v"), 1), BC_E_INVALID);
    val = buf;
    vlen = 5;
    CHECK_RC(bc_get(db, B("k"), 0, &val, &vlen), BC_E_INVALID);
    CHECK(val == NULL && vlen == 0, "failed bc_get must clear *val and *vlen");
    CHECK_RC(bc_get(db, NULL, 0, &val, &vlen), BC_E_INVALID);
    vlen = 5;
    CHECK_RC(bc_get_into(db, B("k"), 0, buf, sizeof buf, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "failed bc_get_into must set *vlen = 0");
    CHECK_RC(bc_delete(db, B("k"), 0), BC_E_INVALID);
    CHECK_RC(bc_delete(db, NULL, 0), BC_E_INVALID);
    CHECK_RC(bc_contains(db, B("k"), 0), BC_E_INVALID);
    CHECK_RC(bc_contains(db, NULL, 0), BC_E_INVALID);

    /* NULL key or value pointer with a non-zero length. */
    CHECK_RC(bc_put(db, NULL, 3, B("v"), 1), BC_E_INVALID);
    CHECK_RC(bc_put(db, B("nullval"), 7, NULL, 1), BC_E_INVALID);
    CHECK_ABSENT(db, "nullval", 7);
    CHECK_RC(bc_get(db, NULL, 3, &val, &vlen), BC_E_INVALID);
    CHECK_RC(bc_get_into(db, NULL, 3, buf, sizeof buf, &vlen), BC_E_INVALID);
    CHECK_RC(bc_delete(db, NULL, 3), BC_E_INVALID);
    CHECK_RC(bc_contains(db, NULL, 3), BC_E_INVALID);

    /* NULL out-pointers (test_out_params checks what happens to the other one). */
    CHECK_OK(bc_put(db, B("k"), 1, B("value"), 5));
    CHECK_RC(bc_get(db, B("k"), 1, NULL, NULL), BC_E_INVALID);
    CHECK_RC(bc_get(db, B("k"), 1, &val, NULL), BC_E_INVALID);
    CHECK_RC(bc_get(db, B("k"), 1, NULL, &vlen), BC_E_INVALID);
    CHECK_RC(bc_get_into(db, B("k"), 1, buf, sizeof buf, NULL), BC_E_INVALID);
    /* buf NULL with a non-zero capacity. */
    vlen = 5;
    CHECK_RC(bc_get_into(db, B("k"), 1, NULL, 4, &vlen), BC_E_INVALID);
    CHECK(vlen == 0, "failed bc_get_into must set *vlen = 0");

    /* None of the failed calls changed the stored value. */
    CHECK_VALUE(db, "k", 1, "value", 5);
}

/* ---- bc_get_into buffer sizes --------------------------------------------------------------- */

static void test_get_into_sizes(bc_db *db)
{
    const char *v = "0123456789";
    CHECK_OK(bc_put(db, B("ten"), 3, B(v), 10));

    /* Too small: BC_E_BUFFER, the size needed, and nothing copied. */
    uint8_t buf[16];
    memset(buf, '#', sizeof buf);
    size_t vlen = 0;
    CHECK_RC(bc_get_into(db, B("ten"), 3, buf, 9, &vlen), BC_E_BUFFER);
    CHECK_ERR_MSG("bc_get_into: ");
    CHECK(vlen == 10, "BC_E_BUFFER must report the needed size 10, got %zu", vlen);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == '#', "BC_E_BUFFER must copy nothing, but byte %zu changed", i);

    /* cap 0 and buf NULL: the size query. */
    vlen = 0;
    CHECK_RC(bc_get_into(db, B("ten"), 3, NULL, 0, &vlen), BC_E_BUFFER);
    CHECK(vlen == 10, "size query must report 10, got %zu", vlen);
    /* cap 0 with a real buffer: same. */
    vlen = 0;
    CHECK_RC(bc_get_into(db, B("ten"), 3, buf, 0, &vlen), BC_E_BUFFER);
    CHECK(vlen == 10, "cap 0 must report 10, got %zu", vlen);

    /* Exactly big enough, and bigger. */
    vlen = 0;
    CHECK_OK(bc_get_into(db, B("ten"), 3, buf, 10, &vlen));
    CHECK(vlen == 10 && memcmp(buf, v, 10) == 0, "exact-size bc_get_into");
    memset(buf, '#', sizeof buf);
    CHECK_OK(bc_get_into(db, B("ten"), 3, buf, sizeof buf, &vlen));
    CHECK(vlen == 10 && memcmp(buf, v, 10) == 0, "large-buffer bc_get_into");
    CHECK(buf[10] == '#', "bc_get_into wrote past the value");

    /* Absent key: BC_NOT_FOUND and *vlen 0. */
    vlen = 99;
    CHECK_RC(bc_get_into(db, B("nope"), 4, buf, sizeof buf, &vlen), BC_NOT_FOUND);
    CHECK(vlen == 0, "BC_NOT_FOUND from bc_get_into must set *vlen = 0");
    vlen = 99;
    CHECK_RC(bc_get_into(db, B("nope"), 4, NULL, 0, &vlen), BC_NOT_FOUND);
    CHECK(vlen == 0, "BC_NOT_FOUND size query must set *vlen = 0");
}

/* ---- limits --------------------------------------------------------------------------------- */

static void test_default_limits(bc_db *db)
{
    /* The defaults accept a 64 KiB key and a 64 MiB value and refuse one byte more. */
    const size_t max_key = 64 * 1024, max_val = 64 * 1024 * 1024;
    uint8_t *key = malloc(max_key + 1);
    uint8_t *val = malloc(max_val + 1);
    CHECK(key != NULL && val != NULL, "out of memory");
    for (size_t i = 0; i <= max_key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i <= max_val; i++)
        val[i] = (uint8_t)(i ^ (i >> 9));

    CHECK_OK(bc_put(db, key, max_key, B("big key"), 7));
    CHECK_VALUE(db, key, max_key, "big key", 7);
    CHECK_RC(bc_put(db, key, max_key + 1, B("v"), 1), BC_E_TOO_LARGE);
    CHECK_ERR_MSG("bc_put: ");
    uint8_t *out;
    size_t olen;
    CHECK_RC(bc_get(db, key, max_key + 1, &out, &olen), BC_E_TOO_LARGE);
    CHECK(out == NULL && olen == 0, "failed bc_get must clear its out-parameters");
    CHECK_RC(bc_get_into(db, key, max_key + 1, NULL, 0, &olen), BC_E_TOO_LARGE);
    CHECK_RC(bc_contains(db, key, max_key + 1), BC_E_TOO_LARGE);
    CHECK_RC(bc_delete(db, key, max_key + 1), BC_E_TOO_LARGE);

    CHECK_OK(bc_put(db, B("big value"), 9, val, max_val));
    CHECK_VALUE(db, "big value", 9, val, max_val);
    CHECK_RC(bc_put(db, B("too big"), 7, val, max_val + 1), BC_E_TOO_LARGE);
    CHECK_ABSENT(db, "too big", 7);

    /* Absurd lengths with a tiny buffer: refused by size before a byte is read (reading would
     * crash, so passing this proves the check comes first). */
    uint8_t tiny[1] = {'x'};
    CHECK_RC(bc_put(db, tiny, SIZE_MAX, B("v"), 1), BC_E_TOO_LARGE);
    CHECK_RC(bc_put(db, tiny, 1, tiny, SIZE_MAX), BC_E_TOO_LARGE);
    CHECK_RC(bc_put(db, tiny, SIZE_MAX / 2, tiny, SIZE_MAX / 2), BC_E_TOO_LARGE);
    CHECK_RC(bc_get(db, tiny, SIZE_MAX, &out, &olen), BC_E_TOO_LARGE);
    CHECK_RC(bc_get_into(db, tiny, SIZE_MAX, tiny, sizeof tiny, &olen), BC_E_TOO_LARGE);
    CHECK_RC(bc_delete(db, tiny, SIZE_MAX), BC_E_TOO_LARGE);
    CHECK_RC(bc_contains(db, tiny, SIZE_MAX), BC_E_TOO_LARGE);
    CHECK_ABSENT(db, "x", 1);

    /* Drop the 64 MiB record again so the reopen below stays quick. */
    CHECK_OK(bc_delete(db, B("big value"), 9));
    free(key);
    free(val);
}

int main(void)
{
    /* bc_free(NULL) is a harmless no-op, and runs before anything else exists. */
    bc_free(NULL);
    const char *root = test_tmpdir(STORE_NAME);
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    CHECK(db != NULL, "bc_open returned BC_OK but no handle");

    test_last_error(db); /* first: it checks the "no failure yet" state */
    test_version_and_status_strings();
    test_round_trips(db);
    test_empty_values(db);
    test_bad_arguments(db);
    test_get_into_sizes(db);
    test_default_limits(db);

    CHECK_OK(bc_close(db));

    /* Everything written above (minus the deletes) survived the close. */
    CHECK_OK(bc_open(path_in(root, "store"), NULL, &db));
    CHECK_VALUE(db, "alpha", 5, "back", 4);
    CHECK_VALUE(db, "empty-null", 10, "", 0);
    CHECK_VALUE(db, "k", 1, "value", 5);
    CHECK_ABSENT(db, "big value", 9);
    CHECK_OK(bc_close(db));
    printf("test_basics: ok\n");
    return 0;
}
