#!/usr/bin/env python3
"""Model benchmark: Loupe (`loupe bench model`) vs PyTorch and ONNX Runtime on the same random-weight configs.

    python Benchmarks/bench_models.py [--loupe .build/release/loupe] [--workdir DIR] [--threads 2] [--rounds 3]
                                      [--runs 10] [--only bert-tiny,bert-base,gpt2] [--no-ort] [--json OUT]
                                      [--loupe-before OLD_BINARY]

Builds random-weight models once (torch.manual_seed(0), transformers' init; saved as Hugging Face directories and
converted with weights-scripts/convert.py) in --workdir (default /tmp/loupe-bench-models, ~1.1 GB, kept between
runs; never commit it):
  bert-tiny  BertForSequenceClassification, 2 layers, H 128, 2 heads, I 512 (google/bert_uncased_L-2_H-128_A-2)
  bert-base  BertForSequenceClassification, the bert-base-uncased config
  gpt2       GPT2LMHeadModel, the gpt2 (small) config
Workloads: forwards (random ids, no padding, logits) of bert-tiny 1x128, bert-base 1x128 and 8x128, gpt2 1x128
(logits at every position), and greedy decoding of --decode tokens after a 128-token gpt2 prompt with the KV cache.
Every engine runs each workload in a fresh process (warm-up, then --runs timed forwards, median; its peak RSS);
the engines alternate for --rounds rounds, and the table shows medians over rounds with Loupe/PyTorch ratios, so
each ratio comes from one run on a shared, noisy machine. PyTorch runs eval() under inference_mode with
torch.set_num_threads(--threads); ONNX Runtime (when `import onnxruntime` works; `pip install onnxruntime onnx`)
runs the torch.onnx export with all graph optimisations and intra_op_num_threads=--threads (no decode: the export
has no KV-cache inputs). Loupe runs with LOUPE_THREADS=--threads, BERT classifiers twice: as `loupe predict` runs
them (the default: the last layer computes only the [CLS] row past its keys and values, since the pooler reads only
that row; same logits) and with --all-rows (every row of every layer, as transformers computes them). --loupe-before adds a column for another loupe
binary (an older commit with `bench model`), measured in the same alternating rounds. Needs torch and transformers; see
README.md ("Benchmarks", "Models") for measured tables.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
SEED = 0

MODELS = {
    "bert-tiny": dict(kind="bert", config=dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                                               intermediate_size=512)),
    "bert-base": dict(kind="bert", config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                               intermediate_size=3072)),
    "gpt2": dict(kind="gpt2", config=dict(n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                                          activation_function="gelu_new")),
}
# (model, batch, seq, runs factor); gpt2 rows also decode. A 1 ms BERT-tiny forward is timed 30x --runs times: the
# median of 10 such forwards moves by 2x between rounds on a shared machine, 300 keep it steady.
WORKLOADS = [("bert-tiny", 1, 128, 30), ("bert-base", 1, 128, 1), ("bert-base", 8, 128, 1), ("gpt2", 1, 128, 1)]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# =============================================================================================
# Building the models (parent process)

def build(workdir: Path, name: str) -> dict:
    """HF directory + Loupe .h5 (+ ONNX export on demand) for one model; reused when present."""
    import torch
    sys.path.insert(0, str(REPO / "weights-scripts"))
    import convert
    spec = MODELS[name]
    hf_dir, h5 = workdir / name, workdir / f"{name}.h5"
    if not (hf_dir / "config.json").is_file() or not h5.is_file():
        torch.manual_seed(SEED)
        if spec["kind"] == "bert":
            from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
            vocab = (SHARED / "vocab" / "bert-base-uncased-vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
            config = BertConfig(vocab_size=len(vocab), num_labels=2, architectures=["BertForSequenceClassification"],
                                **spec["config"])
            model = BertForSequenceClassification(config).eval()
            model.save_pretrained(str(hf_dir))
            BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(hf_dir))
        else:
            from transformers import GPT2Config, GPT2LMHeadModel
            vocab = json.loads((SHARED / "vocab" / "gpt2-encoder.json").read_text(encoding="utf-8"))
            eot = vocab["<|endoftext|>"]
            config = GPT2Config(vocab_size=len(vocab), bos_token_id=eot, eos_token_id=eot,
                                architectures=["GPT2LMHeadModel"], **spec["config"])
            model = GPT2LMHeadModel(config).eval()
            model.save_pretrained(str(hf_dir))
            (hf_dir / "vocab.json").write_bytes((SHARED / "vocab" / "gpt2-encoder.json").read_bytes())
            (hf_dir / "merges.txt").write_bytes((SHARED / "vocab" / "gpt2-vocab.bpe").read_bytes())
        convert.convert(hf_dir, h5, verbose=False)
        print(f"built {name}: {hf_dir} and {h5}", flush=True)
    return {"name": name, "kind": spec["kind"], "hf_dir": str(hf_dir), "h5": str(h5),
            "onnx": str(workdir / f"{name}.onnx")}


def export_onnx(m: dict) -> bool:
    """torch.onnx.export of the forward (ids [+ mask, types] -> logits), dynamic batch and sequence axes."""
    if Path(m["onnx"]).is_file():
        return True
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    if m["kind"] == "bert":
        model = AutoModelForSequenceClassification.from_pretrained(m["hf_dir"], attn_implementation="eager").eval()
        names = ["input_ids", "attention_mask", "token_type_ids"]
    else:
        lm = AutoModelForCausalLM.from_pretrained(m["hf_dir"], attn_implementation="eager").eval()

        class Logits(torch.nn.Module):
            """ids, mask -> logits; explicit position ids keep transformers' packed-sequence check (aten::diff,
            which the exporter lacks) out of the graph."""
            def __init__(self):
                super().__init__()
                self.lm = lm

            def forward(self, ids, mask):
                pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
                return self.lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits
        model = Logits().eval()
        names = ["input_ids", "attention_mask"]
    ids = torch.randint(0, 30000, (1, 16))
    args = tuple([ids, torch.ones_like(ids), torch.zeros_like(ids)][:len(names)])
    try:
        torch.onnx.export(model, args, m["onnx"], input_names=names, output_names=["logits"], opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in names}, dynamo=False)
        return True
    except Exception as e:  # noqa: BLE001 - an export failure only drops the ORT column
        print(f"ONNX export of {m['name']} failed ({type(e).__name__}: {e}); no ORT column for it", flush=True)
        Path(m["onnx"]).unlink(missing_ok=True)
        return False


# =============================================================================================
# Workers (one process per engine and workload)

def worker_torch(a) -> dict:
    import torch
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    cls = AutoModelForSequenceClassification if a.kind == "bert" else AutoModelForCausalLM
    model = cls.from_pretrained(a.hf_dir).eval()
    return time_torch(model, a)


def time_torch(model, a) -> dict:
    """Median forward ms (and gpt2 decode tokens/s) of a loaded model; also used by bench_precision.py."""
    import torch
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), generator=g)
    out = {}
    with torch.inference_mode():
        def forward():
            if a.kind == "bert":
                return model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
            return model(input_ids=ids, use_cache=False)
        for _ in range(a.warmup):
            forward()
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            forward()
            times.append(time.perf_counter() - t0)
        out["forward_ms"] = statistics.median(times) * 1e3
        if a.kind == "gpt2" and a.decode > 0:
            def decode():
                r = model(input_ids=ids, use_cache=True)
                past, nxt = r.past_key_values, r.logits[:, -1].argmax(-1, keepdim=True)
                t0 = time.perf_counter()
                for _ in range(a.decode):
                    r = model(input_ids=nxt, past_key_values=past, use_cache=True)
                    past, nxt = r.past_key_values, r.logits[:, -1].argmax(-1, keepdim=True)
                return (time.perf_counter() - t0) / a.decode
            decode()
            step = statistics.median([decode() for _ in range(max(3, a.runs // 2))])
            out["decode_tokens_per_s"] = a.batch / step
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def worker_ort(a) -> dict:
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 30000, (a.batch, a.seq), dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    feed = {k: v for k, v in feed.items() if k in names}
    for _ in range(a.warmup):
        sess.run(None, feed)
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return {"forward_ms": statistics.median(times) * 1e3, "peak_rss_mb": peak_rss_mb()}


def run_json(cmd: list, env: dict | None = None) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    return json.loads(r.stdout)


def run_engine(engine: str, m: dict, batch: int, seq: int, runs: int, a) -> dict:
    if engine in ("loupe", "before", "all-rows"):
        env = dict(os.environ, LOUPE_THREADS=str(a.threads))
        decode = a.decode if m["kind"] == "gpt2" else 0
        r = run_json([a.loupe_before if engine == "before" else a.loupe, "bench", "model", "--model", m["h5"], "--batch", str(batch), "--seq", str(seq),
                      "--runs", str(runs), "--warmup", str(a.warmup), "--decode-tokens", str(decode),
                      "--format", "json"] + (["--all-rows"] if engine == "all-rows" else []), env)
        out = {"forward_ms": r["forwardMs"], "peak_rss_mb": r["peakRssMB"], "sgemm_ms": r["sgemmMs"],
               "ratio_to_sgemm": r["ratioToSgemm"]}
        if r.get("decode"):
            out["decode_tokens_per_s"] = r["decode"]["tokensPerSecond"]
            out["decode_blas_ms"] = r["decode"]["blasMsPerStep"]
        return out
    cmd = [sys.executable, __file__, "--worker", engine, "--kind", m["kind"], "--hf-dir", m["hf_dir"],
           "--onnx", m["onnx"], "--batch", str(batch), "--seq", str(seq), "--runs", str(runs),
           "--warmup", str(a.warmup), "--decode", str(a.decode), "--threads", str(a.threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    return run_json(cmd, env)


# =============================================================================================

def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return platform.processor()


def med(rows: list, key: str):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loupe", default=str(REPO / ".build" / "release" / "loupe"))
    p.add_argument("--workdir", default="/tmp/loupe-bench-models")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--decode", type=int, default=32, help="gpt2 tokens decoded after the prompt")
    p.add_argument("--only", help="comma-separated models (default: all)")
    p.add_argument("--no-ort", action="store_true", help="skip ONNX Runtime")
    p.add_argument("--json", help="also write every measurement here")
    p.add_argument("--loupe-before", help="another loupe binary to measure in the same rounds (before/after)")
    # worker mode
    p.add_argument("--worker", choices=["torch", "ort"], help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    p.add_argument("--hf-dir", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker_torch(a) if a.worker == "torch" else worker_ort(a)))
        return 0

    import torch
    import transformers
    try:
        import onnxruntime
        ort_version = None if a.no_ort else onnxruntime.__version__
    except ImportError:
        ort_version = None
    only = set(a.only.split(",")) if a.only else set(MODELS)
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    models = {n: build(workdir, n) for n in MODELS if n in only}
    ort_ok = {n: ort_version is not None and export_onnx(m) for n, m in models.items()}
    engines = ["loupe", "torch"] + (["before"] if a.loupe_before else [])
    load0 = os.getloadavg()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results = {}
    for (name, b, t, factor) in WORKLOADS:
        if name not in models:
            continue
        key = f"{name} {b}x{t}"
        results[key] = {e: [] for e in ["loupe", "all-rows", "torch", "before", "ort"]}
        for rnd in range(a.rounds):
            for e in engines + (["all-rows"] if models[name]["kind"] == "bert" else []) + (["ort"] if ort_ok[name] else []):
                results[key][e].append(run_engine(e, models[name], b, t, a.runs * factor, a))
            print(f"  {key} round {rnd + 1}/{a.rounds}: " + ", ".join(
                f"{e} {results[key][e][-1]['forward_ms']:.2f} ms" for e in results[key] if results[key][e]),
                flush=True)
    load1 = os.getloadavg()

    print(f"\nLoupe vs PyTorch {torch.__version__} (transformers {transformers.__version__})"
          + (f" vs ONNX Runtime {ort_version}" if ort_version else "")
          + f"; {a.threads} threads; medians of {a.runs} runs (BERT-tiny {a.runs * WORKLOADS[0][3]}), median over {a.rounds} alternating rounds")
    print(f"{started}; {cpu_name()}; load average {load0[0]:.2f} before, {load1[0]:.2f} after\n")
    head = (f"{'workload':18}{'Loupe ms':>10}{'PyTorch ms':>12}{'L/PT':>7}{'ORT ms':>9}{'L/ORT':>7}"
            f"{'sgemm ms':>10}{'GF/s÷sgemm':>11}{'RSS L MB':>10}{'RSS PT MB':>11}")
    print(head)
    print("-" * len(head))
    table = []
    for key, r in results.items():
        lo, pt, ox = med(r["loupe"], "forward_ms"), med(r["torch"], "forward_ms"), med(r["ort"], "forward_ms")
        row = {"workload": key, "loupe_ms": lo, "torch_ms": pt, "ort_ms": ox, "loupe_over_torch": lo / pt,
               "loupe_over_ort": lo / ox if ox else None, "sgemm_ms": med(r["loupe"], "sgemm_ms"),
               "ratio_to_sgemm": med(r["loupe"], "ratio_to_sgemm"), "rss_loupe_mb": med(r["loupe"], "peak_rss_mb"),
               "rss_torch_mb": med(r["torch"], "peak_rss_mb"), "before_ms": med(r["before"], "forward_ms"),
               "all_rows_ms": med(r["all-rows"], "forward_ms")}
        table.append(row)
        print(f"{key:18}{lo:10.2f}{pt:12.2f}{lo / pt:7.2f}" + (f"{ox:9.2f}{lo / ox:7.2f}" if ox else f"{'-':>9}{'-':>7}")
              + f"{row['sgemm_ms']:10.2f}{row['ratio_to_sgemm']:11.2f}{row['rss_loupe_mb']:10.0f}"
              + f"{row['rss_torch_mb']:11.0f}")
        if row["all_rows_ms"]:
            ar = row["all_rows_ms"]
            print(f"{'  every row':18}{ar:10.2f}{pt:12.2f}{ar / pt:7.2f}" + (f"{ox:9.2f}{ar / ox:7.2f}" if ox else "")
                  + f"  (--all-rows: every row of every layer)")
        if row["before_ms"]:
            print(f"{'  before (old binary)':18}{row['before_ms']:10.2f}{pt:12.2f}{row['before_ms'] / pt:7.2f}"
                  f"  ms; new/old time {lo / row['before_ms']:.2f}")
        if med(r["loupe"], "decode_tokens_per_s"):
            dl, dp = med(r["loupe"], "decode_tokens_per_s"), med(r["torch"], "decode_tokens_per_s")
            row.update(decode_loupe_tps=dl, decode_torch_tps=dp, decode_blas_ms=med(r["loupe"], "decode_blas_ms"))
            print(f"{'  decode ' + str(a.decode) + ' tok':18}{dl:10.1f}{dp:12.1f}{dl / dp:7.2f}  tokens/s "
                  f"(Loupe/PyTorch), raw sgemv of one step {row['decode_blas_ms']:.2f} ms = "
                  f"{1e3 / row['decode_blas_ms']:.1f} tokens/s")
            db = med(r["before"], "decode_tokens_per_s")
            if db:
                row["decode_before_tps"] = db
                print(f"{'  decode before':18}{db:10.1f}{dp:12.1f}{db / dp:7.2f}  tokens/s (old binary)")
    print("\nL/PT, L/ORT: Loupe time ÷ other time (< 1: Loupe faster); decode row: tokens/s ratio (> 1: Loupe "
          "faster).\nsgemm ms: the forward's dense GEMMs as raw cblas_sgemm calls in the same Loupe process; "
          "GF/s÷sgemm: forward GFLOP/s ÷ that raw GFLOP/s.")
    if a.json:
        Path(a.json).write_text(json.dumps({"started": started, "load": [load0, load1], "threads": a.threads,
                                            "table": table, "raw": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
