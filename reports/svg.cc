#include "reports/svg.h"

#include <fmt/format.h>

#include <cmath>

namespace zeroplan::reports::svg {

std::string escape(std::string_view text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

Canvas::Canvas(double width, double height, std::string_view title)
    : width_(width), height_(height), title_(title) {}

void Canvas::rect(double x, double y, double w, double h, std::string_view fill, std::string_view tooltip) {
  if (w <= 0 || h <= 0) return;
  body_ += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">)", x, y, w, h,
                       escape(fill));
  if (!tooltip.empty()) body_ += fmt::format("<title>{}</title>", escape(tooltip));
  body_ += "</rect>\n";
}

void Canvas::line(double x1, double y1, double x2, double y2, std::string_view stroke, double width, bool dashed) {
  body_ += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="{}"{}/>)",
                       x1, y1, x2, y2, escape(stroke), width, dashed ? R"( stroke-dasharray="4 3")" : "");
  body_ += "\n";
}

void Canvas::text(double x, double y, std::string_view content, std::string_view anchor, double size,
                  std::string_view fill) {
  body_ += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="{}" font-size="{}" fill="{}">{}</text>)", x, y,
                       escape(anchor), size, escape(fill), escape(content));
  body_ += "\n";
}

std::string Canvas::str() const {
  return fmt::format(R"(<svg width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}" role="img" aria-label="{2}">)",
                     width_, height_, escape(title_)) +
         "\n" + body_ + "</svg>\n";
}

double nice_step(double max_value, int target_ticks) {
  if (max_value <= 0 || target_ticks <= 0) return 1;
  double raw = max_value / target_ticks;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace zeroplan::reports::svg
