// bitcask.hpp - header-only C++17 wrapper over the C API in bitcask.h.
//
// Link against the library as for C (-lbitcask, pkg-config bitcask, or the CMake target
// bitcask::bitcask); this header adds no symbols of its own.
//
//   #include <bitcask.hpp>
//
//   bitcask::db store = bitcask::db::open("/tmp/store",
//                                         bitcask::options().sync(bitcask::sync_mode::always));
//   store.put("hello", "world");
//   if (std::optional<std::string> v = store.get("hello")) std::cout << *v << '\n';
//   for (auto [key, value] : store.entries()) std::cout << key << " = " << value << '\n';
//   store.close(); // or let the destructor close it (which cannot report an error)
//
// ERRORS
//   Every failure (a negative status from the library) throws bitcask::error, a
//   std::runtime_error whose code() is the BC_E_* status and whose what() is the text of
//   bc_last_error(), read right after the failing call on the same thread. Non-errors are values:
//   a missing key is an empty std::optional or `false`, a callback that stops a scan makes it
//   return `false`. Using a closed (or moved-from) db throws bitcask::error with BC_E_INVALID;
//   nothing in this header dereferences a closed handle. Allocation failures throw
//   std::bad_alloc. No destructor throws.
//
// OWNERSHIP
//   db, options, batch and entry_range own their C object (move-only, freed in the destructor).
//   Values the library allocates are released with bc_free (never free/delete).
//
// LIFETIMES
//   - The string_views produced by an entry_range are valid until its next increment (copy what
//     you keep). The views given to callbacks are valid during the call only.
//   - Destroy every entry_range before closing its db: db::close() refuses (throws BC_E_INVALID,
//     leaving the db open) while one is alive. The destructor and move-assignment of db close
//     regardless (the ranges must then only be destroyed).
//
// THREADS
//   As for the C API: one db may be used from many threads at once, but close(), move-assignment
//   and destruction must not race with any other call on it. options, batch and entry_range
//   belong to one thread at a time.
#ifndef BITCASK_HPP
#define BITCASK_HPP

#if !defined(_MSVC_LANG) && __cplusplus < 201703L
#error "bitcask.hpp needs C++17 or later (use bitcask.h from older C++)"
#endif

#include "bitcask.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bitcask {

// ---- errors -------------------------------------------------------------------------------------

/// A failed call: code() is the library's negative status (BC_E_*), what() its detailed message.
class error : public std::runtime_error {
public:
    error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}

    /// The status the library returned: BC_E_INVALID, BC_E_IO, BC_E_LOCKED, ...
    int code() const noexcept { return code_; }

    /// Static text for code(), e.g. "invalid argument".
    const char *status_text() const noexcept { return bc_status_str(code_); }

private:
    int code_;
};

/// The library's version at run time, e.g. "0.1.0".
inline std::string_view version() noexcept { return bc_version(); }

/// Static English text for any status code.
inline std::string_view status_str(int status) noexcept { return bc_status_str(status); }

/// When writes reach stable storage; see bc_options_set_sync.
enum class sync_mode : int {
    none = BC_SYNC_NONE,
    always = BC_SYNC_ALWAYS,
    interval = BC_SYNC_INTERVAL,
};

/// The store's counters; see bc_stats in bitcask.h.
using stats_t = bc_stats;

/// An owned key and value, as returned by the collecting scans.
using entry = std::pair<std::string, std::string>;

