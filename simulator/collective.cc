#include "simulator/collective.h"

#include <fmt/format.h>

#include <algorithm>

#include "planner/error.h"

namespace zeroplan::sim {

const char* op_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all_reduce";
    case CollectiveOp::kReduceScatter: return "reduce_scatter";
    case CollectiveOp::kAllGather: return "all_gather";
    case CollectiveOp::kBroadcast: return "broadcast";
    case CollectiveOp::kReduce: return "reduce";
  }
  return "?";
}

const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::kRing: return "ring";
    case Algorithm::kTree: return "tree";
    case Algorithm::kHierarchical: return "hierarchical";
    case Algorithm::kNvls: return "nvls";
    case Algorithm::kAuto: return "auto";
  }
  return "?";
}

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kLL: return "LL";
    case Protocol::kLL128: return "LL128";
    case Protocol::kSimple: return "Simple";
  }
  return "?";
}

CollectiveOp parse_op(const std::string& text, const std::string& what) {
  for (int i = 0; i < kNumCollectiveOps; ++i) {
    auto op = static_cast<CollectiveOp>(i);
    if (text == op_name(op)) return op;
  }
  throw InputError(fmt::format("{}: unknown collective \"{}\"; expected all_reduce, reduce_scatter, all_gather, "
                               "broadcast or reduce",
                               what, text));
}

Algorithm parse_algorithm(const std::string& text, const std::string& what) {
  for (int i = 0; i <= kNumAlgorithms; ++i) {
    auto a = static_cast<Algorithm>(i);
    if (text == algorithm_name(a)) return a;
  }
  throw InputError(
      fmt::format("{}: unknown algorithm \"{}\"; expected ring, tree, hierarchical, nvls or auto", what, text));
}

double busbw_factor(CollectiveOp op, int ranks) {
  const double n = ranks;
  switch (op) {
    case CollectiveOp::kAllReduce: return 2.0 * (n - 1) / n;
    case CollectiveOp::kReduceScatter:
    case CollectiveOp::kAllGather: return (n - 1) / n;
    case CollectiveOp::kBroadcast:
    case CollectiveOp::kReduce: return 1.0;
  }
  return 1.0;
}

double bytes_sent_per_rank(CollectiveOp op, double bytes, int ranks) {
  if (ranks <= 1) return 0;
  return busbw_factor(op, ranks) * bytes;
}

double CollectiveMeasurement::interpolate(double at_bytes) const {
  ZP_ASSERT(!bytes.empty() && bytes.size() == time_s.size(), "empty collective measurement");
  if (bytes.size() == 1 || at_bytes <= bytes.front()) {
    return bytes.size() == 1 ? time_s[0] * std::max(1.0, at_bytes / bytes[0]) : time_s.front();
  }
  size_t i = 1;
  while (i + 1 < bytes.size() && bytes[i] < at_bytes) ++i;
  const double slope = (time_s[i] - time_s[i - 1]) / (bytes[i] - bytes[i - 1]);
  return time_s[i - 1] + slope * (at_bytes - bytes[i - 1]);
}

}  // namespace zeroplan::sim
