"""Makes the LLaVA-OneVision parity fixture with Hugging Face transformers (run by hand).

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch transformers safetensors
    /tmp/refenv/bin/python tests/reference/model/make_tiny_llava.py tests/fixtures/model/tiny-llava
    /tmp/refenv/bin/python tests/reference/model/make_tiny_llava.py tests/fixtures/model/tiny-llava-tied tied

Writes a tiny random LlavaOnevisionForConditionalGeneration as a Hugging Face directory
(config.json, model.safetensors, tokenizer.json) plus expected.safetensors: one batch of two
images (anyres with a 1x1 grid: base image + one tile, as radfleet presents images) and prompts,
and the logits transformers computes for it. tests/model/parity.test.ts checks radfleet against it.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/model/tiny-llava"
# "tied": a second fixture with tied embeddings (no lm_head tensor) and vision_feature_layer = -2
# over a 3-layer tower, so the layer selection and the tied head are checked too.
TIED = len(sys.argv) > 2 and sys.argv[2] == "tied"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

SPECIALS = ["<pad>", "<unk>", "<eos>", "<image>", "<bos>", "<table>", "</table>"]
VOCAB = 160
IMAGE_TOKEN = 3
IMAGE = 32
PATCH = 8

config = LlavaOnevisionConfig(
    vision_config={
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 3 if TIED else 2,
        "num_attention_heads": 4,
        "image_size": IMAGE,
        "patch_size": PATCH,
        "num_channels": 3,
        "layer_norm_eps": 1e-6,
        "hidden_act": "gelu_pytorch_tanh",
        "vision_use_head": False,
    },
    text_config={
        "model_type": "qwen2",
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 256,
        "tie_word_embeddings": TIED,
        "hidden_act": "silu",
    },
    image_token_index=IMAGE_TOKEN,
    vision_feature_layer=-2 if TIED else -1,
    vision_feature_select_strategy="full",
    vision_aspect_ratio="anyres_max_9",
    image_grid_pinpoints=[[IMAGE, IMAGE]],
    projector_hidden_act="gelu",
    tie_word_embeddings=TIED,
)
model = LlavaOnevisionForConditionalGeneration(config).eval()
# Larger-than-default random weights so a wrong layout or a missing term moves the logits well past
# the 1e-4 tolerance; norm scales around 1.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            p.copy_(1 + 0.1 * torch.randn_like(p))
        else:
            p.copy_(0.15 * torch.randn_like(p))
model.save_pretrained(out, safe_serialization=True)

vocab = {t: i for i, t in enumerate(SPECIALS)}
for i in range(len(SPECIALS), VOCAB):
    vocab[f"w{i}"] = i
tokenizer = {
    "version": "1.0",
    "added_tokens": [
        {"id": i, "content": t, "special": True, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}
        for i, t in enumerate(SPECIALS)
    ],
    "normalizer": {"type": "Lowercase"},
    "pre_tokenizer": {"type": "Whitespace"},
    "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    "decoder": None,
    "post_processor": None,
    "truncation": None,
    "padding": None,
}
with open(os.path.join(out, "tokenizer.json"), "w") as f:
    json.dump(tokenizer, f)

g = IMAGE // PATCH
num_image_tokens = g * g + g * (g + 1)  # base image, then the 1x1 grid's tile with a newline per row
B = 2
pixels = torch.randn(B, 3, IMAGE, IMAGE)
text = torch.randint(len(SPECIALS), VOCAB, (B, 12))
ids = torch.cat([torch.full((B, 1), 4), torch.full((B, num_image_tokens), IMAGE_TOKEN), text], dim=1)
with torch.no_grad():
    res = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        # [B, tiles, C, H, W]: the base image and its single anyres tile, which at this size is the same picture
        pixel_values=torch.stack([pixels, pixels], dim=1),
        image_sizes=torch.tensor([[IMAGE, IMAGE]] * B),
    )
save_file(
    {
        "pixels_nhwc": pixels.permute(0, 2, 3, 1).contiguous(),
        "input_ids": ids.to(torch.int32).contiguous(),
        "logits": res.logits.float().contiguous(),
    },
    os.path.join(out, "expected.safetensors"),
    metadata={"transformers": __import__("transformers").__version__, "torch": torch.__version__},
)
print(f"wrote {out}: input {tuple(ids.shape)}, logits {tuple(res.logits.shape)}, |logits| max {res.logits.abs().max():.3f}")

# Greedy decoding with a repetition penalty, for tests/model/parity.test.ts's generation check.
with torch.no_grad():
    gen = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=torch.stack([pixels, pixels], dim=1),
        image_sizes=torch.tensor([[IMAGE, IMAGE]] * B),
        max_new_tokens=8,
        do_sample=False,
        num_beams=1,
        repetition_penalty=1.3,
        pad_token_id=0,
    )
    beam = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=torch.stack([pixels, pixels], dim=1),
        image_sizes=torch.tensor([[IMAGE, IMAGE]] * B),
        max_new_tokens=8,
        do_sample=False,
        num_beams=3,
        repetition_penalty=1.3,
        pad_token_id=0,
    )
with open(os.path.join(out, "expected_greedy.json"), "w") as f:
    json.dump(
        {
            "max_new_tokens": 8,
            "repetition_penalty": 1.3,
            "tokens": gen[:, ids.shape[1]:].tolist(),
            "beam3_tokens": beam[:, ids.shape[1]:].tolist(),
        },
        f,
    )
print("beam 3:", beam[:, ids.shape[1]:].tolist())
print("greedy:", gen[:, ids.shape[1]:].tolist())
