// Tests of tensor<T, host> and the non-differentiable tensor ops: views vs copies, layout ops,
// reductions and GEMM against naive loops, error messages.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/tensor/xtensor_view.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

using namespace bijgan;

namespace {
tensor<double> iota(const shape& s) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  std::iota(v.begin(), v.end(), 0.0);
  return tensor<double>::from(v, s);
}
bool contains(const std::string& m, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (m.find(p) == std::string::npos) return false;
  return true;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(tensor_suite)

BOOST_AUTO_TEST_CASE(views_share_storage_copies_do_not) {
  auto t = iota({4, 3});
  auto r = t.reshape({3, -1});
  BOOST_TEST(r.shape() == (shape{3, 4}));
  BOOST_TEST(r.shares_storage_with(t));
  auto row = t[2];
  BOOST_TEST(row.shape() == (shape{3}));
  BOOST_TEST(row.to_vector() == (std::vector<double>{6, 7, 8}));
  auto rows = t.slice_rows(1, 3);
  BOOST_TEST(rows.to_vector().front() == 3.0);
  BOOST_TEST(rows.shares_storage_with(t));
  auto c = t.clone();
  BOOST_TEST(!c.shares_storage_with(t));
  t.data()[0] = 100;
  BOOST_TEST(r.to_vector()[0] == 100.0);
  BOOST_TEST(c.to_vector()[0] == 0.0);
  BOOST_CHECK_THROW((void)t.slice_rows(2, 5), shape_error);
  BOOST_CHECK_THROW((void)t.item(), shape_error);
  BOOST_CHECK_THROW(tensor<double>::from(std::vector<double>{1, 2}, {3}), shape_error);
}

BOOST_AUTO_TEST_CASE(layout_ops) {
  const auto t = iota({2, 3, 4});
  const std::vector<index_t> perm{2, 0, 1};
  const auto p = permute(t, perm);
  BOOST_TEST(p.shape() == (shape{4, 2, 3}));
  const auto pv = p.to_vector(), tv = t.to_vector();
  for (index_t a = 0; a < 2; ++a)
    for (index_t b = 0; b < 3; ++b)
      for (index_t c = 0; c < 4; ++c)
        BOOST_TEST(pv[static_cast<std::size_t>(c * 6 + a * 3 + b)] == tv[static_cast<std::size_t>(a * 12 + b * 4 + c)]);

  const auto s = slice(t, 1, 1, 3);
  BOOST_TEST(s.shape() == (shape{2, 2, 4}));
  BOOST_TEST(s.to_vector()[0] == 4.0);
  const std::vector<tensor<double>> parts{iota({2, 1}), iota({2, 2})};
  const auto c = concat(std::span<const tensor<double>>(parts), 1);
  BOOST_TEST(c.to_vector() == (std::vector<double>{0, 0, 1, 1, 2, 3}));
  const std::vector<index_t> pads{1, 0, 0, 2};
  const auto pd = pad(iota({1, 2}), pads, -1.0);
  BOOST_TEST(pd.shape() == (shape{2, 4}));
  BOOST_TEST(pd.to_vector() == (std::vector<double>{-1, -1, -1, -1, 0, 1, -1, -1}));
  const auto b = broadcast_to(iota({3, 1}), {2, 3, 2});
  BOOST_TEST(b.to_vector() == (std::vector<double>{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2}));
  BOOST_TEST(sum_to(b, {3, 1}).to_vector() == (std::vector<double>{0, 4, 8}));
}

BOOST_AUTO_TEST_CASE(reductions) {
  const auto t = iota({2, 3, 4});
  const std::vector<index_t> a02{0, 2}, a1{1}, none{};
  const auto s = reduce(reduce_kind::sum, t, a02, false);
  BOOST_TEST(s.shape() == (shape{3}));
  // sum over a and c of a*12 + b*4 + c = 4*(0+12) + 2*4*4b + 2*(0+1+2+3)
  for (index_t b = 0; b < 3; ++b) BOOST_TEST(s.to_vector()[static_cast<std::size_t>(b)] == 48.0 + 32.0 * b + 12.0);
  const auto m = reduce(reduce_kind::max, t, a1, true);
  BOOST_TEST(m.shape() == (shape{2, 1, 4}));
  BOOST_TEST(m.to_vector()[0] == 8.0);
  BOOST_TEST(reduce(reduce_kind::min, t, none, false).item() == 0.0);
  BOOST_TEST(reduce(reduce_kind::sum, t, none, false).item() == 276.0);
  BOOST_TEST(all_finite(t));
  auto bad = t.clone();
  bad.data()[5] = std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST(!all_finite(bad));
}

BOOST_AUTO_TEST_CASE(gemm_matches_naive_with_transposes_and_batches) {
  rng gen(3);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const index_t m = 5, n = 7, k = 6;
      const auto a = tensor<double>::random(ta ? shape{3, k, m} : shape{3, m, k}, gen, {});
      const auto b = tensor<double>::random(tb ? shape{n, k} : shape{k, n}, gen, {});  // broadcast over batch
      const auto c = matmul(a, b, ta, tb);
      BOOST_TEST(c.shape() == (shape{3, m, n}));
      const auto av = a.to_vector(), bv = b.to_vector(), cv = c.to_vector();
      double worst = 0;
      for (index_t z = 0; z < 3; ++z)
        for (index_t i = 0; i < m; ++i)
          for (index_t j = 0; j < n; ++j) {
            double acc = 0;
            for (index_t l = 0; l < k; ++l) {
              const double x = av[static_cast<std::size_t>(z * m * k + (ta ? l * m + i : i * k + l))];
              const double y = bv[static_cast<std::size_t>(tb ? j * k + l : l * n + j)];
              acc += x * y;
            }
            worst = std::max(worst, std::abs(acc - cv[static_cast<std::size_t>(z * m * n + i * n + j)]));
          }
      BOOST_TEST(worst < 1e-12);
    }
  BOOST_CHECK_EXCEPTION(matmul(tensor<double>::zeros({2, 3}), tensor<double>::zeros({4, 5})), shape_error,
                        [](const auto& e) {
                          return contains(e.what(), {"matmul", "[2, 3]", "[4, 5]"});
                        });
  BOOST_CHECK_THROW(matmul(tensor<double>::zeros({3}), tensor<double>::zeros({3, 1})), shape_error);
}

