"""Makes a small Qwen2-style byte-level BPE tokenizer and the ids Hugging Face `tokenizers` gives
the LLaVA-OneVision chat prompt radfleet builds for real checkpoints (run by hand).

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install tokenizers==0.21.1
    /tmp/refvenv/bin/python tests/reference/model/make_qwen_style_tokenizer.py tests/fixtures/model/qwen-style-tokenizer

The pre-tokenizer is Qwen2's (its tokenizer.json: a Split on Qwen2's regex, then ByteLevel without
the prefix space); the special tokens are Qwen2's plus LLaVA-OneVision's <image>. The prompt text
is the llava-hf chat template's output for one image and a user turn
("<|im_start|>user <image>\\n{text}<|im_end|><|im_start|>assistant\\n"), with <image> repeated as
the processor expands it. tests/model/prompt.test.ts checks buildPrompt against expected.json.
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/model/qwen-style-tokenizer"
os.makedirs(out, exist_ok=True)

QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]

tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.Sequence(
    [
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ]
)
tok.decoder = decoders.ByteLevel()
corpus = [
    "Write the findings and impression of this chest X-ray.",
    "present: cardiomegaly mild, pleural effusion left moderate; possible: edema; no: pneumothorax",
    "The heart size is normal. No pleural effusion or pneumothorax.\nuser\nassistant\n",
    "Mild cardiomegaly with a small left effusion.\nIMPRESSION: no acute process.\n",
] * 20
trainer = trainers.BpeTrainer(
    vocab_size=400,
    special_tokens=SPECIALS,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
tok.train_from_iterator(corpus, trainer)
tok.save(os.path.join(out, "tokenizer.json"))

instruction = "Write the findings and impression of this chest X-ray."
table = "present: cardiomegaly mild, pleural effusion left moderate; possible: edema; no: pneumothorax"
cases = []
for n, with_table in [(3, False), (5, True)]:
    text = "\n" + instruction + ("\n" + table if with_table else "")
    prompt = "<|im_start|>user " + "<image>" * n + text + "<|im_end|><|im_start|>assistant\n"
    cases.append(
        {
            "numImageTokens": n,
            "instruction": instruction,
            "findingsTable": table if with_table else None,
            "prompt": prompt,
            "ids": tok.encode(prompt, add_special_tokens=False).ids,
        }
    )
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump({"tokenizers": "0.21.1", "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote", out)
