/*
 * check.h - tiny helpers shared by the C tests of bitcask.h.
 *
 * Include this FIRST in every test (it defines _GNU_SOURCE, which must precede every system
 * header so that mkdtemp, memmem, nftw, fork, ... are declared under -std=c11).
 *
 * Every check prints "file:line: message" plus bc_last_error() and exits with status 1 on the
 * first failure, so a failing program names the exact assertion. The test's temporary
 * directory is removed by an atexit handler, on success and on failure alike.
 */
#ifndef BITCASK_CHECK_H
#define BITCASK_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bitcask.h"

/* ---------------------------------------------------------------------------------------------
 * Checks
 */

static inline void check_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n    bc_last_error() on this thread: \"%s\"\n", bc_last_error());
    fflush(stderr);
    exit(1);
}

/* CHECK(cond, "fmt", args...): the message says what was expected. */
#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond))                                                                              \
            check_fail(__FILE__, __LINE__, __VA_ARGS__);                                          \
    } while (0)

/* CHECK_RC(call, want): the call returns exactly the status `want`. */
#define CHECK_RC(call, want)                                                                      \
    do {                                                                                          \
        int check_rc_got_ = (call);                                                               \
        int check_rc_want_ = (want);                                                              \
        if (check_rc_got_ != check_rc_want_)                                                      \
            check_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)", #call,        \
                       check_rc_got_, bc_status_str(check_rc_got_), check_rc_want_,              \
                       bc_status_str(check_rc_want_));                                            \
    } while (0)

#define CHECK_OK(call) CHECK_RC(call, BC_OK)

/* CHECK_ERR_MSG(prefix): this thread's last error starts with `prefix` (e.g. "bc_put: ") and
 * says something after it. */
#define CHECK_ERR_MSG(prefix)                                                                     \
    do {                                                                                          \
        const char *check_msg_ = bc_last_error();                                                 \
        CHECK(check_msg_ != NULL, "bc_last_error() returned NULL");                               \
        CHECK(strncmp(check_msg_, (prefix), strlen(prefix)) == 0 &&                              \
                  strlen(check_msg_) > strlen(prefix),                                            \
              "bc_last_error() should start with \"%s\" and give a detail", (prefix));            \
    } while (0)

/* Byte-string helpers: keys and values in the tests are mostly C strings. */
#define B(s) ((const uint8_t *)(s))

/* CHECK_VALUE(db, key, klen, want, wantlen): bc_get returns exactly these bytes, and so does
 * bc_get_into with a buffer of exactly the right size. */
#define CHECK_VALUE(db, key, klen, want, wantlen)                                                 \
    check_value_at(__FILE__, __LINE__, (db), (const uint8_t *)(key), (klen),                      \
                   (const uint8_t *)(want), (wantlen))

static inline void check_value_at(const char *file, int line, bc_db *db, const uint8_t *key,
                                  size_t klen, const uint8_t *want, size_t wantlen)
{
    uint8_t *val = NULL;
    size_t vlen = 0;
    int rc = bc_get(db, key, klen, &val, &vlen);
    if (rc != BC_OK)
        check_fail(file, line, "bc_get of a %zu-byte key returned %d (%s), expected BC_OK", klen,
                   rc, bc_status_str(rc));
    if (val == NULL)
        check_fail(file, line, "bc_get returned BC_OK with a NULL value pointer");
    if (vlen != wantlen || (wantlen > 0 && memcmp(val, want, wantlen) != 0))
        check_fail(file, line, "bc_get returned a %zu-byte value, expected %zu bytes%s", vlen,
                   wantlen, vlen == wantlen ? " (contents differ)" : "");
    bc_free(val);

    /* The same through the caller-buffer variant (one spare byte that must stay untouched). */
    uint8_t *buf = malloc(wantlen + 1);
    if (buf == NULL)
        check_fail(file, line, "out of memory");
    buf[wantlen] = 0xA5;
    vlen = 12345;
    rc = bc_get_into(db, key, klen, buf, wantlen, &vlen);
    if (rc != BC_OK)
        check_fail(file, line, "bc_get_into returned %d (%s), expected BC_OK", rc,
                   bc_status_str(rc));
    if (vlen != wantlen || (wantlen > 0 && memcmp(buf, want, wantlen) != 0))
        check_fail(file, line, "bc_get_into returned %zu bytes, expected %zu", vlen, wantlen);
    if (buf[wantlen] != 0xA5)
        check_fail(file, line, "bc_get_into wrote past the value");
    free(buf);
}

