#!/usr/bin/env python3
"""Run a `loupe` worker over a dataset with Spark, and check that every record came back exactly once.

    spark-submit scale-out/spark_explain.py --model M --method grad-input \
        --input IN.jsonl|IN.tsv --output OUT_DIR --partitions K [--master local[2]] \
        [--loupe PATH] [--command predict|explain|embed|tokenize] [--steps N] [--batch-size N] [--threads T] \
        [--overwrite] [-- EXTRA LOUPE ARGS]

(or the same with `python` in place of `spark-submit`, with pyspark installed.)

The dataset is read with `sc.textFile` (a local path, hdfs://, s3a://, ...): JSON Lines as they are, or a GLUE TSV
(a header with a `sentence` column) as records {"id": <0-based row>, "text": sentence, "label": label}. A JSON
record without an id gets its 0-based line number as id; a non-string id is turned into a string. Each of K
partitions is piped through `loupe <command> --model M --input - --format jsonl ...`, which writes one JSON line per
input line, in order. The output lines are paired with their input lines by position (partition, row), so a line
loupe could not parse (it names it by its row in the worker's stream) gets the dataset-wide id back.

The results go to OUT_DIR as JSON Lines part files (saveAsTextFile), in input order, and a summary is printed:
ok, errors (records loupe reported as bad, their error lines are kept), missing (no output line: a worker crashed or
stopped early), duplicated (an id seen more than once), extra/mismatched output lines, and each worker's exit code.

Exit status: 0 if every id came back once and none failed; 1 if every id came back once but some were error
lines (as loupe itself); 2 if the output is incomplete or inconsistent (missing, duplicated, extra or mismatched
lines, or a worker that ended with a status other than 0/1).
"""
import argparse
import json
import os
import shlex
import shutil
import sys
from urllib.parse import urlparse

EXIT_TAG = "__loupe_spark_exit__"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model path (as seen by the workers)")
    p.add_argument("--method", help="explain: the method (grad-input, ig, lime, ...)")
    p.add_argument("--input", required=True, help="JSON Lines or GLUE TSV (a local path or a Hadoop URI)")
    p.add_argument("--output", required=True, help="output directory (JSON Lines part files)")
    p.add_argument("--partitions", type=int, default=2, help="number of partitions = worker processes")
    p.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[2])")
    p.add_argument("--loupe", default=None,
                   help="the loupe binary as seen by the workers (default .build/release/loupe, else loupe on PATH)")
    p.add_argument("--command", default="explain", choices=["predict", "explain", "embed", "tokenize"])
    p.add_argument("--steps", type=int, help="explain: --steps for the method")
    p.add_argument("--batch-size", type=int, help="loupe --batch-size")
    p.add_argument("--threads", type=int, default=int(os.environ.get("LOUPE_THREADS", "1")),
                   help="LOUPE_THREADS per worker (default 1: one worker per core)")
    p.add_argument("--format", default="auto", choices=["auto", "jsonl", "tsv"], help="input format")
    p.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists (local paths)")
    args, extra = p.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    args.extra = extra
    if args.command == "explain" and not args.method:
        p.error("--command explain needs --method")
    if args.partitions < 1:
        p.error("--partitions must be at least 1")
    return args


def is_local_path(path):
    return urlparse(path).scheme in ("", "file")


def local_part(path):
    u = urlparse(path)
    return u.path if u.scheme == "file" else path


