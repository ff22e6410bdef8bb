#pragma once
// A flat, padded, rank-partitioned tensor laid out by FlatLayout (flat_layout.h): one contiguous
// 1-D tensor of layout.total_numel() elements, with per-parameter views (shaped like the
// parameter) and per-rank partition views. ZeRO-1/2 keep 16-bit parameters and gradients in such
// buffers (every rank holds the whole buffer, owns one partition) and fp32 masters / Adam moments
// as partition-sized buffers.
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "executor/zero/flat_layout.h"

namespace zeroplan::executor::zero {

class FlatBuffer {
 public:
  // A zero-filled buffer for `layout`; shapes[i] is parameter i's shape (numel must match).
  FlatBuffer(FlatLayout layout, std::vector<std::vector<int64_t>> shapes, const at::TensorOptions& options);

  // Lays out `params` (in order), copies their values in (converting to options' dtype/device).
  static FlatBuffer from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& params, int world_size,
                                 int64_t alignment, const at::TensorOptions& options);
  // A zero-filled buffer with the same layout and shapes (e.g. gradients of a parameter buffer).
  FlatBuffer zeros_like(const at::TensorOptions& options) const;

  const FlatLayout& layout() const { return layout_; }
  const at::Tensor& flat() const { return flat_; }
  // Parameter i's elements, shaped like the parameter (a view: writes go to the buffer).
  at::Tensor view(size_t index) const;
  // Rank r's partition: 1-D view of partition_numel() elements.
  at::Tensor partition(int rank) const;
  // 1-D view of the flat range [begin, end).
  at::Tensor range(int64_t begin, int64_t end) const;

  // Copies tensors[i] into view(i) for every i (same count and numel as the layout).
  void copy_from(const std::vector<at::Tensor>& tensors);
  // Re-points every tensor's data at its view (tensor.set_data(view(i))) after copying its values,
  // so the model's parameters (or gradients) live inside the buffer. Shapes must match.
  void bind(std::vector<at::Tensor>& tensors);

 private:
  FlatLayout layout_;
  std::vector<std::vector<int64_t>> shapes_;
  at::Tensor flat_;
};

}  // namespace zeroplan::executor::zero
