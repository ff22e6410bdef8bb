#include "planner/units.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

#include "planner/error.h"

namespace zeroplan {
namespace {

struct NumberAndSuffix {
  double value;
  std::string suffix;
};

NumberAndSuffix split_number(std::string_view text, std::string_view what) {
  std::string s(text);
  // Trim surrounding whitespace.
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  s = s.substr(start);
  if (s.empty()) throw InputError(fmt::format("{}: empty size", what));
  const char* begin = s.c_str();
  char* end = nullptr;
  double value = std::strtod(begin, &end);
  if (end == begin) throw InputError(fmt::format("{}: '{}' is not a number", what, text));
  std::string suffix(end);
  while (!suffix.empty() && suffix.front() == ' ') suffix.erase(suffix.begin());
  if (!std::isfinite(value)) throw InputError(fmt::format("{}: '{}' is not finite", what, text));
  if (value < 0) throw InputError(fmt::format("{}: '{}' is negative", what, text));
  return {value, suffix};
}

std::uint64_t to_integer(double value, std::string_view text, std::string_view what) {
  if (value >= 1.8e19) throw InputError(fmt::format("{}: '{}' is too large", what, text));
  return static_cast<std::uint64_t>(std::llround(value));
}

}  // namespace

std::uint64_t parse_bytes(std::string_view text, std::string_view what) {
  auto [value, suffix] = split_number(text, what);
  if (suffix.empty()) {
    throw InputError(fmt::format(
        "{}: '{}' has no unit; write e.g. '{}GiB', '{}GB' or '{}B'", what, text, text, text, text));
  }
  std::string unit;
  for (char c : suffix) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double multiplier = 0;
  if (unit == "b") multiplier = 1;
  else if (unit == "kb") multiplier = 1e3;
  else if (unit == "mb") multiplier = 1e6;
  else if (unit == "gb") multiplier = 1e9;
  else if (unit == "tb") multiplier = 1e12;
  else if (unit == "kib") multiplier = static_cast<double>(kKiB);
  else if (unit == "mib") multiplier = static_cast<double>(kMiB);
  else if (unit == "gib") multiplier = static_cast<double>(kGiB);
  else if (unit == "tib") multiplier = static_cast<double>(kGiB) * 1024.0;
  if (multiplier == 0) {
    throw InputError(fmt::format("{}: unknown unit '{}' in '{}' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
                                 what, suffix, text));
  }
  return to_integer(value * multiplier, text, what);
}

std::uint64_t parse_elements(std::string_view text, std::string_view what) {
  auto [value, suffix] = split_number(text, what);
  double multiplier = 0;
  if (suffix.empty()) multiplier = 1;
  else if (suffix == "K" || suffix == "k") multiplier = 1e3;
  else if (suffix == "M") multiplier = 1e6;
  else if (suffix == "G" || suffix == "B") multiplier = 1e9;  // "1B" elements = one billion, as in "7B"
  if (multiplier == 0) {
    throw InputError(fmt::format("{}: '{}' is an element count (like 5e8 or 500M), not '{}'", what, text,
                                 suffix));
  }
  return to_integer(value * multiplier, text, what);
}

std::string format_bytes(std::uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= kGiB) return fmt::format("{:.1f} GiB", b / static_cast<double>(kGiB));
  if (bytes >= kMiB) return fmt::format("{:.1f} MiB", b / static_cast<double>(kMiB));
  if (bytes >= kKiB) return fmt::format("{:.1f} KiB", b / static_cast<double>(kKiB));
  return fmt::format("{} B", bytes);
}

std::string format_gib(std::uint64_t bytes) {
  return fmt::format("{:.1f}", static_cast<double>(bytes) / static_cast<double>(kGiB));
}

std::string format_count(std::uint64_t count) {
  const double c = static_cast<double>(count);
  if (count >= 1000000000ull) return fmt::format("{:.2f} B", c / 1e9);
  if (count >= 1000000ull) return fmt::format("{:.1f} M", c / 1e6);
  if (count >= 1000ull) return fmt::format("{:.1f} K", c / 1e3);
  return fmt::format("{}", count);
}

}  // namespace zeroplan
