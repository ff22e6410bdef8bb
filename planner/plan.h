#pragma once
// A plan: the planner's evaluated candidates plus the context they were evaluated in
// (architecture.md: "plan: the chosen candidate plus its context"). Written as zeroplan.plan/v1
// by plan_json.h; read back by `simulate`, `run` and `compare`.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/candidate.h"
#include "planner/memory_breakdown.h"
#include "planner/step_time_model.h"
#include "planner/training_spec.h"

namespace zeroplan {

// One candidate with everything the planner computed for it.
struct EvaluatedCandidate {
  Candidate candidate;
  MemoryBreakdown memory;
  DeepSpeedEstimate deepspeed_estimate;
  bool fits_gpu = false;  // memory.gpu.total() <= headroom * GPU memory
  bool fits_cpu = false;  // node_host_bytes (memory.cpu.total(), + the ranks' memory on CPU devices)
                          // <= headroom * CPU memory per node
  StepTimeEstimate step;  // computed for every candidate that is reported
  bool fits() const { return fits_gpu && fits_cpu; }
};

// Which part of the memory budget a rejected candidate overflows.
enum class Overflow {
  kModelStates,   // GPU params + gradients + optimizer states alone exceed the usable GPU memory
  kBuffers,       // model states + buffers + overhead exceed it (communication buckets, gathered params)
  kActivations,   // everything but activations fits; activations push it over
  kCpuMemory,     // the node's CPU memory (offloaded states, pinned buffers)
};
const char* overflow_name(Overflow o);  // "model_states" | "buffers" | "activations" | "cpu_memory"
Overflow parse_overflow(const std::string& text, const std::string& what);

// Rejected candidates grouped by (stage, offloads, overflowing component); `closest` is the
// candidate of the group that missed by the least.
struct RejectionGroup {
  int zero_stage = 0;
  OffloadDevice offload_optimizer = OffloadDevice::kNone;
  OffloadDevice offload_param = OffloadDevice::kNone;
  Overflow overflow = Overflow::kActivations;
  std::int64_t count = 0;
  std::uint64_t needed_bytes = 0;     // the overflowing quantity of `closest` (see overflow_needed)
  std::uint64_t usable_bytes = 0;     // what was available for it
  std::int64_t closest_micro_batch = 0;
  bool closest_activation_checkpointing = false;
};

// A variation of the request that fits when the request itself does not ("what would fit").
struct Suggestion {
  std::string change;  // "--activation-checkpointing on", "--seq-len 1024", "--nodes 2 --gpus-per-node 8 (16 GPUs)"
  EvaluatedCandidate best;
};

struct Plan {
  PlanContext context;
  std::string step_time_model;            // StepTimeModel::name() that ranked the candidates
  std::string hardware_profile;           // the hardware profile file it read ("" = datasheet figures)
  std::uint64_t usable_gpu_bytes = 0;     // headroom * GPU memory
  std::uint64_t usable_cpu_bytes = 0;     // headroom * CPU memory per node
  std::int64_t evaluated_count = 0;       // candidates evaluated
  std::int64_t fitting_count = 0;         // of which fit
  std::optional<EvaluatedCandidate> best; // the fastest fitting candidate (evaluation mode: the one)
  std::vector<EvaluatedCandidate> candidates;  // top K fitting, fastest first (evaluation mode: the one)
  std::vector<RejectionGroup> rejections;
  std::vector<Suggestion> suggestions;    // filled by the caller (suggest_fixes) when nothing fits
};

// Names used in flags, tables and JSON.
const char* toggle_name(Toggle t);  // "off" | "on" | "auto"
Toggle parse_toggle(const std::string& text, const std::string& what);
const char* attention_name(AttentionImpl a);  // "eager" | "sdpa"
AttentionImpl parse_attention(const std::string& text, const std::string& what);

}  // namespace zeroplan
