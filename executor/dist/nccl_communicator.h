#pragma once
// Communicator over c10d's ProcessGroupNCCL: one GPU per rank (NCCL refuses two ranks on one GPU).
// Compiled only when LibTorch is a CUDA build (ZEROPLAN_HAVE_CUDA). All collectives are NCCL's own
// (reduce-scatter and all-gather are native, with no staging temporaries). CommWork::wait() makes
// the current CUDA stream wait for the collective; it does not block the host.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>

#include "executor/dist/communicator.h"

namespace zeroplan::executor::dist {

struct NcclCommunicatorOptions {
  std::chrono::milliseconds timeout{30000};  // per collective (c10d's NCCL watchdog enforces it)
  int device_index = 0;                      // the rank's GPU, usually LOCAL_RANK
};

std::unique_ptr<Communicator> make_nccl_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                     int world_size, const NcclCommunicatorOptions& options);

}  // namespace zeroplan::executor::dist
