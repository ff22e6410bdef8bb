#include "executor/train/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "planner/error.h"

namespace zeroplan::executor {

ProcessMemory read_process_memory() {
  ProcessMemory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    // "VmRSS:\t  123456 kB"
    auto parse_kib = [&](const char* key) -> std::int64_t {
      return std::strtoll(line.c_str() + std::strlen(key), nullptr, 10) * 1024;
    };
    if (line.rfind("VmRSS:", 0) == 0) m.rss_bytes = parse_kib("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) m.peak_rss_bytes = parse_kib("VmHWM:");
  }
  return m;
}

namespace {
// JSON has no inf/nan: write null for a non-finite number (an overflowed grad norm).
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

std::string step_record_json(const StepRecord& r) {
  nlohmann::ordered_json j;
  j["step"] = r.step;
  j["loss"] = number_or_null(r.loss);
  j["lr"] = r.lr;
  j["grad_norm"] = number_or_null(r.grad_norm);
  j["loss_scale"] = r.loss_scale;
  j["tokens"] = r.tokens;
  j["tokens_per_s"] = number_or_null(r.tokens_per_s);
  j["step_time_s"] = r.step_time_s;
  j["label_tokens"] = r.label_tokens;
  j["skipped"] = r.skipped;
  j["epoch"] = r.epoch;
  return j.dump();
}

std::string progress_line(const StepRecord& r, std::int64_t total_steps, const ProcessMemory& m) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  const int width = static_cast<int>(std::to_string(total_steps).size());
  std::string line = fmt::format("step {:>{}}/{} | loss {:.4f} | lr {:.2e} | gnorm {:.3g} | {:.0f} tok/s | {:.2f} s | "
                                 "rss {:.2f} GiB peak {:.2f} GiB",
                                 r.step, width, total_steps, r.loss, r.lr, r.grad_norm, r.tokens_per_s, r.step_time_s,
                                 m.rss_bytes / kGiB, m.peak_rss_bytes / kGiB);
  if (r.skipped) line += fmt::format(" | OVERFLOW: step skipped (loss scale {:g})", r.loss_scale);
  return line;
}

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!file_) throw InputError(path + ": cannot open for writing (" + std::strerror(errno) + ")");
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const StepRecord& r) {
  const std::string line = step_record_json(r) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw InputError(path_ + ": write failed");
}

}  // namespace zeroplan::executor
