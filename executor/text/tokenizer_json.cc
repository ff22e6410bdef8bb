#include "executor/text/tokenizer_json.h"

#include <fmt/format.h>

#include <filesystem>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::text {
namespace {

using nlohmann::json;

std::string type_of(JsonFields& f) { return f.string("type"); }

void reject_null_or_empty(JsonFields& f, const std::string& key, const std::string& why) {
  if (f.has(key)) {
    const auto& v = f.raw(key);
    if (!(v.is_string() && v.get<std::string>().empty())) f.fail(key, why);
  }
  f.ignore(key);
}

void read_byte_level(JsonFields& f, BpeTokenizerConfig& config) {
  config.add_prefix_space = f.optional_boolean("add_prefix_space", false);
  config.byte_level_regex = f.optional_boolean("use_regex", true);
  f.ignore("trim_offsets");  // offsets only, never ids
  f.reject_unknown();
}

void read_split(JsonFields& f, BpeTokenizerConfig& config) {
  RegexSplit split;
  split.field = f.field_path("pattern");
  JsonFields pattern = f.object("pattern");
  if (pattern.has("Regex")) {
    split.pattern = pattern.string("Regex");
  } else if (pattern.has("String")) {
    split.pattern = pattern.string("String");
    split.literal = true;
  } else {
    f.fail("pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
  }
  pattern.reject_unknown();
  const std::string behavior = f.string("behavior");
  if (behavior == "Removed") {
    split.remove_matches = true;
  } else if (behavior != "Isolated") {
    f.fail("behavior", fmt::format("\"{}\" is not supported (only Isolated and Removed)", behavior));
  }
  if (f.optional_boolean("invert", false)) f.fail("invert", "true is not supported");
  f.reject_unknown();
  config.splits.push_back(std::move(split));
}

void read_pre_tokenizer(const json& root, const std::string& path, BpeTokenizerConfig& config) {
  JsonFields top(root, path);
  if (!top.has("pre_tokenizer")) {
    throw InputError(fmt::format("{}: field \"pre_tokenizer\" is missing: only byte-level BPE tokenizer.json files "
                                 "are supported (use the model's tokenizer.model for SentencePiece models)", path));
  }
  JsonFields pre = top.object("pre_tokenizer");
  const std::string type = type_of(pre);
  if (type == "ByteLevel") {
    read_byte_level(pre, config);
    return;
  }
  if (type != "Sequence") pre.fail("type", fmt::format("\"{}\" is not supported (ByteLevel or Sequence[Split..., ByteLevel])", type));
  const json& steps = pre.raw("pretokenizers");
  if (!steps.is_array() || steps.empty()) pre.fail("pretokenizers", "must be a non-empty array");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    JsonFields step(steps[i], path, fmt::format("pre_tokenizer.pretokenizers[{}]", i));
    const std::string step_type = type_of(step);
    const bool last = i + 1 == steps.size();
    if (step_type == "Split" && !last) {
      read_split(step, config);
    } else if (step_type == "ByteLevel" && last) {
      read_byte_level(step, config);
    } else {
      step.fail("type", fmt::format("\"{}\" is not supported here (supported: Split steps, then ByteLevel last)", step_type));
    }
  }
  pre.reject_unknown();
}

void read_model(JsonFields& model, BpeTokenizerConfig& config) {
  if (model.has("type") && model.string("type") != "BPE") {
    model.fail("type", fmt::format("\"{}\" is not supported (only BPE)", model.string("type")));
  }
  model.ignore("type");
  if (model.has("dropout") && model.number("dropout") != 0.0) model.fail("dropout", "is not supported (must be null)");
  model.ignore("dropout");
  reject_null_or_empty(model, "continuing_subword_prefix", "is not supported (must be null)");
  reject_null_or_empty(model, "end_of_word_suffix", "is not supported (must be null)");
  if (model.optional_boolean("byte_fallback", false)) {
    model.fail("byte_fallback", "true is not supported (a SentencePiece-style BPE: use the model's tokenizer.model)");
  }
  config.ignore_merges = model.optional_boolean("ignore_merges", false);
  // unk_token and fuse_unk only matter for symbols missing from the vocab, and a byte-level vocab
  // has all 256 (checked below).
  model.ignore("unk_token");
  model.ignore("fuse_unk");

  const json& vocab = model.raw("vocab");
  if (!vocab.is_object()) model.fail("vocab", "must be an object {token: id}");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX) {
      model.fail("vocab", fmt::format("entry \"{}\" must map to a non-negative integer id", it.key()));
    }
    config.vocab.emplace(it.key(), it.value().get<int32_t>());
  }
  const json& merges = model.raw("merges");
  if (!merges.is_array()) model.fail("merges", "must be an array");
  config.merges.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos) {
        model.fail("merges", fmt::format("entry {} (\"{}\") must be two tokens separated by one space", i, s));
      }
      config.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      config.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      model.fail("merges", fmt::format("entry {} must be \"a b\" or [\"a\", \"b\"]", i));
    }
  }
  model.reject_unknown();
}

