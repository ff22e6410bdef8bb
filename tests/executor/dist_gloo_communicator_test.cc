// GlooCommunicator: c10d Gloo ranks as threads of this process, rendezvous through one HashStore.
// Checks every collective against hand-computed results, for the ring reduce-scatter / all-gather
// and for c10d's native versions, and that a dead peer ends in CommError, not a hang.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include "executor/dist/gloo_communicator.h"
#include "tests/executor/gloo_thread_ranks.h"

namespace zeroplan::executor::dist {
namespace {

using namespace std::chrono_literals;

at::Tensor rank_data(int rank, int64_t n, at::ScalarType dtype = at::kFloat) {
  return (at::arange(n, at::kFloat) + 100.0 * rank).to(dtype);
}

struct Case {
  int world;
  bool native;
};

class GlooCollectives : public ::testing::TestWithParam<Case> {};

TEST_P(GlooCollectives, AllCollectivesMatchHandComputedResults) {
  const auto [world, native] = GetParam();
  GlooCommunicatorOptions options;
  options.timeout = 20s;
  options.native_collectives = native;
  const int64_t n = 1001;  // odd: chunks do not line up with anything
  run_gloo_ranks(world, options, [&](Communicator& comm) {
    const int r = comm.rank();
    EXPECT_EQ(comm.world_size(), world);
    EXPECT_EQ(comm.backend_name(), "gloo");
    const at::Tensor full_sum = at::arange(world * n, at::kFloat) * world + 100.0 * world * (world - 1) / 2;

    at::Tensor t = rank_data(r, 7);
    comm.all_reduce(t, ReduceOp::kSum);
    EXPECT_TRUE(at::equal(t, full_sum.narrow(0, 0, 7)));
    at::Tensor m = rank_data(r, 7);
    comm.all_reduce(m, ReduceOp::kMax);
    EXPECT_TRUE(at::equal(m, rank_data(world - 1, 7)));

    at::Tensor in = rank_data(r, world * n);
    const at::Tensor before = in.clone();
    at::Tensor out = at::full({n}, -1.0f);
    comm.reduce_scatter(out, in);
    EXPECT_TRUE(at::equal(out, full_sum.narrow(0, r * n, n)));
    EXPECT_TRUE(at::equal(in, before)) << "reduce_scatter must not modify its input";
    if (!native) {
      at::Tensor mx = at::empty({n});
      comm.reduce_scatter(mx, in, ReduceOp::kMax);
      EXPECT_TRUE(at::equal(mx, rank_data(world - 1, world * n).narrow(0, r * n, n)));
    }

    at::Tensor gathered = at::full({world * n}, -1.0f);
    comm.all_gather(gathered, rank_data(r, n));
    for (int q = 0; q < world; ++q) EXPECT_TRUE(at::equal(gathered.narrow(0, q * n, n), rank_data(q, n)));

    at::Tensor a2a = at::empty({world * n});
    comm.all_to_all(a2a, rank_data(r, world * n));
    for (int q = 0; q < world; ++q) {
      EXPECT_TRUE(at::equal(a2a.narrow(0, q * n, n), rank_data(q, world * n).narrow(0, r * n, n)));
    }

    at::Tensor b = rank_data(r, 5);
    comm.broadcast(b, world - 1);
    EXPECT_TRUE(at::equal(b, rank_data(world - 1, 5)));
    comm.barrier();
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, GlooCollectives,
                         ::testing::Values(Case{1, false}, Case{2, false}, Case{3, false}, Case{4, false},
                                           Case{2, true}, Case{3, true}),
                         [](const auto& info) {
                           return "world" + std::to_string(info.param.world) + (info.param.native ? "_native" : "_ring");
                         });

TEST(GlooCommunicator, AsyncCollectivesCompleteInIssueOrderAndBf16Works) {
  GlooCommunicatorOptions options;
  options.timeout = 20s;
  run_gloo_ranks(3, options, [](Communicator& comm) {
    const int r = comm.rank();
    std::vector<at::Tensor> outs;
    std::vector<std::unique_ptr<CommWork>> works;
    std::vector<at::Tensor> ins;
    for (int i = 0; i < 6; ++i) {
      ins.push_back(rank_data(r, 3 * 64, at::kBFloat16) + i);
      outs.push_back(at::empty({64}, at::kBFloat16));
      works.push_back(comm.reduce_scatter_async(outs.back(), ins.back(), ReduceOp::kSum));
    }
    for (auto& w : works) w->wait();
    for (int i = 0; i < 6; ++i) {
      // sum over ranks q of (j + 100 q + i) for j in chunk r: small integers, exact in bf16 up to 256
      at::Tensor expected = (at::arange(3 * 64, at::kFloat) * 3 + 300.0 + 3.0 * i).narrow(0, r * 64, 64);
      EXPECT_TRUE(at::allclose(outs[i].to(at::kFloat), expected, 0.01, 0)) << "bucket " << i;
    }
  });
}

TEST(GlooCommunicator, DeadPeerEndsInCommErrorWithinTimeout) {
  GlooCommunicatorOptions options;
  options.timeout = 1500ms;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_gloo_ranks(2, options,
                              [](Communicator& comm) {
                                comm.barrier();
                                if (comm.rank() == 1) return;  // leaves: its communicator is destroyed
                                at::Tensor t = at::ones({16});
                                comm.all_reduce(t);
                              }),
               CommError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
}

}  // namespace
}  // namespace zeroplan::executor::dist
