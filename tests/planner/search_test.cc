#include "planner/search.h"

#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "planner/error.h"
#include "planner/memory_model.h"
#include "planner/roofline_step_time.h"
#include "tests/planner/search_fixtures.h"

namespace zeroplan {
namespace {

using testing::context_on;
using testing::llama2_7b_shape;
using testing::tiny_llama_shape;

TEST(Search, ReturnsOnlyFittingCandidatesSortedByStepTime) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  RooflineStepTimeModel roofline;
  SearchOptions options;
  options.top_k = 50;
  const Plan plan = search_plans(ctx, options, roofline);
  ASSERT_TRUE(plan.best.has_value());
  ASSERT_GE(plan.candidates.size(), 2u);
  const std::uint64_t usable = usable_gpu_bytes(ctx);
  for (std::size_t i = 0; i < plan.candidates.size(); ++i) {
    const EvaluatedCandidate& e = plan.candidates[i];
    EXPECT_TRUE(e.fits());
    EXPECT_LE(e.memory.gpu.total(), usable);
    EXPECT_LE(e.memory.cpu.total(), usable_cpu_bytes(ctx));
    // The stored memory is what the memory model says for this candidate.
    EXPECT_EQ(e.memory.gpu.total(), estimate_memory(ctx, e.candidate).gpu.total());
    if (i > 0) {
      EXPECT_LE(plan.candidates[i - 1].step.total_s, e.step.total_s);
    }
  }
  EXPECT_EQ(plan.best->step.total_s, plan.candidates.front().step.total_s);
  // 7B in bf16 + fp32 Adam (16 bytes/param = 108 GB) cannot be replicated on 24 GB GPUs.
  for (const auto& e : plan.candidates) EXPECT_NE(e.candidate.zero_stage, 0);
  EXPECT_GT(plan.evaluated_count, plan.fitting_count);
  EXPECT_FALSE(plan.rejections.empty());
}

TEST(Search, TopCandidatesAreDistinctVisibleConfigurations) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  RooflineStepTimeModel roofline;
  SearchOptions options;
  options.top_k = 100;
  const Plan plan = search_plans(ctx, options, roofline);
  std::set<std::tuple<int, int, int, std::int64_t, bool>> seen;
  for (const auto& e : plan.candidates) {
    const Candidate& c = e.candidate;
    EXPECT_TRUE(seen.insert({c.zero_stage, static_cast<int>(c.offload_optimizer), static_cast<int>(c.offload_param),
                             c.micro_batch, c.activation_checkpointing})
                    .second);
  }
  options.top_k = 3;
  EXPECT_EQ(search_plans(ctx, options, roofline).candidates.size(), 3u);
}

TEST(Search, EveryCandidateObeysTheBatchRule) {
  for (auto [nodes, gpn, global] : {std::tuple{1, 4, 64}, std::tuple{2, 8, 48}, std::tuple{1, 1, 7}}) {
    const PlanContext ctx = context_on(tiny_llama_shape(), nodes, gpn, global);
    const std::vector<Candidate> all = enumerate_candidates(ctx, SearchOptions{});
    ASSERT_FALSE(all.empty());
    std::set<std::int64_t> micro_batches;
    for (const Candidate& c : all) {
      EXPECT_EQ(c.micro_batch * c.grad_accum * c.dp, global);
      EXPECT_EQ(c.dp, nodes * gpn);
      EXPECT_TRUE(c.offload_param == OffloadDevice::kNone || c.zero_stage == 3);
      EXPECT_TRUE(c.offload_optimizer == OffloadDevice::kNone || c.zero_stage >= 1);
      micro_batches.insert(c.micro_batch);
    }
    // Every divisor of the per-rank batch is tried.
    const std::int64_t per_rank = global / (nodes * gpn);
    std::int64_t divisors = 0;
    for (std::int64_t d = 1; d <= per_rank; ++d) divisors += per_rank % d == 0;
    EXPECT_EQ(static_cast<std::int64_t>(micro_batches.size()), divisors);
  }
}

TEST(Search, EnumerationCoversStagesOffloadsCheckpointingAndBuckets) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 2, 8);
  const std::vector<Candidate> all = enumerate_candidates(ctx, SearchOptions{});
  std::set<std::tuple<int, int, int>> stage_offloads;
  std::set<bool> ckpts;
  std::set<std::uint64_t> reduce_buckets;
  for (const Candidate& c : all) {
    stage_offloads.insert({c.zero_stage, static_cast<int>(c.offload_optimizer), static_cast<int>(c.offload_param)});
    ckpts.insert(c.activation_checkpointing);
    reduce_buckets.insert(c.reduce_bucket_size);
  }
  EXPECT_EQ(stage_offloads.size(), 8u);
  EXPECT_EQ(ckpts.size(), 2u);
  EXPECT_TRUE(reduce_buckets.count(500000000));  // DeepSpeed default
  EXPECT_TRUE(reduce_buckets.count(256u * 256u));  // HF "auto": hidden²
  EXPECT_TRUE(reduce_buckets.count(200000000));

  PlanContext off = ctx;
  off.training.activation_checkpointing = Toggle::kOff;
  for (const Candidate& c : enumerate_candidates(off, SearchOptions{})) EXPECT_FALSE(c.activation_checkpointing);
  SearchOptions fixed;
  fixed.reduce_bucket_size = 123456;
  for (const Candidate& c : enumerate_candidates(ctx, fixed)) {
    if (c.zero_stage > 0) {
      EXPECT_EQ(c.reduce_bucket_size, 123456u);
    }
  }
}

