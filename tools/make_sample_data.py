#!/usr/bin/env python3
"""Writes zeroplan's own small SFT sample datasets (deterministic; Python standard library only).

  configs/data/sample-alpaca.jsonl  219 Alpaca records {"instruction", "input", "output"}: arithmetic,
                                    capitals, word games, sorting, number words, sentiment, code,
                                    Chinese, and long explanations of training-memory topics (longer
                                    than 128 tokens, so they exercise truncation)
  configs/data/sample-chat.jsonl    60 chat records {"messages": [...]}, multi-turn, some with a
                                    system message

The tasks are simple and regular so that a tiny model's loss falls visibly in a 50-step run.
Run: python3 tools/make_sample_data.py
"""
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"), ("Brazil", "Brasilia"),
            ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"),
            ("Mexico", "Mexico City"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
            ("Poland", "Warsaw"), ("Greece", "Athens"), ("Turkey", "Ankara"), ("Vietnam", "Hanoi"),
            ("Thailand", "Bangkok"), ("Argentina", "Buenos Aires"), ("Chile", "Santiago"),
            ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Hungary", "Budapest"),
            ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("South Korea", "Seoul")]
ANTONYMS = [("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"),
            ("open", "closed"), ("early", "late"), ("strong", "weak"), ("full", "empty"), ("old", "new"),
            ("high", "low"), ("rich", "poor"), ("hard", "soft"), ("wet", "dry"), ("up", "down")]
WORDS = ["planet", "garden", "python", "memory", "tensor", "gradient", "optimizer", "keyboard", "window",
         "river", "mountain", "shadow", "network", "bucket", "partition", "kernel", "lantern", "harbor"]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
REVIEWS = [("The food was delicious and the staff were friendly.", "positive"),
           ("I waited an hour and the soup was cold.", "negative"),
           ("Great battery life, I would buy it again.", "positive"),
           ("The screen cracked after two days.", "negative"),
           ("A wonderful film with a moving ending.", "positive"),
           ("Boring plot and terrible acting.", "negative"),
           ("The hotel room was clean and quiet.", "positive"),
           ("Customer support never answered my emails.", "negative"),
           ("This keyboard feels solid and types smoothly.", "positive"),
           ("The package arrived broken and late.", "negative")]
CHINESE = [("我喜欢学习。", "I like studying."), ("今天天气很好。", "The weather is nice today."),
           ("这是我的书。", "This is my book."), ("我们去公园吧。", "Let's go to the park."),
           ("他是一名工程师。", "He is an engineer."), ("谢谢你的帮助。", "Thank you for your help."),
           ("北京是中国的首都。", "Beijing is the capital of China."), ("我每天喝咖啡。", "I drink coffee every day.")]
CODE = [("Write a Python function that returns the square of a number.",
         "def square(x):\n    return x * x"),
        ("Write a Python function that checks whether a number is even.",
         "def is_even(n):\n    return n % 2 == 0"),
        ("Write a Python function that reverses a string.",
         "def reverse(s):\n    return s[::-1]"),
        ("Write a Python function that sums a list of numbers.",
         "def total(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result"),
        ("Write a C++ function that returns the larger of two integers.",
         "int larger(int a, int b) {\n  return a > b ? a : b;\n}"),
        ("Write a Python function that counts the vowels in a string.",
         "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in \"aeiou\")"),
        ("Write a SQL query that counts the rows of a table named users.",
         "SELECT COUNT(*) FROM users;"),
        ("Write a Python function that returns the factorial of n.",
         "def factorial(n):\n    result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result")]
LONG_TOPICS = [
    ("Explain what ZeRO stage 1 does.",
     "ZeRO stage 1 partitions the optimizer states across the data-parallel ranks. In plain data parallelism "
     "every rank keeps a full copy of the parameters, the gradients and the optimizer states, so the memory "
     "for the states is repeated on every GPU. With Adam the states are the fp32 master weights, the first "
     "moment and the second moment, which together take twelve bytes per parameter, far more than the two "
     "bytes of an fp16 weight. Stage 1 gives each rank one slice of these states. After the backward pass the "
     "gradients are reduced as usual, each rank updates only its own slice of the master weights, and the "
     "updated parameters are gathered again so that every rank has the full model for the next forward pass. "
     "The communication volume stays the same as plain data parallelism, while the optimizer memory shrinks "
     "by the number of ranks."),
    ("Explain gradient accumulation.",
     "Gradient accumulation lets a training run use a large global batch on hardware that can only hold a "
     "small micro batch. The trainer runs the forward and backward pass on several micro batches in a row and "
     "adds their gradients together before it calls the optimizer. Only after the last micro batch does it "
     "clip the gradients, step the optimizer and reset the gradients to zero. The result is the same update "
     "as one big batch, provided that the loss is normalised by the number of tokens in the whole global "
     "batch rather than by averaging the means of the micro batches. The cost is time: the optimizer steps "
     "less often per second, but the memory for activations depends only on the micro batch, which is why "
     "accumulation is the first tool to reach for when a batch does not fit."),
    ("Explain activation checkpointing.",
     "Activation checkpointing trades computation for memory. During the forward pass a network normally keeps "
     "every intermediate activation that the backward pass will need, and for long sequences these activations "
     "can take more memory than the weights themselves. With checkpointing, the trainer keeps only the input of "
     "each transformer layer and throws the rest away. When the backward pass reaches a layer, it runs that "
     "layer's forward pass again to rebuild the activations it needs, and then computes the gradients. The "
     "memory for activations drops from the sum over all layers to roughly one layer plus the saved inputs, "
     "at the price of about one extra forward pass, which usually costs a third more time per step."),
    ("Explain mixed precision training.",
     "Mixed precision training computes most of the forward and backward pass in a sixteen bit format, bf16 or "
     "fp16, while keeping a master copy of the weights in fp32 for the optimizer update. Sixteen bit math is "
     "much faster on modern GPUs and halves the memory for activations. The fp32 master weights matter because "
     "small updates would otherwise be rounded away. With fp16 the range of representable numbers is narrow, "
     "so gradients can underflow to zero; a loss scaler multiplies the loss by a large factor before the "
     "backward pass and divides the gradients by the same factor afterwards. When an overflow appears, the "
     "step is skipped and the scale is lowered; after a window of good steps it is raised again."),
    ("Describe how a learning rate warmup works.",
     "A learning rate warmup starts training with a very small learning rate and raises it step by step to the "
     "target value over the first few hundred or thousand steps. At the start of training the weights are "
     "random and the optimizer's moment estimates are poor, so large steps can push the model into a bad "
     "region from which it recovers slowly or not at all. Raising the rate gradually gives the moment "
     "estimates time to settle. After the warmup the schedule usually decays the rate again, linearly or "
     "along a cosine curve, so that the final steps make small careful updates. Warmup is cheap, almost "
     "never hurts, and is part of nearly every recipe for training transformers."),
    ("Explain what a tokenizer does.",
     "A tokenizer turns text into a sequence of integers that a language model can read, and turns the "
     "model's integers back into text. Byte pair encoding starts from single bytes or characters and "
     "repeatedly merges the most frequent adjacent pair into a new token, so that common words become one "
     "token while rare words are split into pieces. Before merging, a pre-tokenizer splits the text into "
     "chunks with a regular expression, for example separating words, numbers, punctuation and runs of "
     "spaces, so that merges never cross those boundaries. Special tokens such as the beginning of text "
     "marker are matched first and always map to their own id. A good tokenizer keeps sequences short "
     "for the languages and code the model will see, which makes training and inference cheaper."),
]


