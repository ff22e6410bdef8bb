#include "executor/checkpoint/export_checkpoint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "executor/checkpoint/atomic_dir.h"
#include "executor/weights/safetensors.h"
#include "planner/error.h"

namespace zeroplan::executor {

namespace fs = std::filesystem;

ExportSummary export_consolidated(const std::string& path, const std::string& out_dir) {
  const std::string dir = resolve_checkpoint_dir(path);
  const CheckpointDirReader reader(dir);
  const nlohmann::json& meta = reader.meta();
  const std::string manifest = dir + "/manifest.json";
  if (!meta.contains("shards"))
    throw InputError(manifest + ": written before sharded checkpoints (no shard map); export it with `zeroplan run "
                                "--resume ... --export DIR`");
  if (!reader.has_file("config.json"))
    throw InputError(dir + ": checkpoint has no config.json (the model's config) to export with");
  ExportSummary summary;
  summary.checkpoint = dir;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in first-seen (layout) order
  std::map<std::string, std::size_t> index;
  std::map<std::string, std::int64_t> covered;
  try {
    summary.world = meta.at("engine").at("world").get<int>();
    summary.step = meta.at("trainer").at("step").get<std::int64_t>();
    for (const auto& shard : meta.at("shards")) {
      const int rank = shard.at("rank").get<int>();
      const std::string file = fmt::format("master.rank{}.f32", rank);
      std::vector<float> master(reader.file_bytes(file) / sizeof(float));
      reader.read_file(file, master.data(), master.size() * sizeof(float));  // size + checksum checked
      for (const auto& p : shard.at("pieces")) {
        const std::string name = p.at("param").get<std::string>();
        const auto shape = p.at("shape").get<std::vector<std::int64_t>>();
        const auto param_offset = p.at("param_offset").get<std::int64_t>();
        const auto buffer_offset = p.at("buffer_offset").get<std::int64_t>();
        const auto numel = p.at("numel").get<std::int64_t>();
        if (!index.count(name)) {
          index[name] = tensors.size();
          tensors.emplace_back(name, at::zeros(shape, at::kFloat));
        }
        at::Tensor& t = tensors[index[name]].second;
        if (param_offset < 0 || numel < 0 || param_offset + numel > t.numel() ||
            buffer_offset + numel > static_cast<std::int64_t>(master.size()))
          throw InputError(fmt::format("{}: shard map of rank {} points outside {} or its file", manifest, rank, name));
        std::memcpy(t.data_ptr<float>() + param_offset, master.data() + buffer_offset,
                    static_cast<std::size_t>(numel) * sizeof(float));
        covered[name] += numel;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(manifest + ": corrupt checkpoint metadata (" + std::string(e.what()) + ")");
  }
  for (const auto& [name, t] : tensors) {
    if (covered[name] != t.numel())
      throw InputError(fmt::format("{}: the shards hold {} of the {} elements of {} (incomplete checkpoint)", manifest,
                                   covered[name], t.numel(), name));
    summary.parameters += t.numel();
  }
  summary.tensors = static_cast<std::int64_t>(tensors.size());

  std::string config(reader.file_bytes("config.json"), '\0');
  reader.read_file("config.json", config.data(), config.size());
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw InputError(out_dir + ": cannot create directory (" + ec.message() + ")");
  write_safetensors(out_dir + "/model.safetensors", tensors);
  write_file_synced(out_dir + "/config.json", config.data(), config.size());
  return summary;
}

}  // namespace zeroplan::executor
