// test_wrapper.cpp - tests of the C++17 wrapper include/bitcask.hpp: every public call, RAII and
// move semantics, errors (code and bc_last_error text), iteration, batches, scans, folds, TTLs,
// stats and merge. Each test runs in its own temporary directory; a failed CHECK reports
// "file:line: CHECK(cond) failed: message", the test is counted as failed and the next one runs.
// Exit status 0 only if every test passed. Run with no arguments (uses $TMPDIR or /tmp).
#include "bitcask.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace std::string_view_literals;

// ---- compile-time properties ------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<bitcask::db> && !std::is_copy_assignable_v<bitcask::db>,
              "db is move-only");
static_assert(std::is_nothrow_move_constructible_v<bitcask::db> &&
                  std::is_nothrow_move_assignable_v<bitcask::db>,
              "db moves never throw");
static_assert(std::is_nothrow_destructible_v<bitcask::db> &&
                  std::is_nothrow_destructible_v<bitcask::options> &&
                  std::is_nothrow_destructible_v<bitcask::batch> &&
                  std::is_nothrow_destructible_v<bitcask::entry_range>,
              "no destructor throws");
static_assert(!std::is_copy_constructible_v<bitcask::options> &&
                  std::is_nothrow_move_constructible_v<bitcask::options>,
              "options is move-only");
static_assert(!std::is_copy_constructible_v<bitcask::batch> &&
                  std::is_nothrow_move_constructible_v<bitcask::batch>,
              "batch is move-only");
static_assert(!std::is_copy_constructible_v<bitcask::entry_range> &&
                  std::is_nothrow_move_constructible_v<bitcask::entry_range>,
              "entry_range is move-only");
static_assert(std::is_base_of_v<std::runtime_error, bitcask::error>, "error is a runtime_error");
static_assert(std::is_same_v<std::iterator_traits<bitcask::entry_range::iterator>::iterator_category,
                             std::input_iterator_tag>,
              "entries() yields input iterators");
static_assert(std::is_same_v<decltype(std::declval<const bitcask::db &>().get("k")),
                             std::optional<std::string>>,
              "get returns optional<string> and works on a const db");
static_assert(std::is_same_v<decltype(std::declval<bitcask::db &>().erase("k")), bool> &&
                  std::is_same_v<decltype(std::declval<bitcask::db &>().remove("k")), bool> &&
                  std::is_same_v<decltype(std::declval<const bitcask::db &>().contains("k")), bool>,
              "erase/remove/contains return bool");
static_assert(std::is_same_v<decltype(std::declval<const bitcask::db &>().stats()), bc_stats>,
              "stats returns bc_stats");

// ---- mini test framework -----------------------------------------------------------------------

struct check_failed {
    std::string text;
};

#define CHECK(cond, msg)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::ostringstream check_out_;                                                         \
            check_out_ << __FILE__ << ":" << __LINE__ << ": CHECK(" #cond ") failed: " << msg;     \
            throw check_failed{check_out_.str()};                                                  \
        }                                                                                          \
    } while (0)

