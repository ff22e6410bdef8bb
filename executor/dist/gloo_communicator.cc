#include "executor/dist/gloo_communicator.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "profiler/memory_scope.h"

namespace zeroplan::executor::dist {

namespace {

constexpr int kRingTag = 0x5a17;  // user tag of the send/recv rings (c10d collectives use their own tags)

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

c10d::ReduceOp to_c10d(ReduceOp op) {
  return op == ReduceOp::kSum ? c10d::ReduceOp(c10d::ReduceOp::SUM) : c10d::ReduceOp(c10d::ReduceOp::MAX);
}

void combine_out(at::Tensor& out, const at::Tensor& a, const at::Tensor& b, ReduceOp op) {
  if (op == ReduceOp::kSum) {
    at::add_out(out, a, b);
  } else {
    at::maximum_out(out, a, b);
  }
}

class GlooWork final : public CommWork {
 public:
  GlooWork(std::shared_future<void> done, std::chrono::milliseconds limit, std::string what)
      : done_(std::move(done)), limit_(limit), what_(std::move(what)) {}
  void wait() override {
    // The worker enforces the collective timeout through Gloo; this bound only guards against a
    // worker stuck behind earlier collectives that themselves time out.
    if (done_.wait_for(limit_) != std::future_status::ready) {
      throw CommError(fmt::format("{} did not complete within {} ms", what_, limit_.count()));
    }
    done_.get();
  }

