#pragma once
// The manifest's "trainer" and "engine" scalars, shared by the one-process checkpoint
// (train_checkpoint.h) and the sharded one (sharded_checkpoint.h) so both write and read the same keys.
#include <nlohmann/json.hpp>

#include "executor/train/optimizer_engine.h"
#include "executor/train/train_state.h"

namespace zeroplan::executor {

// {"step", "skipped_steps", "epoch", "index", "lr_last_batch_iteration"}
nlohmann::json trainer_meta_json(const TrainerState& state);
// Reads trainer_meta_json's keys (rng_state is left empty); nlohmann::json::exception on a missing or
// mistyped key, as engine_scalar_from_json.
TrainerState trainer_meta_from_json(const nlohmann::json& trainer);
// {"adam_step", "loss_scale", "scaler_cur_iter", "scaler_last_overflow_iter", "scaler_cur_hysteresis"};
// callers add their own keys (world, num_parameters, ...).
nlohmann::json engine_scalar_json(const EngineScalarState& es);
// Reads engine_scalar_json's keys; nlohmann::json::exception on a missing or mistyped key (the
// loaders turn it into one InputError naming the manifest).
EngineScalarState engine_scalar_from_json(const nlohmann::json& engine);

}  // namespace zeroplan::executor
