#include "executor/zero/unit_gatherer.h"

#include <c10/core/StorageImpl.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "planner/error.h"
#include "profiler/memory_scope.h"

namespace zeroplan::executor::zero {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Identity on a unit's output; its backward runs right before the unit's backward.
struct UnitBoundary : public torch::autograd::Function<UnitBoundary> {
  static at::Tensor forward(AutogradContext* ctx, std::int64_t gatherer, std::int64_t unit, const at::Tensor& x) {
    ctx->saved_data["gatherer"] = gatherer;
    ctx->saved_data["unit"] = unit;
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto* g = reinterpret_cast<UnitGatherer*>(ctx->saved_data["gatherer"].toInt());
    g->before_unit_backward(static_cast<int>(ctx->saved_data["unit"].toInt()));
    return {at::Tensor(), at::Tensor(), grad_outputs[0]};
  }
};

void release_storage(const at::Tensor& t) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(at::DataPtr(nullptr, t.device()));
  s->set_nbytes(0);
}

void allocate_storage(const at::Tensor& t) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  ZP_ASSERT(s->allocator() != nullptr, "a gathered parameter buffer has no allocator");
  s->set_data_ptr_noswap(s->allocator()->allocate(nbytes));
  s->set_nbytes(nbytes);
}

}  // namespace

UnitGatherer::UnitGatherer(const BucketLayout& layout, std::vector<at::Tensor> params,
                           std::vector<std::vector<size_t>> unit_slots, std::vector<bool> persistent, at::Tensor shard,
                           at::Device device, dist::Communicator& comm, const GathererOptions& options)
    : layout_(layout),
      params_(std::move(params)),
      unit_slots_(std::move(unit_slots)),
      persistent_(std::move(persistent)),
      shard_(std::move(shard)),
      device_(device),
      comm_(comm),
      options_(options) {
  const size_t nb = layout_.buckets().size();
  ZP_ASSERT(persistent_.size() == nb, "UnitGatherer: one persistence flag per bucket");
  ZP_ASSERT(params_.size() == layout_.slots().size(), "UnitGatherer: one tensor per slot");
  refs_.assign(nb, 0);
  pending_.resize(nb);
  staging_.resize(nb);
  gathered_.assign(unit_slots_.size(), false);
  fired_.assign(unit_slots_.size(), 0);
  slot_units_.resize(params_.size());
  unit_buckets_.resize(unit_slots_.size());
  for (size_t u = 0; u < unit_slots_.size(); ++u) {
    for (size_t k : unit_slots_[u]) {
      slot_units_.at(k).push_back(static_cast<int>(u));
      const size_t b = layout_.slots()[k].bucket;
      auto& ub = unit_buckets_[u];
      if (!persistent_[b] && std::find(ub.begin(), ub.end(), b) == ub.end()) ub.push_back(b);
    }
  }
  at::NoGradGuard no_grad;
  const auto opts = params_.front().options().device(device_);
  for (size_t b = 0; b < nb; ++b) {
    // Persistent buckets are parameters for good; the others are gather buffers while materialised.
    profiler::MemoryScope scope(persistent_[b] ? profiler::Category::kParams : profiler::Category::kBuffers);
    full_.push_back(at::empty({layout_.buckets()[b].padded_numel}, opts));
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    const LayoutSlot& s = layout_.slots()[k];
    const LayoutBucket& b = layout_.buckets()[s.bucket];
    params_[k].set_data(full_[s.bucket].narrow(0, s.offset - b.flat_begin, s.numel).view(params_[k].sizes()));
  }
  for (size_t b = 0; b < nb; ++b)
    if (!persistent_[b]) release_storage(full_[b]);
  gather_persistent();
}

UnitGatherer::~UnitGatherer() {
  for (size_t b = 0; b < pending_.size(); ++b) {
    if (!pending_[b]) continue;
    try {
      pending_[b]->wait();
    } catch (...) {  // a destructor does not throw; the communicator already reported the failure
    }
  }
}

int64_t UnitGatherer::persistent_elems() const {
  int64_t n = 0;
  for (size_t b = 0; b < persistent_.size(); ++b)
    if (persistent_[b]) n += layout_.buckets()[b].padded_numel;
  return n;
}

