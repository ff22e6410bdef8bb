#include "executor/dist/launcher.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

#include "executor/dist/rank_env.h"
#include "executor/dist/rendezvous.h"
#include "executor/dist/status_channel.h"
#include "planner/error.h"

extern char** environ;

namespace zeroplan::executor::dist {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(20);
constexpr auto kTermToKill = std::chrono::milliseconds(2000);
constexpr const char* kNodesDoneKey = "zeroplan/nodes_done";

struct Child {
  int rank = -1;
  pid_t pid = -1;
  bool alive = true;
  RankOutcome outcome;
  int64_t reap_order = -1;
};

// Environment of one rank: ours minus the launcher variables, plus the rank's.
std::vector<std::string> child_environment(const RankEnv& env) {
  const auto vars = rank_env_variables(env);
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    const std::string_view name = entry.substr(0, eq);
    const bool overridden = std::any_of(vars.begin(), vars.end(), [&](const auto& v) { return v.first == name; }) ||
                            name == "ZEROPLAN_TIMEOUT_MS";
    if (!overridden) out.emplace_back(entry);
  }
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  // c10d's own warnings ("Connection closed by peer" on every survivor of a failed rank) would
  // repeat the failure once per rank next to the launcher's one line; keep errors only, unless
  // the user asked for a level.
  if (std::getenv("TORCH_CPP_LOG_LEVEL") == nullptr) out.emplace_back("TORCH_CPP_LOG_LEVEL=ERROR");
  return out;
}

pid_t spawn(const std::string& program, const std::vector<std::string>& args, const std::vector<std::string>& env) {
  // Everything the child touches is prepared before fork (the parent has threads: no malloc after).
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(fmt::format("launcher: fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);  // the launcher died between fork and prctl
    execve(program.c_str(), argv.data(), envp.data());
    const char msg[] = "zeroplan launcher: execve of the rank program failed\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  return pid;
}

bool abnormal(const RankOutcome& o) { return o.signal != 0 || o.exit_code != 0; }

std::string join_ranks(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ",") + std::to_string(r);
  return out;
}

// Picks the root cause among the ranks that failed on their own: a rank that died without
// reporting (signal, or exit without an error record) is the cause the others' communication
// errors follow from; then a rank that reported its own error; then -- when every rank that
// stopped on its own only reported communication errors (timeouts, closed connections) -- a rank
// the launcher had to stop because it was still running: it hung, and the others timed out
// waiting for it; last the first communication error.
std::string describe_failure(c10d::Store& store, const std::vector<Child>& children, const Child*& root_out,
                             std::chrono::milliseconds timeout) {
  const Child* root = nullptr;
  int root_priority = INT_MAX;
  std::optional<RankErrorRecord> root_error;
  for (const auto& c : children) {
    if (c.alive || c.outcome.stopped_by_launcher || !abnormal(c.outcome)) continue;
    const auto error = read_rank_error(store, c.rank);
    const int priority = !error ? 0 : (error->kind == RankErrorKind::kError ? 1 : 2);
    if (priority < root_priority || (priority == root_priority && c.reap_order < root->reap_order)) {
      root = &c;
      root_priority = priority;
      root_error = error;
    }
  }
  if (root != nullptr && root_priority == 2) {
    // Communication errors only: look for a hung rank (stopped by us, no error of its own). The
    // one furthest behind (lowest step) is the one the others waited for.
    const Child* hung = nullptr;
    RankStatus hung_status;
    for (const auto& c : children) {
      if (!c.outcome.stopped_by_launcher || read_rank_error(store, c.rank)) continue;
      const RankStatus status = read_rank_status(store, c.rank);
      if (hung == nullptr || status.step < hung_status.step) {
        hung = &c;
        hung_status = status;
      }
    }
    if (hung != nullptr) {
      root_out = hung;
      return fmt::format("rank {} stopped responding during {} (the other ranks timed out after {:.1f} s waiting "
                         "for it)",
                         hung->rank, describe_status(hung_status), static_cast<double>(timeout.count()) / 1000.0);
    }
  }
  root_out = root;
  if (root == nullptr) return {};
  const std::string doing = describe_status(read_rank_status(store, root->rank));
  std::string text;
  if (root_error) {
    text = fmt::format("rank {} failed during {}: {}", root->rank, doing, root_error->message);
  } else if (root->outcome.signal != 0) {
    text = fmt::format("rank {} exited (signal {}) during {}", root->rank, root->outcome.signal, doing);
  } else {
    text = fmt::format("rank {} exited with code {} during {}", root->rank, root->outcome.exit_code, doing);
  }
  return text;
}

}  // namespace

