#!/usr/bin/env python3
"""Saliency speed: Captum / PyTorch against `loupe explain`, on the same random-weight models, in the same run.

    python Benchmarks/bench_interpret.py [--loupe .build/release/loupe] [--workdir /tmp/loupe-bench-interp]
                                         [--rounds 3] [--runs 3] [--threads 2] [--json-out FILE]
                                         [--openblas-coretype NAME] [--skip NAME ...]

Cases (BERT-base = the standard bert-base-uncased shape with random weights, built as
weights-scripts/full_size_parity.py builds it, converted with convert.py into the work directory; nothing is
committed):
  grad-input   grad x input, BERT-base, 1 x 128 tokens. PyTorch: a forward for the predicted class, then
               Captum InputXGradient on the word embeddings (score = softmax probability, LIT's default).
               Loupe: `loupe explain --method grad-input --batch-size 1` (prediction and gradient, each text in
               a pass of its own: by default a process's texts share passes of up to 16). Loupe takes the target from
               the recorded forward it differentiates, so it does one forward fewer than Captum's API allows;
               `grad-input-1pass` is that same work in plain PyTorch (one forward with grad, argmax, backward),
               printed as a second reference for the same Loupe time.
  ig32         integrated gradients, 32 Gauss-Legendre steps. Captum IntegratedGradients(n_steps=32,
               internal_batch_size=None: all steps in one batch, Captum's default). Loupe: --steps 32.
  ig50         Captum's default 50 steps (the reference for the tolerance goal); Loupe --steps 50 too.
  ig-tol       Loupe --tolerance 0.01 (refine until |delta| <= 1 % of |F(x) - F(0)|), against Captum ig50.
  lime         LIME, 256 samples, BERT-base, 64 tokens: LIT's algorithm (citrus/lime.py: 257 [MASK] masks,
               exponential kernel of width 256 on 100 x cosine distance, ridge alpha 1 with intercept) with the
               model in PyTorch, perturbations in batches of 32 as Loupe does; against `loupe explain --method lime`.
  cold         one BERT-tiny saliency (grad x input) in a fresh process: Python importing torch, transformers
               and captum and loading the HF directory, against `loupe explain` on the .h5 fixture: wall time
               and peak RSS (getrusage of the child).
  rss          peak RSS of one BERT-base grad x input, 1 x 128 tokens, in a fresh process: the `cold` script on
               the BERT-base directory with the parameters frozen (the same work: no weight gradients), against
               `loupe explain --method grad-input` on the BERT-base .h5.
Warm timings: PyTorch runs each case `--runs` times after a warm-up in one worker process and reports the
median; Loupe explains the same text `--runs + 1` times in one process (`--text` repeated, `--format json`)
and the median of its `seconds` field after the first is used. Rounds alternate PyTorch and Loupe; the ratio
is taken per round and the median over rounds is printed, because the machine is shared and noisy.
Both sides use `--threads` threads (torch.set_num_threads, LOUPE_THREADS, OMP/MKL/OPENBLAS_NUM_THREADS).
Same work: the PyTorch model's parameters are frozen (`requires_grad_(False)`), because Loupe never computes
weight gradients for a saliency map and Hugging Face models come with requires_grad=True, which would make every
Captum backward also compute dL/dW (about as many FLOPs again); `--torch-param-grads` keeps PyTorch's default.
The load average (os.getloadavg) is recorded before each round: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "weights-scripts"
SHARED = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
CASES = ("grad-input", "ig32", "ig50", "ig-tol", "lime", "cold", "rss")


# =============================================================================================
# Models and inputs

def setup(workdir: Path) -> dict:
    """BERT-base (HF directory + Loupe .h5) and BERT-tiny (HF directory), built once per work directory."""
    sys.path.insert(0, str(SCRIPTS))
    workdir.mkdir(parents=True, exist_ok=True)
    base_h5 = workdir / "bert-base.h5"
    if not base_h5.exists():
        import full_size_parity as fsp
        model, hf_dir, _ = fsp.build_bert(workdir, fsp.BERT_BASE)
        fsp.convert_and_check(model, hf_dir, base_h5)
    tiny_dir = workdir / "bert_tiny_cls"
    if not (tiny_dir / "config.json").exists():
        import make_goldens
        make_goldens.build_bert_tiny_cls(workdir)
    return {"base_h5": str(base_h5), "base_hf": str(workdir / "bert-base"), "tiny_hf": str(tiny_dir),
            "tiny_h5": str(REPO / "Tests" / "Fixtures" / "bert_tiny_cls.h5")}


def text_of_length(tokenizer, n_tokens: int) -> str:
    """Words of SST-2 dev sentences, as many as fit in n_tokens - 2 word pieces, then '.' to fill exactly."""
    rows = (SHARED / "sst2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    words, count = [], 0
    for row in rows:
        for w in row.split("\t")[0].split():
            k = len(tokenizer.tokenize(w))
            if count + k > n_tokens - 2:
                break
            words.append(w)
            count += k
        else:
            continue
        break
    words += ["."] * (n_tokens - 2 - count)
    text = " ".join(words)
    assert len(tokenizer(text)["input_ids"]) == n_tokens, (n_tokens, len(tokenizer(text)["input_ids"]))
    return text


# =============================================================================================
# PyTorch / Captum worker (runs in its own process)

def timed(fn, runs: int) -> float:
    """Median seconds of `runs` calls of `fn` after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_worker(args) -> dict:
    import torch
    from captum.attr import InputXGradient, IntegratedGradients
    from transformers import BertForSequenceClassification, BertTokenizerFast

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(args.base_hf).eval()
    if not args.param_grads:
        model.requires_grad_(False)  # the same work as Loupe: gradients for the input embeddings only
    tok = BertTokenizerFast.from_pretrained(args.base_hf)
    emb_layer = model.bert.embeddings.word_embeddings
    out: dict = {}

    def prepare(text):
        enc = tok(text, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]

    def forward_prob(embeds, mask, types):
        return torch.softmax(model(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types).logits, dim=-1)

    ids, mask, types = prepare(args.text128)

    def predicted():
        with torch.no_grad():
            return int(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.argmax(-1))

    if "grad-input" in args.cases:
        def gi():
            target = predicted()
            emb = emb_layer(ids).detach()
            return InputXGradient(forward_prob).attribute(emb, target=target, additional_forward_args=(mask, types))
        out["grad-input"] = timed(gi, args.runs)

        def gi_one_pass():
            # What Loupe does: the target from the same (recorded) forward that is differentiated.
            emb = emb_layer(ids).detach().requires_grad_(True)
            p = forward_prob(emb, mask, types)
            target = int(p[0].argmax())
            (g,) = torch.autograd.grad(p[0, target], emb)
            return (g * emb).sum(-1)
        out["grad-input-1pass"] = timed(gi_one_pass, args.runs)

    for steps, key in ((32, "ig32"), (50, "ig50")):
        if key not in args.cases and not (key == "ig50" and "ig-tol" in args.cases):
            continue
        ig = IntegratedGradients(forward_prob)
        last = {}

        def run_ig():
            target = predicted()
            emb = emb_layer(ids).detach()
            last["target"], last["emb"] = target, emb
            last["attr"] = ig.attribute(emb, baselines=torch.zeros_like(emb), target=target, n_steps=steps,
                                        additional_forward_args=(mask, types), internal_batch_size=None)
            return last["attr"]
        out[key] = timed(run_ig, args.runs)
        # Completeness of the last timed answer (untimed): |delta| / |F(x) - F(0)|, delta as Captum's
        # return_convergence_delta computes it (sum of the float32 attributions minus F(x) - F(0)).
        emb, target = last["emb"], last["target"]
        with torch.no_grad():
            fx = float(forward_prob(emb, mask, types)[0, target])
            fb = float(forward_prob(torch.zeros_like(emb), mask, types)[0, target])
        delta = float(last["attr"].sum()) - (fx - fb)
        out[key + "_relative_delta"] = abs(delta) / abs(fx - fb)

    if "lime" in args.cases:
        from lime_reference import lit_lime
        ids64, mask64, types64 = prepare(args.text64)
        mask_id = tok.mask_token_id
        out["lime"] = timed(lambda: lit_lime(model, ids64, mask64, types64, mask_id), args.runs)
    return out


