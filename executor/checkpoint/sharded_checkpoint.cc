#include "executor/checkpoint/sharded_checkpoint.h"
#include "executor/checkpoint/checkpoint_meta.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "executor/checkpoint/atomic_dir.h"
#include "planner/error.h"

namespace zeroplan::executor {

namespace {

constexpr const char* kStagingSuffix = "shards";

std::string buffer_file(const std::string& buffer, int rank) { return fmt::format("{}.rank{}.f32", buffer, rank); }
std::string shard_file(int rank) { return fmt::format("shard.rank{}.json", rank); }

nlohmann::json pieces_json(const std::vector<ShardPiece>& pieces) {
  nlohmann::json out = nlohmann::json::array();
  for (const ShardPiece& p : pieces)
    out.push_back({{"param", p.param}, {"shape", p.shape}, {"param_offset", p.param_offset},
                   {"buffer_offset", p.buffer_offset}, {"numel", p.numel}});
  return out;
}

std::vector<ShardPiece> pieces_from_json(const nlohmann::json& j) {
  std::vector<ShardPiece> out;
  for (const auto& p : j)
    out.push_back({p.at("param").get<std::string>(), p.at("shape").get<std::vector<std::int64_t>>(),
                   p.at("param_offset").get<std::int64_t>(), p.at("buffer_offset").get<std::int64_t>(),
                   p.at("numel").get<std::int64_t>()});
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": missing (a rank did not write its shard)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every rank holds every element (stage 0 on several ranks): rank 0's copy is the checkpoint.
bool replicated(OptimizerEngine& engine, const std::vector<ShardPiece>& pieces) {
  std::int64_t held = 0;
  for (const auto& p : pieces) held += p.numel;
  return engine.world() > 1 && held == engine.num_parameters();
}

// Keys of the fingerprint that may differ between the saving and the resuming run when the global
// batch is the same: how the batch is split over ranks and micro-steps does not change the math.
bool split_key(const std::string& key) { return key == "micro_batch" || key == "grad_accum" || key == "world"; }

void check_fingerprint(const nlohmann::json& saved, const nlohmann::json& now, const std::string& manifest) {
  for (const auto& [key, value] : now.items()) {
    if (split_key(key)) continue;
    nlohmann::json old;
    if (saved.contains(key)) {
      old = saved[key];
    } else if (key == "global_batch" && saved.contains("micro_batch") && saved.contains("grad_accum")) {
      // Checkpoints of one process from before sharding: micro x accum x 1.
      old = saved["micro_batch"].get<std::int64_t>() * saved["grad_accum"].get<std::int64_t>() *
            saved.value("world", 1);
    } else {
      throw InputError(manifest + ": field \"run." + key + "\" is missing (checkpoint from another version?)");
    }
    if (old != value)
      throw InputError(fmt::format("{}: checkpoint was saved with {} = {}, this run has {} (resume needs the same)",
                                   manifest, key, old.dump(), value.dump()));
  }
  if (now.value("pack", false) && saved.contains("micro_batch") && saved["micro_batch"] != now["micro_batch"])
    throw InputError(fmt::format("{}: packed rows: resume needs the same micro_batch ({}), this run has {}", manifest,
                                 saved["micro_batch"].dump(), now["micro_batch"].dump()));
}

struct SavedShard {
  int rank = 0;
  std::vector<ShardPiece> pieces;
};

}  // namespace

std::string save_sharded_checkpoint(const std::string& checkpoints_dir, const TrainerState& state,
                                    OptimizerEngine& engine, const nlohmann::json& run_fingerprint,
                                    const std::function<void()>& barrier, const std::string& model_config_json) {
  const std::string name = fmt::format("step_{:08d}", state.step);
  const int rank = engine.rank();
  const int world = engine.world();
  const std::vector<ShardPiece> pieces = engine.shard_pieces();
  const bool is_replicated = replicated(engine, pieces);
  const bool writes = !is_replicated || rank == 0;

  std::optional<AtomicDirWriter> writer;
  if (rank == 0) writer.emplace(checkpoints_dir, name, kStagingSuffix);  // (re)creates the staging dir
  barrier();
  const std::string tmp = atomic_tmp_dir(checkpoints_dir, name, kStagingSuffix);
  if (writes) {
    nlohmann::json files = nlohmann::json::object();
    std::int64_t numel = -1;
    for (const StateBuffer& b : engine.state_buffers()) {
      const std::string file = buffer_file(b.name, rank);
      const std::size_t bytes = static_cast<std::size_t>(b.numel) * sizeof(float);
      write_file_synced(tmp + "/" + file, b.data, bytes);
      files[file] = {{"bytes", bytes}, {"checksum", checksum_hex(b.data, bytes)}};
      numel = b.numel;
    }
    const nlohmann::json shard = {{"rank", rank}, {"numel", numel}, {"pieces", pieces_json(pieces)}, {"files", files}};
    const std::string text = shard.dump();
    write_file_synced(tmp + "/" + shard_file(rank), text.data(), text.size());
  }
  barrier();  // every shard is on disk
  std::string dir = checkpoints_dir + "/" + name;
  if (rank == 0) {
    writer->write_file("rng_state.bin", state.rng_state.data(), state.rng_state.size());
    if (!model_config_json.empty())
      writer->write_file("config.json", model_config_json.data(), model_config_json.size());
    nlohmann::json shards = nlohmann::json::array();
    for (int q = 0; q < (is_replicated ? 1 : world); ++q) {
      const std::string path = tmp + "/" + shard_file(q);
      const std::string text = slurp(path);
      nlohmann::json shard;
      try {
        shard = nlohmann::json::parse(text);
        for (const auto& [file, info] : shard.at("files").items())
          writer->adopt_file(file, info.at("bytes").get<std::size_t>(), info.at("checksum").get<std::string>());
      } catch (const nlohmann::json::exception& e) {
        throw InputError(path + ": corrupt shard description (" + std::string(e.what()) + ")");
      }
      writer->adopt_file(shard_file(q), text.size(), checksum_hex(text.data(), text.size()));
      shards.push_back({{"rank", q}, {"numel", shard.at("numel")}, {"pieces", shard.at("pieces")}});
    }
    const EngineScalarState es = engine.scalar_state();
    nlohmann::json meta;
    meta["run"] = run_fingerprint;
    meta["trainer"] = trainer_meta_json(state);
    meta["engine"] = engine_scalar_json(es);
    meta["engine"]["world"] = world;
    meta["engine"]["replicated"] = is_replicated;
    meta["engine"]["num_parameters"] = engine.num_parameters();
    meta["shards"] = shards;
    dir = writer->commit(meta);                       // manifest.json last, then the rename
    write_latest_pointer(checkpoints_dir, name);       // and only then `latest`
  }
  barrier();  // the checkpoint is complete for everyone
  return dir;
}

TrainerState load_sharded_checkpoint(const std::string& path, OptimizerEngine& engine,
                                     const nlohmann::json& run_fingerprint) {
  const std::string dir = resolve_checkpoint_dir(path);
  const CheckpointDirReader reader(dir);
  const nlohmann::json& meta = reader.meta();
  const std::string manifest = dir + "/manifest.json";
  const std::vector<StateBuffer> buffers = engine.state_buffers();
  const std::vector<ShardPiece> mine = engine.shard_pieces();
  try {
    check_fingerprint(meta.at("run"), run_fingerprint, manifest);
    const nlohmann::json& e = meta.at("engine");
    const int old_world = e.at("world").get<int>();
    if (e.at("num_parameters").get<std::int64_t>() != engine.num_parameters())
      throw InputError(fmt::format("{}: checkpoint has {} parameters; this run has {}", manifest,
                                   e.at("num_parameters").dump(), engine.num_parameters()));

    std::vector<SavedShard> saved;
    if (meta.contains("shards")) {
      for (const auto& s : meta["shards"]) saved.push_back({s.at("rank").get<int>(), pieces_from_json(s.at("pieces"))});
    } else {
      // A one-process checkpoint from before sharding: the single-process engine's layout.
      if (old_world != 1 || engine.world() != 1)
        throw InputError(manifest + ": written before sharded checkpoints; resume it on one process (world 1)");
      saved.push_back({0, mine});
    }

    // Where each saved piece lands in this rank's buffers: (saved rank, src offset, dst offset, n).
    std::multimap<std::string, const ShardPiece*> by_param;
    for (const ShardPiece& p : mine) by_param.emplace(p.param, &p);
    std::int64_t copied = 0;
    for (const SavedShard& s : saved) {
      struct Range {
        std::int64_t src, dst, n;
      };
      std::vector<Range> ranges;
      for (const ShardPiece& sp : s.pieces) {
        auto [lo_it, hi_it] = by_param.equal_range(sp.param);
        for (auto it = lo_it; it != hi_it; ++it) {
          const ShardPiece& mp = *it->second;
          if (mp.shape != sp.shape)
            throw InputError(fmt::format("{}: parameter {} has another shape in the checkpoint", manifest, sp.param));
          const std::int64_t lo = std::max(sp.param_offset, mp.param_offset);
          const std::int64_t hi = std::min(sp.param_offset + sp.numel, mp.param_offset + mp.numel);
          if (lo < hi) ranges.push_back({sp.buffer_offset + lo - sp.param_offset, mp.buffer_offset + lo - mp.param_offset, hi - lo});
        }
      }
      if (ranges.empty()) continue;
      for (const StateBuffer& b : buffers) {
        const std::string file = buffer_file(b.name, s.rank);
        std::vector<float> old(reader.file_bytes(file) / sizeof(float));
        reader.read_file(file, old.data(), old.size() * sizeof(float));  // size + checksum checked
        for (const Range& r : ranges) {
          if (r.src + r.n > static_cast<std::int64_t>(old.size()) || r.dst + r.n > b.numel)
            throw InputError(fmt::format("{}/{}: shard map points outside the file", dir, file));
          std::memcpy(b.data + r.dst, old.data() + r.src, static_cast<std::size_t>(r.n) * sizeof(float));
        }
      }
      for (const Range& r : ranges) copied += r.n;
    }
    std::int64_t needed = 0;
    for (const ShardPiece& p : mine) needed += p.numel;
    if (copied != needed)
      throw InputError(fmt::format("{}: the shards cover {} of this rank's {} elements (incomplete checkpoint)", manifest,
                                   copied, needed));

    TrainerState s = trainer_meta_from_json(meta.at("trainer"));
    s.rng_state.resize(reader.file_bytes("rng_state.bin"));
    reader.read_file("rng_state.bin", s.rng_state.data(), s.rng_state.size());
    engine.set_scalar_state(engine_scalar_from_json(e));
    engine.refresh_parameters();

    // The index counts this rank's samples; the ranks consumed index x world of the epoch's order.
    const std::int64_t consumed = s.position.index * old_world;
    if (consumed % engine.world() != 0)
      throw InputError(fmt::format("{}: the data position ({} samples of epoch {}) does not split over {} ranks",
                                   manifest, consumed, s.position.epoch, engine.world()));
    s.position.index = consumed / engine.world();
    return s;
  } catch (const nlohmann::json::exception& ex) {
    throw InputError(manifest + ": corrupt checkpoint metadata (" + std::string(ex.what()) + ")");
  }
}

}  // namespace zeroplan::executor
