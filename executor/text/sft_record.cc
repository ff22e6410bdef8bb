#include "executor/text/sft_record.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace zeroplan::text {
namespace {

using nlohmann::json;

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

std::string string_field(const json& object, const std::string& key, const std::string& path, bool required) {
  if (!object.contains(key)) {
    if (required) throw SftLineError(fmt::format("field \"{}\" is missing", path));
    return "";
  }
  const json& v = object.at(key);
  if (!v.is_string()) throw SftLineError(fmt::format("field \"{}\" must be a string (got {})", path, v.type_name()));
  return v.get<std::string>();
}

SftRecord parse_alpaca(const json& j) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "instruction" && it.key() != "input" && it.key() != "output") {
      throw SftLineError(fmt::format("unknown field \"{}\" (Alpaca lines have instruction, input, output; chat lines have messages)", it.key()));
    }
  }
  SftRecord r;
  r.instruction = string_field(j, "instruction", "instruction", true);
  r.input = string_field(j, "input", "input", false);
  r.output = string_field(j, "output", "output", true);
  if (is_blank(r.instruction)) throw SftLineError("field \"instruction\" is empty");
  if (is_blank(r.output)) throw SftLineError("field \"output\" is empty (nothing to train on)");
  return r;
}

SftRecord parse_chat(const json& j) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "messages") throw SftLineError(fmt::format("unknown field \"{}\" (a chat line has only messages)", it.key()));
  }
  const json& messages = j.at("messages");
  if (!messages.is_array() || messages.empty()) throw SftLineError("field \"messages\" must be a non-empty array");
  SftRecord r;
  r.is_chat = true;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string path = fmt::format("messages[{}]", i);
    const json& m = messages[i];
    if (!m.is_object()) throw SftLineError(fmt::format("field \"{}\" must be an object with role and content", path));
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it.key() != "role" && it.key() != "content") throw SftLineError(fmt::format("unknown field \"{}.{}\"", path, it.key()));
    }
    const std::string role = string_field(m, "role", path + ".role", true);
    ChatMessage message{ChatMessage::Role::kUser, string_field(m, "content", path + ".content", true)};
    if (role == "system") {
      if (i != 0) throw SftLineError(fmt::format("field \"{}.role\": a system message must come first", path));
      message.role = ChatMessage::Role::kSystem;
    } else if (role == "assistant") {
      message.role = ChatMessage::Role::kAssistant;
      if (is_blank(message.content)) throw SftLineError(fmt::format("field \"{}.content\" is empty (an assistant turn to train on)", path));
    } else if (role != "user") {
      throw SftLineError(fmt::format("field \"{}.role\" is \"{}\" (use system, user or assistant)", path, role));
    }
    r.messages.push_back(std::move(message));
  }
  if (r.messages.back().role != ChatMessage::Role::kAssistant) {
    throw SftLineError("the last message must have role \"assistant\" (nothing to train on after it)");
  }
  return r;
}

}  // namespace

SftRecord parse_sft_line(std::string_view line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    const auto pos = what.find("parse error at line 1, ");
    if (pos != std::string::npos) what = what.substr(pos + 23);
    throw SftLineError(fmt::format("not valid JSON ({})", what));
  }
  if (!j.is_object()) throw SftLineError(fmt::format("expected a JSON object, got {}", j.type_name()));
  if (j.contains("messages")) return parse_chat(j);
  return parse_alpaca(j);
}

}  // namespace zeroplan::text
