#pragma once
// SFT prompt templates: how an Alpaca record or a chat conversation becomes text, and which parts
// are trained (labels) and which are prompt (labels -100).
//
// Alpaca line {"instruction", "input", "output"}:
//   [BOS] prompt (or prompt_no_input when input is empty)  -> masked
//         output + assistant_suffix [EOS]                   -> trained
// Chat line {"messages": [{"role": "system"|"user"|"assistant", "content"}...]}:
//   [BOS] system / user turns rendered with their template  -> masked
//         assistant: assistant_prefix                       -> masked
//                    content + assistant_suffix [EOS]       -> trained
//                    turn_separator (unless last turn)      -> masked
// Built-in templates ("alpaca" is the default):
//   alpaca  prompt          "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
//           prompt_no_input "### Instruction:\n{instruction}\n\n### Response:\n"
//           system "### System:\n{content}\n\n", user "### User:\n{content}\n\n",
//           assistant_prefix "### Assistant:\n", assistant_suffix "", turn_separator "\n\n"
//   chatml  ChatML as Qwen2 writes it: "<|im_start|>user\n{content}<|im_end|>\n", assistant_prefix
//           "<|im_start|>assistant\n", assistant_suffix "<|im_end|>", turn_separator "\n"; Alpaca
//           records become one user turn ("{instruction}\n\n{input}").
// A custom template is a JSON file (the name ends in .json) with any of the seven keys above; keys
// left out keep the alpaca value, unknown keys and unknown {placeholders} are errors.
#include <map>
#include <string>

namespace zeroplan::text {

struct PromptTemplate {
  std::string prompt;           // {instruction}, {input}
  std::string prompt_no_input;  // {instruction}
  std::string system;           // {content}
  std::string user;             // {content}
  std::string assistant_prefix;
  std::string assistant_suffix;
  std::string turn_separator;
};

// "alpaca", "chatml" or a path to a template .json; InputError otherwise.
PromptTemplate load_prompt_template(const std::string& name_or_path);

// Replaces each {name} of `pattern` by values.at(name) in one pass (values are not re-scanned).
std::string render_template(const std::string& pattern, const std::map<std::string, std::string>& values);

}  // namespace zeroplan::text
