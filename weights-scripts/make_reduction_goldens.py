#!/usr/bin/env python3
"""Input-reduction goldens for bert_tiny_cls: Tests/Fixtures/parity/input_reduction.h5 (re-runnable).

    python weights-scripts/make_reduction_goldens.py [--out FILE]

AllenNLP Interpret's InputReduction (allennlp/interpret/attackers/input_reduction.py, beam size 1; Feng et al.
2018), re-implemented here with plain autograd because AllenNLP cannot be installed beside the pinned torch: on
the current input, the L2 norm of each token's gradient (of the predicted class's probability; the loss's
gradient differs by one factor for every token, so the ranking is the same), [CLS] and [SEP] never removed;
remove the smallest; keep the shorter input only while its predicted class is the original one. Rebuilds the
fixture model through make_goldens.BUILDERS (checked bit-identical) and tokenises with the fixture's vocab.
Each step's two smallest norms must differ by 1e-3 (relative) and each kept prediction's margin exceed 1e-4, so
float32 differences between implementations cannot change the answer; texts that fail this are refused.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_parity_goldens as mpg  # noqa: E402

OUT = mpg.PARITY_DIR / "input_reduction.h5"
TEXTS = ["the movie was a charming and often affecting journey .", "a dull , lifeless and tedious film",
         "it is not a bad movie at all"]


def reduce(model, ids: list) -> dict:
    def run(cur):
        x = model.get_input_embeddings()(torch.tensor([cur])).detach().requires_grad_(True)
        p = torch.softmax(model(inputs_embeds=x, attention_mask=torch.ones(1, len(cur), dtype=torch.long),
                                token_type_ids=torch.zeros(1, len(cur), dtype=torch.long)).logits[0], -1)
        return x, p

    keep = list(range(len(ids)))
    x, p = run(ids)
    original = int(p.argmax())
    order, gaps, margins = [], [], []
    while True:
        (g,) = torch.autograd.grad(p[original], x)
        norms = g[0].norm(dim=-1).tolist()
        cand = [(norms[i], pos) for i, pos in enumerate(keep) if pos not in (0, len(ids) - 1)]
        if not cand or len(keep) <= 1:
            break
        cand.sort()
        if len(cand) > 1:
            gaps.append((cand[1][0] - cand[0][0]) / max(cand[1][0], 1e-30))
        smallest = cand[0][1]
        trial = [q for q in keep if q != smallest]
        x2, p2 = run([ids[q] for q in trial])
        top = p2.topk(2).values
        margins.append(float(top[0] - top[1]))
        if int(p2.argmax()) != original:
            break
        keep, x, p = trial, x2, p2
        order.append(smallest)
    return {"kept": keep, "order": order, "original": original, "min_gap": min(gaps, default=1.0),
            "min_margin": min(margins, default=1.0)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    import make_goldens
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="loupe-reduce-") as tmp:
        fm = make_goldens.BUILDERS["bert_tiny_cls"](Path(tmp))
        h5 = make_goldens.FIXTURES / "bert_tiny_cls.h5"
        mpg.check_against_fixture(fm, h5)
        model = mpg.eager_copy(fm)
        seqs = mpg.encode(fm, h5, TEXTS, add_special_tokens=True)
        results = [reduce(model, s) for s in seqs]
    for t, r in zip(TEXTS, results):
        assert r["min_gap"] > 1e-3 and r["min_margin"] > 1e-4, (t, r)

    def fill(f):
        mpg.set_attrs(f, generated_by="weights-scripts/make_reduction_goldens.py", generated_with=mpg.versions(),
                      texts=TEXTS, reference="allennlp/interpret/attackers/input_reduction.py, beam_size=1",
                      score="softmax probability of the class predicted on the whole input")
        for i, (s, r) in enumerate(zip(seqs, results)):
            g = f.require_group(str(i))
            mpg.i64(g, "input_ids", torch.tensor(s))
            mpg.i64(g, "kept", torch.tensor(r["kept"]))
            mpg.i64(g, "removal_order", torch.tensor(r["order"] or [-1]))
            mpg.i64(g, "predicted", torch.tensor([r["original"]]))

    mpg.write_h5(Path(args.out), fill)
    for t, r in zip(TEXTS, results):
        print(f"{t!r}: kept {r['kept']}, order {r['order']}, gap {r['min_gap']:.3g}, margin {r['min_margin']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
