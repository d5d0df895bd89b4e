"""Checks that bitsandbytes itself parses a directory written by `radfleet quantize` (run by hand):

    /tmp/pe/bin/pip install torch bitsandbytes safetensors
    /tmp/pe/bin/python tests/reference/qlora/check_bnb_load.py QUANTIZED_DIR FLOAT_DIR

For every `<m>.weight.quant_state.bitsandbytes__nf4` it rebuilds bitsandbytes' QuantState with
QuantState.from_dict, dequantizes by NF4's definition (quant_map[code] · absmax[block], absmax from
bitsandbytes' dequantize_blockwise + offset) and prints the worst error relative to the float
weight's max (bounded by half the widest NF4 gap, about 0.152). Single-file directories only.
"""
import os
import sys

import bitsandbytes.functional as F
import torch
from safetensors.torch import load_file

SUFFIX = ".quant_state.bitsandbytes__nf4"
q = load_file(os.path.join(sys.argv[1], "model.safetensors"))
ref = load_file(os.path.join(sys.argv[2], "model.safetensors"))
worst, n = 0.0, 0
for key in [k for k in q if k.endswith(SUFFIX)]:
    w = key[: -len(SUFFIX)]
    qs = F.QuantState.from_dict({k[len(w) + 1 :]: v for k, v in q.items() if k.startswith(w + ".")}, device="cpu")
    absmax = F.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset if qs.nested else qs.absmax
    codes = q[w].flatten()
    numel = qs.shape.numel()
    idx = torch.stack([(codes >> 4).long(), (codes & 15).long()], 1).flatten()[:numel]
    deq = (qs.code[idx] * absmax.repeat_interleave(qs.blocksize)[:numel]).view(qs.shape)
    worst = max(worst, float((deq - ref[w].float()).abs().max() / ref[w].float().abs().max()))
    n += 1
print(f"parsed {n} quant states; worst max|deq - w| / max|w| = {worst:.4f}")
sys.exit(0 if n > 0 and worst <= 0.1521 else 1)
