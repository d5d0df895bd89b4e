"""Makes the anyres (multi-tile) LLaVA-OneVision parity fixture with Hugging Face transformers (run by hand).

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install torch torchvision transformers safetensors
    /tmp/refenv/bin/python tests/reference/model/make_tiny_llava_anyres.py tests/fixtures/model/tiny-llava-anyres

(transformers 5.24, torch 2.15, torchvision 0.29.2 from PyPI.) Writes a very small random
LlavaOnevisionForConditionalGeneration whose config has image_grid_pinpoints giving 1x2, 2x1 and
2x2 grids of 16-pixel tiles and vision_aspect_ratio "anyres_max_2", so that one of the two
non-square test images is downsampled in pack_image_features and the other is not. Everything the
model sees comes from transformers' own LlavaOnevisionProcessor (torchvision backend): the tiles
(pixel_values), image_sizes and the prompt with its expanded image tokens.

The processor is given float images in [0, 1] (do_rescale off) and normalises with mean 0.5 and
std 0.25, radfleet's data normalisation (trainer/data/image.ts), so its zero padding is the same
black (-2) that radfleet pads with. radfleet receives the same original image, normalised.

expected.safetensors, per case c in expected.json's cases:
  c.pixels_nhwc        [1, H, W, 3]        the original image, normalised, as radfleet's pipeline gives it
  c.pixel_values_nhwc  [1 + tiles, s, s, 3] transformers' base image then tiles, channels last
  c.input_ids          [1, T] int32        the processor's prompt
  c.logits             [1, T, V]
expected.json also lists the processor's image-token counts for many original sizes, for this
config and for the real llava-hf -ov-hf one (384-pixel tower, 6x6 pinpoints, anyres_max_9).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import (
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    PreTrainedTokenizerFast,
)

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/model/tiny-llava-anyres"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

SPECIALS = ["<pad>", "<unk>", "<eos>", "<image>", "<bos>", "<table>", "</table>"]
VOCAB = 32
IMAGE_TOKEN = 3
TILE = 16  # the tower's image_size
PATCH = 4  # 4x4 = 16 features per tile
PINPOINTS = [[16, 16], [16, 32], [32, 16], [32, 32]]
ASPECT = "anyres_max_2"
MEAN, STD = 0.5, 0.25

config = LlavaOnevisionConfig(
    vision_config={
        "model_type": "siglip_vision_model",
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": TILE,
        "patch_size": PATCH,
        "num_channels": 3,
        "layer_norm_eps": 1e-6,
        "hidden_act": "gelu_pytorch_tanh",
        "vision_use_head": False,
    },
    text_config={
        "model_type": "qwen2",
        "vocab_size": VOCAB,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 128,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
    },
    image_token_index=IMAGE_TOKEN,
    vision_feature_layer=-1,
    vision_feature_select_strategy="full",
    vision_aspect_ratio=ASPECT,
    image_grid_pinpoints=PINPOINTS,
    projector_hidden_act="gelu",
    tie_word_embeddings=False,
)
model = LlavaOnevisionForConditionalGeneration(config).eval()
# Large random weights so a misplaced tile or feature moves the logits far past 1e-4.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            p.copy_(1 + 0.1 * torch.randn_like(p))
        else:
            p.copy_(0.3 * torch.randn_like(p))
model.save_pretrained(out, safe_serialization=True)
gen_cfg = os.path.join(out, "generation_config.json")
if os.path.exists(gen_cfg):
    os.remove(gen_cfg)

vocab = {t: i for i, t in enumerate(SPECIALS)}
for i in range(len(SPECIALS), VOCAB):
    vocab[f"w{i}"] = i
tokenizer_json = {
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
tok_path = os.path.join(out, "tokenizer.json")
with open(tok_path, "w") as f:
    json.dump(tokenizer_json, f)


def make_processor(size, pinpoints, num_image_tokens, aspect, tokenizer):
    image_processor = LlavaOnevisionImageProcessor(
        size={"height": size, "width": size},
        image_grid_pinpoints=pinpoints,
        image_mean=[MEAN] * 3,
        image_std=[STD] * 3,
        do_rescale=False,
    )
    return LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(),  # required by the constructor, unused
        num_image_tokens=num_image_tokens,
        vision_feature_select_strategy="full",
        vision_aspect_ratio=aspect,
    )


tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(tok_path), unk_token="<unk>", pad_token="<pad>")
processor = make_processor(TILE, PINPOINTS, (TILE // PATCH) ** 2, ASPECT, tokenizer)

# wide: 1x2 grid, rows unpadded, not downsampled; tall: 2x2 grid, columns unpadded (asymmetric
# padding of the resized image), downsampled by the anyres_max_2 rule.
CASES = {"wide": (5, 30), "tall": (28, 20)}
tensors = {}
cases = {}
for name, (h, w) in CASES.items():
    image = torch.rand(3, h, w)  # float in [0, 1]
    inputs = processor(images=[image], text=["<bos> <image> w10 w11 w12 w13"], return_tensors="pt")
    ids = inputs["input_ids"]
    n_image = int((ids == IMAGE_TOKEN).sum())
    with torch.no_grad():
        res = model(
            input_ids=ids,
            attention_mask=inputs["attention_mask"],
            pixel_values=inputs["pixel_values"],
            image_sizes=inputs["image_sizes"],
        )
    pv = inputs["pixel_values"][0]  # [1 + tiles, 3, s, s]
    tensors[f"{name}.pixels_nhwc"] = ((image - MEAN) / STD).permute(1, 2, 0)[None].contiguous()
    tensors[f"{name}.pixel_values_nhwc"] = pv.permute(0, 2, 3, 1).contiguous()
    tensors[f"{name}.input_ids"] = ids.to(torch.int32).contiguous()
    tensors[f"{name}.logits"] = res.logits.float().contiguous()
    cases[name] = {
        "image_size": inputs["image_sizes"][0].tolist(),
        "tiles": int(pv.shape[0]),
        "num_image_tokens": n_image,
    }
    print(f"{name} {h}x{w}: pixel_values {tuple(pv.shape)}, {n_image} image tokens, logits {tuple(res.logits.shape)}")

save_file(
    tensors,
    os.path.join(out, "expected.safetensors"),
    metadata={"transformers": __import__("transformers").__version__, "torch": torch.__version__},
)

# Image-token counts as the processor computes them for prompts (no pixels needed).
SIZES = [(h, w) for h in (5, 12, 16, 17, 20, 28, 31, 32, 33, 40, 64, 100) for w in (7, 16, 20, 30, 32, 48, 64, 99)]
tiny_counts = processor._get_num_multimodal_tokens(image_sizes=SIZES)["num_image_tokens"]
# The real llava-hf/llava-onevision-qwen2-*-ov-hf processor: 384-pixel SigLIP tower with 14-pixel
# patches (729 features), 1x1 .. 6x6 pinpoints of 384 (the image processor's defaults), anyres_max_9.
real = make_processor(384, LlavaOnevisionImageProcessor.image_grid_pinpoints, 729, "anyres_max_9", tokenizer)
REAL_SIZES = [
    (384, 384), (768, 768), (512, 512), (1024, 1024), (448, 448), (800, 600), (600, 800),
    (2544, 3056), (3056, 2544), (2048, 2500), (1000, 300), (300, 1000), (4000, 4000), (383, 1900), (128, 2500),
]
real_counts = real._get_num_multimodal_tokens(image_sizes=REAL_SIZES)["num_image_tokens"]

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(
        {
            "pixel_mean": MEAN,
            "pixel_std": STD,
            "cases": cases,
            "token_counts": {
                "tiny": [[h, w, n] for (h, w), n in zip(SIZES, tiny_counts)],
                "llava-onevision-qwen2-0.5b": [[h, w, n] for (h, w), n in zip(REAL_SIZES, real_counts)],
            },
        },
        f,
    )
print("real config token counts:", list(zip(REAL_SIZES, real_counts)))
