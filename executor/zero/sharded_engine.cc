#include "executor/zero/sharded_engine.h"

#include <fmt/format.h>

#include <cmath>

#include "executor/train/grad_accumulation.h"
#include "executor/zero/device_adamw.h"
#include "executor/train/precision_dtype.h"
#include "planner/error.h"
#include "profiler/memory_scope.h"

namespace zeroplan::executor::zero {

namespace {

using profiler::Category;
using profiler::MemoryScope;

LossScalerOptions scaler_options(const EngineOptions& o) {
  if (o.precision == Precision::kFp16) return o.loss_scaler;
  return LossScaler::none().options();
}

// Host tensors; pinned when the compute device is a GPU (async H2D/D2H copies).
at::TensorOptions host_options(at::ScalarType dtype, const at::Device& device) {
  auto o = at::TensorOptions().dtype(dtype).device(at::kCPU);
  return device.is_cuda() ? o.pinned_memory(true) : o;
}

int64_t bytes_of(const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t.nbytes()) : 0; }

}  // namespace

ShardedEngine::ShardedEngine(const std::vector<std::pair<std::string, at::Tensor>>& params,
                             const ZeroRunOptions& options, dist::Communicator& comm, const UnitMap* units)
    : options_(options), comm_(comm), scaler_(scaler_options(options.engine)) {
  const int stage = options.stage;
  if (stage < 0 || stage > 3) throw InputError(fmt::format("zero_optimization.stage {}: must be 0, 1, 2 or 3", stage));
  if (options.offload_param && stage != 3)
    throw InputError("zero_optimization.offload_param: parameter offload needs stage 3");
  if (options.offload_optimizer && stage == 0)
    throw InputError("zero_optimization.offload_optimizer: optimizer offload needs stage 1, 2 or 3");
  if (options.reduce_bucket_elems < 1)
    throw InputError(fmt::format("zero_optimization.reduce_bucket_size {}: must be positive", options.reduce_bucket_elems));
  if (options.alignment < 1) throw InputError(fmt::format("zero alignment {}: must be positive", options.alignment));
  if (stage == 3 && units == nullptr) throw InputError("zero_optimization.stage 3 needs the model's units");
  ZP_ASSERT(!params.empty(), "the model has no parameters");

  const at::ScalarType dtype = compute_dtype(options.engine.precision);
  const at::Device device = params.front().second.device();
  for (const auto& [name, p] : params) {
    if (p.scalar_type() != dtype)
      throw InputError(fmt::format("parameter {} is {} but --precision {} needs {}", name,
                                   c10::toString(p.scalar_type()), precision_name(options.engine.precision),
                                   c10::toString(dtype)));
  }

  // Flat order: model order (backward fires roughly in reverse, so buckets fill in order). Stage 3:
  // persistent parameters (numel < stage3_param_persistence_threshold) go last, in one group of
  // their own, so they form few buckets.
  const int persistent_group = stage == 3 ? static_cast<int>(units->uses.size()) : 0;
  std::vector<size_t> order;       // input index per slot
  std::vector<LayoutParamSpec> specs;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < params.size(); ++i) {
      const bool persistent = stage == 3 && params[i].second.numel() < options.stage3_param_persistence_threshold;
      if (persistent != (pass == 1)) continue;
      const int group = stage != 3 ? 0 : persistent ? persistent_group : units->owner.at(i);
      order.push_back(i);
      specs.push_back({params[i].first, params[i].second.numel(), group});
    }
  }
  const int world = comm.world_size();
  layout_ = std::make_unique<BucketLayout>(specs, stage == 0 ? 1 : world, options.alignment, options.reduce_bucket_elems);
  std::vector<size_t> slot_of(params.size());
  for (size_t k = 0; k < order.size(); ++k) {
    slot_of[order[k]] = k;
    names_.push_back(params[order[k]].first);
    params_.push_back(params[order[k]].second);
    decay_.push_back(params[order[k]].second.dim() >= 2);
  }
  const int shard_rank = stage == 0 ? 0 : comm.rank();
  pieces_ = layout_->pieces(shard_rank);
  for (const auto& pc : pieces_) {
    const bool decay = decay_[pc.slot];
    if (!segments_.empty() && segments_.back().decay == decay &&
        segments_.back().offset + segments_.back().numel == pc.partition_offset) {
      segments_.back().numel += pc.numel;
    } else {
      segments_.push_back({pc.partition_offset, pc.numel, decay});
    }
  }

  const int64_t total = layout_->total_numel();
  const int64_t part = layout_->partition_numel();
  const auto dev_f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto dev_lowp = at::TensorOptions().dtype(dtype).device(device);
  // Optimizer-side tensors: on the host when offloaded.
  const auto opt_f32 = options.offload_optimizer ? host_options(at::kFloat, device) : dev_f32;
  at::NoGradGuard no_grad;

  // --- parameters ---
  if (stage <= 2) {
    {
      MemoryScope scope(Category::kParams);
      params_flat_ = at::zeros({total}, dev_lowp);
    }
    for (size_t k = 0; k < params_.size(); ++k) {
      const LayoutSlot& s = layout_->slots()[k];
      at::Tensor view = params_flat_.narrow(0, s.offset, s.numel).view(params_[k].sizes());
      view.copy_(params_[k]);
      params_[k].set_data(view);
    }
    memory_.params_bytes = bytes_of(params_flat_);
  } else {
    {
      MemoryScope scope(Category::kParams);
      param_shard_ = at::zeros({part}, options.offload_param ? host_options(dtype, device) : dev_lowp);
    }
    for (const auto& pc : pieces_)
      param_shard_.narrow(0, pc.partition_offset, pc.numel)
          .copy_(params_[pc.slot].reshape({-1}).narrow(0, pc.param_offset, pc.numel));
    memory_.params_bytes = bytes_of(param_shard_);
    if (options.offload_param) memory_.offloaded_bytes += bytes_of(param_shard_);
  }

  // --- fp32 master and moments (this rank's partition; stage 0: everything) ---
  if (stage == 0 && !lowp()) {
    master_ = params_flat_;  // the parameters are the masters
  } else {
    MemoryScope scope(Category::kOptimizerStates);
    master_ = at::empty({part}, opt_f32);
    if (stage == 0) {
      master_.copy_(params_flat_);
    } else if (stage <= 2) {
      for (size_t b = 0; b < layout_->buckets().size(); ++b) {
        const LayoutBucket& bk = layout_->buckets()[b];
        master_.narrow(0, bk.partition_offset, bk.shard_numel)
            .copy_(params_flat_.narrow(0, layout_->shard_flat_begin(b, shard_rank), bk.shard_numel));
      }
    } else {
      master_.copy_(param_shard_);
    }
    memory_.optimizer_bytes += bytes_of(master_);
  }
  {
    MemoryScope scope(Category::kOptimizerStates);
    exp_avg_ = at::zeros({part}, opt_f32);
    exp_avg_sq_ = at::zeros({part}, opt_f32);
  }
  memory_.optimizer_bytes += bytes_of(exp_avg_) + bytes_of(exp_avg_sq_);
  if (options.offload_optimizer) memory_.offloaded_bytes += memory_.optimizer_bytes;

  // --- gradients ---
  {
    MemoryScope scope(Category::kGradients);
    if (stage == 1) {
      grad_full_ = at::zeros({total}, dev_f32);
      if (lowp()) lowp_grads_ = at::zeros({total}, dev_lowp);
      grad_accum_ = at::zeros({part}, opt_f32);
    } else {
      grad_accum_ = at::zeros({stage == 0 ? total : part}, stage == 0 ? dev_f32 : opt_f32);
    }
  }
  memory_.gradient_bytes = bytes_of(grad_full_) + bytes_of(lowp_grads_) + bytes_of(grad_accum_);
  if (options.offload_optimizer) memory_.offloaded_bytes += bytes_of(grad_accum_);
  if (stage == 1) {
    for (size_t k = 0; k < params_.size(); ++k) {
      const LayoutSlot& s = layout_->slots()[k];
      const at::Tensor& g = lowp() ? lowp_grads_ : grad_full_;
      params_[k].mutable_grad() = g.narrow(0, s.offset, s.numel).view(params_[k].sizes());
    }
  }

  // --- stage 3: unit gathering ---
  if (stage == 3) {
    std::vector<std::vector<size_t>> unit_slots;
    for (const auto& used : units->uses) {
      std::vector<size_t> slots;
      for (size_t i : used) slots.push_back(slot_of.at(i));
      unit_slots.push_back(std::move(slots));
    }
    std::vector<bool> persistent;
    for (const auto& b : layout_->buckets()) persistent.push_back(b.group == persistent_group);
    GathererOptions go;
    go.prefetch_elems = options.stage3_prefetch_bucket_elems;
    go.max_live_elems = options.stage3_max_live_parameters;
    go.offload_param = options.offload_param;
    gatherer_ = std::make_unique<UnitGatherer>(*layout_, params_, std::move(unit_slots), std::move(persistent),
                                               param_shard_, device, comm_, go);
    memory_.params_bytes += gatherer_->persistent_elems() * c10::elementSize(dtype);
  }

  // --- bucketed reduction from gradient hooks (stages 0, 2, 3) ---
  if (hook_reduction()) {
    const int buffers = options.overlap_comm ? 2 : 1;
    reducer_ = std::make_unique<GradReducer>(
        *layout_, params_, comm_, stage == 0 ? GradReducer::Mode::kAllReduce : GradReducer::Mode::kReduceScatter,
        buffers, dtype, grad_accum_);
    memory_.buffer_bytes = reducer_->buffer_bytes();
    if (gatherer_) {
      UnitGatherer* g = gatherer_.get();
      reducer_->set_on_param_ready([g](size_t slot) { g->on_param_ready(slot); });
    }
  }
}