 private:
  std::shared_future<void> done_;
  std::chrono::milliseconds limit_;
  std::string what_;
};

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world_size,
                   const GlooCommunicatorOptions& options)
      : rank_(rank), world_size_(world_size), options_(options) {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    if (!options.hostname.empty()) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.hostname));
    } else if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    gloo_options->threads = options.gloo_threads;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("zeroplan/gloo", store);
    try {
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, gloo_options);
    } catch (const c10::Error& e) {
      throw CommError(fmt::format("gloo: rank {} of {} could not connect to its peers: {}", rank, world_size,
                                  first_line(e.what_without_backtrace())));
    }
    worker_ = std::thread([this] { work_loop(); });
  }

  ~GlooCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend_name() const override { return "gloo"; }
  std::chrono::milliseconds timeout() const override { return options_.timeout; }

  std::unique_ptr<CommWork> all_reduce_async(at::Tensor& tensor, ReduceOp op) override {
    check_collective_tensor(tensor, "all_reduce", "input");
    at::Tensor t = tensor;
    return submit("all_reduce", [this, t, op]() mutable {
      std::vector<at::Tensor> tensors{t};
      c10d::AllreduceOptions opts;
      opts.reduceOp = to_c10d(op);
      opts.timeout = options_.timeout;
      wait_c10d(pg_->allreduce(tensors, opts));
    });
  }

  std::unique_ptr<CommWork> reduce_scatter_async(at::Tensor& output, const at::Tensor& input,
                                                 ReduceOp op) override {
    check_collective_tensor(input, "reduce_scatter", "input");
    check_collective_tensor(output, "reduce_scatter", "output");
    check_same_dtype(input, output, "reduce_scatter");
    check_world_multiple(input, output, world_size_, "reduce_scatter");
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    if (options_.native_collectives) {
      if (op != ReduceOp::kSum) {
        throw std::invalid_argument("reduce_scatter: c10d's Gloo reduce_scatter only sums (native_collectives)");
      }
      return submit("reduce_scatter", [this, out, in]() mutable {
        c10d::ReduceScatterOptions opts;
        opts.timeout = options_.timeout;
        wait_c10d(pg_->_reduce_scatter_base(out, in, opts));
      });
    }
    // The ring's receive buffer (one output-sized piece) is allocated here, on the caller's thread and
    // charged to `comm`, rather than on the worker: it then exists by the time this call returns, whatever
    // the worker's timing, so a rank's peak memory does not depend on a race between the worker and the
    // caller freeing its own tensors (planner/executor_memory.cc counts it at the end of backward).
    at::Tensor scratch;
    if (world_size_ > 1 && out.numel() > 0) {
      profiler::MemoryScope comm_scope(profiler::Category::kComm, profiler::ScopeReach::kThisThread);
      scratch = at::empty({out.numel()}, in.options());
    }
    return submit("reduce_scatter", [this, out, in, op, scratch]() mutable {
      ring_reduce_scatter(out, in, scratch, op);
      scratch = at::Tensor();  // freed before the work completes, not when the worker drops the task
    });
  }

  std::unique_ptr<CommWork> all_gather_async(at::Tensor& output, const at::Tensor& input) override {
    check_collective_tensor(input, "all_gather", "input");
    check_collective_tensor(output, "all_gather", "output");
    check_same_dtype(input, output, "all_gather");
    check_world_multiple(output, input, world_size_, "all_gather");
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    if (options_.native_collectives) {
      return submit("all_gather", [this, out, in]() mutable {
        c10d::AllgatherOptions opts;
        opts.timeout = options_.timeout;
        wait_c10d(pg_->_allgather_base(out, in, opts));
      });
    }
    return submit("all_gather", [this, out, in]() mutable { ring_all_gather(out, in); });
  }

  std::unique_ptr<CommWork> broadcast_async(at::Tensor& tensor, int root) override {
    check_broadcast(tensor, root, world_size_);
    at::Tensor t = tensor;
    return submit("broadcast", [this, t, root]() mutable {
      std::vector<at::Tensor> tensors{t};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = options_.timeout;
      wait_c10d(pg_->broadcast(tensors, opts));
    });
  }

  std::unique_ptr<CommWork> all_to_all_async(at::Tensor& output, const at::Tensor& input) override {
    check_all_to_all(output, input, world_size_);
    at::Tensor out = output.view({-1});
    at::Tensor in = input.view({-1});
    return submit("all_to_all", [this, out, in]() mutable {
      std::vector<int64_t> equal_splits;  // empty = equal splits
      c10d::AllToAllOptions opts;
      opts.timeout = options_.timeout;
      wait_c10d(pg_->alltoall_base(out, in, equal_splits, equal_splits, opts));
    });
  }

  void barrier() override {
    submit("barrier", [this] {
      c10d::BarrierOptions opts;
      opts.timeout = options_.timeout;
      wait_c10d(pg_->barrier(opts));
    })->wait();
  }

 private:
  void wait_c10d(const c10::intrusive_ptr<c10d::Work>& work) {
    if (!work->wait(options_.timeout)) {
      throw CommError(fmt::format("timed out after {} ms", options_.timeout.count()));
    }
  }

  // Ring reduce-scatter (see the header). Step s = 0..w-2: send to rank+1 the partial sum of chunk
  // (r-s-1) (the raw input chunk at s = 0, `out` afterwards), receive from rank-1 its partial of
  // chunk (r-s-2) into `scratch`, and set out = input chunk (r-s-2) (+) scratch. After w-1 steps
  // that chunk index is r and `out` holds the reduction over all w ranks.
  void ring_reduce_scatter(at::Tensor& out, const at::Tensor& in, const at::Tensor& scratch, ReduceOp op) {
    const int w = world_size_;
    const int64_t n = out.numel();
    if (w == 1 || n == 0) {
      out.copy_(in);
      return;
    }
    auto chunk = [&](int i) { return in.narrow(0, static_cast<int64_t>(((i % w) + w) % w) * n, n); };
    const int next = (rank_ + 1) % w;
    const int prev = (rank_ - 1 + w) % w;
    for (int s = 0; s < w - 1; ++s) {
      std::vector<at::Tensor> send_buf{s == 0 ? chunk(rank_ - 1) : out};
      std::vector<at::Tensor> recv_buf{scratch};
      auto sent = pg_->send(send_buf, next, kRingTag);
      auto received = pg_->recv(recv_buf, prev, kRingTag);
      wait_c10d(sent);
      wait_c10d(received);
      combine_out(out, chunk(rank_ - s - 2), scratch, op);
    }
  }

  // Ring all-gather: out chunk r <- input; step s sends chunk (r-s) to rank+1 and receives chunk
  // (r-s-1) from rank-1 directly into `out`.
  void ring_all_gather(at::Tensor& out, const at::Tensor& in) {
    const int w = world_size_;
    const int64_t n = in.numel();
    auto chunk = [&](int i) { return out.narrow(0, static_cast<int64_t>(((i % w) + w) % w) * n, n); };
    chunk(rank_).copy_(in);
    if (w == 1 || n == 0) return;
    const int next = (rank_ + 1) % w;
    const int prev = (rank_ - 1 + w) % w;
    for (int s = 0; s < w - 1; ++s) {
      std::vector<at::Tensor> send_buf{chunk(rank_ - s)};
      std::vector<at::Tensor> recv_buf{chunk(rank_ - s - 1)};
      auto sent = pg_->send(send_buf, next, kRingTag);
      auto received = pg_->recv(recv_buf, prev, kRingTag);
      wait_c10d(sent);
      wait_c10d(received);
    }
  }

  std::unique_ptr<CommWork> submit(const char* kind, std::function<void()> body) {
    auto promise = std::make_shared<std::promise<void>>();
    std::shared_future<void> done = promise->get_future().share();
    int64_t seq = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seq = next_seq_++;
      queue_.push_back([this, kind, seq, body = std::move(body), promise]() {
        try {
          body();
          promise->set_value();
        } catch (const c10::Error& e) {
          promise->set_exception(std::make_exception_ptr(CommError(
              fmt::format("gloo {} #{} on rank {} failed: {}", kind, seq, rank_, first_line(e.what_without_backtrace())))));
        } catch (const std::exception& e) {
          promise->set_exception(std::make_exception_ptr(
              CommError(fmt::format("gloo {} #{} on rank {} failed: {}", kind, seq, rank_, first_line(e.what())))));
        }
      });
    }
    wake_.notify_one();
    // Generous bound: collectives queued ahead of this one may each take up to the timeout.
    const auto limit = options_.timeout * 2 + std::chrono::milliseconds(10000);
    return std::make_unique<GlooWork>(done, limit, fmt::format("gloo {} #{} on rank {}", kind, seq, rank_));
  }

  void work_loop() {
    // Whatever the collectives allocate on this thread is communication memory.
    profiler::MemoryScope comm_scope(profiler::Category::kComm, profiler::ScopeReach::kThisThread);
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  int rank_;
  int world_size_;
  GlooCommunicatorOptions options_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  int64_t next_seq_ = 0;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                     int world_size, const GlooCommunicatorOptions& options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw std::invalid_argument(fmt::format("gloo: rank {} outside [0, {})", rank, world_size));
  }
  return std::make_unique<GlooCommunicator>(store, rank, world_size, options);
}

}  // namespace zeroplan::executor::dist
