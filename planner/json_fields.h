#pragma once
// Strict, typed reading of a JSON object at the edge (style.md rule 8).
//
//   JsonFields f(j, "configs/gpus/h100-80gb.json");
//   auto mem  = f.bytes("memory");                 // "80GB" -> bytes; bare numbers rejected
//   auto tf   = f.number("peak_bf16_tflops");      // required, > 0 checks are the caller's
//   auto note = f.optional_string("comment", "");
//   f.reject_unknown();                            // any key not read above is an error
//
// Every error is an InputError naming the source (file) and the dotted field path:
//   configs/gpus/h100-80gb.json: field "memory" is missing
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace zeroplan {

// Reads and parses a JSON file; InputError "<path>: cannot read" / "<path>: not valid JSON (...)".
nlohmann::json read_json_file(const std::string& path);

class JsonFields {
 public:
  // `source` names the file (or flag) the object came from; `prefix` is the dotted path of the object
  // inside it ("" for the root).
  JsonFields(const nlohmann::json& object, std::string source, std::string prefix = "");

  bool has(const std::string& key) const;
  const nlohmann::json& raw(const std::string& key);  // marks the key as read; throws if missing

  std::string string(const std::string& key);
  std::string optional_string(const std::string& key, const std::string& fallback);
  double number(const std::string& key);
  double optional_number(const std::string& key, double fallback);
  std::int64_t integer(const std::string& key);  // rejects 1.5, "3", true
  std::int64_t optional_integer(const std::string& key, std::int64_t fallback);
  std::int64_t positive_integer(const std::string& key);  // > 0
  bool boolean(const std::string& key);
  bool optional_boolean(const std::string& key, bool fallback);
  // A byte size: a string with a unit ("80GB", "24GiB"). A bare JSON number is rejected.
  std::uint64_t bytes(const std::string& key);
  std::uint64_t optional_bytes(const std::string& key, std::uint64_t fallback);
  // An element count: a JSON number (5e8) or a string ("5e8", "500M").
  std::uint64_t elements(const std::string& key);
  JsonFields object(const std::string& key);

  // Marks keys as known-but-unused (e.g. a "comment" or "source" note).
  void ignore(const std::string& key);
  // Throws InputError naming the first key that was never read or ignored.
  void reject_unknown() const;

  // "source: field "prefix.key" ..." — for errors the caller raises after reading a value.
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  std::string field_path(const std::string& key) const;
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& get(const std::string& key);
  const nlohmann::json* object_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> read_;
};

}  // namespace zeroplan
