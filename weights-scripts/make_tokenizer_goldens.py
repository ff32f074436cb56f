#!/usr/bin/env python3
"""Writes the Hugging Face reference outputs ("goldens") that Tests/TokenizersTests compare against.

Re-runnable by anyone:  /tmp/venv/bin/python weights-scripts/make_tokenizer_goldens.py
(needs `pip install transformers tokenizers`).  Data is read from <repo>/../shared/data, or from
$LOUPE_DATA_DIR when set.  Output goes to Tests/TokenizersTests/Fixtures/:

  bert_sst2_dev.ids           one line per SST-2 dev sentence: the ids of BertTokenizerFast(vocab.txt)(s),
                              [CLS] … [SEP] included, space separated, in file order. Ids are written
                              in base 36 (digits 0-9a-z; 101 -> "2t").
  bert_sst2_train.fnv         one line per SST-2 train sentence: the FNV-1a 64 digest (16 hex digits) of
                              the UTF-8 bytes of that sentence's ids in DECIMAL joined by single spaces
                              ("101 1996 102"). The 67,349 full id lists would take 6 MB of the
                              repository's 15 MB fixture budget; a 64-bit digest per line still checks
                              every sentence id for id (a wrong list collides with probability 2^-64),
                              and a mismatch names the line and Loupe's ids.
  gpt2_sst2_{dev.ids,train.fnv}  the same for GPT-2 byte-level BPE (tokenizers.Tokenizer, see gpt2()).
  hard_strings.json           awkward inputs with ids, tokens, offsets, word ids and decodes for both
                              tokenizers, the same for 200 seeded random strings, plus pair / padding
                              cases and 400 seeded truncation cases (all three strategies).
  unicode_probe.json          HF's per-code-point behaviour over all of Unicode: the BERT normalizer's
                              output for every code point (ranges it deletes, ranges it pads with spaces
                              as CJK, an explicit map for the rest it changes), and the split offsets
                              that the BERT and GPT-2 pre-tokenizers produce on the string of all code
                              points.

`--swift-tables PATH` instead writes Sources/Tokenizers/UnicodeTables.swift (HF's character classes:
BERT clean-up, punctuation, non-spacing marks; GPT-2 regex \\p{L}, \\p{N}, \\s) and, beside it,
UnicodeMappings.swift (HF's NFD and lowercase of each code point), measured from the installed
`tokenizers`, so the Swift side does not depend on the Unicode version of the Swift runtime.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from tokenizer_cases import (HARD_STRINGS, bert_batches, bert_case, gpt2_case, gpt2_pairs, random_strings,
                             truncation_cases)
from tokenizer_unicode import swift_tables, unicode_probe

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "Tests" / "TokenizersTests" / "Fixtures"
BERT_VOCAB = DATA / "vocab" / "bert-base-uncased-vocab.txt"
GPT2_VOCAB = DATA / "vocab" / "gpt2-encoder.json"
GPT2_MERGES = DATA / "vocab" / "gpt2-vocab.bpe"


def bert():
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(str(BERT_VOCAB))
    enc = tok("The dog", add_special_tokens=True)["input_ids"]
    assert enc == [101, 1996, 3899, 102], enc
    return tok


def gpt2():
    # transformers 5.x GPT2Tokenizer(vocab_file, merges_file) returned empty id lists, so the reference
    # is built directly with the Rust `tokenizers` library.
    t = Tokenizer(models.BPE.from_file(str(GPT2_VOCAB), str(GPT2_MERGES)))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    got = t.encode("The dog").ids
    assert got == [464, 3290], got
    return t


def read_sst2(name):
    lines = (DATA / "sst2" / name).read_text(encoding="utf-8").split("\n")
    assert lines[0] == "sentence\tlabel", lines[0]
    rows = [line.split("\t")[0] for line in lines[1:] if line]
    return rows


def base36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write_digests(path, rows):
    for ids in rows:
        assert ids, f"{path.name}: empty id list"
    path.write_text("".join(f"{fnv1a64(' '.join(map(str, ids)).encode()):016x}\n" for ids in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} lines, {sum(map(len, rows))} ids digested, {path.stat().st_size} bytes")


def write_ids(path, rows):
    for ids in rows:
        assert ids, f"{path.name}: empty id list"
    path.write_text("".join(" ".join(map(base36, ids)) + "\n" for ids in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} lines, {sum(map(len, rows))} ids, {path.stat().st_size} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swift-tables", metavar="PATH", help="write UnicodeTables.swift and exit")
    args = parser.parse_args()
    if args.swift_tables:
        swift_tables(args.swift_tables)
        return
    for p in (BERT_VOCAB, GPT2_VOCAB, GPT2_MERGES, DATA / "sst2" / "train.tsv"):
        if not p.exists():
            sys.exit(f"missing {p} (set LOUPE_DATA_DIR)")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    btok, gtok = bert(), gpt2()

    for split in ("train", "dev"):
        sentences = read_sst2(f"{split}.tsv")
        bert_ids = btok(sentences)["input_ids"]
        for ids in bert_ids:
            assert ids[0] == 101 and ids[-1] == 102 and len(ids) > 2, ids
        gpt2_ids = [e.ids for e in gtok.encode_batch(sentences)]
        if split == "train":
            write_digests(FIXTURES / "bert_sst2_train.fnv", bert_ids)
            write_digests(FIXTURES / "gpt2_sst2_train.fnv", gpt2_ids)
        else:
            write_ids(FIXTURES / f"bert_sst2_{split}.ids", bert_ids)
            write_ids(FIXTURES / f"gpt2_sst2_{split}.ids", gpt2_ids)

    hard = {
        "strings": [{"text": s, "bert": bert_case(btok, s), "gpt2": gpt2_case(gtok, s)} for s in HARD_STRINGS],
        "bert_pairs": [{"text": a, "pair": b, "bert": bert_case(btok, a, b)}
                       for a, b in [("hello world", "how are you?"), ("", "x"), ("a [SEP] b", "café")]],
        "bert_batches": bert_batches(btok),
        "gpt2_batches": gpt2_pairs(gtok),
        "random_strings": [{"text": s, "bert": bert_case(btok, s), "gpt2": gpt2_case(gtok, s)}
                           for s in random_strings(200)],
        "truncation_cases": truncation_cases(btok, gtok, 400),
    }
    nonempty = [c for c in hard["strings"] if c["text"].strip()]
    assert all(c["bert"]["ids"] and c["gpt2"]["ids"] for c in nonempty)
    path = FIXTURES / "hard_strings.json"
    path.write_text(json.dumps(hard, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(HARD_STRINGS)} hard strings, {len(hard['random_strings'])} random strings, "
          f"{len(hard['truncation_cases'])} truncation cases, {path.stat().st_size} bytes")

    path = FIXTURES / "unicode_probe.json"
    probe = unicode_probe(btok)
    path.write_text(json.dumps(probe, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(probe['bert_normalized'])} normalized code points, "
          f"{len(probe['bert_pretokenize_all'])} BERT splits, {len(probe['gpt2_pretokenize_all'])} GPT-2 splits, "
          f"{path.stat().st_size} bytes")
    total = sum(p.stat().st_size for p in FIXTURES.iterdir())
    assert total <= 4 * 1024 * 1024, f"fixtures are {total} bytes, over the 4 MB budget"
    print(f"total fixtures: {total} bytes")


if __name__ == "__main__":
    main()
