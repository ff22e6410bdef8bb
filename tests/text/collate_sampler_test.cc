// Micro-batch layouts (padding, packing) and the distributed sampler.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "executor/text/sft_data.h"
#include "planner/error.h"

namespace zeroplan::text {
namespace {

constexpr int64_t M = kIgnoreLabel;

// An example of `n` tokens with ids base, base+1, ...; the first `prompt` labels masked.
SftExample example(int n, int base, int prompt) {
  SftExample e;
  for (int t = 0; t < n; ++t) {
    e.input_ids.push_back(base + t);
    e.labels.push_back(t < prompt ? kIgnoreLabel : base + t);
  }
  return e;
}

TEST(Collate, PaddedToTheLongest) {
  const auto a = example(3, 10, 1), b = example(5, 20, 2);
  const auto mb = collate_padded({&a, &b}, /*pad_id=*/7);
  EXPECT_EQ(mb.batch, 2);
  EXPECT_EQ(mb.seq, 5);
  EXPECT_EQ(mb.examples, 2);
  EXPECT_EQ(mb.input_ids, (std::vector<int64_t>{10, 11, 12, 7, 7, /**/ 20, 21, 22, 23, 24}));
  EXPECT_EQ(mb.labels, (std::vector<int64_t>{M, 11, 12, M, M, /**/ M, M, 22, 23, 24}));
  EXPECT_EQ(mb.position_ids, (std::vector<int64_t>{0, 1, 2, 0, 0, /**/ 0, 1, 2, 3, 4}));
  EXPECT_EQ(mb.segment_ids, (std::vector<int64_t>{0, 0, 0, -1, -1, /**/ 0, 0, 0, 0, 0}));
  EXPECT_EQ(mb.label_tokens(), 5);
}

TEST(Collate, FirstTokenLabelIsMaskedEvenWhenTrainingOnPrompt) {
  const auto a = example(3, 10, 0);  // every label set, as with train_on_prompt
  const auto mb = collate_padded({&a}, 0);
  EXPECT_EQ(mb.labels, (std::vector<int64_t>{M, 11, 12}));
  EXPECT_EQ(mb.label_tokens(), 2);  // what the shifted loss counts
}

TEST(Collate, PackedRowsKeepExamplesApart) {
  const auto a = example(3, 10, 1), b = example(4, 20, 2), c = example(2, 30, 0), d = example(5, 40, 3);
  // max 8: [a b] = 7 tokens, then c + d = 7 (a b c would be 9).
  const auto mb = collate_packed({&a, &b, &c, &d}, 8, /*pad_id=*/0);
  EXPECT_EQ(mb.batch, 2);
  EXPECT_EQ(mb.seq, 7);
  EXPECT_EQ(mb.examples, 4);
  EXPECT_EQ(mb.input_ids, (std::vector<int64_t>{10, 11, 12, 20, 21, 22, 23, /**/ 30, 31, 40, 41, 42, 43, 44}));
  EXPECT_EQ(mb.labels, (std::vector<int64_t>{M, 11, 12, M, M, 22, 23, /**/ M, 31, M, M, M, 43, 44}));
  EXPECT_EQ(mb.position_ids, (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, /**/ 0, 1, 0, 1, 2, 3, 4}));
  EXPECT_EQ(mb.segment_ids, (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, /**/ 0, 0, 1, 1, 1, 1, 1}));
}

TEST(Collate, PackedPadsShortRowsAndRejectsOverlongExamples) {
  const auto a = example(6, 10, 0), b = example(3, 20, 0);
  const auto mb = collate_packed({&a, &b}, 8, 9);
  EXPECT_EQ(mb.batch, 2);
  EXPECT_EQ(mb.seq, 6);
  EXPECT_EQ(std::vector<int64_t>(mb.segment_ids.begin() + 6, mb.segment_ids.end()), (std::vector<int64_t>{0, 0, 0, -1, -1, -1}));
  EXPECT_EQ(std::vector<int64_t>(mb.input_ids.begin() + 6, mb.input_ids.end()), (std::vector<int64_t>{20, 21, 22, 9, 9, 9}));
  EXPECT_EQ(mb.label_tokens(), 5 + 2);
  const auto big = example(9, 0, 0);
  EXPECT_THROW(collate_packed({&big}, 8, 0), InputError);
}

TEST(DistributedSampler, NoShuffleIsStrided) {
  EXPECT_EQ(DistributedSampler(10, 1, 3, 0, false).indices(0), (std::vector<int64_t>{1, 4, 7, 0}));  // padded: 10 -> 12
  EXPECT_EQ(DistributedSampler(10, 0, 3, 0, false).indices(5), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(DistributedSampler(10, 2, 3, 0, false).indices(0), (std::vector<int64_t>{2, 5, 8, 1}));
}

TEST(DistributedSampler, DeterministicPerSeedAndEpoch) {
  const DistributedSampler s(100, 0, 1, 42, true);
  EXPECT_EQ(s.indices(3), DistributedSampler(100, 0, 1, 42, true).indices(3));
  EXPECT_NE(s.indices(3), s.indices(4));
  EXPECT_NE(s.indices(3), DistributedSampler(100, 0, 1, 43, true).indices(3));
  auto sorted = s.indices(3);
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  std::vector<int64_t> identity(100);
  for (int64_t i = 0; i < 100; ++i) identity[i] = i;
  EXPECT_NE(s.indices(3), identity);
}

TEST(DistributedSampler, RanksAreDisjointAndCoverEverything) {
  for (int64_t n : {12, 13, 1000}) {
    const int world = 4;
    std::multiset<int64_t> all;
    std::set<int64_t> unique;
    std::size_t per_rank = 0;
    for (int r = 0; r < world; ++r) {
      const auto mine = DistributedSampler(n, r, world, 7, true).indices(2);
      if (r == 0) per_rank = mine.size();
      EXPECT_EQ(mine.size(), per_rank) << "equal counts, so ranks run the same number of steps";
      all.insert(mine.begin(), mine.end());
      unique.insert(mine.begin(), mine.end());
    }
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(all.size(), static_cast<std::size_t>((n + world - 1) / world * world));  // only the wrap-around repeats
    // The ranks interleave one global order: rank r's k-th sample is position r + k*world.
    const DistributedSampler whole(n, 0, 1, 7, true);
    const auto order = whole.indices(2);
    const auto rank1 = DistributedSampler(n, 1, world, 7, true).indices(2);
    EXPECT_EQ(rank1[1], order[static_cast<std::size_t>((1 + world) % n)]);
  }
}

TEST(DistributedSampler, RejectsBadArguments) {
  EXPECT_THROW(DistributedSampler(0, 0, 1, 0, true), InputError);
  EXPECT_THROW(DistributedSampler(5, 2, 2, 0, true), InputError);
  EXPECT_THROW(DistributedSampler(5, -1, 2, 0, true), InputError);
  EXPECT_THROW(DistributedSampler(5, 0, 0, 0, true), InputError);
}

}  // namespace
}  // namespace zeroplan::text
