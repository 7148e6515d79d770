/*
 * test_open.c - bc_open / bc_close: bad arguments, paths that cannot be a store, NULL options
 * meaning the defaults, data surviving close and reopen, and files in the store directory
 * whose names are off the documented pattern (7.data, 1.data beside 0000000001.data): ignored,
 * never opened, counted or deleted.
 */
#include "check.h"

/* Something that is clearly not a handle, to prove *out gets overwritten. */
static bc_db *junk_handle(void)
{
    static int junk;
    return (bc_db *)(void *)&junk;
}

static void test_bad_arguments(const char *root)
{
    bc_db *db = junk_handle();
    CHECK_RC(bc_open(NULL, NULL, &db), BC_E_INVALID);
    CHECK_ERR_MSG("bc_open: ");
    CHECK(db == NULL, "bc_open(NULL dir) must set *out = NULL");

    CHECK_RC(bc_open(path_in(root, "x"), NULL, NULL), BC_E_INVALID);
    CHECK_ERR_MSG("bc_open: ");
    CHECK(!path_exists(path_in(root, "x")), "bc_open(out NULL) must not create the store");

    db = junk_handle();
    CHECK_RC(bc_open("", NULL, &db), BC_E_INVALID);
    CHECK_ERR_MSG("bc_open: ");
    CHECK(db == NULL, "bc_open(\"\") must set *out = NULL");

    CHECK_RC(bc_close(NULL), BC_OK);
}

/* A regular file where the directory should be: refused, and the file is left as it was. */
static void test_regular_file(const char *root)
{
    char file[PATH_MAX];
    join_path(file, root, "plain-file");
    const char content[] = "not a bitcask store\n";
    FILE *f = fopen(file, "w");
    CHECK(f != NULL, "create %s", file);
    fputs(content, f);
    fclose(f);

    bc_db *db = junk_handle();
    int rc = bc_open(file, NULL, &db);
    CHECK(rc < 0, "bc_open of a regular file returned %d (%s)", rc, bc_status_str(rc));
    CHECK_RC(rc, BC_E_INVALID); /* "dir exists and is not a directory" */
    CHECK_ERR_MSG("bc_open: ");
    CHECK(db == NULL, "failed bc_open must set *out = NULL");

    /* Also read-only and with create_if_missing off: same answer. */
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_read_only(o, 1));
    CHECK_RC(bc_open(file, o, &db), BC_E_INVALID);
    bc_options_free(o);

    size_t len;
    uint8_t *now = read_file(file, &len);
    CHECK(len == strlen(content) && memcmp(now, content, len) == 0,
          "bc_open changed the regular file it refused");
    free(now);

    /* A path *through* a regular file cannot be created either. */
    const char *below = path_in(root, "plain-file/store");
    rc = bc_open(below, NULL, &db);
    CHECK(rc < 0, "bc_open(%s) returned %d", below, rc);
    CHECK(db == NULL, "failed bc_open must set *out = NULL");
}

/* A directory the process may not create or enter. */
static void test_no_permission(const char *root)
{
    bc_db *db = junk_handle();
    int rc;
    if (geteuid() != 0) {
        /* An ordinary user: a parent without write/search permission. */
        char parent[PATH_MAX], store[PATH_MAX];
        join_path(parent, root, "locked-parent");
        join_path(store, root, "locked-parent/store");
        CHECK(mkdir(parent, 0700) == 0, "mkdir %s", parent);
        CHECK(chmod(parent, 0500) == 0, "chmod %s", parent);
        rc = bc_open(store, NULL, &db);
        chmod(parent, 0700);
        CHECK(rc < 0, "bc_open under a read-only parent returned %d", rc);
        CHECK(db == NULL, "failed bc_open must set *out = NULL");
        CHECK(bc_last_error()[0] != '\0', "no message for a failed bc_open");
        CHECK(!path_exists(store), "%s was created", store);

        /* An existing store directory without any permission. */
        CHECK(mkdir(store, 0700) == 0, "mkdir %s", store);
        CHECK(chmod(store, 0) == 0, "chmod %s", store);
        rc = bc_open(store, NULL, &db);
        chmod(store, 0700);
        CHECK(rc < 0, "bc_open of a mode-000 directory returned %d", rc);
        CHECK(db == NULL, "failed bc_open must set *out = NULL");
    }
    /* For everyone, root included (root ignores mode bits): /proc refuses new directories. */
    const char *proc = "/proc/1/bitcask-test-store";
    db = junk_handle();
    rc = bc_open(proc, NULL, &db);
    CHECK(rc < 0, "bc_open(%s) returned %d (%s)", proc, rc, bc_status_str(rc));
    CHECK(db == NULL, "failed bc_open must set *out = NULL");
    CHECK_ERR_MSG("bc_open: ");
    CHECK(!path_exists(proc), "%s was created", proc);
}

