#pragma once
// The header of a .safetensors file, parsed and validated without LibTorch (so it can be fuzzed cheaply).
//
// File layout (https://github.com/huggingface/safetensors, "Format"):
//   [8 bytes: N, little-endian u64][N bytes: UTF-8 JSON header][data buffer]
//   header = { "__metadata__": {str: str} (optional),
//              "<tensor name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ... }
// Offsets are relative to the start of the data buffer; the tensors tile it exactly (no gaps, no
// overlaps, the last end = buffer size); bytes = numel x element size.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace zeroplan::executor {

enum class StDtype { kBool, kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64, kF8E4M3, kF8E5M2 };

const char* st_dtype_name(StDtype d);
std::int64_t st_dtype_size_bytes(StDtype d);

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin_bytes = 0;  // offset in the data buffer
  std::uint64_t end_bytes = 0;
  std::int64_t numel() const;
};

struct StHeader {
  std::vector<StTensorInfo> tensors;  // in file (JSON) order
  std::map<std::string, std::string> metadata;
  const StTensorInfo* find(const std::string& name) const;
};

// The Rust reference implementation's cap on the header size.
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1000 * 1000;

// Parses the JSON header of `file` (for messages) whose data buffer has `data_size_bytes` bytes.
// Every violation is an InputError "<file>: ..." naming the tensor where there is one.
StHeader parse_safetensors_header(std::string_view header_json, std::uint64_t data_size_bytes,
                                  const std::string& file);

// Parses a whole file image (prefix + header + data) held in memory: checks the 8-byte prefix
// against the image size, then calls parse_safetensors_header. Returns the data buffer's offset.
StHeader parse_safetensors_image(const unsigned char* bytes, std::uint64_t size_bytes,
                                 const std::string& file, std::uint64_t* data_offset_bytes);

}  // namespace zeroplan::executor
