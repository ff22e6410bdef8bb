#include "profiler/memory_ledger.h"

#include <algorithm>

namespace zeroplan::profiler {

void MemoryLedger::raise(MemoryPeaks& peaks, const CategoryBytes& live) {
  for (std::size_t i = 0; i < kCategoryCount; ++i) {
    peaks.peak.bytes[i] = std::max(peaks.peak.bytes[i], live.bytes[i]);
  }
  if (live.total >= peaks.peak.total) {
    peaks.peak.total = live.total;
    peaks.at_peak = live;
  }
}

void MemoryLedger::update_peaks_locked() {
  raise(overall_, live_);
  auto p = static_cast<std::size_t>(phase_);
  phase_seen_[p] = true;
  raise(by_phase_[p], live_);
  window_peak_total_ = std::max(window_peak_total_, live_.total);
}

void MemoryLedger::on_alloc(const void* ptr, std::uint64_t bytes, Category category) {
  if (ptr == nullptr || bytes == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = blocks_.try_emplace(ptr, Block{bytes, category});
  if (!inserted) {
    // The allocator handed out an address we think is live: its free bypassed us. Replace it.
    live_[it->second.category] -= it->second.bytes;
    live_.total -= it->second.bytes;
    it->second = Block{bytes, category};
  }
  live_[category] += bytes;
  live_.total += bytes;
  ++allocations_;
  update_peaks_locked();
}

void MemoryLedger::on_free(const void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = blocks_.find(ptr);
  if (it == blocks_.end()) {
    ++untracked_frees_;
    return;
  }
  live_[it->second.category] -= it->second.bytes;
  live_.total -= it->second.bytes;
  blocks_.erase(it);
}

void MemoryLedger::set_phase(Phase phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  phase_ = phase;
  update_peaks_locked();
}

Phase MemoryLedger::phase() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return phase_;
}

void MemoryLedger::reset_peaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  overall_ = MemoryPeaks{live_, live_};
  by_phase_ = {};
  phase_seen_ = {};
  update_peaks_locked();
}

void MemoryLedger::reset_window() {
  std::lock_guard<std::mutex> lock(mutex_);
  window_peak_total_ = live_.total;
}

LedgerSnapshot MemoryLedger::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  LedgerSnapshot s;
  s.live = live_;
  s.overall = overall_;
  s.by_phase = by_phase_;
  s.phase_seen = phase_seen_;
  s.live_blocks = blocks_.size();
  s.allocations = allocations_;
  s.untracked_frees = untracked_frees_;
  s.window_peak_total = window_peak_total_;
  return s;
}

}  // namespace zeroplan::profiler
