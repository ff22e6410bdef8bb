#include "planner/training_spec.h"

#include <fmt/format.h>

#include "planner/error.h"

namespace zeroplan {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

// Exact, lower-case names only: "bf16" is accepted, "BF16" or "bfloat16" are not (no guessing).
Precision parse_precision(const std::string& text, const std::string& what) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "fp16") return Precision::kFp16;
  if (text == "bf16") return Precision::kBf16;
  throw InputError(fmt::format("{}: '{}' is not a precision (fp32, fp16, bf16)", what, text));
}

const char* runtime_name(Runtime r) {
  switch (r) {
    case Runtime::kAuto: return "auto";
    case Runtime::kDeepSpeed: return "deepspeed";
    case Runtime::kZeroplan: return "zeroplan";
  }
  return "?";
}

Runtime parse_runtime(const std::string& text, const std::string& what) {
  if (text == "auto") return Runtime::kAuto;
  if (text == "deepspeed") return Runtime::kDeepSpeed;
  if (text == "zeroplan") return Runtime::kZeroplan;
  throw InputError(fmt::format("{}: '{}' is not a runtime (auto, deepspeed, zeroplan)", what, text));
}

}  // namespace zeroplan
