#!/usr/bin/env bash
# CI test of scale-out/spark_explain.py: a loupe jsonl worker run by Spark (local[2], 2 partitions) gives the same
# explanations as one `loupe explain --input FILE --format jsonl` run, every id exactly once; bad records come back
# as error lines while the rest succeed; a crashing worker is detected.
#
#   LOUPE=.build/release/loupe scale-out/test_spark.sh
#
# Needs: the loupe binary ($LOUPE), python3 with venv, PyPI (pyspark) and Java 17+ (installed with apt-get as
# default-jre-headless when missing and we are root), the SST-2 dev set at ../shared/data/sst2/dev.tsv ($SST2_DEV).
set -euo pipefail
if [ -z "${LOUPE_SPARK_TEST_TIMED:-}" ]; then
  LOUPE_SPARK_TEST_TIMED=1 exec timeout 600 "$0" "$@"
fi
cd "$(dirname "$0")/.."
root=$(pwd)
LOUPE=$(realpath "${LOUPE:-.build/release/loupe}")
SST2_DEV=${SST2_DEV:-../shared/data/sst2/dev.tsv}
MODEL=$root/Tests/Fixtures/bert_tiny_cls.h5
VENV=${SPARK_VENV:-/tmp/venv-loupe-spark}
start=$(date +%s)
[ -x "$LOUPE" ] || { echo "test_spark: no loupe binary at $LOUPE (set LOUPE)" >&2; exit 2; }
[ -f "$SST2_DEV" ] || { echo "test_spark: no SST-2 dev set at $SST2_DEV (set SST2_DEV)" >&2; exit 2; }

if ! java -version >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
fi
if ! "$VENV/bin/python" -c "import pyspark" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pyspark
fi
PY=$VENV/bin/python
export PYSPARK_PYTHON=$PY SPARK_LOCAL_IP=127.0.0.1
echo "test_spark: $(java -version 2>&1 | head -1); pyspark $("$PY" -c 'import pyspark; print(pyspark.__version__)')"

work=$(mktemp -d /tmp/loupe-spark-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...: a test case passes when the command succeeds
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
job() {  # job OUT_NAME INPUT [more args]: the Spark job over 2 partitions; its exit status in $work/OUT_NAME.rc
  local out=$1 input=$2; shift 2
  local rc=0
  "$PY" scale-out/spark_explain.py --model "$MODEL" --command explain --method grad-input --input "$input" \
    --output "$work/$out" --partitions 2 --master 'local[2]' --loupe "${JOB_LOUPE:-$LOUPE}" "$@" \
    > "$work/$out.log" 2>&1 || rc=$?
  echo "$rc" > "$work/$out.rc"
  grep '^spark_explain:' "$work/$out.log" | head -8 || true
}

# The first 200 SST-2 dev sentences: a GLUE TSV for the job, and the same records as JSON Lines for the reference.
head -n 201 "$SST2_DEV" > "$work/dev200.tsv"
"$PY" - "$work/dev200.tsv" "$work/dev200.jsonl" <<'EOF'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")]
col = rows[0].index("sentence"); lab = rows[0].index("label")
with open(sys.argv[2], "w") as f:
    for i, r in enumerate(rows[1:]):
        f.write(json.dumps({"id": str(i), "text": r[col], "label": int(r[lab])}, ensure_ascii=True) + "\n")
EOF
ref_rc=0
# One thread, as each Spark worker (--threads 1): the thread count changes the order of float32 sums (results
# differ around 1e-7 between LOUPE_THREADS=1 and 2); so does, as much, the batch a record lands in (compare.py).
LOUPE_THREADS=1 "$LOUPE" explain --model "$MODEL" --method grad-input --input "$work/dev200.jsonl" --format jsonl \
  > "$work/reference.jsonl" 2> "$work/reference.err" || ref_rc=$?
check "reference: loupe explain --format jsonl over 200 records exits 0" test "$ref_rc" = 0
check "reference: 200 lines" test "$(wc -l < "$work/reference.jsonl")" = 200

# compare.py OUT_DIR REFERENCE [--errors ID,ID] [--ids N]: every id 0..N-1 exactly once in the part files; the
# error ids have error lines, every other line equals the reference's line for its id, the `seconds` timing aside.
# Numbers: grad-input explains the texts of a window (256 records) in shared, length-sorted, padded batches, and a
# partition changes which records share a batch, so values move by float32 rounding of another padding: a list of
# numbers (the scores) within 5e-5 of its largest |value| (over 10,000 SST-2 sentences batched against one by one,
# the worst was 1.64e-5, the median 1.35e-6), a single number within 1e-6 + 1e-5·|value|.
cat > "$work/compare.py" <<'EOF'
import glob, json, sys
out_dir, ref_path = sys.argv[1], sys.argv[2]
errors = set(sys.argv[sys.argv.index("--errors") + 1].split(",")) if "--errors" in sys.argv else set()
n = int(sys.argv[sys.argv.index("--ids") + 1])
TIMINGS = {"seconds"}  # wall-clock time of the computation: the one field that may differ
ref = {}
for line in open(ref_path):
    o = json.loads(line); ref[o["id"]] = o
got = {}
problems = []
for path in sorted(glob.glob(out_dir + "/part-*")):
    for line in open(path):
        o = json.loads(line)
        if o["id"] in got: problems.append(f"id {o['id']} twice")
        got[o["id"]] = o
want = {str(i) for i in range(n)}
if set(got) != want:
    problems.append(f"ids: missing {sorted(want - set(got))[:5]}, unexpected {sorted(set(got) - want)[:5]}")
def same(a, b, path):
    if isinstance(a, bool) or isinstance(b, bool): return a == b or problems.append(f"{path}: {a!r} != {b!r}")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-6 + 1e-5 * abs(b) or problems.append(f"{path}: {a!r} != {b!r}")
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b): return problems.append(f"{path}: keys {sorted(a)} != {sorted(b)}")
        return all([same(a[k], b[k], f"{path}.{k}") for k in a if k not in TIMINGS])
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b): return problems.append(f"{path}: length {len(a)} != {len(b)}")
        numbers = lambda v: all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if a and numbers(a) and numbers(b):
            bound = 5e-5 * max(abs(y) for y in b) + 1e-9
            bad = [i for i, (x, y) in enumerate(zip(a, b)) if abs(x - y) > bound]
            return not bad or problems.append(f"{path}[{bad[0]}]: {a[bad[0]]!r} != {b[bad[0]]!r} (bound {bound:.3g})")
        return all([same(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b))])
    return a == b or problems.append(f"{path}: {a!r} != {b!r}")
