// Full planner search for llama-2-70b on 64 nodes x 8 H100 (issue 2 target: >= 1e5 candidates
// evaluated per second). Run: ./build/bench/plan_search_bench
#include <benchmark/benchmark.h>

#include <string>

#include "planner/hardware_spec.h"
#include "planner/memory_model.h"
#include "planner/model_spec.h"
#include "planner/roofline_step_time.h"
#include "planner/search.h"

namespace zeroplan {
namespace {

PlanContext llama70b_on_64x8_h100(std::int64_t global_batch) {
  const std::string configs = std::string(ZEROPLAN_SOURCE_DIR) + "/configs";
  PlanContext c;
  c.model = load_model_spec("llama-2-70b", configs);
  c.cluster = load_cluster_spec("64x8-h100-80gb", configs);
  c.training.seq_len = 4096;
  c.training.global_batch = global_batch;
  c.training.precision = Precision::kBf16;
  c.training.activation_checkpointing = Toggle::kAuto;
  return c;
}

// The whole search: enumerate, memory model for every candidate, step time for the fitting ones,
// rank, group rejections. items/s = candidates evaluated per second.
void BM_SearchLlama70b64xH100(benchmark::State& state) {
  const PlanContext ctx = llama70b_on_64x8_h100(state.range(0));
  const RooflineStepTimeModel roofline;
  std::int64_t evaluated = 0;
  for (auto _ : state) {
    Plan plan = search_plans(ctx, SearchOptions{}, roofline);
    evaluated += plan.evaluated_count;
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(evaluated);
  state.counters["candidates"] = static_cast<double>(evaluated) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SearchLlama70b64xH100)->Arg(512)->Arg(2048)->Arg(16384)->Unit(benchmark::kMicrosecond);

// Per-candidate cost with the step time computed for every candidate (the search skips it for
// rejected ones): memory model + DeepSpeed estimate + roofline.
void BM_EvaluateEveryCandidate(benchmark::State& state) {
  const PlanContext ctx = llama70b_on_64x8_h100(16384);
  const RooflineStepTimeModel roofline;
  const std::vector<Candidate> candidates = enumerate_candidates(ctx, SearchOptions{});
  std::int64_t evaluated = 0;
  for (auto _ : state) {
    for (const Candidate& c : candidates) benchmark::DoNotOptimize(evaluate_candidate(ctx, c, roofline));
    evaluated += static_cast<std::int64_t>(candidates.size());
  }
  state.SetItemsProcessed(evaluated);
}
BENCHMARK(BM_EvaluateEveryCandidate)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace zeroplan

BENCHMARK_MAIN();
