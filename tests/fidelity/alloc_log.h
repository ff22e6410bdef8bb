#pragma once
// A logging CPU allocator for the fidelity tests: installed above the profiler's tracking allocator,
// it records every allocation and free (bytes, signed) while enabled, so a test can print the
// executor's allocation sequence next to the planner's replay when they disagree.
#include <cstdint>
#include <vector>

namespace zeroplan::fidelity {

// Installs the profiler's tracking allocator and this logger above it (once per process).
void install_alloc_log();
// Starts (clears) and stops recording.
void alloc_log_start();
std::vector<std::int64_t> alloc_log_stop();  // +bytes for an allocation, -bytes for a free

}  // namespace zeroplan::fidelity
