"""KEY_RULES and the other tables of convert.py, its error type and warnings, and applying the key rules.

Split out of convert.py (which re-exports every name here, so `convert.apply_key_rules` etc. keep working).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch

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
