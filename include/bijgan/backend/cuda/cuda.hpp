// The CUDA backend: device buffers from the caching allocator, elementwise ops and reductions
// with Thrust on the context's stream, batched GEMM with cuBLAS, and the same Philox stream as
// the host. nvcc only (error.hpp says so otherwise).
#pragma once

#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>
#include <thrust/system_error.h>
#include <thrust/transform.h>

#include <limits>
#include <utility>

#include "bijgan/backend/concept.hpp"
#include "bijgan/backend/cuda/allocator.hpp"
#include "bijgan/backend/cuda/context.hpp"

namespace bijgan {

namespace cuda_detail {

/// Extents and one operand's strides in a form device code can index.
struct dims {
  index_t ext[shape::max_rank];
  int rank;
};
inline dims make_dims(const shape& s) {
  dims d{};
  d.rank = static_cast<int>(s.rank());
  for (std::size_t i = 0; i < s.rank(); ++i) d.ext[i] = s[i];
  return d;
}
template <class T>
struct dev_operand {
  const T* data;
  index_t strides[shape::max_rank];
};
template <class T>
dev_operand<T> make_operand(const strided_in<T>& in) {
  dev_operand<T> o{in.data, {}};
  for (std::size_t i = 0; i < shape::max_rank; ++i) o.strides[i] = in.strides[i];
  return o;
}

/// out[i] = f(in_j[offset_j(i)]...) for a contiguous out of extents d.
template <class F, class T, int N>
struct strided_apply {
  F f;
  dims d;
  T* out;
  dev_operand<T> in[N > 0 ? N : 1];

  template <std::size_t... I>
  __device__ T eval(const index_t* off, std::index_sequence<I...>) const {
    return f(in[I].data[off[I]]...);
  }
  __device__ void operator()(index_t i) const {
    index_t off[N > 0 ? N : 1] = {};
    index_t rem = i;
    for (int ax = d.rank - 1; ax >= 0; --ax) {
      const index_t idx = rem % d.ext[ax];
      rem /= d.ext[ax];
      for (int j = 0; j < N; ++j) off[j] += idx * in[j].strides[ax];
    }
    out[i] = eval(off, std::make_index_sequence<N>{});
  }
};

template <class T>
struct strided_copy {
  dims d;
  dev_operand<T> in;
  index_t out_strides[shape::max_rank];
  T* out;
  __device__ void operator()(index_t i) const {
    index_t rem = i, oi = 0, oo = 0;
    for (int ax = d.rank - 1; ax >= 0; --ax) {
      const index_t idx = rem % d.ext[ax];
      rem /= d.ext[ax];
      oi += idx * in.strides[ax];
      oo += idx * out_strides[ax];
    }
    out[oo] = in.data[oi];
  }
};

/// out[o, i] = reduce_k in[o, k, i], one thread per output element.
template <class T>
struct strided_reduce {
  reduce_kind kind;
  const T* in;
  T* out;
  index_t n, inner;
  __device__ void operator()(index_t idx) const {
    const index_t o = idx / inner, i = idx % inner;
    const T* p = in + o * n * inner + i;
    T acc = kind == reduce_kind::sum
                ? T(0)
                : (kind == reduce_kind::max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity());
    for (index_t k = 0; k < n; ++k) {
      const T v = p[k * inner];
      acc = kind == reduce_kind::sum ? acc + v : (kind == reduce_kind::max ? (v > acc ? v : acc) : (v < acc ? v : acc));
    }
    out[idx] = acc;
  }
};

struct segment_of {
  index_t n;
  __host__ __device__ index_t operator()(index_t i) const { return i / n; }
};

template <class T>
struct im2col_element {
  conv_geometry g;
  const T* img;
  T* cols;
  __device__ void operator()(index_t idx) const {
    const index_t L = g.col_cols(), rows = g.col_rows();
    const index_t col = idx % L, row = (idx / L) % rows, n = idx / (L * rows);
    cols[idx] = g.read_col(img, n, row, col);
  }
};

template <class T>
struct col2im_element {
  conv_geometry g;
  const T* cols;
  T* img;
  __device__ void operator()(index_t idx) const {
    const index_t x = idx % g.width, y = (idx / g.width) % g.height, c = (idx / (g.width * g.height)) % g.channels;
    const index_t n = idx / g.image_size();
    img[idx] = g.gather_pixel(cols, n, c, y, x);
  }
};

template <class T>
struct gather_element {
  const T* src;
  const index_t* idx;
  index_t row;
  T* out;
  __device__ void operator()(index_t k) const { out[k] = src[idx[k / row] * row + k % row]; }
};

template <class T>
struct scatter_add_element {
  const T* src;
  const index_t* idx;
  index_t row;
  T* out;
  __device__ void operator()(index_t k) const { atomicAdd(out + idx[k / row] * row + k % row, src[k]); }
};

template <class T>
struct apply_draw {
  philox_draw<T> draw;
  __device__ T operator()(index_t i) const { return draw(static_cast<std::uint64_t>(i)); }
};

/// Thrust's temporary storage (reduce_by_key's scratch) from the caching allocator, so that no
/// op calls cudaMalloc in steady state, Thrust's internals included.
struct thrust_temporary {
  using value_type = char;
  char* allocate(std::ptrdiff_t n) {
    return static_cast<char*>(caching_allocator::get().allocate(static_cast<std::size_t>(n)));
  }
  void deallocate(char* p, std::size_t n) { caching_allocator::get().deallocate(p, n); }
};

/// Thrust's execution policy: the context's stream, temporaries from the caching allocator.
inline auto policy() {
  static thrust_temporary temporary;
  return thrust::cuda::par(temporary).on(context::get().stream());
}

/// Runs a Thrust call, turning its exceptions (launch failures) into backend_error naming the
/// kernel. Errors of the kernel's execution surface at the next synchronising call, which
/// BIJGAN_CUDA_CHECK reports.
template <class F>
void guarded(const char* kernel, F&& f) {
  try {
    f();
  } catch (const thrust::system_error& e) {
    fail<backend_error>("cuda", kernel, " failed: ", e.what(), " (code ", e.code().value(), ")");
  }
}

/// f(i) for i in [0, n) on the device, one thread per index.
template <class F>
void launch(const char* kernel, index_t n, const F& f) {
  if (n > 0) guarded(kernel, [&] { thrust::for_each_n(policy(), thrust::counting_iterator<index_t>(0), n, f); });
}

}  // namespace cuda_detail

/// The CUDA backend (device 0, one stream).
struct cuda_device {
  static constexpr const char* name = "cuda";

