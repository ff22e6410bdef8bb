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

namespace {

// Pool-adjacent-violators: the non-decreasing sequence closest to `t` in least squares (equal weights).
std::vector<double> non_decreasing(const std::vector<double>& t) {
  std::vector<double> value;
  std::vector<int> count;
  for (double x : t) {
    value.push_back(x);
    count.push_back(1);
    while (value.size() > 1 && value[value.size() - 2] > value.back()) {
      const size_t k = value.size() - 1;
      value[k - 1] = (value[k - 1] * count[k - 1] + value[k] * count[k]) / (count[k - 1] + count[k]);
      count[k - 1] += count[k];
      value.pop_back();
      count.pop_back();
    }
  }
  std::vector<double> out;
  for (size_t k = 0; k < value.size(); ++k) out.insert(out.end(), static_cast<size_t>(count[k]), value[k]);
  return out;
}

}  // namespace

double gloo_time_s(const GlooCollectiveFit& fit, double bytes, int ranks, int cores) {
  if (ranks <= 1 || bytes <= 0) return 0;
  double alpha = fit.alpha_s;
  double beta = fit.beta_s_per_byte;
  double piece = gloo_piece_fraction(fit.op, ranks) * bytes;
  if (!fit.segments.empty()) {
    const GlooSegment* seg = &fit.segments.front();
    for (const GlooSegment& s : fit.segments) {
      if (s.from_piece_bytes <= piece) seg = &s;
    }
    alpha = seg->alpha_s;
    beta = seg->beta_s_per_byte;
    piece = std::max(piece, fit.segments.front().from_piece_bytes);  // below the smallest size: its time
  }
  if (cores > 0 && ranks != fit.ranks) {
    // Contention: w ranks on `cores` cores each get min(1, cores/w) of a core.
    const double c = cores;
    beta *= std::max(1.0, ranks / c) / std::max(1.0, fit.ranks / c);
  }
  const double steps = gloo_steps(fit.op, ranks);
  return steps * (alpha + piece * beta);
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

  // Segments: per distinct size the mean time, made non-decreasing, as per-step time vs per-step piece.
  std::vector<double> mean_t;
  for (double b : f.fitted_bytes) {
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] == b) sum += time_s[i], ++n;
    }
    mean_t.push_back(sum / n);
  }
  const std::vector<double> mono = non_decreasing(mean_t);
  const double pf = gloo_piece_fraction(op, ranks);
  for (size_t k = 0; k + 1 < mono.size(); ++k) {
    const double p0 = f.fitted_bytes[k] * pf, p1 = f.fitted_bytes[k + 1] * pf;
    const double tau0 = mono[k] / steps, tau1 = mono[k + 1] / steps;
    GlooSegment seg;
    seg.from_piece_bytes = p0;
    seg.beta_s_per_byte = (tau1 - tau0) / (p1 - p0);
    seg.alpha_s = tau0 - seg.beta_s_per_byte * p0;
    f.segments.push_back(seg);
  }
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
