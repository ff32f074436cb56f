"""Shared helpers for the Loupe weight file format, versions 1 and 2 (see docs/weights-format.md).

Used by convert.py (writer) and make_goldens.py (reader, digests). Kept free of torch so that
reading/validating a .h5 file needs only numpy + h5py.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

FORMAT_NAME = "loupe"
FORMAT_VERSION = 1  # what convert.py writes
READ_VERSIONS = (1, 2)  # 2: version 1 plus int8 block weights with /weight_scales (`loupe quantize`)
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
# Expected tensors: the key set and shapes a loader should demand, derived from config + task.
# This is the executable version of the tables in docs/weights-format.md.

def _prefix(names, base: str) -> str:
    return base if any(n.startswith(base) for n in names) else ""


def expected_tensors(architecture: str, task: str, config: dict, names) -> tuple:
    """Returns (required {name: shape}, optional {name: shape}) for a file holding tensors `names`."""
    names = set(names)
    req, opt = {}, {}
    tied = bool(config.get("tie_word_embeddings", True))
    if architecture == "bert":
        p = _prefix(names, "bert.")
        H, I, L = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
        V, P, T = config["vocab_size"], config["max_position_embeddings"], config.get("type_vocab_size", 2)
        e = p + "embeddings."
        req[e + "word_embeddings.weight"] = [V, H]
        req[e + "position_embeddings.weight"] = [P, H]
        req[e + "token_type_embeddings.weight"] = [T, H]
        req[e + "LayerNorm.weight"] = [H]
        req[e + "LayerNorm.bias"] = [H]
        for i in range(L):
            l = f"{p}encoder.layer.{i}."
            for m in ("query", "key", "value"):
                req[l + f"attention.self.{m}.weight"] = [H, H]
                req[l + f"attention.self.{m}.bias"] = [H]
            req[l + "attention.output.dense.weight"] = [H, H]
            req[l + "attention.output.dense.bias"] = [H]
            req[l + "attention.output.LayerNorm.weight"] = [H]
            req[l + "attention.output.LayerNorm.bias"] = [H]
            req[l + "intermediate.dense.weight"] = [I, H]
            req[l + "intermediate.dense.bias"] = [I]
            req[l + "output.dense.weight"] = [H, I]
            req[l + "output.dense.bias"] = [H]
            req[l + "output.LayerNorm.weight"] = [H]
            req[l + "output.LayerNorm.bias"] = [H]
        # Heads: the task's own head is required; another task's head (a checkpoint converted with
        # --task feature-extraction, BertForPreTraining's NSP head) is allowed and ignored.
        pooler = {p + "pooler.dense.weight": [H, H], p + "pooler.dense.bias": [H]}
        n = len(config.get("id2label") or {}) or config.get("num_labels", 2)
        classifier = {"classifier.weight": [n, H], "classifier.bias": [n]}
        c = "cls.predictions."
        mlm = {c + "transform.dense.weight": [H, H], c + "transform.dense.bias": [H],
               c + "transform.LayerNorm.weight": [H], c + "transform.LayerNorm.bias": [H], c + "bias": [V]}
        decoder = {c + "decoder.weight": [V, H]}
        nsp = {"cls.seq_relationship.weight": [2, H], "cls.seq_relationship.bias": [2]}
        (req if task == "sequence-classification" else opt).update(pooler)
        (req if task == "sequence-classification" else opt).update(classifier)
        (req if task == "masked-lm" else opt).update(mlm)
        (req if task == "masked-lm" and not tied else opt).update(decoder)
        opt.update(nsp)
    elif architecture == "gpt2":
        p = _prefix(names, "transformer.")
        E, L, V, P = config["n_embd"], config["n_layer"], config["vocab_size"], config["n_positions"]
        I = config.get("n_inner") or 4 * E
        req[p + "wte.weight"] = [V, E]
        req[p + "wpe.weight"] = [P, E]
        for i in range(L):
            h = f"{p}h.{i}."
            for ln in ("ln_1", "ln_2"):
                req[h + ln + ".weight"] = [E]
                req[h + ln + ".bias"] = [E]
            req[h + "attn.c_attn.weight"] = [E, 3 * E]  # Conv1D: [in, out]
            req[h + "attn.c_attn.bias"] = [3 * E]
            req[h + "attn.c_proj.weight"] = [E, E]
            req[h + "attn.c_proj.bias"] = [E]
            req[h + "mlp.c_fc.weight"] = [E, I]
            req[h + "mlp.c_fc.bias"] = [I]
            req[h + "mlp.c_proj.weight"] = [I, E]
            req[h + "mlp.c_proj.bias"] = [E]
        req[p + "ln_f.weight"] = [E]
        req[p + "ln_f.bias"] = [E]
        (req if task == "causal-lm" and not tied else opt)["lm_head.weight"] = [V, E]
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    return req, opt


def validate(path) -> dict:
    """read() plus the key-set/shape check a loader must do. Raises ValueError naming the problem."""
    data = read(path)
    a = data["attrs"]
    if a["architecture"] not in ARCHITECTURES:
        raise ValueError(f"{path}: unknown architecture {a['architecture']!r}")
    if a["task"] not in TASKS:
        raise ValueError(f"{path}: unknown task {a['task']!r}")
    req, opt = expected_tensors(a["architecture"], a["task"], data["config"], data["weights"])
    for name, shape in req.items():
        if name not in data["weights"]:
            raise ValueError(f"{path}: missing tensor {name}")
    for name, value in data["weights"].items():
        want = req.get(name, opt.get(name))
        if want is None:
            raise ValueError(f"{path}: unexpected tensor {name}")
        if list(value.shape) != want:
            raise ValueError(f"{path}: tensor {name} has shape {list(value.shape)}, expected {want}")
    return data


# ---------------------------------------------------------------------------------------------
# Reading (used to check round trips; mirrors what the Swift loader must accept).

def _attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _int8_axis(architecture: str, name: str, base: str):
    """The output-channel axis of a block weight a version 2 file may store as int8, else None."""
    key = name[len(base):] if name.startswith(base) else name
    if architecture == "bert" and key.startswith("encoder.layer."):
        return 0
    if architecture == "gpt2" and key.startswith("h."):
        return 1
    return None


def read(path) -> dict:
    """Read a Loupe v1 or v2 file completely (int8 tensors as float32 q·scale). Raises ValueError on anything
    that is not a valid file."""
    with h5py.File(path, "r") as f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        if attrs.get("format") != FORMAT_NAME:
            raise ValueError(f"{path}: root attribute format={attrs.get('format')!r}, expected 'loupe'")
        if attrs.get("version") not in READ_VERSIONS:
            raise ValueError(f"{path}: unsupported version {attrs.get('version')!r}")
        for key in ("architecture", "config", "task"):
            if key not in attrs:
                raise ValueError(f"{path}: missing root attribute {key!r}")
        config = json.loads(attrs["config"])
        labels = json.loads(attrs["labels"]) if "labels" in attrs else None
        weights = {}
        f["weights"].visititems(
            lambda name, obj: weights.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        base = {"bert": "bert.", "gpt2": "transformer."}.get(attrs["architecture"], "")
        for name, value in list(weights.items()):
            if value.dtype != np.int8:
                continue
            axis = _int8_axis(attrs["architecture"], name, base)
            if attrs["version"] < 2 or value.ndim != 2 or axis is None:
                raise ValueError(f"{path}: tensor {name} is int8, allowed only for block weights in version 2")
            if name not in f.get("weight_scales", {}):
                raise ValueError(f"{path}: int8 tensor {name} has no /weight_scales entry")
            scales = f["weight_scales"][name][()].astype(np.float32)
            if scales.shape != (value.shape[axis],) or not np.all(np.isfinite(scales) & (scales > 0)):
                raise ValueError(f"{path}: int8 tensor {name}: bad scales")
            weights[name] = value.astype(np.float32) * (scales[:, None] if axis == 0 else scales[None, :])
        tok = f["tokenizer"]
        tokenizer = {k: _attr(v) for k, v in tok.attrs.items()}
        tokenizer["vocab"] = [s.decode("utf-8") for s in tok["vocab"][()]]
        if "merges" in tok:
            tokenizer["merges"] = [s.decode("utf-8") for s in tok["merges"][()]]
    return {"attrs": attrs, "config": config, "labels": labels, "weights": weights, "tokenizer": tokenizer}
