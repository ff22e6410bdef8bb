#include "simulator/hardware_profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::sim {

namespace {

std::optional<double> positive(JsonFields& f, const std::string& key) {
  if (!f.has(key)) return std::nullopt;
  const double v = f.number(key);
  if (!(v > 0)) f.fail(key, fmt::format("must be > 0 (got {})", v));
  return v;
}

}  // namespace

std::optional<double> HardwareProfile::matmul_tflops(Precision p) const {
  switch (p) {
    case Precision::kBf16: return matmul_bf16_tflops;
    case Precision::kFp16: return matmul_fp16_tflops;
    case Precision::kFp32: return matmul_fp32_tflops;
  }
  return std::nullopt;
}

HardwareProfile parse_hardware_profile(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw InputError(fmt::format("{}: a hardware profile must be a JSON object", source));
  JsonFields f(json, source);
  HardwareProfile p;
  p.source = source;
  const std::string schema = f.string("schema");
  if (schema != kHardwareProfileSchema) {
    f.fail("schema", fmt::format("is \"{}\"; expected \"{}\"", schema, kHardwareProfileSchema));
  }
  p.machine = f.optional_string("machine", "");
  p.backend = f.optional_string("backend", "");
  if (!p.backend.empty() && p.backend != "gloo" && p.backend != "nccl") {
    f.fail("backend", fmt::format("is \"{}\"; expected gloo or nccl", p.backend));
  }
  if (f.has("matmul_tflops")) {
    JsonFields m = f.object("matmul_tflops");
    p.matmul_bf16_tflops = positive(m, "bf16");
    p.matmul_fp16_tflops = positive(m, "fp16");
    p.matmul_fp32_tflops = positive(m, "fp32");
    m.reject_unknown();
  }
  p.matmul_efficiency = positive(f, "matmul_efficiency");
  if (p.matmul_efficiency && *p.matmul_efficiency > 1) f.fail("matmul_efficiency", "must be <= 1 (a fraction of peak)");
  p.cpu_adam_params_per_s = positive(f, "cpu_adam_params_per_s");
  p.host_memory_GBps = positive(f, "host_memory_GBps");
  p.pcie_h2d_GBps = positive(f, "pcie_h2d_GBps");
  p.pcie_d2h_GBps = positive(f, "pcie_d2h_GBps");
  if (f.has("collectives")) {
    const nlohmann::json& list = f.raw("collectives");
    if (!list.is_array()) f.fail("collectives", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string prefix = fmt::format("collectives[{}]", i);
      if (!list[i].is_object()) throw InputError(fmt::format("{}: field \"{}\" must be an object", source, prefix));
      JsonFields c(list[i], source, prefix);
      CollectiveMeasurement m;
      m.op = parse_op(c.string("op"), fmt::format("{}: field \"{}.op\"", source, prefix));
      m.ranks = static_cast<int>(c.positive_integer("ranks"));
      const nlohmann::json& points = c.raw("points");
      if (!points.is_array() || points.empty()) c.fail("points", "must be a non-empty list");
      std::vector<std::pair<double, double>> pts;
      for (size_t k = 0; k < points.size(); ++k) {
        const std::string pp = fmt::format("{}.points[{}]", prefix, k);
        if (!points[k].is_object()) throw InputError(fmt::format("{}: field \"{}\" must be an object", source, pp));
        JsonFields q(points[k], source, pp);
        const double bytes = q.number("bytes");
        const double t = q.number("time_s");
        if (!(bytes > 0)) q.fail("bytes", "must be > 0");
        if (!(t > 0)) q.fail("time_s", "must be > 0");
        q.reject_unknown();
        pts.emplace_back(bytes, t);
      }
      std::sort(pts.begin(), pts.end());
      for (size_t k = 1; k < pts.size(); ++k) {
        if (pts[k].first == pts[k - 1].first) c.fail("points", fmt::format("has two points at {} bytes", pts[k].first));
      }
      for (auto& [b, t] : pts) {
        m.bytes.push_back(b);
        m.time_s.push_back(t);
      }
      c.reject_unknown();
      p.collectives.push_back(std::move(m));
    }
  }
  if (f.has("cpu_cores")) p.cpu_cores = static_cast<int>(f.positive_integer("cpu_cores"));
  p.calibrated_for = f.optional_string("calibrated_for", "");
  p.timing_statistic = f.optional_string("timing_statistic", "");
  if (!p.timing_statistic.empty() && p.timing_statistic != "fastest" && p.timing_statistic != "median") {
    f.fail("timing_statistic", fmt::format("is \"{}\"; expected fastest or median", p.timing_statistic));
  }
  if (f.has("collective_fits")) {
    const nlohmann::json& list = f.raw("collective_fits");
    if (!list.is_array()) f.fail("collective_fits", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string prefix = fmt::format("collective_fits[{}]", i);
      if (!list[i].is_object()) throw InputError(fmt::format("{}: field \"{}\" must be an object", source, prefix));
      JsonFields c(list[i], source, prefix);
      GlooCollectiveFit fit;
      fit.op = parse_op(c.string("op"), fmt::format("{}: field \"{}.op\"", source, prefix));
      fit.ranks = static_cast<int>(c.positive_integer("ranks"));
      if (fit.ranks < 2) c.fail("ranks", "must be >= 2");
      fit.alpha_s = c.number("alpha_s");
      fit.beta_s_per_byte = c.number("beta_s_per_byte");
      if (!(fit.alpha_s >= 0)) c.fail("alpha_s", "must be >= 0");
      if (!(fit.beta_s_per_byte >= 0)) c.fail("beta_s_per_byte", "must be >= 0");
      if (!(fit.alpha_s + fit.beta_s_per_byte > 0)) c.fail("beta_s_per_byte", "alpha_s and beta_s_per_byte are both 0");
      if (c.has("fitted_bytes")) {
        const nlohmann::json& b = c.raw("fitted_bytes");
        if (!b.is_array()) c.fail("fitted_bytes", "must be a list of sizes in bytes");
        for (const auto& v : b) {
          if (!v.is_number() || !(v.get<double>() > 0)) c.fail("fitted_bytes", "must be a list of positive numbers");
          fit.fitted_bytes.push_back(v.get<double>());
        }
      }
      if (c.has("segments")) {
        const nlohmann::json& segs = c.raw("segments");
        if (!segs.is_array()) c.fail("segments", "must be a list");
        for (size_t k = 0; k < segs.size(); ++k) {
          const std::string sp = fmt::format("{}.segments[{}]", prefix, k);
          if (!segs[k].is_object()) throw InputError(fmt::format("{}: field \"{}\" must be an object", source, sp));
          JsonFields g(segs[k], source, sp);
          GlooSegment seg;
          seg.from_piece_bytes = g.number("from_piece_bytes");
          seg.alpha_s = g.number("alpha_s");
          seg.beta_s_per_byte = g.number("beta_s_per_byte");
          g.reject_unknown();
          if (!(seg.from_piece_bytes >= 0)) g.fail("from_piece_bytes", "must be >= 0");
          if (!(seg.beta_s_per_byte >= 0)) g.fail("beta_s_per_byte", "must be >= 0");
          if (!(seg.alpha_s + seg.beta_s_per_byte * seg.from_piece_bytes > 0)) {
            g.fail("alpha_s", "the time at the segment's start must be > 0");
          }
          if (!fit.segments.empty() && !(seg.from_piece_bytes > fit.segments.back().from_piece_bytes)) {
            g.fail("from_piece_bytes", "segments must be in ascending order");
          }
          fit.segments.push_back(seg);
        }
      }
      c.reject_unknown();
      for (const GlooCollectiveFit& other : p.collective_fits) {
        if (other.op == fit.op && other.ranks == fit.ranks) {
          f.fail("collective_fits", fmt::format("has two fits for {} on {} ranks", op_name(fit.op), fit.ranks));
        }
      }
      p.collective_fits.push_back(std::move(fit));
    }
  }
  p.training_steps = parse_training_steps(f);
  f.reject_unknown();
  return p;
}