def number_words(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))


def alpaca_records(rng):
    records = []
    for _ in range(40):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        op = rng.choice(["plus", "minus", "times"])
        value = a + b if op == "plus" else a - b if op == "minus" else a * b
        records.append({"instruction": f"What is {a} {op} {b}?", "input": "", "output": f"{a} {op} {b} is {value}."})
    for country, capital in CAPITALS:
        records.append({"instruction": "Name the capital city of the country.", "input": country,
                        "output": f"The capital of {country} is {capital}."})
    for word in WORDS:
        records.append({"instruction": "Reverse the letters of the word.", "input": word, "output": word[::-1]})
    for _ in range(20):
        xs = [rng.randint(0, 99) for _ in range(rng.randint(3, 8))]
        records.append({"instruction": "Sort the numbers in ascending order.", "input": ", ".join(map(str, xs)),
                        "output": ", ".join(map(str, sorted(xs)))})
    for _ in range(20):
        n = rng.randint(0, 999)
        records.append({"instruction": f"Write the number {n} in words.", "output": number_words(n)})
    for word, opposite in ANTONYMS:
        records.append({"instruction": f"What is the opposite of \"{word}\"?", "output": f"The opposite of \"{word}\" is \"{opposite}\"."})
    for text, label in REVIEWS:
        records.append({"instruction": "Classify the sentiment of the review as positive or negative.",
                        "input": text, "output": label})
    for _ in range(15):
        words = rng.sample(WORDS, rng.randint(2, 6))
        sentence = " ".join(words)
        records.append({"instruction": "Count the words in the sentence.", "input": sentence,
                        "output": f"The sentence has {len(words)} words."})
        records.append({"instruction": "Convert the sentence to upper case.", "input": sentence, "output": sentence.upper()})
    for zh, en in CHINESE:
        records.append({"instruction": "把下面的句子翻译成英文。", "input": zh, "output": en})
        records.append({"instruction": "Translate the sentence into Chinese.", "input": en, "output": zh})
    for question, code in CODE:
        records.append({"instruction": question, "output": code})
    for question, answer in LONG_TOPICS:
        records.append({"instruction": question, "output": answer})
        first_two = ". ".join(answer.split(". ")[:2]) + "."
        records.append({"instruction": "Summarize the following text in one sentence.", "input": first_two,
                        "output": answer.split(". ")[0] + "."})
    rng.shuffle(records)
    return records


def chat_records(rng):
    systems = ["You are a helpful assistant.", "You answer briefly.", "You are a patient math tutor."]
    records = []
    for i in range(60):
        messages = []
        if i % 3 == 0:
            messages.append({"role": "system", "content": systems[i % len(systems)]})
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(4)
            if kind == 0:
                a, b = rng.randint(1, 50), rng.randint(1, 50)
                q, r = f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."
            elif kind == 1:
                country, capital = rng.choice(CAPITALS)
                q, r = f"What is the capital of {country}?", f"The capital of {country} is {capital}."
            elif kind == 2:
                word = rng.choice(WORDS)
                q, r = f"How do you spell \"{word}\" backwards?", f"\"{word}\" backwards is \"{word[::-1]}\"."
            else:
                word, opposite = rng.choice(ANTONYMS)
                q, r = f"Give me the opposite of {word}.", f"The opposite of {word} is {opposite}."
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": r}]
        records.append({"messages": messages})
    return records


def write(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{os.path.relpath(path, ROOT)}: {len(records)} records")


def main():
    rng = random.Random(20240601)
    out = os.path.join(ROOT, "configs", "data")
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "sample-alpaca.jsonl"), alpaca_records(rng))
    write(os.path.join(out, "sample-chat.jsonl"), chat_records(rng))


if __name__ == "__main__":
    main()
