#include "simulator/simulation_json.h"

#include <cmath>

#include "planner/candidate.h"

namespace zeroplan::sim {

nlohmann::ordered_json simulation_to_json(const PlanContext& context, const Candidate& c, const SimulationResult& r) {
  nlohmann::ordered_json j;
  j["schema"] = kSimulationSchema;
  j["model"] = context.model.name;
  j["cluster"] = context.cluster.name;
  j["candidate"] = {{"zero_stage", c.zero_stage},
                    {"offload_optimizer", offload_name(c.offload_optimizer)},
                    {"offload_param", offload_name(c.offload_param)},
                    {"micro_batch", c.micro_batch},
                    {"grad_accum", c.grad_accum},
                    {"dp", c.dp},
                    {"activation_checkpointing", c.activation_checkpointing},
                    {"overlap_comm", c.overlap_comm},
                    {"reduce_bucket_size", c.reduce_bucket_size},
                    {"allgather_bucket_size", c.allgather_bucket_size},
                    {"prefetch_bucket_size", c.prefetch_bucket_size}};
  const StepTimeEstimate& s = r.step;
  j["step"] = {{"compute_s", s.compute_s},         {"comm_exposed_s", s.comm_exposed_s}, {"offload_s", s.offload_s},
               {"optimizer_s", s.optimizer_s},     {"total_s", s.total_s},               {"tokens_per_s", s.tokens_per_s},
               {"mfu", r.mfu}};
  j["phases"] = {{"forward_s", r.forward_s},
                 {"backward_s", r.backward_s},
                 {"recompute_s", r.recompute_s},
                 {"grad_buffer_s", r.grad_buffer_s},
                 {"comm_busy_s", r.comm_busy_s},
                 {"param_offload_s", r.param_offload_s}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const CollectiveSummary& cs : r.collectives) {
    list.push_back({{"op", cs.op},
                    {"algorithm", cs.algorithm},
                    {"purpose", cs.purpose},
                    {"bytes", static_cast<std::uint64_t>(std::llround(cs.bytes))},
                    {"count", cs.count},
                    {"time_s", cs.time_s}});
  }
  j["collectives"] = list;
  nlohmann::ordered_json bytes;
  for (const auto& [k, v] : r.comm_bytes_per_gpu) bytes[k] = static_cast<std::uint64_t>(std::llround(v));
  j["comm_bytes_per_gpu"] = bytes;
  j["notes"] = r.notes;
  return j;
}

nlohmann::json trace_to_json(const SimulationResult& r, const std::string& title) {
  nlohmann::json events = nlohmann::json::array();
  const char* streams[] = {"compute", "comm", "host"};
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"tid", 0}, {"args", {{"name", title}}}});
  for (int i = 0; i < 3; ++i) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 0}, {"tid", i + 1}, {"args", {{"name", streams[i]}}}});
  }
  for (const TraceEvent& e : r.trace) {
    int tid = 1;
    for (int i = 0; i < 3; ++i) {
      if (e.stream == streams[i]) tid = i + 1;
    }
    events.push_back({{"name", e.name},
                      {"cat", e.stream},
                      {"ph", "X"},
                      {"pid", 0},
                      {"tid", tid},
                      {"ts", e.start_s * 1e6},
                      {"dur", e.duration_s * 1e6},
                      {"args", {{"detail", e.detail}}}});
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

}  // namespace zeroplan::sim
