/*
 * test_header.c - bitcask.h itself, as a C11 consumer sees it:
 *   - it is self-contained (included first, before any other header) and include-guarded;
 *   - it compiles without a single warning under -Wall -Wextra -Wpedantic -Werror: besides
 *     building this program, both test runners compile this file once more with a plain -I
 *     (tests "header_strict_c"; everything else sees the header as a system header, which
 *     hides warnings inside it, so a header slip fails that one test, not the whole build);
 *   - the ABI facts bindings rely on: status values, the bc_stats layout, the exact function
 *     and callback signatures (a mismatch is an incompatible-pointer error under -Werror).
 */
#include "bitcask.h"
#include "bitcask.h" /* the include guard makes a second inclusion harmless */

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Status codes: the documented values; errors negative, non-errors positive. */
_Static_assert(BC_OK == 0, "BC_OK");
_Static_assert(BC_NOT_FOUND == 1 && BC_STOPPED == 2, "non-error statuses");
_Static_assert(BC_E_INVALID == -1 && BC_E_IO == -2 && BC_E_CORRUPT == -3 && BC_E_LOCKED == -4 &&
                   BC_E_READ_ONLY == -5 && BC_E_TOO_LARGE == -6 && BC_E_BUFFER == -7 &&
                   BC_E_PANIC == -8,
               "error statuses");
_Static_assert(BC_SYNC_NONE == 0 && BC_SYNC_ALWAYS == 1 && BC_SYNC_INTERVAL == 2, "sync modes");
_Static_assert(BC_VERSION_MAJOR == 0 && BC_VERSION_MINOR == 1 && BC_VERSION_PATCH == 0,
               "version macros");

/* bc_stats: uint64_t fields in this order, no padding; fields are only ever added at the end,
 * so the ones below never move (extend the list when the header grows). */
_Static_assert(sizeof(bc_stats) % sizeof(uint64_t) == 0, "bc_stats size");
_Static_assert(sizeof(bc_stats) == offsetof(bc_stats, incomplete_merges) + 8,
               "incomplete_merges is the last field");
_Static_assert(offsetof(bc_stats, keys) == 0, "keys");
_Static_assert(offsetof(bc_stats, data_files) == 8, "data_files");
_Static_assert(offsetof(bc_stats, total_bytes) == 16, "total_bytes");
_Static_assert(offsetof(bc_stats, live_bytes) == 24, "live_bytes");
_Static_assert(offsetof(bc_stats, dead_bytes) == 32, "dead_bytes");
_Static_assert(offsetof(bc_stats, corrupt_records) == 40, "corrupt_records");
_Static_assert(offsetof(bc_stats, corrupt_bytes) == 48, "corrupt_bytes");
_Static_assert(offsetof(bc_stats, truncated_bytes) == 56, "truncated_bytes");
_Static_assert(offsetof(bc_stats, syncs) == 64, "syncs");
_Static_assert(offsetof(bc_stats, sealed_live_bytes) == 72, "sealed_live_bytes");
_Static_assert(offsetof(bc_stats, sealed_dead_bytes) == 80, "sealed_dead_bytes");
_Static_assert(offsetof(bc_stats, merges) == 88, "merges");
_Static_assert(offsetof(bc_stats, reclaimed_bytes) == 96, "reclaimed_bytes");
_Static_assert(offsetof(bc_stats, hint_files_loaded) == 104, "hint_files_loaded");
_Static_assert(offsetof(bc_stats, data_files_scanned) == 112, "data_files_scanned");
_Static_assert(offsetof(bc_stats, incomplete_merges) == 120, "incomplete_merges");

/* Every function, assigned to a pointer of the signature the documentation gives. */
static const char *(*const p_version)(void) = bc_version;
static const char *(*const p_status_str)(int) = bc_status_str;
static const char *(*const p_last_error)(void) = bc_last_error;
static void (*const p_free)(void *) = bc_free;
static int (*const p_open)(const char *, const bc_options *, bc_db **) = bc_open;
static int (*const p_close)(bc_db *) = bc_close;
static int (*const p_put)(bc_db *, const uint8_t *, size_t, const uint8_t *, size_t) = bc_put;
static int (*const p_get)(bc_db *, const uint8_t *, size_t, uint8_t **, size_t *) = bc_get;
static int (*const p_get_into)(bc_db *, const uint8_t *, size_t, uint8_t *, size_t,
                               size_t *) = bc_get_into;
