// SFT data: label masking (hand-checked with a byte-per-token tokenizer), templates, BOS/EOS,
// truncation, and every kind of bad line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "executor/text/prompt_template.h"
#include "executor/text/sft_data.h"
#include "planner/error.h"
#include "tests/text/fake_tokenizer.h"

namespace zeroplan::text {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::ByteTokenizer;
using testing::bytes;

std::vector<int32_t> masked(std::size_t n) { return std::vector<int32_t>(n, kIgnoreLabel); }
std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class SftFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("zeroplan_sft_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& content, const std::string& name = "data.jsonl") {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  SftDataset load(const std::string& content, SftDataOptions options = {.max_seq_len = 4096}) {
    return load_sft_jsonl(write(content), tok_, options);
  }
  // The InputError message of loading `content` ("" when it loads).
  std::string error_of(const std::string& content, SftDataOptions options = {.max_seq_len = 4096}) {
    try {
      load(content, options);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
  ByteTokenizer tok_;
};

TEST_F(SftFile, AlpacaWithInputMasksThePrompt) {
  const auto data = load(R"({"instruction": "Add", "input": "1 2", "output": "3"})" "\n");
  ASSERT_EQ(data.examples.size(), 1u);
  const std::string prompt = "### Instruction:\nAdd\n\n### Input:\n1 2\n\n### Response:\n";
  EXPECT_EQ(data.examples[0].input_ids, cat({{1}, bytes(prompt), bytes("3"), {2}}));
  EXPECT_EQ(data.examples[0].labels, cat({masked(1 + prompt.size()), bytes("3"), {2}}));
  EXPECT_EQ(data.label_tokens(), 2);
  EXPECT_EQ(data.truncated, 0);
}

TEST_F(SftFile, AlpacaWithoutInputOmitsTheInputBlock) {
  for (const char* line : {R"({"instruction": "Hi", "output": "Yo"})", R"({"instruction": "Hi", "input": "", "output": "Yo"})"}) {
    const auto data = load(std::string(line) + "\n");
    const std::string prompt = "### Instruction:\nHi\n\n### Response:\n";
    EXPECT_EQ(data.examples[0].input_ids, cat({{1}, bytes(prompt), bytes("Yo"), {2}})) << line;
    EXPECT_EQ(data.examples[0].labels, cat({masked(1 + prompt.size()), bytes("Yo"), {2}})) << line;
  }
}

TEST_F(SftFile, TrainOnPromptAndBosEosSwitches) {
  const std::string line = R"({"instruction": "Hi", "output": "Yo"})" "\n";
  const auto all = load(line, {.max_seq_len = 4096, .train_on_prompt = true});
  EXPECT_EQ(all.examples[0].labels, all.examples[0].input_ids);
  const auto bare = load(line, {.max_seq_len = 4096, .add_bos = false, .add_eos = false});
  EXPECT_EQ(bare.examples[0].input_ids, cat({bytes("### Instruction:\nHi\n\n### Response:\n"), bytes("Yo")}));
  // A tokenizer without BOS (Qwen2) simply starts with the prompt; without EOS it is an error.
  ByteTokenizer no_bos(-1, 2), no_eos(1, -1);
  EXPECT_EQ(load_sft_jsonl(write(line), no_bos, {.max_seq_len = 99}).examples[0].input_ids.front(), '#' + 10);
  EXPECT_THROW(load_sft_jsonl(write(line), no_eos, {.max_seq_len = 99}), InputError);
  EXPECT_NO_THROW(load_sft_jsonl(write(line), no_eos, {.max_seq_len = 99, .add_eos = false}));
}

TEST_F(SftFile, ChatTrainsAssistantTurnsOnly) {
  const auto data = load(
      R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},)"
      R"( {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}, {"role": "assistant", "content": "A2"}]})"
      "\n");
  const std::string sys = "### System:\nS\n\n", u1 = "### User:\nU1\n\n", u2 = "### User:\nU2\n\n", ap = "### Assistant:\n";
  EXPECT_EQ(data.examples[0].input_ids,
            cat({{1}, bytes(sys), bytes(u1), bytes(ap), bytes("A1"), {2}, bytes("\n\n"), bytes(u2), bytes(ap), bytes("A2"), {2}}));
  EXPECT_EQ(data.examples[0].labels,
            cat({masked(1 + sys.size() + u1.size() + ap.size()), bytes("A1"), {2},
                 masked(2 + u2.size() + ap.size()), bytes("A2"), {2}}));
}

