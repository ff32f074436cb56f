#!/usr/bin/env python3
# Reduced precision: Loupe `--precision fp32|bf16|int8` against ONNX Runtime and PyTorch fp32 / dynamic int8.
"""Precision benchmark: Loupe fp32 / bf16 / int8 (oneDNN) against ONNX Runtime and PyTorch, fp32 and dynamic int8.

    python Benchmarks/bench_precision.py [--loupe .build/release/loupe] [--workdir /tmp/loupe-bench-models]
        [--threads 2] [--rounds 3] [--runs 10] [--only bert-tiny,bert-base,gpt2,lime] [--no-loupe] [--no-all-rows]
        [--precisions fp32,bf16,int8] [--lime-sentences 8] [--lime-samples 256] [--json OUT]

Models: bench_models.py's random-weight BERT-tiny, BERT-base (sequence classification) and GPT-2 small (seed 0),
built and converted once into --workdir and reused (bench_models.build / export_onnx).
  forwards  bert-tiny 1x128, bert-base 1x128 and 8x128 (random ids, no padding, logits): median of --runs forwards
            (bert-tiny 30x) after --warmup, for ONNX Runtime fp32 (bench_models' torch.onnx export) and int8
            (onnxruntime.quantization.quantize_dynamic(..., weight_type=QuantType.QInt8) of that export, after
            quant_pre_process: its default fails on this export ("Incomplete symbolic shape inference"), so
            auto_merge=True is tried next, then skip_symbolic_shape=True, then no pre-processing; the one used is
            printed and kept in <workdir>/<model>-int8.json), PyTorch fp32 and
            torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8), and
            `loupe bench model --precision P` (each P, default rows, and with --all-rows as transformers computes).
  decode    gpt2: greedy decoding of 32 tokens after a 128-token prompt with the KV cache, tokens/s. GPT-2 in
            transformers uses Conv1D (y = x W + b, W stored [in, out]), which quantize_dynamic ignores, so the int8
            worker first swaps every Conv1D for an nn.Linear with W transposed and checks the swapped model's logits
            against the original ones (max |diff| printed, must stay under SWAP_TOL); quantize_dynamic then
            quantizes all Linears, lm_head included. PyTorch int8 peak RSS includes the fp32 model it came from.
  lime      `loupe explain --method lime --samples 256 --precision P` of the first --lime-sentences SST-2 dev
            sentences in one process, wall clock, plus the sum of the per-sentence "seconds" (without model load)
            and a run on the first sentence alone: (wall N - wall 1) / (N - 1) is the per-sentence slope.
Every engine runs each workload in a fresh process with --threads threads (torch.set_num_threads,
ORT intra_op_num_threads, LOUPE_THREADS; OMP_NUM_THREADS and MKL_NUM_THREADS for all); the engines alternate
(the order rotated each round) for --rounds rounds. Times are medians over rounds; each ratio is computed within
a round and its median over rounds is shown (per-round values in brackets), so a ratio never mixes rounds on
this shared, noisy machine. A Loupe variant the binary rejects (e.g. no --precision yet) is skipped after
printing its error once. Needs torch, transformers, onnxruntime and onnx (`pip install onnxruntime onnx`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models as bm  # noqa: E402
from precision_int8 import ort_int8, torch_int8  # noqa: E402

FORWARDS = [w for w in bm.WORKLOADS if bm.MODELS[w[0]]["kind"] == "bert"]  # (model, batch, seq, runs factor)
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
NAMES = {"ort": "ONNX Runtime", "torch": "PyTorch", "loupe": "Loupe"}


# =============================================================================================
# Workers (fresh processes) and engines

def worker_torch(a) -> dict:
    import warnings
    warnings.filterwarnings("ignore")  # torch.ao.quantization deprecation
    import torch
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    model = (AutoModelForSequenceClassification if a.kind == "bert" else AutoModelForCausalLM).from_pretrained(a.hf_dir).eval()
    checks = {}
    if a.quant == "int8":
        model, checks = torch_int8(model, a.kind)
    return {**bm.time_torch(model, a), **checks}


def run_engine(engine: str, m: dict, batch: int, seq: int, runs: int, decode: int, a) -> dict:
    """engine: ort-fp32, ort-int8, torch-fp32, torch-int8, loupe-<precision>[-all-rows]."""
    kind, prec = engine.split("-")[:2]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    if kind == "loupe":
        env["LOUPE_THREADS"] = str(a.threads)
        r = bm.run_json([a.loupe, "bench", "model", "--model", m["h5"], "--batch", str(batch), "--seq", str(seq),
                         "--runs", str(runs), "--warmup", str(a.warmup), "--decode-tokens", str(decode),
                         "--precision", prec, "--format", "json"] + (["--all-rows"] if "all-rows" in engine else []), env)
        out = {"forward_ms": r["forwardMs"], "forward_min_ms": r.get("forwardMinMs"), "peak_rss_mb": r.get("peakRssMB"),
               "kernel": r.get("kernel"), "precision": r.get("precision"), "loupe_json": r}
        if r.get("decode"):
            out["decode_tokens_per_s"] = r["decode"]["tokensPerSecond"]
        if r.get("precision", prec) != prec:
            print(f"  warning: asked loupe for {prec}, its JSON says {r['precision']}", flush=True)
        return out
    onnx = m["onnx"] if prec == "fp32" else str(Path(m["onnx"]).with_name(f"{m['name']}-int8.onnx"))
    return bm.run_json([sys.executable, __file__, "--worker", kind, "--quant", prec, "--kind", m["kind"],
                        "--hf-dir", m["hf_dir"], "--onnx", onnx, "--batch", str(batch), "--seq", str(seq),
                        "--runs", str(runs), "--warmup", str(a.warmup), "--decode", str(decode),
                        "--threads", str(a.threads)], env)


def run_lime(prec: str, tsv: Path, m: dict, a) -> dict:
    """Wall clock of one `loupe explain --method lime` process over tsv; per-sentence seconds from its JSON."""
    env = dict(os.environ, LOUPE_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    cmd = [a.loupe, "explain", "--model", m["h5"], "--method", "lime", "--samples", str(a.lime_samples),
           "--precision", prec, "--input", str(tsv), "--input-format", "tsv", "--format", "json"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    objs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return {"wall_s": wall, "explain_s": sum(o["seconds"] for o in objs), "sentences": len(objs),
            "precision": objs[0].get("precision") if objs else None}


# =============================================================================================
# Report

def machine() -> dict:
    info = {"cpu": bm.cpu_name(), "cores": os.cpu_count()}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                info["lscpu_model_name"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = next((ln.split(":", 1)[1].split() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("flags")), [])
    info["flags"] = {f: f in flags for f in FLAGS}
    return info


def versions(a) -> dict:
    import numpy
    import torch
    import transformers
    v = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
         "numpy": numpy.__version__, "torch_quantized_engine": torch.backends.quantized.engine}
    try:
        import onnx
        import onnxruntime
        v.update(onnxruntime=onnxruntime.__version__, onnx=onnx.__version__)
    except ImportError:
        pass
    try:
        r = subprocess.run([a.loupe, "--version"], capture_output=True, text=True)
        v["loupe"] = (r.stdout or r.stderr).strip()
    except OSError as e:
        v["loupe"] = f"unavailable ({e.strerror})"
    return v


def label(engine: str, rows: list) -> str:
    kind, prec = engine.split("-")[:2]
    s = f"{NAMES[kind]} {prec}" + (" --all-rows" if "all-rows" in engine else "")
    kernels = sorted({r["kernel"] for r in rows if r and r.get("kernel")})
    return s + (f" (kernel {', '.join(kernels)})" if kernels else "")


def ratio_text(res: dict, engine: str, references: list, key: str) -> tuple:
    """'0.52× ORT int8 [0.50, 0.52, 0.61]; …' from per-round ratios, and the medians as a dict."""
    parts, meds = [], {}
    for ref in references:
        per = [x[key] / y[key] for x, y in zip(res.get(engine, []), res.get(ref, []))
               if x and y and x.get(key) and y.get(key)]
        if per:
            meds[ref] = statistics.median(per)
            rounds = f" [{', '.join(f'{p:.2f}' for p in per)}]" if len(per) > 1 else ""
            parts.append(f"{meds[ref]:.2f}× {label(ref, [])}{rounds}")
    return "; ".join(parts) or "–", meds


def refs(engine: str, decode: bool) -> list:
    """The references an engine's ratios are taken against."""
    kind, prec = engine.split("-")[:2]
    if kind != "loupe":
        return [f"{kind}-fp32"] if prec == "int8" else []
    fp32 = "loupe-fp32" + ("-all-rows" if "all-rows" in engine else "")
    if decode:
        return {"fp32": ["torch-fp32"], "bf16": [fp32], "int8": ["torch-fp32", "torch-int8", fp32]}[prec]
    return {"fp32": ["ort-fp32", "torch-fp32"], "bf16": [fp32], "int8": ["ort-int8", "ort-fp32", fp32]}[prec]


