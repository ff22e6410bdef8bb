#pragma once
// A CuptiRecordSource that replays synthetic records (tests, CPU machines). It behaves like CUPTI
// where it matters for attribution: a kernel "launched" while an external id is pushed gets a fresh
// correlation id and an EXTERNAL_CORRELATION record linking the two.
#include <optional>
#include <vector>

#include "profiler/cupti_record_source.h"

namespace zeroplan::profiler {

class FakeCuptiRecordSource final : public CuptiRecordSource {
 public:
  // `start_error` non-empty: start() fails with it (e.g. "CUPTI already in use").
  explicit FakeCuptiRecordSource(std::string start_error = "");

  std::string start() override;
  void stop() override { started_ = false; }
  void push_external_id(std::uint64_t external_id) override;
  void pop_external_id() override;
  CuptiRecords flush() override;
  std::uint64_t now_ns() override { return now_ns_; }
  const char* name() const override { return "fake"; }

  // Scripted activity. `launch_kernel` correlates with the innermost pushed external id.
  void launch_kernel(const std::string& name, std::uint64_t start_ns, std::uint64_t end_ns,
                     std::uint32_t stream_id = 7);
  void add_records(CuptiRecords records);  // raw records, replayed as they are
  void set_now_ns(std::uint64_t now_ns) { now_ns_ = now_ns; }
  bool started() const { return started_; }
  const std::vector<std::uint64_t>& pushed_ids() const { return pushed_ids_; }

 private:
  std::string start_error_;
  bool started_ = false;
  std::vector<std::uint64_t> stack_;
  std::vector<std::uint64_t> pushed_ids_;  // every id ever pushed, in order
  std::uint32_t next_correlation_id_ = 1;
  std::uint64_t now_ns_ = 0;
  CuptiRecords pending_;
};

}  // namespace zeroplan::profiler
