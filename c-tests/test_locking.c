/*
 * test_locking.c - one read-write handle per store across threads and processes: a second open
 * is BC_E_LOCKED (same process and forked child), the lock is free again after bc_close and after
 * the holder is killed with SIGKILL, and read-only handles open beside the writer.
 *
 * Children never touch a handle opened by the parent (the header forbids it); they open their
 * own and report through their exit status (and stderr, via CHECK).
 */
#include "check.h"

static char dir[PATH_MAX];

static bc_options *read_only_options(void)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_read_only(o, 1));
    return o;
}

static void test_same_process(void)
{
    bc_db *a = NULL, *b = NULL;
    CHECK_OK(bc_open(dir, NULL, &a));
    b = (bc_db *)(void *)dir;
    CHECK_RC(bc_open(dir, NULL, &b), BC_E_LOCKED);
    CHECK_ERR_MSG("bc_open: ");
    CHECK(b == NULL, "a refused bc_open must set *out = NULL");
    /* The refused open did not disturb the writer. */
    CHECK_OK(bc_put(a, B("k"), 1, B("v1"), 2));

    /* A read-only handle in the same process opens beside it. */
    bc_options *ro = read_only_options();
    CHECK_OK(bc_open(dir, ro, &b));
    CHECK_VALUE(b, "k", 1, "v1", 2);
    CHECK_RC(bc_put(b, B("k"), 1, B("x"), 1), BC_E_READ_ONLY);
    CHECK_OK(bc_close(b));
    bc_options_free(ro);

    /* After bc_close the lock is free again, repeatedly. */
    CHECK_OK(bc_close(a));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(bc_open(dir, NULL, &a));
        CHECK_VALUE(a, "k", 1, "v1", 2);
        CHECK_OK(bc_close(a));
    }
}

/* A child that tries a read-write open and expects `want`. */
static pid_t child_open_expect(int want)
{
    pid_t pid = fork_child();
    if (pid == 0) {
        bc_db *db = NULL;
        CHECK_RC(bc_open(dir, NULL, &db), want);
        if (want == BC_OK) {
            CHECK_VALUE(db, "k", 1, "v1", 2);
            CHECK_OK(bc_put(db, B("from-child"), 10, B("yes"), 3));
            CHECK_OK(bc_close(db));
        } else {
            CHECK_ERR_MSG("bc_open: ");
            CHECK(db == NULL, "a refused bc_open must set *out = NULL");
        }
        _exit(0);
    }
    return pid;
}

static void test_other_process(void)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_CHILD_OK(child_open_expect(BC_E_LOCKED));
    CHECK_OK(bc_close(db));
    /* Closed in the parent: the child can take it now. */
    CHECK_CHILD_OK(child_open_expect(BC_OK));
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_VALUE(db, "from-child", 10, "yes", 3);
    CHECK_OK(bc_close(db));
}

/* A reader in a child process beside the parent's writer. The pipes order the steps:
 * parent writes "before", child opens read-only and says so, parent writes "after", child checks. */
static void test_read_only_beside_writer(void)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    CHECK_OK(bc_put(db, B("before"), 6, B("seen"), 4));

    int to_parent[2], to_child[2];
    CHECK(pipe(to_parent) == 0 && pipe(to_child) == 0, "pipe");
    pid_t pid = fork_child();
    if (pid == 0) {
        close(to_parent[0]);
        close(to_child[1]);
        bc_options *ro = read_only_options();
        bc_db *r = NULL;
        CHECK_OK(bc_open(dir, ro, &r));
        bc_options_free(ro);
        write_full(to_parent[1], "o", 1);
        char go;
        CHECK(read_full(to_child[0], &go, 1) == 1, "parent went away");

        /* It sees what was written before its open. */
        CHECK_VALUE(r, "before", 6, "seen", 4);
        CHECK_VALUE(r, "k", 1, "v1", 2);
        /* Writes are refused, and the writer keeps its lock. */
        CHECK_RC(bc_put(r, B("child"), 5, B("no"), 2), BC_E_READ_ONLY);
        CHECK_ERR_MSG("bc_put: ");
        CHECK_RC(bc_delete(r, B("before"), 6), BC_E_READ_ONLY);
        CHECK_OK(bc_close(r));
        bc_db *w = NULL;
        CHECK_RC(bc_open(dir, NULL, &w), BC_E_LOCKED);
        _exit(0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    char ready;
    CHECK(read_full(to_parent[0], &ready, 1) == 1, "the read-only child did not open");
    /* Written after the reader's open: the reader may or may not see it, but must not break. */
    CHECK_OK(bc_put(db, B("after"), 5, B("later"), 5));
    write_full(to_child[1], "g", 1);
    CHECK_CHILD_OK(pid);
    close(to_parent[0]);
    close(to_child[1]);

    CHECK_ABSENT(db, "child", 5);
    CHECK_VALUE(db, "before", 6, "seen", 4);
    CHECK_OK(bc_close(db));
}

/* A child takes the lock, says so, and is killed with SIGKILL: no stale lock remains. */
static void test_killed_holder(void)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t pid = fork_child();
    if (pid == 0) {
        close(p[0]);
        bc_db *db = NULL;
        CHECK_OK(bc_open(dir, NULL, &db));
        CHECK_OK(bc_put(db, B("killed"), 6, B("acknowledged"), 12));
        write_full(p[1], "L", 1);
        for (;;)
            pause(); /* hold the lock until killed */
    }
    close(p[1]);
    char locked;
    CHECK(read_full(p[0], &locked, 1) == 1, "the child did not take the lock");
    close(p[0]);

    /* While it lives, the store is locked. */
    bc_db *db = NULL;
    CHECK_RC(bc_open(dir, NULL, &db), BC_E_LOCKED);

    CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child was not killed by SIGKILL");

    CHECK_OK(bc_open(dir, NULL, &db));
    /* Its acknowledged write survived the kill (BC_SYNC_NONE: in the OS, not lost). */
    CHECK_VALUE(db, "killed", 6, "acknowledged", 12);
    CHECK_OK(bc_close(db));
}

/* bc_close releases the lock even while a forked child (that never used the handle) still has
 * the parent's file descriptors: the header promises release "by bc_close or by the process
 * ending". */
static void test_close_releases_despite_forked_child(void)
{
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, NULL, &db));
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t pid = fork_child();
    if (pid == 0) {
        /* Inherits every descriptor of the parent, the LOCK file's included; waits for EOF. */
        close(p[1]);
        char c;
        (void)read_full(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    CHECK_OK(bc_close(db));
    int rc = bc_open(dir, NULL, &db);
    close(p[1]); /* let the child go before any CHECK can exit */
    CHECK_CHILD_OK(pid);
    CHECK_RC(rc, BC_OK);
    CHECK_OK(bc_close(db));
}

int main(void)
{
    const char *root = test_tmpdir("locking");
    join_path(dir, root, "store");
    test_same_process();
    test_other_process();
    test_read_only_beside_writer();
    test_killed_holder();
    test_close_releases_despite_forked_child();
    printf("test_locking: ok\n");
    return 0;
}
