#pragma once
// Rendezvous of one rank: connect to the job's TCPStore (hosted by the launcher, or by rank 0 when
// the launcher has no store), then build the communicator and the status channel on it.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "executor/dist/communicator.h"
#include "executor/dist/rank_env.h"
#include "executor/dist/status_channel.h"

namespace zeroplan::executor::dist {

enum class Backend { kGloo, kNccl };

struct DistOptions {
  Backend backend = Backend::kGloo;
  std::chrono::milliseconds timeout{30000};  // collectives and rendezvous; RankEnv::timeout overrides
};

struct DistContext {
  RankEnv env;
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<StatusChannel> status;
};

// Throws CommError when the store or the peers cannot be reached within the timeout, and
// InputError when NCCL is asked for on a build without CUDA.
DistContext init_distributed(const RankEnv& env, const DistOptions& options);

// Creates a TCPStore (server when is_server) with the libuv backend when this torch has it.
c10::intrusive_ptr<c10d::Store> make_tcp_store(const std::string& host, int port, bool is_server,
                                               std::chrono::milliseconds timeout);
// The port a TCPStore server actually listens on (useful with port 0).
int tcp_store_port(const c10::intrusive_ptr<c10d::Store>& store);

}  // namespace zeroplan::executor::dist
