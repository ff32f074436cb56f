#!/usr/bin/env python3
"""Tokenizer throughput: Hugging Face's Rust `tokenizers` vs Loupe, single thread, on SST-2 train.

    python Benchmarks/tokenizers_bench.py [LOUPE_BINARY] [--data TSV] [--vocab-dir DIR] [--repeat N]

LOUPE_BINARY defaults to .build/release/loupe; it is run as `LOUPE_BINARY bench tokenizer --format json`.
HF runs with TOKENIZERS_PARALLELISM=false (so encode_batch stays on one thread), once encoding one
sentence at a time (`encode`, what Loupe's number measures too) and once with `encode_batch`. Both
sides count tokens as len(ids) of the default encode (BERT with [CLS]/[SEP]) and report the best of N
passes. Needs `pip install transformers tokenizers`. Not a test: it prints a table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("RAYON_NUM_THREADS", "1")

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def default_data_dir():
    env = os.environ.get("LOUPE_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def read_sst2(path):
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    assert lines[0].startswith("sentence\t"), f"{path}: expected a sentence<TAB>label header"
    return [line.split("\t")[0] for line in lines[1:] if line]


def hf_wordpiece(vocab_dir):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(str(Path(vocab_dir) / "bert-base-uncased-vocab.txt")).backend_tokenizer


def hf_bpe(vocab_dir):
    t = Tokenizer(models.BPE.from_file(str(Path(vocab_dir) / "gpt2-encoder.json"),
                                       str(Path(vocab_dir) / "gpt2-vocab.bpe")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return t


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_of(repeat, fn):
    best, tokens = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = fn()
        best = min(best, time.perf_counter() - start)
    return tokens, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("loupe", nargs="?", default=str(REPO / ".build" / "release" / "loupe"))
    parser.add_argument("--data", default=str(default_data_dir() / "sst2" / "train.tsv"))
    parser.add_argument("--vocab-dir", default=str(default_data_dir() / "vocab"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sentences = read_sst2(args.data)
    hf = {}
    for name, tok in (("wordpiece", hf_wordpiece(args.vocab_dir)), ("bpe", hf_bpe(args.vocab_dir))):
        one = best_of(args.repeat, lambda: sum(len(tok.encode(s).ids) for s in sentences))
        batch = best_of(args.repeat, lambda: sum(len(e.ids) for e in tok.encode_batch(sentences)))
        assert one[0] == batch[0], (name, one[0], batch[0])
        hf[name] = {"tokens": one[0], "encode": one[0] / one[1], "batch": batch[0] / batch[1]}

    cmd = [args.loupe, "bench", "tokenizer", "--format", "json", "--data", args.data,
           "--vocab-dir", args.vocab_dir, "--repeat", str(args.repeat)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    loupe = {r["tokenizer"]: r for r in json.loads(out)}

    import tokenizers
    print(f"SST-2 train: {len(sentences)} sentences, best of {args.repeat}, single thread; "
          f"{time.strftime('%Y-%m-%d')}, {cpu_name()}, "
          f"HF tokenizers {tokenizers.__version__}")
    print(f"{'tokenizer':<10} {'tokens':>8} {'HF encode tok/s':>16} {'HF batch tok/s':>15} "
          f"{'Loupe tok/s':>12} {'vs encode':>10} {'vs batch':>9} {'Loupe load s':>13}")
    for name in ("wordpiece", "bpe"):
        h, l = hf[name], loupe[name]
        if h["tokens"] != l["tokens"]:
            sys.exit(f"{name}: HF produced {h['tokens']} tokens but Loupe {l['tokens']}")
        rate = l["tokens_per_second"]
        print(f"{name:<10} {h['tokens']:>8} {h['encode']:>16,.0f} {h['batch']:>15,.0f} {rate:>12,.0f} "
              f"{rate / h['encode']:>9.2f}x {rate / h['batch']:>8.2f}x {l['load_seconds']:>13.3f}")


if __name__ == "__main__":
    main()
