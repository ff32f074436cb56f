"""Tests/Fixtures/bad/: broken weight files a loader must reject, cut from bert_micro, and the check that it does.

Split out of make_goldens.py (which writes them after bert_micro.h5 and bert_micro_hf/).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

import loupe_h5

HERE = Path(__file__).resolve().parent


# =============================================================================================
# Bad fixtures

BAD_README = """# Bad weight fixtures

Each file is a broken input that a Loupe loader (or convert.py) must reject with a clear error, never a
crash, a hang or a silently wrong model. All but not_hdf5.h5 are cut from `../bert_micro.h5` /
`../bert_micro_hf/` (a valid 1-layer, hidden-8 BertForSequenceClassification), so the same test that
opens the valid file can show that each mutation alone makes it fail. Regenerate with
`weights-scripts/make_goldens.py`.

| file | what is wrong | what it should trigger |
|---|---|---|
| truncated.h5 | the first 1024 bytes of bert_micro.h5 | HDF5 open fails (truncated file / bad end-of-file address): "not a readable HDF5 file" |
| not_hdf5.h5 | a short UTF-8 text file | HDF5 signature not found: "not an HDF5 file" |
| format_notloupe.h5 | root attribute `format = "notloupe"` | "not a Loupe weight file (format)" |
| version3.h5 | root attribute `version = 3` (int64) | "unsupported format version 3" |
| wrong_shape.h5 | `{wrong_shape}` stored transposed, shape {wrong_got} instead of {wrong_want} | shape mismatch naming that tensor and both shapes |
| missing_tensor.h5 | `{missing}` deleted | "missing tensor" naming it |
| extra_tensor.h5 | an added `{extra}` (float32, shape [8]) | "unexpected tensor" naming it |
| truncated_safetensors/ | HF directory whose model.safetensors is cut to {trunc_len} of {full_len} bytes (the header is intact, tensor data ends early) | safetensors error: data shorter than the header's offsets |
| corrupt_header_safetensors/ | HF directory whose model.safetensors header JSON is invalid (byte {corrupt_at} of the header changed from `{corrupt_from}` to `{corrupt_to}`; length prefix and file size unchanged) | safetensors error: header is not valid JSON |

The two `*_safetensors/` directories also hold the valid config.json, vocab.txt and tokenizer files of
bert_micro_hf/, so both "open the HF directory directly" and `convert.py DIR OUT.h5` reach the weights.
`convert.py` exits 1 with one line naming model.safetensors for both (make_goldens.py checks this).

Hostile inputs that are large, special or trivially derived are not committed: they are built at run time in a
temporary directory by the tests that use them — a config with 10⁷ layers, a safetensors header claiming a 10¹²-element
tensor or naming a tensor twice, an .h5 dataset claiming 10⁸ rows, a 2²¹+1-line vocab, FIFOs as the model, a shard,
config.json or vocab (Tests/TransformerTests/HostileInputTests.swift, Tests/TokenizersTests/HostileTokenizerFileTests.swift),
a 100 MB single-line input, a model with a NaN weight (Tests/CLITests/HostileInputCLITests.swift).
"""


def make_bad_fixtures(micro_h5: Path, micro_hf: Path, bad: Path) -> dict:
    if bad.exists():
        shutil.rmtree(bad)
    bad.mkdir(parents=True)
    raw = micro_h5.read_bytes()
    (bad / "truncated.h5").write_bytes(raw[:1024])
    (bad / "not_hdf5.h5").write_text("This is a text file, not HDF5. Loupe must refuse to load it.\n", encoding="utf-8")

    def mutant(fname, edit):
        path = bad / fname
        shutil.copyfile(micro_h5, path)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path

    mutant("format_notloupe.h5", lambda f: loupe_h5.set_str(f, "format", "notloupe"))
    mutant("version3.h5", lambda f: loupe_h5.set_i64(f, "version", 3))
    wrong = "bert.encoder.layer.0.intermediate.dense.weight"

    def transpose(f):
        a = f["weights"][wrong][()]
        del f["weights"][wrong]
        f["weights"].create_dataset(wrong, data=np.ascontiguousarray(a.T))
        return a.shape

    shapes = {}
    mutant("wrong_shape.h5", lambda f: shapes.setdefault("want", list(transpose(f))))
    missing = "bert.encoder.layer.0.attention.output.dense.weight"
    mutant("missing_tensor.h5", lambda f: f["weights"].__delitem__(missing))
    extra = "bert.encoder.layer.0.attention.self.unexpected.weight"
    mutant("extra_tensor.h5",
           lambda f: f["weights"].create_dataset(extra, data=np.arange(8, dtype=np.float32) / 8))

    st = (micro_hf / "model.safetensors").read_bytes()
    header_len = int.from_bytes(st[:8], "little")
    for dname in ("truncated_safetensors", "corrupt_header_safetensors"):
        shutil.copytree(micro_hf, bad / dname)
    trunc_len = 8 + header_len + (len(st) - 8 - header_len) // 2
    (bad / "truncated_safetensors" / "model.safetensors").write_bytes(st[:trunc_len])
    header = bytearray(st[8:8 + header_len])
    corrupt_at = header.index(b'"dtype"')  # replace that opening quote: invalid JSON, same length
    corrupt_from = chr(header[corrupt_at])
    header[corrupt_at:corrupt_at + 1] = b"?"
    (bad / "corrupt_header_safetensors" / "model.safetensors").write_bytes(st[:8] + bytes(header) + st[8 + header_len:])

    info = dict(wrong_shape=wrong, wrong_want=shapes["want"], wrong_got=shapes["want"][::-1], missing=missing,
                extra=extra, trunc_len=trunc_len, full_len=len(st), corrupt_at=corrupt_at,
                corrupt_from=corrupt_from, corrupt_to="?")
    (bad / "README.md").write_text(BAD_README.format(**info), encoding="utf-8")
    return info


def check_bad_fixtures(bad: Path, info: dict) -> None:
    expect = {
        "truncated.h5": "",  # h5py's own OSError
        "not_hdf5.h5": "",
        "format_notloupe.h5": "format='notloupe'",
        "version3.h5": "unsupported version 3",
        "wrong_shape.h5": f"tensor {info['wrong_shape']} has shape {info['wrong_got']}",
        "missing_tensor.h5": f"missing tensor {info['missing']}",
        "extra_tensor.h5": f"unexpected tensor {info['extra']}",
    }
    for fname, needle in expect.items():
        try:
            loupe_h5.validate(bad / fname)
        except (OSError, ValueError) as e:
            assert needle in str(e), (fname, str(e))
            print(f"  bad/{fname}: rejected ({' '.join(str(e).split())[:110]})")
        else:
            raise AssertionError(f"bad/{fname} was accepted")
    for dname in ("truncated_safetensors", "corrupt_header_safetensors"):
        with tempfile.TemporaryDirectory() as t:
            r = subprocess.run([sys.executable, str(HERE / "convert.py"), str(bad / dname), f"{t}/x.h5"],
                               capture_output=True, text=True)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 1 and len(lines) == 1 and "model.safetensors" in lines[0] \
                and not os.listdir(t), (dname, r.returncode, r.stderr)
            print(f"  bad/{dname}: convert.py exit 1: {lines[0][:150]}")
