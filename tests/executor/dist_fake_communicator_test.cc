// FakeCommunicator: exact collectives over threads, mismatch and timeout detection.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "executor/dist/fake_communicator.h"

namespace zeroplan::executor::dist {
namespace {

using namespace std::chrono_literals;

// Rank r's test data: element i of a tensor of n elements = 1000 * r + i.
at::Tensor rank_data(int rank, int64_t n) { return at::arange(n, at::kFloat) + 1000.0 * rank; }

class FakeCollectives : public ::testing::TestWithParam<int> {};

TEST_P(FakeCollectives, AllReduceSumAndMax) {
  const int world = GetParam();
  run_fake_ranks(world, 5s, [&](Communicator& comm) {
    at::Tensor t = rank_data(comm.rank(), 6);
    comm.all_reduce(t, ReduceOp::kSum);
    // sum_r (1000 r + i) = 1000 * w(w-1)/2 + w * i
    at::Tensor expected = at::arange(6, at::kFloat) * world + 1000.0 * world * (world - 1) / 2;
    EXPECT_TRUE(at::equal(t, expected));
    at::Tensor m = rank_data(comm.rank(), 6);
    comm.all_reduce(m, ReduceOp::kMax);
    EXPECT_TRUE(at::equal(m, rank_data(world - 1, 6)));
  });
}

TEST_P(FakeCollectives, ReduceScatterGivesEachRankItsChunkOfTheSum) {
  const int world = GetParam();
  const int64_t n = 5;
  run_fake_ranks(world, 5s, [&](Communicator& comm) {
    at::Tensor in = rank_data(comm.rank(), world * n);
    at::Tensor before = in.clone();
    at::Tensor out = at::empty({n}, at::kFloat);
    comm.reduce_scatter(out, in);
    at::Tensor full = at::arange(world * n, at::kFloat) * world + 1000.0 * world * (world - 1) / 2;
    EXPECT_TRUE(at::equal(out, full.narrow(0, comm.rank() * n, n)));
    EXPECT_TRUE(at::equal(in, before)) << "reduce_scatter must not modify its input";
  });
}

TEST_P(FakeCollectives, AllGatherAllToAllBroadcastBarrier) {
  const int world = GetParam();
  const int64_t n = 3;
  run_fake_ranks(world, 5s, [&](Communicator& comm) {
    const int r = comm.rank();
    at::Tensor out = at::empty({world * n}, at::kFloat);
    comm.all_gather(out, rank_data(r, n));
    for (int q = 0; q < world; ++q) EXPECT_TRUE(at::equal(out.narrow(0, q * n, n), rank_data(q, n)));

    at::Tensor a2a = at::empty({world * n}, at::kFloat);
    comm.all_to_all(a2a, rank_data(r, world * n));
    for (int q = 0; q < world; ++q) {
      EXPECT_TRUE(at::equal(a2a.narrow(0, q * n, n), rank_data(q, world * n).narrow(0, r * n, n)));
    }

    at::Tensor b = rank_data(r, n);
    comm.broadcast(b, world - 1);
    EXPECT_TRUE(at::equal(b, rank_data(world - 1, n)));
    comm.barrier();
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, FakeCollectives, ::testing::Values(1, 2, 3, 4));

TEST(FakeCommunicator, MismatchedCollectivesThrowNamingBoth) {
  try {
    run_fake_ranks(2, 5s, [](Communicator& comm) {
      at::Tensor t = at::ones({4});
      if (comm.rank() == 0) {
        comm.all_reduce(t);
      } else {
        at::Tensor out = at::empty({8});
        comm.all_gather(out, t);
      }
    });
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mismatch"), std::string::npos) << what;
    EXPECT_NE(what.find("all_reduce"), std::string::npos) << what;
    EXPECT_NE(what.find("all_gather"), std::string::npos) << what;
  }
}

TEST(FakeCommunicator, MissingRankTimesOutNamingIt) {
  const auto start = std::chrono::steady_clock::now();
  try {
    run_fake_ranks(3, 200ms, [](Communicator& comm) {
      if (comm.rank() == 2) return;  // never joins
      comm.barrier();
    });
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("ranks not arrived: 2"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(FakeCommunicator, ThrowingRankStopsTheOthersWithItsError) {
  try {
    run_fake_ranks(3, 10s, [](Communicator& comm) {
      if (comm.rank() == 1) throw std::runtime_error("boom in backward");
      comm.barrier();
    });
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("boom in backward"), std::string::npos) << e.what();
  }
}

TEST(FakeCommunicator, WrongShapesAreRejected) {
  run_fake_ranks(2, 5s, [](Communicator& comm) {
    at::Tensor out = at::empty({3});
    EXPECT_THROW(comm.reduce_scatter(out, at::ones({7})), std::invalid_argument);
    EXPECT_THROW(comm.all_gather(out, at::ones({2})), std::invalid_argument);
    at::Tensor t = at::ones({4, 4}).t();
    EXPECT_THROW(comm.all_reduce(t), std::invalid_argument);
    at::Tensor b = at::ones({2});
    EXPECT_THROW(comm.broadcast(b, 2), std::invalid_argument);
  });
}

}  // namespace
}  // namespace zeroplan::executor::dist