static int (*const p_delete)(bc_db *, const uint8_t *, size_t) = bc_delete;
static int (*const p_contains)(bc_db *, const uint8_t *, size_t) = bc_contains;
static int (*const p_fold)(bc_db *, bc_fold_fn, void *) = bc_fold;
static int (*const p_fold_keys)(bc_db *, bc_key_fn, void *) = bc_fold_keys;
static int (*const p_sync)(bc_db *) = bc_sync;
static int (*const p_stats_get)(bc_db *, bc_stats *) = bc_stats_get;
static bc_options *(*const p_options_new)(void) = bc_options_new;
static void (*const p_options_free)(bc_options *) = bc_options_free;
static int (*const p_set_max_file_size)(bc_options *, uint64_t) = bc_options_set_max_file_size;
static int (*const p_set_sync)(bc_options *, int, uint32_t) = bc_options_set_sync;
static int (*const p_set_read_only)(bc_options *, int) = bc_options_set_read_only;
static int (*const p_set_create)(bc_options *, int) = bc_options_set_create_if_missing;
static int (*const p_set_max_key)(bc_options *, uint32_t) = bc_options_set_max_key_size;
static int (*const p_set_max_value)(bc_options *, uint64_t) = bc_options_set_max_value_size;
static int (*const p_set_open_files)(bc_options *, uint32_t) = bc_options_set_max_open_files;

/* Callbacks with exactly the documented parameter lists. */
static int fold_cb(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)ctx, (void)k, (void)kl, (void)v, (void)vl;
    return 0;
}
static int key_cb(void *ctx, const uint8_t *k, size_t kl)
{
    (void)ctx, (void)k, (void)kl;
    return 0;
}
static const bc_fold_fn p_fold_cb = fold_cb;
static const bc_key_fn p_key_cb = key_cb;

#define REQUIRE(cond)                                                                             \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                            \
            return 1;                                                                             \
        }                                                                                         \
    } while (0)

int main(void)
{
    /* Call every function through its typed pointer, with arguments that need no store. */
    REQUIRE(strcmp(p_version(), BC_VERSION_STRING) == 0);
    REQUIRE(strcmp(p_status_str(BC_OK), p_status_str(BC_E_IO)) != 0);
    REQUIRE(strcmp(p_last_error(), "") == 0);
    p_free(NULL);

    bc_db *db = NULL;
    uint8_t *val = NULL;
    size_t vlen = 0;
    REQUIRE(p_open(NULL, NULL, &db) == BC_E_INVALID && db == NULL);
    REQUIRE(p_close(NULL) == BC_OK);
    REQUIRE(p_put(NULL, (const uint8_t *)"k", 1, NULL, 0) == BC_E_INVALID);
    REQUIRE(p_get(NULL, (const uint8_t *)"k", 1, &val, &vlen) == BC_E_INVALID);
    REQUIRE(p_get_into(NULL, (const uint8_t *)"k", 1, NULL, 0, &vlen) == BC_E_INVALID);
    REQUIRE(p_delete(NULL, (const uint8_t *)"k", 1) == BC_E_INVALID);
    REQUIRE(p_contains(NULL, (const uint8_t *)"k", 1) == BC_E_INVALID);
    REQUIRE(p_fold(NULL, p_fold_cb, NULL) == BC_E_INVALID);
    REQUIRE(p_fold_keys(NULL, p_key_cb, NULL) == BC_E_INVALID);
    REQUIRE(p_sync(NULL) == BC_E_INVALID);
    bc_stats st;
    REQUIRE(p_stats_get(NULL, &st) == BC_E_INVALID);
    REQUIRE(strncmp(p_last_error(), "bc_stats_get: ", 14) == 0);

    bc_options *o = p_options_new();
    REQUIRE(o != NULL);
    REQUIRE(p_set_max_file_size(o, 1024) == BC_OK);
    REQUIRE(p_set_sync(o, BC_SYNC_INTERVAL, 10) == BC_OK);
    REQUIRE(p_set_read_only(o, 0) == BC_OK);
    REQUIRE(p_set_create(o, 1) == BC_OK);
    REQUIRE(p_set_max_key(o, 100) == BC_OK);
    REQUIRE(p_set_max_value(o, 100) == BC_OK);
    REQUIRE(p_set_open_files(o, 10) == BC_OK);
    p_options_free(o);

    /* The callbacks themselves, so they count as used. */
    REQUIRE(p_fold_cb(NULL, NULL, 0, NULL, 0) == 0 && p_key_cb(NULL, NULL, 0) == 0);
    puts("test_header: ok");
    return 0;
}