def short(err: Exception) -> str:
    """'(64): Error: Unknown option …' from run_json's '<command> failed (64): <stderr>'."""
    lines = str(err).split(" failed ", 1)[-1].strip().splitlines() or [""]
    return lines[0][:300] + (f" … {lines[-1][:300]}" if len(lines) > 1 else "")


def med(rows: list, key: str):
    vals = [r[key] for r in rows if r and r.get(key) is not None]
    return statistics.median(vals) if vals else None


# =============================================================================================
# Rounds

def measure(jobs: list, models: dict, a, failed: dict) -> dict:
    """{workload: {engine: [one result or None per round]}}; the engine order rotates each round."""
    results = {}
    for key, name, b, t, runs, decode, engines in jobs:
        res = results[key] = {e: [] for e in engines}
        for rnd in range(a.rounds):
            for e in engines[rnd % len(engines):] + engines[:rnd % len(engines)]:
                r = None
                if (key, e) not in failed:
                    try:
                        load = os.getloadavg()[0]
                        r = dict(run_engine(e, models[name], b, t, runs, decode, a), load_before=load)
                    except (RuntimeError, OSError, ValueError, KeyError) as err:
                        failed[(key, e)] = str(err)
                        print(f"  {key} {e}: skipped, {short(err)}", flush=True)
                res[e].append(r)
            metric = "decode_tokens_per_s" if decode else "forward_ms"
            print(f"  {key} round {rnd + 1}/{a.rounds}: " + ", ".join(
                f"{e} {res[e][-1][metric]:.{1 if decode else 2}f}" for e in engines if res[e][-1]), flush=True)
    return results


