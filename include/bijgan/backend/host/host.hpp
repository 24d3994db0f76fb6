// The host backend: aligned buffers, elementwise and reduction loops written to vectorise
// (OpenMP across threads for large tensors), GEMM through Eigen (which hands it to OpenBLAS when
// EIGEN_USE_BLAS is defined), and the Philox stream.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "bijgan/backend/concept.hpp"
#include "bijgan/backend/conv_geometry.hpp"
#include "bijgan/backend/host/block_cache.hpp"
#include "bijgan/backend/host/dnnl_conv.hpp"
#include "bijgan/backend/host/threads.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
BIJGAN_THIRD_PARTY_END

namespace bijgan {

/// Functors whose host loop runs as an Eigen array expression (SIMD exp/log/tanh...). The
/// scalar functor defines the result; Eigen's kernels agree with it to a few ulp. exp gives 0
/// where the exact result is subnormal (x < log(numeric_limits::min())): Eigen 3.4.0 clamps its
/// argument there, so exp(-inf) would be 2.9e-39 in float, not 0 (a masked attention key would
/// keep a weight); see eigen_unary_fixup.
template <class F>
struct eigen_unary {
  static constexpr bool available = false;
};
#define BIJGAN_EIGEN_UNARY(functor, expr)   \
  template <>                               \
  struct eigen_unary<fn::functor> {         \
    static constexpr bool available = true; \
    template <class A>                      \
    static auto eval(const A& a) {          \
      return expr;                          \
    }                                       \
  };
BIJGAN_EIGEN_UNARY(exp, a.exp())
BIJGAN_EIGEN_UNARY(log, a.log())
BIJGAN_EIGEN_UNARY(log1p, a.log1p())
BIJGAN_EIGEN_UNARY(sqrt, a.sqrt())
BIJGAN_EIGEN_UNARY(rsqrt, a.rsqrt())
BIJGAN_EIGEN_UNARY(tanh, a.tanh())
BIJGAN_EIGEN_UNARY(sigmoid, a.logistic())
BIJGAN_EIGEN_UNARY(erf, a.erf())
BIJGAN_EIGEN_UNARY(gelu, (a * typename A::Scalar(0.5)) *
                             ((a * typename A::Scalar(0.70710678118654752440)).erf() + typename A::Scalar(1)))
#undef BIJGAN_EIGEN_UNARY

/// A pass after the Eigen kernel of a functor, on the same cache-hot block: exp's results below
/// the smallest normal number become 0. A plain loop, which the compiler vectorises (an Eigen
/// select in the expression does not: 6x slower).
template <class F>
struct eigen_unary_fixup {
  template <class T>
  static void run(T*, index_t) {}
};
template <>
struct eigen_unary_fixup<fn::exp> {
  template <class T>
  static void run(T* out, index_t n) {
    const T tiny = std::numeric_limits<T>::min();
    for (index_t i = 0; i < n; ++i) out[i] = out[i] < tiny ? T(0) : out[i];
  }
};

/// The CPU backend.
struct host {
  static constexpr const char* name = "host";
  /// Elements below which loops stay on one thread (thread start-up costs more than the work).
  static constexpr index_t parallel_grain = index_t{1} << 15;

  /// 64-byte aligned, uninitialised storage of n elements (large blocks from host_block_cache).
  template <class T>
  using buffer = detail::cached_buffer<T, host_block_cache>;

  /// Runs body(lo, hi) over [0, count) split into contiguous ranges: on this thread when the
  /// work (in elements touched) is small, else across the OpenMP team. Small work never enters
  /// a parallel region (that alone costs more than a tiny op).
  template <class Body>
  static void parallel_for(index_t count, index_t work, Body body) {
    if (count <= 0) return;
    const int threads = work > parallel_grain && count > 1 ? num_threads() : 1;
    if (threads == 1) {
      body(index_t{0}, count);
      return;
    }
    const index_t parts = std::min<index_t>(count, 4 * threads), step = (count + parts - 1) / parts;
#pragma omp parallel for schedule(static)
    for (index_t p = 0; p < parts; ++p) {
      const index_t lo = p * step;
      if (lo < count) body(lo, std::min(count, lo + step));
    }
  }

  template <class T>
  static void fill(T* p, index_t n, T v) {
    parallel_for(n, n, [&](index_t lo, index_t hi) {
#pragma omp simd
      for (index_t i = lo; i < hi; ++i) p[i] = v;
    });
  }

