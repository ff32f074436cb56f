#!/usr/bin/env python3
"""Scale-out benchmark: `loupe` as a batch worker (file, pipe, 2 shards, Spark local[2]) and a Python/PyTorch
mapPartitions baseline under the same Spark. Loopback/local only. Prints one JSON summary on stdout.

    /tmp/venv-bench/bin/python Benchmarks/bench_scaleout.py \
        [--loupe /work/main/.build/release/loupe] [--model Tests/Fixtures/bert_tiny_cls.h5] \
        [--data ../shared/data/sst2/train.tsv] [--limit N] [--gi-limit 10000] [--repeats 1] \
        [--hf-dir /tmp/sb-hf] [--py-limit 2000] [--skip-spark] [--skip-python] [--ig-limit 200] [--ig-steps 32]

Needs a venv with pyspark (Java 17+) for the Spark runs, and torch + transformers + captum for the baseline
(`--hf-dir`: the fixture exported with `weights-scripts/export_hf.py MODEL DIR`).

Cases, for `predict` and `explain --method grad-input`:
  a_file_tsv    one process, LOUPE_THREADS=2, `--input train.tsv`
  a_file_jsonl  one process, LOUPE_THREADS=2, `--input train.jsonl` (the same records as JSON Lines)
  b_pipe        one process, LOUPE_THREADS=2, `cat train.jsonl | loupe ... --input -` (pipe overhead vs a_file_jsonl)
  c_shards      2 processes, LOUPE_THREADS=1 each, `--shard 0/2` and `--shard 1/2` over the file, concurrently
  d_spark       scale-out/spark_explain.py --master local[2] --partitions 2 (whole wall time; and minus the wall
                time of the same job over 2 records, an estimate of Spark's start-up and fixed cost)
Peak memory of each loupe process is its max RSS (`/usr/bin/time -f %M`, i.e. VmHWM).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def read_records(path, limit):
    recs = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        si = header.index("sentence")
        li = header.index("label") if "label" in header else None
        for row, line in enumerate(f):
            if limit is not None and row >= limit:
                break
            fields = line.rstrip("\n").split("\t")
            rec = {"id": str(row), "text": fields[si]}
            if li is not None and len(fields) > li and fields[li].strip():
                rec["label"] = int(fields[li])
            recs.append(rec)
    return header, recs


def write_inputs(tmp, data, limit):
    header, recs = read_records(data, limit)
    tsv = os.path.join(tmp, f"in_{len(recs)}.tsv")
    jsonl = os.path.join(tmp, f"in_{len(recs)}.jsonl")
    with open(data, encoding="utf-8") as src, open(tsv, "w", encoding="utf-8") as out:
        out.write(src.readline())
        for i, line in enumerate(src):
            if i >= len(recs):
                break
            out.write(line)
    with open(jsonl, "w", encoding="utf-8") as out:
        for r in recs:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(recs), tsv, jsonl


def worker_args(args, command):
    cmd = [args.loupe, command, "--model", args.model]
    if command == "explain":
        cmd += ["--method", "grad-input"]
    return cmd


def env_threads(n):
    env = dict(os.environ)
    env["LOUPE_THREADS"] = str(n)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def timed(cmd_shell, env):
    """Run a shell command whose loupe is wrapped in /usr/bin/time -f 'MAXRSS %M' -o FILE; returns (wall, lines, rss)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd_shell, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{cmd_shell}: exit {p.returncode}: {p.stderr.decode()[-500:]}")
    return wall, p.stdout.count(b"\n")


def maxrss_kb(path):
    with open(path) as f:
        return int(f.read().strip().split()[-1])


def q(args_list):
    import shlex
    return shlex.join(args_list)


def run_single(args, tmp, command, inp, pipe):
    rssf = os.path.join(tmp, "rss")
    base = ["/usr/bin/time", "-f", "%M", "-o", rssf] + worker_args(args, command) + ["--format", "jsonl"]
    if pipe:
        sh = f"cat {q([inp])} | {q(base + ['--input', '-'])}"
    else:
        sh = q(base + ["--input", inp])
    wall, lines = timed(sh, env_threads(2))
    return {"wall_s": wall, "lines": lines, "max_rss_mb": [maxrss_kb(rssf) / 1024]}


