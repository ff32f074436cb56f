"""GPT-2 parity golden parity/gpt2_tiny.h5: left-padded batch, logits, gradients and greedy generations.

Split out of make_parity_goldens.py (GOLDENS there maps gpt2_tiny to gpt2).
"""
from __future__ import annotations

from pathlib import Path

import torch

from parity_common import (GPT2_SINGLE_PROMPT, GPT2_TEXTS, MAX_NEW_TOKENS, check_embeds_path, common_attrs,
                           eager_copy, encode, fixture_tokenizer, grad_wrt_embeds, pad_batch, run_forward,
                           write_common)
from parity_h5 import f32, group, i64, set_attrs, write_h5


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
