/* counter.c - counts how often it has run, in a bitcask store: a consumer of the INSTALLED
 * library, built both through pkg-config (examples/pkgconfig/Makefile) and through
 * find_package(bitcask) (examples/find_package/CMakeLists.txt).
 *   ./counter /tmp/counter-store   ->  "bitcask 0.1.0: runs = 1"  (2 on the next run)
 * Prints exactly one line on stdout on success; any failure goes to stderr with exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitcask.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, bc_status_str(rc), rc < 0 ? bc_last_error() : "");
    return 1;
}

int main(int argc, char **argv)
{
    static const uint8_t key[] = "runs";
    bc_db *db = NULL;
    uint8_t *val = NULL;
    size_t vlen = 0;
    char text[32];
    unsigned long runs = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s STORE_DIR\n", argv[0]);
        return 2;
    }
    int rc = bc_open(argv[1], NULL, &db);
    if (rc != BC_OK)
        return fail("bc_open", rc);

    rc = bc_get(db, key, sizeof key - 1, &val, &vlen);
    if (rc == BC_OK && vlen < sizeof text) {
        memcpy(text, val, vlen);
        text[vlen] = '\0';
        runs = strtoul(text, NULL, 10);
    }
    bc_free(val); /* library memory goes back through bc_free(); NULL is a no-op */
    if (rc < 0) {
        fail("bc_get", rc);
        bc_close(db);
        return 1;
    }

    int n = snprintf(text, sizeof text, "%lu", runs + 1);
    rc = bc_put(db, key, sizeof key - 1, (const uint8_t *)text, (size_t)n);
    if (rc != BC_OK) {
        fail("bc_put", rc);
        bc_close(db);
        return 1;
    }
    rc = bc_close(db);
    if (rc != BC_OK)
        return fail("bc_close", rc);
    printf("bitcask %s: runs = %lu\n", bc_version(), runs + 1);
    return 0;
}
