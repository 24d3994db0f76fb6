// Host convolutions through oneDNN (Debian's libdnnl, the library libtorch's CPU convolutions
// use): forward, input gradient and weight gradient of a float NCHW convolution as JIT
// kernels instead of im2col + GEMM. Compiled in only with BIJGAN_HAVE_DNNL (CMake sets it when
// libdnnl-dev is installed) and reached through host::convolution, the backend seam's direct
// convolution kernel; ops/conv.hpp runs im2col + GEMM where that declines (doubles, geometries
// oneDNN rejects, builds without oneDNN).
//
// Each geometry gets one cached entry: the primitives (created once: JIT compilation costs
// milliseconds) and the reorders between our NCHW/OIHW buffers and the blocked layouts the
// kernels prefer, run on every call as libtorch does.
#pragma once

#if defined(BIJGAN_HAVE_DNNL) && !defined(__CUDACC__)

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "bijgan/backend/conv_geometry.hpp"
#include "bijgan/backend/host/block_cache.hpp"
#include "bijgan/backend/host/threads.hpp"
#include "bijgan/config/config.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <oneapi/dnnl/dnnl.hpp>
BIJGAN_THIRD_PARTY_END

namespace bijgan::host_dnnl {

namespace detail {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;

inline dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
inline dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

/// One argument: our plain layout, the layout the primitive wants, and the reorder between
/// them when they differ (to the primitive for inputs, back for the output).
struct arg_layout {
  dnnl::memory::desc user, want;
  std::optional<dnnl::reorder> move;
};

inline arg_layout layout(const dnnl::memory::desc& user, const dnnl::memory::desc& want, bool is_output) {
  arg_layout a{user, want, std::nullopt};
  if (user != want) {
    const auto& e = engine();
    a.move = is_output ? dnnl::reorder(dnnl::reorder::primitive_desc(e, want, e, user))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(e, user, e, want));
  }
  return a;
}

/// A convolution geometry's primitive with its three arguments (two inputs, one output).
struct entry {
  dnnl::primitive prim;
  std::array<int, 3> keys{};  // DNNL_ARG_* of in0, in1, out
  std::array<arg_layout, 3> args;
};

using key_t = std::array<index_t, 18>;

inline key_t make_key(conv_pass pass, const conv_geometry& g, index_t groups, index_t out_channels) {
  // The thread count too: oneDNN plans a primitive's work split for the threads there are when
  // it is made, so a new count (adapt_threads) gets primitives of its own.
  return {static_cast<index_t>(pass),
          g.images,
          g.channels,
          g.height,
          g.width,
          out_channels,
          groups,
          g.kernel_h,
          g.kernel_w,
          g.stride_h,
          g.stride_w,
          g.pad_h,
          g.pad_w,
          g.dilation_h,
          g.dilation_w,
          g.out_h,
          g.out_w,
          num_threads()};
}

/// Builds the entry for one pass, or nothing when oneDNN has no kernel for the geometry.
inline std::shared_ptr<const entry> build(conv_pass pass, const conv_geometry& g, index_t groups,
                                          index_t out_channels) {
  using namespace dnnl;
  const auto f32 = memory::data_type::f32;
  const dims src{g.images, g.channels, g.height, g.width}, dst{g.images, out_channels, g.out_h, g.out_w};
  const dims wei = groups == 1 ? dims{out_channels, g.channels, g.kernel_h, g.kernel_w}
                               : dims{groups, out_channels / groups, g.channels / groups, g.kernel_h, g.kernel_w};
  const auto wtag = groups == 1 ? tag::oihw : tag::goihw;
  // oneDNN wants explicit right padding with out = (in + l + r - ((k - 1)·d + 1)) / s + 1.
  const index_t pr_h = (g.out_h - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1 - g.height - g.pad_h;
  const index_t pr_w = (g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1 - g.width - g.pad_w;
  if (pr_h < 0 || pr_w < 0) return nullptr;
  const dims strides{g.stride_h, g.stride_w}, dil{g.dilation_h - 1, g.dilation_w - 1}, pl{g.pad_h, g.pad_w},
      pr{pr_h, pr_w};
  const memory::desc src_any(src, f32, tag::any), dst_any(dst, f32, tag::any), wei_any(wei, f32, tag::any);
  const memory::desc src_user(src, f32, tag::nchw), dst_user(dst, f32, tag::nchw), wei_user(wei, f32, wtag);
  try {
    auto& e = engine();
    const convolution_forward::primitive_desc fwd(
        convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src_any, wei_any, dst_any,
                                  strides, dil, pl, pr),
        e);
    auto out = std::make_shared<entry>();
    switch (pass) {
      case conv_pass::forward:
        out->prim = convolution_forward(fwd);
        out->keys = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
        out->args = {layout(src_user, fwd.src_desc(), false), layout(wei_user, fwd.weights_desc(), false),
                     layout(dst_user, fwd.dst_desc(), true)};
        break;
      case conv_pass::input_grad: {
        const convolution_backward_data::primitive_desc bwd(
            convolution_backward_data::desc(algorithm::convolution_direct, src_any, wei_any, dst_any, strides, dil, pl,
                                            pr),
            e, fwd);
        out->prim = convolution_backward_data(bwd);
        out->keys = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
        out->args = {layout(dst_user, bwd.diff_dst_desc(), false), layout(wei_user, bwd.weights_desc(), false),
                     layout(src_user, bwd.diff_src_desc(), true)};
        break;
      }
      case conv_pass::weight_grad: {
        const convolution_backward_weights::primitive_desc bwd(
            convolution_backward_weights::desc(algorithm::convolution_direct, src_any, wei_any, dst_any, strides, dil,
                                               pl, pr),
            e, fwd);
        out->prim = convolution_backward_weights(bwd);
        out->keys = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS};
        out->args = {layout(src_user, bwd.src_desc(), false), layout(dst_user, bwd.diff_dst_desc(), false),
                     layout(wei_user, bwd.diff_weights_desc(), true)};
        break;
      }
    }
    return out;
  } catch (const dnnl::error&) {
    return nullptr;  // no kernel for this geometry: the caller takes the im2col path
  }
}

/// The cached entry of a geometry (built on first use; nullptr when unsupported).
inline std::shared_ptr<const entry> lookup(conv_pass pass, const conv_geometry& g, index_t groups,
                                           index_t out_channels) {
  static std::mutex m;
  static std::map<key_t, std::shared_ptr<const entry>> cache;
  const auto key = make_key(pass, g, groups, out_channels);
  const std::lock_guard lock(m);
  const auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  return cache.emplace(key, build(pass, g, groups, out_channels)).first->second;
}

}  // namespace detail