BOOST_AUTO_TEST_CASE(float_and_to_host) {
  const auto t = tensor<float>::full({2, 2}, 1.5f);
  const auto u = to<host>(t);
  BOOST_TEST(u.shares_storage_with(t));
  BOOST_TEST(apply(fn::add{}, t, tensor<float>::scalar(1.0f)).to_vector() ==
             (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f}));
}

BOOST_AUTO_TEST_CASE(xtensor_adaptor_views_host_memory) {
  auto t = iota({2, 3});
  auto x = as_xtensor(t);
  BOOST_TEST(x(1, 2) == 5.0);
  x(0, 0) = 42;
  BOOST_TEST(t.to_vector()[0] == 42.0);
}

BOOST_AUTO_TEST_CASE(host_block_cache_reuses_large_blocks) {
  auto& cache = host_block_cache::get();
  {
    auto t = tensor<float>::zeros({1 << 16});  // 256 KiB: cached
    BOOST_TEST(cache.bytes_in_use() >= std::size_t{1} << 18);
  }
  const auto cached = cache.bytes_cached();
  BOOST_TEST(cached >= std::size_t{1} << 18);
  const auto segments = cache.source_allocations();
  {
    auto u = tensor<float>::ones({1 << 16});  // served from the cache: no new segment
    BOOST_TEST(cache.source_allocations() == segments);
    BOOST_TEST(u.to_vector()[123] == 1.0f);
  }
  cache.set_limit(0);  // no caching: wholly free segments go straight back to the system
  // What stays cached is free space inside segments that still hold a block in use.
  const auto kept = cache.bytes_cached();
  BOOST_TEST(cache.bytes_reserved() == cache.bytes_in_use() + kept);
  { auto v = tensor<float>::zeros({1 << 16}); }
  BOOST_TEST(cache.bytes_cached() == kept);
  cache.set_limit(std::size_t{4} << 30);
  BOOST_TEST(cache.peak_bytes_in_use() >= std::size_t{1} << 18);
}