namespace detail {

/// Throws the error for `status`, with this thread's bc_last_error(). Call it right after the
/// failing library call, before any other library call on this thread.
[[noreturn]] inline void throw_status(int status)
{
    const char *msg = bc_last_error();
    throw error(status, (msg != nullptr && *msg != '\0') ? std::string(msg)
                                                         : std::string(bc_status_str(status)));
}

/// Passes non-negative statuses through; throws for errors.
inline int check(int status)
{
    if (status < 0)
        throw_status(status);
    return status;
}

[[noreturn]] inline void throw_closed(const char *what)
{
    throw error(BC_E_INVALID, std::string(what) + ": the db is closed");
}

/// Non-NULL pointer for any view, so that an empty view means the empty byte string.
inline const std::uint8_t *bytes(std::string_view s) noexcept
{
    return reinterpret_cast<const std::uint8_t *>(s.data() != nullptr ? s.data() : "");
}

inline std::string_view view(const std::uint8_t *p, std::size_t n) noexcept
{
    return n == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(p), n);
}

struct free_deleter {
    void operator()(std::uint8_t *p) const noexcept { bc_free(p); }
};
struct options_deleter {
    void operator()(bc_options *p) const noexcept { bc_options_free(p); }
};
struct batch_deleter {
    void operator()(bc_batch *p) const noexcept { bc_batch_free(p); }
};
struct iter_deleter {
    void operator()(bc_iter *p) const noexcept { bc_iter_free(p); }
};

/// Counts the live entry_ranges of one db, so that close() can refuse to pull the store from
/// under them. Move-only; a moved-from token counts nothing.
class iter_token {
public:
    iter_token() noexcept = default;
    explicit iter_token(std::shared_ptr<std::atomic<long>> count) noexcept
        : count_(std::move(count))
    {
        if (count_)
            ++*count_;
    }
    iter_token(iter_token &&o) noexcept : count_(std::move(o.count_)) {}
    iter_token &operator=(iter_token &&o) noexcept
    {
        if (this != &o) {
            release();
            count_ = std::move(o.count_);
        }
        return *this;
    }
    iter_token(const iter_token &) = delete;
    iter_token &operator=(const iter_token &) = delete;
    ~iter_token() { release(); }

private:
    void release() noexcept
    {
        if (count_) {
            --*count_;
            count_.reset();
        }
    }
    std::shared_ptr<std::atomic<long>> count_;
};

/// Calls f(args...) and maps its result to "go on": void means true, anything else converts
/// to bool (true = continue, false = stop).
template <class F, class... Args> bool invoke_continue(F &f, Args... args)
{
    using result = std::invoke_result_t<F &, Args...>;
    if constexpr (std::is_void_v<result>) {
        f(args...);
        return true;
    } else {
        return static_cast<bool>(f(args...));
    }
}

/// Context of a C callback: the C++ callable and the first exception it threw, which is
/// carried over the C frames (never unwound through them) and rethrown afterwards.
template <class F> struct callback_ctx {
    F *fn;
    std::exception_ptr failure;
};

template <class F>
int kv_trampoline(void *ctx, const std::uint8_t *k, std::size_t kl, const std::uint8_t *v,
                  std::size_t vl) noexcept
{
    auto *c = static_cast<callback_ctx<F> *>(ctx);
    try {
        return invoke_continue(*c->fn, view(k, kl), view(v, vl)) ? 0 : 1;
    } catch (...) {
        c->failure = std::current_exception();
        return 1;
    }
}

template <class F>
int key_trampoline(void *ctx, const std::uint8_t *k, std::size_t kl) noexcept
{
    auto *c = static_cast<callback_ctx<F> *>(ctx);
    try {
        return invoke_continue(*c->fn, view(k, kl)) ? 0 : 1;
    } catch (...) {
        c->failure = std::current_exception();
        return 1;
    }
}

/// After a callback-driven call: rethrows the callback's exception, else throws for an error
/// status, else says whether the walk completed (false: the callback stopped it).
template <class F> bool finish_walk(int status, callback_ctx<F> &ctx)
{
    if (ctx.failure)
        std::rethrow_exception(ctx.failure);
    check(status);
    return status != BC_STOPPED;
}

} // namespace detail

// ---- options ------------------------------------------------------------------------------------

