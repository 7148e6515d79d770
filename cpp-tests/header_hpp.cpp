// header_hpp.cpp - compiled (never run) by the tests header_strict_hpp_cxx17/_cxx20 with
// -fsyntax-only and strict warnings (-Wconversion, -Wshadow, -Wold-style-cast, ...) through a
// plain -I, so a warning anywhere in bitcask.hpp fails them. Instantiates every template of the
// header with the callable shapes it accepts.
#include "bitcask.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace {

struct functor {
    bool operator()(std::string_view k, std::string_view v) const { return k.size() > v.size(); }
};

[[maybe_unused]] std::size_t use_everything(bitcask::db &db, const bitcask::db &cdb)
{
    std::size_t n = 0;
    // Callbacks returning void, bool and something convertible to bool; lvalues and rvalues.
    cdb.fold([&n](std::string_view, std::string_view) { ++n; });
    cdb.fold([](std::string_view, std::string_view) { return false; });
    cdb.fold(functor{});
    const functor f;
    cdb.fold(f);
    cdb.fold_keys([&n](std::string_view) { ++n; });
    cdb.fold_keys([](std::string_view k) { return k.size(); });
    cdb.scan("a", "b", [](std::string_view, std::string_view) {});
    cdb.scan(std::nullopt, std::string("b"), f);
    cdb.scan_prefix("p", [](std::string_view, std::string_view) { return true; });
    n += cdb.scan("a", std::nullopt).size() + cdb.scan_prefix("p").size();

    for (auto [k, v] : cdb.entries())
        n += k.size() + v.size();
    bitcask::entry_range r = cdb.entries();
    n += static_cast<std::size_t>(std::count_if(r.begin(), r.end(), [](const auto &e) {
        return e.first.empty();
    }));
    while (auto e = r.next())
        n += e->first.size();

    char buf[4];
    if (auto len = cdb.get_into("k", buf, sizeof buf))
        n += *len;
    std::string s;
    n += cdb.get("k", s) ? s.size() : 0;
    n += cdb.get("k").value_or("").size();
    n += cdb.contains("k") ? 1u : 0u;
    bc_stats st = cdb.stats();
    n += static_cast<std::size_t>(st.keys);

    db.put("k", "v");
    db.put_ttl("k", "v", 10u);
    db.put_ttl("k", "v", std::chrono::seconds(10));
    n += db.erase("k") ? 1u : 0u;
    n += db.remove("k") ? 1u : 0u;
    bitcask::batch b;
    b.put("k", "v").erase("k").remove("j");
    db.write(b);
    b.clear();
    db.merge();
    db.sync();
    db.close();

    bitcask::options o = bitcask::options()
                             .max_file_size(1u << 20)
                             .sync(bitcask::sync_mode::interval, 100)
                             .read_only(false)
                             .create_if_missing()
                             .max_key_size(64)
                             .max_value_size(1u << 20)
                             .max_open_files(8)
                             .merge_trigger(60, 1u << 20)
                             .auto_merge()
                             .expiry_secs(0);
    bitcask::db other = bitcask::db::open("/nonexistent", o);
    other = bitcask::db("/nonexistent");
    n += bitcask::version().size() + bitcask::status_str(BC_E_IO).size();
    try {
        other.sync();
    } catch (const bitcask::error &e) {
        n += static_cast<std::size_t>(-e.code()) + std::string_view(e.status_text()).size();
    }
    return n;
}

} // namespace
