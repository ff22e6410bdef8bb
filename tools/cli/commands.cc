#include "tools/cli/commands.h"

#include <CLI/CLI.hpp>

#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

// Subcommands register themselves here as they land:
//   void register_plan_command(CLI::App&, CliContext&);      tools/cli/plan_command.cc
//   void register_simulate_command(CLI::App&, CliContext&);  tools/cli/simulate_command.cc
void register_all_commands(CLI::App& app, CliContext& context) { (void)app; (void)context; }

}  // namespace zeroplan::cli