TEST(Search, PartiallyFixedOptionsRestrictTheSearch) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  RooflineStepTimeModel roofline;
  SearchOptions options;
  options.zero_stage = 3;
  options.micro_batch = 2;
  options.top_k = 20;
  const Plan plan = search_plans(ctx, options, roofline);
  ASSERT_TRUE(plan.best.has_value());
  for (const auto& e : plan.candidates) {
    EXPECT_EQ(e.candidate.zero_stage, 3);
    EXPECT_EQ(e.candidate.micro_batch, 2);
    EXPECT_EQ(e.candidate.grad_accum, 8);
  }
}

TEST(Search, RejectionsNameTheOverflowingComponent) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  RooflineStepTimeModel roofline;
  const Plan plan = search_plans(ctx, SearchOptions{}, roofline);
  bool stage0_states = false;
  std::int64_t rejected = 0;
  for (const RejectionGroup& r : plan.rejections) {
    rejected += r.count;
    EXPECT_GT(r.needed_bytes, r.usable_bytes);
    if (r.zero_stage == 0) {
      // Stage 0 keeps 16 bytes/param of model states on every GPU: 107.8 GB > 21.6 GiB.
      EXPECT_EQ(r.overflow, Overflow::kModelStates);
      EXPECT_GE(r.needed_bytes, 16ull * 6738415616ull);
      EXPECT_EQ(r.usable_bytes, usable_gpu_bytes(ctx));
      stage0_states = true;
    }
  }
  EXPECT_TRUE(stage0_states);
  EXPECT_EQ(rejected, plan.evaluated_count - plan.fitting_count);
}

TEST(Search, CpuMemoryIsPartOfTheFit) {
  PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  ctx.cluster.cpu_memory_bytes_per_node = 16ull * kGiB;  // too little for offloaded Adam states (~81 GB)
  RooflineStepTimeModel roofline;
  SearchOptions options;
  options.zero_stage = 3;
  options.offload_optimizer = OffloadDevice::kCpu;
  const Plan plan = search_plans(ctx, options, roofline);
  EXPECT_FALSE(plan.best.has_value());
  ASSERT_FALSE(plan.rejections.empty());
  bool cpu = false;
  for (const auto& r : plan.rejections) cpu = cpu || r.overflow == Overflow::kCpuMemory;
  EXPECT_TRUE(cpu);
}

TEST(Search, EvaluationModeReturnsExactlyTheGivenConfigurationEvenWhenItDoesNotFit) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  RooflineStepTimeModel roofline;
  SearchOptions o;
  o.zero_stage = 0;
  o.offload_optimizer = OffloadDevice::kNone;
  o.offload_param = OffloadDevice::kNone;
  o.micro_batch = 4;
  o.grad_accum = 4;
  ASSERT_TRUE(o.evaluation_mode());
  const Plan plan = evaluate_configuration(ctx, o, roofline);
  ASSERT_EQ(plan.candidates.size(), 1u);
  const EvaluatedCandidate& e = plan.candidates[0];
  EXPECT_FALSE(e.fits());
  EXPECT_EQ(e.candidate.zero_stage, 0);
  EXPECT_EQ(e.candidate.micro_batch, 4);
  EXPECT_EQ(e.candidate.grad_accum, 4);
  EXPECT_EQ(e.candidate.reduce_bucket_size, 500000000u);  // DeepSpeed's default
  EXPECT_GT(e.step.total_s, 0);                            // reported even when it does not fit
  ASSERT_EQ(plan.rejections.size(), 1u);
  EXPECT_EQ(plan.rejections[0].overflow, Overflow::kModelStates);

  o.zero_stage = 3;
  o.offload_optimizer = OffloadDevice::kCpu;
  o.offload_param = OffloadDevice::kCpu;
  o.micro_batch = 1;
  o.grad_accum = 16;
  const Plan fits = evaluate_configuration(ctx, o, roofline);
  ASSERT_EQ(fits.candidates.size(), 1u);
  EXPECT_TRUE(fits.candidates[0].fits());
  EXPECT_TRUE(fits.candidates[0].candidate.overlap_comm);  // DeepSpeed's stage-3 default
  EXPECT_TRUE(fits.rejections.empty());
}

