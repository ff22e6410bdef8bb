#pragma once
// Communicator over c10d's ProcessGroupGloo (CPU tensors). One worker thread per communicator
// issues every collective in FIFO order, so *_async overlaps communication with the caller's
// compute while every rank still issues the c10d calls in the same order.
//
// reduce_scatter and all_gather do NOT use c10d's Gloo versions by default:
//  - c10d 2.11 `_reduce_scatter_base` on Gloo = clone() of the whole input + a full all-reduce +
//    copy of one chunk: a world x n temporary and 2x the traffic of a reduce-scatter (and it
//    ignores the reduce op: always sum). We run a ring reduce-scatter over Gloo send/recv instead:
//    w-1 steps, each sending one n-element chunk to rank+1 and receiving one from rank-1 into a
//    single n-element scratch buffer, accumulating into `output`. Traffic per rank (w-1)/w of the
//    input, like NCCL; temporary = n elements (1/w of the input).
//  - c10d `allgather` on Gloo stages through a flat temporary of the output size; the ring
//    all-gather writes received chunks straight into `output` (no temporary).
// `native_collectives = true` switches back to the c10d versions (for measurement and A/B tests).
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "executor/dist/communicator.h"

namespace zeroplan::executor::dist {

struct GlooCommunicatorOptions {
  std::chrono::milliseconds timeout{30000};  // per collective
  // Address of this host's interface that Gloo binds. "127.0.0.1" for single-node runs; empty =
  // c10d's default device (resolves the hostname), or the interface named by GLOO_SOCKET_IFNAME.
  std::string hostname = "127.0.0.1";
  int gloo_threads = 2;
  bool native_collectives = false;  // use c10d's reduce_scatter / all_gather (see above)
};

std::unique_ptr<Communicator> make_gloo_communicator(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                     int world_size, const GlooCommunicatorOptions& options);

}  // namespace zeroplan::executor::dist
