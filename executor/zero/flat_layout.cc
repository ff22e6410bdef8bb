#include "executor/zero/flat_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace zeroplan::executor::zero {

FlatLayout::FlatLayout(const std::vector<std::pair<std::string, int64_t>>& params, int world_size,
                       int64_t alignment)
    : world_size_(world_size) {
  if (world_size < 1) throw std::invalid_argument(fmt::format("FlatLayout: world_size {} < 1", world_size));
  if (alignment < 1) throw std::invalid_argument(fmt::format("FlatLayout: alignment {} < 1", alignment));
  for (const auto& [name, numel] : params) {
    if (numel < 0) throw std::invalid_argument(fmt::format("FlatLayout: parameter {} has numel {}", name, numel));
    slots_.push_back(FlatParamSlot{name, unpadded_numel_, numel});
    unpadded_numel_ += numel;
  }
  // total = round_up(unpadded, world * alignment): every partition is a whole number of
  // alignment units. An empty group still gets one unit per rank so partitions are never empty.
  const int64_t unit = static_cast<int64_t>(world_size) * alignment;
  total_numel_ = std::max<int64_t>(unit, (unpadded_numel_ + unit - 1) / unit * unit);
}

int64_t FlatLayout::partition_begin(int rank) const {
  if (rank < 0 || rank >= world_size_) {
    throw std::invalid_argument(fmt::format("FlatLayout: rank {} outside [0, {})", rank, world_size_));
  }
  return rank * partition_numel();
}

std::vector<PartitionPiece> FlatLayout::pieces(int64_t begin, int64_t end) const {
  if (begin < 0 || end > total_numel_ || begin > end) {
    throw std::invalid_argument(fmt::format("FlatLayout: range [{}, {}) outside [0, {})", begin, end, total_numel_));
  }
  std::vector<PartitionPiece> out;
  if (begin == end) return out;
  const int64_t p = partition_numel();
  for (int r = static_cast<int>(begin / p); r < world_size_ && r * p < end; ++r) {
    const int64_t lo = std::max(begin, r * p);
    const int64_t hi = std::min(end, (r + 1) * p);
    if (lo < hi) out.push_back(PartitionPiece{r, lo, hi - lo, lo - r * p});
  }
  return out;
}

std::vector<PartitionPiece> FlatLayout::param_pieces(size_t index) const {
  const FlatParamSlot& slot = slots_.at(index);
  return pieces(slot.offset, slot.offset + slot.numel);
}

std::vector<size_t> FlatLayout::params_of_rank(int rank) const {
  const int64_t begin = partition_begin(rank);
  const int64_t end = begin + partition_numel();
  std::vector<size_t> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    if (s.numel > 0 && s.offset < end && s.offset + s.numel > begin) out.push_back(i);
  }
  return out;
}

std::vector<Bucket> FlatLayout::buckets(int64_t reduce_bucket_size) const {
  if (reduce_bucket_size < 1) {
    throw std::invalid_argument(fmt::format("FlatLayout: reduce_bucket_size {} < 1", reduce_bucket_size));
  }
  std::vector<Bucket> out;
  Bucket current;
  auto close = [&] {
    if (current.params.empty()) return;
    current.pieces = pieces(current.flat_begin, current.flat_end);
    out.push_back(std::move(current));
    current = Bucket{};
  };
  for (size_t k = slots_.size(); k-- > 0;) {  // backward order
    const FlatParamSlot& s = slots_[k];
    if (!current.params.empty() && current.numel() + s.numel > reduce_bucket_size) close();
    if (current.params.empty()) current.flat_end = s.offset + s.numel;
    current.flat_begin = s.offset;
    current.params.push_back(k);
  }
  close();
  return out;
}

}  // namespace zeroplan::executor::zero
