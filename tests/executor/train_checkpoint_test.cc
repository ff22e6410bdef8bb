// Atomic checkpoint directories and the training-state checkpoint over a fake engine (no LibTorch):
// round trip, `latest`, and every way a checkpoint can be broken -> a clear InputError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <unistd.h>

#include "executor/checkpoint/atomic_dir.h"
#include "executor/checkpoint/train_checkpoint.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace {

namespace fs = std::filesystem;

class FakeEngine : public OptimizerEngine {
 public:
  explicit FakeEngine(std::int64_t n, float base) : master(n), m(n), v(n) {
    std::iota(master.begin(), master.end(), base);
    std::iota(m.begin(), m.end(), base * 2);
    std::iota(v.begin(), v.end(), base * 3);
  }
  int rank() const override { return 0; }
  int world() const override { return 1; }
  double all_reduce_sum(double x) override { return x; }
  double backward_multiplier(double n) const override { return 1.0 / n; }
  void begin_accumulation() override {}
  void after_micro_backward() override {}
  StepOutcome step(double) override { return {}; }
  std::vector<StateBuffer> state_buffers() override {
    return {{"master", master.data(), static_cast<std::int64_t>(master.size())},
            {"exp_avg", m.data(), static_cast<std::int64_t>(m.size())},
            {"exp_avg_sq", v.data(), static_cast<std::int64_t>(v.size())}};
  }
  std::vector<ShardPiece> shard_pieces() const override {
    return {{"w", {static_cast<std::int64_t>(master.size())}, 0, 0, static_cast<std::int64_t>(master.size())}};
  }
  EngineScalarState scalar_state() const override { return scalar; }
  void set_scalar_state(const EngineScalarState& s) override { scalar = s; }
  void refresh_parameters() override { ++refreshes; }
  std::int64_t num_parameters() const override { return static_cast<std::int64_t>(master.size()); }

  std::vector<float> master, m, v;
  EngineScalarState scalar;
  int refreshes = 0;
};

class TrainCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("zp_ckpt_test_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    state.step = 5;
    state.skipped_steps = 1;
    state.position = {2, 7};
    state.lr_last_batch_iteration = 3;
    state.rng_state = {1, 2, 3, 4, 5};
    engine.scalar = {4, LossScalerState{32768.0, 5, 2, 1}};
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string save() { return save_train_checkpoint(dir.string(), state, engine, fingerprint); }

  fs::path dir;
  TrainerState state;
  FakeEngine engine{1000, 0.5f};
  nlohmann::json fingerprint = {{"model", "tiny"}, {"precision", "fp16"}, {"micro_batch", 2}};
};

TEST_F(TrainCheckpoint, RoundTripRestoresEverything) {
  const std::string path = save();
  EXPECT_EQ(fs::path(path).filename(), "step_00000005");
  FakeEngine other(1000, 9.0f);
  const TrainerState got = load_train_checkpoint(dir.string(), other, fingerprint);  // through `latest`
  EXPECT_EQ(other.master, engine.master);
  EXPECT_EQ(other.m, engine.m);
  EXPECT_EQ(other.v, engine.v);
  EXPECT_EQ(other.scalar.adam_step, 4);
  EXPECT_EQ(other.scalar.scaler.cur_scale, 32768.0);
  EXPECT_EQ(other.scalar.scaler.last_overflow_iter, 2);
  EXPECT_EQ(other.scalar.scaler.cur_hysteresis, 1);
  EXPECT_EQ(other.refreshes, 1);
  EXPECT_EQ(got.step, 5);
  EXPECT_EQ(got.skipped_steps, 1);
  EXPECT_EQ(got.position.epoch, 2);
  EXPECT_EQ(got.position.index, 7);
  EXPECT_EQ(got.lr_last_batch_iteration, 3);
  EXPECT_EQ(got.rng_state, state.rng_state);
  // No temp dirs are left behind.
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_NE(e.path().filename().string()[0], '.');
}

