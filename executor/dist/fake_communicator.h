#pragma once
// An in-process communicator for unit tests: N ranks are N threads of one process sharing a
// FakeWorld. Collectives are exact (computed with ATen from every rank's tensors) and checked:
// if ranks issue different collectives (kind, numel, dtype, root, op) at the same position in
// their sequence, every rank throws CommError naming both. A rank that never arrives makes the
// others throw after the timeout, naming the missing ranks; abort(rank) simulates a dead rank.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "executor/dist/communicator.h"

namespace zeroplan::executor::dist {

class FakeWorld {
 public:
  FakeWorld(int world_size, std::chrono::milliseconds timeout);
  ~FakeWorld();
  FakeWorld(const FakeWorld&) = delete;
  FakeWorld& operator=(const FakeWorld&) = delete;

  int world_size() const;
  // The communicator of `rank`; it keeps the world alive.
  static std::unique_ptr<Communicator> communicator(const std::shared_ptr<FakeWorld>& world, int rank);
  // Simulates the death of `rank`: collectives in flight and later ones throw CommError with `reason`.
  void abort(int rank, const std::string& reason);
  // Collectives completed by all ranks so far.
  int64_t collectives_completed() const;

  struct State;  // implementation detail (fake_communicator.cc)

 private:
  std::unique_ptr<State> state_;
};

// Runs fn(communicator) on world_size threads, one per rank, and joins them. If a rank throws, the
// world is aborted (so the others stop instead of waiting) and the first exception that is not a
// consequence of the abort is rethrown.
void run_fake_ranks(int world_size, std::chrono::milliseconds timeout,
                    const std::function<void(Communicator&)>& fn);

}  // namespace zeroplan::executor::dist
