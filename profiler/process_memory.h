#pragma once
// The process's own memory from /proc/self/status: VmHWM (peak resident set) and VmRSS. Sees
// everything the tensor allocator does not (Gloo internals, oneDNN scratch, the binary itself).
#include <cstdint>
#include <optional>
#include <string>

namespace zeroplan::profiler {

struct ProcessMemory {
  std::uint64_t peak_rss_bytes = 0;  // VmHWM
  std::uint64_t rss_bytes = 0;       // VmRSS
};

// nullopt when /proc is not readable (not Linux).
std::optional<ProcessMemory> read_process_memory();
// Parses the text of a /proc/<pid>/status file ("VmHWM:   123456 kB").
std::optional<ProcessMemory> parse_proc_status(const std::string& status_text);
// Restarts VmHWM from the current RSS (writes "5" to /proc/self/clear_refs, Linux >= 4.0).
bool reset_process_peak_rss();

}  // namespace zeroplan::profiler
