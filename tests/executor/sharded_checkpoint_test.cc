// Sharded checkpoints over fake engines (no LibTorch; ranks are threads with a std::barrier): a
// world-2 checkpoint loads back bit for bit on 2 ranks and re-partitions onto 1 and 3 ranks by
// parameter name and offset; a replicated engine is saved once; one-process checkpoints of the
// previous format still load; a corrupt or missing shard is an InputError naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <barrier>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "executor/checkpoint/sharded_checkpoint.h"
#include "executor/checkpoint/train_checkpoint.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace {

namespace fs = std::filesystem;

// Two parameters a [3, 5] and b [7], laid out flat (a then b), padded to a multiple of world and
// split into equal partitions; each rank holds its partition of master / exp_avg / exp_avg_sq.
// Element e of the flat layout has value e (+1000 for exp_avg, +2000 for exp_avg_sq) when filled.
class FakeShardEngine : public OptimizerEngine {
 public:
  static constexpr std::int64_t kNumel = 15 + 7;
  FakeShardEngine(int rank, int world, bool replicated = false) : rank_(rank), world_(world), replicated_(replicated) {
    const std::int64_t padded = (kNumel + world - 1) / world * world;
    part_ = replicated ? padded : padded / world;
    begin_ = replicated ? 0 : rank * part_;
    for (auto* b : {&master, &m, &v}) b->assign(static_cast<std::size_t>(part_), -1.0f);
  }
  void fill() {
    for (std::int64_t i = 0; i < part_; ++i) {
      const std::int64_t e = begin_ + i;
      if (e >= kNumel) continue;  // padding
      master[i] = static_cast<float>(e);
      m[i] = static_cast<float>(e + 1000);
      v[i] = static_cast<float>(e + 2000);
    }
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  double all_reduce_sum(double x) override { return x; }
  double backward_multiplier(double n) const override { return 1.0 / n; }
  void begin_accumulation() override {}
  void after_micro_backward() override {}
  StepOutcome step(double) override { return {}; }
  std::vector<StateBuffer> state_buffers() override {
    return {{"master", master.data(), part_}, {"exp_avg", m.data(), part_}, {"exp_avg_sq", v.data(), part_}};
  }
  std::vector<ShardPiece> shard_pieces() const override {
    std::vector<ShardPiece> out;
    const struct {
      const char* name;
      std::vector<std::int64_t> shape;
      std::int64_t offset, numel;
    } params[] = {{"a", {3, 5}, 0, 15}, {"b", {7}, 15, 7}};
    for (const auto& p : params) {
      const std::int64_t lo = std::max(begin_, p.offset), hi = std::min(begin_ + part_, p.offset + p.numel);
      if (lo < hi) out.push_back({p.name, p.shape, lo - p.offset, lo - begin_, hi - lo});
    }
    return out;
  }
  EngineScalarState scalar_state() const override { return scalar; }
  void set_scalar_state(const EngineScalarState& s) override { scalar = s; }
  void refresh_parameters() override { ++refreshes; }
  std::int64_t num_parameters() const override { return kNumel; }
  // True when every element this rank holds has its filled value.
  bool holds_filled_values() const {
    for (std::int64_t i = 0; i < part_; ++i) {
      const std::int64_t e = begin_ + i;
      if (e < kNumel && (master[i] != e || m[i] != e + 1000 || v[i] != e + 2000)) return false;
    }
    return true;
  }

  std::vector<float> master, m, v;
  EngineScalarState scalar{7, LossScalerState{1024.0, 3, 1, 2}};
  int refreshes = 0;

 private:
  int rank_, world_;
  bool replicated_;
  std::int64_t part_ = 0, begin_ = 0;
};

nlohmann::json fingerprint(int micro, int accum, int world) {
  return {{"model", "fake"}, {"precision", "fp32"}, {"micro_batch", micro}, {"grad_accum", accum},
          {"world", world},  {"global_batch", micro * accum * world},     {"num_parameters", FakeShardEngine::kNumel}};
}

// Runs fn(rank, barrier) on `world` threads.
void run_ranks(int world, const std::function<void(int, const std::function<void()>&)>& fn) {
  std::barrier sync(world);
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(world));
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r, [&] { sync.arrive_and_wait(); });
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
        sync.arrive_and_drop();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

class ShardedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("zp_sharded_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    state.step = 6;
    state.position = {0, 12};  // 12 samples per rank of 2 = 24 consumed
    state.lr_last_batch_iteration = 5;
    state.rng_state = {9, 8, 7};
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string save_world(int world, bool replicated = false) {
    std::string path;
    run_ranks(world, [&](int r, const std::function<void()>& barrier) {
      FakeShardEngine e(r, world, replicated);
      e.fill();
      const std::string p = save_sharded_checkpoint(dir.string(), state, e, fingerprint(2, 2, world), barrier, "{}");
      if (r == 0) path = p;
    });
    return path;
  }
  // Loads on `world` ranks (global batch 8 = micro x accum x world) and checks every element.
  std::vector<TrainerState> load_world(int world) {
    std::vector<TrainerState> out(static_cast<std::size_t>(world));
    run_ranks(world, [&](int r, const std::function<void()>&) {
      FakeShardEngine e(r, world);
      out[static_cast<std::size_t>(r)] = load_sharded_checkpoint(dir.string(), e, fingerprint(8 / world / 1, 1, world));
      EXPECT_TRUE(e.holds_filled_values()) << "rank " << r << " of " << world;
      EXPECT_EQ(e.scalar.adam_step, 7);
      EXPECT_EQ(e.refreshes, 1);
    });
    return out;
  }

  fs::path dir;
  TrainerState state;
};

TEST_F(ShardedCheckpoint, SameWorldIsBitIdenticalOthersRepartition) {
  const std::string path = save_world(2);
  EXPECT_EQ(fs::path(path).filename(), "step_00000006");
  for (const char* f : {"master.rank0.f32", "master.rank1.f32", "exp_avg_sq.rank1.f32", "shard.rank1.json",
                        "manifest.json", "config.json", "rng_state.bin"})
    EXPECT_TRUE(fs::exists(fs::path(path) / f)) << f;
  EXPECT_TRUE(fs::exists(dir / "latest"));
  EXPECT_FALSE(fs::exists(dir / ".step_00000006.tmp-shards"));
  for (int world : {2, 1, 3, 4}) {
    if (8 % world != 0) continue;
    const auto states = load_world(world);
    for (const auto& s : states) {
      EXPECT_EQ(s.step, 6);
      EXPECT_EQ(s.position.index * world, 24) << world;  // the same samples consumed
      EXPECT_EQ(s.rng_state, state.rng_state);
    }
  }
  // 3 ranks cannot keep the global batch of 8: the fingerprint refuses it.
  FakeShardEngine e(0, 3);
  EXPECT_THROW(load_sharded_checkpoint(dir.string(), e, fingerprint(1, 3, 3)), InputError);
}

TEST_F(ShardedCheckpoint, ReplicatedEngineIsSavedOnce) {
  const std::string path = save_world(2, /*replicated=*/true);
  EXPECT_TRUE(fs::exists(fs::path(path) / "master.rank0.f32"));
  EXPECT_FALSE(fs::exists(fs::path(path) / "master.rank1.f32"));
  load_world(2);
  load_world(1);
}

TEST_F(ShardedCheckpoint, OneProcessCheckpointOfThePreviousFormatLoads) {
  FakeShardEngine old(0, 1);
  old.fill();
  nlohmann::json old_fingerprint = fingerprint(4, 2, 1);
  old_fingerprint.erase("world");
  old_fingerprint.erase("global_batch");
  save_train_checkpoint(dir.string(), state, old, old_fingerprint);
  FakeShardEngine e(0, 1);
  const TrainerState s = load_sharded_checkpoint(dir.string(), e, fingerprint(4, 2, 1));
  EXPECT_TRUE(e.holds_filled_values());
  EXPECT_EQ(s.step, 6);
  FakeShardEngine two(0, 2);  // its layout is unknown to another world size: refused, not guessed
  EXPECT_THROW(load_sharded_checkpoint(dir.string(), two, fingerprint(2, 2, 2)), InputError);
}

TEST_F(ShardedCheckpoint, CorruptOrMissingShardNamesTheFile) {
  const std::string path = save_world(2);
  {
    std::fstream f(fs::path(path) / "exp_avg.rank1.f32", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4);
    f.put('\x55');
  }
  auto message = [&](int world, int rank) {
    try {
      FakeShardEngine e(rank, world);
      load_sharded_checkpoint(dir.string(), e, fingerprint(8 / world, 1, world));
    } catch (const InputError& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(2, 1).find("exp_avg.rank1.f32: corrupt checkpoint file (checksum mismatch)"), std::string::npos)
      << message(2, 1);
  EXPECT_EQ(message(2, 0), "no error");  // rank 0 does not read rank 1's files
  fs::remove(fs::path(path) / "master.rank0.f32");
  EXPECT_NE(message(1, 0).find("master.rank0.f32"), std::string::npos) << message(1, 0);
  // A different model size is refused by name.
  FakeShardEngine e(0, 2);
  nlohmann::json other = fingerprint(4, 1, 2);
  other["num_parameters"] = 99;
  try {
    load_sharded_checkpoint(dir.string(), e, other);
    ADD_FAILURE() << "no error";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("num_parameters"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace zeroplan::executor
