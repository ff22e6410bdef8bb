#pragma once
#include <cstdint>
#include <string>

namespace zeroplan {

enum class Precision { kFp32, kFp16, kBf16 };  // 16-bit = mixed precision with fp32 master weights
enum class Toggle { kOff, kOn, kAuto };
enum class AttentionImpl { kEager, kSdpa };  // eager materialises the s x s scores

// The runtime a plan sizes (planner/memory_model.h "Runtimes"): DeepSpeed running the Hugging Face
// model (what --ds-config hands to real DeepSpeed), or zeroplan's own executor (`zeroplan run`),
// whose buffers, loss and attention differ. kAuto resolves by device kind: CPU ranks are what
// `zeroplan run` trains on this host -> zeroplan; GPUs -> deepspeed (effective_runtime()).
enum class Runtime { kAuto, kDeepSpeed, kZeroplan };

struct TrainingSpec {
  std::int64_t seq_len = 2048;
  std::int64_t global_batch = 64;  // DeepSpeed's train_batch_size (sequences)
  Precision precision = Precision::kBf16;
  Toggle activation_checkpointing = Toggle::kAuto;
  AttentionImpl attention = AttentionImpl::kSdpa;
  Runtime runtime = Runtime::kAuto;  // resolved with effective_runtime(); plan.json stores the result
  // The optimizer is AdamW: fp32 master weights + fp32 momentum + fp32 variance (K = 12 bytes/param).
  double headroom_fraction = 0.90;  // a candidate fits when GPU total <= headroom * GPU memory
  double gradient_clipping = 1.0;
  double lr = 2e-5;
};

const char* precision_name(Precision p);
Precision parse_precision(const std::string& text, const std::string& what);
const char* runtime_name(Runtime r);  // "auto" | "deepspeed" | "zeroplan"
Runtime parse_runtime(const std::string& text, const std::string& what);

// Bytes per element of the 16-bit (or fp32) compute copy of parameters and gradients.
inline int compute_dtype_bytes(Precision p) { return p == Precision::kFp32 ? 4 : 2; }

}  // namespace zeroplan
