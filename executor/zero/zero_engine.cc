#include "executor/zero/zero_engine.h"

#include <fmt/format.h>

#include <cmath>

#include "executor/train/grad_accumulation.h"
#include "planner/error.h"

namespace zeroplan::executor::zero {

namespace {

at::ScalarType compute_dtype(Precision p) {
  switch (p) {
    case Precision::kFp32: return at::kFloat;
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
  }
  return at::kFloat;
}

LossScalerOptions scaler_options(const EngineOptions& o) {
  if (o.precision == Precision::kFp16) return o.loss_scaler;
  return LossScaler::none().options();
}

}  // namespace

ZeroEngine::ZeroEngine(const std::vector<std::pair<std::string, at::Tensor>>& params, const ZeroOptions& options,
                       dist::Communicator& comm)
    : options_(options), comm_(comm), scaler_(scaler_options(options.engine)) {
  if (options.stage != 0 && options.stage != 1) {
    throw InputError(fmt::format("zero_optimization.stage {}: this executor runs stages 0 and 1 so far", options.stage));
  }
  ZP_ASSERT(!params.empty(), "the model has no parameters");
  const at::ScalarType dtype = compute_dtype(options.engine.precision);
  std::vector<std::pair<std::string, int64_t>> sizes;
  for (int pass = 0; pass < 2; ++pass) {  // decay group (dim >= 2) first, as SingleProcessEngine
    for (const auto& [name, p] : params) {
      if ((p.dim() >= 2) != (pass == 0)) continue;
      if (p.scalar_type() != dtype) {
        throw InputError(fmt::format("parameter {} is {} but --precision {} needs {}", name,
                                     c10::toString(p.scalar_type()), precision_name(options.engine.precision),
                                     c10::toString(dtype)));
      }
      sizes.emplace_back(name, p.numel());
      params_.push_back(p);
      if (pass == 0) decay_numel_ += p.numel();
    }
  }
  layout_ = std::make_unique<FlatLayout>(sizes, comm.world_size(), options.alignment);
  const int64_t total = layout_->total_numel();
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::NoGradGuard no_grad;
  params_flat_ = at::zeros({total}, at::TensorOptions().dtype(dtype));
  grad_ = at::zeros({total}, f32);
  if (lowp()) lowp_grads_ = at::zeros({total}, at::TensorOptions().dtype(dtype));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    const FlatParamSlot& slot = layout_->slots()[i];
    at::Tensor view = params_flat_.narrow(0, slot.offset, slot.numel).view(p.sizes());
    view.copy_(p);
    p.set_data(view);
    const at::Tensor& grads = lowp() ? lowp_grads_ : grad_;
    p.mutable_grad() = grads.narrow(0, slot.offset, slot.numel).view(p.sizes());
  }
  const int64_t begin = owned_begin();
  const int64_t n = owned_numel();
  master_ = lowp() ? params_flat_.narrow(0, begin, n).to(at::kFloat) : params_flat_.narrow(0, begin, n);
  exp_avg_ = at::zeros({n}, f32);
  exp_avg_sq_ = at::zeros({n}, f32);
}

int64_t ZeroEngine::owned_begin() const { return options_.stage == 0 ? 0 : layout_->partition_begin(comm_.rank()); }

int64_t ZeroEngine::owned_numel() const {
  return options_.stage == 0 ? layout_->total_numel() : layout_->partition_numel();
}

double ZeroEngine::all_reduce_sum(double local) {
  at::Tensor t = at::full({1}, local, at::TensorOptions().dtype(at::kDouble));
  comm_.all_reduce(t, dist::ReduceOp::kSum);
  return t.item<double>();
}

double ZeroEngine::backward_multiplier(double global_label_tokens) const {
  return normalised_loss_multiplier(scaler_.scale(), global_label_tokens);
}

void ZeroEngine::begin_accumulation() {
  begin_grad_accumulation(lowp(), grad_, lowp_grads_, first_micro_);
}

void ZeroEngine::after_micro_backward() {
  accumulate_micro_step_grad(lowp(), grad_, lowp_grads_, first_micro_);
}