/// Settings for db::open, as a fluent builder over bc_options. Every setter checks its value at
/// once and throws bitcask::error (BC_E_INVALID) when it is out of range.
///
///   auto opts = bitcask::options().sync(bitcask::sync_mode::always).max_file_size(1 << 20);
class options {
public:
    /// The defaults of bc_options_new().
    options() : p_(bc_options_new())
    {
        if (!p_)
            throw std::bad_alloc();
    }

#define BITCASK_HPP_SETTER(name, params, call)                                                 \
    options &name params &                                                                       \
    {                                                                                            \
        detail::check(call);                                                                     \
        return *this;                                                                            \
    }                                                                                            \
    options &&name params &&                                                                     \
    {                                                                                            \
        detail::check(call);                                                                     \
        return std::move(*this);                                                                 \
    }

    /// Size at which the active data file is sealed (bc_options_set_max_file_size).
    BITCASK_HPP_SETTER(max_file_size, (std::uint64_t bytes),
                       bc_options_set_max_file_size(p_.get(), bytes))
    /// Sync mode; interval_ms is used by sync_mode::interval only (bc_options_set_sync).
    BITCASK_HPP_SETTER(sync, (sync_mode mode, std::uint32_t interval_ms = 0),
                       bc_options_set_sync(p_.get(), static_cast<int>(mode), interval_ms))
    /// Open without the write lock; every write then throws BC_E_READ_ONLY.
    BITCASK_HPP_SETTER(read_only, (bool on = true), bc_options_set_read_only(p_.get(), on ? 1 : 0))
    /// Create the store directory when missing (default on).
    BITCASK_HPP_SETTER(create_if_missing, (bool on = true),
                       bc_options_set_create_if_missing(p_.get(), on ? 1 : 0))
    /// Largest key accepted (bc_options_set_max_key_size).
    BITCASK_HPP_SETTER(max_key_size, (std::uint32_t bytes),
                       bc_options_set_max_key_size(p_.get(), bytes))
    /// Largest value accepted (bc_options_set_max_value_size).
    BITCASK_HPP_SETTER(max_value_size, (std::uint64_t bytes),
                       bc_options_set_max_value_size(p_.get(), bytes))
    /// Data files kept open for reading (bc_options_set_max_open_files).
    BITCASK_HPP_SETTER(max_open_files, (std::uint32_t files),
                       bc_options_set_max_open_files(p_.get(), files))
    /// When a background merge starts (bc_options_set_merge_trigger).
    BITCASK_HPP_SETTER(merge_trigger, (std::uint32_t fragmentation_percent, std::uint64_t dead_bytes),
                       bc_options_set_merge_trigger(p_.get(), fragmentation_percent, dead_bytes))
    /// Merge in a background thread when the trigger holds (bc_options_set_auto_merge).
    BITCASK_HPP_SETTER(auto_merge, (bool on = true), bc_options_set_auto_merge(p_.get(), on ? 1 : 0))
    /// Store-wide expiry in seconds, 0 = never (bc_options_set_expiry_secs).
    BITCASK_HPP_SETTER(expiry_secs, (std::uint32_t secs),
                       bc_options_set_expiry_secs(p_.get(), secs))

#undef BITCASK_HPP_SETTER

    /// The C object, for calls this wrapper does not cover. NULL after a move.
    const bc_options *native_handle() const noexcept { return p_.get(); }

private:
    std::unique_ptr<bc_options, detail::options_deleter> p_;
};

// ---- batch --------------------------------------------------------------------------------------

/// Puts and deletes that db::write applies all together or not at all. Copies every key and
/// value; unchanged by write, so it can be written again; clear() empties it for reuse.
class batch {
public:
    batch() : p_(bc_batch_new())
    {
        if (!p_)
            throw std::bad_alloc();
    }

