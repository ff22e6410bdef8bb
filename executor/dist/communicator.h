#pragma once
// The communicator seam (style.md #5): every collective the ZeRO engine issues goes through this
// interface, implemented by c10d Gloo (CPU, gloo_communicator.h), c10d NCCL (GPU,
// nccl_communicator.h) and an in-process fake that simulates N ranks with threads
// (fake_communicator.h) for unit tests.
//
// Rules every implementation keeps:
//  - Collectives are matched by issue order: every rank issues the same collectives in the same
//    order (as with c10d). The fake checks this and names the mismatch.
//  - Tensors are contiguous and flat-indexed (any shape; numel is what counts), all on the
//    communicator's device, with the same dtype on every rank.
//  - *_async returns a CommWork; the tensors must stay alive and untouched until wait() returns.
//  - A collective that cannot finish (peer died, peer never arrived within timeout()) throws
//    CommError from wait() (or from the blocking form). Never a hang.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace zeroplan::executor::dist {

enum class ReduceOp { kSum, kMax };

// A collective failed: timeout, a peer that died or a backend error. The message names the
// collective and, where known, the peer.
class CommError : public std::runtime_error {
 public:
  explicit CommError(const std::string& message) : std::runtime_error(message) {}
};

// An in-flight collective.
class CommWork {
 public:
  virtual ~CommWork() = default;
  // Blocks until the collective is complete and its outputs may be read. Throws CommError.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend_name() const = 0;          // "gloo", "nccl", "fake"
  virtual std::chrono::milliseconds timeout() const = 0;  // per collective

  // tensor <- op over ranks of tensor (in place).
  virtual std::unique_ptr<CommWork> all_reduce_async(at::Tensor& tensor, ReduceOp op) = 0;
  // input.numel() == world * output.numel() == world * n;
  // output <- op over ranks r' of input[rank*n : (rank+1)*n] of rank r'. input is not modified.
  virtual std::unique_ptr<CommWork> reduce_scatter_async(at::Tensor& output, const at::Tensor& input,
                                                         ReduceOp op) = 0;
  // output.numel() == world * input.numel() == world * n; output[r*n : (r+1)*n] <- input of rank r.
  virtual std::unique_ptr<CommWork> all_gather_async(at::Tensor& output, const at::Tensor& input) = 0;
  // tensor <- tensor of rank `root` (in place).
  virtual std::unique_ptr<CommWork> broadcast_async(at::Tensor& tensor, int root) = 0;
  // input.numel() == output.numel() == world * n; output[r*n : (r+1)*n] <- input[rank*n : (rank+1)*n]
  // of rank r.
  virtual std::unique_ptr<CommWork> all_to_all_async(at::Tensor& output, const at::Tensor& input) = 0;
  // Returns when every rank has called barrier(); throws CommError after timeout().
  virtual void barrier() = 0;

  // Blocking forms.
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) { all_reduce_async(tensor, op)->wait(); }
  void reduce_scatter(at::Tensor& output, const at::Tensor& input, ReduceOp op = ReduceOp::kSum) {
    reduce_scatter_async(output, input, op)->wait();
  }
  void all_gather(at::Tensor& output, const at::Tensor& input) { all_gather_async(output, input)->wait(); }
  void broadcast(at::Tensor& tensor, int root) { broadcast_async(tensor, root)->wait(); }
  void all_to_all(at::Tensor& output, const at::Tensor& input) { all_to_all_async(output, input)->wait(); }
};

// A CommWork that is already complete (for backends that run a collective synchronously).
class CompletedWork final : public CommWork {
 public:
  void wait() override {}
};

const char* reduce_op_name(ReduceOp op);

// Argument checks shared by the implementations. A wrong shape or dtype is a bug in the caller:
// they throw std::invalid_argument naming the collective.
void check_collective_tensor(const at::Tensor& tensor, const char* collective, const char* which);
void check_same_dtype(const at::Tensor& a, const at::Tensor& b, const char* collective);
void check_world_multiple(const at::Tensor& big, const at::Tensor& small, int world_size,
                          const char* collective);
// broadcast: a collective tensor and a root in [0, world_size).
void check_broadcast(const at::Tensor& tensor, int root, int world_size);
// all_to_all: collective tensors of one dtype, equal sizes, a multiple of world_size.
void check_all_to_all(const at::Tensor& output, const at::Tensor& input, int world_size);

}  // namespace zeroplan::executor::dist
