"""Reads a Hugging Face model directory for convert.py: sentence-transformers layout, weight files, task, labels.

Split out of convert.py (which re-exports every name here).
"""
from __future__ import annotations

from pathlib import Path

import torch

from convert_rules import ARCHITECTURE_TASKS, ConvertError, _one_line, _read_json


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
