#pragma once
// Cost of Gloo collectives on CPU ranks, as zeroplan's GlooCommunicator runs them
// (executor/dist/gloo_communicator.h), fitted from `zeroplan calibrate` measurements.
//
// Every algorithm below is a ring of w ranks over Gloo's TCP pairs (loopback on one host). One ring
// "step" is every rank sending one piece to rank+1 while receiving one from rank-1, all ranks at once.
// S is nccl-tests' buffer size (for all_gather / reduce_scatter: the whole gathered buffer).
//
//   all_gather      (ours: ring, w-1 steps of S/w)                t = (w-1) * (alpha + S/w * beta)
//   reduce_scatter  (ours: ring, w-1 steps of S/w, + the add)     t = (w-1) * (alpha + S/w * beta)
//   all_reduce      (c10d ProcessGroupGloo -> gloo::allreduce, algorithm UNSPECIFIED = ring: a
//                    reduce-scatter then an all-gather over >= 2w segments, two in flight;
//                    third_party/gloo/gloo/allreduce.cc)         t = 2(w-1) * (alpha + S/w * beta)
//   broadcast       (c10d Gloo: the root sends S to each peer)    t = (w-1) * (alpha + S * beta)
//   reduce          (not issued by the engines; modelled like broadcast)
//
// alpha: seconds per step (a send/recv round trip through the kernel and Gloo's pair threads);
// beta: seconds per byte a rank moves in one step while all w ranks move theirs at once (it includes the
// reduction for reduce_scatter and all_reduce: that is why each op has its own fit).
//
// Regimes. Measured Gloo times are not one line in S on a CPU host: a message that stays in the caches
// moves several times faster than one that does not (2 ranks, all_reduce: 0.49 ms at 1 MiB, 4.7 ms at
// 4 MiB), so one (alpha, beta) misses both regimes. A fit therefore holds SEGMENTS, one alpha-beta per
// regime between consecutive calibrated sizes: segment k covers per-step pieces from piece_k (= S_k x
// piece fraction) up to the next segment's start, and is the line through the two calibrated points
// around it (after making the times non-decreasing in S by pool-adjacent-violators: a larger
// collective is never faster, so a smaller time at a larger size is noise). Above the largest
// calibrated size the last segment (the out-of-cache bandwidth) extends; below the smallest the first
// point's per-step time is the floor (latency). The regime is chosen by the per-step piece, which is
// what sits in the caches, so the segments carry over to another group size.
//
// The single line (alpha_s, beta_s_per_byte): least squares on the relative error (weights 1/t^2) over
// the calibrated sizes, alpha = A/steps, beta = B/(steps*piece) for t(S) = A + B*S; it is what a fit
// with no segments uses (hand-written profiles, profiles from before the segments) and what calibrate
// reports as the overall rate.
//
// A group size that was not measured uses the nearest measured one, with beta scaled by the CPU
// contention factor max(1, w/cores) / max(1, w_fit/cores): w ranks copying at once on `cores` cores each
// get cores/w of a core once w > cores (an ASSUMPTION, checked by the validation's "fit on 2 ranks,
// predict 4" rows).
#include <string>
#include <vector>

#include "simulator/collective.h"

namespace zeroplan::sim {

// One regime: per-step time alpha + piece * beta for per-step pieces from `from_piece_bytes` on.
// alpha may be negative (a steep segment between regimes); the time over the segment stays positive.
struct GlooSegment {
  double from_piece_bytes = 0;
  double alpha_s = 0;
  double beta_s_per_byte = 0;
};

struct GlooCollectiveFit {
  CollectiveOp op = CollectiveOp::kAllReduce;
  int ranks = 0;
  double alpha_s = 0;          // per ring step (the single line)
  double beta_s_per_byte = 0;  // per byte one rank moves in one step (the single line)
  std::vector<GlooSegment> segments;  // regimes by piece size, ascending (empty: the single line)
  std::vector<double> fitted_bytes;  // the sizes the fit used (the validation holds out the others)
};

// Steps of the ring and the fraction of S one rank moves per step.
int gloo_steps(CollectiveOp op, int ranks);
double gloo_piece_fraction(CollectiveOp op, int ranks);

// t = steps * (alpha + piece * S * beta), (alpha, beta) of the segment holding the piece (or the single
// line), with beta scaled for contention when `ranks` differs from the fit's (see above; cores <= 0: no
// scaling).
double gloo_time_s(const GlooCollectiveFit& fit, double bytes, int ranks, int cores);

// The single line by least squares on relative error (a negative intercept or slope is clamped to 0 and
// the other refitted) and the segments through the monotone points. InputError (naming `what`) with
// fewer than 2 distinct sizes or non-positive times.
GlooCollectiveFit fit_gloo_collective(CollectiveOp op, int ranks, const std::vector<double>& bytes,
                                      const std::vector<double>& time_s, const std::string& what);

// The fit for (op, ranks): exact ranks first, else the nearest ranks >= 2 (nullptr when none for op).
const GlooCollectiveFit* find_gloo_fit(const std::vector<GlooCollectiveFit>& fits, CollectiveOp op, int ranks);

}  // namespace zeroplan::sim
