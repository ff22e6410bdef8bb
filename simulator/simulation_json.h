#pragma once
// zeroplan.simulation/v1 (written by `zeroplan simulate --json`) and the Chrome-trace timeline
// (`--trace FILE`, opens in Perfetto / chrome://tracing).
//
//   {"schema": "zeroplan.simulation/v1",
//    "model", "cluster", "candidate": {...},
//    "step": {"compute_s", "comm_exposed_s", "offload_s", "optimizer_s", "total_s", "tokens_per_s", "mfu"},
//    "phases": {"forward_s", "backward_s", "recompute_s", "comm_busy_s", "param_offload_s"},
//    "collectives": [{"op", "algorithm", "purpose", "bytes", "count", "time_s"}],
//    "comm_bytes_per_gpu": {"all_gather": ..., "reduce_scatter": ..., "all_reduce": ..., "total": ...},
//    "notes": [...]}
#include <nlohmann/json.hpp>

#include <string>

#include "simulator/step_simulator.h"

namespace zeroplan::sim {

inline constexpr const char* kSimulationSchema = "zeroplan.simulation/v1";

nlohmann::ordered_json simulation_to_json(const PlanContext& context, const Candidate& candidate,
                                          const SimulationResult& result);
// Chrome trace event format: {"traceEvents": [...], "displayTimeUnit": "ms"}; complete events ("ph": "X")
// in microseconds on one process with a thread per stream.
nlohmann::json trace_to_json(const SimulationResult& result, const std::string& title);

}  // namespace zeroplan::sim
