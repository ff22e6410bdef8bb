#pragma once
// Which examples each data-parallel rank reads in an epoch (PyTorch DistributedSampler semantics):
// the global order is the identity or, with shuffle, a permutation seeded by (seed, epoch); it is
// padded by wrapping around to a multiple of world so every rank gets the same number of samples;
// rank r takes positions r, r + world, r + 2*world, ...
// Deterministic on every platform: its own SplitMix64 generator and Fisher-Yates shuffle (no
// std::shuffle / std::uniform_int_distribution, whose output is implementation-defined).
#include <cstdint>
#include <vector>

namespace zeroplan::text {

class DistributedSampler {
 public:
  // InputError when dataset_size < 1, world < 1 or rank outside [0, world).
  DistributedSampler(int64_t dataset_size, int rank, int world, uint64_t seed, bool shuffle);
  std::vector<int64_t> indices(int64_t epoch) const;
  int64_t samples_per_rank() const { return (dataset_size_ + world_ - 1) / world_; }  // ceil(n / world)

 private:
  int64_t dataset_size_;
  int rank_, world_;
  uint64_t seed_;
  bool shuffle_;
};

}  // namespace zeroplan::text