  template <class F, class T>
  static void map(F f, index_t n, T* out, const T* in) {
    if constexpr (eigen_unary<F>::available) {
      // Transcendentals through Eigen's SIMD implementations (exp, log, tanh, ...), in blocks
      // so that threads split the work.
      using arr = Eigen::Array<T, Eigen::Dynamic, 1>;
      parallel_for(n, 8 * n, [&](index_t lo, index_t hi) {
        Eigen::Map<arr>(out + lo, hi - lo) = eigen_unary<F>::eval(Eigen::Map<const arr>(in + lo, hi - lo));
        eigen_unary_fixup<F>::run(out + lo, hi - lo);
      });
    } else {
      // No simd pragma on loops over arbitrary functors: clang warns when one cannot be
      // vectorised (branches); restrict lets both compilers vectorise the ones that can.
      parallel_for(n, n, [&](index_t lo, index_t hi) { flat_loop(f, lo, hi, out, in); });
    }
  }

  /// out (contiguous, shape s) = f(in...) where each input is read through its strides.
  template <class F, class T, class... In>
  static void transform(F f, const shape& shape_in, T* out, In... in) {
    const index_t total = shape_in.numel();
    if (total == 0) return;
    // Drop extent-1 axes and merge neighbours that every input steps through as one (a
    // per-channel bias on (N, C, H, W) becomes (N, C, H*W)): the inner loop then runs over
    // H*W elements, not W, and the odometer's divisions happen once per long row.
    std::array<index_t, shape::max_rank> dims{};
    std::array<std::array<index_t, shape::max_rank>, sizeof...(In)> st{};
    std::size_t r = 0;
    for (std::size_t a = 0; a < shape_in.rank(); ++a) {
      if (shape_in[a] == 1) continue;
      std::size_t j = 0;
      const bool merge = r > 0 && ((st[j++][r - 1] == in.strides[a] * shape_in[a]) && ...);
      j = 0;
      if (merge) {
        dims[r - 1] *= shape_in[a];
        ((st[j++][r - 1] = in.strides[a]), ...);
      } else {
        dims[r] = shape_in[a];
        ((st[j++][r] = in.strides[a]), ...);
        ++r;
      }
    }
    {
      std::size_t j = 0;
      ((in.strides = st[j++]), ...);
    }
    const shape s(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(r));
    const auto cs = s.strides();
    // Contiguous inputs: one flat loop the compiler vectorises.
    const bool flat = ((same_strides(in.strides, cs, r)) && ...);
    if (flat || r == 0) {
      parallel_for(total, total, [&](index_t lo, index_t hi) { flat_loop(f, lo, hi, out, in.data...); });
      return;
    }
    // Otherwise: an outer odometer over all but the last axis, a strided inner loop.
    const index_t inner = s[r - 1];
    const index_t outer = total / inner;
    parallel_for(outer, total, [&](index_t lo, index_t hi) {
      for (index_t o = lo; o < hi; ++o) {
        std::array<index_t, sizeof...(In)> off{};
        unravel(s, r - 1, o, [&](std::size_t ax, index_t idx) {
          std::size_t j = 0;
          ((off[j++] += idx * in.strides[ax]), ...);
        });
        inner_loop(f, inner, out + o * inner, r - 1, off, std::index_sequence_for<In...>{}, in...);
      }
    });
  }

  /// out (strides out_strides) = in (strides in.strides), both indexed by shape s.
  template <class T>
  static void copy_strided(const shape& shape_in, strided_in<T> in, T* out,
                           std::array<index_t, shape::max_rank> out_strides) {
    const index_t total = shape_in.numel();
    if (total == 0) return;
    // Drop extent-1 axes and merge neighbours both sides step through as one, as transform
    // does: an NHWC -> NCHW permute becomes (N, C, H*W) from (N, H*W, C), a tiled transpose.
    std::array<index_t, shape::max_rank> dims{}, si_m{}, so_m{};
    std::size_t m = 0;
    for (std::size_t a = 0; a < shape_in.rank(); ++a) {
      if (shape_in[a] == 1) continue;
      if (m > 0 && si_m[m - 1] == in.strides[a] * shape_in[a] && so_m[m - 1] == out_strides[a] * shape_in[a]) {
        dims[m - 1] *= shape_in[a];
        si_m[m - 1] = in.strides[a];
        so_m[m - 1] = out_strides[a];
      } else {
        dims[m] = shape_in[a];
        si_m[m] = in.strides[a];
        so_m[m] = out_strides[a];
        ++m;
      }
    }
    const shape s(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(m));
    in.strides = si_m;
    out_strides = so_m;
    const std::size_t r = s.rank();
    if (r == 0) {
      out[0] = in.data[0];
      return;
    }
    const index_t inner = s[r - 1];
    const index_t outer = total / inner;
    const index_t si = in.strides[r - 1], so = out_strides[r - 1];
    if (r >= 2 && si != 1 && so == 1 && in.strides[r - 2] == 1 && s[r - 2] >= 16 && inner >= 16) {
      transpose_tiles(s, in, out, out_strides);
      return;
    }
    parallel_for(outer, total, [&](index_t lo, index_t hi) {
      for (index_t o = lo; o < hi; ++o) {
        index_t oi = 0, oo = 0;
        unravel(s, r - 1, o, [&](std::size_t ax, index_t idx) {
          oi += idx * in.strides[ax];
          oo += idx * out_strides[ax];
        });
        const T* src = in.data + oi;
        T* dst = out + oo;
        if (si == 1 && so == 1) {
          std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(T));
        } else {
          for (index_t j = 0; j < inner; ++j) dst[j * so] = src[j * si];
        }
      }
    });
  }