    /// Adds "store value under key". Throws BC_E_INVALID (empty key, moved-from batch) or
    /// BC_E_TOO_LARGE.
    batch &put(std::string_view key, std::string_view value)
    {
        detail::check(bc_batch_put(p_.get(), detail::bytes(key), key.size(),
                                   detail::bytes(value), value.size()));
        ++ops_;
        return *this;
    }

    /// Adds "delete key" (a tombstone whether or not the key exists).
    batch &erase(std::string_view key)
    {
        detail::check(bc_batch_delete(p_.get(), detail::bytes(key), key.size()));
        ++ops_;
        return *this;
    }

    /// Same as erase().
    batch &remove(std::string_view key) { return erase(key); }

    /// Removes every operation, keeping the memory.
    void clear() noexcept
    {
        bc_batch_clear(p_.get());
        ops_ = 0;
    }

    /// Operations added since construction or the last clear().
    std::size_t size() const noexcept { return ops_; }
    bool empty() const noexcept { return ops_ == 0; }

    /// The C object. NULL after a move (db::write then throws BC_E_INVALID).
    const bc_batch *native_handle() const noexcept { return p_.get(); }

    batch(batch &&o) noexcept : p_(std::move(o.p_)), ops_(std::exchange(o.ops_, 0)) {}
    batch &operator=(batch &&o) noexcept
    {
        p_ = std::move(o.p_);
        ops_ = std::exchange(o.ops_, 0);
        return *this;
    }

private:
    std::unique_ptr<bc_batch, detail::batch_deleter> p_;
    std::size_t ops_ = 0;
};

// ---- iteration ----------------------------------------------------------------------------------

/// A snapshot of the live keys in ascending byte order, read one entry at a time (bc_iter_*).
/// An input range: iterate it once, e.g.
///
///   for (auto [key, value] : store.entries()) ...
///
/// Each entry's views stay valid until the next increment. An increment that meets a damaged
/// record throws bitcask::error (BC_E_CORRUPT); incrementing again goes on after it. Move-only;
/// moving it invalidates its iterators. Must be destroyed before its db is closed.
class entry_range {
public:
    using value_type = std::pair<std::string_view, std::string_view>;

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = entry_range::value_type;
        using difference_type = std::ptrdiff_t;
        using pointer = const value_type *;
        using reference = const value_type &;

        /// The end iterator.
        iterator() noexcept = default;

        reference operator*() const noexcept { return r_->cur_; }
        pointer operator->() const noexcept { return &r_->cur_; }
        iterator &operator++()
        {
            r_->advance();
            return *this;
        }
        /// Input iterator: the previous entry is gone after the increment, so nothing is returned.
        void operator++(int) { r_->advance(); }

        friend bool operator==(const iterator &a, const iterator &b) noexcept
        {
            return a.at_end() == b.at_end() && (a.at_end() || a.r_ == b.r_);
        }
        friend bool operator!=(const iterator &a, const iterator &b) noexcept { return !(a == b); }

    private:
        friend class entry_range;
        explicit iterator(entry_range *r) noexcept : r_(r) {}
        bool at_end() const noexcept { return r_ == nullptr || r_->done_; }
        entry_range *r_ = nullptr;
    };

    /// The current position: reads the first entry on the first call (and, after an increment
    /// threw, the entry after the damaged one).
    iterator begin()
    {
        if (!started_ || (!has_cur_ && !done_)) {
            started_ = true;
            advance();
        }
        return iterator(this);
    }
    iterator end() noexcept { return iterator(); }

    /// Pull style: the next entry, or nullopt at the end. Same validity rules as the iterator.
    std::optional<value_type> next()
    {
        if (started_ && done_)
            return std::nullopt;
        started_ = true;
        advance();
        if (done_)
            return std::nullopt;
        return cur_;
    }

    entry_range(entry_range &&) noexcept = default;
    entry_range &operator=(entry_range &&) noexcept = default;

