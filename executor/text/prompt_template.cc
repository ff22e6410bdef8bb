#include "executor/text/prompt_template.h"

#include <fmt/format.h>

#include <cctype>
#include <set>
#include <vector>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::text {
namespace {

PromptTemplate alpaca() {
  return PromptTemplate{
      .prompt = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
      .prompt_no_input = "### Instruction:\n{instruction}\n\n### Response:\n",
      .system = "### System:\n{content}\n\n",
      .user = "### User:\n{content}\n\n",
      .assistant_prefix = "### Assistant:\n",
      .assistant_suffix = "",
      .turn_separator = "\n\n",
  };
}

PromptTemplate chatml() {
  return PromptTemplate{
      .prompt = "<|im_start|>user\n{instruction}\n\n{input}<|im_end|>\n<|im_start|>assistant\n",
      .prompt_no_input = "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n",
      .system = "<|im_start|>system\n{content}<|im_end|>\n",
      .user = "<|im_start|>user\n{content}<|im_end|>\n",
      .assistant_prefix = "<|im_start|>assistant\n",
      .assistant_suffix = "<|im_end|>",
      .turn_separator = "\n",
  };
}

// Names of the {placeholders} in a pattern ("{" not followed by name + "}" is literal text).
std::vector<std::string> placeholders(const std::string& pattern) {
  std::vector<std::string> names;
  for (std::size_t pos = pattern.find('{'); pos != std::string::npos; pos = pattern.find('{', pos + 1)) {
    const std::size_t close = pattern.find('}', pos);
    if (close == std::string::npos) break;
    const std::string name = pattern.substr(pos + 1, close - pos - 1);
    bool identifier = !name.empty();
    for (char c : name) identifier = identifier && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (identifier) names.push_back(name);
  }
  return names;
}

void check_placeholders(JsonFields& f, const std::string& key, const std::string& value,
                        const std::set<std::string>& allowed, const std::set<std::string>& required) {
  std::set<std::string> seen;
  for (const auto& name : placeholders(value)) {
    if (!allowed.count(name)) f.fail(key, fmt::format("has unknown placeholder {{{}}}", name));
    seen.insert(name);
  }
  for (const auto& name : required) {
    if (!seen.count(name)) f.fail(key, fmt::format("must contain {{{}}}", name));
  }
}

PromptTemplate read_template_file(const std::string& path) {
  const auto json = read_json_file(path);
  JsonFields f(json, path);
  PromptTemplate t = alpaca();
  const auto read = [&](const char* key, std::string& value, const std::set<std::string>& allowed,
                        const std::set<std::string>& required) {
    value = f.optional_string(key, value);
    check_placeholders(f, key, value, allowed, required);
  };
  read("prompt", t.prompt, {"instruction", "input"}, {"instruction", "input"});
  read("prompt_no_input", t.prompt_no_input, {"instruction"}, {"instruction"});
  read("system", t.system, {"content"}, {"content"});
  read("user", t.user, {"content"}, {"content"});
  read("assistant_prefix", t.assistant_prefix, {}, {});
  read("assistant_suffix", t.assistant_suffix, {}, {});
  read("turn_separator", t.turn_separator, {}, {});
  f.ignore("comment");
  f.reject_unknown();
  return t;
}

}  // namespace

PromptTemplate load_prompt_template(const std::string& name_or_path) {
  if (name_or_path == "alpaca") return alpaca();
  if (name_or_path == "chatml") return chatml();
  if (name_or_path.size() > 5 && name_or_path.ends_with(".json")) return read_template_file(name_or_path);
  throw InputError(fmt::format("SFT template \"{}\" is unknown (use alpaca, chatml or a template .json file)", name_or_path));
}

std::string render_template(const std::string& pattern, const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    const std::size_t open = pattern.find('{', pos);
    if (open == std::string::npos) break;
    const std::size_t close = pattern.find('}', open);
    if (close == std::string::npos) break;
    const auto it = values.find(pattern.substr(open + 1, close - open - 1));
    if (it == values.end()) {  // literal '{'
      out.append(pattern, pos, open + 1 - pos);
      pos = open + 1;
      continue;
    }
    out.append(pattern, pos, open - pos);
    out += it->second;
    pos = close + 1;
  }
  out.append(pattern, pos, std::string::npos);
  return out;
}

}  // namespace zeroplan::text
