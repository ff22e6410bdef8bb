// rank_env_from_environment: zeroplan / torchrun / srun variables, and malformed values.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "executor/dist/rank_env.h"
#include "planner/error.h"

namespace zeroplan::executor::dist {
namespace {

GetEnv from(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(RankEnv, NoLauncherVariablesMeansSingleProcess) { EXPECT_FALSE(rank_env_from_environment(from({})).has_value()); }

TEST(RankEnv, TorchrunVariables) {
  const auto env = rank_env_from_environment(from({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"},
                                                   {"LOCAL_WORLD_SIZE", "4"}, {"MASTER_ADDR", "node0"},
                                                   {"MASTER_PORT", "29511"}, {"TORCHELASTIC_RUN_ID", "x"},
                                                   {"TORCHELASTIC_USE_AGENT_STORE", "True"}}));
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 5);
  EXPECT_EQ(env->world_size, 8);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->local_world_size, 4);
  EXPECT_EQ(env->master_addr, "node0");
  EXPECT_EQ(env->master_port, 29511);
  EXPECT_TRUE(env->agent_store);
  EXPECT_EQ(env->source, "torchrun");
  EXPECT_FALSE(env->timeout.has_value());
}

TEST(RankEnv, SlurmVariables) {
  const auto env = rank_env_from_environment(from({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"},
                                                   {"SLURM_NTASKS_PER_NODE", "2(x2)"}, {"MASTER_ADDR", "n1"}}));
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->local_world_size, 2);
  EXPECT_EQ(env->master_port, 29500);
  EXPECT_FALSE(env->agent_store);
  EXPECT_EQ(env->source, "slurm");
}

TEST(RankEnv, LauncherVariablesRoundTrip) {
  RankEnv in;
  in.rank = 2;
  in.world_size = 4;
  in.local_rank = 2;
  in.local_world_size = 4;
  in.master_addr = "127.0.0.1";
  in.master_port = 40001;
  in.agent_store = true;
  in.timeout = std::chrono::milliseconds(1234);
  std::map<std::string, std::string> vars;
  for (const auto& [k, v] : rank_env_variables(in)) vars[k] = v;
  const auto out = rank_env_from_environment(from(vars));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->rank, 2);
  EXPECT_EQ(out->master_port, 40001);
  EXPECT_TRUE(out->agent_store);
  EXPECT_EQ(out->timeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(out->source, "zeroplan");
}

TEST(RankEnv, IntraOpThreadsShareTheHostUnlessAsked) {
  EXPECT_EQ(rank_intra_op_threads(0, 2, 1), 2);   // one process: LibTorch's default
  EXPECT_EQ(rank_intra_op_threads(0, 2, 2), 1);   // 2 ranks on 2 cores: one each
  EXPECT_EQ(rank_intra_op_threads(0, 16, 4), 4);
  EXPECT_EQ(rank_intra_op_threads(0, 2, 4), 1);   // more ranks than cores: at least 1
  EXPECT_EQ(rank_intra_op_threads(3, 2, 4), 3);   // --threads wins
}

TEST(RankEnv, MalformedValuesNameTheVariable) {
  auto message = [](const std::map<std::string, std::string>& vars) {
    try {
      rank_env_from_environment(from(vars));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}}).find("RANK=\"x\""), std::string::npos);
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}}).find("RANK=2 is outside [0, 1]"),
            std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}}).find("together"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT"),
            std::string::npos);
}

}  // namespace
}  // namespace zeroplan::executor::dist
