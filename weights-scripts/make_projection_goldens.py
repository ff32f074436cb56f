#!/usr/bin/env python3
"""Writes the projection golden: scikit-learn PCA and umap-learn UMAP of the MiniLM SST-2 dev embeddings.

Re-runnable by anyone (no network, no model: it reads the committed embeddings):
    python3 -m venv /tmp/venv-project
    /tmp/venv-project/bin/pip install numpy scikit-learn umap-learn h5py
    /tmp/venv-project/bin/python weights-scripts/make_projection_goldens.py
Written with numpy 2.4.6, scikit-learn 1.9.1, scipy 1.17.1, umap-learn 0.5.12, numba 0.68.1.

Input: Tests/Fixtures/minilm_sst2_dev_embeddings.h5 `embeddings` [872, 384] float32 (all-MiniLM-L6-v2,
mean-pooled and L2-normalised; weights-scripts/make_minilm_goldens.py).

Output: Tests/Fixtures/projection_golden.json with
- `pca`: sklearn.decomposition.PCA(svd_solver="full") (exact; "auto" would pick the randomized solver
  here): `explained_variance_ratio` of the first 10 components and the coordinates of every point on
  the first 3 (`coordinates`, [872][3]). Signs follow sklearn's `svd_flip(u_based_decision=False)`,
  which PCA uses since scikit-learn 1.5: each component's largest-magnitude entry is positive. The
  script re-applies that rule explicitly so that the golden does not depend on the sklearn version.
- `umap`: umap.UMAP(n_neighbors=15, min_dist=0.1, n_components=2, metric="euclidean", init="spectral",
  n_epochs=None (500 here), random_state=seed) for seeds 0, 1, 2: sklearn.manifold.trustworthiness
  (n_neighbors=5, Euclidean) of each 2-D embedding, their mean, and the wall time of one fit (after a
  warm-up fit that compiles numba's functions; random_state makes umap-learn single-threaded).
  Also `find_ab_params(1.0, min_dist)` for min_dist 0.1 and 0.5 (umap-learn's curve fit of a, b).
- `pca_trustworthiness`: trustworthiness of the 2-D PCA projection, for context.
"""
import json
import time
from pathlib import Path

import h5py
import numpy as np
import sklearn
import umap
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from umap.umap_ import find_ab_params

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "Fixtures"
SEEDS = [0, 1, 2]


def main():
    with h5py.File(FIXTURES / "minilm_sst2_dev_embeddings.h5", "r") as f:
        x = np.asarray(f["embeddings"], dtype=np.float32)
    assert x.shape == (872, 384), x.shape

    pca = PCA(n_components=10, svd_solver="full").fit(x)
    components = pca.components_.copy()
    coords = pca.transform(x)
    # svd_flip(u_based_decision=False): the largest |entry| of each component is positive.
    signs = np.sign(components[np.arange(10), np.argmax(np.abs(components), axis=1)])
    components *= signs[:, None]
    coords *= signs[None, :]
    pca_tw = trustworthiness(x, coords[:, :2], n_neighbors=5)

    params = dict(n_neighbors=15, min_dist=0.1, n_components=2, metric="euclidean", init="spectral")
    umap.UMAP(**params, random_state=0).fit_transform(x)  # warm-up: numba compiles here
    runs = []
    for seed in SEEDS:
        start = time.perf_counter()
        emb = umap.UMAP(**params, random_state=seed).fit_transform(x)
        seconds = time.perf_counter() - start
        tw = trustworthiness(x, emb, n_neighbors=5)
        runs.append({"seed": seed, "trustworthiness": round(float(tw), 6), "seconds": round(seconds, 3)})
        print(f"umap-learn seed {seed}: trustworthiness {tw:.4f} in {seconds:.2f} s")

    golden = {
        "source": "weights-scripts/make_projection_goldens.py",
        "versions": {"numpy": np.__version__, "scikit-learn": sklearn.__version__, "umap-learn": umap.__version__},
        "points": int(x.shape[0]),
        "pca": {
            "explained_variance_ratio": [round(float(r), 9) for r in pca.explained_variance_ratio_],
            "coordinates": [[round(float(v), 7) for v in row[:3]] for row in coords],
        },
        "pca_trustworthiness": round(float(pca_tw), 6),
        "umap": {
            "parameters": {**params, "n_epochs": 500},
            "runs": runs,
            "mean_trustworthiness": round(float(np.mean([r["trustworthiness"] for r in runs])), 6),
        },
        "find_ab_params": {str(d): [float(v) for v in find_ab_params(1.0, d)] for d in (0.1, 0.5)},
    }
    out = FIXTURES / "projection_golden.json"
    out.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"PCA ratios {pca.explained_variance_ratio_[:3]}, PCA trustworthiness {pca_tw:.4f}")
    print(f"wrote {out.relative_to(REPO)} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
