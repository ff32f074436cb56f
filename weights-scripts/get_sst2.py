"""Download GLUE SST-2 (train.tsv, dev.tsv, test.tsv) for `loupe finetune` — for users who are online.

    python3 weights-scripts/get_sst2.py [DIR]            # default DIR: ../shared/data/sst2 next to the repo
    python3 weights-scripts/get_sst2.py DIR --zip SST-2.zip   # offline: unpack a zip you already have

Source: the GLUE benchmark's own archive, https://dl.fbaipublicfiles.com/glue/data/SST-2.zip (the URL of
GLUE's download_glue_data.py). Only the Python standard library is used. The files are checked before they
are written: header `sentence<TAB>label`, 67,349 train and 872 dev examples with labels 0/1, and dev.tsv's
SHA-256 (54a9c12c…, the GLUE file as also published on the Hugging Face hub). Then
`loupe finetune --data DIR` (or LOUPE_DATA_DIR=PARENT with DIR = PARENT/sst2) uses them.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
import urllib.request
import zipfile
from pathlib import Path

URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
DEV_SHA256 = "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"
EXPECTED_ROWS = {"train.tsv": 67349, "dev.tsv": 872}


def check(name: str, data: bytes) -> None:
    lines = data.decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    if name in EXPECTED_ROWS:
        if lines[0] != "sentence\tlabel":
            sys.exit(f"{name}: unexpected header {lines[0]!r}")
        rows = lines[1:]
        if len(rows) != EXPECTED_ROWS[name]:
            sys.exit(f"{name}: {len(rows)} examples, expected {EXPECTED_ROWS[name]}")
        bad = [i + 2 for i, r in enumerate(rows) if r.count("\t") != 1 or r.rsplit("\t", 1)[1] not in ("0", "1")]
        if bad:
            sys.exit(f"{name}: malformed line {bad[0]}")
    if name == "dev.tsv" and hashlib.sha256(data).hexdigest() != DEV_SHA256:
        sys.exit("dev.tsv: SHA-256 differs from GLUE's SST-2 dev.tsv")


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", type=Path, default=repo.parent / "shared/data/sst2", help="output directory")
    ap.add_argument("--zip", type=Path, help="use this SST-2.zip instead of downloading it")
    ap.add_argument("--url", default=URL)
    args = ap.parse_args()

    if args.zip:
        blob = args.zip.read_bytes()
    else:
        print(f"downloading {args.url} ...", file=sys.stderr)
        try:
            with urllib.request.urlopen(args.url, timeout=60) as r:
                blob = r.read()
        except OSError as e:
            sys.exit(f"cannot download {args.url}: {e}\n(offline? get SST-2.zip elsewhere and pass --zip FILE)")
    files = {}
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        for info in z.infolist():
            name = Path(info.filename).name
            if name in ("train.tsv", "dev.tsv", "test.tsv"):
                files[name] = z.read(info)
    missing = {"train.tsv", "dev.tsv"} - files.keys()
    if missing:
        sys.exit(f"the archive has no {', '.join(sorted(missing))}")
    for name, data in files.items():
        check(name, data)
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items()):
        tmp = args.dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(args.dir / name)
    print(f"wrote {', '.join(sorted(files))} to {args.dir}")


if __name__ == "__main__":
    main()
