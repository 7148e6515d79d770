// header_cxx.cpp - bitcask.h is usable from C++: it compiles cleanly as C++11 under
// -Wall -Wextra -Wpedantic -Werror (test "header_strict_cxx" compiles this file with a plain -I,
// so warnings inside the header count), its functions have C linkage (this links against the
// library), and a capture-less lambda works as a fold callback. Run with no arguments; uses and
// removes its own temporary directory.
#include "bitcask.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ftw.h>
#include <string>
#include <unistd.h>

static_assert(sizeof(bc_stats) % 8 == 0 && offsetof(bc_stats, truncated_bytes) == 56,
              "bc_stats is a plain sequence of uint64_t");

#define REQUIRE(cond)                                                                             \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::fprintf(stderr, "%s:%d: %s (last error: \"%s\")\n", __FILE__, __LINE__, #cond,  \
                         bc_last_error());                                                        \
            return 1;                                                                             \
        }                                                                                         \
    } while (0)

static const uint8_t *bytes(const char *s) { return reinterpret_cast<const uint8_t *>(s); }

static int run(const std::string &dir)
{
    REQUIRE(std::strcmp(bc_version(), BC_VERSION_STRING) == 0);
    REQUIRE(bc_status_str(BC_E_LOCKED) != nullptr);

    bc_options *opts = bc_options_new();
    REQUIRE(opts != nullptr);
    REQUIRE(bc_options_set_sync(opts, BC_SYNC_ALWAYS, 0) == BC_OK);
    bc_db *db = nullptr;
    REQUIRE(bc_open(dir.c_str(), opts, &db) == BC_OK);
    bc_options_free(opts);

    REQUIRE(bc_put(db, bytes("lang"), 4, bytes("C++"), 3) == BC_OK);
    uint8_t *val = nullptr;
    size_t vlen = 0;
    REQUIRE(bc_get(db, bytes("lang"), 4, &val, &vlen) == BC_OK);
    REQUIRE(std::string(reinterpret_cast<char *>(val), vlen) == "C++");
    bc_free(val);

    std::string seen;
    auto collect = [](void *ctx, const uint8_t *k, size_t kl, const uint8_t *v,
                      size_t vl) -> int {
        auto *out = static_cast<std::string *>(ctx);
        out->append(reinterpret_cast<const char *>(k), kl);
        out->append("=");
        out->append(reinterpret_cast<const char *>(v), vl);
        return 0;
    };
    REQUIRE(bc_fold(db, collect, &seen) == BC_OK);
    REQUIRE(seen == "lang=C++");

    bc_stats st;
    REQUIRE(bc_stats_get(db, &st) == BC_OK && st.keys == 1);
    REQUIRE(bc_close(db) == BC_OK);
    return 0;
}

int main()
{
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bitcask-cxx-XXXXXX";
    if (mkdtemp(&tmpl[0]) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    int rc = run(tmpl + "/store");
    // Remove the temporary tree, children first.
    auto remove_entry = [](const char *path, const struct stat *, int, struct FTW *) -> int {
        return std::remove(path);
    };
    if (nftw(tmpl.c_str(), remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        std::fprintf(stderr, "could not remove %s\n", tmpl.c_str());
    if (rc == 0)
        std::puts("header_cxx: ok");
    return rc;
}