ShardedEngine::~ShardedEngine() {
  if (model_ != nullptr && model_->unit_hooks() == gatherer_.get()) model_->set_unit_hooks(nullptr);
  reducer_.reset();
  gatherer_.reset();
}

void ShardedEngine::attach(LlamaForCausalLMImpl* model) {
  model_ = model;
  if (model_ != nullptr) model_->set_unit_hooks(gatherer_.get());
}

double ShardedEngine::all_reduce_sum(double local) {
  at::Tensor t = at::full({1}, local, at::TensorOptions().dtype(at::kDouble));
  comm_.all_reduce(t, dist::ReduceOp::kSum);
  return t.item<double>();
}

double ShardedEngine::backward_multiplier(double global_label_tokens) const {
  return normalised_loss_multiplier(scaler_.scale(), global_label_tokens);
}

void ShardedEngine::begin_accumulation() {
  if (reducer_) {
    reducer_->begin_accumulation();
  } else {
    begin_grad_accumulation(lowp(), grad_full_, lowp_grads_, first_micro_);
  }
}

void ShardedEngine::after_micro_backward() {
  if (reducer_) {
    reducer_->finish_micro_step();
    if (gatherer_) gatherer_->end_backward();
  } else {
    accumulate_micro_step_grad(lowp(), grad_full_, lowp_grads_, first_micro_);
  }
}

