#include "planner/plan.h"

#include <fmt/format.h>

#include "planner/error.h"

namespace zeroplan {

const char* overflow_name(Overflow o) {
  switch (o) {
    case Overflow::kModelStates: return "model_states";
    case Overflow::kBuffers: return "buffers";
    case Overflow::kActivations: return "activations";
    case Overflow::kCpuMemory: return "cpu_memory";
  }
  return "?";
}

Overflow parse_overflow(const std::string& text, const std::string& what) {
  for (Overflow o : {Overflow::kModelStates, Overflow::kBuffers, Overflow::kActivations, Overflow::kCpuMemory}) {
    if (text == overflow_name(o)) return o;
  }
  throw InputError(fmt::format("{} must be model_states, buffers, activations or cpu_memory (got \"{}\")", what, text));
}

const char* toggle_name(Toggle t) {
  switch (t) {
    case Toggle::kOff: return "off";
    case Toggle::kOn: return "on";
    case Toggle::kAuto: return "auto";
  }
  return "?";
}

Toggle parse_toggle(const std::string& text, const std::string& what) {
  if (text == "off") return Toggle::kOff;
  if (text == "on") return Toggle::kOn;
  if (text == "auto") return Toggle::kAuto;
  throw InputError(fmt::format("{} must be on, off or auto (got \"{}\")", what, text));
}

const char* attention_name(AttentionImpl a) { return a == AttentionImpl::kEager ? "eager" : "sdpa"; }

AttentionImpl parse_attention(const std::string& text, const std::string& what) {
  if (text == "eager") return AttentionImpl::kEager;
  if (text == "sdpa") return AttentionImpl::kSdpa;
  throw InputError(fmt::format("{} must be eager or sdpa (got \"{}\")", what, text));
}

}  // namespace zeroplan
