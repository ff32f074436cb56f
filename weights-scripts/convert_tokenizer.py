"""Reads a Hugging Face tokenizer (vocab.txt; vocab.json + merges.txt; tokenizer.json) for the /tokenizer group.

Split out of convert.py (which re-exports every name here).
"""
from __future__ import annotations

from pathlib import Path

from convert_rules import ConvertError, _read_json, warn


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
