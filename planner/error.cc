#include "planner/error.h"

#include <cstdio>
#include <cstdlib>

namespace zeroplan {

void assertion_failed(const char* expr, const char* file, int line, const char* hint) {
  std::fprintf(stderr, "zeroplan: internal error at %s:%d: assertion '%s' failed (%s)\n", file, line,
               expr, hint);
  std::abort();
}

}  // namespace zeroplan
