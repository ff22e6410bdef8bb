// `zeroplan export CHECKPOINT_OR_RUN_DIR --out DIR`: a sharded checkpoint (any world size) ->
// Hugging Face safetensors (fp32) + config.json (executor/checkpoint/export_checkpoint.h).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "executor/checkpoint/export_checkpoint.h"
#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

void register_export_command(CLI::App& app, CliContext& context) {
  struct Flags {
    std::string checkpoint, out;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("export", "Consolidate a sharded checkpoint into Hugging Face safetensors (fp32)");
  cmd->add_option("checkpoint", flags->checkpoint, "Checkpoint dir, checkpoints/ dir or run dir (its latest)")
      ->required();
  cmd->add_option("--out", flags->out, "Output folder (model.safetensors + config.json)")->required();
  cmd->callback([flags, &context] {
    const auto s = executor::export_consolidated(flags->checkpoint, flags->out);
    std::printf("%s\n", fmt::format("exported {} ({} ranks, step {}): {} tensors, {} parameters (fp32) -> {}",
                                    s.checkpoint, s.world, s.step, s.tensors, s.parameters, flags->out)
                            .c_str());
    context.exit_code = 0;
  });
}

}  // namespace zeroplan::cli
