#!/usr/bin/env python3
"""Makes the tokenizer fixtures that the C++ tokenizer tests compare against (no model hub needed).

Trains, on tests/fixtures/tokenizers/train_corpus.txt (English, Chinese, emoji, code, whitespace runs):
  llama3-like.json  byte-level BPE, Llama-3 Split regex, ignore_merges, specials appended after the
                    vocabulary (<|begin_of_text|> ...), TemplateProcessing post-processor, [a, b] merges
  qwen2-like.json   byte-level BPE, Qwen2 Split regex (single digits), NFC normalizer, <|endoftext|>
                    at id 0, <|im_start|>/<|im_end|> appended, a non-special added token [[note]],
                    "a b" string merges
  gpt2-like.json    byte-level BPE with the ByteLevel pre-tokenizer's own regex and add_prefix_space
  sp-bpe.model      SentencePiece BPE with byte fallback (Llama-2 style: identity normalization,
                    dummy prefix, split digits, unk=0 bos=1 eos=2)
then encodes every line of test_texts.jsonl with the Python `tokenizers` / `sentencepiece` packages
(no special tokens added) and writes expected_<name>.jsonl: {"text", "ids", "decoded"} per line, and
fixtures.json describing each tokenizer.

With --tiny-sp it also trains configs/tokenizers/tiny-sp.model (vocab 2000) on the sample SFT data
(configs/data/sample-*.jsonl) plus the fixture corpus, for the sample training run.

Needs: ./tools/setup.sh --reference   (tokenizers, sentencepiece in .venv)
Run:   .venv/bin/python tools/make_tokenizer_fixtures.py [--tiny-sp]
"""
import argparse
import json
import os
import tempfile

import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tokenizers")

# The pre-tokenizer regexes of the real Llama 3 and Qwen2 tokenizer.json files.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_bpe(pre_tokenizer, vocab_size, trainer_specials, appended_specials, ignore_merges, nfc=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=trainer_specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([os.path.join(FIXTURES, "train_corpus.txt")], trainer)
    tok.add_special_tokens(appended_specials)
    return tok


def split_then_bytes(pattern):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def save_with_string_merges(tok, path):
    """Rewrites merges as "a b" strings (the older tokenizer.json format, e.g. most Qwen2 files)."""
    data = json.loads(tok.to_str())
    data["model"]["merges"] = [a + " " + b for a, b in data["model"]["merges"]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)


def read_texts():
    with open(os.path.join(FIXTURES, "test_texts.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def write_expected(name, encode, decode):
    with open(os.path.join(FIXTURES, f"expected_{name}.jsonl"), "w", encoding="utf-8") as f:
        for text in read_texts():
            ids = encode(text)
            f.write(json.dumps({"text": text, "ids": ids, "decoded": decode(ids)}, ensure_ascii=False) + "\n")


def make_hf(meta):
    llama3 = byte_level_bpe(split_then_bytes(LLAMA3_PATTERN), 700, [],
                            ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                             "<|end_header_id|>", "<|eot_id|>"], ignore_merges=True)
    bos = llama3.token_to_id("<|begin_of_text|>")
    llama3.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)])
    qwen2 = byte_level_bpe(split_then_bytes(QWEN2_PATTERN), 600, ["<|endoftext|>"],
                           ["<|im_start|>", "<|im_end|>"], ignore_merges=False, nfc=True)
    qwen2.add_tokens(["[[note]]"])  # not special: normalized=True, matched after NFC
    gpt2 = byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), 500,
                          ["<|endoftext|>"], [], ignore_merges=False)

    files = {"llama3-like": llama3, "qwen2-like": qwen2, "gpt2-like": gpt2}
    for name, tok in files.items():
        path = os.path.join(FIXTURES, f"{name}.json")
        if name == "qwen2-like":
            save_with_string_merges(tok, path)
        else:
            tok.save(path, pretty=True)
        loaded = Tokenizer.from_file(path)  # what the C++ side reads
        write_expected(name, lambda t: loaded.encode(t, add_special_tokens=False).ids,
                       lambda ids: loaded.decode(ids, skip_special_tokens=False))
        meta[name] = {"file": f"{name}.json", "vocab_size": loaded.get_vocab_size(with_added_tokens=True)}
    meta["llama3-like"].update(bos_id=bos, eos_id=llama3.token_to_id("<|end_of_text|>"))
    meta["qwen2-like"].update(bos_id=-1, eos_id=qwen2.token_to_id("<|endoftext|>"))
    meta["gpt2-like"].update(bos_id=-1, eos_id=gpt2.token_to_id("<|endoftext|>"))


def train_sentencepiece(corpus_path, prefix, vocab_size):
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
        allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def make_sentencepiece(meta):
    with tempfile.TemporaryDirectory() as tmp:
        sp = train_sentencepiece(os.path.join(FIXTURES, "train_corpus.txt"), os.path.join(tmp, "sp"), 700)
        with open(os.path.join(tmp, "sp.model"), "rb") as src, open(os.path.join(FIXTURES, "sp-bpe.model"), "wb") as dst:
            dst.write(src.read())
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIXTURES, "sp-bpe.model"))
    write_expected("sp-bpe", lambda t: sp.encode(t), lambda ids: sp.decode(ids))
    meta["sp-bpe"] = {"file": "sp-bpe.model", "vocab_size": sp.get_piece_size(), "bos_id": sp.bos_id(),
                      "eos_id": sp.eos_id()}


def make_tiny_sp():
    texts = []
    for name in ("sample-alpaca.jsonl", "sample-chat.jsonl"):
        with open(os.path.join(ROOT, "configs", "data", name), encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                if "messages" in row:
                    texts += [m["content"] for m in row["messages"]]
                else:
                    texts += [row["instruction"], row.get("input", ""), row["output"]]
    with open(os.path.join(FIXTURES, "train_corpus.txt"), encoding="utf-8") as f:
        texts.append(f.read())
    texts.append("### Instruction:\n### Input:\n### Response:\n### System:\n### User:\n### Assistant:\n")
    out = os.path.join(ROOT, "configs", "tokenizers", "tiny-sp")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(t for t in texts if t) + "\n")
        sp = train_sentencepiece(corpus, out, 2000)
    os.remove(out + ".vocab")
    print(f"configs/tokenizers/tiny-sp.model: vocab {sp.get_piece_size()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-sp", action="store_true", help="also train configs/tokenizers/tiny-sp.model")
    args = parser.parse_args()
    meta = {}
    make_hf(meta)
    make_sentencepiece(meta)
    with open(os.path.join(FIXTURES, "fixtures.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    for name, m in sorted(meta.items()):
        print(f"{name}: vocab {m['vocab_size']} bos {m['bos_id']} eos {m['eos_id']}")
    if args.tiny_sp:
        make_tiny_sp()


if __name__ == "__main__":
    main()