// Runs `expr`, which must throw bitcask::error with `code` and a what() containing `needle`.
#define CHECK_ERROR(expr, want, needle)                                                            \
    do {                                                                                           \
        bool threw_ = false;                                                                       \
        try {                                                                                      \
            (void)(expr);                                                                          \
        } catch (const bitcask::error &e_) {                                                       \
            threw_ = true;                                                                         \
            CHECK(e_.code() == (want), #expr " threw code " << e_.code() << " (" << e_.what()     \
                                                            << "), expected " #want);              \
            CHECK(std::string_view(e_.what()).find(needle) != std::string_view::npos,             \
                  #expr " threw \"" << e_.what() << "\", expected it to contain \"" << (needle)  \
                                    << "\"");                                                      \
        }                                                                                          \
        CHECK(threw_, #expr " did not throw (expected " #want ")");                               \
    } while (0)

static fs::path g_root; // per-run temporary directory

static std::string store_path(const char *name) { return (g_root / name).string(); }

// ---- tests -------------------------------------------------------------------------------------

static void test_version_and_status()
{
    CHECK(bitcask::version() == BC_VERSION_STRING,
          "library " << bitcask::version() << " vs header " << BC_VERSION_STRING);
    CHECK(!bitcask::status_str(BC_E_LOCKED).empty(), "status text for BC_E_LOCKED");
    CHECK(bitcask::status_str(12345) == bc_status_str(12345), "unknown codes have text too");
    bitcask::error e(BC_E_IO, "custom");
    CHECK(e.code() == BC_E_IO && std::string(e.what()) == "custom", "error keeps code and text");
    CHECK(std::string(e.status_text()) == bc_status_str(BC_E_IO), "status_text = bc_status_str");
    CHECK(static_cast<int>(bitcask::sync_mode::always) == BC_SYNC_ALWAYS &&
              static_cast<int>(bitcask::sync_mode::interval) == BC_SYNC_INTERVAL &&
              static_cast<int>(bitcask::sync_mode::none) == BC_SYNC_NONE,
          "sync_mode values");
}

static void test_options()
{
    // Fluent on a temporary (&& overloads) and on an lvalue (& overloads).
    bitcask::options built = bitcask::options()
                                 .max_file_size(4096)
                                 .sync(bitcask::sync_mode::interval, 50)
                                 .create_if_missing(true)
                                 .max_key_size(128)
                                 .max_value_size(1 << 20)
                                 .max_open_files(8)
                                 .merge_trigger(50, 1 << 20)
                                 .auto_merge(false)
                                 .expiry_secs(0)
                                 .read_only(false);
    CHECK(built.native_handle() != nullptr, "built options own a bc_options");
    bitcask::options o;
    bitcask::options &same = o.sync(bitcask::sync_mode::always).max_key_size(16);
    CHECK(&same == &o, "setters on an lvalue return *this");

    // Each setter checks its value immediately; message from bc_last_error names the call.
    CHECK_ERROR(o.max_file_size(1), BC_E_INVALID, "bc_options_set_max_file_size");
    CHECK_ERROR(o.sync(bitcask::sync_mode::interval, 0), BC_E_INVALID, "bc_options_set_sync");
    CHECK_ERROR(o.sync(static_cast<bitcask::sync_mode>(7)), BC_E_INVALID, "bc_options_set_sync");
    CHECK_ERROR(o.max_key_size(0), BC_E_INVALID, "bc_options_set_max_key_size");
    CHECK_ERROR(o.max_value_size(uint64_t(4) << 30), BC_E_INVALID,
                "bc_options_set_max_value_size");
    CHECK_ERROR(o.max_open_files(0), BC_E_INVALID, "bc_options_set_max_open_files");
    CHECK_ERROR(o.merge_trigger(101, 0), BC_E_INVALID, "bc_options_set_merge_trigger");

    // The options apply: max_key_size(16) from above, on a real store.
    bitcask::db store(store_path("opts"), o);
    store.put(std::string(16, 'k'), "fits");
    CHECK_ERROR(store.put(std::string(17, 'k'), "v"), BC_E_TOO_LARGE, "bc_put");

    // A moved-from options object passes NULL (= defaults) and setters on it fail cleanly.
    bitcask::options moved = std::move(o);
    CHECK(moved.native_handle() != nullptr, "moved-to options own the object");
    CHECK(o.native_handle() == nullptr, "moved-from options are empty"); // NOLINT(bugprone-use-after-move)
    CHECK_ERROR(o.max_key_size(10), BC_E_INVALID, "bc_options_set_max_key_size");
}

static void test_open_close_and_errors()
{
    const std::string path = store_path("open");
    {
        bitcask::db a = bitcask::db::open(path);
        CHECK(a.is_open() && static_cast<bool>(a) && a.native_handle() != nullptr, "open");
        a.put("k", "v");
        // One read-write handle per store: the second open fails with BC_E_LOCKED.
        CHECK_ERROR(bitcask::db::open(path), BC_E_LOCKED, "bc_open");
        // A read-only handle needs no lock and refuses writes.
        bitcask::db ro(path, bitcask::options().read_only());
        CHECK(ro.get("k") == "v"s, "read-only handle sees the data");
        CHECK_ERROR(ro.put("x", "y"), BC_E_READ_ONLY, "bc_put");
        CHECK_ERROR(ro.erase("k"), BC_E_READ_ONLY, "bc_delete");
        CHECK_ERROR(ro.merge(), BC_E_READ_ONLY, "bc_merge");
        ro.sync(); // a no-op on a read-only handle
        ro.close();
        a.close();
        CHECK(!a.is_open() && !a && a.native_handle() == nullptr, "closed");
        a.close(); // closing again is a no-op

        // Every call on a closed db throws BC_E_INVALID instead of touching a freed handle.
        CHECK_ERROR(a.put("k", "v"), BC_E_INVALID, "closed");
        CHECK_ERROR(a.put_ttl("k", "v", 5), BC_E_INVALID, "closed");
        CHECK_ERROR(a.get("k"), BC_E_INVALID, "closed");
        std::string buf;
        CHECK_ERROR(a.get("k", buf), BC_E_INVALID, "closed");
        CHECK_ERROR(a.get_into("k", nullptr, 0), BC_E_INVALID, "closed");
        CHECK_ERROR(a.contains("k"), BC_E_INVALID, "closed");
        CHECK_ERROR(a.erase("k"), BC_E_INVALID, "closed");
        CHECK_ERROR(a.remove("k"), BC_E_INVALID, "closed");
        CHECK_ERROR(a.merge(), BC_E_INVALID, "closed");
        CHECK_ERROR(a.sync(), BC_E_INVALID, "closed");
        CHECK_ERROR(a.stats(), BC_E_INVALID, "closed");
        CHECK_ERROR(a.entries(), BC_E_INVALID, "closed");
        CHECK_ERROR(a.write(bitcask::batch()), BC_E_INVALID, "closed");
        CHECK_ERROR(a.scan(std::nullopt, std::nullopt), BC_E_INVALID, "closed");
        CHECK_ERROR(a.scan_prefix("p"), BC_E_INVALID, "closed");
        CHECK_ERROR(a.fold([](std::string_view, std::string_view) {}), BC_E_INVALID, "closed");
        CHECK_ERROR(a.fold_keys([](std::string_view) {}), BC_E_INVALID, "closed");
    }
    // The lock was released by close(): open again, with the constructor this time.
    bitcask::db b(path);
    CHECK(b.get("k") == "v"s, "data survives close/reopen");

    // Open errors, each with its code and the library's message.
    CHECK_ERROR(bitcask::db(store_path("missing"), bitcask::options().create_if_missing(false)),
                BC_E_IO, "bc_open");
    {
        std::ofstream(store_path("a-file")) << "not a directory";
    }
    CHECK_ERROR(bitcask::db(store_path("a-file")), BC_E_INVALID, "bc_open");
    CHECK_ERROR(bitcask::db(""), BC_E_INVALID, "bc_open");
    CHECK_ERROR(bitcask::db("bad\0path"s), BC_E_INVALID, "NUL");

    // A default-constructed db is closed.
    bitcask::db none;
    CHECK(!none.is_open(), "default db is closed");
    none.close();
    CHECK_ERROR(none.get("k"), BC_E_INVALID, "closed");

    // Errors are catchable as std::exception / std::runtime_error.
    try {
        none.put("k", "v");
        CHECK(false, "put on a closed db did not throw");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()).find("bitcask::db::put") != std::string::npos, e.what());
    }
}

