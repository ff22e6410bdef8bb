#include "executor/dist/rank_env.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "planner/error.h"

namespace zeroplan::executor::dist {

namespace {

const char* lookup(const GetEnv& getenv, const char* name) {
  const char* value = getenv ? getenv(name) : std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : nullptr;
}

int64_t parse_int(const char* name, const char* text, int64_t min_value, int64_t max_value) {
  int64_t value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw InputError(fmt::format("environment variable {}=\"{}\" is not an integer", name, text));
  }
  if (value < min_value || value > max_value) {
    throw InputError(fmt::format("environment variable {}={} is outside [{}, {}]", name, value, min_value, max_value));
  }
  return value;
}

int read_int(const GetEnv& getenv, const char* name, int64_t min_value, int64_t max_value, int fallback) {
  const char* text = lookup(getenv, name);
  return text ? static_cast<int>(parse_int(name, text, min_value, max_value)) : fallback;
}

bool truthy(const char* text) {
  const std::string_view s = text ? text : "";
  return s == "1" || s == "True" || s == "true" || s == "TRUE";
}

}  // namespace

std::optional<RankEnv> rank_env_from_environment(const GetEnv& getenv) {
  constexpr int64_t kMaxRanks = 1 << 20;
  RankEnv env;
  if (lookup(getenv, "RANK") != nullptr || lookup(getenv, "WORLD_SIZE") != nullptr) {
    if (lookup(getenv, "RANK") == nullptr || lookup(getenv, "WORLD_SIZE") == nullptr) {
      throw InputError("environment: RANK and WORLD_SIZE must be set together (launcher variables)");
    }
    env.source = lookup(getenv, "ZEROPLAN_LAUNCHER") ? "zeroplan"
                 : lookup(getenv, "TORCHELASTIC_RUN_ID") ? "torchrun"
                                                         : "env";
    env.world_size = read_int(getenv, "WORLD_SIZE", 1, kMaxRanks, 1);
    env.rank = read_int(getenv, "RANK", 0, env.world_size - 1, 0);
    env.local_rank = read_int(getenv, "LOCAL_RANK", 0, kMaxRanks, env.rank);
    env.local_world_size = read_int(getenv, "LOCAL_WORLD_SIZE", 1, kMaxRanks, env.world_size);
  } else if (lookup(getenv, "SLURM_PROCID") != nullptr && lookup(getenv, "SLURM_NTASKS") != nullptr) {
    env.source = "slurm";
    env.world_size = read_int(getenv, "SLURM_NTASKS", 1, kMaxRanks, 1);
    env.rank = read_int(getenv, "SLURM_PROCID", 0, env.world_size - 1, 0);
    env.local_rank = read_int(getenv, "SLURM_LOCALID", 0, kMaxRanks, env.rank);
    // SLURM_NTASKS_PER_NODE may be "4" or "4(x2)"; take the leading number.
    if (const char* per_node = lookup(getenv, "SLURM_NTASKS_PER_NODE")) {
      std::string digits;
      for (const char* p = per_node; *p >= '0' && *p <= '9'; ++p) digits += *p;
      if (!digits.empty()) env.local_world_size = static_cast<int>(parse_int("SLURM_NTASKS_PER_NODE", digits.c_str(), 1, kMaxRanks));
    } else {
      env.local_world_size = env.world_size;
    }
  } else {
    return std::nullopt;
  }
  if (env.local_rank >= env.local_world_size) {
    throw InputError(fmt::format("environment: local rank {} is not below the local world size {} (LOCAL_RANK/LOCAL_WORLD_SIZE)",
                                 env.local_rank, env.local_world_size));
  }
  if (const char* addr = lookup(getenv, "MASTER_ADDR")) {
    env.master_addr = addr;
  } else if (env.world_size > 1) {
    throw InputError("environment variable MASTER_ADDR is not set (needed for more than one rank)");
  }
  env.master_port = read_int(getenv, "MASTER_PORT", 1, 65535, 29500);
  env.agent_store = truthy(lookup(getenv, "TORCHELASTIC_USE_AGENT_STORE"));
  if (const char* timeout = lookup(getenv, "ZEROPLAN_TIMEOUT_MS")) {
    env.timeout = std::chrono::milliseconds(parse_int("ZEROPLAN_TIMEOUT_MS", timeout, 1, int64_t{1} << 40));
  }
  return env;
}

std::vector<std::pair<std::string, std::string>> rank_env_variables(const RankEnv& env) {
  std::vector<std::pair<std::string, std::string>> vars = {
      {"RANK", std::to_string(env.rank)},
      {"WORLD_SIZE", std::to_string(env.world_size)},
      {"LOCAL_RANK", std::to_string(env.local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(env.local_world_size)},
      {"MASTER_ADDR", env.master_addr},
      {"MASTER_PORT", std::to_string(env.master_port)},
      {"TORCHELASTIC_USE_AGENT_STORE", env.agent_store ? "True" : "False"},
      {"ZEROPLAN_LAUNCHER", "1"},
  };
  if (env.timeout) vars.emplace_back("ZEROPLAN_TIMEOUT_MS", std::to_string(env.timeout->count()));
  return vars;
}

int rank_intra_op_threads(int requested, int host_default_threads, int local_world_size) {
  if (requested > 0) return requested;
  return std::max(1, host_default_threads / std::max(1, local_world_size));
}

}  // namespace zeroplan::executor::dist
