"""Checks and digests of the converted weight fixtures: bit-identity, FNV-1a digest JSON, other checkpoint layouts.

Split out of make_goldens.py, which re-exports these names (make_parity_goldens.py and the other golden scripts
use `reference_state` / `check_identical` to prove a rebuilt model equals the committed fixture).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

import convert
import loupe_h5
from fixture_models import FIXTURES, FixtureModel


# =============================================================================================
# Digests and verification

def reference_state(fm: FixtureModel, config: dict, architecture: str) -> dict:
    """The original PyTorch state dict after KEY_RULES, as float32 numpy (float16 round trip for f16)."""
    kept, _ = convert.apply_key_rules(dict(fm.model.state_dict()), config, architecture)
    out = {}
    for name, t in kept.items():
        t = t.detach().to(torch.float32)
        if fm.dtype == "float16":
            t = t.to(torch.float16).to(torch.float32)
        out[name] = t.contiguous().numpy()
    return out


def check_identical(path: Path, ref: dict, stored: dict) -> None:
    if set(ref) != set(stored):
        raise AssertionError(f"{path}: tensor names differ: only in state dict {sorted(set(ref) - set(stored))}, "
                             f"only in file {sorted(set(stored) - set(ref))}")
    for name, a in ref.items():
        b = np.asarray(stored[name], dtype=np.float32)
        if a.shape != b.shape or a.tobytes() != b.tobytes():
            raise AssertionError(f"{path}: tensor {name} is not bit-identical to the state dict")


def hash_doc() -> dict:
    return {
        "algorithm": "FNV-1a 64-bit",
        "offset_basis": "0xcbf29ce484222325",
        "prime": "0x100000001b3",
        "input": "the tensor's values as IEEE-754 float32, little-endian, row-major (C) order, raw bytes "
                 "(float16 files: the float16 values widened exactly to float32)",
        "output": "16 lowercase hex digits",
        "check": {"": "cbf29ce484222325", "a": format(loupe_h5.fnv1a64(b"a"), "016x")},
    }


def versions() -> dict:
    import safetensors
    import tokenizers
    import transformers
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
            "h5py": h5py.__version__, "numpy": np.__version__}


def sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    # One line per tensor: collapse number lists, then innermost objects.
    text = re.sub(r"\[\s*([-0-9.,\s]*?)\s*\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    text = re.sub(r"\{\s*([^{}\[\]]*?(?:\[[^\[\]]*\][^{}\[\]]*?)*)\s*\}",
                  lambda m: "{" + " ".join(m.group(1).split()) + "}", text)
    json.loads(text)  # still the same JSON
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


# =============================================================================================
# Checkpoint variants: other layouts of the same weights must convert to the same tensors.

def _stored(path: Path) -> dict:
    return {k: np.asarray(v, dtype=np.float32) for k, v in loupe_h5.validate(path)["weights"].items()}


def check_convert_variants(built: list, workdir: Path) -> None:
    """Legacy / alternative checkpoint layouts, written from the fixture models, through convert.convert()."""
    from safetensors.torch import save_file
    fm = {f.name: f for f in built}

    # 1. BERT MLM as an old-style pytorch_model.bin: LayerNorm.gamma/beta, position_ids and token_type_ids
    #    buffers, tied cls.predictions.decoder.weight/bias stored; vocab.txt only, no tokenizer_config.json.
    mlm = fm["bert_tiny_mlm"]
    d = workdir / "variant_bert_bin"
    d.mkdir(exist_ok=True)
    P = mlm.model.config.max_position_embeddings
    sd = {}
    for k, v in mlm.model.state_dict().items():
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        sd[k] = v
    sd["bert.embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
    sd["bert.embeddings.token_type_ids"] = torch.zeros(1, P, dtype=torch.long)
    assert "cls.predictions.decoder.weight" in sd and "cls.predictions.decoder.bias" in sd
    torch.save(sd, d / "pytorch_model.bin")
    shutil.copy(mlm.hf_dir / "config.json", d)
    shutil.copy(mlm.hf_dir / "vocab.txt", d)
    s = convert.convert(d, workdir / "variant_bert_bin.h5", verbose=False)
    assert s["task"] == "masked-lm", s["task"]
    check_identical(d, _stored(FIXTURES / "bert_tiny_mlm.h5"), _stored(workdir / "variant_bert_bin.h5"))
    a, b = loupe_h5.read(FIXTURES / "bert_tiny_mlm.h5")["tokenizer"], loupe_h5.read(workdir / "variant_bert_bin.h5")["tokenizer"]
    assert a == b, "tokenizer differs without tokenizer_config.json"
    print(f"  pytorch_model.bin with gamma/beta + buffers + tied decoder -> same {len(sd) - 4} tensors as bert_tiny_mlm.h5")

    # 2. GPT-2 as the hub's gpt2 stores it: no "transformer." prefix, attn.bias/masked_bias buffers and a tied
    #    lm_head.weight copy, here sharded in two safetensors files; tokenizer.json only (no vocab.json/merges.txt).
    g = fm["gpt2_tiny"]
    d = workdir / "variant_gpt2_sharded"
    d.mkdir(exist_ok=True)
    P = g.model.config.n_positions
    sd = {k.removeprefix("transformer."): v.clone().contiguous() for k, v in g.model.state_dict().items()}
    for i in range(g.model.config.n_layer):
        sd[f"h.{i}.attn.bias"] = torch.tril(torch.ones(P, P, dtype=torch.bool)).view(1, 1, P, P)
        sd[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    names = list(sd)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for fname, keys in shards.items():
        save_file({k: sd[k] for k in keys}, str(d / fname), metadata={"format": "pt"})
    with open(d / "model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {}, "weight_map": {k: fn for fn, ks in shards.items() for k in ks}}, f)
    for fname in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(g.hf_dir / fname, d)
    s = convert.convert(d, workdir / "variant_gpt2.h5", verbose=False)
    assert s["task"] == "causal-lm", s["task"]
    want = {k.removeprefix("transformer."): v for k, v in _stored(FIXTURES / "gpt2_tiny.h5").items()}
    check_identical(d, want, _stored(workdir / "variant_gpt2.h5"))
    a, b = loupe_h5.read(FIXTURES / "gpt2_tiny.h5")["tokenizer"], loupe_h5.read(workdir / "variant_gpt2.h5")["tokenizer"]
    assert a == b, "BPE tokenizer from tokenizer.json differs from vocab.json + merges.txt"
    print(f"  sharded un-prefixed GPT-2 with mask buffers + tied lm_head, tokenizer.json only -> same {len(want)} tensors")

    # 3. bfloat16 source weights: widened exactly to float32.
    micro = fm["bert_micro"]
    d = workdir / "variant_bf16"
    shutil.copytree(micro.hf_dir, d, dirs_exist_ok=True)
    bf = {k: v.to(torch.bfloat16).contiguous() for k, v in micro.model.state_dict().items()}
    save_file(bf, str(d / "model.safetensors"), metadata={"format": "pt"})
    convert.convert(d, workdir / "variant_bf16.h5", verbose=False)
    check_identical(d, {k: v.to(torch.float32).numpy() for k, v in bf.items()}, _stored(workdir / "variant_bf16.h5"))
    print("  bfloat16 safetensors -> exact float32 widening")
