#pragma once
// The training loop's resumable position (pure C++; executor/train/trainer.h fills it).
#include <cstdint>
#include <vector>

namespace zeroplan::executor {

struct DataPosition {
  std::int64_t epoch = 0;
  std::int64_t index = 0;  // next position in this rank's sampler order for `epoch`
};

struct TrainerState {
  std::int64_t step = 0;           // optimizer steps done (applied + skipped)
  std::int64_t skipped_steps = 0;
  DataPosition position;
  std::int64_t lr_last_batch_iteration = -1;
  std::vector<std::uint8_t> rng_state;  // LibTorch's default CPU generator
};

}  // namespace zeroplan::executor
