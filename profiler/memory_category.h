#pragma once
// What the profiler attributes memory to: the plan's categories (architecture.md) plus `comm`
// (communication staging: buckets, gather/scatter scratch) and `other` (allocated outside any
// MemoryScope), and the phase of a training step the allocation happened in.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zeroplan::profiler {

enum class Category : std::uint8_t {
  kParams,
  kGradients,
  kOptimizerStates,
  kActivations,
  kBuffers,
  kComm,
  kOther,  // nothing open: not attributed
};
inline constexpr std::size_t kCategoryCount = 7;

// kSetup covers everything outside a PhaseScope (model build, weight load, data).
enum class Phase : std::uint8_t { kSetup, kForward, kBackward, kReduce, kOptimizerStep };
inline constexpr std::size_t kPhaseCount = 5;

// "params", "gradients", "optimizer_states", "activations", "buffers", "comm", "other".
std::string_view category_name(Category category);
// "setup", "forward", "backward", "reduce", "optimizer_step".
std::string_view phase_name(Phase phase);

inline constexpr std::array<Category, kCategoryCount> kAllCategories = {
    Category::kParams,  Category::kGradients, Category::kOptimizerStates, Category::kActivations,
    Category::kBuffers, Category::kComm,      Category::kOther};
inline constexpr std::array<Phase, kPhaseCount> kAllPhases = {
    Phase::kSetup, Phase::kForward, Phase::kBackward, Phase::kReduce, Phase::kOptimizerStep};

// Bytes per category plus their sum at the same instant (or the max of the sum, for peaks).
struct CategoryBytes {
  std::array<std::uint64_t, kCategoryCount> bytes{};
  std::uint64_t total = 0;
  std::uint64_t& operator[](Category c) { return bytes[static_cast<std::size_t>(c)]; }
  std::uint64_t operator[](Category c) const { return bytes[static_cast<std::size_t>(c)]; }
};

}  // namespace zeroplan::profiler
