#include "profiler/profiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "planner/error.h"
#include "profiler/process_memory.h"
#include "profiler/tracking_allocator.h"

namespace zeroplan::profiler {
namespace {

reports::MeasuredMemory to_measured(const CategoryBytes& b) {
  reports::MeasuredMemory m;
  m.params = b[Category::kParams];
  m.gradients = b[Category::kGradients];
  m.optimizer_states = b[Category::kOptimizerStates];
  m.activations = b[Category::kActivations];
  m.buffers = b[Category::kBuffers];
  m.comm = b[Category::kComm];
  m.other = b[Category::kOther];
  m.total = b.total;
  return m;
}

void raise(reports::DevicePeak& peak, const DeviceMemoryStats& stats) {
  peak.allocated_bytes = std::max(peak.allocated_bytes, stats.allocated_peak_bytes);
  peak.reserved_bytes = std::max(peak.reserved_bytes, stats.reserved_peak_bytes);
  peak.active_bytes = std::max(peak.active_bytes, stats.active_peak_bytes);
}

}  // namespace

Profiler::Profiler(ProfilerOptions options)
    : rank_(options.rank),
      cuda_device_(options.cuda_device),
      ledger_(options.ledger),
      clock_(options.clock),
      cupti_(std::move(options.cupti)),
      max_timeline_samples_(options.max_timeline_samples),
      max_trace_events_(options.max_trace_events) {
  if (options.track_cpu_memory) install_cpu_memory_tracking();
  if (ledger_ == nullptr) ledger_ = &cpu_memory_ledger();
  if (clock_ == nullptr) {
    owned_clock_ = std::make_unique<SteadyClock>();
    clock_ = owned_clock_.get();
  }
  origin_s_ = clock_->now_s();
  if (cuda_device_ >= 0 && !cuda_memory_stats_available()) {
    warn(fmt::format("rank {}: no GPU visible; CUDA memory stats are not collected", rank_));
    cuda_device_ = -1;
  }
  if (cuda_device_ >= 0 && options.track_cuda_categories && install_cuda_memory_tracking()) {
    host_ledger_ = ledger_;
    ledger_ = &cuda_memory_ledger();
  }
  if (cupti_) {
    std::string error = cupti_->start();
    if (error.empty()) {
      cupti_active_ = true;
      cupti_origin_ns_ = cupti_->now_ns();
    } else {
      warn(fmt::format("rank {}: continuing without CUPTI ({})", rank_, error));
      cupti_.reset();
    }
  }
  ledger_->set_phase(Phase::kSetup);
  ledger_->reset_window();
  if (host_ledger_ != nullptr) host_ledger_->set_phase(Phase::kSetup);
}

Profiler::~Profiler() {
  if (cupti_active_) cupti_->stop();
}

void Profiler::warn(std::string message) {
  std::fprintf(stderr, "zeroplan: warning: %s\n", message.c_str());
  std::lock_guard<std::mutex> lock(mutex_);
  warnings_.push_back(std::move(message));
}

std::vector<std::string> Profiler::warnings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return warnings_;
}

void Profiler::add_event_locked(TraceEvent event) {
  if (events_.size() >= max_trace_events_) {
    ++dropped_events_;
    return;
  }
  events_.push_back(std::move(event));
}

// Closes the memory window of the innermost phase: its device peaks and a timeline sample.
void Profiler::transition_locked(double now) {
  Phase active = phase_stack_.empty() ? Phase::kSetup : phase_stack_.back().phase;
  auto& totals = phase_totals_[static_cast<std::size_t>(active)];
  if (cuda_device_ >= 0) {
    if (auto stats = read_cuda_memory_stats(cuda_device_)) {
      raise(totals.device, *stats);
      totals.has_device = true;
      raise(device_peak_, *stats);
      has_device_peak_ = true;
    }
    reset_cuda_peak_memory_stats(cuda_device_);
  }
  LedgerSnapshot snap = ledger_->snapshot();
  if (timeline_.size() < max_timeline_samples_) {
    timeline_.push_back(reports::TimelineSample{now, std::string(phase_name(active)), snap.live.total,
                                                snap.window_peak_total});
  }
  ledger_->reset_window();
  window_start_s_ = now;
}

