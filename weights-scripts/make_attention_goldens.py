#!/usr/bin/env python3
"""What the `attention` explanation method must return, from transformers' own attentions: parity/attention_method.h5.

    python weights-scripts/make_attention_goldens.py [--out FILE]

Reads the attention probabilities that make_parity_goldens.py stored from transformers (`output_attentions=True`,
eager attention, float32) in Tests/Fixtures/parity/bert_tiny_cls.h5 and gpt2_tiny.h5, takes the row of the batch
that has no padding (BERT: text 0, "the movie was a charming and often affecting journey ."; GPT-2: text 1,
"Hello world, this is a longer prompt"), and computes in float64 with numpy, independently of Loupe's code:

- `<model>/attentions` [L, heads, T, T]: that row's attention probabilities (a copy, so the test reads one file);
- `<model>/head_mean` [L, T, T]: each layer's mean over heads (float32, as every float dataset here);
- `<model>/rollout` [T, T]: attention rollout (Abnar & Zuidema 2020, section 3): A~ = 0.5 A + 0.5 I with rows
  renormalised, per layer on the head mean, R = A~_L ... A~_1;
- `<model>/readout` [1] int64: the position the method reads ([CLS] = 0 for BERT, the last token for GPT-2);
- `<model>/input_ids` [T] int64.

Needs numpy and h5py only (no torch: the transformers side is already in parity/). Deterministic: datasets are
written with track_times=False, so a re-run rewrites a byte-identical file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

PARITY_DIR = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "parity"
# model -> (batch row without padding, readout position or -1 for the last)
CASES = {"bert_tiny_cls": (0, 0), "gpt2_tiny": (1, -1)}


def rollout(head_mean: np.ndarray) -> np.ndarray:
    """R = A~_L ... A~_1, A~ = rownorm(0.5 A + 0.5 I) (Abnar & Zuidema 2020)."""
    t = head_mean.shape[-1]
    joint = np.eye(t)
    for a in head_mean:
        aug = 0.5 * a + 0.5 * np.eye(t)
        aug = aug / aug.sum(axis=-1, keepdims=True)
        joint = aug @ joint
    return joint


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(PARITY_DIR / "attention_method.h5"))
    args = p.parse_args(argv)
    with h5py.File(args.out, "w", libver=("earliest", "v110"), track_order=True) as out:
        out.attrs["source"] = "attentions of Tests/Fixtures/parity/<model>.h5 (transformers, output_attentions=True)"
        out.attrs["generated_with"] = f"numpy {np.__version__}, h5py {h5py.__version__}"
        for name, (row, readout) in CASES.items():
            with h5py.File(PARITY_DIR / f"{name}.h5", "r") as f:
                mask = f["attention_mask"][row]
                if not mask.all():
                    print(f"{name}: row {row} is padded; pick the unpadded row", file=sys.stderr)
                    return 1
                layers = sorted(f["attentions"].keys(), key=int)
                att = np.stack([f["attentions"][k][row] for k in layers]).astype(np.float64)  # [L, heads, T, T]
                ids = f["input_ids"][row]
            t = att.shape[-1]
            head_mean = att.mean(axis=1)
            g = out.create_group(name, track_order=True)
            g.create_dataset("input_ids", data=ids.astype("<i8"), track_times=False)
            g.create_dataset("readout", data=np.array([readout % t], dtype="<i8"), track_times=False)
            g.create_dataset("attentions", data=att.astype("<f4"), track_times=False)
            # Computed in float64, stored in float32 (what Loupe's HDF5 reader reads; the tests' bound is 1e-5).
            g.create_dataset("head_mean", data=head_mean.astype("<f4"), track_times=False)
            g.create_dataset("rollout", data=rollout(head_mean).astype("<f4"), track_times=False)
            print(f"{name}: T = {t}, {len(layers)} layers, readout {readout % t}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
