#pragma once
// A few inline-SVG primitives for the HTML report (no scripts, no external resources).
#include <string>
#include <string_view>

namespace zeroplan::reports::svg {

std::string escape(std::string_view text);  // &, <, >, " for HTML text and attributes

class Canvas {
 public:
  Canvas(double width, double height, std::string_view title);
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view tooltip = "");
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1,
            bool dashed = false);
  // anchor: "start" | "middle" | "end"
  void text(double x, double y, std::string_view content, std::string_view anchor = "start",
            double size = 12, std::string_view fill = "#222");
  std::string str() const;  // the <svg> element

 private:
  std::string body_;
  double width_, height_;
  std::string title_;
};

// "1.5 GiB"-style axis labels chosen for a max value: returns a "nice" step (1, 2, 5 x 10^k).
double nice_step(double max_value, int target_ticks);

}  // namespace zeroplan::reports::svg
