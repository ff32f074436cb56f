"""Shared helpers for the Loupe weight file format v1 (see docs/weights-format.md).

Used by convert.py (writer) and make_goldens.py (reader, digests). Kept free of torch so that
reading/validating a .h5 file needs only numpy + h5py.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

FORMAT_NAME = "loupe"
FORMAT_VERSION = 1
ARCHITECTURES = ("bert", "gpt2")
TASKS = ("feature-extraction", "sequence-classification", "masked-lm", "causal-lm")

# Every string attribute and string dataset is a variable-length UTF-8 HDF5 string.
STR = h5py.string_dtype(encoding="utf-8")

# FNV-1a 64-bit, over raw bytes (docs/weights-format.md, "Digests").
FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET_BASIS
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & _MASK64
    return h


def tensor_digest(array: np.ndarray) -> dict:
    """Shape and FNV-1a 64 of the tensor's values as little-endian float32, C (row-major) order."""
    le32 = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    return {"shape": list(le32.shape), "fnv1a64": format(fnv1a64(le32.tobytes()), "016x")}


def digests(tensors: dict) -> dict:
    """{"tensor_count": N, "tensors": {name: {"shape": [...], "fnv1a64": "16 hex digits"}}}, names sorted."""
    return {
        "tensor_count": len(tensors),
        "tensors": {name: tensor_digest(tensors[name]) for name in sorted(tensors)},
    }


# ---------------------------------------------------------------------------------------------
# Writing primitives (the only way convert.py writes attributes, so types stay as documented).

def set_str(obj, name: str, value: str) -> None:
    obj.attrs.create(name, value, dtype=STR)


def set_i8(obj, name: str, value: bool | int) -> None:
    obj.attrs.create(name, np.int8(1 if value else 0), dtype=np.int8)


def set_i64(obj, name: str, value: int) -> None:
    obj.attrs.create(name, np.int64(value), dtype=np.int64)


def write_strings(group, name: str, values: list) -> None:
    for i, v in enumerate(values):
        if "\x00" in v:
            raise ValueError(f"{name}[{i}] contains a NUL character, which HDF5 strings cannot hold")
    group.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)


# ---------------------------------------------------------------------------------------------
# Reading (used to check round trips; mirrors what the Swift loader must accept).

def _attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read(path) -> dict:
    """Read a Loupe v1 file completely. Raises ValueError on anything that is not valid v1."""
    with h5py.File(path, "r") as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        if attrs.get("format") != FORMAT_NAME:
            raise ValueError(f"{path}: root attribute format={attrs.get('format')!r}, expected 'loupe'")
        if attrs.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported version {attrs.get('version')!r}")
        for key in ("architecture", "config", "task"):
            if key not in attrs:
                raise ValueError(f"{path}: missing root attribute {key!r}")
        config = json.loads(attrs["config"])
        labels = json.loads(attrs["labels"]) if "labels" in attrs else None
        weights = {}
        f["weights"].visititems(
            lambda name, obj: weights.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        tok = f["tokenizer"]
        tokenizer = {k: _attr(v) for k, v in tok.attrs.items()}
        tokenizer["vocab"] = [s.decode("utf-8") for s in tok["vocab"][()]]
        if "merges" in tok:
            tokenizer["merges"] = [s.decode("utf-8") for s in tok["merges"][()]]
    return {"attrs": attrs, "config": config, "labels": labels, "weights": weights, "tokenizer": tokenizer}
