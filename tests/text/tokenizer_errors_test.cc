// Bad or unsupported tokenizer files are one-line InputErrors naming the file and field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "executor/text/tokenizer.h"
#include "planner/error.h"

namespace zeroplan::text {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using nlohmann::json;

const std::string kDir = std::string(ZEROPLAN_SOURCE_DIR) + "/tests/fixtures/tokenizers/";

class BadTokenizerFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zeroplan_tok_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ifstream in(kDir + "llama3-like.json");
    good_ = json::parse(in);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  // Loads good_ after `edit`; returns the InputError message ("" when it loaded).
  std::string load_edited(const std::function<void(json&)>& edit) {
    json j = good_;
    edit(j);
    const std::string path = write("tokenizer.json", j.dump());
    try {
      load_tokenizer(path);
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  json good_;
};

TEST_F(BadTokenizerFile, TheUneditedCopyLoads) {
  EXPECT_EQ(load_edited([](json&) {}), "");
}

TEST_F(BadTokenizerFile, NormalizersOtherThanNfcAreRejected) {
  EXPECT_EQ(load_edited([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }), "");
  EXPECT_THAT(load_edited([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }),
              AllOf(HasSubstr("tokenizer.json: field \"normalizer\""), HasSubstr("NFKC"), HasSubstr("not supported")));
  // What a SentencePiece model converted to tokenizer.json (Llama 2) has.
  EXPECT_THAT(load_edited([](json& j) {
                j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "_"}}})}};
              }),
              HasSubstr("\"Sequence\" is not supported"));
}

TEST_F(BadTokenizerFile, OtherModelTypesAreRejected) {
  EXPECT_THAT(load_edited([](json& j) { j["model"]["type"] = "WordPiece"; }),
              AllOf(HasSubstr("field \"model.type\""), HasSubstr("WordPiece")));
  EXPECT_THAT(load_edited([](json& j) { j["model"]["byte_fallback"] = true; }), HasSubstr("field \"model.byte_fallback\""));
  EXPECT_THAT(load_edited([](json& j) { j["model"]["dropout"] = 0.1; }), HasSubstr("field \"model.dropout\""));
  EXPECT_THAT(load_edited([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }),
              HasSubstr("model.continuing_subword_prefix"));
  EXPECT_THAT(load_edited([](json& j) { j["model"].erase("merges"); }), HasSubstr("field \"model.merges\" is missing"));
}

TEST_F(BadTokenizerFile, PreTokenizerProblems) {
  EXPECT_THAT(load_edited([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; }),
              AllOf(HasSubstr("pre_tokenizer.pretokenizers[0].pattern"), HasSubstr("bad regex")));
  EXPECT_THAT(load_edited([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious"; }),
              AllOf(HasSubstr("pre_tokenizer.pretokenizers[0].behavior"), HasSubstr("MergedWithPrevious")));
  EXPECT_THAT(load_edited([](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; }), HasSubstr("Metaspace"));
  EXPECT_THAT(load_edited([](json& j) { j["pre_tokenizer"] = nullptr; }), HasSubstr("\"pre_tokenizer\" is missing"));
  EXPECT_THAT(load_edited([](json& j) {
                auto& steps = j["pre_tokenizer"]["pretokenizers"];
                std::swap(steps[0], steps[1]);
              }),
              HasSubstr("pre_tokenizer.pretokenizers[0].type"));
}

TEST_F(BadTokenizerFile, VocabularyProblems) {
  EXPECT_THAT(load_edited([](json& j) { j["model"]["vocab"].erase("\xC4\xA0"); }),  // 'Ġ' (space)
              AllOf(HasSubstr("model.vocab"), HasSubstr("0x20")));
  EXPECT_THAT(load_edited([](json& j) { j["model"]["merges"].push_back(json::array({"zzz", "q"})); }),
              AllOf(HasSubstr("model.merges"), HasSubstr("zzz q")));
  EXPECT_THAT(load_edited([](json& j) { j["model"]["merges"][0] = "nospace"; }), HasSubstr("model.merges\" entry 0"));
}

TEST_F(BadTokenizerFile, OtherFields) {
  EXPECT_THAT(load_edited([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }), HasSubstr("field \"decoder.type\""));
  EXPECT_THAT(load_edited([](json& j) { j["truncation"] = {{"max_length", 8}}; }), HasSubstr("field \"truncation\""));
  EXPECT_THAT(load_edited([](json& j) { j["added_tokens"][0]["single_word"] = true; }),
              HasSubstr("field \"added_tokens[0].single_word\""));
  EXPECT_THAT(load_edited([](json& j) { j["surprise"] = 1; }), HasSubstr("unknown field \"surprise\""));
}

TEST_F(BadTokenizerFile, TokenizerConfigBesideTheFile) {
  write("tokenizer_config.json", R"({"bos_token": null, "eos_token": {"content": "<|eot_id|>"}, "pad_token": "<|end_of_text|>"})");
  json j = good_;
  const auto tok = load_tokenizer(write("tokenizer.json", j.dump()));
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_EQ(tok->eos_id(), tok->token_id("<|eot_id|>"));
  EXPECT_EQ(tok->pad_id(), tok->token_id("<|end_of_text|>"));
  write("tokenizer_config.json", R"({"eos_token": "<|nope|>"})");
  EXPECT_THAT(load_edited([](json&) {}), AllOf(HasSubstr("tokenizer_config.json: field \"eos_token\""), HasSubstr("<|nope|>")));
}

TEST_F(BadTokenizerFile, FilesThatAreNotTokenizers) {
  const auto message = [](const std::string& path) {
    try {
      load_tokenizer(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(message(write("broken.json", "{\"model\": ")), AllOf(HasSubstr("broken.json"), HasSubstr("not valid JSON")));
  EXPECT_THAT(message(write("junk.model", "this is not a protobuf")), AllOf(HasSubstr("junk.model"), HasSubstr("not a SentencePiece model")));
  EXPECT_THAT(message(write("vocab.txt", "a\nb\n")), HasSubstr("unknown tokenizer kind"));
  EXPECT_THAT(message((dir_ / "missing.model").string()), HasSubstr("not found"));
  fs::create_directories(dir_ / "empty");
  EXPECT_THAT(message((dir_ / "empty").string()), HasSubstr("no tokenizer.json or tokenizer.model"));
}

TEST(TokenizerInput, InvalidUtf8AndBadIds) {
  for (const char* file : {"llama3-like.json", "sp-bpe.model"}) {
    const auto tok = load_tokenizer(kDir + file);
    EXPECT_THROW(tok->encode("ok \xFF bad"), InputError) << file;
    EXPECT_THROW(tok->decode({0, static_cast<int32_t>(tok->vocab_size())}), InputError) << file;
    EXPECT_THROW(tok->decode({-1}), InputError) << file;
  }
}

TEST(TokenizerInput, DirectoryPicksTokenizerJsonFirst) {
  const auto dir = fs::temp_directory_path() / ("zeroplan_tok_dir_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kDir + "sp-bpe.model", dir / "tokenizer.model", fs::copy_options::overwrite_existing);
  EXPECT_THAT(load_tokenizer(dir.string())->describe(), HasSubstr("SentencePiece"));
  fs::copy_file(kDir + "qwen2-like.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  EXPECT_THAT(load_tokenizer(dir.string())->describe(), HasSubstr("byte-level BPE"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace zeroplan::text
