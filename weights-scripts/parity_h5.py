"""Deterministic HDF5 writing for the parity goldens (no timestamps, fixed order) and the versions they record.

Split out of make_parity_goldens.py, which re-exports these names: make_*_goldens.py write their files with
`mpg.f32` / `mpg.i64` / `mpg.set_attrs` / `mpg.write_h5`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch

import loupe_h5

LIBVER = ("earliest", "v110")  # as convert.py: readable by HDF5 >= 1.10


# =============================================================================================
# HDF5 writing (deterministic)

def _ds(group, name: str, value, dtype) -> None:
    a = np.ascontiguousarray(np.asarray(value, dtype=dtype))
    group.create_dataset(name, data=a, dtype=a.dtype, track_times=False)


def f32(group, name: str, t) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().to(torch.float32).cpu().numpy()
    _ds(group, name, t, "<f4")


def i64(group, name: str, t) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    _ds(group, name, t, "<i8")


def f64(group, name: str, values) -> None:
    _ds(group, name, values, "<f8")


def group(parent, name: str):
    return parent.create_group(name, track_order=False)


def set_attrs(obj, **attrs) -> None:
    for k, v in attrs.items():
        if isinstance(v, str):
            loupe_h5.set_str(obj, k, v)
        elif isinstance(v, (bool, np.bool_)):
            loupe_h5.set_i8(obj, k, bool(v))
        elif isinstance(v, (int, np.integer)):
            loupe_h5.set_i64(obj, k, int(v))
        else:
            loupe_h5.set_str(obj, k, json.dumps(v, ensure_ascii=False))


def write_h5(path: Path, fill) -> None:
    """fill(f) writes the content; written to a temp file in the same directory, then os.replace'd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    with h5py.File(tmp, "w", libver=LIBVER, track_order=False) as f:
        fill(f)
    os.replace(tmp, path)


def versions() -> dict:
    import tokenizers
    import transformers
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
           "h5py": h5py.__version__, "numpy": np.__version__}
    try:
        import captum
        out["captum"] = captum.__version__
    except ImportError:
        pass
    return out
