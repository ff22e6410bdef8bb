#include "reports/compare_render.h"

namespace zeroplan::reports {
namespace {

using ojson = nlohmann::ordered_json;

ojson error_json(const std::optional<double>& e) { return e ? ojson(*e) : ojson(nullptr); }

}  // namespace

ojson compare_to_json(const Comparison& c) {
  ojson j;
  j["schema"] = kCompareSchema;
  j["plan"] = c.plan_path;
  j["run"] = c.run_dir;
  j["candidate"] = c.candidate_index;
  j["candidate_summary"] = c.candidate_summary;
  j["device"] = c.device_kind;
  j["tolerance"] = c.tolerance;
  j["ranks"] = ojson::array();
  for (const auto& r : c.ranks) {
    ojson cats = ojson::object();
    for (const auto& cat : r.categories) {
      cats[cat.category] = {{"predicted", cat.predicted}, {"measured", cat.measured}, {"error", error_json(cat.error)}};
    }
    j["ranks"].push_back({{"rank", r.rank}, {"categories", cats}});
  }
  j["max_total_error"] = c.total_error_defined ? ojson(c.max_total_error) : ojson(nullptr);
  j["worst_rank"] = c.worst_rank;
  j["within_tolerance"] = c.within_tolerance;
  j["step_time"] = {{"predicted", c.step_time.predicted_s},
                    {"measured", c.step_time.measured_s},
                    {"error", error_json(c.step_time.error)}};
  ojson predicted = ojson::object(), measured = ojson::object();
  for (const auto& p : c.predicted_step_parts) predicted[p.name] = p.seconds;
  for (const auto& p : c.measured_step_parts) measured[p.name] = p.seconds;
  j["step_parts_s"] = {{"predicted", predicted}, {"measured", measured}};
  j["collectives"] = ojson::array();
  for (const auto& col : c.collectives) {
    j["collectives"].push_back({{"rank", col.rank},
                                {"op", col.op},
                                {"bytes", col.bytes},
                                {"count", col.count},
                                {"measured_mean_s", col.measured_mean_s},
                                {"measured_total_s", col.measured_total_s}});
  }
  return j;
}

}  // namespace zeroplan::reports
