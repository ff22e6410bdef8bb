#pragma once
// Sharded training-state checkpoints: every rank writes its partitions, rank 0 the metadata.
//   RUN_DIR/checkpoints/step_00000010/
//     master.rank{r}.f32, exp_avg.rank{r}.f32, exp_avg_sq.rank{r}.f32   rank r's state_buffers()
//     shard.rank{r}.json     rank r's pieces (OptimizerEngine::shard_pieces(): param, shape,
//                            param_offset, buffer_offset, numel) and buffer sizes
//     rng_state.bin          LibTorch's CPU generator (rank 0's)
//     config.json            the model's Hugging Face config (for `zeroplan export`)
//     manifest.json          written LAST by rank 0: {format, files: {name: {bytes, checksum}} of
//                            every rank's files, meta: {run (fingerprint), trainer, engine, shards:
//                            [{rank, numel, pieces}]}}
//   RUN_DIR/checkpoints/latest   "step_00000010", replaced atomically after the directory is in place.
// The ranks write into one staging directory (.step_00000010.tmp-shards); after a barrier rank 0
// writes manifest.json, renames the directory into place and then moves `latest`. A crash at any
// point leaves the previous checkpoint and `latest` intact.
//
// Loading reads every saved rank's buffers that overlap this rank's pieces and copies the elements
// by (parameter, offset): the same world size gives back exactly the saved bytes (bit-identical
// resume); another world size re-partitions. A replicated engine (stage 0 on several ranks: every
// rank holds every element) is saved by rank 0 alone. Checkpoints of one process written before
// shards existed (no meta.shards) load into a one-process run as before.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "executor/train/optimizer_engine.h"
#include "executor/train/train_state.h"

namespace zeroplan::executor {

// Collective: every rank calls it with the same state. `barrier` synchronises the ranks (a no-op
// for one process). `model_config_json`: the Hugging Face config.json text (rank 0 stores it).
// Returns the checkpoint directory.
std::string save_sharded_checkpoint(const std::string& checkpoints_dir, const TrainerState& state,
                                    OptimizerEngine& engine, const nlohmann::json& run_fingerprint,
                                    const std::function<void()>& barrier, const std::string& model_config_json);

// `path`: a checkpoint dir, a checkpoints/ dir or a run dir (through `latest`). Checks the
// manifest, checksums and fingerprint (micro_batch, grad_accum and world may differ when
// global_batch is the same), fills this rank's buffers and scalar state, refreshes the model's
// parameters and returns the trainer state (data position converted to this world size).
// InputError naming the file on a missing, corrupt or mismatching checkpoint.
TrainerState load_sharded_checkpoint(const std::string& path, OptimizerEngine& engine,
                                     const nlohmann::json& run_fingerprint);

}  // namespace zeroplan::executor
