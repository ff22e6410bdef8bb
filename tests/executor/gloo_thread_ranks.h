#pragma once
// Gloo ranks as threads of one test process: one GlooCommunicator per thread, rendezvous through one
// in-process HashStore. The first exception any rank throws is rethrown after every thread joined.
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "executor/dist/gloo_communicator.h"

namespace zeroplan::executor::dist {

inline void run_gloo_ranks(int world, const GlooCommunicatorOptions& options,
                           const std::function<void(Communicator&)>& fn) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::mutex mutex;
  std::exception_ptr first;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto comm = make_gloo_communicator(store, r, world, options);
        fn(*comm);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first) first = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace zeroplan::executor::dist
