#include "tools/cli/commands.h"

#include <CLI/CLI.hpp>

#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

// Subcommands register themselves here as they land:
//   void register_plan_command(CLI::App&, CliContext&);      tools/cli/plan_command.cc
//   void register_simulate_command(CLI::App&, CliContext&);  tools/cli/simulate_command.cc
void register_plan_command(CLI::App& app, CliContext& context);  // plan_command.cc

void register_compare_command(CLI::App& app, CliContext& context);  // compare_command.cc
void register_simulate_command(CLI::App& app, CliContext& context);  // simulate_command.cc

#ifdef ZEROPLAN_HAVE_RUN_COMMAND
void register_run_command(CLI::App& app, CliContext& context);  // run_command.cc (LibTorch builds only)
void register_dist_selftest_command(CLI::App& app, CliContext& context);  // dist_selftest_command.cc (hidden)
void register_calibrate_command(CLI::App& app, CliContext& context);  // calibrate_command.cc (LibTorch builds only)
void register_export_command(CLI::App& app, CliContext& context);  // export_command.cc (LibTorch builds only)
#endif

void register_all_commands(CLI::App& app, CliContext& context) {
  register_plan_command(app, context);
  register_compare_command(app, context);
  register_simulate_command(app, context);
#ifdef ZEROPLAN_HAVE_RUN_COMMAND
  register_run_command(app, context);
  register_dist_selftest_command(app, context);
  register_calibrate_command(app, context);
  register_export_command(app, context);
#endif
}

}  // namespace zeroplan::cli
