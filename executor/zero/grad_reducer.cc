#include "executor/zero/grad_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "planner/error.h"
#include "profiler/memory_scope.h"

namespace zeroplan::executor::zero {

namespace {

struct ReducerHook final : torch::autograd::PostAccumulateGradHook {
  ReducerHook(GradReducer* r, size_t s) : reducer(r), slot(s) {}
  void operator()(const torch::autograd::Variable& /*tensor*/) override { reducer->on_grad(slot); }
  GradReducer* reducer;
  size_t slot;
};

}  // namespace

void accumulate_into(at::Tensor dst, const at::Tensor& src) {
  if (src.scalar_type() == dst.scalar_type()) {
    dst.add_(src);
    return;
  }
  const int64_t n = dst.numel();
  for (int64_t begin = 0; begin < n; begin += kAccumulateChunkElems) {
    const int64_t len = std::min(kAccumulateChunkElems, n - begin);
    dst.narrow(0, begin, len).add_(src.narrow(0, begin, len));
  }
}

GradReducer::GradReducer(const BucketLayout& layout, std::vector<at::Tensor> params, dist::Communicator& comm,
                         Mode mode, int num_buffers, at::ScalarType dtype, at::Tensor accum)
    : layout_(layout), params_(std::move(params)), comm_(comm), mode_(mode), dtype_(dtype), accum_(std::move(accum)) {
  ZP_ASSERT(params_.size() == layout_.slots().size(), "GradReducer: one tensor per layout slot");
  ZP_ASSERT(num_buffers >= 1, "GradReducer: at least one bucket buffer");
  ZP_ASSERT(accum_.scalar_type() == at::kFloat, "GradReducer: the accumulator is fp32");
  ZP_ASSERT(accum_.numel() == (mode_ == Mode::kAllReduce ? layout_.total_numel() : layout_.partition_numel()),
            "GradReducer: accumulator size does not match the layout");
  for (int i = 0; i < num_buffers; ++i) buffers_.push_back(make_buffer(false));
  state_.resize(layout_.buckets().size());
  for (size_t b = 0; b < state_.size(); ++b) state_[b].got.assign(layout_.buckets()[b].params.size(), false);
  for (size_t k = 0; k < params_.size(); ++k) {
    at::Tensor& p = params_[k];
    p.mutable_grad() = at::Tensor();
    torch::autograd::impl::set_post_acc_grad_hooks(p, std::make_unique<ReducerHook>(this, k));
  }
}

GradReducer::~GradReducer() {
  for (auto& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

GradReducer::Buffer GradReducer::make_buffer(bool temporary) const {
  profiler::MemoryScope scope(profiler::Category::kBuffers);
  Buffer b;
  const auto opts = params_.front().options().dtype(dtype_);  // on the device (accum_ may be on the host)
  b.data = at::empty({layout_.max_padded_bucket_numel()}, opts);
  if (mode_ == Mode::kReduceScatter) b.out = at::empty({layout_.max_shard_numel()}, opts);
  b.temporary = temporary;
  return b;
}

int64_t GradReducer::buffer_bytes() const {
  int64_t bytes = 0;
  for (const auto& b : buffers_) {
    if (b.temporary) continue;
    bytes += b.data.nbytes() + (b.out.defined() ? static_cast<int64_t>(b.out.nbytes()) : 0);
  }
  return bytes;
}

void GradReducer::begin_accumulation() {
  at::NoGradGuard no_grad;
  accum_.zero_();
}

int GradReducer::acquire() {
  for (size_t i = 0; i < buffers_.size(); ++i)
    if (buffers_[i].bucket < 0) return static_cast<int>(i);
  if (!in_flight_.empty()) {
    const int i = in_flight_.front();
    complete(i);
    return i;
  }
  // Every buffer is being filled: gradients arrived out of bucket order.
  buffers_.push_back(make_buffer(true));
  ++temporary_buffers_;
  return static_cast<int>(buffers_.size() - 1);
}

void GradReducer::on_grad(size_t slot) {
  at::NoGradGuard no_grad;
  const LayoutSlot& s = layout_.slots()[slot];
  const LayoutBucket& b = layout_.buckets()[s.bucket];
  BucketState& st = state_[s.bucket];
  ZP_ASSERT(!st.launched, "a gradient arrived for a bucket already reduced in this backward");
  if (st.buffer < 0) {
    st.buffer = acquire();
    buffers_[st.buffer].bucket = static_cast<int>(s.bucket);
    // Padding is reduced too: it must be zero.
    if (b.padded_numel > b.numel) buffers_[st.buffer].data.narrow(0, b.numel, b.padded_numel - b.numel).zero_();
  }
  at::Tensor& p = params_[slot];
  at::Tensor g = p.grad();
  at::Tensor dst = buffers_[st.buffer].data.narrow(0, s.offset - b.flat_begin, s.numel);
  const size_t idx = slot - b.params.front();
  if (g.defined()) {
    dst.view(p.sizes()).copy_(g);
  } else {
    dst.zero_();
  }
  p.mutable_grad() = at::Tensor();  // the bucket holds it now
  if (!st.got[idx]) {
    st.got[idx] = true;
    ++st.arrived;
  }
  if (st.arrived == b.params.size()) launch(s.bucket);
  if (on_param_ready_) on_param_ready_(slot);
}

void GradReducer::launch(size_t bucket) {
  const LayoutBucket& b = layout_.buckets()[bucket];
  BucketState& st = state_[bucket];
  Buffer& buf = buffers_[st.buffer];
  at::Tensor in = buf.data.narrow(0, 0, b.padded_numel);
  if (mode_ == Mode::kAllReduce) {
    buf.work = comm_.all_reduce_async(in, dist::ReduceOp::kSum);
  } else {
    at::Tensor out = buf.out.narrow(0, 0, b.shard_numel);
    buf.work = comm_.reduce_scatter_async(out, in, dist::ReduceOp::kSum);
  }
  buf.in_flight = true;
  st.launched = true;
  in_flight_.push_back(st.buffer);
}

void GradReducer::complete(int index) {
  at::NoGradGuard no_grad;
  Buffer& buf = buffers_[index];
  ZP_ASSERT(buf.in_flight && buf.bucket >= 0, "GradReducer: completing a buffer that is not in flight");
  buf.work->wait();
  buf.work.reset();
  const LayoutBucket& b = layout_.buckets()[static_cast<size_t>(buf.bucket)];
  if (mode_ == Mode::kAllReduce) {
    accumulate_into(accum_.narrow(0, b.flat_begin, b.padded_numel), buf.data.narrow(0, 0, b.padded_numel).to(accum_.device()));
  } else {
    // Offloaded accumulator: device -> host copy (a no-op on CPU runs).
    accumulate_into(accum_.narrow(0, b.partition_offset, b.shard_numel), buf.out.narrow(0, 0, b.shard_numel).to(accum_.device()));
  }
  buf.in_flight = false;
  buf.bucket = -1;
  in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), index));
}

void GradReducer::finish_micro_step() {
  at::NoGradGuard no_grad;
  // Buckets with missing gradients (unused parameters): zero-fill and reduce, in bucket order.
  for (size_t bi = 0; bi < state_.size(); ++bi) {
    if (state_[bi].launched) continue;
    const LayoutBucket& b = layout_.buckets()[bi];
    for (size_t j = 0; j < b.params.size(); ++j) {
      if (state_[bi].got[j]) continue;
      const size_t slot = b.params[j];
      params_[slot].mutable_grad() = at::Tensor();
      on_grad(slot);  // undefined grad: zero-filled
    }
  }
  while (!in_flight_.empty()) complete(in_flight_.front());
  for (auto& st : state_) {
    st.buffer = -1;
    st.arrived = 0;
    st.launched = false;
    std::fill(st.got.begin(), st.got.end(), false);
  }
  // Temporary buffers go back to the allocator.
  buffers_.erase(std::remove_if(buffers_.begin(), buffers_.end(), [](const Buffer& b) { return b.temporary; }),
                 buffers_.end());
}

}  // namespace zeroplan::executor::zero