def measure_lime(m: dict, workdir: Path, a, failed: dict) -> dict:
    """{precision: [per round: N-sentence run + the 1-sentence wall and the slope]}."""
    rows = [ln for ln in (bm.SHARED / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:] if ln.strip()]
    tsv = {n: workdir / f"sst2-dev-{n}.tsv" for n in (a.lime_sentences, 1)}
    for n, path in tsv.items():
        path.write_text("sentence\tlabel\n" + "\n".join(rows[:n]) + "\n", encoding="utf-8")
    precs = a.lime_precisions.split(",")
    lime = {q: [] for q in precs}
    for rnd in range(a.rounds):
        for q in precs[rnd % len(precs):] + precs[:rnd % len(precs)]:
            if ("lime", q) in failed:
                continue
            try:
                full, one = run_lime(q, tsv[a.lime_sentences], m, a), run_lime(q, tsv[1], m, a)
                full.update(wall_1_s=one["wall_s"], explain_1_s=one["explain_s"],
                            slope_s=(full["wall_s"] - one["wall_s"]) / max(1, a.lime_sentences - 1))
                lime[q].append(full)
            except (RuntimeError, OSError, ValueError, KeyError) as err:
                failed[("lime", q)] = str(err)
                print(f"  LIME {q}: skipped, {short(err)}", flush=True)
        done = [f"{q} {lime[q][-1]['wall_s']:.2f} s wall" for q in precs if len(lime[q]) == rnd + 1]
        if done:
            print(f"  LIME round {rnd + 1}/{a.rounds}: " + ", ".join(done), flush=True)
    return lime


