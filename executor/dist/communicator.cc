#include "executor/dist/communicator.h"

#include <fmt/format.h>

namespace zeroplan::executor::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

void check_collective_tensor(const at::Tensor& tensor, const char* collective, const char* which) {
  if (!tensor.defined()) throw std::invalid_argument(fmt::format("{}: {} tensor is undefined", collective, which));
  if (!tensor.is_contiguous()) {
    throw std::invalid_argument(fmt::format("{}: {} tensor must be contiguous", collective, which));
  }
}

void check_same_dtype(const at::Tensor& a, const at::Tensor& b, const char* collective) {
  if (a.scalar_type() != b.scalar_type()) {
    throw std::invalid_argument(fmt::format("{}: input dtype {} differs from output dtype {}", collective,
                                            c10::toString(a.scalar_type()), c10::toString(b.scalar_type())));
  }
  if (a.device() != b.device()) {
    throw std::invalid_argument(fmt::format("{}: input and output are on different devices", collective));
  }
}

void check_world_multiple(const at::Tensor& big, const at::Tensor& small, int world_size,
                          const char* collective) {
  if (big.numel() != small.numel() * world_size) {
    throw std::invalid_argument(fmt::format("{}: the large tensor has {} elements, expected world ({}) x {} = {}",
                                            collective, big.numel(), world_size, small.numel(),
                                            small.numel() * world_size));
  }
}

void check_broadcast(const at::Tensor& tensor, int root, int world_size) {
  check_collective_tensor(tensor, "broadcast", "input");
  if (root < 0 || root >= world_size) {
    throw std::invalid_argument(fmt::format("broadcast: root {} outside [0, {})", root, world_size));
  }
}

void check_all_to_all(const at::Tensor& output, const at::Tensor& input, int world_size) {
  check_collective_tensor(input, "all_to_all", "input");
  check_collective_tensor(output, "all_to_all", "output");
  check_same_dtype(input, output, "all_to_all");
  if (input.numel() != output.numel() || input.numel() % world_size != 0) {
    throw std::invalid_argument(fmt::format("all_to_all: input {} and output {} elements must be equal multiples of {}",
                                            input.numel(), output.numel(), world_size));
  }
}

}  // namespace zeroplan::executor::dist
