#pragma once
// The flat layout of the bucketed ZeRO engine (sharded_engine.h), as arithmetic only (no LibTorch).
//
// Parameters are concatenated in the given flat order. Each parameter belongs to a GROUP (stage 3:
// the model unit that gathers it; stages 0-2: one group). Buckets are runs of consecutive
// parameters of one group, formed walking the flat order BACKWARDS (the order AccumulateGrad fires
// in) while the bucket's contents stay within bucket_elems; a parameter larger than bucket_elems
// is a bucket by itself (as DeepSpeed's IPG bucket). Each bucket is padded to a multiple of
// shards x alignment:
//   padded_numel(b) = round_up(numel(b), shards * alignment)
//   shard_numel(b)  = padded_numel(b) / shards
// and rank r owns the slice [r * shard_numel, (r+1) * shard_numel) of EVERY bucket (per-bucket
// sharding, as FSDP's flat parameters; DeepSpeed instead cuts one flat buffer into `world` contiguous
// partitions, so a bucket may span partitions and needs one reduce per owning rank). This way every
// bucket reduces with one reduce-scatter and gathers with one all-gather.
// Rank r's partition is the concatenation of its slices in bucket (flat) order:
//   partition_numel = sum_b shard_numel(b);   total_numel = sum_b padded_numel(b) = shards * partition_numel
// shards = 1 (stage 0): nothing is sharded, the partition is the whole flat buffer.
#include <cstdint>
#include <string>
#include <vector>

namespace zeroplan::executor::zero {

struct LayoutParamSpec {
  std::string name;
  int64_t numel = 0;
  int group = 0;
};

struct LayoutSlot {
  std::string name;
  int64_t offset = 0;  // first element in the flat buffer
  int64_t numel = 0;
  int group = 0;
  size_t bucket = 0;
};

struct LayoutBucket {
  int group = 0;
  int64_t flat_begin = 0;        // the bucket is [flat_begin, flat_begin + padded_numel)
  int64_t numel = 0;             // parameter elements (the rest is zero padding)
  int64_t padded_numel = 0;
  int64_t shard_numel = 0;
  int64_t partition_offset = 0;  // where every rank's slice of this bucket starts in its partition
  std::vector<size_t> params;    // slot indices, flat order
};

// A piece of rank r's partition that holds elements of one parameter.
struct LayoutPiece {
  size_t slot = 0;
  int64_t param_offset = 0;      // within the flattened parameter
  int64_t partition_offset = 0;  // within the rank's partition
  int64_t numel = 0;
};

class BucketLayout {
 public:
  // Throws std::invalid_argument for shards < 1, alignment < 1, bucket_elems < 1 or numel < 0.
  BucketLayout(const std::vector<LayoutParamSpec>& params, int shards, int64_t alignment, int64_t bucket_elems);

  int shards() const { return shards_; }
  int64_t unpadded_numel() const { return unpadded_numel_; }
  int64_t total_numel() const { return total_numel_; }
  int64_t partition_numel() const { return total_numel_ / shards_; }
  int64_t max_padded_bucket_numel() const;
  int64_t max_shard_numel() const;
  const std::vector<LayoutSlot>& slots() const { return slots_; }
  const std::vector<LayoutBucket>& buckets() const { return buckets_; }

  // First element of rank r's slice of bucket b in the flat buffer.
  int64_t shard_flat_begin(size_t bucket, int rank) const;
  // Rank r's partition as pieces of parameters, in partition order (padding in none).
  std::vector<LayoutPiece> pieces(int rank) const;

 private:
  int shards_;
  int64_t unpadded_numel_ = 0;
  int64_t total_numel_ = 0;
  std::vector<LayoutSlot> slots_;
  std::vector<LayoutBucket> buckets_;
};

}  // namespace zeroplan::executor::zero
