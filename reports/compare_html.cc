// The HTML report: one self-contained page (inline CSS + inline SVG; no scripts, fonts or images
// fetched, no URLs), so it opens offline. Charts: memory by category (predicted beside measured,
// per rank), per-phase memory over time, step-time breakdown; then the tables.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "planner/units.h"
#include "reports/compare_render.h"
#include "reports/svg.h"

namespace zeroplan::reports {
namespace {

using svg::escape;

const std::map<std::string, std::string>& colors() {
  static const std::map<std::string, std::string> c = {
      {"params", "#4e79a7"},      {"gradients", "#f28e2b"},      {"optimizer_states", "#e15759"},
      {"activations", "#76b7b2"}, {"buffers", "#59a14f"},        {"overhead", "#edc948"},
      {"other", "#bab0ac"},       {"setup", "#bab0ac"},          {"forward", "#4e79a7"},
      {"backward", "#f28e2b"},    {"reduce", "#59a14f"},         {"optimizer_step", "#e15759"},
      {"compute", "#4e79a7"},     {"comm_exposed", "#59a14f"},   {"offload", "#b07aa1"},
      {"optimizer", "#e15759"}};
  return c;
}
std::string color(const std::string& name) {
  auto it = colors().find(name);
  return it == colors().end() ? "#999999" : it->second;
}

struct ByteAxis {
  double unit;
  const char* name;
};
ByteAxis byte_axis(double max_bytes) {
  if (max_bytes >= static_cast<double>(kGiB)) return {static_cast<double>(kGiB), "GiB"};
  if (max_bytes >= static_cast<double>(kMiB)) return {static_cast<double>(kMiB), "MiB"};
  return {static_cast<double>(kKiB), "KiB"};
}

// Y axis with gridlines; returns the pixels per byte.
double draw_y_axis(svg::Canvas& canvas, double max_value, double x0, double x1, double y_top, double y_bottom,
                   const ByteAxis& axis) {
  double max_units = std::max(max_value / axis.unit, 1e-9);
  double step = svg::nice_step(max_units, 5);
  double top_units = std::ceil(max_units / step) * step;
  double scale = (y_bottom - y_top) / (top_units * axis.unit);
  for (double v = 0; v <= top_units + step * 1e-6; v += step) {
    double y = y_bottom - v * axis.unit * scale;
    canvas.line(x0, y, x1, y, "#e3e3e3");
    canvas.text(x0 - 6, y + 4, fmt::format("{:g} {}", v, axis.name), "end", 11, "#555");
  }
  canvas.line(x0, y_bottom, x1, y_bottom, "#888");
  return scale;
}

std::string memory_chart(const Comparison& c) {
  static const std::vector<std::string> kStack = {"params",  "gradients", "optimizer_states", "activations",
                                                  "buffers", "overhead",  "other"};
  double max_bytes = 1;
  for (const auto& r : c.ranks) {
    double p = 0, m = 0;
    for (const auto& cat : r.categories) {
      if (cat.category == "total") {
        max_bytes = std::max({max_bytes, static_cast<double>(cat.predicted), static_cast<double>(cat.measured)});
        continue;
      }
      p += static_cast<double>(cat.predicted);
      m += static_cast<double>(cat.measured);
    }
    max_bytes = std::max({max_bytes, p, m});
  }
  const double left = 80, top = 20, plot_h = 260, bar_w = 46, gap = 10, group_gap = 40;
  double width = left + static_cast<double>(c.ranks.size()) * (2 * bar_w + gap + group_gap) + 170;
  svg::Canvas canvas(std::max(width, 520.0), top + plot_h + 60, "memory by category, predicted vs measured");
  ByteAxis axis = byte_axis(max_bytes);
  double plot_right = width - 170;
  double scale = draw_y_axis(canvas, max_bytes, left, plot_right, top, top + plot_h, axis);
  double bottom = top + plot_h;
  double x = left + 20;
  for (const auto& r : c.ranks) {
    for (int which = 0; which < 2; ++which) {
      double y = bottom;
      for (const auto& name : kStack) {
        auto it = std::find_if(r.categories.begin(), r.categories.end(),
                               [&](const auto& cat) { return cat.category == name; });
        if (it == r.categories.end()) continue;
        double bytes = static_cast<double>(which == 0 ? it->predicted : it->measured);
        double h = bytes * scale;
        canvas.rect(x, y - h, bar_w, h, color(name),
                    fmt::format("rank {} {} {}: {}", r.rank, which == 0 ? "predicted" : "measured", name,
                                format_bytes(static_cast<std::uint64_t>(bytes))));
        y -= h;
      }
      const auto& total = r.total();
      double total_bytes = static_cast<double>(which == 0 ? total.predicted : total.measured);
      double ty = bottom - total_bytes * scale;
      canvas.line(x - 3, ty, x + bar_w + 3, ty, "#111", 2);
      canvas.text(x + bar_w / 2, ty - 5, format_bytes(static_cast<std::uint64_t>(total_bytes)), "middle", 10);
      canvas.text(x + bar_w / 2, bottom + 16, which == 0 ? "predicted" : "measured", "middle", 11);
      x += bar_w + gap;
    }
    canvas.text(x - gap - bar_w - gap / 2, bottom + 34, fmt::format("rank {}", r.rank), "middle", 12);
    x += group_gap;
  }
  double ly = top + 6;
  for (const auto& name : kStack) {
    canvas.rect(plot_right + 20, ly, 12, 12, color(name));
    canvas.text(plot_right + 38, ly + 11, name, "start", 12);
    ly += 20;
  }
  canvas.line(plot_right + 18, ly + 6, plot_right + 34, ly + 6, "#111", 2);
  canvas.text(plot_right + 38, ly + 10, "total (one instant)", "start", 12);
  return canvas.str();
}

std::string timeline_chart(const MeasuredRank& r) {
  if (r.timeline.empty()) return "<p class=\"note\">No timeline samples were recorded for this rank.</p>\n";
  double max_bytes = 1, t_max = 0;
  for (const auto& s : r.timeline) {
    max_bytes = std::max(max_bytes, static_cast<double>(s.peak_bytes));
    t_max = std::max(t_max, s.t_s);
  }
  double t_min = r.timeline.front().t_s;
  if (t_max <= t_min) t_max = t_min + 1e-6;
  const double left = 80, top = 16, plot_w = 720, plot_h = 200;
  svg::Canvas canvas(left + plot_w + 150, top + plot_h + 46, fmt::format("rank {} memory over time", r.rank));
  ByteAxis axis = byte_axis(max_bytes);
  double scale = draw_y_axis(canvas, max_bytes, left, left + plot_w, top, top + plot_h, axis);
  double bottom = top + plot_h;
  auto x_of = [&](double t) { return left + (t - t_min) / (t_max - t_min) * plot_w; };
  double prev_t = t_min;
  double prev_live_y = -1;
  for (const auto& s : r.timeline) {
    double x0 = x_of(prev_t), x1 = x_of(s.t_s);
    double h = static_cast<double>(s.peak_bytes) * scale;
    canvas.rect(x0, bottom - h, std::max(x1 - x0, 0.8), h, color(s.phase),
                fmt::format("{} until {:.3f} s: peak {}, live at end {}", s.phase, s.t_s, format_bytes(s.peak_bytes),
                            format_bytes(s.live_bytes)));
    double live_y = bottom - static_cast<double>(s.live_bytes) * scale;
    if (prev_live_y >= 0) canvas.line(x0, prev_live_y, x1, live_y, "#111", 1.2);
    prev_live_y = live_y;
    prev_t = s.t_s;
  }
  canvas.text(left, bottom + 18, fmt::format("{:.2f} s", t_min), "start", 11, "#555");
  canvas.text(left + plot_w, bottom + 18, fmt::format("{:.2f} s", t_max), "end", 11, "#555");
  canvas.text(left + plot_w / 2, bottom + 36, "time since the profiler started", "middle", 11, "#555");
  double ly = top + 4;
  for (const char* phase : {"setup", "forward", "backward", "reduce", "optimizer_step"}) {
    canvas.rect(left + plot_w + 16, ly, 12, 12, color(phase));
    canvas.text(left + plot_w + 34, ly + 11, phase, "start", 12);
    ly += 20;
  }
  canvas.line(left + plot_w + 14, ly + 6, left + plot_w + 30, ly + 6, "#111", 1.2);
  canvas.text(left + plot_w + 34, ly + 10, "live at phase end", "start", 12);
  return canvas.str();
}

std::string step_chart(const Comparison& c) {
  double predicted = 0, measured = 0;
  for (const auto& p : c.predicted_step_parts) predicted += p.seconds;
  for (const auto& p : c.measured_step_parts) measured += p.seconds;
  double max_s = std::max({predicted, measured, c.step_time.predicted_s, c.step_time.measured_s, 1e-9});
  const double left = 110, top = 10, plot_w = 640, bar_h = 30;
  svg::Canvas canvas(left + plot_w + 40, top + 2 * (bar_h + 26) + 30, "step time breakdown");
  double scale = plot_w / max_s;
  auto bar = [&](double y, const std::vector<StepPart>& parts, const char* label, double total_s) {
    canvas.text(left - 8, y + bar_h / 2 + 4, label, "end", 12);
    double x = left;
    for (const auto& p : parts) {
      double w = p.seconds * scale;
      canvas.rect(x, y, w, bar_h, color(p.name), fmt::format("{}: {:.4g} s", p.name, p.seconds));
      if (w > 70) canvas.text(x + w / 2, y + bar_h / 2 + 4, p.name, "middle", 11, "#fff");
      x += w;
    }
    double tx = left + total_s * scale;
    canvas.line(tx, y - 4, tx, y + bar_h + 4, "#111", 2);
    canvas.text(left, y + bar_h + 16, fmt::format("step {:.4g} s", total_s), "start", 11, "#555");
  };
  bar(top, c.predicted_step_parts, "predicted", c.step_time.predicted_s);
  bar(top + bar_h + 26, c.measured_step_parts, "measured (r0)", c.step_time.measured_s);
  return canvas.str();
}

std::string category_table(const Comparison& c) {
  std::string html = "<table><tr><th>rank</th><th>category</th><th>predicted</th><th>measured</th><th>error</th></tr>\n";
  for (const auto& r : c.ranks) {
    for (const auto& cat : r.categories) {
      bool total = cat.category == "total";
      html += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          total ? " class=\"total\"" : "", r.rank, cat.category, format_bytes(cat.predicted),
                          format_bytes(cat.measured), format_error_percent(cat.error));
    }
  }
  return html + "</table>\n";
}

std::string collective_table(const Comparison& c) {
  if (c.collectives.empty()) return "<p class=\"note\">No collectives were recorded (one rank, or stage 0 on one rank).</p>\n";
  std::string html = "<table><tr><th>rank</th><th>collective</th><th>bytes per call</th><th>calls</th><th>mean</th><th>total</th></tr>\n";
  for (const auto& col : c.collectives) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f} ms</td><td>{:.3f} s</td></tr>\n",
                        col.rank, escape(col.op), format_bytes(col.bytes), col.count, col.measured_mean_s * 1e3,
                        col.measured_total_s);
  }
  return html + "</table>\n";
}

