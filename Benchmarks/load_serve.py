"""Load check of `loupe serve`: 50 concurrent clients on POST /api/predict for 30 s, against a one-process Python
baseline (http.server + transformers, the same model and the same predict) started in the same run.

    /tmp/venv/bin/python Benchmarks/load_serve.py --loupe .build/release/loupe --model Tests/Fixtures/bert_tiny_cls.h5 \
        --data ../shared/data/sst2/dev.tsv [--clients 50 --seconds 30]

Each request predicts one SST-2 dev sentence given inline with a fresh id, so the server does model work every
time (no cache hit); `--cached` sends dataset ids instead. Reports requests/s, p50/p99 latency and errors for both
servers. The baseline needs torch and transformers (pip); the model is exported with weights-scripts/export_hf.py.
Only loopback is used; every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sentences(path: str) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [l.split("\t")[0] for l in lines[1:] if l]


def load(port: int, path: str, body_for, clients: int, seconds: float) -> dict:
    """`clients` threads, each with one keep-alive connection, POSTing until the time is up."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.monotonic() < stop:
            body = json.dumps(body_for(k, n)).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except Exception:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                if ok:
                    latencies.append(dt)
                else:
                    errors += 1
            n += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    return {"requests": len(latencies), "errors": errors, "requests_per_s": len(latencies) / wall,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def wait_ready(port: int, path: str, method: str = "GET", seconds: float = 60) -> None:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request(method, path, body=b"{}" if method == "POST" else None)
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not start")


def baseline_server(model_dir: str, port: int, threads: int) -> ThreadingHTTPServer:
    """transformers behind http.server, one process: the same /api/predict body and answer shape."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    gate = threading.Lock()  # one forward at a time, as Loupe's compute queue

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            examples = body.get("examples") or []
            out = []
            if examples:
                with gate, torch.inference_mode():
                    enc = tok([e["text"] for e in examples], padding=True, truncation=True, return_tensors="pt")
                    p = torch.softmax(model(**enc).logits, -1).tolist()
                for e, row in zip(examples, p):
                    out.append({"id": e.get("id", ""), "text": e["text"], "label": labels[max(range(len(row)), key=row.__getitem__)],
                                "probabilities": dict(zip(labels, row))})
            data = json.dumps({"predictions": out}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loupe", default=str(REPO / ".build/release/loupe"))
    ap.add_argument("--model", default=str(REPO / "Tests/Fixtures/bert_tiny_cls.h5"))
    ap.add_argument("--data", default=str(REPO / "../shared/data/sst2/dev.tsv"))
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cached", action="store_true", help="send dataset ids (cache hits after the first round)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--serve-baseline", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_baseline:
        baseline_server(args.serve_baseline, 5462, args.threads)
        time.sleep(3600)  # the parent terminates this process when the load is done
        return
    texts = sentences(args.data)
    rng = random.Random(0)

    def inline(k: int, n: int) -> dict:
        return {"model": "m", "examples": [{"id": f"c{k}-{n}", "text": rng.choice(texts)}]}

    def by_id(k: int, n: int) -> dict:
        return {"model": "m", "dataset": "d", "ids": [str(rng.randrange(len(texts)))]}

    results = {}
    env = dict(os.environ, LOUPE_THREADS=str(args.threads))
    server = subprocess.Popen([args.loupe, "serve", "--model", f"m={args.model}", "--data", f"d={args.data}",
                               "--port", "5461"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(5461, "/api/info")
        results["loupe"] = load(5461, "/api/predict", by_id if args.cached else inline, args.clients, args.seconds)
        rss = int(Path(f"/proc/{server.pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
        results["loupe"]["peak_rss_mb"] = rss
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not args.no_baseline:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, str(REPO / "weights-scripts/export_hf.py"), args.model, tmp], check=True,
                           stdout=subprocess.DEVNULL)
            # Its own process, so the 50 client threads here do not compete with it for a GIL.
            baseline = subprocess.Popen([sys.executable, __file__, "--serve-baseline", tmp, "--threads", str(args.threads)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(5462, "/api/predict", "POST", seconds=120)
                results["python"] = load(5462, "/api/predict", inline, args.clients, args.seconds)
                rss = int(Path(f"/proc/{baseline.pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
                results["python"]["peak_rss_mb"] = rss
            finally:
                baseline.terminate()
                baseline.wait(timeout=30)
        results["ratio_requests_per_s"] = results["loupe"]["requests_per_s"] / results["python"]["requests_per_s"]
    results["load_average"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
