#pragma once
// The LibTorch dtype a training precision computes in (the model's parameters and activations):
// fp32 -> float, bf16 -> bfloat16, fp16 -> half. The fp32 master weights, gradient accumulators and
// optimizer states of the 16-bit precisions stay float (the engines' own business).
#include <c10/core/ScalarType.h>

#include "planner/training_spec.h"

namespace zeroplan::executor {

inline at::ScalarType compute_dtype(Precision p) {
  switch (p) {
    case Precision::kFp32: return at::kFloat;
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
  }
  return at::kFloat;
}

}  // namespace zeroplan::executor