void Profiler::begin_phase(Phase phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  double now = now_s();
  transition_locked(now);
  phase_stack_.push_back(OpenPhase{phase, now});
  ledger_->set_phase(phase);
  if (host_ledger_ != nullptr) host_ledger_->set_phase(phase);
}

void Profiler::end_phase(Phase phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  ZP_ASSERT(!phase_stack_.empty() && phase_stack_.back().phase == phase,
            "end_phase does not match the innermost begin_phase");
  double now = now_s();
  transition_locked(now);
  OpenPhase open = phase_stack_.back();
  phase_stack_.pop_back();
  auto& totals = phase_totals_[static_cast<std::size_t>(phase)];
  totals.count += 1;
  totals.wall_s += now - open.start_s;
  add_event_locked(TraceEvent{std::string(phase_name(phase)), "phase", open.start_s * 1e6,
                              (now - open.start_s) * 1e6, rank_, kPhaseLane});
  Phase now_active = phase_stack_.empty() ? Phase::kSetup : phase_stack_.back().phase;
  ledger_->set_phase(now_active);
  if (host_ledger_ != nullptr) host_ledger_->set_phase(now_active);
}

void Profiler::begin_step() {
  std::lock_guard<std::mutex> lock(mutex_);
  step_start_s_ = now_s();
}

void Profiler::end_step() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ZP_ASSERT(step_start_s_ >= 0, "end_step without begin_step");
    double now = now_s();
    double seconds = now - step_start_s_;
    step_times_s_.push_back(seconds);
    add_event_locked(TraceEvent{fmt::format("step {}", step_times_s_.size()), "step", step_start_s_ * 1e6,
                                seconds * 1e6, rank_, kStepLane});
    step_start_s_ = -1;
  }
  if (cupti_active_) flush_cupti();
}

void Profiler::record_collective(std::string_view op, std::uint64_t bytes, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  double now = now_s();
  auto& c = collectives_[{std::string(op), bytes}];
  c.op = std::string(op);
  c.bytes = bytes;
  c.count += 1;
  c.total_s += seconds;
  add_event_locked(TraceEvent{std::string(op), "collective", (now - seconds) * 1e6, seconds * 1e6, rank_,
                              kCollectiveLane, {{"bytes", bytes}}});
}

std::uint64_t Profiler::begin_collective(std::string_view op, std::uint64_t bytes) {
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = next_collective_id_++;
    open_collectives_[id] = OpenCollective{std::string(op), bytes, now_s()};
    if (cupti_active_) launches_.push_back(CollectiveLaunch{id, std::string(op), bytes});
  }
  if (cupti_active_) cupti_->push_external_id(id);
  return id;
}

void Profiler::end_collective(std::uint64_t collective_id) {
  if (cupti_active_) cupti_->pop_external_id();
  OpenCollective open;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = open_collectives_.find(collective_id);
    ZP_ASSERT(it != open_collectives_.end(), "end_collective of an unknown collective id");
    open = it->second;
    open_collectives_.erase(it);
  }
  record_collective(open.op, open.bytes, std::max(0.0, now_s() - open.start_s));
}

void Profiler::reset_peaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  ledger_->reset_peaks();
  if (host_ledger_ != nullptr) host_ledger_->reset_peaks();
  for (auto& t : phase_totals_) {
    t.has_device = false;
    t.device = {};
  }
  has_device_peak_ = false;
  device_peak_ = {};
  if (cuda_device_ >= 0) reset_cuda_peak_memory_stats(cuda_device_);
  reset_process_peak_rss();
}

void Profiler::flush_cupti() {
  if (!cupti_active_) return;
  CuptiRecords records = cupti_->flush();
  std::lock_guard<std::mutex> lock(mutex_);
  cupti_records_.append(std::move(records));
}

const CuptiSummary& Profiler::cupti_summary() {
  std::lock_guard<std::mutex> lock(mutex_);
  cupti_summary_ = attribute_cupti_records(cupti_records_, launches_);
  return cupti_summary_;
}

