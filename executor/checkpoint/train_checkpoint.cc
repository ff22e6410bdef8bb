#include "executor/checkpoint/train_checkpoint.h"
#include "executor/checkpoint/checkpoint_meta.h"

#include <fmt/format.h>

#include "executor/checkpoint/atomic_dir.h"
#include "planner/error.h"

namespace zeroplan::executor {

namespace {

std::string buffer_file(const StateBuffer& b, int rank) { return fmt::format("{}.rank{}.f32", b.name, rank); }

}  // namespace

std::string save_train_checkpoint(const std::string& checkpoints_dir, const TrainerState& state,
                                  OptimizerEngine& engine, const nlohmann::json& run_fingerprint) {
  const std::string name = fmt::format("step_{:08d}", state.step);
  AtomicDirWriter writer(checkpoints_dir, name);
  for (const StateBuffer& b : engine.state_buffers())
    writer.write_file(buffer_file(b, engine.rank()), b.data, static_cast<std::size_t>(b.numel) * sizeof(float));
  writer.write_file("rng_state.bin", state.rng_state.data(), state.rng_state.size());

  const EngineScalarState es = engine.scalar_state();
  nlohmann::json meta;
  meta["run"] = run_fingerprint;
  meta["trainer"] = trainer_meta_json(state);
  meta["engine"] = engine_scalar_json(es);
  meta["engine"]["world"] = engine.world();
  meta["engine"]["num_parameters"] = engine.num_parameters();
  const std::string dir = writer.commit(meta);
  write_latest_pointer(checkpoints_dir, name);
  return dir;
}

TrainerState load_train_checkpoint(const std::string& path, OptimizerEngine& engine,
                                   const nlohmann::json& run_fingerprint) {
  const std::string dir = resolve_checkpoint_dir(path);
  const CheckpointDirReader reader(dir);
  const nlohmann::json& meta = reader.meta();
  const std::string manifest = dir + "/manifest.json";
  try {
    const nlohmann::json& saved = meta.at("run");
    for (const auto& [key, value] : run_fingerprint.items()) {
      if (!saved.contains(key))
        throw InputError(manifest + ": field \"run." + key + "\" is missing (checkpoint from another version?)");
      if (saved[key] != value)
        throw InputError(fmt::format("{}: checkpoint was saved with {} = {}, this run has {} (resume needs the same)",
                                     manifest, key, saved[key].dump(), value.dump()));
    }
    const nlohmann::json& e = meta.at("engine");
    if (e.at("world").get<int>() != engine.world() ||
        e.at("num_parameters").get<std::int64_t>() != engine.num_parameters())
      throw InputError(manifest + ": checkpoint has " + e.at("num_parameters").dump() + " parameters on " +
                       e.at("world").dump() + " ranks; this run has " + std::to_string(engine.num_parameters()) +
                       " on " + std::to_string(engine.world()));

    for (const StateBuffer& b : engine.state_buffers())
      reader.read_file(buffer_file(b, engine.rank()), b.data, static_cast<std::size_t>(b.numel) * sizeof(float));
    TrainerState s = trainer_meta_from_json(meta.at("trainer"));
    s.rng_state.resize(reader.file_bytes("rng_state.bin"));
    reader.read_file("rng_state.bin", s.rng_state.data(), s.rng_state.size());

    engine.set_scalar_state(engine_scalar_from_json(e));
    engine.refresh_parameters();
    return s;
  } catch (const nlohmann::json::exception& ex) {
    throw InputError(manifest + ": corrupt checkpoint metadata (" + std::string(ex.what()) + ")");
  }
}

}  // namespace zeroplan::executor