static void test_raii_and_moves()
{
    const std::string p1 = store_path("raii1"), p2 = store_path("raii2");
    {
        bitcask::db scoped(p1);
        scoped.put("a", "1");
    } // destructor closes: the lock is free again
    {
        bitcask::db again(p1);
        CHECK(again.get("a") == "1"s, "destructor closed (and synced) the store");
    }

    bitcask::db a(p1);
    bitcask::db b(std::move(a)); // move construction transfers the handle
    CHECK(!a.is_open(), "moved-from db is closed"); // NOLINT(bugprone-use-after-move)
    CHECK(b.is_open() && b.get("a") == "1"s, "moved-to db works");
    CHECK_ERROR(a.get("a"), BC_E_INVALID, "closed");

    bitcask::db c(p2);
    c.put("c", "3");
    c = std::move(b); // closes c's store (p2), takes p1
    CHECK(c.get("a") == "1"s && !c.contains("c"), "move assignment took the other handle");
    {
        bitcask::db reopened(p2); // would be BC_E_LOCKED if the assignment had not closed it
        CHECK(reopened.get("c") == "3"s, "move assignment closed the old store");
    }
    bitcask::db &alias = c;
    c = std::move(alias); // self-move keeps the handle
    CHECK(c.is_open() && c.get("a") == "1"s, "self move-assignment is harmless");

    // Returning from a function (static open) and storing in containers.
    std::vector<bitcask::db> dbs;
    dbs.push_back(std::move(c));
    dbs.emplace_back(store_path("raii3"));
    dbs.emplace_back(); // closed
    dbs[1].put("x", "y");
    CHECK(dbs[0].get("a") == "1"s && dbs[1].get("x") == "y"s, "db in a vector");
    dbs.clear(); // closes both
    bitcask::db after(p1);
    CHECK(after.is_open(), "vector clear closed the stores");
}

