#!/usr/bin/env python3
"""Parity goldens for the tiny fixture models: Tests/Fixtures/parity/<model>.h5 (re-runnable, deterministic).

    python weights-scripts/make_parity_goldens.py [--out DIR] [--keep-work DIR]

Rebuilds bert_tiny_cls, bert_tiny_mlm and gpt2_tiny through make_goldens.BUILDERS (same seeds), checks that each
state dict is bit-identical to the committed Tests/Fixtures/<model>.h5, then runs the models with transformers
(eval mode, float32, eager attention, one thread) on a batch of two texts of different lengths and stores what
the Swift parity tests compare: inputs, logits, hidden states, attention probabilities, the gradient of chosen
logits with respect to the input (word) embeddings, GPT-2 greedy generations, and Captum attributions
(saliency / gradient norm, input x gradient, integrated gradients) for bert_tiny_cls.
make_goldens.py calls write_parity_goldens() with the models it has just built; this script can also be run
alone. Layout and targets: Tests/Fixtures/README.md, section "parity/".

Files are byte-identical across runs on the same machine with the pinned versions (datasets written with
track_times=False, no timestamps anywhere, fixed attribute order). Float values may differ in the last ulps
on another CPU (BLAS kernels), which is far below the parity tolerances.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import loupe_h5  # noqa: E402

PARITY_DIR = HERE.parent / "Tests" / "Fixtures" / "parity"
MODELS = ("bert_tiny_cls", "bert_tiny_mlm", "gpt2_tiny")
SIZE_BUDGET = 2_500_000  # bytes, all of parity/
LIBVER = ("earliest", "v110")  # as convert.py: readable by HDF5 >= 1.10

# Inputs. Text 0 is the longer one, so text 1 carries the padding.
BERT_TEXTS = ["the movie was a charming and often affecting journey .", "bad ."]
# One [MASK] in each MLM text; the masked word is the gradient target at that position.
MLM_TEXTS = ["the movie was a [MASK] and often affecting journey .", "[MASK] ."]
MLM_MASKED_WORDS = ["charming", "bad"]
GPT2_TEXTS = ["The dog", "Hello world, this is a longer prompt"]
GPT2_SINGLE_PROMPT = "The dog"
MAX_NEW_TOKENS = 20
MLM_TOPK = 5

# Captum (bert_tiny_cls, text 0 alone, no padding).
CAPTUM_TARGET = 1          # class "positive"
IG_STEPS = 32
IG_METHODS = ("gausslegendre", "riemann_trapezoid")
IG_INTERNAL_BATCH_SIZE = None  # all 32 scaled inputs in one forward/backward


# =============================================================================================
# HDF5 writing (deterministic)

def _ds(group, name: str, value, dtype) -> None:
    a = np.ascontiguousarray(np.asarray(value, dtype=dtype))
    group.create_dataset(name, data=a, dtype=a.dtype, track_times=False)


def f32(group, name: str, t) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().to(torch.float32).cpu().numpy()
    _ds(group, name, t, "<f4")


def i64(group, name: str, t) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    _ds(group, name, t, "<i8")


def f64(group, name: str, values) -> None:
    _ds(group, name, values, "<f8")


def group(parent, name: str):
    return parent.create_group(name, track_order=False)


def set_attrs(obj, **attrs) -> None:
    for k, v in attrs.items():
        if isinstance(v, str):
            loupe_h5.set_str(obj, k, v)
        elif isinstance(v, (bool, np.bool_)):
            loupe_h5.set_i8(obj, k, bool(v))
        elif isinstance(v, (int, np.integer)):
            loupe_h5.set_i64(obj, k, int(v))
        else:
            loupe_h5.set_str(obj, k, json.dumps(v, ensure_ascii=False))


def write_h5(path: Path, fill) -> None:
    """fill(f) writes the content; written to a temp file in the same directory, then os.replace'd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    with h5py.File(tmp, "w", libver=LIBVER, track_order=False) as f:
        fill(f)
    os.replace(tmp, path)


