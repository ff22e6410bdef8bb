#pragma once
// A hardware profile: what `zeroplan calibrate` measures on a machine, read by `plan` and `simulate`
// (--hardware-profile FILE) so predictions come from measurements instead of datasheets. Every field but
// "schema" is optional; what is present overrides the datasheet figure, what is absent keeps it.
//
//   {"schema": "zeroplan.hardware_profile/v1",
//    "machine": "free text: host, GPU, driver",             optional
//    "backend": "gloo" | "nccl",                            optional (what the collectives were timed with)
//    "matmul_tflops": {"bf16": 612.0, "fp16": 610.0, "fp32": 0.41},   achieved dense matmul rate by precision
//    "matmul_efficiency": 0.62,                             fraction of the datasheet peak (used when the
//                                                           precision has no matmul_tflops entry)
//    "cpu_adam_params_per_s": 2.1e9,                        AdamW updates per second, whole node (all cores)
//    "host_memory_GBps": 38.5,                              sustained host copy bandwidth, per socket
//    "pcie_h2d_GBps": 24.1, "pcie_d2h_GBps": 25.3,          pinned host<->device per GPU (min of both is used)
//    "collectives": [{"op": "all_reduce", "ranks": 2,
//                     "points": [{"bytes": 4096, "time_s": 2.1e-5}, ...]}],   time vs size, sorted or not
//    "cpu_cores": 2,                                        logical CPUs of the host (CPU-rank contention)
//    "calibrated_for": "tiny-llama-25m, 128 tokens, 2 threads",   free text: what the matmul probe ran
//    "timing_statistic": "fastest" | "median",              which repetition every time is (absent: fastest)
//    "collective_fits": [{"op": "all_gather", "ranks": 2, "alpha_s": 6e-5, "beta_s_per_byte": 1.1e-9,
//                         "fitted_bytes": [4096, 1048576, 67108864],
//                         "segments": [{"from_piece_bytes": 2048, "alpha_s": 1e-4, "beta_s_per_byte": 2e-10},
//                                      ...]}]}   Gloo alpha-beta, one per size regime (gloo_cost.h)
//
// On CPU ranks (DeviceKind::kCpu) matmul_tflops and cpu_adam_params_per_s are the whole host's rates:
// the ranks of one host share them (the simulator divides by the ranks per node). collective_fits take
// precedence over the raw "collectives" points for the ops they cover (the fit is a formula in the
// group size; the points are the record of what was measured).
//
// "training_step": [{"precision": "fp32", "ranks": 2, "model": "tiny-llama-25m", "seq_len": 128,
//                    "micro_batch": 1, "activation_checkpointing": false, "threads": 0,
//                    "forward_backward_s": 0.081, "tokens": 128}]   one whole training micro-step measured
// with `ranks` ranks of the host running it at once (training_step_profile.h); where an entry matches the
// plan's precision and model, the simulator's compute rate per rank is its model FLOPs / forward_backward_s
// (not divided again by the ranks per host) instead of matmul_tflops.
//
// Unknown keys, non-positive numbers and malformed points are InputErrors naming the file and field.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "planner/training_spec.h"
#include "simulator/collective.h"
#include "simulator/gloo_cost.h"
#include "simulator/training_step_profile.h"

namespace zeroplan::sim {

inline constexpr const char* kHardwareProfileSchema = "zeroplan.hardware_profile/v1";

struct HardwareProfile {
  std::string source;  // file it was read from
  std::string machine;
  std::string backend;
  std::optional<double> matmul_bf16_tflops, matmul_fp16_tflops, matmul_fp32_tflops;
  std::optional<double> matmul_efficiency;
  std::optional<double> cpu_adam_params_per_s;
  std::optional<double> host_memory_GBps;
  std::optional<double> pcie_h2d_GBps, pcie_d2h_GBps;
  std::vector<CollectiveMeasurement> collectives;
  std::optional<int> cpu_cores;
  std::string calibrated_for;
  std::string timing_statistic;  // "fastest", "median" or empty (not recorded: fastest)
  std::vector<GlooCollectiveFit> collective_fits;
  std::vector<TrainingStepMeasurement> training_steps;  // "training_step"

  std::optional<double> matmul_tflops(Precision p) const;
};

HardwareProfile parse_hardware_profile(const nlohmann::json& json, const std::string& source);
HardwareProfile load_hardware_profile(const std::string& path);
// The JSON `parse_hardware_profile` reads back (absent optionals are left out). `source` is not written.
nlohmann::ordered_json hardware_profile_to_json(const HardwareProfile& profile);

}  // namespace zeroplan::sim
