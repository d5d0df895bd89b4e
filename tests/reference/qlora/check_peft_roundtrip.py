"""Loads an adapter that a real `radfleet run` trained onto its base with Hugging Face transformers +
PEFT, and checks that it computes what radfleet computed. Run by tests/qlora/peft-roundtrip.test.ts
with the reference Python (scripts/setup-reference-python.sh); by hand:

    python check_peft_roundtrip.py BASE_DIR ADAPTER_DIR INPUTS.safetensors

BASE_DIR is a Hugging Face LlavaOnevisionForConditionalGeneration directory without anyres tiles
(image_grid_pinpoints empty, as radfleet's tiny base), loaded in float32; ADAPTER_DIR is the run's
adapter/, loaded as it is with PeftModel.from_pretrained. INPUTS holds what radfleet used, so nothing
is preprocessed twice: `pixel_values` [B, C, H, W] (float32, the vision tower's normalisation),
`input_ids` [B, T] (int32, the prompt), `logits` [B, T, V] (radfleet's forward on them, adapter
loaded) and `radfleet_ids` [B, L] (int32, the tokens of `radfleet generate`'s report per image,
padded with -1); its metadata gives max_new_tokens, eos_token_id and pad_token_id.

Prints one JSON line: the versions, how the adapter's tensors landed in the model (PEFT's renamings,
the tensors it did not use, its warnings), the logit differences, and per image the greedy tokens of
transformers + PEFT against radfleet's, with the first differing token and transformers' logits for
both candidates there (eos for a side that ended).
"""
import json
import sys
import warnings

import peft
import torch
import transformers
from peft import PeftModel
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import LlavaOnevisionForConditionalGeneration

base_dir, adapter_dir, inputs_path = sys.argv[1:4]
torch.manual_seed(0)
inputs = load_file(inputs_path)
with safe_open(inputs_path, "pt") as f:
    meta = f.metadata()
max_new_tokens = int(meta["max_new_tokens"])
eos = int(meta["eos_token_id"])
pad = int(meta["pad_token_id"])
# The tokenizer's special tokens: radfleet's report text leaves them out.
with open(f"{base_dir}/tokenizer.json") as f:
    specials = {t["id"] for t in json.load(f)["added_tokens"] if t["special"]}

pixel_values = inputs["pixel_values"]  # [B, C, H, W]
input_ids = inputs["input_ids"].long()  # [B, T]
B = input_ids.shape[0]
assert B >= 2, "needs at least two images (see batch_num_images below)"
image_kwargs = dict(
    pixel_values=pixel_values[:, None],  # [B, 1, C, H, W]: one view per image, no anyres tiles
    image_sizes=torch.tensor([list(pixel_values.shape[2:])] * B),
    # Without image_grid_pinpoints there is nothing to tile: transformers then takes each image's
    # base view + image_newline, as it does for the images of a multi-image sample. A count above 1
    # selects that path (with 1 it would look up a tiling); the images still fill the <image>
    # tokens of the batch in order, one image per prompt.
    batch_num_images=torch.tensor([B]),
)

base = LlavaOnevisionForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32).eval()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
peft_warnings = [str(w.message) for w in caught if not issubclass(w.category, FutureWarning)]

# Where each adapter tensor went. transformers 5 holds the SigLIP tower without its
# `vision_model.` level, which radfleet's names (transformers 4.5x's) keep; PEFT renames the
# adapter's keys through transformers' checkpoint conversions as it loads them.
adapter = load_file(f"{adapter_dir}/adapter_model.safetensors")
model_state = model.state_dict()


def normalised(key: str) -> str:
    return key.replace(".default.", ".").replace(".vision_tower.vision_model.", ".vision_tower.")


lora_in_model = {normalised(k): k for k in model_state if ".lora_A." in k or ".lora_B." in k}
loaded, unused, renamed, wrong = 0, [], {}, []
for key, value in adapter.items():
    target = lora_in_model.pop(normalised(key), None)
    if target is None:
        unused.append(key)
        continue
    loaded += 1
    if target.replace(".default.", ".") != key:
        renamed[key] = target
    if not torch.equal(model_state[target], value):
        wrong.append(key)
with open(f"{adapter_dir}/adapter_config.json") as f:
    cfg = json.load(f)
scalings = sorted({m.scaling["default"] for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "scaling")})

with torch.no_grad():
    logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **image_kwargs).logits
    with model.disable_adapter():
        base_logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **image_kwargs).logits
    out = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        **image_kwargs,
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=eos,
        pad_token_id=pad,
        output_scores=True,
        return_dict_in_generate=True,
    )
ref = inputs["logits"]
generated = out.sequences[:, input_ids.shape[1] :]  # [B, steps]
scores = torch.stack(out.scores, dim=1)  # [B, steps, V]: greedy with no logits processor, the raw logits

images = []
for b in range(B):
    # The report's text has no special tokens, so neither side keeps them; each kept token remembers
    # its decoding step.
    steps, end = [], generated.shape[1]
    for s, t in enumerate(generated[b].tolist()):
        if t == eos:
            end = s
            break
        if t not in specials:
            steps.append((s, t))
    hf = [t for _, t in steps]
    rf = [t for t in inputs["radfleet_ids"][b].tolist() if t >= 0]
    entry = {"hf": hf, "radfleet": rf, "same": hf == rf}
    if hf != rf:
        # The first differing token; a side that ended there offers eos (or nothing past the limit).
        k = next((i for i in range(min(len(hf), len(rf))) if hf[i] != rf[i]), min(len(hf), len(rf)))
        step = steps[k][0] if k < len(steps) else end
        entry.update(
            first_diff=k,
            step=step,
            hf_token=hf[k] if k < len(hf) else None,
            radfleet_token=rf[k] if k < len(rf) else None,
        )
        if step < scores.shape[1]:
            row = scores[b, step]
            top2 = torch.topk(row, 2).values
            entry["hf_logits"] = {
                "of_hf_token": float(row[hf[k] if k < len(hf) else eos]),
                "of_radfleet_token": float(row[rf[k] if k < len(rf) else eos]),
                "top2_margin": float(top2[0] - top2[1]),
            }
    images.append(entry)

print(
    json.dumps(
        {
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
            "adapter": {
                "tensors": len(adapter),
                "loaded": loaded,
                "unused": sorted(unused),
                "renamed": renamed,
                "not_equal": wrong,
                "model_lora_without_adapter_tensor": sorted(lora_in_model.values()),
                "scalings": scalings,
                "expected_scaling": cfg["lora_alpha"] / (cfg["r"] ** 0.5 if cfg.get("use_rslora") else cfg["r"]),
                "warnings": peft_warnings,
            },
            "logits": {
                "shape": list(logits.shape),
                "max_abs": float(ref.abs().max()),
                "max_abs_diff": float((logits - ref).abs().max()),
                "last_position_max_abs_diff": float((logits[:, -1] - ref[:, -1]).abs().max()),
                "adapter_effect": float((logits - base_logits).abs().max()),
            },
            "images": images,
        }
    )
)
