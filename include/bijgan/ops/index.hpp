// Row indexing: index_select (gather rows along axis 0 by a list of indices) and its adjoint
// index_add (scatter-add rows into a zero tensor). Indices live on the backend in an
// index_list, uploaded once and shared (relative position tables, embedding lookups).
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {

/// A list of row indices stored on backend B, with a host copy for bounds checks.
template <class B>
class index_list {
 public:
  index_list() = default;
  explicit index_list(std::vector<index_t> indices)
      : host_(std::make_shared<const std::vector<index_t>>(std::move(indices))),
        device_(std::make_shared<typename B::template buffer<index_t>>(host_->size())) {
    B::from_host(host_->data(), device_->data(), host_->size());
    if (!host_->empty()) {
      const auto [lo, hi] = std::minmax_element(host_->begin(), host_->end());
      min_ = *lo;
      max_ = *hi;
    }
  }
  [[nodiscard]] index_t size() const noexcept { return host_ ? static_cast<index_t>(host_->size()) : 0; }
  [[nodiscard]] const index_t* data() const noexcept { return device_ ? device_->data() : nullptr; }
  [[nodiscard]] std::span<const index_t> host() const {
    return host_ ? std::span<const index_t>(*host_) : std::span<const index_t>();
  }
  /// Throws shape_error unless every index is in [0, rows) (the range is known from
  /// construction: no scan per call).
  void check(index_t rows, const char* op) const {
    if (size() > 0 && (min_ < 0 || max_ >= rows))
      fail<shape_error>(op, "indices span [", min_, ", ", max_, "], outside [0, ", rows, ")");
  }

 private:
  std::shared_ptr<const std::vector<index_t>> host_;
  std::shared_ptr<typename B::template buffer<index_t>> device_;
  index_t min_ = 0, max_ = -1;
};

/// Tensor gather: out[i, ...] = x[idx[i], ...].
template <class T, class B>
tensor<T, B> index_select(const tensor<T, B>& x, const index_list<B>& idx) {
  if (x.rank() < 1) fail<shape_error>("index_select", "needs rank >= 1, got ", x.shape());
  idx.check(x.size(0), "index_select");
  shape os = x.shape();
  os[0] = idx.size();
  tensor<T, B> out(os);
  B::gather_rows(x.data(), idx.data(), idx.size(), x.size(0) ? x.numel() / x.size(0) : 0, out.data());
  return out;
}
/// Tensor scatter-add: out (rows, ...) zero, then out[idx[i], ...] += src[i, ...].
template <class T, class B>
tensor<T, B> index_add(const tensor<T, B>& src, const index_list<B>& idx, index_t rows) {
  if (src.rank() < 1 || src.size(0) != idx.size())
    fail<shape_error>("index_add", "source ", src.shape(), " needs ", idx.size(), " rows (one per index)");
  idx.check(rows, "index_add");
  shape os = src.shape();
  os[0] = rows;
  auto out = tensor<T, B>::zeros(os);
  B::scatter_add_rows(src.data(), idx.data(), idx.size(), src.size(0) ? src.numel() / src.size(0) : 0, out.data());
  return out;
}

template <class T, class B>
var<T, B> index_add(const var<T, B>& src, const index_list<B>& idx, index_t rows);

/// Rows of x picked by idx (repeats allowed): (R, ...) -> (len(idx), ...).
template <class T, class B>
var<T, B> index_select(const var<T, B>& x, const index_list<B>& idx) {
  return var<T, B>::make(
      index_select(x.value(), idx), "index_select", {x},
      [idx](const auto& out, const auto& g, auto gr) { gr[0] = index_add(g, idx, out.inputs()[0].size(0)); });
}
/// The adjoint of index_select: a (rows, ...) zero tensor with src's rows added at idx.
template <class T, class B>
var<T, B> index_add(const var<T, B>& src, const index_list<B>& idx, index_t rows) {
  return var<T, B>::make(index_add(src.value(), idx, rows), "index_add", {src},
                         [idx](const auto&, const auto& g, auto gr) { gr[0] = index_select(g, idx); });
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_INDEX_INSTANCES(X, T, B)                                         \
  X tensor<T, B> index_select(const tensor<T, B>&, const index_list<B>&);       \
  X tensor<T, B> index_add(const tensor<T, B>&, const index_list<B>&, index_t); \
  X var<T, B> index_select(const var<T, B>&, const index_list<B>&);             \
  X var<T, B> index_add(const var<T, B>&, const index_list<B>&, index_t);
BIJGAN_EXTERN_INSTANCES(BIJGAN_INDEX_INSTANCES)

}  // namespace bijgan
