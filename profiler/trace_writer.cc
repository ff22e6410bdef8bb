#include "profiler/trace_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::profiler {
namespace {

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{}: cannot write trace", path));
  out << j.dump() << "\n";
  if (!out) throw InputError(fmt::format("{}: cannot write trace", path));
}

}  // namespace

nlohmann::json chrome_trace_json(const std::vector<TraceEvent>& events,
                                 const std::vector<TraceLaneName>& lane_names) {
  nlohmann::json list = nlohmann::json::array();
  std::vector<int> named_pids;
  for (const auto& lane : lane_names) {
    if (std::find(named_pids.begin(), named_pids.end(), lane.pid) == named_pids.end()) {
      named_pids.push_back(lane.pid);
      list.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", lane.pid}, {"tid", 0},
                      {"args", {{"name", fmt::format("rank {}", lane.pid)}}}});
      list.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", lane.pid}, {"tid", 0},
                      {"args", {{"sort_index", lane.pid}}}});
    }
    list.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", lane.pid}, {"tid", lane.tid},
                    {"args", {{"name", lane.name}}}});
  }
  for (const auto& e : events) {
    list.push_back({{"name", e.name},
                    {"cat", e.category},
                    {"ph", "X"},
                    {"ts", e.start_us},
                    {"dur", e.duration_us},
                    {"pid", e.pid},
                    {"tid", e.tid},
                    {"args", e.args}});
  }
  return {{"traceEvents", list}, {"displayTimeUnit", "ms"}};
}

void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events,
                        const std::vector<TraceLaneName>& lane_names) {
  write_json(path, chrome_trace_json(events, lane_names));
}

void merge_chrome_traces(const std::vector<std::string>& input_paths, const std::string& output_path) {
  nlohmann::json merged = nlohmann::json::array();
  for (const auto& path : input_paths) {
    nlohmann::json trace = read_json_file(path);
    if (!trace.is_object() || !trace.contains("traceEvents") || !trace["traceEvents"].is_array()) {
      throw InputError(fmt::format("{}: field \"traceEvents\" is missing or not a list", path));
    }
    for (auto& e : trace["traceEvents"]) merged.push_back(std::move(e));
  }
  write_json(output_path, {{"traceEvents", merged}, {"displayTimeUnit", "ms"}});
}

}  // namespace zeroplan::profiler
