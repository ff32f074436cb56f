#!/usr/bin/env python3
"""Full-size parity check of the loupe CLI against Hugging Face transformers (too big to commit as fixtures).

    python weights-scripts/full_size_parity.py [--loupe .build/release/loupe] [--reference-only]
                                               [--workdir DIR] [--out-json FILE] [--sentences N] [--atol 1e-4]
    python weights-scripts/full_size_parity.py --self-test

1. Builds random-weight models with fixed seeds (torch.manual_seed(0), transformers init, then every 1-D parameter
   + 0.01*N(0,1) from a generator seeded 1, so no bias or LayerNorm affine is trivially 0/1) in a work directory:
     bert-base: BertForSequenceClassification, the standard bert-base-uncased config (12 layers, hidden 768,
                12 heads, 512 positions, 2 labels), vocab <shared>/vocab/bert-base-uncased-vocab.txt
     gpt2:      GPT2LMHeadModel, the standard gpt2 (small) config (12 layers, n_embd 768, 1024 positions),
                vocab <shared>/vocab/gpt2-encoder.json + gpt2-vocab.bpe
   saves each as a Hugging Face directory and converts it with convert.convert() (the code of convert.py),
   checking the .h5 tensors are bit-identical to the state dict.
2. HF references (eval, float32, batch 1, no padding): classifier logits for the first N SST-2 dev sentences;
   GPT-2 last-position next-token logits and greedy 20-token generations (prompt ids included) for a few prompts.
   --reference-only stops here: writes the references (JSON) and prints a summary.
3. Runs the loupe CLI and compares:
     loupe predict --model bert.h5 --text S --format json --logits     -> {"logits": [...], ...}  max|diff| <= atol
     loupe predict --model gpt2.h5 --text P --format json --logits     -> next-token logits [V]      max|diff| <= atol
     loupe generate --model gpt2.h5 --prompt P --max-tokens 20 --format json -> {"ids": [...], "text": ...}  ids equal
   A missing binary or a failing command (non-zero exit, timeout, no JSON, no "logits"/"ids" field) prints the
   step that failed and exits 1; any value mismatch is listed and exits 1. Exit 0 when everything matches.

--self-test runs the same pipeline with small configs (same vocabularies) against a fake loupe written in Python
that answers from the references, then checks that a perturbed logit, a wrong generated id, a crashing command,
invalid JSON and a missing binary are each reported with exit 1.

Needs about 2 GB of free disk in the work directory (HF directories + .h5 files) and a few GB of RAM.
Paths are relative to this script; shared data is <repo>/../shared/data (override with LOUPE_DATA_DIR).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import convert  # noqa: E402
import loupe_h5  # noqa: E402
from parity_cli import SHARED, StepFailed, compare_with_cli, sst2_sentences  # noqa: E402

DEFAULT_LOUPE = REPO / ".build" / "release" / "loupe"
SEED = 0
MAX_NEW_TOKENS = 20
GPT2_PROMPTS = ["The dog", "Hello world, this is a longer prompt", "it 's a charming and often affecting journey ."]
SST2_LABELS = {0: "negative", 1: "positive"}
# Noise added to every 1-D parameter. The tiny fixtures use 0.1; at full size (12 layers, init 0.02) 0.1 lets the
# accumulated biases dominate the residual stream, so GPT-2 generates the same token for every prompt. With 0.01
# the greedy generations depend on the prompt and every top1-top2 margin is >= 0.008 (far above atol).
VECTOR_NOISE = 0.01
NEAR_TIE = 1e-3  # warn when a greedy step's top1-top2 logit margin is below this

# Standard configs (transformers' hub configs for bert-base-uncased and gpt2), and small ones for --self-test.
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)
GPT2_SMALL = dict(n_positions=1024, n_embd=768, n_layer=12, n_head=12, activation_function="gelu_new",
                  layer_norm_epsilon=1e-5, initializer_range=0.02)
BERT_SMALL = dict(BERT_BASE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  initializer_range=0.1)
GPT2_SMALL_TEST = dict(GPT2_SMALL, n_embd=32, n_layer=2, n_head=2, initializer_range=0.1)


# =============================================================================================
# Models and references

def perturb_vectors(model: torch.nn.Module, seed: int, scale: float = VECTOR_NOISE) -> None:
    """As fixture_models._perturb_vectors (which uses scale 0.1): every 1-D parameter + scale*N(0,1), own generator."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied parameters are listed once
            if p.dim() == 1:
                p.add_(scale * torch.randn(p.shape, generator=g))


