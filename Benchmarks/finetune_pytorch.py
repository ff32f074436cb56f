"""PyTorch + transformers reference for `loupe finetune`: the same data, model size, recipe and epochs.

Recipe (the defaults of `loupe finetune --model bert-tiny`): BertForSequenceClassification from a random
initialisation (transformers `_init_weights`, initializer_range 0.02) or from a pretrained directory, AdamW
(β 0.9/0.999, ε 1e-8) with weight decay 0.01 on everything but biases and LayerNorm, 10 % warm-up (ceil)
then linear decay (`get_linear_schedule_with_warmup`), batch 32, max length 128, dynamic padding with the
same length grouping (`LengthGroupedSampler`-style mega-batches of 50 batches sorted by length), gradient
clipping at 1.0, dropout 0.1, evaluation on dev after each epoch.

    /tmp/venv/bin/python Benchmarks/finetune_pytorch.py                        # bert-tiny, 3 epochs
    /tmp/venv/bin/python Benchmarks/finetune_pytorch.py --model .checkpoints/all-MiniLM-L6-v2 \
        --epochs 1 --lr 5e-5 --train-limit 20000                                   # MiniLM subset run
    /tmp/venv/bin/python Benchmarks/finetune_pytorch.py --max-seq-len 64 --max-steps 300 --no-eval \
        --compare-loupe .build/release/loupe --rounds 3                          # speed, same run as Loupe

Prints one line per evaluation and a JSON summary (accuracy per epoch, wall time, training examples/s).
Threads: --threads (default 2, the benchmark setting; Loupe gets LOUPE_THREADS=--threads).
With --compare-loupe BIN, each round runs `BIN finetune` with the same model, data, steps, batch size and
maximum length, then this script's PyTorch training, alternating so both see the same machine load; the
medians of the training examples/s (evaluation excluded in both) and their ratio are printed. With
--loupe-before OLD_BIN as well, each round first runs OLD_BIN the same way (a same-run before/after).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, get_linear_schedule_with_warmup

REPO = Path(__file__).resolve().parent.parent
PRESETS = {"bert-tiny": (2, 128, 2, 512), "bert-mini": (4, 256, 4, 1024), "bert-small": (4, 512, 8, 2048), "bert-base": (12, 768, 12, 3072)}


def read_tsv(path: Path, limit: int | None = None) -> list[tuple[str, int]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    s, l = header.index("sentence"), header.index("label")
    rows = [line.split("\t") for line in lines[1:] if line]
    data = [(r[s], int(r[l])) for r in rows]
    return data[:limit] if limit else data


def data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("LOUPE_DATA_DIR")
    for c in ([Path(env) / "sst2"] if env else []) + [REPO.parent / "shared/data/sst2"]:
        if (c / "train.tsv").exists():
            return c
    raise SystemExit("no SST-2 data: pass --data DIR or run weights-scripts/get_sst2.py")


def batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Mega-batches of 50 batches from a random permutation, each sorted longest first (transformers
    LengthGroupedSampler); the mega-batch holding the longest example goes first."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * 50
    megas = [sorted(order[i:i + mega], key=lambda j: lengths[j], reverse=True) for i in range(0, len(order), mega)]
    longest = max(range(len(megas)), key=lambda m: lengths[megas[m][0]])
    megas[0], megas[longest] = megas[longest], megas[0]
    return [m[i:i + batch_size] for m in megas for i in range(0, len(m), batch_size)]


def collate(ids: list[list[int]], rows: list[int], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(ids[r]) for r in rows)
    x = torch.full((len(rows), t), pad, dtype=torch.long)
    m = torch.zeros((len(rows), t), dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, :len(ids[r])] = torch.tensor(ids[r])
        m[i, :len(ids[r])] = 1
    return x, m


@torch.no_grad()
def evaluate(model, ids, labels, pad, batch_size=64) -> float:
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    correct = 0
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        x, m = collate(ids, rows, pad)
        pred = model(input_ids=x, attention_mask=m).logits.argmax(-1)
        correct += sum(int(p == labels[r]) for p, r in zip(pred.tolist(), rows))
    model.train()
    return correct / len(ids)


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bert-tiny", help="preset name or a pretrained HF directory")
    ap.add_argument("--data")
    ap.add_argument("--vocab", default=str(REPO.parent / "shared/data/vocab/bert-base-uncased-vocab.txt"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--max-seq-len", type=int, default=128)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-eval", action="store_true", help="speed runs: skip the dev evaluations")
    ap.add_argument("--json", help="also write the summary here")
    ap.add_argument("--compare-loupe", metavar="BIN", help="alternate rounds of `BIN finetune` and this script")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loupe-before", metavar="BIN",
                    help="with --compare-loupe: also run this (older) loupe binary in each round, for a same-run before/after")
    return ap.parse_args()


def run_loupe(args: argparse.Namespace, binary: str) -> dict:
    """One `loupe finetune` run with the same settings; its --summary-json."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "finetune", "--model", args.model, "--out", f"{tmp}/run", "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--max-seq-len", str(args.max_seq_len), "--seed", str(args.seed),
               "--summary-json", f"{tmp}/summary.json", "--log-every", "100"]
        for flag, value in (("--max-steps", args.max_steps), ("--train-limit", args.train_limit), ("--lr", args.lr),
                            ("--data", args.data)):
            if value is not None:
                cmd += [flag, str(value)]
        env = dict(os.environ, LOUPE_THREADS=str(args.threads))
        subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        return json.loads(Path(f"{tmp}/summary.json").read_text())


