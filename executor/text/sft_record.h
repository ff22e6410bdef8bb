#pragma once
// One SFT JSONL line, parsed and checked (before tokenization).
//   Alpaca: {"instruction": str, "input": str (optional, may be ""), "output": str (not empty)}
//   Chat:   {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}
//           system only first; at least one assistant turn; the last turn is the assistant's;
//           assistant contents not empty.
// Unknown keys are errors (a "response" key instead of "output" is caught, not ignored).
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zeroplan::text {

struct ChatMessage {
  enum class Role { kSystem, kUser, kAssistant };
  Role role;
  std::string content;
};

struct SftRecord {
  bool is_chat = false;
  std::string instruction, input, output;  // Alpaca
  std::vector<ChatMessage> messages;       // chat
};

// What is wrong with a line, without the file:line prefix (the loader adds it).
class SftLineError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

SftRecord parse_sft_line(std::string_view line);

}  // namespace zeroplan::text
