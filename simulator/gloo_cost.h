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
// Fit: for one (op, w), t(S) = A + B*S is a line; calibrate fits A, B by least squares on the relative
// error (weights 1/t^2, since sizes span 4 KiB .. 256 MiB) and stores alpha = A/steps, beta = B/(steps*piece)
// where piece = 1/w (1 for broadcast). A group size that was not measured uses the nearest measured one,
// with beta scaled by the CPU contention factor max(1, w/cores) / max(1, w_fit/cores): w ranks copying at
// once on `cores` cores each get cores/w of a core once w > cores (an ASSUMPTION, checked by the
// validation's "fit on 2 ranks, predict 4" rows).
#include <string>
#include <vector>

#include "simulator/collective.h"

namespace zeroplan::sim {

struct GlooCollectiveFit {
  CollectiveOp op = CollectiveOp::kAllReduce;
  int ranks = 0;
  double alpha_s = 0;          // per ring step
  double beta_s_per_byte = 0;  // per byte one rank moves in one step
  std::vector<double> fitted_bytes;  // the sizes the fit used (the validation holds out the others)
};

// Steps of the ring and the fraction of S one rank moves per step.
int gloo_steps(CollectiveOp op, int ranks);
double gloo_piece_fraction(CollectiveOp op, int ranks);

// t = steps * (alpha + piece * S * beta), with beta scaled for contention when `ranks` differs from the
// fit's (see above; cores <= 0: no scaling).
double gloo_time_s(const GlooCollectiveFit& fit, double bytes, int ranks, int cores);

// Least-squares fit on relative error. InputError (naming `what`) with fewer than 2 distinct sizes or
// non-positive times; a negative intercept or slope is clamped to 0 and the other refitted.
GlooCollectiveFit fit_gloo_collective(CollectiveOp op, int ranks, const std::vector<double>& bytes,
                                      const std::vector<double>& time_s, const std::string& what);

// The fit for (op, ranks): exact ranks first, else the nearest ranks >= 2 (nullptr when none for op).
const GlooCollectiveFit* find_gloo_fit(const std::vector<GlooCollectiveFit>& fits, CollectiveOp op, int ranks);

}  // namespace zeroplan::sim
