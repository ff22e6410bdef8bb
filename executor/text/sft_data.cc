#include "executor/text/sft_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "executor/text/prompt_template.h"
#include "executor/text/sft_record.h"
#include "planner/error.h"

namespace zeroplan::text {
namespace {

// Builds one example segment by segment: masked segments get labels -100, trained ones their ids.
class ExampleBuilder {
 public:
  ExampleBuilder(const Tokenizer& tok, const SftDataOptions& options) : tok_(tok), options_(options) {}

  void text(const std::string& s, bool trained) {
    if (s.empty()) return;
    append(tok_.encode(s), trained);
  }
  void token(int32_t id, bool trained) { append({id}, trained); }
  SftExample take() { return std::move(example_); }

 private:
  void append(const std::vector<int32_t>& ids, bool trained) {
    example_.input_ids.insert(example_.input_ids.end(), ids.begin(), ids.end());
    if (trained || options_.train_on_prompt) {
      example_.labels.insert(example_.labels.end(), ids.begin(), ids.end());
    } else {
      example_.labels.insert(example_.labels.end(), ids.size(), kIgnoreLabel);
    }
  }
  const Tokenizer& tok_;
  const SftDataOptions& options_;
  SftExample example_;
};

SftExample build_example(const SftRecord& r, const PromptTemplate& t, const Tokenizer& tok, const SftDataOptions& o) {
  ExampleBuilder b(tok, o);
  if (o.add_bos && tok.bos_id() >= 0) b.token(tok.bos_id(), false);
  const auto response = [&](const std::string& content) {
    b.text(content + t.assistant_suffix, true);
    if (o.add_eos) b.token(tok.eos_id(), true);
  };
  if (!r.is_chat) {
    if (r.input.empty()) {
      b.text(render_template(t.prompt_no_input, {{"instruction", r.instruction}}), false);
    } else {
      b.text(render_template(t.prompt, {{"instruction", r.instruction}, {"input", r.input}}), false);
    }
    response(r.output);
    return b.take();
  }
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    const ChatMessage& m = r.messages[i];
    switch (m.role) {
      case ChatMessage::Role::kSystem:
        b.text(render_template(t.system, {{"content", m.content}}), false);
        break;
      case ChatMessage::Role::kUser:
        b.text(render_template(t.user, {{"content", m.content}}), false);
        break;
      case ChatMessage::Role::kAssistant:
        b.text(t.assistant_prefix, false);
        response(m.content);
        if (i + 1 < r.messages.size()) b.text(t.turn_separator, false);
        break;
    }
  }
  return b.take();
}

}  // namespace

int64_t SftDataset::tokens() const {
  int64_t n = 0;
  for (const auto& e : examples) n += static_cast<int64_t>(e.input_ids.size());
  return n;
}

int64_t SftDataset::label_tokens() const {
  int64_t n = 0;
  for (const auto& e : examples) n += std::count_if(e.labels.begin(), e.labels.end(), [](int32_t l) { return l != kIgnoreLabel; });
  return n;
}

SftDataset load_sft_jsonl(const std::string& path, const Tokenizer& tokenizer, const SftDataOptions& options) {
  if (options.max_seq_len < 2) throw InputError(fmt::format("max_seq_len must be at least 2 (got {})", options.max_seq_len));
  if (options.add_eos && tokenizer.eos_id() < 0) {
    throw InputError(fmt::format("{} has no EOS token; SFT data needs one after each response (or disable add_eos)", tokenizer.describe()));
  }
  const PromptTemplate templ = load_prompt_template(options.template_name);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read", path));

  SftDataset data;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    SftExample example;
    try {
      example = build_example(parse_sft_line(line), templ, tokenizer, options);
    } catch (const SftLineError& e) {
      if (options.skip_bad_lines) {
        ++data.skipped_bad_lines;
        continue;
      }
      throw InputError(fmt::format("{}:{}: {}; use --skip-bad-lines to skip and count such lines", path, line_no, e.what()));
    }
    if (static_cast<int64_t>(example.input_ids.size()) > options.max_seq_len) {
      example.input_ids.resize(static_cast<std::size_t>(options.max_seq_len));
      example.labels.resize(static_cast<std::size_t>(options.max_seq_len));
      ++data.truncated;
      // Label of token 0 is never predicted (shifted loss), so look from token 1 on.
      if (std::all_of(example.labels.begin() + 1, example.labels.end(), [](int32_t l) { return l == kIgnoreLabel; })) {
        ++data.truncated_to_no_labels;
      }
    }
    data.examples.push_back(std::move(example));
  }
  if (data.examples.empty()) {
    throw InputError(data.skipped_bad_lines > 0
                         ? fmt::format("{}: no usable examples ({} bad lines skipped)", path, data.skipped_bad_lines)
                         : fmt::format("{}: no examples (the file is empty)", path));
  }
  return data;
}

}  // namespace zeroplan::text
