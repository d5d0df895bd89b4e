"""Loads an adapter written by radfleet with Hugging Face PEFT and checks it computes what radfleet's
LoRA layer computed. Run by tests/qlora/peft-python.test.ts with the reference Python
(scripts/setup-reference-python.sh prints it; the test takes RADFLEET_REFERENCE_PYTHON, else python3);
by hand:

    $(bash scripts/setup-reference-python.sh) tests/reference/qlora/check_peft_adapter.py DIR

DIR holds adapter_config.json + adapter_model.safetensors (radfleet's saveAdapter), base.safetensors
(each module's float `<path>.weight` [out, in] and `<path>.bias`) and io.safetensors (`x` and, per
module, `y.<path>` = radfleet's output). Prints one JSON line.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file

d = sys.argv[1]
base = load_file(os.path.join(d, "base.safetensors"))
io = load_file(os.path.join(d, "io.safetensors"))


class Node(torch.nn.Module):
    pass


root = Node()
paths = sorted({k.rsplit(".", 1)[0] for k in base})
for path in paths:
    parent = root
    parts = path.split(".")
    for p in parts[:-1]:
        if not hasattr(parent, p):
            parent.add_module(p, Node())
        parent = getattr(parent, p)
    w = base[f"{path}.weight"]
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=f"{path}.bias" in base)
    with torch.no_grad():
        lin.weight.copy_(w)
        if lin.bias is not None:
            lin.bias.copy_(base[f"{path}.bias"])
    parent.add_module(parts[-1], lin)

model = PeftModel.from_pretrained(root, d)
model.eval()
result = {"modules": {}, "peft_keys": sorted(k for k in model.state_dict() if "lora_" in k)}
for path in paths:
    m = model.base_model.model.get_submodule(path)
    with torch.no_grad():
        y = m(io["x"])
    result["modules"][path] = {
        "lora": hasattr(m, "lora_A"),
        "scaling": m.scaling["default"] if hasattr(m, "scaling") else None,
        "max_abs_err": float((y - io[f"y.{path}"]).abs().max()),
    }
print(json.dumps(result))
