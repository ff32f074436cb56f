#!/usr/bin/env python3
"""Writes Fuzz/Corpus/<harness>/ seed inputs from the test fixtures (Python standard library only).

The seeds are small (a few KB each, the HDF5 fixture ~25 KB) and committed; libFuzzer starts from them and keeps
what it finds in a scratch corpus, never here. Re-run after changing a fixture or an input layout:
`python3 Fuzz/seeds.py` (it replaces Fuzz/Corpus/ except the `regressions/` inputs of each harness).
"""
import hashlib
import json
import shutil
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
FIX = REPO / "Tests/Fixtures"
CORPUS = FUZZ / "Corpus"


def write(harness, data, name=None):
    d = CORPUS / harness
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / (name or hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def byte_level_alphabet():
    """GPT-2's bytes_to_unicode: byte -> printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def small_gpt2_vocab():
    """The 256 byte symbols, the tokens of a few merges, <|endoftext|>: (encoder.json text, merges text)."""
    alpha = byte_level_alphabet()
    tokens = [alpha[b] for b in range(256)]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "Ġ s", "r e", "Ġw o", "r l", "Ġwo rl", "Ġworl d"]
    for m in merges:
        left, right = m.split(" ")
        if left + right not in tokens:
            tokens.append(left + right)
    tokens.append("<|endoftext|>")
    vocab = json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False)
    return vocab, "#version: 0.2\n" + "\n".join(merges) + "\n"


def safetensors(tensors, metadata=None):
    """A safetensors file: {name: (dtype, shape, bytes)} packed in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def main():
    keep = {}
    for d in CORPUS.glob("*/regressions"):
        keep[d] = {p.name: p.read_bytes() for p in d.iterdir()}
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for d, files in keep.items():
        d.mkdir(parents=True)
        for name, data in files.items():
            (d / name).write_bytes(data)

    hard = [s["text"] for s in json.loads((REPO / "Tests/TokenizersTests/Fixtures/hard_strings.json").read_text())["strings"]]
    sst2 = [line.split("\t")[0] for line in (FIX / "cli/reviews.tsv").read_text().splitlines()[1:]]
    texts = hard + sst2

    # Tokenizers: a mode byte (options, pair/truncation, ...) then the text.
    for i, t in enumerate(texts):
        write("wordpiece", bytes([(i * 37) % 256]) + t.encode())
        write("gpt2-bpe", bytes([(i * 53) % 256 | 5]) + t.encode())

    # safetensors: the micro BERT's file, its two broken copies, and small hand-made files of every dtype family.
    write("safetensors", (FIX / "bert_micro_hf/model.safetensors").read_bytes())
    write("safetensors", (FIX / "bad/truncated_safetensors/model.safetensors").read_bytes())
    write("safetensors", (FIX / "bad/corrupt_header_safetensors/model.safetensors").read_bytes())
    write("safetensors", safetensors({"a": ("F32", [2], struct.pack("<2f", 1.5, -2))}, {"format": "pt"}))
    write("safetensors", safetensors({"h": ("F16", [1, 2], b"\x00\x3c\x00\xc0"), "b": ("BF16", [2], b"\x80\x3f\x00\x40")}))
    write("safetensors", safetensors({"i": ("I64", [1], struct.pack("<q", 7)), "u": ("U8", [3], b"abc"), "e": ("F32", [0], b"")}))
    write("safetensors", safetensors({}))

    # HDF5: the micro BERT (valid), and the two smallest broken files.
    write("hdf5", (FIX / "bert_micro.h5").read_bytes())
    write("hdf5", (FIX / "bad/truncated.h5").read_bytes())
    write("hdf5", (FIX / "bad/not_hdf5.h5").read_bytes())

    # config.json: the micro BERT's, and a GPT-2 one.
    bert_config = (FIX / "bert_micro_hf/config.json").read_text()
    write("config-json", bert_config)
    gpt2_config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 1257, "n_positions": 128,
        "n_embd": 64, "n_layer": 2, "n_head": 2, "n_inner": None, "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "bos_token_id": 1256, "eos_token_id": 1256, "scale_attn_weights": True,
        "tie_word_embeddings": True,
    }
    write("config-json", json.dumps(gpt2_config, indent=2))
    write("config-json", '{"model_type": "bert", "vocab_size": 5, "hidden_size": 4, "num_attention_heads": 2}')

    # Tokenizer files: byte 0 = architecture (bit 0) + which files exist (bits 1-5: tokenizer_config.json,
    # special_tokens_map.json, tokenizer.json, vocab, merges.txt); contents separated by NUL.
    hf = FIX / "bert_micro_hf"
    tc, tj, vt = (hf / "tokenizer_config.json").read_bytes(), (hf / "tokenizer.json").read_bytes(), (hf / "vocab.txt").read_bytes()
    stm = b'{"unk_token": "[UNK]", "mask_token": {"content": "[MASK]"}}'
    write("tokenizer-files", bytes([0b0010 | 0b1000 | 0b10000]) + b"\0".join([tc, b"", tj, vt]))
    write("tokenizer-files", bytes([0b1000]) + b"\0".join([b"", b"", tj]))
    write("tokenizer-files", bytes([0b0110 | 0b10000]) + b"\0".join([tc, stm, b"", vt]))
    vocab, merges = small_gpt2_vocab()
    tok_json = json.dumps({
        "model": {"type": "BPE", "vocab": json.loads(vocab), "merges": [m.split(" ") for m in merges.splitlines()[1:]]},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "added_tokens": [{"id": len(json.loads(vocab)) - 1, "content": "<|endoftext|>"}],
    }, ensure_ascii=False).encode()
    write("tokenizer-files", bytes([1 | 0b110000]) + b"\0".join([b"", b"", b"", vocab.encode(), merges.encode()]))
    write("tokenizer-files", bytes([1 | 0b1010]) + b"\0".join([b'{"add_prefix_space": true, "model_max_length": 1e30}', b"", tok_json]))

    # Vocabulary readers: byte 0 bit 0 = GPT-2 (encoder.json NUL vocab.bpe), else vocab.txt.
    write("vocab", b"\0" + vt)
    write("vocab", b"\2" + vt.replace(b"\n", b"\r\n"))
    write("vocab", b"\1" + vocab.encode() + b"\0" + merges.encode())
    write("vocab", b"\1" + json.dumps(json.loads(vocab)).encode() + b"\0" + merges.encode())

    # Example files: byte 0 = format (0 guess, 1 text, 2 tsv, 3 jsonl; +4: named .jsonl).
    reviews = (FIX / "cli/reviews.tsv").read_bytes()
    write("examples", b"\0" + reviews)
    write("examples", b"\2" + reviews)
    write("examples", b"\0" + (FIX / "cli/bad-label.tsv").read_bytes())
    write("examples", b"\1" + (FIX / "cli/bad-utf8.txt").read_bytes())
    write("examples", b"\0" + b"a gorgeous movie\r\nthe plot is thin\n\n")
    write("examples", b"\0idx\tsentence\tlabel\n7\tgood\t1\n8\tbad\t0\n")
    jsonl = b'{"id": 3, "text": "a fine film", "label": 1}\n\n{"text": "dull", "label": "negative", "parent": "3"}\n{"id": "x", "text": 5}\n'
    write("examples", b"\0" + jsonl)
    write("examples", b"\4" + jsonl)
    # +8: the same bytes as a workspace's added-examples.jsonl / predictions.jsonl and a run's metrics.jsonl.
    write("examples", b"\x0b" + (FIX / "ui/run/metrics.jsonl").read_bytes()[:2000])
    write("examples", b"\x08" + b'{"id": "sst2:7", "text": "added", "label": "1", "parent": "sst2:0"}\n{"key": "k", "value": {}}\n')

    # Server request bodies (docs/openapi.yaml).
    for body in [
        {"model": "bert-tiny", "dataset": "sst2", "ids": ["0", "1"], "top_k": 3, "include_logits": True},
        {"model": "bert-tiny", "examples": [{"id": "a", "text": "a fine film", "label": "1"}], "include_embeddings": False},
        {"model": "bert-tiny", "method": "ig", "config": {"steps": 16, "baseline": "zeros"}, "dataset": "sst2", "ids": ["0"],
         "target": "1", "score": "prob", "merge_words": True, "max_tokens": 10},
        {"model": "bert-tiny", "example": {"id": "0", "text": "dull"}, "layer": 1},
        {"model": "bert-tiny", "dataset": "sst2", "id": "1"},
        {"model": "bert-tiny", "dataset": "sst2", "ids": ["0", "1"]},
        {"model": "bert-tiny", "generator": "word_replacer", "config": {"subs": "fine -> dull"}, "examples": [{"id": "0", "text": "a fine film"}]},
        {"model": "bert-tiny", "dataset": "sst2", "concept_ids": ["0"], "random_ids": ["1"], "class": 1, "runs": 5, "seed": 3, "layer": 2},
        {"model": "bert-tiny", "dataset": "sst2", "ids": ["0", "1"], "method": "umap", "field": "cls", "n_neighbors": 5, "seed": 1},
        {"dataset": "sst2", "examples": [{"id": "n", "text": "new", "label": 0, "parent": "0"}]},
        {"model": "bert-tiny", "dataset": "sst2", "ids": ["0"], "slices": {"short": ["0", "1"]}},
    ]:
        write("server-requests", json.dumps(body))
    write("server-requests", "[" * 70 + "]" * 70)
    write("server-requests", '{"model": 1}')


if __name__ == "__main__":
    main()