BOOST_AUTO_TEST_CASE(block_cache_splits_and_merges) {
  // A cache of its own (not the process-wide one), so the addresses are predictable.
  using source = detail::host_memory;
  detail::block_cache<source> cache;
  constexpr std::size_t mib = std::size_t{1} << 20;
  const std::size_t segment = source::large_segment;
  void* big = cache.allocate(40 * mib);  // shares a large segment (address space until touched)
  BOOST_TEST(cache.source_allocations() == 1u);
  BOOST_TEST(cache.bytes_reserved() == segment);
  cache.deallocate(big, 40 * mib);
  // The freed 40 MiB serves a 24 MiB and a 16 MiB request: no new segment.
  void* a = cache.allocate(24 * mib);
  void* b = cache.allocate(16 * mib);
  BOOST_TEST(cache.source_allocations() == 1u);
  BOOST_TEST(a == big);
  BOOST_TEST(static_cast<std::byte*>(b) == static_cast<std::byte*>(big) + 24 * mib);
  BOOST_TEST(cache.bytes_in_use() == 40 * mib);
  BOOST_TEST(cache.bytes_cached() == segment - 40 * mib);
  // Freed, the two blocks merge with the rest: 40 MiB comes from the same place again.
  cache.deallocate(a, 24 * mib);
  cache.deallocate(b, 16 * mib);
  BOOST_TEST(cache.bytes_cached() == segment);
  void* again = cache.allocate(40 * mib);
  BOOST_TEST(again == big);
  BOOST_TEST(cache.source_allocations() == 1u);
  cache.deallocate(again, 40 * mib);
  // A request no free block fits, of half a segment or more, gets a segment of its own size
  // (rounded to 2 MiB); a smaller one would have opened another shared segment.
  const std::size_t huge = segment + 3 * mib;
  void* h = cache.allocate(huge);
  BOOST_TEST(cache.source_allocations() == 2u);
  BOOST_TEST(cache.bytes_reserved() == 2 * segment + 4 * mib);
  cache.deallocate(h, huge);
  // Small requests (<= 1 MiB) never cut into large segments: they get a 2 MiB segment of their own.
  void* s = cache.allocate(100 * 1024);
  BOOST_TEST(cache.source_allocations() == 3u);
  cache.deallocate(s, 100 * 1024);
  cache.release();
  BOOST_TEST(cache.bytes_reserved() == 0u);
  BOOST_TEST(cache.bytes_cached() == 0u);
  BOOST_TEST(cache.peak_bytes_reserved() == 2 * segment + 6 * mib);
}

BOOST_AUTO_TEST_CASE(block_cache_blocks_stay_disjoint_and_aligned) {
  // Random sizes across both pools and the malloc bypass, random frees: every live block is
  // 64-byte aligned, no two overlap, and in use + cached = reserved throughout.
  detail::block_cache<detail::host_memory> cache;
  rng g(7);
  const auto draws = tensor<float>::random({6000}, g, {distribution::uniform, 0, 1}).to_vector();
  std::vector<std::pair<std::byte*, std::size_t>> live;
  bool aligned = true, disjoint = true, balanced = true;
  std::size_t k = 0;
  const auto next = [&] { return static_cast<double>(draws[k++ % draws.size()]); };
  for (int step = 0; step < 2000; ++step) {
    if (live.empty() || next() < 0.55) {
      const double u = next();
      const std::size_t n = u < 0.05  ? 1 + static_cast<std::size_t>(next() * 60000)  // bypass
                            : u < 0.5 ? (64 << 10) + static_cast<std::size_t>(next() * (1 << 20))
                                      : (1 << 20) + static_cast<std::size_t>(next() * (24 << 20));
      auto* p = static_cast<std::byte*>(cache.allocate(n));
      aligned = aligned && reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
      for (const auto& [q, m] : live) disjoint = disjoint && (p + n <= q || q + m <= p);
      live.emplace_back(p, n);
    } else {
      const auto i = static_cast<std::size_t>(next() * static_cast<double>(live.size())) % live.size();
      cache.deallocate(live[i].first, live[i].second);
      live[i] = live.back();
      live.pop_back();
    }
    balanced = balanced && cache.bytes_in_use() + cache.bytes_cached() == cache.bytes_reserved();
  }
  BOOST_TEST(aligned);
  BOOST_TEST(disjoint);
  BOOST_TEST(balanced);
  for (const auto& [p, n] : live) cache.deallocate(p, n);
  BOOST_TEST(cache.bytes_in_use() == 0u);
  cache.release();
  BOOST_TEST(cache.bytes_reserved() == 0u);
}

