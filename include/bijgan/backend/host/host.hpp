// The host backend: aligned buffers, elementwise and reduction loops written to vectorise
// (OpenMP across threads for large tensors), GEMM through Eigen (which hands it to OpenBLAS when
// EIGEN_USE_BLAS is defined), and the Philox stream.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <limits>
#include <new>
#include <utility>

#include "bijgan/backend/host/threads.hpp"
#include "bijgan/concepts/backend.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
BIJGAN_THIRD_PARTY_END

namespace bijgan {

/// The CPU backend.
struct host {
  static constexpr const char* name = "host";
  /// Elements below which loops stay on one thread (thread start-up costs more than the work).
  static constexpr index_t parallel_grain = index_t{1} << 15;

  /// 64-byte aligned, uninitialised storage of n elements.
  template <class T>
  class buffer {
   public:
    explicit buffer(std::size_t n) : n_(n) {
      if (n == 0) return;
      const std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
      p_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
      if (!p_) throw std::bad_alloc();
    }
    T* data() noexcept { return p_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

   private:
    struct freer {
      void operator()(T* p) const noexcept { std::free(p); }
    };
    std::unique_ptr<T, freer> p_;
    std::size_t n_ = 0;
  };

  template <class T>
  static void fill(T* p, index_t n, T v) {
#pragma omp parallel for simd if (n > parallel_grain)
    for (index_t i = 0; i < n; ++i) p[i] = v;
  }

  template <class F, class T>
  static void map(F f, index_t n, T* out, const T* in) {
#pragma omp parallel for simd if (n > parallel_grain)
    for (index_t i = 0; i < n; ++i) out[i] = f(in[i]);
  }

  /// out (contiguous, shape s) = f(in...) where each input is read through its strides.
  template <class F, class T, class... In>
  static void transform(F f, const shape& s, T* out, In... in) {
    const index_t total = s.numel();
    if (total == 0) return;
    const auto cs = s.strides();
    const std::size_t r = s.rank();
    // Contiguous inputs: one flat loop the compiler vectorises.
    const bool flat = ((same_strides(in.strides, cs, r)) && ...);
    if (flat || r == 0) {
#pragma omp parallel for simd if (total > parallel_grain)
      for (index_t i = 0; i < total; ++i) out[i] = f(in.data[i]...);
      return;
    }
    // Otherwise: an outer odometer over all but the last axis, a strided inner loop.
    const index_t inner = s[r - 1];
    const index_t outer = total / inner;
#pragma omp parallel for if (total > parallel_grain)
    for (index_t o = 0; o < outer; ++o) {
      index_t rem = o;
      std::array<index_t, sizeof...(In)> off{};
      for (std::size_t ax = r - 1; ax-- > 0;) {
        const index_t idx = rem % s[ax];
        rem /= s[ax];
        std::size_t j = 0;
        ((off[j++] += idx * in.strides[ax]), ...);
      }
      inner_loop(f, inner, out + o * inner, r - 1, off, std::index_sequence_for<In...>{}, in...);
    }
  }

  /// out (strides out_strides) = in (strides in.strides), both indexed by shape s.
  template <class T>
  static void copy_strided(const shape& s, strided_in<T> in, T* out,
                           std::array<index_t, shape::max_rank> out_strides) {
    const index_t total = s.numel();
    if (total == 0) return;
    const std::size_t r = s.rank();
    if (r == 0) {
      out[0] = in.data[0];
      return;
    }
    const index_t inner = s[r - 1];
    const index_t outer = total / inner;
    const index_t si = in.strides[r - 1], so = out_strides[r - 1];
#pragma omp parallel for if (total > parallel_grain)
    for (index_t o = 0; o < outer; ++o) {
      index_t rem = o, oi = 0, oo = 0;
      for (std::size_t ax = r - 1; ax-- > 0;) {
        const index_t idx = rem % s[ax];
        rem /= s[ax];
        oi += idx * in.strides[ax];
        oo += idx * out_strides[ax];
      }
      const T* src = in.data + oi;
      T* dst = out + oo;
      if (si == 1 && so == 1) {
        std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(T));
      } else {
        for (index_t j = 0; j < inner; ++j) dst[j * so] = src[j * si];
      }
    }
  }

  /// out[o, i] = reduce_k in[o, k, i] over an (outer, n, inner) row-major layout.
  template <class T>
  static void reduce(reduce_kind kind, const T* in, T* out, index_t outer, index_t n, index_t inner) {
    using vec = Eigen::Array<T, Eigen::Dynamic, 1>;
    using mat = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    if (inner == 1) {
#pragma omp parallel for if (outer * n > parallel_grain && outer > 1)
      for (index_t o = 0; o < outer; ++o) {
        Eigen::Map<const vec> row(in + o * n, n);
        out[o] = n == 0 ? identity_of<T>(kind)
                        : (kind == reduce_kind::sum ? row.sum()
                                                    : (kind == reduce_kind::max ? row.maxCoeff() : row.minCoeff()));
      }
      return;
    }
#pragma omp parallel for if (outer * n * inner > parallel_grain && outer > 1)
    for (index_t o = 0; o < outer; ++o) {
      Eigen::Map<vec> acc(out + o * inner, inner);
      if (n == 0) {
        acc.setConstant(identity_of<T>(kind));
        continue;
      }
      Eigen::Map<const mat> block(in + o * n * inner, n, inner);
      switch (kind) {
        case reduce_kind::sum: acc = block.colwise().sum().transpose(); break;
        case reduce_kind::max: acc = block.colwise().maxCoeff().transpose(); break;
        case reduce_kind::min: acc = block.colwise().minCoeff().transpose(); break;
      }
    }
  }

  template <class T>
  static void gemm(const gemm_args<T>& g) {
    for (index_t b = 0; b < g.batch; ++b) gemm_one(g, b);
  }

  template <class T>
  static void random(const philox_draw<T>& draw, index_t n, T* out) {
#pragma omp parallel for if (n > parallel_grain / 4)
    for (index_t i = 0; i < n; ++i) out[i] = draw(static_cast<std::uint64_t>(i));
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
  static bool same_strides(const std::array<index_t, shape::max_rank>& a,
                           const std::array<index_t, shape::max_rank>& b, std::size_t r) {
    for (std::size_t i = 0; i < r; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  template <class F, class T, std::size_t... I, class... In>
  static void inner_loop(F f, index_t n, T* out, std::size_t last,
                         const std::array<index_t, sizeof...(In)>& off, std::index_sequence<I...>,
                         In... in) {
    const std::array<index_t, sizeof...(In)> st{in.strides[last]...};
    for (index_t j = 0; j < n; ++j) out[j] = f(in.data[off[I] + j * st[I]]...);
  }

  template <class T>
  static T identity_of(reduce_kind k) {
    switch (k) {
      case reduce_kind::sum: return T(0);
      case reduce_kind::max: return -std::numeric_limits<T>::infinity();
      case reduce_kind::min: return std::numeric_limits<T>::infinity();
    }
    return T(0);
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
      if (g.beta == T(0)) c.setZero(); else c *= g.beta;
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
    if (!g.trans_a && !g.trans_b) run(a, b);
    else if (g.trans_a && !g.trans_b) run(a.transpose(), b);
    else if (!g.trans_a && g.trans_b) run(a, b.transpose());
    else run(a.transpose(), b.transpose());
  }
};

static_assert(backend<host, float> && backend<host, double>);

}  // namespace bijgan
