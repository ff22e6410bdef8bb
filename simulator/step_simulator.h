#pragma once
// Simulates one optimizer step (grad_accum micro-steps + the update) of a ZeRO candidate on the topology,
// on three streams of one representative rank (all ranks are symmetric in data parallelism):
// compute, communication (one FIFO, as DeepSpeed's collectives share one NCCL communicator) and the
// host (PCIe copies, CPU Adam).
//
// The communication schedule, as the executor performs it (state it here; the executor matches it):
//  - stage 0: in EVERY micro-step, gradient buckets of reduce_bucket_size elements are all-reduced from the
//    gradient hooks as backward produces them (executor/zero/README.md: "stage 0 reduces every micro-step").
//  - stage 1: gradients accumulate locally; in step() (after the last backward) one reduce-scatter per bucket.
//  - stage 2: like stage 0 but reduce-scatter into an fp32 partition accumulator, every micro-step.
//  - stages 0, 2, 3: a bucket is copied into one of K = 1 + overlap_comm bucket buffers; its reduction runs
//    async on the communication stream, and backward waits only when the next bucket needs a busy buffer.
//  - the reducer's memory passes, on the compute stream wherever it runs (stage 0 with more than one rank --
//    one process at stage 0 is the single-process engine --, stages 2 and 3): each gradient copied into its
//    bucket as it arrives, each reduced bucket added into the fp32 accumulator when its buffer is waited for,
//    and every reduction completed before the next micro-step's forward (finish_micro_step). Per element
//    from a measured training step (grad_copy_s / grad_accumulate_s, less the in-place add grad_in_step_s
//    its forward_backward_s holds), else streamed bytes over HBM (GPUs) or host memory bandwidth (CPUs).
//  - stages 1, 2: after the optimizer step the updated partitions are all-gathered per layout bucket
//    (reduce_bucket_size elements per call; the executor does not use allgather_bucket_size).
//  - stage 3: every micro-step all-gathers each module's parameters before its forward and again before
//    its backward (prefetching up to stage3_prefetch_bucket_size elements ahead; parameters below
//    stage3_param_persistence_threshold stay resident) and reduce-scatters gradient buckets during
//    backward.
//  - with fp16, one 1-byte overflow all-reduce per step; with gradient clipping and partitioned
//    gradients (stages 1-3), one 4-byte norm all-reduce per step.
//  - offload_optimizer=cpu: gradient partitions go to the host (at the boundary for stages 1-2, after every
//    micro-step's reduce-scatter for stage 3), CPU Adam updates them, updated parameters come back.
//  - offload_param=cpu (stage 3): each all-gather is preceded by copying the rank's partition to the GPU.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "planner/step_time_model.h"
#include "simulator/collective_model.h"
#include "simulator/hardware_profile.h"
#include "simulator/topology.h"

namespace zeroplan::sim {

// Fraction of the dense datasheet peak that SFT matmuls and attention reach when nothing else runs
// (communication is simulated separately). 0.50: tuned A100 LLM training reaches 150-180 of 312 TFLOP/s
// end to end (0.48-0.58, ml-engineering "maximum achievable FLOPS"), and PyTorch's RuntimeEstimator
// assumes 0.75 for matmuls alone; SFT's small micro-batches sit between. Replaced by a hardware profile's
// measured matmul rate.
inline constexpr double kDefaultMatmulEfficiency = 0.50;
// AdamW streams 28 bytes per parameter (reads fp32 param, grad, m, v; writes param, m, v).
inline constexpr double kAdamBytesPerParam = 28.0;

struct SimulationOptions {
  double matmul_efficiency = kDefaultMatmulEfficiency;
  LinkEfficiency link_efficiency;
  const HardwareProfile* profile = nullptr;  // measured figures override the defaults above
  bool trace = false;                        // record the timeline (slower: every micro-step simulated)
};

struct CollectiveSummary {
  std::string op;          // "all_gather", ...
  std::string algorithm;   // "ring", ..., or "measured"
  std::string purpose;     // "forward param gather", "gradient reduce-scatter", ...
  double bytes = 0;        // buffer size of one call
  std::int64_t count = 0;  // calls per optimizer step
  double time_s = 0;       // total time of those calls on the communication stream
};

struct TraceEvent {
  std::string name;
  std::string stream;  // "compute", "comm", "host"
  double start_s = 0;
  double duration_s = 0;
  std::string detail;  // shown as args.detail
};

struct SimulationResult {
  StepTimeEstimate step;
  double mfu = 0;                  // model FLOPs / (step time x peak x ranks), without recompute
  double forward_s = 0;            // compute, summed over micro-steps
  double backward_s = 0;           // includes recompute
  double recompute_s = 0;
  double grad_buffer_s = 0;        // the reducer's gradient copies into buckets and fp32 accumulation, net of the
                                   // in-place accumulation a measured step contains (compute_s includes it)
  double comm_busy_s = 0;          // time the communication stream is busy
  double param_offload_s = 0;      // stage 3 parameter uploads (on the communication stream)
  double model_flops = 0;          // per step, all ranks, without recompute
  std::map<std::string, double> comm_bytes_per_gpu;  // sent per rank per step, by op, and "total"
  std::vector<CollectiveSummary> collectives;
  std::vector<TraceEvent> trace;
  std::vector<std::string> notes;  // assumptions that applied (e.g. a measured profile entry)
};

// Everything the simulation needs about the model, computed once per (model, seq_len, candidate knobs
// that change it) and reused across candidates.
struct ModuleCosts {
  std::vector<double> params;             // per module: embedding, layers..., head
  std::vector<double> gathered_params;    // stage 3: params all-gathered (without persistent ones)
  std::vector<double> forward_flops_per_token;
  std::vector<bool> is_layer;             // recompute applies to decoder layers
  double total_params = 0;
  double model_flops_per_token = 0;       // 6 x matmul params + attention, forward + backward
};
ModuleCosts module_costs(const ModelSpec& model, std::int64_t seq_len, std::uint64_t persistence_threshold);

// The shared, immutable part of a simulation on one cluster: the topology and its collective costs
// for the data-parallel group. Build once, simulate many candidates.
class ClusterModel {
 public:
  ClusterModel(const ClusterSpec& cluster, int dp, const SimulationOptions& options);
  const Topology& topology() const { return *topology_; }
  const CollectiveModel& collectives() const { return *collectives_; }
  // Seconds per byte per GPU for host <-> device copies when every GPU of a node copies at once.
  double d2h_s_per_byte() const { return d2h_s_per_byte_; }
  double h2d_s_per_byte() const { return h2d_s_per_byte_; }

 private:
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<CollectiveModel> collectives_;
  double d2h_s_per_byte_ = 0;
  double h2d_s_per_byte_ = 0;
};

SimulationResult simulate_step(const PlanContext& context, const Candidate& candidate, const ClusterModel& cluster,
                               const ModuleCosts& modules, const SimulationOptions& options);
// Convenience: builds the cluster model and module costs, then simulates.
SimulationResult simulate_step(const PlanContext& context, const Candidate& candidate,
                               const SimulationOptions& options);

}  // namespace zeroplan::sim