def build_bert(workdir: Path, shape: dict):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
    with open(SHARED / "vocab" / "bert-base-uncased-vocab.txt", encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    assert len(vocab) == 30522, len(vocab)
    config = BertConfig(vocab_size=len(vocab), num_labels=2, id2label=SST2_LABELS,
                        label2id={v: k for k, v in SST2_LABELS.items()},
                        architectures=["BertForSequenceClassification"], **shape)
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(config)
    perturb_vectors(model, SEED + 1)
    model.eval()
    hf_dir = workdir / "bert-base"
    model.save_pretrained(str(hf_dir))
    shutil.copyfile(SHARED / "vocab" / "bert-base-uncased-vocab.txt", hf_dir / "vocab.txt")
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True,
                        model_max_length=config.max_position_embeddings)
    tok.save_pretrained(str(hf_dir))
    return model, hf_dir, BertTokenizer.from_pretrained(str(hf_dir))


def build_gpt2(workdir: Path, shape: dict):
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer
    with open(SHARED / "vocab" / "gpt2-encoder.json", encoding="utf-8") as f:
        vocab = json.load(f)
    assert len(vocab) == 50257, len(vocab)
    eot = vocab["<|endoftext|>"]
    config = GPT2Config(vocab_size=len(vocab), bos_token_id=eot, eos_token_id=eot,
                        architectures=["GPT2LMHeadModel"], **shape)
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(config)
    perturb_vectors(model, SEED + 1)
    model.eval()
    hf_dir = workdir / "gpt2"
    model.save_pretrained(str(hf_dir))
    shutil.copyfile(SHARED / "vocab" / "gpt2-encoder.json", hf_dir / "vocab.json")
    shutil.copyfile(SHARED / "vocab" / "gpt2-vocab.bpe", hf_dir / "merges.txt")
    tok = GPT2Tokenizer.from_pretrained(str(hf_dir), model_max_length=config.n_positions)
    tok.save_pretrained(str(hf_dir))
    return model, hf_dir, GPT2Tokenizer.from_pretrained(str(hf_dir))


def convert_and_check(model, hf_dir: Path, out: Path) -> dict:
    summary = convert.convert(hf_dir, out, verbose=False)
    stored = loupe_h5.validate(out)
    kept, _ = convert.apply_key_rules(dict(model.state_dict()), stored["config"], stored["attrs"]["architecture"])
    if set(kept) != set(stored["weights"]):
        raise StepFailed(f"convert {hf_dir.name}: tensor names differ from the state dict")
    for name, t in kept.items():
        a = t.detach().to(torch.float32).contiguous().numpy()
        if a.shape != stored["weights"][name].shape or a.tobytes() != np.asarray(stored["weights"][name]).tobytes():
            raise StepFailed(f"convert {hf_dir.name}: {name} is not bit-identical to the state dict")
    return summary


def floats(t: torch.Tensor) -> list:
    return [float(x) for x in t.detach().to(torch.float32).reshape(-1).numpy()]


