#pragma once
// `zeroplan run`, step 1 of 3 (run_training.h has the whole picture): turn the options into the
// run's inputs -- model spec, tokenizer, SFT data, step count, LR schedule, run directory and the
// checkpoint fingerprint. The same on every rank (each rank loads the data itself; the sampler
// then hands rank r its share).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "executor/text/sft_data.h"
#include "executor/text/tokenizer.h"
#include "executor/train/lr_schedule.h"
#include "executor/train/optimizer_engine.h"
#include "executor/train/run_training.h"
#include "planner/model_spec.h"

namespace zeroplan::executor {

// Flag checks that need nothing loaded (InputError naming the flag).
void validate_run_options(const RunOptions& o);

// --plan / --ds-config / ZeRO flags -> o.zero and the batch shape (run_plan.h, run_ds_config.h),
// for a job of `world` ranks.
struct ResolvedRun {
  nlohmann::json candidate;  // the candidate that runs, as plan.json writes it (measured.json's "config")
  std::string plan_model;    // with --plan: the planned model and its parameter count (checked
  std::int64_t plan_num_params = 0;  // against the run's model)
};
ResolvedRun resolve_run_config(RunOptions& o, int world);

struct RunInputs {
  ModelSpec spec;
  std::unique_ptr<text::Tokenizer> tokenizer;
  text::SftDataset data;
  std::int64_t examples = 0;
  std::int64_t data_tokens = 0;
  std::int64_t micro_per_epoch = 0;  // micro-batches per epoch on one rank
  std::int64_t total_steps = 0;
  LrScheduleOptions lr;
  Precision precision = Precision::kFp32;
  std::string out;  // run directory (created)
  nlohmann::json fingerprint;  // what must match for a resume (train_checkpoint.h)
};

// Loads the spec, tokenizer and data for rank `rank` of `world`; creates the run directory when
// create_out (rank 0; the others use the same path).
RunInputs load_run_inputs(const RunOptions& o, int rank, int world, bool create_out);

// "runs/<model>-<YYYYmmdd-HHMMSS>"
std::string default_out_dir(const std::string& model_name);

}  // namespace zeroplan::executor
