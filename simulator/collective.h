#pragma once
// Collective operations, algorithms and protocols, and nccl-tests' bandwidth definitions.
#include <string>
#include <vector>

namespace zeroplan::sim {

enum class CollectiveOp { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kReduce };
inline constexpr int kNumCollectiveOps = 5;
// kAuto: pick the fastest for the message size, as NCCL's tuner does.
enum class Algorithm { kRing, kTree, kHierarchical, kNvls, kAuto };
inline constexpr int kNumAlgorithms = 4;  // without kAuto
// NCCL's protocols: LL (8-byte flag+data stores, lowest latency), LL128, Simple (highest bandwidth).
enum class Protocol { kLL, kLL128, kSimple };
inline constexpr int kNumProtocols = 3;

const char* op_name(CollectiveOp op);               // "all_reduce", ...
const char* algorithm_name(Algorithm a);            // "ring", "tree", "hierarchical", "nvls", "auto"
const char* protocol_name(Protocol p);              // "LL", "LL128", "Simple"
// InputError naming `what` and listing the valid words when `text` is none of them.
CollectiveOp parse_op(const std::string& text, const std::string& what);
Algorithm parse_algorithm(const std::string& text, const std::string& what);

// nccl-tests doc/PERFORMANCE.md: algbw = S / t, busbw = algbw * factor, where S is the whole buffer
// (for all_gather and reduce_scatter: recvcount * sizeof * n, i.e. the gathered size), and
//   all_reduce: 2(n-1)/n  (each rank sends and receives 2(n-1)/n * S in a ring: reduce-scatter + all-gather)
//   all_gather, reduce_scatter: (n-1)/n  (each rank receives the n-1 pieces it lacks)
//   broadcast, reduce: 1  (every byte crosses each link of the chain once)
double busbw_factor(CollectiveOp op, int ranks);

// Bytes one rank sends for a collective of total size `bytes` on `ranks` ranks with a bandwidth-optimal
// algorithm: busbw_factor * bytes. This is the "communication volume per GPU" the ZeRO paper counts.
double bytes_sent_per_rank(CollectiveOp op, double bytes, int ranks);

// Measured times of one collective on `ranks` ranks (from a hardware profile): points sorted by bytes.
struct CollectiveMeasurement {
  CollectiveOp op = CollectiveOp::kAllReduce;
  int ranks = 0;
  std::vector<double> bytes;
  std::vector<double> time_s;
  // Piecewise-linear in bytes between the points; below the first, the first time (latency floor);
  // above the last, the last segment's slope (the measured bandwidth) extended.
  double interpolate(double at_bytes) const;
};

}  // namespace zeroplan::sim
