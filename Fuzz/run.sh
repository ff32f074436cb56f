#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/Package.swift, with ASan and coverage instrumentation) and runs each for
# FUZZ_SECONDS (default 30) on its committed seeds; exits non-zero if any harness crashes, breaks an invariant,
# leaks, hangs (FUZZ_TIMEOUT seconds for one input, default 10) or goes over 2 GB.
#
#   Fuzz/run.sh                                   # all harnesses, 30 s each
#   FUZZ_SECONDS=1800 Fuzz/run.sh hdf5            # one harness, 30 min
#   FUZZ_SCRATCH=/tmp/loupe-fuzz Fuzz/run.sh      # build + working corpora elsewhere (default Fuzz/.build)
#   FUZZ_SKIP_BUILD=1 Fuzz/run.sh vocab           # reuse the last build (lets several runs share one scratch)
#
# New inputs go to $FUZZ_SCRATCH/corpus/<harness> (kept between runs, never into Fuzz/Corpus); a crash leaves its
# input in $FUZZ_SCRATCH/artifacts/<harness>/ and the log in $FUZZ_SCRATCH/logs/<harness>.log. Minimise one with
#   $FUZZ_SCRATCH/debug/fuzz-<harness> -minimize_crash=1 -runs=100000 -exact_artifact_path=min <crash file>
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-30}
scratch=${FUZZ_SCRATCH:-$PWD/.build}
all=(wordpiece gpt2-bpe safetensors hdf5 config-json tokenizer-files vocab examples server-requests)
if (($# > 0)); then harnesses=("$@"); else harnesses=("${all[@]}"); fi

echo "fuzz: building ${#harnesses[@]} harness(es) in $scratch"
start=$SECONDS
# `--sanitize fuzzer` makes SwiftPM link libFuzzer's main instead of the target's; but it passes -sanitize=fuzzer
# and -sanitize=address to swiftc as two flags, and the last one wins (no coverage), so the combined flag follows.
# ld.gold warns once per ASan symbol it cannot export (harmless): those lines and the progress lines are dropped.
build() {
  swift build --scratch-path "$scratch" --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address "$@" 2>&1 |
    { grep -v -e "Cannot export local symbol" -e "^\[[0-9]*/[0-9]*\] " || true; }
}
# One build for every harness asked for: server-requests alone needs swift-nio and Hummingbird (most of the build
# time), so Package.swift leaves it out when FUZZ_SERVER=0.
export FUZZ_SERVER=0
for h in "${harnesses[@]}"; do [[ "$h" != server-requests ]] || FUZZ_SERVER=1; done
if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
  build
  echo "fuzz: built in $((SECONDS - start)) s"
fi

# The first frame of a report's first stack that is neither the sanitizer/fuzzer runtime nor libc's mem* routines.
first_frame() {
  awk '/^    #[0-9]+ / { if ($0 ~ /compiler-rt|sanitizer|fuzzer::|libc\.so|sysdeps|__restore_rt/) next; print; exit }' "$1"
}

mkdir -p "$scratch/logs"
failed=()
summary=()
for h in "${harnesses[@]}"; do
  bin="$scratch/debug/fuzz-$h"
  [[ -x "$bin" ]] || { echo "fuzz: no harness $h (have: ${all[*]})" >&2; exit 2; }
  mkdir -p "$scratch/corpus/$h" "$scratch/artifacts/$h"
  log="$scratch/logs/$h.log"
  part="$scratch/logs/$h.part.log"
  : > "$log"
  dict=()
  [[ -f "Dictionaries/$h.dict" ]] && dict=(-dict="Dictionaries/$h.dict")
  deadline=$((SECONDS + seconds))
  execs=0 thirdparty=0 rc=0 cov="" ft="" corp=""
  # libFuzzer stops at the first crash. One inside libhdf5 (a known upstream class, Fuzz/README.md "Findings") is
  # kept under artifacts/<harness>/libhdf5/ and fuzzing resumes from the working corpus; any other fails the run.
  for _ in $(seq 1 100); do
    left=$((deadline - SECONDS))
    ((left > 0)) || break
    set +e
    # Swift's own backtracer would print at length and slowly; libFuzzer's deadly-signal handler reports instead.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:suppressions=$PWD/Suppressions/asan.txt}" \
      LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/Suppressions/lsan.txt}" \
      "$bin" -max_total_time="$left" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$scratch/artifacts/$h/" "$scratch/corpus/$h" "Corpus/$h" > "$part" 2>&1
    rc=$?
    set -e
    cat "$part" >> "$log"
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$part" | tail -1)
    execs=$((execs + ${n:-0}))
    last=$(grep -E '^#[0-9]+' "$part" | tail -1 || true)
    if [[ -n "$last" ]]; then
      cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
      ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
      corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$last")
    fi
    ((rc != 0)) || break
    artifact=$(sed -n "s/.*Test unit written to //p" "$part" | tail -1)
    if [[ -n "$artifact" && -f "$artifact" ]] && first_frame "$part" | grep -q libhdf5; then
      thirdparty=$((thirdparty + 1))
      mkdir -p "$scratch/artifacts/$h/libhdf5"
      mv "$artifact" "$scratch/artifacts/$h/libhdf5/"
      echo "fuzz: $h: a crash inside libhdf5 (kept in $scratch/artifacts/$h/libhdf5/): $(first_frame "$part" | sed 's/^ *//')"
      rc=0
      continue
    fi
    break
  done
  if ((rc == 0)); then
    result=ok
    ((thirdparty == 0)) || result="ok ($thirdparty crash(es) inside libhdf5 set aside)"
  else
    result="FAILED (exit $rc)"
    failed+=("$h")
    echo "fuzz: $h failed; from $log:" >&2
    grep -m1 -A45 -E '^==[0-9]+==ERROR|^==FUZZ==|Fatal error|^INFO: libFuzzer: deadly' "$part" >&2 || tail -40 "$part" >&2
    ls -1 "$scratch/artifacts/$h" >&2 || true
  fi
  summary+=("$(printf '%-16s %5ss  execs %-9s cov %-6s ft %-7s corpus %-6s %s' "$h" "$seconds" "$execs" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
  echo "fuzz: ${summary[-1]}"
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crashes in ${#harnesses[@]} harness(es), $((SECONDS - start)) s in all"