compared = 0
for i, o in got.items():
    if i in errors:
        if "error" not in o or not o["error"].get("code"): problems.append(f"id {i}: no error line: {o}")
    elif "error" in o:
        problems.append(f"id {i}: unexpected error {o['error']}")
    elif i in ref:
        same(o, ref[i], f"id {i}"); compared += 1
    else:
        problems.append(f"id {i}: not in the reference")
for p in problems[:10]: print("  " + p)
print(f"  {len(got)} ids, {compared} compared with the reference, {len(errors & set(got))} error lines")
sys.exit(1 if problems else 0)
EOF

# 1. The TSV through Spark (2 partitions) = the single run, per id.
job run1 "$work/dev200.tsv"
check "spark job over 200 SST-2 records exits 0" test "$(cat "$work/run1.rc")" = 0
check "summary: 200 ok, no errors/missing/duplicated" grep -q \
  '"records": 200, "ok": 200, "errors": 0, "missing": 0, "duplicated": 0' "$work/run1/_SUMMARY.json"
check "two workers, both exited 0" grep -q '"partitions": 2, "worker_exit_codes": \[0, 0\]' "$work/run1/_SUMMARY.json"
check "every id once, same scores as one loupe run" "$PY" "$work/compare.py" "$work/run1" "$work/reference.jsonl" --ids 200

# 2. Malformed records in the middle: line 20 is broken JSON (its id is its row, 20), line 21 has no text.
"$PY" - "$work/dev200.jsonl" "$work/bad.jsonl" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()[:40]
lines[20] = '{"id": "20", "text": "an unterminated string'
lines[21] = '{"id": "21", "label": 1}'
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
job run2 "$work/bad.jsonl"
check "spark job with 2 bad records exits 1 (complete, some records failed)" test "$(cat "$work/run2.rc")" = 1
check "summary: 38 ok, 2 errors, none missing" grep -q \
  '"records": 40, "ok": 38, "errors": 2, "missing": 0, "duplicated": 0' "$work/run2/_SUMMARY.json"
check "bad records give error lines, the rest the reference's lines" \
  "$PY" "$work/compare.py" "$work/run2" "$work/reference.jsonl" --ids 40 --errors 20,21

# 3. A worker that crashes after 5 records: the job notices (exit 2, missing records).
printf '#!/bin/sh\nhead -n 5 | "%s" "$@"\nkill -SEGV $$\n' "$LOUPE" > "$work/crashing-loupe"
chmod +x "$work/crashing-loupe"
JOB_LOUPE=$work/crashing-loupe job run3 "$work/bad.jsonl"
check "a crashing worker fails the job (exit 2)" test "$(cat "$work/run3.rc")" = 2
check "summary: 30 missing, exit codes 139" grep -q '"missing": 30, .*"worker_exit_codes": \[139, 139\]' \
  "$work/run3/_SUMMARY.json"

echo "test_spark: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
