#pragma once
// Live and peak bytes per memory category, overall and per phase. Pure C++ (no LibTorch): the
// tracking allocator (tracking_allocator.h) and, on GPU, anything else that sees allocations feed it.
//
// A free is attributed to the category its block was allocated under (not the one open at the
// time of the free): the ledger keeps ptr -> (bytes, category). Thread-safe (one mutex).
//
// Peaks are independent maxima: peak[c] is the most bytes category c ever held; peak.total is the
// most bytes all categories held together at one instant (so sum of peak[c] >= peak.total).
// `at_peak` is the breakdown at the instant of peak.total.
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "profiler/memory_category.h"

namespace zeroplan::profiler {

struct MemoryPeaks {
  CategoryBytes peak;     // per-category maxima; total = max of the sum
  CategoryBytes at_peak;  // the breakdown when the sum was largest
};

struct LedgerSnapshot {
  CategoryBytes live;
  MemoryPeaks overall;
  std::array<MemoryPeaks, kPhaseCount> by_phase;  // only phases entered since the last reset
  std::array<bool, kPhaseCount> phase_seen{};
  std::uint64_t live_blocks = 0;
  std::uint64_t allocations = 0;  // counted since construction
  std::uint64_t untracked_frees = 0;  // frees of pointers the ledger never saw (a bug upstream)
  std::uint64_t window_peak_total = 0;  // max of live.total since the last reset_window()
};

class MemoryLedger {
 public:
  // Records a new block. `bytes` == 0 or a null pointer is ignored.
  void on_alloc(const void* ptr, std::uint64_t bytes, Category category);
  // Releases the block, from the category it was allocated under. Unknown pointers are counted.
  void on_free(const void* ptr);

  // The phase new peaks are charged to. Entering a phase charges it the live bytes at entry.
  void set_phase(Phase phase);
  Phase phase() const;

  // Starts a new measurement: peaks (overall and per phase) restart from the live bytes now.
  void reset_peaks();
  // Restarts the window peak (the profiler opens a window per phase occurrence) from live now.
  void reset_window();
  LedgerSnapshot snapshot() const;

 private:
  struct Block {
    std::uint64_t bytes;
    Category category;
  };
  void update_peaks_locked();
  static void raise(MemoryPeaks& peaks, const CategoryBytes& live);

  mutable std::mutex mutex_;
  std::unordered_map<const void*, Block> blocks_;
  CategoryBytes live_;
  MemoryPeaks overall_;
  std::array<MemoryPeaks, kPhaseCount> by_phase_{};
  std::array<bool, kPhaseCount> phase_seen_{};
  Phase phase_ = Phase::kSetup;
  std::uint64_t allocations_ = 0;
  std::uint64_t untracked_frees_ = 0;
  std::uint64_t window_peak_total_ = 0;
};

}  // namespace zeroplan::profiler