void read_added_tokens(const json& tokens, const std::string& path, BpeTokenizerConfig& config) {
  if (!tokens.is_array()) throw InputError(fmt::format("{}: field \"added_tokens\" must be an array", path));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    JsonFields f(tokens[i], path, fmt::format("added_tokens[{}]", i));
    AddedToken t;
    const int64_t id = f.integer("id");
    if (id < 0 || id > INT32_MAX) f.fail("id", "must be a non-negative 32-bit id");
    t.id = static_cast<int32_t>(id);
    t.content = f.string("content");
    if (t.content.empty()) f.fail("content", "must not be empty");
    if (f.optional_boolean("single_word", false)) f.fail("single_word", "true is not supported");
    t.lstrip = f.optional_boolean("lstrip", false);
    t.rstrip = f.optional_boolean("rstrip", false);
    t.special = f.optional_boolean("special", false);
    t.normalized = f.optional_boolean("normalized", !t.special);  // Hugging Face's default
    f.reject_unknown();
    config.added_tokens.push_back(std::move(t));
  }
}

int32_t find_token(const BpeTokenizerConfig& config, const std::string& content) {
  for (const auto& t : config.added_tokens) {
    if (t.content == content) return t.id;
  }
  const auto it = config.vocab.find(content);
  return it == config.vocab.end() ? -1 : it->second;
}

int32_t bos_from_post_processor(const json& root, const BpeTokenizerConfig& config) {
  if (!root.contains("post_processor") || !root["post_processor"].is_object()) return -1;
  const json& pp = root["post_processor"];
  if (pp.value("type", "") != "TemplateProcessing" || !pp.contains("single") || !pp["single"].is_array() ||
      pp["single"].empty()) {
    return -1;
  }
  const json& first = pp["single"][0];
  if (!first.contains("SpecialToken") || !first["SpecialToken"].contains("id")) return -1;
  return find_token(config, first["SpecialToken"]["id"].get<std::string>());
}

int32_t first_present(const BpeTokenizerConfig& config, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const int32_t id = find_token(config, name);
    if (id >= 0) return id;
  }
  return -1;
}

// tokenizer_config.json tokens are a string, {"content": ...} or null.
int32_t config_token(const json& cfg, const std::string& key, const std::string& cfg_path,
                     const BpeTokenizerConfig& config, int32_t fallback) {
  if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
  const json& v = cfg[key];
  std::string content;
  if (v.is_string()) {
    content = v.get<std::string>();
  } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    content = v["content"].get<std::string>();
  } else {
    throw InputError(fmt::format("{}: field \"{}\" must be a string or {{\"content\": ...}}", cfg_path, key));
  }
  const int32_t id = find_token(config, content);
  if (id < 0) {
    throw InputError(fmt::format("{}: field \"{}\": token \"{}\" is not in {}", cfg_path, key, content, config.source));
  }
  return id;
}

void read_special_ids(const json& root, BpeTokenizerConfig& config) {
  config.bos_id = bos_from_post_processor(root, config);
  if (config.bos_id < 0) config.bos_id = first_present(config, {"<|begin_of_text|>", "<s>", "<|startoftext|>"});
  config.eos_id = first_present(config, {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>"});
  config.pad_id = first_present(config, {"<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>"});
  const auto cfg_path = (std::filesystem::path(config.source).parent_path() / "tokenizer_config.json").string();
  if (!std::filesystem::exists(cfg_path)) return;
  const json cfg = read_json_file(cfg_path);
  if (!cfg.is_object()) throw InputError(fmt::format("{}: expected a JSON object", cfg_path));
  // A tokenizer_config.json that says "no BOS" (null) is honoured: Qwen2 has none.
  config.bos_id = cfg.contains("bos_token") ? config_token(cfg, "bos_token", cfg_path, config, -1) : config.bos_id;
  config.eos_id = config_token(cfg, "eos_token", cfg_path, config, config.eos_id);
  config.pad_id = config_token(cfg, "pad_token", cfg_path, config, config.pad_id);
}

}  // namespace

BpeTokenizerConfig read_tokenizer_json(const std::string& path) {
  const json root = read_json_file(path);
  BpeTokenizerConfig config;
  config.source = path;
  JsonFields top(root, path);
  if (top.has("truncation")) top.fail("truncation", "is not supported (must be null; zeroplan truncates with --max-seq-len)");
  if (top.has("padding")) top.fail("padding", "is not supported (must be null; zeroplan pads per micro-batch)");
  if (top.has("normalizer")) {
    const json& n = top.raw("normalizer");
    const std::string type = n.is_object() && n.contains("type") && n["type"].is_string() ? n["type"].get<std::string>() : "?";
    if (type != "NFC" || n.size() != 1) top.fail("normalizer", fmt::format("type \"{}\" is not supported (only null or NFC)", type));
    config.nfc = true;
  }
  for (const char* key : {"version", "truncation", "padding", "normalizer", "pre_tokenizer", "post_processor"}) top.ignore(key);
  if (top.has("added_tokens")) read_added_tokens(top.raw("added_tokens"), path, config);
  top.ignore("added_tokens");
  JsonFields model = top.object("model");
  read_model(model, config);
  read_pre_tokenizer(root, path, config);
  JsonFields decoder = top.object("decoder");
  if (type_of(decoder) != "ByteLevel") decoder.fail("type", fmt::format("\"{}\" is not supported (only ByteLevel)", type_of(decoder)));
  top.reject_unknown();
  read_special_ids(root, config);
  return config;
}

}  // namespace zeroplan::text
