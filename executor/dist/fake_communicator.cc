#include "executor/dist/fake_communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace zeroplan::executor::dist {

namespace {

struct Arrival {
  at::Tensor input;
  at::Tensor output;
  bool present = false;
};

// One collective, identified by its position in the ranks' common issue order.
struct Round {
  std::string signature;  // kind + shape + dtype + op/root: must match on every rank
  int first_rank = -1;
  std::vector<Arrival> arrivals;
  int arrived = 0;
  int read = 0;
  int left = 0;
};

}  // namespace

struct FakeWorld::State {
  int world_size;
  std::chrono::milliseconds timeout;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<int64_t, Round> rounds;
  bool aborted = false;
  std::string abort_reason;
  int64_t completed = 0;

  void abort_locked(const std::string& reason) {
    if (!aborted) {
      aborted = true;
      abort_reason = reason;
    }
    changed.notify_all();
  }
};

namespace {

using Compute = std::function<at::Tensor(const std::vector<Arrival>&)>;

at::Tensor flat(const at::Tensor& t) { return t.reshape({-1}); }

at::Tensor reduce_into(const std::vector<at::Tensor>& parts, ReduceOp op) {
  at::Tensor acc = parts[0].clone();
  for (size_t i = 1; i < parts.size(); ++i) {
    if (op == ReduceOp::kSum) {
      acc.add_(parts[i]);
    } else {
      acc = at::maximum(acc, parts[i]);
    }
  }
  return acc;
}

std::string describe(const at::Tensor& t) {
  return t.defined() ? fmt::format("{}x{}", t.numel(), c10::toString(t.scalar_type())) : "none";
}

class FakeCommunicator final : public Communicator {
 public:
  FakeCommunicator(std::shared_ptr<FakeWorld> world, FakeWorld::State* state, int rank)
      : world_(std::move(world)), state_(state), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return state_->world_size; }
  std::string backend_name() const override { return "fake"; }
  std::chrono::milliseconds timeout() const override { return state_->timeout; }

  std::unique_ptr<CommWork> all_reduce_async(at::Tensor& tensor, ReduceOp op) override {
    check_collective_tensor(tensor, "all_reduce", "input");
    run("all_reduce", fmt::format("all_reduce({}, {})", describe(tensor), reduce_op_name(op)), tensor, tensor,
        [op](const std::vector<Arrival>& all) {
          std::vector<at::Tensor> parts;
          for (const auto& a : all) parts.push_back(flat(a.input));
          return reduce_into(parts, op);
        });
    return std::make_unique<CompletedWork>();
  }

  std::unique_ptr<CommWork> reduce_scatter_async(at::Tensor& output, const at::Tensor& input,
                                                 ReduceOp op) override {
    check_collective_tensor(input, "reduce_scatter", "input");
    check_collective_tensor(output, "reduce_scatter", "output");
    check_same_dtype(input, output, "reduce_scatter");
    check_world_multiple(input, output, world_size(), "reduce_scatter");
    const int64_t n = output.numel();
    const int r = rank_;
    run("reduce_scatter", fmt::format("reduce_scatter({}, {})", describe(input), reduce_op_name(op)), input, output,
        [op, n, r](const std::vector<Arrival>& all) {
          std::vector<at::Tensor> parts;
          for (const auto& a : all) parts.push_back(flat(a.input).narrow(0, r * n, n));
          return reduce_into(parts, op);
        });
    return std::make_unique<CompletedWork>();
  }

  std::unique_ptr<CommWork> all_gather_async(at::Tensor& output, const at::Tensor& input) override {
    check_collective_tensor(input, "all_gather", "input");
    check_collective_tensor(output, "all_gather", "output");
    check_same_dtype(input, output, "all_gather");
    check_world_multiple(output, input, world_size(), "all_gather");
    run("all_gather", fmt::format("all_gather({})", describe(input)), input, output,
        [](const std::vector<Arrival>& all) {
          std::vector<at::Tensor> parts;
          for (const auto& a : all) parts.push_back(flat(a.input));
          return at::cat(parts);
        });
    return std::make_unique<CompletedWork>();
  }

  std::unique_ptr<CommWork> broadcast_async(at::Tensor& tensor, int root) override {
    check_broadcast(tensor, root, world_size());
    run("broadcast", fmt::format("broadcast({}, root {})", describe(tensor), root), tensor, tensor,
        [root](const std::vector<Arrival>& all) { return flat(all[root].input).clone(); });
    return std::make_unique<CompletedWork>();
  }