  /// Number of usable devices; 0 where there is no device or no driver (never throws).
  static int device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }
  /// Waits for all queued work on the backend's stream.
  static void synchronize() { BIJGAN_CUDA_CHECK(cudaStreamSynchronize(cuda_detail::context::get().stream())); }

  /// Device storage of n elements from the caching allocator. All work runs on one stream, so
  /// a block handed out again is only touched by kernels queued after every kernel that used
  /// it before: freeing needs no synchronisation.
  template <class T>
  using buffer = detail::cached_buffer<T, cuda_detail::caching_allocator>;

  template <class T>
  static void fill(T* p, index_t n, T v) {
    if (n > 0)
      cuda_detail::guarded("fill",
                           [&] { thrust::fill_n(cuda_detail::policy(), thrust::device_pointer_cast(p), n, v); });
  }

  template <class F, class T>
  static void map(F f, index_t n, T* out, const T* in) {
    if (n > 0)
      cuda_detail::guarded("map", [&] {
        thrust::transform(cuda_detail::policy(), thrust::device_pointer_cast(in), thrust::device_pointer_cast(in + n),
                          thrust::device_pointer_cast(out), f);
      });
  }

  template <class F, class T, class... In>
  static void transform(F f, const shape& s, T* out, In... in) {
    const index_t total = s.numel();
    cuda_detail::strided_apply<F, T, static_cast<int>(sizeof...(In))> k{
        f, cuda_detail::make_dims(s), out, {cuda_detail::make_operand(in)...}};
    cuda_detail::launch("transform", total, k);
  }

  template <class T>
  static void copy_strided(const shape& s, strided_in<T> in, T* out, std::array<index_t, shape::max_rank> out_strides) {
    const index_t total = s.numel();
    cuda_detail::strided_copy<T> k{cuda_detail::make_dims(s), cuda_detail::make_operand(in), {}, out};
    for (std::size_t i = 0; i < shape::max_rank; ++i) k.out_strides[i] = out_strides[i];
    cuda_detail::launch("copy_strided", total, k);
  }

  template <class T>
  static void reduce(reduce_kind kind, const T* in, T* out, index_t outer, index_t n, index_t inner) {
    if (outer * inner == 0) return;
    if (inner == 1 && n > 0 && outer < n) {
      // Few long rows: a segmented reduction over all threads.
      auto keys = thrust::make_transform_iterator(thrust::counting_iterator<index_t>(0), cuda_detail::segment_of{n});
      const auto segmented = [&](auto combine) {
        cuda_detail::guarded("reduce (segmented)", [&] {
          thrust::reduce_by_key(cuda_detail::policy(), keys, keys + outer * n, thrust::device_pointer_cast(in),
                                thrust::make_discard_iterator(), thrust::device_pointer_cast(out),
                                thrust::equal_to<index_t>(), combine);
        });
      };
      switch (kind) {
        case reduce_kind::sum:
          segmented(thrust::plus<T>());
          break;
        case reduce_kind::max:
          segmented(thrust::maximum<T>());
          break;
        case reduce_kind::min:
          segmented(thrust::minimum<T>());
          break;
      }
      return;
    }
    cuda_detail::launch("reduce", outer * inner, cuda_detail::strided_reduce<T>{kind, in, out, n, inner});
  }

