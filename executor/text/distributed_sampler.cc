#include "executor/text/distributed_sampler.h"

#include <fmt/format.h>

#include <numeric>

#include "planner/error.h"

namespace zeroplan::text {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator, good enough for shuffling.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) by rejection: values below 2^64 mod bound are redrawn so every residue
  // has the same number of preimages.
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }
};

}  // namespace

DistributedSampler::DistributedSampler(int64_t dataset_size, int rank, int world, uint64_t seed, bool shuffle)
    : dataset_size_(dataset_size), rank_(rank), world_(world), seed_(seed), shuffle_(shuffle) {
  if (dataset_size < 1) throw InputError("the dataset has no examples to sample");
  if (world < 1 || rank < 0 || rank >= world) throw InputError(fmt::format("rank {} is not in a world of {}", rank, world));
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<std::size_t>(dataset_size_));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle_) {
    // One stream per (seed, epoch); the first draw decorrelates neighbouring seeds.
    SplitMix64 rng{seed_ ^ (static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL)};
    rng.next();
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  }
  const int64_t total = samples_per_rank() * world_;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<std::size_t>(samples_per_rank()));
  for (int64_t pos = rank_; pos < total; pos += world_) mine.push_back(order[static_cast<std::size_t>(pos % dataset_size_)]);
  return mine;
}

}  // namespace zeroplan::text