static void test_put_get_erase_contains()
{
    bitcask::db store(store_path("kv"));
    store.put("alpha", "1");
    store.put("beta"sv, std::string("two"));
    const std::string bin_key("k\0ey"s), bin_val("v\0\xff\0"s);
    CHECK(bin_key.size() == 4 && bin_val.size() == 4, "binary literals");
    store.put(bin_key, bin_val);
    store.put("empty", ""); // an empty value is stored and returned as such
    store.put("empty-null", std::string_view()); // (NULL, 0) too

    const bitcask::db &ro = store; // reads work on a const db
    CHECK(ro.get("alpha") == "1"s, "get alpha");
    CHECK(ro.get("beta") == "two"s, "get beta");
    CHECK(ro.get(bin_key) == bin_val, "binary key and value round-trip");
    CHECK(ro.get("k") == std::nullopt, "a prefix of a binary key is another key");
    std::optional<std::string> empty = ro.get("empty");
    CHECK(empty.has_value() && empty->empty(), "empty value is present and empty");
    CHECK(ro.get("empty-null") == ""s, "empty value from a null view");
    CHECK(!ro.get("missing").has_value(), "missing key is nullopt");
    CHECK(ro.contains("alpha") && ro.contains(bin_key) && ro.contains("empty"), "contains");
    CHECK(!ro.contains("missing"), "contains missing");

    store.put("alpha", "one"); // overwrite
    CHECK(ro.get("alpha") == "one"s, "overwrite");

    CHECK(store.erase("alpha") == true, "erase existing -> true");
    CHECK(store.erase("alpha") == false, "erase again -> false");
    CHECK(store.remove("beta") == true && store.remove("beta") == false, "remove alias");
    CHECK(!ro.contains("alpha") && !ro.get("beta"), "erased keys are gone");

    // Bad keys: the library's codes and messages come through.
    CHECK_ERROR(store.put("", "v"), BC_E_INVALID, "bc_put");
    CHECK_ERROR(store.put(std::string_view(), "v"), BC_E_INVALID, "bc_put");
    CHECK_ERROR(store.get(""), BC_E_INVALID, "bc_get");
    CHECK_ERROR(store.contains(""), BC_E_INVALID, "bc_contains");
    CHECK_ERROR(store.erase(""), BC_E_INVALID, "bc_delete");
    CHECK_ERROR(store.put(std::string(64 * 1024 + 1, 'k'), "v"), BC_E_TOO_LARGE, "bc_put");
    CHECK_ERROR(store.get(std::string(64 * 1024 + 1, 'k')), BC_E_TOO_LARGE, "bc_get");

    // Larger values than any small-string buffer.
    const std::string big(1 << 20, 'x');
    store.put("big", big);
    CHECK(store.get("big") == big, "1 MiB value");
}

static void test_get_into()
{
    bitcask::db store(store_path("into"));
    store.put("k", "hello");
    store.put("empty", "");

    char buf[16];
    std::memset(buf, '#', sizeof buf);
    std::optional<std::size_t> n = store.get_into("k", buf, sizeof buf);
    CHECK(n == 5u && std::string(buf, 5) == "hello", "fits");
    CHECK(buf[5] == '#', "nothing written past the value");

    std::memset(buf, '#', sizeof buf);
    n = store.get_into("k", buf, 3); // too small: size returned, nothing copied
    CHECK(n == 5u, "too small returns the needed size, got " << (n ? *n : 0));
    CHECK(buf[0] == '#' && buf[2] == '#', "too small copies nothing");

    n = store.get_into("k", nullptr, 0); // size query
    CHECK(n == 5u, "size query");
    n = store.get_into("k", buf, 5); // exactly enough
    CHECK(n == 5u && std::string(buf, 5) == "hello", "exact fit");
    CHECK(!store.get_into("missing", buf, sizeof buf).has_value(), "missing -> nullopt");
    CHECK(store.get_into("empty", nullptr, 0) == 0u, "empty value -> 0");
    unsigned char ubuf[8];
    CHECK(store.get_into("k", ubuf, sizeof ubuf) == 5u && ubuf[0] == 'h', "unsigned buffer");
    CHECK_ERROR(store.get_into("k", nullptr, 4), BC_E_INVALID, "bc_get_into");
    CHECK_ERROR(store.get_into("", buf, sizeof buf), BC_E_INVALID, "bc_get_into");

    // get(key, string&): reuses the string, grows it as needed, empties it when missing.
    std::string out;
    CHECK(store.get("k", out) && out == "hello", "get into string");
    const std::string big(5000, 'b');
    store.put("big", big);
    CHECK(store.get("big", out) && out == big, "get into string grows past capacity");
    const auto *data_before = out.data();
    CHECK(store.get("k", out) && out == "hello", "shrinks to a smaller value");
    CHECK(out.data() == data_before, "the buffer is reused");
    CHECK(!store.get("missing", out) && out.empty(), "missing -> false and empty");
    CHECK(store.get("empty", out) && out.empty(), "empty value -> true and empty");
    out = "keep?";
    CHECK_ERROR(store.get("", out), BC_E_INVALID, "bc_get_into");
    CHECK(out.empty(), "an error leaves the string empty");
}