COLD_PY = r"""
import sys
import torch
from captum.attr import InputXGradient
from transformers import BertForSequenceClassification, BertTokenizerFast
torch.set_num_threads(int(sys.argv[2]))
model = BertForSequenceClassification.from_pretrained(sys.argv[1]).eval()
if sys.argv[4:] == ["frozen"]:
    model.requires_grad_(False)
tok = BertTokenizerFast.from_pretrained(sys.argv[1])
enc = tok(sys.argv[3], return_tensors="pt")
emb = model.bert.embeddings.word_embeddings(enc["input_ids"]).detach()
f = lambda e, m, t: torch.softmax(model(inputs_embeds=e, attention_mask=m, token_type_ids=t).logits, -1)
with torch.no_grad():
    target = int(f(emb, enc["attention_mask"], enc["token_type_ids"]).argmax(-1))
a = InputXGradient(f).attribute(emb, target=target, additional_forward_args=(enc["attention_mask"], enc["token_type_ids"]))
print(a[0].sum(-1).tolist())
"""


def measured_child(cmd: list, env: dict) -> tuple:
    """Wall time (around the whole run) and peak RSS (MB) of one child; the RSS from GNU time's %M, so that it
    is the command's own (a child forked from this Python process would inherit its high-water mark)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as f:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + cmd, capture_output=True, env=env)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"{cmd[0]}: exit {p.returncode}: {p.stderr.decode()[-2000:]}")
        kb = f.read().split()[-1]
    return wall, int(kb) / 1024, p.stdout.decode()


# =============================================================================================
# Loupe side

def loupe_seconds(loupe: str, model: str, text: str, extra: list, runs: int, env: dict) -> tuple:
    """Median `seconds` of runs 2..runs+1 of one process explaining `text` runs + 1 times; last JSON object."""
    cmd = [loupe, "explain", "--model", model, "--format", "json"] + extra
    for _ in range(runs + 1):
        cmd += ["--text", text]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"loupe {' '.join(extra)}: exit {p.returncode}: {p.stderr.strip()}")
    objs = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(objs) == runs + 1, p.stdout[:500]
    return statistics.median(o["seconds"] for o in objs[1:]), objs[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loupe", default=str(REPO / ".build" / "release" / "loupe"))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "loupe-bench-interp"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], choices=CASES)
    ap.add_argument("--json-out")
    ap.add_argument("--openblas-coretype", help="OPENBLAS_CORETYPE for Loupe (e.g. SkylakeX); default: detected")
    ap.add_argument("--torch-param-grads", action="store_true",
                    help="leave requires_grad on the PyTorch parameters (Captum's default use; extra dL/dW work)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--args-json", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker == "torch":
        w = argparse.Namespace(**json.loads(args.args_json))
        print(json.dumps(torch_worker(w)))
        return 0

    cases = [c for c in CASES if c not in args.skip]
    paths = setup(Path(args.workdir))
    from transformers import BertTokenizerFast
    tok = BertTokenizerFast.from_pretrained(paths["base_hf"])
    text128, text64 = text_of_length(tok, 128), text_of_length(tok, 64)
    tiny_text = "the movie was a charming and often affecting journey ."
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               LOUPE_THREADS=threads)
    loupe_env = dict(env)
    if args.openblas_coretype:
        loupe_env["OPENBLAS_CORETYPE"] = args.openblas_coretype
    worker_args = dict(base_hf=paths["base_hf"], text128=text128, text64=text64, threads=args.threads,
                       runs=args.runs, cases=cases, param_grads=args.torch_param_grads)
    loupe_cases = {
        # One text a pass, as PyTorch's: the runs + 1 texts of a process would otherwise share passes (batch_size 16).
        "grad-input": (paths["base_h5"], text128, ["--method", "grad-input", "--batch-size", "1"]),
        "ig32": (paths["base_h5"], text128, ["--method", "ig", "--steps", "32"]),
        "ig50": (paths["base_h5"], text128, ["--method", "ig", "--steps", "50"]),
        "ig-tol": (paths["base_h5"], text128, ["--method", "ig", "--tolerance", "0.01"]),
        "lime": (paths["base_h5"], text64, ["--method", "lime", "--samples", "256"]),
    }
    rounds = []
    for r in range(args.rounds):
        row: dict = {"torch": {}, "loupe": {}, "loupe_info": {}, "load_before": os.getloadavg()[0]}
        torch_cases = [c for c in cases if c not in ("cold", "rss")]
        if torch_cases:
            p = subprocess.run([sys.executable, __file__, "--worker", "torch", "--args-json", json.dumps(worker_args)],
                               capture_output=True, text=True, env=env)
            if p.returncode != 0:
                raise SystemExit(f"torch worker failed: {p.stderr[-3000:]}")
            row["torch"] = json.loads(p.stdout.strip().splitlines()[-1])
        for c in torch_cases:
            model, text, extra = loupe_cases[c]
            secs, last = loupe_seconds(args.loupe, model, text, extra, args.runs, loupe_env)
            row["loupe"][c] = secs
            row["loupe_info"][c] = {k: last.get(k) for k in ("steps", "evaluations", "converged", "delta",
                                                            "input_score", "baseline_score")}
        if "cold" in cases:
            pw, prss, _ = measured_child([sys.executable, "-c", COLD_PY, paths["tiny_hf"], threads, tiny_text], env)
            lw, lrss, _ = measured_child([args.loupe, "explain", "--model", paths["tiny_h5"], "--method", "grad-input",
                                          "--text", tiny_text, "--format", "json"], loupe_env)
            row["torch"]["cold"], row["torch"]["cold_rss_mb"] = pw, prss
            row["loupe"]["cold"], row["loupe"]["cold_rss_mb"] = lw, lrss
        if "rss" in cases:
            _, prss, _ = measured_child([sys.executable, "-c", COLD_PY, paths["base_hf"], threads, text128, "frozen"], env)
            _, lrss, _ = measured_child([args.loupe, "explain", "--model", paths["base_h5"], "--method", "grad-input",
                                         "--text", text128, "--format", "json"], loupe_env)
            row["torch"]["rss_mb"], row["loupe"]["rss_mb"] = prss, lrss
        rounds.append(row)
        print(f"round {r + 1}/{args.rounds}: torch {row['torch']}  loupe {row['loupe']}", file=sys.stderr)

    def med(side, key):
        vals = [rd[side][key] for rd in rounds if key in rd[side]]
        return statistics.median(vals) if vals else None

    def ratio(key, ref=None):
        vals = [rd["loupe"][key] / rd["torch"][ref or key] for rd in rounds
                if key in rd["loupe"] and (ref or key) in rd["torch"]]
        return statistics.median(vals) if vals else None

    loads = [rd["load_before"] for rd in rounds]
    print(f"\n{cpu()}, {args.threads} threads, {args.rounds} rounds x {args.runs} runs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, OPENBLAS_CORETYPE={args.openblas_coretype or '(detected)'}, "
          f"1-min load average before each round {', '.join(f'{x:.1f}' for x in loads)}, "
          f"PyTorch parameters {'with' if args.torch_param_grads else 'without'} requires_grad")
    print(f"{'case':<44}{'PyTorch/Captum':>16}{'Loupe':>10}{'ratio':>8}")
    labels = {
        "grad-input": "grad x input, BERT-base 1x128",
        "ig32": "IG 32 steps, BERT-base 1x128",
        "ig50": "IG 50 steps (Captum default)",
        "lime": "LIME 256 samples, BERT-base seq 64",
    }
    summary: dict = {"rounds": rounds, "machine": cpu(), "threads": args.threads, "cases": {},
                     "torch_param_grads": args.torch_param_grads, "argv": sys.argv}
    for c in ("grad-input", "ig32", "ig50", "lime"):
        if c in cases and med("torch", c) is not None:
            print(f"{labels[c]:<44}{med('torch', c):>14.3f} s{med('loupe', c):>8.3f} s{ratio(c):>7.2f}x")
            summary["cases"][c] = {"torch_s": med("torch", c), "loupe_s": med("loupe", c), "ratio": ratio(c)}
        if c == "grad-input" and med("torch", "grad-input-1pass") is not None:
            key = "grad-input-1pass"
            print(f"{'  same, PyTorch one pass (no prediction pass)':<44}{med('torch', key):>14.3f} s"
                  f"{med('loupe', c):>8.3f} s{ratio(c, key):>7.2f}x")
            summary["cases"][key] = {"torch_s": med("torch", key), "loupe_s": med("loupe", c), "ratio": ratio(c, key)}
    if "ig-tol" in cases and med("torch", "ig50") is not None:
        info = rounds[-1]["loupe_info"]["ig-tol"]
        rel = abs(info["delta"]) / abs(info["input_score"] - info["baseline_score"])
        print(f"{'IG --tolerance 0.01 vs Captum 50 steps':<44}{med('torch', 'ig50'):>14.3f} s"
              f"{med('loupe', 'ig-tol'):>8.3f} s{ratio('ig-tol', 'ig50'):>7.2f}x"
              f"   ({info['steps']} points, {info['evaluations']} gradients, |delta|/|dF| = {rel:.2e}; "
              f"Captum 50 steps: {rounds[-1]['torch'].get('ig50_relative_delta', float('nan')):.2e})")
        summary["cases"]["ig-tol"] = {"torch_s": med("torch", "ig50"), "loupe_s": med("loupe", "ig-tol"),
                                      "ratio": ratio("ig-tol", "ig50"), "loupe": info, "relative_delta": rel}
    if "cold" in cases:
        print(f"{'cold BERT-tiny saliency, wall':<44}{med('torch', 'cold'):>14.3f} s{med('loupe', 'cold'):>8.3f} s"
              f"{ratio('cold'):>7.2f}x")
        print(f"{'cold BERT-tiny saliency, peak RSS':<44}{med('torch', 'cold_rss_mb'):>13.0f} MB"
              f"{med('loupe', 'cold_rss_mb'):>7.0f} MB{ratio('cold_rss_mb'):>7.2f}x")
        summary["cases"]["cold"] = {k: med(s, k) for s in ("torch",) for k in ("cold", "cold_rss_mb")}
        summary["cases"]["cold"].update({"loupe_" + k: med("loupe", k) for k in ("cold", "cold_rss_mb")})
    if "rss" in cases:
        print(f"{'BERT-base grad x input 1x128, peak RSS':<44}{med('torch', 'rss_mb'):>13.0f} MB"
              f"{med('loupe', 'rss_mb'):>7.0f} MB{ratio('rss_mb'):>7.2f}x")
        summary["cases"]["rss"] = {"torch_mb": med("torch", "rss_mb"), "loupe_mb": med("loupe", "rss_mb")}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=1))
    return 0


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, {platform.system()}"
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
