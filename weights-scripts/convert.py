#!/usr/bin/env python3
"""Convert a Hugging Face BERT / GPT-2 checkpoint directory into one Loupe v1 weight file (.h5).

    python weights-scripts/convert.py SRC OUT.h5 [--dtype float32|float16] [--task TASK]

SRC is a Hugging Face model directory: config.json, weights (model.safetensors, pytorch_model.bin, or a
sharded *.index.json of either) and a tokenizer (vocab.txt; or vocab.json + merges.txt; or tokenizer.json).
Sentence-transformers directories (modules.json, 1_Pooling/) are recognised too.

Tensors are read straight from the files (safetensors / torch.load(weights_only=True)); the model class is
never instantiated, so any checkpoint of a supported model_type converts. The format is described in
docs/weights-format.md. The ONLY renames and drops applied to tensor names are the ones in KEY_RULES below.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loupe_h5  # noqa: E402

# =============================================================================================
# KEY_RULES: the one table of renames and drops (mirrored in docs/weights-format.md).
# Applied to every tensor name of the checkpoint, in this order; the first rule whose pattern
# matches decides. Names that match no rule are kept unchanged, with the same shape.
#
#   action        pattern (re.fullmatch)                    result / condition
KEY_RULES = [
    # Legacy TF-style LayerNorm parameter names; transformers renames them the same way on load.
    ("rename", r"(.*)LayerNorm\.gamma", r"\1LayerNorm.weight"),
    ("rename", r"(.*)LayerNorm\.beta", r"\1LayerNorm.bias"),
    # Non-parameter buffers: constants the runtime derives itself.
    ("drop", r"(.*\.)?embeddings\.position_ids", "buffer: arange(max_position_embeddings)"),
    ("drop", r"(.*\.)?embeddings\.token_type_ids", "buffer: zeros(1, max_position_embeddings)"),
    ("drop", r"(.*\.)?h\.\d+\.attn\.bias", "buffer: GPT-2 causal mask"),
    ("drop", r"(.*\.)?h\.\d+\.attn\.masked_bias", "buffer: GPT-2 mask fill value"),
    # Output projections tied to the input word embeddings: dropped when config
    # tie_word_embeddings is true (its default); the loader ties them again.
    ("drop-if-tied", r"lm_head\.weight", "tied to word embeddings"),
    ("drop-if-tied", r"cls\.predictions\.decoder\.weight", "tied to word embeddings"),
    # BERT MLM decoder bias is the same Parameter as cls.predictions.bias (transformers ties them);
    # dropped when cls.predictions.bias is also stored, renamed to it otherwise.
    ("alias", r"cls\.predictions\.decoder\.bias", "cls.predictions.bias"),
]

# Word-embedding tensors that a tied output projection shares (with or without the base prefix).
WORD_EMBEDDINGS = {
    "bert": ("bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"),
    "gpt2": ("transformer.wte.weight", "wte.weight"),
}

# config.json keys the runtime reads, with transformers' defaults (BertConfig / GPT2Config). convert.py
# writes these into the stored config when config.json omits them, so a loader never needs HF defaults.
CONFIG_DEFAULTS = {
    "bert": {
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
        "type_vocab_size": 2, "pad_token_id": 0, "tie_word_embeddings": True,
    },
    "gpt2": {
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "n_inner": None,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False, "tie_word_embeddings": True,
    },
}

# config.json "architectures" entry -> task.
ARCHITECTURE_TASKS = {
    "BertModel": "feature-extraction",
    "BertForSequenceClassification": "sequence-classification",
    "BertForMaskedLM": "masked-lm",
    "BertForPreTraining": "masked-lm",
    "GPT2Model": "feature-extraction",
    "GPT2LMHeadModel": "causal-lm",
}


class ConvertError(Exception):
    """A problem with the input; main() prints it as one line and exits 1."""


def warn(msg: str) -> None:
    print(f"convert.py: warning: {msg}", file=sys.stderr)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}: invalid JSON ({_one_line(e)})") from None


# =============================================================================================
# Key rules

def apply_key_rules(tensors: dict, config: dict, architecture: str):
    """Apply KEY_RULES to {name: torch.Tensor}. Returns (kept {name: tensor} in input order, log lines)."""
    tied = bool(config.get("tie_word_embeddings", True))
    embed = next((tensors[k] for k in WORD_EMBEDDINGS[architecture] if k in tensors), None)
    kept, log = {}, []
    for name, tensor in tensors.items():
        for action, pattern, arg in KEY_RULES:
            m = re.fullmatch(pattern, name)
            if not m:
                continue
            if action == "rename":
                new = m.expand(arg)
                if new in tensors:
                    raise ConvertError(f"checkpoint holds both {name!r} and {new!r}")
                kept[new] = tensor
                log.append(f"renamed {name} -> {new}")
            elif action == "drop":
                log.append(f"dropped {name} ({arg})")
            elif action == "drop-if-tied":
                if not tied:
                    kept[name] = tensor
                    break
                if embed is not None and (tensor.shape != embed.shape or not torch.equal(
                        tensor.to(torch.float32), embed.to(torch.float32))):
                    warn(f"{name} differs from the word embeddings, but tie_word_embeddings is true: "
                         "transformers ignores the stored value, and so does Loupe")
                log.append(f"dropped {name} ({arg})")
            elif action == "alias":
                if arg in tensors:
                    if not torch.equal(tensor.to(torch.float32), tensors[arg].to(torch.float32)):
                        warn(f"{name} differs from {arg}; transformers ties them, keeping {arg}")
                    log.append(f"dropped {name} (same parameter as {arg})")
                else:
                    kept[arg] = tensor
                    log.append(f"renamed {name} -> {arg}")
            break
        else:
            kept[name] = tensor
    return kept, log


# =============================================================================================
# Reading the source directory

def resolve_model_dir(src: Path):
    """Returns (model_dir, modules) where modules is the parsed modules.json or None."""
    if not src.is_dir():
        raise ConvertError(f"{src}: not a directory")
    modules = None
    if (src / "modules.json").is_file():
        modules = _read_json(src / "modules.json")
        if not isinstance(modules, list):
            raise ConvertError(f"{src / 'modules.json'}: expected a JSON list of modules")
        transformer = [m for m in modules if str(m.get("type", "")).endswith(".Transformer")]
        if transformer and transformer[0].get("path"):
            src = src / transformer[0]["path"]
    if not (src / "config.json").is_file():
        raise ConvertError(f"{src / 'config.json'}: missing config.json")
    return src, modules


def sentence_transformers_info(root: Path, modules: list) -> dict:
    """pooling / normalize / max_seq_length from a sentence-transformers directory."""
    info = {"pooling": "mean", "normalize": "none"}
    for m in modules:
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            cfg_path = root / m.get("path", "") / "config.json"
            if cfg_path.is_file():
                cfg = _read_json(cfg_path)
                modes = [mode for key, mode in (("pooling_mode_cls_token", "cls"),
                                                ("pooling_mode_mean_tokens", "mean"),
                                                ("pooling_mode_max_tokens", "max"),
                                                ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
                                                ("pooling_mode_weightedmean_tokens", "weightedmean"),
                                                ("pooling_mode_lasttoken", "lasttoken"))
                         if cfg.get(key)]
                if len(modes) != 1:
                    raise ConvertError(f"{cfg_path}: expected exactly one pooling mode, found {modes or 'none'}")
                info["pooling"] = modes[0]
        elif kind == "Normalize":
            info["normalize"] = "l2"
        else:
            raise ConvertError(f"{root / 'modules.json'}: module type {m.get('type')!r} is not supported by "
                               "Loupe v1 (only Transformer, Pooling, Normalize)")
    sbc = root / "sentence_bert_config.json"
    if sbc.is_file():
        msl = _read_json(sbc).get("max_seq_length")
        if isinstance(msl, int):
            info["max_seq_length"] = msl
    return info


def _load_safetensors(path: Path) -> dict:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ConvertError(f"{path}: cannot read safetensors file ({_one_line(e)})") from None


def _load_torch_bin(path: Path) -> dict:
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConvertError(f"{path}: cannot read PyTorch checkpoint ({_one_line(e)})") from None
    if not isinstance(sd, dict):
        raise ConvertError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return {k: v for k, v in sd.items()}


def load_tensors(model_dir: Path):
    """Returns ({name: torch.Tensor} in file order, list of files read)."""
    candidates = [
        ("model.safetensors", _load_safetensors),
        ("model.safetensors.index.json", None),
        ("pytorch_model.bin", _load_torch_bin),
        ("pytorch_model.bin.index.json", None),
    ]
    for fname, loader in candidates:
        path = model_dir / fname
        if not path.is_file():
            continue
        if loader is not None:
            return loader(path), [path]
        index = _read_json(path)
        shard_loader = _load_safetensors if fname.startswith("model.safetensors") else _load_torch_bin
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise ConvertError(f"{path}: no weight_map")
        tensors, files = {}, []
        for shard in dict.fromkeys(weight_map.values()):
            if not (model_dir / shard).is_file():
                raise ConvertError(f"{model_dir / shard}: shard listed in {fname} is missing")
            tensors.update(shard_loader(model_dir / shard))
            files.append(model_dir / shard)
        missing = [k for k in weight_map if k not in tensors]
        if missing:
            raise ConvertError(f"{path}: tensor {missing[0]!r} is not in its shard")
        return tensors, files
    raise ConvertError(f"{model_dir}: no weight file (model.safetensors, pytorch_model.bin or a sharded index)")


def infer_task(architecture: str, config: dict, names, requested, is_sentence_transformers: bool,
               config_path: Path) -> str:
    names = set(names)
    if requested:
        task = requested
    elif is_sentence_transformers:
        task = "feature-extraction"
    else:
        archs = config.get("architectures") or []
        known = [ARCHITECTURE_TASKS[a] for a in archs if a in ARCHITECTURE_TASKS]
        if known:
            task = known[0]
        elif archs:
            raise ConvertError(f"{config_path}: architectures {archs} not supported "
                               f"(supported: {', '.join(ARCHITECTURE_TASKS)}); pass --task to override")
        elif architecture == "bert":
            task = ("sequence-classification" if "classifier.weight" in names
                    else "masked-lm" if any(n.startswith("cls.predictions.") for n in names)
                    else "feature-extraction")
        else:
            task = "causal-lm" if ("lm_head.weight" in names or any(n.startswith("transformer.") for n in names)) \
                else "feature-extraction"
    # The head a task needs must be in the checkpoint (tied projections excepted).
    if task == "sequence-classification":
        if architecture != "bert":
            raise ConvertError(f"task sequence-classification is supported for bert only, not {architecture}")
        if not {"classifier.weight", "classifier.bias"} <= names:
            raise ConvertError("task sequence-classification needs tensors classifier.weight/classifier.bias, "
                               "which the checkpoint does not have")
    elif task == "masked-lm":
        if architecture != "bert":
            raise ConvertError(f"task masked-lm needs a bert checkpoint, not {architecture}")
        if "cls.predictions.transform.dense.weight" not in names:
            raise ConvertError("task masked-lm needs tensor cls.predictions.transform.dense.weight, "
                               "which the checkpoint does not have")
    elif task == "causal-lm":
        if architecture != "gpt2":
            raise ConvertError(f"task causal-lm needs a gpt2 checkpoint, not {architecture}")
    return task


def class_labels(config: dict, config_path: Path):
    id2label = config.get("id2label")
    if not id2label:
        return None
    try:
        by_id = {int(k): str(v) for k, v in id2label.items()}
    except (ValueError, AttributeError):
        raise ConvertError(f"{config_path}: id2label must map integer ids to names") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise ConvertError(f"{config_path}: id2label ids are not 0..{len(by_id) - 1}")
    if "num_labels" in config and config["num_labels"] != len(by_id):
        raise ConvertError(f"{config_path}: num_labels={config['num_labels']} but id2label has {len(by_id)}")
    return [by_id[i] for i in range(len(by_id))]


# ---------------------------------------------------------------------------------------------
# Tokenizer

def _token_str(value):
    """A special token from tokenizer_config.json / special_tokens_map.json (str or AddedToken dict)."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _vocab_from_ids(token_to_id: dict, where: str) -> list:
    by_id = {}
    for tok, i in token_to_id.items():
        if not isinstance(i, int) or i < 0:
            raise ConvertError(f"{where}: token {tok!r} has invalid id {i!r}")
        if i in by_id and by_id[i] != tok:
            raise ConvertError(f"{where}: id {i} is used by both {by_id[i]!r} and {tok!r}")
        by_id[i] = tok
    n = len(by_id)
    missing = next((i for i in range(n) if i not in by_id), None)
    if missing is not None:
        raise ConvertError(f"{where}: token ids are not contiguous (no token has id {missing})")
    return [by_id[i] for i in range(n)]