TEST_F(SftFile, ChatmlTemplateWithSpecialTokens) {
  const auto tok = load_tokenizer(std::string(ZEROPLAN_SOURCE_DIR) + "/tests/fixtures/tokenizers/qwen2-like.json");
  const auto data = load_sft_jsonl(write(R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})" "\n"),
                                   *tok, {.max_seq_len = 512, .template_name = "chatml"});
  const int32_t start = tok->token_id("<|im_start|>"), end = tok->token_id("<|im_end|>");
  const auto prompt = tok->encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const auto answer = tok->encode("Hello<|im_end|>");
  EXPECT_EQ(prompt.front(), start);
  EXPECT_EQ(answer.back(), end);
  // No BOS in a Qwen2-style tokenizer; EOS (<|endoftext|>) after the answer.
  EXPECT_EQ(data.examples[0].input_ids, cat({prompt, answer, {tok->eos_id()}}));
  EXPECT_EQ(data.examples[0].labels, cat({masked(prompt.size()), answer, {tok->eos_id()}}));
}

TEST_F(SftFile, TruncationKeepsTheHeadAndCounts) {
  const std::string lines = R"({"instruction": "a", "output": "short"})" "\n"
                            R"({"instruction": "b", "output": "a much longer response that will not fit"})" "\n"
                            R"({"instruction": "a very long instruction that fills the window by itself", "output": "x"})" "\n";
  const auto data = load(lines, {.max_seq_len = 48});  // prompts "### Instruction:\nX\n\n### Response:\n" are 34 bytes
  ASSERT_EQ(data.examples.size(), 3u);
  EXPECT_EQ(data.truncated, 2);
  EXPECT_EQ(data.truncated_to_no_labels, 1);
  EXPECT_EQ(data.examples[0].input_ids.size(), 1 + std::string("### Instruction:\na\n\n### Response:\n").size() + 5 + 1);
  for (std::size_t i : {1u, 2u}) {
    EXPECT_EQ(data.examples[i].input_ids.size(), 48u);
    EXPECT_EQ(data.examples[i].labels.size(), 48u);
  }
  EXPECT_EQ(data.examples[1].labels.back(), 'r' + 10);  // 48 - 35 = 13 response bytes: "a much longer"
  EXPECT_EQ(data.examples[1].labels[35], 'a' + 10);
  EXPECT_THROW(load(lines, {.max_seq_len = 1}), InputError);
}

TEST_F(SftFile, BlankLinesAndCrlfAreFine) {
  const auto data = load("\n" R"({"instruction": "a", "output": "b"})" "\r\n   \n" R"({"instruction": "c", "output": "d"})");
  EXPECT_EQ(data.examples.size(), 2u);
}

struct BadLine {
  const char* line;
  const char* what;
};

class SftBadLine : public SftFile, public ::testing::WithParamInterface<BadLine> {};

