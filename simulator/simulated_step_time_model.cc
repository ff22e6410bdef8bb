#include "simulator/simulated_step_time_model.h"

#include <fmt/format.h>

namespace zeroplan::sim {

namespace {

// Everything in a ClusterSpec the topology and collective model read.
std::string cluster_key(const ClusterSpec& c, int dp) {
  const GpuSpec& g = c.gpu;
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", c.name, c.nodes, c.gpus_per_node, c.topology, g.name,
                     g.intra_node_bandwidth_GBps, g.pcie_bandwidth_GBps, c.inter_node_bandwidth_GBps,
                     c.intra_node_latency_us, c.inter_node_latency_us, dp);
}

std::string model_key(const PlanContext& context, std::uint64_t threshold) {
  const ModelSpec& m = context.model;
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", m.hidden_size, m.intermediate_size, m.num_hidden_layers,
                     m.num_attention_heads, m.num_key_value_heads, m.head_dim, m.vocab_size, m.tie_word_embeddings,
                     m.qkv_bias, m.o_bias, m.mlp_bias, context.training.seq_len, threshold);
}

}  // namespace

SimulatedStepTimeModel::SimulatedStepTimeModel(SimulationOptions options, std::shared_ptr<const HardwareProfile> profile)
    : options_(options), profile_(std::move(profile)) {
  options_.profile = profile_.get();
  options_.trace = false;
}

const ClusterModel& SimulatedStepTimeModel::cluster_model(const ClusterSpec& cluster, int dp) const {
  const std::string key = cluster_key(cluster, dp);
  auto it = clusters_.find(key);
  if (it == clusters_.end()) it = clusters_.emplace(key, std::make_unique<ClusterModel>(cluster, dp, options_)).first;
  return *it->second;
}

const ModuleCosts& SimulatedStepTimeModel::modules(const PlanContext& context, std::uint64_t threshold) const {
  const std::string key = model_key(context, threshold);
  auto it = modules_.find(key);
  if (it == modules_.end()) {
    it = modules_.emplace(key, std::make_unique<ModuleCosts>(module_costs(context.model, context.training.seq_len, threshold)))
             .first;
  }
  return *it->second;
}

SimulationResult SimulatedStepTimeModel::simulate(const PlanContext& context, const Candidate& candidate, bool trace) const {
  const ClusterModel* cluster = nullptr;
  const ModuleCosts* mods = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cluster = &cluster_model(context.cluster, static_cast<int>(candidate.dp));
    mods = &modules(context, candidate.param_persistence_threshold);
  }
  SimulationOptions options = options_;
  options.trace = trace;
  return simulate_step(context, candidate, *cluster, *mods, options);
}

StepTimeEstimate SimulatedStepTimeModel::estimate(const PlanContext& context, const Candidate& candidate) const {
  return simulate(context, candidate, false).step;
}

}  // namespace zeroplan::sim
