#pragma once
// Parsing and printing of sizes. A size the user types always carries its unit:
//   bytes:    "24GiB", "80GB", "512MiB", "1.5TB", "4096B"     (GB = 1e9, GiB = 2^30)
//   elements: "5e8", "500M", "2e5"  where DeepSpeed counts elements (bucket sizes)
// A bare number where bytes are meant is an error: "24" could be GB, GiB or bytes.
#include <cstdint>
#include <string>
#include <string_view>

namespace zeroplan {

// Parses a byte size with a unit suffix (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; case-sensitive
// on the 'i', case-insensitive otherwise). `what` names the flag or field for the error message.
// Throws InputError on a bare number, an unknown unit, a negative or non-finite value.
std::uint64_t parse_bytes(std::string_view text, std::string_view what);

// Parses an element count as DeepSpeed writes it: "5e8", "500000000", "500M", "1.5e9".
// A trailing byte unit ("GB") is rejected: elements are not bytes.
std::uint64_t parse_elements(std::string_view text, std::string_view what);

// "19.8 GiB", "143.2 MiB", "512 B": binary units, one decimal.
std::string format_bytes(std::uint64_t bytes);
// Gibibytes with one decimal and no unit, for table columns.
std::string format_gib(std::uint64_t bytes);
// "6.74 B", "124.4 M", "25.0 K": parameter or element counts.
std::string format_count(std::uint64_t count);

inline constexpr std::uint64_t kKiB = 1024ull;
inline constexpr std::uint64_t kMiB = 1024ull * kKiB;
inline constexpr std::uint64_t kGiB = 1024ull * kMiB;

}  // namespace zeroplan
