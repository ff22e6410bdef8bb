#pragma once
// Chrome trace ("Trace Event Format") JSON, as Perfetto and chrome://tracing open it:
//   {"traceEvents": [{"name", "cat", "ph": "X", "ts": us, "dur": us, "pid": rank, "tid": lane,
//                     "args": {...}}, ...], "displayTimeUnit": "ms"}
// plus "M" metadata events naming each process ("rank 0") and thread lane ("phases",
// "collectives", "cuda stream 7"). One file per rank; merge_chrome_traces joins them per run.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zeroplan::profiler {

// Lanes (tids) inside a rank's process.
inline constexpr int kPhaseLane = 1;
inline constexpr int kCollectiveLane = 2;
inline constexpr int kStepLane = 0;
inline constexpr int kCudaStreamLaneBase = 100;  // + CUDA stream id

struct TraceEvent {
  std::string name;
  std::string category;  // "phase", "step", "collective", "kernel", "memcpy"
  double start_us = 0;   // from the run's time origin
  double duration_us = 0;
  int pid = 0;           // rank
  int tid = 0;           // lane
  nlohmann::json args = nlohmann::json::object();
};

struct TraceLaneName {
  int pid = 0;
  int tid = 0;
  std::string name;
};

nlohmann::json chrome_trace_json(const std::vector<TraceEvent>& events,
                                 const std::vector<TraceLaneName>& lane_names);
// Throws InputError "<path>: cannot write" on failure.
void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events,
                        const std::vector<TraceLaneName>& lane_names);
// Joins the traceEvents of several trace files (one per rank) into one. InputError naming the
// file on a missing or malformed input.
void merge_chrome_traces(const std::vector<std::string>& input_paths, const std::string& output_path);

}  // namespace zeroplan::profiler