/* NULL options mean the defaults: a 64 KiB key is accepted, one byte more is not. */
static void test_null_options_are_defaults(const char *root)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(path_in(root, "defaults"), NULL, &db));
    CHECK(db != NULL, "bc_open returned BC_OK but no handle");
    static uint8_t key[65537];
    memset(key, 'k', sizeof key);
    CHECK_OK(bc_put(db, key, 65536, B("v"), 1));
    CHECK_RC(bc_put(db, key, 65537, B("v"), 1), BC_E_TOO_LARGE);
    /* Read-write by default: the LOCK file exists while the store is open. */
    CHECK(path_exists(path_in(root, "defaults/LOCK")), "no LOCK file in an open store");
    CHECK_OK(bc_close(db));
}

static void test_reopen(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "reopen");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    char key[32], val[64];
    for (int i = 0; i < 500; i++) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(val, sizeof val, "value-%d-%d", i, i * i);
        CHECK_OK(bc_put(db, B(key), (size_t)kl, B(val), (size_t)vl));
    }
    for (int i = 0; i < 500; i += 3) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        CHECK_OK(bc_delete(db, B(key), (size_t)kl));
    }
    for (int i = 1; i < 500; i += 3) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        CHECK_OK(bc_put(db, B(key), (size_t)kl, B("over"), 4));
    }
    CHECK_OK(bc_close(db));

    /* Twice: the second reopen replays a log that the first one did not change. */
    for (int round = 0; round < 2; round++) {
        CHECK_OK(bc_open(dir, NULL, &db));
        bc_stats st;
        CHECK_OK(bc_stats_get(db, &st));
        CHECK(st.keys == 500 - 167, "reopened store has %" PRIu64 " keys, expected 333", st.keys);
        for (int i = 0; i < 500; i++) {
            int kl = snprintf(key, sizeof key, "key-%d", i);
            int vl = snprintf(val, sizeof val, "value-%d-%d", i, i * i);
            if (i % 3 == 0)
                CHECK_ABSENT(db, key, (size_t)kl);
            else if (i % 3 == 1)
                CHECK_VALUE(db, key, (size_t)kl, "over", 4);
            else
                CHECK_VALUE(db, key, (size_t)kl, val, (size_t)vl);
        }
        CHECK_OK(bc_close(db));
    }

    /* A trailing slash names the same store. */
    CHECK_OK(bc_open(path_in(root, "reopen/"), NULL, &db));
    CHECK_VALUE(db, "key-1", 5, "over", 4);
    CHECK_OK(bc_close(db));
}

/* The message of an OS failure names the call, the path and the OS error, once. */
static void test_error_message(const char *root)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_create_if_missing(o, 0));
    char missing[PATH_MAX];
    join_path(missing, root, "missing-store");
    bc_db *db = NULL;
    CHECK_RC(bc_open(missing, o, &db), BC_E_IO);
    bc_options_free(o);
    const char *m = bc_last_error();
    CHECK(strncmp(m, "bc_open: ", 9) == 0, "message does not name bc_open: \"%s\"", m);
    CHECK(strstr(m, missing) != NULL, "message does not name the path: \"%s\"", m);
    CHECK(strstr(m, strerror(ENOENT)) != NULL, "message does not give the OS error: \"%s\"", m);
    const char *first = strstr(m, "(os error");
    CHECK(first == NULL || strstr(first + 1, "(os error") == NULL,
          "message repeats the OS error code: \"%s\"", m);
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
    write_full(fd, bytes, len);
    close(fd);
}

static void test_stray_names_are_ignored(const char *root)
{
    char dir[PATH_MAX];
    join_path(dir, root, "stray-names");
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_OK(bc_put(db, B("k"), 1, B("v"), 1));
    CHECK_OK(bc_close(db));

    size_t len = 0;
    uint8_t *real = read_file(path_in(dir, "0000000001.data"), &len);
    char seven[PATH_MAX], one[PATH_MAX];
    strcpy(seven, path_in(dir, "7.data"));
    strcpy(one, path_in(dir, "1.data"));
    write_bytes(seven, "not a data file", 15);
    write_bytes(one, real, len); /* a copy of file 1: replayed twice if it counted */
    free(real);

    for (int round = 0; round < 2; round++) {
        CHECK_OK(bc_open(dir, NULL, &db));
        CHECK_VALUE(db, "k", 1, "v", 1);
        bc_stats st;
        CHECK_OK(bc_stats_get(db, &st));
        CHECK(st.data_files == 1, "data_files = %llu: a stray name was counted",
              (unsigned long long)st.data_files);
        CHECK(st.keys == 1 && st.dead_bytes == 0, "keys %llu dead %llu: replayed twice?",
              (unsigned long long)st.keys, (unsigned long long)st.dead_bytes);
        CHECK_OK(bc_close(db));
    }
    size_t n7 = 0, n1 = 0;
    uint8_t *b7 = read_file(seven, &n7);
    uint8_t *b1 = read_file(one, &n1);
    CHECK(n7 == 15 && memcmp(b7, "not a data file", 15) == 0, "7.data was changed");
    CHECK(n1 == len, "1.data was changed");
    free(b7);
    free(b1);
}

int main(void)
{
    const char *root = test_tmpdir("open");
    test_bad_arguments(root);
    test_regular_file(root);
    test_no_permission(root);
    test_null_options_are_defaults(root);
    test_reopen(root);
    test_stray_names_are_ignored(root);
    test_error_message(root); /* last: a cosmetic slip here should not hide the checks above */
    printf("test_open: ok\n");
    return 0;
}
