#!/usr/bin/env python
"""SHAP timing: exact TreeSHAP via xgboost pred_contribs for 3 one-vs-rest learners (MetaModel.contributions).

Usage: python scripts/bench_shap.py [--device cpu|cuda|auto] [--rows N] [--features 140] [--rounds 300]
                                    [--depth 6] [--train-rows 20000] [--repeats 1]

Trains the xgboost learner's three boosters (neither/donor/acceptor, `--rounds` fixed rounds of depth
`--depth`, through `Learner.fit_one_vs_rest`) on random data with
a learnable signal, then times `MetaModel.contributions(X)` on `--rows` rows: the exact path evaluation
uses (GPUTreeShap on cuda). Default rows: 100,000 on cuda, 5,000 on cpu (TreeSHAP on 2 CPU cores is
~10^3 rows/s at this size); rows/s is printed either way so the two compare.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--features", type=int, default=140)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from gpumeta.backend import get_backend
    from gpumeta.learners import get_algorithm
    from gpumeta.model import MetaModel
    from gpumeta.schema import LABELS

    backend = get_backend(args.device)
    rows = args.rows or (100_000 if backend.name == "cuda" else 5_000)
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(args.features, len(LABELS)))

    def data(n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, args.features)).astype(np.float32)
        logits = X @ weights + rng.gumbel(size=(n, len(LABELS)))
        return X, logits.argmax(axis=1)

    X_train, y_train = data(args.train_rows)
    learner = get_algorithm("xgboost", {"max_depth": args.depth, "subsample": 1.0, "colsample_bytree": 1.0})
    t0 = time.perf_counter()
    learners = learner.fit_one_vs_rest(backend, backend.asarray(X_train), y_train, np.arange(len(y_train)),
                                       np.arange(0), [], n_rounds=[args.rounds] * len(LABELS), seed=0,
                                       nthread=backend.n_threads)
    fit_s = time.perf_counter() - t0
    model = MetaModel(learners=learners, feature_names=[f"f{j}" for j in range(args.features)],
                      logit_features=[], backend=backend)
    X, _ = data(rows)
    X = backend.asarray(X)
    model.contributions(X[:256])  # warm-up: kernels, thread pools
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        phi = model.contributions(X)
        times.append(time.perf_counter() - t0)
    best = min(times)
    print(json.dumps({"device": backend.name, "rows": rows, "features": args.features, "classes": len(LABELS),
                      "rounds": args.rounds, "depth": args.depth, "fit_s": round(fit_s, 2),
                      "shap_s": round(best, 3), "rows_per_s": round(rows / best, 1),
                      "output_shape": list(phi.shape)}))


if __name__ == "__main__":
    main()
