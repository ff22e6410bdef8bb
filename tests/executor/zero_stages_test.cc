// ZeRO stages 0-3 through make_zero_engine() on FakeCommunicator ranks, the fast subset: world 2,
// every stage, stage 3 with both offloads; layout, shard pieces, memory, release, errors. zero_equivalence_test.cc has world 4, offload, accumulation, checkpointing, bf16.

#include <gtest/gtest.h>

#include <map>

#include "executor/zero/bucket_layout.h"
#include "executor/zero/device_adamw.h"
#include "planner/error.h"
#include "profiler/memory_ledger.h"
#include "profiler/tracking_allocator.h"
#include "tests/executor/zero_test_driver.h"

namespace zeroplan::executor::zero {
namespace {

using namespace std::chrono_literals;
using namespace testdriver;

using Case = StageCase;

class ZeroStages : public ::testing::TestWithParam<Case> {};

TEST_P(ZeroStages, LossTrajectoryMatchesSingleProcess) { expect_matches_single_process(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Equivalence, ZeroStages,
    ::testing::Values(Case{0, 2, false, false}, Case{1, 2, false, false}, Case{2, 2, false, false},
                      Case{3, 2, false, false}, Case{3, 2, true, true}),
    stage_case_name);

TEST(ZeroStagesExtra, GlooLoopbackMatchesSingleProcess) {
  // Real asynchronous collectives (c10d Gloo, 2 ranks on loopback): overlapped bucket reductions,
  // prefetched gathers.
  for (int stage : {0, 2, 3}) {
    RunConfig c;
    c.world = 2;
    c.gas = 2;
    c.steps = 8;
    c.gloo = true;
    c.zero = zero_options(stage, at::kFloat);
    const auto reference = reference_losses(c);
    const auto ranks = run_ranks(c);
    EXPECT_LT(worst_relative(ranks[0].losses, reference), 1e-5) << "stage " << stage;
    EXPECT_EQ(ranks[0].losses, ranks[1].losses) << "stage " << stage;
  }
}

TEST(ZeroStagesExtra, OneBucketBufferTinyAndInterleavedBuckets) {
  // overlap_comm off (one bucket buffer). 40 elements: every parameter is its own bucket. 1600: a
  // bucket {down_proj, input_layernorm, post_attention_layernorm} (stage 3: all norms in one
  // persistent bucket) completes only after later buckets started, so gradients arrive out of
  // bucket order and a temporary buffer is needed.
  for (int64_t bucket : {40, 1600}) {
    for (int stage : {0, 2, 3}) {
      RunConfig c;
      c.world = 2;
      c.gas = 2;
      c.steps = 10;
      c.zero = zero_options(stage, at::kFloat);
      c.zero.overlap_comm = false;
      c.zero.reduce_bucket_elems = bucket;
      const auto reference = reference_losses(c);
      const auto ranks = run_ranks(c);
      EXPECT_LT(worst_relative(ranks[0].losses, reference), 1e-5) << "stage " << stage << " bucket " << bucket;
      if (bucket == 1600) EXPECT_GT(ranks[0].temporary_buffers, 0) << "stage " << stage << ": no out-of-order arrival";
    }
  }
}

// Forwards to another communicator and counts the collectives issued.
class CountingCommunicator final : public dist::Communicator {
 public:
  explicit CountingCommunicator(dist::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  std::string backend_name() const override { return inner_.backend_name(); }
  std::chrono::milliseconds timeout() const override { return inner_.timeout(); }
  std::unique_ptr<dist::CommWork> all_reduce_async(at::Tensor& t, dist::ReduceOp op) override {
    ++issued;
    return inner_.all_reduce_async(t, op);
  }
  std::unique_ptr<dist::CommWork> reduce_scatter_async(at::Tensor& o, const at::Tensor& i, dist::ReduceOp op) override {
    ++issued;
    return inner_.reduce_scatter_async(o, i, op);
  }
  std::unique_ptr<dist::CommWork> all_gather_async(at::Tensor& o, const at::Tensor& i) override {
    ++issued;
    return inner_.all_gather_async(o, i);
  }
  std::unique_ptr<dist::CommWork> broadcast_async(at::Tensor& t, int root) override {
    ++issued;
    return inner_.broadcast_async(t, root);
  }
  std::unique_ptr<dist::CommWork> all_to_all_async(at::Tensor& o, const at::Tensor& i) override {
    ++issued;
    return inner_.all_to_all_async(o, i);
  }
  void barrier() override { inner_.barrier(); }
  int issued = 0;

 private:
  dist::Communicator& inner_;
};

TEST(ZeroStagesExtra, ReductionsStartDuringBackward) {
  // Overlap: bucket reductions are issued from gradient hooks while backward still runs, i.e.
  // before the embedding's gradient (the last one backward produces) exists.
  for (int stage : {0, 2, 3}) {
    RunConfig c;
    c.world = 2;
    c.zero = zero_options(stage, at::kFloat);
    dist::run_fake_ranks(2, 20s, [&](dist::Communicator& inner) {
      CountingCommunicator comm(inner);
      LlamaForCausalLM model = make_model(c);
      auto engine = make_zero_engine(model, c.zero, comm);
      int issued_before_last_grad = -1;
      model->model->embed_tokens->weight.register_hook([&](const at::Tensor& g) {
        issued_before_last_grad = comm.issued;
        return g;
      });
      const Batch b = make_batch({inner.rank(), inner.rank() + 2}, model->spec().vocab_size);
      engine->begin_accumulation();
      const int before_backward = [&] {
        LossSum ls = fused_causal_lm_loss_sum(model->hidden_states(b.ids, {}, {}), model->lm_head_weight(), b.labels);
        const int issued = comm.issued;
        (ls.loss_sum * 0.01).backward();
        return issued;
      }();
      engine->after_micro_backward();
      EXPECT_GT(issued_before_last_grad, before_backward) << "stage " << stage << ": nothing reduced during backward";
    });
  }
}

TEST(ZeroStagesExtra, ShardPiecesCoverEveryParameterOnce) {
  for (int stage : {1, 2, 3}) {
    RunConfig c;
    c.world = 4;
    c.zero = zero_options(stage, at::kFloat);
    LlamaForCausalLM model = make_model(c);
    std::map<std::string, int64_t> numel;
    for (const auto& [name, p] : model->hf_named_parameters()) numel[name] = p.numel();
    std::vector<std::vector<ShardPiece>> pieces(4);
    std::vector<int64_t> buffer_numel(4);
    dist::run_fake_ranks(4, 20s, [&](dist::Communicator& comm) {
      LlamaForCausalLM m = make_model(c);
      auto engine = make_zero_engine(m, c.zero, comm);
      pieces[static_cast<size_t>(comm.rank())] = engine->shard_pieces();
      buffer_numel[static_cast<size_t>(comm.rank())] = engine->state_buffers()[0].numel;
    });
    std::map<std::string, std::vector<int>> covered;
    for (const auto& [name, n] : numel) covered[name].assign(static_cast<size_t>(n), 0);
    for (int r = 0; r < 4; ++r) {
      for (const auto& pc : pieces[static_cast<size_t>(r)]) {
        ASSERT_TRUE(covered.count(pc.param)) << pc.param;
        ASSERT_LE(pc.param_offset + pc.numel, numel[pc.param]);
        ASSERT_LE(pc.buffer_offset + pc.numel, buffer_numel[static_cast<size_t>(r)]);
        for (int64_t i = 0; i < pc.numel; ++i) covered[pc.param][static_cast<size_t>(pc.param_offset + i)] += 1;
      }
    }
    for (const auto& [name, counts] : covered)
      for (int v : counts) ASSERT_EQ(v, 1) << "stage " << stage << " " << name;
  }
}

TEST(ZeroStagesExtra, Stage2KeepsOnlyAGradientPartition) {
  RunConfig c;
  c.world = 4;
  c.gas = 2;
  c.steps = 2;
  c.zero = zero_options(2, at::kFloat);
  const auto ranks = run_ranks(c);
  for (const auto& r : ranks) {
    // fp32 gradient partition P = N / world, nothing N-sized.
    EXPECT_EQ(r.partition_numel * 4, r.total_numel);
    EXPECT_EQ(r.memory.gradient_bytes, 4 * r.partition_numel);
    // Two bucket buffers (overlap_comm) of the largest bucket plus their reduce-scatter outputs.
    EXPECT_EQ(r.memory.buffer_bytes, 2 * 4 * (r.max_bucket + r.max_shard));
    EXPECT_EQ(r.memory.optimizer_bytes, 3 * 4 * r.partition_numel);
    EXPECT_EQ(r.memory.params_bytes, 4 * r.total_numel);
  }
  c.zero.stage = 1;  // stage 1 keeps the N-size fp32 gradient
  const auto s1 = run_ranks(c);
  EXPECT_EQ(s1[0].memory.gradient_bytes, 4 * (s1[0].total_numel + s1[0].partition_numel));
}

TEST(ZeroStagesExtra, Stage2GradientMemoryMeasuredByTheTrackingAllocator) {
  // What the CPU allocator actually handed out under each category while 4 ranks build their
  // engines: stage 2 holds an fp32 gradient partition N/world per rank, stage 1 the full N as well.
  // The models are built before tracking starts: their parameters' frees (when the engine moves them
  // into its flat buffers) are then untracked instead of charged to whatever category was ambient.
  if (profiler::cpu_memory_tracking_installed()) GTEST_SKIP() << "needs to start the tracking itself";
  std::vector<LlamaForCausalLM> models;
  for (int i = 0; i < 8; ++i) models.push_back(make_model(RunConfig{}));
  profiler::install_cpu_memory_tracking();
  auto live = [] { return profiler::cpu_memory_ledger().snapshot().live; };
  for (int stage : {1, 2}) {
    RunConfig c;
    c.world = 4;
    c.zero = zero_options(stage, at::kFloat);
    std::vector<std::uint64_t> grads(2), buffers(2);
    int64_t total = 0, part = 0, max_bucket = 0, max_shard = 0;
    dist::run_fake_ranks(4, 20s, [&](dist::Communicator& comm) {
      LlamaForCausalLM model = models[static_cast<size_t>((stage - 1) * 4 + comm.rank())];
      comm.barrier();
      if (comm.rank() == 0) {
        grads[0] = live()[profiler::Category::kGradients];
        buffers[0] = live()[profiler::Category::kBuffers];
      }
      comm.barrier();
      auto engine = make_zero_engine(model, c.zero, comm);
      comm.barrier();
      if (comm.rank() == 0) {
        grads[1] = live()[profiler::Category::kGradients];
        buffers[1] = live()[profiler::Category::kBuffers];
        const auto& l = dynamic_cast<ShardedEngine&>(*engine).layout();
        total = l.total_numel();
        part = l.partition_numel();
        max_bucket = l.max_padded_bucket_numel();
        max_shard = l.max_shard_numel();
      }
      comm.barrier();
    });
    const auto grad_bytes = static_cast<int64_t>(grads[1] - grads[0]);
    const auto buffer_bytes = static_cast<int64_t>(buffers[1] - buffers[0]);
    if (stage == 2) {
      EXPECT_EQ(grad_bytes, 4 * 4 * part);  // 4 ranks x fp32 x P
      EXPECT_EQ(buffer_bytes, 4 * 2 * 4 * (max_bucket + max_shard));  // 4 ranks x K=2 x fp32 x (B + S)
      std::printf("stage 2, 4 ranks: N %lld, P %lld, gradients %lld B, bucket buffers %lld B (all ranks)\n",
                  static_cast<long long>(total), static_cast<long long>(part), static_cast<long long>(grad_bytes),
                  static_cast<long long>(buffer_bytes));
    } else {
      EXPECT_EQ(grad_bytes, 4 * 4 * (total + part));
      EXPECT_EQ(buffer_bytes, 0);
    }
  }
}

TEST(ZeroStagesExtra, Stage3LiveParametersStayBounded) {
  RunConfig c;
  c.world = 2;
  c.gas = 1;
  c.steps = 2;
  c.zero = zero_options(3, at::kFloat);
  const auto ranks = run_ranks(c);
  // max_live (12000) is below two decoder layers (~7.7k each): never everything at once.
  for (const auto& r : ranks) {
    EXPECT_GT(r.peak_live, 0);
    EXPECT_LE(r.peak_live, c.zero.stage3_max_live_parameters);
    // 16-bit partition + the persistent norms (5 x 32 elements, one bucket, padded to world x alignment).
    EXPECT_EQ(r.memory.params_bytes, 4 * (r.partition_numel + 160));
  }
}

TEST(ZeroStagesExtra, Stage3ReleasesParametersOutsideTheirUnit) {
  RunConfig c;
  c.world = 2;
  c.zero = zero_options(3, at::kFloat);
  dist::run_fake_ranks(2, 20s, [&](dist::Communicator& comm) {
    LlamaForCausalLM model = make_model(c);
    auto engine = make_zero_engine(model, c.zero, comm);
    const at::Tensor& q = model->model->layers->layers[0]->self_attn->q_proj->weight;
    const at::Tensor& norm = model->model->layers->layers[0]->input_layernorm->weight;
    EXPECT_EQ(q.storage().nbytes(), 0u) << "a partitioned parameter is materialised outside its unit";
    EXPECT_GT(norm.storage().nbytes(), 0u) << "a persistent parameter was released";
    train(model, *engine, 1, 2);
    EXPECT_EQ(q.storage().nbytes(), 0u);
  });
}

TEST(ZeroStagesExtra, InvalidConfigurationsAreInputErrors) {
  dist::run_fake_ranks(1, 10s, [](dist::Communicator& comm) {
    RunConfig c;
    LlamaForCausalLM model = make_model(c);
    ZeroRunOptions o = zero_options(2, at::kFloat);
    o.offload_param = true;
    EXPECT_THROW(make_zero_engine(model, o, comm), InputError);
    o = zero_options(0, at::kFloat);
    o.offload_optimizer = true;
    EXPECT_THROW(make_zero_engine(model, o, comm), InputError);
    o = zero_options(4, at::kFloat);
    EXPECT_THROW(make_zero_engine(model, o, comm), InputError);
    o = zero_options(2, at::kBFloat16);  // fp32 model, bf16 precision
    EXPECT_THROW(make_zero_engine(model, o, comm), InputError);
    o = zero_options(2, at::kFloat);
    o.reduce_bucket_elems = 0;
    EXPECT_THROW(make_zero_engine(model, o, comm), InputError);
  });
}

TEST(DeviceAdamW, TensorPathMatchesTheHostKernel) {
  // The GPU (non-offloaded) path of ShardedEngine, run on CPU tensors against adamw.h's kernel.
  const int64_t n = 1000;
  at::Tensor p1 = at::sin(at::arange(n, at::kFloat)), g = at::cos(at::arange(n, at::kFloat) * 0.3);
  at::Tensor m1 = at::zeros({n}), v1 = at::zeros({n});
  at::Tensor p2 = p1.clone(), m2 = m1.clone(), v2 = v1.clone();
  AdamWOptions o;
  o.weight_decay = 0.1;
  for (int step = 1; step <= 5; ++step) {
    const auto s = adamw_scalars(o, 1e-2, o.weight_decay, step, 0.5);
    adamw_update(p1.data_ptr<float>(), g.data_ptr<float>(), m1.data_ptr<float>(), v1.data_ptr<float>(), n, s);
    adamw_update_tensors(p2, g, m2, v2, s);
  }
  EXPECT_LT((p1 - p2).abs().max().item<double>(), 1e-6);
  EXPECT_LT((v1 - v2).abs().max().item<double>(), 1e-9);
  EXPECT_GT((p1 - at::sin(at::arange(n, at::kFloat))).abs().max().item<double>(), 1e-3);  // it moved
}

TEST(BucketLayout, BucketsArePaddedPerBucketAndShardedByRank) {
  // Flat order a(5) b(3) c(12) d(2); buckets of <= 8 elements formed walking backwards: d; c does
  // not fit with d and is larger than a bucket, so alone; then b + a (8).
  const std::vector<LayoutParamSpec> params = {{"a", 5, 0}, {"b", 3, 0}, {"c", 12, 0}, {"d", 2, 0}};
  BucketLayout l(params, /*shards=*/2, /*alignment=*/2, /*bucket_elems=*/8);
  ASSERT_EQ(l.buckets().size(), 3u);
  EXPECT_EQ(l.buckets()[0].params, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(l.buckets()[0].padded_numel, 8);   // 8 is a multiple of 2 x 2
  EXPECT_EQ(l.buckets()[1].padded_numel, 12);  // c alone
  EXPECT_EQ(l.buckets()[2].padded_numel, 4);   // d: 2 -> 4
  EXPECT_EQ(l.total_numel(), 24);
  EXPECT_EQ(l.partition_numel(), 12);
  EXPECT_EQ(l.slots()[2].offset, 8);
  EXPECT_EQ(l.slots()[3].offset, 20);
  // Rank 1 owns [4, 8) of bucket 0 (a[4], b[0..3)), [14, 20) of bucket 1 (c[6..12)), [22, 24) (padding).
  const auto p = l.pieces(1);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].slot, 0u);
  EXPECT_EQ(p[0].param_offset, 4);
  EXPECT_EQ(p[0].numel, 1);
  EXPECT_EQ(p[1].slot, 1u);
  EXPECT_EQ(p[1].partition_offset, 1);
  EXPECT_EQ(p[2].slot, 2u);
  EXPECT_EQ(p[2].param_offset, 6);
  EXPECT_EQ(p[2].partition_offset, 4);
  EXPECT_EQ(p[2].numel, 6);
  // Groups never share a bucket.
  BucketLayout g({{"a", 1, 0}, {"b", 1, 1}}, 1, 1, 100);
  EXPECT_EQ(g.buckets().size(), 2u);
  EXPECT_THROW(BucketLayout(params, 0, 1, 1), std::invalid_argument);
  EXPECT_THROW(BucketLayout(params, 1, 1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace zeroplan::executor::zero
