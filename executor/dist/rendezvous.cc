#include "executor/dist/rendezvous.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "executor/dist/gloo_communicator.h"
#include "planner/error.h"
#ifdef ZEROPLAN_HAVE_NCCL
#include "executor/dist/nccl_communicator.h"
#endif

namespace zeroplan::executor::dist {

namespace {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

c10::intrusive_ptr<c10d::Store> make_tcp_store(const std::string& host, int port, bool is_server,
                                               std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = is_server;
  opts.waitWorkers = false;
  opts.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, opts);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("libuv") != std::string::npos) {
      opts.useLibUV = false;  // a torch built without libuv
      try {
        return c10::make_intrusive<c10d::TCPStore>(host, opts);
      } catch (const c10::Error& e2) {
        throw CommError(fmt::format("TCPStore {}:{}: {}", host, port, first_line(e2.what_without_backtrace())));
      }
    }
    throw CommError(fmt::format("TCPStore {}:{} ({}): {}", host, port, is_server ? "server" : "client",
                                first_line(what)));
  }
}

int tcp_store_port(const c10::intrusive_ptr<c10d::Store>& store) {
  auto* tcp = dynamic_cast<c10d::TCPStore*>(store.get());
  return tcp != nullptr ? tcp->getPort() : -1;
}

DistContext init_distributed(const RankEnv& env, const DistOptions& options) {
  DistContext context;
  context.env = env;
  const std::chrono::milliseconds timeout = env.timeout.value_or(options.timeout);
  const bool host_store = !env.agent_store && env.rank == 0;
  context.store = make_tcp_store(env.master_addr, env.master_port, host_store, timeout);
  context.status = std::make_unique<StatusChannel>(context.store, env.rank);
  context.status->set_phase("rendezvous", -1);
  if (options.backend == Backend::kGloo) {
    GlooCommunicatorOptions gloo;
    gloo.timeout = timeout;
    // Single node: bind loopback. Otherwise let c10d pick the interface (or GLOO_SOCKET_IFNAME).
    gloo.hostname = is_loopback(env.master_addr) ? "127.0.0.1" : "";
    context.comm = make_gloo_communicator(context.store, env.rank, env.world_size, gloo);
  } else {
#ifdef ZEROPLAN_HAVE_NCCL
    NcclCommunicatorOptions nccl;
    nccl.timeout = timeout;
    nccl.device_index = env.local_rank;
    context.comm = make_nccl_communicator(context.store, env.rank, env.world_size, nccl);
#else
    throw InputError("backend nccl: this zeroplan was built without CUDA LibTorch; use gloo");
#endif
  }
  return context;
}

}  // namespace zeroplan::executor::dist