private:
    friend class db;
    entry_range(bc_iter *it, std::shared_ptr<std::atomic<long>> count) noexcept
        : token_(std::move(count)), it_(it)
    {
    }

    void advance()
    {
        cur_ = value_type();
        has_cur_ = false;
        if (done_)
            return;
        const std::uint8_t *k = nullptr, *v = nullptr;
        std::size_t kl = 0, vl = 0;
        const int rc = bc_iter_next(it_.get(), &k, &kl, &v, &vl);
        if (rc == BC_OK) {
            cur_ = value_type(detail::view(k, kl), detail::view(v, vl));
            has_cur_ = true;
        } else if (rc == BC_NOT_FOUND) {
            done_ = true;
            it_.reset(); // nothing more to read: let a merge delete the files it was keeping
        } else {
            detail::check(rc);
        }
    }

    // Destroyed in reverse order: the C iterator is freed before the db's count drops.
    detail::iter_token token_;
    std::unique_ptr<bc_iter, detail::iter_deleter> it_;
    value_type cur_;
    bool started_ = false;
    bool has_cur_ = false;
    bool done_ = false;
};

// ---- db -----------------------------------------------------------------------------------------

/// An open store (bc_db). Move-only; the destructor closes it, ignoring errors: call close() to
/// see them. A default-constructed or moved-from db is closed and every call on it throws.
class db {
public:
    db() noexcept = default;

    /// Opens (creating if missing, by default) the store in directory `path`.
    explicit db(const std::string &path) { open_into(path, nullptr); }
    db(const std::string &path, const options &opts) { open_into(path, opts.native_handle()); }

    /// Same as the constructors.
    static db open(const std::string &path) { return db(path); }
    static db open(const std::string &path, const options &opts) { return db(path, opts); }

    db(db &&o) noexcept : h_(std::exchange(o.h_, nullptr)), iters_(std::move(o.iters_)) {}
    db &operator=(db &&o) noexcept
    {
        if (this != &o) {
            bc_close(h_); // errors ignored, as in the destructor
            h_ = std::exchange(o.h_, nullptr);
            iters_ = std::move(o.iters_);
        }
        return *this;
    }
    db(const db &) = delete;
    db &operator=(const db &) = delete;

    ~db() { bc_close(h_); } // bc_close(NULL) is a no-op; errors cannot be reported here

    /// Syncs, releases the lock and frees the handle, reporting a failed final fsync as
    /// bitcask::error (BC_E_IO; the handle is closed all the same). A no-op when already closed.
    /// Throws BC_E_INVALID, leaving the db open, while an entry_range of it is alive.
    void close()
    {
        if (h_ == nullptr)
            return;
        if (iters_ && *iters_ > 0)
            throw error(BC_E_INVALID, "bitcask::db::close: " + std::to_string(iters_->load()) +
                                          " entry_range(s) of this db are still alive");
        bc_db *h = std::exchange(h_, nullptr);
        iters_.reset();
        detail::check(bc_close(h));
    }

    bool is_open() const noexcept { return h_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }

    /// The C handle, for calls this wrapper does not cover (NULL when closed). Do not close it.
    bc_db *native_handle() const noexcept { return h_; }

    // ---- writes ----

    /// Stores value under key, replacing any previous value.
    void put(std::string_view key, std::string_view value)
    {
        detail::check(bc_put(handle("bitcask::db::put"), detail::bytes(key), key.size(),
                             detail::bytes(value), value.size()));
    }

    /// Like put(); the key expires ttl_secs (>= 1) seconds from now.
    void put_ttl(std::string_view key, std::string_view value, std::uint32_t ttl_secs)
    {
        detail::check(bc_put_ttl(handle("bitcask::db::put_ttl"), detail::bytes(key), key.size(),
                                 detail::bytes(value), value.size(), ttl_secs));
    }
    void put_ttl(std::string_view key, std::string_view value, std::chrono::seconds ttl)
    {
        if (ttl.count() < 0 || ttl.count() > std::numeric_limits<std::uint32_t>::max())
            throw error(BC_E_INVALID, "bitcask::db::put_ttl: ttl out of range");
        put_ttl(key, value, static_cast<std::uint32_t>(ttl.count()));
    }

