"""LIT's LIME (citrus/lime.py, LIT's defaults) in PyTorch + numpy: bench_interpret.py's reference for `--method lime`."""
import numpy as np
import torch


def lit_lime(model, ids64, mask64, types64, mask_id: int) -> np.ndarray:
    """Token weights of one text ([1, T] ids, mask, types) for the predicted class: 256 samples of [MASK]ed
    tokens plus the unmasked text, kernel width 256 on 100 x cosine distance, ridge alpha 1 with intercept."""
    # LIT citrus/lime.py with LIT's LIME defaults (256 samples, kernel width 256, [MASK]).
    with torch.no_grad():
        logits = model(input_ids=ids64, attention_mask=mask64, token_type_ids=types64).logits
    target = int(logits.argmax(-1))
    positions = list(range(1, ids64.shape[1] - 1))  # [CLS]/[SEP] stay
    m = len(positions)
    rng = np.random.RandomState(0)
    perms = np.vectorize(rng.permutation, signature="(n)->(n)")(np.tile(np.arange(m), (257, 1)))
    masks = perms >= rng.randint(1, m + 1, (257, 1))
    masks[0] = True
    batch = ids64.repeat(257, 1)
    for r in range(257):
        for j, p in enumerate(positions):
            if not masks[r, j]:
                batch[r, p] = mask_id
    scores = []
    with torch.no_grad():
        for s in range(0, 257, 32):
            b = batch[s:s + 32]
            p = torch.softmax(model(input_ids=b, attention_mask=mask64.expand(b.shape[0], -1),
                                    token_type_ids=types64.expand(b.shape[0], -1)).logits, -1)
            scores.append(p[:, target])
    y = torch.cat(scores).double().numpy()
    x = masks.astype(np.float64)
    k = x.sum(1)
    d = 100 * (1 - k / (np.sqrt(m) * np.sqrt(np.maximum(k, 1e-300))))
    w = np.sqrt(np.exp(-(d ** 2) / 256 ** 2))
    xm, ym = np.average(x, 0, w), np.average(y, weights=w)
    xc, yc = x - xm, y - ym
    a = (xc * w[:, None]).T @ xc + np.eye(m)
    return np.linalg.solve(a, (xc * w[:, None]).T @ yc)
