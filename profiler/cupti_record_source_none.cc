// Builds without CUPTI (no CUDA toolkit found): there is no real record source.
#include "profiler/cupti_record_source.h"

namespace zeroplan::profiler {

std::unique_ptr<CuptiRecordSource> make_cupti_record_source() { return nullptr; }

}  // namespace zeroplan::profiler
