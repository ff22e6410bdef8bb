#pragma once
// Full training-state checkpoints (pure C++ over the engine interface):
//   RUN_DIR/checkpoints/step_00000010/
//     master.rank0.f32, exp_avg.rank0.f32, exp_avg_sq.rank0.f32   the engine's flat fp32 buffers
//                                                                  (this rank's partition under ZeRO)
//     rng_state.bin                                                LibTorch's CPU generator
//     manifest.json   {format, files: {name: {bytes, checksum}}, meta: {run, trainer, engine}}
//   RUN_DIR/checkpoints/latest   "step_00000010"
// The model's weights are not stored separately: they are the masters (fp32) or their cast (bf16/
// fp16), exactly as the engine refreshes them after every step. `meta.run` is a fingerprint of what
// must match for a bit-identical resume (model, parameter count, precision, batch shape, data, seed);
// a mismatch is an InputError naming the field.
#include <nlohmann/json.hpp>

#include <string>

#include "executor/train/optimizer_engine.h"
#include "executor/train/train_state.h"

namespace zeroplan::executor {

// Saves into checkpoints_dir/step_XXXXXXXX atomically and points checkpoints_dir/latest at it.
// Returns the checkpoint directory.
std::string save_train_checkpoint(const std::string& checkpoints_dir, const TrainerState& state,
                                  OptimizerEngine& engine, const nlohmann::json& run_fingerprint);

// `path`: a checkpoint dir, a checkpoints/ dir or a run dir (both through `latest`). Verifies the
// manifest, checksums and fingerprint, fills the engine's buffers and scalar state, refreshes the
// model's parameters and returns the trainer state to resume from.
TrainerState load_train_checkpoint(const std::string& path, OptimizerEngine& engine,
                                   const nlohmann::json& run_fingerprint);

}  // namespace zeroplan::executor
