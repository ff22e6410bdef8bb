#pragma once
// One registration function per subcommand, each in its own file.
namespace CLI {
class App;
}

namespace zeroplan::cli {
struct CliContext;

void register_all_commands(CLI::App& app, CliContext& context);  // commands.cc

}  // namespace zeroplan::cli