def _tokenizer_json_vocab(tj: dict, path: Path) -> list:
    model = tj.get("model") or {}
    vocab = dict(model.get("vocab") or {})
    for added in tj.get("added_tokens") or []:
        vocab.setdefault(added["content"], added["id"])
    if not vocab:
        raise ConvertError(f"{path}: model.vocab is empty")
    return _vocab_from_ids(vocab, f"{path} (model.vocab)")


def _read_merges_txt(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = []
    for n, line in enumerate(lines):
        if (n == 0 and line.startswith("#version")) or not line.strip():
            continue
        if len(line.split(" ")) != 2:
            raise ConvertError(f"{path}:{n + 1}: expected 'a b', got {line!r}")
        merges.append(line)
    return merges


def read_tokenizer(model_dir: Path, architecture: str, config: dict) -> dict:
    tc_path = model_dir / "tokenizer_config.json"
    tc = _read_json(tc_path) if tc_path.is_file() else {}
    stm_path = model_dir / "special_tokens_map.json"
    stm = _read_json(stm_path) if stm_path.is_file() else {}
    tj_path = model_dir / "tokenizer.json"
    tj = _read_json(tj_path) if tj_path.is_file() else None

    def special(name, default):
        value = _token_str(tc.get(name)) or _token_str(stm.get(name))
        return value if isinstance(value, str) and value else default

    out = {"attrs": {}, "sources": []}
    n_pos = config.get("max_position_embeddings", config.get("n_positions"))
    max_len = tc.get("model_max_length")
    if not isinstance(max_len, int) or max_len <= 0 or max_len >= 2 ** 62:  # HF writes 1e30 for "no limit"
        max_len = n_pos
    if not isinstance(max_len, int):
        raise ConvertError(f"{model_dir / 'config.json'}: no max_position_embeddings/n_positions")

    if architecture == "bert":
        norm = (tj or {}).get("normalizer") or {}
        if norm.get("type") != "BertNormalizer":
            norm = {}
        if (model_dir / "vocab.txt").is_file():
            # Same reading as transformers' load_vocab: one token per line, newline stripped.
            with open(model_dir / "vocab.txt", encoding="utf-8") as f:
                vocab = [line.rstrip("\n") for line in f.readlines()]
            out["sources"].append(model_dir / "vocab.txt")
            if tj is not None and (tj.get("model") or {}).get("type") == "WordPiece":
                if _tokenizer_json_vocab(tj, tj_path) != vocab:
                    warn(f"{tj_path} and vocab.txt disagree; using vocab.txt")
        elif tj is not None and (tj.get("model") or {}).get("type") == "WordPiece":
            vocab = _tokenizer_json_vocab(tj, tj_path)
            out["sources"].append(tj_path)
        else:
            raise ConvertError(f"{model_dir}: no vocab (vocab.txt, or tokenizer.json with a WordPiece model)")
        do_lower = tc.get("do_lower_case", norm.get("lowercase", True))
        strip = tc["strip_accents"] if "strip_accents" in tc else norm.get("strip_accents")
        chinese = tc.get("tokenize_chinese_chars", norm.get("handle_chinese_chars", True))
        a = out["attrs"]
        a["type"] = "wordpiece"
        a["do_lower_case"] = ("i8", bool(do_lower))
        a["strip_accents"] = "none" if strip is None else ("true" if strip else "false")
        a["tokenize_chinese_chars"] = ("i8", bool(chinese))
        for name, default in (("unk_token", "[UNK]"), ("cls_token", "[CLS]"), ("sep_token", "[SEP]"),
                              ("pad_token", "[PAD]"), ("mask_token", "[MASK]")):
            a[name] = special(name, default)
        a["model_max_length"] = ("i64", max_len)
        out["vocab"] = vocab
    else:
        tj_model = (tj or {}).get("model") or {}
        if (model_dir / "vocab.json").is_file() and (model_dir / "merges.txt").is_file():
            vj = _read_json(model_dir / "vocab.json")
            vocab = _vocab_from_ids(vj, str(model_dir / "vocab.json"))
            merges = _read_merges_txt(model_dir / "merges.txt")
            out["sources"] += [model_dir / "vocab.json", model_dir / "merges.txt"]
        elif tj_model.get("type") == "BPE":
            vocab = _tokenizer_json_vocab(tj, tj_path)
            merges = [m if isinstance(m, str) else " ".join(m) for m in tj_model.get("merges") or []]
            out["sources"].append(tj_path)
        else:
            raise ConvertError(f"{model_dir}: no vocab (vocab.json + merges.txt, or tokenizer.json with a BPE model)")
        vocab_set = set(vocab)
        for rank, m in enumerate(merges):
            left, right = m.split(" ")
            if left not in vocab_set or right not in vocab_set:
                warn(f"merge {rank} {m!r} has a part that is not in the vocab")
        add_prefix = tc.get("add_prefix_space")
        if add_prefix is None:
            pre = (tj or {}).get("pre_tokenizer") or {}
            add_prefix = pre.get("add_prefix_space", False) if pre.get("type") == "ByteLevel" else False
        a = out["attrs"]
        a["type"] = "bpe"
        for name in ("unk_token", "bos_token", "eos_token"):
            a[name] = special(name, "<|endoftext|>")
        a["add_prefix_space"] = ("i8", bool(add_prefix))
        a["model_max_length"] = ("i64", max_len)
        out["vocab"] = vocab
        out["merges"] = merges

    vocab_set = set(out["vocab"])
    for name in ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "eos_token"):
        tok = out["attrs"].get(name)
        if tok is not None and tok not in vocab_set:
            warn(f"{name} {tok!r} is not in the vocab")
    if len(vocab_set) != len(out["vocab"]):
        warn(f"vocab has {len(out['vocab']) - len(vocab_set)} duplicate token(s)")
    vs = config.get("vocab_size")
    if isinstance(vs, int) and len(out["vocab"]) > vs:
        warn(f"tokenizer has {len(out['vocab'])} tokens but config vocab_size is {vs}")
    return out


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
