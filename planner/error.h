#pragma once
// Two error channels (architecture.md, "Errors"):
//  - InputError: an expected failure caused by what the user gave us (bad config, missing field,
//    impossible shape). Its message is one user-facing line naming the file and field; the CLI prints
//    "zeroplan: <message>" and exits 2.
//  - ZP_ASSERT: a bug in zeroplan. Prints file:line and a hint, then aborts.
#include <stdexcept>
#include <string>

namespace zeroplan {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const char* hint);

}  // namespace zeroplan

#define ZP_ASSERT(expr, hint)                                                 \
  do {                                                                        \
    if (!(expr)) ::zeroplan::assertion_failed(#expr, __FILE__, __LINE__, hint); \
  } while (0)
