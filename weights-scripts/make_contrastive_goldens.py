#!/usr/bin/env python3
"""inseq goldens of contrastive attribution on gpt2_tiny: Tests/Fixtures/parity/inseq_contrast.h5 (re-runnable).

    python weights-scripts/make_contrastive_goldens.py [--out FILE]

Rebuilds gpt2_tiny through make_goldens.BUILDERS (same seed; checked bit-identical to the committed fixture) and
asks inseq (0.7) why GPT-2 continues the prompt "The dog" with its greedy token rather than its second most
probable one: `attribute(prompt, prompt + target, attributed_fn=FN, contrast_targets=prompt + contrast)` for
FN = contrast_logits_diff (logit(target) − logit(contrast), which is log p(target) − log p(contrast)) and
contrast_prob_diff (p(target) − p(contrast)), with the methods input_x_gradient and saliency. Attributions are
over the input embeddings (wte; inseq adds nothing else), one row per prompt token. Each result is also checked
against the formula computed here with plain autograd.
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

OUT = mpg.PARITY_DIR / "inseq_contrast.h5"
PROMPT = "The dog"
FUNCTIONS = {"logit": "contrast_logits_diff", "prob": "contrast_prob_diff"}
METHODS = {"grad-input": "input_x_gradient", "grad-norm": "saliency"}


def goldens(fm) -> dict:
    import inseq

    model, tok = mpg.eager_copy(fm), fm.tokenizer
    ids = tok(PROMPT)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    target, contrast = logits.topk(2).indices.tolist()
    out = {"ids": ids, "target": target, "contrast": contrast, "cases": {}}
    for method, name in METHODS.items():
        im = inseq.load_model(model, name, tokenizer=tok)
        for score, fn in FUNCTIONS.items():
            res = im.attribute(PROMPT, PROMPT + tok.decode([target]), attributed_fn=fn,
                               contrast_targets=PROMPT + tok.decode([contrast]), step_scores=[fn],
                               show_progress=False)
            sa = res.sequence_attributions[0]
            assert [t.id for t in sa.target][:len(ids)] == ids, "inseq tokenised the prompt differently"
            attr = sa.target_attributions[:len(ids), 0, :]  # [T, H]: prompt rows, the one generated step
            value = float(sa.step_scores[fn][0])
            check(model, ids, target, contrast, score, method, attr, value)
            out["cases"][f"{score}/{method}"] = {"attributions": attr, "value": torch.tensor([value])}
    return out


def check(model, ids, target, contrast, score, method, attr, value) -> None:
    """The same quantity with plain autograd: F = s(target) − s(contrast) at the last position."""
    emb = model.transformer.wte(torch.tensor([ids])).detach().requires_grad_(True)
    lg = model(inputs_embeds=emb).logits[0, -1]
    s = torch.softmax(lg, -1) if score == "prob" else lg
    f = s[target] - s[contrast]
    (g,) = torch.autograd.grad(f, emb)
    mine = (g * emb)[0] if method == "grad-input" else g[0].abs()
    err = float((mine - attr).abs().max() / attr.abs().max())
    assert err < 1e-5, f"inseq {score}/{method} differs from the formula by {err}"
    assert abs(float(f) - value) <= 1e-6 * max(1.0, abs(value)), (float(f), value)


def write(path: Path, res: dict) -> None:
    import inseq  # noqa: F401
    from importlib.metadata import version

    def fill(f):
        mpg.set_attrs(f, generated_by="weights-scripts/make_contrastive_goldens.py", generated_with=mpg.versions(),
                      inseq_version=version("inseq"), prompt=PROMPT, functions=FUNCTIONS, methods=METHODS,
                      cases="SCORE/METHOD: attributions [T, H] over the prompt's input embeddings (saliency: "
                            "|gradient|, whose per-token L2 norm is Loupe's grad-norm), value [1] = the step score")
        mpg.i64(f, "input_ids", torch.tensor(res["ids"]))
        mpg.i64(f, "target_id", torch.tensor([res["target"]]))
        mpg.i64(f, "contrast_id", torch.tensor([res["contrast"]]))
        for name, case in res["cases"].items():
            g = f.require_group(name)
            for k, v in case.items():
                mpg.f32(g, k, v)

    mpg.write_h5(path, fill)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    import make_goldens
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="loupe-contrast-") as tmp:
        fm = make_goldens.BUILDERS["gpt2_tiny"](Path(tmp))
        mpg.check_against_fixture(fm, make_goldens.FIXTURES / "gpt2_tiny.h5")
        res = goldens(fm)
    write(Path(args.out), res)
    print(f"{args.out}: {Path(args.out).stat().st_size:,} bytes; target {res['target']} vs contrast {res['contrast']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
