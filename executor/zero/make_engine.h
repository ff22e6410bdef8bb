#pragma once
// The one place a run turns its ZeRO configuration into an OptimizerEngine (executor/train/
// optimizer_engine.h). `zeroplan run` (single or many ranks) calls make_zero_engine(); the engines
// behind it are in this folder.
#include <cstdint>
#include <memory>

#include "executor/dist/communicator.h"
#include "executor/model/llama.h"
#include "executor/train/single_process_engine.h"

namespace zeroplan::executor::zero {

// Sizes are in ELEMENTS, as DeepSpeed's zero_optimization keys are (reduce_bucket_size = 5e8 means
// 5e8 elements). Defaults are DeepSpeed's.
struct ZeroRunOptions {
  int stage = 0;                          // 0..3
  bool offload_optimizer = false;         // offload_optimizer.device == "cpu"
  bool offload_param = false;             // offload_param.device == "cpu" (stage 3 only)
  bool overlap_comm = false;              // reduce buckets while backward continues
  bool contiguous_gradients = true;
  std::int64_t reduce_bucket_elems = 500'000'000;
  std::int64_t allgather_bucket_elems = 500'000'000;
  std::int64_t stage3_prefetch_bucket_elems = 50'000'000;
  std::int64_t stage3_max_live_parameters = 1'000'000'000;
  std::int64_t stage3_param_persistence_threshold = 100'000;
  std::int64_t alignment = 16;            // elements per partition boundary
  EngineOptions engine;                   // precision, AdamW, clipping, loss scaler
};

// `model` must outlive the engine (stage 3 attaches to its layers). `comm` too.
// InputError for a configuration the engine cannot run (names the key).
std::unique_ptr<OptimizerEngine> make_zero_engine(LlamaForCausalLM& model, const ZeroRunOptions& options,
                                                  dist::Communicator& comm);

}  // namespace zeroplan::executor::zero
