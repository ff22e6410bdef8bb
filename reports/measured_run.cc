#include "reports/measured_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::reports {
namespace {

using nlohmann::json;

std::uint64_t read_bytes(JsonFields& f, const std::string& key) {
  std::int64_t v = f.integer(key);
  if (v < 0) f.fail(key, "must be >= 0 bytes");
  return static_cast<std::uint64_t>(v);
}

double read_seconds(JsonFields& f, const std::string& key) {
  double v = f.number(key);
  if (!(v >= 0)) f.fail(key, "must be >= 0 seconds");
  return v;
}

json memory_to_json(const MeasuredMemory& m) {
  return {{"params", m.params},     {"gradients", m.gradients}, {"optimizer_states", m.optimizer_states},
          {"activations", m.activations}, {"buffers", m.buffers}, {"comm", m.comm},
          {"other", m.other},       {"total", m.total}};
}

MeasuredMemory memory_from_json(JsonFields f) {
  MeasuredMemory m;
  m.params = read_bytes(f, "params");
  m.gradients = read_bytes(f, "gradients");
  m.optimizer_states = read_bytes(f, "optimizer_states");
  m.activations = read_bytes(f, "activations");
  m.buffers = read_bytes(f, "buffers");
  m.comm = f.has("comm") ? read_bytes(f, "comm") : 0;
  m.other = f.has("other") ? read_bytes(f, "other") : 0;
  m.total = read_bytes(f, "total");
  f.reject_unknown();
  return m;
}

json device_peak_to_json(const DevicePeak& d) {
  return {{"allocated_bytes", d.allocated_bytes},
          {"reserved_bytes", d.reserved_bytes},
          {"active_bytes", d.active_bytes}};
}

DevicePeak device_peak_from_json(JsonFields f) {
  DevicePeak d;
  d.allocated_bytes = read_bytes(f, "allocated_bytes");
  d.reserved_bytes = read_bytes(f, "reserved_bytes");
  d.active_bytes = read_bytes(f, "active_bytes");
  f.reject_unknown();
  return d;
}

const std::set<std::string>& known_phases() {
  static const std::set<std::string> phases = {"setup", "forward", "backward", "reduce", "optimizer_step"};
  return phases;
}

}  // namespace

double median_step_time_s(const std::vector<double>& step_times_s) {
  if (step_times_s.empty()) return 0;
  std::vector<double> steps(step_times_s.begin() + (step_times_s.size() >= 3 ? 1 : 0), step_times_s.end());
  std::sort(steps.begin(), steps.end());
  std::size_t n = steps.size();
  return n % 2 == 1 ? steps[n / 2] : 0.5 * (steps[n / 2 - 1] + steps[n / 2]);
}

json measured_rank_to_json(const MeasuredRank& r) {
  json by_phase = json::object();
  for (const auto& [name, p] : r.by_phase) {
    json pj = {{"count", p.count}, {"wall_s", p.wall_s}, {"peak", memory_to_json(p.peak)}};
    if (p.device) pj["device"] = device_peak_to_json(*p.device);
    by_phase[name] = pj;
  }
  json collectives = json::array();
  for (const auto& c : r.collectives) {
    collectives.push_back({{"op", c.op}, {"bytes", c.bytes}, {"count", c.count}, {"total_s", c.total_s}});
  }
  json timeline = json::array();
  for (const auto& s : r.timeline) {
    timeline.push_back({{"t_s", s.t_s}, {"phase", s.phase}, {"live_bytes", s.live_bytes},
                        {"peak_bytes", s.peak_bytes}});
  }
  json j = {{"rank", r.rank},
            {"peak", memory_to_json(r.peak)},
            {"at_peak", memory_to_json(r.at_peak)},
            {"by_phase", by_phase},
            {"step_time_s", r.step_time_s},
            {"step_times_s", r.step_times_s},
            {"collectives", collectives},
            {"process_peak_rss_bytes", r.process_peak_rss_bytes},
            {"timeline", timeline}};
  if (r.device_peak) j["device_peak"] = device_peak_to_json(*r.device_peak);
  if (r.host_peak) j["host_peak"] = memory_to_json(*r.host_peak);
  return j;
}

json measured_run_to_json(const MeasuredRun& run) {
  json ranks = json::array();
  for (const auto& r : run.ranks) ranks.push_back(measured_rank_to_json(r));
  return {{"schema", kMeasuredSchema},
          {"device", {{"kind", run.device.kind}, {"name", run.device.name}}},
          {"config", run.config},
          {"ranks", ranks}};
}

