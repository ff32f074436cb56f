"""Shared steps of the parity goldens: input texts, fixture-vocab tokenisation, eager model copies, forward + gradient.

Split out of make_parity_goldens.py, which re-exports these names (`mpg.encode`, `mpg.eager_copy`,
`mpg.check_against_fixture` ... are used by make_*_goldens.py).
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

import loupe_h5
from fixture_checks import check_identical, reference_state
from parity_h5 import f32, group, versions

# Inputs. Text 0 is the longer one, so text 1 carries the padding.
BERT_TEXTS = ["the movie was a charming and often affecting journey .", "bad ."]
# One [MASK] in each MLM text; the masked word is the gradient target at that position.
MLM_TEXTS = ["the movie was a [MASK] and often affecting journey .", "[MASK] ."]
MLM_MASKED_WORDS = ["charming", "bad"]
GPT2_TEXTS = ["The dog", "Hello world, this is a longer prompt"]
GPT2_SINGLE_PROMPT = "The dog"
MAX_NEW_TOKENS = 20
MLM_TOPK = 5


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
# Checks shared by the goldens

def check_embeds_path(model, inputs: dict, logits_ids: torch.Tensor, logits_emb: torch.Tensor) -> None:
    d = (logits_ids - logits_emb).abs().max().item()
    assert d <= 1e-5, f"inputs_embeds path differs from input_ids path by {d}"


def check_against_fixture(fm, h5_path: Path) -> None:
    """The rebuilt model's state dict must be bit-identical to the committed fixture's tensors."""
    stored = loupe_h5.validate(h5_path)
    ref = reference_state(fm, stored["config"], stored["attrs"]["architecture"])
    check_identical(h5_path, ref, stored["weights"])