  std::unique_ptr<CommWork> all_to_all_async(at::Tensor& output, const at::Tensor& input) override {
    check_all_to_all(output, input, world_size());
    const int64_t n = input.numel() / world_size();
    const int r = rank_;
    run("all_to_all", fmt::format("all_to_all({})", describe(input)), input, output,
        [n, r](const std::vector<Arrival>& all) {
          std::vector<at::Tensor> parts;
          for (const auto& a : all) parts.push_back(flat(a.input).narrow(0, r * n, n));
          return at::cat(parts);
        });
    return std::make_unique<CompletedWork>();
  }

  void barrier() override {
    run("barrier", "barrier", at::Tensor(), at::Tensor(), [](const std::vector<Arrival>&) { return at::Tensor(); });
  }

 private:
  [[noreturn]] void throw_aborted(std::unique_lock<std::mutex>&) {
    throw CommError(fmt::format("fake rank {}: collective #{} aborted: {}", rank_, seq_, state_->abort_reason));
  }

  void run(const char* kind, const std::string& signature, const at::Tensor& input, const at::Tensor& output,
           const Compute& compute) {
    State& s = *state_;
    const int64_t seq = seq_;
    std::unique_lock<std::mutex> lock(s.mutex);
    if (s.aborted) throw_aborted(lock);
    Round& round = s.rounds[seq];
    if (round.arrivals.empty()) {
      round.arrivals.resize(s.world_size);
      round.signature = signature;
      round.first_rank = rank_;
    } else if (round.signature != signature) {
      s.abort_locked(fmt::format("collective #{} mismatch: rank {} issued {} but rank {} issued {}", seq,
                                 round.first_rank, round.signature, rank_, signature));
      throw_aborted(lock);
    }
    round.arrivals[rank_] = Arrival{input, output, true};
    ++round.arrived;
    s.changed.notify_all();
    if (!s.changed.wait_for(lock, s.timeout, [&] { return s.aborted || round.arrived == s.world_size; })) {
      std::string missing;
      for (int r = 0; r < s.world_size; ++r) {
        if (!round.arrivals[r].present) {
          missing += (missing.empty() ? "" : ",") + std::to_string(r);
        }
      }
      s.abort_locked(fmt::format("{} #{} timed out after {} ms on rank {}; ranks not arrived: {}", kind, seq,
                                 s.timeout.count(), rank_, missing.empty() ? "?" : missing));
      throw_aborted(lock);
    }
    if (s.aborted) throw_aborted(lock);
    lock.unlock();

    // Every rank's tensors are registered and nobody leaves before all have read them.
    at::Tensor result = compute(round.arrivals);

    lock.lock();
    ++round.read;
    s.changed.notify_all();
    s.changed.wait(lock, [&] { return s.aborted || round.read == s.world_size; });
    if (s.aborted) throw_aborted(lock);
    lock.unlock();
    if (result.defined()) flat(output).copy_(result);
    lock.lock();
    ++seq_;
    if (++round.left == s.world_size) {
      s.rounds.erase(seq);
      ++s.completed;
    }
  }

  using State = FakeWorld::State;
  std::shared_ptr<FakeWorld> world_;
  State* state_;
  int rank_;
  int64_t seq_ = 0;
};

}  // namespace

FakeWorld::FakeWorld(int world_size, std::chrono::milliseconds timeout) : state_(std::make_unique<State>()) {
  if (world_size < 1) throw std::invalid_argument("FakeWorld: world_size must be >= 1");
  state_->world_size = world_size;
  state_->timeout = timeout;
}

FakeWorld::~FakeWorld() = default;

int FakeWorld::world_size() const { return state_->world_size; }

std::unique_ptr<Communicator> FakeWorld::communicator(const std::shared_ptr<FakeWorld>& world, int rank) {
  if (rank < 0 || rank >= world->world_size()) {
    throw std::invalid_argument(fmt::format("FakeWorld: rank {} outside [0, {})", rank, world->world_size()));
  }
  return std::make_unique<FakeCommunicator>(world, world->state_.get(), rank);
}

void FakeWorld::abort(int rank, const std::string& reason) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->abort_locked(fmt::format("rank {}: {}", rank, reason));
}

int64_t FakeWorld::collectives_completed() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->completed;
}

void run_fake_ranks(int world_size, std::chrono::milliseconds timeout,
                    const std::function<void(Communicator&)>& fn) {
  auto world = std::make_shared<FakeWorld>(world_size, timeout);
  std::mutex first_mutex;
  std::exception_ptr first;
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto comm = FakeWorld::communicator(world, r);
        fn(*comm);
      } catch (const std::exception& e) {
        {
          std::lock_guard<std::mutex> lock(first_mutex);
          if (!first) first = std::current_exception();
        }
        world->abort(r, fmt::format("threw: {}", e.what()));
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace zeroplan::executor::dist