    /// Deletes key: true if it existed, false if there was nothing to delete.
    bool erase(std::string_view key)
    {
        return detail::check(bc_delete(handle("bitcask::db::erase"), detail::bytes(key),
                                       key.size())) == BC_OK;
    }
    /// Same as erase().
    bool remove(std::string_view key) { return erase(key); }

    /// Applies every operation of b, all or nothing.
    void write(const batch &b)
    {
        detail::check(bc_write(handle("bitcask::db::write"), b.native_handle()));
    }

    /// Compacts the store (bc_merge).
    void merge() { detail::check(bc_merge(handle("bitcask::db::merge"))); }

    /// Forces every acknowledged write onto stable storage (bc_sync).
    void sync() { detail::check(bc_sync(handle("bitcask::db::sync"))); }

    // ---- reads ----

    /// The value of key, or nullopt when it does not exist.
    std::optional<std::string> get(std::string_view key) const
    {
        std::uint8_t *val = nullptr;
        std::size_t vlen = 0;
        const int rc = detail::check(
            bc_get(handle("bitcask::db::get"), detail::bytes(key), key.size(), &val, &vlen));
        std::unique_ptr<std::uint8_t, detail::free_deleter> owned(val);
        if (rc == BC_NOT_FOUND)
            return std::nullopt;
        return std::string(reinterpret_cast<const char *>(owned.get()), vlen);
    }

    /// Reads key's value into `out`, reusing its memory: true if found, false (out emptied) if
    /// not. Cheaper than the optional-returning get() in a loop.
    bool get(std::string_view key, std::string &out) const
    {
        bc_db *h = handle("bitcask::db::get");
        if (out.capacity() == 0)
            out.reserve(64);
        for (;;) {
            out.resize(out.capacity());
            std::size_t vlen = 0;
            const int rc = bc_get_into(h, detail::bytes(key), key.size(),
                                       reinterpret_cast<std::uint8_t *>(&out[0]), out.size(),
                                       &vlen);
            if (rc == BC_E_BUFFER) { // the value grew or is bigger than the buffer: retry
                out.resize(vlen);
                continue;
            }
            if (rc < 0) {
                out.clear();
                detail::throw_status(rc); // bc_last_error() is still this call's
            }
            out.resize(rc == BC_OK ? vlen : 0);
            return rc == BC_OK;
        }
    }

    /// Reads key's value into buf[0, cap). Returns nullopt if the key does not exist, else the
    /// value's length; when that is more than cap nothing was copied (grow the buffer and call
    /// again; buf may be NULL with cap 0 to ask for the size).
    std::optional<std::size_t> get_into(std::string_view key, void *buf, std::size_t cap) const
    {
        std::size_t vlen = 0;
        const int rc = bc_get_into(handle("bitcask::db::get_into"), detail::bytes(key),
                                   key.size(), static_cast<std::uint8_t *>(buf), cap, &vlen);
        if (rc == BC_E_BUFFER)
            return vlen;
        detail::check(rc);
        if (rc == BC_NOT_FOUND)
            return std::nullopt;
        return vlen;
    }

    /// Whether key exists (from memory, no disk read).
    bool contains(std::string_view key) const
    {
        return detail::check(bc_contains(handle("bitcask::db::contains"), detail::bytes(key),
                                         key.size())) == BC_OK;
    }

    /// The store's counters.
    stats_t stats() const
    {
        stats_t s{};
        detail::check(bc_stats_get(handle("bitcask::db::stats"), &s));
        return s;
    }

    /// Every live entry in ascending key order, one at a time (a snapshot taken now).
    entry_range entries() const
    {
        bc_iter *it = nullptr;
        detail::check(bc_iter_new(handle("bitcask::db::entries"), &it));
        return entry_range(it, iters_);
    }

