"""Captum attributions for parity/bert_tiny_cls.h5: saliency, input x gradient, integrated gradients (text 0).

Split out of make_parity_goldens.py, which re-exports CAPTUM_TARGET etc. (make_*_goldens.py use the same target).
"""
from __future__ import annotations

import numpy as np
import torch

from parity_common import BERT_TEXTS, word_embeddings
from parity_h5 import f32, f64, group, i64, set_attrs

# Captum (bert_tiny_cls, text 0 alone, no padding).
CAPTUM_TARGET = 1          # class "positive"
IG_STEPS = 32
IG_METHODS = ("gausslegendre", "riemann_trapezoid")
IG_INTERNAL_BATCH_SIZE = None  # all 32 scaled inputs in one forward/backward


def captum_goldens(model, batch_inputs: dict) -> dict:
    """Captum on text 0 alone (batch 1, no padding): attribution input = word embeddings of the input ids."""
    import captum
    from captum.attr import InputXGradient, IntegratedGradients, Saliency
    from captum.attr._utils.approximation_methods import SUPPORTED_METHODS, approximation_parameters

    n = int(batch_inputs["attention_mask"][0].sum())
    ids = batch_inputs["input_ids"][:1, :n]
    mask = batch_inputs["attention_mask"][:1, :n]
    tt = batch_inputs["token_type_ids"][:1, :n]
    assert bool(mask.all())
    emb = word_embeddings(model)(ids).detach().clone()
    baseline = torch.zeros_like(emb)

    def forward_logit(inputs_embeds, attention_mask, token_type_ids):
        return model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                     token_type_ids=token_type_ids).logits

    def forward_prob(inputs_embeds, attention_mask, token_type_ids):
        return torch.softmax(forward_logit(inputs_embeds, attention_mask, token_type_ids), dim=-1)

    args = (mask, tt)
    res = {"ids": ids, "mask": mask, "tt": tt, "scores": {}, "methods": {}, "summary": {},
           "version": captum.__version__, "supported_methods": list(SUPPORTED_METHODS)}
    for m in IG_METHODS:
        steps_fn, alphas_fn = approximation_parameters(m)
        res["methods"][m] = {"alphas": alphas_fn(IG_STEPS), "step_sizes": steps_fn(IG_STEPS)}

    for score, fwd in (("prob", forward_prob), ("logit", forward_logit)):
        r = {}
        with torch.no_grad():
            r["F_input"] = fwd(emb, *args)[0, CAPTUM_TARGET]
            r["F_baseline"] = fwd(baseline, *args)[0, CAPTUM_TARGET]
        sal = Saliency(fwd).attribute(emb, target=CAPTUM_TARGET, abs=False, additional_forward_args=args)
        ixg = InputXGradient(fwd).attribute(emb, target=CAPTUM_TARGET, additional_forward_args=args)
        assert torch.allclose(ixg, sal * emb, rtol=0, atol=1e-7)
        r["grad_norm"] = sal[0].norm(dim=-1)
        r["grad_input"] = ixg[0].sum(dim=-1)
        ig = IntegratedGradients(fwd, multiply_by_inputs=True)
        for m in IG_METHODS:
            attr, delta = ig.attribute(emb, baselines=baseline, target=CAPTUM_TARGET, additional_forward_args=args,
                                       n_steps=IG_STEPS, method=m, internal_batch_size=IG_INTERNAL_BATCH_SIZE,
                                       return_convergence_delta=True)
            check_ig_formula(fwd, emb, args, res["methods"][m], attr)
            r[f"ig_{m}_sum"] = attr[0].sum(dim=-1)
            r[f"ig_{m}_delta"] = delta.reshape(1)
            if m == "gausslegendre":
                r[f"ig_{m}"] = attr[0]
            res["summary"][f"{score}/ig_{m}_delta"] = float(delta)
        res["summary"][f"{score}/F_input"] = float(r["F_input"])
        res["summary"][f"{score}/F_baseline"] = float(r["F_baseline"])
        res["scores"][score] = r
    return res