def build_references(workdir: Path, n_sentences: int, small: bool = False) -> dict:
    torch.use_deterministic_algorithms(True)
    workdir.mkdir(parents=True, exist_ok=True)
    refs = {"description": "HF transformers references for full_size_parity.py (eval, float32, batch 1, no padding)",
            "seed": SEED, "vector_noise": VECTOR_NOISE, "small_configs": small, "versions": versions()}

    print("[bert-base]" if not small else "[bert (small test config)]", flush=True)
    model, hf_dir, tok = build_bert(workdir, BERT_SMALL if small else BERT_BASE)
    h5 = workdir / "bert.h5"
    s = convert_and_check(model, hf_dir, h5)
    print(f"  {hf_dir} -> {h5} ({h5.stat().st_size:,} bytes, {s['task']}), tensors bit-identical", flush=True)
    items = []
    with torch.no_grad():
        for text in sst2_sentences(n_sentences):
            enc = tok(text, return_tensors="pt")
            logits = model(**enc).logits[0]
            items.append({"text": text, "input_ids": enc["input_ids"][0].tolist(), "logits": floats(logits),
                          "label": SST2_LABELS[int(logits.argmax())]})
            print(f"  {text[:60]!r:64} logits {[round(x, 6) for x in items[-1]['logits']]}", flush=True)
    refs["bert"] = {"model": str(h5), "class": type(model).__name__, "config": model.config.to_diff_dict(),
                    "predict": items}
    del model

    print("[gpt2]" if not small else "[gpt2 (small test config)]", flush=True)
    model, hf_dir, tok = build_gpt2(workdir, GPT2_SMALL_TEST if small else GPT2_SMALL)
    h5 = workdir / "gpt2.h5"
    s = convert_and_check(model, hf_dir, h5)
    print(f"  {hf_dir} -> {h5} ({h5.stat().st_size:,} bytes, {s['task']}), tensors bit-identical", flush=True)
    predict, generate = [], []
    with torch.no_grad():
        for prompt in GPT2_PROMPTS:
            ids = torch.tensor([tok(prompt)["input_ids"]])
            last = model(input_ids=ids).logits[0, -1]
            top = torch.topk(last, 2)
            predict.append({"text": prompt, "input_ids": ids[0].tolist(), "logits": floats(last),
                            "argmax": int(top.indices[0])})
            generate.append(greedy_reference(model, tok, prompt, ids))
            print(f"  {prompt!r:40} next {predict[-1]['argmax']:>6}  generate {generate[-1]['ids'][ids.shape[1]:]}"
                  f"  (min top1-top2 margin {min(generate[-1]['step_margins']):.3g})", flush=True)
    refs["gpt2"] = {"model": str(h5), "class": type(model).__name__, "config": model.config.to_diff_dict(),
                    "max_new_tokens": MAX_NEW_TOKENS, "predict": predict, "generate": generate}
    return refs


def greedy_reference(model, tok, prompt: str, ids: torch.Tensor) -> dict:
    """transformers' greedy MAX_NEW_TOKENS-token continuation of `ids` [1, T] (prompt ids included in "ids") and
    each step's top1-top2 logit margin; warns when a margin is a near-tie."""
    eos = model.config.eos_token_id
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW_TOKENS,
                         do_sample=False, num_beams=1, pad_token_id=eos, return_dict_in_generate=True,
                         output_scores=True)
    margins = [float(v[0, 0] - v[0, 1]) for v in (torch.topk(sc, 2, dim=-1).values for sc in out.scores)]
    if min(margins) < NEAR_TIE:
        print(f"  WARNING: near-tie in the greedy generation for {prompt!r} (margin {min(margins):.3g}): "
              "a runtime within atol may legitimately pick another token", flush=True)
    seq = out.sequences[0].tolist()
    return {"prompt": prompt, "prompt_ids": ids[0].tolist(), "ids": seq, "text": tok.decode(seq),
            "step_margins": margins}


def versions() -> dict:
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}


# =============================================================================================
# Self-test: the comparison logic against a fake loupe

FAKE_LOUPE = r'''#!{python}
import json, os, sys
refs = json.load(open(os.environ["FAKE_LOUPE_REFS"]))
mode = os.environ.get("FAKE_LOUPE_MODE", "ok")
a = sys.argv[1:]
def opt(name):
    return a[a.index(name) + 1]
if mode == "crash":
    print("fake loupe: crash requested", file=sys.stderr); sys.exit(3)
if a[0] == "predict":
    assert a.count("--text") == 1 and "--logits" in a and opt("--format") == "json", a
    kind = "bert" if opt("--model") == refs["bert"]["model"] else "gpt2"
    assert opt("--model") == refs[kind]["model"], a
    item = next(i for i in refs[kind]["predict"] if i["text"] == opt("--text"))
    logits = list(item["logits"])
    if mode == "perturb" and kind == "gpt2":
        logits[7] += 1e-3
    if mode == "badjson":
        print("logits: not json"); sys.exit(0)
    out = {{"text": item["text"], "logits": logits}}
    print(json.dumps(out))
elif a[0] == "generate":
    assert opt("--max-tokens") == "20" and opt("--format") == "json", a
    assert opt("--model") == refs["gpt2"]["model"], a
    item = next(i for i in refs["gpt2"]["generate"] if i["prompt"] == opt("--prompt"))
    ids = list(item["ids"])
    if mode == "wrong_id":
        ids[-3] = (ids[-3] + 1) % 50257
    print(json.dumps({{"ids": ids, "text": item["text"]}}))
else:
    sys.exit(2)
'''