    /// Calls f(key, value) for every live key in log order, reading the files sequentially (the
    /// fastest full pass). f returns void, or bool: false stops. Returns false if f stopped it.
    /// An exception from f stops the walk and is rethrown here.
    template <class F> bool fold(F &&f) const
    {
        detail::callback_ctx<std::remove_reference_t<F>> ctx{&f, nullptr};
        const int rc = bc_fold(handle("bitcask::db::fold"),
                               &detail::kv_trampoline<std::remove_reference_t<F>>, &ctx);
        return detail::finish_walk(rc, ctx);
    }

    /// Calls f(key) for every live key, in no particular order, reading no value.
    template <class F> bool fold_keys(F &&f) const
    {
        detail::callback_ctx<std::remove_reference_t<F>> ctx{&f, nullptr};
        const int rc = bc_fold_keys(handle("bitcask::db::fold_keys"),
                                    &detail::key_trampoline<std::remove_reference_t<F>>, &ctx);
        return detail::finish_walk(rc, ctx);
    }

    /// Calls f(key, value) for each live key in [start, end) in ascending order (bc_scan);
    /// nullopt is an open bound. Same callback rules as fold().
    template <class F>
    bool scan(std::optional<std::string_view> start, std::optional<std::string_view> end,
              F &&f) const
    {
        detail::callback_ctx<std::remove_reference_t<F>> ctx{&f, nullptr};
        const int rc = bc_scan(handle("bitcask::db::scan"),
                               start ? detail::bytes(*start) : nullptr, start ? start->size() : 0,
                               end ? detail::bytes(*end) : nullptr, end ? end->size() : 0,
                               &detail::kv_trampoline<std::remove_reference_t<F>>, &ctx);
        return detail::finish_walk(rc, ctx);
    }

    /// The live entries in [start, end), copied, in ascending key order.
    std::vector<entry> scan(std::optional<std::string_view> start,
                            std::optional<std::string_view> end) const
    {
        std::vector<entry> out;
        scan(start, end, [&out](std::string_view k, std::string_view v) {
            out.emplace_back(std::string(k), std::string(v));
        });
        return out;
    }

    /// Calls f(key, value) for each live key starting with prefix, in ascending order.
    template <class F> bool scan_prefix(std::string_view prefix, F &&f) const
    {
        detail::callback_ctx<std::remove_reference_t<F>> ctx{&f, nullptr};
        const int rc = bc_scan_prefix(handle("bitcask::db::scan_prefix"), detail::bytes(prefix),
                                      prefix.size(),
                                      &detail::kv_trampoline<std::remove_reference_t<F>>, &ctx);
        return detail::finish_walk(rc, ctx);
    }

    /// The live entries whose key starts with prefix, copied, in ascending key order.
    std::vector<entry> scan_prefix(std::string_view prefix) const
    {
        std::vector<entry> out;
        scan_prefix(prefix, [&out](std::string_view k, std::string_view v) {
            out.emplace_back(std::string(k), std::string(v));
        });
        return out;
    }

private:
    void open_into(const std::string &path, const bc_options *opts)
    {
        if (path.find('\0') != std::string::npos)
            throw error(BC_E_INVALID, "bitcask::db::open: the path contains a NUL byte");
        bc_db *h = nullptr;
        detail::check(bc_open(path.c_str(), opts, &h));
        h_ = h;
        iters_ = std::make_shared<std::atomic<long>>(0);
    }

    bc_db *handle(const char *what) const
    {
        if (h_ == nullptr)
            detail::throw_closed(what);
        return h_;
    }

    bc_db *h_ = nullptr;
    // How many entry_ranges of this handle are alive (shared with them); NULL when closed.
    std::shared_ptr<std::atomic<long>> iters_;
};

} // namespace bitcask

#endif // BITCASK_HPP
