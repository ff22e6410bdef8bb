// Peak temporary memory of reduce-scatter and all-gather on Gloo: c10d's versions vs ours.
// Ranks are threads of this process sharing one HashStore. Two measurements:
//  - tensor bytes: a counting wrapper around c10's CPU allocator (peak of live tensor bytes above
//    the bytes live before the collective, summed over the ranks, divided by the world size);
//  - resident bytes: VmHWM after resetting it (/proc/self/clear_refs "5") minus VmRSS before,
//    which also sees Gloo's own buffers (malloc'd outside c10). Reported, not asserted: it is
//    noisy and depends on the kernel.
// Asserts the shape of the result: c10d's reduce-scatter allocates at least a full input copy per
// rank (world x n elements); the ring allocates at most one chunk (n elements) plus small change.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "executor/dist/gloo_communicator.h"

namespace zeroplan::executor::dist {
namespace {

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = inner_->allocate(n);
    void* data = inner.get();
    const int64_t now = live_.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    auto* ctx = new Context{std::move(inner), n, this};
    return c10::DataPtr(data, ctx, &CountingAllocator::release, c10::Device(c10::kCPU));
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override { inner_->copy_data(dest, src, count); }

  void reset_peak() { peak_.store(live_.load()); }
  int64_t live() const { return live_.load(); }
  int64_t peak() const { return peak_.load(); }

 private:
  struct Context {
    c10::DataPtr inner;
    size_t bytes;
    CountingAllocator* self;
  };
  static void release(void* ctx_ptr) {
    auto* ctx = static_cast<Context*>(ctx_ptr);
    ctx->self->live_.fetch_sub(static_cast<int64_t>(ctx->bytes));
    delete ctx;
  }
  c10::Allocator* inner_;
  std::atomic<int64_t> live_{0};
  std::atomic<int64_t> peak_{0};
};

CountingAllocator& counting_allocator() {
  static CountingAllocator* allocator = [] {
    auto* a = new CountingAllocator(c10::GetDefaultCPUAllocator());
    c10::SetCPUAllocator(a, /*priority=*/100);
    return a;
  }();
  return *allocator;
}

int64_t proc_status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

bool reset_hwm() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  return static_cast<bool>(out);
}

struct Measurement {
  double tensor_bytes_per_rank = 0;
  double resident_bytes_per_rank = 0;
  double seconds = 0;  // wall time of the measured collective (all ranks)
};

// Runs `op` once per rank (as threads) after a warm-up; measures the peak above the live baseline.
Measurement measure(int world, int64_t n, bool native, bool reduce_scatter) {
  CountingAllocator& counter = counting_allocator();
  auto store = c10::make_intrusive<c10d::HashStore>();
  GlooCommunicatorOptions options;
  options.timeout = std::chrono::seconds(60);
  options.native_collectives = native;
  std::vector<std::unique_ptr<Communicator>> comms(world);
  {
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] { comms[r] = make_gloo_communicator(store, r, world, options); });
    }
    for (auto& t : threads) t.join();
  }
  std::vector<at::Tensor> big(world), small(world);
  for (int r = 0; r < world; ++r) {
    big[r] = at::full({world * n}, static_cast<float>(r + 1));
    small[r] = at::full({n}, static_cast<float>(r + 1));
  }
  auto run_all = [&] {
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        if (reduce_scatter) {
          comms[r]->reduce_scatter(small[r], big[r]);
        } else {
          comms[r]->all_gather(big[r], small[r]);
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  run_all();  // warm-up: connections, lazily allocated Gloo buffers
  const int64_t rss_before_kib = proc_status_kib("VmRSS");
  const bool hwm_ok = reset_hwm();
  counter.reset_peak();
  const int64_t live_before = counter.live();
  const auto start = std::chrono::steady_clock::now();
  run_all();
  Measurement m;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.tensor_bytes_per_rank = static_cast<double>(counter.peak() - live_before) / world;
  m.resident_bytes_per_rank = hwm_ok ? (proc_status_kib("VmHWM") - rss_before_kib) * 1024.0 / world : -1;
  if (reduce_scatter) {
    // sum over ranks of (r + 1) = w (w + 1) / 2 in every element
    EXPECT_TRUE(at::all(small[0] == world * (world + 1) / 2.0).item<bool>());
  } else {
    EXPECT_TRUE(at::equal(big[0], big[world - 1]));
  }
  return m;
}

TEST(GlooMemory, RingReduceScatterNeedsOneChunkNotAFullInputCopy) {
  const int world = 4;
  const int64_t n = int64_t{1} << 20;  // 1 Mi floats = 4 MiB output per rank, 16 MiB input per rank
  const double chunk_bytes = static_cast<double>(n) * sizeof(float);
  const Measurement native = measure(world, n, /*native=*/true, /*reduce_scatter=*/true);
  const Measurement ring = measure(world, n, /*native=*/false, /*reduce_scatter=*/true);
  std::printf("reduce_scatter, world %d, input %.0f MiB/rank, output %.0f MiB/rank\n", world,
              world * chunk_bytes / (1 << 20), chunk_bytes / (1 << 20));
  std::printf("  c10d gloo: peak temporary tensors %.1f MiB/rank, peak resident growth %.1f MiB/rank, %.3f s\n",
              native.tensor_bytes_per_rank / (1 << 20), native.resident_bytes_per_rank / (1 << 20), native.seconds);
  std::printf("  ring:      peak temporary tensors %.1f MiB/rank, peak resident growth %.1f MiB/rank, %.3f s\n",
              ring.tensor_bytes_per_rank / (1 << 20), ring.resident_bytes_per_rank / (1 << 20), ring.seconds);
  EXPECT_GE(native.tensor_bytes_per_rank, world * chunk_bytes * 0.99);
  EXPECT_LE(ring.tensor_bytes_per_rank, chunk_bytes * 1.01);
}

TEST(GlooMemory, RingAllGatherNeedsNoTemporary) {
  const int world = 4;
  const int64_t n = int64_t{1} << 20;
  const double chunk_bytes = static_cast<double>(n) * sizeof(float);
  const Measurement native = measure(world, n, /*native=*/true, /*reduce_scatter=*/false);
  const Measurement ring = measure(world, n, /*native=*/false, /*reduce_scatter=*/false);
  std::printf("all_gather, world %d, output %.0f MiB/rank\n", world, world * chunk_bytes / (1 << 20));
  std::printf("  c10d gloo: peak temporary tensors %.1f MiB/rank, peak resident growth %.1f MiB/rank, %.3f s\n",
              native.tensor_bytes_per_rank / (1 << 20), native.resident_bytes_per_rank / (1 << 20), native.seconds);
  std::printf("  ring:      peak temporary tensors %.1f MiB/rank, peak resident growth %.1f MiB/rank, %.3f s\n",
              ring.tensor_bytes_per_rank / (1 << 20), ring.resident_bytes_per_rank / (1 << 20), ring.seconds);
  EXPECT_LE(ring.tensor_bytes_per_rank, chunk_bytes * 0.01);
}

}  // namespace
}  // namespace zeroplan::executor::dist
