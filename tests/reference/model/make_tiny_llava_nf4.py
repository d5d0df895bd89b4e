"""Makes the bitsandbytes NF4 fixture from the float one (run by hand, after make_tiny_llava.py).

    /tmp/refenv/bin/pip install bitsandbytes
    /tmp/refenv/bin/python tests/reference/model/make_tiny_llava_nf4.py tests/fixtures/model/tiny-llava tests/fixtures/model/tiny-llava-nf4

The language model's linear layers are quantized by bitsandbytes itself (NF4, blocks of 64, double
quantization) and stored under the keys a 4-bit transformers model saves (`….weight`,
`….weight.absmax`, `….weight.quant_map`, `….weight.nested_absmax`, `….weight.nested_quant_map`,
`….weight.quant_state.bitsandbytes__nf4`). The expected logits come from transformers running
the float model with those layers replaced by bitsandbytes' own dequantization.
"""
import json
import os
import shutil
import sys

import bitsandbytes.functional as F
import torch
from safetensors.torch import load_file, save_file
from transformers import LlavaOnevisionForConditionalGeneration

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
tensors = load_file(os.path.join(src, "model.safetensors"))


def dequantize(q, state, shape):
    """NF4 dequantization by its definition: quant_map[code] * absmax[block], absmax recovered by
    bitsandbytes' dequantize_blockwise (+ offset). Not F.dequantize_4bit: bitsandbytes 0.50.2's CPU
    kernel returns wrong values for some shapes (here [64, 96]: max error 0.24 against the float
    weights, versus 0.07 by the definition, with the same codes and absmax)."""
    absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
    codes = q.flatten()
    idx = torch.stack([(codes >> 4).long(), (codes & 15).long()], 1).flatten()
    return (state.code[idx].view(-1, state.blocksize) * absmax[:, None]).view(shape)


TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
saved, dequantized = {}, {}
for key, w in tensors.items():
    module = key.rsplit(".", 2)
    if key.startswith("language_model.model.layers.") and key.endswith(".weight") and module[-2] in TARGETS:
        q, state = F.quantize_4bit(w.contiguous(), blocksize=64, compress_statistics=True, quant_type="nf4")
        saved[key] = q
        for k, v in state.as_dict(packed=True).items():
            saved[f"{key}.{k}"] = v
        dequantized[key] = dequantize(q, state, w.shape)
    else:
        saved[key] = w
save_file(saved, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
config = json.load(open(os.path.join(src, "config.json")))
config["quantization_config"] = {
    "quant_method": "bitsandbytes",
    "load_in_4bit": True,
    "bnb_4bit_quant_type": "nf4",
    "bnb_4bit_use_double_quant": True,
    "bnb_4bit_compute_dtype": "float32",
}
json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
shutil.copy(os.path.join(src, "tokenizer.json"), os.path.join(out, "tokenizer.json"))

model = LlavaOnevisionForConditionalGeneration.from_pretrained(src).eval()
with torch.no_grad():
    params = dict(model.named_parameters())
    for key, w in dequantized.items():
        name = "model.language_model." + key[len("language_model.model."):]
        params[name].copy_(w)
expected = load_file(os.path.join(src, "expected.safetensors"))
pixels = expected["pixels_nhwc"].permute(0, 3, 1, 2)
ids = expected["input_ids"].long()
with torch.no_grad():
    res = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=torch.stack([pixels, pixels], dim=1),
        image_sizes=torch.tensor([[pixels.shape[2], pixels.shape[3]]] * ids.shape[0]),
    )
save_file(
    {"pixels_nhwc": expected["pixels_nhwc"], "input_ids": expected["input_ids"], "logits": res.logits.float().contiguous()},
    os.path.join(out, "expected.safetensors"),
)
print(f"wrote {out}: {len(dequantized)} NF4 layers; float vs NF4 logits differ by up to {(res.logits - expected['logits']).abs().max():.4f}")
