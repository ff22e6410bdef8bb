#pragma once
// One rank's profiler: phases, steps and collectives timed on a Clock; memory from the MemoryLedger
// (CPU tensors through the tracking allocator) and, on GPU, CUDACachingAllocator stats per phase;
// CUPTI kernels when a record source is given. Produces this rank's part of measured.json
// (reports::MeasuredRank) and its Chrome trace.
//
//   Profiler profiler({.rank = rank});
//   profiler.reset_peaks();                        // after setup: the measured window starts
//   { StepScope step(profiler);
//     { PhaseScope p(profiler, Phase::kForward); MemoryScope m(Category::kActivations); ... }
//     { PhaseScope p(profiler, Phase::kBackward); ...
//       { CollectiveScope c(profiler, "reduce_scatter", bytes); work->wait(); } } }
//   auto rank_json = reports::measured_rank_to_json(profiler.measured_rank());
//   profiler.write_trace(run_dir + "/trace_rank0.json");
//
// Phases nest (a reduce inside backward); new memory peaks go to the innermost. Thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/clock.h"
#include "profiler/cupti_attribution.h"
#include "profiler/cupti_record_source.h"
#include "profiler/device_memory_stats.h"
#include "profiler/memory_category.h"
#include "profiler/memory_ledger.h"
#include "profiler/trace_writer.h"
#include "reports/measured_run.h"

namespace zeroplan::profiler {

struct ProfilerOptions {
  int rank = 0;
  // >= 0: read CUDACachingAllocator stats of this device per phase (skipped when no GPU), and
  // (track_cuda_categories) charge GPU tensors to categories: then "peak" and "by_phase" are the
  // GPU's and the CPU ledger's peak is reported as "host_peak".
  int cuda_device = -1;
  bool track_cuda_categories = true;
  // Install the tracking CPU allocator (process-wide) and read the process ledger.
  bool track_cpu_memory = true;
  // The ledger to read; nullptr: the tracking allocator's (cpu_memory_ledger()).
  MemoryLedger* ledger = nullptr;
  // nullptr: a SteadyClock owned by the profiler.
  const Clock* clock = nullptr;
  // Optional CUPTI records (real or fake). If start() fails, a warning and no CUPTI.
  std::unique_ptr<CuptiRecordSource> cupti;
  std::size_t max_timeline_samples = 4000;
  std::size_t max_trace_events = 200000;
};

class Profiler {
 public:
  explicit Profiler(ProfilerOptions options);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void begin_phase(Phase phase);
  void end_phase(Phase phase);  // must match the innermost begin_phase
  void begin_step();
  void end_step();
  // A collective of `bytes` (this rank's input) that took `seconds`, ending now.
  void record_collective(std::string_view op, std::uint64_t bytes, double seconds);
  // CollectiveScope's halves: tags GPU work launched in between with an external id for CUPTI.
  std::uint64_t begin_collective(std::string_view op, std::uint64_t bytes);
  void end_collective(std::uint64_t collective_id);

  // Starts the measured window: memory peaks (tensor, device, process VmHWM) restart from now.
  void reset_peaks();
  // Pulls the CUPTI records completed so far (cheap to call at every step end).
  void flush_cupti();

  int rank() const { return rank_; }
  bool cupti_active() const { return cupti_active_; }
  std::vector<std::string> warnings() const;
  const CuptiSummary& cupti_summary();  // after flush_cupti()

  reports::MeasuredRank measured_rank();
  std::vector<TraceEvent> trace_events();
  std::vector<TraceLaneName> trace_lanes();
  void write_trace(const std::string& path);

 private:
  double now_s() const { return clock_->now_s() - origin_s_; }
  void transition_locked(double now);  // folds memory windows into the phase that was innermost
  void add_event_locked(TraceEvent event);
  void warn(std::string message);

  struct OpenPhase {
    Phase phase;
    double start_s;
  };
  struct PhaseTotals {
    std::int64_t count = 0;
    double wall_s = 0;
    bool has_device = false;
    reports::DevicePeak device;
  };
  struct OpenCollective {
    std::string op;
    std::uint64_t bytes;
    double start_s;
  };

  int rank_;
  int cuda_device_;
  MemoryLedger* ledger_;               // the device's categories (CPU ledger on CPU runs)
  MemoryLedger* host_ledger_ = nullptr;  // the CPU ledger when ledger_ is the GPU's
  std::unique_ptr<SteadyClock> owned_clock_;
  const Clock* clock_;
  double origin_s_;
  std::unique_ptr<CuptiRecordSource> cupti_;
  bool cupti_active_ = false;
  std::uint64_t cupti_origin_ns_ = 0;
  std::size_t max_timeline_samples_;
  std::size_t max_trace_events_;

  mutable std::mutex mutex_;
  std::vector<OpenPhase> phase_stack_;
  std::array<PhaseTotals, kPhaseCount> phase_totals_{};
  bool has_device_peak_ = false;
  reports::DevicePeak device_peak_;
  double step_start_s_ = -1;
  std::vector<double> step_times_s_;
  std::map<std::pair<std::string, std::uint64_t>, reports::CollectiveMeasurement> collectives_;
  std::uint64_t next_collective_id_ = 1;
  std::map<std::uint64_t, OpenCollective> open_collectives_;
  std::vector<CollectiveLaunch> launches_;
  CuptiRecords cupti_records_;
  CuptiSummary cupti_summary_;
  std::vector<reports::TimelineSample> timeline_;
  double window_start_s_ = 0;
  std::vector<TraceEvent> events_;
  std::uint64_t dropped_events_ = 0;
  std::vector<std::string> warnings_;
};

// RAII halves of the Profiler calls.
class PhaseScope {
 public:
  PhaseScope(Profiler& profiler, Phase phase) : profiler_(profiler), phase_(phase) {
    profiler_.begin_phase(phase_);
  }
  ~PhaseScope() { profiler_.end_phase(phase_); }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  Profiler& profiler_;
  Phase phase_;
};

class StepScope {
 public:
  explicit StepScope(Profiler& profiler) : profiler_(profiler) { profiler_.begin_step(); }
  ~StepScope() { profiler_.end_step(); }
  StepScope(const StepScope&) = delete;
  StepScope& operator=(const StepScope&) = delete;

 private:
  Profiler& profiler_;
};

// Times a collective (include the wait() in the scope: NCCL calls return before the work is done)
// and tags its GPU kernels for CUPTI.
class CollectiveScope {
 public:
  CollectiveScope(Profiler& profiler, std::string_view op, std::uint64_t bytes)
      : profiler_(profiler), id_(profiler.begin_collective(op, bytes)) {}
  ~CollectiveScope() { profiler_.end_collective(id_); }
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;

 private:
  Profiler& profiler_;
  std::uint64_t id_;
};

}  // namespace zeroplan::profiler
