#include "tools/cli/cli_context.h"

#include <cstdlib>

namespace zeroplan::cli {

std::string default_configs_dir() {
  if (const char* env = std::getenv("ZEROPLAN_CONFIGS_DIR"); env && *env) return env;
  return ZEROPLAN_SOURCE_CONFIGS_DIR;
}

}  // namespace zeroplan::cli
