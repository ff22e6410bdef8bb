#pragma once
// What every subcommand shares: where the presets live, the exit code to return, --debug.
// Each subcommand lives in its own file (tools/cli/<name>_command.cc) and registers itself with
// a `register_<name>_command(CLI::App&, CliContext&)` function called from main.cc.
#include <string>

namespace CLI {
class App;
}

namespace zeroplan::cli {

// Exit codes (architecture.md): 0 ok, 2 bad input, 3 nothing fits, 4 compare tolerance exceeded.
inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNothingFits = 3;
inline constexpr int kExitToleranceExceeded = 4;

struct CliContext {
  std::string configs_dir;  // $ZEROPLAN_CONFIGS_DIR, else the source tree's configs/
  bool debug = false;
  int exit_code = kExitOk;
};

std::string default_configs_dir();

}  // namespace zeroplan::cli
