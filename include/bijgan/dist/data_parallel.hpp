// The pieces the trainers use for data parallelism (docs/distributed.md): which rows of a
// global batch a rank takes (identity groups kept whole), the module state broadcast from rank
// 0, gradients averaged over ranks in buckets, a fingerprint of a run's configuration checked
// equal on every rank, and a checkpoint's bytes read by rank 0 and sent to the others.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/dist/communicator.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/checksum.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/ops/index.hpp"
#include "bijgan/tensor/ops.hpp"

namespace bijgan::dist {

/// Positions (in [0, n)) of a global batch of n rows that `rank` of `size` takes: the batch is
/// cut into units of `unit` consecutive rows (an identity's images in an identity-balanced
/// batch) and the units are dealt round-robin, rank r taking units r, r + size, ... So every
/// identity group stays on one rank, and when `unit` divides n / (size·g) each rank's
/// minibatch-stddev groups (row i in group i mod m, StyleGAN's layout with groups of g) are
/// groups of the whole batch. Ranks get ⌈⌉ or ⌊⌋ of the units when size does not divide them.
inline std::vector<index_t> shard_positions(index_t n, int rank, int size, index_t unit = 1) {
  if (size < 1 || rank < 0 || rank >= size || unit < 1 || n < 0)
    fail<value_error>("dist::shard_positions", "rank ", rank, " of ", size, " with units of ", unit, " rows of ", n);
  std::vector<index_t> out;
  for (index_t u = rank; u * unit < n; u += size)
    for (index_t k = u * unit; k < std::min(n, (u + 1) * unit); ++k) out.push_back(k);
  return out;
}

/// The elements of v at positions.
template <class X>
std::vector<X> pick(const std::vector<X>& v, const std::vector<index_t>& positions) {
  std::vector<X> out;
  out.reserve(positions.size());
  for (index_t p : positions) out.push_back(v[static_cast<std::size_t>(p)]);
  return out;
}

/// One global batch as a rank sees it: the batch's data rows (the same on every rank), this
/// rank's positions in it (shard_positions) and the data rows there.
struct batch_share {
  std::vector<index_t> all, positions, rows;
  [[nodiscard]] index_t global() const noexcept { return static_cast<index_t>(all.size()); }
  /// The factor that makes the mean of the ranks' per-row means the whole batch's mean: this
  /// rank's rows × ranks / the batch's rows (1 for equal shares).
  [[nodiscard]] double weight(int ranks) const {
    return all.empty() ? 0.0 : double(rows.size()) * ranks / double(all.size());
  }
};
/// This rank's share of the global batch `all` (data rows), in units of `unit` rows.
inline batch_share share_of(std::vector<index_t> all, int rank, int ranks, index_t unit = 1) {
  batch_share sh;
  sh.positions = shard_positions(static_cast<index_t>(all.size()), rank, ranks, unit);
  sh.rows = ranks == 1 ? all : pick(all, sh.positions);
  sh.all = std::move(all);
  return sh;
}
/// The rows of `whole` (a draw for the whole batch: noise, ε) that belong to this rank's share.
template <class T, class B>
tensor<T, B> rows_of(const tensor<T, B>& whole, const batch_share& sh) {
  if (sh.positions.size() == sh.all.size()) return whole;  // one rank: all of it
  return index_select(whole, index_list<B>(sh.positions));
}

/// Replaces each value by its mean over ranks (logged figures of the whole batch).
inline void mean_over_ranks(const communicator_ref& c, std::span<double> values) {
  if (c.size() == 1) return;
  c.allreduce(values, reduce_op::sum);
  for (auto& v : values) v /= c.size();
}

/// Overwrites every parameter and buffer of m with root's (modules built the same way on every
/// rank: the same structure, so the same visit order and shapes).
template <nn::module M>
void broadcast_module(const communicator_ref& c, M& m, int root = 0) {
  if (c.size() == 1) return;
  nn::walk(m, std::string(), [&](const std::string&, auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    if constexpr (nn::detail::is_var<X>::value)
      broadcast(c, x.value(), root);
    else if constexpr (nn::detail::is_tensor<X>::value) {
      if (x.defined()) broadcast(c, x, root);
    }
  });
}

/// Overwrites every buffer of m (batch norm's running statistics, ...) with root's. Batch norm
/// normalises each rank's share on its own (per-rank semantics, as PyTorch's DDP without
/// SyncBatchNorm), so its running statistics drift apart; the trainers call this at the end so
/// that every rank holds the same model.
template <nn::module M>
void broadcast_buffers(const communicator_ref& c, M& m, int root = 0) {
  if (c.size() == 1) return;
  for (auto& [path, t] : nn::named_buffers(m))
    if (t->defined()) broadcast(c, *t, root);
}

/// Replaces each parameter's gradient by its mean over ranks, in buckets of about
/// bucket_bytes (one allreduce each). A parameter with a gradient on some rank but not on this
/// one counts zero here; one with a gradient on no rank keeps none (as in one process, where
/// the optimizer skips it). Call it between backward() and clipping/the optimizer step.
/// Returns the bytes reduced.
template <class T, class B>
std::size_t average_gradients(const communicator_ref& c, const std::vector<var<T, B>>& params,
                              std::size_t bucket_bytes = std::size_t{25} << 20) {
  if (c.size() == 1 || params.empty()) return 0;
  // Which parameters have a gradient anywhere (max over ranks of 0/1).
  std::vector<T> flags(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) flags[i] = params[i].grad().defined() ? T(1) : T(0);
  const auto on_ranks = tensor<T, B>::from(flags, shape{static_cast<index_t>(flags.size())});
  allreduce(c, on_ranks, reduce_op::max);
  const auto defined = on_ranks.to_vector();
  const index_t per_bucket = std::max<index_t>(1, static_cast<index_t>(bucket_bytes / sizeof(T)));
  const T scale = T(1) / static_cast<T>(c.size());
  std::size_t total = 0;
  std::size_t i = 0;
  while (i < params.size()) {
    // One bucket: parameters i..j-1 (at least one, even if larger than a bucket).
    std::size_t j = i;
    index_t n = 0;
    while (j < params.size() && (j == i || n + params[j].numel() <= per_bucket)) {
      if (defined[j] != T(0)) n += params[j].numel();
      ++j;
    }
    if (n > 0) {
      auto bucket = tensor<T, B>::zeros(shape{n});  // a parameter without a gradient here adds zeros
      index_t at = 0;
      for (std::size_t k = i; k < j; ++k) {
        if (defined[k] == T(0)) continue;
        const auto& g = params[k].grad();
        const index_t m = params[k].numel();
        if (g.defined()) B::copy_strided(shape{m}, strided_in<T>{g.data(), {1}}, bucket.data() + at, {1});
        at += m;
      }
      allreduce(c, bucket, reduce_op::sum);
      total += static_cast<std::size_t>(n) * sizeof(T);
      at = 0;
      for (std::size_t k = i; k < j; ++k) {
        if (defined[k] == T(0)) continue;
        const index_t m = params[k].numel();
        tensor<T, B> g(params[k].value().shape());
        B::copy_strided(shape{m}, strided_in<T>{bucket.data() + at, {1}}, g.data(), {1});
        params[k].set_grad(apply(fn::mul_scalar<T>{scale}, g));
        at += m;
      }
    }
    i = j;
  }
  return total;
}

/// A checksum of a run's configuration, fed piece by piece (numbers, strings, shapes, samples
/// of the data), for check_consistent.
class fingerprint {
 public:
  template <class X>
  requires std::is_arithmetic_v<X> || std::is_enum_v<X> fingerprint& add(X x) {
    h_.update(&x, sizeof x);
    return *this;
  }
  fingerprint& add(const std::string& s) {
    add(s.size());
    h_.update(s.data(), s.size());
    return *this;
  }
  fingerprint& add(const shape& s) {
    add(s.rank());
    for (std::size_t i = 0; i < s.rank(); ++i) add(s[i]);
    return *this;
  }
  template <class X>
  fingerprint& add(std::span<const X> xs) {
    add(xs.size());
    h_.update(xs.data(), xs.size_bytes());
    return *this;
  }
  /// The shape and every `stride`-th value of a host tensor (a sample: the data is large).
  template <class X>
  fingerprint& add(const tensor<X, host>& t, index_t stride = 1) {
    add(t.shape());
    for (index_t i = 0; i < t.numel(); i += std::max<index_t>(1, stride)) add(t.data()[i]);
    return *this;
  }
  /// Every parameter's path and shape of a module.
  template <nn::module M>
  fingerprint& add_module(const M& m) {
    for (const auto& [path, p] : nn::named_parameters(m)) add(path).add(p.shape());
    return *this;
  }
  /// Every parameter's and buffer's path, shape and every `stride`-th value (models that must
  /// be equal on every rank but are not broadcast: a frozen H, a student).
  template <nn::module M>
  fingerprint& add_module_values(const M& m, index_t stride = 61) {
    nn::walk(const_cast<M&>(m), std::string(), [&](const std::string& path, auto& x) {
      using X = std::remove_cvref_t<decltype(x)>;
      if constexpr (nn::detail::is_var<X>::value || nn::detail::is_tensor<X>::value) {
        const auto& t = [&]() -> const auto& {
          if constexpr (nn::detail::is_var<X>::value)
            return x.value();
          else
            return x;
        }
        ();
        add(path);
        if (!t.defined()) return;
        add(t.shape());
        const auto v = t.to_vector();
        for (std::size_t i = 0; i < v.size(); i += static_cast<std::size_t>(std::max<index_t>(1, stride))) add(v[i]);
      }
    });
    return *this;
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return h_.value(); }

 private:
  io::fnv1a h_;
};

/// The bytes of `path` on every rank: rank 0 reads the file and sends it, so only rank 0 needs
/// it (resuming on machines without a shared file system). io_error on rank 0 when it cannot
/// be read; the other ranks then fail at their next collective.
inline std::vector<unsigned char> read_on_root(const communicator_ref& c, const std::filesystem::path& path) {
  std::vector<unsigned char> bytes;
  if (c.rank() == 0) bytes = io::read_file(path);
  broadcast_bytes(c, bytes, 0);
  return bytes;
}

/// Whether `path` exists on rank 0, told to every rank.
inline bool exists_on_root(const communicator_ref& c, const std::filesystem::path& path) {
  std::vector<unsigned char> flag{static_cast<unsigned char>(c.rank() == 0 && std::filesystem::exists(path))};
  broadcast_bytes(c, flag, 0);
  return flag[0] != 0;
}

}  // namespace bijgan::dist