constexpr const char* kStyle = R"(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin-top: 0; } .note { color: #666; font-size: 13px; }
.verdict { display: inline-block; padding: 6px 12px; border-radius: 6px; font-weight: 600; margin: 8px 0; }
.ok { background: #e3f4e1; color: #1d6b1a; } .bad { background: #fbe3e3; color: #9b1c1c; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; } th { background: #f5f5f5; }
td:nth-child(2), th:nth-child(2) { text-align: left; } tr.total td { font-weight: 600; border-bottom: 1px solid #bbb; }
svg { display: block; margin-top: 8px; font-family: inherit; }
)";

}  // namespace

std::string render_compare_html(const Comparison& c) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += fmt::format("<title>zeroplan compare: {}</title>\n<style>{}</style>\n</head>\n<body>\n",
                      escape(c.model_name), kStyle);
  html += fmt::format("<h1>{}: predicted vs measured</h1>\n", escape(c.model_name));
  html += fmt::format("<p class=\"sub\">candidate #{} ({}) from {}; run {} on {} ({} rank{})</p>\n", c.candidate_index,
                      escape(c.candidate_summary), escape(c.plan_path), escape(c.run_dir), escape(c.device_kind),
                      c.ranks.size(), c.ranks.size() == 1 ? "" : "s");
  std::optional<double> worst_error;
  for (const auto& r : c.ranks) {
    if (r.rank == c.worst_rank) worst_error = r.total().error;
  }
  std::string verdict =
      c.total_error_defined
          ? fmt::format("peak memory: worst rank {} off by {}, {} the {:g}% tolerance", c.worst_rank,
                        format_error_percent(worst_error), c.within_tolerance ? "within" : "exceeds",
                        c.tolerance * 100)
          : std::string("peak memory: a rank measured 0 bytes in total; the error is undefined");
  html += fmt::format("<div class=\"verdict {}\">{}</div>\n", c.within_tolerance ? "ok" : "bad", escape(verdict));
  html += fmt::format("<p>step time: plan {:.4g} s, measured {:.4g} s (median), error {}</p>\n", c.step_time.predicted_s,
                      c.step_time.measured_s, format_error_percent(c.step_time.error));

  html += "<h2>Memory by category (peak per rank)</h2>\n" + memory_chart(c);
  html += "<p class=\"note\">Measured categories are each category's own peak; the black bar is the largest "
          "total at one instant (so the measured stack can rise above it). Measured buffers include "
          "communication staging; \"other\" is memory allocated outside any category scope.</p>\n";
  html += "<h2>Memory over time, by phase</h2>\n";
  if (c.measured != nullptr) {
    for (const auto& r : c.measured->ranks) {
      html += fmt::format("<h3>rank {}</h3>\n", r.rank) + timeline_chart(r);
    }
  }
  html += "<p class=\"note\">Each block is one phase occurrence: its height is the peak tensor memory inside it.</p>\n";
  html += "<h2>Step time breakdown</h2>\n" + step_chart(c);
  html += "<p class=\"note\">Predicted: the plan's step-time model (compute, exposed communication, offload, "
          "optimizer). Measured: wall time per phase per step on rank 0 (phases nest: a reduce inside backward "
          "is counted in both).</p>\n";
  html += "<h2>Categories</h2>\n" + category_table(c);
  html += "<h2>Collectives</h2>\n" + collective_table(c);
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace zeroplan::reports
