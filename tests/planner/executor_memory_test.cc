// The zeroplan runtime (planner/memory_model.h "Runtimes"): which runtime a plan sizes, the
// executor's model states and buffers by hand, its activation model's shape (the figures against
// the executor itself are tests/fidelity/executor_activation_test.cc), and plan.json's field.
#include <gtest/gtest.h>

#include "planner/activation_memory.h"
#include "planner/error.h"
#include "planner/executor_memory.h"
#include "planner/memory_model.h"
#include "planner/plan_json.h"
#include "planner/roofline_step_time.h"
#include "planner/search.h"

namespace zeroplan {
namespace {

const std::string kConfigs = ZEROPLAN_SOURCE_DIR "/configs";

PlanContext tiny_context(const std::string& cluster, Runtime runtime) {
  PlanContext ctx;
  ctx.model = load_model_spec("tiny-llama-25m", kConfigs);
  ctx.cluster = load_cluster_spec(cluster, kConfigs);
  ctx.training.seq_len = 128;
  ctx.training.global_batch = 2;
  ctx.training.precision = Precision::kBf16;
  ctx.training.runtime = runtime;
  return ctx;
}

TEST(Runtime, AutoIsZeroplanOnCpuRanksAndDeepSpeedOnGpus) {
  EXPECT_EQ(effective_runtime(tiny_context("local-cpu", Runtime::kAuto)), Runtime::kZeroplan);
  EXPECT_EQ(effective_runtime(tiny_context("1x8-h100-80gb", Runtime::kAuto)), Runtime::kDeepSpeed);
  EXPECT_EQ(effective_runtime(tiny_context("local-cpu", Runtime::kDeepSpeed)), Runtime::kDeepSpeed);
  EXPECT_EQ(effective_runtime(tiny_context("1x8-h100-80gb", Runtime::kZeroplan)), Runtime::kZeroplan);
}

TEST(Runtime, NamesParseAndBadOnesAreErrors) {
  for (Runtime r : {Runtime::kAuto, Runtime::kDeepSpeed, Runtime::kZeroplan}) {
    EXPECT_EQ(parse_runtime(runtime_name(r), "--runtime"), r);
  }
  try {
    parse_runtime("DeepSpeed", "--runtime");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "--runtime: 'DeepSpeed' is not a runtime (auto, deepspeed, zeroplan)");
  }
}

// SingleProcessEngine's flat buffers (executor_memory.cc), Ψ = 1000.
// Ψ = 1000: hidden 10, 1 layer (q, k, v, o 4 x 100 + MLP 3 x 100 + norms 2 x 10 = 720), tied
// embedding 27 x 10 = 270, final norm 10.
ModelSpec thousand_params() {
  return parse_hf_config(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 10,
      "intermediate_size": 10, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
      "vocab_size": 27, "rms_norm_eps": 1e-6, "tie_word_embeddings": true})", "t.json");
}

TEST(ExecutorModelStates, Stage0OneRankByHand) {
  Candidate c;
  const ModelSpec m = thousand_params();
  ASSERT_EQ(count_params(m).total, 1000);
  const ModelStates fp32 = executor_model_states(m, c, Precision::kFp32, true);
  EXPECT_EQ(fp32.gpu_params, 4000u);            // fp32 master; the parameters are views of it
  EXPECT_EQ(fp32.gpu_gradients, 4000u);         // fp32 flat gradient
  EXPECT_EQ(fp32.gpu_optimizer_states, 8000u);  // exp_avg + exp_avg_sq
  const ModelStates bf16 = executor_model_states(m, c, Precision::kBf16, true);
  EXPECT_EQ(bf16.gpu_params, 6000u);            // fp32 master 4 + bf16 parameters 2
  EXPECT_EQ(bf16.gpu_gradients, 6000u);         // fp32 accumulator 4 + bf16 autograd buffer 2
  EXPECT_EQ(bf16.gpu_optimizer_states, 8000u);
  EXPECT_EQ(bf16.cpu_total(), 0u);
  // DeepSpeed's split of the same 16-bit run: 2 / 2 / 12 = 16 B/param, 4 fewer.
  const ModelStates ds = zero_model_states(1000, 1, 0, Precision::kBf16, OffloadDevice::kNone, OffloadDevice::kNone);
  EXPECT_EQ(ds.gpu_total() + 4000u, bf16.gpu_total());
}

