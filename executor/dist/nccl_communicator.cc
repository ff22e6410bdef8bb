#include "executor/dist/nccl_communicator.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace zeroplan::executor::dist {

namespace {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

class NcclWork final : public CommWork {
 public:
  NcclWork(c10::intrusive_ptr<c10d::Work> work, std::chrono::milliseconds timeout, std::string what)
      : work_(std::move(work)), timeout_(timeout), what_(std::move(what)) {}
  void wait() override {
    try {
      if (!work_->wait(timeout_)) throw CommError(fmt::format("{} timed out after {} ms", what_, timeout_.count()));
    } catch (const c10::Error& e) {
      throw CommError(fmt::format("{} failed: {}", what_, first_line(e.what_without_backtrace())));
    }
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::chrono::milliseconds timeout_;
  std::string what_;
};

c10d::ReduceOp to_c10d(ReduceOp op) {
  return op == ReduceOp::kSum ? c10d::ReduceOp(c10d::ReduceOp::SUM) : c10d::ReduceOp(c10d::ReduceOp::MAX);
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world_size,
                   const NcclCommunicatorOptions& options)
      : rank_(rank), world_size_(world_size), options_(options) {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(options.device_index));
    auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
    nccl_options->timeout = options.timeout;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("zeroplan/nccl", store);
    pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world_size, nccl_options);
    pg_->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(options.device_index)));
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend_name() const override { return "nccl"; }
  std::chrono::milliseconds timeout() const override { return options_.timeout; }

  std::unique_ptr<CommWork> all_reduce_async(at::Tensor& tensor, ReduceOp op) override {
    check_collective_tensor(tensor, "all_reduce", "input");
    std::vector<at::Tensor> tensors{tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = to_c10d(op);
    opts.timeout = options_.timeout;
    return wrap(pg_->allreduce(tensors, opts), "all_reduce");
  }

  std::unique_ptr<CommWork> reduce_scatter_async(at::Tensor& output, const at::Tensor& input,
                                                 ReduceOp op) override {
    check_collective_tensor(input, "reduce_scatter", "input");
    check_collective_tensor(output, "reduce_scatter", "output");
    check_same_dtype(input, output, "reduce_scatter");
    check_world_multiple(input, output, world_size_, "reduce_scatter");
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    c10d::ReduceScatterOptions opts;
    opts.reduceOp = to_c10d(op);
    opts.timeout = options_.timeout;
    return wrap(pg_->_reduce_scatter_base(out, in, opts), "reduce_scatter");
  }

  std::unique_ptr<CommWork> all_gather_async(at::Tensor& output, const at::Tensor& input) override {
    check_collective_tensor(input, "all_gather", "input");
    check_collective_tensor(output, "all_gather", "output");
    check_same_dtype(input, output, "all_gather");
    check_world_multiple(output, input, world_size_, "all_gather");
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    c10d::AllgatherOptions opts;
    opts.timeout = options_.timeout;
    return wrap(pg_->_allgather_base(out, in, opts), "all_gather");
  }

  std::unique_ptr<CommWork> broadcast_async(at::Tensor& tensor, int root) override {
    check_broadcast(tensor, root, world_size_);
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = options_.timeout;
    return wrap(pg_->broadcast(tensors, opts), "broadcast");
  }

  std::unique_ptr<CommWork> all_to_all_async(at::Tensor& output, const at::Tensor& input) override {
    check_all_to_all(output, input, world_size_);
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    std::vector<int64_t> equal_splits;
    c10d::AllToAllOptions opts;
    opts.timeout = options_.timeout;
    return wrap(pg_->alltoall_base(out, in, equal_splits, equal_splits, opts), "all_to_all");
  }

  void barrier() override {
    c10d::BarrierOptions opts;
    opts.timeout = options_.timeout;
    opts.device_ids = {static_cast<int64_t>(options_.device_index)};
    wrap(pg_->barrier(opts), "barrier")->wait();
  }

 private:
  std::unique_ptr<CommWork> wrap(c10::intrusive_ptr<c10d::Work> work, const char* kind) {
    return std::make_unique<NcclWork>(std::move(work), options_.timeout,
                                      fmt::format("nccl {} #{} on rank {}", kind, seq_++, rank_));
  }

  int rank_;
  int world_size_;
  NcclCommunicatorOptions options_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg_;
  int64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                     int world_size, const NcclCommunicatorOptions& options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw std::invalid_argument(fmt::format("nccl: rank {} outside [0, {})", rank, world_size));
  }
  try {
    return std::make_unique<NcclCommunicator>(store, rank, world_size, options);
  } catch (const c10::Error& e) {
    throw CommError(fmt::format("nccl: rank {} of {} could not start: {}", rank, world_size,
                                first_line(e.what_without_backtrace())));
  }
}

}  // namespace zeroplan::executor::dist
