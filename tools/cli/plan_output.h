#pragma once
// The text `zeroplan plan` prints: the context line, the candidate table, the rejections, the
// DeepSpeed-estimator comparison, and (when nothing fits) what would.
#include <string>
#include <vector>

#include "planner/plan.h"
#include "planner/search.h"

namespace zeroplan::cli {

std::string render_candidate_table(const Plan& plan, bool evaluation_mode);
std::string render_rejections(const Plan& plan);
// `which`: "#1" or "this configuration".
std::string render_deepspeed_comparison(const EvaluatedCandidate& best, const std::string& which);
std::string render_suggestions(const std::vector<Suggestion>& suggestions);
// "stage 3 cpu/cpu mbs 1 gas 16 ckpt on: GPU 19.8 GiB, 41.2 s/step"
std::string describe_candidate(const EvaluatedCandidate& e);
std::string format_step_time(double seconds);  // "41.2 s", "850 ms"
std::string format_rate(double per_s);         // "3.2k", "812", "1.1M"

}  // namespace zeroplan::cli
