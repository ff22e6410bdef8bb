#pragma once
// Renderers of a Comparison: the terminal table (compare_table.cc), the zeroplan.compare/v1 JSON
// (compare_json.cc) and the self-contained HTML report (compare_html.cc).
#include <string>

#include <nlohmann/json.hpp>

#include "reports/comparison.h"

namespace zeroplan::reports {

// "+1.0%", "-12.3%", "0.0%", "n/a".
std::string format_error_percent(const std::optional<double>& error);

// ux.md's table: categories of the worst rank, one total line per rank when ranks disagree, the
// verdict, step time. `html_path` (may be empty) is named on the last line.
std::string render_compare_table(const Comparison& comparison, const std::string& html_path);

// {"schema": "zeroplan.compare/v1", "ranks": [{"rank", "categories": {"params": {"predicted",
//  "measured", "error"}, ..., "total": {...}}}], "max_total_error", "step_time": {"predicted",
//  "measured", "error"}, ...}; errors are signed fractions, null when undefined.
nlohmann::ordered_json compare_to_json(const Comparison& comparison);

// One self-contained page: inline CSS and inline SVG, no scripts fetched, no URLs.
std::string render_compare_html(const Comparison& comparison);

}  // namespace zeroplan::reports
