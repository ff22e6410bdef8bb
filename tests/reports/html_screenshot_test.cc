// Renders `zeroplan compare --html` with headless Chromium and checks the screenshot is a real PNG
// with drawn content (slow; needs ./tools/setup.sh --browser). The PNG is kept as a test artifact
// in the build tree: reports_compare_screenshot.png.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/reports/fixture_plan.h"
#include "tests/reports/test_util.h"

namespace zeroplan::reports {
namespace {

using testing::fixture;
using testing::read_text;
using testing::run_command;

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    auto r = run_command(std::string("command -v ") + name);
    if (r.exit_code == 0) return r.output.substr(0, r.output.find('\n'));
  }
  return "";
}

TEST(HtmlScreenshot, ReportRendersInHeadlessChromium) {
  std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (./tools/setup.sh --browser)";
  auto dir = std::filesystem::absolute("reports_compare_screenshot");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string html = (dir / "report.html").string();
  std::string png = (dir / "report.png").string();
  auto compare = run_command(std::string(ZEROPLAN_BINARY) + " compare --plan " + testing::write_fixture_plan(dir.string()) + " --run " +
                             fixture("run_over") + " --html " + html);
  ASSERT_EQ(compare.exit_code, 4) << compare.output;
  // No network: the page must render from the file alone.
  auto shot = run_command("timeout 120 " + chromium +
                          " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
                          " --user-data-dir=" + (dir / "profile").string() +
                          " --window-size=1200,2200 --screenshot=" + png + " file://" + html);
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.output;
  std::string bytes = read_text(png);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  // A blank white page compresses to a few KB; charts and tables do not.
  EXPECT_GT(bytes.size(), 20000u) << "screenshot looks empty";
}

}  // namespace
}  // namespace zeroplan::reports