reports::MeasuredRank Profiler::measured_rank() {
  std::lock_guard<std::mutex> lock(mutex_);
  transition_locked(now_s());  // the open window's device peak counts too
  LedgerSnapshot snap = ledger_->snapshot();
  reports::MeasuredRank r;
  r.rank = rank_;
  r.peak = to_measured(snap.overall.peak);
  r.at_peak = to_measured(snap.overall.at_peak);
  for (Phase phase : kAllPhases) {
    auto i = static_cast<std::size_t>(phase);
    const auto& totals = phase_totals_[i];
    if (totals.count == 0 && !snap.phase_seen[i]) continue;
    reports::PhaseMeasurement m;
    m.count = totals.count;
    m.wall_s = totals.wall_s;
    m.peak = to_measured(snap.by_phase[i].peak);
    if (totals.has_device) m.device = totals.device;
    r.by_phase[std::string(phase_name(phase))] = m;
  }
  r.step_times_s = step_times_s_;
  r.step_time_s = reports::median_step_time_s(step_times_s_);
  for (const auto& [key, c] : collectives_) r.collectives.push_back(c);
  if (auto process = read_process_memory()) r.process_peak_rss_bytes = process->peak_rss_bytes;
  if (has_device_peak_) r.device_peak = device_peak_;
  if (host_ledger_ != nullptr) r.host_peak = to_measured(host_ledger_->snapshot().overall.peak);
  r.timeline = timeline_;
  return r;
}

std::vector<TraceEvent> Profiler::trace_events() {
  flush_cupti();
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TraceEvent> events = events_;
  auto to_us = [&](std::uint64_t ns) {
    return ns >= cupti_origin_ns_ ? static_cast<double>(ns - cupti_origin_ns_) * 1e-3
                                  : -static_cast<double>(cupti_origin_ns_ - ns) * 1e-3;
  };
  std::map<std::uint32_t, std::uint64_t> external_of_correlation;
  for (const auto& c : cupti_records_.correlations) external_of_correlation[c.correlation_id] = c.external_id;
  std::map<std::uint64_t, const CollectiveLaunch*> launch_of_external;
  for (const auto& l : launches_) launch_of_external[l.external_id] = &l;
  for (const auto& k : cupti_records_.kernels) {
    if (events.size() >= max_trace_events_) break;
    TraceEvent e{k.name, "kernel", to_us(k.start_ns), to_us(k.end_ns) - to_us(k.start_ns), rank_,
                 kCudaStreamLaneBase + static_cast<int>(k.stream_id)};
    e.args["correlation_id"] = k.correlation_id;
    auto ext = external_of_correlation.find(k.correlation_id);
    if (ext != external_of_correlation.end()) {
      auto launch = launch_of_external.find(ext->second);
      if (launch != launch_of_external.end()) {
        e.args["collective"] = launch->second->op;
        e.args["bytes"] = launch->second->bytes;
      }
    }
    events.push_back(std::move(e));
  }
  for (const auto& m : cupti_records_.memcpys) {
    if (events.size() >= max_trace_events_) break;
    events.push_back(TraceEvent{"memcpy " + m.copy_kind, "memcpy", to_us(m.start_ns),
                                to_us(m.end_ns) - to_us(m.start_ns), rank_,
                                kCudaStreamLaneBase + static_cast<int>(m.stream_id), {{"bytes", m.bytes}}});
  }
  return events;
}

std::vector<TraceLaneName> Profiler::trace_lanes() {
  std::vector<TraceLaneName> lanes = {{rank_, kStepLane, "steps"},
                                      {rank_, kPhaseLane, "phases"},
                                      {rank_, kCollectiveLane, "collectives"}};
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::uint32_t> streams;
  for (const auto& k : cupti_records_.kernels) streams.push_back(k.stream_id);
  for (const auto& m : cupti_records_.memcpys) streams.push_back(m.stream_id);
  std::sort(streams.begin(), streams.end());
  streams.erase(std::unique(streams.begin(), streams.end()), streams.end());
  for (auto s : streams) {
    lanes.push_back({rank_, kCudaStreamLaneBase + static_cast<int>(s), fmt::format("cuda stream {}", s)});
  }
  return lanes;
}

void Profiler::write_trace(const std::string& path) {
  auto events = trace_events();
  write_chrome_trace(path, events, trace_lanes());
}

}  // namespace zeroplan::profiler