void ShardedEngine::adamw_partition(double lr, double grad_multiplier) {
  const auto& ao = options_.engine.adamw;
  const AdamWStepScalars with_decay = adamw_scalars(ao, lr, ao.weight_decay, adam_step_, grad_multiplier);
  const AdamWStepScalars no_decay = adamw_scalars(ao, lr, 0.0, adam_step_, grad_multiplier);
  if (!master_.device().is_cpu()) {
    // Optimizer states on the GPU (no offload): ATen element-wise ops on the device.
    for (const Segment& s : segments_)
      adamw_update_tensors(master_.narrow(0, s.offset, s.numel), grad_accum_.narrow(0, s.offset, s.numel),
                           exp_avg_.narrow(0, s.offset, s.numel), exp_avg_sq_.narrow(0, s.offset, s.numel),
                           s.decay ? with_decay : no_decay);
    return;
  }
  // Host states (CPU runs, or offload_optimizer): adamw_update threads over its range with
  // at::parallel_for, vectorised (the "CPU Adam" of offload).
  float* p = master_.data_ptr<float>();
  const float* g = grad_accum_.data_ptr<float>();
  float* m = exp_avg_.data_ptr<float>();
  float* v = exp_avg_sq_.data_ptr<float>();
  for (const Segment& s : segments_)
    adamw_update(p + s.offset, g + s.offset, m + s.offset, v + s.offset, s.numel, s.decay ? with_decay : no_decay);
}