def report(jobs: list, results: dict, lime: dict, a) -> list:
    """Prints the Markdown table; returns its rows."""
    print("| workload | engine / precision | median | peak RSS MB | ratio (median of per-round ratios [rounds]) |")
    print("|---|---|---|---|---|")
    table = []
    for key, name, b, t, runs, decode, engines in jobs:
        metric, unit = ("decode_tokens_per_s", "tok/s") if decode else ("forward_ms", "ms")
        for e in engines:
            value, rss = med(results[key][e], metric), med(results[key][e], "peak_rss_mb")
            if value is None:
                continue
            text, meds = ratio_text(results[key], e, refs(e, bool(decode)), metric)
            table.append({"workload": key, "engine": e, metric: value, "peak_rss_mb": rss, "ratios": meds})
            print(f"| {key} | {label(e, results[key][e])} | {value:.{1 if decode else 2}f} {unit} | "
                  f"{f'{rss:.0f}' if rss else '–'} | {text} |")
    keys = ("wall_s", "explain_s", "slope_s")
    for q, rows in lime.items():
        if not rows:
            continue
        w, x, s = (med(rows, k) for k in keys)
        meds = {k: statistics.median(r[k] / f[k] for r, f in zip(rows, lime["fp32"])) for k in keys} \
            if q != "fp32" and lime.get("fp32") else {}
        table.append({"workload": "lime", "engine": f"loupe-{q}", "wall_s": w, "explain_s": x, "slope_s": s,
                      "ratios_to_fp32": meds})
        ratio = (f"{meds['wall_s']:.2f}× Loupe fp32 wall, {meds['explain_s']:.2f}× explaining, "
                 f"{meds['slope_s']:.2f}× slope") if meds else "–"
        print(f"| LIME {a.lime_samples} samples, {a.lime_sentences} SST-2 dev sentences, BERT-base | Loupe {q} | "
              f"{w:.2f} s wall ({x:.2f} s explaining, {s:.2f} s/sentence slope) | – | {ratio} |")
    print("\nms rows: time ÷ reference time (< 1: faster than the reference); tok/s rows: tokens/s ÷ reference "
          "tokens/s (> 1: faster).\nLIME: wall of one process over the sentences; explaining: the sum of its "
          "per-sentence seconds (no load); slope: (wall N − wall of the first sentence alone) ÷ (N − 1).")
    return table


