#!/usr/bin/env python3
"""Full-size parity without torch: BERT-base and GPT-2 small with numpy-made weights against committed references.

    python weights-scripts/full_size_golden.py write [--golden FILE] [--sentences 8]   # needs torch + transformers
    python weights-scripts/full_size_golden.py check [--golden FILE] [--loupe PATH] [--atol 1e-4]   # numpy only

full_size_parity.py builds its models with torch's initialisers, so checking loupe against them needs torch (a
~4 GB install: too slow for CI). Here the weights come from numpy's legacy `RandomState(seed)`, whose stream NumPy
keeps fixed across versions, so CI rebuilds bit-identical models from a few lines of numpy and compares loupe with
references that transformers computed once on the same files (`write`, committed as the golden, default
Tests/Fixtures/parity/full_size.json).

The models: BertForSequenceClassification with the bert-base-uncased config (2 labels) and GPT2LMHeadModel with
the gpt2 (small) config, the shared vocabularies. Tensors are drawn in the golden's `tensors` order (transformers'
named_parameters, tied ones once): matrices and embeddings N(0, 0.02²) as transformers initialises them (BERT's
padding row then zero), LayerNorm weights 1 + 0.01·N(0, 1), biases 0.01·N(0, 1) (full_size_parity.py's
perturbation: no affine trivially 1 or 0). Each model is written as a Hugging Face directory (config.json from the
golden, model.safetensors written here, tokenizer_config.json and the vocabulary files); `write` loads exactly
these directories with transformers' from_pretrained, and `check` runs the loupe CLI on them:
  loupe predict --model DIR --text S --format json --logits   BERT logits; GPT-2 next-token logits at the golden's
                                                              indices (the 10 largest and 512 spread over the
                                                              vocabulary) and the argmax
  loupe generate --model DIR --prompt P --max-tokens 20 --format json   greedy ids equal
Exit 0 when everything matches, 1 with the failed step or every mismatch.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from parity_cli import SHARED, StepFailed, compare_with_cli, sst2_sentences  # noqa: E402

GOLDEN = REPO / "Tests" / "Fixtures" / "parity" / "full_size.json"
DEFAULT_LOUPE = REPO / ".build" / "release" / "loupe"
SEEDS = {"bert": 20261205, "gpt2": 20261206}
STD, NOISE = 0.02, 0.01
TOKENIZER_CONFIG = {
    "bert": {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "strip_accents": None,
             "tokenize_chinese_chars": True, "model_max_length": 512, "unk_token": "[UNK]", "sep_token": "[SEP]",
             "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"},
    "gpt2": {"tokenizer_class": "GPT2Tokenizer", "model_max_length": 1024, "add_prefix_space": False,
             "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"},
}
VOCAB_FILES = {"bert": {"vocab.txt": "vocab/bert-base-uncased-vocab.txt"},
               "gpt2": {"vocab.json": "vocab/gpt2-encoder.json", "merges.txt": "vocab/gpt2-vocab.bpe"}}


def init_kind(name: str, shape: list) -> str:
    """normal: a matrix or embedding; one: a LayerNorm weight (the only 1-D weights here); zero: a bias."""
    return "normal" if len(shape) >= 2 else ("one" if name.endswith(".weight") else "zero")


def tensor_values(rng: np.random.RandomState, spec: dict, pad_row: int | None) -> np.ndarray:
    shape = spec["shape"]
    if spec["init"] == "normal":
        a = (rng.standard_normal(shape) * STD).astype(np.float32)
        if pad_row is not None and spec["name"].endswith("word_embeddings.weight"):
            a[pad_row] = 0  # transformers zeroes the padding_idx row of BERT's word embeddings
        return a
    base = 1.0 if spec["init"] == "one" else 0.0
    return (base + NOISE * rng.standard_normal(shape)).astype(np.float32)


def write_model_dir(kind: str, model: dict, out: Path) -> Path:
    """The Hugging Face directory of `model` (a golden entry): config.json, model.safetensors, tokenizer files."""
    d = out / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(model["config"], indent=2) + "\n", encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG[kind], indent=2) + "\n", encoding="utf-8")
    for name, shared in VOCAB_FILES[kind].items():
        shutil.copyfile(SHARED / shared, d / name)
    # safetensors: an 8-byte little-endian header length, the JSON header (padded with spaces to 8 bytes), the data.
    header, offset = {}, 0
    for spec in model["tensors"]:
        n = 4 * int(np.prod(spec["shape"]))
        header[spec["name"]] = {"dtype": "F32", "shape": spec["shape"], "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.RandomState(model["seed"])
    pad = model["config"].get("pad_token_id") if kind == "bert" else None
    tmp = d / "model.safetensors.tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for spec in model["tensors"]:
            f.write(tensor_values(rng, spec, pad).astype("<f4").tobytes())
    os.replace(tmp, d / "model.safetensors")
    return d


def write_golden(golden: Path, sentences: int, workdir: Path) -> int:
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, BertConfig,
                              GPT2Config)
    from full_size_parity import (BERT_BASE, GPT2_PROMPTS, GPT2_SMALL, MAX_NEW_TOKENS, SST2_LABELS, greedy_reference,
                                  versions)
    torch.use_deterministic_algorithms(True)
    bert_vocab = (SHARED / VOCAB_FILES["bert"]["vocab.txt"]).read_text(encoding="utf-8").split("\n")[:-1]
    gpt2_vocab = json.loads((SHARED / VOCAB_FILES["gpt2"]["vocab.json"]).read_text(encoding="utf-8"))
    eot = gpt2_vocab["<|endoftext|>"]
    configs = {
        "bert": BertConfig(vocab_size=len(bert_vocab), num_labels=2, id2label=SST2_LABELS,
                           label2id={v: k for k, v in SST2_LABELS.items()},
                           architectures=["BertForSequenceClassification"], **BERT_BASE),
        "gpt2": GPT2Config(vocab_size=len(gpt2_vocab), bos_token_id=eot, eos_token_id=eot,
                           architectures=["GPT2LMHeadModel"], **GPT2_SMALL),
    }
    classes = {"bert": AutoModelForSequenceClassification, "gpt2": AutoModelForCausalLM}
    out = {"description": __doc__.split("\n")[0], "script": "weights-scripts/full_size_golden.py write",
           "versions": versions(), "std": STD, "noise": NOISE}
    for kind in ("bert", "gpt2"):
        with torch.device("meta"):  # names and shapes only
            skeleton = classes[kind].from_config(configs[kind])
        tensors = [{"name": n, "shape": list(p.shape), "init": init_kind(n, list(p.shape))}
                   for n, p in skeleton.named_parameters()]
        model = {"seed": SEEDS[kind], "config": configs[kind].to_dict(), "tensors": tensors}
        d = write_model_dir(kind, model, workdir)
        hf = classes[kind].from_pretrained(str(d)).eval()
        loaded = dict(hf.named_parameters())
        if [t["name"] for t in tensors] != list(loaded):
            raise SystemExit(f"{kind}: transformers loaded other parameters than the directory holds")
        tok = AutoTokenizer.from_pretrained(str(d))
        model["model"] = str(d)
        with torch.no_grad():
            if kind == "bert":
                model["predict"] = []
                for text in sst2_sentences(sentences):
                    enc = tok(text, return_tensors="pt")
                    logits = hf(**enc).logits[0]
                    model["predict"].append({"text": text, "input_ids": enc["input_ids"][0].tolist(),
                                             "logits": [float(x) for x in logits]})
            else:
                model["predict"], model["generate"] = [], []
                model["max_new_tokens"] = MAX_NEW_TOKENS
                spread = np.linspace(0, len(gpt2_vocab) - 1, 512).round().astype(int).tolist()
                for prompt in GPT2_PROMPTS:
                    ids = torch.tensor([tok(prompt)["input_ids"]])
                    last = hf(input_ids=ids).logits[0, -1]
                    top = torch.topk(last, 10).indices.tolist()
                    idx = sorted(set(top) | set(spread))
                    model["predict"].append({"text": prompt, "input_ids": ids[0].tolist(), "argmax": top[0],
                                             "vocab_size": len(gpt2_vocab), "logit_indices": idx,
                                             "logits": [float(last[i]) for i in idx]})
                    g = greedy_reference(hf, tok, prompt, ids)
                    model["generate"].append(g)
                    print(f"  {prompt!r:44} generate {g['ids'][ids.shape[1]:]} "
                          f"(min top1-top2 margin {min(g['step_margins']):.3g})")
        del model["model"]  # check writes its own directory
        out[kind] = model
        print(f"{kind}: {len(tensors)} tensors, {sum(int(np.prod(t['shape'])) for t in tensors):,} values; "
              f"{len(model['predict'])} predictions", flush=True)
    golden.parent.mkdir(parents=True, exist_ok=True)
    tmp = golden.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, golden)
    print(f"wrote {golden} ({golden.stat().st_size:,} bytes)")
    return 0


def check(golden: Path, loupe: Path, atol: float, timeout: float, workdir: Path) -> int:
    try:
        refs = json.loads(golden.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"full_size_golden.py: step failed: reading {golden}: {e}", file=sys.stderr)
        return 1
    if (refs.get("std"), refs.get("noise")) != (STD, NOISE):
        print(f"full_size_golden.py: step failed: {golden} was written for std {refs.get('std')}, noise "
              f"{refs.get('noise')}; this script draws {STD}, {NOISE} (run `write` again)", file=sys.stderr)
        return 1
    for kind in ("bert", "gpt2"):
        d = write_model_dir(kind, refs[kind], workdir)
        refs[kind]["model"] = str(d)
        print(f"[{kind}] {d}: {(d / 'model.safetensors').stat().st_size:,} bytes of safetensors", flush=True)
    return compare_with_cli(refs, loupe, atol, timeout)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["write", "check"])
    p.add_argument("--golden", default=str(GOLDEN), help=f"the references (default {GOLDEN})")
    p.add_argument("--loupe", default=str(DEFAULT_LOUPE), help=f"check: the loupe binary (default {DEFAULT_LOUPE})")
    p.add_argument("--sentences", type=int, default=8, help="write: SST-2 dev sentences (default 8)")
    p.add_argument("--atol", type=float, default=1e-4, help="check: max |logit diff| (default 1e-4)")
    p.add_argument("--timeout", type=float, default=300, help="check: seconds per loupe command (default 300)")
    p.add_argument("--workdir", help="keep the model directories here (default: a temporary directory)")
    a = p.parse_args(argv)
    for files in VOCAB_FILES.values():
        for shared in list(files.values()) + ["sst2/dev.tsv"]:
            if not (SHARED / shared).is_file():
                print(f"full_size_golden.py: step failed: shared data: {SHARED / shared} not found "
                      "(set LOUPE_DATA_DIR)", file=sys.stderr)
                return 1
    with tempfile.TemporaryDirectory(prefix="loupe-full-golden-") as tmp:
        workdir = Path(a.workdir or tmp)
        if a.mode == "write":
            return write_golden(Path(a.golden), a.sentences, workdir)
        try:
            return check(Path(a.golden), Path(a.loupe), a.atol, a.timeout, workdir)
        except StepFailed as e:
            print(f"full_size_golden.py: step failed: {e}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