TEST_P(SftBadLine, NamesFileAndLineAndHintsSkip) {
  const std::string good = R"({"instruction": "ok", "output": "fine"})";
  const std::string path = write(good + "\n\n" + GetParam().line + "\n" + good + "\n");
  try {
    load_sft_jsonl(path, tok_, {.max_seq_len = 512});
    ADD_FAILURE() << "accepted: " << GetParam().line;
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(path + ":3: "), HasSubstr(GetParam().what), HasSubstr("--skip-bad-lines")));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  const auto data = load_sft_jsonl(path, tok_, {.max_seq_len = 512, .skip_bad_lines = true});
  EXPECT_EQ(data.examples.size(), 2u);
  EXPECT_EQ(data.skipped_bad_lines, 1);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, SftBadLine,
    ::testing::Values(
        BadLine{R"({"instruction": "x", "output": )", "not valid JSON"},
        BadLine{"not json at all", "not valid JSON"},
        BadLine{R"(["instruction", "output"])", "expected a JSON object, got array"},
        BadLine{R"({"input": "x", "output": "y"})", "field \"instruction\" is missing"},
        BadLine{R"({"instruction": "x"})", "field \"output\" is missing"},
        BadLine{R"({"instruction": "x", "output": 5})", "field \"output\" must be a string (got number)"},
        BadLine{R"({"instruction": ["x"], "output": "y"})", "field \"instruction\" must be a string"},
        BadLine{R"({"instruction": "x", "input": null, "output": "y"})", "field \"input\" must be a string"},
        BadLine{R"({"instruction": "x", "output": ""})", "field \"output\" is empty"},
        BadLine{R"({"instruction": "x", "output": "  \n"})", "field \"output\" is empty"},
        BadLine{R"({"instruction": "", "output": "y"})", "field \"instruction\" is empty"},
        BadLine{R"({"instruction": "x", "response": "y", "output": "z"})", "unknown field \"response\""},
        BadLine{R"({"messages": "hi"})", "field \"messages\" must be a non-empty array"},
        BadLine{R"({"messages": []})", "field \"messages\" must be a non-empty array"},
        BadLine{R"({"messages": [{"role": "bot", "content": "x"}]})", "field \"messages[0].role\" is \"bot\""},
        BadLine{R"({"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]})", "field \"messages[0].content\" is missing"},
        BadLine{R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]})", "field \"messages[1].content\" is empty"},
        BadLine{R"({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "y"}]})", "a system message must come first"},
        BadLine{R"({"messages": [{"role": "user", "content": "x"}]})", "the last message must have role \"assistant\""},
        BadLine{R"({"messages": [{"role": "user", "content": "x", "name": "n"}, {"role": "assistant", "content": "y"}]})", "unknown field \"messages[0].name\""},
        BadLine{R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "id": 3})", "unknown field \"id\""},
        BadLine{"{\"instruction\": \"bad \xFF utf8\", \"output\": \"y\"}", "not valid JSON"}));

TEST_F(SftFile, FileLevelErrors) {
  EXPECT_THAT(error_of(""), HasSubstr("no examples (the file is empty)"));
  EXPECT_THAT(error_of("oops\n", {.max_seq_len = 64, .skip_bad_lines = true}), HasSubstr("no usable examples (1 bad lines skipped)"));
  EXPECT_THROW(load_sft_jsonl((dir_ / "missing.jsonl").string(), tok_, {.max_seq_len = 64}), InputError);
  EXPECT_THAT(error_of(R"({"instruction": "a", "output": "b"})", {.max_seq_len = 64, .template_name = "vicuna"}),
              HasSubstr("SFT template \"vicuna\" is unknown"));
}

TEST_F(SftFile, CustomTemplateFile) {
  const std::string templ = write(R"({"prompt": "Q: {instruction} [{input}]\nA: ", "prompt_no_input": "Q: {instruction}\nA: "})", "t.json");
  const auto data = load(R"({"instruction": "{input}", "input": "i", "output": "o"})" "\n",
                         {.max_seq_len = 512, .template_name = templ});
  // One-pass substitution: the instruction's literal "{input}" stays as written.
  EXPECT_EQ(data.examples[0].input_ids, cat({{1}, bytes("Q: {input} [i]\nA: "), bytes("o"), {2}}));
  EXPECT_THAT(error_of("{}", {.max_seq_len = 64, .template_name = write(R"({"promt": "x"})", "typo.json")}),
              HasSubstr("unknown field \"promt\""));
  EXPECT_THAT(error_of("{}", {.max_seq_len = 64, .template_name = write(R"({"user": "{text}"})", "ph.json")}),
              AllOf(HasSubstr("field \"user\""), HasSubstr("unknown placeholder {text}")));
  EXPECT_THAT(error_of("{}", {.max_seq_len = 64, .template_name = write(R"({"prompt": "{instruction}"})", "req.json")}),
              HasSubstr("must contain {input}"));
}

TEST(PromptTemplate, RenderLeavesUnknownBracesAlone) {
  EXPECT_EQ(render_template("f({x}) = {y} {", {{"x", "1"}, {"y", "{x}"}}), "f(1) = {x} {");
  EXPECT_EQ(render_template("{a}{b}", {{"a", "A"}}), "A{b}");
}

}  // namespace
}  // namespace zeroplan::text