  /// copy_strided when the last two axes are swapped relative to memory (a transpose: the
  /// source's row axis and the destination's column axis are contiguous): small tiles so that
  /// both the reads and the writes stay within a few cache lines.
  template <class T>
  static void transpose_tiles(const shape& s, strided_in<T> in, T* out,
                              std::array<index_t, shape::max_rank> out_strides) {
    const std::size_t r = s.rank();
    const index_t rows = s[r - 2], cols = s[r - 1], outer = s.numel() / (rows * cols);
    // 32 rows x 8 columns: the 8 strided source lines of a tile fit one L1 set's 8 ways even
    // when the stride is a power of two (a 32-wide tile thrashes: 4 KiB apart = same set).
    const index_t row_tile = 32, col_tile = 8;
    const index_t row_tiles = (rows + row_tile - 1) / row_tile, col_tiles = (cols + col_tile - 1) / col_tile;
    const index_t in_col = in.strides[r - 1], out_row = out_strides[r - 2];
    parallel_for(outer * row_tiles * col_tiles, s.numel(), [&](index_t first, index_t last) {
      for (index_t t = first; t < last; ++t) {
        const index_t o = t / (row_tiles * col_tiles), rt = (t / col_tiles) % row_tiles, ct = t % col_tiles;
        index_t oi = 0, oo = 0;
        unravel(s, r - 2, o, [&](std::size_t ax, index_t idx) {
          oi += idx * in.strides[ax];
          oo += idx * out_strides[ax];
        });
        const index_t r0 = rt * row_tile, r1 = std::min(rows, r0 + row_tile);
        const index_t c0 = ct * col_tile, c1 = std::min(cols, c0 + col_tile);
        const T* __restrict src = in.data + oi;
        T* __restrict dst = out + oo;
        for (index_t i = r0; i < r1; ++i) {
          T* __restrict d = dst + i * out_row;
          const T* __restrict c = src + i;
          for (index_t j = c0; j < c1; ++j) d[j] = c[j * in_col];
        }
      }
    });
  }

  /// out[o, i] = reduce_k in[o, k, i] over an (outer, n, inner) row-major layout.
  template <class T>
  static void reduce(reduce_kind kind, const T* in, T* out, index_t outer, index_t n, index_t inner) {
    switch (kind) {
      case reduce_kind::sum:
        return reduce_with(in, out, outer, n, inner, T(0), fn::add{}, [](const auto& a) { return a.sum(); });
      case reduce_kind::max:
        return reduce_with(in, out, outer, n, inner, -std::numeric_limits<T>::infinity(), fn::maximum{},
                           [](const auto& a) { return a.maxCoeff(); });
      case reduce_kind::min:
        return reduce_with(in, out, outer, n, inner, std::numeric_limits<T>::infinity(), fn::minimum{},
                           [](const auto& a) { return a.minCoeff(); });
    }
  }

  /// Batched GEMM. Many small products (attention heads) run one per thread, each GEMM on a
  /// single thread: threading every small GEMM separately costs more in synchronisation than
  /// it gains. Large products use the threaded GEMM one after another.
  template <class T>
  static void gemm(const gemm_args<T>& g) {
    adapt_threads();  // OpenBLAS follows the thread count
    const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
    const bool distinct_outputs = g.stride_c >= g.m * g.ldc;
    if (g.batch > 1 && distinct_outputs && flops < 64e6 && num_threads() > 1) {
#pragma omp parallel for schedule(dynamic)
      for (index_t b = 0; b < g.batch; ++b) gemm_one(g, b);
      return;
    }
    for (index_t b = 0; b < g.batch; ++b) gemm_one(g, b);
  }

