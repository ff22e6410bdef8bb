// `zeroplan compare --plan plan.json --run RUN_DIR`: predicted vs measured memory per rank and
// category, step time and collectives; a verdict against --tolerance (exit 4 when exceeded).
// Thin: read both files, call reports::compare_run, print; the HTML report is always written
// (RUN_DIR/report.html unless --html says where).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "planner/error.h"
#include "planner/plan_json.h"
#include "reports/compare_render.h"
#include "reports/comparison.h"
#include "reports/measured_run.h"
#include "tools/cli/cli_context.h"

namespace zeroplan::cli {
namespace {

struct CompareFlags {
  std::string plan;
  std::string run_dir;
  int candidate = 0;  // 0: the plan's best
  double tolerance = 0.03;
  bool json = false;
  std::string html;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
  out << text;
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
}

void run_compare(const CompareFlags& flags, CliContext& cli) {
  if (!(flags.tolerance >= 0) || !std::isfinite(flags.tolerance)) {
    throw InputError(fmt::format("--tolerance {} must be a fraction >= 0 (0.03 = 3%)", flags.tolerance));
  }
  if (flags.candidate < 0) throw InputError("--candidate must be >= 1 (1 = the plan's first candidate)");
  if (!std::filesystem::is_directory(flags.run_dir)) {
    throw InputError(fmt::format("{}: not a run directory (expected the --out folder of zeroplan run)", flags.run_dir));
  }
  Plan plan = read_plan_json(flags.plan);
  const std::string measured_path = flags.run_dir + "/" + reports::kMeasuredFileName;
  if (!std::filesystem::exists(measured_path)) {
    throw InputError(fmt::format("{}: missing (the run did not finish, or {} is not a run directory)", measured_path,
                                 flags.run_dir));
  }
  reports::MeasuredRun measured = reports::read_measured_run(measured_path);
  reports::Comparison comparison =
      reports::compare_run(plan, flags.plan, measured, flags.run_dir, flags.candidate, flags.tolerance);

  std::string html_path = flags.html.empty() ? flags.run_dir + "/report.html" : flags.html;
  write_text(html_path, reports::render_compare_html(comparison));
  if (flags.json) {
    auto j = reports::compare_to_json(comparison);
    j["report"] = html_path;
    std::fputs((j.dump(2) + "\n").c_str(), stdout);
  } else {
    std::fputs(reports::render_compare_table(comparison, html_path).c_str(), stdout);
  }
  cli.exit_code = comparison.within_tolerance ? kExitOk : kExitToleranceExceeded;
}

}  // namespace

void register_compare_command(CLI::App& app, CliContext& cli) {
  auto flags = std::make_shared<CompareFlags>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Compare a run's measured memory and time with its plan (exit 4 beyond --tolerance)");
  cmd->add_option("--plan", flags->plan, "plan.json written by zeroplan plan")->required();
  cmd->add_option("--run", flags->run_dir, "Run directory written by zeroplan run (holds measured.json)")->required();
  cmd->add_option("--candidate", flags->candidate, "Which plan candidate ran (1 = first listed; default: the best)");
  cmd->add_option("--tolerance", flags->tolerance, "Allowed |error| of the total peak per rank, as a fraction")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print zeroplan.compare/v1 JSON instead of the table");
  cmd->add_option("--html", flags->html, "Where to write the HTML report (default RUN_DIR/report.html)");
  cmd->callback([flags, &cli]() { run_compare(*flags, cli); });
}

}  // namespace zeroplan::cli
