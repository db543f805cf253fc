#!/usr/bin/env python
"""Compare every learner (gpumeta.learners.ALGORITHMS) on one synthetic dataset and one gene split.

Usage:
  python scripts/bench_algorithms.py [--genes 300] [--rows-per-gene 200] [--device cpu|cuda] [--nthread 2]
                                     [--algorithms xgboost,lightgbm,...] [--params '{"xgboost": {...}}']
                                     [--out DIR]

Steps:
1. A synthetic dataset (`synth_dataset`) in DIR/dataset unless it exists.
2. A seeded gene split: 70 % of genes to train on, 10 % to stop early and to tune (Platt calibration per
   class and the per-type F1-best thresholds), 20 % held out; no gene is in two parts.
3. Each algorithm in a fresh subprocess (so peak memory is its own): `fit_one_vs_rest` on the training
   genes with early stopping on the tuning genes; wall time of the fit; peak RSS of the process (and peak
   device memory on cuda).
4. On the held-out genes only: macro F1 over the three classes at the tuned thresholds, FP/FN per site
   type, average precision per site type. The base model, with thresholds tuned the same way, is a row.
Writes DIR/algorithms.csv, DIR/algorithms.md and DIR/algorithms.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

SITE_TYPES = ("donor", "acceptor")


def gene_split(genes: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(np.sort(genes))
    n_train, n_tune = int(0.7 * len(genes)), int(0.1 * len(genes))
    return {"train": shuffled[:n_train], "tune": shuffled[n_train:n_train + n_tune],
            "test": shuffled[n_train + n_tune:]}


def held_out_scores(y_tune, proba_tune, y_test, proba_test) -> dict:
    """Thresholds tuned on the tuning genes; every figure on the held-out genes."""
    from sklearn.metrics import f1_score

    from gpumeta.evaluate.metrics import average_precision, best_f1_threshold, binary_counts
    from gpumeta.model import decide

    thresholds = {t: best_f1_threshold(y_tune == k, proba_tune[:, k]) for k, t in enumerate(SITE_TYPES, start=1)}
    called = decide(proba_test, thresholds)
    row = {"macro_f1": float(f1_score(y_test, called, average="macro", labels=[0, 1, 2]))}
    for k, t in enumerate(SITE_TYPES, start=1):
        counts = binary_counts(y_test == k, called == k)
        row.update({f"{t}_fp": int(counts["fp"]), f"{t}_fn": int(counts["fn"]),
                    f"{t}_ap": float(average_precision(y_test == k, proba_test[:, k]))})
    return row


def run_one(args) -> dict:
    """One algorithm, in this (fresh) process: fit, calibrate, score; prints one JSON line."""
    import resource
    import time

    from gpumeta.calibration import fit_calibrator
    from gpumeta.dataset import load_dataset
    from gpumeta.learners import get_algorithm
    from gpumeta.model import MetaModel
    from gpumeta.schema import LABELS, is_probability_feature

    data = load_dataset(Path(args.out) / "dataset", device=args.device)
    split = gene_split(data.genes, args.seed)
    rows = {part: data.rows_of(genes) for part, genes in split.items()}
    features = list(data.feature_names)
    logit = [f for f in features if is_probability_feature(f)]
    learner = get_algorithm(args.one, json.loads(args.params).get(args.one, {}))
    backend = data.backend
    if backend.name == "cuda":
        backend.xp.get_default_memory_pool().free_all_blocks()
    start = time.perf_counter()
    learners = learner.fit_one_vs_rest(backend, data.X, data.y, rows["train"], rows["tune"],
                                       [features.index(f) for f in logit], seed=args.seed, nthread=args.nthread)
    fit_s = time.perf_counter() - start
    model = MetaModel(learners=learners, feature_names=features, logit_features=logit, algorithm=args.one,
                      algorithm_params=learner.get_params(), backend=backend)
    tune_margins = model.margins(data.X[backend.asarray(rows["tune"])])
    y_tune, y_test = data.y[rows["tune"]], data.y[rows["test"]]
    model.calibrators = [fit_calibrator(tune_margins[:, k], y_tune == k, "platt") for k in range(len(LABELS))]
    proba_test = model.predict_proba(data.X[backend.asarray(rows["test"])])
    row = {"algorithm": args.one, "fit_s": round(fit_s, 2),
           "rounds": "/".join(str(m.best_iteration + 1) for m in learners),
           **held_out_scores(y_tune, model.calibrate_margins(tune_margins), y_test, proba_test),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if backend.name == "cuda":
        row["device_pool_mb"] = round(backend.xp.get_default_memory_pool().total_bytes() / 2**20, 1)
    print(json.dumps(row))
    return row


def base_row(args) -> dict:
    from gpumeta.dataset import load_dataset

    data = load_dataset(Path(args.out) / "dataset", device="cpu")
    split = gene_split(data.genes, args.seed)
    tune, test = data.rows_of(split["tune"]), data.rows_of(split["test"])
    return {"algorithm": "base model (no meta-model)", "fit_s": 0.0, "rounds": "",
            **held_out_scores(data.y[tune], data.base_proba[tune], data.y[test], data.base_proba[test])}


def write_outputs(table: pd.DataFrame, out: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpumeta.atomic import atomic_path, write_csv, write_text

    write_csv(out / "algorithms.csv", table, index=False)
    shown = table.copy()
    formats = {"fit_s": "{:.1f}", "peak_rss_mb": "{:.0f}", "device_pool_mb": "{:.0f}"}
    for column in shown.columns:
        if shown[column].dtype.kind == "O":
            shown[column] = shown[column].fillna("")
        elif shown[column].dtype.kind == "f":
            fmt = formats.get(column, "{:.3f}")
            shown[column] = shown[column].map(lambda v, fmt=fmt: "" if pd.isna(v) or v == 0 else fmt.format(v))
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    write_text(out / "algorithms.md", "\n".join(lines) + f"\n\n{note}\n")
    models = table[table["fit_s"] > 0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh(table["algorithm"], table["macro_f1"], color="#4c72b0")
    left.set_xlabel("held-out macro F1 (tuned thresholds)")
    left.set_xlim(max(0.0, table["macro_f1"].min() - 0.05), 1.0)
    right.barh(models["algorithm"], models["fit_s"], color="#dd8452")
    right.set_xlabel("fit time, 3 classes (s)")
    fig.suptitle(note, fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "algorithms.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=300)
    parser.add_argument("--rows-per-gene", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nthread", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--algorithms", default="")
    parser.add_argument("--params", default="{}", help="JSON {algorithm: {param: value}} over the defaults")
    parser.add_argument("--out", default="bench_algorithms")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return

    from gpumeta.learners import ALGORITHMS
    from gpumeta.synth import synth_dataset

    out = Path(args.out)
    if not (out / "dataset").exists():
        synth_dataset(out / "dataset", n_genes=args.genes, rows_per_gene=args.rows_per_gene, seed=args.seed)
    names = [n for n in args.algorithms.split(",") if n] or list(ALGORITHMS)
    rows = [base_row(args)]
    for name in names:
        command = [sys.executable, __file__, "--one", name, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]}", flush=True)
    from gpumeta.dataset import load_dataset

    data = load_dataset(out / "dataset", device="cpu")
    note = (f"synth_dataset: {len(data.genes)} genes, {data.n_rows} rows, {len(data.feature_names)} features, "
            f"seed {args.seed}; 70/10/20 % gene split, scores on the 20 % held-out genes; device {args.device}, "
            f"nthread {args.nthread}; parameters: each algorithm's defaults, overridden by {args.params}")
    write_outputs(pd.DataFrame(rows), out, note)
    print((out / "algorithms.md").read_text())


if __name__ == "__main__":
    main()