StepOutcome ShardedEngine::step(double lr) {
  at::NoGradGuard no_grad;
  StepOutcome out;
  out.loss_scale = scaler_.scale();
  if (options_.stage == 1) {
    // Reduction at the accumulation boundary, one reduce_scatter per bucket.
    for (const auto& b : layout_->buckets()) {
      at::Tensor in = grad_full_.narrow(0, b.flat_begin, b.padded_numel);
      at::Tensor dst = grad_accum_.narrow(0, b.partition_offset, b.shard_numel);
      if (dst.device() == in.device()) {
        comm_.reduce_scatter(dst, in, dist::ReduceOp::kSum);
      } else {
        at::Tensor tmp = at::empty({b.shard_numel}, in.options());
        comm_.reduce_scatter(tmp, in, dist::ReduceOp::kSum);
        dst.copy_(tmp);
      }
    }
  }
  // Global norm: stage 0 holds the whole reduced gradient; otherwise sum the partitions' squares.
  const double local_norm = at::linalg_vector_norm(grad_accum_, 2).item<double>();
  double scaled_norm = local_norm;
  if (options_.stage != 0) scaled_norm = std::sqrt(all_reduce_sum(local_norm * local_norm));
  const bool overflow = !std::isfinite(scaled_norm);  // same on every rank
  out.grad_norm = scaled_norm / out.loss_scale;
  scaler_.update(overflow);
  if (overflow) {
    out.skipped = true;
    return out;
  }
  const double combined = unscale_and_clip_divisor(out.loss_scale, out.grad_norm, options_.engine.clip_grad);
  ++adam_step_;
  adamw_partition(lr, 1.0 / combined);
  refresh_parameters();
  return out;
}

void ShardedEngine::refresh_parameters() {
  at::NoGradGuard no_grad;
  const int stage = options_.stage;
  if (stage == 0) {
    if (lowp()) params_flat_.copy_(master_);  // fp32: the parameters are master_
    return;
  }
  if (stage == 3) {
    param_shard_.copy_(master_);
    gatherer_->gather_persistent();
    return;
  }
  // Every rank's updated partition into everyone's parameters, one all_gather per bucket.
  for (const auto& b : layout_->buckets()) {
    at::Tensor mine = master_.narrow(0, b.partition_offset, b.shard_numel);
    if (mine.scalar_type() != params_flat_.scalar_type() || mine.device() != params_flat_.device())
      mine = mine.to(params_flat_.device(), params_flat_.scalar_type());
    at::Tensor dst = params_flat_.narrow(0, b.flat_begin, b.padded_numel);
    comm_.all_gather(dst, mine);
  }
}

std::vector<StateBuffer> ShardedEngine::state_buffers() {
  return {{"master", master_.data_ptr<float>(), master_.numel()},
          {"exp_avg", exp_avg_.data_ptr<float>(), exp_avg_.numel()},
          {"exp_avg_sq", exp_avg_sq_.data_ptr<float>(), exp_avg_sq_.numel()}};
}

std::vector<ShardPiece> ShardedEngine::shard_pieces() const {
  std::vector<ShardPiece> out;
  out.reserve(pieces_.size());
  for (const auto& pc : pieces_) {
    const auto sizes = params_[pc.slot].sizes();
    out.push_back({names_[pc.slot], std::vector<std::int64_t>(sizes.begin(), sizes.end()), pc.param_offset,
                   pc.partition_offset, pc.numel});
  }
  return out;
}

EngineScalarState ShardedEngine::scalar_state() const { return {adam_step_, scaler_.state()}; }

void ShardedEngine::set_scalar_state(const EngineScalarState& s) {
  adam_step_ = s.adam_step;
  scaler_.set_state(s.scaler);
}

}  // namespace zeroplan::executor::zero