# =============================================================================================

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loupe", default=str(bm.REPO / ".build" / "release" / "loupe"))
    p.add_argument("--workdir", default="/tmp/loupe-bench-models")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--decode", type=int, default=32, help="gpt2 tokens decoded after the 128-token prompt")
    p.add_argument("--only", help="comma-separated: bert-tiny, bert-base, gpt2, lime (default: all)")
    p.add_argument("--no-loupe", action="store_true", help="skip every Loupe run (ORT and PyTorch only)")
    p.add_argument("--no-all-rows", action="store_true", help="skip the Loupe --all-rows BERT variants")
    p.add_argument("--precisions", default="fp32,bf16,int8", help="Loupe precisions for forwards and decode")
    p.add_argument("--lime-precisions", default="fp32,int8")
    p.add_argument("--lime-sentences", type=int, default=8, help="first N SST-2 dev sentences")
    p.add_argument("--lime-samples", type=int, default=256)
    p.add_argument("--json", help="also write every measurement here")
    # worker mode
    p.add_argument("--worker", choices=["torch", "ort"], help=argparse.SUPPRESS)
    for name in ("--quant", "--kind", "--hf-dir", "--onnx"):
        p.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--batch", "--seq"):
        p.add_argument(name, type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker_torch(a) if a.worker == "torch" else bm.worker_ort(a)))
        return 0

    only = set(a.only.split(",")) if a.only else {"bert-tiny", "bert-base", "gpt2", "lime"}
    precs = [] if a.no_loupe else a.precisions.split(",")
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    need = {n for n in bm.MODELS if n in only} | ({"bert-base"} if "lime" in only else set())
    models = {n: bm.build(workdir, n) for n in bm.MODELS if n in need}
    checks = {}
    for n in sorted({w[0] for w in FORWARDS} & set(models) & only):
        if not bm.export_onnx(models[n]):
            raise SystemExit(f"no ONNX export of {n}")
        q = checks[f"ort-int8 {n}"] = ort_int8(models[n])
        print(f"ORT int8 {n}: {q['preprocess']} + quantize_dynamic QInt8; ops {q['ops']}; max |logits diff| vs fp32 "
              f"{q['check']['int8_max_abs_diff']:.3g} (|logits| ≤ {q['check']['logits_absmax']:.3g})"
              + "".join(f"\n  failed: {f[:160]}" for f in q["failed"]), flush=True)

    jobs = []  # (key, model, batch, seq, runs, decode, engines)
    for name, b, t, factor in FORWARDS:
        if name in only:
            loupe = [f"loupe-{q}" for q in precs] + ([] if a.no_all_rows else [f"loupe-{q}-all-rows" for q in precs])
            jobs.append((f"{name} {b}x{t}", name, b, t, a.runs * factor, 0,
                         ["ort-fp32", "ort-int8", "torch-fp32", "torch-int8"] + loupe))
    if "gpt2" in only:
        jobs.append((f"gpt2 decode {a.decode} tok", "gpt2", 1, 128, a.runs, a.decode,
                     ["torch-fp32", "torch-int8"] + [f"loupe-{q}" for q in precs]))
    load0, started = os.getloadavg(), datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    failed = {}
    results = measure(jobs, models, a, failed)
    lime = measure_lime(models["bert-base"], workdir, a, failed) if "lime" in only and not a.no_loupe else {}
    load1 = os.getloadavg()

    mach, vers = machine(), versions(a)
    dnn = next((r["loupe_json"] for res in results.values() for rows in res.values() for r in rows
                if r and r.get("loupe_json", {}).get("onednnVersion")), None)
    if dnn:
        vers["onednn"] = f"{dnn['onednnVersion']} ({dnn.get('onednnISA')})"
    print(f"\n{started}; {mach.get('lscpu_model_name', mach['cpu'])}, {mach['cores']} cores; flags: "
          + ", ".join(f for f, on in mach["flags"].items() if on) + f"; load average {load0[0]:.2f} before, "
          f"{load1[0]:.2f} after\n" + ", ".join(f"{k} {v}" for k, v in vers.items())
          + f"; {a.threads} threads; {a.rounds} alternating rounds, medians of {a.runs} runs (BERT-tiny "
          f"{a.runs * FORWARDS[0][3]})\n")
    table = report(jobs, results, lime, a)
    for key, res in results.items():
        first = next((r for r in res.get("torch-int8", []) if r), None)
        if first:
            checks.setdefault(f"torch-int8 {key.split()[0]}", {k: v for k, v in first.items() if k not in
                                                               ("forward_ms", "decode_tokens_per_s", "peak_rss_mb", "load_before")})
    for k, v in checks.items():
        print(f"check {k}: {json.dumps(v)}")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "started": started, "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load": [load0, load1], "machine": mach, "versions": vers,
            "settings": {k: v for k, v in vars(a).items() if v is not None}, "checks": checks,
            "failed": {" ".join(k): v for k, v in failed.items()}, "table": table, "raw": results, "lime": lime},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
