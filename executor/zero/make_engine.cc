#include "executor/zero/make_engine.h"

#include <fmt/format.h>

#include "executor/zero/zero_engine.h"
#include "planner/error.h"

namespace zeroplan::executor::zero {

std::unique_ptr<OptimizerEngine> make_zero_engine(LlamaForCausalLM& model, const ZeroRunOptions& options,
                                                  dist::Communicator& comm) {
  if (options.stage < 0 || options.stage > 3)
    throw InputError(fmt::format("zero_optimization.stage {}: must be 0, 1, 2 or 3", options.stage));
  if (options.offload_param && options.stage != 3)
    throw InputError("zero_optimization.offload_param: parameter offload needs stage 3");
  if (options.stage >= 2 || options.offload_optimizer || options.offload_param)
    throw InputError(fmt::format("zero_optimization.stage {}{}: not supported by this executor yet", options.stage,
                                 options.offload_optimizer ? " with offload_optimizer" : ""));
  ZeroOptions o;
  o.stage = options.stage;
  o.engine = options.engine;
  o.alignment = options.alignment;
  return std::make_unique<ZeroEngine>(model->hf_named_parameters(), o, comm);
}

}  // namespace zeroplan::executor::zero