def versions() -> dict:
    import tokenizers
    import transformers
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
           "h5py": h5py.__version__, "numpy": np.__version__}
    try:
        import captum
        out["captum"] = captum.__version__
    except ImportError:
        pass
    return out


# =============================================================================================
# Tokenizers built from the fixture file's own vocab (and cross-checked against the HF tokenizer)

def fixture_tokenizer(fm, h5_path: Path):
    """A `tokenizers` tokenizer made from the vocab (and merges) stored in the fixture .h5."""
    tok = loupe_h5.read(h5_path)["tokenizer"]
    if tok["type"] == "wordpiece":
        from tokenizers import BertWordPieceTokenizer
        t = BertWordPieceTokenizer({s: i for i, s in enumerate(tok["vocab"])}, lowercase=bool(tok["do_lower_case"]),
                                   strip_accents=None, handle_chinese_chars=bool(tok["tokenize_chinese_chars"]))
    else:
        from tokenizers import ByteLevelBPETokenizer
        merges = [tuple(m.split(" ")) for m in tok["merges"]]
        t = ByteLevelBPETokenizer({s: i for i, s in enumerate(tok["vocab"])}, merges,
                                  add_prefix_space=bool(tok["add_prefix_space"]))
    return t


def encode(fm, h5_path: Path, texts: list, add_special_tokens: bool) -> list:
    """Ids of each text from the fixture's vocab; asserts the HF tokenizer of the model gives the same ids."""
    t = fixture_tokenizer(fm, h5_path)
    out = []
    for s in texts:
        ids = t.encode(s, add_special_tokens=add_special_tokens).ids
        hf = fm.tokenizer(s, add_special_tokens=add_special_tokens)["input_ids"]
        assert ids == hf, (s, ids, hf)
        out.append(ids)
    return out


def pad_batch(seqs: list, pad_id: int, side: str):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        if side == "right":
            ids[b, :len(s)] = torch.tensor(s)
            mask[b, :len(s)] = 1
        else:
            ids[b, T - len(s):] = torch.tensor(s)
            mask[b, T - len(s):] = 1
    return ids, mask


# =============================================================================================
# Forward / gradient

def eager_copy(fm) -> torch.nn.Module:
    """A copy of the fixture model with eager attention (attention probabilities returned); fm.model untouched."""
    m = copy.deepcopy(fm.model)
    m.set_attn_implementation("eager")
    m.eval()
    assert m.config._attn_implementation == "eager"
    for p in m.parameters():
        assert p.dtype == torch.float32
        p.requires_grad_(False)
    return m


def word_embeddings(model) -> torch.nn.Embedding:
    return model.get_input_embeddings()


def run_forward(model, inputs: dict) -> dict:
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True, return_dict=True)
    return {"logits": out.logits, "hidden_states": out.hidden_states, "attentions": out.attentions}


def grad_wrt_embeds(model, inputs: dict, select) -> tuple:
    """inputs_embeds = word_embeddings(input_ids) as a leaf; scalar = select(logits); returns (grad, logits)."""
    ids = inputs["input_ids"]
    emb = word_embeddings(model)(ids).detach().clone().requires_grad_(True)
    kw = {k: v for k, v in inputs.items() if k != "input_ids"}
    logits = model(inputs_embeds=emb, **kw, return_dict=True).logits
    score = select(logits)
    (grad,) = torch.autograd.grad(score, emb)
    return grad, logits.detach()


def write_common(f, fwd: dict, grad: torch.Tensor) -> None:
    hs = group(f, "hidden_states")
    for i, h in enumerate(fwd["hidden_states"]):
        f32(hs, str(i), h)
    at = group(f, "attentions")
    for i, a in enumerate(fwd["attentions"]):
        f32(at, str(i), a)
    f32(f, "grad_inputs_embeds", grad)


def common_attrs(fm, texts: list, kind: str) -> dict:
    cfg = fm.model.config
    return {
        "model": f"{fm.name}.h5", "model_class": type(fm.model).__name__, "kind": kind,
        "texts": texts, "text_0": texts[0], "text_1": texts[1],
        "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
        "attn_implementation": "eager", "dtype": "float32", "mode": "eval (no dropout)",
        "generated_by": "weights-scripts/make_parity_goldens.py", "generated_with": versions(),
    }


