#include "executor/zero/bucket_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace zeroplan::executor::zero {

BucketLayout::BucketLayout(const std::vector<LayoutParamSpec>& params, int shards, int64_t alignment,
                           int64_t bucket_elems)
    : shards_(shards) {
  if (shards < 1) throw std::invalid_argument(fmt::format("BucketLayout: shards {} < 1", shards));
  if (alignment < 1) throw std::invalid_argument(fmt::format("BucketLayout: alignment {} < 1", alignment));
  if (bucket_elems < 1) throw std::invalid_argument(fmt::format("BucketLayout: bucket_elems {} < 1", bucket_elems));
  for (const auto& p : params) {
    if (p.numel < 0) throw std::invalid_argument(fmt::format("BucketLayout: parameter {} has numel {}", p.name, p.numel));
    slots_.push_back(LayoutSlot{p.name, 0, p.numel, p.group, 0});
  }
  // Group into buckets walking backwards; record each bucket as [first, last] slot index.
  std::vector<std::pair<size_t, size_t>> runs;  // (first, last), collected last bucket first
  int64_t contents = 0;
  for (size_t k = slots_.size(); k-- > 0;) {
    const bool fits = !runs.empty() && slots_[runs.back().first].group == slots_[k].group &&
                      contents + slots_[k].numel <= bucket_elems;
    if (fits) {
      runs.back().first = k;
      contents += slots_[k].numel;
    } else {
      runs.emplace_back(k, k);
      contents = slots_[k].numel;
    }
  }
  std::reverse(runs.begin(), runs.end());
  const int64_t unit = static_cast<int64_t>(shards) * alignment;
  int64_t flat = 0, part = 0;
  for (const auto& [first, last] : runs) {
    LayoutBucket b;
    b.group = slots_[first].group;
    b.flat_begin = flat;
    for (size_t k = first; k <= last; ++k) {
      slots_[k].offset = flat + b.numel;
      slots_[k].bucket = buckets_.size();
      b.numel += slots_[k].numel;
      b.params.push_back(k);
    }
    // padded = round_up(numel, shards * alignment), at least one unit so no slice is empty.
    b.padded_numel = std::max<int64_t>(unit, (b.numel + unit - 1) / unit * unit);
    b.shard_numel = b.padded_numel / shards;
    b.partition_offset = part;
    flat += b.padded_numel;
    part += b.shard_numel;
    unpadded_numel_ += b.numel;
    buckets_.push_back(std::move(b));
  }
  total_numel_ = flat;
}

int64_t BucketLayout::max_padded_bucket_numel() const {
  int64_t m = 0;
  for (const auto& b : buckets_) m = std::max(m, b.padded_numel);
  return m;
}

int64_t BucketLayout::max_shard_numel() const {
  int64_t m = 0;
  for (const auto& b : buckets_) m = std::max(m, b.shard_numel);
  return m;
}

int64_t BucketLayout::shard_flat_begin(size_t bucket, int rank) const {
  if (rank < 0 || rank >= shards_)
    throw std::invalid_argument(fmt::format("BucketLayout: rank {} outside [0, {})", rank, shards_));
  const LayoutBucket& b = buckets_.at(bucket);
  return b.flat_begin + rank * b.shard_numel;
}

std::vector<LayoutPiece> BucketLayout::pieces(int rank) const {
  std::vector<LayoutPiece> out;
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    const LayoutBucket& b = buckets_[bi];
    const int64_t lo_shard = shard_flat_begin(bi, rank);
    const int64_t hi_shard = lo_shard + b.shard_numel;
    for (size_t k : b.params) {
      const LayoutSlot& s = slots_[k];
      const int64_t lo = std::max(lo_shard, s.offset);
      const int64_t hi = std::min(hi_shard, s.offset + s.numel);
      if (lo >= hi) continue;
      out.push_back(LayoutPiece{k, lo - s.offset, b.partition_offset + (lo - lo_shard), hi - lo});
    }
  }
  return out;
}

}  // namespace zeroplan::executor::zero
