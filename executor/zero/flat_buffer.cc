#include "executor/zero/flat_buffer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <stdexcept>

namespace zeroplan::executor::zero {

namespace {

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

FlatBuffer::FlatBuffer(FlatLayout layout, std::vector<std::vector<int64_t>> shapes, const at::TensorOptions& options)
    : layout_(std::move(layout)), shapes_(std::move(shapes)) {
  if (shapes_.size() != layout_.slots().size()) {
    throw std::invalid_argument(fmt::format("FlatBuffer: {} shapes for {} parameters", shapes_.size(),
                                            layout_.slots().size()));
  }
  for (size_t i = 0; i < shapes_.size(); ++i) {
    if (shape_numel(shapes_[i]) != layout_.slots()[i].numel) {
      throw std::invalid_argument(fmt::format("FlatBuffer: shape of {} has {} elements, layout says {}",
                                              layout_.slots()[i].name, shape_numel(shapes_[i]),
                                              layout_.slots()[i].numel));
    }
  }
  // Zero-filled: the padding must be zero so reductions over whole partitions stay exact.
  flat_ = at::zeros({layout_.total_numel()}, options);
}

FlatBuffer FlatBuffer::from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& params, int world_size,
                                    int64_t alignment, const at::TensorOptions& options) {
  std::vector<std::pair<std::string, int64_t>> sizes;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : params) {
    sizes.emplace_back(name, t.numel());
    shapes.emplace_back(t.sizes().vec());
    tensors.push_back(t);
  }
  FlatBuffer buffer(FlatLayout(sizes, world_size, alignment), std::move(shapes), options);
  buffer.copy_from(tensors);
  return buffer;
}

FlatBuffer FlatBuffer::zeros_like(const at::TensorOptions& options) const { return FlatBuffer(layout_, shapes_, options); }

at::Tensor FlatBuffer::view(size_t index) const {
  const FlatParamSlot& slot = layout_.slots().at(index);
  return flat_.narrow(0, slot.offset, slot.numel).view(shapes_[index]);
}

at::Tensor FlatBuffer::partition(int rank) const {
  return flat_.narrow(0, layout_.partition_begin(rank), layout_.partition_numel());
}

at::Tensor FlatBuffer::range(int64_t begin, int64_t end) const {
  if (begin < 0 || end > layout_.total_numel() || begin > end) {
    throw std::invalid_argument(fmt::format("FlatBuffer: range [{}, {}) outside [0, {})", begin, end,
                                            layout_.total_numel()));
  }
  return flat_.narrow(0, begin, end - begin);
}

void FlatBuffer::copy_from(const std::vector<at::Tensor>& tensors) {
  if (tensors.size() != layout_.slots().size()) {
    throw std::invalid_argument(fmt::format("FlatBuffer: {} tensors for {} parameters", tensors.size(),
                                            layout_.slots().size()));
  }
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].numel() != layout_.slots()[i].numel) {
      throw std::invalid_argument(fmt::format("FlatBuffer: {} has {} elements, layout says {}",
                                              layout_.slots()[i].name, tensors[i].numel(),
                                              layout_.slots()[i].numel));
    }
    view(i).copy_(tensors[i].reshape(shapes_[i]));
  }
}

void FlatBuffer::bind(std::vector<at::Tensor>& tensors) {
  copy_from(tensors);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].sizes().vec() != shapes_[i]) {
      throw std::invalid_argument(fmt::format("FlatBuffer: {} is bound with a different shape", layout_.slots()[i].name));
    }
    tensors[i].set_data(view(i));
  }
}

}  // namespace zeroplan::executor::zero
