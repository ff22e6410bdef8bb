// zeroplan: the only place that wires the pieces together. Thin: parse, call, print.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "planner/error.h"
#include "tools/cli/cli_context.h"
#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  using namespace zeroplan::cli;
  CliContext context;
  context.configs_dir = default_configs_dir();

  CLI::App app{"zeroplan: size, simulate, run and check DeepSpeed-style ZeRO fine-tuning"};
  app.set_version_flag("--version", "zeroplan 0.1.0");
  app.require_subcommand(1);
  app.add_flag("--debug", context.debug, "Show internal details (stack of causes) on errors");
  app.add_option("--configs-dir", context.configs_dir, "Folder with the gpus/, clusters/, models/ presets")
      ->capture_default_str();
  register_all_commands(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "zeroplan: %s (see --help)\n", e.what());
    return kExitBadInput;
  } catch (const zeroplan::InputError& e) {
    std::fprintf(stderr, "zeroplan: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zeroplan: error: %s\n", e.what());
    return kExitBadInput;
  }
  return context.exit_code;
}
