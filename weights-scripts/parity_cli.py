"""The torch-free side of the parity checks against transformers: shared data, run loupe, read its JSON, compare.

Shared by full_size_parity.py (references computed in the same run, needs torch) and full_size_golden.py (committed
references, numpy only, run by CI). Needs numpy and the standard library only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("LOUPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def sst2_sentences(n: int) -> list:
    """The first n sentences of the shared SST-2 dev set."""
    with open(SHARED / "sst2" / "dev.tsv", encoding="utf-8") as f:
        rows = f.read().split("\n")
    assert rows[0] == "sentence\tlabel", rows[0]
    return [r.rsplit("\t", 1)[0] for r in rows[1:] if r][:n]


class StepFailed(Exception):
    """A step that could not run (as opposed to a value mismatch)."""




def parse_json_objects(stdout: str) -> list:
    """One JSON object, a JSON array of objects, or JSON Lines (one object per non-empty line)."""
    text = stdout.strip()
    if not text:
        raise ValueError("no output")
    try:
        v = json.loads(text)
        objs = v if isinstance(v, list) else [v]
    except json.JSONDecodeError:
        objs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not objs or not all(isinstance(o, dict) for o in objs):
        raise ValueError("output is not JSON objects")
    return objs


def run_cli(step: str, cmd: list, timeout: float) -> dict:
    """Runs one CLI command that must print exactly one JSON object. Raises StepFailed naming the step."""
    shown = " ".join(repr(c) if (" " in c or not c) else c for c in cmd)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise StepFailed(f"{step}: cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{step}: timed out after {timeout:g} s: {shown}")
    if r.returncode != 0:
        tail = " | ".join(r.stderr.strip().splitlines()[-5:])
        raise StepFailed(f"{step}: exit status {r.returncode}: {shown}\n    stderr: {tail}")
    try:
        objs = parse_json_objects(r.stdout)
    except ValueError as e:
        raise StepFailed(f"{step}: output is not JSON ({e}): {shown}\n    stdout: {r.stdout[:300]!r}")
    if len(objs) != 1:
        raise StepFailed(f"{step}: expected one JSON object for one text, got {len(objs)}: {shown}")
    return objs[0]


def numeric_list(step: str, obj: dict, key: str, n: int | None) -> list:
    v = obj.get(key)
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise StepFailed(f"{step}: no numeric list {key!r} in the JSON output (keys: {sorted(obj)})")
    if n is not None and len(v) != n:
        raise StepFailed(f"{step}: {key!r} has {len(v)} values, expected {n}")
    return v


def compare_with_cli(refs: dict, loupe: Path, atol: float, timeout: float) -> int:
    """0 if every CLI output matches the references; 1 (after printing the failed step / mismatches) if not."""
    print(f"[loupe CLI: {loupe}]", flush=True)
    mismatches, checked = [], 0
    try:
        if not loupe.is_file() or not os.access(loupe, os.X_OK):
            raise StepFailed(f"loupe binary: not found or not executable at {loupe} "
                             "(build it with `swift build -c release` or pass --loupe PATH)")
        for kind in ("bert", "gpt2"):
            model = refs[kind]["model"]
            for i, item in enumerate(refs[kind]["predict"]):
                step = f"predict {kind} #{i} ({item['text'][:40]!r})"
                obj = run_cli(step, [str(loupe), "predict", "--model", model, "--text", item["text"], "--format",
                                     "json", "--logits"], timeout)
                # A committed golden keeps GPT-2's next-token logits at some indices only (`logit_indices`).
                full = np.asarray(numeric_list(step, obj, "logits", item.get("vocab_size", len(item["logits"]))),
                                  dtype=np.float64)
                got = full[item["logit_indices"]] if "logit_indices" in item else full
                want = np.asarray(item["logits"], dtype=np.float64)
                diff = float(np.abs(got - want).max())
                checked += 1
                ok = diff <= atol
                extra = ""
                if kind == "gpt2":
                    extra = f", argmax {int(full.argmax())} vs {item['argmax']}"
                print(f"  {'ok  ' if ok else 'FAIL'} {step}: max|logit diff| {diff:.3g} (atol {atol:g}){extra}",
                      flush=True)
                if not ok:
                    k = int(np.abs(got - want).argmax())
                    j = item["logit_indices"][k] if "logit_indices" in item else k
                    mismatches.append(f"{step}: max|diff| {diff:.3g} > {atol:g} at index {j} "
                                      f"(loupe {got[k]:.7g}, HF {want[k]:.7g})")
        g = refs["gpt2"]
        for i, item in enumerate(g["generate"]):
            step = f"generate gpt2 #{i} ({item['prompt'][:40]!r})"
            obj = run_cli(step, [str(loupe), "generate", "--model", g["model"], "--prompt", item["prompt"],
                                 "--max-tokens", str(g["max_new_tokens"]), "--format", "json"], timeout)
            got = [int(x) for x in numeric_list(step, obj, "ids", None)]
            want = item["ids"]
            checked += 1
            if got == want:
                note = "" if obj.get("text") == item["text"] else \
                    f" (ids equal; text differs: {obj.get('text')!r} vs HF {item['text']!r})"
                print(f"  ok   {step}: {len(got)} ids equal{note}", flush=True)
                continue
            n_prompt = len(item["prompt_ids"])
            if got[:n_prompt] != item["prompt_ids"]:
                why = f"prompt ids differ (tokenizer): loupe {got[:n_prompt]} vs HF {item['prompt_ids']}"
            else:
                k = next((t for t in range(min(len(got), len(want))) if got[t] != want[t]), min(len(got), len(want)))
                step_i = k - n_prompt
                margin = item["step_margins"][step_i] if 0 <= step_i < len(item["step_margins"]) else None
                why = (f"first difference at position {k} (generated token {step_i}): loupe "
                       f"{got[k] if k < len(got) else 'end'} vs HF {want[k] if k < len(want) else 'end'}"
                       + (f"; HF top1-top2 margin there {margin:.3g}" if margin is not None else "")
                       + f"; lengths {len(got)} vs {len(want)}")
            print(f"  FAIL {step}: {why}", flush=True)
            mismatches.append(f"{step}: {why}")
    except StepFailed as e:
        print(f"{Path(sys.argv[0]).name}: step failed: {e}", file=sys.stderr, flush=True)
        return 1
    if mismatches:
        print(f"{Path(sys.argv[0]).name}: {len(mismatches)} of {checked} checks differ from transformers:",
              file=sys.stderr)
        for m in mismatches:
            print(f"  {m}", file=sys.stderr)
        return 1
    print(f"all {checked} checks match transformers", flush=True)
    return 0


