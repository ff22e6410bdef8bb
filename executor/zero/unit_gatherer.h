#pragma once
// ZeRO-3 parameter materialisation per model unit (executor/model/unit_hooks.h).
//
// Every layout bucket (bucket_layout.h; in stage 3 a bucket never spans units) has a "full" tensor
// of padded_numel elements (model dtype) and the model's parameters are permanent views into these
// tensors (param.set_data(view), done once). A bucket is materialised by giving the full tensor's
// StorageImpl fresh memory and all-gathering every rank's slice (this rank's comes from the 16-bit
// partition `shard`); it is released by setting the storage's data pointer to null and its size to 0
// (FSDP1's storage resize). Because the storage object stays the same, every view of it -- the
// parameters and the tensors autograd saved for backward -- sees the re-gathered data; no saved
// tensor keeps a stale copy alive.
//
//   forward:  before_unit_forward(u) gathers u (and prefetches u+1, u+2, ... while their elements fit
//             in stage3_prefetch_bucket_elems and the live total stays within
//             stage3_max_live_parameters); after_unit_forward(u, out) releases u and wraps `out` in
//             an identity function whose backward calls before_unit_backward(u).
//   backward: before_unit_backward(u) gathers u again (prefetching u-1, ...); when every parameter
//             u reads has produced its gradient (on_param_ready), u is released.
//   The head unit is not released after forward (the loss reads lm_head after hidden_states()).
// Persistent buckets (parameters below stage3_param_persistence_threshold) stay materialised; they
// are refreshed from the partition by gather_persistent() after each optimizer step.
// offload_param: `shard` lives on the host; each gather first copies this rank's slice into a
// staging tensor on the device (a no-op copy on CPU runs, kept so the same path runs).
// While a unit is released its parameters have no memory: do not read model parameters outside
// forward/backward under stage 3 (use the engine's state buffers, shard_pieces()).
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "executor/dist/communicator.h"
#include "executor/model/unit_hooks.h"
#include "executor/zero/bucket_layout.h"

namespace zeroplan::executor::zero {

struct GathererOptions {
  int64_t prefetch_elems = 50'000'000;
  int64_t max_live_elems = 1'000'000'000;
  bool offload_param = false;
};

class UnitGatherer final : public UnitHooks {
 public:
  // params[k]: the tensor of layout slot k. unit_slots[u]: the slots unit u reads. persistent[b]:
  // bucket b stays materialised. shard: this rank's partition in the model dtype.
  UnitGatherer(const BucketLayout& layout, std::vector<at::Tensor> params, std::vector<std::vector<size_t>> unit_slots,
               std::vector<bool> persistent, at::Tensor shard, at::Device device, dist::Communicator& comm,
               const GathererOptions& options);
  ~UnitGatherer() override;

  void before_unit_forward(int unit) override;
  at::Tensor after_unit_forward(int unit, const at::Tensor& output) override;
  void before_unit_backward(int unit);
  void on_param_ready(size_t slot);
  // End of a micro-step's backward: every non-persistent bucket released, counters reset.
  void end_backward();
  // Persistent buckets re-gathered from `shard` (after a step or a resume).
  void gather_persistent();

  int64_t live_elems() const { return live_elems_; }            // non-persistent, materialised now
  int64_t peak_live_elems() const { return peak_live_elems_; }  // since construction
  int64_t persistent_elems() const;

 private:
  void gather(int unit, bool wait);
  void release(int unit);
  void materialise(size_t bucket);  // allocate + launch the all-gather
  void wait_bucket(size_t bucket);
  void release_bucket(size_t bucket);
  void prefetch(int from, int step);
  int64_t unit_elems(int unit) const;

  const BucketLayout& layout_;
  std::vector<at::Tensor> params_;
  std::vector<std::vector<size_t>> unit_slots_;
  std::vector<std::vector<size_t>> unit_buckets_;  // non-persistent buckets each unit reads
  std::vector<std::vector<int>> slot_units_;
  std::vector<bool> persistent_;
  at::Tensor shard_;
  at::Device device_;
  dist::Communicator& comm_;
  GathererOptions options_;
  std::vector<at::Tensor> full_;                          // per bucket
  std::vector<int> refs_;                                 // units holding each bucket
  std::vector<std::unique_ptr<dist::CommWork>> pending_;  // per bucket
  std::vector<at::Tensor> staging_;                       // per bucket, while its gather is in flight
  std::vector<bool> gathered_;                            // per unit
  std::vector<size_t> fired_;                             // per unit, this backward
  int64_t live_elems_ = 0;
  int64_t peak_live_elems_ = 0;
};

}  // namespace zeroplan::executor::zero