// ShardedEngine (executor/zero/README.md) on 2 ranks, fp32, one bucket size of 5e8 elements:
// one bucket of all 1000 parameters, padded to round_up(1000, 2 x 16) = 1024.
TEST(ExecutorModelStates, Stage2TwoRanksFollowTheZeroTable) {
  const ModelSpec m = thousand_params();
  Candidate c;
  c.zero_stage = 2;
  c.dp = 2;
  const ExecutorLayout l = executor_layout(m, c);
  EXPECT_EQ(l.total, 1024u);
  EXPECT_EQ(l.partition, 512u);
  EXPECT_EQ(l.max_bucket, 1024u);
  EXPECT_EQ(l.max_shard, 512u);
  const ModelStates s = executor_model_states(m, c, Precision::kFp32, true);
  EXPECT_EQ(s.gpu_params, 4u * 1024u);           // whole flat parameters
  EXPECT_EQ(s.gpu_gradients, 4u * 512u);         // fp32 partition accumulator
  EXPECT_EQ(s.gpu_optimizer_states, 12u * 512u);  // master + exp_avg + exp_avg_sq
  EXPECT_EQ(l.buckets, 1u);
  EXPECT_EQ(l.last_shard, 512u);
  // bucket + its shard, + RoPE's inverse frequencies (arange(0, head_dim 5, 2): 3 floats) + the 0-d norm
  const std::uint64_t always = 4u * 3u + 4u;
  // With activations above the end of backward's transient, only the persistent buffers count.
  const std::uint64_t big_activations = 1u << 20;
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, big_activations), (1024u + 512u) * 4u + always);
  // With none, the end of backward's transient shows: the embedding's gradient (27 x 10 fp32) still
  // held by autograd + the ring's receive buffer for its bucket's reduce_scatter (one shard, 512).
  const std::uint64_t end_of_backward = 27u * 10u * 4u + 512u * 4u;
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0), (1024u + 512u) * 4u + always + end_of_backward);
  c.overlap_comm = true;  // one bucket: nothing else can be in flight
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0), 2u * (1024u + 512u) * 4u + always + end_of_backward);
  // More buckets (of at most 300 elements, walking backwards): the previous bucket's reduce_scatter may
  // still be in flight with its own shard-sized buffer (max shard).
  c.reduce_bucket_size = 300;
  const ExecutorLayout small = executor_layout(m, c);
  ASSERT_GT(small.buckets, 1u);
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0),
            2u * (small.max_bucket + small.max_shard) * 4u + always + 27u * 10u * 4u + small.last_shard * 4u +
                small.max_shard * 4u);
  c.reduce_bucket_size = Candidate{}.reduce_bucket_size;
  c.overlap_comm = false;
  // One rank (dp 1) reduces nothing: no transient.
  Candidate one = c;
  one.dp = 1;
  EXPECT_EQ(executor_buffer_bytes(m, one, Precision::kFp32, 0),
            (executor_layout(m, one).max_bucket + executor_layout(m, one).max_shard) * 4u + always);
  // Optimizer offload on CPU ranks: still this rank's host memory, same categories; on GPUs the
  // fp32 gradient partition and the optimizer states move to the CPU side.
  c.offload_optimizer = OffloadDevice::kCpu;
  EXPECT_EQ(executor_model_states(m, c, Precision::kFp32, true).gpu_total(), s.gpu_total());
  const ModelStates gpu = executor_model_states(m, c, Precision::kFp32, false);
  EXPECT_EQ(gpu.gpu_total(), 4u * 1024u);
  EXPECT_EQ(gpu.cpu_total(), 16u * 512u);
}

