#!/usr/bin/env python3
"""Goldens of Chefer et al.'s relevance for bert_tiny_cls and gpt2_tiny: Tests/Fixtures/parity/chefer.h5 (re-runnable).

    python weights-scripts/make_chefer_goldens.py [--out FILE]

The rule of Chefer, Gur & Wolf, "Generic Attention-model Explainability for Interpreting Bi-Modal and
Encoder-Decoder Transformers" (ICCV 2021), for self-attention, re-implemented here from the paper:
    eq. 5:  Ā = E_h[(∇A ⊙ A)⁺]   (per layer: the head mean of the positive part of gradient × attention)
    eq. 6:  R ← R + Ā · R         (R starts as the identity, eq. 3; layers in forward order)
where A are a layer's attention probabilities (softmax output, before dropout: transformers' eager `attentions`) and
∇A = ∂y_t/∂A is the gradient of the explained output y_t, the target's logit, as the authors' code takes it
(`one_hot * output` summed; hila-chefer/Transformer-MM-Explainability). The explanation is R's row of the position
the head reads: [CLS] for BERT's classifier, the last token for GPT-2's next-token logit. ∇A comes from autograd
(`retain_grad` on transformers' attentions, which are the very tensors the context is computed from in eager mode).
Rebuilds both fixture models through make_goldens.BUILDERS (checked bit-identical to the committed fixtures).
BERT: text 0 of make_parity_goldens, target class 1 ("positive"). GPT-2: the prompt "The dog", target its greedy
next token. Each stores the relevance row, the full R, and every layer's A and ∇A (for debugging a mismatch).
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

OUT = mpg.PARITY_DIR / "chefer.h5"
GPT2_PROMPT = "The dog"


def relevance(attentions, select) -> dict:
    """Runs the forward, takes ∇A of the selected logit for every layer and applies eqs. 5-6."""
    for a in attentions:
        a.retain_grad()
    y = select()
    y.backward()
    t = attentions[0].shape[-1]
    r = torch.eye(t, dtype=torch.float64)
    layers = []
    for a in attentions:
        g = a.grad[0]  # [NH, T, T]
        cam = (g * a.detach()[0]).clamp(min=0).mean(dim=0)  # eq. 5, in float32 as the model
        r = r + cam.double() @ r  # eq. 6, accumulated in float64
        layers.append({"attention": a.detach()[0], "gradient": g})
    return {"relevance": r, "layers": layers, "score": torch.tensor([float(y.detach())])}


def bert_case(fm, h5: Path) -> dict:
    model = mpg.eager_copy(fm)
    inputs = mpg.bert_inputs(fm, h5, mpg.BERT_TEXTS)
    n = int(inputs["attention_mask"][0].sum())
    ids, mask, tt = (inputs[k][:1, :n] for k in ("input_ids", "attention_mask", "token_type_ids"))
    emb = mpg.word_embeddings(model)(ids).detach().clone().requires_grad_(True)
    out = model(inputs_embeds=emb, attention_mask=mask, token_type_ids=tt, output_attentions=True, return_dict=True)
    res = relevance(out.attentions, lambda: out.logits[0, mpg.CAPTUM_TARGET])
    res.update(ids=ids[0], readout=0, target=mpg.CAPTUM_TARGET)
    return res


def gpt2_case(fm) -> dict:
    model, tok = mpg.eager_copy(fm), fm.tokenizer
    ids = torch.tensor([tok(GPT2_PROMPT)["input_ids"]])
    emb = mpg.word_embeddings(model)(ids).detach().clone().requires_grad_(True)
    out = model(inputs_embeds=emb, output_attentions=True, return_dict=True)
    target = int(out.logits[0, -1].argmax())
    res = relevance(out.attentions, lambda: out.logits[0, -1, target])
    res.update(ids=ids[0], readout=ids.shape[1] - 1, target=target)
    return res


def write(path: Path, cases: dict) -> None:
    def fill(f):
        mpg.set_attrs(f, generated_by="weights-scripts/make_chefer_goldens.py", generated_with=mpg.versions(),
                      rule="Chefer et al. ICCV 2021 eqs. 3, 5, 6: R = I; R += mean_h((dy/dA * A).clamp(min=0)) @ R",
                      bert_text=mpg.BERT_TEXTS[0], gpt2_prompt=GPT2_PROMPT, score="logit",
                      cases="MODEL: input_ids, target_id, readout, score [1] (the logit), relevance [T] (row readout "
                            "of R), R [T, T] (accumulated in float64, stored float32), layer_L/attention and layer_L/gradient [NH, T, T]")
        for name, c in cases.items():
            g = f.require_group(name)
            mpg.i64(g, "input_ids", c["ids"])
            mpg.i64(g, "target_id", torch.tensor([c["target"]]))
            mpg.i64(g, "readout", torch.tensor([c["readout"]]))
            mpg.f32(g, "score", c["score"])
            mpg.f32(g, "R", c["relevance"])
            mpg.f32(g, "relevance", c["relevance"][c["readout"]])
            for i, layer in enumerate(c["layers"]):
                lg = g.require_group(f"layer_{i}")
                mpg.f32(lg, "attention", layer["attention"])
                mpg.f32(lg, "gradient", layer["gradient"])

    mpg.write_h5(path, fill)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    import make_goldens
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cases = {}
    with tempfile.TemporaryDirectory(prefix="loupe-chefer-") as tmp:
        fm = make_goldens.BUILDERS["bert_tiny_cls"](Path(tmp))
        h5 = make_goldens.FIXTURES / "bert_tiny_cls.h5"
        mpg.check_against_fixture(fm, h5)
        cases["bert_tiny_cls"] = bert_case(fm, h5)
        fm = make_goldens.BUILDERS["gpt2_tiny"](Path(tmp))
        mpg.check_against_fixture(fm, make_goldens.FIXTURES / "gpt2_tiny.h5")
        cases["gpt2_tiny"] = gpt2_case(fm)
    write(Path(args.out), cases)
    for name, c in cases.items():
        print(f"{name}: target {c['target']}, relevance {[round(float(v), 4) for v in c['relevance'][c['readout']]]}")
    print(f"{args.out}: {Path(args.out).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
