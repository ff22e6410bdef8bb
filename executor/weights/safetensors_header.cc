#include "executor/weights/safetensors_header.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "planner/error.h"

namespace zeroplan::executor {
namespace {

struct DtypeName {
  const char* name;
  StDtype dtype;
  std::int64_t size_bytes;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", StDtype::kBool, 1}, {"U8", StDtype::kU8, 1},     {"I8", StDtype::kI8, 1},
    {"I16", StDtype::kI16, 2},   {"I32", StDtype::kI32, 4},   {"I64", StDtype::kI64, 8},
    {"F16", StDtype::kF16, 2},   {"BF16", StDtype::kBF16, 2}, {"F32", StDtype::kF32, 4},
    {"F64", StDtype::kF64, 8},   {"F8_E4M3", StDtype::kF8E4M3, 1}, {"F8_E5M2", StDtype::kF8E5M2, 1},
};

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file, what));
}
[[noreturn]] void fail_tensor(const std::string& file, const std::string& tensor, const std::string& what) {
  throw InputError(fmt::format("{}: tensor \"{}\": {}", file, tensor, what));
}

// A non-negative JSON integer as u64, or nullopt (floats, negatives, strings, bools).
bool as_u64(const nlohmann::json& j, std::uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    *out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

// nlohmann keeps the last of duplicate keys silently; the format forbids duplicates, so the parse
// callback tracks the keys of every open object.
nlohmann::json parse_rejecting_duplicates(std::string_view text, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) {
      open_objects.emplace_back();
    } else if (event == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == E::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {
    fail(file, fmt::format("safetensors header is not valid JSON ({})", e.what()));
  }
  if (!duplicate.empty()) fail(file, fmt::format("safetensors header has the key \"{}\" twice", duplicate));
  return j;
}

StTensorInfo parse_entry(const std::string& name, const nlohmann::json& e, const std::string& file) {
  if (!e.is_object()) fail_tensor(file, name, "header entry is not an object");
  StTensorInfo t;
  t.name = name;
  for (const auto& [key, value] : e.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail_tensor(file, name, fmt::format("unknown header field \"{}\"", key));
  }
  if (!e.contains("dtype") || !e["dtype"].is_string()) fail_tensor(file, name, "\"dtype\" is missing or not a string");
  const std::string& dtype = e["dtype"].get_ref<const std::string&>();
  const DtypeName* found = nullptr;
  for (const auto& d : kDtypes)
    if (dtype == d.name) found = &d;
  if (found == nullptr) fail_tensor(file, name, fmt::format("unknown dtype \"{}\"", dtype));
  t.dtype = found->dtype;

  if (!e.contains("shape") || !e["shape"].is_array()) fail_tensor(file, name, "\"shape\" is missing or not an array");
  std::uint64_t numel = 1;
  for (const auto& d : e["shape"]) {
    std::uint64_t dim = 0;
    if (!as_u64(d, &dim) || dim > static_cast<std::uint64_t>(INT64_MAX))
      fail_tensor(file, name, "\"shape\" holds something other than a non-negative integer");
    if (__builtin_mul_overflow(numel, dim, &numel)) fail_tensor(file, name, "shape overflows");
    t.shape.push_back(static_cast<std::int64_t>(dim));
  }
  std::uint64_t span_bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(found->size_bytes), &span_bytes))
    fail_tensor(file, name, "shape overflows");

  if (!e.contains("data_offsets") || !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
    fail_tensor(file, name, "\"data_offsets\" is not a [begin, end] pair");
  if (!as_u64(e["data_offsets"][0], &t.begin_bytes) || !as_u64(e["data_offsets"][1], &t.end_bytes))
    fail_tensor(file, name, "\"data_offsets\" holds something other than a non-negative integer");
  if (t.end_bytes < t.begin_bytes) fail_tensor(file, name, "data_offsets end before begin");
  if (t.end_bytes - t.begin_bytes != span_bytes)
    fail_tensor(file, name,
                fmt::format("data_offsets span {} bytes but shape x dtype ({} x {}) needs {}",
                            t.end_bytes - t.begin_bytes, numel, dtype, span_bytes));
  return t;
}

}  // namespace

const char* st_dtype_name(StDtype d) {
  for (const auto& x : kDtypes)
    if (x.dtype == d) return x.name;
  return "?";
}

std::int64_t st_dtype_size_bytes(StDtype d) {
  for (const auto& x : kDtypes)
    if (x.dtype == d) return x.size_bytes;
  return 0;
}

std::int64_t StTensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const StTensorInfo* StHeader::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

StHeader parse_safetensors_header(std::string_view header_json, std::uint64_t data_size_bytes,
                                  const std::string& file) {
  // The format requires the header to be a JSON object, optionally right-padded with spaces.
  if (header_json.empty() || header_json.front() != '{') fail(file, "safetensors header does not start with '{'");
  nlohmann::json j = parse_rejecting_duplicates(header_json, file);
  if (!j.is_object()) fail(file, "safetensors header is not a JSON object");

  StHeader h;
  for (const auto& [name, value] : j.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail(file, "\"__metadata__\" is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail(file, fmt::format("\"__metadata__\".\"{}\" is not a string", k));
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(name, value, file));
  }

  // The tensors must tile [0, data_size) exactly: sort by begin, then each begins where the last ended.
  std::vector<const StTensorInfo*> by_offset;
  for (const auto& t : h.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const StTensorInfo* a, const StTensorInfo* b) {
    return a->begin_bytes != b->begin_bytes ? a->begin_bytes < b->begin_bytes : a->end_bytes < b->end_bytes;
  });
  std::uint64_t expected_begin = 0;
  for (const StTensorInfo* t : by_offset) {
    if (t->end_bytes > data_size_bytes)
      fail_tensor(file, t->name,
                  fmt::format("data_offsets [{}, {}) run past the data buffer of {} bytes", t->begin_bytes,
                              t->end_bytes, data_size_bytes));
    if (t->begin_bytes < expected_begin)
      fail_tensor(file, t->name, fmt::format("data_offsets [{}, {}) overlap another tensor", t->begin_bytes, t->end_bytes));
    if (t->begin_bytes > expected_begin)
      fail_tensor(file, t->name,
                  fmt::format("data_offsets begin at {} leaving a gap after byte {}", t->begin_bytes, expected_begin));
    expected_begin = t->end_bytes;
  }
  if (expected_begin != data_size_bytes)
    fail(file, fmt::format("the tensors cover {} of the {} data bytes", expected_begin, data_size_bytes));
  return h;
}

StHeader parse_safetensors_image(const unsigned char* bytes, std::uint64_t size_bytes, const std::string& file,
                                 std::uint64_t* data_offset_bytes) {
  if (size_bytes < 8) fail(file, fmt::format("too short for a safetensors file ({} bytes)", size_bytes));
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];  // little-endian u64
  if (header_bytes > kMaxSafetensorsHeaderBytes)
    fail(file, fmt::format("safetensors header length {} exceeds the {}-byte limit", header_bytes,
                           kMaxSafetensorsHeaderBytes));
  if (header_bytes > size_bytes - 8)
    fail(file, fmt::format("safetensors header length {} runs past the end of the {}-byte file", header_bytes,
                           size_bytes));
  std::string_view json(reinterpret_cast<const char*>(bytes + 8), header_bytes);
  *data_offset_bytes = 8 + header_bytes;
  return parse_safetensors_header(json, size_bytes - 8 - header_bytes, file);
}

}  // namespace zeroplan::executor
