#include "executor/weights/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::executor {
namespace fs = std::filesystem;

at::ScalarType st_dtype_to_torch(StDtype d) {
  switch (d) {
    case StDtype::kBool: return at::kBool;
    case StDtype::kU8: return at::kByte;
    case StDtype::kI8: return at::kChar;
    case StDtype::kI16: return at::kShort;
    case StDtype::kI32: return at::kInt;
    case StDtype::kI64: return at::kLong;
    case StDtype::kF16: return at::kHalf;
    case StDtype::kBF16: return at::kBFloat16;
    case StDtype::kF32: return at::kFloat;
    case StDtype::kF64: return at::kDouble;
    case StDtype::kF8E4M3: return at::kFloat8_e4m3fn;
    case StDtype::kF8E5M2: return at::kFloat8_e5m2;
  }
  return at::kFloat;
}

namespace {

StDtype torch_to_st_dtype(at::ScalarType t, const std::string& path, const std::string& name) {
  switch (t) {
    case at::kBool: return StDtype::kBool;
    case at::kByte: return StDtype::kU8;
    case at::kChar: return StDtype::kI8;
    case at::kShort: return StDtype::kI16;
    case at::kInt: return StDtype::kI32;
    case at::kLong: return StDtype::kI64;
    case at::kHalf: return StDtype::kF16;
    case at::kBFloat16: return StDtype::kBF16;
    case at::kFloat: return StDtype::kF32;
    case at::kDouble: return StDtype::kF64;
    default:
      throw zeroplan::InputError(
          fmt::format("{}: tensor \"{}\": dtype {} cannot be written to safetensors", path, name, at::toString(t)));
  }
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw zeroplan::InputError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw zeroplan::InputError(fmt::format("{}: not a regular file", path));
  }
  const auto size_bytes = static_cast<std::uint64_t>(st.st_size);
  void* base = nullptr;
  if (size_bytes > 0) {
    base = ::mmap(nullptr, size_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) {
      ::close(fd);
      throw zeroplan::InputError(fmt::format("{}: cannot mmap ({})", path, std::strerror(errno)));
    }
  }
  ::close(fd);  // the mapping stays valid
  mapping_ = std::shared_ptr<void>(base, [size_bytes](void* p) {
    if (p != nullptr) ::munmap(p, size_bytes);
  });
  static const unsigned char kEmpty[1] = {0};
  const auto* bytes = base != nullptr ? static_cast<const unsigned char*>(base) : kEmpty;
  std::uint64_t data_offset = 0;
  header_ = parse_safetensors_image(bytes, size_bytes, path, &data_offset);
  data_ = bytes + data_offset;
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const StTensorInfo* t = header_.find(name);
  if (t == nullptr) throw zeroplan::InputError(fmt::format("{}: tensor \"{}\" is missing", path_, name));
  return *t;
}

at::Tensor SafetensorsFile::read(const std::string& name) const {
  const StTensorInfo& t = info(name);
  at::Tensor out = at::empty(t.shape, at::TensorOptions().dtype(st_dtype_to_torch(t.dtype)));
  if (t.end_bytes > t.begin_bytes) std::memcpy(out.data_ptr(), data_ + t.begin_bytes, t.end_bytes - t.begin_bytes);
  return out;
}

at::Tensor SafetensorsFile::view(const std::string& name) const {
  const StTensorInfo& t = info(name);
  auto keep_alive = mapping_;
  return at::from_blob(const_cast<unsigned char*>(data_ + t.begin_bytes), t.shape,
                       [keep_alive](void*) mutable { keep_alive.reset(); },
                       at::TensorOptions().dtype(st_dtype_to_torch(t.dtype)));
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& model_dir) : dir_(model_dir) {
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  std::vector<std::string> shard_files;
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  if (fs::exists(index)) {
    const std::string index_path = index.string();
    nlohmann::json j = zeroplan::read_json_file(index_path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw zeroplan::InputError(fmt::format("{}: field \"weight_map\" is missing or not an object", index_path));
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string())
        throw zeroplan::InputError(fmt::format("{}: field \"weight_map.{}\" is not a string", index_path, tensor));
      const std::string f = file.get<std::string>();
      // Shards live next to the index: no directories, no "..".
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        throw zeroplan::InputError(
            fmt::format("{}: field \"weight_map.{}\": \"{}\" is not a file name in this directory", index_path, tensor, f));
      weight_map[tensor] = f;
      if (std::find(shard_files.begin(), shard_files.end(), f) == shard_files.end()) shard_files.push_back(f);
    }
    if (weight_map.empty()) throw zeroplan::InputError(fmt::format("{}: \"weight_map\" is empty", index_path));
  } else if (fs::exists(single)) {
    shard_files.push_back("model.safetensors");
  } else {
    throw zeroplan::InputError(
        fmt::format("{}: no model.safetensors or model.safetensors.index.json in this directory", model_dir));
  }
  for (const auto& f : shard_files) {
    files_.push_back(std::make_unique<SafetensorsFile>((dir / f).string()));
    const SafetensorsFile* file = files_.back().get();
    for (const auto& t : file->header().tensors) {
      auto [it, inserted] = where_.emplace(t.name, file);
      if (!inserted)
        throw zeroplan::InputError(
            fmt::format("{}: tensor \"{}\" is also in {}", file->path(), t.name, it->second->path()));
    }
  }
  // With an index, every listed tensor must be in the shard it names.
  for (const auto& [tensor, f] : weight_map) {
    auto it = where_.find(tensor);
    const std::string expected = (dir / f).string();
    if (it == where_.end() || it->second->path() != expected)
      throw zeroplan::InputError(fmt::format("{}: tensor \"{}\" listed in model.safetensors.index.json is missing",
                                             expected, tensor));
  }
}

const StTensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    throw zeroplan::InputError(fmt::format("{}: tensor \"{}\" is missing from the checkpoint", dir_, name));
  return *it->second->header().find(name);
}

const std::string& SafetensorsCheckpoint::file_of(const std::string& name) const {
  info(name);
  return where_.at(name)->path();
}

at::Tensor SafetensorsCheckpoint::read(const std::string& name) const {
  info(name);
  return where_.at(name)->read(name);
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       std::map<std::string, std::string> metadata) {
  metadata.emplace("format", "pt");
  nlohmann::ordered_json header;
  header["__metadata__"] = metadata;
  std::vector<at::Tensor> cpu;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw zeroplan::InputError(fmt::format("{}: tensor name \"{}\" is duplicated or reserved", path, name));
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const StDtype dtype = torch_to_st_dtype(t.scalar_type(), path, name);
    const auto nbytes = static_cast<std::uint64_t>(t.numel()) * st_dtype_size_bytes(dtype);
    header[name] = {{"dtype", st_dtype_name(dtype)}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(std::move(t));
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // pad so the data buffer starts 8-byte aligned
  const std::uint64_t n = json.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw zeroplan::InputError(fmt::format("{}: cannot write", tmp));
    out.write(reinterpret_cast<const char*>(prefix), 8);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    for (const auto& t : cpu)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    out.flush();
    if (!out) throw zeroplan::InputError(fmt::format("{}: write failed", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw zeroplan::InputError(fmt::format("{}: cannot rename to {} ({})", tmp, path, ec.message()));
}

}  // namespace zeroplan::executor
