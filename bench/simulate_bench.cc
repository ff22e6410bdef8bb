// Simulator scale benchmark (README "Simulating"): one optimizer step of llama-2-70b, ZeRO-3, on
// 64 x 8 and 1024 x 8 H100 (targets: < 50 ms and < 1 s), from scratch (topology graph + collective
// tables + the step) and with the cluster model cached (what the planner's search pays per candidate).
#include <benchmark/benchmark.h>

#include "planner/model_spec.h"
#include "simulator/simulated_step_time_model.h"
#include "simulator/step_simulator.h"
#include "simulator/topology_presets.h"

namespace {

using namespace zeroplan;

PlanContext llama70b_context(int nodes) {
  PlanContext c;
  c.model = load_model_spec("llama-2-70b", ZEROPLAN_SOURCE_DIR "/configs");
  c.cluster = sim::preset_cluster("hgx-h100", nodes);
  c.training.seq_len = 4096;
  c.training.precision = Precision::kBf16;
  return c;
}

Candidate zero3(int ranks) {
  Candidate k;
  k.zero_stage = 3;
  k.dp = ranks;
  k.micro_batch = 1;
  k.grad_accum = 4;
  k.overlap_comm = true;
  k.activation_checkpointing = true;
  return k;
}

// From scratch: build the topology graph and collective tables, then simulate the step.
void BM_SimulateStepFromScratch(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const PlanContext ctx = llama70b_context(nodes);
  const Candidate cand = zero3(nodes * 8);
  for (auto _ : state) {
    sim::SimulationResult r = sim::simulate_step(ctx, cand, sim::SimulationOptions{});
    benchmark::DoNotOptimize(r.step.total_s);
  }
  state.counters["step_s"] = sim::simulate_step(ctx, cand, sim::SimulationOptions{}).step.total_s;
}
BENCHMARK(BM_SimulateStepFromScratch)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

// Cached: what SimulatedStepTimeModel::estimate costs per candidate inside the planner's search.
void BM_EstimateCached(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const PlanContext ctx = llama70b_context(nodes);
  Candidate cand = zero3(nodes * 8);
  sim::SimulatedStepTimeModel model;
  model.estimate(ctx, cand);  // warm the caches
  std::int64_t i = 0;
  for (auto _ : state) {
    cand.zero_stage = static_cast<int>(i++ % 4);
    benchmark::DoNotOptimize(model.estimate(ctx, cand).total_s);
  }
}
BENCHMARK(BM_EstimateCached)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
