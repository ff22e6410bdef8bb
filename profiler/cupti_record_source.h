#pragma once
// The hardware seam for CUPTI (style.md rule 5): the profiler talks to a CuptiRecordSource; the
// real one (cupti_record_source_cupti.cc, compiled when the CUDA toolkit's CUPTI is found) drives
// the activity API, the fake one (fake_cupti_record_source.h) replays synthetic records.
#include <cstdint>
#include <memory>
#include <string>

#include "profiler/cupti_records.h"

namespace zeroplan::profiler {

class CuptiRecordSource {
 public:
  virtual ~CuptiRecordSource() = default;
  // Starts collecting kernel, memcpy, MEMORY2 and external-correlation records. Returns "" on
  // success, else a one-line reason it cannot (no GPU, CUPTI already taken by another profiler);
  // the caller warns and continues without CUPTI.
  virtual std::string start() = 0;
  virtual void stop() = 0;
  // Tags the GPU work launched by this thread until the matching pop (one collective).
  virtual void push_external_id(std::uint64_t external_id) = 0;
  virtual void pop_external_id() = 0;
  // Everything completed since the last flush.
  virtual CuptiRecords flush() = 0;
  // CUPTI's clock now, in ns (records' timestamps are on it).
  virtual std::uint64_t now_ns() = 0;
  virtual const char* name() const = 0;
};

// The real CUPTI source when the build has CUPTI, else nullptr.
std::unique_ptr<CuptiRecordSource> make_cupti_record_source();

}  // namespace zeroplan::profiler