BOOST_AUTO_TEST_CASE(host_segments_are_huge_page_aligned_and_advised) {
  // Segments of all three kinds (a small-pool segment, a shared large one, one of its own) are
  // 2 MiB aligned, so a huge page can back them, and on Linux with huge pages on they carry the
  // kernel's MADV_HUGEPAGE mark ("hg" in /proc/self/smaps' VmFlags). (Blocks that bypass the
  // cache keep malloc's 64-byte alignment: block_cache_blocks_stay_disjoint_and_aligned.)
  using source = detail::host_memory;
  detail::block_cache<source> cache;
  constexpr std::size_t mib = std::size_t{1} << 20;
  for (const std::size_t n : {100 * std::size_t{1024}, 40 * mib, source::large_segment + 3 * mib}) {
    void* p = cache.allocate(n);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % source::huge_page == 0);
    cache.deallocate(p, n);
  }
  cache.release();
#if defined(__linux__)
  void* seg = source::allocate(4 * source::huge_page);
  BOOST_REQUIRE(seg != nullptr);
  std::ifstream smaps("/proc/self/smaps");
  std::string line, flags;
  bool inside = false;
  const auto at = reinterpret_cast<std::uintptr_t>(seg);
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= at && at < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      flags = line;
      break;
    }
  }
  source::free(seg);
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
    BOOST_TEST_MESSAGE("skipped the VmFlags check: this kernel has no transparent huge pages");
  } else if (flags.empty()) {
    BOOST_TEST_MESSAGE("skipped the VmFlags check: /proc/self/smaps has no entry for the segment");
  } else {
    BOOST_TEST((flags.find(" hg") != std::string::npos) == source::huge_pages(), flags);
  }
#endif
}

BOOST_AUTO_TEST_CASE(transpose_tiles_match_plain_copy) {
  // Shapes that take the tiled transpose path (both extents >= 16) and ragged edges.
  for (const shape& s : {shape{37, 53}, shape{3, 64, 17}, shape{16, 16}}) {
    const auto t = iota(s);
    std::vector<index_t> perm(s.rank());
    std::iota(perm.begin(), perm.end(), index_t{0});
    std::swap(perm[s.rank() - 1], perm[s.rank() - 2]);
    const auto p = permute(t, perm).to_vector(), v = t.to_vector();
    const index_t rows = s[s.rank() - 2], cols = s[s.rank() - 1], outer = s.numel() / (rows * cols);
    bool same = true;
    for (index_t o = 0; o < outer; ++o)
      for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < cols; ++j)
          same = same && p[static_cast<std::size_t>(o * rows * cols + j * rows + i)] ==
                             v[static_cast<std::size_t>(o * rows * cols + i * cols + j)];
    BOOST_TEST(same, "transpose of " << s);
  }
}

BOOST_AUTO_TEST_CASE(flush_denormal_reaches_the_worker_threads) {
  // 1e-30 · 1e-10 = 1e-40 is a denormal float; flushed, it and everything built from it is 0.
  const auto big = tensor<float>::full({1 << 18}, 1e-30f);
  const auto product = [&] { return (constant(big) * 1e-10f).value().to_vector(); };
  if (!set_flush_denormal(true)) {
    BOOST_TEST_MESSAGE("SKIPPED: this CPU has no flush-to-zero mode");
    return;
  }
  const auto flushed = product();  // large enough to run on every OpenMP worker
  set_flush_denormal(false);
  const auto ieee = product();
  BOOST_TEST(std::all_of(flushed.begin(), flushed.end(), [](float v) { return v == 0.0f; }));
  BOOST_TEST(std::all_of(ieee.begin(), ieee.end(), [](float v) { return v > 0.0f && v < 1e-38f; }));
}

BOOST_AUTO_TEST_CASE(scoped_flush_denormal_restores_what_it_found) {
  const auto tiny = [] { return (constant(tensor<float>::full({1 << 18}, 1e-30f)) * 1e-10f).value().to_vector(); };
  const auto all_zero = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; });
  };
  if (!set_flush_denormal(false)) {
    BOOST_TEST_MESSAGE("SKIPPED: this CPU has no flush-to-zero mode");
    return;
  }
  {
    const scoped_flush_denormal ftz;
    BOOST_TEST(flush_denormal_enabled());
    BOOST_TEST(all_zero(tiny()));
  }
  BOOST_TEST(!flush_denormal_enabled());
  BOOST_TEST(!all_zero(tiny()));
  // Already on: the guard leaves it on.
  set_flush_denormal(true);
  { const scoped_flush_denormal ftz; }
  BOOST_TEST(flush_denormal_enabled());
  BOOST_TEST(all_zero(tiny()));
  set_flush_denormal(false);
}

BOOST_AUTO_TEST_SUITE_END()
