#!/usr/bin/env python3
"""Parity goldens for the tiny fixture models: Tests/Fixtures/parity/<model>.h5 (re-runnable, deterministic).

    python weights-scripts/make_parity_goldens.py [--out DIR] [--keep-work DIR]

Rebuilds bert_tiny_cls, bert_tiny_mlm and gpt2_tiny through make_goldens.BUILDERS (same seeds), checks that each
state dict is bit-identical to the committed Tests/Fixtures/<model>.h5, then runs the models with transformers
(eval mode, float32, eager attention, one thread) on a batch of two texts of different lengths and stores what
the Swift parity tests compare: inputs, logits, hidden states, attention probabilities, the gradient of chosen
logits with respect to the input (word) embeddings, GPT-2 greedy generations, and Captum attributions
(saliency / gradient norm, input x gradient, integrated gradients) for bert_tiny_cls.
make_goldens.py calls write_parity_goldens() with the models it has just built; this script can also be run
alone. Layout and targets: Tests/Fixtures/README.md, section "parity/".

Files are byte-identical across runs on the same machine with the pinned versions (datasets written with
track_times=False, no timestamps anywhere, fixed attribute order). Float values may differ in the last ulps
on another CPU (BLAS kernels), which is far below the parity tolerances.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The goldens are written by parity_bert.py and parity_gpt2.py (Captum: parity_captum.py) with the helpers of
# parity_common.py and parity_h5.py; re-exported so that importers keep using mpg.X (make_*_goldens.py).
from fixture_models import BUILDERS, FIXTURES, SHARED  # noqa: E402
from parity_bert import bert_cls, bert_inputs, bert_mlm  # noqa: E402,F401
from parity_captum import CAPTUM_TARGET, IG_METHODS, IG_STEPS  # noqa: E402,F401
from parity_common import (  # noqa: E402,F401
    BERT_TEXTS, GPT2_SINGLE_PROMPT, GPT2_TEXTS, MAX_NEW_TOKENS, MLM_MASKED_WORDS, MLM_TEXTS, MLM_TOPK,
    check_against_fixture, eager_copy, encode, fixture_tokenizer, grad_wrt_embeds, pad_batch, run_forward,
    word_embeddings)
from parity_gpt2 import gpt2  # noqa: E402
from parity_h5 import LIBVER, f32, f64, group, i64, set_attrs, versions, write_h5  # noqa: E402,F401

PARITY_DIR = HERE.parent / "Tests" / "Fixtures" / "parity"
MODELS = ("bert_tiny_cls", "bert_tiny_mlm", "gpt2_tiny")
SIZE_BUDGET = 2_500_000  # bytes, all of parity/

GOLDENS = {"bert_tiny_cls": bert_cls, "bert_tiny_mlm": bert_mlm, "gpt2_tiny": gpt2}


def write_parity_goldens(fixtures: list, out_dir: Path = PARITY_DIR, fixtures_dir: Path | None = None) -> dict:
    """Writes out_dir/<name>.h5 for the FixtureModels in `fixtures` named in MODELS. Returns a summary."""
    fixtures_dir = fixtures_dir or out_dir.parent
    by_name = {fm.name: fm for fm in fixtures}
    missing = [n for n in MODELS if n not in by_name]
    assert not missing, f"fixture models not built: {missing}"
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    summary = {}
    try:
        for name in MODELS:
            fm = by_name[name]
            h5_path = fixtures_dir / f"{name}.h5"
            check_against_fixture(fm, h5_path)
            torch.manual_seed(0)
            summary[name] = GOLDENS[name](fm, h5_path, out_dir / f"{name}.h5")
            print(f"  parity/{name}.h5: {(out_dir / f'{name}.h5').stat().st_size:,} bytes  {summary[name]}")
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"  parity/ total {total:,} bytes")
    if total > SIZE_BUDGET:
        raise AssertionError(f"parity/ is {total:,} bytes, over the {SIZE_BUDGET:,} budget")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(PARITY_DIR), help="output directory (default: Tests/Fixtures/parity)")
    p.add_argument("--keep-work", help="build the HF directories here instead of a temp dir")
    args = p.parse_args(argv)
    if not (SHARED / "vocab" / "bert-base-uncased-vocab.txt").is_file():
        print(f"make_parity_goldens.py: error: shared data not found at {SHARED} "
              "(set LOUPE_DATA_DIR)", file=sys.stderr)
        return 1
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory(prefix="loupe-parity-") as tmp:
        workdir = Path(args.keep_work or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        built = []
        for name in MODELS:
            print(f"[{name}]")
            built.append(BUILDERS[name](workdir))
        print("[parity]")
        write_parity_goldens(built, Path(args.out), FIXTURES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
