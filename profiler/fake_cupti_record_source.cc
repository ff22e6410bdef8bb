#include "profiler/fake_cupti_record_source.h"

#include "planner/error.h"

namespace zeroplan::profiler {

FakeCuptiRecordSource::FakeCuptiRecordSource(std::string start_error)
    : start_error_(std::move(start_error)) {}

std::string FakeCuptiRecordSource::start() {
  if (!start_error_.empty()) return start_error_;
  started_ = true;
  return "";
}

void FakeCuptiRecordSource::push_external_id(std::uint64_t external_id) {
  stack_.push_back(external_id);
  pushed_ids_.push_back(external_id);
}

void FakeCuptiRecordSource::pop_external_id() {
  ZP_ASSERT(!stack_.empty(), "pop_external_id without a matching push");
  stack_.pop_back();
}

void FakeCuptiRecordSource::launch_kernel(const std::string& name, std::uint64_t start_ns,
                                          std::uint64_t end_ns, std::uint32_t stream_id) {
  std::uint32_t correlation_id = next_correlation_id_++;
  pending_.kernels.push_back(CuptiKernel{name, start_ns, end_ns, 0, stream_id, correlation_id});
  if (!stack_.empty()) {
    pending_.correlations.push_back(CuptiExternalCorrelation{stack_.back(), correlation_id});
  }
}

void FakeCuptiRecordSource::add_records(CuptiRecords records) { pending_.append(std::move(records)); }

CuptiRecords FakeCuptiRecordSource::flush() {
  CuptiRecords out = std::move(pending_);
  pending_ = CuptiRecords{};
  return out;
}

}  // namespace zeroplan::profiler
