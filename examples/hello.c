/* hello.c - store a key in a bitcask store and read it back.
 *   cc hello.c -lbitcask -o hello && ./hello /tmp/hello-store */
#include <stdio.h>
#include "bitcask.h"

int main(int argc, char **argv)
{
    bc_db *db;
    uint8_t *val;
    size_t vlen;
    int rc = bc_open(argc > 1 ? argv[1] : "hello-store", NULL, &db);
    if (rc == BC_OK)
        rc = bc_put(db, (const uint8_t *)"hello", 5, (const uint8_t *)"world", 5);
    if (rc == BC_OK)
        rc = bc_get(db, (const uint8_t *)"hello", 5, &val, &vlen);
    if (rc == BC_OK) {
        printf("hello = %.*s\n", (int)vlen, (const char *)val);
        bc_free(val); /* library memory goes back through bc_free(), never free() */
    } else {          /* bc_last_error() explains negative statuses (errors) only */
        fprintf(stderr, "error: %s %s\n", bc_status_str(rc), rc < 0 ? bc_last_error() : "");
    }
    int close_rc = bc_close(db); /* a no-op if bc_open failed: it set db to NULL */
    if (close_rc != BC_OK)
        fprintf(stderr, "bc_close: %s\n", bc_last_error());
    return rc == BC_OK && close_rc == BC_OK ? 0 : 1;
}