  /// Row-major C = op(A) op(B) computed as the column-major C^T = op(B)^T op(A)^T.
  template <class T>
  static void gemm(const gemm_args<T>& g) {
    auto h = cuda_detail::context::get().blas();
    const auto ta = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const auto tb = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int m = static_cast<int>(g.n), n = static_cast<int>(g.m), k = static_cast<int>(g.k);
    if (g.k == 0) {
      // cuBLAS needs k >= 1: C = beta * C.
      const shape s{g.batch, g.m, g.n};
      if (g.beta == T(0))
        fill(g.c, s.numel(), T(0));
      else
        map(fn::mul_scalar<T>{g.beta}, s.numel(), g.c, g.c);
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      BIJGAN_CUDA_CHECK(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &g.alpha, g.b, static_cast<int>(g.ldb),
                                                  g.stride_b, g.a, static_cast<int>(g.lda), g.stride_a, &g.beta, g.c,
                                                  static_cast<int>(g.ldc), g.stride_c, static_cast<int>(g.batch)));
    } else {
      BIJGAN_CUDA_CHECK(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &g.alpha, g.b, static_cast<int>(g.ldb),
                                                  g.stride_b, g.a, static_cast<int>(g.lda), g.stride_a, &g.beta, g.c,
                                                  static_cast<int>(g.ldc), g.stride_c, static_cast<int>(g.batch)));
    }
  }

  template <class T>
  static void im2col(const conv_geometry& g, const T* img, T* cols) {
    const index_t total = g.images * g.col_rows() * g.col_cols();
    cuda_detail::launch("im2col", total, cuda_detail::im2col_element<T>{g, img, cols});
  }
  /// Gather form (one thread per pixel, no atomics): deterministic.
  template <class T>
  static void col2im(const conv_geometry& g, const T* cols, T* img) {
    const index_t total = g.images * g.image_size();
    cuda_detail::launch("col2im", total, cuda_detail::col2im_element<T>{g, cols, img});
  }

  /// No direct convolution kernel yet (cuDNN would be one): every pass runs the im2col / col2im
  /// kernels above and cuBLAS.
  template <class T>
  static bool convolution(conv_pass, const conv_geometry&, index_t, index_t, const T*, const T*, T*) {
    return false;
  }

  template <class F>
  static void for_each(index_t n, F f) {
    cuda_detail::launch("for_each", n, f);
  }

  template <class T>
  static void gather_rows(const T* src, const index_t* idx, index_t n, index_t row, T* out) {
    cuda_detail::launch("gather_rows", n * row, cuda_detail::gather_element<T>{src, idx, row, out});
  }
  /// Atomic adds: repeated indices accumulate in an unspecified order (float sums may differ
  /// from the host's in the last bits).
  template <class T>
  static void scatter_add_rows(const T* src, const index_t* idx, index_t n, index_t row, T* out) {
    cuda_detail::launch("scatter_add_rows", n * row, cuda_detail::scatter_add_element<T>{src, idx, row, out});
  }

  template <class T>
  static void random(const philox_draw<T>& draw, index_t n, T* out) {
    if (n > 0)
      cuda_detail::guarded("random", [&] {
        thrust::transform(cuda_detail::policy(), thrust::counting_iterator<index_t>(0),
                          thrust::counting_iterator<index_t>(n), thrust::device_pointer_cast(out),
                          cuda_detail::apply_draw<T>{draw});
      });
  }

  template <class T>
  static void to_host(const T* src, T* dst, std::size_t n) {
    copy_sync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost);
  }
  template <class T>
  static void from_host(const T* src, T* dst, std::size_t n) {
    copy_sync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice);
  }

 private:
  /// A copy on the backend's stream, waited for (host memory is then safe to read or free).
  static void copy_sync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return;
    auto s = cuda_detail::context::get().stream();
    BIJGAN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    BIJGAN_CUDA_CHECK(cudaStreamSynchronize(s));
  }
};

static_assert(backend<cuda_device, float> && backend<cuda_device, double>);

}  // namespace bijgan