def check_ig_formula(fwd, emb, args, method: dict, attr) -> None:
    """The documented formula, without captum: attr = x * sum_k step_k * dF/dx(alpha_k * x) (baseline 0)."""
    total = torch.zeros_like(emb)
    for alpha, step in zip(method["alphas"], method["step_sizes"]):
        x = (alpha * emb).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(fwd(x, *args)[0, CAPTUM_TARGET], x)
        total += float(np.float32(step)) * g
    mine = total * emb
    err = float((mine - attr).abs().max() / attr.abs().max())
    assert err < 1e-5, f"captum IG differs from the documented formula by {err} (relative to max)"


CAPTUM_CALLS = {
    "forward_logit": "model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, "
                     "token_type_ids=token_type_ids).logits",
    "forward_prob": "torch.softmax(forward_logit(inputs_embeds, attention_mask, token_type_ids), dim=-1)",
    "inputs": "inputs_embeds = model.bert.embeddings.word_embeddings(input_ids) [1, T, H] (word embeddings only; "
              "position and token-type embeddings and the embedding LayerNorm are applied inside the model)",
    "saliency": f"Saliency(forward).attribute(inputs_embeds, target={CAPTUM_TARGET}, abs=False, "
                "additional_forward_args=(attention_mask, token_type_ids))",
    "input_x_gradient": f"InputXGradient(forward).attribute(inputs_embeds, target={CAPTUM_TARGET}, "
                        "additional_forward_args=(attention_mask, token_type_ids))",
    "integrated_gradients": f"IntegratedGradients(forward, multiply_by_inputs=True).attribute(inputs_embeds, "
                            f"baselines=torch.zeros_like(inputs_embeds), target={CAPTUM_TARGET}, "
                            "additional_forward_args=(attention_mask, token_type_ids), "
                            f"n_steps={IG_STEPS}, method=METHOD, internal_batch_size={IG_INTERNAL_BATCH_SIZE}, "
                            "return_convergence_delta=True)",
    "grad_norm": "saliency[0].norm(dim=-1): per-token L2 norm of the raw gradient (not normalised)",
    "grad_input": "input_x_gradient[0].sum(dim=-1): per-token sum over the hidden axis (not normalised)",
    "ig_METHOD_sum": "integrated_gradients[0].sum(dim=-1)",
    "ig_METHOD_delta": "captum's convergence delta: sum of all attributions - (F(input) - F(baseline))",
}


def write_captum(f, res: dict) -> None:
    c = group(f, "captum")
    set_attrs(c, captum_version=res["version"], text=BERT_TEXTS[0], target=CAPTUM_TARGET, target_label="positive",
              n_steps=IG_STEPS, ig_methods=list(IG_METHODS), baseline="zeros (all of inputs_embeds)",
              captum_supported_methods=res["supported_methods"], calls=CAPTUM_CALLS,
              scores={"prob": "softmax(logits)[0, target]: LIT's default score", "logit": "logits[0, target]"},
              riemann_note=("captum's riemann_trapezoid uses alphas linspace(0, 1, n) and step sizes 1/n with the "
                            "first and last halved, so the weights sum to 1 - 1/n (not 1); riemann_left / "
                            "riemann_right / riemann_middle use step 1/n at alphas linspace(0, 1-1/n, n) / "
                            "linspace(1/n, 1, n) / linspace(1/(2n), 1-1/(2n), n). gausslegendre: numpy "
                            "leggauss(n) mapped to [0, 1] (alpha = (1+x)/2, step = w/2). captum multiplies the "
                            "gradients by the step sizes as float32."))
    i64(c, "input_ids", res["ids"])
    i64(c, "attention_mask", res["mask"])
    i64(c, "token_type_ids", res["tt"])
    for m, d in res["methods"].items():
        g = group(c, f"ig_{m}")
        f64(g, "alphas", d["alphas"])
        f64(g, "step_sizes", d["step_sizes"])
    for score, r in res["scores"].items():
        g = group(c, score)
        for k in sorted(r):
            f32(g, k, r[k].reshape(-1) if r[k].dim() == 0 else r[k])