def run_shards(args, tmp, command, inp):
    procs, files = [], []
    t0 = time.perf_counter()
    for i in range(2):
        rssf = os.path.join(tmp, f"rss{i}")
        files.append(rssf)
        cmd = (["/usr/bin/time", "-f", "%M", "-o", rssf] + worker_args(args, command)
               + ["--format", "jsonl", "--input", inp, "--shard", f"{i}/2"])
        procs.append(subprocess.Popen(cmd, env=env_threads(1), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    lines = 0
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    for p, o in zip(procs, outs):
        if p.returncode not in (0, 1):
            raise RuntimeError(f"shard worker exit {p.returncode}")
        lines += o.count(b"\n")
    return {"wall_s": wall, "lines": lines, "max_rss_mb": [maxrss_kb(f) / 1024 for f in files]}


def run_spark(args, tmp, command, inp):
    out = os.path.join(tmp, "spark_out")
    cmd = [args.spark_python, os.path.join(ROOT, "scale-out", "spark_explain.py"), "--master", "local[2]",
           "--partitions", "2", "--threads", "1", "--loupe", args.loupe, "--model", args.model,
           "--command", command, "--input", inp, "--output", out, "--overwrite"]
    if command == "explain":
        cmd += ["--method", "grad-input"]
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=args.spark_python)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    summary = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    if p.returncode not in (0, 1) or summary is None:
        raise RuntimeError(f"spark_explain exit {p.returncode}: {p.stderr[-800:]}")
    return {"wall_s": wall, "lines": summary["ok"] + summary["errors"], "missing": summary["missing"]}


# ---------------------------------------------------------------- Python baseline (mapPartitions under Spark)

def py_partition(hf_dir, command, batch_size):
    def fn(it):
        import resource
        import time as _t
        import torch
        from transformers import AutoTokenizer, BertForSequenceClassification
        torch.set_num_threads(1)
        t0 = _t.perf_counter()
        tok = AutoTokenizer.from_pretrained(hf_dir)
        model = BertForSequenceClassification.from_pretrained(hf_dir).eval()
        ixg = None
        if command == "explain":
            from captum.attr import InputXGradient

            def fwd(embeds, mask):
                return torch.softmax(model(inputs_embeds=embeds, attention_mask=mask).logits, -1)
            ixg = InputXGradient(fwd)
        recs = list(it)
        t1 = _t.perf_counter()
        out = []
        for s in range(0, len(recs), batch_size):
            chunk = recs[s:s + batch_size]
            enc = tok([r["text"] for r in chunk], padding=True, truncation=True, max_length=128,
                      return_tensors="pt")
            if command == "predict":
                with torch.inference_mode():
                    probs = torch.softmax(model(**enc).logits, -1)
                for r, pr in zip(chunk, probs.tolist()):
                    out.append(json.dumps({"id": r["id"], "probabilities": pr}))
            else:
                with torch.no_grad():
                    target = torch.softmax(model(**enc).logits, -1).argmax(-1)
                embeds = model.bert.embeddings.word_embeddings(enc["input_ids"]).detach()
                attr = ixg.attribute(embeds, target=target, additional_forward_args=(enc["attention_mask"],))
                scores = attr.sum(-1).detach()
                for k, r in enumerate(chunk):
                    n = int(enc["attention_mask"][k].sum())
                    out.append(json.dumps({"id": r["id"], "scores": scores[k, :n].tolist()}))
        t2 = _t.perf_counter()
        with open("/proc/self/status") as f:
            hwm = [l for l in f if l.startswith("VmHWM")][0].split()[1]
        yield {"records": len(out), "setup_s": t1 - t0, "compute_s": t2 - t1, "vmhwm_mb": int(hwm) / 1024,
               "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "pid": os.getpid()}
    return fn


def run_python_baseline(args, tmp, jsonl, n):
    """Runs in a child process so that its SparkContext is separate; returns the measurements."""
    res = {}
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark import SparkConf, SparkContext
    t0 = time.perf_counter()
    conf = (SparkConf().setMaster("local[2]").setAppName("py-baseline").set("spark.ui.enabled", "false")
            .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
            .set("spark.ui.showConsoleProgress", "false").set("spark.python.worker.reuse", "false"))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("WARN")
    t_up = time.perf_counter() - t0
    try:
        for command in args.py_commands:
            rdd = sc.textFile(jsonl).map(json.loads).repartition(2)
            t1 = time.perf_counter()
            stats = rdd.mapPartitions(py_partition(args.hf_dir, command, args.py_batch)).collect()
            wall = time.perf_counter() - t1
            recs = sum(s["records"] for s in stats)
            res[command] = {"records": recs, "job_wall_s": wall, "examples_per_s_job": recs / wall,
                            "examples_per_s_compute": recs / max(s["compute_s"] for s in stats),
                            "workers": stats}
    finally:
        sc.stop()
    res["spark_startup_s"] = t_up
    return res


def ig_rate(args, tmp):
    n, tsv, jsonl = write_inputs(tmp, args.data, args.ig_limit)
    rssf = os.path.join(tmp, "rss_ig")
    cmd = (["/usr/bin/time", "-f", "%M", "-o", rssf, args.loupe, "explain", "--model", args.model, "--method",
            "ig", "--steps", str(args.ig_steps), "--input", jsonl, "--format", "jsonl"])
    wall, lines = timed(q(cmd), env_threads(1))
    return {"records": lines, "steps": args.ig_steps, "threads": 1, "wall_s": wall, "examples_per_s": lines / wall,
            "max_rss_mb": maxrss_kb(rssf) / 1024}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loupe", default=os.path.join(ROOT, ".build", "release", "loupe"))
    ap.add_argument("--model", default=os.path.join(ROOT, "Tests", "Fixtures", "bert_tiny_cls.h5"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2", "train.tsv"))
    ap.add_argument("--limit", type=int, default=None, help="predict: first N sentences (default all)")
    ap.add_argument("--gi-limit", type=int, default=10000, help="grad-input: first N sentences")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each loupe case, alternated")
    ap.add_argument("--commands", default="predict,explain")
    ap.add_argument("--spark-python", default=sys.executable, help="a python with pyspark")
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--hf-dir", default="/tmp/sb-hf", help="the fixture exported with weights-scripts/export_hf.py")
    ap.add_argument("--py-limit", type=int, default=2000)
    ap.add_argument("--py-batch", type=int, default=32)
    ap.add_argument("--py-commands", default="predict,explain")
    ap.add_argument("--ig-limit", type=int, default=0, help="also time `explain --method ig` single-threaded")
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--python-baseline-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.loupe, args.model, args.data = map(os.path.abspath, (args.loupe, args.model, args.data))
    args.py_commands = args.py_commands.split(",")

    tmp = tempfile.mkdtemp(prefix="bench_scaleout_")
    try:
        if args.python_baseline_child:
            n, _, jsonl = write_inputs(tmp, args.data, args.py_limit)
            print(json.dumps(run_python_baseline(args, tmp, jsonl, n)))
            return 0
        summary = {"machine": {"nproc": os.cpu_count(), "loadavg_start": loadavg()}, "loupe": args.loupe,
                   "model": args.model, "results": {}}
        for command in args.commands.split(","):
            limit = args.limit if command == "predict" else args.gi_limit
            n, tsv, jsonl = write_inputs(tmp, args.data, limit)
            runs = {}
            cases = [("a_file_tsv", lambda: run_single(args, tmp, command, tsv, False)),
                     ("a_file_jsonl", lambda: run_single(args, tmp, command, jsonl, False)),
                     ("b_pipe", lambda: run_single(args, tmp, command, jsonl, True)),
                     ("c_shards", lambda: run_shards(args, tmp, command, jsonl))]
            for rep in range(args.repeats):
                for name, fn in (cases if rep % 2 == 0 else cases[::-1]):
                    r = fn()
                    r["loadavg"] = loadavg()
                    runs.setdefault(name, []).append(r)
            if not args.skip_spark:
                tiny_n, _, tiny = write_inputs(tmp, args.data, 2)
                fixed = run_spark(args, tmp, command, tiny)
                full = run_spark(args, tmp, command, tsv)
                full["fixed_cost_s"] = fixed["wall_s"]
                full["loadavg"] = loadavg()
                runs["d_spark"] = [full]
            res = {"records": n}
            for name, rs in runs.items():
                best = min(rs, key=lambda r: r["wall_s"])
                entry = {"walls_s": [round(r["wall_s"], 3) for r in rs], "lines": best["lines"],
                         "examples_per_s": n / best["wall_s"],
                         "loadavg_after": [r["loadavg"] for r in rs]}
                if "max_rss_mb" in best:
                    entry["max_rss_mb"] = max(max(r["max_rss_mb"]) for r in rs)
                if "fixed_cost_s" in best:
                    entry["fixed_cost_s"] = best["fixed_cost_s"]
                    entry["examples_per_s_minus_fixed"] = n / (best["wall_s"] - best["fixed_cost_s"])
                res[name] = entry
            if "a_file_jsonl" in res and "b_pipe" in res:
                res["pipe_overhead_pct"] = 100 * (res["a_file_jsonl"]["examples_per_s"]
                                                  / res["b_pipe"]["examples_per_s"] - 1)
            summary["results"][command] = res
        if not args.skip_python:
            child = [sys.executable, os.path.abspath(__file__), "--python-baseline-child", "--data", args.data,
                     "--hf-dir", args.hf_dir, "--py-limit", str(args.py_limit), "--py-batch", str(args.py_batch),
                     "--py-commands", ",".join(args.py_commands)]
            p = subprocess.run(child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                raise RuntimeError("python baseline: " + p.stderr[-1500:])
            summary["python_baseline"] = json.loads(p.stdout.strip().splitlines()[-1])
            summary["python_baseline"]["loadavg_after"] = loadavg()
        if args.ig_limit:
            summary["ig_single_thread"] = ig_rate(args, tmp)
        summary["machine"]["loadavg_end"] = loadavg()
        print(json.dumps(summary, indent=1))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
