#pragma once
#include <cstdint>
#include <string>

namespace zeroplan {

enum class Precision { kFp32, kFp16, kBf16 };  // 16-bit = mixed precision with fp32 master weights
enum class Toggle { kOff, kOn, kAuto };
enum class AttentionImpl { kEager, kSdpa };  // eager materialises the s x s scores

struct TrainingSpec {
  std::int64_t seq_len = 2048;
  std::int64_t global_batch = 64;  // DeepSpeed's train_batch_size (sequences)
  Precision precision = Precision::kBf16;
  Toggle activation_checkpointing = Toggle::kAuto;
  AttentionImpl attention = AttentionImpl::kSdpa;
  // The optimizer is AdamW: fp32 master weights + fp32 momentum + fp32 variance (K = 12 bytes/param).
  double headroom_fraction = 0.90;  // a candidate fits when GPU total <= headroom * GPU memory
  double gradient_clipping = 1.0;
  double lr = 2e-5;
};

const char* precision_name(Precision p);
Precision parse_precision(const std::string& text, const std::string& what);
// Bytes per element of the 16-bit (or fp32) compute copy of parameters and gradients.
inline int compute_dtype_bytes(Precision p) { return p == Precision::kFp32 ? 4 : 2; }

}  // namespace zeroplan
