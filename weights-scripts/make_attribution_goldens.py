#!/usr/bin/env python3
"""Captum goldens of the noise and layer methods for bert_tiny_cls: Tests/Fixtures/parity/captum_{noise,layer}.h5.

    python weights-scripts/make_attribution_goldens.py [--out FILE] [--layer-out FILE]

Rebuilds bert_tiny_cls through make_goldens.BUILDERS (same seed; checked bit-identical to the committed fixture),
then runs Captum 0.9's NoiseTunnel (smoothgrad, smoothgrad_sq, vargrad over Saliency, InputXGradient and
IntegratedGradients) and GradientShap on text 0 of make_parity_goldens (target "positive", score prob (softmax of the logits),
attribution input = the word embeddings, as the other Captum goldens). Captum draws its randomness inside
(torch.normal for the noise, np.random.choice for the baselines, np.random.uniform for GradientShap's alphas);
this script records every draw while Captum makes it and stores the draws beside the attributions, so the Swift
tests replay exactly the same noisy inputs, baselines and path points. The layer file holds Captum's
LayerGradientXActivation, LayerIntegratedGradients, LayerConductance and NeuronIntegratedGradients (unit 5 at
[CLS]; 16 gausslegendre points, zero input baseline) for every
hidden state: the module bert.embeddings for 0, bert.encoder.layer[L − 1] for L. Layout: Tests/Fixtures/README.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_parity_goldens as mpg  # noqa: E402

OUT = mpg.PARITY_DIR / "captum_noise.h5"
LAYER_OUT = mpg.PARITY_DIR / "captum_layer.h5"
LAYER_IG_STEPS = 16
NEURON = 5            # NeuronIntegratedGradients: unit 5 of the layer's output at token 0 ([CLS])
SAMPLES = 4
NOISE = 0.15          # SmoothGrad's σ as a fraction of max − min of the input embeddings (Smilkov et al. §3)
SHAP_NOISE = 0.05     # GradientShap's input noise, same convention
IG_STEPS = 8          # gausslegendre points per noisy copy in NoiseTunnel(IntegratedGradients)
IG_SAMPLES = 2
SHAP_BASELINES = 3    # rows of GradientShap's baseline distribution


class Recorder:
    """Wraps torch.normal, np.random.choice and np.random.uniform; keeps what each call returned."""

    def __init__(self):
        self.normal, self.choice, self.uniform = [], [], []

    def __enter__(self):
        self._n, self._c, self._u = torch.normal, np.random.choice, np.random.uniform

        def normal(*a, **k):
            out = self._n(*a, **k)
            self.normal.append(out.detach().clone())
            return out

        def choice(*a, **k):
            out = self._c(*a, **k)
            self.choice.append(np.array(out))
            return out

        def uniform(*a, **k):
            out = self._u(*a, **k)
            self.uniform.append(np.array(out))
            return out

        torch.normal, np.random.choice, np.random.uniform = normal, choice, uniform
        return self

    def __exit__(self, *exc):
        torch.normal, np.random.choice, np.random.uniform = self._n, self._c, self._u


def goldens(model, inputs: dict) -> dict:
    from captum.attr import GradientShap, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency

    n = int(inputs["attention_mask"][0].sum())
    ids, mask, tt = (inputs[k][:1, :n] for k in ("input_ids", "attention_mask", "token_type_ids"))
    emb = mpg.word_embeddings(model)(ids).detach().clone()
    span = float(emb.max() - emb.min())
    sigma, shap_sigma = NOISE * span, SHAP_NOISE * span
    std = float(mpg.word_embeddings(model).weight.std(unbiased=False))
    g = torch.Generator().manual_seed(1)
    baselines = torch.cat([torch.zeros_like(emb)] + [torch.randn(emb.shape, generator=g) * std
                                                    for _ in range(SHAP_BASELINES - 1)])
    args = (mask, tt)

    def logit(e, m, t):
        return model(inputs_embeds=e, attention_mask=m, token_type_ids=t).logits

    def prob(e, m, t):
        return torch.softmax(logit(e, m, t), dim=-1)

    out = {"ids": ids, "sigma": sigma, "shap_sigma": shap_sigma, "span": span, "cases": {}}
    target = mpg.CAPTUM_TARGET
    for score, fwd in (("prob", prob),):  # LIT's default score (the logit path is the same code up to the softmax)
        bases = {"grad-norm": Saliency(fwd), "grad-input": InputXGradient(fwd), "ig": IntegratedGradients(fwd)}
        for base, method in bases.items():
            types = ("smoothgrad", "smoothgrad_sq", "vargrad") if base == "grad-input" else ("smoothgrad",)
            for nt in types:
                kw = {"abs": False} if base == "grad-norm" else {}
                samples = IG_SAMPLES if base == "ig" else SAMPLES
                if base == "ig":
                    kw = {"n_steps": IG_STEPS, "method": "gausslegendre", "baselines": torch.zeros_like(emb)}
                torch.manual_seed(0)
                with Recorder() as r:
                    attr = NoiseTunnel(method).attribute(emb, nt_type=nt, nt_samples=samples, stdevs=sigma,
                                                         target=target, additional_forward_args=args, **kw)
                assert len(r.normal) == 1 and r.normal[0].shape == (samples,) + emb.shape[1:]
                out["cases"][f"{score}/{base}/{nt}"] = {"noise": r.normal[0], "attributions": attr[0]}
        torch.manual_seed(0)
        np.random.seed(0)
        with Recorder() as r:
            attr = GradientShap(fwd).attribute(emb, baselines=baselines, n_samples=SAMPLES, stdevs=shap_sigma,
                                               target=target, additional_forward_args=args)
        assert len(r.normal) == 1 and len(r.choice) == 1 and len(r.uniform) == 1
        check_shap(fwd, emb, args, baselines, r, attr)
        out["cases"][f"{score}/gradient-shap/smoothgrad"] = {
            "noise": r.normal[0], "baselines": baselines[torch.tensor(r.choice[0])], "alphas": r.uniform[0],
            "attributions": attr[0]}
    return out


def layer_goldens(model, inputs: dict) -> dict:
    from captum.attr import (LayerConductance, LayerGradientXActivation, LayerIntegratedGradients,
                             NeuronIntegratedGradients)

    n = int(inputs["attention_mask"][0].sum())
    ids, mask, tt = (inputs[k][:1, :n] for k in ("input_ids", "attention_mask", "token_type_ids"))
    emb = mpg.word_embeddings(model)(ids).detach().clone()
    args = (mask, tt)

    def prob(e, m, t):
        return torch.softmax(model(inputs_embeds=e, attention_mask=m, token_type_ids=t).logits, dim=-1)

    out = {}
    for layer in range(model.config.num_hidden_layers + 1):
        module = model.bert.embeddings if layer == 0 else model.bert.encoder.layer[layer - 1]
        gxa = LayerGradientXActivation(prob, module).attribute(emb, target=mpg.CAPTUM_TARGET,
                                                               additional_forward_args=args)
        lig, delta = LayerIntegratedGradients(prob, module).attribute(
            emb, baselines=torch.zeros_like(emb), target=mpg.CAPTUM_TARGET, additional_forward_args=args,
            n_steps=LAYER_IG_STEPS, method="gausslegendre", return_convergence_delta=True)
        cond = LayerConductance(prob, module).attribute(
            emb, baselines=torch.zeros_like(emb), target=mpg.CAPTUM_TARGET, additional_forward_args=args,
            n_steps=LAYER_IG_STEPS, method="gausslegendre")
        neuron = NeuronIntegratedGradients(prob, module).attribute(
            emb, neuron_selector=(0, NEURON), baselines=torch.zeros_like(emb), additional_forward_args=args,
            n_steps=LAYER_IG_STEPS, method="gausslegendre")
        first = (lambda a: a[0] if isinstance(a, tuple) else a)
        out[f"prob/layer_{layer}"] = {"grad_x_activation": first(gxa)[0], "integrated_gradients": first(lig)[0],
                                      "ig_delta": delta.reshape(1), "conductance": first(cond)[0],
                                      f"neuron_{NEURON}_integrated_gradients": neuron[0]}
    return out


def deeplift_goldens(model, inputs: dict) -> dict:
    """Captum's DeepLift through a module that returns the probabilities; checked against the rescale rule by hand:
    the gradient with the pooler tanh's derivative replaced by its secant between baseline and input."""
    from captum.attr import DeepLift

    n = int(inputs["attention_mask"][0].sum())
    ids, mask, tt = (inputs[k][:1, :n] for k in ("input_ids", "attention_mask", "token_type_ids"))
    emb = mpg.word_embeddings(model)(ids).detach().clone()

    class Prob(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, e, m, t):
            return torch.softmax(self.m(inputs_embeds=e, attention_mask=m, token_type_ids=t).logits, dim=-1)

    wrapped = Prob(model)
    attr, delta = DeepLift(wrapped).attribute(emb, baselines=torch.zeros_like(emb), target=mpg.CAPTUM_TARGET,
                                              additional_forward_args=(mask, tt), return_convergence_delta=True)
    # By hand: z′ = the pooler's pre-activation on the baseline; tanh passes back (tanh z − tanh z′)/(z − z′).
    pooler = model.bert.pooler
    seen = {}
    hook = pooler.dense.register_forward_hook(lambda mod, i, o: seen.__setitem__("z", o.detach()))
    with torch.no_grad():
        wrapped(torch.zeros_like(emb), mask, tt)
    hook.remove()
    z0 = seen["z"]

    class Secant(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return torch.tanh(z)

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            d = z - z0
            slope = torch.where(d.abs() < 1e-10, 1 - torch.tanh(z) ** 2, (torch.tanh(z) - torch.tanh(z0)) / d)
            return g * slope

    activation = pooler.activation
    pooler.activation = type("SecantTanh", (torch.nn.Module,), {"forward": lambda self, z: Secant.apply(z)})()
    try:
        x = emb.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(wrapped(x, mask, tt)[0, mpg.CAPTUM_TARGET], x)
    finally:
        pooler.activation = activation
    err = float((g * emb - attr).abs().max() / attr.abs().max())
    assert err < 1e-5, f"captum DeepLift differs from the rescaled gradient by {err}"
    return {"prob/deeplift": {"attributions": attr[0], "delta": delta.reshape(1)}}


def write_layer(path: Path, cases: dict) -> None:
    import captum

    def fill(f):
        mpg.set_attrs(f, generated_by="weights-scripts/make_attribution_goldens.py", generated_with=mpg.versions(),
                      captum_version=captum.__version__, text=mpg.BERT_TEXTS[0], target=mpg.CAPTUM_TARGET,
                      ig_steps=LAYER_IG_STEPS, ig_method="gausslegendre", ig_baseline="zeros (inputs_embeds)",
                      modules="layer_0: bert.embeddings; layer_L: bert.encoder.layer[L - 1] (its output)",
                      neuron_selector=f"(0, {NEURON}): token 0 ([CLS]), unit {NEURON}",
                      deeplift="prob/deeplift: Captum DeepLift of softmax(logits) through an nn.Module wrapper, "
                               "baseline zeros: attributions [T, H], delta [1]",
                      cases="prob/layer_L: grad_x_activation, integrated_gradients, conductance [T, H] (to the layer), "
                            f"ig_delta [1], neuron_{NEURON}_integrated_gradients [T, H] (to the input embeddings); "
                            "conductance and neuron IG with the same 16 gausslegendre points and zero baseline")
        for name, case in cases.items():
            g = f.require_group(name)
            for k, v in case.items():
                mpg.f32(g, k, v)

    mpg.write_h5(path, fill)


def check_shap(fwd, emb, args, baselines, r, attr) -> None:
    """The documented formula, without captum: mean over samples of (x̃ − b)·∇F(b + α(x̃ − b))."""
    total = torch.zeros_like(emb)
    noisy = emb + r.normal[0]
    for s in range(noisy.shape[0]):
        x, b, a = noisy[s:s + 1], baselines[int(r.choice[0][s])].unsqueeze(0), float(r.uniform[0][s])
        a32 = torch.tensor(a, dtype=torch.float32)
        p = (a32 * x + (1 - a32) * b).requires_grad_(True)
        (grad,) = torch.autograd.grad(fwd(p, *args)[0, mpg.CAPTUM_TARGET], p)
        total += (x - b) * grad
    err = float(((total / noisy.shape[0]) - attr).abs().max() / attr.abs().max())
    assert err < 1e-5, f"captum GradientShap differs from the documented formula by {err}"


def write(path: Path, res: dict) -> None:
    import captum

    def fill(f):
        mpg.set_attrs(f, generated_by="weights-scripts/make_attribution_goldens.py", generated_with=mpg.versions(),
                      captum_version=captum.__version__, text=mpg.BERT_TEXTS[0], target=mpg.CAPTUM_TARGET,
                      target_label="positive", noise=NOISE, shap_noise=SHAP_NOISE, ig_steps=IG_STEPS,
                      ig_method="gausslegendre", ig_baseline="zeros",
                      cases="SCORE/BASE/NT_TYPE: noise [S, T, H] (x + noise[s] is copy s), attributions [T, H] "
                            "(Captum's result for the batch of one); gradient-shap also baselines [S, T, H] (the "
                            "row drawn for each sample) and alphas [S] (float32, as Captum uses them)")
        mpg.i64(f, "input_ids", res["ids"])
        mpg.f32(f, "sigma", np.array([res["sigma"]], dtype=np.float32))
        mpg.f32(f, "shap_sigma", np.array([res["shap_sigma"]], dtype=np.float32))
        for name, case in res["cases"].items():
            g = f.require_group(name)
            for k, v in case.items():
                mpg.f32(g, k, v)  # alphas too: Captum casts its float64 draws to the input's float32

    mpg.write_h5(path, fill)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--layer-out", default=str(LAYER_OUT))
    args = p.parse_args(argv)
    import make_goldens
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory(prefix="loupe-attr-") as tmp:
        fm = make_goldens.BUILDERS["bert_tiny_cls"](Path(tmp))
        h5 = make_goldens.FIXTURES / "bert_tiny_cls.h5"
        mpg.check_against_fixture(fm, h5)
        model = mpg.eager_copy(fm)
        inputs = mpg.bert_inputs(fm, h5, mpg.BERT_TEXTS)
        res = goldens(model, inputs)
        layers = layer_goldens(model, inputs)
        layers.update(deeplift_goldens(model, inputs))
    write(Path(args.out), res)
    write_layer(Path(args.layer_out), layers)
    print(f"{args.layer_out}: {Path(args.layer_out).stat().st_size:,} bytes, {len(layers)} groups")
    print(f"{args.out}: {Path(args.out).stat().st_size:,} bytes, {len(res['cases'])} cases, sigma {res['sigma']:.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