int64_t UnitGatherer::unit_elems(int unit) const {
  int64_t n = 0;
  for (size_t b : unit_buckets_[static_cast<size_t>(unit)])
    if (refs_[b] == 0) n += layout_.buckets()[b].padded_numel;
  return n;
}

void UnitGatherer::materialise(size_t b) {
  const LayoutBucket& bucket = layout_.buckets()[b];
  {
    profiler::MemoryScope scope(profiler::Category::kBuffers);
    allocate_storage(full_[b]);
  }
  at::Tensor input = shard_.narrow(0, bucket.partition_offset, bucket.shard_numel);
  if (options_.offload_param) {
    // Host partition -> device staging (pinned host memory on GPU runs makes this an async copy).
    profiler::MemoryScope scope(profiler::Category::kBuffers);
    staging_[b] = at::empty({bucket.shard_numel}, full_[b].options());
    staging_[b].copy_(input, /*non_blocking=*/true);
    input = staging_[b];
  }
  pending_[b] = comm_.all_gather_async(full_[b], input);
  live_elems_ += bucket.padded_numel;
  peak_live_elems_ = std::max(peak_live_elems_, live_elems_);
}

void UnitGatherer::wait_bucket(size_t b) {
  if (!pending_[b]) return;
  pending_[b]->wait();
  pending_[b].reset();
  staging_[b] = at::Tensor();
}

void UnitGatherer::release_bucket(size_t b) {
  wait_bucket(b);
  release_storage(full_[b]);
  live_elems_ -= layout_.buckets()[b].padded_numel;
}

void UnitGatherer::gather(int unit, bool wait) {
  const auto u = static_cast<size_t>(unit);
  if (!gathered_[u]) {
    gathered_[u] = true;
    for (size_t b : unit_buckets_[u])
      if (refs_[b]++ == 0) materialise(b);
  }
  if (wait)
    for (size_t b : unit_buckets_[u]) wait_bucket(b);
}

void UnitGatherer::release(int unit) {
  const auto u = static_cast<size_t>(unit);
  if (!gathered_[u]) return;
  gathered_[u] = false;
  for (size_t b : unit_buckets_[u])
    if (--refs_[b] == 0) release_bucket(b);
}

void UnitGatherer::prefetch(int from, int step) {
  // DeepSpeed's rule: prefetch up to prefetch_bucket_size elements ahead, never exceeding
  // max_live_parameters materialised at once.
  int64_t budget = options_.prefetch_elems;
  for (int v = from; v >= 0 && v < static_cast<int>(unit_slots_.size()); v += step) {
    if (gathered_[static_cast<size_t>(v)]) continue;
    const int64_t need = unit_elems(v);
    if (need > budget || live_elems_ + need > options_.max_live_elems) break;
    budget -= need;
    gather(v, /*wait=*/false);
  }
}

void UnitGatherer::before_unit_forward(int unit) {
  gather(unit, /*wait=*/true);
  prefetch(unit + 1, +1);
}

at::Tensor UnitGatherer::after_unit_forward(int unit, const at::Tensor& output) {
  release(unit);
  if (!at::GradMode::is_enabled() || !output.requires_grad()) return output;
  return UnitBoundary::apply(reinterpret_cast<std::int64_t>(this), static_cast<std::int64_t>(unit), output);
}

void UnitGatherer::before_unit_backward(int unit) {
  gather(unit, /*wait=*/true);
  prefetch(unit - 1, -1);
}

void UnitGatherer::on_param_ready(size_t slot) {
  for (int u : slot_units_[slot]) {
    const auto uu = static_cast<size_t>(u);
    if (++fired_[uu] == unit_slots_[uu].size()) release(u);
  }
}

void UnitGatherer::end_backward() {
  for (size_t u = 0; u < gathered_.size(); ++u) release(static_cast<int>(u));
  std::fill(fired_.begin(), fired_.end(), 0);
}

void UnitGatherer::gather_persistent() {
  at::NoGradGuard no_grad;
  for (size_t b = 0; b < persistent_.size(); ++b) {
    if (!persistent_[b]) continue;
    const LayoutBucket& bucket = layout_.buckets()[b];
    at::Tensor input = shard_.narrow(0, bucket.partition_offset, bucket.shard_numel);
    if (input.device() != full_[b].device()) input = input.to(full_[b].device());
    comm_.all_gather(full_[b], input);
  }
}

}  // namespace zeroplan::executor::zero
