"""Export a Loupe BERT weight file (e.g. RUN_DIR/best.h5 from `loupe finetune`) as a Hugging Face directory.

    /tmp/venv/bin/python weights-scripts/export_hf.py RUN_DIR/best.h5 OUT_DIR [--check-with-loupe BIN]

OUT_DIR gets config.json (the stored config with `architectures`, id2label/label2id), model.safetensors (the
tensors under their stored state-dict names, float32), vocab.txt, tokenizer_config.json and
special_tokens_map.json, so `AutoModelForSequenceClassification.from_pretrained(OUT_DIR)` and
`AutoTokenizer.from_pretrained(OUT_DIR)` load it. BERT only (every task the format has); GPT-2 is refused.

With --check-with-loupe BIN the directory is loaded with transformers and its logits on the texts of
--texts (default: the first 64 sentences of SST-2 dev) are compared with `BIN predict --logits --format json`
on the .h5; the script fails when any logit differs by more than --tolerance (1e-4).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from safetensors.numpy import save_file

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURE = {
    "sequence-classification": "BertForSequenceClassification",
    "masked-lm": "BertForMaskedLM",
    "feature-extraction": "BertModel",
}


def attr(obj, name, default=None):
    if name not in obj.attrs:
        return default
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else v


def export(h5_path: Path, out: Path) -> dict:
    with h5py.File(h5_path, "r") as f:
        if attr(f, "format") != "loupe" or int(attr(f, "version", 0)) != 1:
            sys.exit(f"{h5_path}: not a Loupe weight file v1")
        if attr(f, "architecture") != "bert":
            sys.exit(f"{h5_path}: only BERT checkpoints are exported (this one is {attr(f, 'architecture')})")
        task = attr(f, "task")
        config = json.loads(attr(f, "config"))
        config["model_type"] = "bert"
        config["architectures"] = [ARCHITECTURE[task]]
        labels = json.loads(attr(f, "labels", "null") or "null")
        if task == "sequence-classification":
            if labels is None:
                labels = [f"LABEL_{i}" for i in range(int(config.get("num_labels", 2)))]
            config["id2label"] = {str(i): l for i, l in enumerate(labels)}
            config["label2id"] = {l: i for i, l in enumerate(labels)}
            config["num_labels"] = len(labels)
        tensors = {name: np.ascontiguousarray(f["weights"][name][()].astype("<f4")) for name in f["weights"]}
        tok = f["tokenizer"]
        vocab = [v.decode() if isinstance(v, bytes) else v for v in tok["vocab"][()]]
        strip = attr(tok, "strip_accents")
        special = {k: attr(tok, k) for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
        tokenizer_config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": bool(attr(tok, "do_lower_case")),
            "strip_accents": None if strip == "none" else strip == "true",
            "tokenize_chinese_chars": bool(attr(tok, "tokenize_chinese_chars")),
            "model_max_length": int(attr(tok, "model_max_length")),
            **special,
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return {"task": task, "tensors": len(tensors), "labels": labels}


def check(h5_path: Path, out: Path, loupe: str, texts: list[str], tolerance: float) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, return_tensors="pt")
        hf = model(**enc).logits.numpy()
    inp = out / "check_texts.txt"
    inp.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    try:
        run = subprocess.run([loupe, "predict", "--model", str(h5_path), "--input", str(inp), "--logits", "--format", "json"],
                             check=True, capture_output=True, text=True)
    finally:
        inp.unlink()
    ours = np.array([json.loads(line)["logits"] for line in run.stdout.splitlines() if line.strip()], dtype=np.float64)
    diff = float(np.abs(ours - hf).max())
    print(f"max |logit difference| over {len(texts)} texts: {diff:.3g} (tolerance {tolerance})")
    if not diff <= tolerance:
        sys.exit("logits differ: the export is wrong")
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", type=Path, help="a Loupe .h5 file (BERT)")
    ap.add_argument("out", type=Path, help="output Hugging Face directory")
    ap.add_argument("--check-with-loupe", metavar="BIN", help="compare transformers' logits with `BIN predict`")
    ap.add_argument("--texts", type=Path, help="one text per line for the check (default: 64 SST-2 dev sentences)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    info = export(args.weights, args.out)
    print(f"wrote {args.out}: {info['task']}, {info['tensors']} tensors, labels {info['labels']}")
    if args.check_with_loupe:
        if args.texts:
            texts = [t for t in args.texts.read_text(encoding="utf-8").split("\n") if t]
        else:
            dev = REPO.parent / "shared/data/sst2/dev.tsv"
            texts = [line.split("\t")[0] for line in dev.read_text(encoding="utf-8").split("\n")[1:65] if line]
        check(args.weights, args.out, args.check_with_loupe, texts, args.tolerance)


if __name__ == "__main__":
    main()
