#!/usr/bin/env python
"""Compare every learner (gpumeta.learners.ALGORITHMS) through the real `train()` path on one dataset.

Usage:
  python scripts/bench_algorithms.py [--genes 300] [--rows-per-gene 200] [--device cpu|cuda] [--nthread 2]
                                     [--algorithms xgboost,lightgbm,...] [--params '{"xgboost": {...}}']
                                     [--n-folds 3] [--out DIR]

Steps:
1. A synthetic dataset (`synth_dataset`) in DIR/dataset unless it exists.
2. Each algorithm in a fresh subprocess (so peak memory is its own), on `--nthread` cores (the process's
   CPU affinity, which train() sizes its threads to): `gpumeta.train.train` with `--algorithm NAME`, the
   same seed and so the same held-out genes and CV folds for every algorithm (the split depends on the
   dataset and the seed only): gene CV, out-of-fold calibration and thresholds, the final model, the
   held-out evaluation. No SHAP (its cost is not the learner's fit).
3. From each run: held-out macro F1, FP/FN per site type at the tuned thresholds, AP per site type
   (`gpumeta.sweep.cell.headline_metrics`, the sweep's columns), fit time (seconds in the learners,
   run_info timings "learner"), whole train() time and peak RSS of the process (peak device memory on
   cuda). The base model's figures on the same genes are a row.
Writes DIR/algorithms.csv, DIR/algorithms.md and DIR/algorithms.png, and DIR/runs/NAME (each run directory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

SITE_TYPES = ("donor", "acceptor")
COLUMNS = ["macro_f1", *(f"{t}_{m}" for t in SITE_TYPES for m in ("fp", "fn", "ap"))]


def scores(headline: dict, who: str) -> dict:
    return {column: headline[f"{column}_{who}"] for column in COLUMNS}


def run_one(args) -> dict:
    """One algorithm through train(), in this (fresh) process; prints one JSON line."""
    import resource

    from gpumeta.sweep.cell import headline_metrics
    from gpumeta.train import train

    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.nthread])
    result = train(Path(args.out) / "dataset", Path(args.out) / "runs" / args.one, device=args.device,
                   quiet=True, overwrite=True, seed=args.seed, n_folds=args.n_folds, skip_shap=True,
                   minimal_diagnostics=True, algorithm=args.one,
                   algorithm_params=json.loads(args.params).get(args.one, {}))
    headline = headline_metrics(result.evaluation)
    info = json.loads((result.run_dir / "run_info.json").read_text())
    rounds = (result.model.params.get("rounds") or {}).values()
    row = {"algorithm": args.one, **scores(headline, "meta"), "fit_s": round(info["timings"]["learner"], 1),
           "train_s": round(info["timings"]["total"], 1), "final_rounds": "/".join(map(str, rounds)),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "n_test_genes": headline["n_test_genes"], "strategy": info["strategy"],
           "base": scores(headline, "base")}
    if result.model.backend.name == "cuda":
        row["device_pool_mb"] = round(result.model.backend.xp.get_default_memory_pool().total_bytes() / 2**20, 1)
    print(json.dumps(row))
    return row


def write_outputs(table: pd.DataFrame, out: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpumeta.atomic import atomic_path, write_csv, write_text

    write_csv(out / "algorithms.csv", table, index=False)
    shown = table.copy()
    formats = {"fit_s": "{:.1f}", "train_s": "{:.1f}", "peak_rss_mb": "{:.0f}", "device_pool_mb": "{:.0f}",
               "n_test_genes": "{:.0f}"}
    for column in shown.columns:
        if shown[column].dtype.kind == "O":
            shown[column] = shown[column].fillna("")
        elif shown[column].dtype.kind == "f":
            fmt = formats.get(column, "{:.3f}")
            shown[column] = shown[column].map(lambda v, fmt=fmt: "" if pd.isna(v) or v == 0 else fmt.format(v))
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    write_text(out / "algorithms.md", "\n".join(lines) + f"\n\n{note}\n")
    models = table[table["fit_s"].notna()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.barh(table["algorithm"], table["macro_f1"], color="#4c72b0")
    left.set_xlabel("held-out macro F1 (tuned thresholds)")
    left.set_xlim(max(0.0, table["macro_f1"].min() - 0.05), 1.0)
    right.barh(models["algorithm"], models["fit_s"], color="#dd8452")
    right.set_xlabel("seconds in the learner (CV folds + final model, 3 classes)")
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
    parser.add_argument("--n-folds", type=int, default=3)
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
    rows = []
    for name in names:
        command = [sys.executable, __file__, "--one", name, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]}", flush=True)
    base = {"algorithm": "base model (no meta-model)", **rows[0].pop("base")}
    for row in rows[1:]:
        row.pop("base")
    from gpumeta.dataset import load_dataset

    data = load_dataset(out / "dataset", device="cpu")
    load = os.getloadavg()
    note = (f"synth_dataset: {len(data.genes)} genes, {data.n_rows} rows, {len(data.feature_names)} features, "
            f"seed {args.seed}; train() with {args.n_folds}-fold gene CV, scores on its {rows[0]['n_test_genes']} "
            f"held-out genes (the same for every algorithm); device {args.device}, {args.nthread} core(s); "
            f"machine load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (1/5/15 min) at the end on "
            f"{os.cpu_count()} cores; parameters: each algorithm's defaults, overridden by {args.params}")
    write_outputs(pd.DataFrame([base, *rows]), out, note)
    print((out / "algorithms.md").read_text())


if __name__ == "__main__":
    main()