// 16-bit at dp > 1: the reduced bucket is added to the fp32 accumulator in chunks of at most 2^20
// elements through an fp32 temporary (executor/zero/grad_reducer.cc); with no activations it shows.
TEST(ExecutorModelStates, SixteenBitAccumulateTemporaryByHand) {
  const ModelSpec m = thousand_params();
  Candidate c;
  c.zero_stage = 0;
  c.dp = 2;
  const std::uint64_t always = 4u * 3u + 4u;
  // stage 0: bucket 1024 (padded to 1 x 16), bf16 2 B, + fp32 temporary of the whole (small) bucket
  EXPECT_EQ(executor_layout(m, c).max_bucket, 1008u);
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kBf16, 0), 1008u * 2u + always + 1008u * 4u);
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0), 1008u * 4u + always);  // fp32: no conversion
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kBf16, 1u << 20), 1008u * 2u + always);  // hidden
  ModelSpec big = m;
  big.vocab_size = 300000;  // the embedding alone is 3 M elements: the temporary is capped at one chunk
  EXPECT_EQ(executor_buffer_bytes(big, c, Precision::kBf16, 0) - executor_layout(big, c).max_bucket * 2u - always,
            4u * kExecutorAccumulateChunk);
}

// Stage 3 with a persistence threshold of 50: the three norms (10 each) are persistent, one bucket
// of 30 -> 32; the layer's 7 matrices (700 -> 704) and the embedding (270 -> 288) are units 1 and 0.
TEST(ExecutorModelStates, Stage3PersistentAndGatheredByHand) {
  const ModelSpec m = thousand_params();
  Candidate c;
  c.zero_stage = 3;
  c.dp = 2;
  c.param_persistence_threshold = 50;
  const ExecutorLayout l = executor_layout(m, c);
  EXPECT_EQ(l.total, 32u + 704u + 288u);
  EXPECT_EQ(l.persistent, 32u);
  EXPECT_EQ(l.largest_unit, 704u);
  EXPECT_EQ(l.max_bucket, 704u);
  const ModelStates s = executor_model_states(m, c, Precision::kFp32, true);
  EXPECT_EQ(s.gpu_params, 4u * 512u + 4u * 32u);  // the partition + the persistent parameters whole
  EXPECT_EQ(s.gpu_gradients, 4u * 512u);
  // The embedding's bucket (288) is reduced last: its shard 144.
  EXPECT_EQ(l.last_shard, 144u);
  // buckets (704 + 352) x 4 + gathered: everything but the persistent (prefetch 5e7 covers it) 992 x 4,
  // + with no activations, the end of backward: embedding gradient 270 x 4 + receive buffer 144 x 4
  const std::uint64_t end_of_backward = 270u * 4u + 144u * 4u;
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0), (704u + 352u) * 4u + 992u * 4u + 16u + end_of_backward);
  // When the activations peak in the loss only the head unit is gathered: the final norm is
  // persistent, and the tied head reads the embedding (unit 0, 288).
  EXPECT_EQ(l.head_unit, 288u);
  EXPECT_EQ(executor_buffer_bytes(m, c, Precision::kFp32, 0, /*loss_peak=*/true),
            (704u + 352u) * 4u + 288u * 4u + 16u + end_of_backward);
  c.offload_param = OffloadDevice::kCpu;
  c.offload_optimizer = OffloadDevice::kCpu;
  EXPECT_EQ(executor_model_states(m, c, Precision::kFp32, false).gpu_params, 4u * 32u);
}

TEST(ExecutorMemory, OneRankStage0HasNoBuffersAndTheExecutorsStates) {
  PlanContext ctx = tiny_context("local-cpu", Runtime::kAuto);
  ctx.cluster.gpus_per_node = 1;
  split_host_memory(ctx.cluster);
  Candidate c;
  c.micro_batch = 2;
  const std::int64_t psi = count_params(ctx.model).total;
  const MemoryBreakdown m = estimate_memory(ctx, c);
  EXPECT_EQ(m.gpu.params, 6u * static_cast<std::uint64_t>(psi));
  EXPECT_EQ(m.gpu.gradients, 6u * static_cast<std::uint64_t>(psi));
  EXPECT_EQ(m.gpu.optimizer_states, 8u * static_cast<std::uint64_t>(psi));
  // RoPE's fp32 inverse frequencies (head_dim 32 / 2) + the step's 0-d norm; DeepSpeed would count a
  // 4 B/param all-reduce bucket and an fp32 gradient copy.
  EXPECT_EQ(m.gpu.buffers, 4u * 16u + 4u);
  EXPECT_EQ(m.gpu.overhead, 0u);
  ActivationInput in;
  in.micro_batch = 2;
  in.seq_len = 128;
  in.precision = Precision::kBf16;
  in.cpu_kernels = true;
  in.runtime = Runtime::kZeroplan;
  EXPECT_EQ(m.gpu.activations, activation_peak_bytes(ctx.model, in));
  // The same candidate sized for DeepSpeed differs in every category but overhead.
  ctx.training.runtime = Runtime::kDeepSpeed;
  const MemoryBreakdown ds = estimate_memory(ctx, c);
  EXPECT_NE(ds.gpu.params, m.gpu.params);
  EXPECT_NE(ds.gpu.buffers, m.gpu.buffers);
  EXPECT_NE(ds.gpu.activations, m.gpu.activations);
}