static void test_ttl()
{
    bitcask::db store(store_path("ttl"));
    store.put_ttl("short", "v", 1);
    store.put_ttl("long", "v", std::chrono::hours(1));
    store.put_ttl("made-permanent", "v", 1);
    store.put("made-permanent", "w"); // a later put makes it permanent
    CHECK(store.contains("short") && store.contains("long"), "fresh TTL keys are present");
    CHECK_ERROR(store.put_ttl("k", "v", 0), BC_E_INVALID, "bc_put_ttl");
    CHECK_ERROR(store.put_ttl("k", "v", std::chrono::seconds(-1)), BC_E_INVALID, "ttl");
    CHECK_ERROR(store.put_ttl("k", "v", std::chrono::seconds(1LL << 40)), BC_E_INVALID, "ttl");
    CHECK_ERROR(store.put_ttl("", "v", 5), BC_E_INVALID, "bc_put_ttl");

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (store.contains("short") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(!store.contains("short") && !store.get("short"), "a 1 s TTL expired");
    CHECK(store.get("long") == "v"s, "a 1 h TTL did not");
    CHECK(store.get("made-permanent") == "w"s, "put after put_ttl is permanent");
}

static void test_batch()
{
    bitcask::db store(store_path("batch"));
    store.put("old", "x");

    bitcask::batch b;
    CHECK(b.empty() && b.size() == 0, "new batch is empty");
    b.put("a", "1").put("b", "2").erase("old").put("c", "3").remove("c");
    CHECK(b.size() == 5 && !b.empty(), "five operations, got " << b.size());
    CHECK(!store.contains("a"), "nothing applied before write");
    store.write(b);
    CHECK(store.get("a") == "1"s && store.get("b") == "2"s, "puts applied");
    CHECK(!store.contains("old") && !store.contains("c"), "deletes applied, in order");

    // The batch is unchanged by write and can be written again.
    store.put("a", "changed");
    store.write(b);
    CHECK(store.get("a") == "1"s, "written again");

    b.clear();
    CHECK(b.empty(), "clear empties the batch");
    store.write(b); // an empty batch is a no-op
    CHECK(store.get("a") == "1"s, "empty batch wrote nothing");

    CHECK_ERROR(b.put("", "v"), BC_E_INVALID, "bc_batch_put");
    CHECK_ERROR(b.erase(""), BC_E_INVALID, "bc_batch_delete");
    CHECK(b.empty(), "failed operations are not counted");

    // All or nothing: a value over the store's limit fails the whole batch.
    bitcask::db small(store_path("batch-small"), bitcask::options().max_value_size(8));
    bitcask::batch big;
    big.put("ok", "fits").put("too-big", std::string(9, 'v'));
    CHECK_ERROR(small.write(big), BC_E_TOO_LARGE, "bc_write");
    CHECK(!small.contains("ok"), "nothing of a failed batch was applied");

    // Moves: the moved-from batch is empty and writing it is an error, not a crash.
    bitcask::batch moved(std::move(big));
    CHECK(moved.size() == 2 && big.empty(), "move transfers the operations"); // NOLINT
    CHECK(big.native_handle() == nullptr, "moved-from batch has no handle");
    CHECK_ERROR(store.write(big), BC_E_INVALID, "bc_write");
    CHECK_ERROR(big.put("k", "v"), BC_E_INVALID, "bc_batch_put");
    big.clear(); // harmless
    bitcask::batch assigned;
    assigned = std::move(moved);
    CHECK(assigned.size() == 2, "move assignment");
    store.write(assigned);
    CHECK(store.get("too-big") == std::string(9, 'v'), "the default limits accept it");

    // Read-only handles refuse batches.
    bitcask::db ro(store_path("batch"), bitcask::options().read_only());
    CHECK_ERROR(ro.write(assigned), BC_E_READ_ONLY, "bc_write");
}

static void test_iteration()
{
    bitcask::db store(store_path("iter"));
    {
        int n = 0;
        for (auto [k, v] : store.entries()) { // empty store
            (void)k;
            (void)v;
            ++n;
        }
        CHECK(n == 0, "empty store yields nothing");
    }
    std::map<std::string, std::string> expected; // std::map orders like the library (bytes)
    for (int i = 0; i < 50; ++i) {
        std::string k = "key" + std::to_string(i * 7 % 50);
        std::string v = "value" + std::to_string(i);
        store.put(k, v);
        expected[k] = v;
    }
    const std::string bin_key("\x00\xff"s), hi_key("\xff"s);
    store.put(bin_key, "binary");
    store.put(hi_key, ""); // 0xff sorts after ASCII (unsigned order)
    expected[bin_key] = "binary";
    expected[hi_key] = "";

    using owned_entries = std::vector<bitcask::entry>;
    owned_entries seen;
    for (auto [k, v] : store.entries()) // structured bindings to two string_views
        seen.emplace_back(std::string(k), std::string(v));
    CHECK(seen == owned_entries(expected.begin(), expected.end()),
          "range-for yields every entry in ascending unsigned byte order (" << seen.size()
                                                                            << " entries)");

    // Explicit iterator use: ++it, it++, ->, *, ==/!=, std algorithms.
    {
        bitcask::entry_range r = store.entries();
        auto it = r.begin();
        CHECK(it != r.end() && it->first == bin_key && (*it).second == "binary", "first entry");
        ++it;
        CHECK(it->first == "key0", "second entry " << std::string(it->first));
        it++;
        CHECK(it->first == "key1", "third entry");
        CHECK(r.begin() == it, "begin() again is the current position");
        const auto rest = std::count_if(it, r.end(), [](const auto &e) { return !e.first.empty(); });
        CHECK(rest == 50, "std::count_if over the remaining entries: " << rest);
        CHECK(it == r.end() && r.begin() == r.end(), "exhausted");
        CHECK(!r.next(), "next() after the end");
    }

    // Pull style.
    {
        bitcask::entry_range r = store.entries();
        std::size_t n = 0;
        std::string last;
        while (std::optional<bitcask::entry_range::value_type> e = r.next()) {
            CHECK(n == 0 || std::string(e->first) > last, "ascending");
            last = std::string(e->first);
            ++n;
        }
        CHECK(n == expected.size(), "next() yields every entry");
        CHECK(!r.next(), "stays at the end");
    }

    // A snapshot: writes during iteration do not change what it yields.
    {
        std::size_t n = 0;
        for (auto [k, v] : store.entries()) {
            (void)v;
            if (n == 0) {
                store.put("zzz-new", "x");        // not in the snapshot
                store.erase("key49");             // in the snapshot: still yielded
                store.put(std::string(k), "new"); // overwrite the current key
            }
            ++n;
        }
        CHECK(n == expected.size(),
              "writes and deletes during iteration do not change what it yields: got " << n
                                                                                         << " entries");
        CHECK(store.get("zzz-new") == "x"s, "writes during iteration landed");
    }

    // close() refuses while a range is alive, and the db stays usable; afterwards it closes.
    {
        bitcask::entry_range r = store.entries();
        CHECK_ERROR(store.close(), BC_E_INVALID, "still alive");
        CHECK(store.is_open() && store.contains("key1"), "db still open after refused close");
        bitcask::entry_range moved = std::move(r); // the count follows the range
        CHECK_ERROR(store.close(), BC_E_INVALID, "still alive");
        CHECK_ERROR(r.next(), BC_E_INVALID, "bc_iter_next"); // NOLINT: moved-from, no crash
    }
    // Abandoning a range midway frees its iterator (valgrind/ASan would flag a leak).
    {
        bitcask::entry_range r = store.entries();
        CHECK(r.next().has_value(), "one entry");
    }
    store.close();
    CHECK(!store.is_open(), "closed after the ranges were destroyed");
}

static void test_scan_and_fold()
{
    bitcask::db store(store_path("scan"));
    for (const char *k : {"apple", "apricot", "banana", "blueberry", "cherry", "date"})
        store.put(k, std::string(k) + "!");
    store.put("ap\0x"s, "nul");

    using entries = std::vector<bitcask::entry>;
    entries r = store.scan("b", "c"); // [b, c)
    CHECK(r == (entries{{"banana", "banana!"}, {"blueberry", "blueberry!"}}), "scan [b, c)");
    r = store.scan("banana", "cherry");
    CHECK(r.size() == 2 && r[0].first == "banana" && r[1].first == "blueberry",
          "start inclusive, end exclusive");
    r = store.scan(std::nullopt, "apricot");
    CHECK(r.size() == 2 && r[0].first == "ap\0x"s && r[1].first == "apple", "open start");
    r = store.scan("cherry", std::nullopt);
    CHECK(r.size() == 2 && r[1].first == "date", "open end");
    CHECK(store.scan(std::nullopt, std::nullopt).size() == 7, "both open: everything");
    CHECK(store.scan("a", ""s).empty(), "an empty end key is the smallest: nothing");
    CHECK(store.scan(""s, std::nullopt).size() == 7, "an empty start key: everything");
    CHECK(store.scan("d", "a").empty(), "inverted bounds: nothing");

    r = store.scan_prefix("ap");
    CHECK(r == (entries{{"ap\0x"s, "nul"}, {"apple", "apple!"}, {"apricot", "apricot!"}}),
          "scan_prefix ap, with a NUL inside a key");
    CHECK(store.scan_prefix("").size() == 7, "empty prefix matches all");
    CHECK(store.scan_prefix("zzz").empty(), "no match");

    // Callback versions: streaming, stop early (returns false), exceptions carried over C.
    std::vector<std::string> keys;
    bool done = store.scan("a", "z", [&](std::string_view k, std::string_view v) {
        CHECK(v == std::string(k) + "!" || v == "nul", "value matches key");
        keys.emplace_back(k);
        return keys.size() < 3; // stop after 3
    });
    CHECK(!done && keys.size() == 3, "scan stopped by the callback: " << keys.size());
    done = store.scan_prefix("b", [&](std::string_view, std::string_view) {});
    CHECK(done, "void callback: runs to the end -> true");

    struct boom {};
    bool caught = false;
    try {
        store.scan_prefix("", [](std::string_view, std::string_view) -> bool { throw boom{}; });
    } catch (const boom &) {
        caught = true;
    }
    CHECK(caught, "an exception in the callback reaches the caller as itself");
    CHECK(store.get("apple") == "apple!"s, "db usable after a callback threw");

    // The callback may call back into the db (the C API allows it).
    store.scan_prefix("apple", [&](std::string_view k, std::string_view) {
        store.put(std::string(k) + "-copy", "c");
    });
    CHECK(store.get("apple-copy") == "c"s, "write from inside a scan callback");

    // fold: every live key with its value, in log order; fold_keys: every key.
    std::map<std::string, std::string> folded;
    CHECK(store.fold([&](std::string_view k, std::string_view v) {
        folded.emplace(std::string(k), std::string(v));
    }),
          "fold completes");
    CHECK(folded.size() == 8 && folded.at("cherry") == "cherry!", "fold saw all 8 keys");
    std::size_t nkeys = 0;
    CHECK(store.fold_keys([&](std::string_view k) { nkeys += !k.empty(); }), "fold_keys");
    CHECK(nkeys == 8, "fold_keys saw all 8 keys");
    nkeys = 0;
    CHECK(!store.fold_keys([&](std::string_view) { return ++nkeys < 2; }) && nkeys == 2,
          "fold_keys stopped");
    CHECK(!store.fold([](std::string_view, std::string_view) { return false; }), "fold stopped");
    caught = false;
    try {
        store.fold([](std::string_view, std::string_view) { throw std::runtime_error("x"); });
    } catch (const std::runtime_error &e) {
        caught = std::string(e.what()) == "x";
    }
    CHECK(caught, "fold rethrows the callback's exception");
    // An lvalue callable and a mutable one.
    int calls = 0;
    auto counter = [&calls](std::string_view) mutable { ++calls; };
    store.fold_keys(counter);
    const auto const_counter = [&calls](std::string_view) { ++calls; };
    store.fold_keys(const_counter);
    CHECK(calls == 16, "lvalue callables: " << calls);
}

static void test_stats_merge_sync()
{
    bitcask::db store(store_path("merge"),
                      bitcask::options().max_file_size(4096).sync(bitcask::sync_mode::always));
    for (int round = 0; round < 5; ++round)
        for (int i = 0; i < 40; ++i)
            store.put("key" + std::to_string(i), std::string(100, static_cast<char>('a' + round)));
    store.erase("key0");
    bc_stats before = store.stats();
    CHECK(before.keys == 39, "39 live keys, got " << before.keys);
    CHECK(before.data_files > 1, "small files: several data files, got " << before.data_files);
    CHECK(before.dead_bytes > 0, "overwrites left dead bytes");
    CHECK(before.syncs > 0, "sync_mode::always fsyncs");
    store.sync();
    store.merge();
    bc_stats after = store.stats();
    CHECK(after.merges == before.merges + 1, "one merge counted");
    CHECK(after.total_bytes < before.total_bytes, "merge reclaimed space: "
                                                      << before.total_bytes << " -> "
                                                      << after.total_bytes);
    CHECK(after.keys == 39 && store.get("key7") == std::string(100, 'e') && !store.get("key0"),
          "data intact after merge");
    store.close();
    bitcask::db reopened(store_path("merge"));
    CHECK(reopened.stats().hint_files_loaded > 0, "merged files come with hint files");
    CHECK(reopened.get("key39") == std::string(100, 'e'), "data intact after reopen");
}

static void test_threads()
{
    bitcask::db store(store_path("threads"));
    for (int i = 0; i < 100; ++i)
        store.put("k" + std::to_string(i), std::to_string(i));
    const bitcask::db &shared = store;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&shared, &bad, t] {
            for (int i = 0; i < 100; ++i)
                if (shared.get("k" + std::to_string(i)) != std::to_string(i))
                    ++bad;
            // Each thread's error carries its own bc_last_error() text.
            try {
                shared.get(std::string(70000 + t, 'x'));
                ++bad;
            } catch (const bitcask::error &e) {
                if (e.code() != BC_E_TOO_LARGE || std::string(e.what()).find("bc_get") != 0)
                    ++bad;
            }
            for (auto [k, v] : shared.entries())
                if (k.empty() || v.empty())
                    ++bad;
        });
    for (auto &th : threads)
        th.join();
    CHECK(bad == 0, bad << " wrong results from concurrent readers");
}