nlohmann::ordered_json hardware_profile_to_json(const HardwareProfile& p) {
  nlohmann::ordered_json j;
  j["schema"] = kHardwareProfileSchema;
  if (!p.machine.empty()) j["machine"] = p.machine;
  if (!p.backend.empty()) j["backend"] = p.backend;
  if (!p.calibrated_for.empty()) j["calibrated_for"] = p.calibrated_for;
  if (!p.timing_statistic.empty()) j["timing_statistic"] = p.timing_statistic;
  if (p.cpu_cores) j["cpu_cores"] = *p.cpu_cores;
  if (p.matmul_bf16_tflops || p.matmul_fp16_tflops || p.matmul_fp32_tflops) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    if (p.matmul_bf16_tflops) m["bf16"] = *p.matmul_bf16_tflops;
    if (p.matmul_fp16_tflops) m["fp16"] = *p.matmul_fp16_tflops;
    if (p.matmul_fp32_tflops) m["fp32"] = *p.matmul_fp32_tflops;
    j["matmul_tflops"] = m;
  }
  if (p.matmul_efficiency) j["matmul_efficiency"] = *p.matmul_efficiency;
  if (p.cpu_adam_params_per_s) j["cpu_adam_params_per_s"] = *p.cpu_adam_params_per_s;
  if (p.host_memory_GBps) j["host_memory_GBps"] = *p.host_memory_GBps;
  if (p.pcie_h2d_GBps) j["pcie_h2d_GBps"] = *p.pcie_h2d_GBps;
  if (p.pcie_d2h_GBps) j["pcie_d2h_GBps"] = *p.pcie_d2h_GBps;
  if (!p.collectives.empty()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const CollectiveMeasurement& m : p.collectives) {
      nlohmann::ordered_json points = nlohmann::ordered_json::array();
      for (size_t k = 0; k < m.bytes.size(); ++k) points.push_back({{"bytes", m.bytes[k]}, {"time_s", m.time_s[k]}});
      list.push_back({{"op", op_name(m.op)}, {"ranks", m.ranks}, {"points", points}});
    }
    j["collectives"] = list;
  }
  if (!p.collective_fits.empty()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const GlooCollectiveFit& f : p.collective_fits) {
      list.push_back({{"op", op_name(f.op)},
                      {"ranks", f.ranks},
                      {"alpha_s", f.alpha_s},
                      {"beta_s_per_byte", f.beta_s_per_byte},
                      {"fitted_bytes", f.fitted_bytes}});
      if (!f.segments.empty()) {
        nlohmann::ordered_json segs = nlohmann::ordered_json::array();
        for (const GlooSegment& g : f.segments) {
          segs.push_back({{"from_piece_bytes", g.from_piece_bytes}, {"alpha_s", g.alpha_s}, {"beta_s_per_byte", g.beta_s_per_byte}});
        }
        list.back()["segments"] = segs;
      }
    }
    j["collective_fits"] = list;
  }
  if (!p.training_steps.empty()) j["training_step"] = training_steps_to_json(p.training_steps);
  return j;
}

HardwareProfile load_hardware_profile(const std::string& path) {
  return parse_hardware_profile(read_json_file(path), path);
}

}  // namespace zeroplan::sim
