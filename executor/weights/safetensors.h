#pragma once
// Hugging Face safetensors: memory-mapped reader (one file, or a sharded checkpoint through
// model.safetensors.index.json), writer, and the model-level load/save in Hugging Face naming.
// Every expected failure is an InputError naming the file and the tensor.
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "executor/model/llama.h"
#include "executor/weights/safetensors_header.h"
#include "planner/model_spec.h"

namespace zeroplan::executor {

at::ScalarType st_dtype_to_torch(StDtype d);  // InputError-free: every StDtype maps (F8 needs torch >= 2.1)

// One memory-mapped .safetensors file. The mapping lives as long as the object or any tensor
// returned by view().
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // InputError when unreadable or corrupt
  const std::string& path() const { return path_; }
  const StHeader& header() const { return header_; }
  // A CPU tensor with the stored dtype and shape, copied out of the mapping (aligned, owning).
  at::Tensor read(const std::string& name) const;
  // Zero-copy CPU view of the mapping (read-only by contract; keeps the mapping alive). The data
  // may be unaligned for its dtype; prefer read() unless you copy it elsewhere at once.
  at::Tensor view(const std::string& name) const;

 private:
  const StTensorInfo& info(const std::string& name) const;
  std::string path_;
  std::shared_ptr<void> mapping_;  // munmap on release
  const unsigned char* data_ = nullptr;  // start of the data buffer
  StHeader header_;
};

// All tensors of a checkpoint directory: model.safetensors, or model.safetensors.index.json with
// its shards. Tensor names must be unique across shards.
class SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& model_dir);
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const StTensorInfo& info(const std::string& name) const;
  const std::string& file_of(const std::string& name) const;
  at::Tensor read(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
  std::string dir_;
};

// Writes `tensors` (any device, contiguous or not) to `path` in their own dtypes, atomically
// (write to path.tmp, then rename). metadata gets {"format": "pt"} as transformers expects.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       std::map<std::string, std::string> metadata = {});

// Loads every parameter of `model` from model_dir, converting dtypes (F32/BF16/F16) to the model's.
// Missing tensors, unexpected shapes or non-float dtypes are InputErrors naming file and tensor.
// A checkpoint with lm_head.weight for a tied model is accepted if it equals embed_tokens (HF
// sometimes saves both); unknown extra tensors are an error except rotary inv_freq buffers.
void load_hf_weights(const std::string& model_dir, LlamaForCausalLM& model);

// Writes dir/model.safetensors (parameters in the model's dtype, Hugging Face names) and
// dir/config.json that transformers' AutoModelForCausalLM loads. Creates dir.
void save_hf_checkpoint(const std::string& dir, LlamaForCausalLM& model, const zeroplan::ModelSpec& spec);

// The Hugging Face config.json text for `spec` (architectures, model_type, rope_scaling, ...).
std::string hf_config_json(const zeroplan::ModelSpec& spec, at::ScalarType dtype);

}  // namespace zeroplan::executor
