// FlatLayout arithmetic (hand-computed cases) and FlatBuffer with the FakeCommunicator: a ZeRO-1/2
// style reduce-scatter of a flat gradient buffer gives each rank exactly the summed gradients of
// the parameter pieces it owns, and bucketed all-reduces agree with it piece by piece.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>

#include "executor/dist/fake_communicator.h"
#include "executor/zero/flat_buffer.h"

namespace zeroplan::executor::zero {
namespace {

using dist::Communicator;
using namespace std::chrono_literals;

// a 10, b 7, c 0, d 25 elements; world 3, alignment 4: unpadded 42, unit 12 -> total 48, P = 16.
FlatLayout example_layout() { return FlatLayout({{"a", 10}, {"b", 7}, {"c", 0}, {"d", 25}}, 3, 4); }

TEST(FlatLayout, PaddingAndPartitions) {
  const FlatLayout layout = example_layout();
  EXPECT_EQ(layout.unpadded_numel(), 42);
  EXPECT_EQ(layout.total_numel(), 48);
  EXPECT_EQ(layout.partition_numel(), 16);
  EXPECT_EQ(layout.padding_numel(), 6);
  EXPECT_EQ(layout.slots()[3].offset, 17);
  EXPECT_EQ(layout.partition_begin(2), 32);
  EXPECT_THROW(layout.partition_begin(3), std::invalid_argument);
}

TEST(FlatLayout, ParameterPiecesAcrossPartitions) {
  const FlatLayout layout = example_layout();
  // b = [10, 17): rank 0 [10, 16) (6 at offset 10), rank 1 [16, 17) (1 at offset 0)
  const auto b = layout.param_pieces(1);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].rank, 0);
  EXPECT_EQ(b[0].numel, 6);
  EXPECT_EQ(b[0].partition_offset, 10);
  EXPECT_EQ(b[1].rank, 1);
  EXPECT_EQ(b[1].numel, 1);
  EXPECT_EQ(b[1].partition_offset, 0);
  // d = [17, 42): rank 1 [17, 32) (15 at offset 1), rank 2 [32, 42) (10 at offset 0)
  const auto d = layout.param_pieces(3);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].rank, 1);
  EXPECT_EQ(d[0].numel, 15);
  EXPECT_EQ(d[0].partition_offset, 1);
  EXPECT_EQ(d[1].rank, 2);
  EXPECT_EQ(d[1].numel, 10);
  EXPECT_TRUE(layout.param_pieces(2).empty());
  EXPECT_EQ(layout.params_of_rank(0), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(layout.params_of_rank(1), (std::vector<size_t>{1, 3}));
  EXPECT_EQ(layout.params_of_rank(2), (std::vector<size_t>{3}));
}

TEST(FlatLayout, BucketsInBackwardOrder) {
  const FlatLayout layout = example_layout();
  const auto buckets = layout.buckets(20);
  // d (25) exceeds the bucket alone; then c, b, a (0 + 7 + 10 = 17 <= 20).
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].params, (std::vector<size_t>{3}));
  EXPECT_EQ(buckets[0].flat_begin, 17);
  EXPECT_EQ(buckets[0].flat_end, 42);
  EXPECT_EQ(buckets[1].params, (std::vector<size_t>{2, 1, 0}));
  EXPECT_EQ(buckets[1].flat_begin, 0);
  EXPECT_EQ(buckets[1].flat_end, 17);
  ASSERT_EQ(buckets[1].pieces.size(), 2u);
  EXPECT_EQ(buckets[1].pieces[1].rank, 1);
  EXPECT_EQ(buckets[1].pieces[1].numel, 1);
  // Tiny buckets: one parameter each (the empty c still forms its own).
  EXPECT_EQ(layout.buckets(1).size(), 4u);
  // Every element of the parameters is in exactly one bucket.
  int64_t covered = 0;
  for (const auto& b : layout.buckets(8)) covered += b.numel();
  EXPECT_EQ(covered, layout.unpadded_numel());
  EXPECT_THROW(layout.buckets(0), std::invalid_argument);
}

TEST(FlatLayout, RejectsBadArguments) {
  EXPECT_THROW(FlatLayout({{"a", 1}}, 0, 1), std::invalid_argument);
  EXPECT_THROW(FlatLayout({{"a", 1}}, 2, 0), std::invalid_argument);
  EXPECT_THROW(FlatLayout({{"a", -1}}, 2, 1), std::invalid_argument);
  EXPECT_EQ(FlatLayout({}, 4, 2).total_numel(), 8);  // empty group: one unit per rank
}