std::string current_executable() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) throw std::runtime_error("launcher: cannot read /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::string> current_arguments() {
  std::FILE* f = std::fopen("/proc/self/cmdline", "rb");
  if (f == nullptr) throw std::runtime_error("launcher: cannot read /proc/self/cmdline");
  std::string all;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) all.append(buf, n);
  std::fclose(f);
  std::vector<std::string> args;
  for (std::size_t pos = 0; pos < all.size();) {
    const std::size_t end = all.find('\0', pos);
    args.push_back(all.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (!args.empty()) args.erase(args.begin());  // argv[0]
  return args;
}

void check_launch_options(const LaunchOptions& o) {
  if (o.nproc_per_node < 1) throw InputError(fmt::format("--nproc-per-node {} must be at least 1", o.nproc_per_node));
  if (o.nnodes < 1) throw InputError(fmt::format("--nnodes {} must be at least 1", o.nnodes));
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    throw InputError(fmt::format("--node-rank {} must be in [0, --nnodes {})", o.node_rank, o.nnodes));
  }
  if (o.master_port < 0 || o.master_port > 65535) {
    throw InputError(fmt::format("--master-port {} is not a TCP port", o.master_port));
  }
  if (o.master_port == 0 && o.nnodes > 1) {
    throw InputError("--master-port 0 (pick a free port) works only with --nnodes 1");
  }
  if (o.timeout.count() <= 0) throw InputError("--timeout must be positive");
  if (o.master_addr.empty()) throw InputError("--master-addr is empty");
}

LaunchResult launch_local_ranks(const LaunchOptions& options) {
  check_launch_options(options);
  const bool host_store = options.node_rank == 0;
  // The store outlives every rank: node 0's launcher hosts it.
  auto store = make_tcp_store(options.master_addr, options.master_port, host_store, options.timeout);
  const int port = host_store ? tcp_store_port(store) : options.master_port;

  const std::string program = options.program.empty() ? current_executable() : options.program;
  const int world = options.nproc_per_node * options.nnodes;
  std::vector<Child> children;
  for (int local = 0; local < options.nproc_per_node; ++local) {
    RankEnv env;
    env.rank = options.node_rank * options.nproc_per_node + local;
    env.world_size = world;
    env.local_rank = local;
    env.local_world_size = options.nproc_per_node;
    env.master_addr = options.master_addr;
    env.master_port = port;
    env.agent_store = true;
    env.timeout = options.timeout;
    Child child;
    child.rank = env.rank;
    child.outcome.rank = env.rank;
    child.pid = spawn(program, options.args, child_environment(env));
    children.push_back(child);
  }

  int64_t reaped = 0;
  std::optional<Clock::time_point> failed_at;
  bool sent_term = false;
  bool sent_kill = false;
  std::string remote_abort;
  auto last_abort_check = Clock::now();
  auto alive_count = [&] {
    return std::count_if(children.begin(), children.end(), [](const Child& c) { return c.alive; });
  };
  while (alive_count() > 0) {
    for (auto& c : children) {
      if (!c.alive) continue;
      int status = 0;
      const pid_t got = waitpid(c.pid, &status, WNOHANG);
      if (got != c.pid) continue;
      c.alive = false;
      c.reap_order = reaped++;
      if (WIFSIGNALED(status)) c.outcome.signal = WTERMSIG(status);
      if (WIFEXITED(status)) c.outcome.exit_code = WEXITSTATUS(status);
      c.outcome.stopped_by_launcher = failed_at.has_value() && (sent_term || sent_kill);
      if (!failed_at && abnormal(c.outcome)) {
        failed_at = Clock::now();
        write_abort(*store, fmt::format("rank {} failed on node {}", c.rank, options.node_rank));
      }
    }
    const auto now = Clock::now();
    if (!failed_at && now - last_abort_check > std::chrono::milliseconds(200)) {
      last_abort_check = now;
      if (auto abort = read_abort(*store)) {
        failed_at = now;
        remote_abort = *abort;
      }
    }
    if (failed_at) {
      if (!sent_term && now - *failed_at > options.grace) {
        sent_term = true;
        for (auto& c : children) {
          if (c.alive) kill(c.pid, SIGTERM);
        }
      }
      if (!sent_kill && now - *failed_at > options.grace + kTermToKill) {
        sent_kill = true;
        for (auto& c : children) {
          if (c.alive) kill(c.pid, SIGKILL);
        }
      }
    }
    if (alive_count() > 0) std::this_thread::sleep_for(kPollInterval);
  }

  LaunchResult result;
  for (const auto& c : children) result.ranks.push_back(c.outcome);
  if (failed_at) {
    const Child* root = nullptr;
    std::string what = describe_failure(*store, children, root, options.timeout);
    if (root == nullptr) {
      what = remote_abort.empty() ? "the job was aborted" : fmt::format("stopped by another node: {}", remote_abort);
    }
    std::vector<int> stopped;
    for (const auto& c : children) {
      if (&c != root) stopped.push_back(c.rank);
    }
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - *failed_at).count();
    result.failure = stopped.empty() ? what
                                     : fmt::format("{}; stopped ranks {} (within {:.1f} s)", what, join_ranks(stopped),
                                                   elapsed_s);
    result.exit_code = (root != nullptr && root->outcome.signal == 0 && root->outcome.exit_code != 0)
                           ? root->outcome.exit_code
                           : 1;
    write_abort(*store, result.failure);
  }

  // Node 0 hosts the store: keep it up until every node's launcher is done with it.
  try {
    store->add(kNodesDoneKey, 1);
    if (host_store && options.nnodes > 1) {
      const auto deadline = Clock::now() + options.timeout;
      while (store->add(kNodesDoneKey, 0) < options.nnodes && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  } catch (const std::exception&) {
    // Store gone (node 0 finished first): nothing left to coordinate.
  }
  return result;
}

}  // namespace zeroplan::executor::dist
