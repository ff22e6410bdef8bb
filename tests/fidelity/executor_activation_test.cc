// The planner's activation model for zeroplan's executor (Runtime::kZeroplan,
// planner/executor_activations.cc) against what the executor allocates: the model's forward, the
// fused lm_head + cross-entropy and backward, exactly as Trainer::train_step runs them, on full rows
// (every position labelled), charged to `activations` by the profiler's tracking allocator.
// ZP_ALLOC_LOG=1 prints the executor's allocation sequence (+bytes / -bytes) for a failing case.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "executor/model/llama.h"
#include "executor/train/fused_lm_loss.h"
#include "executor/train/single_process_engine.h"
#include "planner/activation_memory.h"
#include "planner/model_spec.h"
#include "profiler/memory_scope.h"
#include "profiler/tracking_allocator.h"
#include "tests/fidelity/alloc_log.h"

namespace zeroplan {
namespace {

struct Case {
  const char* model;
  std::int64_t micro_batch;
  std::int64_t seq_len;
  Precision precision;
  bool checkpointing;
};

std::string name_of(const Case& c) {
  return fmt::format("{} b{} s{} {} ckpt {}", c.model, c.micro_batch, c.seq_len, precision_name(c.precision),
                     c.checkpointing ? "on" : "off");
}

// Measured peak of `activations` over one micro-step (forward, fused loss, backward), as the trainer
// runs it, relative to what was live before.
std::uint64_t measure(const ModelSpec& spec, const Case& c) {
  using executor::LlamaForCausalLM;
  using executor::LossSum;
  fidelity::install_alloc_log();
  executor::ModelOptions mo;
  mo.dtype = c.precision == Precision::kFp32 ? torch::kFloat32 : torch::kBFloat16;
  mo.activation_checkpointing = c.checkpointing;
  LlamaForCausalLM model(spec, mo);
  executor::init_random(model, 7);
  executor::EngineOptions eo;
  eo.precision = c.precision == Precision::kFp32 ? executor::Precision::kFp32 : executor::Precision::kBf16;
  executor::SingleProcessEngine engine(model->hf_named_parameters(), eo);
  engine.begin_accumulation();

  const std::int64_t b = c.micro_batch, s = c.seq_len;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(b * s)), pos(ids.size());
  std::mt19937_64 rng(1);
  for (std::int64_t i = 0; i < b * s; ++i) {
    ids[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(spec.vocab_size));
    pos[static_cast<std::size_t>(i)] = i % s;
  }
  const auto long_opts = at::TensorOptions().dtype(at::kLong);
  const at::Tensor ids_t = at::from_blob(ids.data(), {b, s}, long_opts);
  const at::Tensor pos_t = at::from_blob(pos.data(), {b, s}, long_opts);

  profiler::MemoryLedger& ledger = profiler::cpu_memory_ledger();
  const std::uint64_t before = ledger.snapshot().live[profiler::Category::kActivations];
  ledger.reset_peaks();
  const bool log = std::getenv("ZP_ALLOC_LOG") != nullptr;
  if (log) fidelity::alloc_log_start();
  {
    profiler::MemoryScope scope(profiler::Category::kActivations);
    std::optional<LossSum> ls = executor::fused_causal_lm_loss_sum(model->hidden_states(ids_t, pos_t, at::Tensor()),
                                                         model->lm_head_weight(), ids_t);
    EXPECT_EQ(ls->label_tokens, b * (s - 1));
    (ls->loss_sum * (1.0 / static_cast<double>(b * (s - 1)))).backward();
    ls.reset();
  }
  if (log) {
    const auto events = fidelity::alloc_log_stop();
    std::int64_t live = 0;
    for (auto e : events) {
      live += e;
      std::printf("%+lld\t%lld\n", static_cast<long long>(e), static_cast<long long>(live));
    }
  }
  const auto snap = ledger.snapshot();
  EXPECT_EQ(snap.live[profiler::Category::kActivations], before) << "the micro-step leaked activations";
  return snap.overall.peak[profiler::Category::kActivations] - before;
}

class ExecutorActivations : public ::testing::TestWithParam<Case> {};

TEST_P(ExecutorActivations, PlannerPeakMatchesTheExecutor) {
  const Case c = GetParam();
  const ModelSpec spec = load_model_spec(c.model, ZEROPLAN_SOURCE_DIR "/configs");
  ActivationInput in;
  in.micro_batch = c.micro_batch;
  in.seq_len = c.seq_len;
  in.precision = c.precision;
  in.checkpointing = c.checkpointing;
  in.cpu_kernels = true;
  in.runtime = Runtime::kZeroplan;
  const std::uint64_t predicted = activation_peak_bytes(spec, in);
  const std::uint64_t measured = measure(spec, c);
  const double error = (static_cast<double>(measured) - static_cast<double>(predicted)) / static_cast<double>(measured);
  std::printf("%-40s predicted %12llu measured %12llu error %+.4f\n", name_of(c).c_str(),
              static_cast<unsigned long long>(predicted), static_cast<unsigned long long>(measured), error);
  // Measured to within a few bytes (a 0-d scalar or two) on LibTorch 2.11's CPU kernels.
  EXPECT_LE(std::abs(error), 0.001) << name_of(c);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, ExecutorActivations,
    ::testing::Values(Case{"tiny-llama-25m", 1, 64, Precision::kFp32, false},
                      Case{"tiny-llama-25m", 2, 128, Precision::kFp32, false},
                      Case{"tiny-llama-25m", 2, 128, Precision::kFp32, true},
                      Case{"tiny-llama-25m", 1, 64, Precision::kBf16, false},
                      Case{"tiny-llama-25m", 2, 128, Precision::kBf16, false},
                      Case{"tiny-llama-25m", 2, 128, Precision::kBf16, true},
                      Case{"tiny-llama-25m", 4, 512, Precision::kBf16, false},
                      Case{"tiny-llama-25m", 4, 512, Precision::kFp32, true},
                      // A toy shape (hidden 16, vocab 128) in fp32 without checkpointing matches too. Not
                      // listed: the same model in bf16 or with checkpointing measures 4-19% above the plan
                      // (tens of KiB): ATen's CPU GEMM allocates packing/workspace buffers for small 16-bit
                      // and transposed operands (e.g. 75520 B inside mm(g^T, h) of the fused loss at
                      // hidden 16, none at hidden 256), which the planner does not model.
                      Case{"tiny-test", 2, 64, Precision::kFp32, false}));

}  // namespace
}  // namespace zeroplan
