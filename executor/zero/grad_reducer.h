#pragma once
// Bucketed gradient reduction during backward, driven by post-accumulate-grad hooks
// (torch::autograd::impl::set_post_acc_grad_hooks, one per parameter):
//   1. AccumulateGrad produces param.grad (autograd allocates it: .grad is undefined before);
//   2. the hook copies it into its bucket's slot of a contiguous bucket buffer (model dtype,
//      DeepSpeed's contiguous_gradients IPG bucket) and drops param.grad;
//   3. when every parameter of the bucket has arrived, the bucket is reduced ASYNCHRONOUSLY:
//      all_reduce (stage 0) or reduce_scatter into a slice-sized output (stages 2, 3);
//   4. the result is added into the fp32 accumulator (N elements for stage 0, this rank's partition
//      for stages 2, 3) when its buffer is needed again or at finish_micro_step().
// Buffers: `num_buffers` (1, or 2 with overlap_comm: DeepSpeed's double buffer) of
// max_padded_bucket_numel plus, for reduce_scatter, slice outputs of max_shard_numel. A bucket takes a
// free buffer; if none is free it first completes the oldest reduction in flight; if every buffer is
// still being filled (gradients arriving out of bucket order) a temporary extra buffer is allocated.
// Collectives are issued in bucket-completion order, which is the same on every rank (same graph);
// finish_micro_step() reduces buckets that did not complete (parameters without a gradient count as
// zero) in bucket order, so the sequence of collectives stays identical across ranks.
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <vector>

#include "executor/dist/communicator.h"
#include "executor/zero/bucket_layout.h"

namespace zeroplan::executor::zero {

// A reduced 16-bit bucket is added to the fp32 accumulator this many elements at a time (the
// conversion's temporary: 4 MiB). planner/executor_memory.cc kExecutorAccumulateChunk mirrors it.
inline constexpr int64_t kAccumulateChunkElems = int64_t{1} << 20;

// dst (fp32) += src, the reducer's accumulation of a reduced bucket: with a 16-bit src, in chunks of
// kAccumulateChunkElems (ATen's CPU add_ would otherwise convert the whole src to fp32 first, a temporary as
// large as the bucket). calibrate's training-step probe times this very function (grad_accumulate_s).
void accumulate_into(at::Tensor dst, const at::Tensor& src);

class GradReducer {
 public:
  enum class Mode { kAllReduce, kReduceScatter };
  // `params[k]` is the tensor of layout slot k. `accum` (fp32): total_numel (kAllReduce, indexed by
  // flat offset) or partition_numel (kReduceScatter, indexed by partition offset). All must outlive
  // the reducer. Installs the hooks; the destructor removes them.
  GradReducer(const BucketLayout& layout, std::vector<at::Tensor> params, dist::Communicator& comm, Mode mode,
              int num_buffers, at::ScalarType dtype, at::Tensor accum);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Called after each parameter's gradient was taken (stage 3 releases gathered units with it).
  void set_on_param_ready(std::function<void(size_t slot)> fn) { on_param_ready_ = std::move(fn); }

  // Zeroes the accumulator (start of an optimizer step's micro-steps).
  void begin_accumulation();
  // End of one micro-step's backward: reduce what is left, wait for everything, accumulate.
  void finish_micro_step();

  // The hook body (public for the hook object).
  void on_grad(size_t slot);
  int64_t buffer_bytes() const;  // persistent bucket buffers (not the temporary extras)
  int64_t temporary_buffers() const { return temporary_buffers_; }  // allocated so far (out-of-order arrivals)

 private:
  struct Buffer {
    at::Tensor data;   // max_padded_bucket_numel, model dtype
    at::Tensor out;    // max_shard_numel (reduce_scatter only)
    int bucket = -1;   // bucket being filled or reduced
    bool in_flight = false;
    std::unique_ptr<dist::CommWork> work;
    bool temporary = false;
  };
  struct BucketState {
    int buffer = -1;
    size_t arrived = 0;
    std::vector<bool> got;  // per parameter of the bucket
    bool launched = false;
  };

  int acquire();
  void launch(size_t bucket);
  void complete(int buffer);
  void complete_oldest();
  Buffer make_buffer(bool temporary) const;

  const BucketLayout& layout_;
  std::vector<at::Tensor> params_;
  dist::Communicator& comm_;
  Mode mode_;
  at::ScalarType dtype_;
  at::Tensor accum_;
  std::vector<Buffer> buffers_;
  std::vector<BucketState> state_;
  std::vector<int> in_flight_;  // buffer indices in launch order
  std::function<void(size_t)> on_param_ready_;
  int64_t temporary_buffers_ = 0;
};

}  // namespace zeroplan::executor::zero