def ascii_line(line):
    """The line as pipe's writer thread can always encode it (a lone surrogate killed the thread once and hung the job)."""
    try:
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        return line.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def jsonl_record(row, line):
    """(expected id, payload line) for one JSON Lines line; a broken line goes to loupe as it is (it reports it)."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        # Sent as it is: the worker reads JSON Lines (--input-format jsonl) and answers with an error line for it.
        return str(row), ascii_line(line)
    if "id" not in obj or obj["id"] is None:
        obj["id"] = str(row)
    elif not isinstance(obj["id"], str):
        obj["id"] = json.dumps(obj["id"])
    return obj["id"], json.dumps(obj, ensure_ascii=True)


def tsv_records(header, row, line):
    cols = header.split("\t")
    fields = line.split("\t")
    rec = {"id": str(row)}
    if "sentence" in cols and len(fields) > cols.index("sentence"):
        rec["text"] = fields[cols.index("sentence")]
    if "label" in cols and len(fields) > cols.index("label"):
        label = fields[cols.index("label")].strip()
        if label != "":
            rec["label"] = int(label) if label.lstrip("-").isdigit() else label
    return rec["id"], json.dumps(rec, ensure_ascii=True)


def loupe_command(args):
    # The records are JSON Lines, whatever a partition's first line looks like.
    cmd = [args.loupe, args.command, "--model", args.model, "--input", "-", "--format", "jsonl", "--input-format", "jsonl"]
    if args.method and args.command == "explain":
        cmd += ["--method", args.method]
    if args.steps is not None:
        cmd += ["--steps", str(args.steps)]
    if args.batch_size is not None:
        cmd += ["--batch-size", str(args.batch_size)]
    cmd += args.extra
    # The worker's exit status as a last line, so a crash (not 0 or 1) is seen even with checkCode=False.
    script = '"$@"; echo "{\\"%s\\": $?}"' % EXIT_TAG
    return shlex.join(["/bin/sh", "-c", script, "loupe-worker"] + cmd)


def worker_env(args):
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LOUPE_THREADS": str(args.threads),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for name in ("LD_LIBRARY_PATH", "HOME", "TMPDIR", "OPENBLAS_NUM_THREADS"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def main(argv):
    args = parse_args(argv)
    local_master = args.master is None or args.master.startswith("local")
    if args.loupe is None:
        args.loupe = ".build/release/loupe" if os.path.exists(".build/release/loupe") else "loupe"
    # In local mode, paths that exist here are made absolute (the workers run in another directory on clusters,
    # where paths are taken as given: ship files with --files and name them ./NAME).
    if local_master:
        for name in ("loupe", "model"):
            value = getattr(args, name)
            if os.path.exists(value):
                setattr(args, name, os.path.abspath(value))
    if local_master and os.path.exists(args.input):
        args.input = os.path.abspath(args.input)
    if args.format == "auto":
        args.format = "tsv" if args.input.endswith(".tsv") else "jsonl"

    if is_local_path(args.output) and os.path.exists(local_part(args.output)):
        if not args.overwrite:
            print(f"spark_explain: {args.output} exists (use --overwrite)", file=sys.stderr)
            return 2
        shutil.rmtree(local_part(args.output))

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark import SparkConf, SparkContext, StorageLevel

    conf = SparkConf().setAppName("loupe-" + args.command)
    if args.master:
        conf.setMaster(args.master)
    elif not conf.contains("spark.master"):
        conf.setMaster("local[2]")
    if local_master:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf.set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false")
        conf.set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
    sc = SparkContext(conf=conf)
    sc.setLogLevel("WARN")
    try:
        return run(sc, args, StorageLevel)
    finally:
        sc.stop()


def run(sc, args, StorageLevel):
    lines = sc.textFile(args.input).zipWithIndex()  # (line, 0-based line number)
    if args.format == "tsv":
        header = lines.filter(lambda t: t[1] == 0).map(lambda t: t[0]).first()
        records = lines.filter(lambda t: t[1] > 0).map(lambda t: (t[1] - 1,) + tsv_records(header, t[1] - 1, t[0]))
    else:
        # Blank lines are not records (ids stay line numbers).
        records = lines.filter(lambda t: t[0].strip() != "").map(lambda t: (t[1],) + jsonl_record(t[1], t[0]))
    # (row, expected id, payload) in K partitions; kept so the positions seen by the workers are the ones paired.
    parts = records.repartition(args.partitions).persist(StorageLevel.MEMORY_AND_DISK)

    def tag_inputs(p, it):
        for j, (row, rid, _) in enumerate(it):
            yield ((p, j), (row, rid))

    def tag_outputs(p, it):
        j = 0
        for line in it:
            if line.startswith('{"%s"' % EXIT_TAG):
                yield (("exit", p), line)
            else:
                yield ((p, j), line)
                j += 1

    inputs = parts.mapPartitionsWithIndex(tag_inputs)
    outputs = parts.map(lambda t: t[2]).pipe(loupe_command(args), env=worker_env(args), checkCode=False)
    outputs = outputs.mapPartitionsWithIndex(tag_outputs).persist(StorageLevel.MEMORY_AND_DISK)

    exits = dict(outputs.filter(lambda kv: kv[0][0] == "exit")
                 .map(lambda kv: (kv[0][1], json.loads(kv[1])[EXIT_TAG])).collect())

    def settle(kv):
        """(row, kind, expected id, output line) for one position: kind is ok, error, missing, extra or mismatch."""
        (p, j), (inp, out) = kv
        if inp is None:
            return (-1, "extra", None, out)
        row, rid = inp
        if out is None:
            return (row, "missing", rid, None)
        try:
            obj = json.loads(out)
        except ValueError:
            return (row, "mismatch", rid, out)
        if not isinstance(obj, dict):
            return (row, "mismatch", rid, out)
        if "error" in obj:
            # A record loupe could not read is named by its row in the worker's stream: give it its dataset id.
            if obj.get("id") not in (rid, str(j)):
                return (row, "mismatch", rid, out)
            if obj.get("id") != rid:
                obj["id"] = rid
                out = json.dumps(obj, ensure_ascii=True)
            return (row, "error", rid, out)
        if obj.get("id") != rid:
            return (row, "mismatch", rid, out)
        return (row, "ok", rid, out)

    settled = (inputs.fullOuterJoin(outputs.filter(lambda kv: kv[0][0] != "exit"), args.partitions)
               .map(settle).persist(StorageLevel.MEMORY_AND_DISK))
    stats = dict(settled.map(lambda t: (t[1], (1, t[0]))).reduceByKey(lambda a, b: (a[0] + b[0], max(a[1], b[1])))
                 .collect())  # kind -> (count, last row)
    counts = {kind: c for kind, (c, _) in stats.items()}
    last_row = max([r for _, r in stats.values()] + [0])
    k = args.partitions
    duplicated = (settled.filter(lambda t: t[1] in ("ok", "error")).map(lambda t: (t[2], 1))
                  .reduceByKey(lambda a, b: a + b).filter(lambda kv: kv[1] > 1).count())
    total = sum(c for kind, c in counts.items() if kind != "extra")
    examples = settled.filter(lambda t: t[1] in ("missing", "extra", "mismatch")).take(5)

    (settled.filter(lambda t: t[1] in ("ok", "error", "mismatch", "extra"))
     .map(lambda t: (t[0], t[3]))
     .repartitionAndSortWithinPartitions(k, lambda row: max(row, 0) * k // (last_row + 1))
     .values()
     .saveAsTextFile(args.output))

    crashed = {p: c for p, c in exits.items() if c not in (0, 1)}
    no_exit = [p for p in range(args.partitions) if p not in exits]
    summary = {
        "records": total, "ok": counts.get("ok", 0), "errors": counts.get("error", 0),
        "missing": counts.get("missing", 0), "duplicated": duplicated, "extra": counts.get("extra", 0),
        "mismatched": counts.get("mismatch", 0), "partitions": args.partitions,
        "worker_exit_codes": [exits.get(p) for p in range(args.partitions)], "output": args.output,
    }
    print(json.dumps(summary))
    print(f"spark_explain: {summary['ok']} ok, {summary['errors']} errors, {summary['missing']} missing, "
          f"{duplicated} duplicated, {summary['extra']} extra, {summary['mismatched']} mismatched "
          f"of {total} records in {args.partitions} partitions")
    for row, kind, rid, out in examples:
        print(f"spark_explain: {kind}: row {row} id {rid!r}: {(out or '')[:200]}", file=sys.stderr)
    for p, c in sorted(crashed.items()):
        print(f"spark_explain: worker for partition {p} exited with status {c}", file=sys.stderr)
    for p in no_exit:
        print(f"spark_explain: worker for partition {p} gave no exit status (killed?)", file=sys.stderr)
    if is_local_path(args.output):
        with open(os.path.join(local_part(args.output), "_SUMMARY.json"), "w") as f:
            json.dump(summary, f)
            f.write("\n")
    complete = (summary["ok"] + summary["errors"] == total and not duplicated and not summary["missing"]
                and not summary["extra"] and not summary["mismatched"] and not crashed and not no_exit)
    if not complete:
        return 2
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