def self_test(workdir: Path, timeout: float) -> int:
    refs = build_references(workdir, n_sentences=3, small=True)
    ref_path = workdir / "references.json"
    ref_path.write_text(json.dumps(refs), encoding="utf-8")
    fake = workdir / "fake-loupe"
    fake.write_text(FAKE_LOUPE.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    os.environ["FAKE_LOUPE_REFS"] = str(ref_path)
    expect = {"ok": 0, "perturb": 1, "wrong_id": 1, "crash": 1, "badjson": 1}
    failures = []
    for mode, want in expect.items():
        os.environ["FAKE_LOUPE_MODE"] = mode
        print(f"[self-test: fake loupe mode {mode!r}, expect exit {want}]", flush=True)
        got = compare_with_cli(refs, fake, 1e-4, timeout)
        if got != want:
            failures.append(f"mode {mode}: exit {got}, expected {want}")
    print("[self-test: missing binary, expect exit 1]", flush=True)
    if compare_with_cli(refs, workdir / "no-such-loupe", 1e-4, timeout) != 1:
        failures.append("missing binary: not reported")
    # Determinism of the references: a second build gives the same numbers.
    again = build_references(workdir / "again", n_sentences=3, small=True)
    for kind in ("bert", "gpt2"):
        for a, b in zip(refs[kind]["predict"], again[kind]["predict"]):
            if a["logits"] != b["logits"]:
                failures.append(f"{kind}: references differ between two builds")
    if [g["ids"] for g in refs["gpt2"]["generate"]] != [g["ids"] for g in again["gpt2"]["generate"]]:
        failures.append("gpt2: generations differ between two builds")
    if failures:
        print("full_size_parity.py --self-test FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("self-test OK: match accepted; perturbed logit, wrong id, crash, bad JSON, missing binary all exit 1; "
          "references reproducible", flush=True)
    return 0


# =============================================================================================

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--loupe", default=str(DEFAULT_LOUPE), help=f"loupe binary (default {DEFAULT_LOUPE})")
    p.add_argument("--reference-only", action="store_true", help="build, convert, write and print the HF "
                                                                 "references; do not run loupe")
    p.add_argument("--workdir", help="keep the models, .h5 files and references here (default: a temp dir, "
                                     "deleted at the end)")
    p.add_argument("--out-json", help="also write the references to this file")
    p.add_argument("--sentences", type=int, default=4, help="SST-2 dev sentences for the classifier (default 4)")
    p.add_argument("--atol", type=float, default=1e-4, help="max |logit diff| allowed (default 1e-4)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per loupe command (default 600)")
    p.add_argument("--self-test", action="store_true", help="test this script with small models and a fake loupe")
    args = p.parse_args(argv)

    for f in ("vocab/bert-base-uncased-vocab.txt", "vocab/gpt2-encoder.json", "vocab/gpt2-vocab.bpe", "sst2/dev.tsv"):
        if not (SHARED / f).is_file():
            print(f"full_size_parity.py: step failed: shared data: {SHARED / f} not found (set LOUPE_DATA_DIR)",
                  file=sys.stderr)
            return 1
    loupe = Path(args.loupe)
    if not args.reference_only and not args.self_test and not (loupe.is_file() and os.access(loupe, os.X_OK)):
        print(f"full_size_parity.py: step failed: loupe binary: not found or not executable at {loupe} "
              "(build it with `swift build -c release`, pass --loupe PATH, or use --reference-only)", file=sys.stderr)
        return 1
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="loupe-full-parity-")
        workdir = Path(tmp.name)
    try:
        if args.self_test:
            return self_test(workdir, args.timeout)
        try:
            refs = build_references(workdir, args.sentences)
        except (StepFailed, convert.ConvertError) as e:
            print(f"full_size_parity.py: step failed: building references: {e}", file=sys.stderr)
            return 1
        ref_path = workdir / "references.json"
        for path in {ref_path, Path(args.out_json) if args.out_json else ref_path}:
            path.write_text(json.dumps(refs, indent=1) + "\n", encoding="utf-8")
        print(f"references: {ref_path}" + (f" and {args.out_json}" if args.out_json else "")
              + ("" if args.workdir or args.out_json else " (temp dir; use --out-json or --workdir to keep)"))
        if args.reference_only:
            return 0
        return compare_with_cli(refs, loupe, args.atol, args.timeout)
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