def main() -> None:
    args = parse()
    if not args.compare_loupe:
        summary = train(args)
        print(json.dumps(summary))
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        return
    rows, befores, loads = [], [], []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        before = run_loupe(args, args.loupe_before)["examples_per_second"] if args.loupe_before else None
        loupe = run_loupe(args, args.compare_loupe)["examples_per_second"]
        torch_rate = train(args)["examples_per_second"]
        rows.append((loupe, torch_rate))
        befores.append(before)
        loads.append(round(load, 2))
        line = f"round {r + 1} (load {load:.2f}): Loupe {loupe:.0f} ex/s, PyTorch {torch_rate:.0f} ex/s, ratio {loupe / torch_rate:.2f}"
        if before is not None:
            line += f"; Loupe before {before:.0f} ex/s (ratio {before / torch_rate:.2f}), speed-up {loupe / before:.2f}x"
        print(line, flush=True)
    lo, pt = statistics.median(x for x, _ in rows), statistics.median(y for _, y in rows)
    result = {"loupe_examples_per_second": round(lo, 1), "pytorch_examples_per_second": round(pt, 1),
              "ratio": round(lo / pt, 3), "rounds": rows, "load_averages": loads, "threads": args.threads,
              "max_seq_len": args.max_seq_len, "batch_size": args.batch_size, "steps": args.max_steps, "model": args.model,
              "torch": torch.__version__}
    if args.loupe_before:
        bl = statistics.median(befores)
        result.update({"loupe_before_examples_per_second": round(bl, 1), "loupe_before_rounds": befores,
                       "before_ratio": round(bl / pt, 3), "speedup": round(lo / bl, 3)})
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def train(args: argparse.Namespace) -> dict:
    """The PyTorch run; returns its summary."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = data_dir(args.data)
    train = read_tsv(d / "train.tsv", args.train_limit)
    dev = read_tsv(d / "dev.tsv")

    if args.model in PRESETS:
        layers, hidden, heads, inter = PRESETS[args.model]
        # from_pretrained on a directory holding the vocab.txt (transformers 5's constructor takes `vocab=`,
        # and silently ignores the older `vocab_file=`, which turns every word into [UNK]).
        with tempfile.TemporaryDirectory() as vocab_dir:
            shutil.copy(args.vocab, Path(vocab_dir) / "vocab.txt")
            tok = BertTokenizerFast.from_pretrained(vocab_dir, do_lower_case=True)
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=inter, num_labels=2)
        model = BertForSequenceClassification(cfg)
        lr = args.lr or 5e-4
    else:
        tok = BertTokenizerFast.from_pretrained(args.model)
        model = BertForSequenceClassification.from_pretrained(args.model, num_labels=2)
        lr = args.lr or 5e-5
    model.train()

    def encode(rows):
        return tok([s for s, _ in rows], truncation=True, max_length=args.max_seq_len)["input_ids"], [l for _, l in rows]

    train_ids, train_labels = encode(train)
    unknown = sum(t == tok.unk_token_id for x in train_ids for t in x) / sum(len(x) for x in train_ids)
    assert unknown < 0.01, f"{unknown:.0%} of the training tokens are [UNK]: the vocabulary was not loaded"

    dev_ids, dev_labels = encode(dev)
    pad = tok.pad_token_id

    no_decay = lambda n: n.endswith(".bias") or "LayerNorm." in n
    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    per_epoch = math.ceil(len(train_ids) / args.batch_size)
    total = min(args.max_steps or 1 << 62, args.epochs * per_epoch)
    sched = get_linear_schedule_with_warmup(opt, math.ceil(args.warmup * total), total)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = random.Random(args.seed)

    accuracies, step, train_seconds, seen = [], 0, 0.0, 0
    wall = time.perf_counter()
    for epoch in range(args.epochs):
        for rows in batches([len(x) for x in train_ids], args.batch_size, rng):
            if step >= total:
                break
            t0 = time.perf_counter()
            x, m = collate(train_ids, rows, pad)
            y = torch.tensor([train_labels[r] for r in rows])
            loss = loss_fn(model(input_ids=x, attention_mask=m).logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            train_seconds += time.perf_counter() - t0
            seen += len(rows)
            step += 1
            if step % 200 == 0 and not args.compare_loupe:
                print(f"step {step}/{total} loss {loss.item():.4f} {seen / train_seconds:.0f} ex/s", flush=True)
        if not args.no_eval:
            acc = evaluate(model, dev_ids, dev_labels, pad)
            accuracies.append(acc)
            print(f"epoch {epoch + 1}: dev accuracy {acc:.4f}", flush=True)
        if step >= total:
            break
    summary = {
        "model": args.model, "train_examples": len(train_ids), "steps": step, "dev_accuracy_per_epoch": accuracies,
        "train_seconds": round(train_seconds, 2), "wall_seconds": round(time.perf_counter() - wall, 2),
        "examples_per_second": round(seen / train_seconds, 1), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "lr": lr, "max_seq_len": args.max_seq_len, "batch_size": args.batch_size,
    }
    return summary


if __name__ == "__main__":
    main()
