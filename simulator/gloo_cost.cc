#include "simulator/gloo_cost.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "planner/error.h"

namespace zeroplan::sim {

int gloo_steps(CollectiveOp op, int ranks) {
  const int w = std::max(ranks, 1);
  return op == CollectiveOp::kAllReduce ? 2 * (w - 1) : w - 1;
}

double gloo_piece_fraction(CollectiveOp op, int ranks) {
  if (op == CollectiveOp::kBroadcast || op == CollectiveOp::kReduce) return 1.0;
  return 1.0 / std::max(ranks, 1);
}

double gloo_time_s(const GlooCollectiveFit& fit, double bytes, int ranks, int cores) {
  if (ranks <= 1 || bytes <= 0) return 0;
  double beta = fit.beta_s_per_byte;
  if (cores > 0 && ranks != fit.ranks) {
    // Contention: w ranks on `cores` cores each get min(1, cores/w) of a core.
    const double c = cores;
    beta *= std::max(1.0, ranks / c) / std::max(1.0, fit.ranks / c);
  }
  const double steps = gloo_steps(fit.op, ranks);
  return steps * (fit.alpha_s + gloo_piece_fraction(fit.op, ranks) * bytes * beta);
}

GlooCollectiveFit fit_gloo_collective(CollectiveOp op, int ranks, const std::vector<double>& bytes,
                                      const std::vector<double>& time_s, const std::string& what) {
  if (ranks < 2) throw InputError(fmt::format("{}: a collective fit needs >= 2 ranks (got {})", what, ranks));
  if (bytes.size() != time_s.size()) throw InputError(fmt::format("{}: sizes and times differ in count", what));
  std::set<double> distinct(bytes.begin(), bytes.end());
  if (distinct.size() < 2) throw InputError(fmt::format("{}: a fit needs at least 2 distinct sizes", what));
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (!(bytes[i] > 0) || !(time_s[i] > 0)) {
      throw InputError(fmt::format("{}: sizes and times must be > 0 (point {})", what, i));
    }
  }
  // Weighted least squares of t = A + B*S with weights 1/t^2 (relative error):
  //   minimise sum w_i (A + B S_i - t_i)^2  ->  normal equations
  //   [sum w    sum wS ] [A]   [sum wt ]
  //   [sum wS   sum wS2] [B] = [sum wSt]
  double sw = 0, sws = 0, sws2 = 0, swt = 0, swst = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const double w = 1.0 / (time_s[i] * time_s[i]);
    sw += w;
    sws += w * bytes[i];
    sws2 += w * bytes[i] * bytes[i];
    swt += w * time_s[i];
    swst += w * bytes[i] * time_s[i];
  }
  const double det = sw * sws2 - sws * sws;
  double A = (swt * sws2 - sws * swst) / det;
  double B = (sw * swst - sws * swt) / det;
  if (A < 0) {  // through the origin: B = sum wSt / sum wS^2
    A = 0;
    B = swst / sws2;
  }
  if (B < 0) {  // flat: A = weighted mean
    B = 0;
    A = swt / sw;
  }
  GlooCollectiveFit f;
  f.op = op;
  f.ranks = ranks;
  const double steps = gloo_steps(op, ranks);
  f.alpha_s = A / steps;
  f.beta_s_per_byte = B / (steps * gloo_piece_fraction(op, ranks));
  f.fitted_bytes.assign(distinct.begin(), distinct.end());
  return f;
}

const GlooCollectiveFit* find_gloo_fit(const std::vector<GlooCollectiveFit>& fits, CollectiveOp op, int ranks) {
  const GlooCollectiveFit* best = nullptr;
  for (const GlooCollectiveFit& f : fits) {
    if (f.op != op) continue;
    if (f.ranks == ranks) return &f;
    // Nearest group size; on a tie the larger (its contention is closer to a bigger group's).
    if (best == nullptr || std::abs(f.ranks - ranks) < std::abs(best->ranks - ranks) ||
        (std::abs(f.ranks - ranks) == std::abs(best->ranks - ranks) && f.ranks > best->ranks)) {
      best = &f;
    }
  }
  return best;
}

}  // namespace zeroplan::sim