# =============================================================================================
# BERT classifier + Captum

def bert_inputs(fm, h5_path: Path, texts: list):
    seqs = encode(fm, h5_path, texts, add_special_tokens=True)
    pad_id = fm.tokenizer.pad_token_id
    assert pad_id == 0
    ids, mask = pad_batch(seqs, pad_id, "right")
    tt = torch.zeros_like(ids)
    assert len(seqs[0]) > len(seqs[1])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}


def check_bert_hidden_states(model, inputs: dict, fwd: dict) -> None:
    """hidden_states/0 is the embedding output LayerNorm(word + position + token type); L+1 tensors."""
    with torch.no_grad():
        e = model.bert.embeddings(input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"])
    assert len(fwd["hidden_states"]) == model.config.num_hidden_layers + 1
    assert torch.equal(e, fwd["hidden_states"][0])


def check_embeds_path(model, inputs: dict, logits_ids: torch.Tensor, logits_emb: torch.Tensor) -> None:
    d = (logits_ids - logits_emb).abs().max().item()
    assert d <= 1e-5, f"inputs_embeds path differs from input_ids path by {d}"


def bert_cls(fm, h5_path: Path, out: Path) -> dict:
    model = eager_copy(fm)
    inputs = bert_inputs(fm, h5_path, BERT_TEXTS)
    fwd = run_forward(model, inputs)
    check_bert_hidden_states(model, inputs, fwd)
    targets = [1, 0]  # row 0 -> class 1 ("positive"), row 1 -> class 0 ("negative")
    grad, logits_emb = grad_wrt_embeds(model, inputs, lambda lg: lg[0, targets[0]] + lg[1, targets[1]])
    check_embeds_path(model, inputs, fwd["logits"], logits_emb)
    captum_res = captum_goldens(model, inputs)

    def fill(f):
        set_attrs(f, **common_attrs(fm, BERT_TEXTS, "sequence-classification"), padding_side="right",
                  pad_token="[PAD]", labels=["negative", "positive"],
                  grad_target=("score = logits[0, 1] + logits[1, 0] (class 1 'positive' for text 0, class 0 "
                               "'negative' for text 1); rows are independent, so grad_inputs_embeds[b] is the "
                               "gradient of logits[b, grad_target_ids[b]] alone"))
        i64(f, "input_ids", inputs["input_ids"])
        i64(f, "attention_mask", inputs["attention_mask"])
        i64(f, "token_type_ids", inputs["token_type_ids"])
        f32(f, "logits", fwd["logits"])
        write_common(f, fwd, grad)
        i64(f, "grad_target_ids", targets)
        i64(f, "grad_target_positions", [0, 0])  # unused for a classifier: one logit row per text
        f32(f, "grad_target_logits", [fwd["logits"][0, targets[0]], fwd["logits"][1, targets[1]]])
        write_captum(f, captum_res)

    write_h5(out, fill)
    return {"T": inputs["input_ids"].shape[1], "logits": fwd["logits"].tolist(), "captum": captum_res["summary"]}


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


# =============================================================================================
# BERT masked LM

def bert_mlm(fm, h5_path: Path, out: Path) -> dict:
    model = eager_copy(fm)
    inputs = bert_inputs(fm, h5_path, MLM_TEXTS)
    ids = inputs["input_ids"]
    mask_id = fm.tokenizer.mask_token_id
    pos = [int((ids[b] == mask_id).nonzero().reshape(-1)[0]) for b in range(2)]
    for b in range(2):
        assert int((ids[b] == mask_id).sum()) == 1
    target_ids = []
    for w in MLM_MASKED_WORDS:
        (tid,) = encode(fm, h5_path, [w], add_special_tokens=False)[0]  # a single word piece
        target_ids.append(tid)
    fwd = run_forward(model, inputs)
    check_bert_hidden_states(model, inputs, fwd)
    grad, logits_emb = grad_wrt_embeds(
        model, inputs, lambda lg: lg[0, pos[0], target_ids[0]] + lg[1, pos[1], target_ids[1]])
    check_embeds_path(model, inputs, fwd["logits"], logits_emb)
    logits = fwd["logits"]
    top = torch.topk(logits, MLM_TOPK, dim=-1)
    # The 5th and 6th logits of each position must be further apart than the 1e-4 logits tolerance, so a
    # runtime within tolerance has the same top-5 set.
    six = torch.topk(logits, MLM_TOPK + 1, dim=-1).values
    gap = float((six[..., MLM_TOPK - 1] - six[..., MLM_TOPK]).min())
    assert gap > 2e-4, gap

    def fill(f):
        set_attrs(f, **common_attrs(fm, MLM_TEXTS, "masked-lm"), padding_side="right", pad_token="[PAD]",
                  masked_words=MLM_MASKED_WORDS,
                  grad_target=("score = logits[0, p0, id('charming')] + logits[1, p1, id('bad')] at the [MASK] "
                               "positions p = mask_positions (the masked-out words); rows are independent, so "
                               "grad_inputs_embeds[b] is the gradient of row b's term alone"),
                  logits_note=(f"full logits are [2, T, V] (too big): logits_at_mask[b] = logits[b, "
                               f"mask_positions[b], :]; top{MLM_TOPK}_ids / top{MLM_TOPK}_logits = torch.topk over "
                               "the vocab at every position (pad positions included), descending. Compare your "
                               "logits gathered at top5_ids with top5_logits. Smallest gap between the 5th and 6th "
                               f"logit over all positions: {gap:.4g}"))
        i64(f, "input_ids", ids)
        i64(f, "attention_mask", inputs["attention_mask"])
        i64(f, "token_type_ids", inputs["token_type_ids"])
        i64(f, "mask_positions", pos)
        f32(f, "logits_at_mask", torch.stack([logits[b, pos[b]] for b in range(2)]))
        i64(f, f"top{MLM_TOPK}_ids", top.indices)
        f32(f, f"top{MLM_TOPK}_logits", top.values)
        write_common(f, fwd, grad)
        i64(f, "grad_target_ids", target_ids)
        i64(f, "grad_target_positions", pos)
        f32(f, "grad_target_logits", [logits[b, pos[b], target_ids[b]] for b in range(2)])

    write_h5(out, fill)
    return {"T": ids.shape[1], "mask_positions": pos, "target_ids": target_ids, "top5_gap": gap,
            "argmax_at_mask": [int(logits[b, pos[b]].argmax()) for b in range(2)]}


# =============================================================================================
# GPT-2

def gpt2_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """As transformers' GenerationMixin._prepare_position_ids_for_generation (5.x): cumsum - 1, pads -> 0."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 0)


def greedy(model, ids, mask, eos: int) -> tuple:
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                         num_beams=1, pad_token_id=eos, return_dict_in_generate=True, output_scores=True)
    seq = out.sequences
    # Top-1 minus top-2 score at each generated step (rows still running): greedy ids are robust to tiny
    # numerical differences only if this is not tiny.
    margins = []
    for s in out.scores:
        v = torch.topk(s, 2, dim=-1).values
        margins.append(v[:, 0] - v[:, 1])
    return seq, torch.stack(margins, dim=1)


def gpt2(fm, h5_path: Path, out: Path) -> dict:
    model = eager_copy(fm)
    eos = fm.model.config.eos_token_id
    seqs = encode(fm, h5_path, GPT2_TEXTS, add_special_tokens=False)
    assert len(seqs[0]) < len(seqs[1])
    ids, mask = pad_batch(seqs, eos, "left")
    pos = gpt2_position_ids(mask)
    inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": pos}
    fwd = run_forward(model, inputs)
    last = fwd["logits"][:, -1, :]
    # hidden_states/0 = wte + wpe; the last one has ln_f applied (the logits are it times wte^T).
    hs = fwd["hidden_states"]
    tr = model.transformer
    assert len(hs) == model.config.n_layer + 1
    with torch.no_grad():
        assert torch.allclose(hs[0], tr.wte(ids) + tr.wpe(pos), rtol=0, atol=1e-6)
        assert torch.allclose(hs[-1] @ tr.wte.weight.T, fwd["logits"], rtol=0, atol=1e-5)
    targets = [int(last[b].argmax()) for b in range(2)]
    grad, logits_emb = grad_wrt_embeds(model, inputs, lambda lg: lg[0, -1, targets[0]] + lg[1, -1, targets[1]])
    check_embeds_path(model, inputs, fwd["logits"], logits_emb)

    # Greedy generation: single prompt (batch 1, no padding) and the left-padded batch of 2.
    (single,) = encode(fm, h5_path, [GPT2_SINGLE_PROMPT], add_special_tokens=False)
    s_ids = torch.tensor([single])
    s_seq, s_margin = greedy(model, s_ids, torch.ones_like(s_ids), eos)
    b_seq, b_margin = greedy(model, ids, mask, eos)
    # The default (sdpa) model must generate the same ids.
    for x, m, want in ((s_ids, torch.ones_like(s_ids), s_seq), (ids, mask, b_seq)):
        got = fm.model.generate(input_ids=x, attention_mask=m, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                num_beams=1, pad_token_id=eos)
        assert torch.equal(got, want), (got, want)
    for seq, n_prompt in ((s_seq, s_ids.shape[1]), (b_seq, ids.shape[1])):
        assert seq.shape[1] == n_prompt + MAX_NEW_TOKENS, seq.shape  # no early stop at <|endoftext|>
        assert seq[:, n_prompt:].numel() > 0
    eos_generated = bool((s_seq[:, 1:] == eos).any() or (b_seq[:, ids.shape[1]:] == eos).any())
    min_margin = float(min(s_margin.min(), b_margin.min()))
    assert min_margin > 1e-3, f"greedy step with a near-tie (margin {min_margin}); pick other prompts"
    dec = fixture_tokenizer(fm, h5_path)
    texts_out = {"single": dec.decode(s_seq[0].tolist()), "batch": [dec.decode(r[int((mask[b] == 0).sum()):].tolist()) for b, r in enumerate(b_seq)]}
    row0_same = bool(torch.equal(b_seq[0, -(len(seqs[0]) + MAX_NEW_TOKENS):], s_seq[0]))

    def fill(f):
        set_attrs(f, **common_attrs(fm, GPT2_TEXTS, "causal-lm"), padding_side="left",
                  pad_token="<|endoftext|>", pad_token_id=eos,
                  position_ids_rule=("position_ids = attention_mask.cumsum(-1) - 1, then 0 where attention_mask "
                                     "is 0 (transformers 5.x GenerationMixin._prepare_position_ids_for_generation);"
                                     " passed explicitly to the forward"),
                  masked_rows_note=("attentions at query rows of pad positions (attention_mask 0) are fully "
                                    "masked: every key gets the additive mask torch.finfo(float32).min, and HF's "
                                    "eager softmax then returns what is stored (uniform 1/T over all T keys); "
                                    "hidden_states at pad positions follow from that. Rows/positions with "
                                    "attention_mask 1 never attend to pad keys (probability exactly 0). A runtime "
                                    "that handles pad rows differently should compare only positions with "
                                    "attention_mask 1"),
                  hidden_states_note=("hidden_states/0 = wte + wpe; hidden_states/1 = output of block 0; the last "
                                      "one (hidden_states/L) is ln_f(output of the last block), as HF returns it"),
                  grad_target=("score = logits[0, T-1, grad_target_ids[0]] + logits[1, T-1, grad_target_ids[1]] "
                               "(the greedy next token of each text, at the last position); rows are independent, "
                               "so grad_inputs_embeds[b] is the gradient of row b's term alone"),
                  logits_note="full logits [2, T, V] are not stored (size); logits_last = logits[:, T-1, :]")
        i64(f, "input_ids", ids)
        i64(f, "attention_mask", mask)
        i64(f, "position_ids", pos)
        f32(f, "logits_last", last)
        write_common(f, fwd, grad)
        i64(f, "grad_target_ids", targets)
        i64(f, "grad_target_positions", [ids.shape[1] - 1] * 2)
        f32(f, "grad_target_logits", [last[b, targets[b]] for b in range(2)])
        g = group(f, "generate")
        set_attrs(g, call=(f"model.generate(input_ids, attention_mask, max_new_tokens={MAX_NEW_TOKENS}, "
                           f"do_sample=False, num_beams=1, pad_token_id={eos})"),
                  single_prompt=GPT2_SINGLE_PROMPT, batch_prompts=GPT2_TEXTS,
                  batch_note=("batch: the left-padded input_ids / attention_mask of this file; generate derives "
                              "position_ids the same way (cumsum - 1, pads 0) at every step"),
                  eos_generated=eos_generated, min_greedy_margin=min_margin,
                  batch_row0_equals_single=row0_same,
                  single_text=texts_out["single"], batch_texts=texts_out["batch"])
        i64(g, "single_input_ids", s_ids)
        i64(g, "single_ids", s_seq)
        i64(g, "batch_ids", b_seq)

    write_h5(out, fill)
    return {"T": ids.shape[1], "targets": targets, "single_ids": s_seq[0].tolist(), "batch_ids": b_seq.tolist(),
            "min_margin": min_margin, "eos_generated": eos_generated, "batch_row0_equals_single": row0_same,
            "texts": texts_out}


GOLDENS = {"bert_tiny_cls": bert_cls, "bert_tiny_mlm": bert_mlm, "gpt2_tiny": gpt2}


# =============================================================================================

def check_against_fixture(fm, h5_path: Path) -> None:
    """The rebuilt model's state dict must be bit-identical to the committed fixture's tensors."""
    import make_goldens
    stored = loupe_h5.validate(h5_path)
    ref = make_goldens.reference_state(fm, stored["config"], stored["attrs"]["architecture"])
    make_goldens.check_identical(h5_path, ref, stored["weights"])


def write_parity_goldens(fixtures: list, out_dir: Path = PARITY_DIR, fixtures_dir: Path | None = None) -> dict:
    """Writes out_dir/<name>.h5 for the FixtureModels in `fixtures` named in MODELS. Returns a summary."""
    fixtures_dir = fixtures_dir or out_dir.parent
    by_name = {fm.name: fm for fm in fixtures}
    missing = [n for n in MODELS if n not in by_name]
    assert not missing, f"fixture models not built: {missing}"
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    summary = {}
    try:
        for name in MODELS:
            fm = by_name[name]
            h5_path = fixtures_dir / f"{name}.h5"
            check_against_fixture(fm, h5_path)
            torch.manual_seed(0)
            summary[name] = GOLDENS[name](fm, h5_path, out_dir / f"{name}.h5")
            print(f"  parity/{name}.h5: {(out_dir / f'{name}.h5').stat().st_size:,} bytes  {summary[name]}")
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    print(f"  parity/ total {total:,} bytes")
    if total > SIZE_BUDGET:
        raise AssertionError(f"parity/ is {total:,} bytes, over the {SIZE_BUDGET:,} budget")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=str(PARITY_DIR), help="output directory (default: Tests/Fixtures/parity)")
    p.add_argument("--keep-work", help="build the HF directories here instead of a temp dir")
    args = p.parse_args(argv)
    import make_goldens
    if not (make_goldens.SHARED / "vocab" / "bert-base-uncased-vocab.txt").is_file():
        print(f"make_parity_goldens.py: error: shared data not found at {make_goldens.SHARED} "
              "(set LOUPE_DATA_DIR)", file=sys.stderr)
        return 1
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory(prefix="loupe-parity-") as tmp:
        workdir = Path(args.keep_work or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        built = []
        for name in MODELS:
            print(f"[{name}]")
            built.append(make_goldens.BUILDERS[name](workdir))
        print("[parity]")
        write_parity_goldens(built, Path(args.out), make_goldens.FIXTURES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
