// The backend concept: a backend is a type (host, cuda_device) that supplies a buffer type and a fixed
// set of primitive kernels. Every op of the library is written against this set, so a backend
// that lacks a kernel fails to compile at the op that needs it, never falls back silently.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "bijgan/backend/conv_geometry.hpp"
#include "bijgan/backend/functors.hpp"
#include "bijgan/backend/kernel_args.hpp"
#include "bijgan/backend/philox.hpp"

namespace bijgan {

/// Requirements on a backend B, checked for element type T.
///   B::name                         a printable name ("host", "cuda")
///   B::buffer<T>                    owning storage: buffer(n), data(), size()
///   B::fill(p, n, v)                p[0..n) = v
///   B::map(f, n, out, in)           out[i] = f(in[i]), contiguous
///   B::transform(f, shape, out, in...)   out = f(in...) with strided (broadcast) inputs
///   B::copy_strided(shape, in, out_ptr, out_strides)   strided gather/scatter copy
///   B::reduce(kind, in, out, outer, n, inner)          reduce the middle axis
///   B::gemm(gemm_args)              batched row-major GEMM with transposes
///   B::im2col(geometry, img, cols) / B::col2im(geometry, cols, img)   windows to columns and back
///   B::gather_rows(src, idx, n, row, out) / B::scatter_add_rows(src, idx, n, row, out)
///                                   row gathers (index_select) and their adjoint
///   B::convolution(pass, geometry, groups, out_channels, in0, in1, out) -> bool
///                                   one pass of a grouped NCHW convolution (forward, input or
///                                   weight gradient) on the backend's own direct kernel; false
///                                   when it has none for this case, and ops/conv.hpp then runs
///                                   im2col + GEMM on the kernels above
///   B::for_each(n, f)               f(i) for i in [0, n): fused elementwise updates (optimizers)
///   B::random(draw, n, out)         out[i] = draw(i) for a philox_draw
///   B::to_host(src, dst, n) / B::from_host(src, dst, n)   copies to and from host memory
template <class B, class T = float>
concept backend = requires(T* p, const T* cp, std::size_t n, index_t ni, const shape& s, strided_in<T> in,
                           gemm_args<T> g, philox_draw<T> d, std::array<index_t, shape::max_rank> strides,
                           const conv_geometry& geo) {
  { B::name } -> std::convertible_to<const char*>;
  typename B::template buffer<T>;
  requires requires(typename B::template buffer<T> b) {
    { b.data() } -> std::same_as<T*>;
    { b.size() } -> std::convertible_to<std::size_t>;
  };
  B::fill(p, ni, T{});
  B::map(fn::exp{}, ni, p, cp);
  B::transform(fn::add{}, s, p, in, in);
  B::copy_strided(s, in, p, strides);
  B::reduce(reduce_kind::sum, cp, p, ni, ni, ni);
  B::gemm(g);
  B::im2col(geo, cp, p);
  B::col2im(geo, cp, p);
  B::gather_rows(cp, static_cast<const index_t*>(nullptr), ni, ni, p);
  B::scatter_add_rows(cp, static_cast<const index_t*>(nullptr), ni, ni, p);
  { B::convolution(conv_pass::forward, geo, ni, ni, cp, cp, p) } -> std::same_as<bool>;
  B::for_each(ni, fn::identity{});
  B::random(d, ni, p);
  B::to_host(cp, p, n);
  B::from_host(cp, p, n);
};

/// A type that models `backend` with the least it can: for checking generic code against the
/// concept without any real backend (kernels are declared, never defined).
struct archetype_backend {
  static constexpr const char* name = "archetype";
  template <class T>
  struct buffer {
    explicit buffer(std::size_t n);
    T* data();
    std::size_t size() const;
  };
  template <class T>
  static void fill(T*, index_t, T);
  template <class F, class T>
  static void map(F, index_t, T*, const T*);
  template <class F, class T, class... In>
  static void transform(F, const shape&, T*, In...);
  template <class T>
  static void copy_strided(const shape&, strided_in<T>, T*, std::array<index_t, shape::max_rank>);
  template <class T>
  static void reduce(reduce_kind, const T*, T*, index_t, index_t, index_t);
  template <class T>
  static void gemm(const gemm_args<T>&);
  template <class T>
  static void im2col(const conv_geometry&, const T*, T*);
  template <class T>
  static void col2im(const conv_geometry&, const T*, T*);
  template <class T>
  static void gather_rows(const T*, const index_t*, index_t, index_t, T*);
  template <class T>
  static void scatter_add_rows(const T*, const index_t*, index_t, index_t, T*);
  template <class T>
  static bool convolution(conv_pass, const conv_geometry&, index_t, index_t, const T*, const T*, T*);
  template <class F>
  static void for_each(index_t, F);
  template <class T>
  static void random(const philox_draw<T>&, index_t, T*);
  template <class T>
  static void to_host(const T*, T*, std::size_t);
  template <class T>
  static void from_host(const T*, T*, std::size_t);
};
static_assert(backend<archetype_backend, float>);

}  // namespace bijgan
