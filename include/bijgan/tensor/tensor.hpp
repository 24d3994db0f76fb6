// tensor<T, Backend>: a dense, contiguous, row-major array with shared storage. reshape and
// batch slices are views of the same storage; every other op that changes the layout copies.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "bijgan/backend/concept.hpp"
#include "bijgan/backend/host/host.hpp"
#include "bijgan/backend/shape.hpp"
#include "bijgan/config/instances.hpp"

namespace bijgan {

/// Element types a tensor may hold.
template <class T>
concept element = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <element T = float, class B = host>
requires backend<B, T>
class tensor {
 public:
  using value_type = T;
  using backend_type = B;
  using buffer_type = typename B::template buffer<T>;

  /// An undefined tensor (no storage); defined() is false. Most ops reject it.
  tensor() = default;

  /// Uninitialised storage of the given shape.
  explicit tensor(const bijgan::shape& s)
      : storage_(std::make_shared<buffer_type>(static_cast<std::size_t>(s.numel()))), shape_(s) {}

  static tensor empty(const bijgan::shape& s) { return tensor(s); }
  static tensor full(const bijgan::shape& s, T v) {
    tensor t(s);
    B::fill(t.data(), t.numel(), v);
    return t;
  }
  static tensor zeros(const bijgan::shape& s) { return full(s, T(0)); }
  static tensor ones(const bijgan::shape& s) { return full(s, T(1)); }
  /// A rank-0 tensor holding v.
  static tensor scalar(T v) { return full(bijgan::shape{}, v); }
  /// Copies host values into a new tensor of shape s; throws shape_error if the sizes differ.
  static tensor from(std::span<const T> values, const bijgan::shape& s) {
    if (static_cast<index_t>(values.size()) != s.numel())
      fail<shape_error>("tensor::from", values.size(), " values cannot fill shape ", s);
    tensor t(s);
    B::from_host(values.data(), t.data(), values.size());
    return t;
  }
  static tensor from(const std::vector<T>& values, const bijgan::shape& s) {
    return from(std::span<const T>(values), s);
  }
  /// Draws numel values from gen with distribution p.
  static tensor random(const bijgan::shape& s, rng& gen, draw_params<T> p) {
    tensor t(s);
    B::random(gen.next<T>(static_cast<std::uint64_t>(t.numel()), p), t.numel(), t.data());
    return t;
  }

  [[nodiscard]] bool defined() const noexcept { return storage_ != nullptr; }
  [[nodiscard]] const bijgan::shape& shape() const noexcept { return shape_; }
  [[nodiscard]] std::size_t rank() const noexcept { return shape_.rank(); }
  [[nodiscard]] index_t numel() const noexcept { return shape_.numel(); }
  /// Extent of axis (negative counts from the back).
  [[nodiscard]] index_t size(index_t axis) const { return shape_.at(axis); }
  /// First element (device pointer for device backends). Handles share storage, so data() of a
  /// const handle is writable, as in every array library with shared storage.
  [[nodiscard]] T* data() const noexcept { return storage_ ? storage_->data() + offset_ : nullptr; }

  /// A view with a new shape (one extent may be -1); throws shape_error on a size mismatch.
  [[nodiscard]] tensor reshape(std::span<const index_t> dims) const {
    tensor t = *this;
    t.shape_ = infer_shape(dims, numel(), "reshape");
    return t;
  }
  [[nodiscard]] tensor reshape(std::initializer_list<index_t> dims) const {
    return reshape(std::span<const index_t>(dims.begin(), dims.size()));
  }
  [[nodiscard]] tensor reshape(const bijgan::shape& s) const {
    return reshape(std::span<const index_t>(s.begin(), s.rank()));
  }
  /// View of rows [begin, end) along axis 0.
  [[nodiscard]] tensor slice_rows(index_t begin, index_t end) const {
    if (rank() == 0 || begin < 0 || end < begin || end > shape_[0])
      fail<shape_error>("tensor::slice_rows", "rows [", begin, ", ", end, ") of shape ", shape_);
    tensor t = *this;
    const index_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
    t.offset_ += begin * row;
    t.shape_[0] = end - begin;
    return t;
  }
  /// View of item i along axis 0 (rank drops by one).
  [[nodiscard]] tensor operator[](index_t i) const {
    tensor t = slice_rows(i, i + 1);
    t.shape_ = bijgan::shape(shape_.begin() + 1, shape_.end());
    return t;
  }

  /// A deep copy with its own storage.
  [[nodiscard]] tensor clone() const {
    require("tensor::clone");
    tensor t(shape_);
    B::copy_strided(bijgan::shape{numel()}, strided_in<T>{data(), {1}}, t.data(), {1});
    return t;
  }
  /// All values, copied to host memory.
  [[nodiscard]] std::vector<T> to_vector() const {
    require("tensor::to_vector");
    std::vector<T> v(static_cast<std::size_t>(numel()));
    B::to_host(data(), v.data(), v.size());
    return v;
  }
  /// The single value of a one-element tensor; throws shape_error otherwise.
  [[nodiscard]] T item() const {
    require("tensor::item");
    if (numel() != 1) fail<shape_error>("tensor::item", "needs one element, shape is ", shape_);
    T v;
    B::to_host(data(), &v, 1);
    return v;
  }
  [[nodiscard]] bool shares_storage_with(const tensor& o) const noexcept { return storage_ == o.storage_; }

 private:
  void require(const char* op) const {
    if (!defined()) fail<value_error>(op, "undefined tensor (no storage)");
  }
  std::shared_ptr<buffer_type> storage_;
  index_t offset_ = 0;
  bijgan::shape shape_;
};

/// Strided read operand covering the whole of t, read as shape `as` (broadcasting t).
template <class T, class B>
strided_in<T> read_as(const tensor<T, B>& t, const shape& as) {
  return {t.data(), broadcast_strides(t.shape(), as)};
}

/// Copies t to backend To (returns t itself when it already lives there).
template <class To, class T, class From>
tensor<T, To> to(const tensor<T, From>& t) {
  if constexpr (std::is_same_v<To, From>) {
    return t;
  } else if constexpr (std::is_same_v<From, host>) {
    tensor<T, To> out(t.shape());
    To::from_host(t.data(), out.data(), static_cast<std::size_t>(t.numel()));
    return out;
  } else if constexpr (std::is_same_v<To, host>) {
    tensor<T, host> out(t.shape());
    From::to_host(t.data(), out.data(), static_cast<std::size_t>(t.numel()));
    return out;
  } else {
    return to<To>(to<host>(t));
  }
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_TENSOR_INSTANCES(X, T, B) X class tensor<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_TENSOR_INSTANCES)

}  // namespace bijgan