void ZeroEngine::adamw_owned(const at::Tensor& grad_owned, double lr, double grad_multiplier) {
  // Weight decay applies to the flat range [0, decay_numel_); split the owned range at it.
  const int64_t begin = owned_begin();
  const int64_t n = owned_numel();
  const int64_t decay_in_owned = std::clamp<int64_t>(decay_numel_ - begin, 0, n);
  float* p = master_.data_ptr<float>();
  const float* g = grad_owned.data_ptr<float>();
  float* m = exp_avg_.data_ptr<float>();
  float* v = exp_avg_sq_.data_ptr<float>();
  const auto& ao = options_.engine.adamw;
  if (decay_in_owned > 0) {
    adamw_update(p, g, m, v, decay_in_owned, adamw_scalars(ao, lr, ao.weight_decay, adam_step_, grad_multiplier));
  }
  if (n - decay_in_owned > 0) {
    adamw_update(p + decay_in_owned, g + decay_in_owned, m + decay_in_owned, v + decay_in_owned, n - decay_in_owned,
                 adamw_scalars(ao, lr, 0.0, adam_step_, grad_multiplier));
  }
}

StepOutcome ZeroEngine::step(double lr) {
  StepOutcome out;
  out.loss_scale = scaler_.scale();
  at::Tensor grad_owned;
  double scaled_norm = 0.0;
  if (options_.stage == 0) {
    comm_.all_reduce(grad_, dist::ReduceOp::kSum);
    grad_owned = grad_;
    scaled_norm = at::linalg_vector_norm(grad_, 2).item<double>();
  } else {
    grad_owned = at::empty({layout_->partition_numel()}, grad_.options());
    comm_.reduce_scatter(grad_owned, grad_, dist::ReduceOp::kSum);
    // Global norm over all shards: sqrt(sum over ranks of the partition's sum of squares).
    at::Tensor sq = at::sum(grad_owned.to(at::kDouble).square()).reshape({1});
    comm_.all_reduce(sq, dist::ReduceOp::kSum);
    scaled_norm = std::sqrt(sq.item<double>());
  }
  // Same value on every rank (all-reduced), so every rank makes the same overflow decision.
  const bool overflow = !std::isfinite(scaled_norm);
  out.grad_norm = scaled_norm / out.loss_scale;
  scaler_.update(overflow);
  if (overflow) {
    out.skipped = true;
    return out;
  }
  const double combined = unscale_and_clip_divisor(out.loss_scale, out.grad_norm, options_.engine.clip_grad);
  ++adam_step_;
  adamw_owned(grad_owned, lr, 1.0 / combined);
  refresh_parameters();
  return out;
}

void ZeroEngine::refresh_parameters() {
  at::NoGradGuard no_grad;
  if (options_.stage == 0) {
    if (lowp()) params_flat_.copy_(master_);  // fp32: the parameters are views of master_
    return;
  }
  // Every rank's updated partition into everyone's parameter buffer.
  at::Tensor mine = lowp() ? master_.to(params_flat_.scalar_type()) : master_;
  comm_.all_gather(params_flat_, mine);
}

std::vector<StateBuffer> ZeroEngine::state_buffers() {
  // This rank's partitions (stage 1) or everything (stage 0). fp32 stage 1: master_ is a view of
  // the parameter buffer, contiguous, so its pointer is the partition's.
  return {{"master", master_.data_ptr<float>(), master_.numel()},
          {"exp_avg", exp_avg_.data_ptr<float>(), exp_avg_.numel()},
          {"exp_avg_sq", exp_avg_sq_.data_ptr<float>(), exp_avg_sq_.numel()}};
}

EngineScalarState ZeroEngine::scalar_state() const { return {adam_step_, scaler_.state()}; }

void ZeroEngine::set_scalar_state(const EngineScalarState& s) {
  adam_step_ = s.adam_step;
  scaler_.set_state(s.scaler);
}

}  // namespace zeroplan::executor::zero

namespace zeroplan::executor::zero {

std::vector<ShardPiece> ZeroEngine::shard_pieces() const {
  // The owned flat range [begin, begin + n) intersected with each parameter's slot.
  const int64_t begin = owned_begin();
  const int64_t end = begin + owned_numel();
  std::vector<ShardPiece> pieces;
  for (size_t i = 0; i < params_.size(); ++i) {
    const FlatParamSlot& slot = layout_->slots()[i];
    const int64_t lo = std::max(begin, slot.offset);
    const int64_t hi = std::min(end, slot.offset + slot.numel);
    if (lo >= hi) continue;
    const auto sizes = params_[i].sizes();
    pieces.push_back({slot.name, std::vector<std::int64_t>(sizes.begin(), sizes.end()), lo - slot.offset, lo - begin,
                      hi - lo});
  }
  return pieces;
}

}  // namespace zeroplan::executor::zero