// ---- driver ------------------------------------------------------------------------------------

int main()
{
    const char *tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                       "/bitcask-cpp-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        std::perror("mkdtemp");
        return 2;
    }
    const fs::path base(buf.data());

    const std::pair<const char *, void (*)()> tests[] = {
        {"version_and_status", test_version_and_status},
        {"options", test_options},
        {"open_close_and_errors", test_open_close_and_errors},
        {"raii_and_moves", test_raii_and_moves},
        {"put_get_erase_contains", test_put_get_erase_contains},
        {"get_into", test_get_into},
        {"ttl", test_ttl},
        {"batch", test_batch},
        {"iteration", test_iteration},
        {"scan_and_fold", test_scan_and_fold},
        {"stats_merge_sync", test_stats_merge_sync},
        {"threads", test_threads},
    };
    int failed = 0;
    for (const auto &[name, fn] : tests) {
        g_root = base / name;
        fs::create_directories(g_root);
        const auto start = std::chrono::steady_clock::now();
        std::string problem;
        try {
            fn();
        } catch (const check_failed &f) {
            problem = f.text;
        } catch (const std::exception &e) {
            problem = "unexpected exception: "s + e.what();
        } catch (...) {
            problem = "unexpected non-standard exception";
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        if (problem.empty()) {
            std::printf("ok   %-24s %5lld ms\n", name, static_cast<long long>(ms));
        } else {
            ++failed;
            std::printf("FAIL %-24s %s\n", name, problem.c_str());
        }
    }
    std::error_code ec;
    if (failed == 0)
        fs::remove_all(base, ec);
    else
        std::printf("stores kept in %s\n", base.c_str());
    std::printf("%d of %zu tests failed\n", failed, std::size(tests));
    return failed == 0 ? 0 : 1;
}