MeasuredRank measured_rank_from_json(const json& j, const std::string& source, const std::string& prefix) {
  JsonFields f(j, source, prefix);
  MeasuredRank r;
  std::int64_t rank = f.integer("rank");
  if (rank < 0) f.fail("rank", "must be >= 0");
  r.rank = static_cast<int>(rank);
  r.peak = memory_from_json(f.object("peak"));
  r.at_peak = f.has("at_peak") ? memory_from_json(f.object("at_peak")) : r.peak;
  if (f.has("by_phase")) {
    const json& phases = f.raw("by_phase");
    JsonFields pf(phases, source, f.field_path("by_phase"));
    for (const auto& [name, value] : phases.items()) {
      if (!known_phases().contains(name)) {
        pf.fail(name, "is not a phase (setup, forward, backward, reduce, optimizer_step)");
      }
      JsonFields p = pf.object(name);
      PhaseMeasurement m;
      m.count = p.integer("count");
      m.wall_s = read_seconds(p, "wall_s");
      m.peak = memory_from_json(p.object("peak"));
      if (p.has("device")) m.device = device_peak_from_json(p.object("device"));
      p.reject_unknown();
      r.by_phase[name] = m;
    }
  }
  r.step_time_s = read_seconds(f, "step_time_s");
  if (f.has("step_times_s")) {
    const json& steps = f.raw("step_times_s");
    if (!steps.is_array()) f.fail("step_times_s", "must be a list of seconds");
    for (const auto& s : steps) {
      if (!s.is_number() || s.get<double>() < 0) f.fail("step_times_s", "must be a list of seconds >= 0");
      r.step_times_s.push_back(s.get<double>());
    }
  }
  if (f.has("collectives")) {
    const json& list = f.raw("collectives");
    if (!list.is_array()) f.fail("collectives", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      JsonFields c(list[i], source, fmt::format("{}[{}]", f.field_path("collectives"), i));
      CollectiveMeasurement m;
      m.op = c.string("op");
      m.bytes = read_bytes(c, "bytes");
      m.count = c.integer("count");
      if (m.count < 0) c.fail("count", "must be >= 0");
      m.total_s = read_seconds(c, "total_s");
      c.reject_unknown();
      r.collectives.push_back(m);
    }
  }
  r.process_peak_rss_bytes = f.has("process_peak_rss_bytes") ? read_bytes(f, "process_peak_rss_bytes") : 0;
  if (f.has("device_peak")) r.device_peak = device_peak_from_json(f.object("device_peak"));
  if (f.has("host_peak")) r.host_peak = memory_from_json(f.object("host_peak"));
  if (f.has("timeline")) {
    const json& list = f.raw("timeline");
    if (!list.is_array()) f.fail("timeline", "must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      JsonFields s(list[i], source, fmt::format("{}[{}]", f.field_path("timeline"), i));
      TimelineSample t;
      t.t_s = read_seconds(s, "t_s");
      t.phase = s.string("phase");
      t.live_bytes = read_bytes(s, "live_bytes");
      t.peak_bytes = read_bytes(s, "peak_bytes");
      s.reject_unknown();
      r.timeline.push_back(t);
    }
  }
  f.reject_unknown();
  return r;
}

MeasuredRun measured_run_from_json(const json& j, const std::string& source) {
  JsonFields f(j, source);
  std::string schema = f.string("schema");
  if (schema != kMeasuredSchema) {
    f.fail("schema", fmt::format("is \"{}\", expected \"{}\"", schema, kMeasuredSchema));
  }
  MeasuredRun run;
  JsonFields d = f.object("device");
  run.device.kind = d.string("kind");
  if (run.device.kind != "cpu" && run.device.kind != "cuda") d.fail("kind", "must be \"cpu\" or \"cuda\"");
  run.device.name = d.optional_string("name", "");
  d.reject_unknown();
  run.config = f.raw("config");
  if (!run.config.is_object()) f.fail("config", "must be an object (the candidate that ran)");
  const json& ranks = f.raw("ranks");
  if (!ranks.is_array() || ranks.empty()) f.fail("ranks", "must be a non-empty list");
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    run.ranks.push_back(measured_rank_from_json(ranks[i], source, fmt::format("ranks[{}]", i)));
  }
  std::sort(run.ranks.begin(), run.ranks.end(), [](const auto& a, const auto& b) { return a.rank < b.rank; });
  for (std::size_t i = 0; i < run.ranks.size(); ++i) {
    if (run.ranks[i].rank != static_cast<int>(i)) {
      f.fail("ranks", fmt::format("must hold ranks 0..{} once each (rank {} is missing or repeated)",
                                  run.ranks.size() - 1, i));
    }
  }
  f.reject_unknown();
  return run;
}

MeasuredRun read_measured_run(const std::string& path) {
  return measured_run_from_json(read_json_file(path), path);
}

std::string measured_rank_file_name(int rank) { return fmt::format("measured_rank{}.json", rank); }

void write_measured_rank(const std::string& path, const MeasuredRank& rank) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{}: cannot write", path));
  out << measured_rank_to_json(rank).dump(2) << "\n";
  if (!out) throw InputError(fmt::format("{}: cannot write", path));
}

MeasuredRun assemble_measured_run(const std::vector<std::string>& rank_paths, const MeasuredDevice& device,
                                  const nlohmann::json& config) {
  json j = {{"schema", kMeasuredSchema},
            {"device", {{"kind", device.kind}, {"name", device.name}}},
            {"config", config},
            {"ranks", json::array()}};
  for (const auto& path : rank_paths) {
    MeasuredRank rank = measured_rank_from_json(read_json_file(path), path, "");
    j["ranks"].push_back(measured_rank_to_json(rank));
  }
  std::string source = rank_paths.empty() ? std::string("measured ranks") : rank_paths.front();
  return measured_run_from_json(j, source);  // checks ranks 0..n-1 and the device kind
}

void write_measured_run(const std::string& path, const MeasuredRun& run) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{}: cannot write", path));
  out << measured_run_to_json(run).dump(2) << "\n";
  if (!out) throw InputError(fmt::format("{}: cannot write", path));
}

}  // namespace zeroplan::reports
