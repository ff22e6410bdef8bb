#pragma once
// zeroplan.measured/v1: what a run measured, per rank (written by `zeroplan run` into RUN_DIR/
// measured.json, read by `zeroplan compare`). Pure C++.
//
// {"schema": "zeroplan.measured/v1",
//  "device": {"kind": "cpu" | "cuda", "name": "..."},
//  "config": {...the candidate that ran, as plan.json writes it...},
//  "ranks": [{"rank": 0,
//             "peak": {"params", "gradients", "optimizer_states", "activations", "buffers", "comm",
//                      "other", "total"},          // bytes; per-category maxima, total = max of sum
//             "at_peak": {...same keys...},        // breakdown at the instant of peak.total
//             "by_phase": {"forward": {"count", "wall_s", "peak": {...}, "device": {...}}, ...},
//             "step_time_s": 1.23, "step_times_s": [...],
//             "collectives": [{"op", "bytes", "count", "total_s"}],
//             "process_peak_rss_bytes": 123,
//             "device_peak": {"allocated_bytes", "reserved_bytes", "active_bytes"},   // GPU only
//             "host_peak": {...peak keys...},  // GPU only: CPU tensors (then "peak" is the GPU's)
//             "timeline": [{"t_s", "phase", "live_bytes", "peak_bytes"}]}]}
// Keys are only ever added (architecture.md); the reader rejects unknown ones.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zeroplan::reports {

inline constexpr const char* kMeasuredSchema = "zeroplan.measured/v1";
inline constexpr const char* kMeasuredFileName = "measured.json";

struct MeasuredMemory {
  std::uint64_t params = 0;
  std::uint64_t gradients = 0;
  std::uint64_t optimizer_states = 0;
  std::uint64_t activations = 0;
  std::uint64_t buffers = 0;
  std::uint64_t comm = 0;   // communication staging (buckets, gather/scatter scratch)
  std::uint64_t other = 0;  // allocated outside any category scope
  std::uint64_t total = 0;
};

struct DevicePeak {  // CUDACachingAllocator aggregate stats, peaks
  std::uint64_t allocated_bytes = 0;
  std::uint64_t reserved_bytes = 0;
  std::uint64_t active_bytes = 0;
};

struct PhaseMeasurement {
  std::int64_t count = 0;  // times the phase was entered
  double wall_s = 0;       // summed over all entries
  MeasuredMemory peak;
  std::optional<DevicePeak> device;
};

struct CollectiveMeasurement {
  std::string op;  // "all_reduce", "all_gather", "reduce_scatter", "broadcast", ...
  std::uint64_t bytes = 0;  // per call, this rank's input
  std::int64_t count = 0;
  double total_s = 0;
  double mean_s() const { return count > 0 ? total_s / static_cast<double>(count) : 0.0; }
};

struct TimelineSample {
  double t_s = 0;       // end of the phase, from the start of the run
  std::string phase;
  std::uint64_t live_bytes = 0;  // tensor bytes live at the end of the phase
  std::uint64_t peak_bytes = 0;  // peak inside this phase occurrence
};

struct MeasuredRank {
  int rank = 0;
  MeasuredMemory peak;
  MeasuredMemory at_peak;
  std::map<std::string, PhaseMeasurement> by_phase;  // "forward", "backward", "reduce", "optimizer_step", "setup"
  double step_time_s = 0;  // median over the measured steps
  std::vector<double> step_times_s;
  std::vector<CollectiveMeasurement> collectives;
  std::uint64_t process_peak_rss_bytes = 0;
  std::optional<DevicePeak> device_peak;
  std::optional<MeasuredMemory> host_peak;  // GPU runs: CPU tensor memory (peak is the GPU's)
  std::vector<TimelineSample> timeline;
};

struct MeasuredDevice {
  std::string kind = "cpu";  // "cpu" | "cuda"
  std::string name;          // "cpu", "NVIDIA H200", ...
};

struct MeasuredRun {
  MeasuredDevice device;
  nlohmann::json config = nlohmann::json::object();
  std::vector<MeasuredRank> ranks;  // sorted by rank, 0..n-1
};

nlohmann::json measured_rank_to_json(const MeasuredRank& rank);
nlohmann::json measured_run_to_json(const MeasuredRun& run);
// Strict: unknown keys, a wrong schema, duplicate or missing ranks -> InputError naming `source`.
MeasuredRank measured_rank_from_json(const nlohmann::json& j, const std::string& source,
                                     const std::string& prefix);
MeasuredRun measured_run_from_json(const nlohmann::json& j, const std::string& source);

MeasuredRun read_measured_run(const std::string& path);

// Per-rank files: each rank writes its part (RUN_DIR/measured_rank<R>.json, the MeasuredRank
// object alone); the launcher joins them into measured.json with the device and the config.
std::string measured_rank_file_name(int rank);  // "measured_rank3.json"
void write_measured_rank(const std::string& path, const MeasuredRank& rank);
// InputError naming the file on a missing or malformed rank file, or ranks not 0..n-1.
MeasuredRun assemble_measured_run(const std::vector<std::string>& rank_paths, const MeasuredDevice& device,
                                  const nlohmann::json& config);
void write_measured_run(const std::string& path, const MeasuredRun& run);  // InputError on failure

// The median of step durations, leaving out the first (warm-up) when there are at least 3.
double median_step_time_s(const std::vector<double>& step_times_s);

}  // namespace zeroplan::reports