  /// cols (images x col_rows x col_cols) = the windows of img (images x C x H x W), zero padded.
  template <class T>
  static void im2col(const conv_geometry& g, const T* img, T* cols) {
    const index_t L = g.col_cols();
    parallel_for(g.images * g.channels, g.images * g.col_rows() * L, [&](index_t lo, index_t hi) {
      for (index_t nc = lo; nc < hi; ++nc) {
        const index_t n = nc / g.channels, c = nc % g.channels;
        const T* plane = img + nc * g.height * g.width;
        T* rows = cols + (n * g.col_rows() + c * g.kernel_h * g.kernel_w) * L;
        for (index_t i = 0; i < g.kernel_h; ++i)
          for (index_t j = 0; j < g.kernel_w; ++j) {
            T* row = rows + (i * g.kernel_w + j) * L;
            const auto [x0, x1] = valid_range(g.out_w, g.width, g.stride_w, j * g.dilation_w - g.pad_w);
            for (index_t oy = 0; oy < g.out_h; ++oy) {
              T* dst = row + oy * g.out_w;
              const index_t y = oy * g.stride_h - g.pad_h + i * g.dilation_h;
              if (y < 0 || y >= g.height || x0 >= x1) {
                std::fill(dst, dst + g.out_w, T(0));
                continue;
              }
              const T* src = plane + y * g.width + j * g.dilation_w - g.pad_w;
              std::fill(dst, dst + x0, T(0));
              if (g.stride_w == 1)
                std::memcpy(dst + x0, src + x0, static_cast<std::size_t>(x1 - x0) * sizeof(T));
              else
                for (index_t ox = x0; ox < x1; ++ox) dst[ox] = src[ox * g.stride_w];
              std::fill(dst + x1, dst + g.out_w, T(0));
            }
          }
      }
    });
  }

  /// img = the adjoint of im2col: each column element added back to the pixel it was read from.
  template <class T>
  static void col2im(const conv_geometry& g, const T* cols, T* img) {
    const index_t L = g.col_cols();
    parallel_for(g.images * g.channels, g.images * g.col_rows() * L, [&](index_t lo, index_t hi) {
      for (index_t nc = lo; nc < hi; ++nc) {
        const index_t n = nc / g.channels, c = nc % g.channels;
        T* plane = img + nc * g.height * g.width;
        std::fill(plane, plane + g.height * g.width, T(0));
        const T* rows = cols + (n * g.col_rows() + c * g.kernel_h * g.kernel_w) * L;
        for (index_t i = 0; i < g.kernel_h; ++i)
          for (index_t j = 0; j < g.kernel_w; ++j) {
            const T* row = rows + (i * g.kernel_w + j) * L;
            const auto [x0, x1] = valid_range(g.out_w, g.width, g.stride_w, j * g.dilation_w - g.pad_w);
            if (x0 >= x1) continue;
            for (index_t oy = 0; oy < g.out_h; ++oy) {
              const index_t y = oy * g.stride_h - g.pad_h + i * g.dilation_h;
              if (y < 0 || y >= g.height) continue;
              T* __restrict dst = plane + y * g.width + j * g.dilation_w - g.pad_w;
              const T* __restrict src = row + oy * g.out_w;
              if (g.stride_w == 1)
                for (index_t ox = x0; ox < x1; ++ox) dst[ox] += src[ox];
              else
                for (index_t ox = x0; ox < x1; ++ox) dst[ox * g.stride_w] += src[ox];
            }
          }
      }
    });
  }

  /// f(i) for every i in [0, n), split across threads for large n. f is a BIJGAN_HD functor
  /// holding raw pointers (fused multi-output updates such as an optimizer step).
  /// A functor may also offer run(lo, hi), a loop over a range written so the compiler can
  /// vectorise it (restrict-qualified pointers); the host calls that instead.
  template <class F>
  static void for_each(index_t n, F f) {
    parallel_for(n, 4 * n, [&](index_t lo, index_t hi) {
      if constexpr (requires { f.run(lo, hi); }) {
        f.run(lo, hi);
      } else {
        for (index_t i = lo; i < hi; ++i) f(i);
      }
    });
  }

