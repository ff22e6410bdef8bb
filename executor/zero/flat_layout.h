#pragma once
// DeepSpeed ZeRO-1/2 flat layout, as arithmetic only (no tensors, no LibTorch):
// the parameters of one group are concatenated in order into one flat buffer, padded at the end so
// that the total is a multiple of world_size x alignment; rank r owns the contiguous partition
// [r*P, (r+1)*P) with P = total / world_size. A parameter may straddle partitions
// (deepspeed/runtime/zero/stage_1_and_2.py: flatten_dense_tensors_aligned + get_data_parallel_partitions).
//
//   total_numel     = round_up(sum numel, world_size * alignment)        (elements)
//   partition_numel = total_numel / world_size
//   padding_numel   = total_numel - sum numel                             (all in the last partitions)
//
// Buckets (gradient reduction units): parameters are taken in backward order (reverse of the flat
// order, as AccumulateGrad fires last layer first) and grouped while the bucket stays within
// reduce_bucket_size elements; a single parameter larger than the bucket forms a bucket by
// itself (DeepSpeed's IPG bucket does the same: it reduces the bucket and then the big gradient).
// Because the flat order is the parameter order, each bucket is one contiguous range of the flat
// buffer; its per-rank pieces (range ∩ partition) say which ranks own the reduced result.
#include <cstdint>
#include <string>
#include <vector>

namespace zeroplan::executor::zero {

struct FlatParamSlot {
  std::string name;
  int64_t offset = 0;  // first element in the flat buffer
  int64_t numel = 0;
};

// The part of a flat range that falls in one rank's partition.
struct PartitionPiece {
  int rank = 0;
  int64_t flat_begin = 0;       // in the flat buffer
  int64_t numel = 0;
  int64_t partition_offset = 0;  // flat_begin - rank * partition_numel
};

struct Bucket {
  int64_t flat_begin = 0;   // the bucket is the flat range [flat_begin, flat_end)
  int64_t flat_end = 0;
  std::vector<size_t> params;  // slot indices, in backward (ready) order
  std::vector<PartitionPiece> pieces;  // by rank; only ranks whose partition intersects
  int64_t numel() const { return flat_end - flat_begin; }
};

class FlatLayout {
 public:
  // params: (name, numel) in flat order; numel >= 0. world_size >= 1, alignment >= 1 (elements).
  // Throws std::invalid_argument on bad arguments.
  FlatLayout(const std::vector<std::pair<std::string, int64_t>>& params, int world_size, int64_t alignment);

  int world_size() const { return world_size_; }
  int64_t unpadded_numel() const { return unpadded_numel_; }
  int64_t total_numel() const { return total_numel_; }
  int64_t partition_numel() const { return total_numel_ / world_size_; }
  int64_t padding_numel() const { return total_numel_ - unpadded_numel_; }
  const std::vector<FlatParamSlot>& slots() const { return slots_; }

  // [begin, end) of rank r's partition in the flat buffer.
  int64_t partition_begin(int rank) const;
  // The pieces of the flat range [begin, end) in each rank's partition, by rank.
  std::vector<PartitionPiece> pieces(int64_t begin, int64_t end) const;
  // The ranks whose partitions parameter `index` spans, with the overlapping pieces.
  std::vector<PartitionPiece> param_pieces(size_t index) const;
  // The parameters (slot indices) with at least one element in rank r's partition.
  std::vector<size_t> params_of_rank(int rank) const;

  // Buckets of at most reduce_bucket_size elements (see above); reduce_bucket_size >= 1.
  std::vector<Bucket> buckets(int64_t reduce_bucket_size) const;

 private:
  int world_size_;
  int64_t unpadded_numel_ = 0;
  int64_t total_numel_ = 0;
  std::vector<FlatParamSlot> slots_;
};

}  // namespace zeroplan::executor::zero
