#include "planner/candidate.h"

#include <fmt/format.h>

#include "planner/error.h"

namespace zeroplan {

const char* offload_name(OffloadDevice d) {
  switch (d) {
    case OffloadDevice::kNone: return "none";
    case OffloadDevice::kCpu: return "cpu";
  }
  return "?";
}

// DeepSpeed's offload "device" values; "nvme" is DeepSpeed's too but zeroplan does not model it, so it
// is an error rather than a silent downgrade.
OffloadDevice parse_offload(const std::string& text, const std::string& what) {
  if (text == "none") return OffloadDevice::kNone;
  if (text == "cpu") return OffloadDevice::kCpu;
  if (text == "nvme") throw InputError(fmt::format("{}: 'nvme' offload is not modelled (none, cpu)", what));
  throw InputError(fmt::format("{}: '{}' is not an offload device (none, cpu)", what, text));
}

}  // namespace zeroplan
