#include "executor/train/single_process_engine.h"

#include <cmath>

#include "executor/train/grad_accumulation.h"
#include "executor/train/precision_dtype.h"
#include "planner/error.h"
#include "profiler/memory_scope.h"

namespace zeroplan::executor {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp16") return Precision::kFp16;
  throw InputError("--precision: unknown precision '" + name + "' (expected fp32, bf16 or fp16)");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
  }
  return "?";
}

namespace {

LossScalerOptions scaler_options(const EngineOptions& o) {
  if (o.precision == Precision::kFp16) return o.loss_scaler;
  return LossScaler::none().options();
}

}  // namespace

SingleProcessEngine::SingleProcessEngine(const std::vector<std::pair<std::string, at::Tensor>>& params,
                                         const EngineOptions& options)
    : options_(options), scaler_(scaler_options(options)) {
  ZP_ASSERT(!params.empty(), "the model has no parameters");
  const at::ScalarType dtype = compute_dtype(options.precision);
  // Decay group (dim >= 2) first, then the rest, each in model order.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [name, p] : params) {
      const bool decay = p.dim() >= 2;
      if (decay != (pass == 0)) continue;
      if (p.scalar_type() != dtype)
        throw InputError("parameter " + name + " is " + std::string(c10::toString(p.scalar_type())) +
                         " but --precision " + precision_name(options.precision) + " needs " +
                         c10::toString(dtype));
      slots_.push_back(Slot{name, p, numel_, p.numel()});
      numel_ += p.numel();
    }
    if (pass == 0) decay_numel_ = numel_;
  }

  // Each buffer is charged to its plan category (profiler/memory_scope.h; no-op without a profiler).
  using profiler::Category;
  using profiler::MemoryScope;
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  {
    MemoryScope scope(Category::kParams);
    master_ = at::empty({numel_}, f32);
  }
  {
    MemoryScope scope(Category::kGradients);
    grad_ = at::zeros({numel_}, f32);
  }
  {
    MemoryScope scope(Category::kOptimizerStates);
    exp_avg_ = at::zeros({numel_}, f32);
    exp_avg_sq_ = at::zeros({numel_}, f32);
  }
  at::NoGradGuard no_grad;
  if (lowp()) {
    {
      MemoryScope scope(Category::kParams);
      lowp_params_ = at::empty({numel_}, at::TensorOptions().dtype(dtype));
    }
    MemoryScope scope(Category::kGradients);
    lowp_grads_ = at::zeros({numel_}, at::TensorOptions().dtype(dtype));
  }
  for (auto& s : slots_) {
    at::Tensor& p = s.param;
    if (lowp()) {
      at::Tensor view = lowp_params_.narrow(0, s.offset, s.numel).view(p.sizes());
      view.copy_(p);
      master_.narrow(0, s.offset, s.numel).copy_(view.reshape({-1}));
      p.set_data(view);
      p.mutable_grad() = lowp_grads_.narrow(0, s.offset, s.numel).view(p.sizes());
    } else {
      at::Tensor view = master_.narrow(0, s.offset, s.numel).view(p.sizes());
      view.copy_(p);
      p.set_data(view);
      p.mutable_grad() = grad_.narrow(0, s.offset, s.numel).view(p.sizes());
    }
  }
}

double SingleProcessEngine::backward_multiplier(double global_label_tokens) const {
  return normalised_loss_multiplier(scaler_.scale(), global_label_tokens);
}

void SingleProcessEngine::begin_accumulation() {
  begin_grad_accumulation(lowp(), grad_, lowp_grads_, first_micro_);
}

void SingleProcessEngine::after_micro_backward() {
  accumulate_micro_step_grad(lowp(), grad_, lowp_grads_, first_micro_);
}

void SingleProcessEngine::check_grads_are_views() const {
  const at::Tensor& flat = lowp() ? lowp_grads_ : grad_;
  const auto* base = static_cast<const char*>(flat.data_ptr());
  const std::int64_t item = flat.element_size();
  for (const auto& s : slots_) {
    const at::Tensor& g = s.param.grad();
    ZP_ASSERT(g.defined() && static_cast<const char*>(g.data_ptr()) == base + s.offset * item,
              "a parameter's .grad was replaced instead of accumulated into the engine's flat buffer");
  }
}

StepOutcome SingleProcessEngine::step(double lr) {
  check_grads_are_views();
  StepOutcome out;
  out.loss_scale = scaler_.scale();
  const double scaled_norm = at::linalg_vector_norm(grad_, 2).item<double>();
  const bool overflow = !std::isfinite(scaled_norm);
  out.grad_norm = scaled_norm / out.loss_scale;
  scaler_.update(overflow);
  if (overflow) {
    out.skipped = true;  // DeepSpeed: no clipping, no update, gradients dropped
    return out;
  }
  const double combined = unscale_and_clip_divisor(out.loss_scale, out.grad_norm, options_.clip_grad);
  ++adam_step_;
  float* p = master_.data_ptr<float>();
  const float* g = grad_.data_ptr<float>();
  float* m = exp_avg_.data_ptr<float>();
  float* v = exp_avg_sq_.data_ptr<float>();
  const auto& ao = options_.adamw;
  adamw_update(p, g, m, v, decay_numel_, adamw_scalars(ao, lr, ao.weight_decay, adam_step_, 1.0 / combined));
  const std::int64_t rest = numel_ - decay_numel_;
  if (rest > 0)
    adamw_update(p + decay_numel_, g + decay_numel_, m + decay_numel_, v + decay_numel_, rest,
                 adamw_scalars(ao, lr, 0.0, adam_step_, 1.0 / combined));
  refresh_parameters();
  return out;
}

void SingleProcessEngine::refresh_parameters() {
  if (lowp()) lowp_params_.copy_(master_);  // fp32: the parameters are views of master_
}

std::vector<StateBuffer> SingleProcessEngine::state_buffers() {
  return {{"master", master_.data_ptr<float>(), numel_},
          {"exp_avg", exp_avg_.data_ptr<float>(), numel_},
          {"exp_avg_sq", exp_avg_sq_.data_ptr<float>(), numel_}};
}

EngineScalarState SingleProcessEngine::scalar_state() const { return {adam_step_, scaler_.state()}; }

void SingleProcessEngine::set_scalar_state(const EngineScalarState& s) {
  adam_step_ = s.adam_step;
  scaler_.set_state(s.scaler);
}

}  // namespace zeroplan::executor

namespace zeroplan::executor {

std::vector<ShardPiece> SingleProcessEngine::shard_pieces() const {
  std::vector<ShardPiece> pieces;
  pieces.reserve(slots_.size());
  for (const Slot& s : slots_) {
    const auto sizes = s.param.sizes();
    pieces.push_back({s.name, std::vector<std::int64_t>(sizes.begin(), sizes.end()), 0, s.offset, s.numel});
  }
  return pieces;
}

}  // namespace zeroplan::executor
