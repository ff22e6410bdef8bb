#include "profiler/process_memory.h"

#include <fstream>
#include <sstream>

namespace zeroplan::profiler {
namespace {

// "VmHWM:\t  123456 kB" -> bytes (the kernel's "kB" is KiB).
std::optional<std::uint64_t> field_bytes(const std::string& text, const std::string& key) {
  auto pos = text.find(key + ":");
  if (pos == std::string::npos) return std::nullopt;
  std::istringstream line(text.substr(pos + key.size() + 1));
  std::uint64_t kib = 0;
  std::string unit;
  if (!(line >> kib >> unit) || unit != "kB") return std::nullopt;
  return kib * 1024;
}

}  // namespace

std::optional<ProcessMemory> parse_proc_status(const std::string& status_text) {
  auto hwm = field_bytes(status_text, "VmHWM");
  auto rss = field_bytes(status_text, "VmRSS");
  if (!hwm || !rss) return std::nullopt;
  return ProcessMemory{*hwm, *rss};
}

std::optional<ProcessMemory> read_process_memory() {
  std::ifstream in("/proc/self/status");
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_proc_status(buffer.str());
}

bool reset_process_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace zeroplan::profiler
