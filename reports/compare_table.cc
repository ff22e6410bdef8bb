#include <fmt/format.h>

#include <cmath>

#include "planner/units.h"
#include "reports/compare_render.h"

namespace zeroplan::reports {

std::string format_error_percent(const std::optional<double>& error) {
  if (!error) return "n/a";
  double percent = *error * 100.0;
  if (std::fabs(percent) < 0.05) return "0.0%";
  return fmt::format("{:+.1f}%", percent);
}

namespace {

std::string format_seconds(double s) {
  if (s >= 100) return fmt::format("{:.0f} s", s);
  if (s >= 1) return fmt::format("{:.2f} s", s);
  return fmt::format("{:.1f} ms", s * 1e3);
}

bool totals_disagree(const Comparison& c) {
  for (const auto& r : c.ranks) {
    if (r.total().measured != c.ranks.front().total().measured) return true;
  }
  return false;
}

}  // namespace

std::string render_compare_table(const Comparison& c, const std::string& html_path) {
  std::string out;
  out += fmt::format("{}: candidate #{} ({}), measured on {} ({} rank{})\n", c.model_name, c.candidate_index,
                     c.candidate_summary, c.device_kind, c.ranks.size(), c.ranks.size() == 1 ? "" : "s");
  const RankComparison* worst = &c.ranks.front();
  for (const auto& r : c.ranks) {
    if (r.rank == c.worst_rank) worst = &r;
  }
  std::string verdict =
      !c.total_error_defined
          ? "measured total is 0 ✗"
          : fmt::format("{} {:g}% {}", c.within_tolerance ? "within" : "exceeds", c.tolerance * 100,
                        c.within_tolerance ? "✓" : "✗");

  out += fmt::format(" {:<20} {:>11} {:>11} {:>8}\n", "category", "predicted", "measured", "error");
  for (const auto& cat : worst->categories) {
    if (cat.category == "total") continue;
    if (cat.category == "other" && cat.measured == 0) continue;
    if (cat.category == "overhead" && cat.predicted == 0 && cat.measured == 0) continue;
    out += fmt::format(" {:<20} {:>11} {:>11} {:>8}\n", cat.category, format_bytes(cat.predicted),
                       format_bytes(cat.measured), format_error_percent(cat.error));
  }
  if (c.ranks.size() > 1 && totals_disagree(c)) {
    for (const auto& r : c.ranks) {
      const auto& t = r.total();
      out += fmt::format(" {:<20} {:>11} {:>11} {:>8}{}\n", fmt::format("total (rank {})", r.rank),
                         format_bytes(t.predicted), format_bytes(t.measured), format_error_percent(t.error),
                         r.rank == c.worst_rank ? "   " + verdict : "");
    }
  } else {
    const auto& t = worst->total();
    std::string label = c.ranks.size() > 1 ? fmt::format("total (each of {})", c.ranks.size())
                                           : fmt::format("total (rank {})", worst->rank);
    out += fmt::format(" {:<20} {:>11} {:>11} {:>8}   {}\n", label, format_bytes(t.predicted),
                       format_bytes(t.measured), format_error_percent(t.error), verdict);
  }
  out += fmt::format(" {:<20} {:>11} {:>11} {:>8}   (plan's estimate vs median measured step)\n", "step time",
                     format_seconds(c.step_time.predicted_s), format_seconds(c.step_time.measured_s),
                     format_error_percent(c.step_time.error));
  if (!html_path.empty()) out += fmt::format("report: {}\n", html_path);
  return out;
}

}  // namespace zeroplan::reports
