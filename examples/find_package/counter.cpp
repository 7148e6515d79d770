// counter.cpp - counter.c with the C++17 wrapper bitcask.hpp: counts how often it has run.
//   ./counter_cxx /tmp/counter-store   ->  "bitcask 0.1.0 (C++): runs = 1"
#include <bitcask.hpp>

#include <iostream>
#include <string>

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " STORE_DIR\n";
        return 2;
    }
    try {
        bitcask::db store =
            bitcask::db::open(argv[1], bitcask::options().sync(bitcask::sync_mode::always));
        const unsigned long runs = std::stoul(store.get("runs").value_or("0")) + 1;
        store.put("runs", std::to_string(runs));
        store.close(); // reports a failed final sync; the destructor could not
        std::cout << "bitcask " << bitcask::version() << " (C++): runs = " << runs << '\n';
        return 0;
    } catch (const bitcask::error &e) {
        std::cerr << "error " << e.code() << ": " << e.what() << '\n';
        return 1;
    } catch (const std::exception &e) { // std::stoul on a damaged counter
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    }
}
