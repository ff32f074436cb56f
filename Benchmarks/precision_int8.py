"""The int8 references of bench_precision.py: ONNX Runtime and PyTorch dynamic quantization, checked against fp32."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SWAP_TOL = 1e-4  # max |logits diff| allowed between GPT-2 with Conv1D and with the equivalent nn.Linear


def ort_int8(m: dict) -> dict:
    """quant_pre_process (first variant that works) + quantize_dynamic QInt8 of the fp32 export; cached."""
    out, meta_path = Path(m["onnx"]).with_name(f"{m['name']}-int8.onnx"), Path(m["onnx"]).with_name(f"{m['name']}-int8.json")
    if out.is_file() and meta_path.is_file():
        return json.loads(meta_path.read_text())
    import collections
    import tempfile
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre, src, meta = out.with_name(f"{m['name']}-pre.onnx"), m["onnx"], {"preprocess": "none", "failed": []}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        os.chdir(tmp)  # a failed symbolic shape inference dumps sym_shape_infer_temp.onnx + its data into the cwd
        try:
            for how, kw in [("quant_pre_process", {}), ("quant_pre_process(auto_merge=True)", dict(auto_merge=True)),
                            ("quant_pre_process(skip_symbolic_shape=True)", dict(skip_symbolic_shape=True))]:
                try:
                    quant_pre_process(m["onnx"], str(pre), **kw)
                    src, meta["preprocess"] = str(pre), how
                    break
                except Exception as e:  # noqa: BLE001 - try the next variant, then none
                    meta["failed"].append(f"{how}: {type(e).__name__}: {e}")
        finally:
            os.chdir(cwd)
    quantize_dynamic(src, str(out), weight_type=QuantType.QInt8)
    pre.unlink(missing_ok=True)
    meta["ops"] = dict(collections.Counter(n.op_type for n in onnx.load(str(out)).graph.node
                                           if n.op_type in ("MatMulInteger", "DynamicQuantizeLinear", "MatMul", "Gemm")))
    meta["check"] = ort_check(m["onnx"], str(out))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def ort_check(fp32: str, int8: str) -> dict:
    """int8 vs fp32 logits of one random 1x128 input (random weights: logits are small)."""
    import numpy as np
    import onnxruntime as ort
    ids = np.random.default_rng(2).integers(0, 30000, (1, 128), dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    ref, q = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, feed)[0] for p in (fp32, int8))
    return {"logits_absmax": float(np.abs(ref).max()), "int8_max_abs_diff": float(np.abs(q - ref).max())}


def torch_int8(model, kind: str):
    """quantize_dynamic of every nn.Linear (GPT-2: after the Conv1D -> nn.Linear swap); returns (model, checks)."""
    import torch
    from transformers.pytorch_utils import Conv1D
    ids = torch.randint(0, model.config.vocab_size, (1, 128), generator=torch.Generator().manual_seed(2))

    def logits(mod):
        with torch.inference_mode():
            return (mod(input_ids=ids) if kind == "bert" else mod(input_ids=ids, use_cache=False)).logits.float()
    ref, checks = logits(model), {}
    if kind == "gpt2":
        swaps = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
                 if isinstance(child, Conv1D)]
        for parent, name, conv in swaps:
            lin = torch.nn.Linear(conv.nx, conv.nf)
            with torch.no_grad():
                lin.weight.copy_(conv.weight.t())
                lin.bias.copy_(conv.bias)
            setattr(parent, name, lin)
        diff = (logits(model) - ref).abs().max().item()
        print(f"GPT-2 Conv1D -> nn.Linear: {len(swaps)} swapped, max |logits diff| {diff:.3g} (tolerance {SWAP_TOL:g})",
              file=sys.stderr)
        if diff > SWAP_TOL:
            raise RuntimeError(f"Conv1D -> Linear swap changed the logits by {diff:g} > {SWAP_TOL:g}")
        checks.update(swapped=len(swaps), swap_max_abs_diff=diff, swap_tolerance=SWAP_TOL)
    q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    left = sum(type(mod) in (torch.nn.Linear, Conv1D) for mod in q.modules())
    ql = logits(q)
    checks.update(fp32_linear_left=left, logits_absmax=ref.abs().max().item(),
                  int8_max_abs_diff=(ql - ref).abs().max().item(),
                  int8_argmax_agreement=(ql.argmax(-1) == ref.argmax(-1)).float().mean().item(),
                  quantized_engine=torch.backends.quantized.engine)
    return q, checks