  /// out row i = src row idx[i] (rows of `row` elements).
  template <class T>
  static void gather_rows(const T* src, const index_t* idx, index_t n, index_t row, T* out) {
    parallel_for(n, n * row, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i)
        std::memcpy(out + i * row, src + idx[i] * row, static_cast<std::size_t>(row) * sizeof(T));
    });
  }
  /// out row idx[i] += src row i; repeated indices accumulate in index order (deterministic:
  /// threads split the columns, never the rows).
  template <class T>
  static void scatter_add_rows(const T* src, const index_t* idx, index_t n, index_t row, T* out) {
    parallel_for(row, n * row, [&](index_t lo, index_t hi) {
      for (index_t i = 0; i < n; ++i) {
        T* __restrict d = out + idx[i] * row;
        const T* __restrict s = src + i * row;
        for (index_t j = lo; j < hi; ++j) d[j] += s[j];
      }
    });
  }

  /// Floats go to oneDNN's JIT kernels (BIJGAN_HAVE_DNNL) for the geometries it accepts
  /// (backend/host/dnnl_conv.hpp); doubles and the rest return false and take im2col + GEMM.
  template <class T>
  static bool convolution([[maybe_unused]] conv_pass pass, [[maybe_unused]] const conv_geometry& g,
                          [[maybe_unused]] index_t groups, [[maybe_unused]] index_t out_channels,
                          [[maybe_unused]] const T* in0, [[maybe_unused]] const T* in1, [[maybe_unused]] T* out) {
#if defined(BIJGAN_HAVE_DNNL) && !defined(__CUDACC__)
    if constexpr (std::is_same_v<T, float>) return host_dnnl::convolution(pass, g, groups, out_channels, in0, in1, out);
#endif
    return false;
  }

  template <class T>
  static void random(const philox_draw<T>& draw, index_t n, T* out) {
    parallel_for(n, 8 * n, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) out[i] = draw(static_cast<std::uint64_t>(i));
    });
  }

  template <class T>
  static void to_host(const T* src, T* dst, std::size_t n) {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }
  template <class T>
  static void from_host(const T* src, T* dst, std::size_t n) {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }

 private:
  /// Output positions [x0, x1) of a window row whose input index ox*stride + offset lies in
  /// [0, width).
  static std::pair<index_t, index_t> valid_range(index_t out, index_t width, index_t stride, index_t offset) {
    index_t x0 = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    index_t x1 = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride;
    x0 = std::min(x0, out);
    x1 = std::min(x1, out);
    return {x0, std::max(x0, x1)};
  }

  template <class F, class T, class... P>
  static void flat_loop(F f, index_t lo, index_t hi, T* __restrict out, const P* __restrict... in) {
    for (index_t i = lo; i < hi; ++i) out[i] = f(in[i]...);
  }

  /// Calls f(axis, index) for each axis of the multi-index of flat position o over the first
  /// `axes` axes of s (the odometer of the strided loops).
  template <class F>
  static void unravel(const shape& s, std::size_t axes, index_t o, F f) {
    for (std::size_t ax = axes; ax-- > 0;) {
      f(ax, o % s[ax]);
      o /= s[ax];
    }
  }

  static bool same_strides(const std::array<index_t, shape::max_rank>& a, const std::array<index_t, shape::max_rank>& b,
                           std::size_t r) {
    for (std::size_t i = 0; i < r; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  template <class F, class T, std::size_t... I, class... In>
  static void inner_loop(F f, index_t n, T* out, std::size_t last, const std::array<index_t, sizeof...(In)>& off,
                         std::index_sequence<I...> seq, In... in) {
    const std::array<index_t, sizeof...(In)> st{in.strides[last]...};
    // Inner strides of 0 (broadcast) or 1 (contiguous) become compile-time constants so the
    // loop vectorises; anything else takes the general strided loop.
    unsigned mask = 0;
    bool unit = true;
    for (std::size_t i = 0; i < st.size(); ++i) {
      unit = unit && (st[i] == 0 || st[i] == 1);
      mask |= (st[i] == 1 ? 1u : 0u) << i;
    }
    if (unit && sizeof...(In) <= 3) {
      dispatch_mask<0>(mask, f, n, out, off, seq, in...);
      return;
    }
    for (index_t j = 0; j < n; ++j) out[j] = f(in.data[off[I] + j * st[I]]...);
  }

  template <unsigned M, class F, class T, std::size_t... I, class... In>
  static void dispatch_mask(unsigned mask, F f, index_t n, T* out, const std::array<index_t, sizeof...(In)>& off,
                            std::index_sequence<I...> seq, In... in) {
    if constexpr (M < (1u << sizeof...(In))) {
      if (mask != M) return dispatch_mask<M + 1>(mask, f, n, out, off, seq, in...);
      const T* base[] = {(in.data + off[I])...};
      T* __restrict o = out;
      for (index_t j = 0; j < n; ++j) o[j] = f(base[I][((M >> I) & 1u) ? j : 0]...);
    }
  }

  /// One reduction: `combine` is the binary op, `whole` reduces a contiguous Eigen array
  /// (vectorised, several accumulators), `init` is the identity.
  template <class T, class Combine, class Whole>
  static void reduce_with(const T* in, T* out, index_t outer, index_t n, index_t inner, T init, Combine combine,
                          Whole whole) {
    using vec = Eigen::Array<T, Eigen::Dynamic, 1>;
    if (n == 0) {
      fill(out, outer * inner, init);
      return;
    }
    if (inner == 1) {
      if (outer >= 2 * num_threads() || n <= parallel_grain) {
        parallel_for(outer, outer * n, [&](index_t lo, index_t hi) {
          for (index_t o = lo; o < hi; ++o) out[o] = whole(Eigen::Map<const vec>(in + o * n, n));
        });
        return;
      }
      // Few long rows: split each row across threads and combine the partial results.
      for (index_t o = 0; o < outer; ++o) {
        const index_t chunk = 1 << 16, chunks = (n + chunk - 1) / chunk;
        std::vector<T> part(static_cast<std::size_t>(chunks));
#pragma omp parallel for
        for (index_t c = 0; c < chunks; ++c) {
          const index_t lo = c * chunk;
          part[static_cast<std::size_t>(c)] = whole(Eigen::Map<const vec>(in + o * n + lo, std::min(chunk, n - lo)));
        }
        T acc = init;
        for (T p : part) acc = combine(acc, p);
        out[o] = acc;
      }
      return;
    }
    // Reduce over the middle axis: rows of `inner` contiguous values combined elementwise, so
    // the inner loop vectorises; threads split the (outer, inner-block) pairs.
    const index_t block = std::min<index_t>(inner, 4096), blocks = (inner + block - 1) / block;
    parallel_for(outer * blocks, outer * n * inner, [&](index_t first, index_t last) {
      for (index_t ob = first; ob < last; ++ob) {
        const index_t o = ob / blocks, lo = (ob % blocks) * block, len = std::min(block, inner - lo);
        T* acc = out + o * inner + lo;
        const T* src = in + o * n * inner + lo;
        for (index_t j = 0; j < len; ++j) acc[j] = src[j];
        for (index_t k = 1; k < n; ++k) {
          const T* row = src + k * inner;
#pragma omp simd
          for (index_t j = 0; j < len; ++j) acc[j] = combine(acc[j], row[j]);
        }
      }
    });
  }

  template <class T>
  static void gemm_one(const gemm_args<T>& g, index_t bi) {
    using rm = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using cmap = Eigen::Map<const rm, 0, Eigen::OuterStride<>>;
    using omap = Eigen::Map<rm, 0, Eigen::OuterStride<>>;
    const index_t ar = g.trans_a ? g.k : g.m, ac = g.trans_a ? g.m : g.k;
    const index_t br = g.trans_b ? g.n : g.k, bc = g.trans_b ? g.k : g.n;
    cmap a(g.a + bi * g.stride_a, ar, ac, Eigen::OuterStride<>(g.lda));
    cmap b(g.b + bi * g.stride_b, br, bc, Eigen::OuterStride<>(g.ldb));
    omap c(g.c + bi * g.stride_c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
    if (g.k == 0) {
      if (g.beta == T(0))
        c.setZero();
      else
        c *= g.beta;
      return;
    }
    auto run = [&](const auto& opa, const auto& opb) {
      if (g.beta == T(0)) {
        c.noalias() = g.alpha * opa * opb;
      } else {
        if (g.beta != T(1)) c *= g.beta;
        c.noalias() += g.alpha * opa * opb;
      }
    };
    if (!g.trans_a && !g.trans_b)
      run(a, b);
    else if (g.trans_a && !g.trans_b)
      run(a.transpose(), b);
    else if (!g.trans_a && g.trans_b)
      run(a, b.transpose());
    else
      run(a.transpose(), b.transpose());
  }
};

static_assert(backend<host, float> && backend<host, double>);

}  // namespace bijgan
