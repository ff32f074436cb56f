"""BERT parity goldens: parity/bert_tiny_cls.h5 (classifier, with Captum) and parity/bert_tiny_mlm.h5 (masked LM).

Split out of make_parity_goldens.py (GOLDENS there maps the model names to bert_cls / bert_mlm).
"""
from __future__ import annotations

from pathlib import Path

import torch

from parity_captum import captum_goldens, write_captum
from parity_common import (BERT_TEXTS, MLM_MASKED_WORDS, MLM_TEXTS, MLM_TOPK, check_embeds_path, common_attrs,
                           eager_copy, encode, grad_wrt_embeds, pad_batch, run_forward, write_common)
from parity_h5 import f32, i64, set_attrs, write_h5


# =============================================================================================
# BERT inputs and classifier (its Captum attributions: parity_captum.py)

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
