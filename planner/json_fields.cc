#include "planner/json_fields.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "planner/error.h"
#include "planner/units.h"

namespace zeroplan {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read file", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string what = e.what();
    auto pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    throw InputError(fmt::format("{}: not valid JSON ({})", path, what));
  }
}

JsonFields::JsonFields(const nlohmann::json& object, std::string source, std::string prefix)
    : object_(&object), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (!object.is_object()) {
    throw InputError(prefix_.empty() ? fmt::format("{}: expected a JSON object", source_)
                                     : fmt::format("{}: field \"{}\" must be an object", source_, prefix_));
  }
}

std::string JsonFields::field_path(const std::string& key) const {
  return prefix_.empty() ? key : prefix_ + "." + key;
}

void JsonFields::fail(const std::string& key, const std::string& what) const {
  throw InputError(fmt::format("{}: field \"{}\" {}", source_, field_path(key), what));
}

bool JsonFields::has(const std::string& key) const {
  return object_->contains(key) && !(*object_)[key].is_null();
}

const nlohmann::json& JsonFields::get(const std::string& key) {
  read_.insert(key);
  if (!object_->contains(key) || (*object_)[key].is_null()) fail(key, "is missing");
  return (*object_)[key];
}

const nlohmann::json& JsonFields::raw(const std::string& key) { return get(key); }

std::string JsonFields::string(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_string()) fail(key, "must be a string");
  return v.get<std::string>();
}

std::string JsonFields::optional_string(const std::string& key, const std::string& fallback) {
  read_.insert(key);
  return has(key) ? string(key) : fallback;
}

double JsonFields::number(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_number()) fail(key, "must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d)) fail(key, "must be finite");
  return d;
}

double JsonFields::optional_number(const std::string& key, double fallback) {
  read_.insert(key);
  return has(key) ? number(key) : fallback;
}

std::int64_t JsonFields::integer(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_number_integer()) {
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return static_cast<std::int64_t>(d);
    }
    fail(key, "must be an integer");
  }
  return v.get<std::int64_t>();
}

std::int64_t JsonFields::optional_integer(const std::string& key, std::int64_t fallback) {
  read_.insert(key);
  return has(key) ? integer(key) : fallback;
}

std::int64_t JsonFields::positive_integer(const std::string& key) {
  auto v = integer(key);
  if (v <= 0) fail(key, fmt::format("must be positive (got {})", v));
  return v;
}

bool JsonFields::boolean(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_boolean()) fail(key, "must be true or false");
  return v.get<bool>();
}

bool JsonFields::optional_boolean(const std::string& key, bool fallback) {
  read_.insert(key);
  return has(key) ? boolean(key) : fallback;
}

std::uint64_t JsonFields::bytes(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_string()) fail(key, "must be a size with a unit, like \"80GB\" or \"24GiB\"");
  return parse_bytes(v.get<std::string>(), fmt::format("{}: field \"{}\"", source_, field_path(key)));
}

std::uint64_t JsonFields::optional_bytes(const std::string& key, std::uint64_t fallback) {
  read_.insert(key);
  return has(key) ? bytes(key) : fallback;
}

std::uint64_t JsonFields::elements(const std::string& key) {
  const auto& v = get(key);
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0) fail(key, "must be a non-negative element count");
    return static_cast<std::uint64_t>(std::llround(d));
  }
  if (v.is_string()) {
    return parse_elements(v.get<std::string>(), fmt::format("{}: field \"{}\"", source_, field_path(key)));
  }
  fail(key, "must be an element count like 5e8");
}

JsonFields JsonFields::object(const std::string& key) {
  const auto& v = get(key);
  if (!v.is_object()) fail(key, "must be an object");
  return JsonFields(v, source_, field_path(key));
}

void JsonFields::ignore(const std::string& key) { read_.insert(key); }

void JsonFields::reject_unknown() const {
  for (auto it = object_->begin(); it != object_->end(); ++it) {
    if (!read_.count(it.key())) {
      throw InputError(fmt::format("{}: unknown field \"{}\" (a typo? zeroplan never ignores keys silently)",
                                   source_, field_path(it.key())));
    }
  }
}

}  // namespace zeroplan