TEST_F(TrainCheckpoint, LatestFollowsTheNewestSave) {
  save();
  state.step = 10;
  engine.master[0] = 42.0f;
  save();
  std::ifstream in(dir / "latest");
  std::string name;
  std::getline(in, name);
  EXPECT_EQ(name, "step_00000010");
  FakeEngine other(1000, 0.0f);
  EXPECT_EQ(load_train_checkpoint(dir.string(), other, fingerprint).step, 10);
  EXPECT_EQ(other.master[0], 42.0f);
  // An explicit older checkpoint still loads.
  EXPECT_EQ(load_train_checkpoint((dir / "step_00000005").string(), other, fingerprint).step, 5);
}

TEST_F(TrainCheckpoint, TruncatedFileIsAClearError) {
  const std::string path = save();
  fs::resize_file(fs::path(path) / "exp_avg.rank0.f32", 100);
  FakeEngine other(1000, 0.0f);
  try {
    load_train_checkpoint(path, other, fingerprint);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("exp_avg.rank0.f32: corrupt or truncated"), std::string::npos) << e.what();
  }
}

TEST_F(TrainCheckpoint, FlippedByteFailsTheChecksum) {
  const std::string path = save();
  {
    std::fstream f(fs::path(path) / "master.rank0.f32", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.put('\x7f');
  }
  FakeEngine other(1000, 0.0f);
  try {
    load_train_checkpoint(path, other, fingerprint);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST_F(TrainCheckpoint, CrashBeforeTheManifestLeavesNothingLoadable) {
  const std::string first = save();
  {
    // A save that dies before commit(): its files exist only in the temp dir.
    AtomicDirWriter w(dir.string(), "step_00000099");
    const float x = 1.0f;
    w.write_file("master.rank0.f32", &x, sizeof x);
    EXPECT_FALSE(fs::exists(dir / "step_00000099"));
  }  // the destructor cleans the temp dir, as a restart would ignore it
  FakeEngine other(1000, 0.0f);
  EXPECT_EQ(load_train_checkpoint(dir.string(), other, fingerprint).step, 5);  // latest still the old one
  // A directory without its manifest (completion marker) is not a checkpoint.
  fs::remove(fs::path(first) / "manifest.json");
  EXPECT_THROW(load_train_checkpoint(first, other, fingerprint), InputError);
  EXPECT_THROW(load_train_checkpoint(dir.string(), other, fingerprint), InputError);  // latest -> incomplete
}

TEST_F(TrainCheckpoint, CorruptManifestIsAClearError) {
  const std::string path = save();
  {
    std::ofstream f(fs::path(path) / "manifest.json", std::ios::trunc);
    f << "{\"format\": \"zeroplan.checkpoint/v1\", \"files\": {";
  }
  FakeEngine other(1000, 0.0f);
  try {
    load_train_checkpoint(path, other, fingerprint);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt manifest"), std::string::npos) << e.what();
  }
}

TEST_F(TrainCheckpoint, FingerprintMismatchNamesTheField) {
  const std::string path = save();
  nlohmann::json other_run = fingerprint;
  other_run["micro_batch"] = 4;
  FakeEngine other(1000, 0.0f);
  try {
    load_train_checkpoint(path, other, other_run);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("micro_batch = 2, this run has 4"), std::string::npos) << e.what();
  }
  FakeEngine smaller(999, 0.0f);
  EXPECT_THROW(load_train_checkpoint(path, smaller, fingerprint), InputError);
}

TEST(AtomicDir, ChecksumSeesTruncationAndChanges) {
  std::vector<unsigned char> a(1001, 7);
  const auto h = checksum64(a.data(), a.size());
  EXPECT_NE(h, checksum64(a.data(), a.size() - 1));
  a[500] = 8;
  EXPECT_NE(h, checksum64(a.data(), a.size()));
  EXPECT_THROW(resolve_checkpoint_dir("/nonexistent/zeroplan/ckpt"), InputError);
}

}  // namespace
}  // namespace zeroplan::executor