TEST(Search, EvaluationModeCheckpointingAutoPrefersOffWhenItFits) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 2, 4);
  RooflineStepTimeModel roofline;
  SearchOptions o;
  o.zero_stage = 2;
  o.offload_optimizer = OffloadDevice::kNone;
  o.offload_param = OffloadDevice::kNone;
  o.micro_batch = 1;
  o.grad_accum = 2;
  EXPECT_FALSE(evaluate_configuration(ctx, o, roofline).candidates[0].candidate.activation_checkpointing);
}

TEST(Search, BadShapesAreInputErrorsNamingTheFlag) {
  RooflineStepTimeModel roofline;
  auto message = [&](const PlanContext& ctx, const SearchOptions& o) -> std::string {
    try {
      search_plans(ctx, o, roofline);
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 4, 64);
  PlanContext odd = ctx;
  odd.training.global_batch = 63;
  EXPECT_NE(message(odd, {}).find("--global-batch"), std::string::npos);
  SearchOptions mismatch;
  mismatch.micro_batch = 2;
  mismatch.grad_accum = 3;
  EXPECT_NE(message(ctx, mismatch).find("batch rule"), std::string::npos);
  SearchOptions indivisible;
  indivisible.micro_batch = 3;
  EXPECT_NE(message(ctx, indivisible).find("--micro-batch"), std::string::npos);
  SearchOptions param_stage2;
  param_stage2.zero_stage = 2;
  param_stage2.offload_param = OffloadDevice::kCpu;
  EXPECT_NE(message(ctx, param_stage2).find("--offload-param"), std::string::npos);
  SearchOptions opt_stage0;
  opt_stage0.zero_stage = 0;
  opt_stage0.offload_optimizer = OffloadDevice::kCpu;
  EXPECT_NE(message(ctx, opt_stage0).find("--offload-optimizer"), std::string::npos);
  PlanContext headroom = ctx;
  headroom.training.headroom_fraction = 1.5;
  EXPECT_NE(message(headroom, {}).find("--headroom"), std::string::npos);
}

TEST(Search, SuggestsWhatWouldFitWhenNothingDoes) {
  PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  ctx.training.activation_checkpointing = Toggle::kOff;
  ctx.training.seq_len = 4096;
  RooflineStepTimeModel roofline;
  SearchOptions o;
  o.zero_stage = 2;
  o.offload_optimizer = OffloadDevice::kNone;
  const Plan plan = search_plans(ctx, o, roofline);
  ASSERT_FALSE(plan.best.has_value());
  const std::vector<Suggestion> suggestions = suggest_fixes(ctx, o, roofline);
  ASSERT_FALSE(suggestions.empty());
  for (const Suggestion& s : suggestions) {
    EXPECT_TRUE(s.best.fits()) << s.change;
    EXPECT_FALSE(s.change.empty());
  }
}

TEST(Search, SuggestsMoreGpusOrShorterSequencesWhenTheModelIsTooBig) {
  ModelSpec big = llama2_7b_shape();
  big.num_hidden_layers = 320;  // ~65B parameters on one 24 GB GPU with 64 GiB of CPU memory
  PlanContext ctx = context_on(big, 1, 1, 8);
  ctx.cluster.cpu_memory_bytes_per_node = 64ull * kGiB;
  RooflineStepTimeModel roofline;
  const Plan plan = search_plans(ctx, SearchOptions{}, roofline);
  ASSERT_FALSE(plan.best.has_value());
  const std::vector<Suggestion> suggestions = suggest_fixes(ctx, SearchOptions{}, roofline);
  ASSERT_FALSE(suggestions.empty());
  bool more_gpus = false;
  for (const Suggestion& s : suggestions) {
    EXPECT_TRUE(s.best.fits());
    more_gpus = more_gpus || s.change.find("--nodes") != std::string::npos;
  }
  EXPECT_TRUE(more_gpus);
}

TEST(Search, BucketPresetsFollowDeepSpeedAndHfAuto) {
  const ModelSpec m = llama2_7b_shape();
  const std::vector<BucketPreset> presets = bucket_presets(m, SearchOptions{});
  ASSERT_EQ(presets.size(), 3u);
  EXPECT_EQ(presets[0].reduce_bucket_size, 500000000u);
  EXPECT_EQ(presets[0].prefetch_bucket_size, 50000000u);
  EXPECT_EQ(presets[0].param_persistence_threshold, 100000u);
  EXPECT_EQ(presets[1].reduce_bucket_size, 4096u * 4096u);
  EXPECT_EQ(presets[1].prefetch_bucket_size, 15099494u);  // 0.9 * 4096^2, truncated as HF's int()
  EXPECT_EQ(presets[1].param_persistence_threshold, 40960u);
  SearchOptions o;
  o.allgather_bucket_size = 1000;
  const auto custom = bucket_presets(m, o);
  ASSERT_EQ(custom.size(), 1u);
  EXPECT_EQ(custom[0].allgather_bucket_size, 1000u);
  EXPECT_EQ(custom[0].reduce_bucket_size, 500000000u);
}

}  // namespace
}  // namespace zeroplan