std::vector<std::pair<std::string, at::Tensor>> example_params() {
  at::manual_seed(7);
  return {{"a", at::randn({2, 5})}, {"b", at::randn({7})}, {"c", at::randn({0})}, {"d", at::randn({5, 5})}};
}

TEST(FlatBuffer, ViewsAliasTheBufferAndBindMovesParameters) {
  auto params = example_params();
  FlatBuffer buffer = FlatBuffer::from_tensors(params, 3, 4, at::TensorOptions().dtype(at::kFloat));
  EXPECT_EQ(buffer.flat().numel(), 48);
  EXPECT_TRUE(at::equal(buffer.view(3), params[3].second));
  EXPECT_EQ(buffer.view(0).sizes().vec(), (std::vector<int64_t>{2, 5}));
  EXPECT_TRUE(at::all(buffer.range(42, 48) == 0).item<bool>()) << "padding must be zero";

  std::vector<at::Tensor> tensors;
  for (auto& [name, t] : params) tensors.push_back(t.clone());
  buffer.bind(tensors);
  tensors[1].fill_(3.0);  // writes through the parameter land in the buffer
  EXPECT_TRUE(at::all(buffer.range(10, 17) == 3.0).item<bool>());
  EXPECT_EQ(buffer.partition(1).data_ptr<float>(), buffer.flat().data_ptr<float>() + 16);

  std::vector<at::Tensor> wrong{at::zeros({3})};
  EXPECT_THROW(buffer.copy_from(wrong), std::invalid_argument);
}

TEST(FlatBuffer, ReduceScatterGivesEachRankTheSumOfItsPieces) {
  const int world = 3;
  dist::run_fake_ranks(world, 10s, [&](Communicator& comm) {
    const int r = comm.rank();
    auto params = example_params();
    FlatBuffer grads = FlatBuffer::from_tensors(params, world, 4, at::TensorOptions().dtype(at::kFloat))
                           .zeros_like(at::TensorOptions().dtype(at::kFloat));
    // rank r's gradient of parameter i: (r + 1) * (i + 1) * ones
    for (size_t i = 0; i < params.size(); ++i) grads.view(i).fill_(static_cast<double>((r + 1) * (i + 1)));
    // Stage 2 at the accumulation boundary: one reduce-scatter of the whole flat buffer.
    at::Tensor mine = at::empty({grads.layout().partition_numel()});
    comm.reduce_scatter(mine, grads.flat());
    const double rank_sum = world * (world + 1) / 2.0;  // sum over ranks of (r + 1)
    for (size_t i = 0; i < params.size(); ++i) {
      for (const auto& piece : grads.layout().param_pieces(i)) {
        if (piece.rank != r) continue;
        EXPECT_TRUE(at::all(mine.narrow(0, piece.partition_offset, piece.numel) == rank_sum * (i + 1)).item<bool>())
            << "param " << i << " on rank " << r;
      }
    }
    // Padding stays zero.
    if (r == world - 1) {
      EXPECT_TRUE(at::all(mine.narrow(0, 10, 6) == 0).item<bool>());
    }

    // Bucketed all-reduce (DeepSpeed's default ZeRO-1/2 reduction): every piece of every bucket
    // equals the reduce-scattered partition.
    for (const auto& bucket : grads.layout().buckets(12)) {
      at::Tensor b = grads.range(bucket.flat_begin, bucket.flat_end).clone();
      comm.all_reduce(b);
      for (const auto& piece : bucket.pieces) {
        if (piece.rank != r) continue;
        EXPECT_TRUE(at::equal(b.narrow(0, piece.flat_begin - bucket.flat_begin, piece.numel),
                              mine.narrow(0, piece.partition_offset, piece.numel)));
      }
    }

    // Stage 1/2 parameter refresh: all-gather of the partitions rebuilds the flat buffer.
    at::Tensor rebuilt = at::empty({grads.layout().total_numel()});
    comm.all_gather(rebuilt, mine);
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(at::all(rebuilt.narrow(0, grads.layout().slots()[i].offset, grads.layout().slots()[i].numel) ==
                          rank_sum * (i + 1))
                      .item<bool>());
    }
  });
}

}  // namespace
}  // namespace zeroplan::executor::zero
