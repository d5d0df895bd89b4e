"""Makes the decoding-controls fixture with Hugging Face transformers (run by hand).

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch transformers safetensors
    /tmp/refenv/bin/python tests/reference/model/make_decoding_fixtures.py

Loads the tiny parity model (tests/fixtures/model/tiny-llava, made by make_tiny_llava.py) with
LlavaOnevisionForConditionalGeneration and runs `generate` on that fixture's own inputs (its
expected.safetensors: two images and prompts) with each decoding control alone and combined, greedy
and beam search. Writes tests/fixtures/model/tiny-llava/expected_decoding.json: per case the
generate keyword arguments and the generated token ids, cut before the first end-of-sequence token
(radfleet returns reports without it). tests/model/decoding-parity.test.ts runs radfleet on the same
inputs and checks every case token for token.

The model has no end-of-sequence token of its own; cases that need one (min_new_tokens,
length_penalty) name a token the model emits early, so that stopping happens within a few steps.
Every case must change the output of its baseline (the same call without the control), and a
combined case must change when any one of its controls is dropped: otherwise the fixture could not
tell an ignored control from an honoured one, and the script fails.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file
from transformers import LlavaOnevisionForConditionalGeneration

MODEL = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/model/tiny-llava"
OUT = os.path.join(MODEL, "expected_decoding.json")
IMAGE = 32  # the fixture's image side (make_tiny_llava.py)

model = LlavaOnevisionForConditionalGeneration.from_pretrained(MODEL).eval()
inputs = load_file(os.path.join(MODEL, "expected.safetensors"))
pixels = inputs["pixels_nhwc"].permute(0, 3, 1, 2)  # [B, C, H, W]
ids = inputs["input_ids"].long()
B = ids.shape[0]

# HF's no-op values: dropping a control from a combined case means setting it to these.
NO_OP = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0, "min_new_tokens": 0}

CASES = [
    # (name, baseline, generate kwargs)
    ("greedy", None, {"max_new_tokens": 12}),
    ("greedy max_new_tokens 5", "greedy", {"max_new_tokens": 5}),
    ("greedy repetition_penalty 1.3", "greedy", {"max_new_tokens": 12, "repetition_penalty": 1.3}),
    ("greedy no_repeat_ngram_size 2", "greedy", {"max_new_tokens": 12, "no_repeat_ngram_size": 2}),
    ("greedy no_repeat_ngram_size 3", "greedy", {"max_new_tokens": 12, "no_repeat_ngram_size": 3}),
    ("greedy eos 7", "greedy", {"max_new_tokens": 12, "eos_token_id": 7}),
    ("greedy eos 7 min_new_tokens 5", "greedy eos 7", {"max_new_tokens": 12, "eos_token_id": 7, "min_new_tokens": 5}),
    (
        "greedy combined",
        "greedy eos 7",
        {"max_new_tokens": 12, "eos_token_id": 7, "min_new_tokens": 5, "repetition_penalty": 1.1, "no_repeat_ngram_size": 2},
    ),
    ("beam 3", None, {"max_new_tokens": 12, "num_beams": 3}),
    ("beam 3 repetition_penalty 1.3", "beam 3", {"max_new_tokens": 12, "num_beams": 3, "repetition_penalty": 1.3}),
    ("beam 3 no_repeat_ngram_size 2", "beam 3", {"max_new_tokens": 12, "num_beams": 3, "no_repeat_ngram_size": 2}),
    ("beam 3 eos 108", "beam 3", {"max_new_tokens": 12, "num_beams": 3, "eos_token_id": 108}),
    (
        "beam 3 eos 108 length_penalty 0",
        "beam 3 eos 108",
        {"max_new_tokens": 12, "num_beams": 3, "eos_token_id": 108, "length_penalty": 0.0},
    ),
    (
        "beam 3 eos 108 length_penalty 2",
        "beam 3 eos 108",
        {"max_new_tokens": 12, "num_beams": 3, "eos_token_id": 108, "length_penalty": 2.0},
    ),
    (
        "beam 3 eos 108 length_penalty -1",
        "beam 3 eos 108",
        {"max_new_tokens": 12, "num_beams": 3, "eos_token_id": 108, "length_penalty": -1.0},
    ),
    (
        "beam 3 eos 108 min_new_tokens 4",
        "beam 3 eos 108",
        {"max_new_tokens": 12, "num_beams": 3, "eos_token_id": 108, "min_new_tokens": 4},
    ),
    (
        "beam 3 combined",
        "beam 3 eos 108",
        {
            "max_new_tokens": 12,
            "num_beams": 3,
            "eos_token_id": 108,
            "min_new_tokens": 4,
            "repetition_penalty": 1.1,
            "no_repeat_ngram_size": 2,
            "length_penalty": 0.5,
        },
    ),
    (
        "beam 4 eos 84 length_penalty 0",
        "beam 4 eos 84",
        {"max_new_tokens": 10, "num_beams": 4, "eos_token_id": 84, "length_penalty": 0.0},
    ),
    ("beam 4 eos 84", None, {"max_new_tokens": 10, "num_beams": 4, "eos_token_id": 84}),
]


def generate(kwargs):
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            # [B, tiles, C, H, W]: the base image and its single anyres tile, as make_tiny_llava.py gives them
            pixel_values=torch.stack([pixels, pixels], dim=1),
            image_sizes=torch.tensor([[IMAGE, IMAGE]] * B),
            do_sample=False,
            pad_token_id=0,
            **kwargs,
        )
    rows = out[:, ids.shape[1] :].tolist()
    eos = kwargs.get("eos_token_id")
    return [row[: row.index(eos)] if eos in row else row for row in rows]


results = {}
cases = []
for name, baseline, kwargs in CASES:
    tokens = generate(kwargs)
    results[name] = tokens
    cases.append({"name": name, "baseline": baseline, "generate": kwargs, "tokens": tokens})
    print(f"{name}: {tokens}")

for case in cases:
    if case["baseline"] is not None and case["tokens"] == results[case["baseline"]]:
        sys.exit(f"{case['name']}: same tokens as its baseline {case['baseline']!r}; pick a setting that changes them")
    if "combined" in case["name"]:
        for control in NO_OP:
            if control not in case["generate"]:
                continue
            dropped = generate({**case["generate"], control: NO_OP[control]})
            if dropped == case["tokens"]:
                sys.exit(f"{case['name']}: dropping {control} leaves the tokens unchanged; pick another setting")

with open(OUT, "w") as f:
    json.dump(
        {
            "model": "tests/fixtures/model/tiny-llava",
            "inputs": "pixels_nhwc and input_ids of the model's expected.safetensors",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "cases": cases,
        },
        f,
        indent=1,
    )
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases")
