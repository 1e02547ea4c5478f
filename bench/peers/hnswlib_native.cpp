// hnswlib_native measures hnswlib built for this CPU, as the index row's
// peer beside the Python hnswlib (a generic x86-64 build). It reads the
// .npy files simsearch-bench writes for bench/peers.py, builds hnswlib's
// HNSW with the same M and efConstruction over the inner-product space,
// and prints one JSON object on stdout in peers.py's form:
//
//   {"hnswlib-native": {"version": ..., "n": ..., "build_s": ...,
//     "memory_bytes": ..., "save_bytes": ..., "load_s": ...,
//     "results": [{"ef": 16, "recall": ..., "p50_ms": ..., "p99_ms": ...,
//                  "qps": ...}]}}
//
// Latency is one searchKnn call at a time on one thread, with no call
// overhead to leave out (so no batch1_mean_ms); qps is --threads threads
// sharing the queries. The harness compiles it:
//
//   g++ -O3 -march=native -std=c++17 -pthread hnswlib_native.cpp
//
// with the headers of Debian's libhnswlib-dev.
//
// Usage: hnswlib_native --dir DIR --m 16 --efc 200 --ef 16,32,64 --k 10
//        --threads 2 [--version VERSION]

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double since_ms(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Npy is a 2-D array read from a version 1.0 .npy file.
template <typename T>
struct Npy {
    size_t rows = 0, cols = 0;
    std::vector<T> data;
};

// read_npy reads the files simsearch-bench writes (npy.go): little-endian
// "<f4" or "<i4", C order, shape (rows, cols).
template <typename T>
Npy<T> read_npy(const std::string& path, const char* descr) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("open " + path);
    char magic[8];
    f.read(magic, 8);
    if (!f || std::memcmp(magic, "\x93NUMPY\x01\x00", 8) != 0) throw std::runtime_error(path + ": not a version 1.0 .npy file");
    unsigned char len[2];
    f.read(reinterpret_cast<char*>(len), 2);
    std::string header(len[0] | len[1] << 8, '\0');
    f.read(&header[0], header.size());
    if (!f) throw std::runtime_error(path + ": truncated header");
    if (header.find(std::string("'descr': '") + descr + "'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(path + ": want " + descr + " in C order: " + header);
    Npy<T> a;
    size_t at = header.find("'shape': (");
    if (at == std::string::npos || std::sscanf(header.c_str() + at, "'shape': (%zu, %zu)", &a.rows, &a.cols) != 2)
        throw std::runtime_error(path + ": no 2-D shape: " + header);
    a.data.resize(a.rows * a.cols);
    f.read(reinterpret_cast<char*>(a.data.data()), a.data.size() * sizeof(T));
    if (!f) throw std::runtime_error(path + ": shorter than its shape");
    return a;
}

long rss_bytes() {
    std::ifstream f("/proc/self/statm");
    long size = 0, resident = 0;
    f >> size >> resident;
    return resident * 4096;
}

double pct(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    long i = static_cast<long>(q * v.size() + 0.5) - 1;
    return v[std::min(std::max(i, 0L), static_cast<long>(v.size()) - 1)];
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
    for (int i = 1; i + 1 < argc; i++)
        if (argv[i] == "--" + name) return argv[i + 1];
    return def;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string dir = arg(argc, argv, "dir", "");
        if (dir.empty()) throw std::runtime_error("no --dir");
        int m = std::stoi(arg(argc, argv, "m", "16"));
        int efc = std::stoi(arg(argc, argv, "efc", "200"));
        int k = std::stoi(arg(argc, argv, "k", "10"));
        int threads = std::max(1, std::stoi(arg(argc, argv, "threads", "2")));
        std::string version = arg(argc, argv, "version", "");
        std::vector<int> efs;
        std::stringstream ss(arg(argc, argv, "ef", "16,32,64,128,256"));
        for (std::string e; std::getline(ss, e, ',');) efs.push_back(std::stoi(e));

        auto base = read_npy<float>(dir + "/base.npy", "<f4");
        auto queries = read_npy<float>(dir + "/queries.npy", "<f4");
        auto truth = read_npy<int32_t>(dir + "/truth.npy", "<i4");
        size_t n = base.rows, d = base.cols, nq = queries.rows;
        if (queries.cols != d || truth.rows != nq || truth.cols < static_cast<size_t>(k) || n == 0 || nq == 0)
            throw std::runtime_error("shapes do not match: base " + std::to_string(n) + "x" + std::to_string(d) +
                                     ", queries " + std::to_string(nq) + "x" + std::to_string(queries.cols) +
                                     ", truth " + std::to_string(truth.rows) + "x" + std::to_string(truth.cols));

        hnswlib::InnerProductSpace space(d);
        long r0 = rss_bytes();
        auto t = Clock::now();
        hnswlib::HierarchicalNSW<float> index(&space, n, m, efc, 100);
        // As the Python binding's add_items: the first point alone, then
        // the rest over the threads.
        index.addPoint(base.data.data(), 0);
        std::atomic<size_t> next{1};
        std::vector<std::thread> pool;
        for (int w = 0; w < threads; w++)
            pool.emplace_back([&] {
                for (size_t i; (i = next++) < n;) index.addPoint(base.data.data() + i * d, i);
            });
        for (auto& th : pool) th.join();
        double build_s = since_ms(t) / 1000;
        long mem = rss_bytes() - r0;

        std::string path = dir + "/hnswlib-native.bin";
        index.saveIndex(path);
        std::ifstream sf(path, std::ios::binary | std::ios::ate);
        long save_bytes = sf.tellg();
        t = Clock::now();
        {
            hnswlib::HierarchicalNSW<float> loaded(&space, path, false, n);
        }
        double load_s = since_ms(t) / 1000;
        std::remove(path.c_str());

        std::string results;
        for (int ef : efs) {
            index.setEf(ef);
            index.searchKnn(queries.data.data(), k);  // warm up
            std::vector<double> lat(nq);
            size_t hit = 0;
            for (size_t q = 0; q < nq; q++) {
                auto qt = Clock::now();
                auto res = index.searchKnn(queries.data.data() + q * d, k);
                lat[q] = since_ms(qt);
                std::unordered_set<int32_t> want(truth.data.begin() + q * truth.cols, truth.data.begin() + q * truth.cols + k);
                for (; !res.empty(); res.pop()) hit += want.count(static_cast<int32_t>(res.top().second));
            }
            std::atomic<size_t> nextq{0};
            auto qt = Clock::now();
            std::vector<std::thread> qpool;
            for (int w = 0; w < threads; w++)
                qpool.emplace_back([&] {
                    for (size_t i; (i = nextq++) < nq;) index.searchKnn(queries.data.data() + i * d, k);
                });
            for (auto& th : qpool) th.join();
            double qps = nq / (since_ms(qt) / 1000);
            char buf[256];
            std::snprintf(buf, sizeof buf, "%s{\"ef\": %d, \"recall\": %.6f, \"p50_ms\": %.6f, \"p99_ms\": %.6f, \"qps\": %.1f}",
                          results.empty() ? "" : ", ", ef, static_cast<double>(hit) / (nq * k), pct(lat, 0.5), pct(lat, 0.99), qps);
            results += buf;
        }
        std::printf("{\"hnswlib-native\": {\"version\": \"%s\", \"n\": %zu, \"build_s\": %.3f, \"memory_bytes\": %ld, \"save_bytes\": %ld, \"load_s\": %.4f, \"results\": [%s]}}\n",
                    version.c_str(), n, build_s, mem, save_bytes, load_s, results.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hnswlib_native: %s\n", e.what());
        return 1;
    }
    return 0;
}
