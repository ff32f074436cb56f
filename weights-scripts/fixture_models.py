"""The tiny random-weight fixture models of Tests/Fixtures: paths, vocabularies and the builders in BUILDERS.

Split out of make_goldens.py, which re-exports these names (`make_goldens.BUILDERS`, `make_goldens.FIXTURES`,
`make_goldens.build_bert_tiny_cls` ...) for the scripts and benchmarks that rebuild a fixture model.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import string
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "Tests" / "Fixtures"
SEED = 0

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