/// Fewest channels per group, on the input and on the output side, for which oneDNN is used;
/// narrower convolutions take im2col + GEMM. The default 1 sends every float convolution to
/// oneDNN: measured at 2 threads, a 3-channel first layer (32×3×64×64) runs the same either way
/// (8.3 vs 8.1 ms forward) while the few-channel convolutions of the Fashion-MNIST flow's
/// couplings make its training step 2× faster on oneDNN (364 vs 717 ms). The environment
/// variable BIJGAN_DNNL_MIN_CHANNELS sets the starting value.
inline index_t& min_channels() {
  static index_t m = [] {
    const char* e = std::getenv("BIJGAN_DNNL_MIN_CHANNELS");
    return e != nullptr && std::atol(e) > 0 ? static_cast<index_t>(std::atol(e)) : index_t{1};
  }();
  return m;
}

/// Runs one pass of a float NCHW convolution: forward (in0 = x, in1 = w, out = y), input_grad
/// (in0 = gy, in1 = w, out = dx) or weight_grad (in0 = x, in1 = gy, out = dw, overwritten).
/// Weights are (Cout, Cin/groups, kh, kw). Returns false, touching nothing, when the geometry
/// has fewer than min_channels() channels per group or oneDNN has no kernel for it.
inline bool convolution(conv_pass pass, const conv_geometry& g, index_t groups, index_t out_channels, const float* in0,
                        const float* in1, float* out) {
  if (std::min(g.channels, out_channels) / groups < min_channels()) return false;
  const auto e = detail::lookup(pass, g, groups, out_channels);
  if (!e) return false;
  auto& eng = detail::engine();
  auto& s = detail::stream();
  std::array<dnnl::memory, 3> user{dnnl::memory(e->args[0].user, eng, const_cast<float*>(in0)),
                                   dnnl::memory(e->args[1].user, eng, const_cast<float*>(in1)),
                                   dnnl::memory(e->args[2].user, eng, out)};
  // Blocked-layout copies live in the host block cache: fresh allocations of this size would
  // come from mmap and page-fault on every call.
  std::array<dnnl::memory, 3> used = user;
  std::array<std::optional<bijgan::detail::cached_buffer<std::byte, host_block_cache>>, 3> blocks;
  for (std::size_t i = 0; i < 3; ++i)
    if (e->args[i].move) {
      blocks[i].emplace(e->args[i].want.get_size());
      used[i] = dnnl::memory(e->args[i].want, eng, blocks[i]->data());
    }
  for (std::size_t i = 0; i < 2; ++i)
    if (e->args[i].move) e->args[i].move->execute(s, user[i], used[i]);
  e->prim.execute(s, {{e->keys[0], used[0]}, {e->keys[1], used[1]}, {e->keys[2], used[2]}});
  if (e->args[2].move) e->args[2].move->execute(s, used[2], user[2]);
  s.wait();
  return true;
}

}  // namespace bijgan::host_dnnl

#endif  // BIJGAN_HAVE_DNNL && !__CUDACC__
