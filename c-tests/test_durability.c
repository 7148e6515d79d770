/*
 * test_durability.c - acknowledged writes survive the writer being killed.
 *
 * A child opens the store with BC_SYNC_ALWAYS and writes keys 0, 1, 2, ... in a loop; after each
 * bc_put returns BC_OK it sends the key's index to the parent over a pipe. The parent reads a
 * number of acknowledgements, kills the child with SIGKILL (so it dies at an arbitrary point,
 * often in the middle of a write), reopens the store and checks that every acknowledged key has
 * its exact value, and that no key holds anything but its exact value. Repeated a few times on
 * the same store, so every round also recovers from the previous round's torn tail.
 */
#include "check.h"

#define ROUNDS 6

/* Values of varying length (up to ~3 KiB) so the kill often lands inside a record. */
static size_t make_val(uint8_t *buf, size_t cap, int round, uint32_t i)
{
    size_t n = (size_t)snprintf((char *)buf, cap, "round %d key %u:", round, i);
    size_t extra = (i * 977u) % 3000u;
    for (size_t j = 0; j < extra && n < cap; j++)
        buf[n++] = (uint8_t)(i + j * 13);
    return n;
}

static size_t make_key(char *buf, size_t cap, int round, uint32_t i)
{
    return (size_t)snprintf(buf, cap, "r%d-k%u", round, i);
}

static void child_writer(const char *dir, int round, int ack_fd)
{
    bc_options *o = bc_options_new();
    CHECK(o != NULL, "bc_options_new");
    CHECK_OK(bc_options_set_sync(o, BC_SYNC_ALWAYS, 0));
    CHECK_OK(bc_options_set_max_file_size(o, 64 * 1024)); /* rollovers happen too */
    bc_db *db = NULL;
    CHECK_OK(bc_open(dir, o, &db));
    bc_options_free(o);
    char k[32];
    static uint8_t v[4096];
    for (uint32_t i = 0;; i++) {
        size_t kl = make_key(k, sizeof k, round, i), vl = make_val(v, sizeof v, round, i);
        CHECK_OK(bc_put(db, B(k), kl, v, vl));
        write_full(ack_fd, &i, sizeof i);
    }
}

/* Checks round `round`'s keys: 0..acked-1 must be there; later ones may be, but exact. */
static void check_round(bc_db *db, int round, uint32_t acked)
{
    char k[32];
    static uint8_t v[4096];
    for (uint32_t i = 0; i < acked + 100; i++) {
        size_t kl = make_key(k, sizeof k, round, i), vl = make_val(v, sizeof v, round, i);
        if (i < acked) {
            CHECK_VALUE(db, k, kl, v, vl);
        } else {
            uint8_t *got = NULL;
            size_t glen = 0;
            int rc = bc_get(db, B(k), kl, &got, &glen);
            CHECK(rc == BC_NOT_FOUND || (rc == BC_OK && glen == vl && memcmp(got, v, vl) == 0),
                  "unacknowledged key %s: status %d, %zu bytes (expected absent or exact)", k,
                  rc, glen);
            bc_free(got);
        }
    }
}

int main(void)
{
    const char *root = test_tmpdir("durability");
    char dir[PATH_MAX];
    join_path(dir, root, "store");
    uint32_t acked[ROUNDS];
    srand((unsigned)getpid());

    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        pid_t pid = fork_child();
        if (pid == 0) {
            close(p[0]);
            child_writer(dir, round, p[1]);
            _exit(0); /* not reached */
        }
        close(p[1]);

        /* Read a varying number of acknowledgements, then kill at once. */
        uint32_t want = 50 + (uint32_t)(rand() % 300), n = 0, idx;
        while (n < want) {
            int r = read_full(p[0], &idx, sizeof idx);
            CHECK(r == 1, "the writer child died after %u acknowledgements", n);
            CHECK(idx == n, "acknowledgement %u out of order (%u)", n, idx);
            n++;
        }
        CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
        /* Acknowledgements already in the pipe were sent after a successful put: count them. */
        while (read_full(p[0], &idx, sizeof idx) == 1) {
            CHECK(idx == n, "acknowledgement %u out of order (%u)", n, idx);
            n++;
        }
        close(p[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the writer ended on its own (status 0x%x)", status);
        acked[round] = n;

        /* The lock died with the child; every acknowledged key of every round is intact. */
        bc_db *db = NULL;
        CHECK_OK(bc_open(dir, NULL, &db));
        for (int r = 0; r <= round; r++)
            check_round(db, r, acked[r]);
        bc_stats st;
        CHECK_OK(bc_stats_get(db, &st));
        printf("  round %d: %u acknowledged, %llu keys, %llu bytes of torn tail cut\n", round, n,
               (unsigned long long)st.keys, (unsigned long long)st.truncated_bytes);
        CHECK(st.corrupt_records == 0, "a kill left %llu corrupt records (only a torn tail is "
              "possible)", (unsigned long long)st.corrupt_records);
        CHECK_OK(bc_close(db));
    }
    printf("test_durability: ok\n");
    return 0;
}