/* CHECK_ABSENT(db, key, klen): bc_get says BC_NOT_FOUND and clears its out-parameters. */
#define CHECK_ABSENT(db, key, klen)                                                               \
    do {                                                                                          \
        uint8_t *absent_val_ = (uint8_t *)&absent_val_; /* any non-NULL junk */                   \
        size_t absent_len_ = 99;                                                                  \
        CHECK_RC(bc_get((db), B(key), (klen), &absent_val_, &absent_len_), BC_NOT_FOUND);         \
        CHECK(absent_val_ == NULL && absent_len_ == 0,                                            \
              "bc_get of an absent key must set *val = NULL and *vlen = 0");                      \
        CHECK_RC(bc_contains((db), B(key), (klen)), BC_NOT_FOUND);                                \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Temporary directories
 */

static char check_tmp_root[PATH_MAX];
static pid_t check_tmp_owner;

static inline int check_rm_entry(const char *path, const struct stat *sb, int flag,
                                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    /* Restore permissions a test may have taken away, so the removal cannot fail on them. */
    chmod(path, 0700);
    remove(path);
    return 0;
}

/* Removes a directory tree (best effort). */
static inline void rm_rf(const char *path)
{
    /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow symlinks out. */
    nftw(path, check_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void check_tmp_cleanup(void)
{
    /* Forked children inherit the atexit handler; only the creating process cleans up. */
    if (check_tmp_root[0] != '\0' && getpid() == check_tmp_owner)
        rm_rf(check_tmp_root);
}

/* Creates this test's fresh temporary directory (under $TMPDIR, else /tmp) and returns its
 * path; it is removed when the process exits. Call once per program. */
static inline const char *test_tmpdir(const char *name)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(check_tmp_root, sizeof check_tmp_root, "%s/bitcask-%s-XXXXXX", base, name);
    if (mkdtemp(check_tmp_root) == NULL) {
        fprintf(stderr, "mkdtemp(%s): %s\n", check_tmp_root, strerror(errno));
        exit(1);
    }
    check_tmp_owner = getpid();
    atexit(check_tmp_cleanup);
    return check_tmp_root;
}

/* Writes "<dir>/<name>" into out[PATH_MAX] and returns out; a too-long path fails the test. */
static inline char *join_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    CHECK(n > 0 && n < PATH_MAX, "path too long: %s/%s", dir, name);
    return out;
}

/* join_path into one of 16 static rotating buffers: handy for a path used within a statement
 * or two; use join_path into a local array for one that lives longer. Helpers here never use
 * it, so they cannot overwrite a caller's path. */
static inline const char *path_in(const char *root, const char *name)
{
    static char bufs[16][PATH_MAX];
    static unsigned next;
    return join_path(bufs[next++ % 16], root, name);
}

static inline int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Data files of a store (named "<id>.data")
 */

static inline int is_data_file(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".data") == 0;
}

/* Number of *.data files in `dir`, and the sum of their sizes in *bytes (if non-NULL). */
static inline uint64_t count_data_files(const char *dir, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir(%s): %s", dir, strerror(errno));
    uint64_t n = 0, total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_data_file(e->d_name))
            continue;
        char path[PATH_MAX];
        join_path(path, dir, e->d_name);
        struct stat st;
        CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
        n++;
        total += (uint64_t)st.st_size;
    }
    closedir(d);
    if (bytes != NULL)
        *bytes = total;
    return n;
}

/* Path of the data file with the highest numeric id (the active, last file of the log). */
static inline const char *last_data_file(const char *dir)
{
    static char best[PATH_MAX];
    unsigned long long best_id = 0;
    int found = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir(%s): %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_data_file(e->d_name))
            continue;
        unsigned long long id = strtoull(e->d_name, NULL, 10);
        if (!found || id > best_id) {
            best_id = id;
            found = 1;
            join_path(best, dir, e->d_name);
        }
    }
    closedir(d);
    CHECK(found, "no *.data file in %s", dir);
    return best;
}

/* Reads a whole file into a malloc'd buffer. */
static inline uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat %s", path);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    CHECK(buf != NULL, "out of memory");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        CHECK(n > 0, "read %s: %s", path, strerror(errno));
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Child processes
 */

/* Forks; stdio is flushed first so buffered output is not written twice. */
static inline pid_t fork_child(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    return pid;
}

/* Waits for `pid` and checks that it exited with status 0 (its own CHECK printed why not). */
#define CHECK_CHILD_OK(pid)                                                                       \
    do {                                                                                          \
        pid_t child_pid_ = (pid); /* evaluated once: it may be a call that forks */              \
        int child_status_;                                                                        \
        CHECK(waitpid(child_pid_, &child_status_, 0) == child_pid_, "waitpid: %s",                \
              strerror(errno));                                                                   \
        CHECK(WIFEXITED(child_status_) && WEXITSTATUS(child_status_) == 0,                        \
              "child process failed (status 0x%x)", child_status_);                              \
    } while (0)

/* Writes/reads exactly `len` bytes on a pipe; returns 0 at EOF before the first byte. */
static inline int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

static inline void write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0, "write to pipe: %s", strerror(errno));
        done += (size_t)n;
    }
}

#endif /* BITCASK_CHECK_H */