ActivationInput act(std::int64_t b, std::int64_t s, Precision p, bool ckpt) {
  ActivationInput in;
  in.micro_batch = b;
  in.seq_len = s;
  in.precision = p;
  in.checkpointing = ckpt;
  in.cpu_kernels = true;
  in.runtime = Runtime::kZeroplan;
  return in;
}

// The fused loss never makes [b s, V] logits: with a 32000 vocabulary, Hugging Face's unfused loss
// (12 B per b s V in its backward) is far above the executor's chunked one.
TEST(ExecutorActivations, FusedLossStaysBelowTheUnfusedOne) {
  const ModelSpec m = load_model_spec("tiny-llama-25m", kConfigs);
  ActivationInput in = act(4, 512, Precision::kBf16, false);
  const std::uint64_t executor = activation_peak_bytes(m, in);
  in.runtime = Runtime::kDeepSpeed;
  const std::uint64_t hf = activation_peak_bytes(m, in);
  EXPECT_LT(executor, hf);
  EXPECT_LT(12u * 4u * 512u * 32000u, hf);  // the unfused backward alone
}

// SDPA gets the k/v heads as they are: more kv heads cost more, and kv = nh costs what an
// expanded GQA copy would.
TEST(ExecutorActivations, GqaKeysAreNotExpanded) {
  ModelSpec m = load_model_spec("tiny-llama-25m", kConfigs);  // 8 heads, 4 kv heads
  const ActivationInput in = act(2, 128, Precision::kFp32, false);
  const ActivationTimeline gqa = activation_timeline(m, in);
  m.num_key_value_heads = 8;
  const ActivationTimeline mha = activation_timeline(m, in);
  // per layer: k and v (b, kv, s, d) fp32 twice as large: + 2 x 2 x 128 x 4 x 32 x 4 bytes
  EXPECT_EQ(mha.layer_saved_bytes - gqa.layer_saved_bytes, 2u * 2u * 128u * 4u * 32u * 4u);
}

// Checkpointing keeps one (b, s, h) input per layer instead of the layer's saved tensors; the loss
// (the same with or without it) bounds how much it can save.
TEST(ExecutorActivations, CheckpointingLowersThePeakAndNeverRaisesIt) {
  const ModelSpec m = load_model_spec("tiny-llama-25m", kConfigs);
  for (Precision p : {Precision::kFp32, Precision::kBf16}) {
    for (std::int64_t s : {64, 512}) {
      const std::uint64_t off = activation_peak_bytes(m, act(2, s, p, false));
      const std::uint64_t on = activation_peak_bytes(m, act(2, s, p, true));
      EXPECT_LT(on, off) << precision_name(p) << " s " << s;
    }
  }
}

TEST(PlanJsonRuntime, WrittenReadBackAndResolvedForOldPlans) {
  PlanContext ctx = tiny_context("local-cpu", Runtime::kZeroplan);
  const RooflineStepTimeModel roofline;
  const Plan plan = search_plans(ctx, SearchOptions{}, roofline);
  nlohmann::json j = nlohmann::json::parse(write_plan_json(plan));
  EXPECT_EQ(j["training"]["runtime"], "zeroplan");
  EXPECT_EQ(plan_from_json(j, "plan.json").context.training.runtime, Runtime::kZeroplan);
  j["training"]["runtime"] = "deepspeed";
  EXPECT_EQ(plan_from_json(j, "plan.json").context.training.runtime, Runtime::kDeepSpeed);
  // A plan written before the field existed: resolved by the cluster's device kind.
  j["training"].erase("runtime");
  EXPECT_EQ(plan_from_json(j, "plan.json").context.training.runtime, Runtime::kZeroplan);
  j["training"]["runtime"] = "ds";
  try {
    plan_from_json(j, "plan.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("plan.json: field \"training.runtime\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace zeroplan
