"""How fast grad x input and IG(32) could be on this machine: their dense products alone at MKL's rate.

    python Benchmarks/probes/explain_floor.py [--runs 20] [--ig-runs 2] [--no-ig]

Issue 18 asks for grad x input on BERT-base 1 x 128 in <= 0.6x one hand-written PyTorch forward + backward doing
the same work, and IG at 32 points in <= 0.5x Captum's. Both passes are mostly matrix products, so a floor for
them is the time of their dense products alone: one torch matmul per Linear of Loupe's pass (the last layer pruned
to [CLS]: its keys and values over every row, the rest over one row; the input-gradient backward repeats each
product as dY . W), on MKL (PyTorch's BLAS, here as fast as OpenBLAS in Loupe's pool at 128 rows and faster at
4,096), same threads, outputs preallocated.
Attention's products, softmax, GELU, layer norms, biases and residuals are not timed (MKL runs attention's small
batched products far below its rate, so they would make no floor): the floor is below what any pass can take.
PyTorch's same-work pass and Captum's IG are measured in the same process, right before the products; Loupe's
times come from bench_interpret.py (`loupe explain` in processes of its own, alternating with PyTorch).
"""
import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import bench_interpret as bi  # noqa: E402  (its `setup`, `text_of_length` and `timed`)

HIDDEN, FFN, LAYERS, TOKENS = 768, 3072, 12, 128  # BERT-base


def dense_shapes(batch: int) -> list:
    """(rows, out, in) of every Linear in Loupe's forward of `batch` sequences; the last layer is pruned to [CLS]."""
    rows, cls = batch * TOKENS, batch
    shapes = []
    for layer in range(LAYERS):
        if layer < LAYERS - 1:
            shapes += [(rows, 3 * HIDDEN, HIDDEN), (rows, HIDDEN, HIDDEN), (rows, FFN, HIDDEN), (rows, HIDDEN, FFN)]
        else:  # keys and values over every row; query, output and feed-forward for [CLS] only
            shapes += [(rows, 2 * HIDDEN, HIDDEN), (cls, HIDDEN, HIDDEN), (cls, HIDDEN, HIDDEN),
                       (cls, FFN, HIDDEN), (cls, HIDDEN, FFN)]
    return shapes


def products_seconds(torch, batch: int, runs: int) -> tuple:
    """Median seconds and GFLOP of the forward products (X . W^T) and the input-gradient ones (dY . W)."""
    work = []
    for rows, out, inp in dense_shapes(batch):
        w = torch.randn(out, inp)
        work.append((torch.randn(rows, inp), w.t(), torch.empty(rows, out)))  # forward: [rows, in] . [in, out]
        work.append((torch.randn(rows, out), w, torch.empty(rows, inp)))  # backward: [rows, out] . [out, in]
    gflop = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in work) / 1e9

    def once():
        for a, b, c in work:
            torch.mm(a, b, out=c)
    return bi.timed(once, runs), gflop


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "loupe-bench-interp"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20, help="timed grad x input passes per side (after one warm-up)")
    ap.add_argument("--ig-runs", type=int, default=2, help="timed IG(32) explanations per side")
    ap.add_argument("--no-ig", action="store_true")
    args = ap.parse_args(argv)

    import torch
    from captum.attr import IntegratedGradients
    from transformers import BertForSequenceClassification, BertTokenizerFast
    torch.set_num_threads(args.threads)
    paths = bi.setup(Path(args.workdir))
    model = BertForSequenceClassification.from_pretrained(paths["base_hf"]).eval()
    model.requires_grad_(False)  # the same work as Loupe: gradients for the input embeddings only
    tok = BertTokenizerFast.from_pretrained(paths["base_hf"])
    text = bi.text_of_length(tok, TOKENS)
    enc = tok(text, return_tensors="pt")
    ids, mask, types = enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]
    embed = model.bert.embeddings.word_embeddings

    def prob(e, m=mask, t=types):
        return torch.softmax(model(inputs_embeds=e, attention_mask=m, token_type_ids=t).logits, dim=-1)

    def one_pass():  # bench_interpret's `grad-input-1pass`
        e = embed(ids).detach().requires_grad_(True)
        p = prob(e)
        (g,) = torch.autograd.grad(p[0, int(p[0].argmax())], e)
        return (g * e).sum(-1)

    rows = []
    torch_gi = bi.timed(one_pass, args.runs)
    floor_gi, gflop_gi = products_seconds(torch, 1, args.runs)
    rows.append(("grad x input, 1 x 128", "PyTorch same-work pass", torch_gi, 0.6, floor_gi, gflop_gi))
    if not args.no_ig:
        ig = IntegratedGradients(prob)
        e = embed(ids).detach()
        with torch.no_grad():
            target = int(prob(e)[0].argmax())
        torch_ig = bi.timed(lambda: ig.attribute(e, baselines=torch.zeros_like(e), target=target, n_steps=32),
                         args.ig_runs)
        floor_ig, gflop_ig = products_seconds(torch, 32, max(2, args.ig_runs))
        rows.append(("IG, 32 points", "Captum IntegratedGradients", torch_ig, 0.5, floor_ig, gflop_ig))

    print(f"{args.threads} threads, torch {torch.__version__} ({torch.backends.mkl.is_available() and 'MKL'}), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| pass | reference | reference s | goal s | dense products alone on MKL | floor / reference |")
    print("|---|---|---|---|---|---|")
    for name, ref, ref_s, goal, floor_s, gflop in rows:
        print(f"| {name} | {ref} | {ref_s:.3f} | {goal * ref_s:.3f} ({goal}x) | {floor_s:.3f} s ({gflop:.1f} GFLOP, "
              f"{gflop / floor_s:.0f} GFLOP/s) | {floor_s / ref_s:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
