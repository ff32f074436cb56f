#!/usr/bin/env python3
"""Convert a Hugging Face BERT / GPT-2 checkpoint directory into one Loupe v1 weight file (.h5).

    python weights-scripts/convert.py SRC OUT.h5 [--dtype float32|float16] [--task TASK]

SRC is a Hugging Face model directory: config.json, weights (model.safetensors, pytorch_model.bin, or a
sharded *.index.json of either) and a tokenizer (vocab.txt; or vocab.json + merges.txt; or tokenizer.json).
Sentence-transformers directories (modules.json, 1_Pooling/) are recognised too.

Tensors are read straight from the files (safetensors / torch.load(weights_only=True)); the model class is
never instantiated, so any checkpoint of a supported model_type converts. The format is described in
docs/weights-format.md. The ONLY renames and drops applied to tensor names are the ones in KEY_RULES
(convert_rules.py). The directory and weight files are read by convert_source.py, the tokenizer by
convert_tokenizer.py; this file writes the .h5 and re-exports their names (convert.apply_key_rules etc.).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loupe_h5  # noqa: E402

# Re-exported so that importers keep using convert.X (make_goldens.py, full_size_parity.py, bench_models.py).
from convert_rules import (  # noqa: E402,F401
    ARCHITECTURE_TASKS, CONFIG_DEFAULTS, KEY_RULES, WORD_EMBEDDINGS, ConvertError, _one_line, _read_json,
    apply_key_rules, warn)
from convert_source import (  # noqa: E402,F401
    _load_safetensors, _load_torch_bin, class_labels, infer_task, load_tensors, resolve_model_dir,
    sentence_transformers_info)
from convert_tokenizer import (  # noqa: E402,F401
    _read_merges_txt, _token_str, _tokenizer_json_vocab, _vocab_from_ids, read_tokenizer)


# =============================================================================================
# Conversion

def convert(src, out, dtype: str = "float32", task: str | None = None, verbose: bool = True) -> dict:
    """Convert the HF directory src into the Loupe file out. Returns a summary dict."""
    src, out = Path(src), Path(out)
    if dtype not in ("float32", "float16"):
        raise ConvertError(f"--dtype must be float32 or float16, not {dtype!r}")
    if task is not None and task not in loupe_h5.TASKS:
        raise ConvertError(f"--task must be one of {', '.join(loupe_h5.TASKS)}, not {task!r}")
    model_dir, modules = resolve_model_dir(src)
    config_path = model_dir / "config.json"
    config = _read_json(config_path)
    if not isinstance(config, dict):
        raise ConvertError(f"{config_path}: expected a JSON object")
    architecture = config.get("model_type")
    if architecture not in loupe_h5.ARCHITECTURES:
        raise ConvertError(f"{config_path}: unsupported model_type {architecture!r} "
                           f"(supported: {', '.join(loupe_h5.ARCHITECTURES)})")
    added = {k: v for k, v in CONFIG_DEFAULTS[architecture].items() if k not in config}
    config = {**config, **added}

    raw, weight_files = load_tensors(model_dir)
    task = infer_task(architecture, config, raw.keys(), task, modules is not None, config_path)
    tensors, log = apply_key_rules(raw, config, architecture)
    labels = class_labels(config, config_path) if task == "sequence-classification" else None
    tokenizer = read_tokenizer(model_dir, architecture, config)
    st = sentence_transformers_info(src, modules) if modules is not None else None
    if st and "max_seq_length" in st:
        tokenizer["attrs"]["max_seq_length"] = ("i64", st["max_seq_length"])

    np_dtype = np.float32 if dtype == "float32" else np.float16
    arrays = {}
    for name, t in tensors.items():
        if not t.is_floating_point():
            raise ConvertError(f"{weight_files[0]}: tensor {name!r} has non-float dtype {t.dtype}")
        a = t.detach().to(torch.float32).contiguous().numpy()
        if np_dtype is np.float16:
            with np.errstate(over="ignore"):
                a16 = a.astype(np.float16)
            bad = int(np.count_nonzero(np.isinf(a16) & np.isfinite(a)))
            if bad:
                warn(f"{name}: {bad} value(s) overflow float16 and become inf")
            a = a16
        arrays[name] = a

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=str(out.parent))
    os.close(fd)
    try:
        # libver upper bound v110: readable by HDF5 1.10 (Debian's libhdf5) and newer.
        with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
            loupe_h5.set_str(f, "format", loupe_h5.FORMAT_NAME)
            loupe_h5.set_i64(f, "version", loupe_h5.FORMAT_VERSION)
            loupe_h5.set_str(f, "architecture", architecture)
            loupe_h5.set_str(f, "config", json.dumps(config, ensure_ascii=False))
            loupe_h5.set_str(f, "task", task)
            if labels is not None:
                loupe_h5.set_str(f, "labels", json.dumps(labels, ensure_ascii=False))
            if st is not None:
                loupe_h5.set_str(f, "pooling", st["pooling"])
                loupe_h5.set_str(f, "normalize", st["normalize"])
            w = f.create_group("weights")
            for name, a in arrays.items():
                w.create_dataset(name, data=a, dtype=a.dtype)
            tg = f.create_group("tokenizer")
            for name, value in tokenizer["attrs"].items():
                if isinstance(value, tuple):
                    kind, v = value
                    (loupe_h5.set_i8 if kind == "i8" else loupe_h5.set_i64)(tg, name, v)
                else:
                    loupe_h5.set_str(tg, name, value)
            loupe_h5.write_strings(tg, "vocab", tokenizer["vocab"])
            if "merges" in tokenizer:
                loupe_h5.write_strings(tg, "merges", tokenizer["merges"])
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

    summary = {
        "out": str(out), "architecture": architecture, "task": task, "dtype": dtype,
        "tensors": len(arrays), "parameters": int(sum(a.size for a in arrays.values())),
        "key_log": log, "config_defaults_added": sorted(added), "labels": labels,
        "vocab_size": len(tokenizer["vocab"]), "pooling": st,
        "weight_files": [str(p) for p in weight_files],
    }
    if verbose:
        for line in log:
            print(f"  {line}")
        if added:
            print(f"  config: added transformers defaults for {', '.join(sorted(added))}")
        extra = f", pooling {st['pooling']}, normalize {st['normalize']}" if st else ""
        print(f"wrote {out}: {architecture} {task}{extra}, {len(arrays)} tensors "
              f"({summary['parameters']:,} parameters, {dtype}), vocab {len(tokenizer['vocab'])}, "
              f"{out.stat().st_size:,} bytes")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Convert a Hugging Face BERT/GPT-2 directory to a Loupe v1 .h5 file.")
    p.add_argument("src", help="Hugging Face model directory (or sentence-transformers directory)")
    p.add_argument("out", help="output .h5 path (written atomically)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="storage dtype of weights")
    p.add_argument("--task", choices=list(loupe_h5.TASKS), help="override the task inferred from config.json")
    args = p.parse_args(argv)
    try:
        convert(args.src, args.out, dtype=args.dtype, task=args.task)
    except ConvertError as e:
        print(f"convert.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"convert.py: error: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
